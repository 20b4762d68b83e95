"""The REST API's repository operations against the real registry processes: tag, untag,
remove_image, copy_tags, copy_manifests, modify, version history and retention, refusals for
push repositories, and permissions.

The calls are the examples of docs/rest-api.md, extracted from the document and run with bash
(curl and jq), so the documentation shows exactly what works. Results are checked through the
REST API (repository versions) and through /v2/ (what clients are served).
"""

import json
import os
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

from tests.functional import images
from tests.functional.clients import ClientEnv, Skopeo
from tests.functional.v2client import V2Client

pytestmark = pytest.mark.functional

DOCS = Path(__file__).resolve().parents[2] / "docs"
API = "/pulp/api/v3"
PUSH_REPOS = f"{API}/repositories/registry/registry-push/"
REGULAR_REPOS = f"{API}/repositories/registry/registry/"
DISTRIBUTIONS = f"{API}/distributions/registry/registry/"
APP = "myteam/app"  # the image name the documentation uses


# --- running the documentation's examples --------------------------------------------------------

_EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\s*```bash\n(.*?)```", re.S)


def doc_examples(filename):
    """The examples marked ``<!-- example: NAME -->`` in a document, by name."""
    text = (DOCS / filename).read_text()
    examples = dict(_EXAMPLE.findall(text))
    assert examples, f"no examples found in {filename}"
    return examples


def run_example(filename, name, env=None, cwd=None, check=True, timeout=600):
    """Run one example of a document with bash; return the finished process."""
    code = doc_examples(filename)[name]
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"the documentation's examples need {tool}"
    environment = dict(os.environ)
    environment.update(env or {})
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", code], env=environment, cwd=cwd,
        capture_output=True, text=True, timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"example {name!r} of {filename} failed ({result.returncode}):\n{code}\n"
            f"stdout: {result.stdout}\nstderr: {result.stderr}"
        )
    return result


# --- talking to the REST API ---------------------------------------------------------------------

class Pulp:
    """A small client of the REST API."""

    def __init__(self, url, auth):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.auth = auth

    def request(self, method, href, **kwargs):
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.url + href, **kwargs)

    def get(self, href, **params):
        response = self.request("GET", href, params=params)
        assert response.status_code == 200, (href, response.status_code, response.text)
        return response.json()

    def post(self, href, body):
        return self.request("POST", href, json=body)

    def wait(self, task_href, timeout=180, expect="completed"):
        deadline = time.monotonic() + timeout
        while True:
            task = self.get(task_href)
            if task["state"] not in ("waiting", "running", "canceling"):
                break
            assert time.monotonic() < deadline, f"task {task_href} still {task['state']}"
            time.sleep(0.3)
        assert task["state"] == expect, task
        return task

    def run(self, href, body, timeout=180):
        """POST an operation and wait for its task; return the task."""
        response = self.post(href, body)
        assert response.status_code == 202, (href, response.status_code, response.text)
        return self.wait(response.json()["task"], timeout)

    def find(self, collection, **params):
        results = self.get(collection, **params)["results"]
        return results[0] if results else None

    def versions(self, repository):
        return self.get(repository["pulp_href"] + "versions/", limit=1000)["results"]

    def latest(self, repository):
        return self.get(repository["pulp_href"])["latest_version_href"]

    def in_version(self, kind, version_href, **params):
        return self.get(f"{API}/content/registry/{kind}/", repository_version=version_href,
                        limit=1000, **params)["results"]

    def tags(self, repository):
        version = self.latest(repository)
        return {tag["name"]: tag["digest"] for tag in self.in_version("tags", version)}

    def manifest_digests(self, repository):
        version = self.latest(repository)
        return {m["digest"] for m in self.in_version("manifests", version)}

    def blob_digests(self, repository):
        version = self.latest(repository)
        return {b["digest"] for b in self.in_version("blobs", version)}


def remove_names(pulp, prefix):
    """Delete distributions and repositories whose name starts with ``prefix`` (a re-run)."""
    for collection, field in ((DISTRIBUTIONS, "base_path__startswith"),
                              (PUSH_REPOS, "name__startswith"),
                              (REGULAR_REPOS, "name__startswith")):
        for item in pulp.get(collection, **{field: prefix, "limit": 1000})["results"]:
            response = pulp.request("DELETE", item["pulp_href"])
            assert response.status_code in (202, 204), response.text
            if response.status_code == 202:
                pulp.wait(response.json()["task"])


# --- fixtures ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def admin(registry):
    return ("admin", registry.admin_password)


