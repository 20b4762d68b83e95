#!/usr/bin/env python3
"""Benchmark pulp_registry against CNCF Distribution, side by side on loopback.

Both registries run on this machine at the same time, with authentication on (token auth
for pulp_registry, htpasswd/bcrypt Basic auth for Distribution), and are measured
alternately (the order flips every run) with skopeo as the client:

* ``push256``  push one image with a single 256 MiB layer (``--layer-mib``);
* ``pull256``  pull that image back (to a ``dir:`` layout);
* ``mount256`` push the same image to a new name (skopeo mounts the blobs);
* ``small20``  push an image of 20 layers of 1 MiB (``--small-layers``);
* ``tags200``  push one small image to 200 tags, one skopeo command per tag (``--tags``);
* ``list200``  GET tags/list of that repository (200 tags), median of many requests;
* ``list10k``  GET tags/list of a repository with 10,000 tags (``--many-tags``);
* ``push16``   16 concurrent skopeo pushes of different images (``--concurrency``);
* ``rss``      push one 2 GiB layer (``--big-layer-mib``) while sampling the resident
  memory of pulp_registry's API worker processes (and Distribution's process).

Every run pushes fresh random layers (uncompressed tar, pushed with ``--preserve-digests``
so skopeo sends them as they are), so no client or server cache can skip work. Each
figure is the median over ``--runs`` runs. Run it with the project's virtualenv::

    .venv/bin/python benchmarks/compare.py --runs 3
    .venv/bin/python benchmarks/compare.py --only push256,pull256 --runs 5

It needs skopeo, ``/usr/bin/docker-registry`` (Debian package docker-registry),
``htpasswd`` (apache2-utils) and a PostgreSQL server where ``postgres@127.0.0.1:5432`` may
create databases (``--database-server``); a uniquely named database is created for
pulp_registry and dropped at the end.
"""

import argparse
import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional
from urllib.parse import urlencode, urlsplit

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.functional.clients import ClientEnv, Skopeo  # noqa: E402
from tests.functional.images import (  # noqa: E402
    OCI_CONFIG,
    OCI_MANIFEST,
    OCILayout,
    canonical_json,
    make_manifest,
)
from tests.functional.v2client import parse_challenge  # noqa: E402

MIB = 1024 * 1024
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
USER = "bench"
PASSWORD = "bench-" + uuid.uuid4().hex[:12]
DISTRIBUTION_BINARY = "/usr/bin/docker-registry"
_WRITE_CHUNK = 4 * MIB

BENCHMARKS = ["push256", "pull256", "mount256", "small20", "tags200", "list200", "list10k",
              "push16", "rss"]
# Extra rows measured along with the benchmarks above (not selectable on their own).
EXTRA_ROWS = {"list200": "list200first", "list10k": "list10kfirst"}
# Ratio (pulp_registry / Distribution) each benchmark must stay within (issue 6).
TARGET_RATIOS = {"push256": 1.2, "pull256": 1.2, "small20": 2.0, "tags200": 2.0,
                 "list200": 2.0, "list10k": 2.0}
RSS_GROWTH_LIMIT_MIB = 64


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ------------------------------------------------------------------------------ images


@dataclass
class Image:
    """An image written into an OCI layout, ready for ``skopeo copy``."""

    ref: str
    digest: str
    manifest: bytes
    layers: List[tuple]
    path: Path


def _write_tar_layer(layout: OCILayout, size: int, name: str) -> tuple:
    """Write an uncompressed tar layer holding one file of ``size`` random bytes.

    Random bytes do not compress, and gzip in Python would take longer than the pushes
    being measured, so layers stay uncompressed (media type ``...layer.v1.tar``).

    Returns:
        tuple: (digest, size) of the layer blob.
    """
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 1700000000
    header = info.tobuf(format=tarfile.USTAR_FORMAT)
    hasher = hashlib.sha256()
    handle, temp_name = tempfile.mkstemp(dir=layout.blob_dir, prefix=".layer-")
    total = 0
    with os.fdopen(handle, "wb") as target:
        def put(data):
            nonlocal total
            target.write(data)
            hasher.update(data)
            total += len(data)

        put(header)
        remaining = size
        while remaining:
            count = min(_WRITE_CHUNK, remaining)
            put(os.urandom(count))
            remaining -= count
        put(b"\0" * ((-size) % 512 + 1024))
    digest = "sha256:" + hasher.hexdigest()
    os.chmod(temp_name, 0o644)
    os.replace(temp_name, layout.blob_path(digest))
    return digest, total


