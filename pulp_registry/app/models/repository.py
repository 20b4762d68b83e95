"""Repositories, namespaces and distributions.

* A push repository is created by the first push to a name and gets a new version on every
  manifest push; its latest version is always served.
* A regular repository is managed through the REST API (content added, copied, removed).
* A distribution serves a repository at ``base_path`` = the image name (``test/this``).
* A namespace is the first segment of an image name; it owns its distributions and is the
  object that users get roles on (owner, collaborator, consumer).
"""

from django.db import models

from pulpcore.plugin.models import (
    AutoAddObjPermsMixin,
    BaseModel,
    Distribution,
    Repository,
)
from pulpcore.plugin.repo_version_utils import remove_duplicates, validate_repo_version

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


class _RegistryRepositoryMixin:
    """Behaviour shared by both repository types."""

    CONTENT_TYPES = [Blob, Manifest, Tag]

    def finalize_new_version(self, new_version):
        """Keep one tag per name and refuse versions with duplicate content."""
        remove_duplicates(new_version)
        validate_repo_version(new_version)


class RegistryPushRepository(_RegistryRepositoryMixin, Repository, AutoAddObjPermsMixin):
    """A repository created by pushing to the registry; it cannot sync from a remote.

    Fields:
        pending_blobs: blobs uploaded or mounted into this repository that no pushed manifest
            references yet. They are readable through /v2/ and move into a repository version
            with the first manifest that uses them.
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
