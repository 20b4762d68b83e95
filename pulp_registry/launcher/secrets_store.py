"""Secrets the registry generates once and keeps in its data directory.

Django's SECRET_KEY, pulpcore's database-field encryption key, the password of the
embedded PostgreSQL, the admin password and the token-signing key pair are made on first
start and reused afterwards, so that a restart keeps sessions, encrypted fields, issued
tokens and logins valid.
"""

import base64
import os
import secrets
import string
from pathlib import Path
from typing import Callable

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Letters and digits only: the password gets typed into shells and `podman login`.
_PASSWORD_ALPHABET = string.ascii_letters + string.digits


def random_password(length: int = 24) -> str:
    """Return a random password of letters and digits.

    Args:
        length: Number of characters.

    Returns:
        str: the password.
    """
    return "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(length))


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only, replacing any old file.

    The file is created with mode 0600 from the start (not chmod-ed afterwards), so the
    secret is never readable by others, not even briefly.

    Args:
        path: File to write.
        data: Its content.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, path)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """Return the secret kept in ``path``, creating it with ``make()`` when missing.

    Args:
        path: File holding the secret (one line).
        make: Produces a new secret.

    Returns:
        str: the secret, without surrounding whitespace.
    """
    if path.exists():
        value = path.read_text().strip()
        if value:
            return value
    value = make()
    write_private(path, (value + "\n").encode())
    return value


def new_secret_key() -> str:
    """Return a new Django SECRET_KEY."""
    return secrets.token_urlsafe(50)


def new_fernet_key() -> str:
    """Return a new key for pulpcore's DB_ENCRYPTION_KEY (Fernet: urlsafe base64 of 32 bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def ensure_token_keys(private_path: Path, public_path: Path) -> None:
    """Make the EC P-256 key pair that signs registry tokens (ES256), unless it exists.

    The public key is re-derived from the private one when only it is missing, so a
    lost public file never invalidates tokens already handed out.

    Args:
        private_path: PEM file for the private key (PKCS#8, mode 0600).
        public_path: PEM file for the public key (SubjectPublicKeyInfo).
    """
    if private_path.exists():
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), None)
    else:
        private_key = ec.generate_private_key(ec.SECP256R1())
        write_private(
            private_path,
            private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        public_path.unlink(missing_ok=True)
    if not public_path.exists():
        public_path.write_bytes(
            private_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
