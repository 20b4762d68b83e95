"""Database models of the registry, shared by the /v2/ protocol, the token service, the REST API,
the tasks and the management commands."""

from .content import Blob, Manifest, ManifestBlob, ManifestListEntry, Tag  # noqa: F401
from .repository import (  # noqa: F401
    AddedContent,
    Namespace,
    RegistryDistribution,
    RegistryPushRepository,
    RegistryRepository,
)
from .upload import UploadSession  # noqa: F401
