"""Who may do what: the permission rules of :mod:`pulp_registry.app.access` on pulpcore roles,
and the REST API that manages namespaces, their roles and the visibility of distributions."""

import json

import pytest

from pulp_registry.app import access
from pulp_registry.app.models import Namespace, RegistryDistribution
from pulp_registry.app.viewsets import NamespaceViewSet, RegistryDistributionViewSet
from pulpcore.plugin.util import assign_role
from tests.unit.authutil import basic, no_stale_current_user, sync_access_policies  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_stale_current_user")]

PULL, PUSH, DELETE = "pull", "push", "delete"
ALL = {PULL, PUSH, DELETE}


@pytest.fixture
def world(django_user_model, settings):
    """Namespace ``team`` (owner olga, collaborator colin, consumer cora) with a public and a
    private distribution; nora has no role; sam is staff; root is a superuser; maker has the
    namespace_creator role."""
    settings.TOKEN_AUTH_DISABLED = False
    make = django_user_model.objects.create_user
    users = {name: make(name, password=f"{name}-pw")
             for name in ("olga", "colin", "cora", "nora", "maker")}
    users["sam"] = make("sam", password="sam-pw", is_staff=True)
    users["root"] = django_user_model.objects.create_superuser("root", password="root-pw")
    team = Namespace.objects.create(name="team")
    assign_role("registry.namespace_owner", users["olga"], team)
    assign_role("registry.namespace_collaborator", users["colin"], team)
    assign_role("registry.namespace_consumer", users["cora"], team)
    assign_role("registry.namespace_creator", users["maker"])
    RegistryDistribution.objects.create(name="team/public", base_path="team/public",
                                        namespace=team)
    RegistryDistribution.objects.create(name="team/private", base_path="team/private",
                                        namespace=team, private=True)
    return users


def allowed(user, name, actions=ALL):
    return access.allowed_actions(user, name, actions)


def test_anonymous_pulls_public_and_unknown_names_only(world):
    from django.contrib.auth.models import AnonymousUser

    anonymous = AnonymousUser()
    assert allowed(anonymous, "team/public") == {PULL}
    assert allowed(anonymous, "team/private") == set()
    assert allowed(anonymous, "no/such") == {PULL}  # answered later with NAME_UNKNOWN
    assert allowed(anonymous, "anonymous/x") == {PULL}


@pytest.mark.parametrize(
    "user,name,expected",
    [
        ("olga", "team/public", ALL),
        ("olga", "team/private", ALL),
        ("olga", "team/brand-new", ALL),
        ("colin", "team/public", {PULL, PUSH}),
        ("colin", "team/private", {PULL, PUSH}),
        ("cora", "team/public", {PULL}),
        ("cora", "team/private", {PULL}),
        ("nora", "team/public", {PULL}),
        ("nora", "team/private", set()),
        # A user may create the namespace named after their username, no other.
        ("nora", "nora/app", {PULL, PUSH}),
        ("nora", "nora", {PULL, PUSH}),
        ("nora", "other/app", {PULL}),
        ("nora", "noraa/app", {PULL}),
        # ... unless given the namespace_creator role (which does not open existing ones).
        ("maker", "anything/app", {PULL, PUSH}),
        ("maker", "team/public", {PULL}),
        ("sam", "team/private", ALL),
        ("sam", "whatever/x", ALL),
        ("root", "team/private", ALL),
    ],
)
def test_role_rules(world, user, name, expected):
    assert allowed(world[user], name) == expected


def test_requested_actions_bound_the_answer(world):
    assert allowed(world["olga"], "team/public", {PULL}) == {PULL}
    assert allowed(world["olga"], "team/public", {"*", "bogus"}) == set()


def test_global_roles_apply_to_every_namespace(world):
    assign_role("registry.namespace_consumer", world["nora"])
    assert allowed(world["nora"], "team/private") == {PULL}


def test_with_token_auth_disabled_only_staff_push(world, settings):
    settings.TOKEN_AUTH_DISABLED = True
    assert allowed(world["olga"], "team/public") == {PULL}
    assert allowed(world["nora"], "nora/app") == {PULL}
    assert allowed(world["cora"], "team/private") == {PULL}
    assert allowed(world["sam"], "team/public") == ALL
    reason = access.denial_reason(world["olga"], "team/public", {PUSH})
    assert "only staff users may push" in reason


def test_denial_reasons_say_why(world):
    from django.contrib.auth.models import AnonymousUser

    assert "anonymous users may only pull" in access.denial_reason(
        AnonymousUser(), "team/public", {PUSH}
    )
    assert "private" in access.denial_reason(AnonymousUser(), "team/private", {PULL})
    reason = access.denial_reason(world["cora"], "team/public", {PUSH})
    assert "registry.push_namespace" in reason and "'team'" in reason
    assert "registry.namespace_collaborator" in reason
    reason = access.denial_reason(world["colin"], "team/public", {DELETE})
    assert "registry.delete_namespace_content" in reason
    assert "registry.namespace_owner" in reason
    assert "registry.namespace_consumer" in access.denial_reason(
        world["nora"], "team/private", {PULL}
    )
    reason = access.denial_reason(world["nora"], "other/app", {PUSH})
    assert "may not create namespace 'other'" in reason
    assert "registry.namespace_creator" in reason


