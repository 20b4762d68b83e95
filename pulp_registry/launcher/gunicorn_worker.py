"""The gunicorn worker class of the registry's API server.

It is gunicorn's threaded (``gthread``) worker with two additions:

* **Immediate answer to TLS.** Container clients (podman, skopeo, buildah: Go's
  ``containers/image``) first try HTTPS even with ``--tls-verify=false`` and fall back to
  plain HTTP only once the server's reply shows it is not TLS. A stock gunicorn waits for
  an HTTP request line that never comes, so every such client stalls for Go's 10 s TLS
  handshake timeout. This worker peeks at the first byte of each new connection; a TLS
  handshake record (0x16) gets a short plain ``HTTP/1.0 400`` reply and the connection is
  closed, which Go reads as "server gave HTTP response to HTTPS client" and retries over
  HTTP at once.
* **Quick graceful stop.** Idle keep-alive connections are closed as soon as the worker
  is told to stop, instead of holding the shutdown for their keep-alive time.
* **pulpcore heartbeat.** Like pulpcore's own API worker it records itself as an online
  API app (``AppStatus``), so ``/pulp/api/v3/status/`` lists it.
* **Unread request bodies read before answering.** A request refused early (401, 404, 413)
  leaves its body unread. The stock worker drains at most 64 KiB of it after the response
  and otherwise closes the connection, although the response said ``keep-alive``; the
  client's next request then fails on a closed connection. This worker reads up to
  :data:`UNREAD_BODY_LIMIT` of it before the response goes out, and beyond that answers
  with ``Connection: close``, for every application it serves (``/v2/``, ``/token/`` and
  pulpcore's REST API).
* **No full garbage collection of start-up objects.** What Django and pulpcore load is
  frozen (:func:`freeze_loaded_objects`), so the collector does not walk it again and again.
* **Request bodies read in large pieces.** gunicorn's ``Body.read(n)`` gathers ``n`` bytes
  1 KiB at a time, copying what is buffered on each step; a 256 MiB blob upload spent about
  0.7 s of CPU there. :class:`~pulp_registry.launcher.request_bodies.LargeReadBody` receives
  large reads into one buffer instead, for ``Content-Length`` and chunked bodies alike (see
  docs/performance.md).
"""

import logging
import os
import signal
import socket
import sys
import threading
import time

from gunicorn.arbiter import Arbiter
from gunicorn.http.body import Body
from gunicorn.workers import gthread

from pulp_registry.launcher.request_bodies import LargeReadBody

logger = logging.getLogger(__name__)

TLS_HANDSHAKE_RECORD = 0x16
# Bytes of a request body the application left unread that are read and discarded so the
# connection can serve the next request; past this the connection is closed instead.
UNREAD_BODY_LIMIT = 1024 * 1024
PLAIN_HTTP_ONLY_REPLY = (
    b"HTTP/1.0 400 Bad Request\r\n"
    b"Content-Type: text/plain\r\n"
    b"Connection: close\r\n"
    b"\r\n"
    b"This server speaks plain HTTP.\n"
)


def starts_with_tls_handshake(sock: socket.socket) -> bool:
    """Return whether the data waiting on ``sock`` begins a TLS handshake.

    Nothing is consumed (the byte is only peeked at). A socket with no data yet, or
    closed by the peer, counts as not TLS and is left to the HTTP parser.

    Args:
        sock: A freshly accepted connection with data ready to read.
    """
    try:
        first = sock.recv(1, socket.MSG_PEEK)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False
    return first[:1] == bytes([TLS_HANDSHAKE_RECORD])


def refuse_tls(sock: socket.socket) -> None:
    """Send the plain-HTTP-only reply on ``sock`` and close it.

    The client's hello is read and discarded first: closing a socket with unread data
    makes the kernel send a reset, which could destroy the reply before the client has
    read it.

    Args:
        sock: The connection whose first bytes were a TLS handshake.
    """
    try:
        sock.settimeout(2.0)
        sock.sendall(PLAIN_HTTP_ONLY_REPLY)
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            if not sock.recv(65536):
                break
    except OSError:
        pass
    finally:
        sock.close()


def _discard(body, limit: int) -> bool:
    """Read and drop what is left of a request body; False if more than ``limit`` is left."""
    discarded = 0
    while discarded <= limit:
        piece = body.read(64 * 1024)
        if not piece:
            return True
        discarded += len(piece)
    return False


def reading_unread_bodies(app, limit: int = UNREAD_BODY_LIMIT):
    """Wrap a WSGI application so that what it leaves of a request body is read before the
    response is sent, or the response closes the connection (see the module docstring)."""

    def application(environ, start_response):
        result = app(environ, start_response)
        body = environ.get("wsgi.input")
        try:
            complete = body is None or _discard(body, limit)
        except Exception:  # broken framing or a vanished client: nothing more to read
            complete = False
        if not complete:
            # gunicorn's response object: its headers are not sent yet (they go out with
            # the first piece of the body), so it still announces and then does a close.
            response = getattr(start_response, "__self__", None)
            if response is not None:
                response.must_close = True
        return result

    return application


