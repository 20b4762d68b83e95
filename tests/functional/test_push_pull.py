"""Push and pull with real clients (skopeo, podman, buildah, oras) against the real registry
processes, with token authentication on (the default)."""

import json
import threading
import time

import pytest

from tests.functional import images
from tests.functional.clients import Buildah, ClientEnv, Oras, Podman, Skopeo, write_build_context
from tests.functional.v2client import V2Client

pytestmark = pytest.mark.functional


@pytest.fixture
def env(registry, tmp_path):
    return ClientEnv(tmp_path / "client", registries=[registry.host_port])


@pytest.fixture
def admin(registry):
    return ("admin", registry.admin_password)


@pytest.fixture
def skopeo(env):
    return Skopeo(env)


def docker_ref(registry, name, tag):
    return f"docker://{registry.host_port}/{name}:{tag}"


def pulled_digest(layout_dir, tag):
    """Digest recorded for ``tag`` in an OCI layout that skopeo wrote."""
    index = json.loads((layout_dir / "index.json").read_text())
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get(images.REF_NAME_ANNOTATION) == tag:
            return descriptor["digest"]
    raise AssertionError(f"{tag} not in {index}")


def test_skopeo_oci_image_round_trip(registry, skopeo, admin, tmp_path):
    image = images.build_image(tmp_path / "src", tag="v1", layers=2, layer_size=200_000)
    skopeo.copy(image.oci_ref, docker_ref(registry, "skopeo/oci", "v1"), creds=admin)
    raw = skopeo.inspect(docker_ref(registry, "skopeo/oci", "v1"), raw=True, creds=admin)
    assert raw == image.manifest
    skopeo.copy(docker_ref(registry, "skopeo/oci", "v1"), f"oci:{tmp_path / 'back'}:v1")
    assert pulled_digest(tmp_path / "back", "v1") == image.digest
    for layer in image.layers:
        assert (tmp_path / "back" / "blobs" / "sha256" / images.digest_hex(layer.digest)).exists()


def test_skopeo_oci_index_round_trip(registry, skopeo, admin, tmp_path):
    index = images.build_index(tmp_path / "src", tag="multi")
    skopeo.copy(index.oci_ref, docker_ref(registry, "skopeo/index", "multi"), all=True,
                creds=admin)
    raw = skopeo.inspect(docker_ref(registry, "skopeo/index", "multi"), raw=True)
    assert raw == index.manifest
    skopeo.copy(docker_ref(registry, "skopeo/index", "multi"), f"oci:{tmp_path / 'back'}:multi",
                all=True)
    assert pulled_digest(tmp_path / "back", "multi") == index.digest


@pytest.mark.parametrize("build", ["image", "list"])
def test_skopeo_docker_schema2_round_trip(registry, skopeo, admin, tmp_path, build):
    if build == "image":
        image = images.build_image(tmp_path / "src", tag="d", media="docker")
    else:
        image = images.build_index(tmp_path / "src", tag="d", media="docker")
    source = images.write_dir_layout(image, tmp_path / "dir")
    skopeo.copy(f"dir:{source}", docker_ref(registry, f"skopeo/docker-{build}", "d"),
                all=True, creds=admin)
    skopeo.copy(docker_ref(registry, f"skopeo/docker-{build}", "d"), f"dir:{tmp_path / 'back'}",
                all=True)
    assert (tmp_path / "back" / "manifest.json").read_bytes() == image.manifest
    response = V2Client(registry.url).get(
        f"/v2/skopeo/docker-{build}/manifests/d", headers={"Accept": image.media_type}
    )
    assert response.headers["Content-Type"] == image.media_type
    assert response.headers["Docker-Content-Digest"] == image.digest


def test_image_with_foreign_layer(registry, skopeo, admin, tmp_path):
    image = images.build_image(
        tmp_path / "src", tag="f", media="docker",
        foreign_layer_url="https://foreign.invalid/blobs/{digest}",
    )
    source = images.write_dir_layout(image, tmp_path / "dir")
    skopeo.copy(f"dir:{source}", docker_ref(registry, "skopeo/foreign", "f"), creds=admin)
    raw = skopeo.inspect(docker_ref(registry, "skopeo/foreign", "f"), raw=True)
    assert raw == image.manifest
    foreign = [layer for layer in image.layers if layer.foreign][0]
    response = V2Client(registry.url).head(f"/v2/skopeo/foreign/blobs/{foreign.digest}")
    assert response.status_code == 404


def test_podman_requirement_flow(registry, env, admin, tmp_path):
    """The requirement's exact flow: tag, login, push, list tags, pull."""
    image = images.build_image(tmp_path / "src", tag="latest", layers=2, layer_size=100_000)
    images.write_docker_archive(image, tmp_path / "img.tar", repo_tag="localhost/src:latest")
    podman = Podman(env)
    image_id = podman.load(tmp_path / "img.tar")[0]
    target = f"{registry.host_port}/test/this:mytag1.8"
    podman.tag(image_id, target)
    podman.login(registry.host_port, *admin)
    podman.push(target)

    response = V2Client(registry.url).get("/v2/test/this/tags/list")
    assert response.status_code == 200
    assert response.json() == {"name": "test/this", "tags": ["mytag1.8"]}

    podman.rmi(target, force=True)
    podman.pull(target)
    assert podman.exists(target)


