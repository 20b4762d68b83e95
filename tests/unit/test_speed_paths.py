"""The shortcuts taken for speed give the same answers as the plain ORM and pulpcore would:
SQL built once per process (compiled_queries), what a name serves (serving.resolve), the
incremental check of new repository versions, and query counts that do not grow with the
repository."""

import json
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pulpcore.plugin.models import Content, ContentArtifact, RepositoryVersion

from pulp_registry.app import compiled_queries, push, serving
from pulp_registry.app.compiled_queries import CompiledQuery
from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
)
from tests.functional import images
from tests.unit.authutil import BearerClient, token_settings  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


@pytest.fixture
def pusher(client, django_user_model, token_settings):  # noqa: F811
    django_user_model.objects.create_user("boss", password="secret", is_staff=True)
    bearer = BearerClient(client, "boss", "secret")
    bearer.login("repository:speed/repo:pull,push,delete")
    return bearer


def _manifest_of(pusher, tag):
    return pusher.request(
        "GET", f"/v2/speed/repo/manifests/{tag}", HTTP_ACCEPT=images.OCI_MANIFEST
    ).content


def _manifest_of_as(pusher, name, tag):
    pusher.login(f"repository:{name}:pull,push")
    return pusher.request(
        "GET", f"/v2/{name}/manifests/{tag}", HTTP_ACCEPT=images.OCI_MANIFEST
    ).content


def _tag(pusher, tag, manifest):
    response = pusher.request(
        "PUT", f"/v2/speed/repo/manifests/{tag}", manifest, images.OCI_MANIFEST
    )
    assert response.status_code == 201, response.content


# --- compiled queries ----------------------------------------------------------------------------


def test_compiled_query_matches_the_orm():
    RegistryDistribution.objects.create(name="cq-a", base_path="cq/a")
    RegistryDistribution.objects.create(name="cq-b", base_path="cq/b")
    query = CompiledQuery(
        lambda name: RegistryDistribution.objects.filter(base_path=name).values_list(
            "pk", "base_path", "private"
        ),
        str,
    )
    for name in ("cq/a", "cq/b", "cq/none"):
        expected = list(
            RegistryDistribution.objects.filter(base_path=name).values_list(
                "pk", "base_path", "private"
            )
        )
        assert query.rows(name) == expected
    assert query._compiled not in (None, compiled_queries._UNUSABLE)  # the SQL was reused


def test_compiled_query_falls_back_when_the_orm_transforms_a_value():
    RegistryDistribution.objects.create(name="cq-c", base_path="cq/contains")
    # icontains wraps the value in %...%, so the placeholder is not found among the parameters.
    query = CompiledQuery(
        lambda text: RegistryDistribution.objects.filter(base_path__icontains=text).values_list(
            "base_path"
        ),
        str,
    )
    assert query.rows("CONTAINS") == [("cq/contains",)]
    assert query.rows("nothing") == []
    assert query._compiled is compiled_queries._UNUSABLE


def test_compiled_query_refuses_other_kinds_of_values():
    with pytest.raises(ValueError):
        CompiledQuery(lambda n: None, int)


# --- what a name serves --------------------------------------------------------------------------


def test_resolve_push_repository(pusher):
    pusher.push_image("speed/repo", "v1")
    served = serving.resolve("speed/repo")
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    assert served.is_push and not served.pinned
    assert served.repository_pk == repository.pk
    assert served.version_pk == repository.latest_version().pk
    assert isinstance(served.repository, RegistryPushRepository)
    assert served.distribution.base_path == "speed/repo"
    assert served.version.number == repository.latest_version().number
    assert serving.resolve("speed/none") is None


