"""HTML of runs and artifacts for notebooks and the web page, from the package's Jinja2
templates (autoescaped). Jinja2 is imported when the first page is rendered."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .formatting import human_size

if TYPE_CHECKING:
    from jinja2 import Environment

    from .records import Artifact

__all__ = ["artifact_rows", "artifact_table", "render", "run_card"]


@functools.cache
def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )


def render(template: str, **context: Any) -> str:
    """The page `template` (a file in ``templates/``) rendered with `context`, escaped."""
    return _templates().get_template(template).render(**context)


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
    return render("artifacts_table.html", artifacts=artifact_rows(artifacts), links=False)


def run_card(run_hash: str, uri: str | None, artifacts: Iterable[Artifact]) -> str:
    """A run's heading (hash, URI, artifact count) over its artifacts table."""
    return render(
        "run_card.html", run_hash=run_hash, uri=uri, artifacts=artifact_rows(artifacts), links=False
    )
