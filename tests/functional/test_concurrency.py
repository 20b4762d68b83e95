"""Concurrent clients against the real registry processes (gunicorn with several workers and
threads, PostgreSQL): many pushes to one repository, first pushes racing to create one name, a
cross-repository mount racing the deletion of its source.

Whatever the interleaving, no request may fail with a 5xx or a 429, everything the registry
acknowledged must be served afterwards, and the repository versions left behind must be
consistent (checked inside the registry with ``pulpcore-manager shell``, see
:data:`CONSISTENCY_SCRIPT`). Racy cases are repeated for a few rounds so that the requests
really overlap.
"""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.functional import images
from tests.functional.clients import ClientEnv, Skopeo
from tests.functional.v2client import V2Client, parse_challenge

pytestmark = pytest.mark.functional

API = "/pulp/api/v3"
CLIENTS = 16
ROUNDS = 3
# Every name this module pushes to starts with this, so the consistency check looks at the
# module's own repositories only (the session's registry is shared with other modules).
PREFIX = f"conc{uuid.uuid4().hex[:8]}"
# Part of every name that tests delete from; see CONSISTENCY_SCRIPT.
DELETES = "-del-"


# --- clients ------------------------------------------------------------------------------------


class Client(V2Client):
    """A /v2/ client for one thread, logged in as admin, that records every response.

    Args:
        registry: the registry under test.
    """

    def __init__(self, registry):
        super().__init__(registry.url, auth=("admin", registry.admin_password))
        self.session.trust_env = False
        self.responses = []

    def request(self, method, path, **kwargs):
        response = super().request(method, path, **kwargs)
        # Bodies are kept for answers that are errors only (blob bodies are large).
        body = response.text[:300] if response.status_code >= 400 else ""
        self.responses.append((method, path, response.status_code, body))
        return response

    def fetch_push_token(self, name):
        """Get a pull+push token for ``name`` ahead of time, so that racing threads send their
        first write at once instead of after a token round trip each."""
        challenge = self.session.get(self.base_url + "/v2/", timeout=30)
        scheme, params = parse_challenge(challenge.headers["WWW-Authenticate"])
        assert scheme == "bearer"
        scope_key = str(f"/v2/{name}/".split("/", 4)[:4])
        self.tokens[scope_key] = self.token(
            params["realm"], params.get("service"), f"repository:{name}:pull,push,delete"
        )

    def server_failures(self):
        """Responses that no concurrent client should ever see: 5xx and 429."""
        return [entry for entry in self.responses if entry[2] >= 500 or entry[2] == 429]


class Image:
    """A small random image pushed over HTTP: a config blob, one layer, an OCI manifest."""

    def __init__(self):
        self.layer, self.layer_digest = images.random_blob(2048)
        self.config = images.canonical_json(
            {
                "architecture": "amd64",
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [self.layer_digest]},
                "config": {"Labels": {"nonce": uuid.uuid4().hex}},
            }
        )
        self.config_digest = images.sha256_digest(self.config)
        self.manifest = images.make_manifest(
            self.config_digest, len(self.config), [(self.layer_digest, len(self.layer))]
        )
        self.digest = images.sha256_digest(self.manifest)

    def blobs(self):
        """``(digest, bytes)`` of the image's blobs."""
        return [(self.config_digest, self.config), (self.layer_digest, self.layer)]

    def push(self, client, name, reference):
        """Upload the blobs (one monolithic, one through a session) and put the manifest.

        Returns:
            requests.Response: the manifest PUT's response, or the first failed upload's.
        """
        monolithic = client.upload_blob(name, self.config, self.config_digest)
        if monolithic.status_code != 201:
            return monolithic
        opened = client.post(f"/v2/{name}/blobs/uploads/")
        if opened.status_code != 202:
            return opened
        finished = client.put(
            opened.headers["Location"],
            params={"digest": self.layer_digest},
            data=self.layer,
            headers={"Content-Type": "application/octet-stream"},
        )
        if finished.status_code != 201:
            return finished
        return client.put_manifest(name, reference, self.manifest, images.OCI_MANIFEST)


