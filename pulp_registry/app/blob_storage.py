"""Receiving blob bytes and storing them as pulpcore artifacts, in one pass.

Bytes are read from the request once, hashed while they are written once to an upload file
under pulpcore's ``WORKING_DIRECTORY``, and the finished file is moved (not copied) into
artifact storage. The running hashes stay in the process between chunks of an upload; the
digests reached after each chunk are also recorded on the session, so completing an upload
never re-reads the data unless a later chunk lands in another process.
"""

import hashlib
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef

from pulpcore.plugin.models import Artifact, ContentArtifact

from pulp_registry.app.models import Blob

READ_SIZE = 1024 * 1024
# Pieces at least this large are hashed on two cores at once (see _Hashing).
PARALLEL_HASH_MIN = 256 * 1024

_running_hashes = {}
_running_lock = threading.Lock()
_hash_pool = ThreadPoolExecutor(
    max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="registry-hash"
)


def upload_dir():
    """Directory of in-progress uploads (inside WORKING_DIRECTORY, so finished files move)."""
    path = Path(settings.WORKING_DIRECTORY) / "registry-uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload_path(session_id):
    """The file holding the bytes received so far for an upload session."""
    return upload_dir() / str(session_id)


def _algorithms(extra=()):
    return sorted(set(Artifact.DIGEST_FIELDS) | {"sha256"} | set(extra))


def _new_hashers(algorithms):
    return {name: hashlib.new(name) for name in algorithms}


def _update_each(hashers, data):
    for hasher in hashers:
        hasher.update(data)


class _Hashing:
    """Feeds pieces of data to several hashers, using two cores for large pieces.

    pulpcore wants every digest in ``ALLOWED_CONTENT_CHECKSUMS`` (sha512 as well as sha256 by
    default), and sha512 alone takes longer than receiving and writing the data. hashlib
    releases the GIL while it hashes a large piece, so sha256 is computed in the receiving
    thread while a pool thread computes the others; the pool thread works on one piece while
    the next is received, so at most two pieces are held in memory.
    """

    def __init__(self, hashers):
        self.hashers = hashers
        self.here = [h for name, h in hashers.items() if name == "sha256"]
        self.elsewhere = [h for name, h in hashers.items() if name != "sha256"]
        self._pending = None

    def update(self, data):
        """Hash the next piece (call :meth:`wait` before reading the digests)."""
        self.wait()
        if len(data) >= PARALLEL_HASH_MIN and self.here and self.elsewhere:
            self._pending = _hash_pool.submit(_update_each, self.elsewhere, data)
            _update_each(self.here, data)
        else:
            _update_each(self.hashers.values(), data)

    def wait(self):
        """Wait until every piece given so far is hashed."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            pending.result()


def _hash_file(path, algorithms, limit=None):
    hashers = _new_hashers(algorithms)
    hashing = _Hashing(hashers)
    with open(path, "rb") as source:
        remaining = limit
        while True:
            size = READ_SIZE if remaining is None else min(READ_SIZE, remaining)
            if size == 0:
                break
            data = source.read(size)
            if not data:
                break
            hashing.update(data)
            if remaining is not None:
                remaining -= len(data)
    hashing.wait()
    return hashers


def read_pieces(read, length, piece_size=READ_SIZE):
    """Yield up to ``length`` bytes from ``read(n)`` in pieces of at most ``piece_size``,
    stopping early when the source ends."""
    while length > 0:
        data = read(min(piece_size, length))
        if not data:
            return
        length -= len(data)
        yield data


def declared_length(request):
    """The request's Content-Length as a number, or None when it has none.

    Raises:
        ValueError: the header is not a non-negative decimal number.
    """
    length = request.META.get("CONTENT_LENGTH")
    if length in (None, ""):
        return None
    if not (length.isascii() and length.isdigit()):
        raise ValueError(f"Content-Length is not a number: {length!r}")
    return int(length)


def request_chunks(request):
    """Yield the request body in pieces, whether it has a Content-Length or is chunked.

    Django reads nothing of a body without Content-Length (``Transfer-Encoding: chunked``, as
    podman and buildah send), so such a body is read from the WSGI input until it ends. A
    Content-Length that is not a number yields nothing (views refuse such requests).
    """
    try:
        length = declared_length(request)
    except ValueError:
        return
    if length is not None:
        yield from read_pieces(request.read, length)
        return
    stream = request.META.get("wsgi.input")
    if stream is None or "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return  # neither a length nor chunked encoding: the request has no body
    if getattr(request, "_registry_body_broken", False):
        return  # its framing already failed once; what follows is not a body
    while True:
        try:
            data = stream.read(READ_SIZE)
        except Exception as error:  # the server's parser refused the chunked framing
            request._registry_body_broken = True
            raise MalformedBody(f"the chunked request body is malformed: {error}") from error
        if not data:
            return
        yield data


class MalformedBody(Exception):
    """The request body's chunked framing is broken (views answer it with a 400)."""


