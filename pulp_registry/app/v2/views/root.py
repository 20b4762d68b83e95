"""``GET /v2/`` (the API check), ``GET /v2/_catalog``, and the answer to /v2/ paths that are
no endpoint."""

from django.db.models import Q
from django.http import HttpResponse

from pulpcore.plugin.util import get_objects_for_user

from pulp_registry.app.models import Namespace, RegistryDistribution
from pulp_registry.app.v2.auth import authenticate_base, authorize_catalog
from pulp_registry.app.v2.errors import EndpointUnknown
from pulp_registry.app.v2.pagination import page_params, paged_json_response
from pulp_registry.app.v2.views.base import RegistryView


class ApiRootView(RegistryView):
    """``GET /v2/``: 200 for an authenticated caller, else 401 with the challenge."""

    def get(self, request):
        authenticate_base(request)
        return HttpResponse("{}", content_type="application/json")


def readable_distributions(user):
    """Distributions whose content ``user`` may pull."""
    distributions = RegistryDistribution.objects.all()
    if user.is_authenticated and (user.is_staff or user.is_superuser):
        return distributions
    visible = Q(private=False)
    if user.is_authenticated:
        if user.has_perm("registry.pull_namespace"):
            return distributions
        namespaces = get_objects_for_user(user, "registry.pull_namespace", Namespace.objects.all())
        visible |= Q(namespace__in=namespaces)
    return distributions.filter(visible)


class CatalogView(RegistryView):
    """``GET /v2/_catalog``: the names the caller may pull, sorted, paginated."""

    def get(self, request):
        identity = authorize_catalog(request)
        limit, last = page_params(request)
        names = readable_distributions(identity.user).filter(
            Q(repository__isnull=False) | Q(repository_version__isnull=False)
        )
        if last:
            names = names.filter(base_path__gt=last)
        names = list(names.order_by("base_path").values_list("base_path", flat=True)[: limit + 1])
        return paged_json_response({}, "repositories", names, limit, "/v2/_catalog")


class UnknownEndpointView(RegistryView):
    """Any other /v2/ path: 404 in the spec's JSON error format, whatever the method."""

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise EndpointUnknown({"path": request.path})

    options = http_method_not_allowed
