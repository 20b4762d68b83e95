"""Writes of pulp_registry.app.push that concurrent requests depend on, made deterministic here:
the push target of a name taken by something else, the repository lock, and a list whose child
left the repository between the request's checks and its new version. The real races run in
tests/functional/test_concurrency.py."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from pulpcore.plugin.util import assign_role

from pulp_registry.app import access, push
from pulp_registry.app.models import (
    Manifest,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
    Tag,
)
from pulp_registry.app.v2.errors import Denied, ManifestBlobUnknown
from tests.functional import images
from tests.unit.test_v2_protocol import V2

pytestmark = pytest.mark.django_db

NAME = "pushing/here"


@pytest.fixture
def v2(client, django_user_model, settings):
    settings.TOKEN_AUTH_DISABLED = True
    django_user_model.objects.create_user("pusher", password="secret", is_staff=True)
    return V2(client, "pusher", "secret")


def test_push_target_is_created_once():
    first = push.push_target(NAME)
    again = push.push_target(NAME)
    assert first.repository_pk == again.repository_pk
    assert RegistryPushRepository.objects.filter(name=NAME).count() == 1
    assert RegistryDistribution.objects.filter(base_path=NAME).count() == 1


def test_push_target_gives_a_lone_push_repository_its_distribution():
    repository = RegistryPushRepository.objects.create(name=NAME)
    assert push.push_target(NAME).repository_pk == repository.pk


@pytest.mark.parametrize("taken_by", ["repository", "distribution"])
def test_push_target_of_a_name_taken_through_the_rest_api(taken_by):
    """A repository or distribution named like the image but not serving it: refused, not a
    crash."""
    if taken_by == "repository":
        RegistryRepository.objects.create(name=NAME)
    else:
        RegistryDistribution.objects.create(
            name=NAME, base_path="elsewhere", repository=RegistryRepository.objects.create(
                name="elsewhere")
        )
    with pytest.raises(push.NotAPushRepository):
        push.push_target(NAME)


def test_new_versions_take_the_repository_row_lock():
    repository = push.push_target(NAME).repository
    with CaptureQueriesContext(connection) as queries:
        push.remove_content(repository, [])
    assert any("FOR NO KEY UPDATE" in query["sql"] for query in queries.captured_queries)


def test_list_whose_child_left_the_repository_is_refused(v2):
    """What a list push does when a DELETE of its child wins the race: the list was checked
    against the old version, the child is gone from the one the list would join."""
    _, child_digest = v2.push_image(NAME, "child")
    index = images.make_index(
        [{"mediaType": images.OCI_MANIFEST, "digest": child_digest, "size": 1,
          "platform": {"architecture": "amd64", "os": "linux"}}]
    )
    assert v2.put_manifest(NAME, "list", index, images.OCI_INDEX).status_code == 201
    repository = push.push_target(NAME).repository
    child = Manifest.objects.get(digest=child_digest)
    stored_index = Manifest.objects.get(digest=images.sha256_digest(index))
    versions_before = repository.versions.count()
    push.remove_content(repository, [child.pk])

    with pytest.raises(ManifestBlobUnknown) as refused:
        with transaction.atomic():  # as the manifest view's: a refused push is rolled back
            push.add_manifest(repository, stored_index, tag_name="again")
    assert refused.value.detail == {"digests": [child_digest]}
    assert repository.versions.count() == versions_before + 1  # only the removal's version

    # With the child back, the same list is accepted.
    push.add_manifest(repository, child)
    assert push.add_manifest(repository, stored_index, tag_name="again") is not None


def test_remove_manifest_takes_tags_pushed_after_the_caller_looked(v2):
    """The tags of a deleted manifest are found under the lock: a tag pushed between the
    request's read of the repository and its new version goes too."""
    manifest_bytes, digest = v2.push_image(NAME, "first")
    served_before = push.push_target(NAME)
    assert v2.put_manifest(NAME, "second", manifest_bytes).status_code == 201
    manifest = Manifest.objects.get(digest=digest)

    push.remove_manifest(served_before.repository, manifest)

    latest = served_before.repository.latest_version()
    assert not latest.content.filter(pk=manifest.pk).exists()
    assert not Tag.objects.filter(pk__in=latest.content_ids_subquery()).exists()


@pytest.fixture
def namespace_creators(django_user_model):
    """Two users who may each create any namespace (role registry.namespace_creator)."""
    users = []
    for username in ("ann", "ben"):
        user = django_user_model.objects.create_user(username, password="secret")
        assign_role("registry.namespace_creator", user)
        users.append(django_user_model.objects.get(pk=user.pk))  # no cached permissions
    return users


def test_first_pushes_of_two_users_to_one_new_namespace(namespace_creators):
    """Both were allowed to push while the namespace did not exist; the one who creates it
    owns it, and the other's first push into it is refused instead of landing there."""
    ann, ben = namespace_creators
    assert access.allowed_actions(ben, "shared/two", {"push"}) == {"push"}

    push.push_target("shared/one", ann)
    with pytest.raises(Denied):
        push.push_target("shared/two", ben)
    assert not RegistryPushRepository.objects.filter(name="shared/two").exists()
    # The owner's own later and concurrent first pushes into the namespace go through.
    assert push.push_target("shared/two", ann).is_push


def test_namespace_owner_role_is_granted_with_the_namespace(namespace_creators):
    ann, _ = namespace_creators
    with CaptureQueriesContext(connection) as queries:
        push.get_or_create_namespace("owned/here", ann)
    statements = [query["sql"] for query in queries.captured_queries]
    insert_namespace = next(
        i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "registry_namespace"')
    )
    # The outermost savepoint (the block that creates the namespace), and where it ends.
    savepoint = [sql for sql in statements[:insert_namespace] if sql.startswith("SAVEPOINT")][0]
    release = statements.index("RELEASE " + savepoint, insert_namespace)
    role_inserts = [
        i for i, sql in enumerate(statements) if sql.startswith('INSERT INTO "core_userrole"')
    ]
    assert role_inserts and all(insert_namespace < i < release for i in role_inserts)
