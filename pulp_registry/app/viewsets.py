"""Viewsets of the Pulp REST API (``/pulp/api/v3/...``): registry content, both repository
types and their versions, distributions, and namespaces with their roles."""

from django.db.models import Q
from django.db.models.deletion import ProtectedError
from django_filters import CharFilter
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError

from pulpcore.plugin.actions import ModifyRepositoryActionMixin
from pulpcore.plugin.models import Content
from pulpcore.plugin.serializers import (
    AsyncOperationResponseSerializer,
    RepositoryAddRemoveContentSerializer,
)
from pulpcore.plugin.tasking import dispatch
from pulpcore.plugin.util import get_objects_for_user
from pulpcore.plugin.viewsets import (
    BaseFilterSet,
    ContentFilter,
    DistributionViewSet,
    NAME_FILTER_OPTIONS,
    NamedModelViewSet,
    OperationPostponedResponse,
    ReadOnlyContentViewSet,
    RepositoryVersionViewSet,
    RepositoryViewSet,
    RolesMixin,
)

from pulp_registry.app import access, models, serializers, tasks
from pulp_registry.app.tasks.content import parents_in

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
# Both repository types take the operations tag, untag and remove_image; regular repositories
# also copy_tags, copy_manifests and modify (add/remove content). Each operation checks what it
# can at once (so a mistake is a 400, not a failed task) and dispatches a pulpcore task that
# makes the new repository version under the repository's lock.

_REGISTRY_CONTENT_TYPES = {
    model.get_pulp_type() for model in (models.Blob, models.Manifest, models.Tag)
}
_PUSH_REPOSITORY_REFUSAL = (
    "{operation} is not available for push repositories: their content comes from pushes to "
    "the registry. Create a regular repository ('registry' type) and copy into it, or use "
    "tag, untag and remove_image."
)


def _postponed(request, task):
    return OperationPostponedResponse(task, request)


def _latest_version(repository):
    version = repository.latest_version()
    if version is None:
        raise ValidationError("The repository has no version yet.")
    return version


def _manifest_in(version, digest):
    return models.Manifest.objects.filter(
        digest=digest, pk__in=version.content_ids_subquery()
    ).first()


def _may_read_repository(user, repository):
    """Whether ``user`` may read a repository's content (to copy from it).

    As on /v2/: with the view permission on the repository, or through a distribution that
    serves it and is public or whose namespace the user may pull from.
    """
    perm = f"registry.view_{type(repository).__name__.lower()}"
    if user.has_perm(perm) or user.has_perm(perm, repository):
        return True
    distributions = models.RegistryDistribution.objects.filter(
        Q(repository_id=repository.pk) | Q(repository_version__repository_id=repository.pk)
    ).select_related("namespace")
    for distribution in distributions:
        if not distribution.private:
            return True
        namespace = distribution.namespace
        if namespace is not None and (
            user.has_perm("registry.pull_namespace")
            or user.has_perm("registry.pull_namespace", namespace)
        ):
            return True
    return False


class _ImageOperationsMixin:
    """The ``tag``, ``untag`` and ``remove_image`` operations of both repository types."""

    def _check_operation_permission(self, request, repository, action_kind):
        """Hook for permission checks that the access policy cannot express (push repos)."""

    @extend_schema(
        summary="Tag an image",
        description="Point a tag at a manifest of the repository (moving it if the tag "
        "exists), in a new repository version made by a task.",
        request=serializers.TagImageSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.TagImageSerializer)
    def tag(self, request, pk=None, **kwargs):
        repository = self.get_object()
        self._check_operation_permission(request, repository, "push")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        digest = serializer.validated_data["digest"]
        if _manifest_in(_latest_version(repository), digest) is None:
            raise ValidationError({"digest": f"Manifest {digest} is not in the repository."})
        task = dispatch(
            tasks.tag_image,
            exclusive_resources=[repository],
            kwargs={
                "repository_pk": str(repository.pk),
                "tag": serializer.validated_data["tag"],
                "digest": digest,
            },
        )
        return _postponed(request, task)

    @extend_schema(
        summary="Untag an image",
        description="Remove a tag from the repository (the manifest stays), in a new "
        "repository version made by a task.",
        request=serializers.UntagImageSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.UntagImageSerializer)
    def untag(self, request, pk=None, **kwargs):
        repository = self.get_object()
        self._check_operation_permission(request, repository, "delete")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["tag"]
        version = _latest_version(repository)
        if not models.Tag.objects.filter(
            name=name, pk__in=version.content_ids_subquery()
        ).exists():
            raise ValidationError({"tag": f"The repository has no tag {name!r}."})
        task = dispatch(
            tasks.untag_image,
            exclusive_resources=[repository],
            kwargs={"repository_pk": str(repository.pk), "tag": name},
        )
        return _postponed(request, task)

    @extend_schema(
        summary="Remove an image",
        description="Remove a manifest and its tags, the child manifests of a list or index "
        "that no tag or other list keeps, and the blobs that no remaining manifest uses, in a "
        "new repository version made by a task.",
        request=serializers.RemoveImageSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.RemoveImageSerializer)
    def remove_image(self, request, pk=None, **kwargs):
        repository = self.get_object()
        self._check_operation_permission(request, repository, "delete")
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        digest = serializer.validated_data["digest"]
        version = _latest_version(repository)
        manifest = _manifest_in(version, digest)
        if manifest is None:
            raise ValidationError({"digest": f"Manifest {digest} is not in the repository."})
        parents = parents_in(version, [manifest.pk]).values_list("digest", flat=True)[:5]
        if parents:
            raise ValidationError(
                {"digest": f"Manifest {digest} is listed by {', '.join(parents)}; remove that "
                 "image first."}
            )
        task = dispatch(
            tasks.remove_image,
            exclusive_resources=[repository],
            kwargs={"repository_pk": str(repository.pk), "digest": digest},
        )
        return _postponed(request, task)


