"""Garbage collection of the registry, used by ``pulpcore-manager registry-gc``.

Pushing the same tag again leaves the previous manifest untagged in the repository, and every
push makes a repository version that keeps its content alive. Garbage collection:

1. removes, in a new version of each repository, the manifests that nothing keeps (see
   :func:`plan_repository`) and the blobs that no kept manifest uses;
2. deletes old repository versions of push repositories (keeping the latest ``N``, and any
   version a distribution serves);
3. drops blobs pending in push repositories and upload sessions older than the age;
4. deletes the content that no repository version holds any more, and its files, with
   pulpcore's orphan cleanup (``pulpcore.plugin.tasking.orphan_cleanup``) run in a pulpcore
   task by a worker, in an order that foreign keys allow (tags, then lists before the
   manifests they list, then blobs).

Without ``--name`` it also deletes files in artifact storage that no artifact names and that are
an hour old (:func:`clean_stray_artifact_files`): what a crash leaves between storing a finished
upload and committing it.

Housekeeping of abandoned uploads also runs on its own: :func:`expire_uploads` is a periodic
pulpcore task (scheduled by :func:`configure_upload_expiry` from the
``REGISTRY_UPLOAD_EXPIRY`` setting) that removes upload sessions and upload files without
activity for that long.

What a manifest's age is: the time it was added to the repository (its repository membership),
so a manifest pushed by digest a moment ago (a child of a list whose push is not finished) is
young whatever its creation date.
"""

import logging
import re
import time
import uuid
from contextlib import nullcontext
from pathlib import Path
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.utils import timezone
from django_guid import get_guid, set_guid

from pulpcore.plugin.constants import TASK_FINAL_STATES, TASK_STATES
from pulpcore.plugin.models import (
    Artifact,
    Content,
    ContentArtifact,
    Repository,
    RepositoryContent,
    TaskSchedule,
)
from pulpcore.plugin.tasking import dispatch, orphan_cleanup
from pulpcore.plugin.util import get_domain

from pulp_registry.app import blob_storage
from pulp_registry.app.models import (
    Blob,
    Manifest,
    ManifestListEntry,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
    UploadSession,
)
from pulp_registry.app.push import locked_new_version
from pulp_registry.app.tasks.content import blobs_of, in_version

log = logging.getLogger(__name__)

_AGE_RE = re.compile(r"(\d+)([wdhms])")
_AGE_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}
# Stray upload files (no session: an interrupted monolithic upload) are only removed when
# this old, whatever the requested age, because a monolithic upload in progress has no session.
STRAY_UPLOAD_MIN_AGE = timedelta(hours=1)
# A file in artifact storage that no artifact names is what a crash leaves between moving a
# finished upload into storage and committing its rows. It is removed once its inode has not
# changed for this long, so that an upload being stored right now is never taken.
STRAY_ARTIFACT_MIN_AGE = timedelta(hours=1)
# Content primary keys per orphan cleanup call.
ORPHAN_BATCH = 5000


def parse_age(text):
    """Parse an age such as ``7d``, ``12h``, ``30m``, ``0s`` or ``1d12h``.

    Returns:
        timedelta: the age.

    Raises:
        ValueError: the text is not a sequence of ``<number><w|d|h|m|s>``.
    """
    text = (text or "").strip().lower()
    if not text or _AGE_RE.sub("", text):
        raise ValueError(
            f"invalid age {text!r}: use a number with a unit w, d, h, m or s, e.g. 7d, 12h, 0s"
        )
    delta = timedelta()
    for number, unit in _AGE_RE.findall(text):
        delta += timedelta(**{_AGE_UNITS[unit]: int(number)})
    return delta


