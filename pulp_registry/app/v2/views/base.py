"""What every /v2/ view shares: error rendering (including the database being unreachable),
the API version header, name checks, and finding the repository behind a name."""

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from pulp_registry.app import serving
from pulp_registry.app.push import NotAPushRepository, push_target
from pulp_registry.app.v2.auth import authorize
from pulp_registry.app.v2.errors import (
    Denied,
    NameUnknown,
    RegistryError,
    Unavailable,
    Unsupported,
    error_response,
)
from pulp_registry.app.v2.names import validate_name

log = logging.getLogger(__name__)

API_VERSION_HEADER = ("Docker-Distribution-API-Version", "registry/2.0")


@method_decorator(csrf_exempt, name="dispatch")
class RegistryView(View):
    """Base class of /v2/ views: errors become the spec's JSON body, in one place."""

    # pulpcore's DomainMiddleware would look the domain up on every request; this plugin is not
    # domain-compatible, so there is only the default domain, which pulpcore's get_domain()
    # finds (once per process) without the middleware.
    skip_domain_middleware = True

    def dispatch(self, request, *args, **kwargs):
        try:
            if "name" in kwargs:
                validate_name(kwargs["name"])
            response = super().dispatch(request, *args, **kwargs)
        except RegistryError as error:
            response = error_response(error, request.method)
        except DATABASE_UNREACHABLE as error:
            response = error_response(database_unavailable(request, error), request.method)
        except Exception:  # a bug must still answer in the spec's format, not with a trace
            log.exception("unexpected error in %s %s", request.method, request.path)
            error = RegistryError(message="internal server error")
            response = error_response(error, request.method)
        response[API_VERSION_HEADER[0]] = API_VERSION_HEADER[1]
        return response

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise Unsupported(
            {"method": request.method}, message=f"{request.method} is not supported here"
        )

    def options(self, request, *args, **kwargs):
        response = HttpResponse(status=200)
        response["Allow"] = ", ".join(m.upper() for m in self._allowed_methods())
        response["Content-Length"] = "0"
        return response


# What psycopg raises (through Django) when the server is down, restarting or unreachable,
# or when a connection it dropped is used again.
DATABASE_UNREACHABLE = (OperationalError, InterfaceError)


def database_unavailable(request, error):
    """Turn a lost database into the spec's 503 UNAVAILABLE, and drop the broken connections.

    The connections are persistent (``CONN_MAX_AGE``); one the server dropped would fail again
    on this thread's next request, so every connection of this thread that can no longer be
    used is closed here and reopened when next needed. Django's health check at the start of
    a request (``CONN_HEALTH_CHECKS``) covers the threads that did not see the failure.

    Args:
        request: the request that failed (for the log).
        error: the database error.

    Returns:
        Unavailable: the error to render.
    """
    log.warning("database unavailable during %s %s: %s", request.method, request.path, error)
    for connection in connections.all(initialized_only=True):
        if connection.in_atomic_block:
            # An enclosing transaction (a test's) owns the connection and ends it itself.
            continue
        try:
            # The error marked the connection (errors_occurred): it is checked and closed
            # if the server is gone.
            connection.close_if_unusable_or_obsolete()
        except DatabaseError:
            # Closing a connection whose server is gone can fail too; Django then drops it.
            pass
    return Unavailable(
        {"reason": "database unavailable"},
        message="the registry's database is unavailable; retry later",
    )


def served_or_404(name):
    """What ``name`` serves, or NAME_UNKNOWN."""
    served = serving.resolve(name)
    if served is None or served.repository_pk is None:
        raise NameUnknown({"name": name})
    return served


def modifiable_or_405(served):
    """Refuse deletes through a distribution pinned to one repository version."""
    if served.pinned:
        raise Unsupported(
            {"name": served.distribution.base_path},
            message="this name serves a fixed repository version, which cannot change",
        )
    return served


def push_repository(request, name):
    """Authorise a push to ``name`` and return its push repository (created on first push).

    Raises:
        Denied: the name is served by a regular repository.
    """
    return push_served(request, name).repository


def push_served(request, name):
    """Authorise a push to ``name`` and return what it serves, with its push repository
    (created on first push).

    Raises:
        Denied: the name is served by a regular repository.
    """
    identity = authorize(request, name, "pull", "push")
    try:
        return push_target(name, identity.user)
    except NotAPushRepository:
        raise Denied(
            {"name": name},
            message=f"{name!r} is served by a regular repository, which cannot be pushed to; "
            "manage it through the Pulp REST API",
        )


def empty_response(status, headers=None):
    """A response without a body (Content-Length: 0) and with the given headers."""
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    for header, value in (headers or {}).items():
        response[header] = value
    return response
