"""HTTP Basic credentials: parsing, and checking them with a short-lived cache.

Clients send Basic credentials on every request when token authentication is off, and on every
token request when it is on. Django's password hasher is deliberately slow (about 0.3 s of CPU),
so a credential that verified recently is trusted for ``REGISTRY_BASIC_AUTH_CACHE_SECONDS``.
The cache is keyed by a salted digest of the credential, never by the password itself, and is
local to each process. A cache hit still loads the user (:mod:`pulp_registry.app.users`, which
keeps rows for ``REGISTRY_USER_CACHE_SECONDS``) and checks that the user is active and that the
stored password hash has not changed since, so deactivating a user or changing a password takes
effect within those few seconds.
"""

import base64
import binascii
import hashlib
import hmac
import os
import threading
import time

from django.conf import settings
from django.contrib.auth import authenticate

from pulp_registry.app import users

_SALT = os.urandom(16)
_cache = {}
_lock = threading.Lock()
_MAX_ENTRIES = 10000


def parse_basic(header):
    """Extract ``(username, password)`` from an ``Authorization: Basic`` header value.

    Returns:
        tuple[str, str] | None: the credentials, or None if the header holds none.
    """
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        return None
    return username, password


def _cache_key(username, password):
    return hmac.new(_SALT, f"{username}\0{password}".encode(), hashlib.sha256).digest()


def _stored_hash_digest(user):
    # The stored hash changes with every password change (new salt).
    return hmac.new(_SALT, (user.password or "").encode(), hashlib.sha256).digest()


def check_credentials(username, password):
    """Return the active user with these credentials, or None.

    A successful check is remembered for a short time; a failed one never is.
    """
    if "\x00" in username or "\x00" in password:
        return None  # no user has a NUL in their name, and PostgreSQL refuses one in a query
    ttl = float(getattr(settings, "REGISTRY_BASIC_AUTH_CACHE_SECONDS", 0) or 0)
    key = _cache_key(username, password)
    now = time.monotonic()
    if ttl > 0:
        with _lock:
            entry = _cache.get(key)
        if entry and entry[2] > now:
            user = users.active_user(pk=entry[0])
            if user is not None and hmac.compare_digest(_stored_hash_digest(user), entry[1]):
                return user
            with _lock:
                _cache.pop(key, None)
    user = authenticate(username=username, password=password)
    if user is None or not user.is_active:
        return None
    if ttl > 0:
        with _lock:
            if len(_cache) >= _MAX_ENTRIES:
                _cache.clear()
            _cache[key] = (user.pk, _stored_hash_digest(user), now + ttl)
    return user


def clear_cache():
    """Forget every verified credential (used by tests)."""
    with _lock:
        _cache.clear()


def user_from_basic_header(header):
    """Authenticate an ``Authorization: Basic`` header value.

    Returns:
        tuple[user | None, bool]: the user (None if anonymous or wrong), and whether
        credentials were presented at all.
    """
    credentials = parse_basic(header)
    if credentials is None:
        return None, False
    return check_credentials(*credentials), True
