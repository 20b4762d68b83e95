"""URLs of the registry protocol (``/v2/``) and the token service (``/token/``); pulpcore
mounts them at the root of the API server. The Pulp REST API is routed by pulpcore itself."""

from django.urls import re_path

from pulp_registry.app.token.views import TokenView
from pulp_registry.app.v2.views.blobs import BlobView
from pulp_registry.app.v2.views.manifests import ManifestView
from pulp_registry.app.v2.views.referrers import ReferrersView
from pulp_registry.app.v2.views.root import ApiRootView, CatalogView, UnknownEndpointView
from pulp_registry.app.v2.views.tags import TagsListView
from pulp_registry.app.v2.views.uploads import UploadStartView, UploadView

NAME = r"(?P<name>[^?#]+?)"

urlpatterns = [
    re_path(r"^v2/?$", ApiRootView.as_view()),
    re_path(r"^v2/_catalog/?$", CatalogView.as_view()),
    re_path(rf"^v2/{NAME}/tags/list/?$", TagsListView.as_view()),
    re_path(rf"^v2/{NAME}/manifests/(?P<reference>[^/]+)$", ManifestView.as_view()),
    re_path(rf"^v2/{NAME}/blobs/uploads/?$", UploadStartView.as_view()),
    re_path(rf"^v2/{NAME}/blobs/uploads/(?P<session_id>[^/]+)$", UploadView.as_view()),
    re_path(rf"^v2/{NAME}/blobs/(?P<digest>[^/]+)$", BlobView.as_view()),
    re_path(rf"^v2/{NAME}/referrers/(?P<digest>[^/]+)$", ReferrersView.as_view()),
    re_path(r"^v2/", UnknownEndpointView.as_view()),
    re_path(r"^token/?$", TokenView.as_view()),
]
