"""Local files that appear whole: written to a temp file beside the target, then renamed.

A resumable temp file is named after its target and its source (path, size, mtime), so that
the next attempt to write the same source there, from any process, finds it and continues;
one of an older version of the source is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

from .errors import SourceChangedError
from .names import RESERVED_PREFIX

__all__ = ["RESUMABLE_PREFIX", "TEMP_PREFIX", "atomic_local_file", "resumable_local_file"]

TEMP_PREFIX = f"{RESERVED_PREFIX}-tmp-"
RESUMABLE_PREFIX = f"{TEMP_PREFIX}resume-"  # temp files the next attempt continues


def _open_temp(path: str) -> tuple[str, int]:
    """A new temp file beside `path` (its directory made if missing): name and descriptor."""
    directory = os.path.dirname(path)
    temp = f"{directory}/{TEMP_PREFIX}{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    try:
        return temp, os.open(temp, flags, 0o666)
    except FileNotFoundError:  # first file in this directory: one makedirs, not one per file
        os.makedirs(directory, exist_ok=True)
        return temp, os.open(temp, flags, 0o666)


@contextlib.contextmanager
def atomic_local_file(path: str) -> Iterator[IO[bytes]]:
    """A local file that appears at `path` when the block ends without error."""
    temp, fd = _open_temp(path)
    try:
        with open(fd, "wb") as f:
            yield f
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


@contextlib.contextmanager
def resumable_local_file(path: str, source: os.stat_result, source_path: str) -> Iterator[int]:
    """A descriptor of a temp file (read-write) that appears at `path` when the block ends
    without error. It continues a temp file an interrupted attempt to write the same source
    (`source_path` with the status `source`) left, if any: the caller checks how much of it
    is right. On error it stays, to be continued; `repair` removes it once it is old.

    A temp file is taken over by renaming it (atomic: two attempts never share one; one
    still writing to it fails at its own rename, publishing nothing)."""
    directory = os.path.dirname(path)
    prefix = f"{RESUMABLE_PREFIX}{_digest(path)}-"
    identity = f"{os.path.abspath(source_path)}\0{source.st_size}\0{source.st_mtime_ns}"
    same = f"{prefix}{_digest(identity)}-"
    temp = os.path.join(directory, f"{same}{secrets.token_hex(8)}")
    try:
        names = os.listdir(directory)
    except FileNotFoundError:  # first file in this directory
        os.makedirs(directory, exist_ok=True)
        names = []
    taken = False
    for name in names:
        if not name.startswith(prefix):
            continue
        with contextlib.suppress(FileNotFoundError):
            if not name.startswith(same):  # of another version of the source
                os.unlink(os.path.join(directory, name))
            elif not taken:
                os.rename(os.path.join(directory, name), temp)
                taken = True
    fd = os.open(temp, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
    try:
        yield fd
    except SourceChangedError:  # what was copied is of no use to anyone
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    finally:
        os.close(fd)
    os.replace(temp, path)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
