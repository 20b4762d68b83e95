"""The registry's management commands through Django's ``call_command``, on the real database:
output, exit codes and what each command changes (repository versions, files on disk)."""

import io
import json
import tarfile

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError

from pulp_registry.app.models import Blob, Manifest, RegistryRepository
from pulp_registry.app.tasks import gc
from tests.functional import images
from tests.unit.test_tasks import (  # noqa: F401  (run_in_task is a fixture)
    artifact_path,
    digests_in,
    make_image,
    push_image,
    push_repo,
    run_in_task,
    tags_of,
)

pytestmark = pytest.mark.django_db


def run(*args):
    """Run a command; return (stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def fails(*args):
    """Run a command that must fail; return its CommandError."""
    with pytest.raises(CommandError) as raised:
        run(*args)
    assert raised.value.returncode != 0
    return raised.value


@pytest.fixture
def tasks_in_process(monkeypatch, run_in_task):  # noqa: F811
    def dispatch(func, kwargs=None, exclusive_resources=None, **_):
        return run_in_task(func, **(kwargs or {}))

    monkeypatch.setattr(gc, "dispatch", dispatch)


# --- registry-gc ---------------------------------------------------------------------------------

def test_gc_help_lists_its_options():
    command = load_command_class("pulp_registry.app", "registry-gc")
    text = command.create_parser("pulpcore-manager", "registry-gc").format_help()
    for option in ("--older-than", "--dry-run", "--keep-versions", "--include-regular", "--json"):
        assert option in text


def test_gc_rejects_a_bad_age():
    error = fails("registry-gc", "--older-than", "soon")
    assert "invalid age" in str(error)


def test_gc_dry_run_reports_and_changes_nothing():
    repository = push_repo("cmd/gc-dry")
    push_image(repository, make_image(), "v1")
    untagged = push_image(repository, make_image())
    number = repository.latest_version().number
    out, _ = run("registry-gc", "--older-than", "0s", "--dry-run", "--name", "cmd/gc-dry")
    assert "cmd/gc-dry: would have removed 1 manifest(s)" in out
    assert "dry run, nothing changed" in out
    assert repository.latest_version().number == number
    assert untagged.digest in digests_in(repository, Manifest)


def test_gc_json_output_and_effect(tasks_in_process, django_capture_on_commit_callbacks):
    repository = push_repo("cmd/gc-json")
    kept = push_image(repository, make_image(), "v1")
    untagged = push_image(repository, make_image())
    paths = [artifact_path(blob) for blob in [*untagged.blobs.all(), untagged.config_blob]]
    sizes = sum(path.stat().st_size for path in paths)
    with django_capture_on_commit_callbacks(execute=True):
        out, err = run("registry-gc", "--older-than", "0s", "--json", "--name", "cmd/gc-json")
    report = json.loads(out)
    assert report["removed_manifests"] == 1
    assert report["repositories"][0]["removed_manifests"] == [untagged.digest]
    assert report["deleted_content"]["manifests"] >= 1
    assert report["freed_bytes"] >= sizes
    assert "cmd/gc-json" in err  # progress goes to stderr with --json
    assert not any(path.exists() for path in paths)
    assert digests_in(repository, Manifest) == {kept.digest}
    assert tags_of(repository) == {"v1": kept.digest}


def test_gc_keeps_versions_when_asked(tasks_in_process):
    repository = push_repo("cmd/gc-versions")
    push_image(repository, make_image(), "v1")
    push_image(repository, make_image(), "v2")
    before = repository.versions.count()
    run("registry-gc", "--older-than", "0s", "--keep-all-versions", "--name", "cmd/gc-versions")
    assert repository.versions.count() == before
    run("registry-gc", "--older-than", "0s", "--keep-versions", "2", "--name", "cmd/gc-versions")
    assert repository.versions.complete().count() == 2


def test_gc_leaves_regular_repositories_unless_asked(tasks_in_process):
    regular = RegistryRepository.objects.create(name="cmd-gc-regular")
    image = make_image()
    from pulp_registry.app.tasks import operations

    operations.add_and_remove(regular.pk, [image.pk], [])
    run("registry-gc", "--older-than", "0s", "--name", "cmd-gc-regular")
    assert image.digest in digests_in(regular, Manifest)
    run("registry-gc", "--older-than", "0s", "--include-regular", "--name", "cmd-gc-regular")
    assert digests_in(regular, Manifest) == set()


def test_gc_reports_a_failed_cleanup_task(monkeypatch):
    repository = push_repo("cmd/gc-fail")
    push_image(repository, make_image())

    def broken(*args, **kwargs):
        raise RuntimeError("pulpcore task 123 failed: boom")

    monkeypatch.setattr(gc, "run_task", broken)
    error = fails("registry-gc", "--older-than", "0s", "--name", "cmd/gc-fail")
    assert "orphan cleanup failed" in str(error) and "boom" in str(error)


# --- registry-verify -----------------------------------------------------------------------------

def test_verify_finds_a_corrupted_blob_and_quarantines_it(tmp_path):
    repository = push_repo("cmd/verify")
    image = push_image(repository, make_image(layers=2), "v1")
    good, bad = list(image.blobs.all())
    out, _ = run("registry-verify", "--digest", good.digest, "--digest", bad.digest)
    assert "0 bad" in out
    path = artifact_path(bad)
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF
    path.write_bytes(bytes(data))
    error = fails("registry-verify", "--digest", good.digest, "--digest", bad.digest)
    assert "1 bad" in str(error)
    out, _ = run_failing_capture("registry-verify", "--json", "--digest", good.digest,
                                 "--digest", bad.digest)
    report = json.loads(out)
    assert [p["digest"] for p in report["problems"]] == [bad.digest]
    assert "does not match the digest" in report["problems"][0]["reason"]

    quarantine = tmp_path / "q"
    out, _ = run_failing_capture("registry-verify", "--quarantine", "--quarantine-dir",
                                 str(quarantine), "--digest", bad.digest)
    assert f"BAD blob {bad.digest}" in out
    moved = [p for p in quarantine.iterdir() if not p.name.endswith(".json")]
    assert len(moved) == 1 and moved[0].read_bytes() == bytes(data)
    assert not path.exists()
    # The blob stays in the repository but no longer has a file to serve.
    assert bad.digest in digests_in(repository, Blob)
    assert not bad.contentartifact_set.exists()
    out, _ = run_failing_capture("registry-verify", "--digest", bad.digest)
    assert "no stored file" in out


def test_verify_reports_a_missing_file():
    repository = push_repo("cmd/verify-missing")
    image = push_image(repository, make_image(), "v1")
    blob = image.blobs.first()
    artifact_path(blob).unlink()
    out, _ = run_failing_capture("registry-verify", "--digest", blob.digest)
    assert "file is missing" in out


def run_failing_capture(*args):
    """Run a command expected to exit 1 and return what it printed."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command(*args, stdout=out, stderr=err)
    assert raised.value.returncode == 1
    return out.getvalue(), err.getvalue()


