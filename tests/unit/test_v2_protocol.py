"""The /v2/ protocol against the OCI Distribution Spec, through Django's test client on the real
database: status codes, headers and error bodies of uploads, blobs, manifests, tags, the
catalog and referrers. Authentication is HTTP Basic as a staff user here; token
authentication has its own tests."""

import base64
import hashlib
import json

import pytest

from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    UploadSession,
)
from pulpcore.plugin.models import Artifact
from tests.functional import images

pytestmark = pytest.mark.django_db

NAME = "test/this"


class V2:
    """A small /v2/ client around Django's test client."""

    def __init__(self, client, username, password):
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.client = client
        self.auth = {"HTTP_AUTHORIZATION": f"Basic {token}"}

    def request(self, method, path, data=b"", content_type="application/octet-stream", **headers):
        call = getattr(self.client, method.lower())
        kwargs = dict(self.auth)
        kwargs.update(headers)
        if method in ("PUT", "PATCH", "POST"):
            return call(path, data=data, content_type=content_type, **kwargs)
        return call(path, **kwargs)

    def upload(self, name, data, digest=None):
        digest = digest or images.sha256_digest(data)
        return self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)

    def push_image(self, name, tag, layers=1, layer_size=64, media_type=images.OCI_MANIFEST):
        config, config_digest = images.random_blob(32)
        assert self.upload(name, config).status_code == 201
        layer_descriptors = []
        for _ in range(layers):
            layer, layer_digest = images.random_blob(layer_size)
            assert self.upload(name, layer).status_code == 201
            layer_descriptors.append((layer_digest, len(layer)))
        manifest = images.make_manifest(
            config_digest, len(config), layer_descriptors, media_type=media_type
        )
        response = self.put_manifest(name, tag, manifest, media_type)
        assert response.status_code == 201, response.content
        return manifest, images.sha256_digest(manifest)

    def put_manifest(self, name, reference, body, media_type=images.OCI_MANIFEST):
        return self.request("PUT", f"/v2/{name}/manifests/{reference}", body, media_type)


@pytest.fixture
def v2(client, django_user_model, settings):
    settings.TOKEN_AUTH_DISABLED = True
    django_user_model.objects.create_user("boss", password="secret", is_staff=True)
    return V2(client, "boss", "secret")


def error_code(response):
    body = json.loads(response.content)
    assert set(body["errors"][0]) == {"code", "message", "detail"}
    return body["errors"][0]["code"]


# --- base and names ---------------------------------------------------------------------------

def test_base_answers_with_api_version(v2):
    response = v2.request("GET", "/v2/")
    assert response.status_code == 200
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"


def test_base_challenges_anonymous(client, settings):
    settings.TOKEN_AUTH_DISABLED = True
    response = client.get("/v2/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Basic ")
    assert error_code(response) == "UNAUTHORIZED"


@pytest.mark.parametrize(
    "name", ["Upper/case", "a//b", "-lead/x", "trail-/x", "a/" + "b" * 260, "a..b/c"]
)
def test_invalid_names_are_name_invalid(v2, name):
    response = v2.request("GET", f"/v2/{name}/tags/list")
    assert response.status_code == 400
    assert error_code(response) == "NAME_INVALID"


@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/v2/no/such/tags/list"),
        ("GET", "/v2/no/such/manifests/latest"),
        ("HEAD", "/v2/no/such/manifests/latest"),
        ("GET", f"/v2/no/such/blobs/sha256:{'0' * 64}"),
        ("GET", f"/v2/no/such/referrers/sha256:{'0' * 64}"),
    ],
)
def test_unknown_repository_is_name_unknown(v2, method, path):
    response = v2.request(method, path)
    assert response.status_code == 404
    if method != "HEAD":
        assert error_code(response) == "NAME_UNKNOWN"


def test_multi_segment_names_work(v2):
    v2.push_image("a/b/c", "v1")
    response = v2.request("GET", "/v2/a/b/c/tags/list")
    assert json.loads(response.content) == {"name": "a/b/c", "tags": ["v1"]}


# --- blob uploads ------------------------------------------------------------------------------

def test_monolithic_upload(v2):
    data, digest = images.random_blob(1000)
    response = v2.upload(NAME, data)
    assert response.status_code == 201
    assert response["Location"] == f"/v2/{NAME}/blobs/{digest}"
    assert response["Docker-Content-Digest"] == digest
    head = v2.request("HEAD", f"/v2/{NAME}/blobs/{digest}")
    assert head.status_code == 200
    assert head["Content-Length"] == "1000"
    assert head["Docker-Content-Digest"] == digest
    get = v2.request("GET", f"/v2/{NAME}/blobs/{digest}")
    assert b"".join(get.streaming_content) == data


