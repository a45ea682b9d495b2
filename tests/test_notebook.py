"""Notebook display (_repr_html_) and reading stored objects through UPath."""

from __future__ import annotations

import re
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


def test_artifacts_render_as_escaped_styled_rows(run: Run) -> None:
    html = run.artifacts._repr_html_()
    assert html.count('<div class="row file') == 2 and '<div class="row heads">' in html
    assert "ckpt/a.bin" in html and "1.5 KiB" in html and "&#34;epoch&#34;: 3" in html
    assert "Download" not in html and "<button" not in html  # the page's buttons need its server
    assert run.artifacts["ckpt/a.bin"].sha256[:12] in html  # type: ignore[index]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE not in html


def test_each_display_styles_only_itself(run: Run) -> None:
    first, second = run.artifacts._repr_html_(), run._repr_html_()
    scopes = [re.search(r'<div id="(aim-artifacts-[0-9a-f]+)"', h) for h in (first, second)]
    assert scopes[0] and scopes[1] and scopes[0].group(1) != scopes[1].group(1)
    for html, scope in zip((first, second), scopes, strict=True):
        rules = re.findall(r"^(#[^{]+)\{", html.split("<style>")[1].split("</style>")[0], re.M)
        selectors = [s.strip() for rule in rules for s in rule.split(",")]
        assert selectors and all(s.startswith(f"#{scope.group(1)}") for s in selectors)  # type: ignore[union-attr]


def test_notebook_and_page_share_the_rows(run: Run) -> None:
    from starlette.testclient import TestClient

    from aim_artifacts.ui.app import create_app

    client = TestClient(create_app(run.location.uri.rsplit("/", 1)[0]), base_url="http://127.0.0.1")
    page = client.get(f"/runs/{run.hash}/rows?folder=ckpt").text
    notebook = run.artifacts._repr_html_()
    shared = [
        line
        for line in page.splitlines()
        if line.startswith(('<span class="size"', '<span class="time"'))
    ]
    assert len(shared) == 2  # size and time cells of the one row, the same in both
    assert all(line in notebook for line in shared)


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
