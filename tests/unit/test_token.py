"""The token service and its keys: settings checks at start-up, signing and verification
(forged, expired and misdirected tokens are refused), and ``/token/`` (GET with Basic or
anonymous, OAuth2 POST, refresh tokens, the granted scopes)."""

import json
import sys
import time
from unittest import mock

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured

from pulp_registry.app import checks
from pulp_registry.app.models import Namespace, RegistryDistribution
from pulp_registry.app.token import keys, tokens
from pulp_registry.app.token.scopes import Scope, parse_scope, parse_scopes
from pulpcore.plugin.util import assign_role
from tests.unit.authutil import (  # noqa: F401 (fixture)
    SERVICE,
    basic,
    claims_for,
    error_code,
    hs256_with_public_key,
    no_stale_current_user,
    repo_access,
    sign,
    token_settings,
    unsigned_token,
    write_key_pair,
)

pytestmark = pytest.mark.usefixtures("no_stale_current_user")

# --- keys and settings ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "algorithm,kind,bits", [("ES256", "ec", None), ("RS256", "rsa", 2048), ("PS256", "rsa", 2048)]
)
def test_every_supported_algorithm_signs_and_verifies(settings, tmp_path, algorithm, kind, bits):
    private_path, public_path, _ = write_key_pair(tmp_path, kind, bits=bits or 2048)
    settings.TOKEN_AUTH_DISABLED = False
    settings.TOKEN_SIGNATURE_ALGORITHM = algorithm
    settings.PRIVATE_KEY_PATH, settings.PUBLIC_KEY_PATH = str(private_path), str(public_path)
    keys.check_token_settings()
    body = tokens.issue_token("alice", [Scope("repository", "a/b", frozenset({"pull"}))], "svc")
    assert jwt.get_unverified_header(body["token"])["alg"] == algorithm
    verified = tokens.verify_token(body["token"], "svc")
    assert verified.subject == "alice"
    assert verified.allows("repository", "a/b", "pull")
    assert not verified.allows("repository", "a/b", "push")


def _configure(settings, tmp_path, algorithm="ES256", kind="ec", **key_args):
    tmp_path.mkdir(exist_ok=True)
    private_path, public_path, _ = write_key_pair(tmp_path, kind, **key_args)
    settings.TOKEN_AUTH_DISABLED = False
    settings.TOKEN_SIGNATURE_ALGORITHM = algorithm
    settings.PRIVATE_KEY_PATH, settings.PUBLIC_KEY_PATH = str(private_path), str(public_path)
    return private_path, public_path


@pytest.mark.parametrize(
    "breakage,expected",
    [
        ("no_private", "PRIVATE_KEY_PATH is not set"),
        ("no_public", "PUBLIC_KEY_PATH is not set"),
        ("missing_file", "cannot be read"),
        ("garbage_private", "does not hold an unencrypted PEM private key"),
        ("garbage_public", "does not hold a PEM public key"),
        ("rs256_with_ec", "RS256, which needs an RSA key"),
        ("es256_with_rsa", "ES256, which needs an EC P-256 key"),
        ("es256_with_p384", "P-256"),
        ("small_rsa", "at least 2048"),
        ("mismatched_public", "does not hold the public key of PRIVATE_KEY_PATH"),
        ("unknown_algorithm", "is not supported"),
        ("bad_lifetime", "TOKEN_EXPIRATION_TIME"),
        ("bad_server", "TOKEN_SERVER"),
    ],
)
def test_misconfiguration_is_a_clear_error(settings, tmp_path, breakage, expected):
    private_path, public_path = _configure(settings, tmp_path)
    if breakage == "no_private":
        settings.PRIVATE_KEY_PATH = None
    elif breakage == "no_public":
        settings.PUBLIC_KEY_PATH = ""
    elif breakage == "missing_file":
        settings.PRIVATE_KEY_PATH = str(tmp_path / "nope.pem")
    elif breakage == "garbage_private":
        private_path.write_text("not a key")
    elif breakage == "garbage_public":
        public_path.write_text("not a key")
    elif breakage == "rs256_with_ec":
        settings.TOKEN_SIGNATURE_ALGORITHM = "RS256"
    elif breakage == "es256_with_rsa":
        _configure(settings, tmp_path / "rsa", "ES256", "rsa")
    elif breakage == "es256_with_p384":
        _configure(settings, tmp_path / "p384", "ES256", "ec", curve=ec.SECP384R1())
    elif breakage == "small_rsa":
        _configure(settings, tmp_path / "small", "RS256", "rsa", bits=1024)
    elif breakage == "mismatched_public":
        _, other_public, _ = write_key_pair(tmp_path, stem="other")
        settings.PUBLIC_KEY_PATH = str(other_public)
    elif breakage == "unknown_algorithm":
        settings.TOKEN_SIGNATURE_ALGORITHM = "HS256"
    elif breakage == "bad_lifetime":
        settings.TOKEN_EXPIRATION_TIME = "soon"
    elif breakage == "bad_server":
        settings.TOKEN_SERVER = "registry.example.com/token"
    with pytest.raises(ImproperlyConfigured, match=expected):
        keys.check_token_settings()
    errors = checks.token_settings_check(None)
    assert [e.id for e in errors] == ["registry.E001"]
    assert expected.split(" ")[0] in errors[0].msg


