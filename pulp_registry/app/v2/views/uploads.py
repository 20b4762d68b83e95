"""Blob uploads: ``POST /v2/<name>/blobs/uploads/`` (open, monolithic, mount) and
``GET``/``PATCH``/``PUT``/``DELETE /v2/<name>/blobs/uploads/<uuid>``."""

import os
import re
import uuid
from contextlib import contextmanager

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Q

from pulpcore.plugin.models import RepositoryContent

from pulp_registry.app import access, blob_storage, push, serving
from pulp_registry.app.models import (
    Blob,
    RegistryDistribution,
    RegistryPushRepository,
    UploadSession,
)
from pulp_registry.app.v2.auth import authorize, identify
from pulp_registry.app.v2.errors import (
    BlobTooLarge,
    BlobUploadInvalid,
    BlobUploadUnknown,
    DigestInvalid,
    RangeInvalid,
    RegistryError,
    SizeInvalid,
)
from pulp_registry.app.v2.names import NAME_RE, parse_digest
from pulp_registry.app.v2.views.base import RegistryView, empty_response, push_repository

_CONTENT_RANGE_RE = re.compile(r"^(?:bytes[ =])?(\d+)-(\d+)(?:/(\d+|\*))?$")
# How many candidate repositories an automatic mount (no usable ``from``) looks at.
_AUTO_MOUNT_CANDIDATES = 20
# First key of the PostgreSQL advisory locks held while a request writes to an upload session
# (two-key advisory locks are a key space of their own, apart from pulpcore's one-key locks).
_UPLOAD_LOCK_SPACE = 0x52474955


def _range_header(size):
    return f"0-{max(size - 1, 0)}"


def _session_headers(name, session):
    return {
        "Location": f"/v2/{name}/blobs/uploads/{session.pk}",
        "Range": _range_header(session.size),
        "Docker-Upload-UUID": str(session.pk),
    }


def _blob_created(name, digest):
    return empty_response(
        201, {"Location": f"/v2/{name}/blobs/{digest}", "Docker-Content-Digest": digest}
    )


def _expected_digest(request):
    digest = request.GET.get("digest")
    if not digest:
        raise DigestInvalid(message="the digest query parameter is required to complete an upload")
    try:
        algorithm, _ = parse_digest(digest)
    except ValueError as error:
        raise DigestInvalid({"digest": digest}, message=str(error))
    return digest, algorithm


def _verify_and_store(received, digest, algorithm):
    """Check the received bytes against the client's digest and store them as a blob."""
    actual = f"{algorithm}:{blob_storage.digest_of(received, algorithm)}"
    if actual != digest:
        received.path.unlink(missing_ok=True)
        raise DigestInvalid({"expected": digest, "computed": actual})
    return blob_storage.store_blob(received, digest)


def body_length(request):
    """The request's Content-Length (None when it has none).

    Raises:
        SizeInvalid: the Content-Length is not a non-negative decimal number.
    """
    try:
        return blob_storage.declared_length(request)
    except ValueError:
        raise SizeInvalid(
            {"Content-Length": request.META.get("CONTENT_LENGTH")},
            message="Content-Length is not a number",
        )


def max_blob_size():
    """``REGISTRY_MAX_BLOB_SIZE`` in bytes, or None when blobs may be of any size."""
    limit = getattr(settings, "REGISTRY_MAX_BLOB_SIZE", None)
    return int(limit) if limit else None


def _refuse_over_limit(size):
    limit = max_blob_size()
    if limit is not None and size > limit:
        raise BlobTooLarge({"size_at_least": size, "limit": limit})


def _within_limit(chunks, offset):
    """Pass the chunks on while the upload stays within the size limit."""
    size = offset
    for chunk in chunks:
        size += len(chunk)
        _refuse_over_limit(size)
        yield chunk


