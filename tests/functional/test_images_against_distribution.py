"""Check the image builder and client wrappers against CNCF Distribution.

CNCF Distribution (``docker-registry``, the reference registry) stands in for
our server here: if a scenario works against it, the images and the client
wrappers are right, and a failure of the same scenario against pulp_registry
is the server's. Skipped where ``docker-registry`` or a client is missing.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.server
import json
import os
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.functional import images
from tests.functional.clients import (
    Buildah,
    ClientEnv,
    ClientError,
    Podman,
    Skopeo,
    docker_ref,
    oras_pull,
    oras_push_artifact,
    write_build_context,
)

pytestmark = pytest.mark.reference

REGISTRY_BINARY = "/usr/bin/docker-registry"
USER, PASSWORD = "tester", "secret-pw"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_distribution(workdir: Path, htpasswd: Path | None = None, token: dict | None = None):
    """Start Distribution on a free loopback port; return (process, host:port).

    ``token`` holds ``realm``, ``service``, ``issuer`` and ``rootcertbundle``
    for Bearer token auth.
    """
    port = _free_port()
    config = (
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        # Without an allow list Distribution refuses every foreign-layer URL.
        "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n"
    )
    if htpasswd is not None:
        config += f"auth:\n  htpasswd:\n    realm: test\n    path: {htpasswd}\n"
    if token is not None:
        config += "auth:\n  token:\n" + "".join(f"    {k}: {v}\n" for k, v in token.items())
    (workdir / "config.yml").write_text(config)
    log = open(workdir / "registry.log", "w")
    process = subprocess.Popen([REGISTRY_BINARY, "serve", str(workdir / "config.yml")],
                               stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            break
        except urllib.error.HTTPError:
            break  # 401: up, with auth
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError("docker-registry did not start")
    return process, f"127.0.0.1:{port}"


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """An open Distribution registry's host:port."""
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip("docker-registry is not installed")
    process, host = _start_distribution(tmp_path_factory.mktemp("distribution"))
    yield host
    _stop(process)


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    """A Distribution registry with htpasswd (Basic) auth: its host:port."""
    if not Path(REGISTRY_BINARY).exists() or shutil.which("htpasswd") is None:
        pytest.skip("docker-registry or htpasswd is not installed")
    workdir = tmp_path_factory.mktemp("distribution-auth")
    subprocess.run(["htpasswd", "-Bbc", str(workdir / "htpasswd"), USER, PASSWORD], check=True,
                   capture_output=True)
    process, host = _start_distribution(workdir, workdir / "htpasswd")
    yield host
    _stop(process)


