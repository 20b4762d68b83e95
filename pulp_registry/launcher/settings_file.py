"""Writing the pulpcore settings file that every process of the registry loads.

The file is rewritten at each start from the current configuration (so a changed port
takes effect), while the secrets it names are kept in the data directory. pulpcore finds
it through the ``PULP_SETTINGS`` environment variable; a settings file of the user's own
is appended to that variable (dynaconf loads comma-separated files in order, later ones
winning), so the user can override anything written here.
"""

import keyword
from dataclasses import dataclass
from pathlib import Path
from pprint import pformat
from typing import Any, Mapping, Optional

from pulp_registry.launcher.errors import LauncherError
from pulp_registry.launcher.secrets_store import write_private

_HEADER = '''\
"""pulpcore settings of pulp-registry, written anew at every start: edits here are lost.

Put your own settings in another file and name it in the PULP_SETTINGS environment
variable when starting pulp-registry (it is loaded after this one), or set them as
PULP_<NAME> environment variables.
"""
'''


@dataclass
class DatabaseParams:
    """Connection parameters of the PostgreSQL database pulpcore uses."""

    name: str
    user: str
    password: str
    host: str
    port: int
    options: Optional[dict] = None

    def django(self) -> dict:
        """Return the ``DATABASES["default"]`` entry for Django."""
        entry = {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.name,
            "USER": self.user,
            "PASSWORD": self.password,
            "HOST": self.host,
            "PORT": str(self.port),
            # Keep each server thread's connection open between requests: opening one costs
            # more than a typical /v2/ request (docs/performance.md). Health checks notice a
            # connection lost in between (e.g. a restarted PostgreSQL) before it is used.
            "CONN_MAX_AGE": 60,
            "CONN_HEALTH_CHECKS": True,
        }
        if self.options:
            entry["OPTIONS"] = dict(self.options)
        return entry

    def libpq(self, dbname: Optional[str] = None) -> dict:
        """Return keyword arguments for ``psycopg.connect``.

        Args:
            dbname: Database to connect to instead of :attr:`name`.
        """
        params = {
            "dbname": dbname or self.name,
            "user": self.user,
            "password": self.password,
            "host": self.host,
            "port": self.port,
        }
        params.update(self.options or {})
        return params


def url_host(host: str) -> str:
    """Return ``host`` as written in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def render_settings(
    *,
    data_dir: Path,
    database: DatabaseParams,
    secret_key: str,
    db_encryption_key_path: Path,
    private_key_path: Path,
    public_key_path: Path,
    content_origin: str,
    token_server: Optional[str],
    extra_settings: Optional[Mapping[str, Any]] = None,
) -> str:
    """Return the text of the settings file.

    Args:
        data_dir: The registry's data directory; media and temporary files go below it.
        database: Where the database is.
        secret_key: Django's SECRET_KEY.
        db_encryption_key_path: File with pulpcore's field-encryption key.
        private_key_path: PEM private key that signs registry tokens.
        public_key_path: PEM public key matching it.
        content_origin: Base URL of the content app.
        token_server: URL of the token endpoint given to clients; None lets the registry
            derive it from each request.
        extra_settings: More settings, written last (e.g. ``{"TOKEN_AUTH_DISABLED": True}``).

    Returns:
        str: Python source for pulpcore's dynaconf loader.

    Raises:
        LauncherError: an extra setting's name is not an upper-case Python identifier.
    """
    media_root = data_dir / "media"
    # Uploads and task files are moved (not copied) into storage, which only works when
    # they are on the same file system as MEDIA_ROOT: keep them all below data_dir.
    working_dir = data_dir / "tmp"
    values = {
        "DATABASES": {"default": database.django()},
        "SECRET_KEY": secret_key,
        "DB_ENCRYPTION_KEY": str(db_encryption_key_path),
        "MEDIA_ROOT": str(media_root),
        "STATIC_ROOT": str(data_dir / "static"),
        "STORAGES": {
            "default": {
                "BACKEND": "pulpcore.app.models.storage.FileSystem",
                "OPTIONS": {"location": str(media_root)},
            },
            "staticfiles": {
                "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
            },
        },
        "WORKING_DIRECTORY": str(working_dir),
        "FILE_UPLOAD_TEMP_DIR": str(working_dir / "uploads"),
        "CONTENT_ORIGIN": content_origin,
        # Image content is addressed by sha256; pulpcore's other digests cost CPU on every
        # upload (sha512: 0.7 s per 256 MiB here) and serve no purpose in a registry.
        # A blob pushed with a sha512 digest is still verified against it.
        "ALLOWED_CONTENT_CHECKSUMS": ["sha256"],
        "TOKEN_SERVER": token_server,
        "TOKEN_SIGNATURE_ALGORITHM": "ES256",
        "PRIVATE_KEY_PATH": str(private_key_path),
        "PUBLIC_KEY_PATH": str(public_key_path),
        "CACHE_ENABLED": False,
        # pulpcore would otherwise post usage statistics to the Internet.
        "ANALYTICS": False,
    }
    lines = [_HEADER]
    for name, value in values.items():
        lines.append(f"{name} = {pformat(value, width=88, sort_dicts=False)}")
    if extra_settings:
        lines.append("\n# Extra settings given to the launcher")
        for name, value in extra_settings.items():
            if not (name.isidentifier() and name.isupper() and not keyword.iskeyword(name)):
                raise LauncherError(f"extra setting {name!r} is not an upper-case name")
            lines.append(f"{name} = {value!r}")
    return "\n".join(lines) + "\n"


def write_settings(path: Path, text: str) -> None:
    """Write the settings file, readable by its owner only (it holds passwords).

    Args:
        path: Where to write it.
        text: What :func:`render_settings` returned.
    """
    write_private(path, text.encode())