@dataclass
class RepositoryResult:
    """What garbage collection did (or would do) to one repository."""

    name: str
    type: str
    manifests: list = field(default_factory=list)
    blobs: int = 0
    new_version: int = None
    versions_deleted: int = 0
    pending_dropped: int = 0

    def as_dict(self):
        return {
            "name": self.name,
            "type": self.type,
            "removed_manifests": self.manifests,
            "removed_blobs": self.blobs,
            "new_version": self.new_version,
            "deleted_versions": self.versions_deleted,
            "dropped_pending_blobs": self.pending_dropped,
        }


@dataclass
class Report:
    """The outcome of a garbage collection run."""

    dry_run: bool
    cutoff: object
    repositories: list = field(default_factory=list)
    upload_sessions: int = 0
    upload_bytes: int = 0
    stray_upload_files: int = 0
    stray_artifact_files: int = 0
    stray_artifact_bytes: int = 0
    orphan_content: dict = field(default_factory=dict)
    orphan_artifacts: int = 0
    orphan_bytes: int = 0
    orphan_task: str = None

    @property
    def removed_manifests(self):
        return sum(len(r.manifests) for r in self.repositories)

    @property
    def removed_blobs(self):
        return sum(r.blobs for r in self.repositories)

    @property
    def versions_deleted(self):
        return sum(r.versions_deleted for r in self.repositories)

    @property
    def pending_dropped(self):
        return sum(r.pending_dropped for r in self.repositories)

    @property
    def freed_bytes(self):
        return self.orphan_bytes + self.upload_bytes + self.stray_artifact_bytes

    def as_dict(self):
        return {
            "dry_run": self.dry_run,
            "cutoff": self.cutoff.isoformat(),
            "repositories": [r.as_dict() for r in self.repositories if r.manifests or r.blobs
                             or r.versions_deleted or r.pending_dropped],
            "removed_manifests": self.removed_manifests,
            "removed_blobs": self.removed_blobs,
            "deleted_versions": self.versions_deleted,
            "dropped_pending_blobs": self.pending_dropped,
            "deleted_upload_sessions": self.upload_sessions,
            "deleted_stray_upload_files": self.stray_upload_files,
            "deleted_stray_artifact_files": self.stray_artifact_files,
            "deleted_content": self.orphan_content,
            "deleted_artifacts": self.orphan_artifacts,
            "freed_bytes": self.freed_bytes,
            "orphan_cleanup_task": self.orphan_task,
        }


class Rollback(Exception):
    """Raised at the end of a dry run to undo its database changes."""


def _noop(message):
    pass


def plan_repository(repository, version, cutoff):
    """Decide what garbage collection removes from a repository version.

    Kept: tagged manifests and manifests added after ``cutoff``; the children of kept lists and
    indexes; referrers of kept manifests (manifests whose ``subject`` is kept) and the subjects
    of kept referrers. Removed: every other manifest, and the blobs that no kept manifest uses
    and that were added before ``cutoff``.

    Args:
        repository: the repository.
        version: its latest version (or the new version being built on it).
        cutoff: datetime; content added to the repository before it is old.

    Returns:
        tuple[set, set]: primary keys of the manifests and blobs to remove.
    """
    young = set(
        RepositoryContent.objects.filter(
            repository_id=repository.pk, version_removed__isnull=True, pulp_created__gte=cutoff
        ).values_list("content_id", flat=True)
    )
    manifests = dict(in_version(Manifest.objects.all(), version).values_list("pk", "digest"))
    subjects = dict(
        in_version(Manifest.objects.filter(subject__isnull=False), version).values_list(
            "pk", "subject"
        )
    )
    by_digest = {digest: pk for pk, digest in manifests.items()}
    tagged = set(
        in_version(Tag.objects.all(), version).values_list("tagged_manifest_id", flat=True)
    )
    keep = set()
    frontier = (tagged | young) & manifests.keys()
    while frontier:
        keep |= frontier
        children = set(
            ManifestListEntry.objects.filter(manifest_list_id__in=frontier).values_list(
                "manifest_id", flat=True
            )
        )
        digests = [manifests[pk] for pk in frontier]
        referrers = set(
            in_version(Manifest.objects.filter(subject__in=digests), version).values_list(
                "pk", flat=True
            )
        )
        referred = {by_digest[subjects[pk]] for pk in frontier
                    if pk in subjects and subjects[pk] in by_digest}
        frontier = ((children | referrers | referred) & manifests.keys()) - keep
    remove_manifests = set(manifests) - keep
    used = blobs_of(keep)
    all_blobs = set(in_version(Blob.objects.all(), version).values_list("pk", flat=True))
    remove_blobs = all_blobs - used - young
    return remove_manifests, remove_blobs


