"""Authentication and authorisation of /v2/ requests.

With token authentication on (the default), a request carries ``Authorization: Bearer <jwt>``
issued by ``/token/``; every request verifies the token's signature, algorithm, expiry,
not-before time, audience and issuer, and the token's ``access`` claim decides. Without a
usable token the answer is 401 with a ``WWW-Authenticate: Bearer`` challenge naming the scope
to ask for (``error="invalid_token"`` when the token is bad or expired,
``error="insufficient_scope"`` when it is valid but too narrow), so clients fetch a new token
and repeat the request; upload sessions belong to the repository, not to a token, so a long
push survives any number of token renewals. A logged-in user whom the rules of
:mod:`pulp_registry.app.access` refuse gets 403 ``DENIED`` instead, since a new token would not
help.

With ``TOKEN_AUTH_DISABLED``, requests carry HTTP Basic credentials and the rules of
:mod:`pulp_registry.app.access` decide directly (only staff users push).

Verifying a token costs no database query except loading the token's user, which API workers
keep for a few seconds (:mod:`pulp_registry.app.users`).
"""

import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured

from pulp_registry.app import access, users
from pulp_registry.app.credentials import user_from_basic_header
from pulp_registry.app.token.tokens import InvalidToken, verify_token
from pulp_registry.app.v2.errors import Denied, Unauthorized, Unavailable

log = logging.getLogger(__name__)

BASIC_REALM = "pulp_registry"


def token_server(request):
    """The token service's address for the 401 challenge."""
    return settings.TOKEN_SERVER or request.build_absolute_uri("/token/")


def token_service(request):
    """The service name (JWT audience) tokens are issued for and checked against."""
    return settings.TOKEN_SERVICE or request.get_host()


def challenge(request, scope=None, error=None):
    """The ``WWW-Authenticate`` value of a 401 answer.

    Args:
        request: the Django request.
        scope: the scope the client should ask for, e.g. ``repository:a/b:pull,push``.
        error: ``invalid_token`` or ``insufficient_scope`` (RFC 6750), if any.
    """
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
        token: the verified token, when token authentication is on and a valid one was sent.
        token_error: why the bearer token that was sent is not valid (None if none was sent or
            it is valid).
    """

    def __init__(self, user, token=None, token_error=None):
        self.user = user
        self.token = token
        self.token_error = token_error


def identify(request):
    """Resolve (and cache on the request) who is calling.

    An invalid bearer token does not raise here: the caller is then anonymous with
    ``token_error`` set, and :func:`authorize` answers with a challenge naming the scope the
    request needs, so that the client can fetch a fresh token and carry on.

    Raises:
        Unauthorized: Basic credentials were sent (token authentication off) and are wrong.
        Unavailable: the token keys are misconfigured.
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
                headers={"WWW-Authenticate": challenge(request)},
            )
        identity = RequestIdentity(user or AnonymousUser())
    elif header[:7].lower() == "bearer ":
        identity = _identify_bearer(request, header[7:].strip())
    else:
        identity = RequestIdentity(AnonymousUser())
    request._registry_identity = identity
    return identity


def _identify_bearer(request, raw):
    try:
        token = verify_token(raw, token_service(request))
    except InvalidToken as error:
        return RequestIdentity(AnonymousUser(), token_error=str(error))
    except ImproperlyConfigured as error:
        log.error("token authentication is misconfigured: %s", error)
        raise Unavailable(
            message="token authentication is misconfigured on the server; see its log"
        )
    if not token.subject:
        return RequestIdentity(AnonymousUser(), token)
    user = users.active_user(username=token.subject)
    if user is None:
        return RequestIdentity(
            AnonymousUser(), token_error="the token's user does not exist or is inactive"
        )
    return RequestIdentity(user, token)


def _scope(name, actions):
    # Clients ask for pull together with push (they check what exists before uploading).
    wanted = set(actions) | ({access.PULL} if access.PUSH in actions else set())
    return f"repository:{name}:{','.join(sorted(wanted))}"


def _unauthorized(request, identity, scope, detail, reason=None):
    """401 with the challenge for ``scope``; its error says why a sent token did not do."""
    if identity.token_error:
        return Unauthorized(
            detail,
            message=f"authentication token is not valid: {identity.token_error}",
            headers={"WWW-Authenticate": challenge(request, scope, "invalid_token")},
        )
    if identity.token is not None:
        return Unauthorized(
            detail,
            message="the authentication token does not grant this access; request a token "
            "for the scope in the WWW-Authenticate header",
            headers={"WWW-Authenticate": challenge(request, scope, "insufficient_scope")},
        )
    return Unauthorized(
        detail,
        message=reason or "authentication required",
        headers={"WWW-Authenticate": challenge(request, scope)},
    )


def authorize(request, name, *actions):
    """Require the caller to be allowed ``actions`` on repository ``name``.

    Args:
        request: the Django request.
        name: the repository name.
        actions: ``pull``, ``push`` and/or ``delete``.

    Returns:
        RequestIdentity: the caller.

    Raises:
        Unauthorized: the caller must (re-)authenticate or fetch a wider token; carries the
            challenge.
        Denied: the caller is a known user who is not allowed.
    """
    identity = identify(request)
    wanted = set(actions)
    scope = _scope(name, wanted)
    if identity.token is not None:
        missing = {a for a in wanted if not identity.token.allows("repository", name, a)}
    elif settings.TOKEN_AUTH_DISABLED:
        missing = wanted - access.allowed_actions(identity.user, name, wanted)
    else:
        missing = wanted
    if not missing:
        return identity
    detail = [{"Type": "repository", "Name": name, "Action": a} for a in sorted(missing)]
    if not identity.user.is_authenticated:
        raise _unauthorized(
            request, identity, scope, detail, access.denial_reason(identity.user, name, missing)
        )
    if identity.token is not None:
        # The token is only a snapshot of the user's rights: if the rules would grant the
        # missing actions now (the token was asked for less, or roles changed), the client
        # should fetch a new token rather than give up.
        still_missing = missing - access.allowed_actions(identity.user, name, missing)
        if not still_missing:
            raise _unauthorized(request, identity, scope, detail)
        missing = still_missing
        detail = [{"Type": "repository", "Name": name, "Action": a} for a in sorted(missing)]
    raise Denied(detail, message=access.denial_reason(identity.user, name, missing))


def authenticate_base(request):
    """Check the caller of ``GET /v2/``: callers without credentials are challenged so that
    clients log in; any valid identity (even an anonymous token) is accepted.

    Raises:
        Unauthorized: no valid credentials or token.
    """
    identity = identify(request)
    if identity.user.is_authenticated or identity.token is not None:
        return identity
    raise _unauthorized(request, identity, None, None)


def authorize_catalog(request):
    """Require access to the catalog (``registry:catalog:*``); anyone may have it.

    Returns:
        RequestIdentity: the caller; the catalog then lists only what they may pull.

    Raises:
        Unauthorized: token authentication is on and the token does not grant the catalog.
    """
    identity = identify(request)
    if settings.TOKEN_AUTH_DISABLED or (
        identity.token is not None and identity.token.allows("registry", "catalog", "*")
    ):
        return identity
    raise _unauthorized(request, identity, "registry:catalog:*", None)
