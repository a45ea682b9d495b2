"""The contract across processes: reopen elsewhere, concurrent writers, fork and spawn."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from aim_artifacts import Run
from tests import workers

from .conftest import Backend


def test_reopen_from_a_new_process(shared_backend: Backend, tmp_path: Path) -> None:
    run = Run()
    run.set_artifacts_uri(shared_backend.uri, **shared_backend.options)
    (tmp_path / "a.txt").write_text("a")
    run.log_artifact(tmp_path / "a.txt", name="x/a.txt", block=True)
    run.close()

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        names = pool.apply(
            workers.read_names, (run.hash, shared_backend.uri, shared_backend.options)
        )
    assert names == ["x/a.txt"]


@pytest.mark.parametrize("start_method", ["spawn", "fork"])
def test_two_processes_log_fifty_each_to_one_run(
    shared_backend: Backend, tmp_path: Path, start_method: str
) -> None:
    run_hash = Run().hash
    ctx = multiprocessing.get_context(start_method)
    procs = [
        ctx.Process(
            target=workers.log_many,
            args=(run_hash, shared_backend.uri, shared_backend.options, str(tmp_path), tag, 50),
        )
        for tag in ("p0", "p1")
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0

    run = Run(run_hash, artifacts_uri=shared_backend.uri, **shared_backend.options)
    assert sorted(run.artifacts) == sorted(f"p{p}-{i}.txt" for p in (0, 1) for i in range(50))
    # Both closed: the journal is folded into the sidecar (and, where folds are exclusive,
    # nothing is left pending).
    sidecar = shared_backend.read(f"{run_hash}/.aim-artifacts.json")
    journal = [f for f in shared_backend.files() if "/.aim-artifacts.d/" in f]
    if shared_backend.exclusive_folds:
        assert sidecar.count(b'"sha256"') == 100
        assert journal == []
    else:  # the last fold may not have seen the other process's last entries
        assert len(journal) == 100


def test_run_used_in_forked_child(shared_backend: Backend, tmp_path: Path) -> None:
    run = Run()
    run.set_artifacts_uri(shared_backend.uri, **shared_backend.options)
    (tmp_path / "parent.txt").write_text("parent")
    run.log_artifact(tmp_path / "parent.txt", block=True)  # the filesystem exists pre-fork
    (tmp_path / "child.txt").write_text("child")

    pid = os.fork()
    if pid == 0:  # child: log through the inherited Run, then leave without cleanup
        code = 1
        try:
            run.log_artifact(tmp_path / "child.txt", block=True)
            run.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    run.close()
    reopened = Run(run.hash, artifacts_uri=shared_backend.uri, **shared_backend.options)
    assert sorted(reopened.artifacts) == ["child.txt", "parent.txt"]


def test_forked_child_leaves_the_parents_connections_alone(
    shared_backend: Backend, tmp_path: Path
) -> None:
    """A child that closes the connection pools it inherited (as aiohttp's ``__del__`` does
    when an inherited filesystem is collected) must not unregister the parent's sockets from
    the epoll the two share across fork: the parent would wait forever on a reused one."""
    import aiohttp

    run = Run()
    run.set_artifacts_uri(shared_backend.uri, **shared_backend.options)
    (tmp_path / "a.txt").write_text("a")
    run.log_artifact(tmp_path / "a.txt", block=True)  # leaves keep-alive connections pooled

    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            run.log_artifact(tmp_path / "a.txt", name="child.txt", block=True)
            run.close()
            # type(), not isinstance(): a dead weakref.proxy (smbprotocol keeps some) raises
            objects = gc.get_objects()
            for connector in [o for o in objects if issubclass(type(o), aiohttp.BaseConnector)]:
                connector._close()  # what BaseConnector.__del__ does
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    done = threading.Event()

    def log_again() -> None:
        run.log_artifact(tmp_path / "a.txt", name="parent-after.txt", block=True)
        done.set()

    threading.Thread(target=log_again, daemon=True).start()
    assert done.wait(timeout=30), "the parent's request never completed"
    run.close()
    reopened = Run(run.hash, artifacts_uri=shared_backend.uri, **shared_backend.options)
    assert sorted(reopened.artifacts) == ["a.txt", "child.txt", "parent-after.txt"]


def test_run_pickled_into_a_spawned_process(shared_backend: Backend, tmp_path: Path) -> None:
    run = Run()
    run.set_artifacts_uri(shared_backend.uri, **shared_backend.options)
    (tmp_path / "w.bin").write_bytes(b"\x00" * 1000)

    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        sha = pool.apply(workers.log_with_pickled_run, (run, str(tmp_path / "w.bin"), "w.bin"))

    reopened = Run(run.hash, artifacts_uri=shared_backend.uri, **shared_backend.options)
    assert reopened.artifacts["w.bin"].sha256 == sha
    assert shared_backend.read(f"{run.hash}/w.bin") == b"\x00" * 1000
