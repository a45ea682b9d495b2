"""`Uploader`: stores batches of jobs on a pool of threads owned by one process, keeps the
background batches until `wait`, and finishes what runs left open at interpreter exit."""

from __future__ import annotations

import atexit
import functools
import os
import sys
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol, TypeVar

from .errors import UploadError
from .jobs import Job
from .records import Artifact

__all__ = ["Uploader", "close_all", "close_at_exit", "upload_error"]

T = TypeVar("T")
Finish = Callable[[dict[str, T], dict[str, BaseException]], list[Artifact]]


class Uploader:
    """A worker pool and the background batches it runs. Forked children start afresh: the
    parent's threads and uploads are not theirs."""

    def __init__(self) -> None:
        self._pid = -1
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[list[Artifact]]] = set()

    def _this_process(self) -> None:
        if self._pid != os.getpid():
            self._start()

    def __getstate__(self) -> dict[str, object]:
        return {}  # threads and uploads belong to the process that started them

    def __setstate__(self, state: dict[str, object]) -> None:
        self._start()

    def submit(
        self,
        jobs: Sequence[Job],
        store: Callable[[Job], T],
        finish: Finish[T],
        *,
        workers: int,
        block: bool,
    ) -> Future[list[Artifact]]:
        """Run `store` on every job, `workers` at once, then `finish(results, failures)`
        (by job name) once: the future holds what it returns or raises (an `UploadError`).
        A blocking batch of one job, or with one worker, runs on the caller's thread."""
        self._this_process()
        batch: Future[list[Artifact]] = Future()

        def complete(results: dict[str, T], failures: dict[str, BaseException]) -> None:
            try:
                batch.set_result(finish(results, failures))
            except UploadError as exc:
                batch.set_exception(exc)
            except BaseException as exc:  # noqa: BLE001 - every job failed with it
                batch.set_exception(upload_error(dict.fromkeys((j.name for j in jobs), exc)))

        results: dict[str, T] = {}
        failures: dict[str, BaseException] = {}
        if block and (workers == 1 or len(jobs) == 1):
            for job in jobs:
                try:
                    results[job.name] = store(job)
                except Exception as exc:  # noqa: BLE001 - reported with the batch
                    failures[job.name] = exc
            complete(results, failures)
            return batch
        remaining = [len(jobs)]
        done_lock = threading.Lock()

        def done(job: Job, future: Future[T]) -> None:
            exc = future.exception()
            with done_lock:
                if exc is None:
                    results[job.name] = future.result()
                else:
                    failures[job.name] = exc
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                complete(results, failures)

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, "aim-artifacts")
            if not block:  # a blocking caller gets the batch's outcome itself, once
                self._pending.add(batch)
            for job in jobs:
                future = self._executor.submit(store, job)
                future.add_done_callback(functools.partial(done, job))
        return batch

    def wait(self) -> None:
        """Wait for every background batch of this process.

        Raises:
            UploadError: some uploads failed; ``failures`` maps their names to the errors.
        """
        self._this_process()
        failures: dict[str, BaseException] = {}
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            for future in pending:
                exc = future.exception()
                if isinstance(exc, UploadError):
                    failures.update(exc.failures)
                with self._lock:
                    self._pending.discard(future)
        if failures:
            raise upload_error(failures)

    def shutdown(self) -> None:
        """Release the worker threads (after `wait`)."""
        self._this_process()
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)


def upload_error(failures: dict[str, BaseException]) -> UploadError:
    """One error for these failed uploads, naming each."""
    lines = "; ".join(f"{name!r}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
    msg = f"{len(failures)} artifact(s) failed to upload and were not recorded: {lines}"
    return UploadError(msg, failures)


class _Closable(Protocol):
    """What `close_at_exit` takes: a `Run`, without importing run (which imports this)."""

    hash: str

    def close(self) -> None:
        """Finish the uploads and fold the journal."""


_open_at_exit: weakref.WeakSet[_Closable] = weakref.WeakSet()


def close_at_exit(run: _Closable) -> None:
    """Close `run` at interpreter exit if it is still open then (uploads finished, journal
    folded)."""
    _open_at_exit.add(run)


def close_all() -> None:
    """Close the runs left open; report failures on stderr (nothing else would see them)."""
    for run in list(_open_at_exit):
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001 - the process is ending: say it, don't raise
            print(f"aim-artifacts: run {run.hash}: {exc}", file=sys.stderr)


# Run before concurrent.futures shuts its pools down at exit (threading's exit hooks run in
# reverse order of registration, and it registered on import, above): s3fs and aiohttp still
# need to start threads while the last uploads and the sidecar fold complete.
getattr(threading, "_register_atexit", atexit.register)(close_all)
