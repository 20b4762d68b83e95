"""Token authentication and permissions against real registry processes, with podman, skopeo
and raw HTTP: challenges, logins, who may push and pull, private distributions, forged tokens
over the wire, a push that outlives its token, HTTP Basic mode, and the examples of
docs/authentication.md (run as written, with curl and jq)."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.functional import images
from tests.functional.clients import ClientEnv, Podman, Skopeo
from tests.functional.v2client import parse_challenge

pytestmark = pytest.mark.functional

DOCS = Path(__file__).resolve().parents[2] / "docs"
API = "/pulp/api/v3"
PASSWORD_SUFFIX = "-Secret-123"


# --- helpers ----------------------------------------------------------------------------------


def password(user):
    return user + PASSWORD_SUFFIX


def creds(user):
    return (user, password(user))


def create_user(registry, name, **fields):
    with registry.session() as admin:
        response = admin.post(f"{registry.url}{API}/users/",
                              json={"username": name, "password": password(name), **fields},
                              timeout=60)
    assert response.status_code == 201, response.text
    return response.json()


def namespace_href(registry, user, name):
    with registry.session(user, password(user)) as session:
        response = session.get(f"{registry.url}{API}/pulp_registry/namespaces/",
                               params={"name": name}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["results"][0]["pulp_href"]


def wait_for_task(session, registry, task_href, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = session.get(registry.url + task_href, timeout=60).json()
        if task["state"] in ("completed", "failed", "canceled"):
            assert task["state"] == "completed", task
            return task
        time.sleep(0.3)
    raise AssertionError(f"task {task_href} did not finish")


def token(registry, scopes, user=None, **params):
    """A token from the registry's token service (raises on failure)."""
    response = requests.get(
        f"{registry.url}/token/",
        params={"service": registry.host_port, "scope": list(scopes), **params},
        auth=creds(user) if user else None,
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response.json()


def bearer(value):
    return {"Authorization": f"Bearer {value}"}


def error_of(response):
    body = response.json()
    return body["errors"][0]["code"], body["errors"][0]["message"]


def start_upload(registry, name, headers):
    return requests.post(f"{registry.url}/v2/{name}/blobs/uploads/", headers=headers,
                         timeout=60)


def docker_ref(registry, name, tag):
    return f"docker://{registry.host_port}/{name}:{tag}"


def local_image(tmp_path, podman, tag="latest"):
    """A small image loaded into the test's podman storage; returns its ID."""
    image = images.build_image(tmp_path / f"src-{tag}", tag=tag, layers=2, layer_size=20_000)
    archive = tmp_path / f"{tag}.tar"
    images.write_docker_archive(image, archive, repo_tag=f"localhost/src:{tag}")
    return podman.load(archive)[0]


def podman_push(podman, image_id, registry, name, tag, user):
    target = f"{registry.host_port}/{name}:{tag}"
    podman.tag(image_id, target)
    return podman.push(target, creds=creds(user) if user else None, check=False)


def catalog(registry, user=None):
    value = token(registry, ["registry:catalog:*"], user)["token"]
    response = requests.get(f"{registry.url}/v2/_catalog?n=10000", headers=bearer(value),
                            timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["repositories"]


@pytest.fixture
def env(registry, tmp_path):
    return ClientEnv(tmp_path / "client", registries=[registry.host_port])


@pytest.fixture
def podman(env):
    return Podman(env)


@pytest.fixture
def skopeo(env):
    return Skopeo(env)


@pytest.fixture(scope="module")
def team(registry):
    """Users with roles on a namespace, assigned through the REST API by its owner (not
    staff): owner (who created the namespace named after them), collaborator, consumer,
    stranger. Names are unique so the session's registry can be shared."""
    suffix = uuid.uuid4().hex[:6]
    people = {role: f"{role[:4]}{suffix}" for role in ("owner", "collaborator", "consumer",
                                                       "stranger")}
    for name in people.values():
        create_user(registry, name)
    owner = people["owner"]
    with registry.session(owner, password(owner)) as session:
        response = session.post(f"{registry.url}{API}/pulp_registry/namespaces/",
                                json={"name": owner}, timeout=60)
        assert response.status_code == 201, response.text
        href = response.json()["pulp_href"]
        for role, user in (("collaborator", people["collaborator"]),
                           ("consumer", people["consumer"])):
            response = session.post(f"{registry.url}{href}add_role/", timeout=60,
                                    json={"role": f"registry.namespace_{role}", "users": [user]})
            assert response.status_code == 201, response.text
    people["namespace"] = owner
    people["namespace_href"] = href
    return people


# --- challenges and logins --------------------------------------------------------------------


def test_anonymous_push_gets_the_bearer_challenge(registry, team, skopeo, tmp_path):
    name = f"{team['namespace']}/anon"
    response = start_upload(registry, name, {})
    assert response.status_code == 401
    assert error_of(response)[0] == "UNAUTHORIZED"
    scheme, params = parse_challenge(response.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params == {"realm": f"{registry.url}/token/", "service": registry.host_port,
                      "scope": f"repository:{name}:pull,push"}
    # What a client does next: an anonymous token for that scope, which grants pull only.
    granted = token(registry, [params["scope"]])
    response = start_upload(registry, name, bearer(granted["token"]))
    assert response.status_code == 401
    assert parse_challenge(response.headers["WWW-Authenticate"])[1]["error"] == (
        "insufficient_scope"
    )
    image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=1000)
    result = skopeo.copy(image.oci_ref, docker_ref(registry, name, "v1"), check=False)
    assert result.returncode != 0
    assert re.search(r"unauthorized|authentication required", result.stderr, re.I)


def test_wrong_password_is_refused_at_login(registry, team, podman, skopeo):
    user = team["stranger"]
    result = podman.login(registry.host_port, user, "wrong", check=False)
    assert result.returncode != 0
    assert "invalid username/password" in result.stderr
    result = skopeo.login(registry.host_port, user, "wrong", check=False)
    assert result.returncode != 0
    response = requests.get(f"{registry.url}/token/", params={"service": registry.host_port},
                            auth=(user, "wrong"), timeout=60)
    assert response.status_code == 401
    assert podman.login(registry.host_port, *creds(user)).returncode == 0


# --- who may push and pull ---------------------------------------------------------------------


def test_user_without_permission_is_denied(registry, team, podman, tmp_path):
    stranger, name = team["stranger"], f"{team['namespace']}/app"
    value = token(registry, [f"repository:{name}:pull,push"], stranger)
    claims = jwt.decode(value["token"], options={"verify_signature": False})
    assert claims["access"] == [{"type": "repository", "name": name, "actions": ["pull"]}]
    response = start_upload(registry, name, bearer(value["token"]))
    assert response.status_code == 403
    code, message = error_of(response)
    assert code == "DENIED" and "registry.push_namespace" in message
    result = podman_push(podman, local_image(tmp_path, podman), registry, name, "x", stranger)
    assert result.returncode != 0
    assert "denied" in result.stderr and "registry.push_namespace" in result.stderr


def test_owner_and_collaborator_push(registry, team, podman, skopeo, tmp_path):
    name = f"{team['namespace']}/app"
    image_id = local_image(tmp_path, podman)
    result = podman_push(podman, image_id, registry, name, "by-owner", team["owner"])
    assert result.returncode == 0, result.stderr
    image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=5000)
    skopeo.copy(image.oci_ref, docker_ref(registry, name, "by-collaborator"),
                creds=creds(team["collaborator"]))
    tags = skopeo.list_tags(f"docker://{registry.host_port}/{name}")
    assert {"by-owner", "by-collaborator"} <= set(tags)


def test_first_push_creates_the_users_namespace(registry, podman, tmp_path):
    user = f"solo{uuid.uuid4().hex[:6]}"
    create_user(registry, user)
    image_id = local_image(tmp_path, podman)
    result = podman_push(podman, image_id, registry, f"{user}/first", "v1", user)
    assert result.returncode == 0, result.stderr
    href = namespace_href(registry, user, user)
    with registry.session(user, password(user)) as session:
        roles = session.get(f"{registry.url}{href}list_roles/", timeout=60).json()["roles"]
    assert {"role": "registry.namespace_owner", "users": [user], "groups": []} in roles
    other = podman_push(podman, image_id, registry, f"x{user}/first", "v1", user)
    assert other.returncode != 0 and "may not create namespace" in other.stderr


@pytest.fixture(scope="module")
def private_image(registry, team, tmp_path_factory):
    """``<namespace>/secret`` pushed by the owner and made private by the owner (REST)."""
    tmp_path = tmp_path_factory.mktemp("private")
    name = f"{team['namespace']}/secret"
    skopeo = Skopeo(ClientEnv(tmp_path / "client", registries=[registry.host_port]))
    image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=5000)
    skopeo.copy(image.oci_ref, docker_ref(registry, name, "v1"), creds=creds(team["owner"]))
    owner = team["owner"]
    with registry.session(owner, password(owner)) as session:
        found = session.get(f"{registry.url}{API}/distributions/registry/registry/",
                            params={"base_path": name}, timeout=60).json()["results"]
        assert len(found) == 1
        response = session.patch(registry.url + found[0]["pulp_href"], json={"private": True},
                                 timeout=60)
        assert response.status_code == 202, response.text
        wait_for_task(session, registry, response.json()["task"])
    return name, image


