"""The registry-* management commands against the real registry processes (the worker runs
gc's orphan cleanup): what they print, their exit codes, and what they change in repository
versions, on /v2/ and on disk.

The commands run are the examples of docs/administration.md, extracted from the document and
run with bash, with the registry's settings in the environment.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.functional import images
from tests.functional.test_rest_operations import (  # noqa: F401  (fixtures)
    API,
    APP,
    DISTRIBUTIONS,
    PUSH_REPOS,
    admin,
    doc_env,
    doc_examples,
    pulp,
    push,
    remove_names,
    run_example,
    served_manifest,
    skopeo,
    tags_served,
    v2,
)

pytestmark = pytest.mark.functional

GUIDE = "administration.md"


@pytest.fixture(scope="module")
def manage_env(registry):
    """The environment of the registry's processes, with pulpcore-manager on the PATH."""
    env = dict(registry.env)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", os.environ.get("PATH", ""))
    return env


@pytest.fixture(scope="module")
def media_root(registry):
    result = registry.manage("shell", "-c",
                             "from django.conf import settings; print(settings.MEDIA_ROOT)")
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module", autouse=True)
def clean(pulp):
    remove_names(pulp, "myteam")


def blob_file(pulp, media_root, digest):
    """The file on disk that holds a blob."""
    artifact = pulp.find(f"{API}/artifacts/", sha256=digest.split(":", 1)[1])
    assert artifact is not None, f"no artifact for {digest}"
    return media_root / artifact["file"]


def admin_example(name, env, cwd=None, check=True):
    return run_example(GUIDE, name, env, cwd=cwd, check=check)


def test_every_documented_command_is_run_here():
    names = set(doc_examples(GUIDE))
    assert names == {"gc-dry-run", "gc-run", "gc-one-repository", "verify",
                     "verify-quarantine", "import", "keys-create", "keys-rotate", "stats"}


@pytest.mark.parametrize("command", ["registry-gc", "registry-verify", "registry-import",
                                     "registry-keys", "registry-stats"])
def test_help(registry, command):
    result = registry.manage(command, "--help", check=False)
    assert result.returncode == 0
    assert "usage: pulpcore-manager " + command in result.stdout


def test_failures_exit_non_zero_with_one_line(registry, tmp_path):
    for args, message in (
        (("registry-gc", "--older-than", "soon"), "invalid age"),
        (("registry-import", str(tmp_path / "missing.tar"), "--name", "myteam/x"),
         "does not exist"),
        (("registry-keys", "--algorithm", "RS256", "--bits", "512", "--private-key",
          str(tmp_path / "k"), "--public-key", str(tmp_path / "p")), "at least"),
    ):
        result = registry.manage(*args, check=False)
        assert result.returncode != 0
        assert message in result.stderr
        assert "Traceback" not in result.stderr


# --- registry-gc ---------------------------------------------------------------------------------

def test_gc_removes_untagged_images_and_their_files(registry, pulp, v2, skopeo, admin,
                                                   manage_env, media_root, tmp_path):
    old = push(skopeo, registry, admin, APP, "v1", tmp_path / "old", layers=2,
               layer_size=300_000)
    new = push(skopeo, registry, admin, APP, "v1", tmp_path / "new", layers=1,
               layer_size=300_000)
    repository = pulp.find(PUSH_REPOS, name=APP)
    versions = pulp.get(repository["pulp_href"] + "versions/")["count"]
    old_files = {d: blob_file(pulp, media_root, d) for d in old.blob_digests()}
    new_files = {d: blob_file(pulp, media_root, d) for d in new.blob_digests()}
    assert all(path.exists() for path in [*old_files.values(), *new_files.values()])
    old_bytes = sum(path.stat().st_size for path in old_files.values())
    assert old_bytes > 600_000

    dry = admin_example("gc-dry-run", manage_env)
    assert "dry run, nothing changed" in dry.stdout
    assert pulp.get(repository["pulp_href"] + "versions/")["count"] == versions
    assert all(path.exists() for path in old_files.values())

    collected = admin_example("gc-one-repository", manage_env)
    assert f"{APP}: removed 1 manifest(s) and {len(old_files)} blob(s)" in collected.stdout
    freed = int(collected.stdout.split("disk space freed: ")[1].split()[0])
    assert freed >= old_bytes
    assert not any(path.exists() for path in old_files.values())
    assert all(path.exists() for path in new_files.values())
    assert served_manifest(v2, APP, old.digest).status_code == 404
    assert served_manifest(v2, APP, "v1").content == new.manifest
    for digest in old.blob_digests():
        assert v2.head(f"/v2/{APP}/blobs/{digest}").status_code == 404
    assert pulp.get(repository["pulp_href"] + "versions/")["count"] == 1

    again = admin_example("gc-run", manage_env)
    assert "manifests removed from repositories: 0" in again.stdout
    assert served_manifest(v2, APP, "v1").content == new.manifest


