"""HTML tables of runs and artifacts; every value is escaped."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

from ..records import Artifact, format_time

__all__ = ["artifact_table", "human_size", "run_card"]

_STYLE = (
    "<style>.aim-artifacts td,.aim-artifacts th{text-align:left;padding:2px 8px;"
    "font-family:monospace}</style>"
)


def human_size(size: int) -> str:
    """``1536`` -> ``'1.5 KiB'``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024:
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def artifact_table(artifacts: Iterable[Artifact]) -> str:
    """A table with one row per artifact: name, path, URI, size, SHA-256, time, metadata."""
    rows = []
    for a in artifacts:
        metadata = ", ".join(f"{k}={v!r}" for k, v in a.metadata.items())
        cells = [
            a.name,
            a.path,
            a.uri,
            human_size(a.size),
            (a.sha256 or "pending")[:12],
            format_time(a.created_at),
            metadata,
        ]
        rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
    header = "".join(
        f"<th>{h}</th>" for h in ("Name", "Path", "URI", "Size", "SHA-256", "Logged at", "Metadata")
    )
    return (
        f'{_STYLE}<table class="aim-artifacts"><thead><tr>{header}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def run_card(run_hash: str, uri: str | None, artifacts: Iterable[Artifact]) -> str:
    """A run's heading (hash, URI, artifact count) over its artifact table."""
    artifacts = list(artifacts)
    where = escape(uri) if uri else "no artifacts URI"
    return (
        f"<div><b>Run {escape(run_hash)}</b> &middot; <code>{where}</code> &middot; "
        f"Artifacts ({len(artifacts)})</div>{artifact_table(artifacts)}"
    )
