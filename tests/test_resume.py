"""Large uploads to S3 go up as concurrent parts and resume after the process dies: the next
attempt sends only the parts the server lacks, and a changed source starts afresh."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import math
import multiprocessing
import os
import signal
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aim_artifacts import Run, UploadError
from aim_artifacts.localfile import RESUMABLE_PREFIX
from aim_artifacts.parts import UPLOADS_DIR
from aim_artifacts.transfer import CONCURRENT_PART
from conftest import BUCKET, s3_client
from tests import workers
from tests.servers import Middleware
from tests.test_crashes import kill_in_the_middle

MiB = 2**20


def write_random(path: Path, size: int) -> str:
    """Fill `path` with `size` random bytes; their sha256."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for offset in range(0, size, 8 * MiB):
            block = os.urandom(min(8 * MiB, size - offset))
            digest.update(block)
            f.write(block)
    return digest.hexdigest()


def multipart_etag(path: Path, part: int) -> str:
    """The ETag S3 gives `path` uploaded in parts of `part` bytes."""
    md5s = []
    with open(path, "rb") as f:
        while block := f.read(part):
            md5s.append(hashlib.md5(block).digest())
    return f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-{len(md5s)}"'


def stored_sha256(endpoint: str, key: str) -> str:
    body = s3_client(endpoint).get_object(Bucket=BUCKET, Key=key)["Body"]
    digest = hashlib.sha256()
    while chunk := body.read(8 * MiB):
        digest.update(chunk)
    return digest.hexdigest()


def parts_sent(requests: Middleware) -> int:
    return sum(1 for r in requests.requests if r.method == "PUT" and "partNumber=" in r.query)


def log_in_new_process(*args: Any) -> str:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(workers.log_file, *args).result(timeout=600)


def test_large_file_goes_up_in_parts_with_the_right_etag(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    src = tmp_path / "model.bin"
    sha256 = write_random(src, 40 * MiB + 123)
    run = Run(artifacts_uri=f"s3://{BUCKET}/parts", **s3)
    art = run.log_artifact(src, block=True)

    key = f"parts/{run.hash}/model.bin"
    head = s3_client(s3_server).head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"] == multipart_etag(src, CONCURRENT_PART)  # 6 parts, in order
    assert art.sha256 == sha256 == stored_sha256(s3_server, key)
    assert art.size == head["ContentLength"] == 40 * MiB + 123
    client = s3_client(s3_server)
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"parts/{run.hash}/{UPLOADS_DIR}")
    assert listed["KeyCount"] == 0  # the resume record is gone once the upload completed


def part_sha256s(path: Path, part: int) -> list[str]:
    """The base64 sha256 of each part of `path` cut in parts of `part` bytes."""
    with open(path, "rb") as f:
        return [
            base64.b64encode(hashlib.sha256(b).digest()).decode()
            for b in iter(lambda: f.read(part), b"")
        ]


@pytest.mark.parametrize(
    ("config", "checked"),
    [
        ({}, True),
        ({"s3": {"payload_signing_enabled": True}}, True),  # the user's own choice is kept
        ({"request_checksum_calculation": "when_required"}, False),  # servers without them
    ],
    ids=["default", "payload signing asked for", "checksums when required"],
)
def test_each_part_carries_its_sha256_and_the_body_is_hashed_once(
    s3: dict[str, Any],
    s3_server: str,
    s3_requests: Middleware,
    tmp_path: Path,
    config: dict[str, Any],
    checked: bool,
) -> None:
    src = tmp_path / "model.bin"
    sha256 = write_random(src, 2 * CONCURRENT_PART + 5)
    run = Run(artifacts_uri=f"s3://{BUCKET}/sums", **s3, config_kwargs=config)
    assert run.log_artifact(src, block=True).sha256 == sha256

    parts = [r for r in s3_requests.requests if r.method == "PUT" and "partNumber=" in r.query]
    shas = part_sha256s(src, CONCURRENT_PART)
    hexes = {base64.b64decode(sha).hex() for sha in shas}
    key = f"sums/{run.hash}/model.bin"
    head = s3_client(s3_server).head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    if not checked:
        assert {r.checksum_sha256 for r in parts} == {""}
        assert {r.payload_sha256 for r in parts} == hexes  # signed, as botocore does
        assert "ChecksumSHA256" not in head
        return
    assert sorted(r.checksum_sha256 for r in parts) == sorted(shas)  # a signed header S3 checks
    if config:
        assert {r.payload_sha256 for r in parts} == hexes
    else:  # so botocore does not hash the body again on the event loop
        assert {r.payload_sha256 for r in parts} == {"UNSIGNED-PAYLOAD"}
    composite = hashlib.sha256(b"".join(base64.b64decode(sha) for sha in shas)).digest()
    assert head["ChecksumSHA256"].split("-")[0] == base64.b64encode(composite).decode()