def _lock(repository):
    # The same row lock as push.locked_new_version, so version deletion waits for pushes.
    Repository.objects.select_for_update().filter(pk=repository.pk).values_list("pk").get()


def delete_old_versions(repository, keep):
    """Delete all but the latest ``keep`` complete versions of a repository.

    Versions that a distribution serves are kept. Content of a deleted version that later
    versions do not hold becomes orphaned.

    Returns:
        int: how many versions were deleted.
    """
    with transaction.atomic():
        _lock(repository)
        complete = repository.versions.complete()
        latest = list(complete.order_by("-number").values_list("pk", flat=True)[:keep])
        old = (
            complete.exclude(pk__in=repository.protected_versions())
            .exclude(pk__in=latest)
            .order_by("number")
        )
        deleted = 0
        for version in list(old):
            version.delete()
            deleted += 1
    return deleted


def _repositories(names, include_regular):
    types = [RegistryPushRepository] + ([RegistryRepository] if include_regular else [])
    found = []
    for model in types:
        queryset = model.objects.all().order_by("name")
        if names:
            served = RegistryDistribution.objects.filter(base_path__in=names).values(
                "repository_id"
            )
            queryset = queryset.filter(Q(name__in=names) | Q(pk__in=served))
        found.extend(queryset)
    return found


def collect_repositories(cutoff, *, names=None, include_regular=False, keep_versions=1,
                         progress=_noop, dry_run=False):
    """Remove unkept manifests and unused blobs from repositories; trim push repository history.

    Args:
        cutoff: datetime; content added before it is old.
        names: only repositories with these names (or served at these base paths).
        include_regular: also remove untagged manifests from regular repositories (their
            versions are never deleted here; use ``retain_repo_versions``).
        keep_versions: how many latest versions of each push repository to keep; None keeps
            all.
        progress: called with a line of text as each repository is done.
        dry_run: only changes the wording of the progress lines ("would remove").

    Returns:
        tuple[list[RepositoryResult], set]: per-repository results and the primary keys of all
        removed content.
    """
    repositories = _repositories(names, include_regular)
    results, removed = [], set()
    for position, repository in enumerate(repositories, 1):
        is_push = isinstance(repository, RegistryPushRepository)
        result = RepositoryResult(repository.name, "push" if is_push else "regular")
        with locked_new_version(repository) as version:
            manifests, blobs = plan_repository(repository, version, cutoff)
            if manifests or blobs:
                result.manifests = sorted(
                    Manifest.objects.filter(pk__in=manifests).values_list("digest", flat=True)
                )
                result.blobs = len(blobs)
                version.remove_content(Content.objects.filter(pk__in=manifests | blobs))
                removed |= manifests | blobs
        if version.complete:
            result.new_version = version.number
        if is_push:
            stale = repository.pending_blobs.filter(timestamp_of_interest__lt=cutoff)
            stale_ids = set(stale.values_list("pk", flat=True))
            if stale_ids:
                repository.pending_blobs.remove(*stale_ids)
                removed |= stale_ids
            result.pending_dropped = len(stale_ids)
            if keep_versions:
                result.versions_deleted = delete_old_versions(repository, keep_versions)
        results.append(result)
        would = "would have " if dry_run else ""
        done = []
        if result.manifests or result.blobs:
            done.append(f"{would}removed {len(result.manifests)} manifest(s) and "
                        f"{result.blobs} blob(s)")
        if result.versions_deleted:
            done.append(f"{would}deleted {result.versions_deleted} old version(s)")
        if result.pending_dropped:
            done.append(f"{would}dropped {result.pending_dropped} pending blob(s)")
        line = f"[{position}/{len(repositories)}] {repository.name}: "
        line += "; ".join(done) if done else "nothing to remove"
        progress(line)
    return results, removed


