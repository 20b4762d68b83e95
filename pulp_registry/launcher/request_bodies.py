"""Receiving request bodies in large pieces, for the API server's gunicorn worker.

gunicorn reads a body 8 KiB at a time from the socket and copies what it has buffered on every
step; for a 256 MiB blob upload that is most of the server's CPU time. :class:`LargeReadBody`
replaces gunicorn's body object per request and receives a large read straight into one
buffer (``recv_into``):

* a body with a ``Content-Length`` is received in one piece per read;
* a ``Transfer-Encoding: chunked`` body (podman and buildah upload layers this way, in chunks
  of up to 32 KiB) is parsed here: the chunk-size lines are read from a small buffer and the
  chunk data is received straight into the read's buffer. Broken framing raises gunicorn's
  own errors, as its reader would.

What a read returns is what gunicorn's ``Body.read`` returns: up to ``size`` bytes, fewer
only at the end of the body. Bytes the client sent after the body (a pipelined request) are
handed back to gunicorn's reader for the next request.
"""

import inspect

from gunicorn.http.body import Body, ChunkedReader, LengthReader
from gunicorn.http.errors import (
    ChunkMissingTerminator,
    InvalidChunkExtension,
    InvalidChunkSize,
    NoMoreData,
)
from gunicorn.http.unreader import SocketUnreader

# take_buffered() came with gunicorn 23; without it, reads go through gunicorn's readers.
_CAN_RECEIVE_DIRECTLY = hasattr(SocketUnreader, "take_buffered")
# Longest chunk-size line (with extensions) and trailer section accepted.
MAX_CONTROL_BYTES = 64 * 1024
_CONTROL_READ = 64 * 1024
_HEX_DIGITS = frozenset(b"0123456789abcdefABCDEF")
# Sizes from this one up mean "all that is left" (gunicorn passes sys.maxsize for that).
_ALL = 1 << 40
# Largest buffer a read of a chunked body allocates at once.
_PIECE = 1024 * 1024


class LargeReadBody(Body):
    """gunicorn's request body, with large reads received in one call (module docstring)."""

    def __init__(self, reader):
        super().__init__(reader)
        self._chunked = None

    def read(self, size=None):
        """Read up to ``size`` bytes (all that remain when ``size`` is None or negative)."""
        size = self.getsize(size)
        if size == 0:
            return b""
        if self._chunked is not None:
            return self._chunked.read(size)
        if self.buf.tell() == 0 and size < _ALL:
            reader = self.reader
            if _CAN_RECEIVE_DIRECTLY:
                if type(reader) is LengthReader and type(reader.unreader) is SocketUnreader:
                    return _receive_length(reader, size)
                if (
                    type(reader) is ChunkedReader
                    and type(reader.req.unreader) is SocketUnreader
                    and _untouched(reader)
                ):
                    self._chunked = ChunkedBody(reader.req.unreader, reader.req)
                    return self._chunked.read(size)
            return reader.read(size)
        return super().read(size)


def _untouched(reader):
    """Whether gunicorn's chunked reader has not read anything yet (so it can be bypassed)."""
    return (
        reader.parser is not None
        and inspect.getgeneratorstate(reader.parser) == inspect.GEN_CREATED
        and reader.buf.tell() == 0
    )


def _receive_length(reader, size):
    """Read up to ``size`` bytes of a ``Content-Length`` body (what gunicorn's reader does)."""
    size = min(size, reader.length)
    if size <= 0:
        return b""
    unreader = reader.unreader
    buffered = unreader.take_buffered()  # bytes the request parser read ahead
    if len(buffered) >= size:
        unreader.unread(buffered[size:])
        reader.length -= size
        return buffered[:size]
    received = bytearray(size)
    view = memoryview(received)
    view[: len(buffered)] = buffered
    count = len(buffered)
    while count < size:
        got = unreader.sock.recv_into(view[count:], size - count)
        if not got:
            break
        count += got
    reader.length -= count
    return bytes(view[:count])