def test_a_part_corrupted_on_the_way_is_refused_and_sent_again(
    s3: dict[str, Any], s3_server: str, s3_requests: Middleware, tmp_path: Path
) -> None:
    src = tmp_path / "model.bin"
    sha256 = write_random(src, 3 * CONCURRENT_PART)
    run = Run(artifacts_uri=f"s3://{BUCKET}/corrupt", **s3)
    s3_requests.check_checksums = True  # as S3 does (moto does not)
    s3_requests.corrupt = 1  # one part body gets a flipped bit on the way

    art = run.log_artifact(src, block=True)

    assert parts_sent(s3_requests) == 3 + 1  # refused (400 BadDigest), then sent again
    key = f"corrupt/{run.hash}/model.bin"
    assert art.sha256 == sha256 == stored_sha256(s3_server, key)


@pytest.mark.slow
@pytest.mark.parametrize("modified", [False, True], ids=["same source", "source modified"])
def test_killed_1_gib_upload_resumes_in_a_new_process(
    s3: dict[str, Any], s3_server: str, s3_requests: Middleware, tmp_path: Path, modified: bool
) -> None:
    uri = f"s3://{BUCKET}/resume"
    src = tmp_path / "model.bin"
    write_random(src, 1024 * MiB)
    total = math.ceil(1024 * MiB / CONCURRENT_PART)
    run = Run(artifacts_uri=uri, **s3)
    run.close()

    kill_in_the_middle(workers.log_until_killed, (run.hash, uri, s3, str(src), 512 * MiB))

    client = s3_client(s3_server)
    key = f"resume/{run.hash}/model.bin"
    (upload,) = client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    stored = len(client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"])["Parts"])
    assert total // 2 <= stored < total  # about half went up before the kill
    if modified:
        with open(src, "r+b") as f:
            f.seek(700 * MiB)
            f.write(b"changed")
    sha256 = hashlib.sha256(src.read_bytes()).hexdigest()
    s3_requests.requests.clear()

    assert log_in_new_process(run.hash, uri, s3, str(src), "model.bin") == sha256

    sent = parts_sent(s3_requests)
    if modified:
        assert sent == total  # the stale upload was aborted, the new one sent every part
        aborts = [r for r in s3_requests.requests if r.method == "DELETE" and "uploadId" in r.query]
        assert len(aborts) == 1
    else:
        assert sent <= total - stored + 1  # the missing parts, plus one re-sent at most
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    assert client.head_object(Bucket=BUCKET, Key=key)["ETag"] == multipart_etag(
        src, CONCURRENT_PART
    )
    assert stored_sha256(s3_server, key) == sha256
    again = Run(run.hash, artifacts_uri=uri, **s3)
    assert again.artifacts["model.bin"].sha256 == sha256
    assert again.verify().ok


def test_repair_keeps_young_resumable_uploads_and_aborts_old_ones(
    s3: dict[str, Any], s3_server: str, tmp_path: Path
) -> None:
    import datetime as dt

    from aim_artifacts import transfer
    from aim_artifacts.location import resolve

    src = tmp_path / "model.bin"
    write_random(src, 3 * CONCURRENT_PART)
    run = Run(artifacts_uri=f"s3://{BUCKET}/repair", **s3)
    location = resolve(f"s3://{BUCKET}/repair/{run.hash}", **s3)

    class Stop(Exception):
        pass

    def stop(_: int) -> None:
        raise Stop

    with pytest.raises(Stop):  # as a lost network would: the upload stays resumable
        transfer.store_file(str(src), location, location.join("model.bin"), progress=stop)
    client = s3_client(s3_server)
    assert len(client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]) == 1

    assert run.repair() == []  # young: kept for the next attempt
    assert len(client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]) == 1
    assert run.repair(keep_resumable=dt.timedelta(0)) == [f"{BUCKET}/repair/{run.hash}/model.bin"]
    assert client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"repair/{run.hash}/{UPLOADS_DIR}")
    assert listed["KeyCount"] == 0  # its resume record went with it
    art = run.log_artifact(src, block=True)  # and the next attempt starts afresh
    assert art.sha256 == hashlib.sha256(src.read_bytes()).hexdigest()


@pytest.mark.slow
def test_killed_1_gib_local_copy_resumes_from_its_verified_length(tmp_path: Path) -> None:
    uri = str(tmp_path / "store")
    src = tmp_path / "model.bin"
    sha256 = write_random(src, 1024 * MiB)
    run = Run(artifacts_uri=uri)
    run.close()

    kill_in_the_middle(workers.log_until_killed, (run.hash, uri, {}, str(src), 512 * MiB))

    run_dir = Path(uri) / run.hash
    (temp,) = [p for p in run_dir.iterdir() if p.name.startswith(RESUMABLE_PREFIX)]
    copied = temp.stat().st_size
    assert 512 * MiB <= copied < 1024 * MiB
    with open(temp, "r+b") as f:  # a torn last write: the copy must not trust it
        f.seek(copied - 100)
        f.write(b"\0" * 100)
    inode = temp.stat().st_ino

    assert log_in_new_process(run.hash, uri, {}, str(src), "model.bin") == sha256

    stored = run_dir / "model.bin"
    assert stored.stat().st_ino == inode  # the same file, continued, not a second copy
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha256
    assert [p for p in run_dir.iterdir() if p.name.startswith(RESUMABLE_PREFIX)] == []


