"""Faults against the real registry processes: crashes (SIGKILL by process id) of the API server
in the middle of blob uploads and of a manifest push, of the worker in the middle of a
repository version, and the database going away and coming back.

Each test checks afterwards that the registry is consistent (every tag's manifest and blobs are
served with the right digests, no partial blob is served), that the client's retry succeeds,
and that temporary data left behind is removed by housekeeping. "In the middle" is made
certain rather than hoped for: an upload is killed once part of its body has reached the upload
file, and a repository version is killed while its transaction waits on a table lock that the
test holds (the waiting query is visible in ``pg_stat_activity``).

The registries here are private (``registry_factory.fresh``): killing processes of the
session's shared registry would disturb other tests.
"""

import base64
import contextlib
import json
import os
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests

from tests.functional import images
from tests.functional.v2client import V2Client

pytestmark = pytest.mark.functional

MIB = 1024 * 1024
API = "/pulp/api/v3"
PUSH_REPOS = f"{API}/repositories/registry/registry-push/"
# Every new repository version adds its content here, after the version's own row.
VERSION_CONTENT_TABLE = "core_repositorycontent"
WAIT = 120  # seconds for anything the registry does in the background


# --- helpers -----------------------------------------------------------------------------------

def wait_until(predicate, what, timeout=WAIT, interval=0.2):
    """Return predicate()'s first truthy value, failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


def upload_dir(registry):
    """Where the registry keeps unfinished uploads (WORKING_DIRECTORY/registry-uploads)."""
    return Path(registry.data_dir) / "tmp" / "registry-uploads"


def disk_usage(directory):
    """Bytes of the files in ``directory`` (0 when it does not exist yet)."""
    if not directory.exists():
        return 0
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


def admin_client(registry):
    """A /v2/ client that sends the admin's Basic credentials (token auth is off here)."""
    client = V2Client(registry.url)
    client.session.trust_env = False
    client.session.auth = ("admin", registry.admin_password)
    return client


def connect_db(registry):
    """A psycopg connection to the registry's own database."""
    db = registry.database
    return psycopg.connect(host=db.host, port=db.port, user=db.user, password=db.password,
                           dbname=db.name, autocommit=True)


def crash(registry, name):
    """SIGKILL a server process (and its helpers) by process id, as a crash would."""
    process = registry.process(name)
    pid = process.pid
    registry.kill(name)
    assert not process.alive()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def partial_request(registry, method, path, headers, body, sent):
    """Send a request whose body stops after ``sent`` bytes; return the open socket."""
    url = urlsplit(registry.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=60)
    lines = [f"{method} {path} HTTP/1.1", f"Host: {url.netloc}",
             f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    credentials = base64.b64encode(f"admin:{registry.admin_password}".encode()).decode()
    lines.append(f"Authorization: Basic {credentials}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sock.sendall(body[:sent])
    return sock


@contextlib.contextmanager
def version_content_locked(registry):
    """Hold a lock that stops every new repository version half-way (reads go on).

    Yields:
        psycopg.Connection: the test's connection holding the lock.
    """
    with connect_db(registry) as conn:
        conn.execute("BEGIN")
        conn.execute(f"LOCK TABLE {VERSION_CONTENT_TABLE} IN EXCLUSIVE MODE")
        try:
            yield conn
        finally:
            conn.execute("ROLLBACK")


def backend_waiting_on_version(registry):
    """The server process of PostgreSQL whose new version waits on the test's lock."""
    with connect_db(registry) as conn:
        def waiting():
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query ILIKE %s",
                [f"%{VERSION_CONTENT_TABLE}%"],
            ).fetchone()
            return row and row[0]

        return wait_until(waiting, "a repository version to wait on the test's lock")


def wait_backend_gone(registry, pid):
    """Wait until the database has ended (and so rolled back) the killed client's session."""
    with connect_db(registry) as conn:
        wait_until(
            lambda: conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid]
            ).fetchone()[0] == 0,
            f"PostgreSQL to end the session {pid} of the killed process",
        )


def push_blob(client, name, data):
    digest = images.sha256_digest(data)
    response = client.upload_blob(name, data, digest)
    assert response.status_code == 201, response.text
    return digest


def make_image(client, name, layer_size=200_000):
    """Upload a config and a layer; return the manifest bytes that reference them."""
    config, _ = images.random_blob(64)
    layer, _ = images.random_blob(layer_size)
    config_digest = push_blob(client, name, config)
    layer_digest = push_blob(client, name, layer)
    return images.make_manifest(config_digest, len(config), [(layer_digest, len(layer))])


def put_manifest(client, name, reference, manifest):
    response = client.put_manifest(name, reference, manifest, images.OCI_MANIFEST)
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


