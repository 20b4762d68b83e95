"""Importing images from an OCI image layout, used by ``pulpcore-manager registry-import``.

An OCI image layout is a directory with ``oci-layout``, ``index.json`` and
``blobs/<algorithm>/<hex>`` (what ``skopeo copy ... oci:DIR:TAG`` writes); an oci-archive is
the same in a tarball (``podman save --format oci-archive``, ``skopeo copy ...
oci-archive:FILE``). Both are read in place, a tarball without unpacking it.

Everything goes through the same code as a push: blobs are streamed into the upload directory
while being hashed and moved into artifact storage (:mod:`pulp_registry.app.blob_storage`),
manifests are validated by the push's parser and stored byte for byte
(:mod:`pulp_registry.app.manifests`), and each manifest is added to the push repository in a
new version (:func:`pulp_registry.app.push.add_manifest`), children of a list before the list.
Every digest and size in the layout is checked against the bytes.
"""

import json
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

from pulp_registry.app import blob_storage, media_types
from pulp_registry.app.manifests import save_manifest
from pulp_registry.app.models import Blob
from pulp_registry.app.push import (
    NotAPushRepository,
    add_manifest,
    get_or_create_push_repository,
)
from pulp_registry.app.v2.errors import RegistryError
from pulp_registry.app.v2.manifest_parser import parse_manifest
from pulp_registry.app.v2.names import NAME_RE, is_tag, parse_digest

REF_NAME = "org.opencontainers.image.ref.name"


class ImportFailed(Exception):
    """The layout cannot be imported; the message says why."""


def _noop(message):
    pass


class _DirectorySource:
    """An OCI layout directory."""

    def __init__(self, path):
        self.path = Path(path)
        self.description = f"OCI layout directory {self.path}"

    def exists(self, name):
        return (self.path / name).is_file()

    def open(self, name):
        try:
            return open(self.path / name, "rb")
        except FileNotFoundError:
            raise ImportFailed(f"{name} is missing from the {self.description}")

    def size(self, name):
        return (self.path / name).stat().st_size

    def close(self):
        pass


class _TarSource:
    """An oci-archive tarball (possibly compressed), read without unpacking it."""

    def __init__(self, path):
        self.description = f"oci-archive {path}"
        try:
            self.tar = tarfile.open(path, "r:*")
        except (tarfile.TarError, OSError) as error:
            raise ImportFailed(f"{path} is neither an OCI layout directory nor a readable "
                               f"tar archive: {error}")
        self.members = {}
        for member in self.tar.getmembers():
            name = member.name
            while name.startswith("./"):
                name = name[2:]
            # Only regular files count; links could point outside the archive's data.
            if member.isfile():
                self.members[name] = member

    def exists(self, name):
        return name in self.members

    def open(self, name):
        member = self.members.get(name)
        if member is None:
            raise ImportFailed(f"{name} is missing from the {self.description}")
        return self.tar.extractfile(member)

    def size(self, name):
        return self.members[name].size

    def close(self):
        self.tar.close()


def open_layout(path):
    """Open an OCI layout directory or oci-archive tarball for reading.

    Raises:
        ImportFailed: the path does not exist or is not an OCI layout.
    """
    path = Path(path)
    if path.is_dir():
        source = _DirectorySource(path)
    elif path.is_file():
        source = _TarSource(path)
    else:
        raise ImportFailed(f"{path} does not exist")
    if not source.exists("oci-layout") or not source.exists("index.json"):
        hint = ""
        if source.exists("manifest.json"):
            hint = " (it looks like a 'docker save' archive: convert it with 'skopeo copy " \
                   "docker-archive:FILE oci-archive:NEW.tar')"
        source.close()
        raise ImportFailed(f"{path} is not an OCI image layout: oci-layout or index.json is "
                           f"missing{hint}")
    return source


def _read_json(source, name, limit):
    with source.open(name) as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ImportFailed(f"{name} is larger than {limit} bytes")
    try:
        return json.loads(data), data
    except ValueError as error:
        raise ImportFailed(f"{name} is not valid JSON: {error}")


