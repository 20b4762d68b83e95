"""``HEAD``/``GET``/``PUT``/``DELETE /v2/<name>/manifests/<reference>``."""

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse

from pulp_registry.app import blob_storage, push
from pulp_registry.app.manifests import resolve_references, save_manifest
from pulp_registry.app.v2.auth import authorize
from pulp_registry.app.v2.errors import (
    DigestInvalid,
    ManifestInvalid,
    ManifestTooLarge,
    ManifestUnknown,
)
from pulp_registry.app.v2.manifest_parser import parse_manifest
from pulp_registry.app.v2.names import is_digest, is_tag, parse_digest
from pulp_registry.app.v2.views.base import (
    RegistryView,
    empty_response,
    modifiable_or_405,
    push_served,
    served_or_404,
)
from pulp_registry.app.v2.views.uploads import body_length


def _check_reference(reference):
    if is_digest(reference):
        try:
            return parse_digest(reference)[0]
        except ValueError as error:
            raise DigestInvalid({"reference": reference}, message=str(error))
    if not is_tag(reference):
        raise ManifestInvalid(
            {"reference": reference}, message="the reference is neither a valid tag nor a digest"
        )
    return None


def _accepted_types(request):
    """Media types listed in the request's Accept headers (Go clients send several)."""
    header = request.META.get("HTTP_ACCEPT", "")
    return {part.split(";", 1)[0].strip() for part in header.split(",") if part.strip()}


def _read_body(request):
    limit = int(settings.REGISTRY_MAX_MANIFEST_SIZE)
    length = body_length(request)
    if length is not None and length > limit:
        raise ManifestTooLarge({"size": length, "limit": limit})
    data = bytearray()
    try:
        for chunk in blob_storage.request_chunks(request):
            data += chunk
            if len(data) > limit:
                raise ManifestTooLarge({"limit": limit})
    except blob_storage.MalformedBody as error:
        raise ManifestInvalid({"reason": str(error)})
    return bytes(data)


class ManifestView(RegistryView):
    """Manifests of the served repository, by tag or digest."""

    def _find(self, request, name, reference):
        authorize(request, name, "pull")
        algorithm = _check_reference(reference)
        served = served_or_404(name)
        manifest = served.manifest(reference)
        if manifest is None:
            raise ManifestUnknown({"reference": reference})
        accepted = _accepted_types(request)
        # A digest names exact bytes, so Accept only narrows what a tag may resolve to.
        if algorithm is None and accepted and not accepted & {manifest.media_type, "*/*"}:
            raise ManifestUnknown(
                {"reference": reference, "mediaType": manifest.media_type},
                message="the manifest's media type is not among the accepted types",
            )
        return manifest

    @staticmethod
    def _headers(manifest):
        headers = {
            "Content-Type": manifest.media_type,
            "Docker-Content-Digest": manifest.digest,
            "Content-Length": str(len(manifest.data)),
            "ETag": f'"{manifest.digest}"',
        }
        return headers

    def head(self, request, name, reference):
        manifest = self._find(request, name, reference)
        return empty_response(200, self._headers(manifest))

    def get(self, request, name, reference):
        manifest = self._find(request, name, reference)
        response = HttpResponse(bytes(manifest.data), content_type=manifest.media_type)
        for header, value in self._headers(manifest).items():
            response[header] = value
        return response

    def put(self, request, name, reference):
        algorithm = _check_reference(reference)
        # The manifest is checked before push_served, which creates the repository of a
        # first push: a refused manifest must leave nothing behind.
        authorize(request, name, "pull", "push")
        data = _read_body(request)
        parsed = parse_manifest(
            data, request.META.get("CONTENT_TYPE"), digest_algorithm=algorithm or "sha256"
        )
        if algorithm is not None and parsed.digest != reference:
            raise DigestInvalid(
                {"reference": reference, "computed": parsed.digest},
                message="the manifest's digest does not match the reference it was pushed to",
            )
        served = push_served(request, name)
        blobs, children = resolve_references(parsed, served)
        # One transaction: each commit costs a disk flush, more than the rest of the request.
        with transaction.atomic():
            manifest = save_manifest(parsed, blobs, children)
            push.add_manifest(
                served.repository_to_lock(),
                manifest,
                tag_name=None if algorithm else reference,
                blob_ids=[blob.pk for blob in blobs.values()],
            )
        headers = {
            "Location": f"/v2/{name}/manifests/{manifest.digest}",
            "Docker-Content-Digest": manifest.digest,
        }
        if manifest.subject:
            headers["OCI-Subject"] = manifest.subject
        return empty_response(201, headers)

    def delete(self, request, name, reference):
        authorize(request, name, "delete")
        algorithm = _check_reference(reference)
        served = modifiable_or_405(served_or_404(name))
        if served.version is None:
            raise ManifestUnknown({"reference": reference})
        if algorithm is None:
            tag = served.tag(reference)
            if tag is None:
                raise ManifestUnknown({"reference": reference})
            push.remove_content(served.repository, [tag.pk])
            return empty_response(202)
        manifest = served.manifest_by_digest(reference)
        if manifest is None:
            raise ManifestUnknown({"reference": reference})
        push.remove_manifest(served.repository, manifest)
        return empty_response(202)