PART = 64 * 2**10  # small parts (the test server allows them) keep each example quick


class Killed(Exception):
    """An interruption in the middle of an upload, as a kill or a lost network."""


@pytest.mark.slow
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    parts=st.integers(2, 8),
    short=st.integers(0, PART - 1),
    kills=st.lists(st.integers(0, 8), max_size=2),
    change=st.one_of(st.none(), st.integers(0, 8 * PART - 1)),
)
def test_no_kill_point_yields_a_wrong_object_or_record(
    s3: dict[str, Any],
    s3_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    parts: int,
    short: int,
    kills: list[int],
    change: int | None,
) -> None:
    from aim_artifacts import transfer
    from aim_artifacts.location import resolve

    monkeypatch.setattr("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", 1)
    monkeypatch.setattr(transfer, "CHUNK", PART)
    monkeypatch.setattr(transfer, "CONCURRENT_PART", PART)
    src = tmp_path / f"{uuid.uuid4().hex}.bin"
    write_random(src, parts * PART - short)
    run = Run(artifacts_uri=f"s3://{BUCKET}/prop", **s3)
    location = resolve(f"s3://{BUCKET}/prop/{run.hash}", **s3)
    for after in kills:  # attempts interrupted once `after` parts have landed
        landed = [0]

        def count(_: int, after: int = after, landed: list[int] = landed) -> None:
            landed[0] += 1
            if landed[0] > after:
                raise Killed

        with contextlib.suppress(Killed):
            transfer.store_file(str(src), location, location.join(src.name), progress=count)
        if change is not None:  # the source changes between attempts
            with open(src, "r+b") as f:
                f.seek(change % src.stat().st_size)
                f.write(os.urandom(1))
            stat = src.stat()
            os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    art = run.log_artifact(src, block=True)

    data = src.read_bytes()
    key = f"prop/{run.hash}/{src.name}"
    client = s3_client(s3_server)
    assert art.sha256 == hashlib.sha256(data).hexdigest()
    assert client.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    (again,) = Run(run.hash, artifacts_uri=f"s3://{BUCKET}/prop", **s3).artifacts.values()
    assert (again.name, again.size, again.sha256) == (src.name, len(data), art.sha256)
    uploads = client.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", [])
    assert uploads == []


@pytest.mark.slow
def test_sigterm_leaves_the_upload_resumable_and_loses_no_record(
    s3: dict[str, Any], s3_server: str, s3_requests: Middleware, tmp_path: Path
) -> None:
    uri = f"s3://{BUCKET}/preempt"
    small, big = tmp_path / "config.yaml", tmp_path / "model.bin"
    small.write_text("lr: 0.1\n")
    sha256 = write_random(big, 512 * MiB)
    total = math.ceil(512 * MiB / CONCURRENT_PART)
    run = Run(artifacts_uri=uri, **s3)
    run.close()
    s3_requests.latency = 1.0  # a slow network: 512 MiB take longer than the 2 s deadline

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    args = (run.hash, uri, s3, str(small), str(big), child)
    proc = ctx.Process(target=workers.log_until_terminated, args=args)
    proc.start()
    assert parent.poll(300), "the child never reached the middle"
    os.kill(proc.pid, signal.SIGTERM)
    proc.join(timeout=120)
    assert proc.exitcode == -signal.SIGTERM  # ended as SIGTERM ends a process

    client = s3_client(s3_server)
    key = f"preempt/{run.hash}/model.bin"
    (upload,) = client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
    stored = len(client.list_parts(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"])["Parts"])
    assert 0 < stored < total
    assert list(Run(run.hash, artifacts_uri=uri, **s3).artifacts) == ["config.yaml"]
    s3_requests.latency = 0.0
    s3_requests.requests.clear()

    assert log_in_new_process(run.hash, uri, s3, str(big), "model.bin") == sha256

    assert parts_sent(s3_requests) <= total - stored + 1
    assert stored_sha256(s3_server, key) == sha256
    assert sorted(Run(run.hash, artifacts_uri=uri, **s3).artifacts) == ["config.yaml", "model.bin"]


def test_two_copies_of_one_source_to_one_name_never_publish_a_wrong_file(tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    sha256 = write_random(src, 48 * MiB)
    run = Run(artifacts_uri=str(tmp_path / "store"), max_concurrency=2)
    for _ in range(4):  # side by side: each may take over the other's temp file
        run.log_artifact(src, name="model.bin")
    with contextlib.suppress(UploadError):  # a copy whose temp file was taken over fails
        run.wait()

    stored = tmp_path / "store" / run.hash / "model.bin"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha256
    assert run.artifacts["model.bin"].sha256 == sha256
