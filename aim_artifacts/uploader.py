"""`Uploader`: stores batches of jobs on a pool of threads owned by one process, keeps the
background batches until `wait`, and finishes what runs left open at interpreter exit."""

from __future__ import annotations

import atexit
import collections
import functools
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, Protocol, TypeVar

from .errors import UploadError
from .jobs import Job
from .records import Artifact

__all__ = ["Uploader", "close_all", "close_at_exit", "upload_error"]

T = TypeVar("T")
CROWDED = 1.5  # jobs waiting this many times longer than alone: no more workers join
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
        connect_cost: float = 0.0,
    ) -> Future[list[Artifact]]:
        """Run `store` on every job, up to `workers` at once, then `finish(results, failures)`
        (by job name) once: the future holds what it returns or raises (an `UploadError`).
        Where a worker's client costs `connect_cost` seconds to set up, workers join one at a
        time (`_Queue`). A blocking batch runs on the caller's thread too."""
        self._this_process()
        batch: Future[list[Artifact]] = Future()

        def complete(results: dict[str, T], failures: dict[str, BaseException]) -> None:
            try:
                batch.set_result(finish(results, failures))
            except UploadError as exc:
                batch.set_exception(exc)
            except BaseException as exc:  # noqa: BLE001 - every job failed with it
                batch.set_exception(upload_error(dict.fromkeys((j.name for j in jobs), exc)))

        queue = _Queue(jobs, store, complete, self._start_worker, workers, connect_cost)
        if not block:  # a blocking caller gets the batch's outcome itself, once
            with self._lock:
                self._pending.add(batch)
        queue.start(here=block)
        return batch

    def _start_worker(self, work: Callable[[], None], workers: int) -> None:
        """Run `work` on a thread of the pool (of up to `workers` threads)."""
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, "aim-artifacts")
            self._executor.submit(work)

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


class _Queue(Generic[T]):
    """A batch's jobs, taken in order by its workers. Where a worker costs nothing to start
    (one client serves every thread), they all start at once; else one starts, and another
    joins when the time it would save exceeds what its client costs to set up (the jobs
    left, times the time a job spent waiting on the server while it ran alone, not on this
    process's CPU, which more threads would not add, shared among one worker more), as long
    as the workers so far overlap their waits: once the last one to join has set up its
    client, jobs wait at most `CROWDED` times as long as alone (a busy server, or threads
    waiting for each other to run, makes them wait longer)."""

    def __init__(  # noqa: PLR0917 - one caller, `Uploader.submit`
        self,
        jobs: Sequence[Job],
        store: Callable[[Job], T],
        complete: Callable[[dict[str, T], dict[str, BaseException]], None],
        start_worker: Callable[[Callable[[], None], int], None],
        workers: int,
        connect_cost: float,
    ) -> None:
        self._jobs = collections.deque(jobs)
        self._store, self._complete, self._start_worker = store, complete, start_worker
        self._limit = max(1, min(workers, len(jobs)))
        self._pool_size = workers
        self._connect_cost = connect_cost
        self._lock = threading.Lock()
        self._workers = 0
        self._unfinished = len(jobs)
        # Phases: a worker joins (odd: it sets up its client, slowing the others), its first
        # job ends (even: the jobs that start now show how long jobs wait with this many).
        self._phase = 0
        self._waited = 0.0  # seconds the jobs of one worker alone spent off this process's CPU
        self._alone = 0  # ... and how many they were
        self._since: list[float] = []  # what the jobs of this phase waited
        self._results: dict[str, T] = {}
        self._failures: dict[str, BaseException] = {}

    def start(self, *, here: bool) -> None:
        """Start the first workers; `here`: the caller's thread is one of them (this returns
        once no job is left to take)."""
        if not self._jobs:
            self._complete(self._results, self._failures)
            return
        self._workers = self._limit if self._connect_cost <= 0 else 1
        self._phase = 1
        for _ in range(self._workers - here):
            self._start_worker(functools.partial(self._work, self._phase), self._pool_size)
        if here:
            self._work(self._phase)

    def _work(self, joined: int) -> None:
        """Take jobs until none is left; `joined`: the phase this worker joined in."""
        first = True
        while True:
            with self._lock:
                if not self._jobs:
                    return
                job = self._jobs.popleft()
                phase = self._phase  # the phase it started in
            began, cpu = time.perf_counter(), time.thread_time()
            failure: Exception | None = None
            try:
                result = self._store(job)
            except Exception as exc:  # noqa: BLE001 - reported with the batch
                failure = exc
            except BaseException:  # interrupted: the jobs not started are dropped
                with self._lock:
                    self._jobs.clear()
                raise
            waited = max(0.0, time.perf_counter() - began - (time.thread_time() - cpu))
            with self._lock:
                if failure is None:
                    self._results[job.name] = result
                else:
                    self._failures[job.name] = failure
                self._unfinished -= 1
                if first and joined == self._phase:  # the newest worker is set up
                    self._phase += 1
                    self._since = []
                elif phase == self._phase and phase % 2 == 0:
                    self._since.append(waited)
                    if self._workers == 1:
                        self._waited += waited
                        self._alone += 1
                first = False
                joins = self._worth_a_worker()
                if joins:
                    self._workers += 1
                    self._phase += 1
                joining = self._phase
                last = self._unfinished == 0
            if joins:
                self._start_worker(functools.partial(self._work, joining), self._pool_size)
            if last:
                self._complete(self._results, self._failures)

    def _worth_a_worker(self) -> bool:
        """True if one worker more would save more than its client costs (lock held)."""
        if self._workers >= self._limit or not self._jobs or not self._alone:
            return False
        alone = self._waited / self._alone
        since = self._since
        if self._workers > 1 and (
            self._phase % 2
            or len(since) < self._workers
            or sum(since) > CROWDED * alone * len(since)
        ):
            return False
        left = len(self._jobs) * alone
        return left / self._workers - left / (self._workers + 1) > self._connect_cost


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
