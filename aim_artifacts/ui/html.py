"""HTML of runs and artifacts, from the web page's own Jinja2 templates (autoescaped)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ..records import Artifact

__all__ = ["artifact_rows", "artifact_table", "human_size", "run_card", "templates"]

templates = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
)


def human_size(size: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def artifact_rows(artifacts: Iterable[Artifact]) -> list[dict[str, Any]]:
    """What the artifacts table shows of each record."""
    return [
        {
            **a.to_dict(),
            "size_text": human_size(a.size),
            "metadata_text": json.dumps(a.metadata) if a.metadata else "",
        }
        for a in artifacts
    ]


def artifact_table(artifacts: Iterable[Artifact]) -> str:
    """The run page's artifacts table, without its buttons and links (for notebooks)."""
    return templates.get_template("artifacts_table.html").render(
        artifacts=artifact_rows(artifacts), links=False
    )


def run_card(run_hash: str, uri: str | None, artifacts: Iterable[Artifact]) -> str:
    """A run's heading (hash, URI, artifact count) over its artifacts table."""
    return templates.get_template("run_card.html").render(
        run_hash=run_hash, uri=uri, artifacts=artifact_rows(artifacts), links=False
    )
