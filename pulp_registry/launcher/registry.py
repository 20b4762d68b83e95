"""Starting and stopping a whole registry: database, API server, content app and worker.

:class:`Registry` is what ``pulp-registry run`` (and so ``make run``) uses, and what the
functional tests use, so tests exercise exactly the processes a user gets. One data
directory holds everything of a registry; a second start on it resumes where the first
one stopped.
"""

import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Mapping, Optional

from pulp_registry.launcher import secrets_store
from pulp_registry.launcher.bootstrap import PASSWORD_VARIABLE
from pulp_registry.launcher.database import (
    EmbeddedPostgres,
    describe,
    ensure_database,
    parse_database_url,
)
from pulp_registry.launcher.errors import LauncherError
from pulp_registry.launcher.processes import ManagedProcess, tail
from pulp_registry.launcher.settings_file import (
    DatabaseParams,
    render_settings,
    url_host,
    write_settings,
)

API_WORKER_CLASS = "pulp_registry.launcher.gunicorn_worker.RegistryApiWorker"
API_APPLICATION = "pulp_registry.launcher.wsgi:application"
_WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}
# Seconds a revived process must run before its restart delay starts again from 1 s.
_REVIVE_RESET_AFTER = 300.0


def _stderr(message: str) -> None:
    print(f"pulp-registry: {message}", file=sys.stderr, flush=True)


def find_script(name: str) -> str:
    """Find a console script of the environment the launcher runs in.

    Args:
        name: The script, e.g. ``pulpcore-manager``.

    Returns:
        str: its path.

    Raises:
        LauncherError: it is not installed.
    """
    # The venv's bin directory first: `make run` does not activate the venv.
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise LauncherError(f"{name} is not installed: run `make run` or `pip install -e .`")


