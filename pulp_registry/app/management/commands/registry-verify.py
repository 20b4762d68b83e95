"""``pulpcore-manager registry-verify``: re-hash stored blobs and report corrupt ones."""

from pathlib import Path

from pulp_registry.app.management.base import RegistryCommand, fail, human_bytes
from pulp_registry.app.tasks import verify


class Command(RegistryCommand):
    help = (
        "Re-hash every stored blob (or the ones given with --digest) and check manifests "
        "against their digests. Reports each blob whose file is missing, has another size, or "
        "whose bytes do not match its digest, and exits with status 1 if there is any. With "
        "--quarantine, a bad blob's file is moved into the quarantine directory and unlinked "
        "from the blob: the blob stays in its repositories, pulls of it fail with BLOB_UNKNOWN "
        "instead of serving bad bytes, and pushing the image again repairs it."
    )
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument(
            "--digest",
            action="append",
            dest="digests",
            metavar="DIGEST",
            help="Only check the blob or manifest with this digest (repeatable).",
        )
        parser.add_argument(
            "--quarantine",
            action="store_true",
            help="Move bad blob files aside and unlink them from their blobs (see above).",
        )
        parser.add_argument(
            "--quarantine-dir",
            metavar="DIR",
            help="Where quarantined files go (default: MEDIA_ROOT/quarantine).",
        )

    def run(self, digests, quarantine, quarantine_dir, **options):
        directory = None
        if quarantine:
            directory = Path(quarantine_dir) if quarantine_dir else verify.default_quarantine_dir()
        elif quarantine_dir:
            fail("--quarantine-dir needs --quarantine")
        report = verify.verify(digests, quarantine_dir=directory, progress=self.progress)
        if self._json:
            self.emit_json(report.as_dict())
        else:
            self.stdout.write(
                f"checked {report.blobs_checked} blob(s) ({human_bytes(report.bytes_checked)}) "
                f"and {report.manifests_checked} manifest(s): {len(report.problems)} bad"
            )
            for problem in report.problems:
                line = f"BAD {problem.kind} {problem.digest}: {problem.reason}"
                if problem.path:
                    line += f" [{problem.path}]"
                if problem.quarantined_to:
                    line += f" -> quarantined to {problem.quarantined_to}"
                self.stdout.write(line)
        if report.problems:
            fail(f"{len(report.problems)} bad blob(s) or manifest(s) found")
