"""Content types stored in registry repositories: blobs, manifests and tags.

Every content unit is unique by digest (tags by name and manifest) and is shared by all
repositories that hold it; a repository version lists which units a repository serves.
"""

from django.db import models

from pulpcore.plugin.models import Content
from pulpcore.plugin.util import get_domain_pk

from pulp_registry.app import media_types


class Blob(Content):
    """A layer or config blob, stored as a pulpcore artifact at ``relative_path`` = digest.

    Fields:
        digest: ``<algorithm>:<hex>`` as the client gave it (sha256 or sha512).
    """

    TYPE = "blob"
    PROTECTED_FROM_RECLAIM = False

    digest = models.CharField(max_length=255)
    _pulp_domain = models.ForeignKey("core.Domain", default=get_domain_pk, on_delete=models.PROTECT)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        unique_together = ("digest", "_pulp_domain")

    def __str__(self):
        return self.digest


class Manifest(Content):
    """An image manifest, manifest list or OCI index, kept as the exact bytes that were pushed.

    Fields:
        digest: digest of ``data``.
        media_type: the manifest's media type.
        schema_version: ``schemaVersion`` from the JSON.
        data: the exact pushed bytes, served byte for byte on pull.
        config_blob: the config blob of an image manifest (absent for lists and indexes).
        config_media_type: the config descriptor's media type.
        blobs: the layer blobs, in order (through ManifestBlob); foreign layers are not linked.
        listed_manifests: children of a list or index with their platform (ManifestListEntry).
        subject: digest of the manifest this one refers to (OCI referrers), if any.
        artifact_type: the manifest's ``artifactType``, if any.
        annotations: the manifest's ``annotations``.
    """

    TYPE = "manifest"
    PROTECTED_FROM_RECLAIM = False

    digest = models.CharField(max_length=255)
    _pulp_domain = models.ForeignKey("core.Domain", default=get_domain_pk, on_delete=models.PROTECT)
    media_type = models.CharField(max_length=255)
    schema_version = models.IntegerField(default=2)
    data = models.BinaryField()
    config_blob = models.ForeignKey(
        Blob, null=True, related_name="config_for", on_delete=models.PROTECT
    )
    config_media_type = models.CharField(max_length=255, null=True)
    blobs = models.ManyToManyField(Blob, through="ManifestBlob", related_name="layer_of")
    listed_manifests = models.ManyToManyField(
        "self", through="ManifestListEntry", symmetrical=False, related_name="listed_in"
    )
    subject = models.CharField(max_length=255, null=True, db_index=True)
    artifact_type = models.CharField(max_length=255, null=True)
    annotations = models.JSONField(default=dict)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        unique_together = ("digest", "_pulp_domain")

    def __str__(self):
        return self.digest

    @property
    def size(self):
        """The size in bytes of the stored manifest."""
        return len(self.data)

    @property
    def is_list(self):
        """True for a Docker manifest list or an OCI index."""
        return self.media_type in media_types.LIST_TYPES

    @property
    def referrer_artifact_type(self):
        """The ``artifactType`` reported for this manifest by the referrers API."""
        return self.artifact_type or self.config_media_type


class ManifestBlob(models.Model):
    """A layer blob of a manifest, with its position."""

    manifest = models.ForeignKey(Manifest, related_name="layer_links", on_delete=models.CASCADE)
    blob = models.ForeignKey(Blob, related_name="manifest_links", on_delete=models.PROTECT)
    position = models.PositiveIntegerField()

    class Meta:
        unique_together = ("manifest", "position")


class ManifestListEntry(models.Model):
    """A child manifest of a manifest list or OCI index, with its platform and position."""

    manifest_list = models.ForeignKey(
        Manifest, related_name="child_links", on_delete=models.CASCADE
    )
    manifest = models.ForeignKey(Manifest, related_name="parent_links", on_delete=models.PROTECT)
    platform = models.JSONField(null=True)
    position = models.PositiveIntegerField()

    class Meta:
        unique_together = ("manifest_list", "position")


class Tag(Content):
    """A tag name pointing at a manifest. In a repository version, a name appears at most once."""

    TYPE = "tag"
    PROTECTED_FROM_RECLAIM = False
    repo_key_fields = ("name",)

    name = models.CharField(max_length=128, db_index=True)
    _pulp_domain = models.ForeignKey("core.Domain", default=get_domain_pk, on_delete=models.PROTECT)
    tagged_manifest = models.ForeignKey(Manifest, related_name="tags", on_delete=models.CASCADE)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        unique_together = ("name", "tagged_manifest", "_pulp_domain")

    def __str__(self):
        return f"{self.name} -> {self.tagged_manifest_id}"
