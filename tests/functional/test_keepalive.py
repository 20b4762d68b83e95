"""Keep-alive connections after a request refused before its body was read, against a live
registry: the next request on the same connection is served, or the response says
``Connection: close`` and the connection is closed (never a ``keep-alive`` answer followed
by a closed connection). Covers /v2/ and pulpcore's REST API, which share the API server."""

import socket

import pytest

SMALL_UNREAD = 300 * 1024  # more than gunicorn drains on its own (64 KiB)
LARGE_UNREAD = 3 * 1024 * 1024  # more than the registry reads before closing

REFUSED_REQUESTS = {
    "v2 manifest": "PUT /v2/keep/alive/manifests/latest HTTP/1.1\r\n"
    "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n",
    "rest api": "POST /pulp/api/v3/repositories/registry/registry/ HTTP/1.1\r\n"
    "Content-Type: application/json\r\n",
}


def _read_response(sock):
    """Read one response; return (status line, lower-case headers)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a complete response: {data!r}")
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        piece = sock.recv(65536)
        if not piece:
            break
        rest += piece
    return lines[0], headers


def _send_refused(registry, request_head, size):
    sock = socket.create_connection(("127.0.0.1", registry.port), timeout=30)
    head = f"{request_head}Host: registry\r\nContent-Length: {size}\r\n\r\n".encode()
    sock.sendall(head + b"x" * size)
    return sock


@pytest.mark.parametrize("kind", sorted(REFUSED_REQUESTS))
def test_the_next_request_on_the_connection_is_served(registry, kind):
    with _send_refused(registry, REFUSED_REQUESTS[kind], SMALL_UNREAD) as sock:
        status, headers = _read_response(sock)
        assert status.split()[1] == "401", status
        assert headers.get("connection") == "keep-alive"
        sock.sendall(b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n")
        status, _ = _read_response(sock)
        assert status.split()[1] == "401", status


@pytest.mark.parametrize("kind", sorted(REFUSED_REQUESTS))
def test_a_large_unread_body_closes_the_connection_and_says_so(registry, kind):
    with _send_refused(registry, REFUSED_REQUESTS[kind], LARGE_UNREAD) as sock:
        status, headers = _read_response(sock)
        assert status.split()[1] == "401", status
        assert headers.get("connection") == "close"
