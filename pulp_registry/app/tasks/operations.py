"""The pulpcore tasks behind the REST API's repository operations: tag, untag, remove an
image, copy tags or manifests between repositories, and add/remove content.

Every task makes its new repository version through :func:`pulp_registry.app.push.
locked_new_version`, the row lock that /v2/ pushes also take, and checks its preconditions
again under that lock: the viewset checked them when the task was queued, but a push may have
changed the repository since. A task that changes nothing creates no version.
"""

from pulpcore.plugin.exceptions import ValidationError
from pulpcore.plugin.models import Content, Repository, RepositoryVersion

from pulp_registry.app.models import Manifest, RegistryPushRepository, Tag
from pulp_registry.app.push import locked_new_version
from pulp_registry.app.tasks.content import (
    in_version,
    manifest_closure,
    missing_references,
    parents_in,
    removal_set,
    tag_closure,
)


def _repository(repository_pk):
    return Repository.objects.get(pk=repository_pk).cast()


def _content(pks):
    return Content.objects.filter(pk__in=list(pks))


def tag_image(repository_pk, tag, digest):
    """Point ``tag`` at the manifest ``digest`` of the repository (moving it if it exists).

    Args:
        repository_pk: the repository (push or regular).
        tag: the tag name.
        digest: digest of a manifest in the repository's latest version.

    Raises:
        ValidationError: the manifest is not in the repository.
    """
    repository = _repository(repository_pk)
    with locked_new_version(repository) as version:
        manifest = in_version(Manifest.objects.filter(digest=digest), version).first()
        if manifest is None:
            raise ValidationError(f"manifest {digest} is not in repository {repository.name!r}")
        new_tag, _ = Tag.objects.get_or_create(name=tag, tagged_manifest=manifest)
        # Adding a tag replaces the tag of the same name (Tag.repo_key_fields).
        version.add_content(_content([new_tag.pk]))


def untag_image(repository_pk, tag):
    """Remove ``tag`` from the repository; the manifest stays.

    Raises:
        ValidationError: the repository has no such tag.
    """
    repository = _repository(repository_pk)
    with locked_new_version(repository) as version:
        tags = in_version(Tag.objects.filter(name=tag), version)
        if not tags.exists():
            raise ValidationError(f"repository {repository.name!r} has no tag {tag!r}")
        version.remove_content(_content(tags.values_list("pk", flat=True)))


def remove_image(repository_pk, digest):
    """Remove a manifest, its tags, and what nothing else in the repository needs.

    See :func:`pulp_registry.app.tasks.content.removal_set`: children of a list or index go
    when no tag and no other list keeps them; blobs go when no remaining manifest uses them.
    Referrers of the manifest stay (the OCI spec allows referrers without their subject).

    Raises:
        ValidationError: the manifest is not in the repository, or a list or index that stays
            lists it.
    """
    repository = _repository(repository_pk)
    with locked_new_version(repository) as version:
        manifest = in_version(Manifest.objects.filter(digest=digest), version).first()
        if manifest is None:
            raise ValidationError(f"manifest {digest} is not in repository {repository.name!r}")
        parents = parents_in(version, [manifest.pk])
        if parents.exists():
            listed_by = ", ".join(parents.values_list("digest", flat=True)[:5])
            raise ValidationError(
                f"manifest {digest} is listed by {listed_by}; remove that image first"
            )
        manifests, tags, blobs = removal_set(version, manifest)
        version.remove_content(_content(manifests | tags | blobs))
    if isinstance(repository, RegistryPushRepository):
        # A blob that is removed here must not stay readable as "pending" either.
        repository.pending_blobs.remove(*blobs)


def _source_version(source_version_pk):
    return RepositoryVersion.objects.select_related("repository").get(pk=source_version_pk)