def test_resolve_pinned_and_empty_distributions(pusher):
    pusher.push_image("speed/repo", "v1")
    old = RegistryPushRepository.objects.get(name="speed/repo").latest_version()
    pusher.push_image("speed/repo", "v2")
    regular = RegistryRepository.objects.create(name="speed-regular")
    RegistryDistribution.objects.create(name="pinned", base_path="speed/pinned",
                                        repository_version=old)
    RegistryDistribution.objects.create(name="regular", base_path="speed/regular",
                                        repository=regular)
    RegistryDistribution.objects.create(name="empty", base_path="speed/empty")

    pinned = serving.resolve("speed/pinned")
    assert pinned.pinned and pinned.version_pk == old.pk and pinned.is_push
    assert pinned.tag_names() == ["v1"]
    regular_served = serving.resolve("speed/regular")
    assert not regular_served.is_push and isinstance(regular_served.repository, RegistryRepository)
    assert regular_served.version_pk == regular.latest_version().pk
    empty = serving.resolve("speed/empty")
    assert empty.repository_pk is None and empty.repository is None and empty.tag_names() == []
    # The one-query blob lookup serves what resolve() serves, blob by blob.
    pending, pending_digest = images.random_blob(30)
    assert pusher.upload("speed/repo", pending).status_code == 201
    digests = list(Blob.objects.values_list("digest", flat=True))
    for name in ("speed/repo", "speed/pinned", "speed/regular", "speed/empty"):
        served = serving.resolve(name)
        for digest in digests:
            expected = served.stored_blob(digest) if served.repository_pk else None
            assert serving.stored_blob_by_name(name, digest) == expected, (name, digest)
    assert serving.stored_blob_by_name("speed/pinned", pending_digest) is not None


def test_tag_names_match_the_orm_for_every_page_shape(pusher):
    pusher.push_image("speed/repo", "t00")
    manifest = _manifest_of(pusher, "t00")
    for number in range(1, 12):
        _tag(pusher, f"t{number:02d}", manifest)
    served = serving.resolve("speed/repo")
    assert serving._TAG_LISTS.get(served.version_pk) is not None  # kept for the next pages
    every = sorted(
        Tag.objects.filter(pk__in=served.version.content_ids_subquery()).values_list(
            "name", flat=True
        )
    )
    assert served.tag_names() == every
    for limit in (None, 1, 5, 100):
        for last in (None, "t03", "t03a", "t11", "a", "zzz"):
            expected = [name for name in every if last is None or name > last]
            expected = expected[:limit] if limit is not None else expected
            assert served.tag_names(last=last, limit=limit) == expected
    # A new version has a new list; the old version's list is unchanged.
    _tag(pusher, "t99", manifest)
    newer = serving.resolve("speed/repo")
    assert newer.tag_names()[-1] == "t99" and served.tag_names() == every


def test_stored_blob_finds_version_and_pending_blobs_with_their_artifact(pusher):
    pusher.push_image("speed/repo", "v1")
    pending, pending_digest = images.random_blob(40)
    assert pusher.upload("speed/repo", pending).status_code == 201
    elsewhere, elsewhere_digest = images.random_blob(50)
    pusher.login("repository:speed/other:pull,push")
    assert pusher.upload("speed/other", elsewhere).status_code == 201
    served = serving.resolve("speed/repo")
    layer = json.loads(_manifest_of_as(pusher, "speed/repo", "v1"))["layers"][0]
    for digest, size in ((layer["digest"], layer["size"]), (pending_digest, len(pending))):
        found = served.stored_blob(digest)
        blob = Blob.objects.get(digest=digest)
        artifact = ContentArtifact.objects.get(content=blob).artifact
        assert found == serving.StoredBlob(blob.pk, digest, size, artifact.file.name)
        assert served.blob(digest, with_artifact=True) == found
        assert served.blob(digest) == blob
        # The same in one query from the name (blob HEAD and GET).
        assert serving.stored_blob_by_name("speed/repo", digest) == found
    assert served.stored_blob(elsewhere_digest) is None
    assert served.blob(elsewhere_digest) is None
    assert serving.stored_blob_by_name("speed/repo", elsewhere_digest) is None
    assert serving.stored_blob_by_name("speed/nothing", layer["digest"]) is None
    # Several at once (a manifest push looks up its config and layers together).
    digests = [layer["digest"], pending_digest, elsewhere_digest, layer["digest"]]
    assert served.stored_blobs(digests) == {
        digest: served.stored_blob(digest) for digest in (layer["digest"], pending_digest)
    }
    assert served.stored_blobs([]) == {}


