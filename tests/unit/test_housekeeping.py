"""Faults and housekeeping in the API process: a lost database answers the spec's 503
UNAVAILABLE on /v2/ and /token/, and abandoned uploads expire after REGISTRY_UPLOAD_EXPIRY.

The database outage itself cannot happen in a unit test (the test database is shared by the
whole run), so here the lookup that would reach it raises what Django raises then; the real
outage is tested in tests/functional/test_faults.py.
"""

import base64
import hashlib
import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import InterfaceError, OperationalError
from django.utils import timezone

from pulpcore.plugin.models import Artifact, TaskSchedule

from pulp_registry.app import access, blob_storage, serving
from pulp_registry.app.models import UploadSession
from pulp_registry.app.tasks import gc

pytestmark = pytest.mark.django_db


def _error(response):
    body = json.loads(response.content)
    assert set(body["errors"][0]) == {"code", "message", "detail"}
    return body["errors"][0]


@pytest.mark.parametrize("exception", [OperationalError, InterfaceError])
@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/v2/some/name/tags/list"),
        ("head", "/v2/some/name/manifests/latest"),
        ("post", "/v2/some/name/blobs/uploads/"),
    ],
)
def test_v2_answers_503_unavailable_when_the_database_is_gone(
    client, settings, monkeypatch, method, path, exception
):
    settings.TOKEN_AUTH_DISABLED = True

    def database_gone(*args, **kwargs):
        raise exception("connection to server at 127.0.0.1 failed: Connection refused")

    monkeypatch.setattr(serving, "resolve", database_gone)
    monkeypatch.setattr(access, "allowed_actions", database_gone)
    response = getattr(client, method)(path)
    assert response.status_code == 503
    assert response["Docker-Distribution-API-Version"] == "registry/2.0"
    if method != "head":
        error = _error(response)
        assert error["code"] == "UNAVAILABLE"
        # Nothing of the server's connection details reaches the client.
        assert "127.0.0.1" not in json.dumps(error)


