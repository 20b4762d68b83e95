"""Serializers of the Pulp REST API for registry content, repositories, distributions and
namespaces."""

from django.db import transaction
from rest_framework import serializers

from pulpcore.plugin.serializers import (
    DetailRelatedField,
    DistributionSerializer,
    IdentityField,
    ModelSerializer,
    NoArtifactContentSerializer,
    RelatedField,
    RepositorySerializer,
    SingleArtifactContentSerializer,
)

from pulp_registry.app import models
from pulp_registry.app.v2.names import NAME_RE


class BlobSerializer(SingleArtifactContentSerializer):
    """A layer or config blob."""

    digest = serializers.CharField(read_only=True, help_text="The blob's digest.")

    class Meta:
        fields = SingleArtifactContentSerializer.Meta.fields + ("digest",)
        model = models.Blob


class ManifestSerializer(NoArtifactContentSerializer):
    """An image manifest, manifest list or OCI index."""

    digest = serializers.CharField(read_only=True)
    media_type = serializers.CharField(read_only=True)
    schema_version = serializers.IntegerField(read_only=True)
    config_blob = DetailRelatedField(
        read_only=True, view_name="registry-blobs-detail", allow_null=True
    )
    blobs = DetailRelatedField(many=True, read_only=True, view_name="registry-blobs-detail")
    listed_manifests = DetailRelatedField(
        many=True, read_only=True, view_name="registry-manifests-detail"
    )
    subject = serializers.CharField(read_only=True, allow_null=True)
    artifact_type = serializers.CharField(read_only=True, allow_null=True)
    annotations = serializers.JSONField(read_only=True)
    size = serializers.IntegerField(read_only=True, help_text="Size of the manifest in bytes.")

    class Meta:
        fields = NoArtifactContentSerializer.Meta.fields + (
            "digest",
            "media_type",
            "schema_version",
            "config_blob",
            "blobs",
            "listed_manifests",
            "subject",
            "artifact_type",
            "annotations",
            "size",
        )
        model = models.Manifest


class TagSerializer(NoArtifactContentSerializer):
    """A tag name pointing at a manifest."""

    name = serializers.CharField(read_only=True)
    tagged_manifest = DetailRelatedField(read_only=True, view_name="registry-manifests-detail")
    digest = serializers.CharField(
        source="tagged_manifest.digest", read_only=True, help_text="Digest of the manifest."
    )

    class Meta:
        fields = NoArtifactContentSerializer.Meta.fields + ("name", "tagged_manifest", "digest")
        model = models.Tag


class RegistryRepositorySerializer(RepositorySerializer):
    """A regular repository, whose content is managed through the REST API."""

    class Meta:
        fields = RepositorySerializer.Meta.fields
        model = models.RegistryRepository


class RegistryPushRepositorySerializer(RepositorySerializer):
    """A repository created by a push; it serves its latest version."""

    class Meta:
        fields = RepositorySerializer.Meta.fields
        model = models.RegistryPushRepository


class NamespaceSerializer(ModelSerializer):
    """A namespace: the first segment of image names, owning their distributions."""

    pulp_href = IdentityField(view_name="pulp_registry/namespaces-detail")
    name = serializers.RegexField(
        regex=r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$",
        max_length=255,
        help_text="The namespace, e.g. 'test' for images named 'test/...'.",
    )

    class Meta:
        fields = ModelSerializer.Meta.fields + ("name",)
        model = models.Namespace


class RegistryDistributionSerializer(DistributionSerializer):
    """Serves a repository (its latest version) or a repository version at an image name."""

    base_path = serializers.CharField(
        help_text="The image name the content is served at, e.g. 'test/this'."
    )
    namespace = RelatedField(
        read_only=True,
        view_name="pulp_registry/namespaces-detail",
        help_text="The namespace (first segment of base_path), created when needed.",
    )
    private = serializers.BooleanField(
        default=False, help_text="Only users with pull permission on the namespace may read it."
    )
    description = serializers.CharField(
        required=False, allow_null=True, allow_blank=True, help_text="Free text."
    )
    registry_path = serializers.SerializerMethodField(
        help_text="The name to pull from, e.g. 'registry.example.com/test/this'."
    )

    class Meta:
        fields = tuple(
            f for f in DistributionSerializer.Meta.fields if f not in ("publication",)
        ) + ("namespace", "private", "description", "registry_path")
        model = models.RegistryDistribution

    def get_registry_path(self, obj) -> str:
        request = self.context.get("request")
        host = request.get_host() if request is not None else ""
        return f"{host}/{obj.base_path}" if host else obj.base_path

    def validate_base_path(self, value):
        if len(value) > 255 or not NAME_RE.match(value):
            raise serializers.ValidationError(
                "base_path must be a valid image name: lower-case components of letters and "
                "digits, separated by '.', '_', '__' or '-', joined by '/'"
            )
        return value

    def validate(self, data):
        data = super().validate(data)
        if "repository" in data and data["repository"] is not None:
            if not isinstance(
                data["repository"].cast(),
                (models.RegistryRepository, models.RegistryPushRepository),
            ):
                raise serializers.ValidationError({"repository": "not a registry repository"})
        return data

    def create(self, validated_data):
        from pulp_registry.app.push import get_or_create_namespace

        with transaction.atomic():
            validated_data["namespace"] = get_or_create_namespace(validated_data["base_path"])
            return super().create(validated_data)

    def update(self, instance, validated_data):
        from pulp_registry.app.push import get_or_create_namespace

        if "base_path" in validated_data:
            validated_data["namespace"] = get_or_create_namespace(validated_data["base_path"])
        return super().update(instance, validated_data)


