"""Build small but real container images for the functional tests.

The functional tests push images to the registry with real clients (skopeo,
podman, buildah, oras) and also talk to it at the HTTP level. They need images
whose every byte is known in advance: the manifest bytes (so its digest can be
checked after a round trip), the config, and gzip-compressed tar layers whose
``rootfs.diff_ids`` are right, so that podman and skopeo accept them.

This module makes such images with the standard library alone:

* :class:`OCILayout` is an OCI image layout directory (``oci-layout``,
  ``index.json``, ``blobs/sha256/...``) that skopeo reads as ``oci:DIR:TAG``.
* :func:`build_image` and :func:`build_index` write one image, or one image per
  platform plus an OCI index / Docker manifest list, into a layout and return an
  :class:`ImageInfo` describing it.
* :func:`write_dir_layout` writes the containers-image ``dir:`` layout, which
  keeps the exact manifest bytes for Docker media types too (skopeo's ``oci:``
  transport skips index entries with Docker media types).
* :func:`write_oci_archive` and :func:`write_docker_archive` write tarballs that
  ``podman load -i`` accepts.
* :func:`random_blob`, :func:`make_manifest`, :func:`make_index` and
  :data:`EMPTY_CONFIG` build raw pieces for HTTP-level tests.

Layers hold random bytes: every call gives fresh digests unless a ``seed`` is
given, in which case the result is byte-for-byte reproducible. Fresh digests
matter because containers/image caches which blobs a registry already has.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

# --------------------------------------------------------------------------
# Media types

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
OCI_LAYOUT_VERSION = "1.0.0"
DIR_TRANSPORT_VERSION = "Directory Transport Version: 1.1\n"

EMPTY_CONFIG_BYTES = b"{}"
EMPTY_CONFIG = {
    "mediaType": OCI_EMPTY,
    "digest": "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
    "size": 2,
}
"""The OCI empty descriptor: config of artifacts, blob content ``{}``.

A plain dict so it can go into manifests as is; copy it before changing it.
"""

DEFAULT_PLATFORMS = ("linux/amd64", "linux/arm64/v8")

# Fixed timestamps keep seeded builds byte-for-byte reproducible.
_FIXED_MTIME = 1700000000
_CREATED = "2023-11-14T22:13:20Z"
_CHUNK = 1 << 20

_MEDIA_TYPES = {
    # media flavour -> (manifest, index, config, layer, foreign layer)
    "oci": (OCI_MANIFEST, OCI_INDEX, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_NONDISTRIBUTABLE_GZIP),
    "docker": (DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_CONFIG, DOCKER_LAYER_GZIP,
               DOCKER_FOREIGN_LAYER_GZIP),
}


# --------------------------------------------------------------------------
# Small helpers


def sha256_digest(data: bytes) -> str:
    """Return the ``sha256:<hex>`` digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def digest_hex(digest: str) -> str:
    """Return the hex part of a ``sha256:<hex>`` digest."""
    algorithm, _, encoded = digest.partition(":")
    if algorithm != "sha256" or not encoded:
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return encoded