def build_tar_image(path: Path, layer_sizes: List[int], tag: str = "latest") -> Image:
    """Build an OCI image of fresh random uncompressed layers into the layout at ``path``."""
    layout = OCILayout(path)
    layers = [_write_tar_layer(layout, size, f"layer{i}/data.bin")
              for i, size in enumerate(layer_sizes)]
    config = {
        "created": "2023-11-14T22:13:20Z",
        "architecture": "amd64",
        "os": "linux",
        "config": {"Labels": {"nonce": uuid.uuid4().hex}},
        "rootfs": {"type": "layers", "diff_ids": [digest for digest, _ in layers]},
    }
    config_digest, config_size = layout.add_blob(canonical_json(config))
    manifest = make_manifest(
        config_digest, config_size,
        [{"mediaType": OCI_LAYER_TAR, "digest": d, "size": s} for d, s in layers],
        media_type=OCI_MANIFEST, config_media_type=OCI_CONFIG,
    )
    manifest_digest, _ = layout.add_blob(manifest)
    layout.set_tag(tag, {"mediaType": OCI_MANIFEST, "digest": manifest_digest,
                         "size": len(manifest)})
    return Image(f"oci:{path}:{tag}", manifest_digest, manifest, layers, Path(path))


# --------------------------------------------------------------------------- HTTP client