class RegistryApiWorker(gthread.ThreadWorker):
    """gunicorn ``gthread`` worker that answers TLS hellos at once and sends heartbeats."""

    app_status = None
    heartbeat_thread = None

    def init_process(self):
        """Set up Django and register this process as an online pulpcore API app."""
        # Until gunicorn installs its own handlers (late in init_process) the worker runs
        # with the arbiter's, which ignore a stop request in a worker. A registry stopped
        # right after it started would then wait for this worker until the graceful
        # timeout; remember the request instead and honour it in init_signals.
        self._stop_requested = False
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
            signal.signal(sig, self._remember_stop)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pulpcore.app.settings")
        import django

        django.setup()
        self._register_app_status()
        super().init_process()

    def load_wsgi(self):
        """Load the application, wrapped so that no unread body breaks keep-alive, and take
        what it loaded out of the garbage collector's sight."""
        super().load_wsgi()
        self.wsgi = reading_unread_bodies(self.wsgi)
        freeze_loaded_objects()

    def _remember_stop(self, signum, frame):
        self._stop_requested = True

    def init_signals(self):
        """Install gunicorn's signal handlers, then act on a stop requested before them."""
        super().init_signals()
        if self._stop_requested:
            self.alive = False

    def run(self):
        """Serve until told to stop, remove this process's status record, and exit."""
        try:
            super().run()
        finally:
            if self.app_status is not None:
                try:
                    self.app_status.delete()
                except Exception:  # the database may already be gone at shutdown
                    logger.debug("could not delete the API app status", exc_info=True)
        # Tearing down the interpreter of a Django process with all of pulpcore loaded
        # takes seconds and does nothing useful here: close the database connections
        # and leave at once, so that stopping the registry is not held up by it.
        from django.db import connections

        connections.close_all()
        self.log.info("Worker exiting (pid: %s)", self.pid)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os._exit(0)

    def handle(self, conn):
        """Serve one connection job, first turning away TLS on new connections."""
        if not conn.initialized and not self.cfg.is_ssl:
            # Same wait as the stock worker: a client that sends nothing yet goes back to
            # the poller instead of holding a thread.
            if not conn.wait_for_data(gthread.DEFAULT_WORKER_DATA_TIMEOUT):
                return gthread._DEFER
            if starts_with_tls_handshake(conn.sock):
                self.log.debug("TLS handshake from %s: answered plain HTTP only", conn.client)
                refuse_tls(conn.sock)
                return False
        return super().handle(conn)

    def handle_request(self, req, conn):
        """Serve one request, its body read through :class:`LargeReadBody`."""
        if type(req.body) is Body:
            req.body = LargeReadBody(req.body.reader)
        return super().handle_request(req, conn)

    def murder_keepalived(self):
        """Close expired idle connections, and all idle ones once shutting down.

        The stock worker keeps idle keep-alive connections open during a graceful
        shutdown until their keep-alive time runs out, holding up every stop by that
        long. An idle connection carries no request, so closing it at once loses nothing.
        """
        if not self.alive:
            for conn in list(self.keepalived_conns) + list(self.pending_conns):
                conn.timeout = 0
        super().murder_keepalived()

    def notify(self):
        """Tell the arbiter we are alive, unless the heartbeat thread has died."""
        super().notify()
        if self.heartbeat_thread is not None and not self.heartbeat_thread.is_alive():
            logger.error("the heartbeat thread of %s died; exiting to be restarted", self.pid)
            os._exit(Arbiter.WORKER_BOOT_ERROR)

    def _register_app_status(self):
        from django.conf import settings
        from django.db import IntegrityError

        from pulpcore.app.apps import pulp_plugin_configs
        from pulpcore.app.models import AppStatus
        from pulpcore.app.util import get_worker_name

        versions = {app.label: app.version for app in pulp_plugin_configs()}
        try:
            self.app_status = AppStatus.objects.create(
                name=get_worker_name(), app_type="api", versions=versions
            )
        except IntegrityError:
            logger.error("an API app named %s is already registered", get_worker_name())
            os._exit(Arbiter.WORKER_BOOT_ERROR)
        # pulpcore counts an API app as gone after API_APP_TTL without a heartbeat.
        interval = max(1, settings.API_APP_TTL // 3)
        self.heartbeat_thread = threading.Thread(
            target=self._heartbeat_loop, args=(interval,), daemon=True, name="heartbeat"
        )
        self.heartbeat_thread.start()

    def _heartbeat_loop(self, interval):
        from django.db import DatabaseError, InterfaceError, connection

        failures = 0
        while self.alive:
            try:
                self.app_status.save_heartbeat()
                failures = 0
            except (InterfaceError, DatabaseError):
                # A dropped connection is re-opened on the next try; give up only when
                # the database stays unreachable, letting the thread (and so the worker) end.
                connection.close_if_unusable_or_obsolete()
                failures += 1
                if failures >= 3:
                    logger.error("the API app heartbeat failed %d times in a row", failures)
                    return
            time.sleep(interval)


def freeze_loaded_objects():
    """Import the URL configuration (and so every view module), then move everything loaded so
    far into the garbage collector's permanent generation.

    Django, pulpcore and their modules make about 200,000 long-lived objects, which every full
    collection would walk again: about 150 ms of a request now and then, some 1.4 ms per
    manifest push on average (docs/performance.md). What is frozen is still freed by reference
    counting; only cycles among those startup objects stay, and they live for the whole
    process anyway.
    """
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # imports the views, which Django would do on first request
    gc.collect()
    gc.freeze()


__all__ = [
    "LargeReadBody",
    "freeze_loaded_objects",
    "RegistryApiWorker",
    "reading_unread_bodies",
    "refuse_tls",
    "starts_with_tls_handshake",
]