def test_consumer_pulls_but_cannot_push(registry, team, private_image, skopeo, podman,
                                        tmp_path):
    name, image = private_image
    consumer = team["consumer"]
    raw = skopeo.inspect(docker_ref(registry, name, "v1"), raw=True, creds=creds(consumer))
    assert raw == image.manifest
    result = podman_push(podman, local_image(tmp_path, podman), registry, name, "v2", consumer)
    assert result.returncode != 0
    assert "denied" in result.stderr


def test_private_distribution_is_hidden(registry, team, private_image, skopeo):
    name, _ = private_image
    result = skopeo.inspect(docker_ref(registry, name, "v1"), check=False)
    assert result.returncode != 0
    result = skopeo.inspect(docker_ref(registry, name, "v1"), creds=creds(team["stranger"]),
                            check=False)
    assert result.returncode != 0
    anonymous = token(registry, [f"repository:{name}:pull"])["token"]
    response = requests.get(f"{registry.url}/v2/{name}/manifests/v1", headers=bearer(anonymous),
                            timeout=60)
    assert response.status_code == 401
    assert name not in catalog(registry)
    assert name not in catalog(registry, team["stranger"])
    assert name in catalog(registry, team["consumer"])


# --- tokens over the wire ---------------------------------------------------------------------


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _forgeries(registry, name, user):
    """Tokens claiming push on ``name`` for ``user`` that the registry must refuse."""
    now = int(time.time())
    claims = {"iss": "pulp_registry", "sub": user, "aud": registry.host_port, "iat": now,
              "nbf": now - 10, "exp": now + 300, "jti": "forged", "token_use": "access",
              "access": [{"type": "repository", "name": name, "actions": ["pull", "push"]}]}
    attacker = ec.generate_private_key(ec.SECP256R1())
    own_key = serialization.load_pem_private_key(
        (registry.keys_dir / "token-private.pem").read_bytes(), None
    )
    public_pem = (registry.keys_dir / "token-public.pem").read_bytes()
    header_payload = lambda alg: ".".join(  # noqa: E731
        _b64(json.dumps(part).encode()) for part in ({"alg": alg, "typ": "JWT"}, claims)
    )
    hs256_input = header_payload("HS256")
    genuine = token(registry, [f"repository:{name}:pull,push"], user)["token"]
    genuine_claims = jwt.decode(genuine, options={"verify_signature": False})
    return {
        "signed with another key": jwt.encode(claims, attacker, algorithm="ES256"),
        "alg none": header_payload("none") + ".",
        "HS256 with the public key": hs256_input + "." + _b64(
            hmac.new(public_pem, hs256_input.encode(), hashlib.sha256).digest()
        ),
        # Signed with the registry's own key, but not valid here:
        "other audience": jwt.encode(dict(claims, aud="registry.example.com"), own_key,
                                     algorithm="ES256"),
        "expired": jwt.encode(dict(claims, iat=now - 400, nbf=now - 410, exp=now - 100),
                              own_key, algorithm="ES256"),
        "refresh token": jwt.encode(dict(claims, token_use="refresh"), own_key,
                                    algorithm="ES256"),
        "payload swapped under a genuine signature": ".".join([
            genuine.split(".")[0],
            _b64(json.dumps(dict(genuine_claims, sub="admin")).encode()),
            genuine.split(".")[2],
        ]),
    }


