"""Turning a validated manifest into stored content: checking that everything it references
is in the repository, and saving the manifest with its links to blobs and child manifests."""

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from pulp_registry.app.models import (
    Blob,
    Manifest,
    ManifestBlob,
    ManifestListEntry,
    RegistryPushRepository,
)
from pulp_registry.app.v2.errors import ManifestBlobUnknown, ManifestInvalid


def _blobs_in(served, digests):
    """Blobs (with their stored size) among ``digests`` that the repository holds."""
    if not digests or served is None:
        return {}
    # Membership as subqueries, not joins: no duplicate rows to remove, and a query that
    # PostgreSQL plans quickly.
    where = Q()
    content_ids = served.content_ids()
    if content_ids is not None:
        where |= Q(pk__in=content_ids)
    if served.is_push:
        where |= Q(
            pk__in=RegistryPushRepository.pending_blobs.through.objects.filter(
                registrypushrepository_id=served.repository_pk
            ).values("blob_id")
        )
    if not where:
        return {}
    rows = Blob.objects.filter(where, digest__in=digests).annotate(
        stored_size=F("contentartifact__artifact__size")
    )
    return {blob.digest: blob for blob in rows}


def resolve_references(parsed, served):
    """Find the blobs and child manifests a manifest references, in the target repository.

    Args:
        parsed: the validated manifest.
        served: the target repository's :class:`~pulp_registry.app.serving.Served`.

    Returns:
        tuple[dict, dict]: blobs and child manifests by digest.

    Raises:
        ManifestBlobUnknown: a referenced blob or child manifest is not in the repository.
        ManifestInvalid: a descriptor's size differs from the stored blob's size.
    """
    wanted = [d for d in ([parsed.config] if parsed.config else []) + parsed.layers]
    wanted = [d for d in wanted if not d.is_foreign]
    blobs = _blobs_in(served, {d.digest for d in wanted})
    for descriptor in wanted:
        blob = blobs.get(descriptor.digest)
        if blob is None:
            raise ManifestBlobUnknown({"digest": descriptor.digest})
        if blob.stored_size is not None and blob.stored_size != descriptor.size:
            raise ManifestInvalid(
                {
                    "digest": descriptor.digest,
                    "size": descriptor.size,
                    "stored_size": blob.stored_size,
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
        blobs: its blobs by digest, from :func:`resolve_references`.
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
        config_blob=config_blob,
        config_media_type=parsed.config.media_type if parsed.config else None,
        subject=parsed.subject.digest if parsed.subject else None,
        artifact_type=parsed.artifact_type,
        annotations=parsed.annotations,
    )
    try:
        with transaction.atomic():
            manifest.save()
            ManifestBlob.objects.bulk_create(
                ManifestBlob(manifest=manifest, blob=blobs[layer.digest], position=position)
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
