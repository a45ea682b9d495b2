"""The run's JSON sidecar and journal entries: format, versioning and merging (no I/O).

A run's state maps each artifact name to the newest change made to it: a record, or a
deletion. Each change carries a *revision* (``<20-digit ns time>-<random hex>``) and the
newest revision wins, so merging states is order-free and idempotent: a stale snapshot or an
entry read twice never loses or revives anything.

Records stay plain JSON objects here: merging and folding never pay for building them.
This module checks the structure, the names (so nothing can point outside the run; checked
here once, where they enter) and the revisions; `records.from_stored` checks the rest of
each record where a run's records are built.

Sidecar (``.aim-artifacts.json``), one artifact per line::

    {"format": "aim-artifacts/1", "run": "<hash>", "artifacts": {
    "<name>": {<record>, "revision": "..."},
    ...},
    "deleted": {"<name>": "<revision>"}}

Journal entry (``.aim-artifacts.d/<revision>.json``): the same with one ``revision`` for all
its changes and ``deleted`` as a list of names.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import SidecarError, UnsupportedFormatError
from .gcpause import paused
from .names import check_name, is_valid_name

__all__ = [
    "FORMAT",
    "RunState",
    "decode_entry",
    "decode_sidecar",
    "encode_entry",
    "encode_sidecar",
    "new_revision",
]

FORMAT_NAME = "aim-artifacts"
MAJOR = 1
FORMAT = f"{FORMAT_NAME}/{MAJOR}"
_REVISION = re.compile(r"[0-9]{20}-[0-9a-f]{12}")  # not \d: any Unicode digit

Record = dict[str, Any]


def new_revision() -> str:
    """A revision later than any made before it on this clock."""
    return f"{time.time_ns():020d}-{secrets.token_hex(6)}"


@attrs.define
class RunState:
    """Each name's newest change: ``(revision, record)``, the record ``None`` when deleted."""

    changes: dict[str, tuple[str, Record | None]] = attrs.field(factory=dict)

    def apply(
        self,
        revision: str,
        records: Mapping[str, Record] | None = None,
        deleted: Iterable[str] = (),
    ) -> None:
        """Apply one entry's changes where they are newer than what is known."""
        for name, record in (records or {}).items():
            self._set(name, revision, record)
        for name in deleted:
            self._set(name, revision, None)

    def merge(self, other: RunState) -> None:
        """Take every change of `other` that is newer than ours."""
        if not self.changes:  # all of them, at C speed
            self.changes.update(other.changes)
            return
        for name, (revision, record) in other.changes.items():
            self._set(name, revision, record)

    def is_live(self, name: str) -> bool:
        """True if `name` has a record (not deleted)."""
        return self.changes.get(name, ("", None))[1] is not None

    def live(self) -> dict[str, tuple[str, Record]]:
        """``{name: (revision, record)}`` of the artifacts not deleted, in name order."""
        return {n: (v, r) for n, (v, r) in sorted(self.changes.items()) if r is not None}

    def _set(self, name: str, revision: str, record: Record | None) -> None:
        known = self.changes.get(name)
        if known is None or known[0] < revision:
            self.changes[name] = (revision, record)


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode_sidecar(
    run_hash: str, state: RunState, lines: dict[tuple[str, str], str] | None = None
) -> bytes:
    """The sidecar JSON for `state`, one artifact per line.

    `lines` caches each ``(name, revision)``'s line across calls: a record is encoded once.
    """
    artifacts = []
    deleted = {}
    cache = {} if lines is None else lines
    for name, (revision, record) in sorted(state.changes.items()):
        if record is None:
            deleted[name] = revision
            continue
        line = cache.get((name, revision))
        if line is None:
            line = cache[name, revision] = (
                f"{_dump(name)}:{_dump({**record, 'revision': revision})}"
            )
        artifacts.append(line)
    head = f'{{"format":{_dump(FORMAT)},"run":{_dump(run_hash)},"artifacts":{{\n'
    tail = f'\n}},\n"deleted":{_dump(deleted)}}}\n'
    return (head + ",\n".join(artifacts) + tail).encode()