def test_gc_json_report(registry, pulp, skopeo, admin, tmp_path):
    first = push(skopeo, registry, admin, "myteam/gcjson", "t", tmp_path / "a")
    push(skopeo, registry, admin, "myteam/gcjson", "t", tmp_path / "b")
    result = registry.manage("registry-gc", "--older-than", "0s", "--name", "myteam/gcjson",
                             "--json", check=False)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["repositories"][0]["removed_manifests"] == [first.digest]
    assert report["deleted_content"]["manifests"] >= 1
    assert report["freed_bytes"] > 0
    assert "myteam/gcjson" in result.stderr


# --- registry-verify -----------------------------------------------------------------------------

def test_verify_names_a_corrupted_blob_and_quarantine_lets_a_push_repair_it(
        registry, pulp, v2, skopeo, admin, manage_env, media_root, tmp_path):
    image = push(skopeo, registry, admin, "myteam/verify", "v1", tmp_path / "img", layers=2)
    target = image.layers[1].digest
    path = blob_file(pulp, media_root, target)
    original = path.read_bytes()
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0x01
    path.write_bytes(bytes(corrupted))

    result = admin_example("verify", manage_env, check=False)
    assert result.returncode == 1
    assert f"BAD blob {target}" in result.stdout
    assert "does not match the digest" in result.stdout
    for digest in image.blob_digests():
        if digest != target:
            assert f"BAD blob {digest}" not in result.stdout

    result = admin_example("verify-quarantine", manage_env, check=False)
    assert result.returncode == 1
    quarantined = [p for p in (media_root / "quarantine").iterdir()
                   if p.name.startswith(target.replace(":", "-")) and p.suffix != ".json"]
    assert len(quarantined) == 1 and quarantined[0].read_bytes() == bytes(corrupted)
    assert not path.exists()
    # The bad bytes are no longer served; the manifest still is.
    assert v2.get(f"/v2/myteam/verify/blobs/{target}").status_code == 404
    assert served_manifest(v2, "myteam/verify", "v1").content == image.manifest

    # Pushing the image again uploads the missing blob and repairs the repository.
    skopeo.copy(image.oci_ref, f"docker://{registry.host_port}/myteam/verify:v1", creds=admin)
    response = v2.get(f"/v2/myteam/verify/blobs/{target}")
    assert response.status_code == 200
    assert images.sha256_digest(response.content) == target
    assert path.read_bytes() == original
    check = registry.manage("registry-verify", "--digest", target, check=False)
    assert check.returncode == 0, check.stdout + check.stderr


# --- registry-import -----------------------------------------------------------------------------

def test_import_an_oci_archive(registry, v2, manage_env, tmp_path):
    layout = tmp_path / "layout"
    image = images.build_image(layout, tag="whatever", layers=2)
    images.write_oci_archive(image, tmp_path / "app.tar")
    result = admin_example("import", manage_env, cwd=tmp_path)
    assert "imported 1 image(s) into myteam/offline" in result.stdout
    assert tags_served(v2, "myteam/offline") == ["1.0"]
    assert served_manifest(v2, "myteam/offline", "1.0").content == image.manifest
    for digest in image.blob_digests():
        response = v2.get(f"/v2/myteam/offline/blobs/{digest}")
        assert response.status_code == 200
        assert images.sha256_digest(response.content) == digest


def test_import_an_index_layout_directory(registry, v2, tmp_path):
    index = images.build_index(tmp_path / "multi", tag="2.0", media="docker")
    result = registry.manage("registry-import", str(tmp_path / "multi"), "--name",
                             "myteam/offline-multi", check=False)
    assert result.returncode == 0, result.stderr
    assert tags_served(v2, "myteam/offline-multi") == ["2.0"]
    served = served_manifest(v2, "myteam/offline-multi", "2.0", images.DOCKER_MANIFEST_LIST)
    assert served.content == index.manifest
    for child in index.children:
        response = served_manifest(v2, "myteam/offline-multi", child.digest,
                                   images.DOCKER_MANIFEST)
        assert response.content == child.manifest


