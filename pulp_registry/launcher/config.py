"""Configuration of ``pulp-registry run``, read from ``PULP_REGISTRY_*`` environment variables."""

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from pulp_registry.launcher.errors import LauncherError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 24817
DEFAULT_CONTENT_PORT = 24816
DEFAULT_DATA_DIR = ".registry-data"


@dataclass
class LauncherConfig:
    """What the CLI hands to :class:`~pulp_registry.launcher.registry.Registry`.

    Attributes:
        data_dir: Directory holding the database, media, keys, logs and settings.
        host: Address the API and content app listen on.
        port: Port of the API (``/v2/``, ``/token/``, ``/pulp/api/v3/``).
        content_port: Port of pulpcore's content app.
        database_url: ``postgresql://`` URL of an existing database; None means embedded.
        admin_password: Password for ``admin``; None means generate one and keep it.
        user_settings_file: A pulpcore settings file of the user's, loaded after ours.
        extra_settings: Settings written into the generated settings file.
        api_workers: gunicorn worker processes of the API server.
        api_threads: Threads per API worker process.
    """

    data_dir: Path
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    content_port: int = DEFAULT_CONTENT_PORT
    database_url: Optional[str] = None
    admin_password: Optional[str] = None
    user_settings_file: Optional[Path] = None
    extra_settings: dict = field(default_factory=dict)
    api_workers: int = 2
    api_threads: int = 8

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "LauncherConfig":
        """Build the configuration from environment variables.

        Args:
            environ: The variables to read; defaults to ``os.environ``.

        Returns:
            LauncherConfig: the configuration, with defaults for unset variables.

        Raises:
            LauncherError: a port is not a number in 1..65535, or a count not positive.
        """
        environ = os.environ if environ is None else environ
        user_settings = environ.get("PULP_SETTINGS") or None
        return cls(
            data_dir=Path(environ.get("PULP_REGISTRY_DATA") or DEFAULT_DATA_DIR).absolute(),
            host=environ.get("PULP_REGISTRY_HOST") or DEFAULT_HOST,
            port=_port(environ, "PULP_REGISTRY_PORT", DEFAULT_PORT),
            content_port=_port(environ, "PULP_REGISTRY_CONTENT_PORT", DEFAULT_CONTENT_PORT),
            database_url=environ.get("PULP_REGISTRY_DATABASE_URL") or None,
            admin_password=environ.get("PULP_REGISTRY_ADMIN_PASSWORD") or None,
            user_settings_file=Path(user_settings).absolute() if user_settings else None,
            api_workers=_count(environ, "PULP_REGISTRY_API_WORKERS", 2),
            api_threads=_count(environ, "PULP_REGISTRY_API_THREADS", 8),
        )


def _port(environ, name, default):
    raw = environ.get(name)
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise LauncherError(f"{name}={raw!r} is not a port number (1-65535)")
    return port


def _count(environ, name, default):
    raw = environ.get(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise LauncherError(f"{name}={raw!r} is not a positive whole number")
    return int(raw)
