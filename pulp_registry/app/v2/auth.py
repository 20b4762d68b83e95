"""Authentication and authorisation of /v2/ requests.

With token authentication on (the default), a request carries ``Authorization: Bearer <jwt>``
issued by ``/token/``; the token's ``access`` claim decides. Without a usable token the answer
is 401 with a ``WWW-Authenticate: Bearer`` challenge naming the scope to ask for.

With ``TOKEN_AUTH_DISABLED``, requests carry HTTP Basic credentials and the rules of
:mod:`pulp_registry.app.access` decide directly (only staff users push).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser

from pulp_registry.app import access
from pulp_registry.app.credentials import user_from_basic_header
from pulp_registry.app.token.tokens import InvalidToken, verify_token
from pulp_registry.app.v2.errors import Denied, Unauthorized

BASIC_REALM = "pulp_registry"


def token_server(request):
    """The token service's address for the 401 challenge."""
    return settings.TOKEN_SERVER or request.build_absolute_uri("/token/")


def token_service(request):
    """The service name (JWT audience) tokens are issued for and checked against."""
    return settings.TOKEN_SERVICE or request.get_host()


def _challenge(request, scope, error=None):
    if settings.TOKEN_AUTH_DISABLED:
        return f'Basic realm="{BASIC_REALM}"'
    parts = [f'realm="{token_server(request)}"', f'service="{token_service(request)}"']
    if scope:
        parts.append(f'scope="{scope}"')
    if error:
        parts.append(f'error="{error}"')
    return "Bearer " + ",".join(parts)


class RequestIdentity:
    """Who is making a /v2/ request, resolved once per request.

    Attributes:
        user: the Django user (AnonymousUser when nobody logged in).
        token: the verified token, when token authentication is on and one was sent.
    """

    def __init__(self, user, token=None):
        self.user = user
        self.token = token


def identify(request):
    """Resolve (and cache on the request) who is calling.

    Raises:
        Unauthorized: credentials or a token were sent but are not valid.
    """
    identity = getattr(request, "_registry_identity", None)
    if identity is not None:
        return identity
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if settings.TOKEN_AUTH_DISABLED:
        user, presented = user_from_basic_header(header)
        if presented and user is None:
            raise Unauthorized(
                message="invalid username or password",
                headers={"WWW-Authenticate": _challenge(request, None)},
            )
        identity = RequestIdentity(user or AnonymousUser())
    elif header[:7].lower() == "bearer ":
        try:
            token = verify_token(header[7:].strip(), token_service(request))
        except InvalidToken as error:
            raise Unauthorized(
                {"reason": str(error)},
                message="authentication token is not valid",
                headers={"WWW-Authenticate": _challenge(request, None, "invalid_token")},
            )
        user = AnonymousUser()
        if token.subject:
            user = get_user_model().objects.filter(username=token.subject, is_active=True).first()
            if user is None:
                raise Unauthorized(
                    message="the token's user does not exist or is inactive",
                    headers={"WWW-Authenticate": _challenge(request, None, "invalid_token")},
                )
        identity = RequestIdentity(user, token)
    else:
        identity = RequestIdentity(AnonymousUser())
    request._registry_identity = identity
    return identity


def authorize(request, name, *actions):
    """Require the caller to be allowed ``actions`` on repository ``name``.

    Args:
        request: the Django request.
        name: the repository name.
        actions: ``pull``, ``push`` and/or ``delete``.

    Returns:
        RequestIdentity: the caller.

    Raises:
        Unauthorized: the caller must (re-)authenticate; carries the challenge.
        Denied: the caller is known and not allowed.
    """
    identity = identify(request)
    wanted = set(actions)
    scope = f"repository:{name}:{','.join(sorted(wanted | ({'pull'} if 'push' in wanted else set())))}"
    if identity.token is not None:
        missing = {a for a in wanted if not identity.token.allows("repository", name, a)}
        if not missing:
            return identity
        if identity.user.is_authenticated and identity.token.mentions("repository", name):
            # The token service was asked for this repository and refused these actions.
            raise Denied(
                {"name": name, "actions": sorted(missing)},
                message=f"user {identity.user.username!r} may not {'/'.join(sorted(missing))} "
                f"{name!r}",
            )
        raise Unauthorized(
            {"name": name, "actions": sorted(missing)},
            headers={"WWW-Authenticate": _challenge(request, scope, "insufficient_scope")},
        )
    if not settings.TOKEN_AUTH_DISABLED:
        raise Unauthorized(
            {"name": name, "actions": sorted(wanted)},
            headers={"WWW-Authenticate": _challenge(request, scope)},
        )
    missing = wanted - access.allowed_actions(identity.user, name, wanted)
    if not missing:
        return identity
    if not identity.user.is_authenticated:
        raise Unauthorized(
            {"name": name, "actions": sorted(missing)},
            headers={"WWW-Authenticate": _challenge(request, scope)},
        )
    reason = (
        "only staff users may push when token authentication is disabled"
        if missing & {"push", "delete"}
        else f"user {identity.user.username!r} may not pull {name!r}"
    )
    raise Denied({"name": name, "actions": sorted(missing)}, message=reason)


def authenticate_base(request):
    """Check the caller of ``GET /v2/``: anonymous callers are challenged so that clients log
    in; any valid identity is accepted.

    Raises:
        Unauthorized: no valid credentials or token.
    """
    identity = identify(request)
    if identity.user.is_authenticated or identity.token is not None:
        return identity
    raise Unauthorized(headers={"WWW-Authenticate": _challenge(request, None)})


def authorize_catalog(request):
    """Require access to the catalog (``registry:catalog:*``); anyone may have it.

    Returns:
        RequestIdentity: the caller; the catalog then lists only what they may pull.
    """
    identity = identify(request)
    if settings.TOKEN_AUTH_DISABLED or (
        identity.token is not None and identity.token.allows("registry", "catalog", "*")
    ):
        return identity
    error = "insufficient_scope" if identity.token is not None else None
    raise Unauthorized(
        headers={"WWW-Authenticate": _challenge(request, "registry:catalog:*", error)}
    )
