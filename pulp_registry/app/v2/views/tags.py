"""``GET /v2/<name>/tags/list``: the repository's tags, sorted, paginated."""

from pulp_registry.app.v2.auth import authorize
from pulp_registry.app.v2.pagination import page_params, paged_json_response
from pulp_registry.app.v2.views.base import RegistryView, served_or_404


class TagsListView(RegistryView):
    """List the tags of the served repository version."""

    def get(self, request, name):
        authorize(request, name, "pull")
        served = served_or_404(name)
        limit, last = page_params(request)
        names = served.tag_names(last=last, limit=limit + 1) if limit else []
        return paged_json_response({"name": name}, "tags", names, limit, f"/v2/{name}/tags/list")
