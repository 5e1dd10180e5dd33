"""``--serve [HOST:]PORT``: a read-only dashboard in the runtime process (standard library).

``GET /`` is the page (``dashboard.html`` + ``dashboard.js``, written for this project, no
third-party code, works offline); ``GET /events`` is a Server-Sent Events stream:

``event: hello``
    the run: model file and contract, input, settings, start time, version;
``event: reading``
    one per 40 ms hop: ``i`` (hop index; time = i x 40 ms), ``a``, ``v``, ``s`` (speech 0/1),
    ``o`` (model/hold/decay), ``lat_ms``, ``overflows``, ``drops``;
``event: lag``
    ``{"dropped": n}`` when readings were dropped for this browser because it fell behind;
``event: end``
    the run's summary; the stream then closes and the page stops reconnecting.

A browser that connects late first gets the last 60 s of readings. Every browser has its own
bounded queue (10 s of readings): the pipeline's thread only appends to it (dropping the
oldest when full, counted) and never waits on a socket, so a slow or vanished browser cannot
slow the hops; each connection is written by its own thread. Nothing here writes, reads
files, or changes the run: only GET, for three fixed paths.

Bound to 127.0.0.1 unless a host is named; on a loopback address, requests whose ``Host``
header names another host are refused (a web page elsewhere cannot read the stream through
DNS rebinding).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from edge_affect.errors import EdgeAffectError
from edge_affect.live import RunInfo
from edge_affect.live.endpoint import Endpoint
from edge_affect.stream.reading import Reading

PAGE_DIR = Path(__file__).resolve().parent
CLIENT_QUEUE = 250  # readings queued per browser (10 s); the oldest go first
BACKLOG = 1500  # readings a newly connected browser gets first (60 s)
KEEPALIVE_S = 10.0  # an SSE comment after this long without events
END_DRAIN_S = 2.0  # at the end, how long browsers get to receive the last events
SOCKET_TIMEOUT_S = 10.0  # a write that blocks this long ends that browser's connection
STATIC = {
    "/": ("dashboard.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
}
CSP = "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"


def sse(event: str, data: Mapping[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def reading_event(r: Reading) -> bytes:
    return sse(
        "reading",
        {
            "i": r.index,
            "a": round(float(r.arousal), 6),
            "v": round(float(r.valence), 6),
            "s": 1 if r.speech else 0,
            "o": r.output,
            "lat_ms": round(r.latency_s * 1000.0, 3),
            "overflows": r.overflows,
            "drops": r.drops,
        },
    )


class Client:
    """One browser's bounded queue; filled by the pipeline, drained by its handler thread."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.dropped = 0
        self.connection: socket.socket | None = None
        self.done = threading.Event()  # the handler has finished
        self._queue: deque[bytes] = deque()
        self._final = False
        self._cond = threading.Condition()

    def put(self, event: bytes, *, final: bool = False) -> None:
        with self._cond:
            if len(self._queue) >= self.capacity and not final:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(event)
            self._final = self._final or final
            self._cond.notify()

    def take(self, timeout_s: float) -> tuple[list[bytes], bool]:
        """Wait for events; return them and whether the stream has ended after them."""
        with self._cond:
            self._cond.wait_for(lambda: bool(self._queue) or self._final, timeout_s)
            events = list(self._queue)
            self._queue.clear()
            return events, self._final


class Broadcaster:
    """Fans events out to the connected browsers and keeps the recent history."""

    def __init__(self, hello: bytes) -> None:
        self.hello = hello
        self._lock = threading.Lock()
        self._clients: set[Client] = set()
        self._backlog: deque[bytes] = deque(maxlen=BACKLOG)
        self._end: bytes | None = None
        self.connections = 0
        self.dropped = 0  # over browsers that have left

    def publish(self, event: bytes) -> None:
        with self._lock:
            self._backlog.append(event)
            clients = list(self._clients)
        for client in clients:
            client.put(event)

    def subscribe(self) -> tuple[Client, list[bytes]]:
        client = Client(CLIENT_QUEUE)
        with self._lock:
            self.connections += 1
            history = [self.hello, *self._backlog]
            if self._end is not None:
                client.put(self._end, final=True)
            self._clients.add(client)
        return client, history

    def unsubscribe(self, client: Client) -> None:
        with self._lock:
            self._clients.discard(client)
            self.dropped += client.dropped
        client.done.set()

    def end(self, event: bytes) -> list[Client]:
        with self._lock:
            self._end = event
            clients = list(self._clients)
        for client in clients:
            client.put(event, final=True)
        return clients

    def clients(self) -> list[Client]:
        with self._lock:
            return list(self._clients)

    def total_dropped(self) -> int:
        with self._lock:
            return self.dropped + sum(c.dropped for c in self._clients)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, endpoint: Endpoint, broadcaster: Broadcaster) -> None:
        self.broadcaster = broadcaster
        self.loopback_only = endpoint.is_loopback
        super().__init__((endpoint.host, endpoint.port), _Handler)