def test_forged_tokens_are_refused(registry, team):
    name = f"{team['namespace']}/forged"
    for kind, forged in _forgeries(registry, name, team["owner"]).items():
        response = start_upload(registry, name, bearer(forged))
        assert response.status_code == 401, kind
        params = parse_challenge(response.headers["WWW-Authenticate"])[1]
        assert params["error"] == "invalid_token", kind
        assert params["scope"] == f"repository:{name}:pull,push", kind
    # A genuine token for another repository does not open this one.
    other = token(registry, [f"repository:{team['namespace']}/other:pull,push"],
                  team["owner"])["token"]
    response = start_upload(registry, name, bearer(other))
    assert response.status_code == 401
    assert parse_challenge(response.headers["WWW-Authenticate"])[1]["error"] == (
        "insufficient_scope"
    )
    with registry.session() as admin:
        found = admin.get(f"{registry.url}{API}/distributions/registry/registry/",
                          params={"base_path": name}, timeout=60).json()["count"]
    assert found == 0


# --- a push that outlives its token -----------------------------------------------------------


@pytest.fixture(scope="module")
def short_tokens(registry_factory):
    """A registry whose tokens live 2 seconds."""
    return registry_factory({"TOKEN_EXPIRATION_TIME": 2})


def test_upload_continues_after_the_token_expires(short_tokens):
    registry = short_tokens
    name = "admin/long"
    scope = f"repository:{name}:pull,push"
    value = token_for_admin(registry, scope)
    response = start_upload(registry, name, bearer(value))
    assert response.status_code == 202
    location = registry.url + response.headers["Location"]
    data = os.urandom(3 * 1024 * 1024)
    pieces = [data[i:i + 1024 * 1024] for i in range(0, len(data), 1024 * 1024)]

    def patch(piece, offset, credential):
        return requests.patch(location, data=piece, timeout=60, headers={
            **bearer(credential), "Content-Type": "application/octet-stream",
            "Content-Range": f"{offset}-{offset + len(piece) - 1}",
        })

    assert patch(pieces[0], 0, value).status_code == 202
    # Slow client: the token (2 s, plus the registry's 10 s tolerance) expires mid-upload.
    time.sleep(2 + 10 + 2)
    response = patch(pieces[1], len(pieces[0]), value)
    assert response.status_code == 401
    scheme, params = parse_challenge(response.headers["WWW-Authenticate"])
    assert scheme == "bearer" and params["error"] == "invalid_token"
    assert params["scope"] == scope
    assert "expired" in error_of(response)[1]
    # The client fetches a new token for the challenge's scope and goes on with the session.
    value = token_for_admin(registry, params["scope"], params["realm"])
    status = requests.get(location, headers=bearer(value), timeout=60)
    assert status.status_code == 204
    assert status.headers["Range"] == f"0-{len(pieces[0]) - 1}"
    offset = len(pieces[0])
    for piece in pieces[1:]:
        response = patch(piece, offset, value)
        assert response.status_code == 202, response.text
        offset += len(piece)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = requests.put(f"{location}?digest={digest}", headers=bearer(value), timeout=60)
    assert response.status_code == 201, response.text
    response = requests.get(f"{registry.url}/v2/{name}/blobs/{digest}", headers=bearer(value),
                            timeout=60)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == digest.split(":")[1]


