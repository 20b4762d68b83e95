"""Default settings of the registry; override them in pulpcore's settings file or with
``PULP_<NAME>`` environment variables (see docs/configuration.md)."""

# Token authentication (the Docker token protocol). When disabled, /v2/ takes HTTP Basic
# credentials and only staff users may push.
TOKEN_AUTH_DISABLED = False
# Address of the token service given to clients in the 401 challenge; None means
# "this API's address + /token/", taken from the request.
TOKEN_SERVER = None
# The "service" (JWT audience) that tokens are issued for; None means the API's host:port.
TOKEN_SERVICE = None
TOKEN_SIGNATURE_ALGORITHM = "ES256"
PUBLIC_KEY_PATH = None
PRIVATE_KEY_PATH = None
# Lifetime of issued tokens, in seconds.
TOKEN_EXPIRATION_TIME = 300
# Seconds for which a verified HTTP Basic credential is trusted without hashing it again.
REGISTRY_BASIC_AUTH_CACHE_SECONDS = 60
# Seconds for which an API worker trusts a user's row (active, staff, password) it has read;
# a change made in another process is seen within this time. 0: read it on every request.
REGISTRY_USER_CACHE_SECONDS = 5
# Largest manifest accepted on push, in bytes.
REGISTRY_MAX_MANIFEST_SIZE = 4 * 1024 * 1024
# Largest page of tags or catalog entries returned at once.
REGISTRY_MAX_PAGE_SIZE = 10000
# Largest blob accepted on push, in bytes (the sum of an upload's chunks); None: no limit.
# Pushes past it are answered 413 BLOB_UPLOAD_INVALID.
REGISTRY_MAX_BLOB_SIZE = None
# Seconds without activity after which an unfinished blob upload (its session and file) is
# abandoned and removed by a periodic task of the worker; 0 turns the periodic removal off.
REGISTRY_UPLOAD_EXPIRY = 24 * 60 * 60

# Access-policy conditions that involve namespaces (merged with pulpcore's own).
DRF_ACCESS_POLICY = {
    "dynaconf_merge_unique": True,
    "reusable_conditions": ["pulp_registry.app.access_conditions"],
}

# A REST API request that fails because the database is unreachable is answered 503 (JSON)
# instead of Django's 500 page (see middleware.py). Appended to pulpcore's list.
MIDDLEWARE = ["dynaconf_merge_unique", "pulp_registry.app.middleware.DatabaseUnavailableMiddleware"]
