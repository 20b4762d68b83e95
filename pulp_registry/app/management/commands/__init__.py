"""``pulpcore-manager`` commands: registry-gc, registry-verify, registry-import, registry-keys
and registry-stats."""
