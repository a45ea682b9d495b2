"""The sha256 of bytes and files: a stream hashed in order, or a file hashed on a thread of
its own beside a copy made by other means."""

from __future__ import annotations

import hashlib
import threading
from typing import IO

import attrs

from .errors import SourceChangedError

__all__ = ["Digest", "FileHasher", "hash_stream"]


@attrs.frozen
class Digest:
    """A byte count and the sha256 of exactly those bytes."""

    size: int
    sha256: str


class FileHasher:
    """Hashes the first `size` bytes of the file `source` on a thread of its own, so that
    hashing overlaps a copy made by other means (the kernel, the backend's transfer). The
    caller's before/after stat check catches a source changed between the two reads."""

    def __init__(self, source: str, size: int) -> None:
        self._source = source
        self._size = size
        self._hashed: list[Digest] = []
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, name="aim-artifacts-hash")

    def __enter__(self) -> FileHasher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            with open(self._source, "rb") as f:
                self._hashed.append(hash_stream(f, self._size))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            self._failure.append(exc)

    def result(self, copied: int) -> Digest:
        """The hash, once `copied` bytes were copied.

        Raises:
            SourceChangedError: the copy or the hash saw another size than expected.
        """
        self._thread.join()
        if self._failure:
            raise self._failure[0]
        if copied != self._size or self._hashed[0].size != self._size:
            msg = f"source file {self._source!r} changed while it was stored"
            raise SourceChangedError(msg)
        return self._hashed[0]


def hash_stream(f: IO[bytes], size: int | None = None) -> Digest:
    """sha256 of the first `size` bytes of `f` (fewer if it is shorter; all if None)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(2**20))
    done = 0
    limit = -1 if size is None else size
    while done != limit and (n := f.readinto(buffer[: _want(len(buffer), limit, done)])):  # type: ignore[attr-defined]
        digest.update(buffer[:n])
        done += n
    return Digest(done, digest.hexdigest())


def _want(buffer: int, limit: int, done: int) -> int:
    """How many bytes to read next: a buffer's worth, or what remains below `limit`."""
    return buffer if limit < 0 else min(buffer, limit - done)