def test_buildah_build_and_push(registry, env, admin, tmp_path):
    context = write_build_context(tmp_path / "ctx", {"hello.txt": b"hello from buildah\n"})
    buildah = Buildah(env)
    buildah.bud(context, "localhost/built:1")
    digest = buildah.push("localhost/built:1", docker_ref(registry, "build/hello", "1"),
                          creds=admin)
    response = V2Client(registry.url).head(
        "/v2/build/hello/manifests/1",
        headers={"Accept": f"{images.OCI_MANIFEST}, {images.DOCKER_MANIFEST}"},
    )
    assert response.status_code == 200
    assert response.headers["Docker-Content-Digest"] == digest


def test_oras_artifact_with_subject_and_referrers(registry, skopeo, admin, tmp_path):
    image = images.build_image(tmp_path / "src", tag="v1")
    skopeo.copy(image.oci_ref, docker_ref(registry, "oras/app", "v1"), creds=admin)
    sbom = tmp_path / "sbom.json"
    sbom.write_text('{"packages": []}')
    oras = Oras(registry.host_port, creds=admin)
    pushed = oras.push_artifact(
        "oras/app", "sbom", [sbom], "application/vnd.example.sbom", subject=image
    )
    out = oras.pull("oras/app", "sbom", tmp_path / "out")
    assert [path.read_text() for path in out] == ['{"packages": []}']

    client = V2Client(registry.url)
    response = client.get(f"/v2/oras/app/referrers/{image.digest}")
    assert response.status_code == 200
    manifests = response.json()["manifests"]
    assert [(m["digest"], m["artifactType"]) for m in manifests] == [
        (pushed.digest, "application/vnd.example.sbom")
    ]
    filtered = client.get(
        f"/v2/oras/app/referrers/{image.digest}?artifactType=application/vnd.example.other"
    )
    assert filtered.json()["manifests"] == []
    assert filtered.headers["OCI-Filters-Applied"] == "artifactType"


def test_pushing_known_layers_to_another_name_mounts_them(registry, skopeo, admin, tmp_path):
    image = images.build_image(tmp_path / "src", tag="v1", layers=3, layer_size=100_000)
    skopeo.copy(image.oci_ref, docker_ref(registry, "mount/first", "v1"), creds=admin)
    second = skopeo.run(
        "--debug", "copy", "--dest-tls-verify=false", "--dest-creds", "admin:" + admin[1],
        image.oci_ref, docker_ref(registry, "mount/second", "v1"),
    )
    log = second.stdout + second.stderr
    for layer in image.layers:
        hex_digest = images.digest_hex(layer.digest)
        assert f"mount=sha256%3A{hex_digest}" in log, log
        # A layer that was mounted is never sent again.
        assert f"PUT http://{registry.host_port}/v2/mount/second/blobs/uploads/" not in "".join(
            line for line in log.splitlines() if hex_digest in line
        )
    assert log.count("mount OK") == len(image.layers), log
    raw = skopeo.inspect(docker_ref(registry, "mount/second", "v1"), raw=True)
    assert raw == image.manifest


def test_concurrent_pushes_to_one_repository_lose_no_tag(registry, admin, tmp_path):
    """Many clients tagging into one repository at once: every push succeeds, no tag is lost."""
    client = V2Client(registry.url, auth=admin)
    config, config_digest = images.random_blob(100)
    assert client.upload_blob("busy/repo", config, config_digest).status_code == 201
    tags = [f"t{i}" for i in range(24)]
    errors = []

    def push(tag):
        own = V2Client(registry.url, auth=admin)
        layer, layer_digest = images.random_blob(1000)
        response = own.upload_blob("busy/repo", layer, layer_digest)
        if response.status_code != 201:
            errors.append((tag, response.status_code, response.text))
            return
        body = images.make_manifest(config_digest, 100, [(layer_digest, 1000)])
        response = own.put_manifest("busy/repo", tag, body, images.OCI_MANIFEST)
        if response.status_code != 201:
            errors.append((tag, response.status_code, response.text))

    threads = [threading.Thread(target=push, args=(tag,)) for tag in tags]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    listed = client.get("/v2/busy/repo/tags/list").json()["tags"]
    assert listed == sorted(tags)


def test_chunked_transfer_encoding_upload(registry, admin):
    """podman and buildah stream blob PATCHes with Transfer-Encoding: chunked."""
    client = V2Client(registry.url, auth=admin)
    data, digest = images.random_blob(3 * 1024 * 1024 + 17)
    start = client.post("/v2/chunked/repo/blobs/uploads/")
    assert start.status_code == 202
    location = start.headers["Location"]

    def body():
        for offset in range(0, len(data), 65536):
            yield data[offset:offset + 65536]

    patch = client.patch(location, data=body(),
                         headers={"Content-Type": "application/octet-stream"})
    assert patch.status_code == 202, patch.text
    assert patch.headers["Range"] == f"0-{len(data) - 1}"
    done = client.put(f"{patch.headers['Location']}?digest={digest}")
    assert done.status_code == 201, done.text
    blob = client.get(f"/v2/chunked/repo/blobs/{digest}")
    assert blob.content == data


def test_plain_http_port_answers_tls_hello_at_once(registry, skopeo):
    started = time.monotonic()
    result = skopeo.inspect(docker_ref(registry, "no/such", "tag"), check=False)
    assert result.returncode != 0
    assert time.monotonic() - started < 5