@pytest.fixture(scope="module")
def pulp(registry, admin):
    return Pulp(registry.url, admin)


@pytest.fixture(scope="module")
def v2(registry, admin):
    return V2Client(registry.url, auth=admin)


@pytest.fixture(scope="module")
def skopeo(registry, tmp_path_factory):
    return Skopeo(ClientEnv(tmp_path_factory.mktemp("client"), registries=[registry.host_port]))


@pytest.fixture(scope="module")
def doc_env(registry, admin):
    """The variables every documentation example uses."""
    return {"PULP": registry.url, "AUTH": f"{admin[0]}:{admin[1]}"}


def push(skopeo, registry, admin, name, tag, directory, **build):
    """Build an image (or an index with ``index=True``) and push it with skopeo."""
    if build.pop("index", False):
        image = images.build_index(directory, tag=tag, **build)
    else:
        image = images.build_image(directory, tag=tag, **build)
    skopeo.copy(image.oci_ref, f"docker://{registry.host_port}/{name}:{tag}", all=True,
                creds=admin)
    return image


@pytest.fixture(scope="module")
def app(pulp, skopeo, registry, admin, tmp_path_factory):
    """``myteam/app`` with v1 and v2 pushed by skopeo; the state the examples build on."""
    remove_names(pulp, "myteam")
    layout = tmp_path_factory.mktemp("app")
    v1 = push(skopeo, registry, admin, APP, "v1", layout, layers=2, layer_size=20000)
    v2_image = push(skopeo, registry, admin, APP, "v2", layout, layers=1, layer_size=20000)
    return {"v1": v1, "v2": v2_image, "state": {}}


def tags_served(v2, name):
    response = v2.get(f"/v2/{name}/tags/list")
    assert response.status_code == 200, response.text
    return sorted(response.json()["tags"] or [])


def served_manifest(v2, name, reference, media_type=images.OCI_MANIFEST):
    return v2.get(f"/v2/{name}/manifests/{reference}",
                  headers={"Accept": f"{media_type}, {images.OCI_INDEX}"})


def example_json(result):
    return json.loads(result.stdout)


def run_task_example(pulp, name, env, filename="rest-api.md"):
    """Run an example that answers with a task; wait for the task; return it."""
    answer = example_json(run_example(filename, name, env))
    assert set(answer) == {"task"}, answer
    return pulp.wait(answer["task"])


# --- finding things ------------------------------------------------------------------------------

def test_find_push_repository_and_list_tags(pulp, app, doc_env):
    found = run_example("rest-api.md", "find-push-repository", doc_env).stdout.strip()
    repository = pulp.find(PUSH_REPOS, name=APP)
    assert found == repository["pulp_href"]
    app["state"]["repo"] = repository
    listed = run_example("rest-api.md", "list-tags", {**doc_env, "REPO": found}).stdout
    lines = sorted(listed.strip().splitlines())
    assert lines == [f"v1 {app['v1'].digest}", f"v2 {app['v2'].digest}"]


# --- tag / untag ---------------------------------------------------------------------------------

def test_tag_creates_a_version_and_is_served(pulp, v2, app, doc_env):
    repository = app["state"]["repo"]
    before = len(pulp.versions(repository))
    answer = example_json(run_example("rest-api.md", "tag", {
        **doc_env, "REPO": repository["pulp_href"], "DIGEST": app["v1"].digest}))
    waited = run_example("rest-api.md", "wait-task", {**doc_env, "TASK": answer["task"]})
    task = json.loads(waited.stdout)
    assert task["state"] == "completed" and task["error"] is None
    assert len(task["created_resources"]) == 1
    new_version = task["created_resources"][0]
    assert new_version == pulp.latest(repository)
    assert len(pulp.versions(repository)) == before + 1
    assert pulp.tags(repository) == {"v1": app["v1"].digest, "v2": app["v2"].digest,
                                     "stable": app["v1"].digest}
    assert tags_served(v2, APP) == ["stable", "v1", "v2"]
    response = served_manifest(v2, APP, "stable")
    assert response.status_code == 200
    assert response.content == app["v1"].manifest


def test_tag_moves_an_existing_tag(pulp, v2, app):
    repository = app["state"]["repo"]
    pulp.run(repository["pulp_href"] + "tag/", {"tag": "moving", "digest": app["v1"].digest})
    pulp.run(repository["pulp_href"] + "tag/", {"tag": "moving", "digest": app["v2"].digest})
    assert served_manifest(v2, APP, "moving").content == app["v2"].manifest
    pulp.run(repository["pulp_href"] + "untag/", {"tag": "moving"})