def test_first_push_creates_repository_distribution_and_namespace(v2):
    v2.push_image(NAME, "v1")
    distribution = RegistryDistribution.objects.get(base_path=NAME)
    assert distribution.namespace.name == "test"
    assert isinstance(distribution.repository.cast(), RegistryPushRepository)


def test_chunked_upload_with_resume_and_status(v2):
    data, digest = images.random_blob(300)
    start = v2.request("POST", f"/v2/{NAME}/blobs/uploads/")
    assert start.status_code == 202
    location = start["Location"]
    assert start["Range"] == "0-0"
    assert start["Docker-Upload-UUID"] in location

    first = v2.request("PATCH", location, data[:100], HTTP_CONTENT_RANGE="0-99")
    assert first.status_code == 202
    assert first["Range"] == "0-99"
    assert first["Location"] == location

    status = v2.request("GET", location)
    assert status.status_code == 204
    assert status["Range"] == "0-99"

    out_of_order = v2.request("PATCH", location, data[200:], HTTP_CONTENT_RANGE="200-299")
    assert out_of_order.status_code == 416
    assert out_of_order["Range"] == "0-99"

    second = v2.request("PATCH", location, data[100:200], HTTP_CONTENT_RANGE="100-199")
    assert second["Range"] == "0-199"
    done = v2.request("PUT", f"{location}?digest={digest}", data[200:], HTTP_CONTENT_RANGE="200-299")
    assert done.status_code == 201, done.content
    assert done["Docker-Content-Digest"] == digest
    assert b"".join(v2.request("GET", f"/v2/{NAME}/blobs/{digest}").streaming_content) == data
    assert not UploadSession.objects.exists()


def test_streamed_upload_then_put_without_body(v2):
    data, digest = images.random_blob(5000)
    location = v2.request("POST", f"/v2/{NAME}/blobs/uploads/")["Location"]
    assert v2.request("PATCH", location, data).status_code == 202
    done = v2.request("PUT", f"{location}?digest={digest}", b"")
    assert done.status_code == 201
    assert Blob.objects.filter(digest=digest).exists()


def test_digest_mismatch_stores_nothing(v2):
    data, _ = images.random_blob(100)
    wrong = images.sha256_digest(b"something else")
    artifacts_before = Artifact.objects.count()
    response = v2.upload(NAME, data, digest=wrong)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert not Blob.objects.filter(digest=wrong).exists()
    assert Artifact.objects.count() == artifacts_before

    location = v2.request("POST", f"/v2/{NAME}/blobs/uploads/")["Location"]
    v2.request("PATCH", location, data)
    response = v2.request("PUT", f"{location}?digest={wrong}")
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert Artifact.objects.count() == artifacts_before


@pytest.mark.parametrize("digest", ["md5:abc", "sha256:xyz", "sha256:" + "a" * 63, "nodigest"])
def test_bad_digests_are_digest_invalid(v2, digest):
    response = v2.upload(NAME, b"data", digest=digest)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"


def test_sha512_digests_are_accepted(v2):
    data = b"sha512 blob"
    digest = "sha512:" + hashlib.sha512(data).hexdigest()
    assert v2.upload(NAME, data, digest=digest).status_code == 201
    head = v2.request("HEAD", f"/v2/{NAME}/blobs/{digest}")
    assert head.status_code == 200
    assert head["Docker-Content-Digest"] == digest


def test_cancelled_upload_is_unknown(v2):
    location = v2.request("POST", f"/v2/{NAME}/blobs/uploads/")["Location"]
    assert v2.request("DELETE", location).status_code == 204
    response = v2.request("GET", location)
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