def _modified(path):
    """The file's modification time as an aware datetime, or None when it does not exist."""
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, tz=dt_timezone.utc)
    except FileNotFoundError:
        return None


def clean_uploads(cutoff, names=None, dry_run=False, stray_cutoff=None):
    """Delete upload sessions without activity since ``cutoff``, and their files.

    A session's last activity is the later of its last database update and the last write to
    its file (chunks update only the file and the size, not ``pulp_last_updated``), so an
    upload that is still receiving data is never taken.

    Also removes files in the upload directory that belong to no session (an interrupted
    monolithic upload, or a session deleted while its chunk was written) and were last
    written before ``stray_cutoff``.

    Args:
        cutoff: datetime; sessions idle since before it are deleted.
        names: only sessions of the repositories with these names (strays are then kept).
        dry_run: count, delete nothing.
        stray_cutoff: datetime for files without a session; default the earlier of
            ``cutoff`` and :data:`STRAY_UPLOAD_MIN_AGE` ago, because a monolithic upload in
            progress has no session.

    Returns:
        tuple[int, int, int]: sessions deleted, bytes freed, stray files deleted.
    """
    sessions = UploadSession.objects.filter(pulp_last_updated__lt=cutoff)
    if names:
        sessions = sessions.filter(repository__name__in=names)
    count = freed = 0
    for session in sessions:
        path = blob_storage.upload_path(session.pk)
        modified = _modified(path)
        if modified is not None and modified >= cutoff:
            continue  # still receiving chunks
        freed += path.stat().st_size if modified is not None else 0
        count += 1
        if not dry_run:
            blob_storage.discard(session.pk)
            session.delete()
    strays = 0
    if not names:
        if stray_cutoff is None:
            stray_cutoff = min(cutoff, timezone.now() - STRAY_UPLOAD_MIN_AGE)
        known = {str(pk) for pk in UploadSession.objects.values_list("pk", flat=True)}
        for path in blob_storage.upload_dir().iterdir():
            if path.name in known or not path.is_file():
                continue
            stat = path.stat()
            if stat.st_mtime < stray_cutoff.timestamp():
                strays += 1
                freed += stat.st_size
                if not dry_run:
                    path.unlink(missing_ok=True)
    return count, freed, strays


def _artifact_storage_root():
    """The directory of artifact files, or None when artifacts are not on a local file system."""
    storage = settings.STORAGES.get("default", {})
    if not storage.get("BACKEND", "").endswith("FileSystem"):
        return None
    location = storage.get("OPTIONS", {}).get("location") or settings.MEDIA_ROOT
    return Path(location)


def clean_stray_artifact_files(dry_run=False, min_age=STRAY_ARTIFACT_MIN_AGE):
    """Delete files in artifact storage that no artifact names and that are older than
    ``min_age`` (see :data:`STRAY_ARTIFACT_MIN_AGE`).

    The age is the file's inode change time: moving a finished upload into storage changes it,
    while the modification time is that of the upload's last written chunk.

    Returns:
        tuple[int, int]: files deleted (or that would be), and their bytes.
    """
    root = _artifact_storage_root()
    if root is None or not (root / "artifact").is_dir():
        return 0, 0
    cutoff = time.time() - min_age.total_seconds()
    candidates = {}
    for path in (root / "artifact").glob("*/*"):
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if path.is_file() and stat.st_ctime < cutoff:
            candidates[path.relative_to(root).as_posix()] = (path, stat.st_size)
    names = list(candidates)
    known = set()
    for start in range(0, len(names), ORPHAN_BATCH):
        batch = names[start:start + ORPHAN_BATCH]
        known.update(Artifact.objects.filter(file__in=batch).values_list("file", flat=True))
    deleted = freed = 0
    for name, (path, size) in candidates.items():
        if name in known:
            continue
        deleted += 1
        freed += size
        if not dry_run:
            path.unlink(missing_ok=True)
    return deleted, freed