def test_disabled_token_auth_needs_no_keys(settings):
    settings.TOKEN_AUTH_DISABLED = True
    settings.PRIVATE_KEY_PATH = settings.PUBLIC_KEY_PATH = None
    keys.check_token_settings()
    assert checks.token_settings_check(None) == []


def test_short_lifetime_is_a_warning(token_settings):
    token_settings.TOKEN_EXPIRATION_TIME = 5
    assert [e.id for e in checks.token_settings_check(None)] == ["registry.W001"]
    token_settings.TOKEN_EXPIRATION_TIME = 300
    assert checks.token_settings_check(None) == []


def test_api_server_refuses_to_boot_with_broken_keys(settings, monkeypatch):
    settings.TOKEN_AUTH_DISABLED = False
    settings.PRIVATE_KEY_PATH = "/nonexistent/key.pem"
    monkeypatch.delitem(sys.modules, "gunicorn.workers.sync", raising=False)
    monkeypatch.delitem(sys.modules, "gunicorn.workers.gthread", raising=False)
    checks.fail_fast_in_api_server()  # not an API server: management commands still run
    monkeypatch.setitem(sys.modules, "gunicorn.workers.sync", object())
    with pytest.raises(ImproperlyConfigured, match="PRIVATE_KEY_PATH"):
        checks.fail_fast_in_api_server()


def test_the_system_check_is_registered():
    from django.core.checks import registry

    assert checks.token_settings_check in registry.registry.get_checks()


# --- scopes -----------------------------------------------------------------------------------


def test_scope_parsing():
    assert parse_scope("repository:a/b:pull,push") == Scope(
        "repository", "a/b", frozenset({"pull", "push"})
    )
    # A host with a port in the name; a resource class on the type.
    assert parse_scope("repository(plugin):localhost:5000/a:pull").name == "localhost:5000/a"
    assert parse_scope("registry:catalog:*") == Scope("registry", "catalog", frozenset({"*"}))
    assert parse_scope("garbage") is None
    assert parse_scopes(["repository:a:pull repository:b:push", "bad"]) == [
        Scope("repository", "a", frozenset({"pull"})),
        Scope("repository", "b", frozenset({"push"})),
    ]


# --- verification -----------------------------------------------------------------------------


def _forged(token_settings, tmp_path, kind):
    key = token_settings.private_key_object
    public_pem = open(token_settings.PUBLIC_KEY_PATH, "rb").read()
    good = claims_for("alice", repo_access("alice/app", "pull", "push"))
    if kind == "valid":
        return sign(good, key)
    if kind == "expired":
        return sign(claims_for("alice", good["access"], now=int(time.time()) - 400), key)
    if kind == "not_yet_valid":
        return sign(dict(good, nbf=int(time.time()) + 120), key)
    if kind == "other_key":
        _, _, other = write_key_pair(tmp_path, stem="attacker")
        return sign(good, other)
    if kind == "alg_none":
        return unsigned_token(good)
    if kind == "alg_none_with_signature":
        valid = sign(good, key)
        return unsigned_token(good)[:-1] + "." + valid.rsplit(".", 1)[1]
    if kind == "hs256_public_key":
        return hs256_with_public_key(good, public_pem)
    if kind == "other_audience":
        return sign(dict(good, aud="registry.example.com"), key)
    if kind == "other_issuer":
        return sign(dict(good, iss="someone-else"), key)
    if kind == "no_expiry":
        return sign({k: v for k, v in good.items() if k != "exp"}, key)
    if kind == "malformed_access":
        return sign(dict(good, access=[{"type": "repository", "name": 5, "actions": "pull"}]), key)
    if kind == "refresh_token":
        return sign(dict(good, token_use="refresh", pwd="x"), key)
    if kind == "tampered":
        valid = sign(good, key)
        header, payload, signature = valid.split(".")
        claims = dict(good, sub="admin")
        from tests.unit.authutil import b64url

        return ".".join([header, b64url(json.dumps(claims).encode()), signature])
    if kind == "garbage":
        return "not.a.token"
    raise AssertionError(kind)


