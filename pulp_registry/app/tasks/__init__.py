"""pulpcore tasks of the registry and the work behind its management commands.

* :mod:`.operations`: the REST API's repository operations (tag, untag, remove an image, copy
  tags or manifests, add/remove content), each dispatched as a pulpcore task;
* :mod:`.content`: what a manifest needs (blobs, children) and consistency checks;
* :mod:`.gc`: garbage collection (``registry-gc``);
* :mod:`.verify`: re-hashing stored blobs (``registry-verify``);
* :mod:`.importer`: importing OCI image layouts and archives (``registry-import``);
* :mod:`.stats`: usage statistics (``registry-stats``).
"""

from pulp_registry.app.tasks.operations import (  # noqa: F401
    add_and_remove,
    copy_manifests,
    copy_tags,
    remove_image,
    tag_image,
    untag_image,
)
