"""The tasks behind the REST repository operations (tag, untag, remove_image, copy_tags,
copy_manifests, modify), repository version retention, and garbage collection planning, on the
real database.

Content is made through the same code as a push (blob storage, the manifest parser,
save_manifest, push.add_manifest); the tasks are called directly, as a worker would.
"""

import contextlib
import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from pulpcore.plugin.exceptions import ValidationError
from pulpcore.plugin.models import RepositoryContent, Task

from pulp_registry.app import blob_storage, push
from pulp_registry.app.manifests import save_manifest
from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryRepository,
    Tag,
)
from pulp_registry.app.tasks import content as content_rules
from pulp_registry.app.tasks import gc, operations
from pulp_registry.app.v2.manifest_parser import parse_manifest
from tests.functional import images

pytestmark = pytest.mark.django_db


# --- building content the way a push does ------------------------------------------------------

def store_blob(size=64, data=None):
    """Store random bytes (or ``data``) as a blob; return (blob, bytes)."""
    if data is None:
        data, digest = images.random_blob(size)
    else:
        digest = images.sha256_digest(data)
    return blob_storage.store_bytes(data, digest), data


def make_image(extra_blobs=(), layers=1, subject=None, artifact_type=None):
    """Store an image manifest with fresh config and layers (plus ``extra_blobs`` as layers).

    Returns:
        Manifest: the stored manifest (not yet in any repository).
    """
    config, config_data = store_blob(40)
    own = [store_blob(100) for _ in range(layers)]
    layer_blobs = [blob for blob, _ in own] + list(extra_blobs)
    descriptors = [(blob.digest, blob_size(blob)) for blob in layer_blobs]
    data = images.make_manifest(
        config.digest,
        len(config_data),
        descriptors,
        subject=subject,
        artifact_type=artifact_type,
    )
    parsed = parse_manifest(data, images.OCI_MANIFEST)
    blobs = {blob.digest: blob for blob in [config, *layer_blobs]}
    return save_manifest(parsed, blobs, {})


def make_index(children):
    """Store an OCI index listing ``children`` (stored manifests)."""
    entries = [
        {"mediaType": child.media_type, "digest": child.digest, "size": child.size,
         "platform": {"os": "linux", "architecture": f"arch{position}"}}
        for position, child in enumerate(children)
    ]
    data = images.make_index(entries)
    parsed = parse_manifest(data, images.OCI_INDEX)
    return save_manifest(parsed, {}, {child.digest: child for child in children})


def blob_size(blob):
    return blob.contentartifact_set.get().artifact.size


def descriptor(manifest):
    return {"mediaType": manifest.media_type, "digest": manifest.digest, "size": manifest.size}


def push_image(repository, manifest, tag=None):
    """Add a manifest (and its children first) to a repository, as /v2/ pushes do."""
    for child in manifest.listed_manifests.all():
        push.add_manifest(repository, child)
    push.add_manifest(repository, manifest, tag_name=tag)
    return manifest


def push_repo(name):
    return push.get_or_create_push_repository(name)


def latest(repository):
    return repository.latest_version()


def tags_of(repository):
    version = latest(repository)
    return {
        tag.name: tag.tagged_manifest.digest
        for tag in Tag.objects.filter(pk__in=version.content_ids_subquery()).select_related(
            "tagged_manifest"
        )
    }


def digests_in(repository, model):
    version = latest(repository)
    return set(
        model.objects.filter(pk__in=version.content_ids_subquery()).values_list(
            "digest", flat=True
        )
    )


def manifest_blob_digests(manifest):
    blobs = set(manifest.blobs.values_list("digest", flat=True))
    if manifest.config_blob_id:
        blobs.add(manifest.config_blob.digest)
    return blobs


@pytest.fixture
def run_in_task():
    """Run a function inside a pulpcore task context, as a worker does (progress reports and
    created resources need a current task)."""
    from pulpcore.app.contexts import with_task_context  # test-only: a worker's task context

    def run(func, **kwargs):
        task = Task.objects.create(name=func.__name__, state="running", logging_cid="test")
        with with_task_context(task):
            func(**kwargs)
        Task.objects.filter(pk=task.pk).update(state="completed")
        task.refresh_from_db()
        return task

    return run