class _TokenIssuer:
    """A minimal Docker token server: grants every requested scope to USER.

    Tokens are RS256 JWTs carrying the signing certificate in ``x5c``, which
    Distribution checks against ``rootcertbundle``.
    """

    service = "reference-registry"
    issuer = "reference-issuer"

    def __init__(self, workdir: Path):
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token-signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = workdir / "token-cert.pem"
        self.cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        self.cert_der_b64 = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)).decode()
        self.requests: list[dict] = []
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.realm = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    def _handler(self):
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                header = self.headers.get("Authorization", "")
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
                issuer.requests.append({"query": query, "authenticated": header == expected})
                if header and header != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                subject = USER if header else ""
                body = json.dumps({"token": issuer.token(subject, query.get("scope", []))})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        return Handler

    def token(self, subject: str, scopes: list[str]) -> str:
        import jwt

        access = []
        for scope in scopes:
            kind, name, actions = scope.split(":")
            granted = actions.split(",") if subject else ["pull"]
            access.append({"type": kind, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "iat": now,
                  "nbf": now - 10, "exp": now + 300, "jti": os.urandom(8).hex(),
                  "access": access}
        return jwt.encode(claims, self.key, algorithm="RS256",
                          headers={"x5c": [self.cert_der_b64]})

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    """A Distribution registry with Bearer token auth: its host:port."""
    if not Path(REGISTRY_BINARY).exists():
        pytest.skip("docker-registry is not installed")
    pytest.importorskip("jwt")
    pytest.importorskip("cryptography")
    workdir = tmp_path_factory.mktemp("distribution-token")
    issuer = _TokenIssuer(workdir)
    process, host = _start_distribution(workdir, token={
        "realm": issuer.realm, "service": issuer.service, "issuer": issuer.issuer,
        "rootcertbundle": issuer.cert_path})
    yield host
    _stop(process)
    issuer.stop()


def _needs(program: str) -> None:
    if shutil.which(program) is None:
        pytest.skip(f"{program} is not installed")


@pytest.fixture
def env(tmp_path, registry, auth_registry):
    return ClientEnv(tmp_path / "client", [registry, auth_registry])


@pytest.fixture
def skopeo(env):
    _needs("skopeo")
    return Skopeo(env)


@pytest.fixture
def podman(env):
    _needs("podman")
    return Podman(env)


@pytest.fixture
def buildah(env):
    _needs("buildah")
    return Buildah(env)


def _get(url: str, accept: str | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _assert_blobs_present(host: str, name: str, image: images.ImageInfo) -> None:
    for digest in image.blob_digests():
        status, _, body = _get(f"http://{host}/v2/{name}/blobs/{digest}")
        assert status == 200, digest
        assert "sha256:" + hashlib.sha256(body).hexdigest() == digest


def test_oci_image_round_trip(tmp_path, registry, skopeo):
    image = images.build_image(tmp_path / "layout", tag="v1", layers=2, layer_size=4096)
    skopeo.copy(image.oci_ref, docker_ref(registry, "oci/image", "v1"))

    assert skopeo.inspect(docker_ref(registry, "oci/image", "v1"), raw=True) == image.manifest
    by_digest = docker_ref(registry, "oci/image", digest=image.digest)
    assert skopeo.inspect(by_digest)["Digest"] == image.digest
    _assert_blobs_present(registry, "oci/image", image)

    skopeo.copy(by_digest, f"oci:{tmp_path / 'pulled'}:v1")
    assert images.OCILayout(tmp_path / "pulled").read_blob(image.digest) == image.manifest
    assert "v1" in skopeo.list_tags(docker_ref(registry, "oci/image"))


def test_oci_index_round_trip(tmp_path, registry, skopeo):
    index = images.build_index(tmp_path / "layout", tag="multi")
    skopeo.copy(index.oci_ref, docker_ref(registry, "oci/index", "multi"), all=True)

    assert skopeo.inspect(docker_ref(registry, "oci/index", "multi"), raw=True) == index.manifest
    for child in index.children:
        ref = docker_ref(registry, "oci/index", digest=child.digest)
        assert skopeo.inspect(ref, raw=True) == child.manifest
    _assert_blobs_present(registry, "oci/index", index)


@pytest.mark.parametrize("as_list", [False, True], ids=["manifest", "list"])
def test_docker_media_types_through_dir_layout(tmp_path, registry, skopeo, as_list):
    build = images.build_index if as_list else images.build_image
    image = build(tmp_path / "layout", tag="d", media="docker")
    directory = images.write_dir_layout(image, tmp_path / "dir")
    skopeo.copy(f"dir:{directory}", docker_ref(registry, "docker/img", "d"), all=as_list)

    status, headers, body = _get(f"http://{registry}/v2/docker/img/manifests/d",
                                 accept=image.media_type)
    assert status == 200
    assert body == image.manifest
    assert headers["Docker-Content-Digest"] == image.digest
    assert headers["Content-Type"] == image.media_type
    for child in image.children:
        ref = docker_ref(registry, "docker/img", digest=child.digest)
        assert skopeo.inspect(ref, raw=True) == child.manifest
    _assert_blobs_present(registry, "docker/img", image)


def test_dir_layout_matches_skopeo(tmp_path, skopeo):
    index = images.build_index(tmp_path / "layout", tag="x")
    ours = images.write_dir_layout(index, tmp_path / "ours")
    skopeo.copy(index.oci_ref, f"dir:{tmp_path / 'theirs'}", all=True)
    assert sorted(p.name for p in ours.iterdir()) == sorted(
        p.name for p in (tmp_path / "theirs").iterdir())
    for path in ours.iterdir():
        assert path.read_bytes() == (tmp_path / "theirs" / path.name).read_bytes(), path.name


@pytest.mark.parametrize("media", ["oci", "docker"])
def test_foreign_layer_is_not_pushed(tmp_path, registry, skopeo, media):
    image = images.build_image(tmp_path / "layout", tag="f", media=media,
                               foreign_layer_url="http://127.0.0.1:9/blobs/{digest}")
    foreign = image.layers[-1]
    assert foreign.foreign and not images.OCILayout(image.layout_path).has_blob(foreign.digest)
    if media == "oci":
        source = image.oci_ref
    else:
        source = f"dir:{images.write_dir_layout(image, tmp_path / 'dir')}"
    skopeo.copy(source, docker_ref(registry, f"foreign/{media}", "f"))

    assert skopeo.inspect(docker_ref(registry, f"foreign/{media}", "f"), raw=True) == image.manifest
    status, _, _ = _get(f"http://{registry}/v2/foreign/{media}/blobs/{foreign.digest}")
    assert status == 404
    _assert_blobs_present(registry, f"foreign/{media}", image)


def test_seeded_builds_are_reproducible(tmp_path):
    first = images.build_index(tmp_path / "a", seed=7, media="docker")
    second = images.build_index(tmp_path / "b", seed=7, media="docker")
    third = images.build_index(tmp_path / "c", media="docker")
    assert first.manifest == second.manifest
    assert third.digest != first.digest


def test_login_and_credentials(tmp_path, auth_registry, skopeo, env):
    image = images.build_image(tmp_path / "layout", tag="a")
    target = docker_ref(auth_registry, "auth/img", "a")
    with pytest.raises(ClientError, match="unauthorized|authentication required"):
        skopeo.copy(image.oci_ref, target)
    skopeo.copy(image.oci_ref, target, creds=(USER, PASSWORD))
    skopeo.login(auth_registry, USER, PASSWORD)
    assert auth_registry in env.logins()
    assert skopeo.inspect(target, raw=True) == image.manifest
    skopeo.delete(docker_ref(auth_registry, "auth/img", digest=image.digest))
    assert skopeo.inspect(target, raw=True, check=False).returncode != 0


@pytest.mark.parametrize("archive", ["docker", "oci"])
def test_podman_load_push_pull(tmp_path, auth_registry, podman, skopeo, archive):
    image = images.build_image(tmp_path / "layout", tag="p", layers=2)
    if archive == "docker":
        tarball = images.write_docker_archive(image, tmp_path / "img.tar", "localhost/test/p:1")
        local = "localhost/test/p:1"
    else:
        tarball = images.write_oci_archive(image, tmp_path / "img.tar")
        local = None
    loaded = podman.load(tarball)
    assert loaded, "podman load reported no image"
    local = local or loaded[0]
    assert podman.inspect(local)["Id"] == images.digest_hex(image.config_digest)

    podman.login(auth_registry, USER, PASSWORD)
    remote = f"{auth_registry}/podman/{archive}:pushed"
    digest = podman.push(local, f"docker://{remote}")
    assert skopeo.inspect(f"docker://{remote}")["Digest"] == digest

    podman.rmi(local, force=True)
    image_id = podman.pull(remote)
    assert image_id == images.digest_hex(image.config_digest)


def test_podman_manifest_list(tmp_path, registry, podman, skopeo):
    index = images.build_index(tmp_path / "layout", tag="m")
    skopeo.copy(index.oci_ref, docker_ref(registry, "podman/source", "m"), all=True)

    podman.manifest_create("localhost/test/list")
    for child in index.children:
        podman.manifest_add("localhost/test/list",
                            docker_ref(registry, "podman/source", digest=child.digest))
    digest = podman.manifest_push("localhost/test/list", docker_ref(registry, "podman/list", "m"))
    pushed = podman.manifest_inspect(f"{registry}/podman/list:m")
    assert sorted(m["digest"] for m in pushed["manifests"]) == sorted(
        c.digest for c in index.children)
    assert skopeo.inspect(docker_ref(registry, "podman/list", "m"), raw=True)
    assert digest.startswith("sha256:")


def test_buildah_bud_and_push(tmp_path, auth_registry, buildah, skopeo):
    context = write_build_context(tmp_path / "context", {"hello.txt": b"hello\n"})
    image_id = buildah.bud(context, "localhost/test/built:1")
    assert image_id
    digest = buildah.push("localhost/test/built:1",
                          docker_ref(auth_registry, "buildah/built", "1"), creds=(USER, PASSWORD))
    info = skopeo.inspect(docker_ref(auth_registry, "buildah/built", "1"), creds=(USER, PASSWORD))
    assert info["Digest"] == digest
    layer_digest = info["Layers"][0]
    skopeo.copy(docker_ref(auth_registry, "buildah/built", "1"), f"oci:{tmp_path / 'out'}:1",
                creds=(USER, PASSWORD))
    layer = images.OCILayout(tmp_path / "out").read_blob(layer_digest)
    assert b"hello\n" in gzip.decompress(layer)


@pytest.mark.parametrize("auth", ["anonymous", "basic", "token"])
def test_oras_artifact_with_subject(tmp_path, request, skopeo, auth):
    pytest.importorskip("oras")
    host = request.getfixturevalue(
        {"anonymous": "registry", "basic": "auth_registry", "token": "token_registry"}[auth])
    skopeo.env.add_insecure_registry(host)
    creds = None if auth == "anonymous" else (USER, PASSWORD)
    image = images.build_image(tmp_path / "layout", tag="base")
    skopeo.copy(image.oci_ref, docker_ref(host, "oras/app", "base"), creds=creds)

    sbom = tmp_path / "sbom.json"
    sbom.write_text(json.dumps({"spdxVersion": "SPDX-2.3"}))
    pushed = oras_push_artifact(host, "oras/app", "sbom", [(sbom, "application/spdx+json")],
                                "application/spdx+json", subject=image, creds=creds,
                                annotations={"org.example": "yes"})
    manifest = json.loads(pushed.manifest)
    assert manifest["artifactType"] == "application/spdx+json"
    assert manifest["subject"] == image.descriptor()
    assert manifest["config"] == images.EMPTY_CONFIG
    assert pushed.response_digest == pushed.digest

    assert skopeo.inspect(docker_ref(host, "oras/app", "sbom"), raw=True, creds=creds) == (
        pushed.manifest)
    files = oras_pull(host, "oras/app", pushed.digest, tmp_path / "pulled", creds=creds)
    assert [f.name for f in files] == ["sbom.json"]
    assert files[0].read_bytes() == sbom.read_bytes()


def test_raw_pieces_push_over_http(registry):
    """make_manifest + EMPTY_CONFIG + random_blob give a manifest Distribution accepts."""
    blob, blob_digest = images.random_blob(100)
    _upload_blob(registry, "raw/art", images.EMPTY_CONFIG_BYTES)
    _upload_blob(registry, "raw/art", blob)
    manifest = images.make_manifest(
        images.EMPTY_CONFIG["digest"], images.EMPTY_CONFIG["size"],
        [{"mediaType": "application/octet-stream", "digest": blob_digest, "size": len(blob)}],
        artifact_type="application/x-test", annotations={"a": "b"})
    request = urllib.request.Request(
        f"http://{registry}/v2/raw/art/manifests/t", data=manifest, method="PUT",
        headers={"Content-Type": images.OCI_MANIFEST})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.headers["Docker-Content-Digest"] == images.sha256_digest(manifest)


def _upload_blob(host: str, name: str, data: bytes) -> None:
    """POST an upload session, then PUT the whole blob (Distribution 2.8 ignores
    a monolithic POST body)."""
    digest = images.sha256_digest(data)
    start = urllib.request.Request(f"http://{host}/v2/{name}/blobs/uploads/", data=b"",
                                   method="POST")
    with urllib.request.urlopen(start, timeout=30) as response:
        assert response.status == 202
        location = urllib.parse.urljoin(f"http://{host}/", response.headers["Location"])
    separator = "&" if "?" in location else "?"
    finish = urllib.request.Request(
        f"{location}{separator}digest={digest}", data=data, method="PUT",
        headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(finish, timeout=30) as response:
        assert response.status == 201
