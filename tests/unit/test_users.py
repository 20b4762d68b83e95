"""The per-process cache of user rows (pulp_registry.app.users)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from pulp_registry.app import users


@pytest.fixture
def olga(django_user_model, settings):
    settings.REGISTRY_USER_CACHE_SECONDS = 60
    return django_user_model.objects.create_user("olga", password="pw")


def _queries(function):
    with CaptureQueriesContext(connection) as queries:
        result = function()
    return result, len(queries)


def test_a_user_is_read_once_per_ttl(olga):
    first, count = _queries(lambda: users.active_user(username="olga"))
    assert (first.pk, count) == (olga.pk, 1)
    again, count = _queries(lambda: users.active_user(username="olga"))
    assert (again.pk, again.username, count) == (olga.pk, "olga", 0)
    by_pk, count = _queries(lambda: users.active_user(pk=olga.pk))
    assert (by_pk.username, count) == ("olga", 0)
    # Each caller gets its own instance: per-request caches on it are not shared.
    assert again is not first and by_pk is not again
    assert again.check_password("pw")


def test_saving_or_deleting_a_user_drops_it_at_once(olga):
    users.active_user(username="olga")
    olga.is_active = False
    olga.save()
    assert users.active_user(username="olga") is None
    olga.is_active = True
    olga.username = "olga2"
    olga.save()
    assert users.active_user(username="olga") is None
    assert users.active_user(username="olga2").pk == olga.pk
    olga.delete()
    assert users.active_user(username="olga2") is None


def test_a_change_made_elsewhere_is_seen_after_the_ttl(olga, settings, monkeypatch):
    users.active_user(username="olga")
    # As another process would: no signal reaches this one.
    type(olga).objects.filter(pk=olga.pk).update(is_active=False)
    assert users.active_user(username="olga") is not None
    now = users._clock()
    monkeypatch.setattr(users, "_clock", lambda: now + 61)
    assert users.active_user(username="olga") is None


def test_no_cache_when_the_ttl_is_zero(olga, settings):
    settings.REGISTRY_USER_CACHE_SECONDS = 0
    users.active_user(username="olga")
    _, count = _queries(lambda: users.active_user(username="olga"))
    assert count == 1


def test_unknown_and_inactive_users_are_not_cached(olga, django_user_model):
    assert users.active_user(username="nobody") is None
    django_user_model.objects.create_user("nobody", password="pw")
    assert users.active_user(username="nobody").username == "nobody"
