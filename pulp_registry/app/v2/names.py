"""The grammar of repository names, tags and digests in /v2/ URLs."""

import re

from pulp_registry.app.v2.errors import NameInvalid

NAME_MAX_LENGTH = 255
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
NAME_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
TAG_RE = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
DIGEST_RE = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
SUPPORTED_DIGESTS = {"sha256": 64, "sha512": 128}


def validate_name(name):
    """Check a repository name against the spec's grammar.

    Args:
        name: the ``<name>`` part of a /v2/ URL.

    Raises:
        NameInvalid: when the name does not follow the grammar or is too long.
    """
    if len(name) > NAME_MAX_LENGTH:
        raise NameInvalid(
            {"name": name[:64] + "..."},
            message=f"repository name is longer than {NAME_MAX_LENGTH} characters",
        )
    if not NAME_RE.match(name):
        raise NameInvalid({"name": name}, message=f"invalid repository name: {name!r}")


def namespace_of(name):
    """The namespace (first path segment) of a repository name."""
    return name.split("/", 1)[0]


def is_tag(reference):
    """True when a manifest reference is a tag (not a digest)."""
    return bool(TAG_RE.match(reference))


def is_digest(reference):
    """True when a reference has the shape of a digest (``algorithm:encoded``)."""
    return ":" in reference and bool(DIGEST_RE.match(reference))


def parse_digest(digest):
    """Split a digest that the registry can verify into its algorithm and hex value.

    Args:
        digest: ``sha256:<64 hex>`` or ``sha512:<128 hex>``.

    Returns:
        tuple[str, str]: the algorithm and the lower-case hex value.

    Raises:
        ValueError: when the digest is malformed or its algorithm unsupported.
    """
    algorithm, _, value = digest.partition(":")
    length = SUPPORTED_DIGESTS.get(algorithm)
    if length is None:
        raise ValueError(f"unsupported digest algorithm: {algorithm!r}")
    if len(value) != length or not re.fullmatch(r"[a-f0-9]+", value):
        raise ValueError(f"malformed {algorithm} digest: {digest!r}")
    return algorithm, value
