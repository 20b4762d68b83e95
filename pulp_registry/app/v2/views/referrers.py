"""``GET /v2/<name>/referrers/<digest>``: the manifests whose ``subject`` is a digest."""

import json

from django.http import HttpResponse

from pulp_registry.app import media_types
from pulp_registry.app.v2.auth import authorize
from pulp_registry.app.v2.views.base import RegistryView, served_or_404
from pulp_registry.app.v2.views.blobs import check_digest


def referrer_descriptor(manifest):
    """The descriptor of a referrer as listed in the referrers index."""
    descriptor = {
        "mediaType": manifest.media_type,
        "digest": manifest.digest,
        "size": len(manifest.data),
    }
    if manifest.referrer_artifact_type:
        descriptor["artifactType"] = manifest.referrer_artifact_type
    if manifest.annotations:
        descriptor["annotations"] = manifest.annotations
    return descriptor


class ReferrersView(RegistryView):
    """An OCI index of the referrers, filtered by ``artifactType`` when asked."""

    def get(self, request, name, digest):
        authorize(request, name, "pull")
        check_digest(digest)
        served = served_or_404(name)
        referrers = served.referrers(digest)
        artifact_type = request.GET.get("artifactType")
        descriptors = [referrer_descriptor(m) for m in referrers]
        if artifact_type:
            descriptors = [d for d in descriptors if d.get("artifactType") == artifact_type]
        index = {
            "schemaVersion": 2,
            "mediaType": media_types.OCI_INDEX,
            "manifests": descriptors,
        }
        response = HttpResponse(json.dumps(index), content_type=media_types.OCI_INDEX)
        if artifact_type:
            response["OCI-Filters-Applied"] = "artifactType"
        return response