def _require_module(module: str, package: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise LauncherError(f"{package} is not installed: run `make run` or `pip install -e .`")


def _listen_problem(host: str, port: int) -> Optional[str]:
    """Return why a server could not listen on ``host:port``, or None when it could."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # gunicorn sets SO_REUSEADDR too, so a port in TIME_WAIT is no obstacle.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host.strip("[]"), port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return "is already in use"
            return f"cannot be listened on ({error.strerror})"
    return None


class Registry:
    """A complete registry: PostgreSQL, gunicorn API server, content app and one worker.

    Args:
        data_dir: Directory for everything the registry keeps (created if missing).
        host: Address both servers listen on.
        port: Port of the API server (``/v2/``, ``/token/``, ``/pulp/api/v3/``).
        content_port: Port of pulpcore's content app.
        database_url: ``postgresql://user:password@host:port/name`` of an existing
            database (created if the server lacks it); None starts an embedded
            PostgreSQL in ``data_dir/postgres``.
        admin_password: Password for the ``admin`` user; None keeps the one in
            ``data_dir/admin-password``, generating it on first start.
        extra_settings: pulpcore settings added to the generated settings file.
        env: Environment for the processes (default ``os.environ``); ``PULP_*``
            variables in it act as pulpcore settings.
        user_settings_file: A settings file loaded after the generated one.
        api_workers: gunicorn worker processes of the API server.
        api_threads: Threads per API worker.
        content_workers: Worker processes of the content app.
        notify: Receives progress messages (default: printed to stderr).
        startup_timeout: Seconds to wait for the servers to answer.

    Attributes:
        url: ``http://host:port`` of the API server.
        host_port: ``host:port`` of the API server, as used in image names.
        content_url: ``http://host:content_port`` of the content app.
        admin_password: The admin password (known once :meth:`start` has run).
        admin_password_generated: Whether this start generated the admin password.
        settings_path: The generated pulpcore settings file.
        env: Environment the registry's processes run with (set by :meth:`start`).
    """

    def __init__(
        self,
        data_dir,
        host: str = "127.0.0.1",
        port: int = 24817,
        content_port: int = 24816,
        *,
        database_url: Optional[str] = None,
        admin_password: Optional[str] = None,
        extra_settings: Optional[Mapping[str, Any]] = None,
        env: Optional[Mapping[str, str]] = None,
        user_settings_file=None,
        api_workers: int = 2,
        api_threads: int = 8,
        content_workers: int = 2,
        notify: Optional[Callable[[str], None]] = None,
        startup_timeout: float = 300.0,
    ):
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = int(port)
        self.content_port = int(content_port)
        self.database_url = database_url
        self.admin_password = admin_password
        self._admin_password_given = admin_password is not None
        self.admin_password_generated = False
        self.extra_settings = dict(extra_settings or {})
        self._base_env = dict(os.environ if env is None else env)
        self.user_settings_file = Path(user_settings_file).absolute() if user_settings_file else None
        self.api_workers = api_workers
        self.api_threads = api_threads
        self.content_workers = content_workers
        self.notify = notify or _stderr
        self.startup_timeout = startup_timeout

        self.client_host = self._client_host(host)
        self.url = f"http://{url_host(self.client_host)}:{self.port}"
        self.host_port = f"{url_host(self.client_host)}:{self.port}"
        self.content_url = f"http://{url_host(self.client_host)}:{self.content_port}"

        self.settings_path = self.data_dir / "settings.py"
        self.logs_dir = self.data_dir / "logs"
        self.secrets_dir = self.data_dir / "secrets"
        self.keys_dir = self.data_dir / "keys"
        self.admin_password_file = self.data_dir / "admin-password"
        self.worker_pid_file = self.data_dir / "worker.pid"
        self.env: Optional[dict] = None
        self.database: Optional[DatabaseParams] = None

        self._lock_fd: Optional[int] = None
        self._postgres: Optional[EmbeddedPostgres] = None
        self._servers: List[ManagedProcess] = []
        self._started = False
        self._revivals: dict = {}

    # ----------------------------------------------------------------- public API

    def start(self) -> "Registry":
        """Start everything and return once the registry answers.

        Returns:
            Registry: self, for chaining.

        Raises:
            LauncherError: something prevents the start; whatever had been started is
                stopped again.
        """
        if self._started:
            return self
        try:
            self.prepare(check_ports=True)
            self._start_servers()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self._started = True
        return self

    def prepare(self, check_ports: bool = False) -> "Registry":
        """Do everything :meth:`start` does before the servers start, and no more.

        The data directory, secrets and settings file are made, the database is started
        (if embedded) and migrated, and the admin user is set. The embedded PostgreSQL
        stays up and the data directory locked until :meth:`stop`.

        Args:
            check_ports: Fail early if the API or content port is taken.

        Returns:
            Registry: self.

        Raises:
            LauncherError: as for :meth:`start`.
        """
        if self._lock_fd is None:
            self._lock()
        try:
            if check_ports:
                self._check_ports()
            self._check_dependencies()
            self._prepare_files()
            self.database = self._start_database()
            self._write_settings()
            self._bootstrap()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every process the registry started (servers first, database last).

        Safe to call more than once, and after a failed :meth:`start`.

        Args:
            timeout: Seconds each process gets to shut down before it is killed.
        """
        for process in self._servers:
            process.request_stop()
        deadline = time.monotonic() + timeout
        for process in self._servers:
            process.wait_stopped(deadline)
        self._servers = []
        if self._postgres is not None:
            self._postgres.stop(timeout)
            self._postgres = None
        self._unlock()
        self._started = False

    def manage(self, *args: str, check: bool = True, input: Optional[str] = None,
               timeout: Optional[float] = None, capture: bool = True) -> subprocess.CompletedProcess:
        """Run ``pulpcore-manager`` with the registry's settings.

        Args:
            *args: The command and its arguments, e.g. ``"shell", "-c", "print(1)"``.
            check: Raise when the command fails.
            input: Text sent to its standard input.
            timeout: Seconds after which it is killed.
            capture: Capture its output (else it goes to this process's stdout/stderr).

        Returns:
            subprocess.CompletedProcess: with ``stdout`` and ``stderr`` as text when captured.

        Raises:
            LauncherError: the registry's settings do not exist yet, or the command
                failed and ``check`` is set (the message ends with its last error line).
        """
        if self.env is None:
            raise LauncherError("the registry has not been started: no settings to manage with")
        result = subprocess.run(
            [find_script("pulpcore-manager"), *args], env=self.env, cwd=self.data_dir,
            input=input, capture_output=capture, text=True, timeout=timeout,
        )
        if check and result.returncode != 0:
            lines = (result.stderr or result.stdout or "").strip().splitlines() or ["no output"]
            raise LauncherError(
                f"pulpcore-manager {' '.join(args[:1])} failed: {lines[-1]}",
                details=(result.stderr or result.stdout or "").strip(),
            )
        return result

    def is_running(self) -> bool:
        """Return whether a launcher (this one or another process) runs on the data directory."""
        if self._lock_fd is not None:
            return True
        lock_path = self.data_dir / "launcher.lock"
        if not lock_path.exists():
            return False
        fd = os.open(lock_path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def child_env(self) -> dict:
        """Return the environment the registry's processes get (settings file included)."""
        env = {
            key: value
            for key, value in self._base_env.items()
            # Our own variables would turn into pulpcore settings through dynaconf's
            # PULP_ prefix (and one of them holds the admin password).
            if not key.startswith("PULP_REGISTRY_") and key != "PULP_SETTINGS"
        }
        settings_files = [str(self.settings_path)]
        if self.user_settings_file and self.user_settings_file != self.settings_path:
            settings_files.append(str(self.user_settings_file))
        env["PULP_SETTINGS"] = ",".join(settings_files)
        env["DJANGO_SETTINGS_MODULE"] = "pulpcore.app.settings"
        # Log lines reach the log files as they are written, not when a buffer fills.
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def session(self, username: str = "admin", password: Optional[str] = None):
        """Return a ``requests.Session`` that logs in to the API with HTTP Basic auth.

        Args:
            username: Who to log in as.
            password: Their password; defaults to the admin password for ``admin``.

        Returns:
            requests.Session: ignores proxy settings of the environment (the registry is local).
        """
        import requests

        session = requests.Session()
        session.trust_env = False
        if password is None and username == "admin":
            password = self.admin_password
        session.auth = (username, password)
        return session

    def failed_process(self) -> Optional[ManagedProcess]:
        """Return a process of the registry that has exited, or None while all run."""
        processes = list(self._servers)
        if self._postgres is not None and self._postgres.process is not None:
            processes.append(self._postgres.process)
        for process in processes:
            if not process.alive():
                return process
        return None

    def revive(self) -> List[str]:
        """Start again the server processes that have exited, with a growing back-off.

        pulpcore's worker and content app exit when their database connection breaks
        (the database restarted, or was unreachable for a moment); reviving them is what lets
        the registry recover when the database is back. A process that keeps exiting is
        started again after 1, 2, 4, ... up to 60 seconds; the delay resets once it has run
        for five minutes. ``pulp-registry run`` calls this every second.

        Returns:
            list[str]: the names of the processes started again by this call.

        Raises:
            LauncherError: the embedded PostgreSQL exited (it is not restarted here).
        """
        if self._postgres is not None and self._postgres.process is not None \
                and not self._postgres.process.alive():
            process = self._postgres.process
            raise LauncherError(
                f"{process.name} exited unexpectedly (status {process.returncode()}); "
                f"see {process.log_path}",
                details=process.log_tail(20),
            )
        now = time.monotonic()
        revived = []
        for process in self._servers:
            state = self._revivals.setdefault(process.name, {"next": 0.0, "delay": 1.0,
                                                             "since": now})
            if process.alive():
                if now - state["since"] > _REVIVE_RESET_AFTER:
                    state["delay"] = 1.0
                continue
            if now < state["next"]:
                continue
            self.notify(
                f"{process.name} exited with status {process.returncode()}; starting it "
                f"again (see {process.log_path})"
            )
            process.kill()  # helpers it left in its group
            if process.name == "worker":
                self._forget_dead_workers([process.pid])
            process.start()
            if process.name == "worker":
                self._record_worker_pid(process.pid)
            state.update(next=now + state["delay"], delay=min(state["delay"] * 2, 60.0),
                         since=now)
            revived.append(process.name)
        return revived

    @property
    def processes(self) -> List[ManagedProcess]:
        """The running server processes (API, content app, worker)."""
        return list(self._servers)

    def process(self, name: str) -> ManagedProcess:
        """Return the server process called ``name``: ``api``, ``content`` or ``worker``.

        Raises:
            LauncherError: the registry has no such process (or is not started).
        """
        for process in self._servers:
            if process.name == name:
                return process
        raise LauncherError(f"the registry has no running process called {name!r}")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Kill one server process and its helpers (by process group), as a crash would.

        Args:
            name: ``api``, ``content`` or ``worker``.
            sig: The signal; SIGKILL (the default) waits until the process is gone.
        """
        self.process(name).kill(sig)

    def restart(self, name: str) -> None:
        """Start a server process again (after :meth:`kill` or a crash) and wait until the
        registry answers again.

        A running process is stopped cleanly first. What a crashed one left behind goes:
        its helper processes, and for the worker its record in the database, so that the
        task it was running is failed and its repositories are free at once (pulpcore
        itself notices a vanished worker only many heartbeats later).

        Args:
            name: ``api``, ``content`` or ``worker``.

        Raises:
            LauncherError: it did not come back within the start-up timeout.
        """
        process = self.process(name)
        if process.alive():
            process.stop()
        else:
            process.kill()  # helpers a crashed process left in its group
            if name == "worker":
                self._forget_dead_workers([process.pid])
        process.start()
        if name == "worker":
            self._record_worker_pid(process.pid)
        self._wait_ready()

    def __enter__(self) -> "Registry":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # ------------------------------------------------------------------ the steps

    @staticmethod
    def _client_host(host: str) -> str:
        """The address to reach the servers at: a wildcard bind is reached on loopback."""
        if host in ("::", "[::]"):
            return "::1"
        if host in _WILDCARD_HOSTS:
            return "127.0.0.1"
        return host.strip("[]")

    def _public_host(self) -> str:
        """The host name to put in URLs given to clients."""
        if self.host in _WILDCARD_HOSTS:
            return socket.getfqdn()
        return self.host.strip("[]")

    def _lock(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.data_dir / "launcher.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LauncherError(f"another pulp-registry is already running on {self.data_dir}")
        self._lock_fd = fd

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def _check_ports(self) -> None:
        if self.port == self.content_port:
            raise LauncherError(
                f"the API and the content app cannot share port {self.port}: "
                "set PULP_REGISTRY_PORT and PULP_REGISTRY_CONTENT_PORT to different ports"
            )
        for port, what, variable in (
            (self.port, "API", "PULP_REGISTRY_PORT"),
            (self.content_port, "content app", "PULP_REGISTRY_CONTENT_PORT"),
        ):
            problem = _listen_problem(self.host, port)
            if problem:
                raise LauncherError(
                    f"port {port} on {self.host} ({what}) {problem}: stop what uses it "
                    f"or set {variable} to another port"
                )

    def _check_dependencies(self) -> None:
        _require_module("gunicorn", "gunicorn")
        _require_module("pulpcore", "pulpcore")
        _require_module("pulp_registry.app", "pulp-registry")
        for name in ("pulpcore-content", "pulpcore-worker", "pulpcore-manager"):
            find_script(name)
        if self.user_settings_file is not None and not self.user_settings_file.is_file():
            raise LauncherError(f"the settings file {self.user_settings_file} (PULP_SETTINGS) does not exist")

    def _prepare_files(self) -> None:
        for directory in ("media", "tmp", "tmp/uploads", "logs", "static"):
            (self.data_dir / directory).mkdir(parents=True, exist_ok=True)
        for private in (self.secrets_dir, self.keys_dir):
            private.mkdir(mode=0o700, exist_ok=True)
        secrets_store.ensure_token_keys(
            self.keys_dir / "token-private.pem", self.keys_dir / "token-public.pem"
        )
        secrets_store.read_or_create(
            self.secrets_dir / "database_fields.symmetric.key", secrets_store.new_fernet_key
        )
        if self._admin_password_given:
            secrets_store.write_private(self.admin_password_file, f"{self.admin_password}\n".encode())
        else:
            self.admin_password_generated = not self.admin_password_file.exists()
            self.admin_password = secrets_store.read_or_create(
                self.admin_password_file, secrets_store.random_password
            )

    def _start_database(self) -> DatabaseParams:
        if self.database_url:
            params = parse_database_url(self.database_url)
            self.notify(f"using the database {describe(params)}")
            ensure_database(params)
            return params
        self._postgres = EmbeddedPostgres(
            pgdata=self.data_dir / "postgres",
            port_file=self.data_dir / "postgres.port",
            password=secrets_store.read_or_create(
                self.secrets_dir / "postgres-password", secrets_store.random_password
            ),
            log_path=self.logs_dir / "postgres.log",
            notify=self.notify,
        )
        params = self._postgres.start()
        self.notify(f"embedded PostgreSQL is listening on 127.0.0.1:{params.port}")
        return params

    def _write_settings(self) -> None:
        public = url_host(self._public_host())
        token_server = None if self.host in _WILDCARD_HOSTS else f"http://{public}:{self.port}/token/"
        text = render_settings(
            data_dir=self.data_dir,
            database=self.database,
            secret_key=secrets_store.read_or_create(
                self.secrets_dir / "secret_key", secrets_store.new_secret_key
            ),
            db_encryption_key_path=self.secrets_dir / "database_fields.symmetric.key",
            private_key_path=self.keys_dir / "token-private.pem",
            public_key_path=self.keys_dir / "token-public.pem",
            content_origin=f"http://{public}:{self.content_port}",
            token_server=token_server,
            extra_settings=self.extra_settings,
        )
        write_settings(self.settings_path, text)
        self.env = self.child_env()

    def _bootstrap(self) -> None:
        self.notify("applying database migrations")
        log_path = self.logs_dir / "bootstrap.log"
        start = log_path.stat().st_size if log_path.exists() else 0
        env = dict(self.env)
        env[PASSWORD_VARIABLE] = self.admin_password
        with open(log_path, "ab") as log:
            result = subprocess.run(
                [sys.executable, "-m", "pulp_registry.launcher.bootstrap"],
                env=env, cwd=self.data_dir, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT,
            )
        if result.returncode != 0:
            excerpt = tail(log_path, 20, start)
            lines = [line for line in excerpt.splitlines() if line.strip()]
            raise LauncherError(
                f"preparing the database failed ({lines[-1].strip()[:200] if lines else 'no output'}); "
                f"see {log_path}",
                details=excerpt,
            )

    def _record_worker_pid(self, pid: int) -> None:
        self.worker_pid_file.write_text(f"{pid}\n")

    def _previous_worker_pids(self) -> List[int]:
        """The worker of the previous run on this data directory (dead: we hold the lock)."""
        try:
            return [int(self.worker_pid_file.read_text().strip())]
        except (OSError, ValueError):
            return []

    def _worker_names(self, pids: List[int]) -> List[str]:
        template = str(self.extra_settings.get("WORKER_NAME_TEMPLATE", "{pid}@{hostname}"))
        return [
            template.format(pid=pid, hostname=socket.gethostname(), fqdn=socket.getfqdn())
            for pid in pids
        ]

    def _forget_dead_workers(self, pids: List[int]) -> None:
        """Delete the database records of pulpcore workers that are known to be dead.

        A worker that is killed keeps its claim on the task it was running until pulpcore
        finds it missing (many heartbeats later); meanwhile the task stays "running" and
        holds its repositories, so retries wait. Releasing the claim lets the next worker
        fail the task ("Worker has gone missing") and free its resources right away. Only
        workers this launcher started, by process id, are forgotten.
        """
        names = self._worker_names([pid for pid in pids if pid])
        if not names or self.database is None:
            return
        import psycopg

        try:
            with psycopg.connect(**self.database.libpq(), connect_timeout=5) as conn:
                dead = [row[0] for row in conn.execute(
                    "SELECT pulp_id FROM core_appstatus WHERE app_type = 'worker' "
                    "AND name = ANY(%s)", [names]
                )]
                if dead:
                    conn.execute("UPDATE core_task SET app_lock_id = NULL "
                                 "WHERE app_lock_id = ANY(%s)", [dead])
                    conn.execute("DELETE FROM core_appstatus WHERE pulp_id = ANY(%s)", [dead])
                    self.notify(f"released the tasks of {len(dead)} worker(s) that died")
        except psycopg.Error as error:
            # pulpcore cleans the records up itself later; only the speed of recovery suffers.
            self.notify(f"could not release the tasks of dead workers: {error}")

    def _start_servers(self) -> None:
        api_bind = f"{url_host(self.host)}:{self.port}"
        content_bind = f"{url_host(self.host)}:{self.content_port}"
        commands = {
            "api": [
                sys.executable, "-m", "gunicorn",
                "--name", "pulp-registry-api",
                "--bind", api_bind,
                "--worker-class", API_WORKER_CLASS,
                "--workers", str(self.api_workers),
                "--threads", str(self.api_threads),
                # gthread workers report alive from their main loop, so a long upload
                # does not trip this; it only catches truly hung workers.
                "--timeout", "300",
                "--graceful-timeout", "20",
                "--keep-alive", "30",
                "--limit-request-line", "8190",
                # Bearer tokens carrying many scopes make long header lines.
                "--limit-request-field_size", "65536",
                "--access-logfile", "-",
                "--error-logfile", "-",
                # gunicorn's default control socket is one per user: clashes between registries.
                "--no-control-socket",
                API_APPLICATION,
            ],
            "content": [
                find_script("pulpcore-content"),
                "--bind", content_bind,
                "--workers", str(self.content_workers),
                "--timeout", "300",
                "--access-logfile", "-",
                "--error-logfile", "-",
                "--no-control-socket",
            ],
            "worker": [find_script("pulpcore-worker")],
        }
        self._forget_dead_workers(self._previous_worker_pids())
        for name, argv in commands.items():
            process = ManagedProcess(
                name, argv, self.env, self.logs_dir / f"{name}.log", cwd=self.data_dir
            )
            process.start()
            self._servers.append(process)
        self._record_worker_pid(self.process("worker").pid)
        self.notify(f"starting the API server, content app and worker (logs in {self.logs_dir})")

    def _wait_ready(self) -> None:
        import requests

        deadline = time.monotonic() + self.startup_timeout
        waiting_for = "the API server"
        with requests.Session() as session:
            session.trust_env = False  # never through an HTTP proxy from the environment
            while True:
                failed = self.failed_process()
                if failed is not None:
                    raise LauncherError(
                        f"{failed.name} exited with status {failed.returncode()} during start-up; "
                        f"see {failed.log_path}",
                        details=failed.log_tail(20),
                    )
                if self._api_ready(session):
                    waiting_for = "the content app"
                    if self._content_ready(session):
                        waiting_for = "the worker"
                        if self._worker_online(session):
                            return
                if time.monotonic() > deadline:
                    raise LauncherError(
                        f"{waiting_for} did not become ready within {self.startup_timeout:.0f} s; "
                        f"see the logs in {self.logs_dir}"
                    )
                time.sleep(0.3)

    def _api_ready(self, session) -> bool:
        import requests

        try:
            # /v2/ is the registry's own entry point (200, or 401 asking for credentials);
            # pulpcore's status endpoint vouches for the server where /v2/ is missing.
            if session.get(f"{self.url}/v2/", timeout=5).status_code in (200, 401):
                return True
            return session.get(f"{self.url}/pulp/api/v3/status/", timeout=5).status_code == 200
        except requests.RequestException:
            return False

    def _content_ready(self, session) -> bool:
        import requests

        try:
            session.get(f"{self.content_url}/pulp/content/", timeout=5)
            return True
        except requests.RequestException:
            return False

    def _worker_online(self, session) -> bool:
        import requests

        try:
            response = session.get(f"{self.url}/pulp/api/v3/status/", timeout=5)
            return response.status_code == 200 and bool(response.json().get("online_workers"))
        except (requests.RequestException, ValueError):
            return False
