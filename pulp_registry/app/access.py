"""Who may do what on an image name: the registry's permission rules.

Used by the token service (to decide what a token grants) and by /v2/ when token
authentication is off. Permissions live on namespaces, through pulpcore roles:

* ``registry.namespace_owner``: everything, including managing the namespace's roles;
* ``registry.namespace_collaborator``: pull and push;
* ``registry.namespace_consumer``: pull.

Anyone pulls from distributions that are not private. A logged-in user may create the
namespace named after their username (and becomes its owner), or any namespace with the global
``registry.add_namespace`` permission. Staff users may do anything.
"""

from django.conf import settings

from pulp_registry.app.models import Namespace, RegistryDistribution
from pulp_registry.app.v2.names import namespace_of

PULL, PUSH, DELETE = "pull", "push", "delete"
ALL_ACTIONS = frozenset({PULL, PUSH, DELETE})


def _has_namespace_perm(user, codename, namespace):
    perm = f"registry.{codename}"
    return user.has_perm(perm) or user.has_perm(perm, namespace)


def allowed_actions(user, name, requested=ALL_ACTIONS):
    """Return which of the requested actions ``user`` may perform on the image ``name``.

    Args:
        user: a Django user (possibly anonymous).
        name: the repository name, e.g. ``test/this``.
        requested: the actions to consider (``pull``, ``push``, ``delete``).

    Returns:
        set[str]: the subset of ``requested`` that is allowed.
    """
    requested = set(requested) & ALL_ACTIONS
    if not requested:
        return set()
    if user.is_authenticated and (user.is_staff or user.is_superuser):
        return requested

    distribution = (
        RegistryDistribution.objects.filter(base_path=name).select_related("namespace").first()
    )
    namespace = (
        distribution.namespace
        if distribution and distribution.namespace_id
        else Namespace.objects.filter(name=namespace_of(name)).first()
    )
    allowed = set()
    if PULL in requested:
        if distribution is None or not distribution.private:
            # An unknown name is "pullable" so that the client learns NAME_UNKNOWN.
            allowed.add(PULL)
        elif user.is_authenticated and namespace and (
            _has_namespace_perm(user, "pull_namespace", namespace)
        ):
            allowed.add(PULL)
    if not user.is_authenticated:
        return allowed
    token_auth_disabled = getattr(settings, "TOKEN_AUTH_DISABLED", False)
    if PUSH in requested and not token_auth_disabled:
        if namespace is None:
            if user.username == namespace_of(name) or user.has_perm("registry.add_namespace"):
                allowed.add(PUSH)
        elif _has_namespace_perm(user, "push_namespace", namespace):
            allowed.add(PUSH)
    if DELETE in requested and not token_auth_disabled and namespace is not None:
        if _has_namespace_perm(user, "delete_namespace_content", namespace):
            allowed.add(DELETE)
    return allowed