def canonical_json(obj: object) -> bytes:
    """Serialize ``obj`` compactly, keeping key order: the bytes we push and hash."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def random_blob(size: int, seed: int | None = None) -> tuple[bytes, str]:
    """Return ``size`` random bytes and their digest.

    Args:
        size: Number of bytes.
        seed: Seed for reproducible bytes; fresh random bytes if None.

    Returns:
        A ``(data, "sha256:<hex>")`` pair.
    """
    data = os.urandom(size) if seed is None else random.Random(seed).randbytes(size)
    return data, sha256_digest(data)


def parse_platform(platform: str | Mapping[str, str]) -> dict[str, str]:
    """Turn ``"os/arch[/variant]"`` into an OCI platform object.

    Args:
        platform: A string such as ``"linux/arm64/v8"`` or an already built
            mapping with ``os``, ``architecture`` and optionally ``variant``.

    Returns:
        A dict with ``architecture``, ``os`` and, if given, ``variant``.
    """
    if isinstance(platform, Mapping):
        return dict(platform)
    parts = platform.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform must be os/arch[/variant], got {platform!r}")
    result = {"architecture": parts[1], "os": parts[0]}
    if len(parts) == 3:
        result["variant"] = parts[2]
    return result


def _descriptor_of(subject: "ImageInfo | Mapping[str, object]") -> dict:
    """Return a plain descriptor dict for an ImageInfo or a descriptor mapping."""
    if isinstance(subject, ImageInfo):
        return subject.descriptor()
    return {key: subject[key] for key in ("mediaType", "digest", "size")}


def make_manifest(
    config_digest: str,
    config_size: int,
    layers: Iterable[Mapping[str, object] | tuple[str, int]],
    media_type: str = OCI_MANIFEST,
    subject: "ImageInfo | Mapping[str, object] | None" = None,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
    config_media_type: str | None = None,
) -> bytes:
    """Build the bytes of an image manifest (OCI or Docker schema 2).

    Args:
        config_digest: Digest of the config blob.
        config_size: Size of the config blob.
        layers: Layer descriptors, either full mappings (used as given) or
            ``(digest, size)`` pairs, which get the default gzip layer media
            type of the manifest's flavour.
        media_type: :data:`OCI_MANIFEST` or :data:`DOCKER_MANIFEST`.
        subject: Descriptor (or ImageInfo) of the manifest this one refers to.
        artifact_type: Value of the OCI 1.1 ``artifactType`` field.
        annotations: Manifest annotations.
        config_media_type: Config media type. Defaults to the empty media type
            when the config is :data:`EMPTY_CONFIG`, else to the image config
            media type of the manifest's flavour.

    Returns:
        The manifest serialized with :func:`canonical_json`.
    """
    docker = media_type == DOCKER_MANIFEST
    if config_media_type is None:
        if config_digest == EMPTY_CONFIG["digest"]:
            config_media_type = OCI_EMPTY
        else:
            config_media_type = DOCKER_CONFIG if docker else OCI_CONFIG
    default_layer_type = DOCKER_LAYER_GZIP if docker else OCI_LAYER_GZIP
    layer_descriptors = []
    for layer in layers:
        if isinstance(layer, Mapping):
            layer_descriptors.append(dict(layer))
        else:
            digest, size = layer
            layer_descriptors.append({"mediaType": default_layer_type, "digest": digest,
                                      "size": size})
    manifest: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        manifest["artifactType"] = artifact_type
    manifest["config"] = {"mediaType": config_media_type, "digest": config_digest,
                          "size": config_size}
    manifest["layers"] = layer_descriptors
    if subject is not None:
        manifest["subject"] = _descriptor_of(subject)
    if annotations:
        manifest["annotations"] = dict(annotations)
    return canonical_json(manifest)


def make_index(
    manifests: Iterable["ImageInfo | Mapping[str, object]"],
    media_type: str = OCI_INDEX,
    subject: "ImageInfo | Mapping[str, object] | None" = None,
    artifact_type: str | None = None,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """Build the bytes of an OCI index or Docker manifest list.

    Args:
        manifests: Child descriptors (mappings are used as given, so they may
            carry ``platform``) or ImageInfo objects (their platform is added).
        media_type: :data:`OCI_INDEX` or :data:`DOCKER_MANIFEST_LIST`.
        subject: Descriptor (or ImageInfo) of the manifest this one refers to.
        artifact_type: Value of the OCI 1.1 ``artifactType`` field.
        annotations: Index annotations.

    Returns:
        The index serialized with :func:`canonical_json`.
    """
    entries = []
    for child in manifests:
        if isinstance(child, ImageInfo):
            entry = child.descriptor()
            if child.platform:
                entry["platform"] = dict(child.platform)
        else:
            entry = dict(child)
        entries.append(entry)
    index: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type is not None:
        index["artifactType"] = artifact_type
    index["manifests"] = entries
    if subject is not None:
        index["subject"] = _descriptor_of(subject)
    if annotations:
        index["annotations"] = dict(annotations)
    return canonical_json(index)


# --------------------------------------------------------------------------
# Results


@dataclasses.dataclass
class LayerInfo:
    """One layer of a built image.

    Attributes:
        digest: Digest of the compressed blob (what the manifest references).
        size: Size of the compressed blob.
        diff_id: Digest of the uncompressed tar (what the config lists).
        media_type: Media type in the manifest.
        urls: Download URLs of a foreign / non-distributable layer, else empty.
        content: The blob bytes of a foreign layer, which is kept out of the
            layout (so clients never push it) but may be served by a test.
    """

    digest: str
    size: int
    diff_id: str
    media_type: str
    urls: list[str] = dataclasses.field(default_factory=list)
    content: bytes | None = dataclasses.field(default=None, repr=False)

    @property
    def foreign(self) -> bool:
        """Whether this is a foreign layer that clients do not push."""
        return bool(self.urls)

    def descriptor(self) -> dict:
        """Return the layer's descriptor as it appears in the manifest."""
        result = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.urls:
            result["urls"] = list(self.urls)
        return result