def _blob_name(digest):
    try:
        algorithm, hex_value = parse_digest(digest)
    except ValueError as error:
        raise ImportFailed(str(error))
    return f"blobs/{algorithm}/{hex_value}"


def tag_from_ref_name(ref_name):
    """The tag in an ``org.opencontainers.image.ref.name`` annotation, or None.

    The annotation holds a tag (``latest``) or a whole reference (``example.com/a/b:1.0``).
    """
    if not ref_name:
        return None
    if is_tag(ref_name):
        return ref_name
    last = ref_name.rsplit("/", 1)[-1]
    if ":" in last and "@" not in last:
        candidate = last.rsplit(":", 1)[1]
        if is_tag(candidate):
            return candidate
    return None


@dataclass
class ImportResult:
    """What was imported."""

    name: str
    images: list = field(default_factory=list)
    blobs_stored: int = 0
    blobs_present: int = 0
    bytes_stored: int = 0

    def as_dict(self):
        return {
            "name": self.name,
            "images": self.images,
            "blobs_stored": self.blobs_stored,
            "blobs_already_present": self.blobs_present,
            "bytes_stored": self.bytes_stored,
        }


class _Importer:
    def __init__(self, source, result, progress):
        self.source = source
        self.result = result
        self.progress = progress
        self.manifests = {}

    def blob(self, descriptor):
        """Store a config or layer blob from the layout (unless it is stored already)."""
        digest = descriptor.digest
        existing = Blob.objects.filter(digest=digest).first()
        if existing is not None and existing.contentartifact_set.filter(
            artifact__isnull=False, artifact__size=descriptor.size
        ).exists():
            self.result.blobs_present += 1
            return existing
        name = _blob_name(digest)
        if not self.source.exists(name):
            raise ImportFailed(f"blob {digest} is missing from the {self.source.description}")
        algorithm, expected = parse_digest(digest)
        session_id = uuid.uuid4()
        with self.source.open(name) as handle:
            chunks = iter(lambda: handle.read(blob_storage.READ_SIZE), b"")
            received = blob_storage.append(session_id, 0, chunks)
        blob_storage.discard_running(session_id)
        actual = blob_storage.digest_of(received, algorithm)
        if actual != expected or received.size != descriptor.size:
            received.path.unlink(missing_ok=True)
            raise ImportFailed(
                f"blob {digest} in the layout is corrupt: {received.size} bytes hashing to "
                f"{algorithm}:{actual}, the manifest says {descriptor.size} bytes"
            )
        blob = blob_storage.store_blob(received, digest)
        self.result.blobs_stored += 1
        self.result.bytes_stored += received.size
        self.progress(f"  stored blob {digest} ({received.size} bytes)")
        return blob

    def manifest(self, digest, media_type, size):
        """Store a manifest from the layout, with everything it references."""
        if digest in self.manifests:
            return self.manifests[digest]
        name = _blob_name(digest)
        algorithm, _ = parse_digest(digest)
        limit = int(settings.REGISTRY_MAX_MANIFEST_SIZE)
        with self.source.open(name) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise ImportFailed(f"manifest {digest} is larger than {limit} bytes")
        if size is not None and len(data) != size:
            raise ImportFailed(f"manifest {digest} has {len(data)} bytes, {size} expected")
        try:
            parsed = parse_manifest(data, media_type, digest_algorithm=algorithm)
        except RegistryError as error:
            raise ImportFailed(f"manifest {digest} is invalid: {error.message}: {error.detail}")
        if parsed.digest != digest:
            raise ImportFailed(f"manifest {digest} is corrupt: its bytes hash to {parsed.digest}")
        children = {}
        for child in parsed.children:
            if child.media_type not in media_types.MANIFEST_TYPES:
                raise ImportFailed(f"{digest} lists {child.digest} of unsupported media type "
                                   f"{child.media_type!r}")
            children[child.digest] = self.manifest(child.digest, child.media_type, child.size)
        blobs = {}
        for descriptor in ([parsed.config] if parsed.config else []) + parsed.layers:
            if not descriptor.is_foreign and descriptor.digest not in blobs:
                blobs[descriptor.digest] = self.blob(descriptor)
        manifest = save_manifest(parsed, blobs, children)
        self.manifests[digest] = manifest
        return manifest


