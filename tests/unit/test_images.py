"""Self-test of the functional tests' image builder and client environment.

Runs without a server, Django or any container tool: it checks that what
:mod:`tests.functional.images` writes is internally consistent (digests, sizes,
diff_ids, layouts) and that :class:`tests.functional.clients.ClientEnv` writes
the configuration the clients need.
"""

import gzip
import hashlib
import io
import json
import subprocess
import tarfile

import pytest

from tests.functional import images
from tests.functional.clients import ClientEnv, ClientError, credentials_arg, docker_ref


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check_image_blobs(layout: images.OCILayout, image: images.ImageInfo) -> dict:
    """Check an image's manifest, config and layers against its layout; return the config."""
    assert layout.read_blob(image.digest) == image.manifest
    assert _sha256(image.manifest) == image.digest
    manifest = json.loads(image.manifest)
    assert manifest["schemaVersion"] == 2
    assert manifest["mediaType"] == image.media_type
    assert manifest["config"]["digest"] == image.config_digest
    config_bytes = layout.read_blob(image.config_digest)
    assert len(config_bytes) == image.config_size == manifest["config"]["size"]
    config = json.loads(config_bytes)
    assert [layer.descriptor() for layer in image.layers] == manifest["layers"]
    assert config["rootfs"] == {"type": "layers",
                                "diff_ids": [layer.diff_id for layer in image.layers]}
    for layer in image.layers:
        blob = layer.content if layer.foreign else layout.read_blob(layer.digest)
        assert _sha256(blob) == layer.digest
        assert len(blob) == layer.size
        assert _sha256(gzip.decompress(blob)) == layer.diff_id
    return config


def test_oci_image(tmp_path):
    image = images.build_image(tmp_path / "layout", tag="v1", layers=3, layer_size=3000)
    layout = images.OCILayout(tmp_path / "layout")

    config = _check_image_blobs(layout, image)
    assert image.media_type == images.OCI_MANIFEST
    assert json.loads(image.manifest)["config"]["mediaType"] == images.OCI_CONFIG
    assert {layer.media_type for layer in image.layers} == {images.OCI_LAYER_GZIP}
    assert (config["architecture"], config["os"]) == ("amd64", "linux")
    assert len(image.layers) == 3 and len(set(image.layer_digests)) == 3
    assert image.layer_sizes == [layer.size for layer in image.layers]
    assert image.oci_ref == f"oci:{tmp_path / 'layout'}:v1"
    assert not image.is_index and image.images() == [image]

    assert json.loads((tmp_path / "layout" / "oci-layout").read_text()) == {
        "imageLayoutVersion": "1.0.0"}
    index = layout.index()
    assert index["manifests"] == [dict(image.descriptor(), annotations={
        images.REF_NAME_ANNOTATION: "v1"})]


def test_layer_is_a_tar_with_random_file(tmp_path):
    image = images.build_image(tmp_path, layer_size=5000)
    blob = images.OCILayout(tmp_path).read_blob(image.layers[0].digest)
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(blob))) as tar:
        members = {member.name: member for member in tar.getmembers()}
        assert members["layer0"].isdir()
        assert members["layer0/data.bin"].size == 5000
        assert len(tar.extractfile("layer0/data.bin").read()) == 5000


def test_docker_image(tmp_path):
    image = images.build_image(tmp_path, media="docker", layers=2)
    _check_image_blobs(images.OCILayout(tmp_path), image)
    manifest = json.loads(image.manifest)
    assert manifest["mediaType"] == images.DOCKER_MANIFEST == image.media_type
    assert manifest["config"]["mediaType"] == images.DOCKER_CONFIG
    assert {layer["mediaType"] for layer in manifest["layers"]} == {images.DOCKER_LAYER_GZIP}


def test_tags_share_one_layout(tmp_path):
    first = images.build_image(tmp_path, tag="a")
    second = images.build_image(tmp_path, tag="b")
    replaced = images.build_image(tmp_path, tag="a")
    layout = images.OCILayout(tmp_path)
    assert sorted(layout.tags()) == ["a", "b"]
    digests = {entry["digest"] for entry in layout.index()["manifests"]}
    assert digests == {second.digest, replaced.digest}
    assert first.digest not in digests


def test_seed_makes_builds_reproducible(tmp_path):
    one = images.build_index(tmp_path / "one", seed=42, layers=2)
    two = images.build_index(tmp_path / "two", seed=42, layers=2)
    other = images.build_index(tmp_path / "three", seed=43, layers=2)
    assert one.manifest == two.manifest
    assert [c.manifest for c in one.children] == [c.manifest for c in two.children]
    assert other.digest != one.digest


def test_unseeded_builds_differ(tmp_path):
    digests = {images.build_image(tmp_path / str(n), layers=0).digest for n in range(3)}
    assert len(digests) == 3


