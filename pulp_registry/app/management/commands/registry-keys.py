"""``pulpcore-manager registry-keys``: create or rotate the token signing key pair."""

import os
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from pulp_registry.app.management.base import RegistryCommand, fail
from pulp_registry.app.token import keys


def _generate(algorithm, bits):
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _write(path, data, mode):
    """Write a file atomically (a reader never sees half a key) with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _check_pair(private_path, public_path, algorithm):
    """Why an existing key pair cannot sign ``algorithm`` tokens, or None if it can."""
    try:
        private_key = serialization.load_pem_private_key(private_path.read_bytes(), None)
        public_key = serialization.load_pem_public_key(public_path.read_bytes())
    except (OSError, ValueError, TypeError) as error:
        return f"the key files cannot be loaded: {error}"
    expected = keys.SUPPORTED_ALGORITHMS[algorithm]
    if not isinstance(private_key, expected):
        return f"{private_path} does not hold a key for {algorithm}"
    if algorithm == "ES256" and private_key.curve.name != "secp256r1":
        return "ES256 needs a P-256 key"
    der = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if private_key.public_key().public_bytes(*der) != public_key.public_bytes(*der):
        return f"{public_path} is not the public key of {private_path}"
    return None


class Command(RegistryCommand):
    help = (
        "Create the key pair that signs registry tokens at PRIVATE_KEY_PATH and "
        "PUBLIC_KEY_PATH (from the settings unless given), or replace it with --force "
        "(rotation). ES256 (EC P-256) by default, or the TOKEN_SIGNATURE_ALGORITHM setting. "
        "Tokens signed with an old key stop being accepted once the API server restarts with "
        "the new one; they live TOKEN_EXPIRATION_TIME seconds, so clients just log in again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--algorithm",
            choices=sorted(keys.SUPPORTED_ALGORITHMS),
            help="Signature algorithm the key is for (default: TOKEN_SIGNATURE_ALGORITHM, "
            f"currently {settings.TOKEN_SIGNATURE_ALGORITHM}).",
        )
        parser.add_argument(
            "--bits",
            type=int,
            default=3072,
            help="RSA key size for RS256/PS256 (default: 3072).",
        )
        parser.add_argument("--private-key", help="Where to write the private key.")
        parser.add_argument("--public-key", help="Where to write the public key.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Replace an existing key pair (rotate). The old files are kept with a '.old' "
            "suffix.",
        )

    def run(self, algorithm, bits, private_key, public_key, force, **options):
        algorithm = algorithm or settings.TOKEN_SIGNATURE_ALGORITHM
        if algorithm not in keys.SUPPORTED_ALGORITHMS:
            fail(f"algorithm {algorithm!r} is not supported; use one of "
                 + ", ".join(sorted(keys.SUPPORTED_ALGORITHMS)))
        minimum = getattr(keys, "MIN_RSA_KEY_BITS", 2048)
        if algorithm != "ES256" and bits < minimum:
            fail(f"--bits must be at least {minimum}")
        private_path = private_key or settings.PRIVATE_KEY_PATH
        public_path = public_key or settings.PUBLIC_KEY_PATH
        if not private_path or not public_path:
            fail("PRIVATE_KEY_PATH and PUBLIC_KEY_PATH are not set; set them in the settings "
                 "or give --private-key and --public-key")
        private_path, public_path = Path(private_path), Path(public_path)
        if private_path.resolve() == public_path.resolve():
            fail("the private and the public key need different files")

        existing = [p for p in (private_path, public_path) if p.exists()]
        if existing and not force:
            if len(existing) == 1:
                fail(f"only {existing[0]} exists; use --force to create a new pair")
            problem = _check_pair(private_path, public_path, algorithm)
            if problem:
                fail(f"the existing key pair is not usable ({problem}); use --force to replace "
                     "it")
            self.stdout.write(
                f"a usable {algorithm} key pair already exists at {private_path} and "
                f"{public_path}; nothing changed (use --force to rotate it)"
            )
            return

        for path in existing:
            backup = path.with_name(path.name + ".old")
            os.replace(path, backup)
            self.stdout.write(f"kept the old {path} as {backup}")
        key = _generate(algorithm, bits)
        _write(
            private_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            0o600,
        )
        _write(
            public_path,
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            ),
            0o644,
        )
        kind = "EC P-256" if algorithm == "ES256" else f"RSA {bits}-bit"
        self.stdout.write(
            f"{'rotated' if existing else 'created'} the {kind} key pair for {algorithm}: "
            f"private key {private_path} (mode 0600), public key {public_path}"
        )
        uses_settings = (
            str(private_path) == str(settings.PRIVATE_KEY_PATH)
            and str(public_path) == str(settings.PUBLIC_KEY_PATH)
        )
        if uses_settings and algorithm == settings.TOKEN_SIGNATURE_ALGORITHM:
            try:
                keys.signing_keys()
            except ImproperlyConfigured as error:
                fail(f"the new keys are not accepted by the token service: {error}")
            self.stdout.write("the token service accepts the new keys")
        elif uses_settings:
            self.stdout.write(
                f"note: set TOKEN_SIGNATURE_ALGORITHM = {algorithm!r} for the token service to "
                "use this key"
            )
        if existing:
            self.stdout.write(
                "restart the API server so that it signs with the new key; tokens signed with "
                "the old key are refused from then on (clients log in again)"
            )
