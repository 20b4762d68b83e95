"""Loading and checking the token signing keys and the other token settings.

Every problem is reported as :class:`~django.core.exceptions.ImproperlyConfigured` with a
message that names the setting, so that a misconfiguration stops the API server at start-up
(see :mod:`pulp_registry.app.checks`) instead of failing a login later.
"""

from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SUPPORTED_ALGORITHMS = {
    "ES256": ec.EllipticCurvePrivateKey,
    "RS256": rsa.RSAPrivateKey,
    "PS256": rsa.RSAPrivateKey,
}
# RSA keys shorter than this are refused: they are no longer considered safe (NIST SP 800-131A).
MIN_RSA_KEY_BITS = 2048
# Clients treat a token as valid for at least this long whatever expires_in says
# (docker-auth-token.md), so shorter lifetimes make them send expired tokens.
CLIENT_MINIMUM_LIFETIME = 60


def _read(path, what):
    if not path:
        raise ImproperlyConfigured(
            f"{what} is not set: token authentication needs a key pair "
            "(set PRIVATE_KEY_PATH and PUBLIC_KEY_PATH, or TOKEN_AUTH_DISABLED = True)"
        )
    try:
        with open(path, "rb") as key_file:
            return key_file.read()
    except OSError as error:
        raise ImproperlyConfigured(f"{what} {str(path)!r} cannot be read: {error.strerror}")


def _describe(key):
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return f"an EC {key.curve.name} key (use ES256)"
    if isinstance(key, rsa.RSAPrivateKey):
        return "an RSA key (use RS256 or PS256)"
    return f"a {type(key).__name__} key, which is not supported"


def _der(public_key):
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@lru_cache(maxsize=4)
def _load(algorithm, private_path, public_path):
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ImproperlyConfigured(
            f"TOKEN_SIGNATURE_ALGORITHM {algorithm!r} is not supported; use one of "
            + ", ".join(sorted(SUPPORTED_ALGORITHMS))
        )
    private_pem = _read(private_path, "PRIVATE_KEY_PATH")
    public_pem = _read(public_path, "PUBLIC_KEY_PATH")
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            f"PRIVATE_KEY_PATH {str(private_path)!r} does not hold an unencrypted PEM private "
            f"key: {error}"
        )
    try:
        public_key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(
            f"PUBLIC_KEY_PATH {str(public_path)!r} does not hold a PEM public key: {error}"
        )
    if not isinstance(private_key, SUPPORTED_ALGORITHMS[algorithm]):
        kind = "an EC P-256" if algorithm == "ES256" else "an RSA"
        raise ImproperlyConfigured(
            f"TOKEN_SIGNATURE_ALGORITHM is {algorithm}, which needs {kind} key, but "
            f"PRIVATE_KEY_PATH holds {_describe(private_key)}"
        )
    if algorithm == "ES256" and private_key.curve.name != "secp256r1":
        raise ImproperlyConfigured(
            f"ES256 needs a P-256 (secp256r1) key; PRIVATE_KEY_PATH holds a "
            f"{private_key.curve.name} key"
        )
    if isinstance(private_key, rsa.RSAPrivateKey) and private_key.key_size < MIN_RSA_KEY_BITS:
        raise ImproperlyConfigured(
            f"the RSA key in PRIVATE_KEY_PATH has {private_key.key_size} bits; at least "
            f"{MIN_RSA_KEY_BITS} are needed"
        )
    if _der(private_key.public_key()) != _der(public_key):
        raise ImproperlyConfigured(
            "PUBLIC_KEY_PATH does not hold the public key of PRIVATE_KEY_PATH"
        )
    return algorithm, private_key, public_key


def signing_keys():
    """Load and check the key pair and algorithm from the settings.

    The result is cached per (algorithm, key paths): keys are read once per process, so
    changing the key files needs a restart.

    Returns:
        tuple: (algorithm, private key, public key) as ``cryptography`` objects.

    Raises:
        ImproperlyConfigured: a key is missing or unreadable, or does not suit the algorithm.
    """
    return _load(
        settings.TOKEN_SIGNATURE_ALGORITHM,
        str(settings.PRIVATE_KEY_PATH) if settings.PRIVATE_KEY_PATH else None,
        str(settings.PUBLIC_KEY_PATH) if settings.PUBLIC_KEY_PATH else None,
    )


def token_lifetime():
    """``TOKEN_EXPIRATION_TIME`` as a positive number of seconds.

    Raises:
        ImproperlyConfigured: the setting is not a positive integer.
    """
    value = settings.TOKEN_EXPIRATION_TIME
    try:
        lifetime = int(value)
    except (TypeError, ValueError):
        lifetime = 0
    if lifetime <= 0 or isinstance(value, bool):
        raise ImproperlyConfigured(
            f"TOKEN_EXPIRATION_TIME must be a positive number of seconds, not {value!r}"
        )
    return lifetime


def check_token_settings():
    """Check every token setting; do nothing when token authentication is disabled.

    Raises:
        ImproperlyConfigured: with a message naming the faulty setting.
    """
    if settings.TOKEN_AUTH_DISABLED:
        return
    signing_keys()
    token_lifetime()
    server = settings.TOKEN_SERVER
    if server:
        parts = urlsplit(str(server))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ImproperlyConfigured(
                f"TOKEN_SERVER must be an absolute http(s) URL such as "
                f"'https://registry.example.com/token/', not {server!r}"
            )