BAD_TOKENS = [
    "expired",
    "not_yet_valid",
    "other_key",
    "alg_none",
    "alg_none_with_signature",
    "hs256_public_key",
    "other_audience",
    "other_issuer",
    "no_expiry",
    "malformed_access",
    "refresh_token",
    "tampered",
    "garbage",
]


def test_a_valid_token_verifies(token_settings, tmp_path):
    verified = tokens.verify_token(_forged(token_settings, tmp_path, "valid"), SERVICE)
    assert verified.subject == "alice"
    assert verified.allows("repository", "alice/app", "push")
    assert not verified.allows("repository", "alice/other", "pull")


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_refused(token_settings, tmp_path, kind):
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_token(_forged(token_settings, tmp_path, kind), SERVICE)


def test_expiry_tolerates_small_clock_skew_only(token_settings):
    key = token_settings.private_key_object
    now = int(time.time())
    just_expired = sign(claims_for("a", [], lifetime=300, now=now - 305), key)
    tokens.verify_token(just_expired, SERVICE)  # within CLOCK_SKEW_SECONDS
    long_expired = sign(claims_for("a", [], lifetime=300, now=now - 300 - 30), key)
    with pytest.raises(tokens.InvalidToken, match="expired"):
        tokens.verify_token(long_expired, SERVICE)


def test_access_tokens_are_not_refresh_tokens(token_settings, django_user_model):
    user = django_user_model.objects.create_user("carol", password="pw")
    access_token = tokens.issue_token("carol", [], SERVICE)["token"]
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_refresh_token(access_token, SERVICE)
    refresh = tokens.issue_refresh_token(user, SERVICE)
    assert tokens.verify_refresh_token(refresh, SERVICE) == (
        "carol",
        tokens.password_fingerprint(user),
    )
    with pytest.raises(tokens.InvalidToken):
        tokens.verify_token(refresh, SERVICE)


# --- the /token/ endpoint ---------------------------------------------------------------------


@pytest.fixture
def people(db, django_user_model):
    """alice owns namespace alice (with a public and a private distribution); bob has no role;
    carol is a consumer of alice; dave is staff."""
    users = {
        name: django_user_model.objects.create_user(name, password=f"{name}-pw")
        for name in ("alice", "bob", "carol")
    }
    users["dave"] = django_user_model.objects.create_user("dave", password="dave-pw",
                                                          is_staff=True)
    namespace = Namespace.objects.create(name="alice")
    assign_role("registry.namespace_owner", users["alice"], namespace)
    assign_role("registry.namespace_consumer", users["carol"], namespace)
    RegistryDistribution.objects.create(name="alice/app", base_path="alice/app",
                                        namespace=namespace)
    RegistryDistribution.objects.create(name="alice/secret", base_path="alice/secret",
                                        namespace=namespace, private=True)
    return users


def _token_request(client, *scopes, user=None, **params):
    headers = {"HTTP_AUTHORIZATION": basic(user, f"{user}-pw")} if user else {}
    query = {"service": SERVICE, "scope": list(scopes), **params}
    return client.get("/token/", query, **headers)


def _granted(response):
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    return {entry["name"]: set(entry["actions"]) for entry in claims["access"]}, claims, body


