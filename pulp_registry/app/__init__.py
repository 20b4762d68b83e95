"""The Django application that pulpcore loads for this plugin (app label ``registry``)."""

from pulpcore.plugin import PulpPluginAppConfig


class PulpRegistryPluginAppConfig(PulpPluginAppConfig):
    """Entry point for the pulp_registry plugin."""

    name = "pulp_registry.app"
    label = "registry"
    version = "0.1.0.dev"
    python_package_name = "pulp-registry"
    domain_compatible = False

    def ready(self):
        """Register the start-up checks and stop an API server whose token settings are
        broken (see :mod:`pulp_registry.app.checks`)."""
        super().ready()
        from pulp_registry.app import checks

        checks.fail_fast_in_api_server()