# --- the REST API -----------------------------------------------------------------------------

NAMESPACES = "/pulp/api/v3/pulp_registry/namespaces/"
DISTRIBUTIONS = "/pulp/api/v3/distributions/registry/registry/"


@pytest.fixture
def api(client, world):
    sync_access_policies(NamespaceViewSet, RegistryDistributionViewSet)

    def call(method, path, user, data=None):
        headers = {"HTTP_AUTHORIZATION": basic(user, f"{user}-pw")}
        if method == "get":
            return client.get(path, **headers)
        return getattr(client, method)(
            path, data=json.dumps(data or {}), content_type="application/json", **headers
        )

    return call


def _href(name):
    return f"{NAMESPACES}{Namespace.objects.get(name=name).pk}/"


def test_user_creates_own_namespace_and_owns_it(api, world):
    response = api("post", NAMESPACES, "nora", {"name": "nora"})
    assert response.status_code == 201, response.content
    namespace = Namespace.objects.get(name="nora")
    assert world["nora"].has_perm("registry.manage_roles_namespace", namespace)
    assert api("post", NAMESPACES, "nora", {"name": "someone"}).status_code == 403
    assert api("post", NAMESPACES, "maker", {"name": "someone"}).status_code == 201


def test_namespace_owner_manages_roles(api, world):
    href = _href("team")
    response = api("post", f"{href}add_role/", "olga",
                   {"role": "registry.namespace_collaborator", "users": ["nora"]})
    assert response.status_code == 201, response.content
    assert allowed(world["nora"], "team/private") == {PULL, PUSH}
    roles = json.loads(api("get", f"{href}list_roles/", "olga").content)["roles"]
    assert {"role": "registry.namespace_collaborator", "users": ["colin", "nora"],
            "groups": []} in roles
    response = api("post", f"{href}remove_role/", "olga",
                   {"role": "registry.namespace_collaborator", "users": ["nora"]})
    assert response.status_code == 201, response.content
    assert allowed(world["nora"], "team/private") == set()


@pytest.mark.parametrize("user", ["colin", "cora"])
def test_collaborators_and_consumers_cannot_manage_roles(api, world, user):
    response = api("post", f"{_href('team')}add_role/", user,
                   {"role": "registry.namespace_owner", "users": [user]})
    assert response.status_code == 403
    assert allowed(world[user], "team/public", {DELETE}) == set()


def test_strangers_do_not_see_the_namespace(api, world):
    response = api("post", f"{_href('team')}add_role/", "nora",
                   {"role": "registry.namespace_owner", "users": ["nora"]})
    assert response.status_code in (403, 404)
    listed = json.loads(api("get", NAMESPACES, "nora").content)["results"]
    assert "team" not in {n["name"] for n in listed}


def test_private_distributions_are_hidden_from_other_users(api, world):
    def names(user):
        body = json.loads(api("get", f"{DISTRIBUTIONS}?limit=100", user).content)
        return {d["base_path"] for d in body["results"]}

    assert names("nora") == {"team/public"}
    assert names("cora") == {"team/public", "team/private"}
    assert names("root") >= {"team/public", "team/private"}


def test_namespace_owner_may_make_a_distribution_private(api, world, monkeypatch):
    from datetime import timedelta

    from pulpcore.app.models import AppStatus

    # Updates are tasks; pulpcore runs them at once in an API process, which it recognises
    # by its AppStatus (saved in the test's transaction, so it goes away with it).
    status = AppStatus(app_type="api", name="unit-tests", ttl=timedelta(seconds=60))
    status.save()
    monkeypatch.setattr(AppStatus.objects, "_current_app_status", status)
    distribution = RegistryDistribution.objects.get(base_path="team/public")
    href = f"{DISTRIBUTIONS}{distribution.pk}/"
    assert api("patch", href, "colin", {"private": True}).status_code == 403
    response = api("patch", href, "olga", {"private": True, "description": "ours"})
    assert response.status_code == 202, response.content
    distribution.refresh_from_db()
    assert distribution.private and distribution.description == "ours"
    assert allowed(world["nora"], "team/public") == set()
    # Moving the distribution or changing what it serves needs distribution permissions.
    assert api("patch", href, "olga", {"base_path": "elsewhere/x"}).status_code == 403


def test_namespace_members_see_the_history_of_its_push_repositories(api, world):
    from pulp_registry.app.models import RegistryPushRepository
    from pulp_registry.app.viewsets import RegistryPushRepositoryVersionViewSet

    sync_access_policies(RegistryPushRepositoryVersionViewSet)
    repository = RegistryPushRepository.objects.create(name="team/pushed")
    RegistryDistribution.objects.create(name="team/pushed", base_path="team/pushed",
                                        namespace=Namespace.objects.get(name="team"),
                                        repository=repository, private=True)
    versions = f"/pulp/api/v3/repositories/registry/registry-push/{repository.pk}/versions/"
    for user in ("olga", "colin", "cora", "root"):
        response = api("get", versions, user)
        assert response.status_code == 200, (user, response.content)
        assert [v["number"] for v in json.loads(response.content)["results"]] == [0]
        assert api("get", f"{versions}0/", user).status_code == 200
    assert api("get", versions, "nora").status_code == 403
    assert api("get", f"{versions}0/", "nora").status_code in (403, 404)
