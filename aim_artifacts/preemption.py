"""`finish_on_signal`: an opt-in end for preemptible machines. Nothing is installed unless it
is called.

On the signal, this process takes no new logs; uploads in flight go on until the deadline,
then multipart uploads stop at a part boundary, left resumable (`parts`); the open runs are
closed (what was stored is recorded, the journal folded) and the process ends as the signal
would have ended it. A second signal ends it at once.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from types import FrameType

from . import parts, uploader

__all__ = ["finish_on_signal", "stopping"]

_stopping = threading.Event()


def stopping() -> bool:
    """True once a signal given to `finish_on_signal` arrived: logging is refused."""
    return _stopping.is_set()


def finish_on_signal(signum: int = signal.SIGTERM, *, deadline: float = 30.0) -> None:
    """On `signum`, finish within `deadline` seconds and end the process as the signal would
    have: no new logs; running uploads go on until the deadline, then stop at a part
    boundary where they can (S3 multipart uploads), resumable by the next process that logs
    the same file under the same name; every open run is closed (journal folded).

    Raises:
        ValueError: `deadline` is negative, or this is not the main thread (Python installs
            signal handlers from the main thread only).
    """
    if deadline < 0:
        msg = f"deadline must be >= 0 seconds, not {deadline}"
        raise ValueError(msg)

    def handle(received: int, _: FrameType | None) -> None:
        if not _stopping.is_set():
            _stopping.set()
            finisher = threading.Thread(
                target=_finish, args=(received, deadline), name="aim-artifacts-finish"
            )
            finisher.start()  # the handler returns: a blocking upload on this thread goes on
            signal.signal(received, signal.SIG_DFL)  # a second signal ends the process now

    signal.signal(signum, handle)


def _finish(signum: int, deadline: float) -> None:
    parts.wait_idle(time.monotonic() + deadline)
    parts.stop_sending()  # senders stop at their next part; returns once they have
    uploader.close_all()
    os.kill(os.getpid(), signum)  # its default action, as the handler restored
