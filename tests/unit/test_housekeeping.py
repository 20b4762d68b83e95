"""Faults and housekeeping in the API process: a lost database answers the spec's 503
UNAVAILABLE on /v2/ and /token/, and abandoned uploads expire after REGISTRY_UPLOAD_EXPIRY.

The database outage itself cannot happen in a unit test (the test database is shared by the
whole run), so here the lookup that would reach it raises what Django raises then; the real
outage is tested in tests/functional/test_faults.py.
"""

import json

import pytest
from django.db import InterfaceError, OperationalError

from pulp_registry.app import access, serving

pytestmark = pytest.mark.django_db


def _error(response):
    body = json.loads(response.content)
    assert set(body["errors"][0]) == {"code", "message", "detail"}
    return body["errors"][0]


@pytest.mark.parametrize("exception", [OperationalError, InterfaceError])
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/v2/some/name/tags/list"),
        ("head", "/v2/some/name/manifests/latest"),
        ("post", "/v2/some/name/blobs/uploads/"),
    ],
)
def test_v2_answers_503_unavailable_when_the_database_is_gone(
    client, settings, monkeypatch, method, path, exception
):
    settings.TOKEN_AUTH_DISABLED = True

    def database_gone(*args, **kwargs):
        raise exception("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(serving, "resolve", database_gone)
    monkeypatch.setattr(access, "allowed_actions", database_gone)
    response = getattr(client, method)(path)
    assert response.status_code == 503
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"
    if method != "head":
        error = _error(response)
        assert error["code"] == "UNAVAILABLE"
        # Nothing of the server's connection details reaches the client.
        assert "127.0.0.1" not in json.dumps(error)


def test_token_service_answers_503_unavailable_when_the_database_is_gone(
    client, settings, monkeypatch
):
    settings.TOKEN_AUTH_DISABLED = False

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(access, "allowed_actions", database_gone)
    response = client.get("/token/", {"scope": "repository:some/name:pull"})
    assert response.status_code == 503
    assert _error(response)["code"] == "UNAVAILABLE"