def test_token_service_answers_503_unavailable_when_the_database_is_gone(
    client, settings, monkeypatch
):
    settings.TOKEN_AUTH_DISABLED = False

    def database_gone(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(access, "allowed_actions", database_gone)
    response = client.get("/token/", {"scope": "repository:some/name:pull"})
    assert response.status_code == 503
    assert _error(response)["code"] == "UNAVAILABLE"


# --- expiry of abandoned uploads ---------------------------------------------------------------

NAME = "house/keeping"


@pytest.fixture
def basic_v2(client, django_user_model, settings):
    """The Django test client as a staff user with HTTP Basic credentials."""
    settings.TOKEN_AUTH_DISABLED = True
    django_user_model.objects.create_user("keeper", password="secret", is_staff=True)
    token = base64.b64encode(b"keeper:secret").decode()
    client.defaults["HTTP_AUTHORIZATION"] = f"Basic {token}"
    return client


def _disk_usage(directory):
    return sum(path.stat().st_size for path in directory.iterdir() if path.is_file())


def _age(path, seconds):
    """Make a file look last written ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


def _open_upload(client, data):
    response = client.post(f"/v2/{NAME}/blobs/uploads/")
    assert response.status_code == 202
    location = response["Location"]
    response = client.patch(location, data=data, content_type="application/octet-stream")
    assert response.status_code == 202
    return location, UploadSession.objects.get(pk=location.rsplit("/", 1)[1])


def test_abandoned_upload_expires_and_its_disk_space_is_freed(basic_v2, settings):
    baseline = _disk_usage(blob_storage.upload_dir())
    location, session = _open_upload(basic_v2, os.urandom(50_000))
    assert _disk_usage(blob_storage.upload_dir()) == baseline + 50_000
    settings.REGISTRY_UPLOAD_EXPIRY = 3600
    # Idle for two hours: the session row and its file were last touched then.
    UploadSession.objects.filter(pk=session.pk).update(
        pulp_last_updated=timezone.now() - timedelta(hours=2)
    )
    _age(blob_storage.upload_path(session.pk), 2 * 3600)

    result = gc.expire_uploads()

    assert result["deleted_upload_sessions"] == 1
    assert result["freed_bytes"] == 50_000
    response = basic_v2.get(location)
    assert response.status_code == 404
    assert _error(response)["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert _disk_usage(blob_storage.upload_dir()) == baseline


def test_upload_still_receiving_chunks_does_not_expire(basic_v2, settings):
    location, session = _open_upload(basic_v2, b"a" * 1000)
    settings.REGISTRY_UPLOAD_EXPIRY = 3600
    # The session row is old, but a chunk was written a minute ago: the upload is alive.
    UploadSession.objects.filter(pk=session.pk).update(
        pulp_last_updated=timezone.now() - timedelta(hours=2)
    )
    _age(blob_storage.upload_path(session.pk), 60)

    assert gc.expire_uploads()["deleted_upload_sessions"] == 0

    response = basic_v2.patch(location, data=b"b" * 10, content_type="application/octet-stream",
                              HTTP_CONTENT_RANGE="1000-1009")
    assert response.status_code == 202
    assert response["Range"] == "0-1009"


def test_file_without_a_session_expires_after_the_setting(settings):
    stray = blob_storage.upload_dir() / "interrupted-monolithic-upload"
    stray.write_bytes(b"x" * 100)
    fresh = blob_storage.upload_dir() / "monolithic-upload-in-progress"
    fresh.write_bytes(b"y" * 100)
    try:
        settings.REGISTRY_UPLOAD_EXPIRY = 600
        _age(stray, 601)
        result = gc.expire_uploads()
        assert result["deleted_stray_upload_files"] >= 1
        assert not stray.exists()
        assert fresh.exists()
    finally:
        stray.unlink(missing_ok=True)
        fresh.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "expiry, interval",
    [(86400, timedelta(hours=1)), (600, timedelta(seconds=150)), (0, None)],
)
def test_schedule_follows_the_setting(settings, expiry, interval):
    settings.REGISTRY_UPLOAD_EXPIRY = expiry
    gc.configure_upload_expiry()
    schedules = TaskSchedule.objects.filter(task_name=gc.UPLOAD_EXPIRY_TASK)
    if interval is None:
        assert not schedules.exists()
    else:
        assert [s.dispatch_interval for s in schedules] == [interval]


def test_migrations_schedule_the_expiry_task():
    # pytest-django migrated the test database, which fires post_migrate.
    schedule = TaskSchedule.objects.get(task_name=gc.UPLOAD_EXPIRY_TASK)
    assert schedule.name == gc.UPLOAD_EXPIRY_SCHEDULE


def test_gc_uploads_only_removes_abandoned_uploads_and_nothing_else(basic_v2, settings):
    baseline = _disk_usage(blob_storage.upload_dir())
    location, session = _open_upload(basic_v2, b"z" * 4096)
    _age(blob_storage.upload_path(session.pk), 7200)
    UploadSession.objects.filter(pk=session.pk).update(
        pulp_last_updated=timezone.now() - timedelta(hours=2)
    )
    settings.REGISTRY_UPLOAD_EXPIRY = 86400  # the setting would keep it; --older-than wins

    dry = io.StringIO()
    call_command("registry-gc", "--uploads-only", "--older-than", "1h", "--dry-run", "--json",
                 stdout=dry, stderr=io.StringIO())
    assert json.loads(dry.getvalue())["deleted_upload_sessions"] == 1
    assert UploadSession.objects.filter(pk=session.pk).exists()

    out = io.StringIO()
    call_command("registry-gc", "--uploads-only", "--older-than", "1h", "--json", stdout=out,
                 stderr=io.StringIO())
    result = json.loads(out.getvalue())
    assert result["deleted_upload_sessions"] == 1
    assert result["freed_bytes"] == 4096
    assert _error(basic_v2.get(location))["code"] == "BLOB_UPLOAD_UNKNOWN"
    assert _disk_usage(blob_storage.upload_dir()) == baseline


def test_gc_removes_artifact_files_that_no_artifact_names(basic_v2):
    """A crash between storing a finished upload and committing it leaves such a file."""
    # Files of earlier tests whose transactions were rolled back are such files too.
    gc.clean_stray_artifact_files(min_age=timedelta(0))
    data = os.urandom(5000)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    response = basic_v2.post(f"/v2/{NAME}/blobs/uploads/?digest={digest}", data=data,
                             content_type="application/octet-stream")
    assert response.status_code == 201
    stored = Artifact.objects.get(sha256=digest.split(":")[1])
    stored_path = Path(stored.file.path)
    stray = stored_path.parent.parent / "ff" / ("0" * 62)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by a crash")

    # Young files are kept whatever names them: one may be being stored right now.
    assert gc.clean_stray_artifact_files() == (0, 0)
    assert gc.clean_stray_artifact_files(dry_run=True, min_age=timedelta(0)) == (1, 15)
    assert stray.exists()
    assert gc.clean_stray_artifact_files(min_age=timedelta(0)) == (1, 15)
    assert not stray.exists()
    assert stored_path.exists()
    assert basic_v2.get(f"/v2/{NAME}/blobs/{digest}").status_code == 200