@dataclasses.dataclass
class ImageInfo:
    """An image or index written by :func:`build_image` / :func:`build_index`.

    Attributes:
        digest: Digest of the manifest (or index) bytes.
        manifest: The exact manifest bytes.
        media_type: Manifest media type.
        tag: The tag given to it in the layout's ``index.json``; None for the
            children of an index.
        layout_path: The OCI layout directory holding all blobs.
        config_digest: Digest of the image config; None for an index.
        config_size: Size of the image config; None for an index.
        layers: The layers, in manifest order; empty for an index.
        children: The per-platform images of an index; empty for an image.
        platform: The image's platform (``os``, ``architecture``, ``variant``).
    """

    digest: str
    manifest: bytes = dataclasses.field(repr=False)
    media_type: str
    tag: str | None
    layout_path: Path
    config_digest: str | None = None
    config_size: int | None = None
    layers: list[LayerInfo] = dataclasses.field(default_factory=list)
    children: list["ImageInfo"] = dataclasses.field(default_factory=list)
    platform: dict[str, str] | None = None

    @property
    def size(self) -> int:
        """Size of the manifest bytes."""
        return len(self.manifest)

    @property
    def is_index(self) -> bool:
        """Whether this is an OCI index or Docker manifest list."""
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def manifest_json(self) -> dict:
        """The manifest, parsed."""
        return json.loads(self.manifest)

    @property
    def layer_digests(self) -> list[str]:
        """Digests of the layers, in manifest order."""
        return [layer.digest for layer in self.layers]

    @property
    def layer_sizes(self) -> list[int]:
        """Sizes of the layers, in manifest order."""
        return [layer.size for layer in self.layers]

    @property
    def oci_ref(self) -> str:
        """The skopeo reference ``oci:<layout>:<tag>`` of a tagged image.

        skopeo's ``oci:`` transport finds only OCI media types: push images
        built with ``media="docker"`` from :func:`write_dir_layout` instead.
        """
        if self.tag is None:
            raise ValueError("an untagged image has no oci: reference")
        return f"oci:{self.layout_path}:{self.tag}"

    def descriptor(self) -> dict:
        """Return ``{"mediaType", "digest", "size"}`` of the manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}

    def images(self) -> list["ImageInfo"]:
        """Return the single-platform images: the children, or the image itself."""
        return list(self.children) if self.is_index else [self]

    def manifests(self) -> list["ImageInfo"]:
        """Return this manifest followed by its children's."""
        return [self, *self.children]

    def blob_digests(self, include_foreign: bool = False) -> list[str]:
        """Digests of the configs and layers a client pushes, without duplicates.

        Args:
            include_foreign: Also list foreign layers (which are not pushed).
        """
        digests: list[str] = []
        for image in self.images():
            candidates = [image.config_digest] + [
                layer.digest for layer in image.layers if include_foreign or not layer.foreign
            ]
            digests.extend(d for d in candidates if d is not None and d not in digests)
        return digests


# --------------------------------------------------------------------------
# OCI layout


class _HashingSink(io.RawIOBase):
    """A write-only stream that hashes and counts bytes and passes them on."""

    def __init__(self, target):
        super().__init__()
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = bytes(data)
        self._hash.update(view)
        self.size += len(view)
        if self._target is not None:
            self._target.write(view)
        return len(view)

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class _RandomStream:
    """A readable stream of ``size`` random bytes for ``tarfile.addfile``."""

    def __init__(self, size: int, rng: random.Random | None):
        self._remaining = size
        self._rng = rng

    def read(self, count: int = -1) -> bytes:
        if count is None or count < 0 or count > self._remaining:
            count = self._remaining
        count = min(count, _CHUNK)
        self._remaining -= count
        return os.urandom(count) if self._rng is None else self._rng.randbytes(count)


