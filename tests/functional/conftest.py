"""Fixtures that start real registries for the functional tests.

A registry here is started by :class:`pulp_registry.launcher.Registry`, exactly as
``make run`` starts one: same settings file, same processes (gunicorn API server with the
registry's worker class, pulpcore content app, pulpcore worker). Each gets a fresh data
directory, free ports and a database of its own, copied from a template migrated once per
session. The databases live on one embedded PostgreSQL started for the session (its own
connection limit, so many registries side by side never exhaust the machine's server), or
on the server named by ``PULP_REGISTRY_TEST_DATABASE_URL`` (where they are dropped
afterwards).

Fixtures:

* ``registry``: the session's registry, default settings (token authentication on).
* ``registry_factory``: ``registry_factory(extra_settings)`` returns a started registry
  with those settings, one per distinct settings for the whole session (e.g.
  ``registry_factory({"TOKEN_AUTH_DISABLED": True})``); ``registry_factory.fresh(...)``
  starts an uncached one.
* ``admin_session``: a ``requests.Session`` logged in as ``admin`` on ``registry``.

Every test in this directory is marked ``functional``.
"""

import itertools
import os
import socket
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

import pytest

from pulp_registry.launcher import LauncherError, Registry

_HERE = Path(__file__).parent


def pytest_collection_modifyitems(config, items):
    """Mark every test below this directory ``functional``."""
    for item in items:
        if _HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.functional)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env() -> Dict[str, str]:
    """The test process's environment without pulpcore or launcher variables.

    The unit-test set-up exports ``PULP_SETTINGS``; a registry under test must get only
    the settings its launcher writes.
    """
    return {key: value for key, value in os.environ.items() if not key.startswith("PULP_")}


def _say(message: str) -> None:
    print(f"[registry] {message}", flush=True)


class RegistryFactory:
    """Starts registries for tests and tears all of them down at the end of the session.

    Args:
        base_dir: Directory under which each registry gets its own data directory.
    """

    def __init__(self, base_dir: Path):
        self.base_dir = base_dir
        self._postgres = None
        self.server_url = os.environ.get("PULP_REGISTRY_TEST_DATABASE_URL") or self._start_postgres()
        self._cache: Dict[Tuple, Registry] = {}
        self._started: List[Registry] = []
        self._databases: List[str] = []
        self._counter = itertools.count(1)
        self._template: Optional[str] = None

    def __call__(self, extra_settings: Optional[Mapping[str, Any]] = None) -> Registry:
        """Return the session's started registry with these extra settings.

        Args:
            extra_settings: pulpcore settings written into its settings file.
        """
        key = tuple(sorted((name, repr(value)) for name, value in (extra_settings or {}).items()))
        if key not in self._cache:
            self._cache[key] = self.fresh(extra_settings=extra_settings)
        return self._cache[key]

    def _start_postgres(self) -> str:
        from pulp_registry.launcher.database import EmbeddedPostgres
        from pulp_registry.launcher.secrets_store import random_password

        self._postgres = EmbeddedPostgres(
            pgdata=self.base_dir / "postgres",
            port_file=self.base_dir / "postgres.port",
            password=random_password(),
            log_path=self.base_dir / "postgres.log",
            notify=_say,
        )
        try:
            params = self._postgres.start()
        except LauncherError as error:
            pytest.fail(f"the tests' PostgreSQL did not start: {error}", pytrace=False)
        return f"postgresql://{params.user}:{params.password}@{params.host}:{params.port}/postgres"

    def database_url(self) -> str:
        """Return the URL of a new, uniquely named database for one registry.

        The database is a copy of a template migrated once per session, so a registry
        starts without running every migration again.
        """
        import psycopg
        from psycopg import sql

        template = self._migrated_template()
        name = f"pulp_registry_ft_{os.getpid()}_{next(self._counter)}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            self._databases.append(name)
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return self._url(name)

    def _url(self, name: str) -> str:
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def _migrated_template(self) -> str:
        if self._template is None:
            name = f"pulp_registry_ft_{os.getpid()}_template"
            self._databases.append(name)
            preparer = Registry(
                self.base_dir / "template", "127.0.0.1", free_port(), free_port(),
                database_url=self._url(name), env=clean_env(), notify=_say,
            )
            try:
                preparer.prepare()
            except LauncherError as error:
                pytest.fail(
                    f"migrating the template database failed: {error}\n{error.details or ''}",
                    pytrace=False,
                )
            finally:
                # Copying a database needs it free of connections.
                preparer.stop()
            self._template = name
        return self._template

    def fresh(
        self,
        data_dir: Optional[Path] = None,
        extra_settings: Optional[Mapping[str, Any]] = None,
        start: bool = True,
        **kwargs,
    ) -> Registry:
        """Create (and by default start) a registry that is not shared with other tests.

        Args:
            data_dir: Its data directory; default a new one.
            extra_settings: pulpcore settings written into its settings file.
            start: Start it before returning.
            **kwargs: More :class:`Registry` arguments; ``database_url`` defaults to a new
                database on the tests' server (pass None for the registry's own embedded
                PostgreSQL in its data directory, as ``make run`` has).

        Returns:
            Registry: stopped again at the end of the session.
        """
        if data_dir is None:
            data_dir = self.base_dir / f"registry-{len(self._started) + 1}"
        kwargs.setdefault("database_url", self.database_url())
        kwargs.setdefault("env", clean_env())
        kwargs.setdefault("notify", _say)
        registry = Registry(
            data_dir,
            "127.0.0.1",
            free_port(),
            free_port(),
            extra_settings=extra_settings,
            **kwargs,
        )
        self._started.append(registry)
        if start:
            start_or_fail(registry)
        return registry

    def close(self) -> None:
        """Stop every registry and drop the databases made for them (or their server)."""
        for registry in self._started:
            registry.stop()
        if self._postgres is not None:
            self._postgres.stop()
            return
        if self._databases:
            from concurrent.futures import ThreadPoolExecutor

            # Each drop waits for a checkpoint; side by side they share the wait.
            with ThreadPoolExecutor(max_workers=len(self._databases)) as pool:
                list(pool.map(self._drop, self._databases))

    def _drop(self, name: str) -> None:
        import psycopg
        from psycopg import sql

        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def start_or_fail(registry: Registry) -> Registry:
    """Start ``registry``; a start-up failure fails the test with the logs' last lines."""
    try:
        return registry.start()
    except LauncherError as error:
        pytest.fail(f"registry did not start: {error}\n{error.details or ''}", pytrace=False)


@pytest.fixture(scope="session")
def registry_factory(tmp_path_factory):
    """Starts registries: ``registry_factory(extra_settings)``, cached per settings."""
    factory = RegistryFactory(tmp_path_factory.mktemp("registries"))
    yield factory
    factory.close()


@pytest.fixture(scope="session")
def registry(registry_factory):
    """The session's registry with default settings (token authentication on)."""
    return registry_factory()


@pytest.fixture
def admin_session(registry):
    """A ``requests.Session`` logged in as ``admin`` (HTTP Basic) on ``registry``."""
    with registry.session() as session:
        yield session
