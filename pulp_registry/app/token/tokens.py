"""Issuing and verifying the registry's signed JWTs.

Two kinds of token are signed with the same key:

* **access tokens** (docker-auth-jwt.md): short-lived, carry the granted ``access`` claim and
  are sent on every /v2/ request;
* **refresh tokens** (docker-auth-oauth.md): handed out on request (``offline_token=true``
  or ``access_type=offline``) and only accepted by the token service, to get new access
  tokens without sending the password again. They carry no access, name the user and a
  fingerprint of the user's password hash, so changing the password revokes them.

A ``token_use`` claim tells them apart, so that neither is accepted in place of the other.
Verification needs no database query. Clients send one access token with every request of a
push or pull, so each process remembers the access tokens it verified (until they expire) and
only checks their time window again.
"""

import hashlib
import threading
import time
import uuid
from dataclasses import dataclass

import jwt

from pulp_registry.app.token.keys import signing_keys, token_lifetime
from pulp_registry.app.token.scopes import Scope

ISSUER = "pulp_registry"
# Tolerated difference between the clocks of the token service and the registry.
CLOCK_SKEW_SECONDS = 10
ACCESS, REFRESH = "access", "refresh"


class InvalidToken(Exception):
    """The token is malformed, forged, expired or not meant for this registry."""


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified access token says.

    Attributes:
        subject: the username the token was issued to, or "" for an anonymous token.
        access: the granted scopes.
    """

    subject: str
    access: tuple

    def allows(self, resource_type, name, action):
        """Whether the token grants ``action`` on the resource."""
        return any(
            scope.type == resource_type and scope.name == name and action in scope.actions
            for scope in self.access
        )


def _rfc3339(timestamp):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def password_fingerprint(user):
    """A short digest of the user's password hash, bound into refresh tokens.

    Django's stored hash changes whenever the password does (new salt), so a refresh token
    issued before a password change no longer matches.
    """
    return hashlib.sha256(f"{user.pk}:{user.password}".encode()).hexdigest()[:32]


def issue_token(subject, scopes, service):
    """Sign an access token for ``subject`` granting ``scopes``.

    Args:
        subject: the username, or "" for an anonymous user.
        scopes: the granted :class:`Scope` list.
        service: the service (audience) the token is for.

    Returns:
        dict: the token service's response body: ``token``, ``access_token``, ``expires_in``,
        ``issued_at`` and ``scope`` (the granted scopes, space-separated).
    """
    algorithm, private_key, _ = signing_keys()
    now = int(time.time())
    lifetime = token_lifetime()
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": service,
        "iat": now,
        "nbf": now - CLOCK_SKEW_SECONDS,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "token_use": ACCESS,
        "access": [scope.as_claim() for scope in scopes],
    }
    token = jwt.encode(claims, private_key, algorithm=algorithm)
    return {
        "token": token,
        "access_token": token,
        "expires_in": lifetime,
        "issued_at": _rfc3339(now),
        "scope": " ".join(str(scope) for scope in scopes if scope.actions),
    }


def issue_refresh_token(user, service):
    """Sign a refresh token for ``user`` (who must be a real, logged-in user).

    Args:
        user: the Django user.
        service: the service the refresh token is good for.

    Returns:
        str: the encoded refresh token.
    """
    algorithm, private_key, _ = signing_keys()
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": user.username,
        "aud": service,
        "iat": now,
        "nbf": now - CLOCK_SKEW_SECONDS,
        "jti": uuid.uuid4().hex,
        "token_use": REFRESH,
        "pwd": password_fingerprint(user),
    }
    return jwt.encode(claims, private_key, algorithm=algorithm)


def _decode(raw, service, required):
    algorithm, _, public_key = signing_keys()
    if not isinstance(raw, str) or not raw:
        raise InvalidToken("no token")
    try:
        # ``algorithms`` pins the one configured algorithm: "none" and HMAC tokens (e.g. signed
        # with the public key as a shared secret) are refused before any key is used.
        return jwt.decode(
            raw,
            public_key,
            algorithms=[algorithm],
            audience=service,
            issuer=ISSUER,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": required, "verify_sub": False, "verify_jti": False},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error))


def _parse_access(claim):
    if not isinstance(claim, list):
        raise InvalidToken("malformed access claim")
    access = []
    for entry in claim:
        if not isinstance(entry, dict):
            raise InvalidToken("malformed access claim")
        resource_type, name = entry.get("type"), entry.get("name")
        actions = entry.get("actions", [])
        if (
            not isinstance(resource_type, str)
            or not isinstance(name, str)
            or not isinstance(actions, list)
            or not all(isinstance(action, str) for action in actions)
        ):
            raise InvalidToken("malformed access claim")
        access.append(Scope(resource_type, name, frozenset(actions)))
    return tuple(access)


# (token, service, algorithm, key) -> (VerifiedToken, not before, expiry), for tokens that
# verified.
_verified = {}
_verified_lock = threading.Lock()
_MAX_VERIFIED = 10000


def verify_token(raw, service):
    """Verify an access token's signature, algorithm, time window, audience and issuer.

    Args:
        raw: the encoded JWT.
        service: the audience this registry expects.

    Returns:
        VerifiedToken: the subject and the granted access.

    Raises:
        InvalidToken: the token must not be trusted.
        django.core.exceptions.ImproperlyConfigured: the keys are broken.
    """
    algorithm, _, public_key = signing_keys()  # also raises when the keys are broken
    # Keys are cached per process; a token verified with one key says nothing for another.
    key = (raw, service, algorithm, id(public_key))
    with _verified_lock:
        known = _verified.get(key)
    if known is not None:
        token, not_before, expiry = known
        now = time.time()
        # The window as PyJWT checks it, with the same leeway.
        if not_before - CLOCK_SKEW_SECONDS <= now < expiry + CLOCK_SKEW_SECONDS:
            return token
        with _verified_lock:
            _verified.pop(key, None)
    claims = _decode(raw, service, ["exp", "nbf", "iat", "aud", "iss", "sub", "access"])
    if claims.get("token_use", ACCESS) != ACCESS:
        raise InvalidToken("not an access token")
    if not isinstance(claims["sub"], str):
        raise InvalidToken("malformed subject")
    token = VerifiedToken(subject=claims["sub"], access=_parse_access(claims["access"]))
    if isinstance(claims["exp"], (int, float)) and isinstance(claims["nbf"], (int, float)):
        with _verified_lock:
            if len(_verified) >= _MAX_VERIFIED:
                _verified.clear()
            _verified[key] = (token, claims["nbf"], claims["exp"])
    return token


def forget_verified_tokens():
    """Forget every access token verified so far (used by tests)."""
    with _verified_lock:
        _verified.clear()


def verify_refresh_token(raw, service):
    """Verify a refresh token and return the username and password fingerprint it names.

    Args:
        raw: the encoded refresh token.
        service: the service the refresh token must have been issued for.

    Returns:
        tuple[str, str]: the username and the password fingerprint; the caller compares the
        fingerprint with :func:`password_fingerprint` of the current user.

    Raises:
        InvalidToken: the refresh token must not be trusted.
    """
    claims = _decode(raw, service, ["nbf", "iat", "aud", "iss", "sub", "pwd"])
    if claims.get("token_use") != REFRESH:
        raise InvalidToken("not a refresh token")
    if not isinstance(claims["sub"], str) or not claims["sub"] or not isinstance(
        claims["pwd"], str
    ):
        raise InvalidToken("malformed refresh token")
    return claims["sub"], claims["pwd"]
