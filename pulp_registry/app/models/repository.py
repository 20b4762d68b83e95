"""Repositories, namespaces and distributions.

* A push repository is created by the first push to a name and gets a new version on every
  manifest push; its latest version is always served.
* A regular repository is managed through the REST API (content added, copied, removed).
* A distribution serves a repository at ``base_path`` = the image name (``test/this``).
* A namespace is the first segment of an image name; it owns its distributions and is the
  object that users get roles on (owner, collaborator, consumer).
"""

import uuid
from typing import NamedTuple

from django.db import models
from django.db.models import OuterRef, Subquery

from pulpcore.plugin.models import (
    AutoAddObjPermsMixin,
    BaseModel,
    ContentArtifact,
    Distribution,
    Repository,
    RepositoryContent,
    RepositoryVersion,
)
from pulpcore.plugin.repo_version_utils import remove_duplicates, validate_repo_version

from pulp_registry.app.compiled_queries import CompiledQuery, QueryShapes

from .content import Blob, Manifest, Tag


class Namespace(BaseModel, AutoAddObjPermsMixin):
    """The first path segment of image names; users get roles on it.

    Fields:
        name: the namespace, e.g. ``test`` for ``test/this``.
    """

    name = models.CharField(max_length=255, unique=True)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        permissions = [
            ("pull_namespace", "Can pull from private distributions of the namespace"),
            ("push_namespace", "Can push to the namespace"),
            ("delete_namespace_content", "Can delete manifests, tags and blobs of the namespace"),
            ("manage_roles_namespace", "Can manage roles on the namespace"),
        ]

    def __str__(self):
        return self.name


class AddedContent(NamedTuple):
    """What a push adds to a new version, told to :meth:`finalize_new_version` beforehand.

    Attributes:
        content_ids: primary keys of the content it added (content that was already in the
            repository may be among them).
        tags: ``(primary key, name)`` of the tags among them.
    """

    content_ids: list
    tags: list


def _replaced_tags(names, version_pk, added_tag_pks):
    """Tags named ``names`` in the version, other than the ones it adds."""
    return (
        Tag.objects.filter(name__in=names, pk__in=RepositoryVersion(pk=version_pk)
                           .content_ids_subquery())
        .exclude(pk__in=added_tag_pks)
        .values_list("pk")
    )


_REPLACED_TAGS = CompiledQuery(
    lambda name, version_pk, tag_pk: _replaced_tags([name], version_pk, [tag_pk]),
    str, uuid.UUID, uuid.UUID,
)
# Pushes add a handful of units; larger additions (REST tasks) build their query each time.
_MISPLACED_COMPILED_UP_TO = 32


def _misplaced_artifacts(content_ids):
    blob_digest = Blob.objects.filter(pk=OuterRef("content_id")).values("digest")[:1]
    return (
        ContentArtifact.objects.filter(content_id__in=content_ids)
        .exclude(relative_path=Subquery(blob_digest))
        .values_list("pk")[:1]
    )


def _has_misplaced_artifacts(content_ids):
    """Whether any of the content units has an artifact that does not lie at its blob's
    digest (for a few units, with SQL built once per count)."""
    count = len(content_ids)
    if not count:
        return False
    if count > _MISPLACED_COMPILED_UP_TO:
        return _misplaced_artifacts(content_ids).exists()
    return bool(_misplaced_artifacts_query(count).rows(*content_ids))


_misplaced_artifacts_query = QueryShapes(
    lambda count: CompiledQuery(lambda *ids: _misplaced_artifacts(ids), *[uuid.UUID] * count)
)