def test_tag_refuses_unknown_digests_and_bad_input(pulp, app, doc_env):
    repository = app["state"]["repo"]
    versions = len(pulp.versions(repository))
    answer = example_json(run_example("rest-api.md", "tag-unknown-digest", {
        **doc_env, "REPO": repository["pulp_href"]}))
    assert "is not in the repository" in answer["digest"]
    href = repository["pulp_href"] + "tag/"
    for body in ({"tag": "ok"}, {"tag": "bad tag!", "digest": app["v1"].digest},
                 {"tag": "ok", "digest": "sha256:abc"}, {"tag": "ok", "digest": app["v1"].digest,
                                                         "extra": 1}, [], "junk"):
        response = pulp.post(href, body)
        assert response.status_code == 400, (body, response.text)
    assert len(pulp.versions(repository)) == versions


def test_untag_keeps_the_manifest(pulp, v2, app, doc_env):
    repository = app["state"]["repo"]
    run_task_example(pulp, "untag", {**doc_env, "REPO": repository["pulp_href"]})
    assert tags_served(v2, APP) == ["stable", "v2"]
    assert served_manifest(v2, APP, "v1").status_code == 404
    by_digest = served_manifest(v2, APP, app["v1"].digest)
    assert by_digest.status_code == 200 and by_digest.content == app["v1"].manifest
    response = pulp.post(repository["pulp_href"] + "untag/", {"tag": "v1"})
    assert response.status_code == 400 and "no tag" in response.text


# --- remove_image --------------------------------------------------------------------------------

def test_remove_image_of_an_index(pulp, v2, app, doc_env, skopeo, registry, admin,
                                  tmp_path):
    repository = app["state"]["repo"]
    index = push(skopeo, registry, admin, APP, "multi", tmp_path / "multi", index=True)
    children = index.children
    assert tags_served(v2, APP) == ["multi", "stable", "v2"]
    # A child of the index cannot be removed while the index lists it.
    response = pulp.post(repository["pulp_href"] + "remove_image/",
                         {"digest": children[0].digest})
    assert response.status_code == 400 and "listed by" in response.text
    before = pulp.blob_digests(repository)
    run_task_example(pulp, "remove-image", {
        **doc_env, "REPO": repository["pulp_href"], "DIGEST": index.digest})
    assert tags_served(v2, APP) == ["stable", "v2"]
    for manifest in [index, *children]:
        assert served_manifest(v2, APP, manifest.digest).status_code == 404
        assert manifest.digest not in pulp.manifest_digests(repository)
    child_blobs = set(index.blob_digests())
    after = pulp.blob_digests(repository)
    assert not child_blobs & after
    assert before - after == child_blobs
    for digest in child_blobs:
        assert v2.head(f"/v2/{APP}/blobs/{digest}").status_code == 404
    # What other images use is still served.
    for digest in app["v1"].blob_digests():
        assert v2.head(f"/v2/{APP}/blobs/{digest}").status_code == 200


def test_remove_image_keeps_blobs_other_manifests_use(pulp, v2, app):
    repository = app["state"]["repo"]
    digests = pulp.manifest_digests(repository)
    assert {app["v1"].digest, app["v2"].digest} <= digests
    # Push a manifest that shares v2's layers, then remove it: v2's blobs stay.
    config = json.dumps({"architecture": "amd64", "os": "linux", "shared": True}).encode()
    config_digest = images.sha256_digest(config)
    assert v2.upload_blob(APP, config, config_digest).status_code == 201
    manifest = images.make_manifest(config_digest, len(config),
                                    [layer.descriptor() for layer in app["v2"].layers])
    assert v2.put_manifest(APP, "sharing", manifest, images.OCI_MANIFEST).status_code == 201
    digest = images.sha256_digest(manifest)
    pulp.run(repository["pulp_href"] + "remove_image/", {"digest": digest})
    assert "sharing" not in tags_served(v2, APP)
    blobs = pulp.blob_digests(repository)
    assert config_digest not in blobs
    assert set(app["v2"].blob_digests()) <= blobs
    assert served_manifest(v2, APP, "v2").content == app["v2"].manifest


# --- regular repositories: copy, modify, distribute ----------------------------------------------

