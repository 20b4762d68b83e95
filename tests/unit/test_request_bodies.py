"""The API server's request-body reader (``launcher/request_bodies.py``) returns what
gunicorn's own reader returns, for ``Content-Length`` and chunked bodies, well-formed or not,
and leaves what follows the body for the next request on the connection."""

import os
import socket
import threading

import pytest
from gunicorn.config import Config
from gunicorn.http.body import Body
from gunicorn.http.message import Request
from gunicorn.http.unreader import SocketUnreader

from pulp_registry.launcher.request_bodies import LargeReadBody
from tests.http_bodies import BROKEN_CHUNKED_FRAMINGS

NEXT_REQUEST = b"GET /v2/ HTTP/1.1\r\nHost: registry\r\n\r\n"


def _chunked(data, chunk_size, extension=b"", trailers=b""):
    pieces = [
        b"%x%s\r\n%s\r\n" % (len(data[i:i + chunk_size]), extension, data[i:i + chunk_size])
        for i in range(0, len(data), chunk_size)
    ]
    return b"".join(pieces) + b"0\r\n" + trailers + b"\r\n"


def _read_all(body_class, head, body_bytes, read_size, send_piece=65536):
    """Send a request over a socket pair; read its body with ``body_class``, ``read_size``
    bytes at a time (a list: those sizes, then all that is left).

    Returns:
        (the body read or the exception raised, the request's trailers, the next request's
        first line as gunicorn parses it, or None if the body could not be read).
    """
    server, client = socket.socketpair()
    data = head + body_bytes + NEXT_REQUEST

    def send():
        try:
            for start in range(0, len(data), send_piece):
                client.sendall(data[start:start + send_piece])
            client.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    sender = threading.Thread(target=send)
    sender.start()
    try:
        unreader = SocketUnreader(server)
        request = Request(Config(), unreader, ("127.0.0.1", 1))
        body = body_class(request.body.reader)
        received = bytearray()
        sizes = iter(read_size if isinstance(read_size, list) else [])
        try:
            while True:
                size = next(sizes, read_size if isinstance(read_size, int) else None)
                piece = body.read(size)
                if not piece:
                    break
                assert size is None or len(piece) <= size
                received += piece
        except Exception as error:  # noqa: BLE001 (compared with gunicorn's)
            return type(error), None, None
        following = Request(Config(), unreader, ("127.0.0.1", 1))
        return bytes(received), request.trailers, (following.method, following.path)
    finally:
        server.close()
        client.close()
        sender.join()


CHUNKED_HEAD = b"PATCH /v2/a/b/blobs/uploads/x HTTP/1.1\r\nHost: registry\r\n" \
    b"Transfer-Encoding: chunked\r\n\r\n"
DATA = os.urandom(300_000)


@pytest.mark.parametrize(
    "chunk_size,read_size",
    [(chunk, read) for chunk in (1, 7, 4096, 32768, 300_000)
     for read in (1, 1000, 65536, 1 << 20)
     if (chunk, read) != (1, 1)],  # one byte at a time both ways: slow, and adds nothing
)
def test_chunked_bodies_read_as_gunicorn_reads_them(chunk_size, read_size):
    body = _chunked(DATA[:20_000] if chunk_size < 100 else DATA, chunk_size)
    ours = _read_all(LargeReadBody, CHUNKED_HEAD, body, read_size)
    assert ours == _read_all(Body, CHUNKED_HEAD, body, read_size)
    assert ours[0] == (DATA[:20_000] if chunk_size < 100 else DATA)
    assert ours[2] == ("GET", "/v2/")


@pytest.mark.parametrize("send_piece", [1, 3, 1000])
def test_framing_split_anywhere_in_transit(send_piece):
    body = _chunked(DATA[:5000], 999, extension=b";name=value", trailers=b"X-Sum: 1\r\n")
    ours = _read_all(LargeReadBody, CHUNKED_HEAD, body, 4096, send_piece)
    assert ours == _read_all(Body, CHUNKED_HEAD, body, 4096, send_piece)
    assert ours[0] == DATA[:5000] and ours[1] == [("X-SUM", "1")]


@pytest.mark.parametrize("framing", BROKEN_CHUNKED_FRAMINGS)
def test_broken_framing_fails_as_in_gunicorn(framing):
    ours = _read_all(LargeReadBody, CHUNKED_HEAD, framing, 65536)
    theirs = _read_all(Body, CHUNKED_HEAD, framing, 65536)
    assert isinstance(ours[0], type) and issubclass(ours[0], Exception), ours
    assert ours[0] is theirs[0]


def test_an_endless_chunk_size_line_is_refused():
    ours = _read_all(LargeReadBody, CHUNKED_HEAD, b"1" * 200_000 + b"\r\n", 65536)
    assert isinstance(ours[0], type) and issubclass(ours[0], Exception)


@pytest.mark.parametrize("read_size", [1000, 1 << 20])
def test_content_length_bodies_read_as_gunicorn_reads_them(read_size):
    head = b"PUT /v2/a/b/blobs/uploads/x HTTP/1.1\r\nHost: registry\r\n" \
        b"Content-Length: %d\r\n\r\n" % len(DATA)
    ours = _read_all(LargeReadBody, head, DATA, read_size)
    assert ours == _read_all(Body, head, DATA, read_size)
    assert ours[0] == DATA and ours[2] == ("GET", "/v2/")


@pytest.mark.parametrize("body_head,body", [
    (CHUNKED_HEAD, _chunked(DATA, 32768)),
    (b"PUT /x HTTP/1.1\r\nHost: registry\r\nContent-Length: %d\r\n\r\n" % len(DATA), DATA),
])
def test_reading_the_rest_after_a_first_piece(body_head, body):
    received, _, following = _read_all(LargeReadBody, body_head, body, [1000])
    assert received == DATA and following == ("GET", "/v2/")


def test_a_huge_read_of_a_small_chunked_body_allocates_only_what_arrives():
    # A buffer of the size asked for (512 GiB) could not be allocated.
    received, _, following = _read_all(LargeReadBody, CHUNKED_HEAD, _chunked(DATA, 4096),
                                       [1 << 39])
    assert received == DATA and following == ("GET", "/v2/")
