"""pulp_registry: an OCI / Docker container registry built as a pulpcore plugin."""

default_app_config = "pulp_registry.app.PulpRegistryPluginAppConfig"