def wait_for_task(registry, session, task_href, timeout=120):
    """Wait for a pulpcore task to end; return its final state."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = session.get(f"{registry.url}{task_href}", timeout=60).json()["state"]
        if state not in ("waiting", "running", "canceling"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"task {task_href} did not end within {timeout} s")


def run_together(functions):
    """Run the callables in threads released at one moment; return their results in order.

    An exception in one is re-raised here, after all have finished.
    """
    barrier = threading.Barrier(len(functions))

    def released(function):
        barrier.wait(timeout=60)
        return function()

    with ThreadPoolExecutor(max_workers=len(functions)) as pool:
        futures = [pool.submit(released, function) for function in functions]
        return [future.result() for future in futures]


def assert_no_server_failures(clients):
    failures = [entry for client in clients for entry in client.server_failures()]
    assert not failures, f"5xx or 429 answers: {failures}"


def assert_blobs_served(client, name, image):
    for digest, data in image.blobs():
        response = client.get(f"/v2/{name}/blobs/{digest}")
        assert response.status_code == 200, (name, digest, response.text)
        assert response.content == data


def tags_of(client, name):
    response = client.get(f"/v2/{name}/tags/list", params={"n": 1000})
    assert response.status_code == 200, response.text
    return response.json()["tags"] or []


@pytest.fixture
def clients(registry):
    """A factory of per-thread clients; every response they got is checked for 5xx/429 at the
    end of the test."""
    made = []

    def make(count, name=None):
        new = [Client(registry) for _ in range(count)]
        if name is not None:
            for client in new:
                client.fetch_push_token(name)
        made.extend(new)
        return new

    yield make
    assert_no_server_failures(made)


# --- consistency, checked inside the registry ---------------------------------------------------

CONSISTENCY_SCRIPT = r"""
import collections, json
from pulpcore.app.models import RepositoryVersionContentDetails
from pulpcore.plugin.models import Content, RepositoryVersion
from pulp_registry.app.models import (
    Blob, Manifest, ManifestBlob, ManifestListEntry, RegistryDistribution,
    RegistryPushRepository, Tag,
)

PREFIX = %(prefix)r
DELETES = %(deletes)r
problems = []
report = {"problems": problems, "repositories": {}}
for repository in RegistryPushRepository.objects.filter(name__startswith=PREFIX):
    name = repository.name
    versions = list(RepositoryVersion.objects.filter(repository=repository).order_by("number"))
    numbers = [version.number for version in versions]
    report["repositories"][name] = {"versions": len(versions)}
    if numbers != list(range(len(numbers))):
        problems.append(f"{name}: version numbers not contiguous: {numbers}")
    if repository.next_version != len(numbers):
        problems.append(f"{name}: next_version {repository.next_version} after {numbers}")
    incomplete = [version.number for version in versions if not version.complete]
    if incomplete:
        problems.append(f"{name}: incomplete versions {incomplete}")
    previous_ids = set()
    for version in versions:
        where = f"{name} v{version.number}"
        in_array = set(version.content_ids)
        in_relations = set(
            version._content_relationships().values_list("content_id", flat=True)
        )
        if in_array != in_relations:
            problems.append(f"{where}: content_ids differ from repository content relations")
        actual = collections.Counter(
            Content.objects.filter(pk__in=in_array).values_list("pulp_type", flat=True)
        )
        recorded = {
            detail.content_type: detail.count
            for detail in RepositoryVersionContentDetails.objects.filter(
                repository_version=version, count_type="P"
            )
            if detail.count
        }
        if recorded != dict(actual):
            problems.append(f"{where}: recorded counts {recorded}, content {dict(actual)}")
        tags = list(Tag.objects.filter(pk__in=in_array).values_list("name", "tagged_manifest_id"))
        names = [tag_name for tag_name, _ in tags]
        duplicates = [n for n, c in collections.Counter(names).items() if c > 1]
        if duplicates:
            problems.append(f"{where}: several tags named {duplicates}")
        missing_tagged = {m for _, m in tags} - in_array
        if missing_tagged:
            problems.append(f"{where}: tags point at manifests not in the version")
        # Deleting a blob or child manifest that a manifest uses is allowed (as in
        # Distribution), so in names with deletions only what each version added must be whole:
        # a push must never be acknowledged on a reference that was already gone.
        checked = in_array if DELETES not in name else in_array - previous_ids
        manifests = Manifest.objects.filter(pk__in=checked)
        needed = set(
            ManifestBlob.objects.filter(manifest__in=manifests).values_list("blob_id", flat=True)
        ) | {b for b in manifests.values_list("config_blob_id", flat=True) if b}
        if needed - in_array:
            problems.append(f"{where}: manifests whose blobs are not in the version")
        children = set(
            ManifestListEntry.objects.filter(manifest_list__in=manifests).values_list(
                "manifest_id", flat=True
            )
        )
        if children - in_array:
            problems.append(f"{where}: lists whose children are not in the version")
        previous_ids = in_array
        if version == versions[-1]:
            report["repositories"][name]["tags"] = sorted(names)
    distributions = RegistryDistribution.objects.filter(base_path=name).count()
    if distributions != 1:
        problems.append(f"{name}: {distributions} distributions")