class ChunkedBody:
    """A ``Transfer-Encoding: chunked`` body received from gunicorn's socket reader.

    Args:
        unreader: gunicorn's ``SocketUnreader`` of the connection (holds read-ahead bytes).
        request: gunicorn's request (its ``trailers`` are set from the body's trailer section,
            as gunicorn does).
    """

    def __init__(self, unreader, request=None):
        self._unreader = unreader
        self._sock = unreader.sock
        self._request = request
        self._pending = bytearray(unreader.take_buffered())
        self._left_in_chunk = 0
        self._started = False
        self._done = False

    def read(self, size):
        """Up to ``size`` bytes of chunk data; fewer only at the end of the body.

        The length of the body is not known beforehand, so a read larger than
        :data:`_PIECE` (``read()`` of everything passes ``sys.maxsize``) is gathered piece by
        piece rather than into a buffer of the size asked for.
        """
        if size <= _PIECE:
            return self._read_piece(size)
        pieces = []
        while size > 0:
            piece = self._read_piece(min(size, _PIECE))
            if not piece:
                break
            pieces.append(piece)
            size -= len(piece)
        return b"".join(pieces)

    def _read_piece(self, size):
        if self._done or size <= 0:
            return b""
        received = bytearray(size)
        view = memoryview(received)
        count = 0
        while count < size:
            if self._left_in_chunk == 0 and not self._next_chunk():
                break
            want = min(size - count, self._left_in_chunk)
            pending = self._pending
            if pending:
                got = min(want, len(pending))
                view[count:count + got] = pending[:got]
                del pending[:got]
            else:
                got = self._sock.recv_into(view[count:], want)
                if not got:
                    raise NoMoreData()
            count += got
            self._left_in_chunk -= got
        return bytes(received) if count == size else bytes(view[:count])

    def _next_chunk(self):
        """Read the next chunk-size line; False (and the trailers read) at the last chunk."""
        if self._started:
            self._fill(2)
            if self._pending[:2] != b"\r\n":
                raise ChunkMissingTerminator(bytes(self._pending[:2]))
            del self._pending[:2]
        self._started = True
        line = self._take_line()
        size_text, semicolon, extension = line.partition(b";")
        if semicolon:
            if b"\r" in extension:
                raise InvalidChunkExtension("bare CR not allowed")
            size_text = size_text.rstrip(b" \t")
        if not size_text or not _HEX_DIGITS.issuperset(size_text):
            raise InvalidChunkSize(size_text)
        size = int(size_text, 16)
        if size == 0:
            self._read_trailers()
            return False
        self._left_in_chunk = size
        return True

    def _read_trailers(self):
        """Read the trailer section after the last chunk and give back what follows it."""
        self._fill(2)
        if self._pending[:2] == b"\r\n":
            end = 2
        else:
            end = self._find(b"\r\n\r\n") + 4
            trailers = bytes(self._pending[:end - 4])
            if self._request is not None:
                self._request.trailers = self._request.parse_headers(
                    trailers, from_trailer=True
                )
        rest = bytes(self._pending[end:])
        self._pending = bytearray()
        self._done = True
        if rest:
            self._unreader.unread(rest)

    def _take_line(self):
        end = self._find(b"\r\n")
        line = bytes(self._pending[:end])
        del self._pending[:end + 2]
        return line

    def _find(self, marker):
        """Index of ``marker`` in the pending bytes, receiving more until it is there."""
        start = 0
        while True:
            index = self._pending.find(marker, start)
            if index >= 0:
                return index
            if len(self._pending) > MAX_CONTROL_BYTES:
                raise InvalidChunkSize(bytes(self._pending[:64]))
            start = max(len(self._pending) - len(marker) + 1, 0)
            self._receive_more()

    def _fill(self, count):
        while len(self._pending) < count:
            self._receive_more()

    def _receive_more(self):
        data = self._sock.recv(_CONTROL_READ)
        if not data:
            raise NoMoreData(bytes(self._pending))
        self._pending += data
