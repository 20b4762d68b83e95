"""Issuing and verifying the registry's signed JWTs."""

import time
import uuid
from dataclasses import dataclass

import jwt
from django.conf import settings

from pulp_registry.app.token.keys import signing_keys
from pulp_registry.app.token.scopes import Scope

ISSUER = "pulp_registry"
CLOCK_SKEW_SECONDS = 10


class InvalidToken(Exception):
    """The bearer token is malformed, forged, expired or not meant for this registry."""


@dataclass(frozen=True)
class VerifiedToken:
    """What a verified token says.

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

    def mentions(self, resource_type, name):
        """Whether the token has any entry for the resource (even without actions)."""
        return any(scope.type == resource_type and scope.name == name for scope in self.access)


def issue_token(subject, scopes, service):
    """Sign a token for ``subject`` granting ``scopes``.

    Args:
        subject: the username, or "" for an anonymous user.
        scopes: the granted :class:`Scope` list.
        service: the service (audience) the token is for.

    Returns:
        dict: the token service's response body.
    """
    algorithm, private_key, _ = signing_keys()
    now = int(time.time())
    lifetime = int(settings.TOKEN_EXPIRATION_TIME)
    claims = {
        "iss": ISSUER,
        "sub": subject,
        "aud": service,
        "iat": now,
        "nbf": now - CLOCK_SKEW_SECONDS,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
        "access": [scope.as_claim() for scope in scopes],
    }
    token = jwt.encode(claims, private_key, algorithm=algorithm)
    issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {"token": token, "access_token": token, "expires_in": lifetime, "issued_at": issued_at}


def verify_token(raw, service):
    """Verify a bearer token's signature, algorithm, time window, audience and issuer.

    Args:
        raw: the encoded JWT.
        service: the audience this registry expects.

    Returns:
        VerifiedToken: the subject and the granted access.

    Raises:
        InvalidToken: the token must not be trusted.
    """
    algorithm, _, public_key = signing_keys()
    try:
        claims = jwt.decode(
            raw,
            public_key,
            algorithms=[algorithm],
            audience=service,
            issuer=ISSUER,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "nbf", "iat", "aud", "iss", "sub"]},
        )
    except jwt.PyJWTError as error:
        raise InvalidToken(str(error))
    access = []
    for entry in claims.get("access") or []:
        if not isinstance(entry, dict):
            raise InvalidToken("malformed access claim")
        actions = entry.get("actions") or []
        if not isinstance(actions, list):
            raise InvalidToken("malformed access claim")
        access.append(Scope(str(entry.get("type")), str(entry.get("name")), frozenset(actions)))
    return VerifiedToken(subject=str(claims.get("sub") or ""), access=tuple(access))