# --- tag / untag ---------------------------------------------------------------------------------

def test_tag_points_a_new_tag_at_a_manifest():
    repository = push_repo("ops/tagging")
    first = push_image(repository, make_image(), "v1")
    number = latest(repository).number
    operations.tag_image(repository.pk, "stable", first.digest)
    assert latest(repository).number == number + 1
    assert tags_of(repository) == {"v1": first.digest, "stable": first.digest}


def test_tag_moves_an_existing_tag():
    repository = push_repo("ops/moving")
    first = push_image(repository, make_image(), "v1")
    second = push_image(repository, make_image(), "v2")
    operations.tag_image(repository.pk, "v1", second.digest)
    assert tags_of(repository) == {"v1": second.digest, "v2": second.digest}
    # The first manifest stays, untagged.
    assert first.digest in digests_in(repository, Manifest)


def test_tag_of_a_manifest_outside_the_repository_fails_without_a_version():
    repository = push_repo("ops/foreign")
    push_image(repository, make_image(), "v1")
    elsewhere = make_image()
    number = latest(repository).number
    with pytest.raises(ValidationError, match="not in repository"):
        operations.tag_image(repository.pk, "x", elsewhere.digest)
    assert latest(repository).number == number


def test_retagging_the_same_manifest_makes_no_version():
    repository = push_repo("ops/same")
    image = push_image(repository, make_image(), "v1")
    number = latest(repository).number
    operations.tag_image(repository.pk, "v1", image.digest)
    assert latest(repository).number == number


def test_untag_removes_only_the_tag():
    repository = push_repo("ops/untag")
    image = push_image(repository, make_image(), "v1")
    operations.tag_image(repository.pk, "v2", image.digest)
    operations.untag_image(repository.pk, "v1")
    assert tags_of(repository) == {"v2": image.digest}
    assert image.digest in digests_in(repository, Manifest)
    with pytest.raises(ValidationError, match="no tag 'v1'"):
        operations.untag_image(repository.pk, "v1")


# --- remove_image --------------------------------------------------------------------------------

def test_remove_image_takes_its_tags_and_unshared_blobs():
    repository = push_repo("ops/remove")
    shared, _ = store_blob(100)
    doomed = push_image(repository, make_image(extra_blobs=[shared]), "old")
    kept = push_image(repository, make_image(extra_blobs=[shared]), "new")
    operations.tag_image(repository.pk, "alias", doomed.digest)
    operations.remove_image(repository.pk, doomed.digest)
    assert tags_of(repository) == {"new": kept.digest}
    assert digests_in(repository, Manifest) == {kept.digest}
    blobs = digests_in(repository, Blob)
    assert shared.digest in blobs
    assert blobs == manifest_blob_digests(kept)
    assert not (manifest_blob_digests(doomed) - {shared.digest}) & blobs


def test_remove_index_takes_children_nothing_else_keeps():
    repository = push_repo("ops/remove-index")
    free_child, tagged_child, shared_child = make_image(), make_image(), make_image()
    index = push_image(repository, make_index([free_child, tagged_child, shared_child]), "multi")
    other = push_image(repository, make_index([shared_child]), "other")
    operations.tag_image(repository.pk, "solo", tagged_child.digest)
    operations.remove_image(repository.pk, index.digest)
    manifests = digests_in(repository, Manifest)
    assert index.digest not in manifests
    assert free_child.digest not in manifests
    assert tagged_child.digest in manifests
    assert shared_child.digest in manifests
    assert other.digest in manifests
    assert not manifest_blob_digests(free_child) & digests_in(repository, Blob)
    assert content_rules.missing_references(latest(repository)) == []


