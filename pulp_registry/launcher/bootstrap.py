"""Prepares the database before the servers start: migrations and the ``admin`` user.

Run by the launcher as ``python -m pulp_registry.launcher.bootstrap`` with the registry's
environment (``PULP_SETTINGS`` set). Doing both steps in one process saves a Django start
per launch. The admin password comes in the ``PULP_REGISTRY_BOOTSTRAP_ADMIN_PASSWORD``
environment variable rather than on the command line, where other users could see it.
"""

import os
import sys

PASSWORD_VARIABLE = "PULP_REGISTRY_BOOTSTRAP_ADMIN_PASSWORD"


def main() -> int:
    """Apply migrations, then create ``admin`` if missing and set its password.

    Returns:
        int: the exit status.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulpcore.app.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1)
    password = os.environ.get(PASSWORD_VARIABLE)
    if password:
        user_model = get_user_model()
        admin, created = user_model.objects.get_or_create(
            username="admin", defaults={"is_superuser": True, "is_staff": True}
        )
        admin.is_superuser = admin.is_staff = admin.is_active = True
        admin.set_password(password)
        admin.save()
        print("created the admin user" if created else "updated the admin user")
    return 0


if __name__ == "__main__":
    sys.exit(main())