def test_token_response_fields(token_settings, people, client):
    response = _token_request(client, "repository:alice/app:pull", user="alice")
    granted, claims, body = _granted(response)
    assert set(body) >= {"token", "access_token", "expires_in", "issued_at"}
    assert body["token"] == body["access_token"]
    assert body["expires_in"] == 300
    assert body["issued_at"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(claims["iat"]))
    assert claims["exp"] - claims["iat"] == 300
    assert claims["sub"] == "alice" and claims["aud"] == SERVICE
    assert response["Cache-Control"] == "no-store"
    tokens.verify_token(body["token"], SERVICE)


@pytest.mark.parametrize(
    "user,scope,expected",
    [
        (None, "repository:alice/app:pull,push", {"pull"}),
        (None, "repository:alice/secret:pull", set()),
        (None, "repository:no/such:pull,push", {"pull"}),
        ("alice", "repository:alice/app:pull,push,delete", {"pull", "push", "delete"}),
        ("alice", "repository:alice/new:pull,push", {"pull", "push"}),
        ("alice", "repository:alice/app:pull", {"pull"}),
        ("bob", "repository:alice/app:pull,push", {"pull"}),
        ("bob", "repository:alice/secret:pull,push", set()),
        ("bob", "repository:bob/app:pull,push", {"pull", "push"}),
        ("bob", "repository:nobody/app:pull,push", {"pull"}),
        ("carol", "repository:alice/secret:pull,push", {"pull"}),
        ("dave", "repository:anything/at/all:pull,push,delete", {"pull", "push", "delete"}),
        # "*" asks for every action; the token lists those granted.
        ("dave", "repository:anything/at/all:*", {"pull", "push", "delete"}),
        ("alice", "repository:alice/app:*", {"pull", "push", "delete"}),
        ("carol", "repository:alice/secret:*", {"pull"}),
        (None, "repository:alice/app:*", {"pull"}),
    ],
)
def test_token_grants_the_intersection(token_settings, people, client, user, scope, expected):
    granted, claims, _ = _granted(_token_request(client, scope, user=user))
    assert granted == {scope.split(":")[1]: expected}
    assert claims["sub"] == (user or "")


def test_repeatable_scopes_and_catalog(token_settings, people, client):
    granted, claims, body = _granted(
        _token_request(
            client,
            "repository:alice/app:pull",
            "repository:bob/app:pull,push",
            "registry:catalog:*",
            "repository:Invalid Name:pull",
            user="bob",
        )
    )
    assert granted == {"alice/app": {"pull"}, "bob/app": {"pull", "push"}, "catalog": {"*"}}
    assert "repository:bob/app:pull,push" in body["scope"].split(" ")


def test_login_without_scope(token_settings, people, client):
    granted, claims, _ = _granted(_token_request(client, user="bob"))
    assert granted == {} and claims["sub"] == "bob"


def test_wrong_password_is_refused_at_login(token_settings, people, client):
    response = client.get("/token/", {"service": SERVICE},
                          HTTP_AUTHORIZATION=basic("alice", "wrong"))
    assert response.status_code == 401
    assert error_code(response) == "UNAUTHORIZED"
    assert response["WWW-Authenticate"].startswith("Basic ")
    response = client.get("/token/", HTTP_AUTHORIZATION=basic("nobody", "x"))
    assert response.status_code == 401


def test_inactive_user_is_refused_at_login(token_settings, people, client):
    people["bob"].is_active = False
    people["bob"].save()
    assert _token_request(client, user="bob").status_code == 401


def test_too_many_scopes_are_refused(token_settings, people, client):
    scopes = [f"repository:a/n{i}:pull" for i in range(60)]
    response = _token_request(client, *scopes)
    assert response.status_code == 400


def test_configured_service_must_match(token_settings, people, client):
    token_settings.TOKEN_SERVICE = "registry.example.com"
    response = client.get("/token/", {"service": "elsewhere.example.com"})
    assert response.status_code == 400
    response = client.get("/token/", {"scope": "repository:alice/app:pull"})
    claims = jwt.decode(json.loads(response.content)["token"], options={"verify_signature": False})
    assert claims["aud"] == "registry.example.com"


def test_token_service_is_off_when_token_auth_is_disabled(settings, client, db):
    settings.TOKEN_AUTH_DISABLED = True
    response = client.get("/token/")
    assert response.status_code == 404
    assert "TOKEN_AUTH_DISABLED" in json.loads(response.content)["errors"][0]["message"]


