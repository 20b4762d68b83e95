"""A lost database answered with 503 everywhere, not with Django's 500 page.

/v2/ and /token/ catch database errors in their views (``v2/views/base.py``). pulpcore's REST
API does not: while the database is unreachable its views, and pulpcore's domain middleware
before them, fail with an uncaught error that Django turns into an HTML ``500``. This
middleware (last in ``MIDDLEWARE``, so it sees what the views and the middleware before them
produced) replaces such a ``500`` by a ``503`` with a JSON body and ``Retry-After``, and drops
the broken connections so the thread's next request opens a new one.
"""

import sys

from django.core.signals import got_request_exception
from django.dispatch import receiver
from django.http import JsonResponse

from pulp_registry.app.v2.errors import error_response
from pulp_registry.app.v2.views.base import DATABASE_UNREACHABLE, database_unavailable

RETRY_AFTER_SECONDS = 10


class DatabaseUnavailableMiddleware:
    """Answer ``503`` for a request that failed because the database is unreachable."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        error = getattr(request, "_registry_database_error", None)
        if error is None or response.status_code != 500:
            return response
        unavailable = database_unavailable(request, error)
        if request.path.startswith(("/v2/", "/token/")):
            response = error_response(unavailable, request.method)
        else:
            response = JsonResponse(
                {"detail": "The database is unavailable; retry later."}, status=503
            )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response


@receiver(got_request_exception, dispatch_uid="pulp_registry.remember_database_error")
def _remember_database_error(sender, request=None, **kwargs):
    # Sent by Django while it handles the uncaught error, so the error is the current one.
    error = sys.exc_info()[1]
    if request is not None and isinstance(error, DATABASE_UNREACHABLE):
        request._registry_database_error = error