# --- registry-import -----------------------------------------------------------------------------

def test_import_layout_directory_and_archive(tmp_path):
    layout = tmp_path / "layout"
    index = images.build_index(layout, tag="multi")
    single = images.build_image(layout, tag="single", media="docker")
    out, _ = run("registry-import", str(layout), "--name", "cmd/import")
    assert "imported 2 image(s) into cmd/import" in out
    repository = push_repo("cmd/import")
    assert tags_of(repository) == {"multi": index.digest, "single": single.digest}
    stored = Manifest.objects.get(digest=index.digest)
    assert bytes(stored.data) == index.manifest
    expected = {m.digest for m in index.manifests()} | {single.digest}
    assert digests_in(repository, Manifest) == expected
    assert digests_in(repository, Blob) == set(index.blob_digests()) | set(single.blob_digests())

    archive = images.write_oci_archive(layout, tmp_path / "layout.tar")
    out, _ = run("registry-import", str(archive), "--name", "cmd/import-tar", "--ref", "single",
                 "--tag", "renamed", "--json")
    result = json.loads(out)
    assert result["images"] == [
        {"digest": single.digest, "tag": "renamed", "media_type": images.DOCKER_MANIFEST}
    ]
    assert result["blobs_already_present"] == len(single.blob_digests())
    assert tags_of(push_repo("cmd/import-tar")) == {"renamed": single.digest}


