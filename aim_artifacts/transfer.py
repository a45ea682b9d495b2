"""Bytes in: local files and bytes to storage, hashed while they are copied.

How an object appears whole is the `Storage`'s choice; this module picks the fastest way to
feed it: one write for small files, the kernel's copy on local paths, concurrent parts
where the backend takes S3's multipart calls (`parts`: resumable), the backend's own
transfer where it has one, else a stream. Large files are read once where the bytes pass
through Python (one thread hashes while another writes), and hashed on a second thread
where they do not, so hashing and copying overlap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import threading
from collections.abc import Callable
from typing import IO, Any

from fsspec.callbacks import Callback

from .errors import SourceChangedError, SourceNotFoundError
from .hashing import Digest, FileHasher, hash_stream
from .localfile import resumable_local_file
from .location import Location
from .parts import send_parts, takes_parts

__all__ = [
    "Digest",
    "Progress",
    "copy_hashed",
    "hash_file",
    "hash_stream",
    "part_size",
    "store_bytes",
    "store_file",
]

CHUNK = 8 * 2**20  # read size for large files; also the largest file read in one go
PART = 16 * 2**20  # object-store write buffer (an S3 multipart part); s3fs's own is 50 MiB
CONCURRENT_PART = 8 * 2**20  # a part sent beside others (`parts`): boto3's size
MAX_PARTS = 9_000  # S3 allows 10,000 parts: stay below it for files of any size

Progress = Callable[[int], object]  # called with the number of bytes just moved


def part_size(size: int, smallest: int = PART) -> int:
    """The write buffer for an object of `size` bytes: `smallest`, or larger when the object
    would otherwise need more than `MAX_PARTS` parts."""
    return max(smallest, -(-size // MAX_PARTS))


def store_bytes(location: Location, path: str, data: bytes) -> Digest:
    """Write `data` atomically at `path` and return its size and sha256."""
    location.storage.write(path, data)
    return Digest(len(data), hashlib.sha256(data).hexdigest())


def store_file(
    source: str, location: Location, path: str, progress: Progress | None = None
) -> Digest:
    """Copy the local file `source` to `path` atomically, hashing the bytes as they go.

    Raises:
        SourceNotFoundError: `source` is missing.
        SourceChangedError: `source` changed while it was read (nothing is stored).
    """
    try:
        src = open(source, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError as exc:
        msg = f"source file {source!r} does not exist"
        raise SourceNotFoundError(msg) from exc
    storage = location.storage
    with src:
        before = os.fstat(src.fileno())
        # Copy exactly the bytes the file had: a file still being appended to is not chased.
        size = before.st_size
        if size <= CHUNK:  # the common case: one read, one write (one PUT), no buffers
            data = src.read(size)
            _check_unchanged(source, before, os.fstat(src.fileno()), len(data))
            stored = store_bytes(location, path, data)
            if progress:
                progress(size)
            return stored
        if storage.local:  # the kernel copies while a second thread hashes; resumable
            with (
                resumable_local_file(path, before, source) as temp,
                FileHasher(source, size) as hasher,
            ):
                done = _verified_length(src.fileno(), temp, size)
                if progress and done:
                    progress(done)
                copied = done + _kernel_copy(src.fileno(), temp, size - done, progress)
                stored = hasher.result(copied)
                _check_unchanged(source, before, os.fstat(src.fileno()), stored.size)
        elif takes_parts(storage.fs) and storage.in_place(path.rsplit("/", 1)[0]):
            # concurrent parts (S3), resumable

            def check_read(read: int) -> None:
                _check_unchanged(source, before, os.fstat(src.fileno()), read)

            sha256 = send_parts(
                src,
                location,
                path,
                source=source,
                before=before,
                part_size=part_size(size, CONCURRENT_PART),
                check=check_read,
                progress=progress,
            )
            stored = Digest(size, sha256)
        elif location.is_s3 or not storage.has_own_put:  # streamed, hashed on the way (S3
            # without parts, e.g. under ``dir::``: s3fs's file is a multipart upload in place)
            with storage.open_write(path, part_size(size)) as sink:
                stored = copy_hashed(src, sink, progress, limit=size)
                _check_unchanged(source, before, os.fstat(src.fileno()), stored.size)
        else:  # the backend's own transfer, to a temp name renamed into place (SFTP, WebDAV,
            # SMB; GCS and Azure, whose own uploads are concurrent) while a thread hashes
            bar = _ProgressCallback(progress)
            with FileHasher(source, size) as hasher:

                def check() -> None:
                    hasher.result(size)
                    _check_unchanged(source, before, os.fstat(src.fileno()), size)
                    bar.finish(size)  # where the backend reported nothing on the way

                storage.put(source, path, check, bar)
                stored = hasher.result(size)
    return stored


def hash_file(source: str) -> Digest:
    """Size and sha256 of the local file `source`.

    Raises:
        SourceNotFoundError: `source` is missing.
    """
    try:
        with open(source, "rb") as f:
            return hash_stream(f, os.fstat(f.fileno()).st_size)
    except FileNotFoundError as exc:
        msg = f"source file {source!r} does not exist"
        raise SourceNotFoundError(msg) from exc


def _check_unchanged(source: str, before: os.stat_result, after: os.stat_result, read: int) -> None:
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or (
        read != before.st_size
    ):
        msg = (
            f"source file {source!r} changed while it was stored "
            f"({before.st_size} bytes before, {read} read, {after.st_size} after)"
        )
        raise SourceChangedError(msg)


class _ProgressCallback(Callback):
    """An fsspec callback passing the bytes a backend reports as moved to `progress`."""

    def __init__(self, progress: Progress | None) -> None:
        super().__init__()
        self._progress = progress
        self._reported = 0

    def call(self, *args: Any, **kwargs: Any) -> None:
        self._report(int(self.value or 0))

    def finish(self, size: int) -> None:
        self._report(size)

    def _report(self, moved: int) -> None:
        if moved > self._reported and self._progress is not None:
            self._progress(moved - self._reported)
        self._reported = max(self._reported, moved)


def _verified_length(src_fd: int, dst_fd: int, size: int) -> int:
    """How much of the file `dst_fd` (left by an interrupted copy) matches the start of
    `src_fd`, in whole chunks; `dst_fd` is cut there and both are positioned there."""
    have = min(os.fstat(dst_fd).st_size, size)
    done = 0
    while done < have:
        want = min(CHUNK, have - done)
        if os.pread(src_fd, want, done) != os.pread(dst_fd, want, done):
            break
        done += want
    os.ftruncate(dst_fd, done)
    os.lseek(src_fd, done, os.SEEK_SET)
    os.lseek(dst_fd, done, os.SEEK_SET)
    return done


def _kernel_copy(src_fd: int, dst_fd: int, size: int, progress: Progress | None) -> int:
    """Copy `size` bytes of `src_fd` to `dst_fd` without passing them through Python."""
    copied = 0
    copy_range = getattr(os, "copy_file_range", None)
    while copied < size:
        block = min(64 * 2**20, size - copied)
        try:
            if copy_range is not None:
                n = copy_range(src_fd, dst_fd, block)
            else:
                n = os.sendfile(dst_fd, src_fd, None, block)
        except OSError:  # not supported across these file systems: fall back once
            if copy_range is None:
                raise
            copy_range = None
            continue
        if n == 0:
            break
        copied += n
        if progress:
            progress(n)
    return copied


def copy_hashed(
    src: IO[bytes], sink: IO[bytes], progress: Progress | None, limit: int | None = None
) -> Digest:
    """Copy `src` (its first `limit` bytes, if given) to `sink`; large streams are written on
    a second thread while this one hashes."""
    remaining = -1 if limit is None else limit

    def read() -> bytes:
        nonlocal remaining
        if remaining == 0:
            return b""
        chunk = src.read(CHUNK if remaining < 0 else min(CHUNK, remaining))
        if remaining > 0:
            remaining -= len(chunk)
        return chunk

    first = read()
    digest = hashlib.sha256(first)
    if len(first) < CHUNK or remaining == 0:  # small: one read, one write
        sink.write(first)
        if progress:
            progress(len(first))
        return Digest(len(first), digest.hexdigest())
    size = len(first)
    with _BackgroundWriter(sink, progress) as writer:
        writer.put(first)
        while chunk := read():
            writer.put(chunk)
            digest.update(chunk)  # hashlib releases the GIL: overlaps with the write
            size += len(chunk)
    return Digest(size, digest.hexdigest())


class _BackgroundWriter:
    """Writes chunks to a file on its own thread, a few chunks ahead at most."""

    def __init__(self, sink: IO[bytes], progress: Progress | None) -> None:
        self._sink = sink
        self._progress = progress
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=2)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="aim-artifacts-writer")

    def __enter__(self) -> _BackgroundWriter:
        self._thread.start()
        return self

    def put(self, chunk: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def __exit__(self, *exc_info: Any) -> None:
        if exc_info[0] is not None and self._thread.is_alive():
            self._drain()
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc_info[0] is None:
            raise self._error

    def _drain(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is not None:
                continue
            try:
                self._sink.write(chunk)
                if self._progress:
                    self._progress(len(chunk))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
                self._error = exc
