"""HTML of runs and artifacts for notebooks and the web page, from the package's Jinja2
templates (autoescaped). Jinja2 is imported when the first page is rendered."""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .formatting import format_time, human_size

if TYPE_CHECKING:
    from jinja2 import Environment

    from .records import Artifact

__all__ = [
    "artifact_rows",
    "artifact_table",
    "load_templates",
    "render",
    "run_card",
    "short_time",
    "split_middle",
]

TAIL = 16  # characters of a name kept visible at its end when the middle is cut


@functools.cache
def _templates() -> Environment:
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: PLC0415

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"]),
    )
    env.filters["size"] = human_size
    return env


def load_templates() -> None:
    """Import Jinja2 and compile every template now (a server starting), not on the first
    page rendered."""
    env = _templates()
    for name in env.list_templates():
        env.get_template(name)


def render(template: str, **context: Any) -> str:
    """The page `template` (a file in ``templates/``) rendered with `context`, escaped."""
    return _templates().get_template(template).render(**context)


def split_middle(text: str) -> tuple[str, str]:
    """`text` as a head that may be cut with an ellipsis and a tail always shown, so that a
    long name loses its middle rather than its end."""
    if len(text) <= TAIL:
        return text, ""
    return text[:-TAIL], text[-TAIL:]


def short_time(value: dt.datetime) -> str:
    """``2026-11-29 22:48:29``: a time in UTC to the second."""
    return format_time(value)[:19].replace("T", " ")


def artifact_rows(artifacts: Iterable[Artifact], *, leaf: bool = False) -> list[dict[str, Any]]:
    """What a row shows of each record; `leaf`: label it by the last part of its name (in a
    folder), else by its whole name."""
    rows = []
    for a in artifacts:
        label = a.name.rsplit("/", 1)[-1] if leaf else a.name
        rows.append(
            {
                **a.to_dict(),
                "label": split_middle(label),
                "size_text": human_size(a.size),
                "time_text": short_time(a.created_at),
                "metadata_text": json.dumps(a.metadata) if a.metadata else "",
            }
        )
    return rows


def artifact_table(artifacts: Iterable[Artifact]) -> str:
    """The page's artifact rows, styled for a notebook (a scope id of its own, so several
    displays never clash), with SHA-256 and metadata and without buttons or links."""
    return _notebook("artifacts_table.html", artifacts=artifact_rows(artifacts))


def run_card(run_hash: str, uri: str | None, artifacts: Iterable[Artifact]) -> str:
    """A run's heading (hash, URI, artifact count) over its artifact rows, for a notebook."""
    return _notebook(
        "artifacts_table.html", run_hash=run_hash, uri=uri, artifacts=artifact_rows(artifacts)
    )


def _notebook(template: str, **context: Any) -> str:
    scope = f"aim-artifacts-{secrets.token_hex(6)}"
    return render(template, scope=scope, notebook=True, links=False, **context)