def test_manifest_for_reading_by_tag_and_digest(pusher):
    pusher.push_image("speed/repo", "v1")
    body = _manifest_of(pusher, "v1")
    served = serving.resolve("speed/repo")
    stored = Manifest.objects.get(digest=images.sha256_digest(body))
    for reference in ("v1", stored.digest):
        found = served.manifest(reference)
        assert found == serving.StoredManifest(stored.pk, stored.digest, stored.media_type, body)
    assert served.manifest("v2") is None
    assert served.manifest("sha256:" + "0" * 64) is None
    pusher.login("repository:speed/other:pull,push")
    pusher.push_image("speed/other", "only-there")
    assert served.manifest("only-there") is None


# --- new repository versions ---------------------------------------------------------------------


def test_a_moved_tag_replaces_the_old_one(pusher):
    pusher.push_image("speed/repo", "moving")
    first = _manifest_of(pusher, "moving")
    pusher.push_image("speed/repo", "other")
    second = _manifest_of(pusher, "other")
    _tag(pusher, "moving", second)
    served = serving.resolve("speed/repo")
    assert served.tag_names() == ["moving", "other"]
    assert served.tag("moving").tagged_manifest.digest == images.sha256_digest(second)
    assert first != second


def test_two_new_tags_with_one_name_are_refused(pusher):
    pusher.push_image("speed/repo", "a")
    pusher.push_image("speed/repo", "b")
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    manifests = list(Manifest.objects.all()[:2])
    tags = [Tag.objects.create(name="same", tagged_manifest=m) for m in manifests]
    with pytest.raises(Exception) as raised:
        with push.locked_new_version(repository) as version:
            version.add_content(Content.objects.filter(pk__in=[t.pk for t in tags]))
    assert "uplicate" in type(raised.value).__name__ + str(raised.value)
    assert serving.resolve("speed/repo").tag_names() == ["a", "b"]


def test_a_misplaced_artifact_gets_pulpcores_full_check(pusher, monkeypatch):
    from pulp_registry.app.models import repository as repository_module

    pusher.push_image("speed/repo", "a")
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    blob = Blob.objects.create(digest="sha256:" + "ab" * 32)
    artifact = ContentArtifact.objects.filter(artifact__isnull=False).first().artifact
    ContentArtifact.objects.create(content=blob, relative_path="elsewhere", artifact=artifact)
    calls = []
    monkeypatch.setattr(repository_module, "validate_repo_version", calls.append)
    with push.locked_new_version(repository) as version:
        version.add_content(Content.objects.filter(pk=blob.pk))
    assert len(calls) == 1

    calls.clear()
    well_placed = Blob.objects.create(digest="sha256:" + "cd" * 32)
    ContentArtifact.objects.create(content=well_placed, relative_path=well_placed.digest,
                                   artifact=artifact)
    with push.locked_new_version(repository) as version:
        version.add_content(Content.objects.filter(pk=well_placed.pk))
    assert calls == []


# --- query counts --------------------------------------------------------------------------------


def _queries(pusher, method, path, body=b"", content_type="application/octet-stream", **headers):
    with CaptureQueriesContext(connection) as captured:
        response = pusher.request(method, path, body, content_type, **headers)
    assert response.status_code < 300, response.content
    return [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]


