"""Run real registry clients (skopeo, podman, buildah, oras) from the tests.

Each test gets a :class:`ClientEnv`: its own login file, Docker config
directory, containers storage (the ``vfs`` driver, which works without
privileges or overlay support) and ``registries.conf`` marking the registry
under test as insecure, so tests share no state with each other or with the
machine's user. :class:`Skopeo`, :class:`Podman` and :class:`Buildah` run the
CLIs in such an environment, always talking plain HTTP, and raise
:class:`ClientError` (with the command's stderr) when a command fails, unless
called with ``check=False``, in which case they return the
``subprocess.CompletedProcess``.

:class:`Oras` drives the ORAS Python SDK (``oras`` on PyPI, 0.2.x), which has
no ``artifactType`` argument: it uploads blobs with the SDK and puts a manifest
of our own, with ``artifactType`` and ``subject``, through the SDK's
authenticated session.

containers/image keeps a blob-info cache (which registry has which blob). As
root it lives in ``/var/lib/containers/cache`` whatever the environment says;
:class:`ClientEnv` then runs each command in a private mount namespace with a
per-test directory bound over that path (if ``unshare`` allows it; else tests
must use fresh random blobs, as :mod:`tests.functional.images` does by
default). As another user it lives under ``$XDG_DATA_HOME``, which
:class:`ClientEnv` points into its directory.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterable, Mapping, Sequence, Union

DEFAULT_TIMEOUT = 300
"""Seconds a client command may take before the test fails."""

SYSTEM_BLOB_CACHE_DIR = Path("/var/lib/containers/cache")

OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

Credentials = Union[tuple[str, str], str, None]
"""``(user, password)``, ``"user:password"``, or None for anonymous access."""


class ClientError(AssertionError):
    """A client command failed.

    It subclasses AssertionError so pytest shows it as a test failure.

    Attributes:
        result: The finished process, with ``stdout`` and ``stderr`` as text.
    """

    def __init__(self, result: subprocess.CompletedProcess):
        self.result = result
        command = " ".join(str(arg) for arg in result.args)
        message = f"command failed with exit code {result.returncode}: {command}"
        if result.stderr:
            message += "\n--- stderr ---\n" + _tail(result.stderr)
        if result.stdout:
            message += "\n--- stdout ---\n" + _tail(result.stdout)
        super().__init__(message)


def _tail(text: str, limit: int = 6000) -> str:
    """Return the end of a long output, marking the cut."""
    return text if len(text) <= limit else "[...]\n" + text[-limit:]


def credentials_arg(creds: Credentials) -> str | None:
    """Return ``user:password`` for a ``--creds`` option, or None."""
    if creds is None:
        return None
    if isinstance(creds, str):
        return creds
    user, password = creds
    return f"{user}:{password}"


def docker_ref(host: str, name: str, tag: str | None = None, digest: str | None = None) -> str:
    """Return a ``docker://host/name[:tag][@digest]`` reference."""
    ref = f"docker://{host}/{name}"
    if tag:
        ref += f":{tag}"
    if digest:
        ref += f"@{digest}"
    return ref