def _add_tree(repository, manifest, tag=None):
    """Add a manifest to the repository after its children (lists need them in place)."""
    for child in manifest.listed_manifests.all():
        _add_tree(repository, child)
    add_manifest(repository, manifest, tag_name=tag)


def import_layout(path, name, *, tag=None, ref=None, progress=_noop):
    """Import images of an OCI layout directory or oci-archive into a push repository.

    Args:
        path: the layout directory or the archive.
        name: the image name (push repository) to import into; created if needed.
        tag: the tag to give the image; only when one image is imported.
        ref: import the ``index.json`` entry with this ``ref.name`` annotation (or this
            digest); all entries when None.
        progress: called with a line of text as work advances.

    Returns:
        ImportResult: the images (digest, tag, media type) and blobs imported.

    Raises:
        ImportFailed: with a message saying what is wrong.
    """
    if not NAME_RE.match(name) or len(name) > 255:
        raise ImportFailed(f"{name!r} is not a valid image name")
    if tag is not None and not is_tag(tag):
        raise ImportFailed(f"{tag!r} is not a valid tag")
    source = open_layout(path)
    try:
        layout, _ = _read_json(source, "oci-layout", 64 * 1024)
        if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
            raise ImportFailed("oci-layout has no imageLayoutVersion")
        index, _ = _read_json(source, "index.json", int(settings.REGISTRY_MAX_MANIFEST_SIZE))
        entries = index.get("manifests") if isinstance(index, dict) else None
        if not isinstance(entries, list) or not entries:
            raise ImportFailed("index.json lists no images")
        for entry in entries:
            if not isinstance(entry, dict) or not {"digest", "mediaType"} <= set(entry):
                raise ImportFailed(f"index.json has an invalid entry: {entry!r}")
        if ref is not None:
            entries = [e for e in entries if ref in (
                (e.get("annotations") or {}).get(REF_NAME), e["digest"])]
            if not entries:
                raise ImportFailed(f"index.json has no image named or with digest {ref!r}")
        if tag is not None and len(entries) > 1:
            names = [(e.get("annotations") or {}).get(REF_NAME) or e["digest"] for e in entries]
            raise ImportFailed(
                f"the layout holds {len(entries)} images ({', '.join(names)}); choose one "
                "with --ref to tag it"
            )
        try:
            repository = get_or_create_push_repository(name)
        except NotAPushRepository:
            raise ImportFailed(f"{name!r} is served by a regular repository; images can only "
                               "be imported into push repositories")
        result = ImportResult(name=name)
        importer = _Importer(source, result, progress)
        for entry in entries:
            media_type = entry["mediaType"]
            if media_type not in media_types.MANIFEST_TYPES:
                raise ImportFailed(f"index.json entry {entry['digest']} has unsupported media "
                                   f"type {media_type!r}")
            ref_name = (entry.get("annotations") or {}).get(REF_NAME)
            image_tag = tag or tag_from_ref_name(ref_name)
            progress(f"importing {entry['digest']}" + (f" ({ref_name})" if ref_name else ""))
            manifest = importer.manifest(entry["digest"], media_type, entry.get("size"))
            _add_tree(repository, manifest, image_tag)
            result.images.append(
                {"digest": manifest.digest, "tag": image_tag, "media_type": manifest.media_type}
            )
            progress(f"imported {name}{':' + image_tag if image_tag else ''} -> "
                     f"{manifest.digest}" + ("" if image_tag else " (untagged)"))
        return result
    finally:
        source.close()