class HttpClient:
    """A keep-alive HTTP/1.1 client answering the registry's 401 challenge once per scope.

    Kept minimal (http.client, one connection) so that the client adds as little as
    possible to latencies measured in milliseconds.
    """

    def __init__(self, host_port: str, user: str, password: str):
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.auth: Dict[str, str] = {}
        self.conn: Optional[http.client.HTTPConnection] = None

    def _connection(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        return self.conn

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _send(self, method, path, body=None, headers=None):
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers or {})
                response = conn.getresponse()
                data = response.read()
                return response.status, response.headers, data
            except (http.client.HTTPException, ConnectionError):
                self.close()
                if attempt:
                    raise

    def _authorization(self, challenge: str) -> str:
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            return self.basic
        realm = urlsplit(params["realm"])
        query = {"service": params.get("service", "")}
        if params.get("scope"):
            query["scope"] = params["scope"]
        conn = http.client.HTTPConnection(realm.hostname, realm.port, timeout=60)
        try:
            conn.request("GET", f"{realm.path}?{urlencode(query)}",
                         headers={"Authorization": self.basic})
            response = conn.getresponse()
            body = response.read()
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"token request failed: {response.status} {body[:200]!r}")
        return "Bearer " + json.loads(body)["token"]

    def request(self, method, path, body=None, headers=None, scope_key=None):
        """Send a request, authenticating (once) when challenged.

        Returns:
            tuple: (status, headers, body bytes).
        """
        key = scope_key or "/".join(path.split("?")[0].split("/")[:4])
        headers = dict(headers or {})
        if key in self.auth:
            headers["Authorization"] = self.auth[key]
        status, response_headers, data = self._send(method, path, body, headers)
        if status == 401 and response_headers.get("WWW-Authenticate"):
            self.auth[key] = self._authorization(response_headers["WWW-Authenticate"])
            headers["Authorization"] = self.auth[key]
            status, response_headers, data = self._send(method, path, body, headers)
        return status, response_headers, data

    def upload_blob(self, name: str, data: bytes) -> str:
        """Upload a blob (POST, then PUT with the data), returning its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, headers, body = self.request("POST", f"/v2/{name}/blobs/uploads/",
                                             headers={"Content-Length": "0"})
        if status != 202:
            raise RuntimeError(f"upload start failed: {status} {body[:300]!r}")
        location = headers["Location"]
        if location.startswith("http"):
            parts = urlsplit(location)
            location = parts.path + (f"?{parts.query}" if parts.query else "")
        separator = "&" if "?" in location else "?"
        status, _, body = self.request(
            "PUT", f"{location}{separator}digest={digest}", body=data,
            headers={"Content-Type": "application/octet-stream"},
            scope_key="/".join(f"/v2/{name}".split("/")[:4]),
        )
        if status != 201:
            raise RuntimeError(f"upload failed: {status} {body[:300]!r}")
        return digest

    def put_manifest(self, name: str, reference: str, manifest: bytes) -> None:
        status, _, body = self.request("PUT", f"/v2/{name}/manifests/{reference}",
                                       body=manifest, headers={"Content-Type": OCI_MANIFEST})
        if status != 201:
            raise RuntimeError(f"manifest PUT {name}:{reference} failed: {status} {body[:300]!r}")

    def list_tags(self, name: str) -> List[str]:
        """All tags of ``name``, following ``Link`` headers page by page."""
        path = f"/v2/{name}/tags/list"
        tags: List[str] = []
        while path:
            status, headers, body = self.request("GET", path)
            if status != 200:
                raise RuntimeError(f"tags/list failed: {status} {body[:300]!r}")
            tags.extend(json.loads(body)["tags"] or [])
            match = re.search(r"<([^>]+)>\s*;\s*rel=\"?next\"?", headers.get("Link") or "")
            path = match.group(1) if match else None
        return tags


# ------------------------------------------------------------------------------ targets


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> List[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


class Target:
    """A registry under test."""

    key = ""
    label = ""
    host_port = ""

    def start(self):
        raise NotImplementedError

    def stop(self):
        raise NotImplementedError

    def memory_pids(self) -> List[int]:
        """Processes whose resident memory the RSS benchmark sums."""
        raise NotImplementedError

    user = USER

    def client(self) -> HttpClient:
        return HttpClient(self.host_port, self.user, PASSWORD)


class DistributionTarget(Target):
    """CNCF Distribution with filesystem storage and htpasswd (bcrypt) Basic auth."""

    key = "distribution"
    label = "Distribution"

    def __init__(self, workdir: Path):
        self.workdir = workdir / "distribution"
        self.port = free_port()
        self.host_port = f"127.0.0.1:{self.port}"
        self.process: Optional[subprocess.Popen] = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        htpasswd = self.workdir / "htpasswd"
        subprocess.run(["htpasswd", "-B", "-b", "-c", str(htpasswd), USER, PASSWORD],
                       check=True, capture_output=True)
        config = self.workdir / "config.yml"
        # Debian's default configuration, on a free loopback port and a private directory.
        config.write_text(
            "version: 0.1\n"
            "log:\n  fields:\n    service: registry\n"
            "storage:\n"
            "  cache:\n    blobdescriptor: inmemory\n"
            f"  filesystem:\n    rootdirectory: {self.workdir / 'storage'}\n"
            "  delete:\n    enabled: true\n"
            "http:\n"
            f"  addr: {self.host_port}\n"
            f"  secret: {uuid.uuid4().hex}\n"
            "  headers:\n    X-Content-Type-Options: [nosniff]\n"
            "auth:\n"
            f"  htpasswd:\n    realm: bench\n    path: {htpasswd}\n"
        )
        self.log_file = open(self.workdir / "registry.log", "ab")
        self.process = subprocess.Popen([DISTRIBUTION_BINARY, "serve", str(config)],
                                        stdout=self.log_file, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"Distribution exited; see {self.workdir / 'registry.log'}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v2/")
                if conn.getresponse().status in (200, 401):
                    conn.close()
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("Distribution did not start")
            time.sleep(0.1)

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log_file.close()
        self.process = None

    def memory_pids(self):
        return [self.process.pid] if self.process else []


class PulpTarget(Target):
    """pulp_registry started by its launcher, with token authentication on."""

    key = "pulp"
    label = "pulp_registry"
    user = "admin"  # the launcher's staff user, who may push anywhere

    def __init__(self, workdir: Path, database_server: str, api_workers: int, api_threads: int,
                 extra_settings: Optional[dict] = None):
        self.workdir = workdir / "pulp"
        self.port = free_port()
        self.content_port = free_port()
        while self.content_port == self.port:
            self.content_port = free_port()
        self.host_port = f"127.0.0.1:{self.port}"
        self.database_server = database_server.rstrip("/")
        self.database_name = f"pulp_registry_bench_{uuid.uuid4().hex[:10]}"
        self.api_workers = api_workers
        self.api_threads = api_threads
        self.extra_settings = extra_settings or {}
        self.registry = None

    def start(self):
        from pulp_registry.launcher import Registry

        self.registry = Registry(
            self.workdir, host="127.0.0.1", port=self.port, content_port=self.content_port,
            database_url=f"{self.database_server}/{self.database_name}",
            admin_password=PASSWORD, extra_settings=self.extra_settings,
            api_workers=self.api_workers, api_threads=self.api_threads,
            notify=lambda message: log(f"pulp_registry: {message}"),
        )
        self.registry.start()
        return self

    def stop(self):
        if self.registry is not None:
            self.registry.stop()
            self.registry = None
        self._drop_database()

    def _drop_database(self):
        import psycopg

        parts = urlsplit(self.database_server)
        try:
            with psycopg.connect(host=parts.hostname, port=parts.port or 5432,
                                 user=parts.username or "postgres",
                                 password=parts.password or None, dbname="postgres",
                                 autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name}" WITH (FORCE)')
        except psycopg.Error as error:
            log(f"could not drop the database {self.database_name}: {error}")

    def make_tags(self, name: str, manifest_digest: str, tags: List[str]) -> None:
        """Point many new tags at a pushed manifest, in one new repository version.

        Setup only (the benchmark measures listing them): through pulpcore-manager shell, with
        the same calls a manifest push makes, instead of one HTTP push per tag.
        """
        code = (
            "from django.db import transaction\n"
            "from pulpcore.plugin.models import Content\n"
            "from pulp_registry.app import push, serving\n"
            "from pulp_registry.app.models import Manifest, Tag\n"
            f"names = {tags!r}\n"
            f"served = serving.resolve({name!r})\n"
            f"manifest = Manifest.objects.get(digest={manifest_digest!r})\n"
            "with transaction.atomic():\n"
            "    pks = [Tag.objects.get_or_create(name=n, tagged_manifest=manifest)[0].pk\n"
            "           for n in names]\n"
            "    with push.locked_new_version(served.repository) as version:\n"
            "        version.add_content(Content.objects.filter(pk__in=pks))\n"
        )
        self.registry.manage("shell", input=code, timeout=3600)

    def api_master_pid(self) -> Optional[int]:
        for process in self.registry.processes:
            if process.name == "api":
                return process.pid
        return None

    def memory_pids(self):
        master = self.api_master_pid()
        return _children(master) if master else []


# --------------------------------------------------------------------------- benchmarks


class RssSampler(threading.Thread):
    """Samples the summed resident memory of some processes until stopped."""

    def __init__(self, pids: Callable[[], List[int]], interval: float = 0.02):
        super().__init__(daemon=True)
        self.pids = pids
        self.interval = interval
        self.baseline = sum(_rss_kib(pid) for pid in pids())
        self.peak = self.baseline
        self.last = self.baseline
        self._stop_event = threading.Event()

    def run(self):
        pids = self.pids()
        rescan = time.monotonic() + 1
        while not self._stop_event.is_set():
            if time.monotonic() > rescan:
                pids, rescan = self.pids(), time.monotonic() + 1
            self.last = sum(_rss_kib(pid) for pid in pids)
            self.peak = max(self.peak, self.last)
            self._stop_event.wait(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()


@dataclass
class Results:
    """Measured seconds per benchmark and target, plus notes."""

    times: Dict[str, Dict[str, List[float]]] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)
    errors: Dict[str, Dict[str, List[int]]] = field(default_factory=dict)
    rss: Dict[str, dict] = field(default_factory=dict)

    def add(self, bench, target, seconds):
        self.times.setdefault(bench, {}).setdefault(target, []).append(seconds)


class Bench:
    """Runs the benchmarks against both targets."""

    def __init__(self, args, workdir: Path, targets: List[Target]):
        self.args = args
        self.workdir = workdir
        self.targets = targets
        self.results = Results()
        hosts = [target.host_port for target in targets]
        self.env = ClientEnv(workdir / "client", registries=hosts)
        self.skopeo = Skopeo(self.env, timeout=3600)
        self.state: Dict[str, dict] = {target.key: {} for target in targets}

    # -- helpers

    def push(self, image: Image, target: Target, name: str, tag: str = "latest",
             skopeo: Optional[Skopeo] = None, check: bool = True):
        return (skopeo or self.skopeo).copy(
            image.ref, f"docker://{target.host_port}/{name}:{tag}",
            dest_creds=(target.user, PASSWORD), preserve_digests=True, check=check,
        )

    def timed(self, function, *args, **kwargs) -> float:
        start = time.perf_counter()
        function(*args, **kwargs)
        return time.perf_counter() - start

    def image_dir(self, label) -> Path:
        return Path(tempfile.mkdtemp(prefix=f"{label}-", dir=self.workdir / "images"))

    def check_manifest(self, target: Target, name: str, tag: str, digest: str):
        client = target.client()
        try:
            status, headers, _ = client.request(
                "HEAD", f"/v2/{name}/manifests/{tag}", headers={"Accept": OCI_MANIFEST})
        finally:
            client.close()
        if status != 200 or headers.get("Docker-Content-Digest") != digest:
            raise RuntimeError(f"{target.label}: {name}:{tag} is not {digest} after the push "
                               f"({status} {headers.get('Docker-Content-Digest')})")

    def ordered(self, run: int) -> List[Target]:
        return self.targets if run % 2 == 0 else list(reversed(self.targets))

    # -- the benchmarks

    def warm_up(self):
        image = build_tar_image(self.image_dir("warmup"), [4096])
        for target in self.targets:
            self.push(image, target, "bench/warmup")
            target.client().list_tags("bench/warmup")

    def run_big(self, run: int, selected):
        wanted = {"push256", "pull256", "mount256"} & selected
        if not wanted:
            return
        image = build_tar_image(self.image_dir("big"), [self.args.layer_mib * MIB])
        for target in self.ordered(run):
            name = f"bench/big-{run}"
            seconds = self.timed(self.push, image, target, name)
            self.check_manifest(target, name, "latest", image.digest)
            if "push256" in wanted:
                self.results.add("push256", target.key, seconds)
            if "pull256" in wanted:
                destination = self.workdir / f"pulled-{target.key}-{run}"
                seconds = self.timed(
                    self.skopeo.copy, f"docker://{target.host_port}/{name}:latest",
                    f"dir:{destination}", src_creds=(target.user, PASSWORD), preserve_digests=True,
                )
                layer_digest, layer_size = image.layers[0]
                pulled = destination / layer_digest.split(":", 1)[1]
                if pulled.stat().st_size != layer_size:
                    raise RuntimeError(f"{target.label}: pulled layer has the wrong size")
                shutil.rmtree(destination)
                self.results.add("pull256", target.key, seconds)
            if "mount256" in wanted:
                copy_name = f"bench/big-{run}-copy"
                seconds = self.timed(self.push, image, target, copy_name)
                self.check_manifest(target, copy_name, "latest", image.digest)
                self.results.add("mount256", target.key, seconds)
        shutil.rmtree(image.path)

    def run_small(self, run: int, selected):
        if "small20" not in selected:
            return
        image = build_tar_image(self.image_dir("small"),
                                [self.args.small_layer_mib * MIB] * self.args.small_layers)
        for target in self.ordered(run):
            name = f"bench/small-{run}"
            self.results.add("small20", target.key, self.timed(self.push, image, target, name))
            self.check_manifest(target, name, "latest", image.digest)
        shutil.rmtree(image.path)

    def run_tags(self, run: int, selected):
        if not {"tags200", "list200"} & selected:
            return
        image = build_tar_image(self.image_dir("tags"), [4096])
        tags = [f"t{number:04d}" for number in range(self.args.tags)]
        for target in self.ordered(run):
            name = f"bench/tags-{run}"
            if "tags200" in selected:
                start = time.perf_counter()
                for tag in tags:
                    self.push(image, target, name, tag)
                self.results.add("tags200", target.key, time.perf_counter() - start)
            else:
                self._http_tags(target, name, image, tags)
            self.check_manifest(target, name, tags[-1], image.digest)
            if "list200" in selected:
                self.results.add("list200", target.key,
                                 self.list_latency(target, name, len(tags), "list200first"))
        shutil.rmtree(image.path)

    def _http_tags(self, target: Target, name: str, image: Image, tags: List[str],
                   threads: int = 1):
        """Push ``image`` under many tags with raw HTTP manifest PUTs (setup, not timed)."""
        client = target.client()
        layout = OCILayout(image.path)
        for digest, _ in image.layers:
            client.upload_blob(name, layout.read_blob(digest))
        config_digest = json.loads(image.manifest)["config"]["digest"]
        client.upload_blob(name, layout.read_blob(config_digest))
        client.close()

        def put(chunk):
            worker = target.client()
            try:
                for tag in chunk:
                    worker.put_manifest(name, tag, image.manifest)
            finally:
                worker.close()

        chunks = [tags[i::threads] for i in range(threads)]
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(put, chunks))

    def list_latency(self, target: Target, name: str, expected: int, first_key: str) -> float:
        """Median seconds of a complete GET tags/list (all pages) over many requests.

        The first listing is timed apart (as ``first_key``): a registry may keep what it read.
        """
        client = target.client()
        try:
            # Authenticates and opens the connection without listing anything.
            client.request("HEAD", f"/v2/{name}/manifests/no-such-tag")
            start = time.perf_counter()
            tags = client.list_tags(name)
            self.results.add(first_key, target.key, time.perf_counter() - start)
            if len(tags) != expected:
                raise RuntimeError(f"{target.label}: {name} lists {len(tags)} tags, "
                                   f"expected {expected}")
            samples = []
            for _ in range(self.args.list_requests):
                start = time.perf_counter()
                client.list_tags(name)
                samples.append(time.perf_counter() - start)
        finally:
            client.close()
        return statistics.median(samples)

    def setup_many_tags(self):
        count = self.args.many_tags
        image = build_tar_image(self.image_dir("many"), [4096])
        tags = [f"tag-{number:05d}" for number in range(count)]
        for target in self.targets:
            start = time.perf_counter()
            if isinstance(target, PulpTarget) and self.args.many_tags_via == "shell":
                self._http_tags(target, "bench/many", image, tags[:1])
                target.make_tags("bench/many", image.digest, tags[1:])
                how = "1 HTTP push, then pulpcore-manager shell (one repository version)"
            else:
                self._http_tags(target, "bench/many", image, tags,
                                threads=self.args.setup_threads)
                how = f"HTTP manifest PUTs ({self.args.setup_threads} threads)"
            seconds = time.perf_counter() - start
            self.results.notes.append(
                f"{target.label}: {count} tags made with {how} in {seconds:.1f} s")
            log(self.results.notes[-1])

    def run_many_tags(self, run: int, selected):
        if "list10k" not in selected:
            return
        for target in self.ordered(run):
            self.results.add("list10k", target.key,
                             self.list_latency(target, "bench/many", self.args.many_tags,
                                               "list10kfirst"))

    def run_concurrent(self, run: int, selected):
        if "push16" not in selected:
            return
        count = self.args.concurrency
        images = [build_tar_image(self.image_dir(f"conc{i}"),
                                  [self.args.concurrent_layer_mib * MIB] * 2)
                  for i in range(count)]
        for target in self.ordered(run):
            envs = [Skopeo(ClientEnv(self.workdir / f"client-{target.key}-{run}-{i}",
                                     registries=[target.host_port]), timeout=3600)
                    for i in range(count)]

            def one(index):
                return self.push(images[index], target, f"bench/conc-{run}-{index}",
                                 skopeo=envs[index], check=False)

            start = time.perf_counter()
            with ThreadPoolExecutor(count) as pool:
                outcomes = list(pool.map(one, range(count)))
            seconds = time.perf_counter() - start
            failed = [o for o in outcomes if o.returncode != 0]
            for outcome in failed:
                log(f"{target.label}: concurrent push failed: {outcome.stderr.strip()[-500:]}")
            for index, image in enumerate(images):
                if not failed:
                    self.check_manifest(target, f"bench/conc-{run}-{index}", "latest",
                                        image.digest)
            self.results.add("push16", target.key, seconds)
            self.results.errors.setdefault("push16", {}).setdefault(target.key, []).append(
                len(failed))
        for image in images:
            shutil.rmtree(image.path)

    def run_rss(self):
        size = self.args.big_layer_mib * MIB
        log(f"building a {self.args.big_layer_mib} MiB layer")
        image = build_tar_image(self.image_dir("huge"), [size])
        for target in self.targets:
            sampler = RssSampler(target.memory_pids)
            sampler.start()
            start = time.perf_counter()
            self.push(image, target, "bench/huge")
            seconds = time.perf_counter() - start
            sampler.stop()
            self.check_manifest(target, "bench/huge", "latest", image.digest)
            self.results.rss[target.key] = {
                "processes": len(target.memory_pids()),
                "baseline_mib": sampler.baseline / 1024,
                "peak_mib": sampler.peak / 1024,
                "after_mib": sampler.last / 1024,
                "growth_mib": (sampler.peak - sampler.baseline) / 1024,
                "seconds": seconds,
            }
            log(f"{target.label}: {self.results.rss[target.key]}")
        shutil.rmtree(image.path)

    def run(self):
        selected = set(self.args.only)
        (self.workdir / "images").mkdir(exist_ok=True)
        log("warming up")
        self.warm_up()
        if "list10k" in selected:
            self.setup_many_tags()
        for run in range(self.args.runs):
            log(f"run {run + 1} of {self.args.runs}")
            self.run_big(run, selected)
            self.run_small(run, selected)
            self.run_tags(run, selected)
            self.run_many_tags(run, selected)
            self.run_concurrent(run, selected)
        if "rss" in selected and self.args.big_layer_mib > 0:
            self.run_rss()
        return self.results


# ------------------------------------------------------------------------------- report


def _format_seconds(seconds: float) -> str:
    if seconds < 0.1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def report(results: Results, args, targets: List[Target]) -> str:
    labels = {target.key: target.label for target in targets}
    have_both = {"distribution", "pulp"} <= set(labels)
    descriptions = {
        "push256": f"push 1 x {args.layer_mib} MiB layer",
        "pull256": f"pull 1 x {args.layer_mib} MiB layer",
        "mount256": "push same image to a new name (mount)",
        "small20": f"push {args.small_layers} x {args.small_layer_mib} MiB layers",
        "tags200": f"push {args.tags} tags (skopeo, sequential)",
        "list200": f"tags/list, {args.tags} tags",
        "list10k": f"tags/list, {args.many_tags} tags",
        "list200first": f"tags/list, {args.tags} tags, first request",
        "list10kfirst": f"tags/list, {args.many_tags} tags, first request",
        "push16": f"{args.concurrency} concurrent pushes (2 x {args.concurrent_layer_mib} MiB)",
    }
    header = ["benchmark"] + [labels[key] for key in labels]
    if have_both:
        header += ["ratio", "target", "met"]
    rows = [header]
    order = []
    for bench in BENCHMARKS:
        order.append(bench)
        if bench in EXTRA_ROWS:
            order.append(EXTRA_ROWS[bench])
    for bench in order:
        if bench not in results.times:
            continue
        medians = {key: statistics.median(results.times[bench][key])
                   for key in labels if key in results.times[bench]}
        row = [descriptions[bench]] + [_format_seconds(medians[key]) if key in medians else "-"
                                       for key in labels]
        if have_both and len(medians) == 2:
            ratio = medians["pulp"] / medians["distribution"]
            limit = TARGET_RATIOS.get(bench)
            errors = results.errors.get(bench, {})
            if bench == "push16":
                total_errors = sum(errors.get("pulp", []))
                target, met = "no errors", ("yes" if total_errors == 0 else
                                            f"NO ({total_errors} errors)")
            elif limit is None:
                target, met = "-", "-"
            else:
                target, met = f"<= {limit:g}x", "yes" if ratio <= limit else "NO"
            row += [f"{ratio:.2f}x", target, met]
        rows.append(row)
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths)) + " |"
             for row in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    if results.rss:
        lines.append("")
        lines.append(f"Resident memory while pushing one {args.big_layer_mib} MiB layer:")
        for key, rss in results.rss.items():
            what = (f"{rss['processes']} API worker processes (sum)" if key == "pulp"
                    else "registry process")
            verdict = ""
            if key == "pulp":
                verdict = (f"; growth target < {RSS_GROWTH_LIMIT_MIB} MiB: "
                           f"{'met' if rss['growth_mib'] < RSS_GROWTH_LIMIT_MIB else 'MISSED'}")
            lines.append(
                f"- {labels[key]}, {what}: before {rss['baseline_mib']:.0f} MiB, "
                f"peak {rss['peak_mib']:.0f} MiB, growth {rss['growth_mib']:.1f} MiB, "
                f"push took {rss['seconds']:.1f} s{verdict}")
    lines.append("")
    lines.append(f"Medians of {args.runs} runs; every run's figures (seconds):")
    for bench in order:
        for key, values in results.times.get(bench, {}).items():
            lines.append(f"- {bench} {labels[key]}: " + ", ".join(f"{v:.4f}" for v in values))
    for note in results.notes:
        lines.append(f"- {note}")
    return "\n".join(lines)


def machine_description() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = 0
    with contextlib.suppress(OSError):
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // 1024
    skopeo = subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout
    return (f"{os.cpu_count()} cores ({model}), {memory / 1024:.0f} GiB RAM, "
            f"{skopeo.strip()}, Python {sys.version.split()[0]}")


# --------------------------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per benchmark (median)")
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help="comma-separated subset of: " + ",".join(BENCHMARKS))
    parser.add_argument("--targets", default="distribution,pulp",
                        help="comma-separated: distribution,pulp")
    parser.add_argument("--layer-mib", type=int, default=256)
    parser.add_argument("--small-layers", type=int, default=20)
    parser.add_argument("--small-layer-mib", type=int, default=1)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--many-tags", type=int, default=10000)
    parser.add_argument("--list-requests", type=int, default=50,
                        help="tags/list requests per run (their median is the run's figure)")
    parser.add_argument("--setup-threads", type=int, default=8,
                        help="threads making the --many-tags tags with HTTP manifest PUTs")
    parser.add_argument("--many-tags-via", choices=("shell", "http"), default="shell",
                        help="how pulp_registry gets the --many-tags tags: one repository "
                             "version made in pulpcore-manager shell (fast), or one HTTP "
                             "manifest PUT per tag, as Distribution always does")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--concurrent-layer-mib", type=int, default=2)
    parser.add_argument("--big-layer-mib", type=int, default=2048,
                        help="layer pushed for the RSS measurement (0: skip)")
    parser.add_argument("--api-workers", type=int, default=None,
                        help="pulp_registry API workers (default: the launcher's)")
    parser.add_argument("--api-threads", type=int, default=None,
                        help="threads per API worker (default: the launcher's)")
    parser.add_argument("--database-server", default="postgresql://postgres@127.0.0.1:5432",
                        help="PostgreSQL server for pulp_registry's (temporary) database")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="directory for data (default: a temporary directory, removed)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    args = parser.parse_args(argv)
    args.only = [item.strip() for item in args.only.split(",") if item.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    args.targets = [item.strip() for item in args.targets.split(",") if item.strip()]
    if not set(args.targets) <= {"distribution", "pulp"} or not args.targets:
        parser.error("--targets takes distribution and/or pulp")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    for program in ("skopeo", "htpasswd", DISTRIBUTION_BINARY):
        if shutil.which(program) is None:
            print(f"{program} is required", file=sys.stderr)
            return 2
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="registry-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    targets: List[Target] = []
    if "distribution" in args.targets:
        targets.append(DistributionTarget(workdir))
    if "pulp" in args.targets:
        from pulp_registry.launcher import Registry

        defaults = Registry.__init__.__kwdefaults__
        targets.append(PulpTarget(
            workdir, args.database_server,
            args.api_workers or defaults["api_workers"],
            args.api_threads or defaults["api_threads"],
        ))
    started = []
    try:
        for target in targets:
            log(f"starting {target.label}")
            started.append(target)
            target.start()
            log(f"{target.label} listens on {target.host_port}")
            if isinstance(target, PulpTarget):
                log(f"pulp_registry API master pid {target.api_master_pid()}, workers "
                    f"{target.memory_pids()} ({target.api_workers} workers x "
                    f"{target.api_threads} threads)")
        bench = Bench(args, workdir, targets)
        results = bench.run()
    finally:
        for target in started:
            with contextlib.suppress(Exception):
                target.stop()
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    text = report(results, args, targets)
    print(f"Machine: {machine_description()}")
    print(text)
    if args.json:
        args.json.write_text(json.dumps({
            "machine": machine_description(),
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
            "times": results.times, "errors": results.errors, "rss": results.rss,
            "notes": results.notes,
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