@pytest.mark.parametrize("session", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_upload_session(v2, session):
    v2.push_image(NAME, "v1")
    response = v2.request("PATCH", f"/v2/{NAME}/blobs/uploads/{session}", b"x")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UPLOAD_UNKNOWN"


def test_mount_from_another_repository(v2):
    data, digest = images.random_blob(200)
    v2.upload("src/repo", data)
    response = v2.request("POST", f"/v2/dst/repo/blobs/uploads/?mount={digest}&from=src/repo")
    assert response.status_code == 201
    assert response["Location"] == f"/v2/dst/repo/blobs/{digest}"
    assert v2.request("HEAD", f"/v2/dst/repo/blobs/{digest}").status_code == 200


def test_mount_without_from_finds_a_readable_copy(v2):
    data, digest = images.random_blob(200)
    v2.upload("src/repo", data)
    response = v2.request("POST", f"/v2/dst/repo/blobs/uploads/?mount={digest}")
    assert response.status_code == 201


def test_mount_of_unknown_blob_opens_a_session(v2):
    v2.push_image("src/repo", "v1")
    digest = images.sha256_digest(b"never uploaded")
    response = v2.request("POST", f"/v2/dst/repo/blobs/uploads/?mount={digest}&from=src/repo")
    assert response.status_code == 202
    assert "/blobs/uploads/" in response["Location"]


# --- blobs ---------------------------------------------------------------------------------------

def test_blob_range_request(v2):
    data, digest = images.random_blob(1000)
    v2.upload(NAME, data)
    response = v2.request("GET", f"/v2/{NAME}/blobs/{digest}", HTTP_RANGE="bytes=100-199")
    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 100-199/1000"
    assert b"".join(response.streaming_content) == data[100:200]
    unsatisfiable = v2.request("GET", f"/v2/{NAME}/blobs/{digest}", HTTP_RANGE="bytes=2000-")
    assert unsatisfiable.status_code == 416


def test_unknown_blob(v2):
    v2.push_image(NAME, "v1")
    response = v2.request("GET", f"/v2/{NAME}/blobs/{images.sha256_digest(b'nope')}")
    assert response.status_code == 404
    assert error_code(response) == "BLOB_UNKNOWN"


def test_blob_delete(v2):
    data, digest = images.random_blob(10)
    v2.upload(NAME, data)
    assert v2.request("DELETE", f"/v2/{NAME}/blobs/{digest}").status_code == 202
    assert v2.request("HEAD", f"/v2/{NAME}/blobs/{digest}").status_code == 404


# --- manifests -----------------------------------------------------------------------------------

def test_manifest_put_get_head_by_tag_and_digest(v2):
    manifest, digest = v2.push_image(NAME, "mytag1.8", layers=2)
    for reference in ("mytag1.8", digest):
        response = v2.request("GET", f"/v2/{NAME}/manifests/{reference}",
                              HTTP_ACCEPT=images.OCI_MANIFEST)
        assert response.status_code == 200
        assert response.content == manifest
        assert response["Content-Type"] == images.OCI_MANIFEST
        assert response["Docker-Content-Digest"] == digest
        head = v2.request("HEAD", f"/v2/{NAME}/manifests/{reference}")
        assert head.status_code == 200
        assert head["Content-Length"] == str(len(manifest))
        assert head["Docker-Content-Digest"] == digest


def test_manifest_put_response_headers(v2):
    config, config_digest = images.random_blob(10)
    v2.upload(NAME, config)
    manifest = images.make_manifest(config_digest, 10, [])
    response = v2.put_manifest(NAME, "v1", manifest)
    assert response.status_code == 201
    digest = images.sha256_digest(manifest)
    assert response["Docker-Content-Digest"] == digest
    assert response["Location"] == f"/v2/{NAME}/manifests/{digest}"


def test_manifest_without_media_type_field_uses_content_type(v2):
    config, config_digest = images.random_blob(10)
    v2.upload(NAME, config)
    document = json.loads(images.make_manifest(config_digest, 10, []))
    document.pop("mediaType", None)
    body = json.dumps(document).encode()
    response = v2.put_manifest(NAME, "v1", body, images.OCI_MANIFEST)
    assert response.status_code == 201
    assert Manifest.objects.get(digest=images.sha256_digest(body)).media_type == images.OCI_MANIFEST


def test_each_tagged_push_makes_a_version(v2):
    v2.push_image(NAME, "v1")
    repository = RegistryPushRepository.objects.get(name=NAME)
    before = repository.latest_version().number
    v2.push_image(NAME, "v2")
    v2.push_image(NAME, "v1")  # moves the tag
    assert repository.latest_version().number == before + 2
    tags = json.loads(v2.request("GET", f"/v2/{NAME}/tags/list").content)["tags"]
    assert tags == ["v1", "v2"]


def test_manifest_blob_unknown(v2):
    config, config_digest = images.random_blob(10)
    v2.upload(NAME, config)
    missing = images.sha256_digest(b"missing layer")
    manifest = images.make_manifest(config_digest, 10, [(missing, 13)])
    response = v2.put_manifest(NAME, "v1", manifest)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_blobs_of_another_repository_are_unknown(v2):
    data, digest = images.random_blob(10)
    v2.upload("other/repo", data)
    manifest = images.make_manifest(digest, 10, [])
    response = v2.put_manifest(NAME, "v1", manifest)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_foreign_layers_are_accepted_without_their_blobs(v2):
    config, config_digest = images.random_blob(10)
    v2.upload(NAME, config)
    foreign = {
        "mediaType": images.DOCKER_FOREIGN_LAYER_GZIP,
        "digest": images.sha256_digest(b"foreign"),
        "size": 7,
        "urls": ["https://example.invalid/layer"],
    }
    manifest = images.make_manifest(
        config_digest, 10, [foreign], media_type=images.DOCKER_MANIFEST,
        config_media_type=images.DOCKER_CONFIG,
    )
    response = v2.put_manifest(NAME, "foreign", manifest, images.DOCKER_MANIFEST)
    assert response.status_code == 201, response.content


def test_index_children_must_exist(v2):
    _, child_digest = v2.push_image(NAME, "child")
    missing = images.sha256_digest(b"no such manifest")
    children = [
        {"mediaType": images.OCI_MANIFEST, "digest": child_digest, "size": 1,
         "platform": {"architecture": "amd64", "os": "linux"}},
        {"mediaType": images.OCI_MANIFEST, "digest": missing, "size": 1,
         "platform": {"architecture": "arm64", "os": "linux"}},
    ]
    index = images.make_index(children)
    response = v2.put_manifest(NAME, "multi", index, images.OCI_INDEX)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_BLOB_UNKNOWN"
    ok = images.make_index(children[:1])
    assert v2.put_manifest(NAME, "multi", ok, images.OCI_INDEX).status_code == 201


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        json.dumps({"schemaVersion": 2, "mediaType": images.OCI_MANIFEST}).encode(),
        json.dumps({"schemaVersion": 1, "name": "x", "fsLayers": []}).encode(),
        json.dumps({"schemaVersion": 2, "mediaType": images.OCI_MANIFEST,
                    "config": {"mediaType": images.OCI_CONFIG, "digest": "bogus", "size": 1},
                    "layers": []}).encode(),
    ],
)
def test_invalid_manifests_are_manifest_invalid(v2, body):
    v2.push_image(NAME, "v1")
    response = v2.put_manifest(NAME, "bad", body)
    assert response.status_code == 400
    assert error_code(response) == "MANIFEST_INVALID"