# --- operations
# Request bodies of the repository operations (tag, untag, remove_image, copy_tags,
# copy_manifests). Each operation answers 202 with the href of the task that makes the new
# repository version.

from pulpcore.plugin.models import Repository as _Repository  # noqa: E402
from pulpcore.plugin.serializers import (  # noqa: E402
    RepositoryVersionRelatedField,
    ValidateFieldsMixin,
)

from pulp_registry.app.media_types import MANIFEST_TYPES  # noqa: E402
from pulp_registry.app.v2.names import TAG_RE, parse_digest  # noqa: E402


class _TagField(serializers.RegexField):
    """A tag name as /v2/ accepts it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "A tag name, e.g. 'latest' or 'v1.2'.")
        super().__init__(
            regex=TAG_RE,
            max_length=128,
            error_messages={
                "invalid": "A tag is up to 128 letters, digits, '_', '.' and '-', not starting "
                "with '.' or '-'."
            },
            **kwargs,
        )


class _DigestField(serializers.CharField):
    """A manifest digest: ``sha256:<64 hex>`` or ``sha512:<128 hex>``."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "A manifest digest, e.g. 'sha256:6c3c62...'.")
        super().__init__(max_length=255, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            parse_digest(value)
        except ValueError as error:
            raise serializers.ValidationError(str(error))
        return value


class TagImageSerializer(ValidateFieldsMixin, serializers.Serializer):
    """Point a tag at a manifest of the repository (moving the tag if it exists)."""

    class Meta:
        ref_name = "registry.TagImage"

    tag = _TagField()
    digest = _DigestField(help_text="Digest of a manifest in the repository's latest version.")


class UntagImageSerializer(ValidateFieldsMixin, serializers.Serializer):
    """Remove a tag from the repository; the manifest stays."""

    class Meta:
        ref_name = "registry.UntagImage"

    tag = _TagField(help_text="The tag to remove.")


class RemoveImageSerializer(ValidateFieldsMixin, serializers.Serializer):
    """Remove a manifest with its tags, and the blobs and child manifests nothing else uses."""

    class Meta:
        ref_name = "registry.RemoveImage"

    digest = _DigestField(help_text="Digest of the manifest (image, list or index) to remove.")


class _CopySourceSerializer(ValidateFieldsMixin, serializers.Serializer):
    """The repository (latest version) or repository version to copy from."""

    source_repository = DetailRelatedField(
        required=False,
        queryset=_Repository.objects.all(),
        view_name_pattern=r"repositories(-.*/.*)-detail",
        help_text="A registry repository (push or regular) whose latest version is copied from.",
    )
    source_repository_version = RepositoryVersionRelatedField(
        required=False,
        help_text="A version of a registry repository to copy from (instead of "
        "source_repository).",
    )

    def validate(self, data):
        data = super().validate(data)
        repository = data.get("source_repository")
        version = data.get("source_repository_version")
        if (repository is None) == (version is None):
            raise serializers.ValidationError(
                "Give exactly one of source_repository and source_repository_version."
            )
        if version is not None:
            repository = version.repository.cast()
        if not isinstance(repository, (models.RegistryRepository, models.RegistryPushRepository)):
            raise serializers.ValidationError("The source must be a registry repository.")
        if version is None:
            version = repository.latest_version()
        if version is None or not version.complete:
            raise serializers.ValidationError("The source repository version is not complete.")
        data["source_repository"] = repository
        data["source_version"] = version
        return data


class CopyTagsSerializer(_CopySourceSerializer):
    """Copy tags, with their manifests, child manifests and blobs, into this repository."""

    class Meta:
        ref_name = "registry.CopyTags"

    names = serializers.ListField(
        child=_TagField(),
        required=False,
        allow_empty=False,
        help_text="Tags to copy; all tags of the source when omitted.",
    )


class CopyManifestsSerializer(_CopySourceSerializer):
    """Copy manifests (without tags), with their child manifests and blobs, into this
    repository."""

    class Meta:
        ref_name = "registry.CopyManifests"

    digests = serializers.ListField(
        child=_DigestField(),
        required=False,
        allow_empty=False,
        help_text="Manifest digests to copy; all manifests of the source when omitted.",
    )
    media_types = serializers.ListField(
        child=serializers.ChoiceField(choices=list(MANIFEST_TYPES)),
        required=False,
        allow_empty=False,
        help_text="Only copy manifests of these media types.",
    )