class _Server6(_Server):
    address_family = socket.AF_INET6


_LOCAL_HOSTS = ("127.0.0.1", "localhost", "[::1]")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = SOCKET_TIMEOUT_S
    server_version = "edge-affect"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the terminal belongs to the live view."""

    def _host_allowed(self) -> bool:
        if not self.server.loopback_only:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOCAL_HOSTS or name.startswith("127.")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if not self._host_allowed():
            self.send_error(403, "this dashboard answers on its own address only")
        elif path == "/events":
            self._events()
        elif path in STATIC:
            self._static(*STATIC[path])
        else:
            self.send_error(404)

    def _static(self, name: str, content_type: str) -> None:
        body = (PAGE_DIR / name).read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        broadcaster = self.server.broadcaster
        client, history = broadcaster.subscribe()
        client.connection = self.connection
        try:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n" + b"".join(history))
            self._pump(client)
        except OSError:  # the browser left, or stalled past SOCKET_TIMEOUT_S
            pass
        finally:
            broadcaster.unsubscribe(client)

    def _pump(self, client: Client) -> None:
        reported = 0
        while True:
            events, final = client.take(KEEPALIVE_S)
            if client.dropped != reported:
                reported = client.dropped
                events.insert(0, sse("lag", {"dropped": reported}))
            self.wfile.write(b"".join(events) if events else b": keepalive\n\n")
            self.wfile.flush()
            if final:
                return


class Dashboard:
    """The ``--serve`` output: starts the server at open, ends the stream at close."""

    def __init__(
        self, endpoint: Endpoint, info: RunInfo, announce: Callable[[str], None] = print
    ) -> None:
        hello = sse(
            "hello",
            {
                "model": dict(info.model),
                "source": info.source,
                "started": info.started,
                "settings": dict(info.settings),
                "version": info.version,
                "hop_ms": 40,
                "history_s": BACKLOG * 40 // 1000,
            },
        )
        self.broadcaster = Broadcaster(hello)
        server_class = _Server6 if ":" in endpoint.host else _Server
        try:
            self.server = server_class(endpoint, self.broadcaster)
        except OSError as error:
            reason = error.strerror or str(error)
            raise EdgeAffectError(f"--serve {endpoint}: cannot listen there ({reason})") from None
        port = self.server.server_address[1]
        self.endpoint = Endpoint(endpoint.host, port)
        self.url = f"http://{self.endpoint}/"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )
        self._thread.start()
        self.published = 0
        self._closed = False
        announce(f"dashboard: {self.url}")
        if endpoint.host in ("0.0.0.0", "::"):  # every interface: say which URLs work
            announce(
                f"dashboard: from other machines http://{socket.gethostname()}:{port}/, "
                f"on this one http://127.0.0.1:{port}/"
            )
        if not endpoint.is_loopback:
            announce(
                "dashboard: open to the network: anyone who can reach this port sees the "
                "readings, the model and the input's name (read-only, plain HTTP, no password)"
            )

    def write(self, reading: Reading) -> None:
        self.broadcaster.publish(reading_event(reading))
        self.published += 1

    def close(self, summary: Mapping[str, Any] | None = None) -> None:
        """Send the end event, give browsers :data:`END_DRAIN_S` to take it, stop serving."""
        if self._closed:
            return
        self._closed = True
        clients = self.broadcaster.end(sse("end", dict(summary or {})))
        deadline = time.monotonic() + END_DRAIN_S
        for client in clients:
            client.done.wait(max(0.0, deadline - time.monotonic()))
        for client in clients:
            if not client.done.is_set() and client.connection is not None:
                with contextlib.suppress(OSError):  # unblock a writer stuck on it
                    client.connection.shutdown(socket.SHUT_RDWR)
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def status(self) -> str:
        b = self.broadcaster
        return (
            f"dashboard: {b.connections} event streams served, "
            f"{b.total_dropped()} readings skipped for browsers that fell behind"
        )
