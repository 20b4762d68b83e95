"""Viewsets of the Pulp REST API (``/pulp/api/v3/...``): registry content, both repository
types and their versions, distributions, and namespaces with their roles."""

from django.db.models.deletion import ProtectedError
from django_filters import CharFilter
from rest_framework import mixins, status
from rest_framework.exceptions import ValidationError

from pulpcore.plugin.actions import ModifyRepositoryActionMixin
from pulpcore.plugin.viewsets import (
    ContentFilter,
    DistributionViewSet,
    NamedModelViewSet,
    ReadOnlyContentViewSet,
    RepositoryVersionViewSet,
    RepositoryViewSet,
    RolesMixin,
)
from pulpcore.plugin.viewsets import BaseFilterSet, NAME_FILTER_OPTIONS

from pulp_registry.app import models, serializers


# --- content ---------------------------------------------------------------------------------

class BlobFilter(ContentFilter):
    """Filter blobs by digest."""

    class Meta:
        model = models.Blob
        fields = {"digest": ["exact", "in"]}


class ManifestFilter(ContentFilter):
    """Filter manifests by digest and media type."""

    class Meta:
        model = models.Manifest
        fields = {"digest": ["exact", "in"], "media_type": ["exact", "in"]}


class TagFilter(ContentFilter):
    """Filter tags by name (and, like all content, by repository version)."""

    digest = CharFilter(field_name="tagged_manifest__digest", help_text="Tagged manifest digest")

    class Meta:
        model = models.Tag
        fields = {"name": ["exact", "in", "contains", "startswith"]}


_CONTENT_POLICY = {
    "statements": [
        {"action": ["list", "retrieve"], "principal": "authenticated", "effect": "allow"},
    ],
    "queryset_scoping": {"function": "scope_queryset"},
}


class BlobViewSet(ReadOnlyContentViewSet):
    """Blobs (layers and configs) stored in the registry."""

    endpoint_name = "blobs"
    queryset = models.Blob.objects.all()
    serializer_class = serializers.BlobSerializer
    filterset_class = BlobFilter
    DEFAULT_ACCESS_POLICY = _CONTENT_POLICY


class ManifestViewSet(ReadOnlyContentViewSet):
    """Manifests, manifest lists and OCI indexes stored in the registry."""

    endpoint_name = "manifests"
    queryset = models.Manifest.objects.prefetch_related("blobs", "listed_manifests")
    serializer_class = serializers.ManifestSerializer
    filterset_class = ManifestFilter
    DEFAULT_ACCESS_POLICY = _CONTENT_POLICY


class TagViewSet(ReadOnlyContentViewSet):
    """Tags: names pointing at manifests."""

    endpoint_name = "tags"
    queryset = models.Tag.objects.select_related("tagged_manifest")
    serializer_class = serializers.TagSerializer
    filterset_class = TagFilter
    DEFAULT_ACCESS_POLICY = _CONTENT_POLICY


# --- repositories ----------------------------------------------------------------------------

