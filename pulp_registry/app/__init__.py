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
        """Register the start-up checks, stop an API server whose token settings are
        broken (see :mod:`pulp_registry.app.checks`), and schedule the expiry of abandoned
        uploads after migrations."""
        super().ready()
        from django.db.models.signals import post_migrate

        from pulp_registry.app import checks
        from pulp_registry.app.tasks.gc import configure_upload_expiry

        checks.fail_fast_in_api_server()
        # Every start migrates, so the schedule of upload expiry follows the setting.
        post_migrate.connect(configure_upload_expiry, sender=self)
