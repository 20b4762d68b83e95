"""Checking that stored data is intact, used by ``pulpcore-manager registry-verify``.

Every blob's file is read again and hashed with the blob's digest algorithm (and sha256, which
pulpcore recorded for the artifact); a file whose bytes do not match, whose size differs from
the recorded size, or that is missing is reported. Manifests are kept in the database and are
checked against their digest too.

Quarantine (optional) makes a bad blob safe without losing anything: the file is moved into a
quarantine directory, and the blob's link to it (its content artifact) and the artifact record
are deleted. The blob stays in every repository that holds it, so manifests stay intact; pulls
of it fail with ``BLOB_UNKNOWN`` instead of serving corrupt bytes, and the next push of the
image uploads the blob again (clients ask whether the registry has it first), which repairs it.
"""

import hashlib
import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from pulpcore.plugin.models import ContentArtifact

from pulp_registry.app.models import Blob, Manifest

READ_SIZE = 1024 * 1024
PROGRESS_INTERVAL = 5.0


@dataclass
class Problem:
    """A blob or manifest whose stored data is not what its digest says."""

    kind: str
    digest: str
    reason: str
    path: str = None
    quarantined_to: str = None

    def as_dict(self):
        return {
            "kind": self.kind,
            "digest": self.digest,
            "reason": self.reason,
            "path": self.path,
            "quarantined_to": self.quarantined_to,
        }


@dataclass
class VerifyReport:
    """The outcome of a verification run."""

    blobs_checked: int = 0
    bytes_checked: int = 0
    manifests_checked: int = 0
    problems: list = field(default_factory=list)

    def as_dict(self):
        return {
            "blobs_checked": self.blobs_checked,
            "bytes_checked": self.bytes_checked,
            "manifests_checked": self.manifests_checked,
            "problems": [problem.as_dict() for problem in self.problems],
        }


def _noop(message):
    pass


def default_quarantine_dir():
    """``MEDIA_ROOT/quarantine``."""
    return Path(settings.MEDIA_ROOT) / "quarantine"


def _local_path(artifact):
    """The artifact's file on the local filesystem, or None for remote storage."""
    try:
        return Path(artifact.file.path)
    except NotImplementedError:
        return None


def check_artifact(artifact, digest):
    """Re-hash an artifact's file.

    Args:
        artifact: the artifact.
        digest: the blob's ``algorithm:hex`` digest.

    Returns:
        tuple[str | None, int]: the reason the file is bad (None when it is good) and the
        number of bytes read.
    """
    algorithm, _, expected = digest.partition(":")
    hashers = {name: hashlib.new(name) for name in {algorithm, "sha256"}}
    size = 0
    try:
        with artifact.file.storage.open(artifact.file.name, "rb") as stored:
            while True:
                data = stored.read(READ_SIZE)
                if not data:
                    break
                size += len(data)
                for hasher in hashers.values():
                    hasher.update(data)
    except FileNotFoundError:
        return "file is missing", 0
    except OSError as error:
        return f"file cannot be read: {error}", size
    actual = hashers[algorithm].hexdigest()
    if actual != expected:
        return f"content does not match the digest (it hashes to {algorithm}:{actual})", size
    if hashers["sha256"].hexdigest() != artifact.sha256:
        return "content does not match the artifact's recorded sha256", size
    if size != artifact.size:
        return f"size is {size} bytes, {artifact.size} recorded", size
    return None, size


def quarantine(artifact, digest, reason, directory):
    """Move an artifact's file aside and unlink it from its blobs (see the module docstring).

    Returns:
        str | None: where the file went (None when it was missing).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = _local_path(artifact)
    if source is None:
        raise RuntimeError("quarantine needs artifacts on the local filesystem")
    target = None
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
    if source.exists():
        target = directory / f"{digest.replace(':', '-')}.{stamp}"
        shutil.move(str(source), str(target))
        note = {"digest": digest, "reason": reason, "original_path": str(source),
                "artifact_sha256": artifact.sha256, "size": artifact.size,
                "quarantined_at": timezone.now().isoformat()}
        Path(f"{target}.json").write_text(json.dumps(note, indent=2))
    try:
        with transaction.atomic():
            ContentArtifact.objects.filter(artifact=artifact).delete()
            # The file is gone already; pulpcore's on-commit file deletion finds nothing.
            artifact.delete()
    except Exception:
        if target is not None:
            shutil.move(str(target), str(source))
            Path(f"{target}.json").unlink(missing_ok=True)
        raise
    return str(target) if target else None


def verify(digests=None, *, quarantine_dir=None, progress=_noop):
    """Check stored blobs and manifests.

    Args:
        digests: only check blobs and manifests with these digests.
        quarantine_dir: when given, quarantine bad blobs into this directory.
        progress: called with a line of text now and then.

    Returns:
        VerifyReport: what was checked and what is bad.
    """
    report = VerifyReport()
    blobs = Blob.objects.all()
    manifests = Manifest.objects.all()
    if digests:
        blobs = blobs.filter(digest__in=digests)
        manifests = manifests.filter(digest__in=digests)
    blob_digests = dict(blobs.values_list("pk", "digest"))
    linked = (
        ContentArtifact.objects.filter(content_id__in=list(blob_digests), artifact__isnull=False)
        .select_related("artifact")
        .order_by("content_id")
    )
    total = len(blob_digests)
    progress(f"checking {total} blob(s)")
    seen_blobs = set()
    last_report = time.monotonic()
    for content_artifact in linked.iterator(chunk_size=500):
        artifact = content_artifact.artifact
        digest = blob_digests[content_artifact.content_id]
        seen_blobs.add(content_artifact.content_id)
        reason, size = check_artifact(artifact, digest)
        report.blobs_checked += 1
        report.bytes_checked += size
        if reason is not None:
            path = _local_path(artifact)
            problem = Problem("blob", digest, reason, str(path) if path else artifact.file.name)
            progress(f"BAD blob {digest}: {reason} ({problem.path})")
            if quarantine_dir is not None:
                problem.quarantined_to = quarantine(artifact, digest, reason, quarantine_dir)
                progress(
                    f"  quarantined to {problem.quarantined_to}" if problem.quarantined_to
                    else "  unlinked the missing file from the blob"
                )
            report.problems.append(problem)
        if time.monotonic() - last_report > PROGRESS_INTERVAL:
            last_report = time.monotonic()
            progress(f"checked {report.blobs_checked}/{total} blob(s), "
                     f"{report.bytes_checked} bytes")
    for pk in set(blob_digests) - seen_blobs:
        # A blob without a stored file (e.g. quarantined before): report it, nothing to move.
        report.blobs_checked += 1
        problem = Problem("blob", blob_digests[pk], "no stored file")
        progress(f"BAD blob {problem.digest}: {problem.reason}")
        report.problems.append(problem)
    progress(f"checking {manifests.count()} manifest(s)")
    for digest, data in manifests.values_list("digest", "data").iterator(chunk_size=500):
        report.manifests_checked += 1
        algorithm, _, expected = digest.partition(":")
        actual = hashlib.new(algorithm, bytes(data)).hexdigest()
        if actual != expected:
            problem = Problem(
                "manifest", digest,
                f"stored bytes do not match the digest (they hash to {algorithm}:{actual})",
            )
            progress(f"BAD manifest {digest}: {problem.reason}")
            report.problems.append(problem)
    return report


__all__ = ["Problem", "VerifyReport", "check_artifact", "default_quarantine_dir", "quarantine",
           "verify"]
