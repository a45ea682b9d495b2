"""Real servers for tests and benchmarks, all on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_process(**env: str) -> Iterator[str]:
    """A moto S3 server in its own process (its memory is not ours); yields its URL.

    `env` is added to the server's environment (e.g. ``INITIAL_NO_AUTH_ACTION_COUNT``).
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    drain = threading.Thread(target=proc.stderr.read, daemon=True)
    try:
        for line in proc.stderr:  # werkzeug announces the socket once it listens
            if "Running on" in line:
                break
        else:
            msg = f"moto server exited with {proc.wait()}"
            raise RuntimeError(msg)
        drain.start()  # keep reading its request log so the pipe never fills up
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if drain.is_alive():
            drain.join(timeout=30)  # ends at EOF, now that the server is gone
        proc.stderr.close()