def test_remove_image_refuses_a_child_of_an_index():
    repository = push_repo("ops/remove-child")
    child = make_image()
    push_image(repository, make_index([child]), "multi")
    with pytest.raises(ValidationError, match="listed by"):
        operations.remove_image(repository.pk, child.digest)
    assert child.digest in digests_in(repository, Manifest)


def test_remove_image_drops_its_blobs_from_pending():
    repository = push_repo("ops/remove-pending")
    image = push_image(repository, make_image(), "v1")
    layer = image.blobs.first()
    repository.pending_blobs.add(layer)
    operations.remove_image(repository.pk, image.digest)
    assert not repository.pending_blobs.filter(pk=layer.pk).exists()


# --- copy ----------------------------------------------------------------------------------------

def test_copy_tags_brings_manifests_children_and_blobs():
    source = push_repo("ops/copy-source")
    index = push_image(source, make_index([make_image(), make_image()]), "multi")
    single = push_image(source, make_image(), "single")
    target = RegistryRepository.objects.create(name="ops-copy-target")
    operations.copy_tags(target.pk, latest(source).pk, names=["multi"])
    assert tags_of(target) == {"multi": index.digest}
    children = {child.digest for child in index.listed_manifests.all()}
    assert digests_in(target, Manifest) == {index.digest} | children
    expected_blobs = set().union(*(manifest_blob_digests(c) for c in index.listed_manifests.all()))
    assert digests_in(target, Blob) == expected_blobs
    assert content_rules.missing_references(latest(target)) == []
    operations.copy_tags(target.pk, latest(source).pk)
    assert tags_of(target) == {"multi": index.digest, "single": single.digest}


def test_copy_tags_from_an_older_version_and_missing_names():
    source = push_repo("ops/copy-old")
    first = push_image(source, make_image(), "v1")
    old_version = latest(source)
    push_image(source, make_image(), "v1")
    target = RegistryRepository.objects.create(name="ops-copy-old")
    operations.copy_tags(target.pk, old_version.pk, names=["v1"])
    assert tags_of(target) == {"v1": first.digest}
    with pytest.raises(ValidationError, match="no tag 'nope'"):
        operations.copy_tags(target.pk, old_version.pk, names=["v1", "nope"])


def test_copy_manifests_copies_without_tags_and_filters_media_types():
    source = push_repo("ops/copy-manifests")
    image = push_image(source, make_image(), "v1")
    index = push_image(source, make_index([make_image()]), "multi")
    target = RegistryRepository.objects.create(name="ops-copy-manifests")
    operations.copy_manifests(target.pk, latest(source).pk, digests=[image.digest])
    assert digests_in(target, Manifest) == {image.digest}
    assert tags_of(target) == {}
    assert digests_in(target, Blob) == manifest_blob_digests(image)
    operations.copy_manifests(target.pk, latest(source).pk, media_types=[images.OCI_INDEX])
    child = index.listed_manifests.get()
    assert digests_in(target, Manifest) == {image.digest, index.digest, child.digest}
    with pytest.raises(ValidationError, match="has no manifest"):
        operations.copy_manifests(target.pk, latest(source).pk, digests=["sha256:" + "0" * 64])


# --- modify (add/remove) ------------------------------------------------------------------------

def test_add_manifest_brings_blobs_and_tag_brings_manifest():
    repository = RegistryRepository.objects.create(name="ops-modify")
    image = make_image()
    operations.add_and_remove(repository.pk, [image.pk], [])
    assert digests_in(repository, Manifest) == {image.digest}
    assert digests_in(repository, Blob) == manifest_blob_digests(image)
    other = make_image()
    tag = Tag.objects.create(name="t", tagged_manifest=other)
    operations.add_and_remove(repository.pk, [tag.pk], [])
    assert tags_of(repository) == {"t": other.digest}
    assert other.digest in digests_in(repository, Manifest)


