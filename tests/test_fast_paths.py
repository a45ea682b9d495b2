"""Skip-unchanged, progress bars and a run with 10,000 records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from aim_artifacts import Run
from tests.servers import Middleware


def make_dir(root: Path, n: int = 20, size: int = 1000) -> Path:
    for i in range(n):
        (root / f"sub{i % 3}").mkdir(parents=True, exist_ok=True)
        (root / f"sub{i % 3}" / f"f{i}.bin").write_bytes(os.urandom(size))
    return root


def data_puts(log: Middleware) -> list[Any]:
    """PUT requests that carry artifact bytes (not the journal or the sidecar)."""
    return [r for r in log.requests if r.method == "PUT" and "/.aim-artifacts" not in r.path]


def test_relogging_an_unchanged_directory_moves_no_bytes(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    src = make_dir(tmp_path / "ckpt")
    run = Run(artifacts_uri="s3://artifacts/skip", **s3)
    first = run.log_artifacts(src, block=True)
    assert len(data_puts(s3_requests)) == 20

    s3_requests.requests.clear()
    again = run.log_artifacts(src, block=True, skip_unchanged=True)
    assert s3_requests.requests == []  # no object, no journal entry: nothing at all
    assert again == first

    (src / "sub1" / "f1.bin").write_bytes(b"changed")
    (src / "sub2" / "new.bin").write_bytes(b"new")
    s3_requests.requests.clear()
    run.log_artifacts(src, block=True, skip_unchanged=True)
    puts = data_puts(s3_requests)
    assert sorted(r.path.rsplit("/", 2)[-2:][-1] for r in puts) == ["f1.bin", "new.bin"]
    assert sum(r.body_bytes for r in puts) == len(b"changed") + len(b"new")
    assert run.artifacts["ckpt/sub1/f1.bin"].size == 7
    run.close()


def test_same_size_different_bytes_is_uploaded(tmp_path: Path) -> None:
    src = tmp_path / "a.bin"
    src.write_bytes(b"aaaa")
    run = Run(artifacts_uri=tmp_path / "store")
    run.log_artifact(src, block=True)
    src.write_bytes(b"bbbb")
    art = run.log_artifact(src, block=True, skip_unchanged=True)
    assert (tmp_path / "store" / run.hash / "a.bin").read_bytes() == b"bbbb"
    assert art.sha256 == run.artifacts["a.bin"].sha256


def test_progress_bar_counts_bytes_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = make_dir(tmp_path / "ckpt", n=5, size=2048)
    run = Run(artifacts_uri=tmp_path / "store")
    run.log_artifacts(src, block=True, progress=True)
    err = capsys.readouterr().err
    assert "5/5 files" in err and "10.0k" in err and "100%" in err
    run.download_artifacts(tmp_path / "out", progress=True)
    assert "5/5 files" in capsys.readouterr().err


def test_progress_is_off_by_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = make_dir(tmp_path / "ckpt", n=2)
    run = Run(artifacts_uri=tmp_path / "store")
    run.log_artifacts(src, block=True)
    run.download_artifacts(tmp_path / "out")
    assert capsys.readouterr().err == ""


@pytest.mark.slow  # scale: 10,000 records
def test_ten_thousand_records_stay_correct(tmp_path: Path) -> None:
    src = tmp_path / "a.txt"
    run = Run(artifacts_uri=tmp_path / "store")
    for i in range(10_000):
        src.write_text(str(i))
        run.log_artifact(src, name=f"step/{i:05d}.txt", block=True, metadata={"i": i})
    run.delete_artifact("step/00007.txt")
    run.close()

    sidecar = json.loads((tmp_path / "store" / run.hash / ".aim-artifacts.json").read_bytes())
    assert len(sidecar["artifacts"]) == 9_999
    assert list((tmp_path / "store" / run.hash / ".aim-artifacts.d").iterdir()) == []
    reopened = Run(run.hash, artifacts_uri=tmp_path / "store")
    records = reopened.artifacts
    assert len(records) == 9_999 and "step/00007.txt" not in records
    assert records["step/09999.txt"].metadata == {"i": 9999}
    assert records["step/01234.txt"].size == len("1234")
