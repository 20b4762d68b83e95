"""``/token/``: the token service of the Docker token-authentication protocol.

* ``GET /token/?service=…&scope=…&scope=…`` (docker-auth-token.md), anonymously or with HTTP
  Basic credentials; ``offline_token=true`` also returns a refresh token to a logged-in user.
* ``POST /token/`` with an ``application/x-www-form-urlencoded`` body (docker-auth-oauth.md):
  ``grant_type=password`` (``username``, ``password``; ``access_type=offline`` for a refresh
  token) or ``grant_type=refresh_token`` (``refresh_token``).

The token grants, for each requested scope, the intersection of the requested actions and
what :mod:`pulp_registry.app.access` allows the caller; asking for more than one may have is
not an error (the spec says so), the token simply grants less.
"""

import json
import logging

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from pulp_registry.app import access, users
from pulp_registry.app.credentials import check_credentials, user_from_basic_header
from pulp_registry.app.token.scopes import Scope, parse_scopes
from pulp_registry.app.token.tokens import (
    InvalidToken,
    issue_refresh_token,
    issue_token,
    password_fingerprint,
    verify_refresh_token,
)
from pulp_registry.app.v2.auth import BASIC_REALM, token_service
from pulp_registry.app.v2.errors import (
    RegistryError,
    Unauthorized,
    Unavailable,
    Unsupported,
    error_response,
)
from pulp_registry.app.v2.names import NAME_RE
from pulp_registry.app.v2.views.base import DATABASE_UNREACHABLE, database_unavailable

log = logging.getLogger(__name__)

# Each scope costs a few queries; a request needs one or two (three for a cross-repo mount).
MAX_SCOPES = 50
TRUE_VALUES = {"1", "true", "yes", "on"}


class BadTokenRequest(RegistryError):
    code, status, message = "UNSUPPORTED", 400, "bad token request"


class TokenServiceDisabled(RegistryError):
    code, status, message = "UNSUPPORTED", 404, "token authentication is disabled"


