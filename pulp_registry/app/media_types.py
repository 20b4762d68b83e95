"""Media types of manifests, configs and layers that the registry knows about."""

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_FOREIGN_LAYERS = (
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar",
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_NONDISTRIBUTABLE_LAYERS = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
)

IMAGE_TYPES = (DOCKER_MANIFEST, OCI_MANIFEST)
LIST_TYPES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
MANIFEST_TYPES = IMAGE_TYPES + LIST_TYPES
FOREIGN_LAYER_TYPES = DOCKER_FOREIGN_LAYERS + OCI_NONDISTRIBUTABLE_LAYERS