def test_remove_manifest_takes_its_tags_and_inconsistent_results_fail():
    repository = RegistryRepository.objects.create(name="ops-modify-remove")
    image = make_image()
    tag = Tag.objects.create(name="t", tagged_manifest=image)
    operations.add_and_remove(repository.pk, [tag.pk], [])
    number = latest(repository).number
    layer = image.blobs.first()
    with pytest.raises(ValidationError, match="inconsistent"):
        operations.add_and_remove(repository.pk, [], [layer.pk])
    assert latest(repository).number == number
    operations.add_and_remove(repository.pk, [], [image.pk])
    assert tags_of(repository) == {}
    assert digests_in(repository, Manifest) == set()


def test_modify_overwrite_false_refuses_to_move_a_tag():
    repository = RegistryRepository.objects.create(name="ops-overwrite")
    first, second = make_image(), make_image()
    operations.add_and_remove(
        repository.pk, [Tag.objects.create(name="t", tagged_manifest=first).pk], []
    )
    moved = Tag.objects.create(name="t", tagged_manifest=second)
    with pytest.raises(ValidationError, match="overwritten: t"):
        operations.add_and_remove(repository.pk, [moved.pk], [], overwrite=False)
    operations.add_and_remove(repository.pk, [moved.pk], [])
    assert tags_of(repository) == {"t": second.digest}


def test_modify_from_a_base_version():
    repository = RegistryRepository.objects.create(name="ops-base")
    first, second = make_image(), make_image()
    operations.add_and_remove(repository.pk, [first.pk], [])
    base = latest(repository)
    operations.add_and_remove(repository.pk, [second.pk], [])
    operations.add_and_remove(repository.pk, [], [], base_version_pk=base.pk)
    assert digests_in(repository, Manifest) == {first.digest}


def test_modify_remove_everything():
    repository = RegistryRepository.objects.create(name="ops-star")
    operations.add_and_remove(repository.pk, [make_image().pk], [])
    operations.add_and_remove(repository.pk, [], ["*"])
    assert latest(repository).content.count() == 0


# --- versions ------------------------------------------------------------------------------------

def test_retain_repo_versions_limits_history():
    repository = push_repo("ops/retain")
    repository.retain_repo_versions = 2
    repository.save()
    for number in range(4):
        push_image(repository, make_image(), f"v{number}")
    numbers = sorted(repository.versions.complete().values_list("number", flat=True))
    newest = latest(repository).number
    # pulpcore keeps retain_repo_versions versions besides the protected ones, and the latest
    # version of a repository that a distribution serves is protected: so 2 + 1 here.
    assert numbers == [newest - 2, newest - 1, newest]
    assert set(tags_of(repository)) == {"v0", "v1", "v2", "v3"}


# --- garbage collection planning -----------------------------------------------------------------

def _age(repository, manifests, days=30):
    """Pretend that content was added to the repository ``days`` ago."""
    old = timezone.now() - timedelta(days=days)
    RepositoryContent.objects.filter(
        repository=repository, content_id__in=[m.pk for m in manifests]
    ).update(pulp_created=old)
    blob_ids = set().union(*(content_rules.blobs_of([m.pk]) for m in manifests))
    RepositoryContent.objects.filter(repository=repository, content_id__in=blob_ids).update(
        pulp_created=old
    )


def test_parse_age():
    assert gc.parse_age("7d") == timedelta(days=7)
    assert gc.parse_age("1d12h") == timedelta(days=1, hours=12)
    assert gc.parse_age("0s") == timedelta()
    assert gc.parse_age("2w") == timedelta(weeks=2)
    for bad in ("", "7", "d", "7x", "-1d", "7 d"):
        with pytest.raises(ValueError):
            gc.parse_age(bad)


