"""Loading the active user behind a token or a credential, with a short per-process cache.

Every authenticated /v2/ and /token/ request needs its user; reading the row through the ORM
costs about a millisecond of CPU and a database round trip, which clients pay several times
per image (a push of one small image makes six such requests). An API worker therefore keeps
the rows it read for ``REGISTRY_USER_CACHE_SECONDS`` (a few seconds). Saving or deleting a user
in the same process drops its row at once; a change made in another process (another API
worker, ``pulpcore-manager``) is seen within that time. ``0`` turns the cache off.

Only the user's own row is cached: roles and permissions are still read by each request that
needs them. Each caller gets a new model instance, so nothing one request caches on its user
object (Django's permission caches) reaches another request.
"""

import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

_MAX_ENTRIES = 10000
_clock = time.monotonic  # replaced by tests
_lock = threading.Lock()
# ("name", username) or ("pk", pk) -> (database alias, field names, row values, expiry, pk)
_rows = {}


def _ttl():
    return float(getattr(settings, "REGISTRY_USER_CACHE_SECONDS", 0) or 0)


def _load(key):
    kind, value = key
    lookup = {"username": value} if kind == "name" else {"pk": value}
    return get_user_model().objects.filter(is_active=True, **lookup).first()


def active_user(username=None, pk=None):
    """The active user with this username (or primary key), or None.

    Args:
        username: the user's name.
        pk: the user's primary key (when no username is given).

    Returns:
        User | None: a fresh instance for this caller.
    """
    key = ("name", username) if username is not None else ("pk", pk)
    ttl = _ttl()
    if ttl <= 0:
        return _load(key)
    now = _clock()
    with _lock:
        entry = _rows.get(key)
    if entry is not None and entry[3] > now:
        alias, names, values, _, _ = entry
        return get_user_model().from_db(alias, names, values)
    user = _load(key)
    if user is None:
        with _lock:
            _rows.pop(key, None)
        return None
    names = [field.attname for field in user._meta.concrete_fields]
    entry = (user._state.db, names, [getattr(user, name) for name in names], now + ttl, user.pk)
    with _lock:
        if len(_rows) >= _MAX_ENTRIES:
            _rows.clear()
        _rows[("name", user.get_username())] = entry
        _rows[("pk", user.pk)] = entry
    return user


def forget(user=None):
    """Drop the cached row of ``user`` (of every user when None)."""
    with _lock:
        if user is None:
            _rows.clear()
            return
        # By primary key, not name: a renamed user's entry is still under the old name.
        for key in [key for key, entry in _rows.items() if entry[4] == user.pk]:
            del _rows[key]


def _user_changed(sender, instance, **kwargs):
    forget(instance)


post_save.connect(_user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="registry-users")
post_delete.connect(_user_changed, sender=settings.AUTH_USER_MODEL, dispatch_uid="registry-users")
