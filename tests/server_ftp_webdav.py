"""FTP (pyftpdlib) and WebDAV (wsgidav on cheroot) test servers, each in its own process.

`ftp_server` and `webdav_server` yield a `FileServer`: the fsspec options to reach it, where
tests store below, and where that is on this machine's disk. The server runs as
``python -m tests.server_ftp_webdav {ftp,webdav} --port N --root DIR --user U``; the password
comes through the environment (never argv, a log or a file) and the server prints `READY`
once it listens.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import faulthandler
import logging
import os
import secrets
import signal
import sys
from collections.abc import Iterator

from tests.servers import FileServer, free_port, server_process

READY = "Serving on"
PR_SET_PDEATHSIG = 1  # prctl(2): the signal this process gets when its parent dies
PASSWORD_ENV = "AIM_ARTIFACTS_TEST_SERVER_PASSWORD"
USER = "aim"
BASE = "base"  # the directory below the server's root where tests store
STARTUP_TIMEOUT = 20.0  # seconds a server may take to listen before it gives up


@contextlib.contextmanager
def _serve(kind: str, root_dir: str, password: str) -> Iterator[int]:
    """Run ``python -m tests.server_ftp_webdav KIND`` on a free port; yield the port."""
    with contextlib.ExitStack() as stack:
        for attempt in range(3):
            port = free_port()
            argv = [sys.executable, "-m", "tests.server_ftp_webdav", kind, "--port", str(port)]
            argv += ["--root", root_dir, "--user", USER]
            try:
                stack.enter_context(server_process(argv, READY, {PASSWORD_ENV: password}))
                break
            except RuntimeError as exc:  # another process took the port meanwhile: retry
                if attempt == 2 or "in use" not in str(exc):
                    raise
        yield port


@contextlib.contextmanager
def ftp_server(workdir: str) -> Iterator[FileServer]:
    """pyftpdlib's threaded FTP server on 127.0.0.1; one user, all permissions."""
    home = os.path.join(workdir, "ftp")
    os.makedirs(os.path.join(home, BASE), exist_ok=True)
    password = secrets.token_urlsafe(16)
    with _serve("ftp", home, password) as port:
        options = {"host": "127.0.0.1", "port": port, "username": USER, "password": password}
        yield FileServer(
            protocol="ftp",
            options=options,
            root=f"/{BASE}",
            url_root=f"ftp://127.0.0.1:{port}/{BASE}",
            secret=password,
            disk_root=os.path.join(home, BASE),
        )


@contextlib.contextmanager
def webdav_server(workdir: str) -> Iterator[FileServer]:
    """wsgidav (FilesystemProvider, locking on) on cheroot on 127.0.0.1; basic auth."""
    share = os.path.join(workdir, "webdav")
    os.makedirs(os.path.join(share, BASE), exist_ok=True)
    password = secrets.token_urlsafe(16)
    with _serve("webdav", share, password) as port:
        base_url = f"http://127.0.0.1:{port}"
        yield FileServer(
            protocol="webdav",
            options={"base_url": base_url, "auth": (USER, password)},
            root=BASE,  # webdav4 names paths relative to base_url, without a leading "/"
            url_root=f"webdav://{BASE}",  # url_to_fs needs `options` for base_url and auth
            secret=password,
            disk_root=os.path.join(share, BASE),
        )


# -- the server processes -----------------------------------------------------------------------


def _run_ftp(args: argparse.Namespace, password: str) -> None:
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler
    from pyftpdlib.servers import ThreadedFTPServer

    logging.getLogger("pyftpdlib").setLevel(logging.WARNING)
    authorizer = DummyAuthorizer()
    authorizer.add_user(args.user, password, args.root, perm="elradfmwMT")

    class Handler(FTPHandler):
        pass

    Handler.authorizer = authorizer
    # Passive data ports stay kernel-assigned (on the control connection's 127.0.0.1): with
    # a configured range, two handler threads can bind() the same port (SO_REUSEADDR) and
    # the second's listen() fails with EADDRINUSE, which pyftpdlib does not retry.
    Handler.passive_ports = None
    server = ThreadedFTPServer(("127.0.0.1", args.port), Handler)  # a thread per client
    _ready(f"ftp://127.0.0.1:{args.port}")
    server.serve_forever(handle_exit=True)


def _run_webdav(args: argparse.Namespace, password: str) -> None:
    from cheroot import wsgi
    from wsgidav.wsgidav_app import WsgiDAVApp

    config = {
        "host": "127.0.0.1",
        "port": args.port,
        "provider_mapping": {"/": args.root},
        "simple_dc": {"user_mapping": {"*": {args.user: {"password": password}}}},
        "http_authenticator": {
            "domain_controller": None,  # SimpleDomainController
            "accept_basic": True,
            "accept_digest": False,
            "default_to_digest": False,
        },
        "lock_storage": True,
        "dir_browser": {"enable": False},
        "verbose": 1,
        "logging": {"enable": False},
    }
    app = WsgiDAVApp(config)
    server = wsgi.Server(("127.0.0.1", args.port), app, numthreads=20)
    server.prepare()  # binds and listens
    _ready(f"http://127.0.0.1:{args.port}")
    try:
        server.serve()
    finally:
        server.stop()


def _ready(url: str) -> None:
    faulthandler.cancel_dump_traceback_later()
    print(f"{READY} {url}", flush=True)


def _exit_with_parent() -> None:
    """End this server when the process that started it dies (e.g. a SIGKILLed pytest): the
    kernel sends SIGKILL then (Linux's parent-death signal), no watching needed."""
    parent = os.getppid()
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the signal was asked for
        os._exit(0)


def main() -> None:
    # A server stuck before it listens dumps its threads' stacks and exits, which ends
    # `server_process`'s wait for the ready line with that output.
    faulthandler.dump_traceback_later(STARTUP_TIMEOUT, exit=True)
    parser = argparse.ArgumentParser(description="FTP or WebDAV test server on 127.0.0.1")
    parser.add_argument("kind", choices=["ftp", "webdav"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True, help="directory served as /")
    parser.add_argument("--user", required=True)
    args = parser.parse_args()
    password = os.environ.pop(PASSWORD_ENV, None)
    if not password:
        parser.error(f"set the password in ${PASSWORD_ENV}")
    _exit_with_parent()
    run = _run_ftp if args.kind == "ftp" else _run_webdav
    with contextlib.suppress(KeyboardInterrupt):
        run(args, password)


if __name__ == "__main__":
    main()
