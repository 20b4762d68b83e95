"""What an image name serves: its distribution, repository and repository version, and the
blobs, manifests and tags found there. Read-only; used by /v2/ and the token service.

Every /v2/ request starts here, so :func:`resolve` loads the distribution and its repository,
already as its detail type, in one query.
"""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import F, Q

from pulpcore.plugin.models import RepositoryVersion

from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    Tag,
)


class Served:
    """The repository content behind an image name.

    Attributes:
        distribution: the distribution at ``base_path`` = name.
        repository: the cast repository (push or regular), or None.
        version: the served repository version (latest complete, or the pinned one), or None;
            the latest version is looked up on first use (uploads never need it).
    """

    def __init__(self, distribution, repository, version=None, find_version=None):
        self.distribution = distribution
        self.repository = repository
        self._version = version
        self._find_version = find_version

    @property
    def version(self):
        """The served repository version (looked up on first use), or None."""
        if self._find_version is not None:
            self._version, self._find_version = self._find_version(), None
        return self._version

    @property
    def is_push(self):
        """Whether the name is served by a push repository."""
        return isinstance(self.repository, RegistryPushRepository)

    def _in_version(self, queryset):
        if self.version is None:
            return queryset.none()
        return queryset.filter(pk__in=self.version.content_ids_subquery())

    def blob(self, digest, with_artifact=False):
        """The blob with ``digest`` in the served version or pending in the push repository.

        Args:
            digest: the blob's digest.
            with_artifact: also load its stored artifact (``blob.artifact_size``,
                ``blob.artifact_file``; None when it has none) in the same query.
        """
        where = Q()
        if self.version is not None:
            where |= Q(pk__in=self.version.content_ids_subquery())
        if self.is_push:
            pending = RegistryPushRepository.pending_blobs.through.objects.filter(
                registrypushrepository_id=self.repository.pk
            ).values("blob_id")
            where |= Q(pk__in=pending)
        if not where:
            return None
        blobs = Blob.objects.filter(where, digest=digest)
        if with_artifact:
            blobs = blobs.annotate(
                artifact_size=F("contentartifact__artifact__size"),
                artifact_file=F("contentartifact__artifact__file"),
            ).order_by(F("artifact_size").asc(nulls_last=True))
        return blobs.first()

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
        RegistryDistribution.objects.select_related(
            "namespace",
            *_with_detail("repository"),
            *_with_detail("repository_version__repository"),
        )
        .filter(base_path=name)
        .first()
    )
    if distribution is None:
        return None
    if distribution.repository_version_id:
        version = distribution.repository_version
        return Served(distribution, _detail(version.repository), version)
    if distribution.repository_id:
        repository = _detail(distribution.repository)
        return Served(distribution, repository, find_version=lambda: _latest_version(repository))
    return Served(distribution, None)


def _latest_version(repository):
    return (
        RepositoryVersion.objects.filter(repository_id=repository.pk, complete=True)
        .defer("content_ids")
        .order_by("-number")
        .first()
    )


_DETAIL_ACCESSORS = ("registry_registrypushrepository", "registry_registryrepository")


def _with_detail(relation):
    """``select_related`` paths that load a repository together with its detail row."""
    return [relation, *(f"{relation}__{accessor}" for accessor in _DETAIL_ACCESSORS)]


def _detail(repository):
    """The repository as its detail type, from the rows loaded with it (no query)."""
    for accessor in _DETAIL_ACCESSORS:
        try:
            return getattr(repository, accessor)
        except ObjectDoesNotExist:
            continue
    # Another plugin's repository type behind our distribution: pulpcore's own way.
    return repository.cast()