def test_copy_tags_into_a_regular_repository_and_serve_it(pulp, v2, app, doc_env, skopeo,
                                                          registry, admin, tmp_path):
    repository = app["state"]["repo"]
    releases = run_example("rest-api.md", "create-regular-repository", doc_env).stdout.strip()
    assert releases.startswith(REGULAR_REPOS)
    app["state"]["releases"] = releases
    env = {**doc_env, "REPO": repository["pulp_href"], "RELEASES": releases}
    task = run_task_example(pulp, "copy-tags", env)
    assert task["created_resources"] == [releases + "versions/1/"]
    regular = pulp.get(releases)
    assert regular["retain_repo_versions"] == 10
    assert pulp.tags(regular) == {"stable": app["v1"].digest}
    assert pulp.blob_digests(regular) == set(app["v1"].blob_digests())
    run_task_example(pulp, "distribute", env)
    assert tags_served(v2, "myteam/releases") == ["stable"]
    assert served_manifest(v2, "myteam/releases", "stable").content == app["v1"].manifest
    # A real client pulls the copied image, every blob included.
    skopeo.copy(f"docker://{registry.host_port}/myteam/releases:stable",
                f"oci:{tmp_path / 'pulled'}:stable", creds=admin)
    layout = images.OCILayout(tmp_path / "pulled")
    for digest in app["v1"].blob_digests():
        assert images.sha256_digest(layout.read_blob(digest)) == digest


def test_copy_manifests_from_a_version(pulp, v2, app, doc_env):
    repository = app["state"]["repo"]
    releases = app["state"]["releases"]
    env = {**doc_env, "REPO": repository["pulp_href"], "RELEASES": releases,
           "VERSION": pulp.latest(repository), "DIGEST": app["v2"].digest}
    run_task_example(pulp, "copy-manifests", env)
    regular = pulp.get(releases)
    assert pulp.manifest_digests(regular) == {app["v1"].digest, app["v2"].digest}
    assert pulp.tags(regular) == {"stable": app["v1"].digest}
    response = served_manifest(v2, "myteam/releases", app["v2"].digest)
    assert response.status_code == 200 and response.content == app["v2"].manifest
    bad = pulp.post(releases + "copy_manifests/", {"source_repository": repository["pulp_href"],
                                                   "digests": ["sha256:" + "1" * 64]})
    assert bad.status_code == 400 and "Not in" in bad.text
    both = pulp.post(releases + "copy_tags/", {"source_repository": repository["pulp_href"],
                                               "source_repository_version": env["VERSION"]})
    assert both.status_code == 400


def test_modify_removes_and_adds_content(pulp, v2, app, doc_env):
    releases = app["state"]["releases"]
    env = {**doc_env, "RELEASES": releases, "DIGEST": app["v2"].digest}
    run_task_example(pulp, "modify-remove", env)
    regular = pulp.get(releases)
    assert pulp.manifest_digests(regular) == {app["v1"].digest}
    assert served_manifest(v2, "myteam/releases", app["v2"].digest).status_code == 404
    run_task_example(pulp, "modify-add", env)
    assert pulp.manifest_digests(regular) == {app["v1"].digest, app["v2"].digest}
    # The manifest brought its blobs along.
    assert set(app["v2"].blob_digests()) <= pulp.blob_digests(regular)
    assert served_manifest(v2, "myteam/releases", app["v2"].digest).status_code == 200


def test_modify_refuses_an_inconsistent_version(pulp, app):
    releases = app["state"]["releases"]
    regular = pulp.get(releases)
    versions = len(pulp.versions(regular))
    layer = app["v1"].layers[0].digest
    blob = pulp.find(f"{API}/content/registry/blobs/", digest=layer)
    response = pulp.post(releases + "modify/", {"remove_content_units": [blob["pulp_href"]]})
    assert response.status_code == 202
    task = pulp.wait(response.json()["task"], expect="failed")
    assert "inconsistent" in task["error"]["description"]
    assert layer in task["error"]["description"]
    assert len(pulp.versions(regular)) == versions
    bad = pulp.post(releases + "modify/", {"add_content_units": ["/pulp/api/v3/nonsense/"]})
    assert bad.status_code == 400


def test_version_history_is_listed(pulp, app, doc_env):
    releases = app["state"]["releases"]
    listed = run_example("rest-api.md", "list-versions", {**doc_env, "RELEASES": releases})
    lines = [json.loads(line) for line in listed.stdout.strip().splitlines()]
    versions = pulp.versions(pulp.get(releases))
    assert [line["number"] for line in lines] == [v["number"] for v in versions]
    newest = lines[0]
    assert newest["present"]["registry.manifest"] == 2
    assert newest["present"]["registry.tag"] == 1


