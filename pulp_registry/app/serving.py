"""What an image name serves: its distribution, repository and repository version, and the
blobs, manifests and tags found there. Read-only; used by /v2/ and the token service.

Every /v2/ request starts here, so :func:`resolve` finds the identifiers of the distribution,
its repository and its latest version in one query, whose SQL is built once per process
(:mod:`pulp_registry.app.compiled_queries`), as is that of the tag list.
"""

import threading
import uuid
from collections import OrderedDict
from typing import NamedTuple, Optional

from django.db.models import F, Func, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce

from pulpcore.plugin.models import Repository, RepositoryVersion

from pulp_registry.app.compiled_queries import CompiledQuery, QueryShapes

from pulp_registry.app.models import (
    Blob,
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
)


class StoredBlob(NamedTuple):
    """A blob found for a read, with what is needed to answer HEAD or GET."""

    pk: uuid.UUID
    digest: str
    artifact_size: Optional[int]
    artifact_file: Optional[str]


class StoredManifest(NamedTuple):
    """A manifest found for a read: its identity and exact bytes."""

    pk: uuid.UUID
    digest: str
    media_type: str
    data: bytes


class Served:
    """The repository content behind an image name.

    :func:`resolve` reads only identifiers; the distribution, repository and version objects
    are loaded on first use, since the lookups of a read request need nothing but the
    version's primary key.

    Attributes:
        distribution_pk: the primary key of the distribution at ``base_path`` = name.
        repository_pk: the primary key of the served repository, or None.
        repository_type: its ``pulp_type``, or None.
        version_pk: the primary key of the served version (latest complete, or the pinned
            one), or None.
        pinned: whether the distribution serves one fixed version.
    """

    def __init__(self, distribution_pk, repository_pk=None, repository_type=None,
                 version_pk=None, pinned=False):
        self.distribution_pk = distribution_pk
        self.repository_pk = repository_pk
        self.repository_type = repository_type
        self.version_pk = version_pk
        self.pinned = pinned
        self._distribution = None
        self._repository = None
        self._version = None

    @property
    def distribution(self):
        """The distribution (loaded on first use)."""
        if self._distribution is None:
            self._distribution = RegistryDistribution.objects.get(pk=self.distribution_pk)
        return self._distribution

    @property
    def repository(self):
        """The served repository as its detail type (loaded on first use), or None."""
        if self._repository is None and self.repository_pk is not None:
            self._repository = _load_repository(self.repository_pk, self.repository_type)
        return self._repository

    def repository_to_lock(self):
        """The served repository for :func:`pulp_registry.app.push.locked_new_version`.

        Unless it is loaded already, this is an instance holding only its primary key, which
        ``locked_new_version`` reads in full while it takes the row lock: one query instead of
        two.
        """
        if self._repository is not None or self.repository_pk is None:
            return self.repository
        model = _repository_model(self.repository_type)
        if model is None:
            return self.repository
        repository = model(pk=self.repository_pk)
        repository._state.adding = False  # it exists: saving it must update, not create
        repository.registry_unloaded = True
        return repository

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
        return self.repository_type == RegistryPushRepository.get_pulp_type()

    def _in_version(self, queryset):
        content_ids = self.content_ids()
        if content_ids is None:
            return queryset.none()
        return queryset.filter(pk__in=content_ids)

    def blob(self, digest, with_artifact=False):
        """The blob with ``digest`` in the served version or pending in the push repository.

        Args:
            digest: the blob's digest.
            with_artifact: return a :class:`StoredBlob` (with its artifact's size and file
                name, None when it has none) instead of the Blob.
        """
        if with_artifact:
            return self.stored_blob(digest)
        where = Q()
        content_ids = self.content_ids()
        if content_ids is not None:
            where |= Q(pk__in=content_ids)
        if self.is_push:
            where |= Q(pk__in=_pending_blob_ids(self.repository_pk))
        if not where:
            return None
        return Blob.objects.filter(where, digest=digest).first()

    def stored_blob(self, digest):
        """The blob with ``digest`` (as in :meth:`blob`) and its artifact, or None.

        Returns:
            StoredBlob | None
        """
        return self.stored_blobs([digest]).get(digest)

    def stored_blobs(self, digests):
        """The blobs among ``digests`` found as :meth:`stored_blob` finds one, by digest.

        Returns:
            dict[str, StoredBlob]
        """
        digests = sorted(set(digests))
        in_version, pending = self.version_pk is not None, self.is_push
        if not digests or not (in_version or pending):
            return {}
        keys = [key for key, wanted in ((self.version_pk, in_version),
                                        (self.repository_pk, pending)) if wanted]
        query = _stored_blobs_query(len(digests), in_version, pending)
        found = {}
        for row in query.rows(*digests, *keys):
            blob = StoredBlob(*row)
            # A blob has one artifact; should it have a row without one too, prefer the other.
            if blob.digest not in found or found[blob.digest].artifact_size is None:
                found[blob.digest] = blob
        return found

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
        """The manifest for a tag or a digest, for reading, or None.

        Returns:
            StoredManifest | None
        """
        if self.version_pk is None:
            return None
        query = _MANIFEST_BY_DIGEST if ":" in reference else _MANIFEST_BY_TAG
        rows = query.rows(reference, self.version_pk)
        return StoredManifest(*rows[0]) if rows else None

    def tag_names(self, last=None, limit=None):
        """Sorted tag names, after ``last`` when given, at most ``limit`` of them.

        A complete repository version never changes, so the tags of the versions listed
        recently are kept in memory (:class:`_TagListCache`); a page after a ``last`` that is
        not one of the tags, or a version with very many tags, is read from the database.
        """
        if self.version_pk is None:
            return []
        names = _TAG_LISTS.get(self.version_pk)
        if names is not None:
            start = 0
            if last:
                try:
                    start = names.index(last) + 1
                except ValueError:
                    names = None  # the database compares ``last`` with its own collation
            if names is not None:
                return names[start:start + limit] if limit is not None else names[start:]
        query = _tag_names_query(bool(last), limit)
        values = (self.version_pk, last) if last else (self.version_pk,)
        return [name for (name,) in query.rows(*values)]

    def referrers(self, digest):
        """Manifests in the served version whose ``subject`` is ``digest``."""
        return self._in_version(Manifest.objects.filter(subject=digest)).order_by("digest")


