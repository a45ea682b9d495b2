"""Notebook display (_repr_html_) and reading stored objects through UPath."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aim_artifacts import Run

HOSTILE = "<script>alert(1)</script>"


@pytest.fixture
def run(tmp_path: Path) -> Run:
    (tmp_path / "a.bin").write_bytes(b"x" * 1536)
    run = Run(artifacts_uri=tmp_path / "store")
    run.log_artifact(tmp_path / "a.bin", name="ckpt/a.bin", block=True, metadata={"epoch": 3})
    run.log_artifact(tmp_path / "a.bin", name=HOSTILE, block=True)
    return run


def test_artifacts_render_as_an_escaped_table(run: Run) -> None:
    html = run.artifacts._repr_html_()
    assert html.count("<tr") == 3  # header and two rows
    assert "ckpt/a.bin" in html and "1.5 KiB" in html and "&#34;epoch&#34;: 3" in html
    assert "Download" not in html  # the page's links need its server
    assert run.artifacts["ckpt/a.bin"].sha256[:12] in html  # type: ignore[index]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in html


def test_notebook_and_page_share_the_table(run: Run) -> None:
    from starlette.testclient import TestClient

    from aim_artifacts.ui.app import create_app

    page = TestClient(
        create_app(run.location.uri.rsplit("/", 1)[0]), base_url="http://127.0.0.1"
    ).get(f"/runs/{run.hash}")
    notebook = run.artifacts._repr_html_()
    shared = [
        line for line in notebook.splitlines() if line.startswith(("<table", '<td class="name"'))
    ]
    assert len(shared) == 3  # the table, and a name cell per artifact
    assert all(line in page.text for line in shared)


def test_run_and_artifact_render_too(run: Run) -> None:
    card = run._repr_html_()
    assert f"Run {run.hash}" in card and "Artifacts (2)" in card
    assert HOSTILE not in card
    assert "ckpt/a.bin" in run.artifacts["ckpt/a.bin"]._repr_html_()


def test_plain_repr_stays_one_short_line(run: Run) -> None:
    for text in (repr(run), repr(run.artifacts["ckpt/a.bin"])):
        assert "\n" not in text and len(text) < 200


def test_artifacts_are_still_a_dict(run: Run) -> None:
    artifacts = run.artifacts
    assert isinstance(artifacts, dict)
    assert artifacts == dict(artifacts)
    assert list(artifacts) == sorted([HOSTILE, "ckpt/a.bin"])


def test_upath_reads_the_stored_object(run: Run) -> None:
    path = run.artifacts["ckpt/a.bin"].upath
    assert path.read_bytes() == b"x" * 1536
    assert path.name == "a.bin"


def test_upath_on_s3_carries_the_storage_options(s3: dict[str, Any], tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("a: 1")
    run = Run(artifacts_uri="s3://artifacts/nb", **s3)
    run.log_artifact(tmp_path / "c.yaml", block=True)
    path = run.artifacts["c.yaml"].upath
    assert str(path) == f"s3://artifacts/nb/{run.hash}/c.yaml"
    assert path.read_text() == "a: 1"