class OCILayout:
    """An OCI image layout directory.

    Creating one makes the directory with ``oci-layout``, an empty
    ``index.json`` and ``blobs/sha256``, or opens an existing layout. Several
    images can live in one layout under different tags.

    Args:
        path: The layout directory.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.blob_dir = self.path / "blobs" / "sha256"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        marker = self.path / "oci-layout"
        if not marker.exists():
            marker.write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
        if not self.index_path.exists():
            self._write_index([])

    def __repr__(self) -> str:
        return f"OCILayout({str(self.path)!r})"

    @property
    def index_path(self) -> Path:
        """Path of the layout's ``index.json``."""
        return self.path / "index.json"

    def blob_path(self, digest: str) -> Path:
        """Return where the blob with ``digest`` is stored."""
        return self.blob_dir / digest_hex(digest)

    def has_blob(self, digest: str) -> bool:
        """Whether the layout holds the blob with ``digest``."""
        return self.blob_path(digest).exists()

    def read_blob(self, digest: str) -> bytes:
        """Return the bytes of the blob with ``digest``."""
        return self.blob_path(digest).read_bytes()

    def add_blob(self, data: bytes) -> tuple[str, int]:
        """Store ``data`` as a blob; return its ``(digest, size)``."""
        digest = sha256_digest(data)
        path = self.blob_path(digest)
        if not path.exists():
            path.write_bytes(data)
        return digest, len(data)

    def add_random_layer(self, size: int, rng: random.Random | None,
                         file_name: str) -> LayerInfo:
        """Write a gzip tar layer holding one file of random bytes.

        The tar has the file's parent directory and the file, with fixed
        timestamps, so only the random bytes make layers differ.

        Args:
            size: Number of random bytes in the file.
            rng: Source of reproducible bytes; ``os.urandom`` if None.
            file_name: Path of the file inside the layer, e.g. ``layer0/data.bin``.

        Returns:
            The layer, typed as an OCI gzip layer (callers re-type it).
        """
        handle, temp_name = tempfile.mkstemp(dir=self.blob_dir, prefix=".layer-")
        try:
            with os.fdopen(handle, "wb") as raw_file:
                compressed = _HashingSink(raw_file)
                with gzip.GzipFile(filename="", mode="wb", fileobj=compressed,
                                   mtime=_FIXED_MTIME, compresslevel=1) as gzip_stream:
                    uncompressed = _HashingSink(gzip_stream)
                    with tarfile.open(fileobj=uncompressed, mode="w|",
                                      format=tarfile.PAX_FORMAT) as tar:
                        for directory in _parent_dirs(file_name):
                            entry = tarfile.TarInfo(directory)
                            entry.type = tarfile.DIRTYPE
                            entry.mode = 0o755
                            entry.mtime = _FIXED_MTIME
                            tar.addfile(entry)
                        entry = tarfile.TarInfo(file_name)
                        entry.size = size
                        entry.mode = 0o644
                        entry.mtime = _FIXED_MTIME
                        tar.addfile(entry, _RandomStream(size, rng))
            os.chmod(temp_name, 0o644)
            os.replace(temp_name, self.blob_path(compressed.digest))
        except BaseException:
            if os.path.exists(temp_name):
                os.unlink(temp_name)
            raise
        return LayerInfo(digest=compressed.digest, size=compressed.size,
                         diff_id=uncompressed.digest, media_type=OCI_LAYER_GZIP)

    def index(self) -> dict:
        """Return the parsed ``index.json``."""
        return json.loads(self.index_path.read_text())

    def tags(self) -> list[str]:
        """Return the tags (``ref.name`` annotations) in ``index.json``."""
        annotations = (entry.get("annotations", {}) for entry in self.index()["manifests"])
        return [names[REF_NAME_ANNOTATION] for names in annotations if REF_NAME_ANNOTATION in names]

    def set_tag(self, tag: str, descriptor: Mapping[str, object]) -> None:
        """Point ``tag`` at ``descriptor`` in ``index.json``, replacing any old entry."""
        entries = [entry for entry in self.index()["manifests"]
                   if entry.get("annotations", {}).get(REF_NAME_ANNOTATION) != tag]
        entry = {key: descriptor[key] for key in ("mediaType", "digest", "size")}
        entry["annotations"] = {REF_NAME_ANNOTATION: tag}
        entries.append(entry)
        self._write_index(entries)

    def _write_index(self, entries: list[dict]) -> None:
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
        self.index_path.write_text(json.dumps(index, indent=2) + "\n")