_REGISTRY_REPOSITORY_OPERATIONS = [
    "modify", "tag", "untag", "remove_image", "copy_tags", "copy_manifests",
]


class RegistryRepositoryViewSet(
    _ImageOperationsMixin, RepositoryViewSet, ModifyRepositoryActionMixin, RolesMixin
):
    """Regular repositories: content is added, removed and copied through the REST API."""

    endpoint_name = "registry"
    queryset = models.RegistryRepository.objects.exclude(user_hidden=True)
    serializer_class = serializers.RegistryRepositorySerializer
    queryset_filtering_required_permission = "registry.view_registryrepository"
    modify_task = tasks.add_and_remove

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
            {"action": _REGISTRY_REPOSITORY_OPERATIONS, "principal": "authenticated",
             "effect": "allow",
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

    @extend_schema(
        summary="Modify repository content",
        description="Add and remove blobs, manifests and tags in a new repository version "
        "made by a task. An added manifest brings its blobs and child manifests, an added tag "
        "its manifest; a removed manifest takes its tags. The task fails, creating no version, "
        "if the result would hold a tag without its manifest or a manifest without its blobs "
        "or children.",
        request=RepositoryAddRemoveContentSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=RepositoryAddRemoveContentSerializer)
    def modify(self, request, pk=None, **kwargs):
        self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        added = serializer.validated_data.get("add_content_units", [])
        foreign = Content.objects.filter(pk__in=added).exclude(
            pulp_type__in=_REGISTRY_CONTENT_TYPES
        )
        if foreign.exists():
            types = sorted(set(foreign.values_list("pulp_type", flat=True)))
            raise ValidationError(
                {"add_content_units": "Only registry blobs, manifests and tags can be added, "
                 f"not {', '.join(types)}."}
            )
        return ModifyRepositoryActionMixin.modify(self, request, pk, **kwargs)

    def _copy(self, request, task_function, **task_kwargs):
        repository = self.get_object()
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source = serializer.validated_data["source_repository"]
        version = serializer.validated_data["source_version"]
        if not _may_read_repository(request.user, source):
            raise PermissionDenied("You may not read the source repository.")
        kwargs = {"repository_pk": str(repository.pk), "source_version_pk": str(version.pk)}
        for name, (field, model, attribute) in task_kwargs.items():
            values = serializer.validated_data.get(field)
            kwargs[name] = values
            if values is not None and model is not None:
                present = set(
                    model.objects.filter(
                        pk__in=version.content_ids_subquery(), **{f"{attribute}__in": values}
                    ).values_list(attribute, flat=True)
                )
                missing = sorted(set(values) - present)
                if missing:
                    raise ValidationError(
                        {field: f"Not in {source.name!r} version {version.number}: "
                         + ", ".join(missing)}
                    )
        task = dispatch(
            task_function,
            exclusive_resources=[repository],
            shared_resources=[source] if source.pk != repository.pk else None,
            kwargs=kwargs,
        )
        return _postponed(request, task)

    @extend_schema(
        summary="Copy tags",
        description="Copy tags with their manifests, child manifests and blobs from a registry "
        "repository (latest version) or repository version into this repository, in a new "
        "version made by a task. A copied tag replaces a tag of the same name.",
        request=serializers.CopyTagsSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.CopyTagsSerializer)
    def copy_tags(self, request, pk=None, **kwargs):
        return self._copy(request, tasks.copy_tags, names=("names", models.Tag, "name"))

    @extend_schema(
        summary="Copy manifests",
        description="Copy manifests (without tags) with their child manifests and blobs from a "
        "registry repository (latest version) or repository version into this repository, in "
        "a new version made by a task.",
        request=serializers.CopyManifestsSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.CopyManifestsSerializer)
    def copy_manifests(self, request, pk=None, **kwargs):
        return self._copy(
            request,
            tasks.copy_manifests,
            digests=("digests", models.Manifest, "digest"),
            media_types=("media_types", None, None),
        )


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
    _ImageOperationsMixin,
    RepositoryViewSet,
    RolesMixin,
):
    """Push repositories, created by pushing to the registry. They are not created through the
    REST API; they can be read, updated (e.g. ``retain_repo_versions``) and deleted, and take
    the tag, untag and remove_image operations."""

    endpoint_name = "registry-push"
    queryset = models.RegistryPushRepository.objects.exclude(user_hidden=True)
    serializer_class = serializers.RegistryPushRepositorySerializer
    queryset_filtering_required_permission = "registry.view_registrypushrepository"

    # tag, untag and remove_image are allowed to every authenticated user here because the
    # access policy cannot express "or has the namespace permission"; the operation itself
    # checks (see _check_operation_permission). modify/copy_* always answer 400.
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
            {"action": ["tag", "untag", "remove_image", "modify", "copy_tags",
                        "copy_manifests"],
             "principal": "authenticated", "effect": "allow"},
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

    def scope_queryset(self, qs):
        """Also show push repositories served in namespaces the user may view."""
        scoped = super().scope_queryset(qs)
        user = self.request.user
        if user.is_superuser:
            return scoped
        namespaces = get_objects_for_user(
            user, "registry.view_namespace", models.Namespace.objects.all()
        )
        served = models.RegistryDistribution.objects.filter(namespace__in=namespaces).values(
            "repository_id"
        )
        return qs.filter(Q(pk__in=scoped.values("pk")) | Q(pk__in=served))

    def _check_operation_permission(self, request, repository, action_kind):
        """Allow the operation with ``modify_content_registrypushrepository`` (model or object
        level), or with the namespace's permission: ``push_namespace`` to tag,
        ``delete_namespace_content`` to untag or remove."""
        user = request.user
        perm = "registry.modify_content_registrypushrepository"
        if user.has_perm(perm) or user.has_perm(perm, repository):
            return
        namespace_perm = {
            "push": "registry.push_namespace",
            "delete": "registry.delete_namespace_content",
        }[action_kind]
        namespace = access.namespace_of_repository(repository)
        if namespace is not None and (
            user.has_perm(namespace_perm) or user.has_perm(namespace_perm, namespace)
        ):
            return
        raise PermissionDenied(
            f"You need {perm} on the repository or {namespace_perm} on its namespace."
        )

    def _refuse(self, operation):
        self.get_object()
        raise ValidationError({"detail": _PUSH_REPOSITORY_REFUSAL.format(operation=operation)})

    @extend_schema(
        summary="Not available for push repositories",
        description="Always answers 400: push repositories get content from pushes only.",
        request=RepositoryAddRemoveContentSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=RepositoryAddRemoveContentSerializer)
    def modify(self, request, pk=None, **kwargs):
        self._refuse("modify (adding or removing content)")

    @extend_schema(
        summary="Not available for push repositories",
        description="Always answers 400: copy into a regular repository instead.",
        request=serializers.CopyTagsSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.CopyTagsSerializer)
    def copy_tags(self, request, pk=None, **kwargs):
        self._refuse("copy_tags")

    @extend_schema(
        summary="Not available for push repositories",
        description="Always answers 400: copy into a regular repository instead.",
        request=serializers.CopyManifestsSerializer,
        responses={202: AsyncOperationResponseSerializer},
    )
    @action(detail=True, methods=["post"], serializer_class=serializers.CopyManifestsSerializer)
    def copy_manifests(self, request, pk=None, **kwargs):
        self._refuse("copy_manifests")