def test_query_counts_do_not_grow_with_the_repository(pusher):
    pusher.push_image("speed/repo", "first")
    manifest = _manifest_of(pusher, "first")
    config = json.loads(manifest)["config"]["digest"]

    def counts(tag):
        return {
            "put": len(_queries(pusher, "PUT", f"/v2/speed/repo/manifests/{tag}", manifest,
                                images.OCI_MANIFEST)),
            "list": len(_queries(pusher, "GET", "/v2/speed/repo/tags/list")),
            "head_blob": len(_queries(pusher, "HEAD", f"/v2/speed/repo/blobs/{config}")),
            "head_manifest": len(_queries(pusher, "HEAD", f"/v2/speed/repo/manifests/{tag}",
                                          HTTP_ACCEPT=images.OCI_MANIFEST)),
        }

    small = counts("small")
    for number in range(25):
        _tag(pusher, f"filler{number}", manifest)
    large = counts("large")
    assert small == large
    # The user, the name (with its repository and latest version) and the answer itself.
    assert large["list"] <= 3 and large["head_blob"] <= 3 and large["head_manifest"] <= 3


def test_version_content_stays_consistent(pusher):
    pusher.push_image("speed/repo", "a")
    manifest = _manifest_of(pusher, "a")
    for tag in ("b", "c", "a"):
        _tag(pusher, tag, manifest)
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    version = repository.latest_version()
    relations = RepositoryVersion.objects.get(pk=version.pk)._content_relationships().count()
    assert relations == len(version.content_ids)
    assert sorted(Tag.objects.filter(pk__in=version.content_ids_subquery())
                  .values_list("name", flat=True)) == ["a", "b", "c"]
    assert uuid.UUID(str(version.pk)) == serving.resolve("speed/repo").version_pk


def test_a_tagged_manifest_push_makes_at_most_two_savepoints(pusher):
    pusher.push_image("speed/repo", "first")
    manifest = _manifest_of(pusher, "first")
    with CaptureQueriesContext(connection) as captured:
        _tag(pusher, "second", manifest)
    savepoints = [q["sql"] for q in captured.captured_queries
                  if q["sql"].startswith("SAVEPOINT")]
    # One around the new tag's rows, one around the version: pulpcore's nested blocks make none.
    assert len(savepoints) <= 2, savepoints
    # 32 with BEGIN, COMMIT and the savepoints when this was written (39 before the push
    # told finalize_new_version what it adds, and 64 before the savepoint-free version code).
    assert len(captured.captured_queries) <= 34


def test_an_error_inside_a_savepoint_free_version_rolls_everything_back(pusher, monkeypatch):
    from django.db import transaction

    pusher.push_image("speed/repo", "first")
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    before = (repository.latest_version().number, Tag.objects.count())

    def broken_counts(self):
        raise RuntimeError("counting failed")

    monkeypatch.setattr(RepositoryVersion, "_compute_counts", broken_counts)
    manifest = Tag.objects.get(name="first").tagged_manifest
    with pytest.raises(RuntimeError, match="counting failed"):
        with transaction.atomic():
            push.add_manifest(repository, manifest, tag_name="second")
    repository = RegistryPushRepository.objects.get(name="speed/repo")
    assert (repository.latest_version().number, Tag.objects.count()) == before
    assert not RepositoryVersion.objects.filter(repository=repository, complete=False).exists()
    # The connection makes savepoints again afterwards.
    assert connection.features.uses_savepoints



@pytest.mark.parametrize("user_cache_seconds, queries", [(5, 0), (0, 1)])
def test_a_token_for_known_credentials_costs_at_most_the_user(
    pusher, settings, user_cache_seconds, queries
):
    settings.REGISTRY_USER_CACHE_SECONDS = user_cache_seconds
    pusher.login("repository:speed/repo:pull,push")  # the credential is verified and cached
    with CaptureQueriesContext(connection) as captured:
        pusher.login("repository:speed/repo:pull,push")
    # At most the user (kept for a few seconds): no domain lookup, no second password check.
    assert len(captured.captured_queries) == queries, [
        q["sql"] for q in captured.captured_queries
    ]
