"""What the registry's management commands share: progress lines, ``--json`` output and
error handling (a clear message and a non-zero exit code, never a traceback)."""

import json

from django.core.management.base import BaseCommand, CommandError


class RegistryCommand(BaseCommand):
    """Base class of the ``registry-*`` commands.

    Subclasses implement :meth:`run` and call :meth:`progress` for progress lines. With
    ``--json`` (when the command offers it), progress goes to stderr and the result, as JSON,
    to stdout.
    """

    json_option = False
    _json = False

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        if self.json_option:
            parser.add_argument(
                "--json",
                action="store_true",
                help="Print the result as JSON on stdout (progress goes to stderr).",
            )
        return parser

    def progress(self, line):
        """Print a progress line (to stderr when the result goes to stdout as JSON)."""
        stream = self.stderr if self._json else self.stdout
        stream.write(line)
        stream.flush()

    def emit_json(self, data):
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))

    def handle(self, *args, **options):
        self._json = bool(options.get("json"))
        try:
            self.run(**options)
        except CommandError:
            raise
        except KeyboardInterrupt:
            raise CommandError("interrupted", returncode=130)
        except Exception as error:  # a failure is reported in one line, not as a traceback
            if options.get("traceback"):
                raise
            raise CommandError(f"{type(error).__name__}: {error}")

    def run(self, **options):
        raise NotImplementedError


def fail(message, returncode=1):
    """Stop the command with ``message`` on stderr and ``returncode``."""
    raise CommandError(message, returncode=returncode)


def human_bytes(count):
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} bytes"


__all__ = ["RegistryCommand", "fail", "human_bytes"]
