"""Who may do what on an image name: the registry's permission rules.

Used by the token service (to decide what a token grants), by /v2/ when token authentication
is off, and by /v2/ to tell a stale token (401, fetch a new one) from a real refusal (403).
Permissions live on namespaces, through pulpcore roles:

* ``registry.namespace_owner``: everything, including managing the namespace's roles;
* ``registry.namespace_collaborator``: pull and push;
* ``registry.namespace_consumer``: pull (matters for private distributions).

Anyone, even anonymous, pulls from distributions that are not private. A logged-in user may
create the namespace named after their username (and becomes its owner), or any namespace
with the global ``registry.add_namespace`` permission (role ``registry.namespace_creator``).
Staff users may do anything. With ``TOKEN_AUTH_DISABLED`` only staff users push or delete.
"""

from django.conf import settings

from pulp_registry.app.models import Namespace, RegistryDistribution
from pulp_registry.app.v2.names import namespace_of

PULL, PUSH, DELETE = "pull", "push", "delete"
ALL_ACTIONS = frozenset({PULL, PUSH, DELETE})
_NEEDED_PERMISSION = {
    PULL: "pull_namespace",
    PUSH: "push_namespace",
    DELETE: "delete_namespace_content",
}


def is_staff(user):
    """Whether ``user`` is a logged-in staff user or superuser (who may do anything)."""
    return bool(user.is_authenticated and (user.is_staff or user.is_superuser))


def _has_namespace_perm(user, codename, namespace):
    perm = f"registry.{codename}"
    return user.has_perm(perm) or user.has_perm(perm, namespace)


def _target(name):
    """The distribution served at ``name`` (or None) and the namespace that owns the name."""
    distribution = (
        RegistryDistribution.objects.filter(base_path=name).select_related("namespace").first()
    )
    if distribution is not None and distribution.namespace_id:
        return distribution, distribution.namespace
    return distribution, Namespace.objects.filter(name=namespace_of(name)).first()


def namespace_of_repository(repository):
    """The namespace that owns a repository: that of a distribution serving it, else the one
    named by the repository's name (None if there is neither)."""
    distribution = (
        RegistryDistribution.objects.filter(repository_id=repository.pk)
        .exclude(namespace__isnull=True)
        .select_related("namespace")
        .first()
    )
    if distribution is not None:
        return distribution.namespace
    return Namespace.objects.filter(name=namespace_of(repository.name)).first()


def _may_create_namespace(user, name):
    return user.username == namespace_of(name) or user.has_perm("registry.add_namespace")


def allowed_actions(user, name, requested=ALL_ACTIONS):
    """Return which of the requested actions ``user`` may perform on the image ``name``.

    Args:
        user: a Django user (possibly anonymous).
        name: the repository name, e.g. ``test/this``.
        requested: the actions to consider (``pull``, ``push``, ``delete``); others are ignored.

    Returns:
        set[str]: the subset of ``requested`` that is allowed.
    """
    requested = set(requested) & ALL_ACTIONS
    if not requested:
        return set()
    if is_staff(user):
        return requested
    distribution, namespace = _target(name)
    allowed = set()
    if PULL in requested:
        if distribution is None or not distribution.private:
            # An unknown name is "pullable" so that the client learns NAME_UNKNOWN.
            allowed.add(PULL)
        elif user.is_authenticated and namespace is not None and (
            _has_namespace_perm(user, "pull_namespace", namespace)
        ):
            allowed.add(PULL)
    if not user.is_authenticated or settings.TOKEN_AUTH_DISABLED:
        return allowed
    if PUSH in requested:
        if namespace is None:
            if _may_create_namespace(user, name):
                allowed.add(PUSH)
        elif _has_namespace_perm(user, "push_namespace", namespace):
            allowed.add(PUSH)
    if DELETE in requested and namespace is not None:
        if _has_namespace_perm(user, "delete_namespace_content", namespace):
            allowed.add(DELETE)
    return allowed


def denial_reason(user, name, actions):
    """Explain, for an error message, why ``user`` may not perform ``actions`` on ``name``.

    Args:
        user: the Django user (possibly anonymous).
        name: the repository name.
        actions: the refused actions.

    Returns:
        str: a sentence for the client.
    """
    actions = sorted(set(actions) & ALL_ACTIONS) or sorted(actions)
    what = "/".join(actions)
    if not user.is_authenticated:
        if set(actions) - {PULL}:
            return f"log in to {what} {name!r}: anonymous users may only pull"
        return f"{name!r} is private: log in as a user allowed to pull it"
    if settings.TOKEN_AUTH_DISABLED and set(actions) & {PUSH, DELETE}:
        return (
            f"user {user.username!r} may not {what} {name!r}: only staff users may push or "
            "delete when token authentication is disabled (TOKEN_AUTH_DISABLED)"
        )
    distribution, namespace = _target(name)
    if namespace is None:
        if PUSH in actions:
            return (
                f"user {user.username!r} may not create namespace {namespace_of(name)!r}: users "
                "may create only the namespace named after their username, unless given the "
                "registry.namespace_creator role"
            )
        return f"user {user.username!r} may not {what} {name!r}"
    known = [a for a in actions if a in _NEEDED_PERMISSION]
    permissions = ", ".join(f"registry.{_NEEDED_PERMISSION[a]}" for a in known)
    # The weakest role that grants every refused action.
    role = "registry.namespace_owner" if DELETE in known else (
        "registry.namespace_collaborator" if PUSH in known else "registry.namespace_consumer"
    )
    return (
        f"user {user.username!r} may not {what} {name!r}: this needs {permissions} on "
        f"namespace {namespace.name!r} (role {role} or higher; ask the namespace's owner)"
    )
