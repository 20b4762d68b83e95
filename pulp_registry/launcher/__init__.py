"""Runs a complete registry locally: the code behind ``make run`` and the functional tests.

``pulp-registry run`` starts PostgreSQL (embedded, or an existing one), applies
migrations, makes the ``admin`` user, and starts pulpcore's API server (with this plugin's
``/v2/`` and ``/token/``), its content app and a task worker. :class:`Registry` does the
same from Python.
"""

from pulp_registry.launcher.config import LauncherConfig
from pulp_registry.launcher.errors import LauncherError
from pulp_registry.launcher.registry import Registry

__all__ = ["LauncherConfig", "LauncherError", "Registry"]
