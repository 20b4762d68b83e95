"""A raw HTTP client for /v2/ in functional tests: it answers the registry's 401 challenge the
way container clients do (fetch a token from the realm, or send Basic credentials) and keeps
the token per scope, so tests can speak the protocol byte for byte."""

import re

import requests

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def parse_challenge(header):
    """Split a ``WWW-Authenticate`` header into its scheme and parameters."""
    scheme, _, rest = header.partition(" ")
    return scheme.lower(), dict(_CHALLENGE_PARAM.findall(rest))


class V2Client:
    """Talks to a registry's /v2/ API as a given user (or anonymously).

    Args:
        base_url: e.g. ``http://127.0.0.1:24817``.
        auth: ``(username, password)`` or None for anonymous.
    """

    def __init__(self, base_url, auth=None):
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.session = requests.Session()
        self.tokens = {}

    def token(self, realm, service, scope):
        """Fetch a token for ``scope`` from the token service."""
        params = {"service": service}
        if scope:
            params["scope"] = scope
        response = self.session.get(realm, params=params, auth=self.auth, timeout=30)
        response.raise_for_status()
        return response.json()["token"]

    def request(self, method, path, **kwargs):
        """Send a request, authenticating once if challenged.

        Returns:
            requests.Response: the final response (which may still be 401 or 403).
        """
        url = path if path.startswith("http") else self.base_url + path
        kwargs.setdefault("timeout", 60)
        kwargs.setdefault("allow_redirects", False)
        headers = dict(kwargs.pop("headers", None) or {})
        scope_key = path.split("/", 4)[:4]
        token = self.tokens.get(str(scope_key))
        if token:
            headers["Authorization"] = f"Bearer {token}"
        response = self.session.request(method, url, headers=headers, **kwargs)
        if response.status_code != 401 or "WWW-Authenticate" not in response.headers:
            return response
        scheme, params = parse_challenge(response.headers["WWW-Authenticate"])
        if scheme == "bearer":
            token = self.token(params["realm"], params.get("service"), params.get("scope"))
            self.tokens[str(scope_key)] = token
            headers["Authorization"] = f"Bearer {token}"
            return self.session.request(method, url, headers=headers, **kwargs)
        if scheme == "basic" and self.auth:
            return self.session.request(method, url, headers=headers, auth=self.auth, **kwargs)
        return response

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def head(self, path, **kwargs):
        return self.request("HEAD", path, **kwargs)

    def put(self, path, **kwargs):
        return self.request("PUT", path, **kwargs)

    def post(self, path, **kwargs):
        return self.request("POST", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.request("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def upload_blob(self, name, data, digest):
        """Monolithic upload (POST with ``digest``); returns the response."""
        return self.post(
            f"/v2/{name}/blobs/uploads/?digest={digest}",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )

    def put_manifest(self, name, reference, body, media_type):
        return self.put(
            f"/v2/{name}/manifests/{reference}", data=body, headers={"Content-Type": media_type}
        )