def decode_sidecar(data: bytes, *, where: str) -> RunState:
    """Parse a sidecar.

    Raises:
        UnsupportedFormatError: written by a newer major format.
        SidecarError: anything else wrong; the message says where.
    """
    with paused():
        doc = _load(data, where)
        state = RunState()
        changes = state.changes
        for name, value in _get(doc, "artifacts", dict, where).items():
            revision: Any = value.pop("revision", None) if type(value) is dict else None
            if not (  # the common case, checked without building a message
                type(revision) is str
                and _REVISION.fullmatch(revision)
                and value.get("name") == name
                and is_valid_name(name)
            ):
                here = f"{where}: artifacts[{name!r}]"
                _record(name, value, here)
                _revision(revision, f"{here}.revision")
            changes[name] = (revision, value)
    for name, revision in _get(doc, "deleted", dict, where).items():
        here = f"{where}: deleted[{name!r}]"
        state.apply(_revision(revision, here), deleted=[_name(name, here)])
    return state


def encode_entry(
    run_hash: str, revision: str, records: Mapping[str, Record], deleted: Iterable[str] = ()
) -> bytes:
    """A journal entry: one revision for all its changes."""
    doc = {
        "format": FORMAT,
        "run": run_hash,
        "revision": revision,
        "artifacts": records,
        "deleted": sorted(deleted),
    }
    return _dump(doc).encode()


def decode_entry(data: bytes, *, where: str) -> RunState:
    """Parse a journal entry into the state it describes.

    Raises:
        UnsupportedFormatError: written by a newer major format.
        SidecarError: anything else wrong; the message says where.
    """
    doc = _load(data, where)
    revision = _revision(doc.get("revision"), f"{where}: revision")
    records = {
        name: _record(name, value, f"{where}: artifacts[{name!r}]")
        for name, value in _get(doc, "artifacts", dict, where).items()
    }
    deleted = [_name(n, f"{where}: deleted") for n in _get(doc, "deleted", list, where)]
    state = RunState()
    state.apply(revision, records, deleted)
    return state


def _load(data: bytes, where: str) -> Mapping[str, Any]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f"{where}: not valid JSON ({exc})"
        raise SidecarError(msg) from exc
    if not isinstance(doc, dict):
        msg = f"{where}: expected a JSON object, got {type(doc).__name__}"
        raise SidecarError(msg)
    fmt = doc.get("format")
    name, _, version = fmt.partition("/") if isinstance(fmt, str) else ("", "", "")
    major = version.partition(".")[0]
    if name != FORMAT_NAME or not major.isdigit():
        msg = f"{where}: format {fmt!r} is not an aim-artifacts format"
        raise SidecarError(msg)
    if int(major) > MAJOR:
        msg = (
            f"{where}: format {fmt!r} is newer than this version of aim-artifacts reads "
            f"({FORMAT}); upgrade aim-artifacts"
        )
        raise UnsupportedFormatError(msg)
    return doc


def _get(doc: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key, kind())
    if not isinstance(value, kind):
        msg = f"{where}: {key}: expected {kind.__name__}, got {type(value).__name__}"
        raise SidecarError(msg)
    return value


def _record(name: str, value: Any, where: str) -> Record:
    _name(name, where)
    if not isinstance(value, dict):
        msg = f"{where}: expected an object, got {type(value).__name__}"
        raise SidecarError(msg)
    if value.get("name") != name:
        msg = f"{where}.name: {value.get('name')!r} differs from its key"
        raise SidecarError(msg)
    return value


def _revision(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _REVISION.fullmatch(value):
        msg = f"{where}: {value!r} is not a revision"
        raise SidecarError(msg)
    return value


def _name(value: Any, where: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        msg = f"{where}: {exc}"
        raise SidecarError(msg) from exc
