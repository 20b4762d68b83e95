"""Parsing and formatting of token scopes (``repository:<name>:<actions>``)."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scope:
    """One requested or granted access: a resource and the actions on it.

    Attributes:
        type: ``repository`` or ``registry``.
        name: the resource name, e.g. ``test/this`` or ``catalog``.
        actions: the actions, e.g. ``{"pull", "push"}``.
    """

    type: str
    name: str
    actions: frozenset = field(default_factory=frozenset)

    def __str__(self):
        return f"{self.type}:{self.name}:{','.join(sorted(self.actions))}"

    def as_claim(self):
        """This scope as an entry of a JWT's ``access`` claim."""
        return {"type": self.type, "name": self.name, "actions": sorted(self.actions)}


def parse_scope(text):
    """Parse one scope string.

    The resource type may carry a class (``repository(plugin)``) and the name may contain a
    colon (a registry host with a port), so the actions are taken after the last colon.

    Args:
        text: e.g. ``repository:test/this:pull,push``.

    Returns:
        Scope | None: the scope, or None when the text is not a scope.
    """
    resource_type, sep, rest = text.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not name:
        return None
    resource_type = resource_type.split("(", 1)[0]
    return Scope(resource_type, name, frozenset(a for a in actions.split(",") if a))


def parse_scopes(values):
    """Parse the ``scope`` query parameters of a token request (repeatable, and a value may
    hold several space-separated scopes)."""
    scopes = []
    for value in values:
        for text in value.split():
            scope = parse_scope(text)
            if scope is not None:
                scopes.append(scope)
    return scopes