def _parent_dirs(file_name: str) -> list[str]:
    """Return the parent directories of a relative path, outermost first."""
    parts = file_name.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _as_layout(path: str | os.PathLike | OCILayout) -> OCILayout:
    return path if isinstance(path, OCILayout) else OCILayout(path)


# --------------------------------------------------------------------------
# Image builders


def _write_image(
    layout: OCILayout,
    *,
    media: str,
    layers: int,
    layer_size: int,
    foreign_layer_url: str | Sequence[str] | None,
    rng: random.Random | None,
    platform: Mapping[str, str],
    annotations: Mapping[str, str] | None,
    tag: str | None,
) -> ImageInfo:
    """Write the blobs and manifest of one single-platform image."""
    manifest_type, _, config_type, layer_type, foreign_type = _MEDIA_TYPES[media]
    layer_infos: list[LayerInfo] = []
    history = []
    for number in range(layers):
        layer = layout.add_random_layer(layer_size, rng, f"layer{number}/data.bin")
        layer.media_type = layer_type
        layer_infos.append(layer)
        history.append({"created": _CREATED,
                        "created_by": f"images.py: layer {number}, {layer_size} random bytes"})

    if foreign_layer_url is not None:
        layer = layout.add_random_layer(layer_size, rng, "foreign/data.bin")
        blob_path = layout.blob_path(layer.digest)
        content = blob_path.read_bytes()
        blob_path.unlink()  # never pushed by clients, so keep it out of the layout
        if isinstance(foreign_layer_url, str):
            foreign_layer_url = [foreign_layer_url]
        layer.media_type = foreign_type
        layer.urls = [url.format(digest=layer.digest, hex=digest_hex(layer.digest))
                      for url in foreign_layer_url]
        layer.content = content
        layer_infos.append(layer)
        history.append({"created": _CREATED, "created_by": "images.py: foreign layer"})

    nonce = (rng.randbytes(8) if rng is not None else os.urandom(8)).hex()
    config: dict[str, object] = {
        "created": _CREATED,
        "architecture": platform["architecture"],
        "os": platform["os"],
    }
    if "variant" in platform:
        config["variant"] = platform["variant"]
    config["config"] = {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Labels": {"org.pulp-registry.test.nonce": nonce},
    }
    config["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in layer_infos]}
    config["history"] = history
    config_digest, config_size = layout.add_blob(canonical_json(config))

    manifest = make_manifest(
        config_digest, config_size, [layer.descriptor() for layer in layer_infos],
        media_type=manifest_type, annotations=annotations, config_media_type=config_type,
    )
    manifest_digest, _ = layout.add_blob(manifest)
    return ImageInfo(
        digest=manifest_digest, manifest=manifest, media_type=manifest_type, tag=tag,
        layout_path=layout.path, config_digest=config_digest, config_size=config_size,
        layers=layer_infos, platform=dict(platform),
    )


def _check_media(media: str) -> None:
    if media not in _MEDIA_TYPES:
        raise ValueError(f"media must be 'oci' or 'docker', got {media!r}")


def build_image(
    path: str | os.PathLike | OCILayout,
    *,
    tag: str = "latest",
    layers: int = 1,
    layer_size: int = 1024,
    media: str = "oci",
    foreign_layer_url: str | Sequence[str] | None = None,
    seed: int | None = None,
    platform: str | Mapping[str, str] = "linux/amd64",
    annotations: Mapping[str, str] | None = None,
) -> ImageInfo:
    """Build a single-platform image into an OCI layout and tag it there.

    Args:
        path: The layout directory (created if needed) or an :class:`OCILayout`.
        tag: Tag in the layout's ``index.json``.
        layers: Number of random layers.
        layer_size: Random bytes per layer (before tar and gzip).
        media: ``"oci"`` or ``"docker"`` (Docker schema 2 media types).
        foreign_layer_url: If given, append a foreign (non-distributable)
            layer whose descriptor carries this URL (or these URLs);
            ``{digest}`` and ``{hex}`` in it are replaced by the layer's digest.
            Its blob is not stored in the layout, so clients never push it; the
            bytes are in ``LayerInfo.content``.
        seed: Seed for reproducible bytes; fresh random content if None.
        platform: ``"os/arch[/variant]"`` or a platform mapping.
        annotations: Manifest annotations.

    Returns:
        The written image.
    """
    _check_media(media)
    layout = _as_layout(path)
    rng = random.Random(seed) if seed is not None else None
    image = _write_image(
        layout, media=media, layers=layers, layer_size=layer_size,
        foreign_layer_url=foreign_layer_url, rng=rng, platform=parse_platform(platform),
        annotations=annotations, tag=tag,
    )
    layout.set_tag(tag, image.descriptor())
    return image


def build_index(
    path: str | os.PathLike | OCILayout,
    *,
    tag: str = "latest",
    platforms: Sequence[str | Mapping[str, str]] = DEFAULT_PLATFORMS,
    media: str = "oci",
    layers: int = 1,
    layer_size: int = 1024,
    foreign_layer_url: str | Sequence[str] | None = None,
    seed: int | None = None,
    annotations: Mapping[str, str] | None = None,
) -> ImageInfo:
    """Build an OCI index or Docker manifest list with one image per platform.

    Args:
        path: The layout directory (created if needed) or an :class:`OCILayout`.
        tag: Tag of the index in the layout's ``index.json``.
        platforms: One ``"os/arch[/variant]"`` string or mapping per image.
        media: ``"oci"`` (OCI index) or ``"docker"`` (manifest list).
        layers: Number of random layers per image.
        layer_size: Random bytes per layer.
        foreign_layer_url: As for :func:`build_image`, for every image.
        seed: Seed for reproducible bytes; fresh random content if None.
        annotations: Index annotations.

    Returns:
        The index, with its images in ``children``.
    """
    _check_media(media)
    layout = _as_layout(path)
    rng = random.Random(seed) if seed is not None else None
    children = [
        _write_image(
            layout, media=media, layers=layers, layer_size=layer_size,
            foreign_layer_url=foreign_layer_url, rng=rng, platform=parse_platform(platform),
            annotations=None, tag=None,
        )
        for platform in platforms
    ]
    index_type = _MEDIA_TYPES[media][1]
    index = make_index(children, media_type=index_type, annotations=annotations)
    index_digest, _ = layout.add_blob(index)
    info = ImageInfo(digest=index_digest, manifest=index, media_type=index_type, tag=tag,
                     layout_path=layout.path, children=children)
    layout.set_tag(tag, info.descriptor())
    return info


# --------------------------------------------------------------------------
# Other on-disk forms


def write_dir_layout(image: ImageInfo, dirpath: str | os.PathLike) -> Path:
    """Write the containers-image ``dir:`` layout of an image or index.

    This is what ``skopeo copy [--all] oci:X dir:Y`` writes (checked with
    skopeo 1.9): a ``version`` file, ``manifest.json`` holding the exact
    top-level manifest bytes, each child manifest of a list as
    ``<hex>.manifest.json``, and every blob as ``<hex>``. Foreign layers are
    left out. ``skopeo copy [--all] dir:Y docker://...`` pushes the manifests
    unchanged, Docker media types included.

    Args:
        image: The image or index (its blobs are read from its layout).
        dirpath: Target directory; replaced if it exists.

    Returns:
        The directory, for use as ``f"dir:{path}"``.
    """
    target = Path(dirpath)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    layout = OCILayout(image.layout_path)
    (target / "version").write_text(DIR_TRANSPORT_VERSION)
    (target / "manifest.json").write_bytes(image.manifest)
    for child in image.children:
        (target / f"{digest_hex(child.digest)}.manifest.json").write_bytes(child.manifest)
    for digest in image.blob_digests():
        shutil.copyfile(layout.blob_path(digest), target / digest_hex(digest))
    return target


def write_oci_archive(source: str | os.PathLike | OCILayout | ImageInfo,
                      tarpath: str | os.PathLike) -> Path:
    """Write an ``oci-archive`` tarball (an OCI layout in a tar).

    ``podman load -i`` accepts only archives whose ``index.json`` has one
    entry, and only for a single-platform image: pass the ImageInfo to get
    an archive of just that image (under its tag).

    Args:
        source: An image (archive holds it alone), or a layout or its
            directory (archive holds the whole layout, every tag).
        tarpath: The tarball to write.

    Returns:
        The tarball path.
    """
    if isinstance(source, ImageInfo):
        layout = OCILayout(source.layout_path)
        entry = source.descriptor()
        if source.tag is not None:
            entry["annotations"] = {REF_NAME_ANNOTATION: source.tag}
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]}
        digests = [image.digest for image in source.manifests()] + source.blob_digests()
    else:
        layout = source if isinstance(source, OCILayout) else OCILayout(source)
        index = layout.index()
        digests = sorted("sha256:" + blob.name for blob in layout.blob_dir.iterdir()
                         if not blob.name.startswith("."))
    with tarfile.open(tarpath, "w") as tar:
        _add_tar_member(tar, "oci-layout", json.dumps(
            {"imageLayoutVersion": OCI_LAYOUT_VERSION}).encode())
        _add_tar_member(tar, "index.json", json.dumps(index).encode())
        for digest in digests:
            tar.add(layout.blob_path(digest), arcname=f"blobs/sha256/{digest_hex(digest)}")
    return Path(tarpath)


