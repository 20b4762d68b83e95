"""Authentication and authorisation of /v2/ through Django's test client on the real database:
Bearer challenges, forged and misdirected tokens, who may push and pull, private
distributions, mounts, token renewal in the middle of an upload, HTTP Basic mode, and the
database cost of verifying a token."""

import json
import time
from unittest import mock

import pytest
from django.db import connection
from django.test.client import RequestFactory
from django.test.utils import CaptureQueriesContext

from pulp_registry.app import credentials
from pulp_registry.app.models import Namespace, RegistryDistribution, UploadSession
from pulp_registry.app.token import tokens
from pulp_registry.app.v2 import auth
from pulpcore.plugin.util import assign_role
from tests.functional import images
from tests.unit.authutil import (  # noqa: F401 (fixture)
    SERVICE,
    BearerClient,
    basic,
    claims_for,
    error_code,
    error_message,
    hs256_with_public_key,
    no_stale_current_user,
    parse_challenge,
    repo_access,
    sign,
    token_settings,
    unsigned_token,
    write_key_pair,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_stale_current_user")]


@pytest.fixture
def users(django_user_model, token_settings):
    """olga owns namespace ``team``; colin collaborates; cora consumes; nora has no role;
    sam is staff. ``team/private`` is a private distribution with an image."""
    credentials.clear_cache()
    make = django_user_model.objects.create_user
    people = {name: make(name, password=f"{name}-pw") for name in ("olga", "colin", "cora",
                                                                   "nora")}
    people["sam"] = make("sam", password="sam-pw", is_staff=True)
    team = Namespace.objects.create(name="team")
    assign_role("registry.namespace_owner", people["olga"], team)
    assign_role("registry.namespace_collaborator", people["colin"], team)
    assign_role("registry.namespace_consumer", people["cora"], team)
    return people


def as_user(client, name):
    return BearerClient(client, name, f"{name}-pw")


def anonymous(client):
    return BearerClient(client)


@pytest.fixture
def private_image(client, users):
    """``team/private`` (private) holding one image pushed by olga; returns its digest."""
    olga = as_user(client, "olga")
    olga.login("repository:team/private:pull,push")
    digest = olga.push_image("team/private", "v1")
    RegistryDistribution.objects.filter(base_path="team/private").update(private=True)
    return digest


# --- challenges -------------------------------------------------------------------------------


def test_base_challenges_then_accepts_any_valid_token(client, users):
    response = client.get("/v2/")
    assert response.status_code == 401
    scheme, params = parse_challenge(response["WWW-Authenticate"])
    assert scheme == "Bearer"
    assert params == {"realm": "http://testserver/token/", "service": SERVICE}
    anon = anonymous(client)
    anon.login()
    assert anon.request("GET", "/v2/").status_code == 200
    nora = as_user(client, "nora")
    nora.login()
    assert nora.request("GET", "/v2/").status_code == 200


def test_configured_token_server_and_service_are_announced(client, users, token_settings):
    token_settings.TOKEN_SERVER = "https://auth.example.com/token/"
    token_settings.TOKEN_SERVICE = "registry.example.com"
    _, params = parse_challenge(client.get("/v2/")["WWW-Authenticate"])
    assert params == {"realm": "https://auth.example.com/token/",
                      "service": "registry.example.com"}


def test_anonymous_push_gets_the_bearer_challenge(client, users):
    response = anonymous(client).try_push("team/app")
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    scheme, params = parse_challenge(response["WWW-Authenticate"])
    assert scheme == "Bearer"
    assert params["scope"] == "repository:team/app:pull,push"
    assert "error" not in params
    # The anonymous token for that scope grants pull only: still a challenge, now saying the
    # scope is insufficient (so the client asks its user to log in).
    anon = anonymous(client)
    anon.login(params["scope"])
    response = anon.try_push("team/app")
    assert response.status_code == 401
    _, params = parse_challenge(response["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "repository:team/app:pull,push"


def test_user_without_permission_is_denied(client, users):
    nora = as_user(client, "nora")
    nora.login("repository:team/app:pull,push")
    response = nora.try_push("team/app")
    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    assert "registry.push_namespace" in error_message(response)
    nora.login("repository:elsewhere/app:pull,push")
    response = nora.try_push("elsewhere/app")
    assert response.status_code == 403
    assert "may not create namespace 'elsewhere'" in error_message(response)


def test_a_token_for_less_than_the_user_may_do_is_a_challenge(client, users):
    olga = as_user(client, "olga")
    olga.login("repository:team/app:pull")  # asked for pull only
    response = olga.try_push("team/app")
    assert response.status_code == 401
    _, params = parse_challenge(response["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    olga.login(params["scope"])
    assert olga.try_push("team/app").status_code == 201


# --- refused tokens ---------------------------------------------------------------------------


def _bad_token(kind, token_settings, tmp_path):
    key = token_settings.private_key_object
    access = repo_access("team/app", "pull", "push")
    if kind == "expired":
        return sign(claims_for("olga", access, now=int(time.time()) - 400), key)
    if kind == "other_key":
        _, _, other = write_key_pair(tmp_path, stem="attacker")
        return sign(claims_for("olga", access), other)
    if kind == "alg_none":
        return unsigned_token(claims_for("olga", access))
    if kind == "hs256_public_key":
        public_pem = open(token_settings.PUBLIC_KEY_PATH, "rb").read()
        return hs256_with_public_key(claims_for("olga", access), public_pem)
    if kind == "other_audience":
        return sign(claims_for("olga", access, audience="registry.example.com"), key)
    if kind == "refresh_token":
        return sign(claims_for("olga", access, token_use="refresh"), key)
    if kind == "deleted_user":
        return sign(claims_for("ghost", access), key)
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    ["expired", "other_key", "alg_none", "hs256_public_key", "other_audience", "refresh_token",
     "deleted_user"],
)
def test_forged_or_stale_tokens_are_refused(client, users, token_settings, tmp_path, kind):
    # Each of these tokens claims push on team/app for its owner, olga.
    olga = as_user(client, "olga")
    olga.token = _bad_token(kind, token_settings, tmp_path)
    response = olga.try_push("team/app")
    assert response.status_code == 401, response.content
    assert error_code(response) == "UNAUTHORIZED"
    _, params = parse_challenge(response["WWW-Authenticate"])
    assert params["error"] == "invalid_token"
    assert params["scope"] == "repository:team/app:pull,push"
    assert not Namespace.objects.filter(name="team").first().distributions.exists()
    assert olga.request("GET", "/v2/").status_code == 401


def test_a_token_scoped_to_another_repository_is_refused(client, users):
    olga = as_user(client, "olga")
    olga.login("repository:team/one:pull,push")
    assert olga.try_push("team/one").status_code == 201
    response = olga.try_push("team/two")
    assert response.status_code == 401
    _, params = parse_challenge(response["WWW-Authenticate"])
    assert params["error"] == "insufficient_scope"
    assert params["scope"] == "repository:team/two:pull,push"
    assert not RegistryDistribution.objects.filter(base_path="team/two").exists()


def test_a_token_for_another_users_repository_does_not_carry_over(client, users, token_settings):
    # A genuine token of nora's own namespace says nothing about team/app.
    nora = as_user(client, "nora")
    nora.login("repository:nora/app:pull,push")
    assert nora.try_push("nora/app").status_code == 201
    assert nora.try_push("team/app").status_code == 403


# --- who pushes and pulls ---------------------------------------------------------------------


def test_first_push_to_own_namespace_makes_the_user_its_owner(client, users):
    nora = as_user(client, "nora")
    nora.login("repository:nora/app:pull,push")
    nora.push_image("nora/app", "latest")
    namespace = Namespace.objects.get(name="nora")
    assert users["nora"].has_perm("registry.manage_roles_namespace", namespace)
    assert RegistryDistribution.objects.get(base_path="nora/app").namespace == namespace


@pytest.mark.parametrize("user", ["olga", "colin", "sam"])
def test_owner_collaborator_and_staff_push(client, users, user):
    pusher = as_user(client, user)
    pusher.login("repository:team/app:pull,push")
    digest = pusher.push_image("team/app", user)
    response = pusher.request("GET", f"/v2/team/app/manifests/{user}")
    assert response.status_code == 200
    assert response["Docker-Content-Digest"] == digest


def test_consumer_pulls_but_cannot_push(client, users, private_image):
    cora = as_user(client, "cora")
    cora.login("repository:team/private:pull,push")
    response = cora.request("GET", "/v2/team/private/manifests/v1")
    assert response.status_code == 200
    assert response["Docker-Content-Digest"] == private_image
    response = cora.try_push("team/private")
    assert response.status_code == 403
    assert error_code(response) == "DENIED"


def test_only_the_owner_deletes(client, users, private_image):
    path = f"/v2/team/private/manifests/{private_image}"
    colin = as_user(client, "colin")
    colin.login("repository:team/private:delete")
    assert colin.request("DELETE", path).status_code == 403
    olga = as_user(client, "olga")
    olga.login("repository:team/private:delete")
    assert olga.request("DELETE", path).status_code == 202


def test_private_distribution_is_hidden(client, users, private_image):
    for who in (anonymous(client), as_user(client, "nora")):
        who.login("repository:team/private:pull", "registry:catalog:*")
        response = who.request("GET", "/v2/team/private/manifests/v1")
        if who.username:
            assert response.status_code == 403
            assert error_code(response) == "DENIED"
        else:
            assert response.status_code == 401
            assert parse_challenge(response["WWW-Authenticate"])[1]["error"] == (
                "insufficient_scope"
            )
        assert who.request("GET", "/v2/team/private/tags/list").status_code in (401, 403)
        catalog = json.loads(who.request("GET", "/v2/_catalog").content)["repositories"]
        assert "team/private" not in catalog
    cora = as_user(client, "cora")
    cora.login("registry:catalog:*")
    assert "team/private" in json.loads(cora.request("GET", "/v2/_catalog").content)[
        "repositories"
    ]


def test_catalog_needs_the_catalog_scope(client, users):
    anon = anonymous(client)
    anon.login("repository:team/app:pull")
    response = anon.request("GET", "/v2/_catalog")
    assert response.status_code == 401
    assert parse_challenge(response["WWW-Authenticate"])[1]["scope"] == "registry:catalog:*"


# --- mounts -----------------------------------------------------------------------------------


def test_mount_from_an_unreadable_repository_is_a_plain_upload(client, users, private_image):
    olga = as_user(client, "olga")
    olga.login("repository:team/private:pull")
    manifest = json.loads(olga.request("GET", "/v2/team/private/manifests/v1").content)
    layer = manifest["layers"][0]["digest"]
    nora = as_user(client, "nora")
    nora.login("repository:nora/app:pull,push", "repository:team/private:pull")
    mount = f"/v2/nora/app/blobs/uploads/?mount={layer}&from=team/private"
    response = nora.request("POST", mount)
    assert response.status_code == 202
    assert response["Location"].startswith("/v2/nora/app/blobs/uploads/")
    assert nora.request("HEAD", f"/v2/nora/app/blobs/{layer}").status_code == 404
    unknown = nora.request("POST", f"/v2/nora/app/blobs/uploads/?mount=sha256:{'1' * 64}"
                           "&from=team/private")
    assert unknown.status_code == 202
    assert set(response.headers) >= {"Location", "Range", "Docker-Upload-UUID"}
    assert set(unknown.headers) >= {"Location", "Range", "Docker-Upload-UUID"}
    # Without a usable "from", the registry looks for a readable copy itself: none here.
    assert nora.request("POST", f"/v2/nora/app/blobs/uploads/?mount={layer}").status_code == 202
    # A reader of the source mounts it.
    assign_role("registry.namespace_consumer", users["nora"], Namespace.objects.get(name="team"))
    nora.login("repository:nora/app:pull,push", "repository:team/private:pull")
    assert nora.request("POST", mount).status_code == 201
    assert nora.request("HEAD", f"/v2/nora/app/blobs/{layer}").status_code == 200


# --- long pushes ------------------------------------------------------------------------------


def test_upload_survives_token_expiry(client, users, token_settings):
    """A push that outlives its token: the expired token gets a challenge naming the scope,
    the client fetches a new token and carries on with the same upload session."""
    token_settings.TOKEN_EXPIRATION_TIME = 1
    name = "team/long"
    olga = as_user(client, "olga")
    # Backdate the first token so that, with the tolerated clock skew, it stays valid for
    # about 3 s from now: long enough to start the upload, short enough to wait out.
    issued = time.time() - (tokens.CLOCK_SKEW_SECONDS - 2)
    with mock.patch.object(tokens.time, "time", lambda: issued):
        olga.login(f"repository:{name}:pull,push")
    valid_until = issued + 1 + tokens.CLOCK_SKEW_SECONDS
    response = olga.request("POST", f"/v2/{name}/blobs/uploads/")
    assert response.status_code == 202
    location = response["Location"]
    data = images.random_blob(3000)[0]
    first, second = data[:1000], data[1000:]
    response = olga.request("PATCH", location, first, HTTP_CONTENT_RANGE="0-999")
    assert response.status_code == 202
    assert time.time() < valid_until, "the test machine is too slow for this test"
    time.sleep(valid_until - time.time() + 1.1)
    response = olga.request("PATCH", location, second, HTTP_CONTENT_RANGE="1000-2999")
    assert response.status_code == 401
    _, challenge = parse_challenge(response["WWW-Authenticate"])
    assert challenge["error"] == "invalid_token"
    assert challenge["scope"] == f"repository:{name}:pull,push"
    assert "expired" in error_message(response)
    assert UploadSession.objects.get().size == 1000  # nothing was appended
    olga.login(challenge["scope"])
    response = olga.request("PATCH", location, second, HTTP_CONTENT_RANGE="1000-2999")
    assert response.status_code == 202, response.content
    assert response["Range"] == "0-2999"
    digest = images.sha256_digest(data)
    response = olga.request("PUT", f"{location}?digest={digest}")
    assert response.status_code == 201, response.content
    blob = olga.request("GET", f"/v2/{name}/blobs/{digest}")
    assert blob.status_code == 200
    assert b"".join(blob.streaming_content) == data


# --- token authentication off: HTTP Basic -----------------------------------------------------


@pytest.fixture
def basic_mode(users, settings):
    settings.TOKEN_AUTH_DISABLED = True
    return users


def _basic(client, user, method, path, data=b""):
    headers = {"HTTP_AUTHORIZATION": basic(user, f"{user}-pw")} if user else {}
    call = getattr(client, method.lower())
    if method in ("POST", "PUT", "PATCH"):
        return call(path, data=data, content_type="application/octet-stream", **headers)
    return call(path, **headers)


def _upload_path(data):
    return f"/v2/team/app/blobs/uploads/?digest={images.sha256_digest(data)}"


def test_basic_mode_staff_push(client, basic_mode):
    data = images.random_blob(40)[0]
    assert _basic(client, "sam", "POST", _upload_path(data), data).status_code == 201
    assert _basic(client, "sam", "GET", "/v2/").status_code == 200


@pytest.mark.parametrize("user", ["olga", "colin", "nora"])
def test_basic_mode_refuses_non_staff_push(client, basic_mode, user):
    data = images.random_blob(40)[0]
    response = _basic(client, user, "POST", _upload_path(data), data)
    assert response.status_code == 403
    assert error_code(response) == "DENIED"
    assert "only staff users may push" in error_message(response)
    assert _basic(client, user, "GET", "/v2/").status_code == 200  # login works


def test_basic_mode_anonymous_and_wrong_password(client, basic_mode):
    data = images.random_blob(40)[0]
    response = _basic(client, None, "POST", _upload_path(data), data)
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == 'Basic realm="pulp_registry"'
    assert "anonymous users may only pull" in error_message(response)
    response = client.get("/v2/", HTTP_AUTHORIZATION=basic("sam", "wrong"))
    assert response.status_code == 401
    assert error_message(response) == "invalid username or password"


def test_basic_mode_private_pull(client, basic_mode):
    data = images.random_blob(40)[0]
    assert _basic(client, "sam", "POST", _upload_path(data), data).status_code == 201
    RegistryDistribution.objects.filter(base_path="team/app").update(private=True)
    digest = images.sha256_digest(data)
    path = f"/v2/team/app/blobs/{digest}"
    assert _basic(client, None, "HEAD", path).status_code == 401
    assert _basic(client, "nora", "HEAD", path).status_code == 403
    assert _basic(client, "cora", "HEAD", path).status_code == 200


def test_broken_keys_answer_503_not_500(client, users, token_settings):
    olga = as_user(client, "olga")
    olga.login("repository:team/app:pull")
    token_settings.PUBLIC_KEY_PATH = "/nonexistent/public.pem"
    response = olga.request("GET", "/v2/team/app/tags/list")
    assert response.status_code == 503
    assert error_code(response) == "UNAVAILABLE"
    assert "/nonexistent" not in response.content.decode()


# --- cost of verification ---------------------------------------------------------------------


def _bearer_request(token):
    return RequestFactory().get("/v2/team/app/tags/list", HTTP_AUTHORIZATION=f"Bearer {token}")


def test_verifying_a_token_costs_one_query_for_the_user(users):
    token = tokens.issue_token("olga", [tokens.Scope("repository", "team/app",
                                                     frozenset({"pull", "push"}))], SERVICE)
    request = _bearer_request(token["token"])
    with CaptureQueriesContext(connection) as queries:
        identity = auth.authorize(request, "team/app", "pull", "push")
    assert identity.user.username == "olga"
    assert len(queries) == 1, [q["sql"] for q in queries.captured_queries]
    assert "auth_user" in queries.captured_queries[0]["sql"]
    anonymous_token = tokens.issue_token(
        "", [tokens.Scope("repository", "team/app", frozenset({"pull"}))], SERVICE
    )
    with CaptureQueriesContext(connection) as queries:
        auth.authorize(_bearer_request(anonymous_token["token"]), "team/app", "pull")
    assert len(queries) == 0


def test_basic_credentials_are_hashed_once_per_ttl(users, settings):
    settings.REGISTRY_BASIC_AUTH_CACHE_SECONDS = 60
    credentials.clear_cache()
    with mock.patch.object(credentials, "authenticate", wraps=credentials.authenticate) as hashed:
        for _ in range(5):
            assert credentials.check_credentials("olga", "olga-pw").username == "olga"
        assert hashed.call_count == 1
        # The user's row is cached too (REGISTRY_USER_CACHE_SECONDS); without that, it is read.
        with CaptureQueriesContext(connection) as queries:
            credentials.check_credentials("olga", "olga-pw")
        assert len(queries) == 0
        settings.REGISTRY_USER_CACHE_SECONDS = 0
        with CaptureQueriesContext(connection) as queries:
            credentials.check_credentials("olga", "olga-pw")
        assert len(queries) == 1
        # Wrong passwords are never cached; a changed password takes effect at once.
        assert credentials.check_credentials("olga", "wrong") is None
        users["olga"].set_password("new-pw")
        users["olga"].save()
        assert credentials.check_credentials("olga", "olga-pw") is None
        assert credentials.check_credentials("olga", "new-pw").username == "olga"
        users["olga"].is_active = False
        users["olga"].save()
        assert credentials.check_credentials("olga", "new-pw") is None