def test_broken_keys_give_a_clean_json_error(token_settings, people, client):
    token_settings.PRIVATE_KEY_PATH = "/nonexistent/private.pem"
    response = _token_request(client, "repository:alice/app:pull", user="alice")
    assert response.status_code == 503
    assert error_code(response) == "UNAVAILABLE"
    assert "/nonexistent" not in response.content.decode()  # details go to the log only


# --- refresh tokens and the OAuth2 form -------------------------------------------------------


def test_offline_token_returns_a_refresh_token(token_settings, people, client):
    _, _, body = _granted(_token_request(client, user="alice", offline_token="true"))
    assert body["refresh_token"]
    _, _, anonymous = _granted(_token_request(client, offline_token="true"))
    assert "refresh_token" not in anonymous


def _oauth(client, **form):
    form.setdefault("service", SERVICE)
    form.setdefault("client_id", "tests")
    return client.post("/token/", form)


def test_oauth_password_grant(token_settings, people, client):
    response = _oauth(client, grant_type="password", username="alice", password="alice-pw",
                      scope="repository:alice/app:pull,push", access_type="offline")
    granted, claims, body = _granted(response)
    assert granted == {"alice/app": {"pull", "push"}}
    assert body["scope"] == "repository:alice/app:pull,push"
    assert body["refresh_token"]
    refreshed = _oauth(client, grant_type="refresh_token", refresh_token=body["refresh_token"],
                       scope="repository:alice/secret:pull repository:bob/x:push")
    granted, claims, refreshed_body = _granted(refreshed)
    assert claims["sub"] == "alice"
    assert granted == {"alice/secret": {"pull"}, "bob/x": set()}
    assert refreshed_body["refresh_token"] == body["refresh_token"]


def test_oauth_refusals(token_settings, people, client):
    wrong = _oauth(client, grant_type="password", username="alice", password="nope")
    assert wrong.status_code == 401 and json.loads(wrong.content)["error"] == "invalid_grant"
    missing = _oauth(client, grant_type="password", username="alice")
    assert missing.status_code == 400
    unsupported = _oauth(client, grant_type="authorization_code", code="x")
    assert json.loads(unsupported.content)["error"] == "unsupported_grant_type"
    access_token = tokens.issue_token("alice", [], SERVICE)["token"]
    as_refresh = _oauth(client, grant_type="refresh_token", refresh_token=access_token)
    assert as_refresh.status_code == 401
    garbage = _oauth(client, grant_type="refresh_token", refresh_token="x.y.z")
    assert garbage.status_code == 401


def test_password_change_revokes_refresh_tokens(token_settings, people, client):
    refresh = tokens.issue_refresh_token(people["alice"], SERVICE)
    assert _oauth(client, grant_type="refresh_token", refresh_token=refresh).status_code == 200
    people["alice"].set_password("new-password")
    people["alice"].save()
    response = _oauth(client, grant_type="refresh_token", refresh_token=refresh)
    assert response.status_code == 401
    assert "password changed" in json.loads(response.content)["error_description"]


def test_refresh_token_for_another_service_is_refused(token_settings, people, client):
    refresh = tokens.issue_refresh_token(people["alice"], "elsewhere")
    assert _oauth(client, grant_type="refresh_token", refresh_token=refresh).status_code == 401


def test_a_verified_token_is_remembered_until_it_expires(token_settings):
    key = token_settings.private_key_object
    now = int(time.time())
    # Valid (with the tolerated skew) for one more second.
    issued = now - 300 - tokens.CLOCK_SKEW_SECONDS + 1
    raw = sign(claims_for("a", [], lifetime=300, now=issued), key)
    tokens.verify_token(raw, SERVICE)
    with mock.patch.object(tokens.jwt, "decode", wraps=tokens.jwt.decode) as decode:
        for _ in range(3):
            assert tokens.verify_token(raw, SERVICE).subject == "a"
        assert decode.call_count == 0
        # Remembered only for the audience it was checked against.
        with pytest.raises(tokens.InvalidToken):
            tokens.verify_token(raw, "another.example")
        # Past its expiry (and the tolerated skew) a remembered token is refused like any.
        time.sleep(max(0.0, now + 1 - time.time()) + 0.05)
        with pytest.raises(tokens.InvalidToken, match="expired"):
            tokens.verify_token(raw, SERVICE)