class RegistryRepositoryViewSet(RepositoryViewSet, ModifyRepositoryActionMixin, RolesMixin):
    """Regular repositories: content is added, removed and copied through the REST API."""

    endpoint_name = "registry"
    queryset = models.RegistryRepository.objects.exclude(user_hidden=True)
    serializer_class = serializers.RegistryRepositorySerializer
    queryset_filtering_required_permission = "registry.view_registryrepository"

    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve", "my_permissions"], "principal": "authenticated",
             "effect": "allow"},
            {"action": ["create"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_perms:registry.add_registryrepository"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": [
                 "has_model_or_domain_or_obj_perms:registry.delete_registryrepository",
                 "has_model_or_domain_or_obj_perms:registry.view_registryrepository",
             ]},
            {"action": ["update", "partial_update", "set_label", "unset_label"],
             "principal": "authenticated", "effect": "allow",
             "condition": [
                 "has_model_or_domain_or_obj_perms:registry.change_registryrepository",
                 "has_model_or_domain_or_obj_perms:registry.view_registryrepository",
             ]},
            {"action": ["modify"], "principal": "authenticated", "effect": "allow",
             "condition": [
                 "has_model_or_domain_or_obj_perms:registry.modify_registryrepository",
                 "has_model_or_domain_or_obj_perms:registry.view_registryrepository",
             ]},
            {"action": ["list_roles", "add_role", "remove_role"], "principal": "authenticated",
             "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:registry.manage_roles_registryrepository"},
        ],
        "creation_hooks": [
            {"function": "add_roles_for_object_creator",
             "parameters": {"roles": "registry.registryrepository_owner"}},
        ],
        "queryset_scoping": {"function": "scope_queryset"},
    }
    LOCKED_ROLES = {
        "registry.registryrepository_creator": ["registry.add_registryrepository"],
        "registry.registryrepository_owner": [
            "registry.view_registryrepository",
            "registry.change_registryrepository",
            "registry.delete_registryrepository",
            "registry.modify_registryrepository",
            "registry.manage_roles_registryrepository",
        ],
        "registry.registryrepository_viewer": ["registry.view_registryrepository"],
    }


class RegistryRepositoryVersionViewSet(RepositoryVersionViewSet):
    """Versions of a regular repository."""

    parent_viewset = RegistryRepositoryViewSet
    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.view_registryrepository"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.delete_registryrepository"},
            {"action": ["repair"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.change_registryrepository"},
        ],
    }


class RegistryPushRepositoryViewSet(
    RepositoryViewSet,
    RolesMixin,
):
    """Push repositories, created by pushing to the registry. They are not created through the
    REST API; they can be read, updated (e.g. ``retain_repo_versions``) and deleted."""

    endpoint_name = "registry-push"
    queryset = models.RegistryPushRepository.objects.exclude(user_hidden=True)
    serializer_class = serializers.RegistryPushRepositorySerializer
    queryset_filtering_required_permission = "registry.view_registrypushrepository"

    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve", "my_permissions"], "principal": "authenticated",
             "effect": "allow"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.delete_registrypushrepository"},
            {"action": ["update", "partial_update", "set_label", "unset_label"],
             "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.change_registrypushrepository"},
            {"action": ["list_roles", "add_role", "remove_role"], "principal": "authenticated",
             "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.manage_roles_registrypushrepository"},
        ],
        "queryset_scoping": {"function": "scope_queryset"},
    }
    LOCKED_ROLES = {
        "registry.registrypushrepository_owner": [
            "registry.view_registrypushrepository",
            "registry.change_registrypushrepository",
            "registry.delete_registrypushrepository",
            "registry.modify_content_registrypushrepository",
            "registry.manage_roles_registrypushrepository",
        ],
        "registry.registrypushrepository_viewer": ["registry.view_registrypushrepository"],
    }

    def create(self, request, *args, **kwargs):
        raise ValidationError(
            "Push repositories are created by pushing an image to the registry; create a "
            "regular repository ('registry' type) to manage content through the REST API."
        )


class RegistryPushRepositoryVersionViewSet(RepositoryVersionViewSet):
    """Versions of a push repository (one per push)."""

    parent_viewset = RegistryPushRepositoryViewSet
    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.view_registrypushrepository"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.delete_registrypushrepository"},
            {"action": ["repair"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.change_registrypushrepository"},
        ],
    }


# --- distributions ---------------------------------------------------------------------------

class RegistryDistributionFilter(BaseFilterSet):
    """Filter distributions by name, base path, namespace and privacy."""

    namespace__name = CharFilter(field_name="namespace__name")

    class Meta:
        model = models.RegistryDistribution
        fields = {
            "name": NAME_FILTER_OPTIONS,
            "base_path": ["exact", "contains", "icontains", "in", "startswith"],
            "private": ["exact"],
        }


