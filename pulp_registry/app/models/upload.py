"""In-progress blob uploads of the /v2/ protocol."""

from django.db import models

from pulpcore.plugin.models import BaseModel


class UploadSession(BaseModel):
    """A blob upload session opened by ``POST /v2/<name>/blobs/uploads/``.

    The bytes received so far are kept in a file under the upload directory (on the same
    filesystem as artifact storage, so completing the upload moves the file instead of copying
    it). ``pulp_id`` is the session's UUID as shown to clients.

    Fields:
        repository: the push repository the blob is uploaded into.
        size: number of bytes received so far.
        digests: hex digests (by algorithm) of the bytes received so far, recorded after each
            chunk so that completing the upload needs no second read of the data.
    """

    repository = models.ForeignKey(
        "registry.RegistryPushRepository", related_name="upload_sessions", on_delete=models.CASCADE
    )
    size = models.BigIntegerField(default=0)
    digests = models.JSONField(default=dict)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
