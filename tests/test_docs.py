"""The ```python blocks of README.md and docs/*.md run, in order, one namespace per file.

They run as written, in a temp directory holding the files they name, with S3 reached the
way the README says (AWS_* variables; the endpoint is the test's moto server, where their
buckets exist). A block that cannot run here is preceded by ``<!-- no-run: why -->``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import attrs
import pytest

from conftest import AWS_KEY, AWS_SECRET, s3_client

TOP = Path(__file__).resolve().parent.parent
PAGES = [TOP / "README.md", *sorted((TOP / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"^(?:<!-- no-run: (?P<why>.*?) -->\n)?```python\n(?P<code>.*?)^```$", re.M | re.S
)
BUCKETS = ("my-bucket", "bucket")  # the buckets the examples name


@attrs.frozen
class Block:
    page: Path
    line: int
    code: str
    no_run: str | None  # why it cannot run here, or None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(TOP)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text(encoding="utf-8")
    found = []
    for match in BLOCK.finditer(text):
        line = text.count("\n", 0, match.start("code"))  # the fence's line, 1-based
        found.append(Block(page, line, match["code"], match["why"]))
    return found


def test_every_python_block_runs_or_says_why_not() -> None:
    every = [b for page in PAGES for b in blocks(page)]
    fences = sum(p.read_text(encoding="utf-8").count("```python\n") for p in PAGES)
    assert len(every) == fences  # no block missed by the pattern
    assert all(b.no_run is None or b.no_run.strip() for b in every)
    assert any(b.no_run is None for b in every)


def files_the_examples_name(cwd: Path) -> None:
    (cwd / "config.yaml").write_text("lr: 0.1\n")
    for directory in ("checkpoints/epoch-3", "ckpt/epoch-3"):
        (cwd / directory).mkdir(parents=True)
        (cwd / directory / "model.pt").write_bytes(b"\x00" * 1000)
        (cwd / directory / "optimizer.pt").write_bytes(b"\x01" * 100)


@pytest.fixture
def example_env(
    s3: dict[str, Any], s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A temp working directory with the examples' files; their buckets on the moto server."""
    client = s3_client(s3_server)
    for bucket in BUCKETS:
        client.create_bucket(Bucket=bucket)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", AWS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", s3_server)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.chdir(tmp_path)
    files_the_examples_name(tmp_path)
    return tmp_path


@pytest.mark.parametrize(
    "page", [p for p in PAGES if blocks(p)], ids=lambda p: str(p.relative_to(TOP))
)
def test_page_examples_run(page: Path, example_env: Path) -> None:
    runnable = [b for b in blocks(page) if b.no_run is None]
    if not runnable:
        pytest.skip(f"{page.name}: every python block is marked no-run, saying why")
    namespace: dict[str, Any] = {"__name__": "__docs__"}
    for block in runnable:
        exec(compile(block.code, block.where, "exec"), namespace)