class RegistryDistributionViewSet(DistributionViewSet, RolesMixin):
    """Distributions serve a repository at an image name (``base_path``) on /v2/."""

    endpoint_name = "registry"
    queryset = models.RegistryDistribution.objects.select_related("namespace")
    serializer_class = serializers.RegistryDistributionSerializer
    filterset_class = RegistryDistributionFilter
    queryset_filtering_required_permission = "registry.view_registrydistribution"

    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve", "my_permissions"], "principal": "authenticated",
             "effect": "allow"},
            {"action": ["create"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_perms:registry.add_registrydistribution"},
            {"action": ["update", "partial_update", "set_label", "unset_label"],
             "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.change_registrydistribution"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.delete_registrydistribution"},
            {"action": ["list_roles", "add_role", "remove_role"], "principal": "authenticated",
             "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.manage_roles_registrydistribution"},
        ],
        "creation_hooks": [
            {"function": "add_roles_for_object_creator",
             "parameters": {"roles": "registry.registrydistribution_owner"}},
        ],
        "queryset_scoping": {"function": "scope_queryset"},
    }
    LOCKED_ROLES = {
        "registry.registrydistribution_creator": ["registry.add_registrydistribution"],
        "registry.registrydistribution_owner": [
            "registry.view_registrydistribution",
            "registry.change_registrydistribution",
            "registry.delete_registrydistribution",
            "registry.manage_roles_registrydistribution",
        ],
        "registry.registrydistribution_viewer": ["registry.view_registrydistribution"],
    }


# --- namespaces ------------------------------------------------------------------------------

class NamespaceFilter(BaseFilterSet):
    """Filter namespaces by name."""

    class Meta:
        model = models.Namespace
        fields = {"name": NAME_FILTER_OPTIONS}


class NamespaceViewSet(
    NamedModelViewSet,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    RolesMixin,
):
    """Namespaces (the first segment of image names). Users get roles on a namespace:
    ``registry.namespace_owner``, ``registry.namespace_collaborator`` (push and pull) and
    ``registry.namespace_consumer`` (pull)."""

    endpoint_name = "pulp_registry/namespaces"
    queryset = models.Namespace.objects.all().order_by("name")
    serializer_class = serializers.NamespaceSerializer
    filterset_class = NamespaceFilter
    queryset_filtering_required_permission = "registry.view_namespace"

    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve", "my_permissions"], "principal": "authenticated",
             "effect": "allow"},
            {"action": ["create"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_perms:registry.add_namespace"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_obj_perms:registry.delete_namespace"},
            {"action": ["list_roles", "add_role", "remove_role"], "principal": "authenticated",
             "effect": "allow",
             "condition": "has_model_or_obj_perms:registry.manage_roles_namespace"},
        ],
        "creation_hooks": [
            {"function": "add_roles_for_object_creator",
             "parameters": {"roles": "registry.namespace_owner"}},
        ],
        "queryset_scoping": {"function": "scope_queryset"},
    }
    LOCKED_ROLES = {
        "registry.namespace_creator": ["registry.add_namespace"],
        "registry.namespace_owner": [
            "registry.view_namespace",
            "registry.change_namespace",
            "registry.delete_namespace",
            "registry.pull_namespace",
            "registry.push_namespace",
            "registry.delete_namespace_content",
            "registry.manage_roles_namespace",
        ],
        "registry.namespace_collaborator": [
            "registry.view_namespace",
            "registry.pull_namespace",
            "registry.push_namespace",
        ],
        "registry.namespace_consumer": ["registry.view_namespace", "registry.pull_namespace"],
    }

    def destroy(self, request, *args, **kwargs):
        try:
            return super().destroy(request, *args, **kwargs)
        except ProtectedError:
            raise ValidationError(
                "The namespace still owns distributions; delete them first.",
                code=status.HTTP_400_BAD_REQUEST,
            )