UPLOAD_EXPIRY_TASK = "pulp_registry.app.tasks.gc.expire_uploads"
UPLOAD_EXPIRY_SCHEDULE = "Remove abandoned registry uploads periodically"
# The periodic task runs this often at most (pulpcore's worker looks at its schedules about
# every 10 s), and at least four times per expiry period.
_EXPIRY_CHECK_MAX_INTERVAL = timedelta(hours=1)


def expire_uploads(max_age=None, dry_run=False):
    """The pulpcore task that removes abandoned uploads: upload sessions and upload files
    without activity for ``REGISTRY_UPLOAD_EXPIRY`` seconds.

    Args:
        max_age: seconds; default the ``REGISTRY_UPLOAD_EXPIRY`` setting.
        dry_run: count, delete nothing.

    Returns:
        dict: ``deleted_upload_sessions``, ``deleted_stray_upload_files``, ``freed_bytes``.
    """
    if max_age is None:
        max_age = settings.REGISTRY_UPLOAD_EXPIRY
    cutoff = timezone.now() - timedelta(seconds=float(max_age))
    sessions, freed, strays = clean_uploads(cutoff, stray_cutoff=cutoff, dry_run=dry_run)
    if (sessions or strays) and not dry_run:
        log.info("removed %d abandoned upload session(s) and %d upload file(s) without a "
                 "session (%d bytes)", sessions, strays, freed)
    return {"deleted_upload_sessions": sessions, "deleted_stray_upload_files": strays,
            "freed_bytes": freed}


def upload_expiry_interval(expiry_seconds):
    """How often the periodic removal of abandoned uploads runs for an expiry period.

    Returns:
        timedelta | None: the interval, or None when the removal is off (``0``).
    """
    if not expiry_seconds or expiry_seconds <= 0:
        return None
    return min(timedelta(seconds=float(expiry_seconds)) / 4, _EXPIRY_CHECK_MAX_INTERVAL)


def configure_upload_expiry(using=DEFAULT_DB_ALIAS, **kwargs):
    """Create, update or delete the task schedule of :func:`expire_uploads` to match the
    ``REGISTRY_UPLOAD_EXPIRY`` setting.

    Connected to Django's ``post_migrate`` signal, so every start of the registry (which
    migrates) applies the current setting; pulpcore's worker dispatches scheduled tasks.

    Args:
        using: the database alias being migrated.
        **kwargs: the rest of the signal's arguments.
    """
    interval = upload_expiry_interval(settings.REGISTRY_UPLOAD_EXPIRY)
    schedules = TaskSchedule.objects.using(using)
    if interval is None:
        schedules.filter(task_name=UPLOAD_EXPIRY_TASK).delete()
        return
    schedules.update_or_create(
        name=UPLOAD_EXPIRY_SCHEDULE,
        defaults={"task_name": UPLOAD_EXPIRY_TASK, "dispatch_interval": interval},
    )


def orphan_candidates(cutoff, removed=()):
    """Registry content that no repository version holds, ready to be deleted.

    Orphans are taken when they became interesting (created or touched) before ``cutoff``, or
    when this run removed them. Blobs pending in a push repository are never orphans, nor is
    a manifest that a tag in some repository version still points at.

    Returns:
        dict: primary keys by kind: ``tags``, ``manifests``, ``blobs``.
    """
    types = [model.get_pulp_type() for model in (Blob, Manifest, Tag)]
    orphans = Content.objects.filter(
        pulp_type__in=types, version_memberships__isnull=True
    ).filter(Q(timestamp_of_interest__lt=cutoff) | Q(pk__in=list(removed)))
    orphans = orphans.exclude(pk__in=RegistryPushRepository.pending_blobs.through.objects.values(
        "blob_id"))
    ids = set(orphans.values_list("pk", flat=True))
    tags = set(Tag.objects.filter(pk__in=ids).values_list("pk", flat=True))
    manifests = set(
        Manifest.objects.filter(pk__in=ids)
        .exclude(tags__version_memberships__isnull=False)
        .values_list("pk", flat=True)
    )
    blobs = set(Blob.objects.filter(pk__in=ids).values_list("pk", flat=True))
    return {"tags": tags, "manifests": manifests, "blobs": blobs}