def test_import_refuses_ambiguous_tag_and_bad_input(tmp_path):
    layout = tmp_path / "layout"
    images.build_image(layout, tag="a")
    images.build_image(layout, tag="b")
    assert "choose one with --ref" in str(fails("registry-import", str(layout), "--name", "x/y",
                                                "--tag", "t"))
    assert "not a valid image name" in str(fails("registry-import", str(layout), "--name",
                                                 "Bad Name"))
    assert "does not exist" in str(fails("registry-import", str(tmp_path / "nope"), "--name",
                                         "x/y"))
    junk = tmp_path / "junk.tar"
    with tarfile.open(junk, "w") as tar:
        info = tarfile.TarInfo("manifest.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"[]"))
    assert "docker save" in str(fails("registry-import", str(junk), "--name", "x/y"))
    assert not RegistryRepository.objects.filter(name="x/y").exists()


def test_import_detects_a_corrupt_blob_in_the_layout(tmp_path):
    layout = tmp_path / "layout"
    image = images.build_image(layout, tag="v1")
    blob_path = images.OCILayout(layout).blob_path(image.layers[0].digest)
    data = bytearray(blob_path.read_bytes())
    data[-1] ^= 0xFF
    blob_path.write_bytes(bytes(data))
    error = fails("registry-import", str(layout), "--name", "cmd/import-corrupt")
    assert "corrupt" in str(error) and image.layers[0].digest in str(error)
    assert not Manifest.objects.filter(digest=image.digest).exists()


# --- registry-keys -------------------------------------------------------------------------------

def test_keys_create_keep_and_rotate(tmp_path, settings):
    private, public = tmp_path / "keys" / "private.pem", tmp_path / "keys" / "public.pem"
    settings.PRIVATE_KEY_PATH, settings.PUBLIC_KEY_PATH = str(private), str(public)
    settings.TOKEN_SIGNATURE_ALGORITHM = "ES256"
    out, _ = run("registry-keys")
    assert "created the EC P-256 key pair" in out
    assert private.stat().st_mode & 0o777 == 0o600
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    first = private.read_bytes()

    out, _ = run("registry-keys")
    assert "already exists" in out
    assert private.read_bytes() == first

    out, _ = run("registry-keys", "--force")
    assert "rotated" in out and private.read_bytes() != first
    assert (tmp_path / "keys" / "private.pem.old").read_bytes() == first


def test_keys_rsa_and_refusals(tmp_path, settings):
    settings.PRIVATE_KEY_PATH = settings.PUBLIC_KEY_PATH = None
    assert "not set" in str(fails("registry-keys"))
    private, public = tmp_path / "p.pem", tmp_path / "pub.pem"
    out, _ = run("registry-keys", "--algorithm", "RS256", "--bits", "2048",
                 "--private-key", str(private), "--public-key", str(public))
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    # An RSA pair is not usable for ES256: say so instead of keeping it silently.
    error = fails("registry-keys", "--algorithm", "ES256", "--private-key", str(private),
                  "--public-key", str(public))
    assert "not usable" in str(error)
    public.unlink()
    assert "only" in str(fails("registry-keys", "--private-key", str(private),
                               "--public-key", str(public)))
    assert "at least" in str(fails("registry-keys", "--algorithm", "RS256", "--bits", "1024",
                                   "--private-key", str(private), "--public-key", str(public),
                                   "--force"))


# --- registry-stats ------------------------------------------------------------------------------

def test_stats_counts_per_namespace():
    before = json.loads(run("registry-stats", "--json")[0])
    first = push_repo("statsns/one")
    image = push_image(first, make_image(layers=2), "v1")
    push_image(first, make_image(), "v2")
    second = push_repo("statsns/two")
    push_image(second, image, "copy")  # the same manifest and blobs in a second repository
    stats = json.loads(run("registry-stats", "--json")[0])
    namespace = stats["namespaces"]["statsns"]
    assert namespace["repositories"] == 2
    assert namespace["tags"] == 3
    assert namespace["manifests"] == 2
    assert namespace["blobs"] == 3 + 2
    blob_bytes = sum(
        b.contentartifact_set.get().artifact.size
        for b in Blob.objects.filter(digest__in=digests_in(first, Blob))
    )
    assert namespace["blob_bytes"] == blob_bytes
    served = stats["overall"]["served"]
    assert served["tags"] - before["overall"]["served"]["tags"] == 3
    out, _ = run("registry-stats")
    assert "statsns" in out and str(blob_bytes) in out


def test_every_command_has_help():
    for name in ("registry-gc", "registry-verify", "registry-import", "registry-keys",
                 "registry-stats"):
        command = load_command_class("pulp_registry.app", name)
        assert command.help
        assert command.create_parser("pulpcore-manager", name).format_help()


def test_age_is_applied_to_repository_membership():
    repository = push_repo("cmd/gc-age")
    push_image(repository, make_image())
    out, _ = run("registry-gc", "--older-than", "1h", "--dry-run", "--name", "cmd/gc-age")
    assert "would have removed" not in out
    assert "manifests removed from repositories: 0" in out
