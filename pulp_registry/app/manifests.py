"""Turning a validated manifest into stored content: checking that everything it references
is in the repository, and saving the manifest with its links to blobs and child manifests."""

from django.db import IntegrityError, transaction

from pulp_registry.app.models import Manifest, ManifestBlob, ManifestListEntry
from pulp_registry.app.v2.errors import ManifestBlobUnknown, ManifestInvalid


def resolve_references(parsed, served):
    """Find the blobs and child manifests a manifest references, in the target repository.

    Args:
        parsed: the validated manifest.
        served: the target repository's :class:`~pulp_registry.app.serving.Served`.

    Returns:
        tuple[dict, dict]: blobs (:class:`~pulp_registry.app.serving.StoredBlob`) and child
        manifests by digest.

    Raises:
        ManifestBlobUnknown: a referenced blob or child manifest is not in the repository.
        ManifestInvalid: a descriptor's size differs from the stored blob's size.
    """
    wanted = [d for d in ([parsed.config] if parsed.config else []) + parsed.layers]
    wanted = [d for d in wanted if not d.is_foreign]
    blobs = served.stored_blobs(d.digest for d in wanted) if served is not None else {}
    for descriptor in wanted:
        blob = blobs.get(descriptor.digest)
        if blob is None:
            raise ManifestBlobUnknown({"digest": descriptor.digest})
        if blob.artifact_size is not None and blob.artifact_size != descriptor.size:
            raise ManifestInvalid(
                {
                    "digest": descriptor.digest,
                    "size": descriptor.size,
                    "stored_size": blob.artifact_size,
                },
                message="a descriptor's size does not match the blob's size",
            )
    children = {}
    if parsed.children:
        digests = {d.digest for d in parsed.children}
        found = Manifest.objects.filter(digest__in=digests)
        content_ids = served.content_ids() if served is not None else None
        if content_ids is not None:
            found = found.filter(pk__in=content_ids)
        else:
            found = found.none()
        children = {m.digest: m for m in found}
        for descriptor in parsed.children:
            if descriptor.digest not in children:
                raise ManifestBlobUnknown(
                    {"digest": descriptor.digest},
                    message="manifest references a manifest unknown to the repository",
                )
    return blobs, children


def save_manifest(parsed, blobs, children):
    """Store a manifest (or return the stored one with the same digest).

    Args:
        parsed: the validated manifest.
        blobs: its blobs by digest (anything with a ``pk``), from :func:`resolve_references`.
        children: its child manifests by digest.

    Returns:
        Manifest: the stored manifest.
    """
    existing = Manifest.objects.filter(digest=parsed.digest).first()
    if existing is not None:
        return existing
    config_blob = blobs.get(parsed.config.digest) if parsed.config else None
    manifest = Manifest(
        digest=parsed.digest,
        media_type=parsed.media_type,
        schema_version=parsed.schema_version,
        data=parsed.data,
        config_blob_id=config_blob.pk if config_blob is not None else None,
        config_media_type=parsed.config.media_type if parsed.config else None,
        subject=parsed.subject.digest if parsed.subject else None,
        artifact_type=parsed.artifact_type,
        annotations=parsed.annotations,
    )
    try:
        with transaction.atomic():
            manifest.save()
            ManifestBlob.objects.bulk_create(
                ManifestBlob(manifest=manifest, blob_id=blobs[layer.digest].pk, position=position)
                for position, layer in enumerate(parsed.layers)
                if not layer.is_foreign
            )
            ManifestListEntry.objects.bulk_create(
                ManifestListEntry(
                    manifest_list=manifest,
                    manifest=children[child.digest],
                    platform=child.platform,
                    position=position,
                )
                for position, child in enumerate(parsed.children)
            )
    except IntegrityError:
        # Pushed at the same moment by another client.
        return Manifest.objects.get(digest=parsed.digest)
    return manifest