@functools.lru_cache(maxsize=None)
def _can_isolate_blob_cache() -> bool:
    """Whether commands can run with a private ``/var/lib/containers/cache``."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    try:
        SYSTEM_BLOB_CACHE_DIR.mkdir(parents=True, exist_ok=True)
        probe = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "--",
             "mount", "--bind", "/", str(SYSTEM_BLOB_CACHE_DIR)],
            capture_output=True, timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


class ClientEnv:
    """Per-test configuration for the containers tools.

    Creating one writes, under ``tmpdir``:

    * ``auth.json`` (``{"auths": {}}``), used as ``REGISTRY_AUTH_FILE``;
    * ``docker/`` with an empty ``config.json``, used as ``DOCKER_CONFIG``;
    * ``storage.conf`` with the ``vfs`` driver and graph/run roots inside
      ``tmpdir``, used as ``CONTAINERS_STORAGE_CONF``;
    * ``registries.conf`` marking each registry as insecure, used as
      ``CONTAINERS_REGISTRIES_CONF``;
    * ``containers.conf`` keeping podman's temporary files and events log in
      ``tmpdir``, used as ``CONTAINERS_CONF``.

    Args:
        tmpdir: A directory owned by the test (e.g. pytest's ``tmp_path``).
        registries: ``host:port`` of the registries to talk plain HTTP to.
        isolate_blob_cache: Run commands with a private blob-info cache. The
            default (None) does so when possible (see the module docstring).
    """

    def __init__(self, tmpdir: str | os.PathLike, registries: Iterable[str] | str = (),
                 isolate_blob_cache: bool | None = None):
        self.root = Path(tmpdir)
        self.root.mkdir(parents=True, exist_ok=True)
        self.auth_file = self.root / "auth.json"
        self.docker_config_dir = self.root / "docker"
        self.storage_conf = self.root / "storage.conf"
        self.registries_conf = self.root / "registries.conf"
        self.containers_conf = self.root / "containers.conf"
        self.storage_root = self.root / "storage"
        self.run_root = self.root / "run"
        self.data_home = self.root / "xdg-data"
        self.blob_cache_dir = self.root / "blob-info-cache"
        self.registries: list[str] = []

        self.auth_file.write_text(json.dumps({"auths": {}}))
        self.docker_config_dir.mkdir(exist_ok=True)
        (self.docker_config_dir / "config.json").write_text(json.dumps({"auths": {}}))
        for directory in (self.storage_root, self.run_root, self.data_home, self.blob_cache_dir,
                          self.root / "libpod-tmp"):
            directory.mkdir(exist_ok=True)
        self.storage_conf.write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f'graphroot = "{self.storage_root}"\n'
            f'runroot = "{self.run_root}"\n'
        )
        self.containers_conf.write_text(
            "[engine]\n"
            f'tmp_dir = "{self.root / "libpod-tmp"}"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.root / "events.log"}"\n'
            'cgroup_manager = "cgroupfs"\n'
        )
        if isinstance(registries, str):
            registries = [registries]
        for registry in registries:
            self.add_insecure_registry(registry)
        self._write_registries_conf()
        if isolate_blob_cache is None:
            isolate_blob_cache = _can_isolate_blob_cache()
        self.isolate_blob_cache = isolate_blob_cache

    def add_insecure_registry(self, host: str) -> None:
        """Mark ``host:port`` as a plain-HTTP registry in ``registries.conf``."""
        if host not in self.registries:
            self.registries.append(host)
            self._write_registries_conf()

    def _write_registries_conf(self) -> None:
        lines = ['unqualified-search-registries = []', 'short-name-mode = "permissive"', ""]
        for host in self.registries:
            lines += ["[[registry]]", f'location = "{host}"', "insecure = true", ""]
        self.registries_conf.write_text("\n".join(lines))

    @property
    def env(self) -> dict[str, str]:
        """The process environment for the clients."""
        env = dict(os.environ)
        env.update({
            "REGISTRY_AUTH_FILE": str(self.auth_file),
            "DOCKER_CONFIG": str(self.docker_config_dir),
            "CONTAINERS_STORAGE_CONF": str(self.storage_conf),
            "CONTAINERS_REGISTRIES_CONF": str(self.registries_conf),
            "CONTAINERS_CONF": str(self.containers_conf),
            "XDG_DATA_HOME": str(self.data_home),
        })
        return env

    def command(self, argv: Sequence[str]) -> list[str]:
        """Return ``argv``, wrapped to run with a private blob-info cache if enabled."""
        argv = [str(arg) for arg in argv]
        if not self.isolate_blob_cache:
            return argv
        script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
        return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script, "sh",
                str(self.blob_cache_dir), str(SYSTEM_BLOB_CACHE_DIR), *argv]

    def run(self, argv: Sequence[str], *, check: bool = True, timeout: float | None = None,
            input: str | None = None, cwd: str | os.PathLike | None = None,
            ) -> subprocess.CompletedProcess:
        """Run a client command in this environment.

        Args:
            argv: The command and its arguments.
            check: Raise :class:`ClientError` if the command fails.
            timeout: Seconds before the command is killed (and the test fails);
                :data:`DEFAULT_TIMEOUT` if None.
            input: Text for the command's standard input.
            cwd: Working directory.

        Returns:
            The finished process, ``args`` being ``argv`` as given.
        """
        argv = [str(arg) for arg in argv]
        result = subprocess.run(
            self.command(argv), env=self.env, cwd=cwd, input=input, capture_output=True,
            text=True, timeout=timeout or DEFAULT_TIMEOUT,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
        result.args = argv
        if check and result.returncode != 0:
            raise ClientError(result)
        return result

    def logins(self) -> dict:
        """Return the ``auths`` recorded in this environment's ``auth.json``."""
        return json.loads(self.auth_file.read_text()).get("auths", {})


class _Tool:
    """Base of the CLI wrappers: runs the tool in a :class:`ClientEnv`."""

    program = ""

    def __init__(self, env: ClientEnv, timeout: float | None = None):
        self.env = env
        self.timeout = timeout

    def run(self, *args: str, check: bool = True, input: str | None = None,
            timeout: float | None = None, cwd: str | os.PathLike | None = None,
            ) -> subprocess.CompletedProcess:
        """Run ``<program> *args``; see :meth:`ClientEnv.run`."""
        return self.env.run([self.program, *args], check=check, input=input,
                            timeout=timeout or self.timeout, cwd=cwd)

    def version(self) -> str:
        """Return the tool's ``--version`` line."""
        return self.run("--version").stdout.strip()

    def _login(self, host: str, user: str, password: str, check: bool
               ) -> subprocess.CompletedProcess:
        return self.run("login", "--tls-verify=false", "--username", user, "--password-stdin",
                        host, input=password + "\n", check=check)

    def _logout(self, host: str, check: bool) -> subprocess.CompletedProcess:
        return self.run("logout", host, check=check)

    def _read_digest_file(self, path: Path, result: subprocess.CompletedProcess,
                          check: bool) -> str | subprocess.CompletedProcess:
        if not check:
            return result
        return path.read_text().strip()

    def _new_temp_file(self, stem: str) -> Path:
        """Return a fresh file in the environment for a tool to write to."""
        handle, name = tempfile.mkstemp(prefix=f"{stem}-", dir=self.env.root)
        os.close(handle)
        return Path(name)


def _creds_options(option: str, creds: Credentials) -> list[str]:
    value = credentials_arg(creds)
    return [f"{option}={value}"] if value is not None else []


class Skopeo(_Tool):
    """Wrapper around ``skopeo``; every call talks plain HTTP to registries."""

    program = "skopeo"

    def copy(self, src: str, dst: str, *, all: bool = False, creds: Credentials = None,
             src_creds: Credentials = None, dest_creds: Credentials = None,
             format: str | None = None, preserve_digests: bool = False,
             extra_args: Sequence[str] = (), check: bool = True,
             ) -> subprocess.CompletedProcess:
        """Copy an image, e.g. ``oci:DIR:TAG`` or ``dir:DIR`` to ``docker://...``.

        Args:
            src: Source reference, with its transport.
            dst: Destination reference, with its transport.
            all: Copy every image of a list (``--all``), not just one.
            creds: Credentials for whichever side is a ``docker://`` reference.
            src_creds: Credentials for the source (overrides ``creds``).
            dest_creds: Credentials for the destination (overrides ``creds``).
            format: ``oci``, ``v2s2`` or ``v2s1`` to convert the manifest.
            preserve_digests: Fail instead of changing the manifest digest.
            extra_args: More ``skopeo copy`` options.
            check: Raise on failure; if False just return the process.
        """
        if src_creds is None and src.startswith("docker://"):
            src_creds = creds
        if dest_creds is None and dst.startswith("docker://"):
            dest_creds = creds
        args = ["copy", "--src-tls-verify=false", "--dest-tls-verify=false"]
        args += _creds_options("--src-creds", src_creds)
        args += _creds_options("--dest-creds", dest_creds)
        if all:
            args.append("--all")
        if format:
            args += ["--format", format]
        if preserve_digests:
            args.append("--preserve-digests")
        args += [*extra_args, src, dst]
        return self.run(*args, check=check)

    def inspect(self, ref: str, *, raw: bool = False, config: bool = False,
                creds: Credentials = None, check: bool = True,
                ) -> dict | bytes | subprocess.CompletedProcess:
        """Inspect an image.

        Args:
            ref: Image reference, e.g. ``docker://host/name:tag``.
            raw: Return the exact manifest bytes (``--raw``).
            config: Inspect the image config instead (with ``raw``: its bytes).
            creds: Registry credentials.
            check: Raise on failure; if False just return the process.

        Returns:
            The manifest or config bytes when ``raw``, else skopeo's parsed JSON.
        """
        args = ["inspect", "--tls-verify=false", *_creds_options("--creds", creds)]
        if raw:
            args.append("--raw")
        if config:
            args.append("--config")
        args.append(ref)
        if not check:
            return self.run(*args, check=False)
        result = self._run_bytes(args)
        return result if raw else json.loads(result)

    def _run_bytes(self, args: list[str]) -> bytes:
        """Run skopeo and return its exact stdout bytes (``--raw`` output)."""
        argv = [self.program, *args]
        result = subprocess.run(self.env.command(argv), env=self.env.env, capture_output=True,
                                stdin=subprocess.DEVNULL, timeout=self.timeout or DEFAULT_TIMEOUT)
        if result.returncode != 0:
            raise ClientError(subprocess.CompletedProcess(
                argv, result.returncode, result.stdout.decode(errors="replace"),
                result.stderr.decode(errors="replace")))
        return result.stdout

    def list_tags(self, ref: str, *, creds: Credentials = None, check: bool = True,
                  ) -> list[str] | subprocess.CompletedProcess:
        """Return the tags of a repository, e.g. ``docker://host/name``."""
        result = self.run("list-tags", "--tls-verify=false", *_creds_options("--creds", creds),
                          ref, check=check)
        return json.loads(result.stdout)["Tags"] if check else result

    def delete(self, ref: str, *, creds: Credentials = None, check: bool = True,
               ) -> subprocess.CompletedProcess:
        """Delete an image (its manifest, by tag or digest) from a registry."""
        return self.run("delete", "--tls-verify=false", *_creds_options("--creds", creds), ref,
                        check=check)

    def login(self, host: str, user: str, password: str, *, check: bool = True,
              ) -> subprocess.CompletedProcess:
        """Log in to ``host`` (stored in this environment's auth file)."""
        return self._login(host, user, password, check)

    def logout(self, host: str, *, check: bool = True) -> subprocess.CompletedProcess:
        """Forget the login for ``host``."""
        return self._logout(host, check)


class Podman(_Tool):
    """Wrapper around ``podman`` (vfs storage of the :class:`ClientEnv`)."""

    program = "podman"

    def load(self, archive: str | os.PathLike, *, check: bool = True,
             ) -> list[str] | subprocess.CompletedProcess:
        """Load a docker-archive or oci-archive; return the names loaded."""
        result = self.run("load", "--input", str(archive), check=check)
        if not check:
            return result
        names: list[str] = []
        for line in result.stdout.splitlines():
            if line.startswith("Loaded image"):
                names += [name.strip() for name in line.split(":", 1)[1].split(",")]
        return names

    def tag(self, image: str, *names: str, check: bool = True) -> subprocess.CompletedProcess:
        """Add names to a local image."""
        return self.run("tag", image, *names, check=check)

    def login(self, host: str, user: str, password: str, *, check: bool = True,
              ) -> subprocess.CompletedProcess:
        """Log in to ``host`` (stored in this environment's auth file)."""
        return self._login(host, user, password, check)

    def logout(self, host: str, *, check: bool = True) -> subprocess.CompletedProcess:
        """Forget the login for ``host``."""
        return self._logout(host, check)

    def push(self, image: str, dest: str | None = None, *, creds: Credentials = None,
             format: str | None = None, extra_args: Sequence[str] = (), check: bool = True,
             ) -> str | subprocess.CompletedProcess:
        """Push a local image.

        Args:
            image: Local image name or ID.
            dest: Destination (``host/name:tag`` or ``docker://...``); defaults
                to the image's own name.
            creds: Registry credentials (else the stored login is used).
            format: Manifest format, ``oci`` or ``v2s2``.
            extra_args: More ``podman push`` options.
            check: Raise on failure; if False just return the process.

        Returns:
            The digest of the pushed manifest.
        """
        digest_file = self._new_temp_file("push-digest")
        args = ["push", "--tls-verify=false", "--digestfile", str(digest_file),
                *_creds_options("--creds", creds)]
        if format:
            args += ["--format", format]
        args += [*extra_args, image]
        if dest:
            args.append(dest)
        return self._read_digest_file(digest_file, self.run(*args, check=check), check)

    def pull(self, ref: str, *, creds: Credentials = None, platform: str | None = None,
             all_tags: bool = False, check: bool = True,
             ) -> str | subprocess.CompletedProcess:
        """Pull an image; return its local image ID.

        Args:
            ref: ``host/name:tag``, ``host/name@digest`` or ``docker://...``.
            creds: Registry credentials (else the stored login is used).
            platform: ``os/arch[/variant]`` to pick from a list.
            all_tags: Pull every tag of the repository.
            check: Raise on failure; if False just return the process.
        """
        args = ["pull", "--quiet", "--tls-verify=false", *_creds_options("--creds", creds)]
        if platform:
            args += ["--platform", platform]
        if all_tags:
            args.append("--all-tags")
        result = self.run(*args, ref, check=check)
        return result.stdout.strip().splitlines()[-1] if check else result

    def inspect(self, image: str) -> dict:
        """Return ``podman image inspect`` of a local image."""
        return json.loads(self.run("image", "inspect", image).stdout)[0]

    def exists(self, image: str) -> bool:
        """Whether a local image exists."""
        return self.run("image", "exists", image, check=False).returncode == 0

    def images(self) -> list[dict]:
        """Return the local images (``podman images --format json``)."""
        return json.loads(self.run("images", "--format", "json").stdout or "[]")

    def rmi(self, *images: str, force: bool = False, check: bool = True,
            ) -> subprocess.CompletedProcess:
        """Remove local images."""
        return self.run("rmi", *(["--force"] if force else []), *images, check=check)

    def manifest_create(self, name: str, *images: str, all: bool = False, check: bool = True,
                        ) -> subprocess.CompletedProcess:
        """Create a local manifest list, optionally with images in it."""
        return self.run("manifest", "create", *(["--all"] if all else []), name, *images,
                        check=check)

    def manifest_add(self, list_name: str, image: str, *, all: bool = False,
                     creds: Credentials = None, arch: str | None = None,
                     os_name: str | None = None, variant: str | None = None, check: bool = True,
                     ) -> subprocess.CompletedProcess:
        """Add an image (local, or ``docker://...``) to a local manifest list."""
        args = ["manifest", "add", "--tls-verify=false", *_creds_options("--creds", creds)]
        if all:
            args.append("--all")
        for option, value in (("--arch", arch), ("--os", os_name), ("--variant", variant)):
            if value:
                args += [option, value]
        return self.run(*args, list_name, image, check=check)

    def manifest_push(self, list_name: str, dest: str, *, all: bool = True,
                      creds: Credentials = None, format: str | None = None,
                      extra_args: Sequence[str] = (), check: bool = True,
                      ) -> str | subprocess.CompletedProcess:
        """Push a local manifest list (with its images when ``all``); return its digest."""
        digest_file = self._new_temp_file("manifest-digest")
        args = ["manifest", "push", "--tls-verify=false", "--digestfile", str(digest_file),
                *_creds_options("--creds", creds)]
        args.append("--all" if all else "--all=false")
        if format:
            args += ["--format", format]
        args += [*extra_args, list_name, dest]
        return self._read_digest_file(digest_file, self.run(*args, check=check), check)

    def manifest_inspect(self, ref: str, *, check: bool = True,
                         ) -> dict | subprocess.CompletedProcess:
        """Inspect a local or remote manifest list.

        ``podman manifest inspect`` has no ``--tls-verify``: remote
        registries must be in the environment's insecure list.
        """
        result = self.run("manifest", "inspect", ref, check=check)
        return json.loads(result.stdout) if check else result

    def manifest_rm(self, list_name: str, *, check: bool = True) -> subprocess.CompletedProcess:
        """Remove a local manifest list."""
        return self.run("manifest", "rm", list_name, check=check)


def write_build_context(dirpath: str | os.PathLike, files: Mapping[str, bytes]) -> Path:
    """Write a build context: the files and a ``FROM scratch`` Containerfile copying them.

    Args:
        dirpath: The context directory (created if needed).
        files: File name (no directories) to content.

    Returns:
        The context directory.
    """
    context = Path(dirpath)
    context.mkdir(parents=True, exist_ok=True)
    lines = ["FROM scratch"]
    for name, content in files.items():
        if "/" in name or name in ("Containerfile", ".containerignore"):
            raise ValueError(f"bad file name for a build context: {name!r}")
        (context / name).write_bytes(content)
        lines.append(f"COPY {name} /{name}")
    (context / "Containerfile").write_text("\n".join(lines) + "\n")
    return context


class Buildah(_Tool):
    """Wrapper around ``buildah`` (vfs storage, chroot isolation)."""

    program = "buildah"

    def bud(self, contextdir: str | os.PathLike, tag: str, *,
            containerfile: str | os.PathLike | None = None, format: str | None = None,
            extra_args: Sequence[str] = (), check: bool = True,
            ) -> str | subprocess.CompletedProcess:
        """Build an image from a context (see :func:`write_build_context`).

        Args:
            contextdir: The build context.
            tag: Name for the built image.
            containerfile: Containerfile path; ``Containerfile`` in the context
                by default.
            format: ``oci`` or ``docker`` image format.
            extra_args: More ``buildah bud`` options.
            check: Raise on failure; if False just return the process.

        Returns:
            The built image's ID.
        """
        id_file = self._new_temp_file("image-id")
        args = ["bud", "--isolation", "chroot", "--iidfile", str(id_file), "-t", tag]
        if containerfile:
            args += ["-f", str(containerfile)]
        if format:
            args += ["--format", format]
        args += [*extra_args, str(contextdir)]
        result = self.run(*args, check=check)
        if not check:
            return result
        return id_file.read_text().strip().removeprefix("sha256:")

    def push(self, image: str, dest: str, *, creds: Credentials = None,
             format: str | None = None, extra_args: Sequence[str] = (), check: bool = True,
             ) -> str | subprocess.CompletedProcess:
        """Push a local image to ``dest`` (``docker://host/name:tag``); return the digest."""
        digest_file = self._new_temp_file("push-digest")
        args = ["push", "--tls-verify=false", "--digestfile", str(digest_file),
                *_creds_options("--creds", creds)]
        if format:
            args += ["--format", format]
        args += [*extra_args, image, dest]
        return self._read_digest_file(digest_file, self.run(*args, check=check), check)

    def login(self, host: str, user: str, password: str, *, check: bool = True,
              ) -> subprocess.CompletedProcess:
        """Log in to ``host`` (stored in this environment's auth file)."""
        return self._login(host, user, password, check)

    def rmi(self, *images: str, check: bool = True) -> subprocess.CompletedProcess:
        """Remove local images."""
        return self.run("rmi", *images, check=check)


# --------------------------------------------------------------------------
# ORAS (Python SDK)


@dataclasses.dataclass
class PushedArtifact:
    """What :meth:`Oras.push_artifact` put in the registry.

    Attributes:
        ref: ``host/name:tag`` it was pushed to.
        digest: Digest of the manifest bytes sent.
        manifest: The exact manifest bytes sent.
        response_digest: The ``Docker-Content-Digest`` the registry answered.
    """

    ref: str
    digest: str
    manifest: bytes = dataclasses.field(repr=False)
    response_digest: str | None

    @property
    def size(self) -> int:
        """Size of the manifest."""
        return len(self.manifest)

    def descriptor(self) -> dict:
        """Return the manifest's descriptor (e.g. to use as a subject)."""
        return {"mediaType": OCI_MANIFEST, "digest": self.digest, "size": self.size}


def _subject_descriptor(subject) -> dict:
    """Turn an ImageInfo, PushedArtifact or descriptor mapping into a descriptor."""
    if hasattr(subject, "descriptor"):
        return subject.descriptor()
    return {key: subject[key] for key in ("mediaType", "digest", "size")}


def _detect_auth_backend(hostport: str) -> str:
    """Return ``token`` if the registry challenges with Bearer, else ``basic``."""
    import requests

    response = requests.get(f"http://{hostport}/v2/", timeout=30)
    challenge = response.headers.get("WWW-Authenticate", "")
    return "token" if challenge.lower().startswith("bearer") else "basic"


class Oras:
    """The ORAS Python SDK, pointed at one plain-HTTP registry.

    The SDK's retries (with sleeps of up to a minute and a half) are turned
    off so failures show at once, and it reads no Docker config file: only
    ``creds`` are used. With token auth a token is fetched again when the
    registry answers 401 to the cached one (the SDK itself only does so on
    403, so it cannot push after a pull-scoped token).

    Args:
        hostport: The registry's ``host:port``.
        creds: Credentials, or None for anonymous access.
        auth: ``"basic"`` (send the credentials with every request),
            ``"token"`` (fetch a Bearer token from the challenge's realm) or
            ``"auto"`` (pick by the ``WWW-Authenticate`` of ``GET /v2/``).
    """

    def __init__(self, hostport: str, *, creds: Credentials = None, auth: str = "auto"):
        self.hostport = hostport
        self.creds = creds
        self.auth = _detect_auth_backend(hostport) if auth == "auto" else auth
        self.client = _make_oras_client(hostport, self.auth, creds)

    def push_artifact(self, name: str, tag: str,
                      files: Sequence[str | os.PathLike | tuple[str | os.PathLike, str]],
                      artifact_type: str | None, *, subject=None,
                      annotations: Mapping[str, str] | None = None,
                      config_media_type: str = OCI_EMPTY) -> PushedArtifact:
        """Push files as an OCI artifact.

        Blobs go up through the SDK (``HEAD``, ``POST`` + monolithic ``PUT``),
        the config is the empty ``{}`` blob, and the manifest is ours.

        Args:
            name: Repository name.
            tag: Tag to push to.
            files: Paths, or ``(path, media_type)`` pairs; each becomes a layer
                titled with its base name.
            artifact_type: The manifest's ``artifactType`` (omitted if None).
            subject: ImageInfo, PushedArtifact or descriptor of the manifest
                the artifact refers to.
            annotations: Manifest annotations.
            config_media_type: Media type of the config descriptor.

        Returns:
            The pushed manifest.
        """
        file_args = []
        for entry in files:
            if isinstance(entry, tuple):
                path, media_type = entry
                file_args.append(f"{os.fspath(path)}:{media_type}")
            else:
                file_args.append(os.fspath(entry))
        target = f"{self.hostport}/{name}:{tag}"
        self.client.next_manifest_fields = {
            "artifact_type": artifact_type,
            "config_media_type": config_media_type,
            "subject": _subject_descriptor(subject) if subject is not None else None,
        }
        response = self.client.push(
            target=target, files=file_args, disable_path_validation=True,
            manifest_annotations=dict(annotations) if annotations else None, quiet=True,
        )
        manifest = self.client.last_manifest
        digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        return PushedArtifact(ref=target, digest=digest, manifest=manifest,
                              response_digest=response.headers.get("Docker-Content-Digest"))

    def pull(self, name: str, ref: str, outdir: str | os.PathLike) -> list[Path]:
        """Pull an artifact's layers into ``outdir`` (named by their titles).

        Args:
            name: Repository name.
            ref: Tag or ``sha256:...`` digest.
            outdir: Where to write the files.

        Returns:
            The written files.
        """
        separator = "@" if ref.startswith("sha256:") else ":"
        files = self.client.pull(target=f"{self.hostport}/{name}{separator}{ref}",
                                 outdir=os.fspath(outdir))
        return [Path(path) for path in files]

    def manifest(self, name: str, ref: str) -> dict:
        """Fetch and parse a manifest through the SDK."""
        separator = "@" if ref.startswith("sha256:") else ":"
        return self.client.get_manifest(f"{self.hostport}/{name}{separator}{ref}")


@functools.lru_cache(maxsize=None)
def _oras_registry_class():
    """Build (once) our subclass of ``oras.provider.Registry``.

    Imported lazily so this module loads without the SDK installed.
    """
    import oras.provider

    class ArtifactRegistry(oras.provider.Registry):
        """The SDK's registry client, with our manifest upload and no retries."""

        next_manifest_fields: dict = {}
        last_manifest: bytes = b""

        def do_request(self, url, method="GET", data=None, headers=None, json=None,
                       stream=False):
            # Skip the SDK's @retry, which sleeps for minutes on errors.
            undecorated = oras.provider.Registry.do_request.__wrapped__
            response = undecorated(self, url, method, data, dict(headers or {}), json, stream)
            if response.status_code == 401 and getattr(self.auth, "token", None):
                # The cached token lacks this request's scope (e.g. it was got
                # for pull, now we push). Registries answer 401 for that, but
                # the SDK only fetches a new token after a 403.
                self.auth.token = None
                response = undecorated(self, url, method, data, dict(headers or {}), json,
                                       stream)
            return response

        def upload_manifest(self, manifest, container):
            fields = self.next_manifest_fields
            document = {"schemaVersion": 2, "mediaType": OCI_MANIFEST}
            if fields.get("artifact_type"):
                document["artifactType"] = fields["artifact_type"]
            document["config"] = dict(manifest["config"],
                                      mediaType=fields.get("config_media_type", OCI_EMPTY))
            document["layers"] = manifest["layers"]
            if fields.get("subject"):
                document["subject"] = fields["subject"]
            if manifest.get("annotations"):
                document["annotations"] = manifest["annotations"]
            body = json.dumps(document, separators=(",", ":")).encode()
            self.last_manifest = body
            return self.do_request(
                f"{self.prefix}://{container.manifest_url()}", "PUT",
                headers={"Content-Type": OCI_MANIFEST}, data=body,
            )

    return ArtifactRegistry


def _make_oras_client(hostport: str, auth_backend: str, creds: Credentials):
    """Create an SDK client for plain HTTP that ignores the user's Docker config."""
    client = _oras_registry_class()(hostname=hostport, insecure=True, tls_verify=False,
                                    auth_backend=auth_backend)
    # A non-empty config stops the SDK from reading ~/.docker/config.json.
    client.auth._auth_config = {"auths": {}}
    value = credentials_arg(creds)
    if value is not None:
        user, _, password = value.partition(":")
        client.auth.set_basic_auth(user, password)
    elif auth_backend == "basic":
        client.auth._basic_auth = ""  # a 401 then fails the request instead of crashing
    return client


def oras_push_artifact(registry_hostport: str, name: str, tag: str,
                       files: Sequence[str | os.PathLike | tuple[str | os.PathLike, str]],
                       artifact_type: str | None, subject=None, creds: Credentials = None,
                       *, annotations: Mapping[str, str] | None = None,
                       auth: str = "auto") -> PushedArtifact:
    """Push files as an OCI artifact with the ORAS SDK; see :meth:`Oras.push_artifact`."""
    return Oras(registry_hostport, creds=creds, auth=auth).push_artifact(
        name, tag, files, artifact_type, subject=subject, annotations=annotations)


def oras_pull(registry_hostport: str, name: str, ref: str, outdir: str | os.PathLike,
              creds: Credentials = None, *, auth: str = "auto") -> list[Path]:
    """Pull an artifact's files with the ORAS SDK; see :meth:`Oras.pull`."""
    return Oras(registry_hostport, creds=creds, auth=auth).pull(name, ref, outdir)