def test_plan_keeps_tagged_young_children_referrers_and_subjects():
    repository = push_repo("ops/gc-plan")
    shared, _ = store_blob(100)
    tagged = push_image(repository, make_image(extra_blobs=[shared]), "v1")
    untagged_old = push_image(repository, make_image(extra_blobs=[shared]), "tmp")
    operations.untag_image(repository.pk, "tmp")
    child = make_image()
    index = push_image(repository, make_index([child]), "multi")
    signature = push_image(repository, make_image(subject=descriptor(tagged),
                                                  artifact_type="application/x-sig"))
    tagged_referrer_subject = push_image(repository, make_image())
    tagged_referrer = push_image(
        repository, make_image(subject=descriptor(tagged_referrer_subject)), "sbom"
    )
    young_untagged = push_image(repository, make_image())
    everything = [tagged, untagged_old, child, index, signature, tagged_referrer_subject,
                  tagged_referrer]
    _age(repository, everything)
    version = latest(repository)
    cutoff = timezone.now() - timedelta(days=7)
    remove_manifests, remove_blobs = gc.plan_repository(repository, version, cutoff)
    removed = set(Manifest.objects.filter(pk__in=remove_manifests).values_list("digest",
                                                                                flat=True))
    assert removed == {untagged_old.digest}
    removed_blobs = set(Blob.objects.filter(pk__in=remove_blobs).values_list("digest",
                                                                             flat=True))
    assert removed_blobs == manifest_blob_digests(untagged_old) - {shared.digest}
    assert young_untagged.pk not in remove_manifests


def test_plan_with_zero_age_removes_every_untagged_manifest():
    repository = push_repo("ops/gc-zero")
    tagged = push_image(repository, make_image(), "v1")
    untagged = push_image(repository, make_image())
    removed, _ = gc.plan_repository(repository, latest(repository), timezone.now())
    assert removed == {untagged.pk}
    assert tagged.pk not in removed


# --- garbage collection runs ---------------------------------------------------------------------

@contextlib.contextmanager
def in_process_tasks(monkeypatch, run_in_task):
    """Run the orphan cleanup task in this process instead of dispatching it to a worker."""
    def dispatch(func, kwargs=None, exclusive_resources=None, **_):
        return run_in_task(func, **(kwargs or {}))

    monkeypatch.setattr(gc, "dispatch", dispatch)
    yield


def artifact_path(blob):
    return Path(blob.contentartifact_set.get().artifact.file.path)


def test_garbage_collect_dry_run_changes_nothing():
    repository = push_repo("ops/gc-dry")
    push_image(repository, make_image(), "v1")
    untagged = push_image(repository, make_image())
    number = latest(repository).number
    versions = repository.versions.count()
    report = gc.garbage_collect(timedelta(), names=["ops/gc-dry"], dry_run=True)
    assert report.dry_run
    assert [r.manifests for r in report.repositories] == [[untagged.digest]]
    # The versions before gc's own new version go, keeping the latest one.
    assert report.versions_deleted == versions
    assert report.orphan_content["manifests"] >= 1
    assert report.orphan_bytes >= sum(blob_size(b) for b in untagged.blobs.all())
    assert latest(repository).number == number
    assert repository.versions.count() == versions
    assert Manifest.objects.filter(pk=untagged.pk).exists()


def test_garbage_collect_removes_untagged_content_and_files(
    monkeypatch, run_in_task, django_capture_on_commit_callbacks
):
    repository = push_repo("ops/gc-run")
    kept = push_image(repository, make_image(), "v1")
    untagged = push_image(repository, make_image(layers=2))
    push_image(repository, make_image(), "v1")  # v1 moves: its first manifest is untagged now
    doomed_blobs = list(untagged.blobs.all()) + [untagged.config_blob]
    doomed_blobs += list(kept.blobs.all()) + [kept.config_blob]
    paths = [artifact_path(blob) for blob in doomed_blobs]
    doomed_bytes = sum(path.stat().st_size for path in paths)
    assert all(path.exists() for path in paths)
    with in_process_tasks(monkeypatch, run_in_task), django_capture_on_commit_callbacks(
        execute=True
    ):
        report = gc.garbage_collect(timedelta(), names=["ops/gc-run"])
    assert sorted(report.repositories[0].manifests) == sorted([untagged.digest, kept.digest])
    assert not Manifest.objects.filter(pk__in=[untagged.pk, kept.pk]).exists()
    assert not Blob.objects.filter(pk__in=[b.pk for b in doomed_blobs]).exists()
    assert report.orphan_artifacts == len(doomed_blobs)
    assert report.orphan_bytes == doomed_bytes
    assert not any(path.exists() for path in paths)
    assert repository.versions.complete().count() == 1
    assert set(tags_of(repository)) == {"v1"}


