"""Conditions for the REST API's access policies that involve namespaces.

drf-access-policy finds them through ``DRF_ACCESS_POLICY["reusable_conditions"]`` (see
``settings.py``). They let the roles a user holds on a namespace act on what the namespace
owns, and let a user create the namespace named after their username, as on /v2/.
"""

from pulpcore.plugin.models import Repository

from pulp_registry.app.access import namespace_of_repository
from pulp_registry.app.v2.names import namespace_of

# Fields of a distribution that a namespace's owner may change: its visibility and text.
# Changing base_path or the served repository could move content across namespaces or expose
# a repository the user cannot read, so those need permissions on the distribution itself.
NAMESPACE_EDITABLE_DISTRIBUTION_FIELDS = {"private", "description"}


def _namespace_perm(user, permission, namespace):
    return namespace is not None and (
        user.has_perm(permission) or user.has_perm(permission, namespace)
    )


def has_namespace_model_or_obj_perms(request, view, action, permission):
    """The user has ``permission`` on the namespace of the distribution being acted on."""
    return _namespace_perm(request.user, permission, view.get_object().namespace)


def has_namespace_perms_for_safe_fields(request, view, action, permission):
    """Like :func:`has_namespace_model_or_obj_perms`, for a request that changes only the
    fields in :data:`NAMESPACE_EDITABLE_DISTRIBUTION_FIELDS`."""
    if not set(request.data) <= NAMESPACE_EDITABLE_DISTRIBUTION_FIELDS:
        return False
    return has_namespace_model_or_obj_perms(request, view, action, permission)


def is_own_namespace_name(request, view, action):
    """The namespace to create is named after the requesting user."""
    name = request.data.get("name") if hasattr(request.data, "get") else None
    return bool(name) and name == request.user.username and namespace_of(name) == name


def has_repository_namespace_perms(request, view, action, permission):
    """The user has ``permission`` on the namespace that owns the repository in the URL (for
    endpoints nested under a repository, such as its versions)."""
    repository = Repository.objects.filter(pk=view.kwargs.get("repository_pk")).first()
    if repository is None:
        return False
    return _namespace_perm(request.user, permission, namespace_of_repository(repository))