class SlowProxy:
    """A TCP proxy in front of a registry that slows what clients send (uploads) to ``rate``
    bytes per second per connection."""

    def __init__(self, target_port, rate):
        self.target_port, self.rate = target_port, rate
        self.server = socket.create_server(("127.0.0.1", 0))
        self.host_port = f"127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, True),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False),
                             daemon=True).start()

    def _pipe(self, source, target, slow):
        piece = max(1024, self.rate // 20) if slow else 65536
        try:
            while data := source.recv(piece):
                target.sendall(data)
                if slow:
                    time.sleep(len(data) / self.rate)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.server.close()


@pytest.fixture(scope="module")
def minute_tokens(registry_factory):
    """A registry whose tokens live 60 seconds, the least clients cope with."""
    return registry_factory({"TOKEN_EXPIRATION_TIME": 60})


def test_slow_skopeo_push_outlives_its_token(minute_tokens, tmp_path):
    """A real client's push that takes longer than the token lifetime (plus the registry's
    10 s tolerance) succeeds: skopeo fetches a new token when its token expires."""
    registry = minute_tokens
    proxy = SlowProxy(registry.port, rate=32_000)
    try:
        skopeo = Skopeo(ClientEnv(tmp_path / "client", registries=[proxy.host_port]))
        image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=2_600_000)
        started = time.monotonic()
        skopeo.copy(image.oci_ref, f"docker://{proxy.host_port}/admin/slow:v1",
                    creds=("admin", registry.admin_password))
        elapsed = time.monotonic() - started
        assert elapsed > 60 + 10, f"the push took only {elapsed:.0f} s"
    finally:
        proxy.close()
    # The token service is reached directly (TOKEN_SERVER), not through the proxy: its access
    # log shows the renewal.
    log = (registry.logs_dir / "api.log").read_text()
    token_requests = [line for line in log.splitlines()
                      if "GET /token/" in line and "admin%2Fslow" in line]
    assert len(token_requests) >= 2, "skopeo never renewed its token"
    raw = skopeo.inspect(docker_ref(registry, "admin/slow", "v1"), raw=True,
                         creds=("admin", registry.admin_password))
    assert raw == image.manifest


