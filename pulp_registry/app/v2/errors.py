"""The registry's error codes, one exception type each, and the one place that renders them.

Every /v2/ view raises a :class:`RegistryError` subclass; :func:`error_response` turns it into
the spec's body ``{"errors": [{"code", "message", "detail"}]}`` with the spec's status code.
"""

import json

from django.http import HttpResponse


class RegistryError(Exception):
    """Base class of the registry protocol's errors.

    Attributes:
        code: the spec's error code, e.g. ``BLOB_UNKNOWN``.
        status: the HTTP status code of the response.
        message: the spec's generic message for the code.
    """

    code = "UNKNOWN"
    status = 500
    message = "unknown error"

    def __init__(self, detail=None, *, message=None, headers=None):
        """Create an error.

        Args:
            detail: free-form detail for the client (string or JSON-serialisable value).
            message: overrides the code's generic message with a more precise one.
            headers: extra response headers, e.g. ``WWW-Authenticate`` or ``Range``.
        """
        super().__init__(message or self.message)
        self.detail = detail
        if message:
            self.message = message
        self.headers = headers or {}

    def as_dict(self):
        """The error as one entry of the spec's ``errors`` list."""
        return {"code": self.code, "message": self.message, "detail": self.detail}


class BlobUnknown(RegistryError):
    code, status, message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(RegistryError):
    code, status, message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobTooLarge(BlobUploadInvalid):
    """An upload that would grow past ``REGISTRY_MAX_BLOB_SIZE``.

    413 Payload Too Large is HTTP's status for a request body larger than the server accepts;
    the spec has no code of its own for it, and BLOB_UPLOAD_INVALID ("the blob upload
    encountered an error and can no longer proceed") is the code for an upload that cannot go
    on. The chunk is refused; the upload keeps what it held before.
    """

    status = 413
    message = "blob too large"


class BlobUploadUnknown(RegistryError):
    code, status, message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class DigestInvalid(RegistryError):
    code, status, message = (
        "DIGEST_INVALID",
        400,
        "provided digest did not match uploaded content",
    )


class ManifestBlobUnknown(RegistryError):
    code, status, message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a manifest or blob unknown to registry",
    )


class ManifestInvalid(RegistryError):
    code, status, message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestTooLarge(ManifestInvalid):
    """A manifest over the size limit (the spec allows 413 for it)."""

    status = 413
    message = "manifest too large"


class ManifestUnknown(RegistryError):
    code, status, message = "MANIFEST_UNKNOWN", 404, "manifest unknown to registry"


class NameInvalid(RegistryError):
    code, status, message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(RegistryError):
    code, status, message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(RegistryError):
    code, status, message = "SIZE_INVALID", 400, "provided length did not match content length"


class Unauthorized(RegistryError):
    code, status, message = "UNAUTHORIZED", 401, "authentication required"


class Denied(RegistryError):
    code, status, message = "DENIED", 403, "requested access to the resource is denied"


class Unsupported(RegistryError):
    code, status, message = "UNSUPPORTED", 405, "the operation is unsupported"


class EndpointUnknown(Unsupported):
    """A /v2/ path that is no endpoint of the API (e.g. a digest holding a slash)."""

    status = 404
    message = "no such endpoint in the registry API"


class Unavailable(RegistryError):
    """The server cannot answer because of its own configuration (e.g. broken token keys)."""

    code, status, message = "UNAVAILABLE", 503, "service unavailable"


class TooManyRequests(RegistryError):
    code, status, message = "TOOMANYREQUESTS", 429, "too many requests"


class RangeInvalid(BlobUploadInvalid):
    """A chunk that does not continue the upload where it stands (416 per the spec)."""

    status = 416
    message = "requested range not satisfiable"


class BlobRangeNotSatisfiable(BlobUnknown):
    """A ``Range`` on a blob GET that lies outside the blob (416, with ``Content-Range``)."""

    status = 416
    message = "requested range not satisfiable"


class PaginationInvalid(RegistryError):
    """An ``n`` that is not a non-negative number on a tags list or the catalog."""

    code, status, message = "PAGINATION_NUMBER_INVALID", 400, "invalid number of results requested"


def error_response(error, method="GET"):
    """Render a :class:`RegistryError` as the spec's JSON error response.

    Args:
        error: the raised error.
        method: the request's method; the answer to a HEAD request has the headers of the
            body (type and length) but not the body itself.

    Returns:
        django.http.HttpResponse: the response with the error's status and headers.
    """
    body = json.dumps({"errors": [error.as_dict()]}).encode()
    response = HttpResponse(
        b"" if method == "HEAD" else body, status=error.status, content_type="application/json"
    )
    response["Content-Length"] = str(len(body))
    for header, value in error.headers.items():
        response[header] = value
    return response