class _RegistryRepositoryMixin:
    """Behaviour shared by both repository types."""

    CONTENT_TYPES = [Blob, Manifest, Tag]

    def finalize_new_version(self, new_version):
        """Keep one tag per name and refuse versions with duplicate content.

        This does what pulpcore's ``remove_duplicates`` and ``validate_repo_version`` do, but
        looks only at what the version adds instead of at everything the repository holds
        (which made every push slower as the repository grew):

        * an added tag replaces the tag of the same name in the previous version;
        * two added tags with one name are refused (pulpcore's check raises);
        * relative paths cannot clash: each blob's artifact lies at its own digest, which no
          other blob has. Should an added artifact lie elsewhere, the whole version is checked.

        Every version was finalised this way or by pulpcore's full check, so what the previous
        version holds is already free of duplicates.

        A push that knows what it added says so in ``new_version.registry_added``
        (:class:`AddedContent`), which saves looking it up.
        """
        if new_version.base_version_id:
            remove_duplicates(new_version)
            validate_repo_version(new_version)
            return
        hint = getattr(new_version, "registry_added", None)
        if hint is not None:
            added, added_tags = hint.content_ids, hint.tags
        else:
            # The content this version adds, as pulpcore's added() finds it. Read as a list
            # first: as a subquery, PostgreSQL tends to scan every tag (or all content) to
            # join it.
            added = list(
                RepositoryContent.objects.filter(version_added=new_version).values_list(
                    "content_id", flat=True
                )
            )
            added_tags = list(Tag.objects.filter(pk__in=added).values_list("pk", "name"))
        names = {name for _, name in added_tags}
        if len(names) != len(added_tags):
            validate_repo_version(new_version)  # raises, naming the duplicates
        if names:
            # The new version holds the previous version's content plus what it adds (its
            # content_ids are saved by add_content), so the other tags of these names in it
            # are the ones the added tags replace.
            if len(added_tags) == 1:  # a tagged push: SQL built once per process
                (tag_pk, name), = added_tags
                rows = _REPLACED_TAGS.rows(name, new_version.pk, tag_pk)
            else:
                rows = _replaced_tags(names, new_version.pk, [pk for pk, _ in added_tags])
            replaced = [pk for pk, in rows]
            if replaced:
                new_version.remove_content(Tag.objects.filter(pk__in=replaced))
        if _has_misplaced_artifacts(added):
            validate_repo_version(new_version)

    def cleanup_old_versions(self):
        """Delete versions beyond ``retain_repo_versions``; nothing to do (and no query) when
        every version is kept, which is the default."""
        if self.retain_repo_versions:
            super().cleanup_old_versions()


class RegistryPushRepository(_RegistryRepositoryMixin, Repository, AutoAddObjPermsMixin):
    """A repository created by pushing to the registry; it cannot sync from a remote.

    Fields:
        pending_blobs: blobs uploaded or mounted into this repository through /v2/. They are
            readable at once, before any manifest uses them, and stay linked after one does (so
            a lookup never misses a blob while a concurrent push moves it into a version);
            ``registry-gc`` drops old links, and removing a blob drops its link.
    """

    TYPE = "registry-push"
    REMOTE_TYPES = []

    pending_blobs = models.ManyToManyField(Blob, related_name="pending_in")

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        permissions = [
            ("modify_content_registrypushrepository", "Can tag, untag and remove images"),
            ("manage_roles_registrypushrepository", "Can manage roles on push repositories"),
        ]


class RegistryRepository(_RegistryRepositoryMixin, Repository, AutoAddObjPermsMixin):
    """A repository whose content is managed through the Pulp REST API."""

    TYPE = "registry"
    REMOTE_TYPES = []

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        permissions = [
            ("modify_registryrepository", "Can modify the content of the repository"),
            ("manage_roles_registryrepository", "Can manage roles on repositories"),
        ]


class RegistryDistribution(Distribution, AutoAddObjPermsMixin):
    """Serves a repository (its latest version) or a repository version under an image name.

    Fields:
        namespace: the namespace that owns this distribution (first segment of base_path).
        private: when set, only users with pull permission on the namespace can read it.
        description: free text shown to administrators.
    """

    TYPE = "registry"
    SERVE_FROM_PUBLICATION = False

    namespace = models.ForeignKey(
        Namespace, related_name="distributions", on_delete=models.PROTECT, null=True
    )
    private = models.BooleanField(default=False)
    description = models.TextField(null=True)

    class Meta:
        default_related_name = "%(app_label)s_%(model_name)s"
        permissions = [
            ("manage_roles_registrydistribution", "Can manage roles on distributions"),
        ]
