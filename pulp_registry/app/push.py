"""Writing to repositories: creating a push repository on first push, and making repository
versions. Shared by /v2/, the REST API's tasks and the management commands.

Every version of a repository is made under a row lock on the repository, so that concurrent
pushes to one name queue up in the database instead of failing or losing a tag.
"""

from contextlib import contextmanager, nullcontext

from django.db import IntegrityError, transaction

from pulpcore.plugin.models import Content
from pulpcore.plugin.util import assign_role, get_domain

from pulp_registry.app import access, serving
from pulp_registry.app.access import PUSH
from pulp_registry.app.media_types import LIST_TYPES
from pulp_registry.app.models import (
    AddedContent,
    Blob,
    Manifest,
    Namespace,
    RegistryDistribution,
    RegistryPushRepository,
    Tag,
)
from pulp_registry.app.v2.errors import Denied, ManifestBlobUnknown
from pulp_registry.app.v2.names import namespace_of


class NotAPushRepository(Exception):
    """The name is served by something other than a push repository."""


def get_or_create_namespace(name, user=None):
    """Return the namespace of an image name, creating it (owned by ``user``) if needed."""
    return _get_or_create_namespace(name, user)[0]


def _get_or_create_namespace(name, user):
    """The namespace of ``name`` and whether this call created it.

    The owner's role is granted in the transaction that creates the namespace: a concurrent
    push that finds the namespace (by waiting on its unique name) then also sees its owner.
    """
    namespace_name = namespace_of(name)
    namespace = Namespace.objects.filter(name=namespace_name).first()
    if namespace is not None:
        return namespace, False
    try:
        with transaction.atomic():
            namespace = Namespace.objects.create(name=namespace_name)
            if user is not None and user.is_authenticated and not user.is_staff:
                assign_role("registry.namespace_owner", user, namespace)
    except IntegrityError:
        return Namespace.objects.get(name=namespace_name), False
    return namespace, True


def get_or_create_push_repository(name, user=None):
    """Return the push repository served at ``name``, creating it, its distribution and its
    namespace on the first push.

    Raises:
        NotAPushRepository: the name is served by a regular repository or a version.
    """
    return push_target(name, user).repository


def push_target(name, user=None):
    """What ``name`` serves, for a push: created with its namespace on the first push.

    Returns:
        serving.Served: with the push repository and its latest version.

    Raises:
        NotAPushRepository: the name is served by a regular repository or a version.
        Denied: the name's namespace was created by another user since ``user`` was allowed
            to push (while it did not exist).
    """
    # Until get_domain() has cached the default domain in this process, pulpcore looks it up
    # with a query for every content unit it saves or adds to a version.
    get_domain()
    served = serving.resolve(name)
    if served is None:
        namespace, created = _get_or_create_namespace(name, user)
        if not created and user is not None and not access.allowed_actions(user, name, {PUSH}):
            # The push was allowed while the namespace did not exist (a user may create their
            # own, a namespace creator any), but another user created it since: by a push at
            # the same moment, or after this client's token was issued.
            raise Denied(
                {"name": name, "namespace": namespace.name},
                message=f"namespace {namespace.name!r} was just created by another user; "
                "ask its owner for push access",
            )
        try:
            with transaction.atomic():
                repository = RegistryPushRepository.objects.filter(name=name).first()
                if repository is None:
                    repository = RegistryPushRepository.objects.create(name=name)
                RegistryDistribution.objects.create(
                    name=name, base_path=name, repository=repository, namespace=namespace
                )
        except IntegrityError:
            pass  # created at the same moment by another push: use theirs
        served = serving.resolve(name)
        if served is None:
            # The repository's or distribution's name is taken by something that does not
            # serve this name (a repository or distribution made through the REST API).
            raise NotAPushRepository(name)
    if served.pinned or not served.is_push:
        raise NotAPushRepository(name)
    return served


def link_uploaded_blob(repository, blob):
    """Record that ``blob`` was uploaded or mounted into a push repository.

    The blob is touched too: ``registry-gc`` ages these links by the blob's time of interest,
    and a blob stored long ago that is pushed again now must count as young.
    """
    repository.pending_blobs.add(blob)
    Blob.objects.filter(pk=blob.pk).touch()


@contextmanager
def without_savepoints(using="default"):
    """Inside an atomic block, make nested ``transaction.atomic()`` blocks skip savepoints.

    pulpcore's repository-version code nests about a dozen atomic blocks; inside a transaction
    each one costs a SAVEPOINT and a RELEASE round trip, more than a third of the statements of
    a manifest push. Without them, an error in a nested block marks the whole transaction for
    rollback (Django's behaviour for ``savepoint=False``), which is what a push wants anyway.
    Only use it around code that does not recover from database errors inside the block.
    """
    connection = transaction.get_connection(using)
    if not connection.in_atomic_block:
        raise RuntimeError("without_savepoints() needs an enclosing atomic block")
    features = connection.features  # per connection, and connections are per thread
    previous = features.uses_savepoints
    features.uses_savepoints = False
    try:
        yield
    finally:
        features.uses_savepoints = previous


