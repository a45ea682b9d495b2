"""How many workers a batch gets: all at once where one client serves every thread; else
one, joined by more only while they pay for the client each one sets up (`Uploader`).

The jobs here stand for uploads: one that sleeps waits as on a distant server, one that
spins keeps this process's CPU busy, one that waits on a one-thread executor waits on
a server that serves one request at a time."""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import paramiko
import pytest

from aim_artifacts import Run
from aim_artifacts.jobs import Job
from aim_artifacts.uploader import Uploader
from tests.latency import latency_proxy

pytestmark = pytest.mark.timeout(120)


def jobs(n: int) -> list[Job]:
    now = dt.datetime.now(dt.timezone.utc)
    return [Job("", f"f{i:03d}", {}, now, 0) for i in range(n)]


def run_batch(work: Any, n: int, *, workers: int, connect_cost: float, block: bool) -> set[int]:
    """The threads that ran a batch of `n` jobs doing `work()`."""
    threads: set[int] = set()
    lock = threading.Lock()

    def store(_: Job) -> None:
        with lock:
            threads.add(threading.get_ident())
        work()

    uploader = Uploader()
    batch = uploader.submit(
        jobs(n),
        store,
        lambda results, failures: [],
        workers=workers,
        block=block,
        connect_cost=connect_cost,
    )
    assert batch.result(timeout=60) == []
    uploader.shutdown()
    return threads


@pytest.mark.parametrize("block", [True, False])
def test_workers_join_while_jobs_wait_on_the_server(block: bool) -> None:
    threads = run_batch(lambda: time.sleep(0.02), 40, workers=4, connect_cost=0.02, block=block)
    assert len(threads) == 4


def test_a_blocking_batch_runs_on_the_callers_thread_first() -> None:
    threads = run_batch(lambda: None, 5, workers=4, connect_cost=10.0, block=True)
    assert threads == {threading.get_ident()}  # its client is made: no other is set up


def spin(seconds: float = 0.002) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


def test_no_worker_joins_where_jobs_keep_this_process_busy() -> None:
    threads = run_batch(spin, 60, workers=4, connect_cost=1.0, block=True)
    assert len(threads) == 1


def test_workers_stop_joining_once_jobs_wait_longer_together() -> None:
    # A server that serves one request at a time, in turn: a second worker only queues.
    with ThreadPoolExecutor(1) as server:
        threads = run_batch(
            lambda: server.submit(time.sleep, 0.005).result(),
            60,
            workers=8,
            connect_cost=0.001,
            block=True,
        )
    assert len(threads) == 2


def test_workers_of_a_shared_client_start_at_once() -> None:
    together = threading.Barrier(4, timeout=30)  # only passes if all four run at once
    threads = run_batch(together.wait, 4, workers=4, connect_cost=0.0, block=False)
    assert len(threads) == 4


@pytest.fixture
def logins(monkeypatch: pytest.MonkeyPatch) -> list[paramiko.Transport]:
    """The SSH logins made during the test (paramiko's own, counted as they start)."""
    started: list[paramiko.Transport] = []
    start_client = paramiko.Transport.start_client

    def counted(transport: paramiko.Transport, *args: Any, **kwargs: Any) -> Any:
        started.append(transport)
        return start_client(transport, *args, **kwargs)

    monkeypatch.setattr(paramiko.Transport, "start_client", counted)
    return started


def checkpoint(tmp_path: Path, files: int) -> Path:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    for i in range(files):
        (ckpt / f"f{i:03d}.bin").write_bytes(bytes([i]) * 4096)
    return ckpt


def test_a_batch_on_a_near_sftp_server_logs_in_once(
    sftp: Any, tmp_path: Path, logins: list[paramiko.Transport]
) -> None:
    """On 127.0.0.1 an SSH login costs more (key exchange) than the jobs wait: the run's
    own connection stores the batch (a second may join on a machine so busy that the jobs
    wait for a CPU as long as for a distant server; a worker per thread made five)."""
    ckpt = checkpoint(tmp_path, 60)
    with Run(artifacts_uri=sftp.url_root, **sftp.options) as run:
        assert len(logins) == 1
        run.log_artifacts(ckpt, name="ckpt", block=True)
        assert len(run.artifacts) == 60
    assert len(logins) <= 2


def test_workers_join_a_batch_on_a_distant_sftp_server(
    sftp: Any, tmp_path: Path, logins: list[paramiko.Transport]
) -> None:
    """20 ms of round trip in front of the same server: each file waits several (about
    65 ms), a login about 0.25 s; with this many files, workers join up to the limit."""
    ckpt = checkpoint(tmp_path, 120)
    port = sftp.options["port"]
    with latency_proxy(port, 0.02) as proxy:
        uri = sftp.url_root.replace(f":{port}/", f":{proxy.port}/", 1)
        with Run(
            artifacts_uri=uri, max_concurrency=4, **{**sftp.options, "port": proxy.port}
        ) as run:
            run.log_artifacts(ckpt, name="ckpt", block=True)
            assert len(run.artifacts) == 120
    assert len(logins) == 4  # the run's own, which stores too, and three workers
