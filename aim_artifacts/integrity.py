"""Checking stored objects against their records, and cleaning up after crashes."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

import attrs

from . import parts, s3
from .errors import is_missing
from .localfile import RESUMABLE_PREFIX
from .location import Location
from .names import RESERVED_PREFIX
from .records import Artifact
from .storage import is_temp, temp_root
from .transfer import Digest, hash_stream

__all__ = ["VerifyReport", "leftovers", "remove_object", "repair", "verify"]

log: logging.Logger = logging.getLogger(__name__)

KEEP_RESUMABLE = dt.timedelta(days=1)  # resumable uploads younger than this survive `repair`


@attrs.frozen
class VerifyReport:
    """What `verify` found; each list holds artifact names (or paths, for `unrecorded`)."""

    verified: list[str]
    missing: list[str]  # recorded, but no object
    changed: list[str]  # the object's size or sha256 differs from the record
    unrecorded: list[str]  # objects in the run directory that no record names

    @property
    def ok(self) -> bool:
        """True when every record matches its object and nothing else is there."""
        return not (self.missing or self.changed or self.unrecorded)


def verify(location: Location, records: Mapping[str, Artifact]) -> VerifyReport:
    """Re-hash every recorded object (streamed, not trusted from the backend) and list the
    run directory for objects no record names. Read caches of chained URLs are bypassed."""
    fs = location.storage.origin
    fs.invalidate_cache(location.path)
    verified: list[str] = []
    missing: list[str] = []
    changed: list[str] = []
    for name, record in records.items():
        try:
            with fs.open(location.join(name), "rb") as f:
                got = hash_stream(f)
        except Exception as exc:
            if not is_missing(exc):
                raise
            missing.append(name)
            continue
        ok = got == Digest(record.size, record.sha256 or "")
        (verified if ok else changed).append(name)
    unrecorded = [
        name for name in _stored_names(location) if name not in records and not _is_ours(name)
    ]
    return VerifyReport(verified, missing, changed, sorted(unrecorded))


def repair(location: Location, keep_resumable: dt.timedelta = KEEP_RESUMABLE) -> list[str]:
    """Remove the temp files (and staged directories) killed processes left in the run
    directory and abort its unfinished S3 multipart uploads, except resumable ones (local
    temp files, uploads with a resume record) younger than `keep_resumable`; return what
    was removed or aborted."""
    cutoff = time.time() - keep_resumable.total_seconds()
    removed = [name for name in leftovers(location) if not _resumable(location, name, cutoff)]
    location.storage.remove([location.join(name) for name in removed])
    for staged in {temp_root(name) for name in removed} - {*removed, None}:
        location.storage.remove_tree(location.join(str(staged)))
    if location.is_s3:
        records = parts.load_resumes(location)
        young = {resume.upload_id for resume in records.values() if resume.started > cutoff}

        def keep(upload: Mapping[str, Any]) -> bool:
            return upload["UploadId"] in young  # the record's clock: some servers fake theirs

        removed += s3.abort_incomplete_uploads(location.fs, location.path, keep)
        stale = [path for path, resume in records.items() if resume.upload_id not in young]
        location.storage.remove(stale)  # their uploads were aborted just now, or are gone
    return removed


def remove_object(location: Location, name: str) -> None:
    """Remove the object of artifact `name`; one already gone is logged, not raised."""
    try:
        with location.storage_errors():
            location.fs.rm_file(location.join(name))
    except FileNotFoundError:
        log.warning("artifact %s had no object at %s", name, location.join(name))


def leftovers(location: Location) -> list[str]:
    """Temp files (and files in staged directories) that a killed process left in the
    run directory (never artifacts)."""
    return sorted(n for n in _stored_names(location) if is_temp(n))


def _resumable(location: Location, name: str, cutoff: float) -> bool:
    """True if `name` is a local temp file the next attempt can continue, written after
    `cutoff` (seconds since the epoch)."""
    if not (location.storage.local and name.rsplit("/", 1)[-1].startswith(RESUMABLE_PREFIX)):
        return False
    try:
        return os.stat(location.join(name)).st_mtime > cutoff
    except FileNotFoundError:
        return False


def _stored_names(location: Location) -> list[str]:
    prefix = location.path.rstrip("/") + "/"
    paths = location.storage.find(location.path)
    return [p[len(prefix) :] for p in paths if p.startswith(prefix)]


def _is_ours(name: str) -> bool:
    return any(part.startswith(RESERVED_PREFIX) for part in name.split("/"))
