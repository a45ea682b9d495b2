"""Bytes in and out: hashing while copying, atomic writes, verified downloads.

Local and mounted targets get a temp file in the same directory and ``os.replace``; other
backends get a single object written through ``fs.open(path, "wb")`` (one PUT or a completed
multipart upload, atomic for readers), aborted on error. Large files are read once: one
thread reads and hashes while another writes, so hashing and copying overlap.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any

import attrs

from .errors import IntegrityError, InvalidNameError, SourceChangedError, SourceNotFoundError
from .location import Location
from .names import RESERVED_PREFIX, check_name

__all__ = [
    "Stored",
    "atomic_writer",
    "download_file",
    "hash_file",
    "local_target",
    "store_bytes",
    "store_file",
]

CHUNK = 8 * 2**20  # read size for large files; also the largest file read in one go
PART = 16 * 2**20  # object-store write buffer (an S3 multipart part); s3fs's own is 50 MiB
MAX_PARTS = 9_000  # S3 allows 10,000 parts: stay below it for files of any size
TEMP_PREFIX = f"{RESERVED_PREFIX}-tmp-"

Progress = Callable[[int], object]  # called with the number of bytes just moved


@attrs.frozen
class Stored:
    """What was stored: byte count and sha256 of exactly those bytes."""

    size: int
    sha256: str


def part_size(size: int) -> int:
    """The write buffer for an object of `size` bytes: `PART`, or larger when the object
    would otherwise need more than `MAX_PARTS` parts."""
    return max(PART, -(-size // MAX_PARTS))


@contextlib.contextmanager
def atomic_writer(location: Location, path: str, size: int = 0) -> Iterator[IO[bytes]]:
    """A binary file that appears at `path` (a path of ``location.fs``) only if the block ends
    without error; otherwise nothing is left behind and any earlier object stays intact.
    `size` (expected bytes) sizes the write buffer of object stores."""
    if location.is_local:
        with _local_atomic_writer(path) as f:
            yield f
        return
    fs = location.fs
    # An S3 PUT (or completed multipart upload) is atomic for readers; other backends may
    # show a file while it is written (fsspec's memory filesystem commits it empty at
    # open), so they get a temp object beside the target, moved into place at the end.
    direct = location.is_s3
    target = path if direct else f"{path.rsplit('/', 1)[0]}/{TEMP_PREFIX}{secrets.token_hex(8)}"
    f = fs.open(target, "wb", block_size=part_size(size))
    try:
        yield f
    except BaseException:
        f.discard()  # s3fs aborts the multipart upload
        with contextlib.suppress(AttributeError):
            f.closed = True
        if not direct:
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(target)
        raise
    f.close()
    if not direct:
        fs.mv(target, path)


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
def _local_atomic_writer(path: str) -> Iterator[IO[bytes]]:
    temp, fd = _open_temp(path)
    try:
        with open(fd, "wb") as f:
            yield f
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def _write_local(path: str, data: bytes) -> None:
    """Write `data` to a temp file beside `path`, then rename it into place."""
    temp, fd = _open_temp(path)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def store_bytes(location: Location, path: str, data: bytes) -> Stored:
    """Write `data` atomically at `path` and return its size and sha256."""
    if location.is_local:
        _write_local(path, data)
    elif len(data) <= CHUNK and location.is_s3:
        location.fs.pipe_file(path, data)
    else:
        with atomic_writer(location, path, len(data)) as f:
            f.write(data)
    return Stored(len(data), hashlib.sha256(data).hexdigest())


def store_file(
    source: str, location: Location, path: str, progress: Progress | None = None
) -> Stored:
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
    with src:
        before = os.fstat(src.fileno())
        # Copy exactly the bytes the file had: a file still being appended to is not chased.
        size = before.st_size
        if size <= CHUNK:  # the common case: one read, one write (one PUT), no buffers
            data = src.read(size)
            _check_unchanged(source, before, os.fstat(src.fileno()), len(data))
            if location.is_local:
                _write_local(path, data)
            elif location.is_s3:
                location.fs.pipe_file(path, data)  # a single PUT: atomic for readers
            else:
                with atomic_writer(location, path, size) as sink:
                    sink.write(data)
            if progress:
                progress(size)
            return Stored(size, hashlib.sha256(data).hexdigest())
        with atomic_writer(location, path, size) as sink:
            if location.is_local:
                stored = _copy_local(source, src, sink, size, progress)
            else:
                stored = _copy(src, sink, progress, limit=size)
            _check_unchanged(source, before, os.fstat(src.fileno()), stored.size)
    return stored


def hash_file(source: str) -> Stored:
    """Size and sha256 of the local file `source`.

    Raises:
        SourceNotFoundError: `source` is missing.
    """
    try:
        with open(source, "rb") as f:
            return _hash(f, os.fstat(f.fileno()).st_size)
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


def download_file(
    location: Location,
    path: str,
    dest: str,
    expected: Stored | None,
    progress: Progress | None = None,
) -> Stored:
    """Copy `path` from storage to the local file `dest`, atomically.

    Raises:
        IntegrityError: the bytes disagree with `expected`; `dest` is left untouched.
    """
    with location.fs.open(path, "rb") as src, _local_atomic_writer(dest) as sink:
        got = _copy(src, sink, progress)
        if expected is not None and got != expected:
            msg = (
                f"{location.uri}: stored bytes do not match the record "
                f"(size {got.size}, sha256 {got.sha256}; recorded size {expected.size}, "
                f"sha256 {expected.sha256})"
            )
            raise IntegrityError(msg)
    return got


def local_target(dest_dir: str, name: str) -> str:
    """The local path for artifact `name` below `dest_dir`, refusing anything that would land
    outside it (``..`` parts, absolute names, symlinks in `dest_dir` pointing out).

    Raises:
        InvalidNameError: the path would leave `dest_dir`.
    """
    check_name(name)
    root = os.path.realpath(dest_dir)
    target = os.path.realpath(os.path.join(root, *name.split("/")))
    if os.path.commonpath([root, target]) != root or target == root:
        msg = f"artifact {name!r} would be written outside {dest_dir!r}"
        raise InvalidNameError(msg)
    return target


def _copy_local(
    source: str, src: IO[bytes], sink: IO[bytes], size: int, progress: Progress | None
) -> Stored:
    """Copy `size` bytes in the kernel (``copy_file_range`` / ``sendfile``) while a second
    thread hashes the same bytes of `source`: the two overlap, as fast as the slower of them.
    The caller's before/after stat check catches a source changed between the two reads."""
    hashed: list[Stored] = []
    failure: list[BaseException] = []

    def hash_source() -> None:
        try:
            with open(source, "rb") as f:
                hashed.append(_hash(f, size))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            failure.append(exc)

    hasher = threading.Thread(target=hash_source, name="aim-artifacts-hash")
    hasher.start()
    try:
        copied = _kernel_copy(src.fileno(), sink.fileno(), size, progress)
    finally:
        hasher.join()
    if failure:
        raise failure[0]
    if copied != size or hashed[0].size != size:
        msg = f"source file {source!r} changed while it was stored"
        raise SourceChangedError(msg)
    return hashed[0]


def _hash(f: IO[bytes], size: int) -> Stored:
    """sha256 of the first `size` bytes of `f` (fewer if it is shorter)."""
    digest = hashlib.sha256()
    buffer = memoryview(bytearray(2**20))
    done = 0
    while done < size and (n := f.readinto(buffer[: min(len(buffer), size - done)])):  # type: ignore[attr-defined]
        digest.update(buffer[:n])
        done += n
    return Stored(done, digest.hexdigest())


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


def _copy(
    src: IO[bytes], sink: IO[bytes], progress: Progress | None, limit: int | None = None
) -> Stored:
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
        return Stored(len(first), digest.hexdigest())
    size = len(first)
    with _BackgroundWriter(sink, progress) as writer:
        writer.put(first)
        while chunk := read():
            writer.put(chunk)
            digest.update(chunk)  # hashlib releases the GIL: overlaps with the write
            size += len(chunk)
    return Stored(size, digest.hexdigest())


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