def test_garbage_collect_keeps_content_of_other_repositories(
    monkeypatch, run_in_task, django_capture_on_commit_callbacks
):
    repository = push_repo("ops/gc-shared")
    image = push_image(repository, make_image())
    other = RegistryRepository.objects.create(name="ops-gc-shared-copy")
    operations.copy_manifests(other.pk, latest(repository).pk)
    with in_process_tasks(monkeypatch, run_in_task), django_capture_on_commit_callbacks(
        execute=True
    ):
        report = gc.garbage_collect(timedelta(), names=["ops/gc-shared"])
    assert report.repositories[0].manifests == [image.digest]
    assert Manifest.objects.filter(pk=image.pk).exists()
    assert all(artifact_path(blob).exists() for blob in image.blobs.all())


def test_garbage_collect_drops_old_pending_blobs_and_upload_sessions(
    monkeypatch, run_in_task, django_capture_on_commit_callbacks
):
    from pulp_registry.app.models import UploadSession

    repository = push_repo("ops/gc-pending")
    pending, _ = store_blob(300)
    repository.pending_blobs.add(pending)
    path = artifact_path(pending)
    Blob.objects.filter(pk=pending.pk).update(
        timestamp_of_interest=timezone.now() - timedelta(days=2)
    )
    session = UploadSession.objects.create(repository=repository)
    blob_storage.append(session.pk, 0, [b"x" * 1000])
    blob_storage.discard_running(session.pk)
    UploadSession.objects.filter(pk=session.pk).update(
        size=1000, pulp_last_updated=timezone.now() - timedelta(days=2)
    )
    # The last chunk is the session's last activity too.
    two_days_ago = (timezone.now() - timedelta(days=2)).timestamp()
    os.utime(blob_storage.upload_path(session.pk), (two_days_ago, two_days_ago))
    fresh, _ = store_blob(300)
    repository.pending_blobs.add(fresh)
    with in_process_tasks(monkeypatch, run_in_task), django_capture_on_commit_callbacks(
        execute=True
    ):
        report = gc.garbage_collect(timedelta(days=1), names=["ops/gc-pending"])
    assert report.pending_dropped == 1
    assert report.upload_sessions == 1
    assert report.upload_bytes == 1000
    assert not UploadSession.objects.filter(pk=session.pk).exists()
    assert not blob_storage.upload_path(session.pk).exists()
    assert not Blob.objects.filter(pk=pending.pk).exists()
    assert not path.exists()
    assert repository.pending_blobs.filter(pk=fresh.pk).exists()
    assert artifact_path(fresh).exists()


def test_delete_old_versions_keeps_versions_a_distribution_serves():
    from pulp_registry.app.models import RegistryDistribution

    repository = push_repo("ops/gc-pinned")
    push_image(repository, make_image(), "v1")
    pinned = latest(repository)
    RegistryDistribution.objects.create(
        name="ops-gc-pinned-v", base_path="ops/gc-pinned-v", repository_version=pinned
    )
    push_image(repository, make_image(), "v2")
    push_image(repository, make_image(), "v3")
    gc.delete_old_versions(repository, 1)
    remaining = set(repository.versions.complete().values_list("number", flat=True))
    assert remaining == {pinned.number, latest(repository).number}


def test_artifact_sizes_only_counts_files_no_other_content_uses():
    blob, data = store_blob(500)
    artifact = blob.contentartifact_set.get().artifact
    assert gc.artifact_sizes([blob.pk]) == {artifact.pk: 500}
    # A file that other content also uses is not freed with the blob.
    other = Blob.objects.create(digest="sha512:" + "1" * 128)
    other.contentartifact_set.create(artifact=artifact, relative_path=other.digest)
    assert gc.artifact_sizes([blob.pk]) == {}
    assert gc.artifact_sizes([blob.pk, other.pk]) == {artifact.pk: 500}