class OAuthError(Exception):
    """An RFC 6749 error answer (section 5.2) of the POST form of the token service."""

    def __init__(self, error, description, status=400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def granted_scope(user, scope):
    """The part of one requested scope that ``user`` is granted (possibly no actions).

    Returns:
        Scope | None: the granted scope, or None for a resource this registry does not know.
    """
    if scope.type == "repository" and NAME_RE.match(scope.name):
        # "*" asks for every action (as Docker's token servers read it).
        wanted = access.ALL_ACTIONS if "*" in scope.actions else scope.actions
        allowed = access.allowed_actions(user, scope.name, wanted)
        return Scope("repository", scope.name, frozenset(allowed))
    if scope.type == "registry" and scope.name == "catalog":
        # Everyone may list the catalog; it shows only the names the caller can pull.
        return Scope("registry", "catalog", frozenset(scope.actions & {"*"}))
    return None


def _requested_service(request, requested):
    """The audience of the new token: the requested service, which must be ours when the
    registry's service name is configured."""
    ours = token_service(request)
    if not requested:
        return ours
    if settings.TOKEN_SERVICE and requested != settings.TOKEN_SERVICE:
        raise BadTokenRequest(
            {"service": requested},
            message=f"this token service issues tokens for {settings.TOKEN_SERVICE!r} only",
        )
    return requested


def _grant(user, scope_values):
    requested = parse_scopes(scope_values)
    if len(requested) > MAX_SCOPES:
        raise BadTokenRequest(message=f"at most {MAX_SCOPES} scopes may be requested at once")
    return [g for g in (granted_scope(user, s) for s in requested) if g is not None]


def _json(body, status=200):
    response = HttpResponse(json.dumps(body), status=status, content_type="application/json")
    # RFC 6749 section 5.1: token responses must not be cached.
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response


def _find_user(username):
    return users.active_user(username=username)


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(View):
    """Issue signed JWTs for the requested scopes (see the module docstring)."""

    http_method_names = ["get", "post", "options"]
    # No domain lookup per request (the plugin serves pulpcore's default domain only; see
    # RegistryView): one query less for each token, and clients ask for one per push.
    skip_domain_middleware = True

    def dispatch(self, request, *args, **kwargs):
        if settings.TOKEN_AUTH_DISABLED:
            return error_response(
                TokenServiceDisabled(
                    message="token authentication is disabled (TOKEN_AUTH_DISABLED); "
                    "use HTTP Basic authentication on /v2/"
                )
            )
        try:
            return super().dispatch(request, *args, **kwargs)
        except RegistryError as error:
            return error_response(error)
        except DATABASE_UNREACHABLE as error:
            return error_response(database_unavailable(request, error))
        except ImproperlyConfigured as error:
            # check_token_settings() stops the API server at start-up; this only happens if
            # the key files changed under a running server.
            log.error("token authentication is misconfigured: %s", error)
            return error_response(
                Unavailable(
                    message="token authentication is misconfigured on the server; see its log"
                )
            )

    def http_method_not_allowed(self, request, *args, **kwargs):
        return error_response(
            Unsupported({"method": request.method}, message="use GET or POST on /token/")
        )

    def get(self, request):
        """The Docker token protocol: Basic credentials (optional) and query parameters."""
        user, presented = user_from_basic_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if presented and user is None:
            raise Unauthorized(
                message="invalid username or password",
                headers={"WWW-Authenticate": f'Basic realm="{BASIC_REALM}"'},
            )
        user = user or AnonymousUser()
        service = _requested_service(request, request.GET.get("service"))
        granted = _grant(user, request.GET.getlist("scope"))
        body = issue_token(user.username if user.is_authenticated else "", granted, service)
        if user.is_authenticated and request.GET.get("offline_token", "").lower() in TRUE_VALUES:
            body["refresh_token"] = issue_refresh_token(user, service)
        return _json(body)

    def post(self, request):
        """The OAuth2 form of the token protocol (password or refresh-token grant)."""
        try:
            form = request.POST
            return self._oauth(request, form)
        except OAuthError as error:
            return _json(
                {"error": error.error, "error_description": error.description}, error.status
            )
        except SuspiciousOperation:
            return _json({"error": "invalid_request", "error_description": "bad form"}, 400)

    def _oauth(self, request, form):
        grant_type = form.get("grant_type")
        try:
            service = _requested_service(request, form.get("service"))
        except BadTokenRequest as error:
            raise OAuthError("invalid_request", error.message)
        refresh_token = None
        if grant_type == "password":
            username, password = form.get("username"), form.get("password")
            if not username or password is None:
                raise OAuthError("invalid_request", "username and password are required")
            user = check_credentials(username, password)
            if user is None:
                raise OAuthError("invalid_grant", "invalid username or password", 401)
            if form.get("access_type") == "offline":
                refresh_token = issue_refresh_token(user, service)
        elif grant_type == "refresh_token":
            refresh_token = form.get("refresh_token") or ""
            try:
                username, fingerprint = verify_refresh_token(refresh_token, service)
            except InvalidToken as error:
                raise OAuthError("invalid_grant", f"refresh token is not valid: {error}", 401)
            user = _find_user(username)
            if user is None or password_fingerprint(user) != fingerprint:
                raise OAuthError(
                    "invalid_grant",
                    "refresh token is no longer valid (user inactive or password changed)",
                    401,
                )
        else:
            raise OAuthError(
                "unsupported_grant_type", "grant_type must be 'password' or 'refresh_token'"
            )
        try:
            granted = _grant(user, form.getlist("scope"))
        except BadTokenRequest as error:
            raise OAuthError("invalid_scope", error.message)
        body = issue_token(user.username, granted, service)
        if refresh_token:
            body["refresh_token"] = refresh_token
        return _json(body)