# --- push repositories ---------------------------------------------------------------------------

def test_push_repository_refuses_copy_and_modify(pulp, app, doc_env):
    repository = app["state"]["repo"]
    releases = app["state"]["releases"]
    versions = len(pulp.versions(repository))
    answer = example_json(run_example("rest-api.md", "push-repository-refuses-copy", {
        **doc_env, "REPO": repository["pulp_href"], "RELEASES": releases}))
    assert "not available for push repositories" in answer["detail"]
    for action, body in (("copy_tags/", {"source_repository": releases}),
                         ("copy_manifests/", {"source_repository": releases}),
                         ("modify/", {"add_content_units": []})):
        response = pulp.post(repository["pulp_href"] + action, body)
        assert response.status_code == 400, (action, response.text)
        assert "push repositories" in response.json()["detail"]
    assert len(pulp.versions(repository)) == versions


def test_retain_repo_versions_limits_push_history(pulp, app, doc_env, skopeo, registry, admin,
                                                  tmp_path):
    repository = app["state"]["repo"]
    run_task_example(pulp, "retain-versions", {**doc_env, "REPO": repository["pulp_href"]})
    for number in range(3):
        push(skopeo, registry, admin, APP, f"r{number}", tmp_path / f"r{number}")
    numbers = [v["number"] for v in pulp.versions(repository)]
    latest = int(pulp.latest(repository).rstrip("/").rsplit("/", 1)[1])
    # Two versions are retained besides the one the distribution serves (pulpcore's rule).
    assert numbers == [latest, latest - 1, latest - 2]


def test_rest_operations_serialise_with_pushes(pulp, v2, app, skopeo, registry, admin,
                                               tmp_path):
    """Tags set through the REST API while clients push to the same repository all survive:
    both take the repository's lock, so no version is built on a stale one."""
    repository = app["state"]["repo"]
    built = [images.build_image(tmp_path / f"c{n}", tag=f"c{n}") for n in range(4)]
    errors = []

    def pusher(image):
        try:
            skopeo.copy(image.oci_ref, f"docker://{registry.host_port}/{APP}:{image.tag}",
                        creds=admin)
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=pusher, args=(image,)) for image in built]
    for thread in threads:
        thread.start()
    tasks = [pulp.post(repository["pulp_href"] + "tag/",
                       {"tag": f"rest{n}", "digest": app["v2"].digest}) for n in range(4)]
    for thread in threads:
        thread.join()
    assert not errors
    for response in tasks:
        assert response.status_code == 202
        pulp.wait(response.json()["task"])
    served = tags_served(v2, APP)
    for n in range(4):
        assert f"c{n}" in served and f"rest{n}" in served


# --- permissions ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def alice(pulp):
    password = "alice-Secret-123"
    existing = pulp.find(f"{API}/users/", username="ops-alice")
    if existing is None:
        response = pulp.post(f"{API}/users/", {"username": "ops-alice", "password": password})
        assert response.status_code == 201, response.text
    else:
        pulp.request("PATCH", existing["pulp_href"], json={"password": password})
    return Pulp(pulp.url, ("ops-alice", password))


def test_operations_need_permissions(pulp, alice, app):
    repository = app["state"]["repo"]
    releases = app["state"]["releases"]
    body = {"tag": "alice", "digest": app["v2"].digest}
    response = alice.post(repository["pulp_href"] + "tag/", body)
    assert response.status_code in (403, 404)
    response = alice.post(releases + "copy_tags/", {"source_repository": repository["pulp_href"]})
    assert response.status_code in (403, 404)
    assert "alice" not in pulp.tags(repository)


def test_namespace_roles_allow_operations_on_push_repositories(pulp, alice, app):
    repository = app["state"]["repo"]
    namespace = pulp.find(f"{API}/pulp_registry/namespaces/", name="myteam")
    response = pulp.post(namespace["pulp_href"] + "add_role/",
                         {"role": "registry.namespace_collaborator", "users": ["ops-alice"]})
    assert response.status_code == 201, response.text
    try:
        alice.run(repository["pulp_href"] + "tag/", {"tag": "alice", "digest": app["v2"].digest})
        assert pulp.tags(repository)["alice"] == app["v2"].digest
        # Collaborators push and tag, but do not delete.
        response = alice.post(repository["pulp_href"] + "untag/", {"tag": "alice"})
        assert response.status_code == 403
    finally:
        pulp.post(namespace["pulp_href"] + "remove_role/",
                  {"role": "registry.namespace_collaborator", "users": ["ops-alice"]})
