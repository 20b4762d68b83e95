"""What a manifest drags along: the blobs and child manifests it needs, and checks that a
repository version holds everything its tags and manifests refer to.

Shared by the REST operation tasks (copying, adding and removing content) and by the garbage
collector (which keeps what tagged manifests need).
"""

from pulp_registry.app.models import Blob, Manifest, ManifestBlob, ManifestListEntry, Tag


def in_version(queryset, version):
    """Restrict a content queryset to the units of a repository version."""
    return queryset.filter(pk__in=version.content_ids_subquery())


def manifest_closure(manifest_ids):
    """The manifests reachable from some manifests through list/index entries, with their blobs.

    Args:
        manifest_ids: primary keys of the starting manifests.

    Returns:
        tuple[set, set]: primary keys of the manifests (the starting ones and all their
        descendants) and of the blobs (configs and layers) that they use.
    """
    manifests = set(manifest_ids)
    frontier = set(manifests)
    while frontier:
        children = set(
            ManifestListEntry.objects.filter(manifest_list_id__in=frontier).values_list(
                "manifest_id", flat=True
            )
        )
        frontier = children - manifests
        manifests |= frontier
    return manifests, blobs_of(manifests)


def blobs_of(manifest_ids):
    """Primary keys of the config and layer blobs used by some manifests."""
    manifest_ids = list(manifest_ids)
    if not manifest_ids:
        return set()
    blobs = set(
        ManifestBlob.objects.filter(manifest_id__in=manifest_ids).values_list("blob_id", flat=True)
    )
    blobs |= set(
        Manifest.objects.filter(pk__in=manifest_ids, config_blob__isnull=False).values_list(
            "config_blob_id", flat=True
        )
    )
    return blobs


def tag_closure(tag_ids):
    """The content a set of tags needs: the tags, their manifests' closure and blobs.

    Returns:
        set: primary keys of tags, manifests and blobs.
    """
    tagged = set(Tag.objects.filter(pk__in=tag_ids).values_list("tagged_manifest_id", flat=True))
    manifests, blobs = manifest_closure(tagged)
    return set(tag_ids) | manifests | blobs


def missing_references(version, limit=10):
    """Find units of a repository version that refer to content the version does not hold.

    A tag needs its manifest; an image manifest needs its config and layer blobs; a list or
    index needs its child manifests. Subjects of referrers are not required (the OCI spec lets
    a referrer be pushed before its subject).

    Args:
        version: the repository version (complete or being built).
        limit: how many problems of each kind to report at most.

    Returns:
        list[str]: human-readable problems; empty when the version is consistent.
    """
    content = version.content_ids_subquery()
    problems = []
    tags = (
        Tag.objects.filter(pk__in=content)
        .exclude(tagged_manifest_id__in=content)
        .select_related("tagged_manifest")[:limit]
    )
    for tag in tags:
        problems.append(
            f"tag {tag.name!r} points at manifest {tag.tagged_manifest.digest}, "
            "which is not in the repository"
        )
    layers = (
        ManifestBlob.objects.filter(manifest_id__in=content)
        .exclude(blob_id__in=content)
        .select_related("manifest", "blob")[:limit]
    )
    for link in layers:
        problems.append(
            f"manifest {link.manifest.digest} uses blob {link.blob.digest}, "
            "which is not in the repository"
        )
    configs = (
        Manifest.objects.filter(pk__in=content, config_blob__isnull=False)
        .exclude(config_blob_id__in=content)
        .select_related("config_blob")[:limit]
    )
    for manifest in configs:
        problems.append(
            f"manifest {manifest.digest} uses config blob {manifest.config_blob.digest}, "
            "which is not in the repository"
        )
    entries = (
        ManifestListEntry.objects.filter(manifest_list_id__in=content)
        .exclude(manifest_id__in=content)
        .select_related("manifest_list", "manifest")[:limit]
    )
    for entry in entries:
        problems.append(
            f"manifest list {entry.manifest_list.digest} lists manifest "
            f"{entry.manifest.digest}, which is not in the repository"
        )
    return problems


def removal_set(version, manifest):
    """What removing an image from a repository version takes away.

    The manifest goes with every tag pointing at it. For a list or index, each child goes too
    unless something that stays still needs it: a tag, or another list that stays. Blobs go
    when no manifest that stays uses them.

    Args:
        version: the repository version the image is removed from.
        manifest: the manifest to remove (it must be in ``version``).

    Returns:
        tuple[set, set, set]: primary keys of the manifests, tags and blobs to remove.
    """
    content = version.content_ids_subquery()
    removed = {manifest.pk}
    frontier = {manifest.pk}
    while frontier:
        candidates = set(
            ManifestListEntry.objects.filter(
                manifest_list_id__in=frontier, manifest_id__in=content
            ).values_list("manifest_id", flat=True)
        ) - removed
        frontier = set()
        for child in candidates:
            tagged = Tag.objects.filter(pk__in=content, tagged_manifest_id=child).exists()
            other_parents = (
                ManifestListEntry.objects.filter(manifest_id=child, manifest_list_id__in=content)
                .exclude(manifest_list_id__in=removed)
                .exists()
            )
            if not tagged and not other_parents:
                frontier.add(child)
        removed |= frontier
    tags = set(
        Tag.objects.filter(pk__in=content, tagged_manifest_id__in=removed).values_list(
            "pk", flat=True
        )
    )
    staying = Manifest.objects.filter(pk__in=content).exclude(pk__in=removed)
    blobs = set(
        Blob.objects.filter(pk__in=content)
        .filter(pk__in=list(blobs_of(removed)))
        .exclude(manifest_links__manifest__in=staying)
        .exclude(config_for__in=staying)
        .values_list("pk", flat=True)
    )
    return removed, tags, blobs


def parents_in(version, manifest_ids, excluding=()):
    """Lists and indexes in a version that list any of ``manifest_ids`` (except ``excluding``)."""
    return (
        Manifest.objects.filter(pk__in=version.content_ids_subquery())
        .filter(child_links__manifest_id__in=list(manifest_ids))
        .exclude(pk__in=list(excluding))
        .distinct()
    )


__all__ = [
    "blobs_of",
    "in_version",
    "manifest_closure",
    "missing_references",
    "parents_in",
    "removal_set",
    "tag_closure",
]