def _resolve_query(name):
    latest = (
        RepositoryVersion.objects.filter(repository_id=OuterRef("repository_id"), complete=True)
        .order_by("-number")
        .values("pk")[:1]
    )
    return (
        RegistryDistribution.objects.filter(base_path=name)
        .annotate(latest_version_pk=Subquery(latest))
        .values_list(
            "pk",
            "repository_id",
            "repository__pulp_type",
            "latest_version_pk",
            "repository_version_id",
            "repository_version__repository_id",
            "repository_version__repository__pulp_type",
        )[:1]
    )


_RESOLVE = CompiledQuery(_resolve_query, str)


def resolve(name):
    """Find what the image ``name`` serves.

    Returns:
        Served | None: None when no distribution has that base path.
    """
    rows = _RESOLVE.rows(name)
    if not rows:
        return None
    (distribution_pk, repository_pk, repository_type, latest_pk,
     pinned_pk, pinned_repository_pk, pinned_repository_type) = rows[0]
    if pinned_pk is not None:
        return Served(
            distribution_pk, pinned_repository_pk, pinned_repository_type, pinned_pk, pinned=True
        )
    return Served(distribution_pk, repository_pk, repository_type, latest_pk)


def _repository_model(pulp_type):
    for model in (RegistryPushRepository, RegistryRepository):
        if pulp_type == model.get_pulp_type():
            return model
    return None


def _served_by_name(name):
    """Subqueries for the version and repository that ``name`` serves, as :func:`resolve`
    finds them: the pinned version, else the latest complete version of the repository."""
    distribution = RegistryDistribution.objects.filter(base_path=name)
    latest = (
        RepositoryVersion.objects.filter(repository_id=OuterRef("repository_id"), complete=True)
        .order_by("-number")
        .values("pk")[:1]
    )
    version_pk = distribution.annotate(
        served_version=Coalesce("repository_version_id", Subquery(latest))
    ).values("served_version")[:1]
    repository_pk = distribution.annotate(
        served_repository=Coalesce("repository_version__repository_id", "repository_id")
    ).values("served_repository")[:1]
    return Subquery(version_pk), Subquery(repository_pk)


def _stored_blob_by_name_query(name, digest):
    version_pk, repository_pk = _served_by_name(name)
    in_version = (
        RepositoryVersion.objects.filter(pk=version_pk)
        .annotate(content_id=Func(F("content_ids"), function="unnest"))
        .values("content_id")
    )
    # Only push repositories have uploaded-blob links, so this finds none for the others.
    pending = RegistryPushRepository.pending_blobs.through.objects.filter(
        registrypushrepository_id=repository_pk
    ).values("blob_id")
    return (
        Blob.objects.filter(Q(pk__in=in_version) | Q(pk__in=pending), digest=digest)
        .annotate(
            artifact_size=F("contentartifact__artifact__size"),
            artifact_file=F("contentartifact__artifact__file"),
        )
        .order_by(F("artifact_size").asc(nulls_last=True))
        .values_list("pk", "digest", "artifact_size", "artifact_file")[:1]
    )


