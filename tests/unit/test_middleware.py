"""A request that fails because the database is unreachable gets a 503, on pulpcore's REST API
(whose views and domain middleware do not catch it) as on /v2/."""

import pytest
from django.db import OperationalError
from django.test import Client

from pulpcore.plugin.models import Domain

from tests.unit.authutil import basic

pytestmark = pytest.mark.django_db


@pytest.fixture
def unreachable_database(monkeypatch):
    """Every domain lookup (pulpcore's middleware makes one per REST request) fails as if
    the database server were gone."""

    def fail(*args, **kwargs):
        raise OperationalError("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(Domain.objects, "get", fail)


def test_rest_api_answers_503_json(django_user_model, unreachable_database):
    django_user_model.objects.create_superuser("root", password="root-pw")
    client = Client(raise_request_exception=False)
    response = client.get("/pulp/api/v3/repositories/registry/registry-push/",
                          HTTP_AUTHORIZATION=basic("root", "root-pw"))
    assert response.status_code == 503, response.content
    assert response.json() == {"detail": "The database is unavailable; retry later."}
    assert response["Retry-After"] == "10"


def test_other_server_errors_stay_500(django_user_model, monkeypatch):
    django_user_model.objects.create_superuser("root", password="root-pw")

    def fail(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(Domain.objects, "get", fail)
    client = Client(raise_request_exception=False)
    response = client.get("/pulp/api/v3/repositories/registry/registry-push/",
                          HTTP_AUTHORIZATION=basic("root", "root-pw"))
    assert response.status_code == 500
