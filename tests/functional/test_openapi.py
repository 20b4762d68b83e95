"""The registry's part of pulpcore's generated OpenAPI schema, as the running API serves it
(``/pulp/api/v3/docs/api.json``) and as ``pulpcore-manager openapi`` writes it: it validates
against the OpenAPI specification, lists exactly the registry's endpoints, and gives the
operations their request and response types.

Needs ``openapi-spec-validator`` (requirements-test.txt).
"""

import json

import pytest
import requests
from openapi_spec_validator import validate

pytestmark = pytest.mark.functional

API = "/pulp/api/v3"
PUSH = f"{API}/repositories/registry/registry-push/{{pulp_id}}/"
REGULAR = f"{API}/repositories/registry/registry/{{pulp_id}}/"
LABELS = ("set_label/", "unset_label/")
ROLES = (("add_role/", "post"), ("list_roles/", "get"), ("my_permissions/", "get"),
         ("remove_role/", "post"))

# Every operation of the registry's REST API: (method, path).
EXPECTED = {
    *(("get", f"{API}/content/registry/{kind}/") for kind in ("blobs", "manifests", "tags")),
    *(("get", f"{API}/content/registry/{kind}/{{pulp_id}}/")
      for kind in ("blobs", "manifests", "tags")),
    *(("post", f"{API}/content/registry/{kind}/{{pulp_id}}/{label}")
      for kind in ("blobs", "manifests", "tags") for label in LABELS),
    # push repositories
    ("get", f"{API}/repositories/registry/registry-push/"),
    ("post", f"{API}/repositories/registry/registry-push/"),
    *((method, PUSH) for method in ("get", "put", "patch", "delete")),
    *(("post", PUSH + action) for action in (
        "tag/", "untag/", "remove_image/", "modify/", "copy_tags/", "copy_manifests/", *LABELS)),
    *((method, PUSH + action) for action, method in ROLES),
    ("get", f"{API}/repositories/registry/registry-push/{{repository_pk}}/versions/"),
    *((method, f"{API}/repositories/registry/registry-push/{{repository_pk}}/versions/{{number}}/")
      for method in ("get", "delete")),
    ("post",
     f"{API}/repositories/registry/registry-push/{{repository_pk}}/versions/{{number}}/repair/"),
    # regular repositories
    ("get", f"{API}/repositories/registry/registry/"),
    ("post", f"{API}/repositories/registry/registry/"),
    *((method, REGULAR) for method in ("get", "put", "patch", "delete")),
    *(("post", REGULAR + action) for action in (
        "tag/", "untag/", "remove_image/", "modify/", "copy_tags/", "copy_manifests/", *LABELS)),
    *((method, REGULAR + action) for action, method in ROLES),
    ("get", f"{API}/repositories/registry/registry/{{repository_pk}}/versions/"),
    *((method, f"{API}/repositories/registry/registry/{{repository_pk}}/versions/{{number}}/")
      for method in ("get", "delete")),
    ("post", f"{API}/repositories/registry/registry/{{repository_pk}}/versions/{{number}}/repair/"),
    # distributions
    ("get", f"{API}/distributions/registry/registry/"),
    ("post", f"{API}/distributions/registry/registry/"),
    *((method, f"{API}/distributions/registry/registry/{{pulp_id}}/")
      for method in ("get", "put", "patch", "delete")),
    *(("post", f"{API}/distributions/registry/registry/{{pulp_id}}/{label}") for label in LABELS),
    *((method, f"{API}/distributions/registry/registry/{{pulp_id}}/{action}")
      for action, method in ROLES),
    # namespaces
    ("get", f"{API}/pulp_registry/namespaces/"),
    ("post", f"{API}/pulp_registry/namespaces/"),
    *((method, f"{API}/pulp_registry/namespaces/{{pulp_id}}/") for method in ("get", "delete")),
    *((method, f"{API}/pulp_registry/namespaces/{{pulp_id}}/{action}")
      for action, method in ROLES),
}

# The operations of this plugin: request body component, for both repository types.
OPERATIONS = {
    "tag/": "registry.TagImage",
    "untag/": "registry.UntagImage",
    "remove_image/": "registry.RemoveImage",
    "copy_tags/": "registry.CopyTags",
    "copy_manifests/": "registry.CopyManifests",
    "modify/": "RepositoryAddRemoveContent",
}


@pytest.fixture(scope="module")
def schema(registry):
    response = requests.get(f"{registry.url}{API}/docs/api.json",
                            params={"component": "registry", "pk_path": "1"}, timeout=120)
    assert response.status_code == 200
    return response.json()


def operations(schema):
    return {
        (method, path)
        for path, item in schema["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    }


def test_schema_validates(schema):
    validate(schema)


def test_schema_lists_exactly_our_endpoints(schema):
    found = operations(schema)
    assert found - EXPECTED == set(), "undocumented in this test"
    assert EXPECTED - found == set(), "missing from the schema"


def _ref(node):
    return node["$ref"].rsplit("/", 1)[1]


@pytest.mark.parametrize("base", [PUSH, REGULAR])
@pytest.mark.parametrize("action", sorted(OPERATIONS))
def test_operations_have_request_and_response_types(schema, base, action):
    operation = schema["paths"][base + action]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert _ref(body) == OPERATIONS[action]
    assert _ref(operation["responses"]["202"]["content"]["application/json"]["schema"]) == \
        "AsyncOperationResponse"
    assert operation.get("summary")


def test_operation_bodies_describe_their_fields(schema):
    components = schema["components"]["schemas"]
    assert set(components["registry.TagImage"]["required"]) == {"tag", "digest"}
    assert components["registry.UntagImage"]["required"] == ["tag"]
    assert components["registry.RemoveImage"]["required"] == ["digest"]
    for name in ("registry.CopyTags", "registry.CopyManifests"):
        properties = components[name]["properties"]
        assert {"source_repository", "source_repository_version"} <= set(properties)
    assert components["registry.CopyTags"]["properties"]["names"]["type"] == "array"
    assert components["registry.CopyManifests"]["properties"]["digests"]["type"] == "array"


def test_manager_writes_a_valid_schema_with_our_endpoints(registry, tmp_path):
    target = tmp_path / "api.json"
    result = registry.manage("openapi", "--pk-path", "--component", "registry", "--format",
                             "openapi-json", "--file", str(target), check=False, timeout=600)
    assert result.returncode == 0, result.stderr
    written = json.loads(target.read_text())
    validate(written)
    assert operations(written) == EXPECTED


def test_full_schema_includes_our_operations(registry):
    """The schema of the whole API (all plugins, hrefs as path variables: what bindings are
    generated from) has our operations too."""
    response = requests.get(f"{registry.url}{API}/docs/api.json", params={"bindings": "1"},
                            timeout=300)
    assert response.status_code == 200
    paths = response.json()["paths"]
    for action in OPERATIONS:
        assert f"{{registry_registry_repository_href}}{action}" in paths
        assert f"{{registry_registry_push_repository_href}}{action}" in paths
