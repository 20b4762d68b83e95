"""Bad input that only raw HTTP can send, against a live registry: a Content-Length that lies
or is not a number, broken chunked framing, and encoded slashes or dots in paths.

Django's test client cannot send these (it fixes the framing itself), so each case writes
bytes to a socket. Every case checks the status (never a 5xx), that nothing was stored, and
that the registry still answers the next request.
"""

import base64
import hashlib
import json
import socket

import pytest

from tests.http_bodies import BROKEN_CHUNKED_FRAMINGS

NAME = "bad/input"


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Response:
    """A parsed HTTP response (status, lower-case headers, body)."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def error_code(self):
        return json.loads(self.body)["errors"][0]["code"]


def _parse_one(data):
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", len(rest)))
    return Response(status, headers, rest[:length])


class RawClient:
    """Writes exact bytes to the registry and reads the first response."""

    def __init__(self, registry):
        self.host, self.port = "127.0.0.1", registry.port
        token = base64.b64encode(f"admin:{registry.admin_password}".encode()).decode()
        self.auth = f"Authorization: Basic {token}\r\n"

    def send(self, head, body=b"", close_write=False, timeout=30):
        """Send ``head`` (request line and headers, without the blank line) and ``body``.

        Args:
            close_write: shut the sending side after the body (the client gives up early).

        Returns:
            Response or None: the first response, None when the server closed the
            connection without one.
        """
        request = head.replace("\n", "\r\n").rstrip("\r\n") + "\r\n" + self.auth
        request += "Connection: close\r\n\r\n"
        with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
            sock.sendall(request.encode("latin-1") + body)
            if close_write:
                sock.shutdown(socket.SHUT_WR)
            received = b""
            while True:
                try:
                    piece = sock.recv(65536)
                except ConnectionResetError:
                    break
                if not piece:
                    break
                received += piece
        return _parse_one(received) if received else None

    def still_answers(self):
        response = self.send("GET /v2/ HTTP/1.1\nHost: registry\n")
        assert response is not None and response.status == 200, response and response.body

    def blob_exists(self, digest):
        response = self.send(f"HEAD /v2/{NAME}/blobs/{digest} HTTP/1.1\nHost: registry\n")
        return response.status == 200

    def open_upload(self):
        response = self.send(
            f"POST /v2/{NAME}/blobs/uploads/ HTTP/1.1\nHost: registry\nContent-Length: 0\n"
        )
        assert response.status == 202, response.body
        return response.headers["location"]

    def upload_range(self, location):
        response = self.send(f"GET {location} HTTP/1.1\nHost: registry\n")
        assert response.status == 204, response.body
        return response.headers["range"]


@pytest.fixture(scope="module")
def raw(registry_factory):
    client = RawClient(registry_factory({"TOKEN_AUTH_DISABLED": True}))
    client.still_answers()
    return client


def test_body_shorter_than_content_length_then_closed(raw):
    data = b"x" * 100
    response = raw.send(
        f"POST /v2/{NAME}/blobs/uploads/?digest={_digest(data)} HTTP/1.1\nHost: registry\n"
        "Content-Length: 100\nContent-Type: application/octet-stream\n",
        data[:40], close_write=True,
    )
    # The client is gone; if the server still answers, it is a refusal of the short body.
    if response is not None:
        assert response.status == 400, response.body
        assert response.error_code() == "SIZE_INVALID"
    assert not raw.blob_exists(_digest(data))
    assert not raw.blob_exists(_digest(data[:40]))
    raw.still_answers()


def test_chunk_shorter_than_content_length_leaves_the_upload_as_it_was(raw):
    location = raw.open_upload()
    raw.send(f"PATCH {location} HTTP/1.1\nHost: registry\nContent-Length: 5\n", b"12345")
    response = raw.send(
        f"PATCH {location} HTTP/1.1\nHost: registry\nContent-Length: 50\n", b"y" * 20,
        close_write=True,
    )
    if response is not None:
        assert response.status == 400, response.body
        assert response.error_code() == "SIZE_INVALID"
    assert raw.upload_range(location) == "0-4"
    raw.still_answers()


def test_manifest_shorter_than_content_length_then_closed(raw):
    body = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json"}'
    response = raw.send(
        f"PUT /v2/{NAME}/manifests/short HTTP/1.1\nHost: registry\n"
        f"Content-Type: application/vnd.oci.image.manifest.v1+json\nContent-Length: 4000\n",
        body, close_write=True,
    )
    if response is not None:
        assert response.status == 400, response.body
        assert response.error_code() == "MANIFEST_INVALID"
    tag = raw.send(f"GET /v2/{NAME}/manifests/short HTTP/1.1\nHost: registry\n")
    assert tag.status == 404, tag.body
    raw.still_answers()


def test_body_longer_than_content_length(raw):
    location = raw.open_upload()
    # Only the first 10 bytes are the chunk; the rest is not part of this request.
    response = raw.send(
        f"PATCH {location} HTTP/1.1\nHost: registry\nContent-Length: 10\n", b"0123456789" * 3
    )
    assert response.status == 202, response.body
    assert response.headers["range"] == "0-9"
    assert raw.upload_range(location) == "0-9"
    raw.still_answers()


@pytest.mark.parametrize("length", ["abc", "-1", "1e3", "0x10", "10, 12"])
def test_content_length_that_is_not_a_number(raw, length):
    data = b"0123456789"
    response = raw.send(
        f"POST /v2/{NAME}/blobs/uploads/?digest={_digest(data)} HTTP/1.1\nHost: registry\n"
        f"Content-Length: {length}\n", data,
    )
    assert response is not None
    assert response.status == 400, response.body
    assert not raw.blob_exists(_digest(data))
    raw.still_answers()


def test_two_content_lengths_that_differ(raw):
    data = b"0123456789"
    response = raw.send(
        f"POST /v2/{NAME}/blobs/uploads/?digest={_digest(data)} HTTP/1.1\nHost: registry\n"
        "Content-Length: 10\nContent-Length: 5\n", data,
    )
    assert response is not None
    assert response.status == 400, response.body
    assert not raw.blob_exists(_digest(data))
    raw.still_answers()


@pytest.mark.parametrize("framing", BROKEN_CHUNKED_FRAMINGS)
def test_broken_chunked_framing(raw, framing):
    location = raw.open_upload()
    response = raw.send(
        f"PATCH {location} HTTP/1.1\nHost: registry\nTransfer-Encoding: chunked\n", framing,
        close_write=True,
    )
    if response is not None:
        assert response.status == 400, response.body
        assert response.error_code() == "BLOB_UPLOAD_INVALID"
    assert raw.upload_range(location) == "0-0"
    raw.still_answers()


@pytest.mark.parametrize(
    "path,status,code",
    [
        ("/v2/a%2F..%2Fb/tags/list", 400, "NAME_INVALID"),
        ("/v2/a/%2e%2e/b/tags/list", 400, "NAME_INVALID"),
        ("/v2/a/../b/tags/list", 400, "NAME_INVALID"),
        ("/v2/..%2Fetc/tags/list", 400, "NAME_INVALID"),
        ("/v2/A%2Fb/tags/list", 400, "NAME_INVALID"),
        ("/v2/a%2F%2Fb/tags/list", 400, "NAME_INVALID"),
        ("/v2/a%00b/tags/list", 400, "NAME_INVALID"),
        # An encoded slash decodes to a slash: the name is no.such/name, which is unknown.
        ("/v2/no.such%2Fname/tags/list", 404, "NAME_UNKNOWN"),
        # Decoded, these have a path segment too many for any /v2/ endpoint: not found.
        (f"/v2/{NAME}/blobs/sha256%3A..%2F..%2Fetc", 404, "UNSUPPORTED"),
        (f"/v2/{NAME}/manifests/..%2F..%2Flatest", 404, "UNSUPPORTED"),
    ],
)
def test_encoded_slashes_and_dots_in_paths(raw, path, status, code):
    response = raw.send(f"GET {path} HTTP/1.1\nHost: registry\n")
    assert response is not None
    assert response.status == status, response.body
    assert response.error_code() == code
    raw.still_answers()
