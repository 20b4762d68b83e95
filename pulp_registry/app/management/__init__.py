"""Management commands of the registry (``pulpcore-manager registry-*``)."""
