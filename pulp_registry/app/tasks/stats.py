"""Usage statistics of the registry, used by ``pulpcore-manager registry-stats``.

Counts are of what is served: each distribution's served version (the repository's latest
version, or the version it is pinned to). Content shared by several repositories counts once
per namespace and once overall; bytes are the sizes of the distinct blob files. Stored totals
(everything in the database and in artifact storage, served or not) are given too, so the
difference shows what garbage collection could free.
"""

from collections import defaultdict

from django.db.models import Sum

from pulpcore.plugin.models import Artifact, ContentArtifact, RepositoryVersion

from pulp_registry.app.models import (
    Blob,
    Manifest,
    Namespace,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
)

NO_NAMESPACE = "(none)"


def _served_versions():
    """(namespace name, base path, served version or None) of every distribution."""
    distributions = RegistryDistribution.objects.select_related("namespace", "repository_version")
    for distribution in distributions.order_by("base_path"):
        namespace = distribution.namespace.name if distribution.namespace_id else NO_NAMESPACE
        if distribution.repository_version_id:
            version = distribution.repository_version
        elif distribution.repository_id:
            version = (
                RepositoryVersion.objects.filter(
                    repository_id=distribution.repository_id, complete=True
                )
                .order_by("-number")
                .first()
            )
        else:
            version = None
        yield namespace, distribution.base_path, version


def _blob_bytes(blob_ids):
    """Total size of the distinct files of some blobs."""
    artifacts = (
        ContentArtifact.objects.filter(content_id__in=list(blob_ids), artifact__isnull=False)
        .values_list("artifact_id", "artifact__size")
        .distinct()
    )
    return sum(size for _, size in artifacts)


def _counts(content_ids, tag_count):
    manifests = Manifest.objects.filter(pk__in=list(content_ids))
    blobs = set(Blob.objects.filter(pk__in=list(content_ids)).values_list("pk", flat=True))
    return {
        "tags": tag_count,
        "manifests": manifests.count(),
        "blobs": len(blobs),
        "blob_bytes": _blob_bytes(blobs),
    }


def collect_stats():
    """Compute the statistics.

    Returns:
        dict: ``overall`` (served content and stored totals) and ``namespaces`` (by name:
        repositories, tags, manifests, blobs, blob_bytes).
    """
    per_namespace = defaultdict(set)
    tags_per_namespace = defaultdict(int)
    repositories_per_namespace = defaultdict(int)
    everything = set()
    served_tags = 0
    for namespace, _, version in _served_versions():
        repositories_per_namespace[namespace] += 1
        if version is None:
            continue
        ids = set(version.content_ids_subquery())
        per_namespace[namespace] |= ids
        everything |= ids
        tag_count = Tag.objects.filter(pk__in=version.content_ids_subquery()).count()
        tags_per_namespace[namespace] += tag_count
        served_tags += tag_count
    for namespace in Namespace.objects.values_list("name", flat=True):
        repositories_per_namespace.setdefault(namespace, 0)
    namespaces = {}
    for namespace in sorted(repositories_per_namespace):
        namespaces[namespace] = {
            "repositories": repositories_per_namespace[namespace],
            **_counts(per_namespace[namespace], tags_per_namespace[namespace]),
        }
    blob_files = ContentArtifact.objects.filter(
        content__pulp_type=Blob.get_pulp_type(), artifact__isnull=False
    ).values("artifact_id")
    stored_bytes = Artifact.objects.filter(pk__in=blob_files).aggregate(total=Sum("size"))["total"]
    overall = {
        "namespaces": Namespace.objects.count(),
        "distributions": RegistryDistribution.objects.count(),
        "push_repositories": RegistryPushRepository.objects.count(),
        "regular_repositories": RegistryRepository.objects.count(),
        "served": _counts(everything, served_tags),
        "stored": {
            "tags": Tag.objects.count(),
            "manifests": Manifest.objects.count(),
            "blobs": Blob.objects.count(),
            "blob_bytes": stored_bytes or 0,
        },
    }
    return {"overall": overall, "namespaces": namespaces}