def fetch_blob(client, name, digest):
    """GET a blob; assert that the bytes served are the blob (never a partial one)."""
    response = client.get(f"/v2/{name}/blobs/{digest}")
    assert response.status_code == 200, (digest, response.status_code)
    assert images.sha256_digest(response.content) == digest
    return response.content


def assert_consistent(client, name):
    """Every tag of ``name`` is served with the right digest, and so is each of its blobs.

    Returns:
        dict: manifest digest by tag.
    """
    response = client.get(f"/v2/{name}/tags/list")
    assert response.status_code == 200, response.text
    tags = {}
    for tag in response.json()["tags"] or []:
        manifest = client.get(f"/v2/{name}/manifests/{tag}",
                              headers={"Accept": images.OCI_MANIFEST})
        assert manifest.status_code == 200, (tag, manifest.text)
        digest = images.sha256_digest(manifest.content)
        assert manifest.headers["Docker-Content-Digest"] == digest
        body = json.loads(manifest.content)
        for descriptor in [body["config"], *body["layers"]]:
            assert len(fetch_blob(client, name, descriptor["digest"])) == descriptor["size"]
        tags[tag] = digest
    return tags


def remove_abandoned_uploads(registry):
    """Housekeeping, as an administrator runs it: every upload without activity now."""
    result = registry.manage("registry-gc", "--uploads-only", "--older-than", "0s", "--json")
    return json.loads(result.stdout)


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 between a registry and its PostgreSQL server.

    :meth:`cut` is the database going away: every open connection is dropped and new ones
    are refused; :meth:`restore` is the database coming back on the same address.

    Args:
        target: ``(host, port)`` of the PostgreSQL server.
    """

    def __init__(self, target):
        self.target = target
        self._lock = threading.Lock()
        self._sockets = set()
        self._listener = None
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.restore()

    def restore(self):
        """Accept and forward connections again."""
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self):
        """Drop every forwarded connection and refuse new ones."""
        listener, self._listener = self._listener, None
        if listener is not None:
            _shut(listener)  # wakes the accepting thread
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            _shut(sock)

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source, sink):
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                _shut(sock)
                with self._lock:
                    self._sockets.discard(sock)


def _shut(sock):
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@contextlib.contextmanager
def supervised(registry):
    """Supervise the registry's processes as ``pulp-registry run`` does (revive() each second)."""
    stop = threading.Event()

    def supervise():
        while not stop.wait(1):
            registry.revive()

    thread = threading.Thread(target=supervise, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def assert_unavailable(response):
    """The spec's answer when the registry cannot serve: 503 and code UNAVAILABLE."""
    assert response.status_code == 503, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()["errors"]
    assert [error["code"] for error in errors] == ["UNAVAILABLE"]
    assert set(errors[0]) == {"code", "message", "detail"}


# --- fixtures ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def crashing(registry_factory):
    """A private registry whose processes the tests kill (HTTP Basic auth, no tokens)."""
    return registry_factory.fresh(extra_settings={"TOKEN_AUTH_DISABLED": True})


@pytest.fixture
def client(crashing):
    # A previous test may have left the API or the worker dead if it failed half-way.
    for name in ("api", "worker"):
        if not crashing.process(name).alive():
            crashing.restart(name)
    return admin_client(crashing)


# --- the API server crashes --------------------------------------------------------------------

def test_api_crash_during_a_chunk_keeps_the_upload_resumable(crashing, client):
    name = "faults/chunked"
    data, digest = images.random_blob(6 * MIB)
    first = MIB
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    response = client.patch(location, data=data[:first], headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{first - 1}"})
    assert response.status_code == 202
    upload_file = upload_dir(crashing) / location.rsplit("/", 1)[1]

    sock = partial_request(crashing, "PATCH", location, {
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{first}-{len(data) - 1}",
    }, data[first:], sent=3 * MIB)
    with sock:
        # Part of the second chunk is in the upload file: the API is in the middle of it.
        wait_until(lambda: upload_file.stat().st_size > first, "the chunk to reach the file")
        crash(crashing, "api")
    crashing.restart("api")

    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404  # nothing partial
    status = client.get(location)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{first - 1}"  # what was acknowledged survives
    # The client's retry resumes where the registry says the upload stands.
    response = client.patch(location, data=data[first:], headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{first}-{len(data) - 1}"})
    assert response.status_code == 202, response.text
    response = client.put(f"{location}?digest={digest}")
    assert response.status_code == 201, response.text
    assert fetch_blob(client, name, digest) == data
    assert not upload_file.exists()


def test_api_crash_during_a_monolithic_upload_serves_nothing_partial(crashing, client):
    name = "faults/monolithic"
    data, digest = images.random_blob(6 * MIB)
    directory = upload_dir(crashing)
    directory.mkdir(parents=True, exist_ok=True)
    before = set(directory.iterdir())
    baseline = disk_usage(directory)

    sock = partial_request(crashing, "POST", f"/v2/{name}/blobs/uploads/?digest={digest}",
                           {"Content-Type": "application/octet-stream"}, data, sent=3 * MIB)
    with sock:
        new_files = wait_until(
            lambda: [p for p in set(directory.iterdir()) - before if p.stat().st_size > 0],
            "the upload to reach a file",
        )
        crash(crashing, "api")
    crashing.restart("api")

    assert client.head(f"/v2/{name}/blobs/{digest}").status_code == 404
    assert client.get(f"/v2/{name}/blobs/{digest}").status_code == 404
    # The client's retry uploads the blob again.
    assert push_blob(client, name, data) == digest
    assert fetch_blob(client, name, digest) == data
    # The interrupted upload left its file; housekeeping removes it.
    assert all(path.exists() for path in new_files)
    result = remove_abandoned_uploads(crashing)
    assert result["deleted_stray_upload_files"] >= len(new_files)
    assert not any(path.exists() for path in new_files)
    assert disk_usage(directory) == baseline


def test_api_crash_while_a_manifest_push_commits_leaves_the_old_tag(crashing, client):
    name = "faults/manifest"
    old = make_image(client, name)
    old_digest = put_manifest(client, name, "stable", old)
    new = make_image(client, name)
    new_digest = images.sha256_digest(new)

    pushing = {}

    def push():
        try:
            pushing["response"] = client.put_manifest(name, "stable", new, images.OCI_MANIFEST)
        except requests.RequestException as error:  # the server dies under the request
            pushing["error"] = error

    with version_content_locked(crashing):
        thread = threading.Thread(target=push)
        thread.start()
        backend = backend_waiting_on_version(crashing)
        crash(crashing, "api")
        thread.join(60)
    assert "response" not in pushing, "the push was answered although the API was killed"
    wait_backend_gone(crashing, backend)
    crashing.restart("api")

    # The unfinished push changed nothing that clients see.
    assert assert_consistent(client, name) == {"stable": old_digest}
    # The client's retry pushes the new image.
    assert put_manifest(client, name, "stable", new) == new_digest
    assert assert_consistent(client, name) == {"stable": new_digest}


# --- the worker crashes ------------------------------------------------------------------------

def test_worker_crash_while_making_a_version_fails_the_task_and_the_retry_succeeds(
    crashing, client
):
    name = "faults/worker"
    manifest = make_image(client, name)
    digest = put_manifest(client, name, "v1", manifest)
    pulp = crashing.session()
    repository = pulp.get(f"{crashing.url}{PUSH_REPOS}", params={"name": name}).json()
    href = repository["results"][0]["pulp_href"]

    def tag(tag_name):
        response = pulp.post(f"{crashing.url}{href}tag/", json={"tag": tag_name,
                                                                "digest": digest})
        assert response.status_code == 202, response.text
        return response.json()["task"]

    def finished(task_href):
        task = pulp.get(f"{crashing.url}{task_href}").json()
        return task if task["state"] not in ("waiting", "running", "canceling") else None

    with version_content_locked(crashing):
        task_href = tag("v1-copy")
        backend = backend_waiting_on_version(crashing)
        crash(crashing, "worker")
    wait_backend_gone(crashing, backend)
    crashing.restart("worker")

    assert wait_until(lambda: finished(task_href), "the killed task to end")["state"] in (
        "failed", "canceled")
    assert assert_consistent(client, name) == {"v1": digest}
    # The retry runs on the new worker.
    retry = tag("v1-copy")
    assert wait_until(lambda: finished(retry), "the retried task")["state"] == "completed"
    assert assert_consistent(client, name) == {"v1": digest, "v1-copy": digest}


def test_supervision_starts_an_exited_server_again(crashing, client):
    crash(crashing, "content")
    # What ``pulp-registry run`` does every second.
    assert crashing.revive() == ["content"]

    def content_app_answers():
        try:
            return requests.get(f"{crashing.content_url}/pulp/content/", timeout=10).status_code
        except requests.ConnectionError:
            return None

    wait_until(content_app_answers, "the content app to answer again")
    assert crashing.revive() == []
    assert crashing.failed_process() is None


# --- the database goes away --------------------------------------------------------------------

@pytest.fixture(scope="module")
def proxied(registry_factory):
    """A private registry (token authentication on) that reaches its database through a
    :class:`TcpProxy`; yields ``(registry, proxy)``."""
    url = urlsplit(registry_factory.database_url())
    proxy = TcpProxy((url.hostname, url.port))
    netloc = f"{url.username}:{url.password}@127.0.0.1:{proxy.port}"
    registry = registry_factory.fresh(
        database_url=urlunsplit((url.scheme, netloc, url.path, "", ""))
    )
    yield registry, proxy


def test_database_outage_answers_503_unavailable_and_the_registry_recovers(proxied):
    registry, proxy = proxied
    name = "faults/database"
    client = V2Client(registry.url, auth=("admin", registry.admin_password))
    client.session.trust_env = False
    manifest = make_image(client, name)
    put_manifest(client, name, "v1", manifest)
    with supervised(registry):
        outage_and_recovery(registry, proxy, client, name, manifest)


def outage_and_recovery(registry, proxy, client, name, manifest):
    digest = images.sha256_digest(manifest)
    layer = json.loads(manifest)["layers"][0]["digest"]
    service = urlsplit(registry.url).netloc

    def token_request(auth=("admin", registry.admin_password)):
        return requests.get(f"{registry.url}/token/", timeout=60,
                            params={"service": service, "scope": f"repository:{name}:pull"},
                            auth=auth)

    proxy.cut()
    try:
        # The client holds a token for the name, so each request reaches the database.
        assert_unavailable(client.get(f"/v2/{name}/manifests/v1",
                                      headers={"Accept": images.OCI_MANIFEST}))
        assert_unavailable(client.get(f"/v2/{name}/tags/list"))
        assert_unavailable(client.get(f"/v2/{name}/blobs/{layer}"))
        assert_unavailable(client.post(f"/v2/{name}/blobs/uploads/"))
        # A token request needs the database unless the API worker verified these credentials
        # and read their user in the last seconds (the admin's token is then issued from
        # memory); credentials it has not seen always need it.
        assert_unavailable(token_request(auth=("faults-stranger", "never-seen")))
        assert token_request().status_code in (200, 503)
        # pulpcore's REST API answers 503 too (pulp_registry's middleware), not a 500 page.
        rest = registry.session().get(f"{registry.url}{PUSH_REPOS}", timeout=60)
        assert rest.status_code == 503, rest.text
        assert rest.json() == {"detail": "The database is unavailable; retry later."}
        assert rest.headers["Retry-After"] == "10"
    finally:
        proxy.restore()

    # Back at once, on every API process and thread: connections are opened anew.
    token = next(iter(client.tokens.values()))
    for _ in range(12):
        fresh = requests.get(f"{registry.url}/v2/{name}/manifests/v1", timeout=60, headers={
            "Accept": images.OCI_MANIFEST, "Connection": "close",
            "Authorization": f"Bearer {token}"})
        assert fresh.status_code == 200, fresh.text
        assert fresh.headers["Docker-Content-Digest"] == digest
    assert token_request().status_code == 200
    # Writes work again too, and what was pushed before the outage is intact.
    new_digest = put_manifest(client, name, "v2", make_image(client, name))
    assert assert_consistent(client, name) == {"v1": digest, "v2": new_digest}
    # pulpcore's worker and content app exit when they notice that their connection broke;
    # the launcher's supervision starts them again, and the worker runs tasks again.
    pulp = registry.session()
    repositories = pulp.get(f"{registry.url}{PUSH_REPOS}", params={"name": name}).json()
    response = pulp.post(f"{registry.url}{repositories['results'][0]['pulp_href']}tag/",
                         json={"tag": "after-outage", "digest": digest})
    assert response.status_code == 202, response.text
    task_href = response.json()["task"]

    def finished():
        task = pulp.get(f"{registry.url}{task_href}").json()
        return task if task["state"] not in ("waiting", "running") else None

    task = wait_until(finished, "a task on the revived worker")
    assert task["state"] == "completed", task
    assert assert_consistent(client, name)["after-outage"] == digest


# --- housekeeping ------------------------------------------------------------------------------

def test_abandoned_upload_is_removed_by_the_worker_after_the_expiry(registry_factory):
    # Expiry in seconds: the worker looks at its schedules about every 10 s.
    registry = registry_factory.fresh(
        extra_settings={"TOKEN_AUTH_DISABLED": True, "REGISTRY_UPLOAD_EXPIRY": 3}
    )
    client = admin_client(registry)
    directory = upload_dir(registry)
    baseline = disk_usage(directory)
    name = "faults/abandoned"
    response = client.post(f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    location = response.headers["Location"]
    response = client.patch(location, data=os.urandom(MIB), headers={
        "Content-Type": "application/octet-stream", "Content-Range": f"0-{MIB - 1}"})
    assert response.status_code == 202
    assert disk_usage(directory) == baseline + MIB

    # The client goes away; nobody runs anything: the worker's periodic task removes it.
    def answer_when_gone():
        response = client.get(location)
        # (A requests.Response is false for a 404: return its body instead.)
        return response.json() if response.status_code == 404 else None

    gone = wait_until(answer_when_gone, "the abandoned upload to be removed", interval=1)
    assert gone["errors"][0]["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert disk_usage(directory) == baseline
