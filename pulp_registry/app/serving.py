"""What an image name serves: its distribution, repository and repository version, and the
blobs, manifests and tags found there. Read-only; used by /v2/ and the token service."""

from dataclasses import dataclass

from pulpcore.plugin.models import RepositoryVersion

from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    Tag,
)


@dataclass
class Served:
    """The repository content behind an image name.

    Attributes:
        distribution: the distribution at ``base_path`` = name.
        repository: the cast repository (push or regular), or None.
        version: the served repository version (latest complete, or the pinned one), or None.
    """

    distribution: RegistryDistribution
    repository: object
    version: RepositoryVersion

    @property
    def is_push(self):
        """Whether the name is served by a push repository."""
        return isinstance(self.repository, RegistryPushRepository)

    def _in_version(self, queryset):
        if self.version is None:
            return queryset.none()
        return queryset.filter(pk__in=self.version.content_ids_subquery())

    def blob(self, digest):
        """The blob with ``digest`` in the served version or pending in the push repository."""
        blob = self._in_version(Blob.objects.filter(digest=digest)).first()
        if blob is None and self.is_push:
            blob = self.repository.pending_blobs.filter(digest=digest).first()
        return blob

    def manifest_by_digest(self, digest):
        """The manifest with ``digest`` in the served version, or None."""
        return self._in_version(Manifest.objects.filter(digest=digest)).first()

    def tag(self, name):
        """The tag ``name`` in the served version (with its manifest), or None."""
        return (
            self._in_version(Tag.objects.filter(name=name))
            .select_related("tagged_manifest")
            .first()
        )

    def manifest(self, reference):
        """The manifest for a tag or a digest, or None."""
        if ":" in reference:
            return self.manifest_by_digest(reference)
        tag = self.tag(reference)
        return tag.tagged_manifest if tag else None

    def tag_names(self, last=None, limit=None):
        """Sorted tag names, after ``last`` when given, at most ``limit`` of them."""
        names = self._in_version(Tag.objects.all())
        if last:
            names = names.filter(name__gt=last)
        names = names.order_by("name").values_list("name", flat=True)
        if limit is not None:
            names = names[:limit]
        return list(names)

    def referrers(self, digest):
        """Manifests in the served version whose ``subject`` is ``digest``."""
        return self._in_version(Manifest.objects.filter(subject=digest)).order_by("digest")


def resolve(name):
    """Find what the image ``name`` serves.

    Returns:
        Served | None: None when no distribution has that base path.
    """
    distribution = (
        RegistryDistribution.objects.select_related("namespace", "repository_version")
        .filter(base_path=name)
        .first()
    )
    if distribution is None:
        return None
    repository = version = None
    if distribution.repository_version_id:
        version = distribution.repository_version
        repository = version.repository.cast()
    elif distribution.repository_id:
        repository = distribution.repository.cast()
        version = (
            RepositoryVersion.objects.filter(repository_id=repository.pk, complete=True)
            .defer("content_ids")
            .order_by("-number")
            .first()
        )
    return Served(distribution, repository, version)
