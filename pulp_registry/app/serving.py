"""What an image name serves: its distribution, repository and repository version, and the
blobs, manifests and tags found there. Read-only; used by /v2/ and the token service.

Every /v2/ request starts here, so :func:`resolve` finds the distribution, its repository (as
its detail type) and the id of its latest version in one query.
"""

from django.db.models import F, OuterRef, Q, Subquery

from pulpcore.plugin.models import RepositoryVersion

from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
)


class Served:
    """The repository content behind an image name.

    Attributes:
        distribution: the distribution at ``base_path`` = name.
        repository: the cast repository (push or regular), or None.
        version: the served repository version (latest complete, or the pinned one), or None;
            loaded on first use, since queries only need its primary key
            (:meth:`content_ids`).
    """

    def __init__(self, distribution, repository, version_pk=None):
        self.distribution = distribution
        self.repository = repository
        self.version_pk = version_pk
        self._version = None

    @property
    def version(self):
        """The served repository version (loaded on first use), or None."""
        if self._version is None and self.version_pk is not None:
            self._version = RepositoryVersion.objects.defer("content_ids").get(pk=self.version_pk)
        return self._version

    def content_ids(self):
        """The primary keys of the served version's content, as a subquery (None: no version)."""
        if self.version_pk is None:
            return None
        if self._version is not None:
            return self._version.content_ids_subquery()
        # pulpcore's own subquery, built for the version's primary key without loading it.
        return RepositoryVersion(pk=self.version_pk).content_ids_subquery()

    @property
    def is_push(self):
        """Whether the name is served by a push repository."""
        return isinstance(self.repository, RegistryPushRepository)

    def _in_version(self, queryset):
        content_ids = self.content_ids()
        if content_ids is None:
            return queryset.none()
        return queryset.filter(pk__in=content_ids)

    def blob(self, digest, with_artifact=False):
        """The blob with ``digest`` in the served version or pending in the push repository.

        Args:
            digest: the blob's digest.
            with_artifact: also load its stored artifact (``blob.artifact_size``,
                ``blob.artifact_file``; None when it has none) in the same query.
        """
        where = Q()
        content_ids = self.content_ids()
        if content_ids is not None:
            where |= Q(pk__in=content_ids)
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
    latest = (
        RepositoryVersion.objects.filter(repository_id=OuterRef("repository_id"), complete=True)
        .order_by("-number")
        .values("pk")[:1]
    )
    distribution = (
        RegistryDistribution.objects.select_related("repository")
        .annotate(latest_version_pk=Subquery(latest))
        .filter(base_path=name)
        .first()
    )
    if distribution is None:
        return None
    if distribution.repository_version_id:
        # Rare: a distribution pinned to one version. Joining that version and its repository
        # into the query above would make every lookup cost more.
        version = RepositoryVersion.objects.select_related("repository").get(
            pk=distribution.repository_version_id
        )
        return Served(distribution, _detail(version.repository), version.pk)
    if distribution.repository_id:
        repository = _detail(distribution.repository)
        return Served(distribution, repository, distribution.latest_version_pk)
    return Served(distribution, None)


def _detail(repository):
    """The repository as its detail type, without a query when that is possible.

    Our repository types keep no columns of their own (their table holds only the link to
    pulpcore's repository row), so the detail instance is built from the repository row
    already loaded, with Django's ``from_db``. pulpcore's ``cast()``, which loads the detail
    row, is used for any other type.
    """
    model = repository.detail_model
    if isinstance(repository, model):
        return repository
    fields = _column_free_details().get(model)
    if fields is None:
        return repository.cast()
    values = [
        repository.pk if field.attname == model._meta.pk.attname else getattr(repository, field.attname)
        for field in fields
    ]
    return model.from_db(repository._state.db, [field.attname for field in fields], values)


_COLUMN_FREE = {}


def _column_free_details():
    """Our detail repository models whose only column is the link to the parent row."""
    if not _COLUMN_FREE:
        for model in (RegistryPushRepository, RegistryRepository):
            if [f.attname for f in model._meta.local_concrete_fields] == [model._meta.pk.attname]:
                _COLUMN_FREE[model] = list(model._meta.concrete_fields)
    return _COLUMN_FREE