def write_docker_archive(image: ImageInfo, tarpath: str | os.PathLike,
                         repo_tag: str | None = None) -> Path:
    """Write a ``docker save`` style tarball of a single-platform image.

    The archive holds the config as ``<hex>.json``, each layer uncompressed
    as ``<diff_id hex>/layer.tar``, and ``manifest.json``. Foreign layers are
    included, from ``LayerInfo.content``. Loading it gives the same config
    (so the same image ID), but clients recompress the layers on push, so the
    pushed layer and manifest digests differ from ``image``'s.

    Args:
        image: A single-platform image (not an index).
        tarpath: The tarball to write.
        repo_tag: Name to load the image as, e.g. ``localhost/test/img:latest``.

    Returns:
        The tarball path.
    """
    if image.is_index:
        raise ValueError("a docker-archive holds single-platform images only")
    layout = OCILayout(image.layout_path)
    config_name = f"{digest_hex(image.config_digest)}.json"
    layer_names = []
    with tarfile.open(tarpath, "w") as tar:
        _add_tar_member(tar, config_name, layout.read_blob(image.config_digest))
        for layer in image.layers:
            compressed = layer.content if layer.foreign else layout.read_blob(layer.digest)
            name = f"{digest_hex(layer.diff_id)}/layer.tar"
            if name not in layer_names:
                _add_tar_member(tar, name, gzip.decompress(compressed))
                layer_names.append(name)
        entry = {"Config": config_name, "RepoTags": [repo_tag] if repo_tag else [],
                 "Layers": [f"{digest_hex(layer.diff_id)}/layer.tar" for layer in image.layers]}
        _add_tar_member(tar, "manifest.json", json.dumps([entry]).encode())
    return Path(tarpath)


def _add_tar_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    """Add a regular file with fixed metadata to ``tar``."""
    member = tarfile.TarInfo(name)
    member.size = len(data)
    member.mode = 0o644
    member.mtime = _FIXED_MTIME
    tar.addfile(member, io.BytesIO(data))


def iter_blobs(image: ImageInfo) -> Iterator[tuple[str, bytes]]:
    """Yield ``(digest, bytes)`` of every pushed blob of an image or index.

    Useful for pushing an image by hand over HTTP: blobs first, then each
    child manifest, then ``image.manifest``.
    """
    layout = OCILayout(image.layout_path)
    for digest in image.blob_digests():
        yield digest, layout.read_blob(digest)
