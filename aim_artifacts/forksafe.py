"""Forked children leave their parent's connections alone.

fsspec's async filesystems (s3fs, gcsfs, adlfs) run on one event loop per process. A child
made by ``fork()`` inherits a copy of that loop whose epoll instance is *shared* with the
parent. When the child closes an inherited connection pool (a filesystem's finalizer, or
aiohttp's ``__del__`` once an inherited filesystem is collected), every socket is removed from
that epoll, the parent's registrations included, and the parent then waits forever for the
response on a reused keep-alive connection. So, in the child, the inherited loop gets an epoll
of its own and is marked not running (its thread stayed in the parent): closing through it
touches nothing of the parent's. (kqueue, on macOS and the BSDs, is not inherited by fork.)
smbclient's module-level connection cache is likewise forgotten in the child.
"""

from __future__ import annotations

import os
import select
import sys
from typing import Any

__all__: list[str] = []

_inherited: list[Any] = []  # fsspec's event loop, from just before a fork until just after


def _before_fork() -> None:
    asyn = sys.modules.get("fsspec.asyn")
    loop = asyn.loop[0] if asyn is not None else None
    _inherited[:] = [] if loop is None else [loop]


def _after_fork_in_parent() -> None:
    _inherited.clear()


def _after_fork_in_child() -> None:
    for loop in _inherited:
        loop._thread_id = None  # nothing runs it here: `is_running()` is False
        selector = getattr(loop, "_selector", None)
        shared = getattr(selector, "_selector", None)
        if hasattr(select, "epoll") and isinstance(shared, select.epoll):
            shared.close()  # this process's descriptor only; the parent keeps its own
            selector._selector = select.epoll()  # type: ignore[union-attr]
    _inherited.clear()
    pool = sys.modules.get("smbclient._pool")
    if pool is not None:  # smbclient keeps every SMB connection in one module-level cache:
        # the child forgets the parent's (their reader threads stayed in the parent, and a
        # logoff from here would end the parent's sessions) and opens its own.
        pool._SMB_CONNECTIONS.clear()


os.register_at_fork(
    before=_before_fork,
    after_in_parent=_after_fork_in_parent,
    after_in_child=_after_fork_in_child,
)
