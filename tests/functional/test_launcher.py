"""The launcher as a user meets it: status, restarts, start-up errors, TLS probes, chunked bodies."""

import hashlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time

import pytest
import requests

from tests.functional.conftest import clean_env, free_port


def run_cli(tmp_path, timeout=120, **variables):
    """Run ``pulp-registry run`` as a subprocess with the given PULP_REGISTRY_* variables."""
    env = clean_env()
    env.update(
        PULP_REGISTRY_DATA=str(tmp_path / "data"),
        PULP_REGISTRY_PORT=str(free_port()),
        PULP_REGISTRY_CONTENT_PORT=str(free_port()),
    )
    env.update({f"PULP_REGISTRY_{name.upper()}": str(value) for name, value in variables.items()})
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pulp_registry.launcher", "run"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=timeout,
    )
    return result, time.monotonic() - started


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("pulp-registry: error:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == errors[0]
    for fragment in fragments:
        assert fragment in errors[0], errors[0]
    return errors[0]


def client_hello() -> bytes:
    """Return the bytes of a real TLS ClientHello, as Python's ssl module sends it."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_status_lists_the_plugin_and_live_processes(registry, admin_session):
    status = admin_session.get(f"{registry.url}/pulp/api/v3/status/", timeout=30).json()
    components = {version["component"] for version in status["versions"]}
    assert {"core", "registry"} <= components
    assert status["online_workers"]
    assert status["online_api_apps"]
    assert status["online_content_apps"]
    assert status["database_connection"]["connected"]


def test_v2_answers(registry):
    response = requests.get(f"{registry.url}/v2/", timeout=30)
    assert response.status_code in (200, 401)


def test_manage_runs_with_the_registry_settings(registry):
    result = registry.manage("showmigrations", "registry")
    assert "[X]" in result.stdout
    assert "[ ]" not in result.stdout


def test_settings_file(registry):
    text = registry.settings_path.read_text()
    assert str(registry.data_dir / "media") in text
    assert f"http://127.0.0.1:{registry.port}/token/" in text
    assert oct(registry.settings_path.stat().st_mode & 0o777) == "0o600"
    assert oct(registry.admin_password_file.stat().st_mode & 0o777) == "0o600"


def test_restart_on_the_same_data_reuses_it(registry_factory, tmp_path):
    """Like two `make run` in a row: embedded PostgreSQL, data and admin password persist."""
    data_dir = tmp_path / "data"
    first = registry_factory.fresh(data_dir=data_dir, database_url=None)
    password = first.admin_password
    assert first.admin_password_generated
    with first.session() as session:
        response = session.post(
            f"{first.url}/pulp/api/v3/users/",
            json={"username": "alice", "password": "Wonder-land-42"},
            timeout=30,
        )
        assert response.status_code == 201, response.text
    first.stop()

    second = registry_factory.fresh(data_dir=data_dir, database_url=None)
    assert not second.admin_password_generated
    assert second.admin_password == password
    with second.session() as session:
        users = session.get(
            f"{second.url}/pulp/api/v3/users/", params={"username": "alice"}, timeout=30
        )
        assert users.status_code == 200
        assert users.json()["count"] == 1
    second.stop()


def test_unreachable_database_is_one_clear_line(tmp_path):
    result, elapsed = run_cli(
        tmp_path, database_url=f"postgresql://postgres:x@127.0.0.1:{free_port()}/pulp"
    )
    assert_one_line_error(result, "cannot connect to the database")
    assert elapsed < 60


@pytest.mark.parametrize("which", ["port", "content_port"])
def test_taken_port_is_one_clear_line(tmp_path, which):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, _ = run_cli(tmp_path, **{which: port})
    assert_one_line_error(result, f"port {port}", "already in use", f"PULP_REGISTRY_{which.upper()}")
    # Nothing was started, so nothing was created either.
    assert not (tmp_path / "data" / "postgres").exists()


def test_bad_port_value_is_one_clear_line(tmp_path):
    result, _ = run_cli(tmp_path, port="http")
    assert_one_line_error(result, "PULP_REGISTRY_PORT")


def test_tls_hello_gets_an_immediate_http_answer(registry):
    hello = client_hello()
    with socket.create_connection(("127.0.0.1", registry.port), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(hello)
        sock.settimeout(1.0)
        reply = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            reply += chunk
        elapsed = time.monotonic() - started
    assert reply.startswith(b"HTTP/"), reply[:100]
    assert elapsed < 1.0


def test_plain_http_still_works_after_a_tls_probe(registry):
    with pytest.raises(ssl.SSLError):
        ssl_context = ssl.create_default_context()
        ssl_context.check_hostname = False
        ssl_context.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", registry.port), timeout=5) as sock:
            ssl_context.wrap_socket(sock, server_hostname="localhost")
    assert requests.get(f"{registry.url}/v2/", timeout=10).status_code in (200, 401)


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_falls_back_to_http_at_once(registry, tmp_path):
    """skopeo tries TLS first; without the worker's answer it would stall 10 s per try."""
    env = clean_env()
    env["HOME"] = str(tmp_path)  # no credentials or registries.conf of the machine's user
    started = time.monotonic()
    result = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{registry.host_port}/no/such:tag"],
        capture_output=True, text=True, timeout=60, env=env,
    )
    elapsed = time.monotonic() - started
    assert result.returncode != 0  # the image does not exist...
    assert "server gave HTTP response to HTTPS client" not in result.stderr
    assert elapsed < 8, result.stderr  # ...but the answer came without a TLS stall


def test_chunked_request_body_is_accepted(registry_factory):
    """A blob upload streamed with Transfer-Encoding: chunked arrives whole."""
    open_registry = registry_factory({"TOKEN_AUTH_DISABLED": True})
    blob = os.urandom(300_000)
    digest = "sha256:" + hashlib.sha256(blob).hexdigest()

    def pieces():
        for offset in range(0, len(blob), 65536):
            yield blob[offset:offset + 65536]

    with open_registry.session() as session:
        start = session.post(f"{open_registry.url}/v2/launcher/chunked/blobs/uploads/", timeout=30)
        assert start.status_code == 202, start.text
        location = requests.compat.urljoin(open_registry.url, start.headers["Location"])
        patch = session.patch(
            location, data=pieces(), headers={"Content-Type": "application/octet-stream"},
            timeout=60,
        )
        assert patch.request.headers.get("Transfer-Encoding") == "chunked"
        assert patch.status_code == 202, patch.text
        location = requests.compat.urljoin(open_registry.url, patch.headers["Location"])
        put = session.put(location, params={"digest": digest}, timeout=60)
        assert put.status_code == 201, put.text
        fetched = session.get(
            f"{open_registry.url}/v2/launcher/chunked/blobs/{digest}", timeout=60
        )
        assert fetched.status_code == 200
        assert fetched.content == blob