def test_by_digest_put_must_match_the_body(v2):
    manifest, digest = v2.push_image(NAME, "v1")
    other = images.sha256_digest(b"another body")
    response = v2.put_manifest(NAME, other, manifest)
    assert response.status_code == 400
    assert error_code(response) == "DIGEST_INVALID"
    assert v2.put_manifest(NAME, digest, manifest).status_code == 201


def test_manifests_over_the_limit_are_refused(v2, settings):
    settings.REGISTRY_MAX_MANIFEST_SIZE = 1000
    v2.push_image(NAME, "v1")
    response = v2.put_manifest(NAME, "big", b"{" + b" " * 2000 + b"}")
    assert response.status_code == 413
    assert error_code(response) == "MANIFEST_INVALID"


def test_unknown_manifest(v2):
    v2.push_image(NAME, "v1")
    for reference in ("nope", images.sha256_digest(b"nope")):
        response = v2.request("GET", f"/v2/{NAME}/manifests/{reference}")
        assert response.status_code == 404
        assert error_code(response) == "MANIFEST_UNKNOWN"


def test_accept_header_narrows_tag_resolution(v2):
    v2.push_image(NAME, "v1")
    response = v2.request("GET", f"/v2/{NAME}/manifests/v1", HTTP_ACCEPT=images.DOCKER_MANIFEST)
    assert response.status_code == 404
    several = f"{images.DOCKER_MANIFEST}, {images.OCI_MANIFEST}"
    assert v2.request("GET", f"/v2/{NAME}/manifests/v1", HTTP_ACCEPT=several).status_code == 200


def test_delete_tag_keeps_manifest(v2):
    _, digest = v2.push_image(NAME, "v1")
    assert v2.request("DELETE", f"/v2/{NAME}/manifests/v1").status_code == 202
    assert v2.request("GET", f"/v2/{NAME}/manifests/v1").status_code == 404
    assert v2.request("GET", f"/v2/{NAME}/manifests/{digest}").status_code == 200


def test_delete_manifest_removes_its_tags(v2):
    _, digest = v2.push_image(NAME, "v1")
    v2.push_image(NAME, "v2")
    assert v2.request("DELETE", f"/v2/{NAME}/manifests/{digest}").status_code == 202
    assert v2.request("GET", f"/v2/{NAME}/manifests/{digest}").status_code == 404
    tags = json.loads(v2.request("GET", f"/v2/{NAME}/tags/list").content)["tags"]
    assert tags == ["v2"]