def artifact_sizes(blob_ids):
    """Sizes of the artifacts that only the given blobs use, by artifact primary key."""
    artifacts = ContentArtifact.objects.filter(
        content_id__in=list(blob_ids), artifact__isnull=False
    ).values_list("artifact_id", flat=True)
    shared = ContentArtifact.objects.filter(artifact_id__in=artifacts).exclude(
        content_id__in=list(blob_ids)
    ).values_list("artifact_id", flat=True)
    return dict(
        Artifact.objects.filter(pk__in=artifacts).exclude(pk__in=shared).values_list("pk", "size")
    )


def _batches(ids, size=ORPHAN_BATCH):
    ids = [str(pk) for pk in ids]
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def delete_orphans(tags, manifests, blobs):
    """The pulpcore task that deletes orphaned registry content and its files.

    pulpcore's orphan cleanup deletes in batches, and a protected foreign key (a list's entry
    on its child, a manifest's link to its blobs) makes it skip a unit whose referrer is deleted
    later in the same call. So it is called in an order that foreign keys allow: tags; then
    manifests that no remaining manifest lists, level by level; then blobs.

    Args:
        tags: primary keys of orphaned tags.
        manifests: primary keys of orphaned manifests.
        blobs: primary keys of orphaned blobs.
    """
    for batch in _batches(tags):
        orphan_cleanup(content_pks=batch, orphan_protection_time=0)
    remaining = set(manifests)
    while remaining:
        listed = set(
            ManifestListEntry.objects.filter(manifest_id__in=remaining).values_list(
                "manifest_id", flat=True
            )
        )
        level = remaining - listed
        if not level:
            break
        for batch in _batches(level):
            orphan_cleanup(content_pks=batch, orphan_protection_time=0)
        still = set(Manifest.objects.filter(pk__in=remaining).values_list("pk", flat=True))
        if still == remaining:
            break
        remaining = still
    for batch in _batches(blobs):
        orphan_cleanup(content_pks=batch, orphan_protection_time=0)


def run_task(func, kwargs, exclusive_resources, timeout, progress=_noop, poll=0.5):
    """Dispatch a pulpcore task and wait for a worker to finish it, reporting its progress.

    Returns:
        Task: the finished task.

    Raises:
        TimeoutError: the task did not finish within ``timeout`` seconds (it stays queued).
        RuntimeError: the task failed or was canceled.
    """
    if not get_guid():
        # Tasks record the correlation id of the request that made them; a command has none.
        set_guid(uuid.uuid4().hex)
    task = dispatch(func, kwargs=kwargs, exclusive_resources=exclusive_resources)
    progress(f"waiting for pulpcore task {task.pk} ({func.__name__}) to be run by a worker")
    deadline = time.monotonic() + timeout
    shown = {}
    while True:
        task.refresh_from_db()
        for report in task.progress_reports.order_by("pulp_created"):
            state = (report.done, report.total)
            if shown.get(report.pk) != state:
                shown[report.pk] = state
                total = f"/{report.total}" if report.total is not None else ""
                progress(f"  {report.message}: {report.done}{total}")
        if task.state in TASK_FINAL_STATES:
            break
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"pulpcore task {task.pk} did not finish within {timeout} s (state "
                f"{task.state!r}); is a pulpcore worker running?"
            )
        time.sleep(poll)
    if task.state != TASK_STATES.COMPLETED:
        description = (task.error or {}).get("description") or task.state
        raise RuntimeError(f"pulpcore task {task.pk} {task.state}: {description}")
    return task