def token_for_admin(registry, scope, realm=None):
    response = requests.get(realm or f"{registry.url}/token/",
                            params={"service": registry.host_port, "scope": scope},
                            auth=("admin", registry.admin_password), timeout=60)
    assert response.status_code == 200, response.text
    return response.json()["token"]


# --- token authentication disabled ------------------------------------------------------------


@pytest.fixture(scope="module")
def basic_registry(registry_factory):
    return registry_factory({"TOKEN_AUTH_DISABLED": True})


def test_basic_mode_only_staff_push(basic_registry, tmp_path):
    registry = basic_registry
    user = f"basic{uuid.uuid4().hex[:6]}"
    create_user(registry, user)
    env = ClientEnv(tmp_path / "client", registries=[registry.host_port])
    skopeo, podman = Skopeo(env), Podman(env)
    image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=5000)
    skopeo.copy(image.oci_ref, docker_ref(registry, "staff/app", "v1"),
                creds=("admin", registry.admin_password))
    assert skopeo.inspect(docker_ref(registry, "staff/app", "v1"), raw=True) == image.manifest
    # A non-staff user logs in (HTTP Basic) but may not push, even to their own namespace.
    assert podman.login(registry.host_port, *creds(user)).returncode == 0
    result = podman_push(podman, local_image(tmp_path, podman), registry, f"{user}/app", "v1",
                         user)
    assert result.returncode != 0
    assert "only staff users may push" in result.stderr
    response = requests.post(f"{registry.url}/v2/{user}/app/blobs/uploads/", auth=creds(user),
                             timeout=60)
    assert response.status_code == 403
    code, message = error_of(response)
    assert code == "DENIED" and "TOKEN_AUTH_DISABLED" in message
    response = requests.post(f"{registry.url}/v2/{user}/app/blobs/uploads/", timeout=60)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="pulp_registry"'
    assert error_of(response)[0] == "UNAUTHORIZED"
    response = requests.get(f"{registry.url}/v2/", auth=(user, "wrong"), timeout=60)
    assert response.status_code == 401
    assert requests.get(f"{registry.url}/token/", timeout=60).status_code == 404


# --- a fresh registry -------------------------------------------------------------------------


def test_fresh_registry_podman_login_and_push(registry, podman, tmp_path):
    """The session's registry was started like ``make run``, with no key or setting given:
    the launcher generated the signing keys and token authentication is on."""
    settings = registry.settings_path.read_text()
    assert "TOKEN_AUTH_DISABLED" not in settings
    private_key = (registry.keys_dir / "token-private.pem").read_bytes()
    assert isinstance(serialization.load_pem_private_key(private_key, None),
                      ec.EllipticCurvePrivateKey)
    assert podman.login(registry.host_port, "admin", registry.admin_password).returncode == 0
    result = podman_push(podman, local_image(tmp_path, podman), registry, "fresh/app", "v1",
                         None)
    assert result.returncode == 0, result.stderr
    response = requests.get(f"{registry.url}/v2/fresh/app/tags/list", timeout=60)
    assert response.status_code == 401  # token authentication is on