def copy_tags(repository_pk, source_version_pk, names=None):
    """Copy tags with their manifests, child manifests and blobs from a repository version.

    Args:
        repository_pk: the destination (a regular repository).
        source_version_pk: the repository version to copy from.
        names: tag names to copy; all tags when None.

    Raises:
        ValidationError: a named tag is not in the source.
    """
    repository = _repository(repository_pk)
    source = _source_version(source_version_pk)
    tags = in_version(Tag.objects.all(), source)
    if names is not None:
        tags = tags.filter(name__in=names)
        missing = sorted(set(names) - set(tags.values_list("name", flat=True)))
        if missing:
            raise ValidationError(
                f"{source.repository.name!r} version {source.number} has no tag "
                + ", ".join(repr(name) for name in missing)
            )
    wanted = tag_closure(tags.values_list("pk", flat=True))
    with locked_new_version(repository) as version:
        version.add_content(_content(wanted))


def copy_manifests(repository_pk, source_version_pk, digests=None, media_types=None):
    """Copy manifests (untagged) with their child manifests and blobs from a repository version.

    Args:
        repository_pk: the destination (a regular repository).
        source_version_pk: the repository version to copy from.
        digests: manifest digests to copy; all manifests when None.
        media_types: only copy manifests of these media types, when given.

    Raises:
        ValidationError: a named digest is not in the source.
    """
    repository = _repository(repository_pk)
    source = _source_version(source_version_pk)
    manifests = in_version(Manifest.objects.all(), source)
    if digests is not None:
        manifests = manifests.filter(digest__in=digests)
        missing = sorted(set(digests) - set(manifests.values_list("digest", flat=True)))
        if missing:
            raise ValidationError(
                f"{source.repository.name!r} version {source.number} has no manifest "
                + ", ".join(missing)
            )
    if media_types:
        manifests = manifests.filter(media_type__in=media_types)
    closure, blobs = manifest_closure(manifests.values_list("pk", flat=True))
    with locked_new_version(repository) as version:
        version.add_content(_content(closure | blobs))


def add_and_remove(
    repository_pk,
    add_content_units,
    remove_content_units,
    base_version_pk=None,
    overwrite=True,
    **kwargs,
):
    """Add and remove content of a regular repository (the REST ``modify`` operation).

    Like pulpcore's ``add_and_remove`` but registry-aware: an added manifest brings its child
    manifests and blobs, an added tag brings its manifest; a removed manifest takes its tags
    with it. The result must be consistent: no tag without its manifest, no manifest without
    its blobs or children.

    Args:
        repository_pk: the repository.
        add_content_units: primary keys of content to add (after removing).
        remove_content_units: primary keys of content to remove, or ``["*"]`` for all.
        base_version_pk: a version whose content the new version starts from.
        overwrite: when False, refuse to replace a tag of the same name.

    Raises:
        ValidationError: the new version would be inconsistent, or a tag would be replaced
            while ``overwrite`` is False.
    """
    repository = _repository(repository_pk)
    base_version = RepositoryVersion.objects.get(pk=base_version_pk) if base_version_pk else None
    add = set(add_content_units)
    added_tags = set(Tag.objects.filter(pk__in=add).values_list("pk", flat=True))
    added_manifests = set(Manifest.objects.filter(pk__in=add).values_list("pk", flat=True))
    closure, blobs = manifest_closure(added_manifests)
    add |= closure | blobs | tag_closure(added_tags)
    with locked_new_version(repository) as version:
        if base_version is not None:
            # Start from the base version's content, as pulpcore's new_version(base_version).
            version.remove_content(version.content.exclude(pk__in=base_version.content))
            version.add_content(base_version.content.exclude(pk__in=version.content))
        if "*" in remove_content_units:
            remove = set(version.content.values_list("pk", flat=True))
        else:
            remove = set(remove_content_units)
            removed_manifests = Manifest.objects.filter(pk__in=remove)
            remove |= set(
                in_version(Tag.objects.filter(tagged_manifest__in=removed_manifests), version)
                .values_list("pk", flat=True)
            )
        version.remove_content(_content(remove))
        if not overwrite and added_tags:
            replaced = (
                in_version(Tag.objects.all(), version)
                .filter(name__in=Tag.objects.filter(pk__in=added_tags).values("name"))
                .exclude(pk__in=added_tags)
                .values_list("name", flat=True)
            )
            if replaced:
                raise ValidationError(
                    "tags would be overwritten: " + ", ".join(sorted(set(replaced)))
                )
        version.add_content(_content(add))
        problems = missing_references(version)
        if problems:
            raise ValidationError("the new version would be inconsistent: " + "; ".join(problems))