class RegistryPushRepositoryVersionViewSet(RepositoryVersionViewSet):
    """Versions of a push repository (one per push)."""

    parent_viewset = RegistryPushRepositoryViewSet
    DEFAULT_ACCESS_POLICY = {
        "statements": [
            {"action": ["list", "retrieve"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_model_or_domain_or_obj_perms:"
                          "registry.view_registrypushrepository"},
            # Who sees a push repository through its namespace sees its history too.
            {"action": ["list", "retrieve"], "principal": "authenticated", "effect": "allow",
             "condition": "has_repository_namespace_perms:registry.view_namespace"},
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
            # Namespace owners may make their distributions private or public, and describe
            # them (not move them or change what they serve).
            {"action": ["update", "partial_update"], "principal": "authenticated",
             "effect": "allow",
             "condition": "has_namespace_perms_for_safe_fields:registry.change_namespace"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_model_or_domain_or_obj_perms:"
                          "registry.delete_registrydistribution"},
            {"action": ["destroy"], "principal": "authenticated", "effect": "allow",
             "condition": "has_namespace_model_or_obj_perms:"
                          "registry.delete_namespace_content"},
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

    def scope_queryset(self, qs):
        """Show distributions the user has a role on, those of namespaces the user has a role
        on, and all public ones (anyone may pull them on /v2/); private ones stay hidden."""
        # Imported here: this module's imports are being reorganised concurrently.
        from django.db.models import Q
        from pulpcore.plugin.util import get_objects_for_user

        if self.request.user.is_superuser:
            return qs
        scoped = super().scope_queryset(qs)
        namespaces = get_objects_for_user(
            self.request.user, "registry.view_namespace", models.Namespace.objects.all()
        )
        return qs.filter(
            Q(pk__in=scoped.values("pk")) | Q(private=False) | Q(namespace__in=namespaces)
        )


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
            # Everyone may create the namespace named after their username (and owns it).
            {"action": ["create"], "principal": "authenticated", "effect": "allow",
             "condition": "is_own_namespace_name"},
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
