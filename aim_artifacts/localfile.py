"""Local files that appear whole: written to a temp file beside the target, then renamed."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import IO

from .names import RESERVED_PREFIX

__all__ = ["TEMP_PREFIX", "atomic_local_file"]

TEMP_PREFIX = f"{RESERVED_PREFIX}-tmp-"


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