def test_subject_header_and_referrers(v2):
    _, subject_digest = v2.push_image(NAME, "v1")
    v2.upload(NAME, images.EMPTY_CONFIG_BYTES)
    layer, layer_digest = images.random_blob(20)
    v2.upload(NAME, layer)
    subject = {"mediaType": images.OCI_MANIFEST, "digest": subject_digest, "size": 1}
    referrers = []
    for artifact_type in ("application/vnd.example.sbom", "application/vnd.example.sig"):
        body = images.make_manifest(
            images.EMPTY_CONFIG["digest"], 2, [(layer_digest, 20)],
            subject=subject, artifact_type=artifact_type, config_media_type=images.OCI_EMPTY,
        )
        response = v2.put_manifest(NAME, images.sha256_digest(body), body)
        assert response.status_code == 201, response.content
        assert response["OCI-Subject"] == subject_digest
        referrers.append(images.sha256_digest(body))

    response = v2.request("GET", f"/v2/{NAME}/referrers/{subject_digest}")
    assert response.status_code == 200
    assert response["Content-Type"] == images.OCI_INDEX
    index = json.loads(response.content)
    assert index["schemaVersion"] == 2 and index["mediaType"] == images.OCI_INDEX
    assert sorted(m["digest"] for m in index["manifests"]) == sorted(referrers)

    filtered = v2.request(
        "GET", f"/v2/{NAME}/referrers/{subject_digest}?artifactType=application/vnd.example.sig"
    )
    assert filtered["OCI-Filters-Applied"] == "artifactType"
    assert [m["artifactType"] for m in json.loads(filtered.content)["manifests"]] == [
        "application/vnd.example.sig"
    ]


def test_referrers_of_unknown_digest_is_an_empty_index(v2):
    v2.push_image(NAME, "v1")
    response = v2.request("GET", f"/v2/{NAME}/referrers/{images.sha256_digest(b'x')}")
    assert response.status_code == 200
    assert json.loads(response.content)["manifests"] == []


# --- tags list and catalog -------------------------------------------------------------------------

def test_tags_list_pagination(v2):
    _, digest = v2.push_image(NAME, "a")
    manifest = v2.request("GET", f"/v2/{NAME}/manifests/a").content
    for tag in ("d", "c", "b"):
        assert v2.put_manifest(NAME, tag, manifest).status_code == 201
    first = v2.request("GET", f"/v2/{NAME}/tags/list?n=2")
    assert json.loads(first.content) == {"name": NAME, "tags": ["a", "b"]}
    assert first["Link"] == f'</v2/{NAME}/tags/list?n=2&last=b>; rel="next"'
    second = v2.request("GET", f"/v2/{NAME}/tags/list?n=2&last=b")
    assert json.loads(second.content)["tags"] == ["c", "d"]
    assert "Link" not in second
    assert json.loads(v2.request("GET", f"/v2/{NAME}/tags/list?n=0").content)["tags"] == []


def test_catalog_pagination(v2):
    for name in ("x/one", "x/two", "x/three"):
        v2.push_image(name, "v1")
    first = v2.request("GET", "/v2/_catalog?n=2")
    assert json.loads(first.content) == {"repositories": ["x/one", "x/three"]}
    assert first["Link"] == '</v2/_catalog?n=2&last=x%2Fthree>; rel="next"'
    second = v2.request("GET", "/v2/_catalog?n=2&last=x/three")
    assert json.loads(second.content) == {"repositories": ["x/two"]}


# --- push repositories and regular repositories --------------------------------------------------

def test_push_to_a_regular_repository_name_fails_clearly(v2):
    repository = RegistryRepository.objects.create(name="regular")
    RegistryDistribution.objects.create(name="reg", base_path="reg/image", repository=repository)
    response = v2.upload("reg/image", b"data")
    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    assert "regular repository" in json.loads(response.content)["errors"][0]["message"]
    assert repository.latest_version().number == 0


def test_unsupported_method(v2):
    response = v2.request("POST", f"/v2/{NAME}/tags/list")
    assert response.status_code == 405
    assert error_code(response) == "UNSUPPORTED"


def test_head_errors_have_the_headers_of_the_error_body_but_no_body(v2):
    v2.upload(NAME, b"something")
    missing = "sha256:" + "0" * 64
    got = v2.request("GET", f"/v2/{NAME}/blobs/{missing}")
    head = v2.request("HEAD", f"/v2/{NAME}/blobs/{missing}")
    assert got.status_code == head.status_code == 404
    assert json.loads(got.content)["errors"][0]["code"] == "BLOB_UNKNOWN"
    assert head.content == b""
    assert head["Content-Type"] == "application/json"
    assert head["Content-Length"] == got["Content-Length"] == str(len(got.content))