def test_import_refuses_a_corrupt_archive(registry, v2, tmp_path):
    layout = tmp_path / "layout"
    image = images.build_image(layout, tag="1.0")
    blob = images.OCILayout(layout).blob_path(image.layers[0].digest)
    data = bytearray(blob.read_bytes())
    data[0] ^= 0xFF
    blob.write_bytes(bytes(data))
    result = registry.manage("registry-import", str(layout), "--name", "myteam/corrupt",
                             check=False)
    assert result.returncode == 1
    assert "corrupt" in result.stderr and image.layers[0].digest in result.stderr
    assert v2.get("/v2/myteam/corrupt/tags/list").json().get("tags") in (None, [])


# --- registry-keys -------------------------------------------------------------------------------

def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_keys_create_leaves_a_usable_pair_alone(registry, manage_env):
    result = registry.manage("shell", "-c", "from django.conf import settings; "
                             "print(settings.PRIVATE_KEY_PATH); print(settings.PUBLIC_KEY_PATH)")
    private, public = result.stdout.strip().splitlines()[-2:]
    before = (_digest(private), _digest(public))
    created = admin_example("keys-create", manage_env)
    assert "already exists" in created.stdout
    assert (_digest(private), _digest(public)) == before


def test_keys_rotate(registry, manage_env, tmp_path):
    result = registry.manage("shell", "-c", "from django.conf import settings; "
                             "print(settings.PRIVATE_KEY_PATH); print(settings.PUBLIC_KEY_PATH)")
    private, public = (Path(p) for p in result.stdout.strip().splitlines()[-2:])
    # Rotate copies, so that the running registry keeps the keys it started with.
    copies = tmp_path / "keys"
    copies.mkdir()
    (copies / "private.pem").write_bytes(private.read_bytes())
    (copies / "public.pem").write_bytes(public.read_bytes())
    env = {**manage_env, "PULP_PRIVATE_KEY_PATH": str(copies / "private.pem"),
           "PULP_PUBLIC_KEY_PATH": str(copies / "public.pem")}
    rotated = admin_example("keys-rotate", env)
    assert "rotated" in rotated.stdout
    assert (copies / "private.pem.old").read_bytes() == private.read_bytes()
    new_private = serialization.load_pem_private_key((copies / "private.pem").read_bytes(), None)
    new_public = serialization.load_pem_public_key((copies / "public.pem").read_bytes())
    assert isinstance(new_private, ec.EllipticCurvePrivateKey)
    assert new_private.curve.name == "secp256r1"
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert new_private.public_key().public_bytes(*der) == new_public.public_bytes(*der)
    assert (copies / "private.pem").read_bytes() != private.read_bytes()
    assert (copies / "private.pem").stat().st_mode & 0o777 == 0o600


# --- registry-stats ------------------------------------------------------------------------------

def test_stats_match_what_is_served(registry, pulp, manage_env):
    table = admin_example("stats", manage_env)
    assert "per namespace:" in table.stdout and "myteam" in table.stdout
    result = registry.manage("registry-stats", "--json", check=False)
    assert result.returncode == 0
    stats = json.loads(result.stdout)["namespaces"]["myteam"]
    distributions = pulp.get(DISTRIBUTIONS, base_path__startswith="myteam/",
                             limit=1000)["results"]
    assert stats["repositories"] == len(distributions)
    tags = 0
    blobs, manifests = set(), set()
    for distribution in distributions:
        repository = pulp.get(distribution["repository"])
        version = repository["latest_version_href"]
        tags += pulp.get(f"{API}/content/registry/tags/", repository_version=version)["count"]
        for kind, found in (("blobs", blobs), ("manifests", manifests)):
            for item in pulp.get(f"{API}/content/registry/{kind}/", repository_version=version,
                                 limit=1000)["results"]:
                found.add(item["digest"])
    assert stats["tags"] == tags
    assert stats["blobs"] == len(blobs)
    assert stats["manifests"] == len(manifests)
