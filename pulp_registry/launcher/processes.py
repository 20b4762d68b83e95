"""Child processes of the registry: started in their own process group, logged to a file.

Each process gets its own session, so a Ctrl-C in the terminal reaches only the launcher,
which then stops the children in order (servers first, the database last). Each child
also asks the kernel to send it SIGTERM should the launcher die without cleaning up,
so no server outlives it.
"""

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Mapping, Optional, Sequence

_PR_SET_PDEATHSIG = 1

try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux: no parent-death signal
    _prctl = None


def _die_with_parent(sig: int):
    """Return a preexec function that makes the child get ``sig`` when its parent exits."""
    if _prctl is None:
        return None

    def preexec():
        # Runs in the child between fork and exec: a plain C call, no Python locks.
        _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)

    return preexec


def tail(path: Path, lines: int = 15, start: int = 0) -> str:
    """Return the last lines of a log file, read from byte offset ``start`` on.

    Args:
        path: The log file.
        lines: How many lines at most.
        start: Offset where the part of interest begins (e.g. where this run began).

    Returns:
        str: the lines, or an empty string when there is no such file.
    """
    try:
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:])


class ManagedProcess:
    """One long-running child process of the registry.

    Args:
        name: Short name, also the log file's stem (``logs/<name>.log``).
        argv: Command line.
        env: Environment of the child.
        log_path: File its stdout and stderr are appended to.
        stop_signal: Signal asking it to shut down cleanly.
        user: ``(uid, gid)`` to run as (only when the launcher runs as root).
        cwd: Working directory.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        stop_signal: int = signal.SIGTERM,
        user: Optional[tuple] = None,
        cwd: Optional[Path] = None,
    ):
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.user = user
        self.cwd = cwd
        self.popen: Optional[subprocess.Popen] = None
        self._log_start = 0

    def start(self) -> None:
        """Start the process, appending its output to its log file."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(
                f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: "
                f"{' '.join(self.argv)}\n".encode()
            )
            log.flush()
            self._log_start = log.tell()
            extra = {}
            if self.user is not None:
                extra = {"user": self.user[0], "group": self.user[1], "extra_groups": []}
            self.popen = subprocess.Popen(
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent(self.stop_signal),
                **extra,
            )

    @property
    def pid(self) -> Optional[int]:
        """Process id, or None before start."""
        return self.popen.pid if self.popen else None

    def alive(self) -> bool:
        """Whether the process was started and has not exited."""
        return self.popen is not None and self.popen.poll() is None

    def returncode(self) -> Optional[int]:
        """Exit status, or None while running or before start."""
        return self.popen.poll() if self.popen else None

    def log_tail(self, lines: int = 15) -> str:
        """Return the last lines this run wrote to its log."""
        return tail(self.log_path, lines, self._log_start)

    def request_stop(self) -> None:
        """Send the stop signal to the process group, without waiting."""
        if self.alive():
            self._signal_group(self.stop_signal)

    def wait_stopped(self, deadline: float) -> None:
        """Wait until the process exits or ``deadline`` (monotonic) passes; then kill it.

        Args:
            deadline: ``time.monotonic()`` value after which the group is killed.
        """
        if self.popen is None:
            return
        try:
            self.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait()
        # Helpers the process left behind in its group (e.g. gunicorn workers) go too.
        self._signal_group(signal.SIGKILL)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and, for SIGKILL, wait until it is gone.

        With the default SIGKILL this is a crash, not a shutdown: the process and its helpers
        (gunicorn workers, the worker's task process) get no chance to clean up.

        Args:
            sig: The signal.
        """
        if self.popen is None:
            return
        self._signal_group(sig)
        if sig == signal.SIGKILL:
            self.popen.wait()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the process to stop and wait for it (killing it after ``timeout`` seconds)."""
        self.request_stop()
        self.wait_stopped(time.monotonic() + timeout)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.popen.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass
