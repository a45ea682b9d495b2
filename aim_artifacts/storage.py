"""One storage layer over any fsspec filesystem, driven by what the backend can do.

A `Storage` builds the filesystem (the only place that does, besides `location.resolve`
detecting it) and decides, once per filesystem, how to use it; the rest of the package calls
its methods and never asks which class a filesystem is:

===================  ===========================================================================
question             how it is decided
===================  ===========================================================================
local fast paths     fsspec's own local filesystem: its paths are the OS's, used with ``os``
publish              S3: an object appears whole when its PUT or multipart upload completes, so
                     it is written in place; elsewhere a temp file beside the target is renamed
                     over it: with the client's own overwriting move where it declares one
                     (webdav4: WebDAV MOVE), else ``fs.mv``; where that refuses to overwrite
                     (SMB), the old object is removed first (readers may then briefly miss it,
                     never see it partial)
directories          made before the first write into each directory (`make_dirs`): at or
                     below the base the user gave, never above it (never a bucket); a store
                     without directories makes none (object stores: ``mkdir`` makes nothing)
threads              asynchronous filesystems (one event loop serialises them) are shared by all
                     threads; any other gets an instance per thread (paramiko, ftplib and
                     smbprotocol clients are not thread-safe)
exclusion            `hold`: ``mkdir`` of a lock directory, probed to be exclusive (it is atomic
                     at the server on every file protocol; object stores make no directory), a
                     lease a dead holder cannot keep; never an advisory lock
"missing"            `is_missing`: FileNotFoundError, errno ENOENT on any OSError, HTTP 404/409,
                     FTP 550, however deep in the cause chain
listing              `ls`: always with details, names made absolute
===================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import inspect
import os
import random
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any

from fsspec.asyn import AsyncFileSystem
from fsspec.callbacks import Callback
from fsspec.implementations.cached import CachingFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem
from fsspec.utils import tokenize

from .names import RESERVED_PREFIX

__all__ = ["TEMP_PREFIX", "Storage", "atomic_local_file", "error_chain", "is_missing"]

TEMP_PREFIX = f"{RESERVED_PREFIX}-tmp-"
SMALL = 8 * 2**20  # bytes written in one request (one PUT) on object stores
LEASE = 60.0  # seconds a lock held by another machine is honoured without change
LOCAL_WORKERS = 1  # uploads at once: local paths (measured fastest on 2 cores) ...
SHARED_WORKERS = 16  # ... asynchronous clients (object stores; S3's pool sized to match) ...
PER_THREAD_WORKERS = 4  # ... and clients with a connection per thread (SFTP, FTP, SMB, WebDAV)
_HOST = socket.gethostname()
_exclusive_mkdir: dict[tuple[type, str], bool] = {}  # (filesystem, its token) -> probed answer


def is_missing(exc: BaseException) -> bool:
    """True if `exc` (or an error it was raised from) says "no such file or directory"."""
    for link in error_chain(exc):
        if isinstance(link, FileNotFoundError):
            return True
        if isinstance(link, OSError) and link.errno == errno.ENOENT:
            return True
        response = getattr(link, "response", None)  # httpx / requests responses
        if getattr(response, "status_code", None) in (404, 409):  # 409: no parent (WebDAV)
            return True
        text = str(link)
        if type(link).__name__ == "error_perm" and text.startswith("550") and "exists" not in text:
            return True  # ftplib: "550 No such file or directory." (not "550 File exists.")
    return False


def error_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the errors it was raised from or during, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


class Storage:
    """A filesystem (rebuilt per process, or per thread where its client is not
    thread-safe) and what it can do. Pickles as class, arguments and options."""

    def __init__(
        self,
        fs_cls: type[AbstractFileSystem],
        *,
        fs_args: tuple[Any, ...] = (),
        fs_options: Mapping[str, Any] | None = None,
        base: str = "",
        direct: bool = False,
        share: bool = True,
    ) -> None:
        """
        Args:
            fs_cls, fs_args, fs_options: how to build the filesystem.
            base: the path the user gave; directories are never made above it.
            direct: objects appear whole when written (S3): no temp file and rename.
            share: one instance (fsspec's cached one) serves every thread; else each
                thread builds its own.
        """
        self.fs_cls = fs_cls
        self.fs_args = fs_args
        self._fs_options = copy.deepcopy(dict(fs_options or {}))
        self.base = base
        self.direct = direct
        self._shared: AbstractFileSystem | None = None
        self._pid = -1
        self._threads = threading.local()
        self._building = threading.Lock()
        self._share = share
        self._dirs: set[str] = set()  # directories made or found by `make_dirs`
        self._mkdir_makes = False  # a mkdir that raised nothing was seen to make a directory

    # -- the filesystem ------------------------------------------------------------------------

    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem for this process (and thread, where clients are not thread-safe)."""
        if self._pid != os.getpid():  # forked or unpickled: nothing inherited is ours
            self._shared, self._threads, self._pid = None, threading.local(), os.getpid()
            self._building = threading.Lock()
        fs = self._shared or getattr(self._threads, "fs", None)
        if fs is not None:
            return fs
        with self._building:  # one login at a time: SMB's first sessions race
            fs = self._shared or self._build()
        if self._share:
            self._shared = fs
        else:
            self._threads.fs = fs
        return fs

    @classmethod
    def of(cls, fs: AbstractFileSystem, *, base: str, direct: bool) -> Storage:
        """The storage of `fs`, an uncached instance made to detect the backend: where each
        thread has its own client, it stays the calling thread's (no second login)."""
        storage = cls(
            type(fs),
            fs_args=fs.storage_args,
            fs_options=fs.storage_options,
            base=base,
            direct=direct,
            share=_shares_one_client(fs),
        )
        if not storage._share:
            storage._pid, storage._threads.fs = os.getpid(), fs
        return storage

    def _build(self) -> AbstractFileSystem:
        # Deep copy: botocore rewrites nested dicts (``retries``) in place. A thread's own
        # instance must not come from fsspec's instance cache, which other threads share.
        options = copy.deepcopy(self._fs_options)
        if not self._share:
            options["skip_instance_cache"] = True
        return self.fs_cls(*self.fs_args, **options)

    @property
    def storage_options(self) -> dict[str, Any]:
        """A copy of the options the filesystem is built with (they may hold secrets)."""
        return copy.deepcopy(self._fs_options)

    @property
    def local(self) -> bool:
        """True for the local filesystem itself (plain and mounted paths, ``file://``,
        ``local://``): its paths are the operating system's, used with ``os`` directly."""
        return issubclass(self.fs_cls, LocalFileSystem)

    @property
    def workers(self) -> int:
        """Uploads to run at once by default."""
        if self.local:
            return LOCAL_WORKERS
        return SHARED_WORKERS if self._share else PER_THREAD_WORKERS

    @property
    def origin(self) -> AbstractFileSystem:
        """The filesystem under any read caches (``simplecache::``, ``filecache::``)."""
        fs = self.fs
        while isinstance(fs, CachingFileSystem):
            fs = fs.fs
        return fs

    # -- reading and listing -----------------------------------------------------------------

    def ls(self, path: str) -> list[dict[str, Any]]:
        """The entries of directory `path` (fresh, with details, names absolute); ``[]`` if it
        does not exist."""
        fs = self.origin  # metadata is read fresh, never from a read cache
        fs.invalidate_cache(path)
        try:
            entries = fs.ls(path, detail=True)
        except Exception as exc:
            if is_missing(exc):
                return []
            raise
        prefix = path.rstrip("/")
        return [_absolute(entry, prefix) for entry in entries]

    def names(self, path: str) -> list[str]:
        """The names (last parts) of the entries of directory `path`."""
        return [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in self.ls(path)]

    def find(self, path: str) -> list[str]:
        """Every file below directory `path`, as full paths; ``[]`` if it does not exist."""
        fs = self.origin  # metadata is read fresh, never from a read cache
        fs.invalidate_cache(path)
        try:
            found = fs.find(path)
        except Exception as exc:
            if is_missing(exc):
                return []
            raise
        prefix = path.rstrip("/")
        return [p if "/" in p else f"{prefix}/{p}" for p in found]

    def read(self, path: str) -> bytes | None:
        """The bytes of `path`, or None if it does not exist."""
        try:
            return self.origin.cat_file(path)  # fresh, never from a read cache
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    # -- writing -----------------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        """Store `data` at `path`, appearing whole or not at all."""
        if self.local:
            _write_local(path, data)
        elif self.direct and len(data) <= SMALL:
            self.fs.pipe_file(path, data)  # one PUT: atomic for readers
        else:
            with self.open_write(path, len(data)) as f:
                f.write(data)

    @property
    def has_own_put(self) -> bool:
        """True if the filesystem has a transfer of its own for local files (it overrides
        fsspec's generic ``put_file``, which is only ``open`` and ``write``)."""
        cls = type(self.fs)
        if getattr(cls, "async_impl", False):
            return cls._put_file is not AsyncFileSystem._put_file
        return cls.put_file is not AbstractFileSystem.put_file

    def put(self, source: str, path: str, check: Callable[[], object], callback: Callback) -> None:
        """Copy the local file `source` to `path` with the backend's own transfer, appearing
        whole or not at all: only if `check()`, called once the bytes are stored, raises
        nothing. `callback` hears of the bytes moved where the backend reports them."""
        with self._temp(path) as temp:
            self.make_dirs(temp.rsplit("/", 1)[0])
            self.fs.put_file(source, temp, callback=callback)
            check()

    @contextlib.contextmanager
    def open_write(self, path: str, block_size: int | None = None) -> Iterator[IO[bytes]]:
        """A binary file that appears at `path` only if the block ends without error;
        otherwise nothing is left behind and an earlier object stays intact. Local files
        are real files (``fileno()`` works); `block_size` sizes object-store parts."""
        if self.local:
            with atomic_local_file(path) as f:
                yield f
            return
        fs = self.fs
        if self.direct:
            f = fs.open(path, "wb", **({"block_size": block_size} if block_size else {}))
            try:
                yield f
            except BaseException:
                f.discard()  # aborts the multipart upload
                with contextlib.suppress(AttributeError):
                    f.closed = True
                raise
            f.close()
            return
        with self._temp(path) as temp:
            # Some backends fail only at close (WebDAV, simplecache): make the directory first.
            self.make_dirs(temp.rsplit("/", 1)[0])
            f = fs.open(temp, "wb")
            if callable(pipelined := getattr(f, "set_pipelined", None)):
                pipelined(True)  # SFTP: writes no longer wait for each reply (35x faster)
            try:
                yield f
            except BaseException:
                with contextlib.suppress(Exception):
                    f.close()  # commits the temp file, removed below: no discard() needed
                raise
            f.close()

    @contextlib.contextmanager
    def _temp(self, path: str) -> Iterator[str]:
        """A temp path beside `path`, renamed over it when the block ends without error and
        removed otherwise."""
        temp = f"{path.rsplit('/', 1)[0]}/{TEMP_PREFIX}{secrets.token_hex(8)}"
        try:
            yield temp
            self._publish(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(temp)
            raise

    def _publish(self, temp: str, path: str) -> None:
        """Rename `temp` over `path`: with the client's own overwriting move where it offers
        one (webdav4: a WebDAV MOVE with ``Overwrite: T``; its ``fs.mv`` is a COPY written in
        place), else ``fs.mv``; where that refuses to overwrite (SMB), `path` is removed
        first: readers may then briefly miss it, never see it partial."""
        fs = self.fs
        if (move := _overwriting_move(fs)) is not None:
            move(temp, path)
            return
        try:
            fs.mv(temp, path)
        except Exception:
            fs.invalidate_cache()
            if not fs.exists(path):
                raise
            self.remove([path])
            fs.mv(temp, path)

    def make_dirs(self, path: str) -> bool:
        """Make directory `path` and its missing parents, at or below the base (never above
        it: never a bucket). True if `path` now exists as a directory."""
        if path in self._dirs:
            return True
        if self.direct or not path.startswith(self.base):
            return False
        fs = self.fs
        made = True
        try:
            fs.mkdir(path, create_parents=False)
        except Exception as exc:  # noqa: BLE001 - "exists" is worded many ways: isdir says
            parent = path.rsplit("/", 1)[0]
            made = False
            if is_missing(exc) and parent != path and self.make_dirs(parent):
                with contextlib.suppress(Exception):
                    fs.mkdir(path, create_parents=False)
                    made = True
        # Once a made directory was seen to exist, a mkdir that raised nothing is trusted
        # (object stores make nothing: the first check tells them apart).
        if not (made and self._mkdir_makes):
            fs.invalidate_cache()  # FTP answers isdir from its listing of the parent
            if not fs.isdir(path):
                return False
            if made:
                self._mkdir_makes = True
        self._dirs.add(path)
        return True

    def remove(self, paths: list[str]) -> None:
        """Remove these files; those already gone are skipped."""
        for path in paths:
            try:
                self.fs.rm_file(path)
            except Exception as exc:
                if not is_missing(exc):
                    raise

    # -- exclusion -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self, lock: str) -> Iterator[bool]:
        """Hold the lock directory `lock` for the block; yields False, holding nothing, where
        ``mkdir`` is not exclusive (object stores)."""
        if _exclusive_mkdir.get((self.fs_cls, tokenize(self.fs_args, self._fs_options))) is False:
            yield False
            return
        fs = self.fs
        token = f"{_HOST}:{os.getpid()}:{secrets.token_hex(4)}"
        seen: tuple[float, list[str]] | None = None  # when these holders were first seen
        attempt = waits = 0
        while True:
            try:
                fs.mkdir(lock, create_parents=False)
                break
            except Exception:
                holders = self._holders(lock)
                if holders is None:  # not held: a missing run directory, or a real failure
                    attempt += 1
                    if attempt > 3 or not self.make_dirs(lock.rsplit("/", 1)[0]):
                        raise
                    continue
                if seen is None or seen[1] != holders:
                    seen = (time.monotonic(), holders)
                if _abandoned(holders) or time.monotonic() - seen[0] > LEASE:
                    self._release(lock)
                    continue
                attempt = 0
                waits += 1
                time.sleep(random.uniform(0.002, 0.01) * min(waits, 20))
        if not self._is_exclusive(lock):
            yield False
            return
        try:
            with contextlib.suppress(Exception), fs.open(f"{lock}/{token}", "wb"):
                pass  # the holder's name helps others, no more (not pipe_file: WebDAV's
                # makes the directories first, three more requests)
            yield True
        finally:
            self._release(lock, [token])

    def _is_exclusive(self, lock: str) -> bool:
        """Probed once per process and filesystem: `lock`, just made, is a directory, and
        making it again fails."""
        key = (self.fs_cls, tokenize(self.fs_args, self._fs_options))
        if (exclusive := _exclusive_mkdir.get(key)) is None:
            fs = self.fs
            fs.invalidate_cache()
            exclusive = fs.isdir(lock)
            if exclusive:
                try:
                    fs.mkdir(lock, create_parents=False)
                except Exception:  # noqa: BLE001 - any refusal is what we hope for
                    pass
                else:
                    exclusive = False
            _exclusive_mkdir[key] = exclusive
        return exclusive

    def _holders(self, lock: str) -> list[str] | None:
        """The tokens in lock directory `lock`, or None if it does not exist."""
        fs = self.fs
        fs.invalidate_cache()  # FTP answers isdir from its listing of the parent
        if not fs.isdir(lock):
            return None
        return sorted(self.names(lock))

    def _release(self, lock: str, tokens: list[str] | None = None) -> None:
        """Remove lock directory `lock` and the `tokens` in it (listed if not given)."""
        fs = self.fs
        for token in self.names(lock) if tokens is None else tokens:
            with contextlib.suppress(Exception):
                fs.rm_file(f"{lock}/{token}")
        try:
            fs.rmdir(lock)
        except Exception as exc:
            if not is_missing(exc):
                raise
        fs.invalidate_cache(lock)

    # -- pickling ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "fs_cls": self.fs_cls,
            "fs_args": self.fs_args,
            "fs_options": self._fs_options,
            "base": self.base,
            "direct": self.direct,
            "share": self._share,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.pop("fs_cls"), **state)  # type: ignore[misc]


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


def _absolute(entry: dict[str, Any], directory: str) -> dict[str, Any]:
    """`entry` with its name made a full path (FTP lists bare names)."""
    name = entry["name"]
    if "/" in name.rstrip("/"):
        return entry
    return {**entry, "name": f"{directory}/{name}" if directory else name}


def _overwriting_move(fs: AbstractFileSystem) -> Callable[[str, str], object] | None:
    """The client's move that replaces its target, if it declares one (an ``overwrite``
    parameter on ``fs.client.move``)."""
    move = getattr(getattr(fs, "client", None), "move", None)
    if not callable(move):
        return None
    try:
        takes_overwrite = "overwrite" in inspect.signature(move).parameters
    except (TypeError, ValueError):
        return None
    return functools.partial(move, overwrite=True) if takes_overwrite else None


def _shares_one_client(fs: AbstractFileSystem) -> bool:
    """True if one instance may serve every thread: the innermost filesystem (under wrappers
    such as ``dir::`` and caches, which name what they wrap ``.fs``) is the local one or an
    asynchronous implementation (its requests run on one event loop)."""
    while isinstance(inner := getattr(fs, "fs", None), AbstractFileSystem):
        fs = inner
    return isinstance(fs, LocalFileSystem) or bool(getattr(fs, "async_impl", False))


def _abandoned(holders: list[str]) -> bool:
    """True if a lock's holder ran on this machine and its process is gone."""
    for token in holders:
        host, _, rest = token.partition(":")
        pid = rest.partition(":")[0]
        if host != _HOST or not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            continue
    return False