class Received:
    """What an upload holds: its file, size and the digests of all its bytes.

    Attributes:
        path: the upload file.
        size: bytes in the file.
        digests: hex digest by algorithm.
    """

    def __init__(self, path, size, digests):
        self.path = Path(path)
        self.size = size
        self.digests = digests


def append(session_id, offset, chunks, known_digests=None):
    """Append chunks to an upload file at ``offset``, hashing them as they are written.

    Args:
        session_id: the upload session id (names the file and keys the running hashes).
        offset: bytes already in the file; the new data starts there.
        chunks: iterable of bytes.
        known_digests: digests recorded for the first ``offset`` bytes (only used to decide
            whether the running hashes of this process can be trusted).

    Returns:
        Received: the upload's new size and digests.
    """
    path = upload_path(session_id)
    key = str(session_id)
    with _running_lock:
        running = _running_hashes.pop(key, None)
    if running is None or running[0] != offset:
        hashers = _hash_file(path, _algorithms(), limit=offset) if offset else _new_hashers(
            _algorithms()
        )
    else:
        hashers = running[1]
    size = offset
    hashing = _Hashing(hashers)
    flags = os.O_WRONLY | os.O_CREAT
    fd = os.open(path, flags, 0o600)
    try:
        os.ftruncate(fd, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        for data in chunks:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            hashing.update(data)
            size += len(data)
    finally:
        os.close(fd)
        hashing.wait()
    digests = {name: hasher.copy().hexdigest() for name, hasher in hashers.items()}
    with _running_lock:
        _running_hashes[key] = (size, hashers)
    return Received(path, size, digests)


def digest_of(received, algorithm):
    """The digest of the whole upload with ``algorithm``, hashing the file only if needed."""
    if algorithm not in received.digests:
        received.digests[algorithm] = _hash_file(received.path, [algorithm])[algorithm].hexdigest()
    return received.digests[algorithm]


def discard_running(session_id):
    """Forget the running hashes of an upload that will not receive more data."""
    with _running_lock:
        _running_hashes.pop(str(session_id), None)


def discard(session_id):
    """Forget an upload: its file and its running hashes."""
    with _running_lock:
        _running_hashes.pop(str(session_id), None)
    try:
        upload_path(session_id).unlink()
    except FileNotFoundError:
        pass


class _UploadFile(File):
    """A finished upload file; pulpcore's storage moves files that expose their path."""

    def temporary_file_path(self):
        return self.name


def store_blob(received, digest):
    """Turn a verified upload into a stored blob (the file is moved into artifact storage).

    Callers run it in a transaction together with what else the request changes, so that the
    request costs one commit.

    Args:
        received: the upload; its file is consumed.
        digest: the blob's digest, already checked against the data.

    Returns:
        Blob: the blob, new or existing.
    """
    stored = ContentArtifact.objects.filter(content=OuterRef("pk"), artifact__isnull=False)
    blob = Blob.objects.filter(digest=digest).annotate(stored=Exists(stored)).first()
    if blob is not None and blob.stored:
        received.path.unlink(missing_ok=True)
        return blob
    fields = {name: received.digests[name] for name in Artifact.DIGEST_FIELDS}
    artifact = Artifact.objects.filter(sha256=fields["sha256"]).first()
    if artifact is None:
        artifact = Artifact(file=_UploadFile(open(received.path, "rb"), name=str(received.path)),
                            size=received.size, **fields)
        try:
            with transaction.atomic():
                artifact.save()
        except IntegrityError:
            artifact = Artifact.objects.get(sha256=fields["sha256"])
        finally:
            artifact.file.close()
    received.path.unlink(missing_ok=True)
    if blob is None:
        try:
            with transaction.atomic():
                blob = Blob.objects.create(digest=digest)
                ContentArtifact.objects.create(
                    content=blob, relative_path=digest, artifact=artifact
                )
            return blob
        except IntegrityError:
            blob = Blob.objects.get(digest=digest)  # stored at the same moment by another upload
    with transaction.atomic():
        ContentArtifact.objects.get_or_create(
            content=blob, relative_path=digest, defaults={"artifact": artifact}
        )
    return blob


def store_bytes(data, digest):
    """Store a blob given in memory (e.g. a config blob from an import)."""
    session_id = uuid.uuid4()
    received = append(session_id, 0, [data])
    discard_running(session_id)
    return store_blob(received, digest)
