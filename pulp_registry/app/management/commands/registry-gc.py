"""``pulpcore-manager registry-gc``: remove untagged manifests and reclaim disk space."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from pulp_registry.app.management.base import RegistryCommand, fail, human_bytes
from pulp_registry.app.tasks import gc


class Command(RegistryCommand):
    help = (
        "Garbage-collect the registry: remove untagged manifests older than --older-than (with "
        "the blobs no kept manifest uses) from push repositories in a new version each, delete "
        "old versions of push repositories, drop stale pending blobs and upload sessions, then "
        "delete the content that no repository version holds any more and its files (pulpcore's "
        "orphan cleanup, run by a pulpcore worker). Kept: tagged manifests, manifests added "
        "after the cutoff, children of kept lists and indexes, referrers of kept manifests and "
        "subjects of kept referrers."
    )
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than",
            default=None,
            metavar="AGE",
            help="Only remove content added to its repository (or orphaned content touched) "
            "longer ago than AGE: a number and a unit w, d, h, m or s, e.g. 7d, 12h, 1d12h, "
            "0s (default: 7d; with --uploads-only, the REGISTRY_UPLOAD_EXPIRY setting).",
        )
        parser.add_argument(
            "--uploads-only",
            action="store_true",
            help="Only remove abandoned uploads: upload sessions and upload files (including "
            "those of interrupted monolithic uploads) without activity for --older-than. "
            "The worker does this periodically on its own (REGISTRY_UPLOAD_EXPIRY).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Report what would be removed and freed; change nothing.",
        )
        parser.add_argument(
            "--keep-versions",
            type=int,
            default=1,
            metavar="N",
            help="Keep the latest N versions of each push repository, deleting older ones "
            "(versions that a distribution serves are always kept). Content of deleted "
            "versions that later versions lack becomes garbage. Default: 1.",
        )
        parser.add_argument(
            "--keep-all-versions",
            action="store_true",
            help="Delete no repository versions (content of old versions is then not freed).",
        )
        parser.add_argument(
            "--include-regular",
            action="store_true",
            help="Also remove untagged manifests from regular repositories (their versions are "
            "never deleted here; use the repository's retain_repo_versions).",
        )
        parser.add_argument(
            "--name",
            action="append",
            dest="names",
            metavar="NAME",
            help="Only collect the repository with this name or served at this base path "
            "(repeatable). Orphaned content is cleaned up registry-wide in any case.",
        )
        parser.add_argument(
            "--timeout",
            type=float,
            default=3600,
            metavar="SECONDS",
            help="How long to wait for the orphan cleanup task (default: 3600).",
        )

    def run(self, older_than, dry_run, keep_versions, keep_all_versions, include_regular,
            names, timeout, uploads_only, **options):
        if uploads_only:
            self._expire_uploads(older_than, dry_run)
            return
        older_than = older_than or "7d"
        try:
            age = gc.parse_age(older_than)
        except ValueError as error:
            fail(str(error))
        if keep_versions < 1:
            fail("--keep-versions must be at least 1 (use --keep-all-versions to keep all)")
        cutoff = timezone.now() - age
        self.progress(
            f"registry-gc{' (dry run)' if dry_run else ''}: content added before "
            f"{cutoff:%Y-%m-%d %H:%M:%S %Z} ({older_than} ago) may be removed"
        )
        try:
            report = gc.garbage_collect(
                age,
                names=names,
                include_regular=include_regular,
                keep_versions=None if keep_all_versions else keep_versions,
                dry_run=dry_run,
                timeout=timeout,
                progress=self.progress,
            )
        except TimeoutError as error:
            fail(f"orphan cleanup did not finish: {error}")
        except RuntimeError as error:
            fail(f"orphan cleanup failed: {error}")
        if self._json:
            self.emit_json(report.as_dict())
            return
        would = "would be " if dry_run else ""
        deleted = report.orphan_content
        self.stdout.write(
            f"Summary{' (dry run, nothing changed)' if dry_run else ''}:\n"
            f"  manifests removed from repositories: {report.removed_manifests}\n"
            f"  blobs removed from repositories: {report.removed_blobs}\n"
            f"  repository versions deleted: {report.versions_deleted}\n"
            f"  pending blobs dropped: {report.pending_dropped}\n"
            f"  upload sessions deleted: {report.upload_sessions}\n"
            f"  orphaned content {would}deleted: {deleted.get('manifests', 0)} manifest(s), "
            f"{deleted.get('tags', 0)} tag(s), {deleted.get('blobs', 0)} blob(s)\n"
            f"  files {would}deleted: {report.orphan_artifacts}\n"
            f"  stray files in artifact storage {would}deleted: {report.stray_artifact_files}\n"
            f"  disk space {would}freed: {report.freed_bytes} bytes "
            f"({human_bytes(report.freed_bytes)})"
        )

    def _expire_uploads(self, older_than, dry_run):
        if older_than is None:
            age = timedelta(seconds=settings.REGISTRY_UPLOAD_EXPIRY)
        else:
            try:
                age = gc.parse_age(older_than)
            except ValueError as error:
                fail(str(error))
        self.progress(
            f"registry-gc --uploads-only{' (dry run)' if dry_run else ''}: uploads without "
            f"activity for {int(age.total_seconds())} s are abandoned"
        )
        result = gc.expire_uploads(age.total_seconds(), dry_run=dry_run)
        if self._json:
            self.emit_json(dict(result, dry_run=dry_run))
            return
        would = "would be " if dry_run else ""
        self.stdout.write(
            f"Summary{' (dry run, nothing changed)' if dry_run else ''}:\n"
            f"  upload sessions {would}deleted: {result['deleted_upload_sessions']}\n"
            f"  upload files without a session {would}deleted: "
            f"{result['deleted_stray_upload_files']}\n"
            f"  disk space {would}freed: {result['freed_bytes']} bytes "
            f"({human_bytes(result['freed_bytes'])})"
        )
