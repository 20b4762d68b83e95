"""Loading and checking the token signing keys named in the settings."""

from functools import lru_cache

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

SUPPORTED_ALGORITHMS = {"ES256": ec.EllipticCurvePrivateKey, "RS256": rsa.RSAPrivateKey,
                        "PS256": rsa.RSAPrivateKey}


def _read(path, what):
    if not path:
        raise ImproperlyConfigured(
            f"{what} is not set: token authentication needs a key pair "
            "(or set TOKEN_AUTH_DISABLED = True)"
        )
    try:
        with open(path, "rb") as key_file:
            return key_file.read()
    except OSError as error:
        raise ImproperlyConfigured(f"{what} {path!r} cannot be read: {error.strerror}")


@lru_cache(maxsize=1)
def signing_keys():
    """Load and check the key pair and algorithm from the settings.

    Returns:
        tuple: (algorithm, private key, public key) as ``cryptography`` objects.

    Raises:
        ImproperlyConfigured: a key is missing or unreadable, or does not suit the algorithm.
    """
    algorithm = settings.TOKEN_SIGNATURE_ALGORITHM
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise ImproperlyConfigured(
            f"TOKEN_SIGNATURE_ALGORITHM {algorithm!r} is not supported; use one of "
            + ", ".join(sorted(SUPPORTED_ALGORITHMS))
        )
    private_pem = _read(settings.PRIVATE_KEY_PATH, "PRIVATE_KEY_PATH")
    public_pem = _read(settings.PUBLIC_KEY_PATH, "PUBLIC_KEY_PATH")
    try:
        private_key = serialization.load_pem_private_key(private_pem, password=None)
        public_key = serialization.load_pem_public_key(public_pem)
    except (ValueError, TypeError) as error:
        raise ImproperlyConfigured(f"the token signing keys cannot be loaded: {error}")
    if not isinstance(private_key, SUPPORTED_ALGORITHMS[algorithm]):
        raise ImproperlyConfigured(
            f"PRIVATE_KEY_PATH holds a {type(private_key).__name__}, which cannot sign "
            f"{algorithm} tokens"
        )
    if algorithm == "ES256" and private_key.curve.name != "secp256r1":
        raise ImproperlyConfigured("ES256 needs a P-256 (secp256r1) key")
    own_public = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if own_public != public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    ):
        raise ImproperlyConfigured("PUBLIC_KEY_PATH does not hold the public key of PRIVATE_KEY_PATH")
    return algorithm, private_key, public_key


def check_token_settings():
    """Fail at start-up, not at login, when token authentication is misconfigured."""
    if not settings.TOKEN_AUTH_DISABLED:
        signing_keys()