def _receive_body(request, session_id, offset):
    """Append the request body to an upload file at ``offset``.

    The body must match its Content-Length and keep the upload within the size limit; if it
    does not, the file is cut back to ``offset``, so a refused chunk leaves nothing behind.
    """
    length = body_length(request)
    if length is not None:
        _refuse_over_limit(offset + length)
    chunks = _within_limit(blob_storage.request_chunks(request), offset)
    try:
        try:
            received = blob_storage.append(session_id, offset, chunks)
        except blob_storage.MalformedBody as error:
            raise BlobUploadInvalid({"reason": str(error)})
        if length is not None and received.size - offset != length:
            raise SizeInvalid({"expected": length, "received": received.size - offset})
    except RegistryError:
        blob_storage.discard_running(session_id)
        try:
            os.truncate(blob_storage.upload_path(session_id), offset)
        except FileNotFoundError:
            pass
        raise
    return received


def _offset(digits):
    """A byte offset from a header; past 18 digits it is beyond any blob, and Python refuses
    to convert numbers of thousands of digits at all."""
    return int(digits) if len(digits) <= 18 else 10**18


def _chunk_start(request, current_size):
    """Check ``Content-Range``/``Content-Length`` of a chunk against the upload's size."""
    header = request.META.get("HTTP_CONTENT_RANGE")
    if not header:
        return
    match = _CONTENT_RANGE_RE.match(header.strip())
    if not match:
        raise RangeInvalid(
            {"Content-Range": header}, headers={"Range": _range_header(current_size)}
        )
    start, end = _offset(match.group(1)), _offset(match.group(2))
    total = match.group(3)
    if start != current_size or end < start or (total not in (None, "*") and end >= _offset(total)):
        raise RangeInvalid(
            {"Content-Range": header, "expected_start": current_size},
            message="chunk does not start where the upload stands",
            headers={"Range": _range_header(current_size)},
        )
    length = body_length(request)
    if length is not None and length != end - start + 1:
        raise RangeInvalid(
            {"Content-Range": header, "Content-Length": length},
            message="Content-Length does not match Content-Range",
            headers={"Range": _range_header(current_size)},
        )


def _receive(request, session):
    """Append the request body to a session's file; refuse a concurrent or short write."""
    offset = session.size
    received = _receive_body(request, session.pk, offset)
    updated = UploadSession.objects.filter(pk=session.pk, size=offset).update(
        size=received.size, digests=received.digests
    )
    if not updated:
        raise RangeInvalid(
            message="the upload changed while this chunk was written",
            headers={"Range": _range_header(offset)},
        )
    session.size = received.size
    session.digests = received.digests
    return received


@contextmanager
def _writing(session):
    """Let one request at a time append to or finish an upload session.

    Two requests on one session at once (a client retrying a chunk whose answer it has not
    seen) would write into one file together, and the stored blob could then hold bytes other
    than those its digest was computed from. The second request is refused with RANGE_INVALID
    at once; the session's size and digests are read again once the lock is held, since another
    request may have changed them after this one first read the session.

    Raises:
        RangeInvalid: another request is writing to the session.
        BlobUploadUnknown: the session ended meanwhile.
    """
    key = (_UPLOAD_LOCK_SPACE, session.pk.int % (1 << 31))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
        locked = cursor.fetchone()[0]
    if not locked:
        raise RangeInvalid(
            {"uuid": str(session.pk)},
            message="another request is writing to this upload",
            headers={"Range": _range_header(session.size)},
        )
    try:
        current = UploadSession.objects.filter(pk=session.pk).values_list("size", "digests")
        current = current.first()
        if current is None:
            raise BlobUploadUnknown({"uuid": str(session.pk)})
        session.size, session.digests = current
        yield session
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
        except DatabaseError:
            pass  # the connection broke, and its advisory locks ended with it