_STORED_BLOB_BY_NAME = CompiledQuery(_stored_blob_by_name_query, str, str)


def stored_blob_by_name(name, digest):
    """The blob with ``digest`` that ``name`` serves, as ``resolve(name).stored_blob(digest)``
    finds it, in one query (blob HEAD and GET need nothing else).

    Returns:
        StoredBlob | None: None also when nothing is served at ``name``.
    """
    rows = _STORED_BLOB_BY_NAME.rows(name, digest)
    return StoredBlob(*rows[0]) if rows else None


def _load_repository(pk, pulp_type):
    model = _repository_model(pulp_type)
    if model is not None:
        return model.objects.get(pk=pk)
    return Repository.objects.get(pk=pk).cast()


def _make_tag_names_query(after_last, limit):
    """The compiled tag-list query for one shape (with or without ``last``, page size)."""

    def build(version_pk, last=None):
        names = Tag.objects.filter(pk__in=RepositoryVersion(pk=version_pk).content_ids_subquery())
        if after_last:
            names = names.filter(name__gt=last)
        names = names.order_by("name").values_list("name")
        return names[:limit] if limit is not None else names

    kinds = (uuid.UUID, str) if after_last else (uuid.UUID,)
    return CompiledQuery(build, *kinds)


_tag_names_query = QueryShapes(_make_tag_names_query)


def _pending_blob_ids(repository_pk):
    return RegistryPushRepository.pending_blobs.through.objects.filter(
        registrypushrepository_id=repository_pk
    ).values("blob_id")


def _stored_blobs_queryset(digests, in_version, pending, keys):
    keys = list(keys)
    where = Q()
    if in_version:
        where |= Q(pk__in=RepositoryVersion(pk=keys.pop(0)).content_ids_subquery())
    if pending:
        where |= Q(pk__in=_pending_blob_ids(keys.pop(0)))
    return (
        Blob.objects.filter(where, digest__in=digests)
        .annotate(
            artifact_size=F("contentartifact__artifact__size"),
            artifact_file=F("contentartifact__artifact__file"),
        )
        .values_list("pk", "digest", "artifact_size", "artifact_file")
    )


def _make_stored_blobs_query(count, in_version, pending):
    """The compiled query finding ``count`` blobs by digest (a blob HEAD looks up one, a
    manifest push its config and layers at once)."""

    def build(*values):
        return _stored_blobs_queryset(values[:count], in_version, pending, values[count:])

    kinds = [str] * count + [uuid.UUID] * (int(in_version) + int(pending))
    return CompiledQuery(build, *kinds)


_stored_blobs_query = QueryShapes(_make_stored_blobs_query)


def _manifest_query(by_tag):
    def build(reference, version_pk):
        content_ids = RepositoryVersion(pk=version_pk).content_ids_subquery()
        if by_tag:
            tags = Tag.objects.filter(name=reference, pk__in=content_ids)
            manifests = Manifest.objects.filter(pk__in=tags.values("tagged_manifest_id"))
        else:
            manifests = Manifest.objects.filter(digest=reference, pk__in=content_ids)
        return manifests.values_list("pk", "digest", "media_type", "data")[:1]

    return CompiledQuery(build, str, uuid.UUID)


_MANIFEST_BY_TAG = _manifest_query(by_tag=True)
_MANIFEST_BY_DIGEST = _manifest_query(by_tag=False)


class _TagListCache:
    """The sorted tag names of recently listed repository versions, per process.

    A complete version's content never changes, so its list stays right for as long as it is
    kept. Lists are read whole (up to ``per_version`` names) on first use and dropped least
    recently used first once more than ``total`` names are kept.
    """

    def __init__(self, per_version=50_000, total=100_000):
        self.per_version = per_version
        self.total = total
        self._lists = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, version_pk):
        """The tag names of the version, sorted as the database sorts them, or None when it
        has more than ``per_version`` of them."""
        with self._lock:
            names = self._lists.get(version_pk)
            if names is not None:
                self._lists.move_to_end(version_pk)
                return names
        rows = _tag_names_query(False, self.per_version + 1).rows(version_pk)
        if len(rows) > self.per_version:
            return None
        names = [name for (name,) in rows]
        with self._lock:
            if version_pk not in self._lists:
                self._lists[version_pk] = names
                self._size += len(names)
                while self._size > self.total and len(self._lists) > 1:
                    _, dropped = self._lists.popitem(last=False)
                    self._size -= len(dropped)
        return names


_TAG_LISTS = _TagListCache()
