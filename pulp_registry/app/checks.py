"""Start-up checks of the registry's settings.

* A Django system check (``registry.E001``/``registry.W001``) reports broken token settings to
  ``pulpcore-manager check``, ``migrate`` and every other management command that runs checks.
* :func:`fail_fast_in_api_server` stops an API server process at boot when token
  authentication is misconfigured (missing or unreadable key, a key that does not suit
  ``TOKEN_SIGNATURE_ALGORITHM``, a bad ``TOKEN_EXPIRATION_TIME`` or ``TOKEN_SERVER``), so the
  problem shows at start-up and not as a failed login.
"""

import sys

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.exceptions import ImproperlyConfigured

from pulp_registry.app.token.keys import CLIENT_MINIMUM_LIFETIME, check_token_settings

# gunicorn worker classes that serve the Django API: pulpcore-api's (a sync worker) and the
# launcher's (a gthread worker). The content app's aiohttp worker and the task workers import
# neither, so they start even when only the token settings are broken.
_API_WORKER_MODULES = ("gunicorn.workers.sync", "gunicorn.workers.gthread")


@register("registry")
def token_settings_check(app_configs, **kwargs):
    """Django system check of the token-authentication settings.

    Returns:
        list: ``registry.E001`` when token authentication cannot work, ``registry.W001`` when
        tokens live shorter than clients assume.
    """
    try:
        check_token_settings()
    except ImproperlyConfigured as error:
        return [
            Error(
                f"token authentication is misconfigured: {error}",
                hint="Fix the setting, or set TOKEN_AUTH_DISABLED = True to use HTTP Basic "
                "authentication (only staff users may then push). See docs/authentication.md.",
                id="registry.E001",
            )
        ]
    if (
        not settings.TOKEN_AUTH_DISABLED
        and int(settings.TOKEN_EXPIRATION_TIME) < CLIENT_MINIMUM_LIFETIME
    ):
        return [
            Warning(
                f"TOKEN_EXPIRATION_TIME is {settings.TOKEN_EXPIRATION_TIME} s, but clients "
                f"(podman, skopeo, docker) keep using a token for at least "
                f"{CLIENT_MINIMUM_LIFETIME} s and then fail with 401 errors",
                hint=f"Use {CLIENT_MINIMUM_LIFETIME} or more (default 300).",
                id="registry.W001",
            )
        ]
    return []


def running_api_server():
    """Whether this process is a gunicorn worker of the API server."""
    return any(module in sys.modules for module in _API_WORKER_MODULES)


def fail_fast_in_api_server():
    """Refuse to boot an API server whose token settings are broken.

    Raises:
        ImproperlyConfigured: in an API server process, with the reason; gunicorn then reports
            "Worker failed to boot" and stops.
    """
    if running_api_server():
        try:
            check_token_settings()
        except ImproperlyConfigured as error:
            raise ImproperlyConfigured(
                f"token authentication is misconfigured: {error} (see docs/authentication.md; "
                "TOKEN_AUTH_DISABLED = True switches to HTTP Basic authentication)"
            ) from None
