"""What a logging call asks for, planned before any byte moves: one `Job` per file, and
the record each job becomes. No storage I/O: only the local sources are looked at."""

from __future__ import annotations

import datetime as dt
import json
import mimetypes
import os
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import attrs

from .errors import SourceIsDirectoryError, SourceNotDirectoryError, SourceNotFoundError
from .names import check_name, join_name
from .records import Artifact, Downloader, check_metadata

__all__ = [
    "Job",
    "build_record",
    "content_type",
    "directory_jobs",
    "file_job",
    "serialise",
    "source_size",
    "stream_job",
]


@attrs.frozen
class Job:
    """One file to store under one name."""

    source: str  # "" for bytes written through `Run.open_artifact`
    name: str
    metadata: dict[str, Any]
    created_at: dt.datetime
    size: int | None  # known up front for single files; read when needed for directories
    skip_unchanged: bool = False


def file_job(
    path: str | os.PathLike[str],
    name: str | None,
    metadata: Mapping[str, Any] | None = None,
    *,
    skip_unchanged: bool = False,
) -> Job:
    """The job storing the file `path` as `name` (default: its basename).

    Raises:
        SourceNotFoundError, SourceIsDirectoryError, InvalidNameError, InvalidMetadataError.
    """
    source = os.fspath(path)
    st = _stat(source)
    if os.path.isdir(source):
        msg = f"{source!r} is a directory: use run.log_artifacts({source!r})"
        raise SourceIsDirectoryError(msg)
    name = check_name(os.path.basename(source) if name is None else name)
    return Job(source, name, check_metadata(metadata), _now(), st.st_size, skip_unchanged)


def stream_job(name: str, metadata: Mapping[str, Any] | None = None) -> Job:
    """The job of bytes written straight to storage as `name` (no source file)."""
    return Job("", check_name(name), check_metadata(metadata), _now(), None)


def directory_jobs(
    path: str | os.PathLike[str], prefix: str | None, *, skip_unchanged: bool = False
) -> list[Job]:
    """One job per file below the directory `path`, named ``<prefix>/<relative posix
    path>`` (`prefix` defaults to the directory's basename; ``""`` means none), in name
    order.

    Raises:
        SourceNotFoundError, SourceNotDirectoryError, InvalidNameError.
    """
    root = os.fspath(path)
    _stat(root)
    if not os.path.isdir(root):
        msg = f"{root!r} is not a directory: use run.log_artifact({root!r})"
        raise SourceNotDirectoryError(msg)
    prefix = os.path.basename(os.path.abspath(root)) if prefix is None else prefix
    if prefix:
        check_name(prefix)
    jobs = []
    created_at = _now()
    for directory, dirnames, filenames in os.walk(root):
        dirnames.sort()
        relative_dir = _posix(os.path.relpath(directory, root))
        base = prefix if relative_dir == "." else join_name(prefix, relative_dir)
        for filename in sorted(filenames):
            source = os.path.join(directory, filename)
            jobs.append(
                Job(source, join_name(base, filename), {}, created_at, None, skip_unchanged)
            )
    return jobs


def source_size(job: Job) -> int:
    """The size of the job's source, read now if it was not known when planned."""
    return job.size if job.size is not None else _stat(job.source).st_size


def build_record(
    job: Job, run_uri: str, size: int, sha256: str | None, downloader: Downloader | None
) -> Artifact:
    """The record of `job` once stored (`sha256` None: not stored yet) in the run at
    `run_uri`."""
    return Artifact(
        name=job.name,
        path=_posix(os.path.abspath(job.source)) if job.source else "",
        uri=f"{run_uri}/{job.name}",
        size=size,
        sha256=sha256,
        created_at=job.created_at,
        content_type=content_type(job.name),
        metadata=job.metadata,
        downloader=downloader,
    )


# Types that some systems' mimetypes tables lack (Debian's has no .yaml).
_MORE_TYPES = {
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".toml": "application/toml",
    ".md": "text/markdown",
    ".jsonl": "application/jsonl",
}


def content_type(name: str) -> str:
    """The media type of artifact `name`, from its extension."""
    known = mimetypes.guess_type(name)[0]
    if known is None:
        known = _MORE_TYPES.get(os.path.splitext(name)[1].lower())
    return known or "application/octet-stream"


def serialise(obj: Mapping[str, Any], name: str) -> str:
    """`obj` as YAML when `name` ends in .yaml/.yml and PyYAML is installed, else JSON.

    Raises:
        TypeError: `obj` cannot be serialised.
    """
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml  # noqa: PLC0415 - optional
        except ImportError:
            yaml = None
        if yaml is not None:
            return yaml.safe_dump(dict(obj))
    return json.dumps(obj, indent=2)


def _posix(path: str) -> str:
    """`path` with ``/`` separators (already so on POSIX)."""
    return path if os.sep == "/" else PurePath(path).as_posix()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stat(source: str) -> os.stat_result:
    try:
        return os.stat(source)
    except FileNotFoundError as exc:
        msg = f"no such file or directory: {source!r}"
        raise SourceNotFoundError(msg) from exc
