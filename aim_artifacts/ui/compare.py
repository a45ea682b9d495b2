"""Two runs side by side: which names one has and the other lacks, which changed (by
sha256), and a line diff of the small text artifacts that changed (configs)."""

from __future__ import annotations

import difflib
from collections.abc import Mapping

import attrs

from .. import Artifact
from .preview import read_head, text_kind

__all__ = ["DIFF_LIMIT", "Comparison", "Diff", "compare"]

DIFF_LIMIT = 256 << 10  # text artifacts up to this size get a line diff
DIFFS = 20  # line diffs shown, at most


@attrs.frozen
class Diff:
    """A unified diff of one artifact's text: ``(kind, line)`` pairs, kind one of
    ``add``, ``del``, ``hunk`` or ``same``."""

    name: str
    lines: list[tuple[str, str]]


@attrs.frozen
class Comparison:
    """Names only in the new run (`added`), only in the old (`removed`), in both with
    other bytes (`changed`) or the same (`same`, a count), and the line diffs."""

    added: list[Artifact]
    removed: list[Artifact]
    changed: list[tuple[Artifact, Artifact]]
    same: int
    diffs: list[Diff]


def compare(old: Mapping[str, Artifact], new: Mapping[str, Artifact]) -> Comparison:
    """What changed from the run holding `old` to the one holding `new`."""
    added = [new[n] for n in sorted(new.keys() - old.keys())]
    removed = [old[n] for n in sorted(old.keys() - new.keys())]
    both = sorted(old.keys() & new.keys())
    changed = [(old[n], new[n]) for n in both if old[n].sha256 != new[n].sha256]
    diffs = [_diff(a, b) for a, b in changed if _diffable(a) and _diffable(b)][:DIFFS]
    return Comparison(added, removed, changed, len(both) - len(changed), diffs)


def _diffable(artifact: Artifact) -> bool:
    kind = text_kind(artifact.name)
    return artifact.size <= DIFF_LIMIT and kind is not None and kind != "log"


def _diff(old: Artifact, new: Artifact) -> Diff:
    a, b = (read_head(x).decode("utf-8", errors="replace").splitlines() for x in (old, new))
    lines = []
    for line in list(difflib.unified_diff(a, b, lineterm="", n=3))[2:]:  # no ---/+++ header
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        lines.append((kind, line))
    return Diff(old.name, lines)