names = list(
    RegistryPushRepository.objects.filter(name__startswith=PREFIX).values_list("name", flat=True)
)
if len(names) != len(set(names)):
    problems.append(f"several push repositories for one name: {sorted(names)}")
served = collections.Counter(
    RegistryDistribution.objects.filter(base_path__startswith=PREFIX).values_list(
        "base_path", flat=True
    )
)
if any(count > 1 for count in served.values()):
    problems.append(f"several distributions for one name: {served}")
print("CONSISTENCY " + json.dumps(report))
"""


def consistency(registry):
    """Check every repository of this module inside the registry.

    Returns:
        dict: ``problems`` (a list of strings, empty when consistent) and, per repository
        name, its number of versions and the tag names of its latest version.
    """
    result = registry.manage(
        "shell", "-c", CONSISTENCY_SCRIPT % {"prefix": PREFIX, "deletes": DELETES}, timeout=300
    )
    line = [line for line in result.stdout.splitlines() if line.startswith("CONSISTENCY ")][-1]
    return json.loads(line[len("CONSISTENCY "):])


@pytest.fixture(scope="module")
def check_consistency(registry):
    """Runs the consistency check once, after every test of the module has pushed."""
    yield
    report = consistency(registry)
    assert report["repositories"], "the check found none of this module's repositories"
    assert not report["problems"], report["problems"]


# --- the cases ----------------------------------------------------------------------------------


def test_pushes_under_different_tags_of_one_repository(registry, clients, check_consistency):
    name = f"{PREFIX}/tags"
    pushers = clients(CLIENTS, name)
    pushed = [Image() for _ in range(CLIENTS)]
    # The first push creates the repository; the others then all write to it at once.
    responses = run_together(
        [
            lambda client=client, image=image, n=n: image.push(client, name, f"t{n}")
            for n, (client, image) in enumerate(zip(pushers, pushed))
        ]
    )
    assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses]
    assert [r.headers["Docker-Content-Digest"] for r in responses] == [i.digest for i in pushed]

    reader = clients(1)[0]
    assert sorted(tags_of(reader, name)) == sorted(f"t{n}" for n in range(CLIENTS))
    for n, image in enumerate(pushed):
        response = reader.get(
            f"/v2/{name}/manifests/t{n}", headers={"Accept": images.OCI_MANIFEST}
        )
        assert response.status_code == 200
        assert response.headers["Docker-Content-Digest"] == image.digest
        assert response.content == image.manifest
        assert_blobs_served(reader, name, image)


def test_pushes_to_one_tag(registry, clients, check_consistency):
    name = f"{PREFIX}/same"
    for round_number in range(ROUNDS):
        pushers = clients(CLIENTS, name)
        pushed = [Image() for _ in range(CLIENTS)]
        responses = run_together(
            [lambda c=c, i=i: i.push(c, name, "latest") for c, i in zip(pushers, pushed)]
        )
        assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses]
        acknowledged = [r.headers["Docker-Content-Digest"] for r in responses]
        assert acknowledged == [image.digest for image in pushed]

        reader = clients(1)[0]
        assert tags_of(reader, name) == ["latest"]
        tagged = reader.head(f"/v2/{name}/manifests/latest", headers={"Accept": "*/*"})
        assert tagged.headers["Docker-Content-Digest"] in acknowledged
        for image in pushed:
            response = reader.get(f"/v2/{name}/manifests/{image.digest}")
            assert response.status_code == 200, (round_number, image.digest)
            assert response.content == image.manifest
            assert_blobs_served(reader, name, image)
    report = consistency(registry)
    assert report["repositories"][name]["tags"] == ["latest"]
    assert not report["problems"], report["problems"]


@pytest.mark.parametrize("spread", ["one name", "one name per client"])
def test_one_image_pushed_by_every_client_at_once(registry, clients, check_consistency, spread):
    """Identical blobs, manifest and tag stored by many requests at one moment: each row is
    created once and every request gets it."""
    for round_number in range(ROUNDS):
        image = Image()
        names = [
            f"{PREFIX}/identical-{round_number}"
            + ("" if spread == "one name" else f"-{n}")
            for n in range(CLIENTS)
        ]
        pushers = [clients(1, name)[0] for name in names]
        responses = run_together(
            [lambda c=c, name=name: image.push(c, name, "v") for c, name in zip(pushers, names)]
        )
        assert [r.status_code for r in responses] == [201] * CLIENTS, [r.text for r in responses]
        assert {r.headers["Docker-Content-Digest"] for r in responses} == {image.digest}
        reader = clients(1)[0]
        for name in set(names):
            assert tags_of(reader, name) == ["v"]
            response = reader.get(f"/v2/{name}/manifests/v", headers={"Accept": "*/*"})
            assert response.status_code == 200
            assert response.content == image.manifest
            assert_blobs_served(reader, name, image)


@pytest.mark.parametrize("racers", [2, CLIENTS])
def test_first_pushes_racing_to_create_a_name(registry, clients, check_consistency, racers):
    for round_number in range(ROUNDS):
        name = f"{PREFIX}/new-{racers}-{round_number}"
        pushers = clients(racers, name)
        pushed = [Image() for _ in range(racers)]
        responses = run_together(
            [
                lambda c=c, i=i, n=n: i.push(c, name, f"v{n}")
                for n, (c, i) in enumerate(zip(pushers, pushed))
            ]
        )
        assert [r.status_code for r in responses] == [201] * racers, [r.text for r in responses]
        reader = clients(1)[0]
        assert sorted(tags_of(reader, name)) == sorted(f"v{n}" for n in range(racers))
        for image in pushed:
            assert reader.get(f"/v2/{name}/manifests/{image.digest}").status_code == 200
            assert_blobs_served(reader, name, image)
    report = consistency(registry)
    assert not report["problems"], report["problems"]
    created = [n for n in report["repositories"] if n.startswith(f"{PREFIX}/new-{racers}-")]
    assert len(created) == ROUNDS


def test_skopeo_first_pushes_racing_to_create_a_name(registry, tmp_path, check_consistency):
    name = f"{PREFIX}/skopeo-new"
    skopeo = Skopeo(ClientEnv(tmp_path / "client", registries=[registry.host_port]))
    admin = ("admin", registry.admin_password)
    built = [
        images.build_image(tmp_path / f"src{n}", tag=f"s{n}", layers=2, layer_size=50_000)
        for n in range(4)
    ]
    run_together(
        [
            lambda image=image: skopeo.copy(
                image.oci_ref, f"docker://{registry.host_port}/{name}:{image.tag}", creds=admin
            )
            for image in built
        ]
    )
    for image in built:
        raw = skopeo.inspect(
            f"docker://{registry.host_port}/{name}:{image.tag}", raw=True, creds=admin
        )
        assert raw == image.manifest


@pytest.mark.parametrize("deleted", ["blob", "manifest", "both", "rest remove_image"])
def test_mount_racing_a_delete_of_its_source(
    registry, clients, admin_session, check_consistency, deleted
):
    """A mount answers 201 only for a blob the target then serves; otherwise 202 with an
    upload session that takes the blob."""
    outcomes = set()
    for round_number in range(ROUNDS * 2):
        kind = deleted.replace(" ", "-")
        source = f"{PREFIX}/mount{DELETES}{kind}-{round_number}"
        target = f"{PREFIX}/mount-dst-{kind}-{round_number}"
        image = Image()
        setup = clients(1, source)[0]
        assert image.push(setup, source, "v").status_code == 201
        mounter = clients(1, target)[0]
        mounter.fetch_push_token(source)  # pull on the source, for the mount's `from`
        # The mount's token must name both repositories, as clients ask for it.
        realm_params = parse_challenge(
            mounter.session.get(registry.url + "/v2/", timeout=30).headers["WWW-Authenticate"]
        )[1]
        mounter.tokens[str(f"/v2/{target}/".split("/", 4)[:4])] = mounter.token(
            realm_params["realm"],
            realm_params.get("service"),
            [f"repository:{target}:pull,push", f"repository:{source}:pull"],
        )
        deleter = clients(1, source)[0]

        def mount():
            return mounter.post(
                f"/v2/{target}/blobs/uploads/",
                params={"mount": image.layer_digest, "from": source},
            )

        if deleted == "rest remove_image":
            found = admin_session.get(
                f"{registry.url}{API}/repositories/registry/registry-push/",
                params={"name": source}, timeout=60,
            ).json()["results"]
            remove_image_href = f"{registry.url}{found[0]['pulp_href']}remove_image/"

        def delete():
            if deleted == "rest remove_image":
                # The task removes the manifest and the blobs only it used (pending links too).
                started = admin_session.post(
                    remove_image_href, json={"digest": image.digest}, timeout=60
                )
                assert started.status_code == 202, started.text
                return [wait_for_task(registry, admin_session, started.json()["task"])]
            answers = []
            if deleted in ("manifest", "both"):
                answers.append(deleter.delete(f"/v2/{source}/manifests/{image.digest}"))
            if deleted in ("blob", "both"):
                answers.append(deleter.delete(f"/v2/{source}/blobs/{image.layer_digest}"))
            return answers

        mounted, deletions = run_together([mount, delete])
        for answer in deletions:
            assert answer == "completed" or answer.status_code == 202, answer
        assert mounted.status_code in (201, 202), mounted.text
        outcomes.add(mounted.status_code)
        if mounted.status_code == 202:
            finished = mounter.put(
                mounted.headers["Location"],
                params={"digest": image.layer_digest},
                data=image.layer,
                headers={"Content-Type": "application/octet-stream"},
            )
            assert finished.status_code == 201, finished.text
        served = mounter.get(f"/v2/{target}/blobs/{image.layer_digest}")
        assert served.status_code == 200, (round_number, mounted.status_code, served.text)
        assert served.content == image.layer
        # The mounted blob is usable: a manifest referencing it can be pushed to the target.
        assert mounter.upload_blob(target, image.config, image.config_digest).status_code == 201
        assert mounter.put_manifest(
            target, "mounted", image.manifest, images.OCI_MANIFEST
        ).status_code == 201
    print(f"mount outcomes with {deleted} deleted: {sorted(outcomes)}")


def test_list_push_racing_a_delete_of_its_child(registry, clients, check_consistency):
    """An index pushed while its child manifest is deleted is either refused (the child is
    gone) or stored with the child still there: never acknowledged on a child already removed
    (the consistency check looks at the version that added the index)."""
    outcomes = []
    for round_number in range(ROUNDS * 2):
        name = f"{PREFIX}/list{DELETES}{round_number}"
        setup, pusher, deleter = clients(3, name)
        child = Image()
        assert child.push(setup, name, "child").status_code == 201
        index = images.make_index(
            [
                {
                    "mediaType": images.OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ]
        )
        pushed, deleted = run_together(
            [
                lambda: pusher.put_manifest(name, "list", index, images.OCI_INDEX),
                lambda: deleter.delete(f"/v2/{name}/manifests/{child.digest}"),
            ]
        )
        assert deleted.status_code == 202, deleted.text
        assert pushed.status_code in (201, 400), pushed.text
        if pushed.status_code == 400:
            assert pushed.json()["errors"][0]["code"] == "MANIFEST_BLOB_UNKNOWN"
        outcomes.append(pushed.status_code)
    print(f"index pushes racing the deletion of their child: {outcomes}")


class REFUSED_UNREAD:  # noqa: N801 (stands in for a response)
    """A request whose connection was closed before its answer could be read."""

    status_code = None
    text = "connection closed before the answer was read"


def refused(status_code):
    """416 for a chunk refused unread (see REFUSED_UNREAD), else the status code."""
    return 416 if status_code is None else status_code


@pytest.mark.parametrize("second", ["patch", "finish"])
def test_one_upload_session_written_by_two_requests_at_once(registry, clients, second):
    """Two requests on one upload session at one moment (a client retrying a chunk whose
    answer it has not seen yet): one wins, the other gets 416 or 404 (or, a PUT that comes after
    the chunk, 400 DIGEST_INVALID); the blob finished from the session holds exactly the bytes
    its digest names."""
    name = f"{PREFIX}/upload-race"
    for round_number in range(ROUNDS):
        first_client, second_client = clients(2, name)
        opened = first_client.post(f"/v2/{name}/blobs/uploads/")
        assert opened.status_code == 202
        location = opened.headers["Location"]
        first_data, first_digest = images.random_blob(8 * 1024 * 1024)
        second_data, second_digest = images.random_blob(8 * 1024 * 1024)

        def patch(client, data):
            try:
                return client.patch(
                    location,
                    data=data,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"0-{len(data) - 1}",
                    },
                )
            except requests.ConnectionError:
                # A chunk refused before it was read: the registry answers and closes the
                # connection rather than read megabytes it will not keep, and the client may
                # see the close before the answer.
                return REFUSED_UNREAD

        if second == "patch":
            answers = run_together(
                [lambda: patch(first_client, first_data), lambda: patch(second_client, second_data)]
            )
            # The later request is refused whether it overlaps the first (the session is being
            # written) or follows it (the upload no longer stands at 0).
            assert sorted(refused(a.status_code) for a in answers) == [202, 416], [
                a.text for a in answers
            ]
            accepted = [
                (data, digest)
                for answer, data, digest in zip(
                    answers, (first_data, second_data), (first_digest, second_digest)
                )
                if answer.status_code == 202
            ]
            data, digest = accepted[0]
            finished = first_client.put(location, params={"digest": digest})
            assert finished.status_code == 201, finished.text
        else:
            # A PATCH with a first chunk races the PUT that would finish the upload as empty.
            empty_digest = images.sha256_digest(b"")
            answers = run_together(
                [
                    lambda: patch(first_client, first_data),
                    lambda: second_client.put(location, params={"digest": empty_digest}),
                ]
            )
            statuses = [refused(answer.status_code) for answer in answers]
            assert statuses in ([404, 201], [416, 201], [202, 416], [202, 400]), [
                a.text for a in answers
            ]
            if statuses == [202, 400]:
                # The PUT came after the chunk: the upload no longer holds the empty blob.
                assert answers[1].json()["errors"][0]["code"] == "DIGEST_INVALID"
                continue
            if statuses[1] == 201:
                data, digest = b"", empty_digest
            else:
                data, digest = first_data, first_digest
                finished = first_client.put(location, params={"digest": digest})
                assert finished.status_code == 201, finished.text
        served = first_client.get(f"/v2/{name}/blobs/{digest}")
        assert served.status_code == 200, (round_number, served.text)
        assert images.sha256_digest(served.content) == digest
        assert served.content == data


def test_tag_push_racing_a_delete_of_its_manifest(registry, clients, check_consistency):
    """A manifest deleted by digest while another client tags it: afterwards either the
    manifest is there with its new tag, or neither is; no tag is listed that does not resolve."""
    outcomes = []
    for round_number in range(ROUNDS * 2):
        name = f"{PREFIX}/retag{DELETES}{round_number}"
        setup, tagger, deleter = clients(3, name)
        image = Image()
        assert image.push(setup, name, "first").status_code == 201
        tagged, deleted = run_together(
            [
                lambda: tagger.put_manifest(name, "second", image.manifest, images.OCI_MANIFEST),
                lambda: deleter.delete(f"/v2/{name}/manifests/{image.digest}"),
            ]
        )
        assert tagged.status_code == 201, tagged.text
        assert deleted.status_code == 202, deleted.text
        listed = tags_of(setup, name)
        for tag in listed:
            response = setup.get(f"/v2/{name}/manifests/{tag}", headers={"Accept": "*/*"})
            assert response.status_code == 200, (round_number, tag, listed, response.text)
        by_digest = setup.get(f"/v2/{name}/manifests/{image.digest}").status_code
        assert (by_digest, listed) in ((200, ["second"]), (404, [])), (by_digest, listed)
        outcomes.append(listed)
    print(f"tag pushes racing the deletion of their manifest: {outcomes}")