class UploadStartView(RegistryView):
    """Open an upload session, upload a whole blob at once, or mount one."""

    def post(self, request, name):
        authorize(request, name, "pull", "push")
        # Bad input is refused before push_repository, which creates the repository of a
        # first push.
        expected = _expected_digest(request) if "digest" in request.GET else None
        length = body_length(request)
        if expected is not None and length is not None:
            _refuse_over_limit(length)
        repository = push_repository(request, name)
        mount = request.GET.get("mount")
        if mount:
            blob = self._mount(request, mount, request.GET.get("from"))
            if blob is not None:
                push.link_uploaded_blob(repository, blob)
                return _blob_created(name, mount)
        if expected is not None:
            digest, algorithm = expected
            session_id = uuid.uuid4()
            try:
                received = _receive_body(request, session_id, 0)
            except RegistryError:
                blob_storage.discard(session_id)
                raise
            blob_storage.discard_running(session_id)
            with transaction.atomic():
                blob = _verify_and_store(received, digest, algorithm)
                push.link_uploaded_blob(repository, blob)
            return _blob_created(name, digest)
        session = UploadSession.objects.create(repository=repository)
        return empty_response(202, _session_headers(name, session))

    def _mount(self, request, digest, source_name):
        """Find a readable copy of the blob to mount, or None (then a normal upload follows).

        A source the caller may not read is treated exactly like one without the blob.
        """
        try:
            parse_digest(digest)
        except ValueError:
            return None
        identity = identify(request)
        if source_name and NAME_RE.match(source_name):
            if self._may_pull(identity, source_name):
                source = serving.resolve(source_name)
                if source is not None and source.repository is not None:
                    blob = source.blob(digest)
                    if blob is not None:
                        return blob
            return None
        blob = Blob.objects.filter(digest=digest).first()
        if blob is None:
            return None
        repository_ids = RepositoryContent.objects.filter(
            content=blob, version_removed__isnull=True
        ).values("repository_id")
        pending_in = RegistryPushRepository.objects.filter(pending_blobs=blob).values("pk")
        candidates = RegistryDistribution.objects.filter(
            Q(repository__in=repository_ids) | Q(repository__in=pending_in)
        ).values_list("base_path", flat=True)[:_AUTO_MOUNT_CANDIDATES]
        for candidate in candidates:
            if access.allowed_actions(identity.user, candidate, {"pull"}):
                return blob
        return None

    @staticmethod
    def _may_pull(identity, name):
        if identity.token is not None:
            return identity.token.allows("repository", name, "pull")
        return bool(access.allowed_actions(identity.user, name, {"pull"}))


class UploadView(RegistryView):
    """An open upload session."""

    def _session(self, request, name, session_id):
        repository = push_repository(request, name)
        try:
            session_uuid = uuid.UUID(session_id)
        except ValueError:
            raise BlobUploadUnknown({"uuid": session_id})
        session = UploadSession.objects.filter(pk=session_uuid, repository=repository).first()
        if session is None:
            raise BlobUploadUnknown({"uuid": session_id})
        return repository, session

    def get(self, request, name, session_id):
        _, session = self._session(request, name, session_id)
        return empty_response(204, _session_headers(name, session))

    head = get

    def patch(self, request, name, session_id):
        _, session = self._session(request, name, session_id)
        with _writing(session):
            _chunk_start(request, session.size)
            _receive(request, session)
        return empty_response(202, _session_headers(name, session))

    def put(self, request, name, session_id):
        repository, session = self._session(request, name, session_id)
        digest, algorithm = _expected_digest(request)
        with _writing(session):
            return self._finish(request, name, repository, session, digest, algorithm)

    def _finish(self, request, name, repository, session, digest, algorithm):
        has_body = (body_length(request) or 0) > 0 or (
            "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        )
        # A Content-Range is checked even without a body: a range names at least one byte.
        _chunk_start(request, session.size)
        if has_body:
            received = _receive(request, session)
        else:
            received = blob_storage.Received(
                blob_storage.upload_path(session.pk), session.size, dict(session.digests)
            )
            if session.size == 0:
                received = blob_storage.append(session.pk, 0, [])
        session_id = session.pk
        try:
            # One transaction (one commit, which costs a disk flush) for the blob, its
            # artifact, its place among the pending blobs and the end of the session.
            with transaction.atomic():
                blob = _verify_and_store(received, digest, algorithm)
                push.link_uploaded_blob(repository, blob)
                session.delete()
        except BaseException:
            blob_storage.discard(session_id)
            UploadSession.objects.filter(pk=session_id).delete()
            raise
        blob_storage.discard(session_id)
        return _blob_created(name, digest)

    def delete(self, request, name, session_id):
        _, session = self._session(request, name, session_id)
        blob_storage.discard(session.pk)
        session.delete()
        return empty_response(204)
