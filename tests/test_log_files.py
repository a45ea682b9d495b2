"""`Run.log_files`: named files stored as one batch."""

from __future__ import annotations

from pathlib import Path

import pytest

from aim_artifacts import InvalidNameError, Run, SourceNotFoundError


def test_named_files_are_one_batch(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    (tmp_path / "b.bin").write_bytes(b"bb")
    store = tmp_path / "store"
    with Run(artifacts_uri=str(store)) as run:
        records = run.log_files(
            {"x/a.bin": tmp_path / "a.bin", "b": tmp_path / "b.bin"}, block=True
        )
        assert [(r.name, r.size) for r in records] == [("x/a.bin", 1), ("b", 2)]
        assert len(list((store / run.hash / ".aim-artifacts.d").iterdir())) == 1
    assert set(Run(run.hash, artifacts_uri=str(store)).artifacts) == {"x/a.bin", "b"}


@pytest.mark.parametrize(
    ("files", "error"),
    [
        ({"ok": "a.bin", "../out": "a.bin"}, InvalidNameError),
        ({"ok": "a.bin", "gone": "missing.bin"}, SourceNotFoundError),
    ],
)
def test_bad_input_stores_nothing(
    files: dict[str, str], error: type[Exception], tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"a")
    store = tmp_path / "store"
    with Run(artifacts_uri=str(store)) as run:
        with pytest.raises(error):
            run.log_files({n: tmp_path / p for n, p in files.items()}, block=True)
        assert run.artifacts == {}
    assert not (store / run.hash).exists()
