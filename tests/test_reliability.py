"""Concurrent writers at scale, and a flaky S3 (fault injection in front of the server)."""

from __future__ import annotations

import collections
import hashlib
import multiprocessing
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from aim_artifacts import Run, UploadError
from tests import workers
from tests.servers import Middleware

pytestmark = pytest.mark.slow  # stress: hundreds of writers, S3 failing on purpose


@pytest.fixture(params=["path", "s3"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    if request.param == "s3":
        return "s3://artifacts/many", request.getfixturevalue("s3")
    return str(tmp_path / "store"), {}


def test_eight_processes_and_sixteen_threads_lose_nothing(
    target: tuple[str, dict[str, Any]], tmp_path: Path
) -> None:
    uri, options = target
    run_hash = Run().hash
    ctx = multiprocessing.get_context("fork")
    procs = [
        ctx.Process(
            target=workers.log_many, args=(run_hash, uri, options, str(tmp_path), f"p{p}", 50)
        )
        for p in range(8)
    ]
    for p in procs:
        p.start()

    shared = Run(run_hash, artifacts_uri=uri, **options)

    def thread_work(t: int) -> None:
        for i in range(20):
            path = tmp_path / f"t{t}-{i}.txt"
            path.write_text(f"thread {t} {i}")
            shared.log_artifact(path, block=True)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(thread_work, range(16)))
    shared.close()
    for p in procs:
        p.join(timeout=600)
        assert p.exitcode == 0

    names = Run(run_hash, artifacts_uri=uri, **options).artifacts
    assert len(names) == 8 * 50 + 16 * 20
    assert Run(run_hash, artifacts_uri=uri, **options).verify().ok


def test_advisory_locks_granted_to_everyone_lose_no_record(tmp_path: Path) -> None:
    # Folds are made exclusive by an atomic mkdir, not by lockf/flock: on a mount that grants
    # every advisory lock, 8 processes folding every 4 entries still keep all 400 records.
    uri, run_hash = str(tmp_path / "store"), Run().hash
    ctx = multiprocessing.get_context("spawn")
    args = [(run_hash, uri, str(tmp_path), f"p{p}", 50) for p in range(8)]
    procs = [
        ctx.Process(target=workers.log_many_where_locks_are_granted_to_all, args=a) for a in args
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0

    sidecar = Path(uri, run_hash, ".aim-artifacts.json").read_bytes()
    assert sidecar.count(b'"sha256"') == 400  # every record folded ...
    assert list(Path(uri, run_hash, ".aim-artifacts.d").iterdir()) == []  # ... none pending
    assert len(Run(run_hash, artifacts_uri=uri).artifacts) == 400


def test_flaky_s3_stores_everything_byte_exact(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    src = tmp_path / "ckpt"
    src.mkdir()
    for i in range(200):
        (src / f"{i:03d}.bin").write_bytes(os.urandom(100 + i))
    s3_requests.fault_rate = 0.2  # one request in five: 503 SlowDown or 500 InternalError,
    s3_requests.drops = 5  # and five of those a connection broken mid-response
    run = Run(artifacts_uri="s3://artifacts/flaky", **s3)
    run.log_artifacts(src, block=True)
    run.close()
    s3_requests.fault_rate = 0.0

    assert s3_requests.drops == 0  # every drop happened
    distinct = {(r.method, r.path, r.query) for r in s3_requests.requests}
    retried = len(s3_requests.requests) - len(distinct)
    assert retried >= 30  # about one request in five failed, and was retried
    again = Run(run.hash, artifacts_uri="s3://artifacts/flaky", **s3)
    assert len(again.artifacts) == 200
    for i in (0, 57, 199):
        data = (src / f"{i:03d}.bin").read_bytes()
        assert again.artifacts[f"ckpt/{i:03d}.bin"].sha256 == hashlib.sha256(data).hexdigest()
    assert again.verify().ok


def test_s3_failing_every_request_fails_clearly_and_in_bounded_time(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 100)
    run = Run(artifacts_uri="s3://artifacts/down", **s3)
    s3_requests.reset()
    s3_requests.fault_rate = 1.0
    run.log_artifact(tmp_path / "a.bin")
    with pytest.raises(UploadError, match=r"SlowDown|InternalError|injected|503|500"):
        run.wait()
    s3_requests.fault_rate = 0.0
    # Bounded by attempts, not seconds: botocore tries a request at most 5 times (its default),
    # and s3fs calls botocore again at most 5 times when the error is SlowDown (the injected
    # faults are SlowDown or InternalError at random): one PUT, at most 25 times; beside it,
    # on its own thread, the runs index's requests, sent at once: the marker, the listing
    # that tells whether the index is complete, and the open flag (also failing: nothing
    # more is tried, but the flag's removal, in case it was written).
    attempts = collections.Counter((r.method, r.path) for r in s3_requests.requests)
    assert {method for method, _ in attempts} <= {"PUT", "GET", "DELETE"}, attempts
    tried = {(method, path.rsplit("/", 2)[-2]): n for (method, path), n in attempts.items()}
    index, flags = ".aim-artifacts-runs", ".aim-artifacts-open"
    expected = {("PUT", run.hash), ("PUT", index), ("GET", ""), ("PUT", flags), ("DELETE", flags)}
    assert set(tried) <= expected, attempts
    assert 5 <= tried["PUT", run.hash] <= 5 * 5, attempts
    assert all(n <= 5 * 5 for n in tried.values()), attempts
    assert Run(run.hash, artifacts_uri="s3://artifacts/down", **s3).artifacts == {}