@contextmanager
def locked_new_version(repository, savepoints=True):
    """Make a new version of ``repository`` while holding its row lock.

    Args:
        repository: the repository, loaded or from ``Served.repository_to_lock()`` (then read
            in full by the locking query).
        savepoints: False when nothing in the block recovers from a database error, so that
            pulpcore's nested atomic blocks need no savepoints (see :func:`without_savepoints`).

    Yields:
        RepositoryVersion: the incomplete new version; it is finalised on exit.
    """
    with transaction.atomic(savepoint=savepoints):
        # The locking query also reads next_version, which may have moved while we waited.
        # FOR NO KEY UPDATE still queues versions one after another, but lets rows that merely
        # reference the repository (uploaded-blob links, upload sessions) be written meanwhile.
        locking = type(repository).objects.select_for_update(no_key=True)
        if getattr(repository, "registry_unloaded", False):
            repository.refresh_from_db(from_queryset=locking)
            repository.registry_unloaded = False
        else:
            repository.next_version = (
                locking.filter(pk=repository.pk).values_list("next_version", flat=True).get()
            )
        try:
            with nullcontext() if savepoints else without_savepoints():
                with repository.new_version() as version:
                    yield version
        except transaction.TransactionManagementError as error:
            # Without savepoints, pulpcore's clean-up after an error (deleting the incomplete
            # version) cannot run in the broken transaction; rolling the transaction back does
            # that clean-up, so the error to report is the first one.
            first = error.__cause__ or error.__context__
            if savepoints or first is None:
                raise
            raise first from None


def get_or_create_tag(name, manifest):
    """The tag ``name`` pointing at ``manifest``, created if no repository has it yet.

    Like ``get_or_create``, with one savepoint instead of two (a tag is two rows), and trying
    the insert first: pushes mostly point a tag at a new manifest, which needs a new tag.
    """
    try:
        with transaction.atomic(), without_savepoints():
            return Tag.objects.create(name=name, tagged_manifest=manifest)
    except IntegrityError:  # exists already (in some repository), or was created just now
        return Tag.objects.get(name=name, tagged_manifest=manifest)


def manifest_content(manifest):
    """The content a repository needs to serve a manifest: itself, its config and layer blobs.

    Children of a list or index must already be in the repository and stay there.
    """
    blob_ids = list(manifest.layer_links.values_list("blob_id", flat=True))
    if manifest.config_blob_id:
        blob_ids.append(manifest.config_blob_id)
    return [manifest.pk, *blob_ids]


def add_manifest(repository, manifest, tag_name=None, blob_ids=None, child_ids=None):
    """Add a pushed manifest (and a tag pointing at it) in a new version of a push repository.

    The manifest's blobs stay linked to a push repository as uploaded blobs: dropping those
    links here would let a concurrent lookup see the blob in neither the version it read nor
    the links.

    Args:
        repository: the repository (push or regular).
        manifest: the stored manifest.
        tag_name: the tag to point at it, if any.
        blob_ids: primary keys of its config and layer blobs when the caller knows them
            (saves a query); looked up otherwise.
        child_ids: primary keys of the child manifests of a list or index when the caller
            knows them; looked up otherwise.

    Returns:
        RepositoryVersion | None: the new version, or None when nothing changed.

    Raises:
        ManifestBlobUnknown: a child manifest is no longer in the repository.
    """
    if blob_ids is None:
        content_ids = manifest_content(manifest)
    else:
        content_ids = [manifest.pk, *blob_ids]
    tags = []
    if tag_name is not None:
        tags.append((get_or_create_tag(tag_name, manifest).pk, tag_name))
        content_ids.append(tags[0][0])
    if child_ids is None and manifest.media_type in LIST_TYPES:
        child_ids = list(manifest.child_links.values_list("manifest_id", flat=True))
    with locked_new_version(repository, savepoints=False) as version:
        if child_ids:
            _check_children_present(version, child_ids)
        version.add_content(Content.objects.filter(pk__in=content_ids))
        version.registry_added = AddedContent(content_ids, tags)
    return version if version.complete else None


def _check_children_present(version, child_ids):
    """Refuse a list whose children left the repository after the caller looked them up.

    The caller checked its references before taking the repository's lock; a concurrent
    delete may have removed a child since. Under the lock the new version starts from the
    latest one, so what it holds is what the list will be served with. (Blobs need no such
    check: they are added together with the manifest.)
    """
    missing = set(child_ids) - set(version.content_ids)
    if missing:
        digests = sorted(Manifest.objects.filter(pk__in=missing).values_list("digest", flat=True))
        raise ManifestBlobUnknown(
            {"digests": digests},
            message="a manifest the list references was removed from the repository "
            "while the list was pushed",
        )


def remove_content(repository, content_ids):
    """Remove content from a repository in a new version."""
    with locked_new_version(repository) as version:
        version.remove_content(Content.objects.filter(pk__in=content_ids))
    return version if version.complete else None


def remove_manifest(repository, manifest):
    """Remove a manifest and every tag pointing at it from a repository, in a new version.

    The tags are looked up under the repository's lock, in the version being replaced: a tag
    pushed since the caller read the repository must go too, or it would point at nothing.
    """
    with locked_new_version(repository) as version:
        tag_ids = Tag.objects.filter(
            tagged_manifest=manifest, pk__in=version.content_ids_subquery()
        ).values_list("pk", flat=True)
        version.remove_content(Content.objects.filter(pk__in=[manifest.pk, *tag_ids]))
    return version if version.complete else None


def manifests_referencing(version, manifest):
    """Lists and indexes in ``version`` that have ``manifest`` as a child."""
    return Manifest.objects.filter(
        pk__in=version.content_ids_subquery(), child_links__manifest=manifest
    )