def garbage_collect(older_than, *, names=None, include_regular=False, keep_versions=1,
                    dry_run=False, timeout=3600, progress=_noop):
    """Run a garbage collection (see the module docstring).

    Args:
        older_than: timedelta; content added to a repository (or touched) more recently is kept.
        names: only the repositories with these names (or served at these base paths).
        include_regular: also remove untagged manifests from regular repositories.
        keep_versions: latest versions of each push repository to keep (None: all).
        dry_run: report what would be done and change nothing.
        timeout: seconds to wait for the orphan cleanup task.
        progress: called with a line of text as work advances.

    Returns:
        Report: what was (or would be) removed and freed.
    """
    cutoff = timezone.now() - older_than
    report = Report(dry_run=dry_run, cutoff=cutoff)
    # A dry run makes its changes in one transaction and rolls it back, so that what it reports
    # is exactly what a real run would do. A real run commits repository by repository, so that
    # pushes wait for one repository's lock at a time.
    try:
        with transaction.atomic() if dry_run else nullcontext():
            results, removed = collect_repositories(
                cutoff,
                names=names,
                include_regular=include_regular,
                keep_versions=keep_versions,
                progress=progress,
                dry_run=dry_run,
            )
            report.repositories = results
            candidates = orphan_candidates(cutoff, removed)
            sizes = artifact_sizes(candidates["blobs"])
            if dry_run:
                report.orphan_content = {kind: len(ids) for kind, ids in candidates.items()}
                report.orphan_artifacts = len(sizes)
                report.orphan_bytes = sum(sizes.values())
                raise Rollback()
    except Rollback:
        pass
    sessions, upload_bytes, strays = clean_uploads(cutoff, names, dry_run=dry_run)
    report.upload_sessions, report.upload_bytes, report.stray_upload_files = (
        sessions, upload_bytes, strays)
    if sessions or strays:
        verb = "would delete" if dry_run else "deleted"
        progress(f"{verb} {sessions} upload session(s) and {strays} stray upload file(s) "
                 f"({upload_bytes} bytes)")
    if not names:
        report.stray_artifact_files, report.stray_artifact_bytes = clean_stray_artifact_files(
            dry_run=dry_run)
        if report.stray_artifact_files:
            verb = "would delete" if dry_run else "deleted"
            progress(f"{verb} {report.stray_artifact_files} file(s) in artifact storage that no "
                     f"artifact names ({report.stray_artifact_bytes} bytes)")
    if dry_run:
        return report
    total = sum(len(ids) for ids in candidates.values())
    if not total:
        progress("no orphaned content to delete")
        return report
    progress(
        f"deleting {len(candidates['tags'])} tag(s), {len(candidates['manifests'])} manifest(s) "
        f"and {len(candidates['blobs'])} blob(s) that no repository version holds"
    )
    task = run_task(
        delete_orphans,
        {kind: [str(pk) for pk in ids] for kind, ids in candidates.items()},
        exclusive_resources=[f"pdrn:{get_domain().pulp_id}:orphans"],
        timeout=timeout,
        progress=progress,
    )
    report.orphan_task = str(task.pk)
    report.orphan_content = {
        "tags": len(candidates["tags"]) - Tag.objects.filter(pk__in=candidates["tags"]).count(),
        "manifests": len(candidates["manifests"])
        - Manifest.objects.filter(pk__in=candidates["manifests"]).count(),
        "blobs": len(candidates["blobs"]) - Blob.objects.filter(pk__in=candidates["blobs"]).count(),
    }
    left = set(Artifact.objects.filter(pk__in=list(sizes)).values_list("pk", flat=True))
    report.orphan_artifacts = len(set(sizes) - left)
    report.orphan_bytes = sum(size for pk, size in sizes.items() if pk not in left)
    return report
