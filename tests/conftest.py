"""Test-wide set-up: pulpcore settings for the tests that run Django in the pytest process.

pulpcore reads its settings (through dynaconf) once, when Django first loads them, from
the file named by ``PULP_SETTINGS``. So before pytest-django sets Django up, this file
writes a settings file for the tests, with the launcher's own generator so that tests see
the same settings a real registry has, and points ``PULP_SETTINGS`` at it:

* the database server is ``PULP_REGISTRY_TEST_DATABASE_URL`` when set, else the PostgreSQL
  on 127.0.0.1:5432 (user ``postgres``) when it answers, else an embedded PostgreSQL
  started for the session; pytest-django creates and drops its ``test_...`` database there;
* media, working and upload directories live in a temporary directory.

A developer who exports ``PULP_SETTINGS`` keeps those settings instead. For that reason
``DJANGO_SETTINGS_MODULE`` is set here and not in pytest.ini: pytest-django would load
the settings from the ini option before this file could set ``PULP_SETTINGS``.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SYSTEM_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
# One name per test run, so that runs side by side (two developers, CI) never share a
# database; pytest-django creates "test_<name>" and drops it at the end.
UNIT_DATABASE = f"pulp_registry_unit_{os.getpid()}"

_state = {}


def system_postgres_url():
    """Return a URL of a PostgreSQL server the tests may create databases on, or None.

    ``PULP_REGISTRY_TEST_DATABASE_URL`` wins; else the server on 127.0.0.1:5432 is used
    when it lets user ``postgres`` in without a password.

    Returns:
        str or None: a ``postgresql://`` URL naming the server's ``postgres`` database.
    """
    url = os.environ.get("PULP_REGISTRY_TEST_DATABASE_URL")
    if url:
        return url
    import psycopg

    try:
        psycopg.connect(SYSTEM_POSTGRES, connect_timeout=3).close()
    except psycopg.Error:
        return None
    return SYSTEM_POSTGRES


def _write_unit_settings(workdir: Path) -> Path:
    from pulp_registry.launcher import secrets_store
    from pulp_registry.launcher.database import EmbeddedPostgres, parse_database_url
    from pulp_registry.launcher.settings_file import render_settings, write_settings

    url = system_postgres_url()
    if url:
        database = parse_database_url(url)
        database.name = UNIT_DATABASE
    else:
        postgres = EmbeddedPostgres(
            pgdata=workdir / "postgres",
            port_file=workdir / "postgres.port",
            password=secrets_store.random_password(),
            log_path=workdir / "postgres.log",
        )
        database = postgres.start()
        database.name = UNIT_DATABASE
        _state["postgres"] = postgres
    for directory in ("media", "static", "tmp/uploads"):
        (workdir / directory).mkdir(parents=True, exist_ok=True)
    keys = workdir / "keys"
    secrets_store.ensure_token_keys(keys / "token-private.pem", keys / "token-public.pem")
    fernet_key = workdir / "database_fields.symmetric.key"
    secrets_store.write_private(fernet_key, secrets_store.new_fernet_key().encode())
    settings_path = workdir / "settings.py"
    write_settings(
        settings_path,
        render_settings(
            data_dir=workdir,
            database=database,
            secret_key=secrets_store.new_secret_key(),
            db_encryption_key_path=fernet_key,
            private_key_path=keys / "token-private.pem",
            public_key_path=keys / "token-public.pem",
            content_origin="http://127.0.0.1:24816",
            token_server="http://testserver/token/",
            # Django's default hasher spends about a second per password on purpose;
            # tests create and check many passwords.
            extra_settings={"PASSWORD_HASHERS": ["django.contrib.auth.hashers.MD5PasswordHasher"]},
        ),
    )
    return settings_path


def pytest_configure(config):
    """Point pulpcore at the test settings and set Django up, before pytest-django does."""
    config.addinivalue_line(
        "markers", "functional: starts real registry processes and talks to them over HTTP"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulpcore.app.settings")
    if config.option.basetemp is None:
        # pytest numbers its temporary roots per user and deletes old ones: a second run side
        # by side would delete this run's registries' data directories under them.
        config.option.basetemp = tempfile.mkdtemp(prefix="pulp-registry-pytest-")
        _state["own_basetemp"] = config.option.basetemp
    if not os.environ.get("PULP_SETTINGS"):
        workdir = Path(tempfile.mkdtemp(prefix="pulp-registry-tests-"))
        _state["workdir"] = workdir
        os.environ["PULP_SETTINGS"] = str(_write_unit_settings(workdir))
        # Only what this file set up is ours to clean up; remember that.
        _state["own_settings"] = True
    import django

    # pytest-django's own set-up only finishes what was started before it runs.
    django.setup()


def pytest_sessionfinish(session, exitstatus):
    """Remember whether every test passed: the temporary root is only kept after a failure,
    for a look at the failed registries' logs and data."""
    _state["passed"] = exitstatus == 0


def pytest_unconfigure(config):
    """Stop the embedded PostgreSQL (if one was started) and remove the temporary files."""
    postgres = _state.pop("postgres", None)
    if postgres is not None:
        postgres.stop()
    workdir = _state.pop("workdir", None)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    basetemp = _state.pop("own_basetemp", None)
    if basetemp is not None and _state.pop("passed", False):
        shutil.rmtree(basetemp, ignore_errors=True)
    if _state.pop("own_settings", False):
        # Later child processes (and a re-run in the same process) must not inherit it.
        os.environ.pop("PULP_SETTINGS", None)


@pytest.fixture(scope="session")
def test_settings_path():
    """Path of the pulpcore settings file the in-process tests run with."""
    return Path(os.environ["PULP_SETTINGS"].split(",")[0])
