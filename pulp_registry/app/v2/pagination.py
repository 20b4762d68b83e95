"""The ``n`` / ``last`` pagination of tag lists and the catalog."""

import json
from urllib.parse import urlencode

from django.conf import settings
from django.http import HttpResponse

from pulp_registry.app.v2.errors import PaginationInvalid


def page_params(request):
    """Read ``n`` and ``last`` from the query string.

    Returns:
        tuple[int, str | None]: the page size (capped at ``REGISTRY_MAX_PAGE_SIZE``) and the
        last name of the previous page.
    """
    maximum = int(settings.REGISTRY_MAX_PAGE_SIZE)
    raw = request.GET.get("n")
    if raw in (None, ""):
        limit = maximum
    else:
        # Only plain decimal digits: int() would also take " 5", "1_0" or other scripts' digits.
        if not (raw.isascii() and raw.isdigit()):
            raise PaginationInvalid({"n": raw})
        # Past 18 digits it is above any maximum (and Python will not convert thousands).
        limit = min(int(raw) if len(raw) <= 18 else maximum, maximum)
    last = request.GET.get("last") or None
    if last is not None and "\x00" in last:
        # No name holds a NUL, and PostgreSQL refuses one in a query.
        raise PaginationInvalid({"last": last}, message="invalid last: it holds a NUL character")
    return limit, last


def paged_json_response(body, key, items, limit, path):
    """Build a list response with a ``Link`` to the next page when there is one.

    Args:
        body: the JSON body without the list (e.g. ``{"name": ...}``).
        key: the key of the list in the body (``tags`` or ``repositories``).
        items: up to ``limit + 1`` sorted names; one more than ``limit`` means "more follow".
        limit: the page size.
        path: the URL path the ``Link`` points to.

    Returns:
        django.http.HttpResponse: the JSON response.
    """
    page = items[:limit]
    response = HttpResponse(json.dumps({**body, key: page}), content_type="application/json")
    if len(items) > limit and page:
        query = urlencode({"n": limit, "last": page[-1]})
        response["Link"] = f'<{path}?{query}>; rel="next"'
    return response