def test_broken_token_settings_stop_the_registry_at_start_up(registry_factory):
    """A key that does not suit the algorithm is a clear error at start-up, not at login."""
    from pulp_registry.launcher import LauncherError

    registry = registry_factory.fresh(extra_settings={"TOKEN_SIGNATURE_ALGORITHM": "RS256"},
                                      start=False)
    with pytest.raises(LauncherError) as failure:
        registry.start()
    assert "api" in str(failure.value)
    api_log = (registry.logs_dir / "api.log").read_text()
    assert "token authentication is misconfigured: TOKEN_SIGNATURE_ALGORITHM is RS256, which " \
           "needs an RSA key" in api_log
    check = registry.manage("check", check=False)
    assert check.returncode != 0
    assert "registry.E001" in check.stderr


# --- the documentation's examples -------------------------------------------------------------

_EXAMPLE = re.compile(r"<!-- example: ([\w-]+) -->\s*```bash\n(.*?)```", re.S)


def run_example(name, registry, extra_env=None):
    examples = dict(_EXAMPLE.findall((DOCS / "authentication.md").read_text()))
    for tool in ("curl", "jq"):
        assert shutil.which(tool), "the documentation's examples need curl and jq"
    environment = {**os.environ, "PULP": registry.url, "REGISTRY": registry.host_port,
                   "AUTH": f"admin:{registry.admin_password}", **(extra_env or {})}
    result = subprocess.run(["bash", "-euo", "pipefail", "-c", examples[name]],
                            env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{name}: {result.stderr}\n{result.stdout}"
    return result.stdout


def test_documentation_examples(registry_factory, tmp_path):
    # A registry of its own: the examples create users with fixed names.
    registry = registry_factory({"REGISTRY_BASIC_AUTH_CACHE_SECONDS": 30})
    out = run_example("raw-token-flow", registry).splitlines()
    assert out[0] == "401" and "repositories" in json.loads(out[1])
    assert run_example("oauth-refresh", registry).strip() == "repository:myteam/app:pull"
    assert run_example("create-users", registry).split() == ["alice", "bob", "carol"]
    assert run_example("own-namespace", registry).strip() == "alice"
    out = run_example("add-roles", registry)
    assert '"role":"registry.namespace_collaborator","users":["bob"]' in out
    assert '"role":"registry.namespace_consumer","users":["carol"]' in out
    namespace = namespace_href(registry, "alice", "alice")
    run_example("remove-role", registry, {"NAMESPACE": namespace})
    with registry.session("alice", password("alice")) as session:
        roles = session.get(f"{registry.url}{namespace}list_roles/", timeout=60).json()["roles"]
    assert {r["role"] for r in roles} == {"registry.namespace_owner",
                                         "registry.namespace_collaborator"}
    assert run_example("namespace-creator", registry).strip() == "registry.namespace_creator"
    with registry.session("bob", password("bob")) as session:
        response = session.post(f"{registry.url}{API}/pulp_registry/namespaces/",
                                json={"name": "anything"}, timeout=60)
    assert response.status_code == 201, response.text
    # alice pushes alice/app, then makes it private.
    skopeo = Skopeo(ClientEnv(tmp_path / "client", registries=[registry.host_port]))
    image = images.build_image(tmp_path / "src", tag="v1", layers=1, layer_size=1000)
    skopeo.copy(image.oci_ref, docker_ref(registry, "alice/app", "v1"), creds=creds("alice"))
    task = run_example("make-private", registry).strip()
    with registry.session() as admin:
        wait_for_task(admin, registry, task)
    assert skopeo.inspect(docker_ref(registry, "alice/app", "v1"), check=False).returncode != 0
    assert skopeo.inspect(docker_ref(registry, "alice/app", "v1"), raw=True,
                          creds=creds("bob")) == image.manifest
