"""Real servers for tests and benchmarks, all on 127.0.0.1.

`S3Server` is moto's threaded server with a WSGI middleware in front that logs every request
and can add latency (what a real network costs) or fail requests (what a flaky one does).
Run it as a separate process with ``python -m tests.servers --port N [--latency S]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import attrs
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

READY = "Running on"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.frozen
class Request:
    method: str
    path: str
    query: str
    body_bytes: int


class Middleware:
    """Logs requests; optionally sleeps `latency` seconds or fails `fault_rate` of them."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.latency = 0.0
        self.fault_rate = 0.0  # share of requests answered 503 SlowDown or 500 InternalError
        self.drops = 0  # of those, how many instead break the connection mid-response
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._random = random.Random(0)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.latency = 0.0
            self.fault_rate = 0.0
            self.drops = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.latency:
            time.sleep(self.latency)  # the network's round trip, simulated server-side
        request = Request(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            int(environ.get("CONTENT_LENGTH") or 0),
        )
        with self._lock:
            self.requests.append(request)
            fail = self.fault_rate and self._random.random() < self.fault_rate
            drop = fail and self.drops > 0
            if drop:
                self.drops -= 1
            code = self._random.choice(["503 Slow Down", "500 Internal Server Error"])
        if not fail:
            return self.app(environ, start_response)
        environ["wsgi.input"].read(request.body_bytes)
        if drop:  # promise a body, send a byte of it, then break the connection
            start_response("200 OK", [("Content-Length", "1000")])
            return _broken_body()
        error = "SlowDown" if code.startswith("503") else "InternalError"
        body = f"<Error><Code>{error}</Code><Message>injected</Message></Error>".encode()
        start_response(code, [("Content-Type", "application/xml")])
        return [body]


def _broken_body() -> Iterator[bytes]:
    yield b"<"
    msg = "injected: connection dropped"
    raise ConnectionAbortedError(msg)


class S3Server(ThreadedMotoServer):
    """moto's S3 server, its app wrapped in a `Middleware` (``.middleware``)."""

    def __init__(self, port: int) -> None:
        super().__init__(ip_address="127.0.0.1", port=port, verbose=False)
        self.middleware = Middleware(DomainDispatcherApplication(create_backend_app))
        self.url = f"http://127.0.0.1:{port}"

    def _server_entry(self) -> None:
        self._server = make_server(self._ip_address, self._port, self.middleware, threaded=True)
        self._server_ready_event.set()
        self._server.serve_forever()


@contextlib.contextmanager
def moto_process(latency: float = 0.0, **env: str) -> Iterator[str]:
    """An `S3Server` in its own process (its memory and CPU are not ours); yields its URL.

    `env` is added to the server's environment (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.servers", "--port", str(port), "--latency", str(latency)],
        env={**os.environ, **env},
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    drain = threading.Thread(target=proc.stderr.read, daemon=True)
    try:
        for line in proc.stderr:  # the server says so once it listens
            if READY in line:
                break
        else:
            msg = f"S3 server exited with {proc.wait()}"
            raise RuntimeError(msg)
        drain.start()  # keep reading its output so the pipe never fills up
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)  # ends at EOF, now that the server is gone
        proc.stderr.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="moto S3 server with optional latency")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = S3Server(args.port)
    server.middleware.latency = args.latency
    server.start()
    print(f"{READY} {server.url}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        threading.Event().wait()


if __name__ == "__main__":
    main()


@contextlib.contextmanager
def ui_process(uri: str) -> Iterator[str]:
    """``aim-artifacts ui URI`` in its own process on a free port; yields the page's URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "aim_artifacts.cli", "ui", uri, "--port", str(port)],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    drain = threading.Thread(target=proc.stderr.read, daemon=True)
    try:
        for line in proc.stderr:  # uvicorn says so once it listens
            if "running on" in line.lower():
                break
        else:
            msg = f"aim-artifacts ui exited with {proc.wait()}"
            raise RuntimeError(msg)
        drain.start()
        yield line.split("on ", 1)[1].split()[0]  # "Uvicorn running on http://h:p (...)"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)
        proc.stderr.close()
