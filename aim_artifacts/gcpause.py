"""`paused`: Python's cyclic garbage collector held off while a run's records are built.

Opening a run of 100,000 artifacts makes about a million objects (the parsed JSON, then the
records); the collections their allocations trigger traverse all of them again and again,
which more than doubled the time such a run took to open. None of them form cycles, so
holding the collector off loses nothing: it runs as usual once the last pause ends (pauses
nest, and pauses in several threads end together). What was made meanwhile then joins the
oldest generation, so that the next young collection does not traverse it all at once
either (unless the application froze objects of its own with `gc.freeze`).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["paused"]


class _Pauses:
    """The pauses in progress, and whether the collector was enabled before the first."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.count = 0
        self.was_enabled = False


_PAUSES = _Pauses()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (unless another thread asks for one)."""
    with _PAUSES.lock:
        if _PAUSES.count == 0:
            _PAUSES.was_enabled = gc.isenabled()
            gc.disable()
        _PAUSES.count += 1
    try:
        yield
    finally:
        with _PAUSES.lock:
            _PAUSES.count -= 1
            if _PAUSES.count == 0 and _PAUSES.was_enabled:
                if gc.get_freeze_count() == 0:  # else the application froze objects: keep them
                    gc.freeze()  # what was made meanwhile joins the oldest generation,
                    gc.unfreeze()  # not traversed by the next young collection
                gc.enable()
