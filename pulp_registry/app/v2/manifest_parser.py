"""Checking a pushed manifest and reading what it references.

A manifest is validated against a JSON schema for its media type (Docker schema 2 image,
Docker manifest list, OCI image manifest, OCI index); artifacts are OCI manifests with an
``artifactType`` or a custom config media type.
"""

import hashlib
import json
from dataclasses import dataclass, field

import jsonschema

from pulp_registry.app import media_types
from pulp_registry.app.v2.errors import ManifestInvalid
from pulp_registry.app.v2.names import parse_digest

_DIGEST = {"type": "string", "pattern": r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$"}
_MEDIA_TYPE = {
    "type": "string",
    "pattern": r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$",
}
_ANNOTATIONS = {"type": "object", "additionalProperties": {"type": "string"}}
_DESCRIPTOR = {
    "type": "object",
    "required": ["mediaType", "digest", "size"],
    "properties": {
        "mediaType": _MEDIA_TYPE,
        "digest": _DIGEST,
        # Sizes are stored in 64-bit columns.
        "size": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
        "urls": {"type": "array", "items": {"type": "string"}},
        "annotations": _ANNOTATIONS,
        "artifactType": _MEDIA_TYPE,
        "data": {"type": "string"},
    },
}
_PLATFORM = {
    "type": "object",
    "required": ["architecture", "os"],
    "properties": {
        "architecture": {"type": "string"},
        "os": {"type": "string"},
        "os.version": {"type": "string"},
        "os.features": {"type": "array", "items": {"type": "string"}},
        "variant": {"type": "string"},
        "features": {"type": "array", "items": {"type": "string"}},
    },
}
_CHILD = {**_DESCRIPTOR, "properties": {**_DESCRIPTOR["properties"], "platform": _PLATFORM}}

SCHEMAS = {
    media_types.OCI_MANIFEST: {
        "type": "object",
        "required": ["schemaVersion", "config", "layers"],
        "properties": {
            "schemaVersion": {"const": 2},
            "mediaType": {"const": media_types.OCI_MANIFEST},
            "artifactType": _MEDIA_TYPE,
            "config": _DESCRIPTOR,
            "layers": {"type": "array", "items": _DESCRIPTOR},
            "subject": _DESCRIPTOR,
            "annotations": _ANNOTATIONS,
        },
    },
    media_types.OCI_INDEX: {
        "type": "object",
        "required": ["schemaVersion", "manifests"],
        "properties": {
            "schemaVersion": {"const": 2},
            "mediaType": {"const": media_types.OCI_INDEX},
            "artifactType": _MEDIA_TYPE,
            "manifests": {"type": "array", "items": _CHILD},
            "subject": _DESCRIPTOR,
            "annotations": _ANNOTATIONS,
        },
    },
    media_types.DOCKER_MANIFEST: {
        "type": "object",
        "required": ["schemaVersion", "mediaType", "config", "layers"],
        "properties": {
            "schemaVersion": {"const": 2},
            "mediaType": {"const": media_types.DOCKER_MANIFEST},
            "config": _DESCRIPTOR,
            "layers": {"type": "array", "items": _DESCRIPTOR},
        },
    },
    media_types.DOCKER_MANIFEST_LIST: {
        "type": "object",
        "required": ["schemaVersion", "mediaType", "manifests"],
        "properties": {
            "schemaVersion": {"const": 2},
            "mediaType": {"const": media_types.DOCKER_MANIFEST_LIST},
            "manifests": {"type": "array", "items": _CHILD},
        },
    },
}
_VALIDATORS = {media: jsonschema.Draft202012Validator(schema) for media, schema in SCHEMAS.items()}


@dataclass
class Descriptor:
    """A content descriptor found in a manifest."""

    media_type: str
    digest: str
    size: int
    urls: list = field(default_factory=list)
    platform: dict = None
    artifact_type: str = None

    @classmethod
    def from_json(cls, data):
        return cls(
            media_type=data["mediaType"],
            digest=data["digest"],
            size=data["size"],
            urls=data.get("urls") or [],
            platform=data.get("platform"),
            artifact_type=data.get("artifactType"),
        )

    @property
    def is_foreign(self):
        """A non-distributable layer that clients fetch from its ``urls``, never pushed."""
        return self.media_type in media_types.FOREIGN_LAYER_TYPES and bool(self.urls)


@dataclass
class ParsedManifest:
    """A validated manifest.

    Attributes:
        data: the exact bytes.
        digest: their sha256 digest (or the algorithm of the digest it was pushed by).
        media_type: the manifest's media type.
        config: the config descriptor (image manifests).
        layers: the layer descriptors in order (image manifests).
        children: the child manifests (lists and indexes).
        subject: the subject descriptor, if any.
        artifact_type: ``artifactType``, if any.
        annotations: ``annotations``.
    """

    data: bytes
    digest: str
    media_type: str
    schema_version: int
    config: Descriptor = None
    layers: list = field(default_factory=list)
    children: list = field(default_factory=list)
    subject: Descriptor = None
    artifact_type: str = None
    annotations: dict = field(default_factory=dict)

    @property
    def is_list(self):
        return self.media_type in media_types.LIST_TYPES


def compute_digest(data, algorithm="sha256"):
    """``algorithm:hex`` of the bytes."""
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def parse_manifest(data, content_type, digest_algorithm="sha256"):
    """Validate a pushed manifest and read its references.

    Args:
        data: the request body.
        content_type: the request's Content-Type (used when the JSON has no ``mediaType``).
        digest_algorithm: the algorithm to compute the manifest digest with.

    Returns:
        ParsedManifest: the manifest.

    Raises:
        ManifestInvalid: the body is not a valid manifest of a supported media type.
    """
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestInvalid({"reason": f"not valid JSON: {error}"})
    except RecursionError:
        raise ManifestInvalid({"reason": "not valid JSON: nested too deeply"})
    if not isinstance(document, dict):
        raise ManifestInvalid({"reason": "a manifest must be a JSON object"})
    _check_strings(document)
    content_type = (content_type or "").split(";", 1)[0].strip()
    media_type = document.get("mediaType") or content_type
    if not isinstance(media_type, str) or media_type not in _VALIDATORS:
        if document.get("schemaVersion") == 1:
            reason = "Docker schema 1 manifests are not supported"
        else:
            reason = f"unsupported manifest media type {media_type!r}"
        raise ManifestInvalid({"reason": reason, "mediaType": media_type})
    if content_type and content_type in _VALIDATORS and content_type != media_type:
        raise ManifestInvalid(
            {"reason": f"Content-Type {content_type!r} differs from mediaType {media_type!r}"}
        )
    error = jsonschema.exceptions.best_match(_VALIDATORS[media_type].iter_errors(document))
    if error is not None:
        location = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ManifestInvalid({"reason": error.message, "at": location})
    for descriptor in _all_descriptors(document):
        try:
            parse_digest(descriptor["digest"])
        except ValueError as bad:
            raise ManifestInvalid({"reason": str(bad)})

    parsed = ParsedManifest(
        data=data,
        digest=compute_digest(data, digest_algorithm),
        media_type=media_type,
        schema_version=document["schemaVersion"],
        artifact_type=document.get("artifactType"),
        annotations=document.get("annotations") or {},
    )
    if "subject" in document:
        parsed.subject = Descriptor.from_json(document["subject"])
    if media_type in media_types.LIST_TYPES:
        parsed.children = [Descriptor.from_json(d) for d in document["manifests"]]
    else:
        parsed.config = Descriptor.from_json(document["config"])
        parsed.layers = [Descriptor.from_json(d) for d in document["layers"]]
    return parsed


def _check_strings(document):
    """Refuse strings that cannot be stored as text: NUL characters (PostgreSQL refuses them)
    and lone UTF-16 surrogates (``"\\ud800"``, valid JSON syntax but not Unicode text)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
        elif isinstance(value, str):
            if "\x00" in value:
                raise ManifestInvalid({"reason": "a string holds a NUL character"})
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise ManifestInvalid({"reason": "a string holds a lone UTF-16 surrogate"})


def _all_descriptors(document):
    for key in ("config", "subject"):
        if isinstance(document.get(key), dict):
            yield document[key]
    for key in ("layers", "manifests"):
        yield from document.get(key) or []
