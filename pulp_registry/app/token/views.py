"""``GET /token/``: the token service of the Docker token-authentication protocol."""

import json

from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from pulp_registry.app import access
from pulp_registry.app.credentials import user_from_basic_header
from pulp_registry.app.models import RegistryDistribution
from pulp_registry.app.token.scopes import Scope, parse_scopes
from pulp_registry.app.token.tokens import issue_token
from pulp_registry.app.v2.auth import token_service
from pulp_registry.app.v2.errors import Unauthorized, error_response
from pulp_registry.app.v2.names import NAME_RE


def granted_scope(user, scope):
    """The part of one requested scope that ``user`` is granted (possibly no actions)."""
    if scope.type == "repository" and NAME_RE.match(scope.name):
        allowed = access.allowed_actions(user, scope.name, scope.actions)
        return Scope("repository", scope.name, frozenset(allowed))
    if scope.type == "registry" and scope.name == "catalog":
        # Everyone may list the catalog; it shows only the names the caller can pull.
        return Scope("registry", "catalog", frozenset(scope.actions & {"*"}))
    return None


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(View):
    """Issue a signed JWT for the requested scopes, to the Basic-authenticated user or to an
    anonymous caller."""

    def get(self, request):
        user, presented = user_from_basic_header(request.META.get("HTTP_AUTHORIZATION", ""))
        if presented and user is None:
            return error_response(
                Unauthorized(
                    message="invalid username or password",
                    headers={"WWW-Authenticate": 'Basic realm="pulp_registry"'},
                )
            )
        user = user or AnonymousUser()
        requested = parse_scopes(request.GET.getlist("scope"))
        granted = [g for g in (granted_scope(user, s) for s in requested) if g is not None]
        service = request.GET.get("service") or token_service(request)
        body = issue_token(user.username if user.is_authenticated else "", granted, service)
        return HttpResponse(json.dumps(body), content_type="application/json")