@pytest.mark.parametrize("media, index_type, manifest_type", [
    ("oci", images.OCI_INDEX, images.OCI_MANIFEST),
    ("docker", images.DOCKER_MANIFEST_LIST, images.DOCKER_MANIFEST),
])
def test_index(tmp_path, media, index_type, manifest_type):
    index = images.build_index(tmp_path, tag="multi", media=media)
    layout = images.OCILayout(tmp_path)
    assert index.is_index and index.media_type == index_type
    assert layout.read_blob(index.digest) == index.manifest
    document = json.loads(index.manifest)
    assert document["mediaType"] == index_type
    assert [entry["platform"] for entry in document["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert [entry["digest"] for entry in document["manifests"]] == [
        child.digest for child in index.children]
    for child, entry in zip(index.children, document["manifests"]):
        assert child.media_type == manifest_type == entry["mediaType"]
        assert entry["size"] == child.size
        config = _check_image_blobs(layout, child)
        assert config["architecture"] == child.platform["architecture"]
        assert child.tag is None
    assert config["variant"] == "v8"
    assert layout.tags() == ["multi"]
    assert len(index.blob_digests()) == 4


@pytest.mark.parametrize("media, foreign_type", [
    ("oci", images.OCI_LAYER_NONDISTRIBUTABLE_GZIP),
    ("docker", images.DOCKER_FOREIGN_LAYER_GZIP),
])
def test_foreign_layer(tmp_path, media, foreign_type):
    image = images.build_image(tmp_path, media=media,
                               foreign_layer_url="http://example.invalid/blobs/{digest}")
    layout = images.OCILayout(tmp_path)
    _check_image_blobs(layout, image)
    regular, foreign = image.layers
    assert not regular.foreign and foreign.foreign
    assert foreign.media_type == foreign_type
    assert foreign.urls == [f"http://example.invalid/blobs/{foreign.digest}"]
    assert json.loads(image.manifest)["layers"][1]["urls"] == foreign.urls
    assert not layout.has_blob(foreign.digest)
    assert foreign.digest not in image.blob_digests()
    assert foreign.digest in image.blob_digests(include_foreign=True)


def test_dir_layout_of_a_list(tmp_path):
    index = images.build_index(tmp_path / "layout", media="docker")
    target = images.write_dir_layout(index, tmp_path / "dir")
    layout = images.OCILayout(tmp_path / "layout")
    expected = {"version", "manifest.json"}
    expected |= {f"{images.digest_hex(c.digest)}.manifest.json" for c in index.children}
    expected |= {images.digest_hex(d) for d in index.blob_digests()}
    assert {path.name for path in target.iterdir()} == expected
    assert (target / "version").read_text() == "Directory Transport Version: 1.1\n"
    assert (target / "manifest.json").read_bytes() == index.manifest
    for child in index.children:
        name = f"{images.digest_hex(child.digest)}.manifest.json"
        assert (target / name).read_bytes() == child.manifest
    for digest in index.blob_digests():
        assert (target / images.digest_hex(digest)).read_bytes() == layout.read_blob(digest)


def test_dir_layout_leaves_out_foreign_blob(tmp_path):
    image = images.build_image(tmp_path / "layout", foreign_layer_url="http://x.invalid/{hex}")
    target = images.write_dir_layout(image, tmp_path / "dir")
    assert images.digest_hex(image.layers[-1].digest) not in {p.name for p in target.iterdir()}


def test_oci_archive_of_one_image(tmp_path):
    images.build_image(tmp_path / "layout", tag="other")
    image = images.build_image(tmp_path / "layout", tag="mine", layers=2)
    tarball = images.write_oci_archive(image, tmp_path / "image.tar")
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        index = json.loads(tar.extractfile("index.json").read())
    assert index["manifests"] == [dict(image.descriptor(), annotations={
        images.REF_NAME_ANNOTATION: "mine"})]
    blobs = [image.digest, *image.blob_digests()]
    assert names == {"oci-layout", "index.json"} | {
        f"blobs/sha256/{images.digest_hex(d)}" for d in blobs}


def test_oci_archive_of_a_layout(tmp_path):
    images.build_image(tmp_path / "layout", tag="a")
    images.build_image(tmp_path / "layout", tag="b")
    tarball = images.write_oci_archive(tmp_path / "layout", tmp_path / "all.tar")
    with tarfile.open(tarball) as tar:
        index = json.loads(tar.extractfile("index.json").read())
    assert len(index["manifests"]) == 2


def test_docker_archive(tmp_path):
    image = images.build_image(tmp_path / "layout", layers=2,
                               foreign_layer_url="http://x.invalid/{hex}")
    tarball = images.write_docker_archive(image, tmp_path / "image.tar", "localhost/t/img:1")
    layout = images.OCILayout(tmp_path / "layout")
    with tarfile.open(tarball) as tar:
        (entry,) = json.loads(tar.extractfile("manifest.json").read())
        assert entry["RepoTags"] == ["localhost/t/img:1"]
        assert tar.extractfile(entry["Config"]).read() == layout.read_blob(image.config_digest)
        assert len(entry["Layers"]) == 3
        for name, layer in zip(entry["Layers"], image.layers):
            assert _sha256(tar.extractfile(name).read()) == layer.diff_id
    with pytest.raises(ValueError):
        images.write_docker_archive(images.build_index(tmp_path / "idx"), tmp_path / "x.tar")


def test_empty_config_and_random_blob():
    assert images.EMPTY_CONFIG == {"mediaType": "application/vnd.oci.empty.v1+json",
                                   "digest": _sha256(b"{}"), "size": 2}
    assert images.EMPTY_CONFIG_BYTES == b"{}"
    data, digest = images.random_blob(100)
    assert len(data) == 100 and digest == _sha256(data)
    assert images.random_blob(100)[0] != data
    assert images.random_blob(10, seed=1) == images.random_blob(10, seed=1)


def test_make_manifest_for_an_artifact(tmp_path):
    subject = images.build_image(tmp_path)
    blob, digest = images.random_blob(10)
    manifest_bytes = images.make_manifest(
        images.EMPTY_CONFIG["digest"], images.EMPTY_CONFIG["size"],
        [{"mediaType": "text/plain", "digest": digest, "size": 10}],
        subject=subject, artifact_type="application/x.example",
        annotations={"k": "v"})
    manifest = json.loads(manifest_bytes)
    assert list(manifest) == ["schemaVersion", "mediaType", "artifactType", "config", "layers",
                              "subject", "annotations"]
    assert manifest["config"] == images.EMPTY_CONFIG
    assert manifest["subject"] == subject.descriptor()
    assert manifest["artifactType"] == "application/x.example"
    assert manifest["annotations"] == {"k": "v"}
    assert b" " not in manifest_bytes


def test_make_manifest_defaults():
    oci = json.loads(images.make_manifest("sha256:" + "a" * 64, 5, [("sha256:" + "b" * 64, 7)]))
    assert oci["mediaType"] == images.OCI_MANIFEST
    assert oci["config"]["mediaType"] == images.OCI_CONFIG
    assert oci["layers"] == [{"mediaType": images.OCI_LAYER_GZIP,
                              "digest": "sha256:" + "b" * 64, "size": 7}]
    assert "subject" not in oci and "artifactType" not in oci and "annotations" not in oci
    docker = json.loads(images.make_manifest("sha256:" + "a" * 64, 5, [("sha256:" + "b" * 64, 7)],
                                             media_type=images.DOCKER_MANIFEST))
    assert docker["config"]["mediaType"] == images.DOCKER_CONFIG
    assert docker["layers"][0]["mediaType"] == images.DOCKER_LAYER_GZIP


def test_make_index(tmp_path):
    child = images.build_image(tmp_path, platform="linux/s390x")
    index = json.loads(images.make_index([child, {"mediaType": images.OCI_MANIFEST,
                                                  "digest": "sha256:" + "c" * 64, "size": 1}],
                                         artifact_type="application/x.list"))
    assert index["manifests"][0] == dict(child.descriptor(), platform={
        "architecture": "s390x", "os": "linux"})
    assert index["artifactType"] == "application/x.list"


def test_parse_platform():
    assert images.parse_platform("linux/arm/v7") == {"architecture": "arm", "os": "linux",
                                                     "variant": "v7"}
    with pytest.raises(ValueError):
        images.parse_platform("linux")


def test_client_env_configuration(tmp_path):
    env = ClientEnv(tmp_path, "127.0.0.1:5999", isolate_blob_cache=False)
    env.add_insecure_registry("localhost:6000")
    variables = env.env
    assert json.loads(open(variables["REGISTRY_AUTH_FILE"]).read()) == {"auths": {}}
    assert (tmp_path / "docker" / "config.json").exists()
    assert variables["DOCKER_CONFIG"] == str(tmp_path / "docker")
    storage = open(variables["CONTAINERS_STORAGE_CONF"]).read()
    assert 'driver = "vfs"' in storage and str(tmp_path / "storage") in storage
    registries = open(variables["CONTAINERS_REGISTRIES_CONF"]).read()
    for host in ("127.0.0.1:5999", "localhost:6000"):
        assert f'[[registry]]\nlocation = "{host}"\ninsecure = true' in registries
    assert env.command(["skopeo", "--version"]) == ["skopeo", "--version"]


def test_client_env_run_reports_failures(tmp_path):
    env = ClientEnv(tmp_path, isolate_blob_cache=False)
    with pytest.raises(ClientError, match="(?s)exit code 3.*boom"):
        env.run(["sh", "-c", "echo boom >&2; exit 3"])
    result = env.run(["sh", "-c", 'echo "$REGISTRY_AUTH_FILE"; exit 3'], check=False)
    assert isinstance(result, subprocess.CompletedProcess)
    assert result.returncode == 3 and result.stdout.strip() == str(tmp_path / "auth.json")


def test_reference_helpers():
    assert credentials_arg(("u", "p:w")) == "u:p:w"
    assert credentials_arg("u:p") == "u:p" and credentials_arg(None) is None
    assert docker_ref("h:1", "a/b", "t") == "docker://h:1/a/b:t"
    assert docker_ref("h:1", "a/b", digest="sha256:x") == "docker://h:1/a/b@sha256:x"
