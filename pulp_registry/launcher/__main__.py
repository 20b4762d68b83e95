"""The ``pulp-registry`` command: ``run`` a local registry, or help with one.

Subcommands:

* ``run`` starts the registry in the foreground until Ctrl-C or SIGTERM.
* ``settings`` prints the path of the generated pulpcore settings file.
* ``manage ARGS...`` runs ``pulpcore-manager`` with that settings file; when the registry
  is not running, its database is made available for the time of the command.

Configuration comes from ``PULP_REGISTRY_*`` environment variables (see ``config``).
"""

import argparse
import os
import signal
import sys
import time
from typing import List, Optional

from pulp_registry.launcher.config import LauncherConfig
from pulp_registry.launcher.errors import LauncherError
from pulp_registry.launcher.registry import Registry, find_script


class _Stop(BaseException):
    """Raised in the main thread by SIGTERM, like KeyboardInterrupt is by SIGINT."""


def _on_sigterm(signum, frame):
    raise _Stop()


def _print_error(error: LauncherError) -> None:
    if error.details:
        print("\n".join("    " + line for line in error.details.splitlines()), file=sys.stderr)
    print(f"pulp-registry: error: {error}", file=sys.stderr, flush=True)


def _banner(registry: Registry) -> str:
    password_line = (
        f"  password : {registry.admin_password}  (new; saved in {registry.admin_password_file})"
        if registry.admin_password_generated
        else f"  password : in {registry.admin_password_file}"
    )
    login_password = (
        registry.admin_password
        if registry.admin_password_generated
        else f"\"$(cat {registry.admin_password_file})\""
    )
    return f"""
pulp-registry is ready.
  registry : {registry.url}/v2/   (push/pull as {registry.host_port}/NAME:TAG)
  API      : {registry.url}/pulp/api/v3/
  content  : {registry.content_url}/pulp/content/
  data     : {registry.data_dir}  (logs in {registry.logs_dir})
  user     : admin
{password_line}

Log in and push (plain HTTP, so --tls-verify=false):
  podman login --tls-verify=false -u admin -p {login_password} {registry.host_port}
  podman push --tls-verify=false IMAGE {registry.host_port}/myimage:latest

Press Ctrl-C to stop.
"""


def run(config: LauncherConfig) -> int:
    """Start the registry described by ``config`` and keep it running until stopped.

    Args:
        config: Where and how to run.

    Returns:
        int: the process exit status (0 after Ctrl-C/SIGTERM, 1 when PostgreSQL died).
    """
    # Set SIGINT explicitly too: a shell starts background jobs with it ignored, and
    # Python then never raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_sigterm)
    registry = _registry(config)
    try:
        registry.start()
        print(_banner(registry), flush=True)
        while True:
            # A server that exits (e.g. when the database restarts) is started again; only
            # the embedded PostgreSQL exiting ends the launcher.
            registry.revive()
            time.sleep(1)
    except (KeyboardInterrupt, _Stop):
        print("\npulp-registry: stopping", file=sys.stderr, flush=True)
        # A second Ctrl-C must not interrupt the orderly shutdown half-way.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        registry.stop()
        return 0
    finally:
        registry.stop()


def _registry(config: LauncherConfig, **kwargs) -> Registry:
    return Registry(
        config.data_dir,
        config.host,
        config.port,
        config.content_port,
        database_url=config.database_url,
        admin_password=config.admin_password,
        extra_settings=config.extra_settings,
        user_settings_file=config.user_settings_file,
        api_workers=config.api_workers,
        api_threads=config.api_threads,
        **kwargs,
    )


def manage(config: LauncherConfig, args: List[str]) -> int:
    """Run ``pulpcore-manager ARGS`` against the registry of ``config``.

    While the registry runs, the command simply uses its settings file. When it does not
    run, the database is prepared as for a start (the embedded PostgreSQL is started,
    migrations applied) for the time of the command, and stopped again.

    Args:
        config: Which registry.
        args: Arguments for pulpcore-manager.

    Returns:
        int: the command's exit status.
    """
    registry = _registry(config, notify=lambda message: None)
    if registry.is_running():
        env = registry.child_env()
        manager = find_script("pulpcore-manager")
        os.execve(manager, [manager, *args], env)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        registry.prepare()
        return registry.manage(*args, check=False, capture=False).returncode
    except (KeyboardInterrupt, _Stop):
        return 130
    finally:
        registry.stop()


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``pulp-registry`` console script.

    Args:
        argv: Arguments (without the program name); defaults to ``sys.argv[1:]``.

    Returns:
        int: the exit status.
    """
    parser = argparse.ArgumentParser(
        prog="pulp-registry",
        description="Run a local pulp_registry container registry. "
        "Configure with PULP_REGISTRY_HOST, PULP_REGISTRY_PORT, PULP_REGISTRY_CONTENT_PORT, "
        "PULP_REGISTRY_DATA, PULP_REGISTRY_ADMIN_PASSWORD, PULP_REGISTRY_DATABASE_URL, "
        "PULP_REGISTRY_API_WORKERS, PULP_REGISTRY_API_THREADS "
        "and PULP_SETTINGS.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="start the registry in the foreground")
    commands.add_parser("settings", help="print the path of the generated settings file")
    manage_parser = commands.add_parser(
        "manage", help="run pulpcore-manager with the registry's settings"
    )
    manage_parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args(argv)
    try:
        config = LauncherConfig.from_env()
        if options.command == "run":
            return run(config)
        settings_path = config.data_dir / "settings.py"
        if options.command == "settings":
            print(settings_path)
            return 0
        return manage(config, options.args)
    except LauncherError as error:
        _print_error(error)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
