"""``HEAD``/``GET``/``DELETE /v2/<name>/blobs/<digest>``."""

import os
import re

from django.http import FileResponse, StreamingHttpResponse

from pulpcore.plugin.models import Artifact

from pulp_registry.app import blob_storage, push, serving
from pulp_registry.app.v2.auth import authorize
from pulp_registry.app.v2.errors import BlobRangeNotSatisfiable, BlobUnknown, DigestInvalid
from pulp_registry.app.v2.names import parse_digest
from pulp_registry.app.v2.views.base import (
    RegistryView,
    empty_response,
    modifiable_or_405,
    served_or_404,
)

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")
_STREAM_PIECE = 1024 * 1024


def check_digest(digest):
    """Refuse a malformed or unsupported digest with DIGEST_INVALID."""
    try:
        parse_digest(digest)
    except ValueError as error:
        raise DigestInvalid({"digest": digest}, message=str(error))


def _artifact(blob):
    """The artifact of a :class:`~pulp_registry.app.serving.StoredBlob` that has one.

    An unsaved Artifact resolves the stored name to a path through pulpcore's storage.
    """
    return Artifact(file=blob.artifact_file, size=blob.artifact_size)


def _parse_range(header, size):
    match = _RANGE_RE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    # Past 18 digits a number is beyond any blob (and Python will not convert thousands).
    start, end = (None if g == "" else int(g) if len(g) <= 18 else 10**18 for g in match.groups())
    if start is None:
        start, end = max(size - end, 0), size - 1
    else:
        end = size - 1 if end is None else end
    if start >= size or end < start:
        raise BlobRangeNotSatisfiable(headers={"Content-Range": f"bytes */{size}"})
    return start, min(end, size - 1)


def _file_piece(path, start, length):
    with open(path, "rb") as source:
        source.seek(start)
        yield from blob_storage.read_pieces(source.read, length, _STREAM_PIECE)


class BlobView(RegistryView):
    """Blobs of the served repository (or pending in the push repository)."""

    def _find(self, request, name, digest):
        authorize(request, name, "pull")
        check_digest(digest)
        blob = serving.stored_blob_by_name(name, digest)
        if blob is None:
            served_or_404(name)  # NAME_UNKNOWN, if that is why
        if blob is None or blob.artifact_file is None:
            raise BlobUnknown({"digest": digest})
        return blob

    def head(self, request, name, digest):
        blob = self._find(request, name, digest)
        # The size is all a HEAD needs: no Artifact, whose construction looks up the domain.
        size = blob.artifact_size
        return empty_response(
            200,
            {
                "Content-Length": str(size),
                "Content-Type": "application/octet-stream",
                "Docker-Content-Digest": digest,
                "Accept-Ranges": "bytes",
            },
        )

    def get(self, request, name, digest):
        blob = self._find(request, name, digest)
        artifact = _artifact(blob)
        path = artifact.file.path
        if not os.path.exists(path):
            raise BlobUnknown({"digest": digest}, message="blob data is missing from storage")
        requested = request.META.get("HTTP_RANGE")
        byte_range = _parse_range(requested, artifact.size) if requested else None
        if byte_range is None:
            # FileResponse lets gunicorn send the file with sendfile(2).
            response = FileResponse(open(path, "rb"), content_type="application/octet-stream")
            response["Content-Length"] = str(artifact.size)
        else:
            start, end = byte_range
            response = StreamingHttpResponse(
                _file_piece(path, start, end - start + 1),
                status=206,
                content_type="application/octet-stream",
            )
            response["Content-Range"] = f"bytes {start}-{end}/{artifact.size}"
            response["Content-Length"] = str(end - start + 1)
        response["Docker-Content-Digest"] = digest
        response["Accept-Ranges"] = "bytes"
        response["Cache-Control"] = "max-age=31536000"
        return response

    def delete(self, request, name, digest):
        authorize(request, name, "delete")
        check_digest(digest)
        served = modifiable_or_405(served_or_404(name))
        blob = served.blob(digest)
        if blob is None:
            raise BlobUnknown({"digest": digest})
        if served.is_push:
            served.repository.pending_blobs.remove(blob)
        push.remove_content(served.repository, [blob.pk])
        return empty_response(202, {"Docker-Content-Digest": digest})
