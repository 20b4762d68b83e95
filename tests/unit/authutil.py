"""Shared helpers of the authentication unit tests: key pairs in a temporary directory, token
forgery, and a small /v2/ client that logs in through /token/ like a real client."""

import base64
import hashlib
import hmac
import json
import re
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.functional import images

SERVICE = "testserver"


def write_key_pair(directory, kind="ec", curve=None, bits=2048, stem="token"):
    """Write a PEM key pair and return (private path, public path, private key object)."""
    if kind == "ec":
        private_key = ec.generate_private_key(curve or ec.SECP256R1())
    else:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private_path = directory / f"{stem}-private.pem"
    public_path = directory / f"{stem}-public.pem"
    private_path.write_bytes(
        private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_path.write_bytes(
        private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private_path, public_path, private_key


@pytest.fixture
def no_stale_current_user():
    """Forget pulpcore's "current user" around a test.

    pulpcore's middleware records each request's user in a context variable that outlives
    the request; the next test's objects would otherwise be given creator roles for a user
    whose row was rolled back (a foreign-key error at teardown).
    """
    from pulpcore.plugin.util import set_current_user

    set_current_user(None)
    yield
    set_current_user(None)


@pytest.fixture
def token_settings(settings, tmp_path):
    """Token authentication on, with a fresh ES256 key pair; returns the settings."""
    private_path, public_path, private_key = write_key_pair(tmp_path)
    settings.TOKEN_AUTH_DISABLED = False
    settings.TOKEN_SIGNATURE_ALGORITHM = "ES256"
    settings.PRIVATE_KEY_PATH = str(private_path)
    settings.PUBLIC_KEY_PATH = str(public_path)
    settings.TOKEN_SERVER = None
    settings.TOKEN_SERVICE = None
    settings.TOKEN_EXPIRATION_TIME = 300
    settings.private_key_object = private_key
    return settings


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(subject, access, audience=SERVICE, lifetime=300, now=None, **extra):
    """The claims our token service would put in a token."""
    now = int(time.time()) if now is None else now
    claims = {
        "iss": "pulp_registry",
        "sub": subject,
        "aud": audience,
        "iat": now,
        "nbf": now - 10,
        "exp": now + lifetime,
        "jti": "test",
        "token_use": "access",
        "access": access,
    }
    claims.update(extra)
    return claims


def repo_access(name, *actions):
    return [{"type": "repository", "name": name, "actions": list(actions)}]


def sign(claims, key, algorithm="ES256"):
    return jwt.encode(claims, key, algorithm=algorithm)


def unsigned_token(claims):
    """A token with ``alg: none`` and no signature."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    return f"{header}.{payload}."


def hs256_with_public_key(claims, public_pem):
    """The key-confusion attack: HS256 with the registry's public key as the HMAC secret."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(signature)}"


def basic(username, password):
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return f"Basic {token}"


def parse_challenge(value):
    """``Bearer realm="…",service="…"`` -> ("Bearer", {"realm": …, "service": …})."""
    scheme, _, params = value.partition(" ")
    return scheme, dict(re.findall(r'(\w+)="([^"]*)"', params))


def error_code(response):
    body = json.loads(response.content)
    assert set(body["errors"][0]) == {"code", "message", "detail"}
    return body["errors"][0]["code"]


def error_message(response):
    return json.loads(response.content)["errors"][0]["message"]


class BearerClient:
    """A /v2/ client over Django's test client that gets tokens from /token/.

    Attributes:
        token: the bearer token sent with each request (None: none sent).
    """

    def __init__(self, client, username=None, password=None):
        self.client = client
        self.username = username
        self.password = password
        self.token = None

    def login(self, *scopes, expect=200):
        """Fetch a token for ``scopes`` (with Basic credentials when a user is set)."""
        headers = {}
        if self.username:
            headers["HTTP_AUTHORIZATION"] = basic(self.username, self.password)
        response = self.client.get(
            "/token/", {"service": SERVICE, "scope": list(scopes)}, **headers
        )
        assert response.status_code == expect, response.content
        if expect == 200:
            self.token = json.loads(response.content)["token"]
        return response

    def request(self, method, path, data=b"", content_type="application/octet-stream",
                **headers):
        call = getattr(self.client, method.lower())
        if self.token:
            headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {self.token}")
        if method in ("PUT", "PATCH", "POST"):
            return call(path, data=data, content_type=content_type, **headers)
        return call(path, **headers)

    def upload(self, name, data):
        digest = images.sha256_digest(data)
        return self.request("POST", f"/v2/{name}/blobs/uploads/?digest={digest}", data)

    def push_image(self, name, tag):
        """Push a small random image (raising on any failure); returns the manifest digest."""
        config, config_digest = images.random_blob(32)
        layer, layer_digest = images.random_blob(64)
        for blob in (config, layer):
            response = self.upload(name, blob)
            assert response.status_code == 201, response.content
        manifest = images.make_manifest(config_digest, len(config), [(layer_digest, len(layer))])
        response = self.request(
            "PUT", f"/v2/{name}/manifests/{tag}", manifest, images.OCI_MANIFEST
        )
        assert response.status_code == 201, response.content
        return images.sha256_digest(manifest)

    def try_push(self, name, tag="latest"):
        """Start a push like a client: the first upload request's response."""
        config, _ = images.random_blob(32)
        return self.upload(name, config)


def sync_access_policies(*viewsets):
    """Write the viewsets' DEFAULT_ACCESS_POLICY into the database (a reused test database
    may hold the policies of an older version of the code)."""
    from pulpcore.app.util import get_view_urlpattern
    from pulpcore.plugin.models import AccessPolicy

    for viewset in viewsets:
        policy = viewset.DEFAULT_ACCESS_POLICY
        AccessPolicy.objects.update_or_create(
            viewset_name=get_view_urlpattern(viewset),
            defaults={
                "statements": policy["statements"],
                "creation_hooks": policy.get("creation_hooks"),
                "queryset_scoping": policy.get("queryset_scoping"),
                "customized": False,
            },
        )
