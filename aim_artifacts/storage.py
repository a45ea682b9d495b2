"""One storage layer over any fsspec filesystem, driven by what the backend can do.

A `Storage` builds the filesystem (the only place that does, besides `location.resolve`
detecting it) and decides, once per filesystem, how to use it; the rest of the package calls
its methods and never asks which class a filesystem is:

===================  ===========================================================================
question             how it is decided
===================  ===========================================================================
local fast paths     fsspec's own local filesystem: its paths are the OS's, used with ``os``
publish              object stores: an object appears whole when its upload completes (a PUT, a
                     completed multipart or resumable upload, a committed block list), so it is
                     written in place: S3 by its protocol, any other store once its ``mkdir``
                     was seen to make no directory (GCS, Azure Blob: `learn_directories`, once
                     per process, at the first directory made; `in_place`); elsewhere a temp
                     file beside the target is renamed over it: with the client's own
                     overwriting move where it declares one (webdav4: WebDAV MOVE), else
                     ``fs.mv``; where that refuses to overwrite (SMB), the old object is
                     removed first (readers may then briefly miss it, never see it partial);
                     a batch into a new directory is written into a temp directory, renamed
                     into place once (`stage`, `unstage`)
directories          made before the first write into each directory (`make_dirs`): at or
                     below the base the user gave, never above it (never a bucket); a store
                     without directories makes none (object stores: ``mkdir`` makes nothing);
                     left to the backend's own ``put_file`` where it was seen to make them
                     (WebDAV; learned once per process)
threads              asynchronous filesystems (one event loop serialises them) are shared by all
                     threads; any other gets an instance per thread (paramiko, ftplib and
                     smbprotocol clients are not thread-safe), whose setup is timed
                     (`connect_cost`: the uploader adds such workers only where they pay)
exclusion            `lease.hold`: ``mkdir`` of a lock directory, probed to be exclusive (atomic
                     at the server on every file protocol; object stores make no directory), a
                     lease a dead holder cannot keep; never an advisory lock
"missing"            `is_missing`: FileNotFoundError, errno ENOENT on any OSError, HTTP 404/409,
                     FTP 550, however deep in the cause chain
listing              `ls`: always with details, names made absolute; `files`: every file below
                     a directory with size and time, from fsspec's ``find`` (one paginated
                     listing on object stores, a walk elsewhere), times read from whichever
                     key the backend lists (`_TIME_KEYS`)
===================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import errno
import functools
import inspect
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, NamedTuple

from fsspec.asyn import AsyncFileSystem
from fsspec.callbacks import Callback
from fsspec.implementations.cached import CachingFileSystem
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem
from fsspec.utils import tokenize

from .errors import is_missing
from .localfile import TEMP_PREFIX, atomic_local_file

__all__ = ["TEMP_PREFIX", "FileInfo", "Storage", "is_temp", "temp_root"]

SMALL = 8 * 2**20  # bytes written in one request (one PUT) on object stores
LOCAL_WORKERS = 1  # uploads at once: local paths (measured fastest on 2 cores) ...
SHARED_WORKERS = 16  # ... asynchronous clients (object stores; S3's pool sized to match) ...
PER_THREAD_WORKERS = 4  # ... and clients with a connection per thread (SFTP, FTP, SMB, WebDAV)


# What a backend was seen to do, learned once per process and configuration (`Storage.token`).
# Its ``mkdir``, from the first one that raised nothing (`Storage.learn_directories`):
NO_DIRECTORIES = "none"  # it made no directory: an object store, whose objects appear whole
EXCLUSIVE = "exclusive"  # it made one, and making it again failed: a lock directory excludes
REPEATABLE = "repeatable"  # it made one (or one was there), and making it again did not fail
_directories: dict[str, str] = {}
_put_makes_parents: dict[str, bool] = {}  # the backend's own ``put_file`` makes them (WebDAV)


class FileInfo(NamedTuple):
    """A file as a listing shows it."""

    path: str
    size: int
    modified: float | None  # seconds since the epoch; None where the backend lists no time
    tag: str  # changes when the file is rewritten: its ETag where listed, else size and time


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
        connect_seconds: float = 0.0,
    ) -> None:
        """
        Args:
            fs_cls, fs_args, fs_options: how to build the filesystem.
            base: the path the user gave; directories are never made above it.
            direct: objects appear whole when written, declared (S3): no temp file and
                rename. Other stores where this holds are recognised (`in_place`).
            share: one instance (fsspec's cached one) serves every thread; else each
                thread builds its own.
            connect_seconds: how long building one took, where known.
        """
        self.fs_cls = fs_cls
        self.fs_args = fs_args
        self._fs_options = copy.deepcopy(dict(fs_options or {}))
        self.base = base
        self._direct = direct
        self._shared: AbstractFileSystem | None = None
        self._pid = -1
        self._threads = threading.local()
        self._building = threading.Lock()
        self._share = share
        self._connect_seconds = connect_seconds
        self._dirs: set[str] = set()  # directories made or found by `make_dirs`
        self._making: dict[str, threading.Lock] = {}  # a directory's maker holds its lock

    # -- the filesystem ------------------------------------------------------------------------

    @property
    def fs(self) -> AbstractFileSystem:
        """The filesystem for this process (and thread, where clients are not thread-safe)."""
        if self._pid != os.getpid():  # forked or unpickled: nothing inherited is ours
            self._shared, self._threads, self._pid = None, threading.local(), os.getpid()
            self._building, self._making = threading.Lock(), {}
        fs = self._shared or getattr(self._threads, "fs", None)
        if fs is not None:
            return fs
        with self._building:  # one login at a time: SMB's first sessions race
            began = time.perf_counter()
            fs = self._shared or self._build()
            self._connect_seconds = time.perf_counter() - began
        if self._share:
            self._shared = fs
        else:
            self._threads.fs = fs
        return fs

    @classmethod
    def of(
        cls, fs: AbstractFileSystem, *, base: str, direct: bool, connect_seconds: float = 0.0
    ) -> Storage:
        """The storage of `fs`, an uncached instance made (in `connect_seconds`) to detect
        the backend: where each thread has its own client, it stays the calling thread's (no
        second login)."""
        storage = cls(
            type(fs),
            fs_args=fs.storage_args,
            fs_options=fs.storage_options,
            base=base,
            direct=direct,
            share=_shares_one_client(fs),
            connect_seconds=connect_seconds,
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
    def direct(self) -> bool:
        """True if objects appear whole where they are written (object stores): declared,
        or learned from a ``mkdir`` that made no directory."""
        return self._direct or _directories.get(self.token) == NO_DIRECTORIES

    def in_place(self, directory: str) -> bool:
        """True if an object written into `directory` appears whole there (`direct`); where
        the store is not known yet, `directory` is made first, which tells (directory stores
        need it made anyway)."""
        if not (self._direct or self.local or self.token in _directories):
            self.make_dirs(directory)
        return self.direct

    @property
    def exclusive_mkdir(self) -> bool | None:
        """True if making a directory that exists fails, so that a lock directory excludes
        others; False if not; None until a ``mkdir`` has told (`learn_directories`)."""
        known = _directories.get(self.token)
        return None if known is None else known == EXCLUSIVE

    def learn_directories(self, path: str) -> bool:
        """After a ``mkdir`` of `path` that raised nothing: learn what this store's mkdir
        does (a look at `path`, and where it is a directory, a second mkdir). True if
        `path` is a directory."""
        fs = self.fs
        fs.invalidate_cache()  # FTP answers isdir from its listing of the parent
        if not fs.isdir(path):
            _directories[self.token] = NO_DIRECTORIES
            return False
        try:
            fs.mkdir(path, create_parents=False)
        except Exception:  # noqa: BLE001 - any refusal is what a lock needs
            _directories[self.token] = EXCLUSIVE
        else:
            _directories[self.token] = REPEATABLE
        return True

    @property
    def shared(self) -> bool:
        """True if one client serves every thread (asynchronous and local filesystems)."""
        return self._share

    @property
    def connect_cost(self) -> float:
        """Seconds another thread's own client takes to set up (the last one measured); 0
        where one client serves every thread."""
        return 0.0 if self._share else self._connect_seconds

    def together(self, *calls: Callable[[], Any]) -> list[Any]:
        """The results of `calls`, in order: made at once where one client serves every
        thread and each call is a round trip (object stores: they overlap on its event
        loop), else one after another (a file server's client is the calling thread's own;
        local calls cost no wait). The first failure is raised once every call has ended."""
        if len(calls) < 2 or not self._share or self.local:
            return [call() for call in calls]
        outcomes: list[tuple[bool, Any]] = [(False, None)] * len(calls)

        def run(i: int) -> None:
            try:
                outcomes[i] = (True, calls[i]())
            except BaseException as exc:  # noqa: BLE001 - raised below, on the caller's thread
                outcomes[i] = (False, exc)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(1, len(calls))]
        for thread in threads:
            thread.start()
        run(0)
        for thread in threads:
            thread.join()
        for ok, value in outcomes:
            if not ok:
                raise value
        return [value for _, value in outcomes]

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
        try:  # fresh: another thread may have filled the listings cache with an older one
            entries = fs.ls(path, detail=True, **_fresh_listing(fs))
        except Exception as exc:
            if is_missing(exc):
                return []
            raise
        prefix = path.rstrip("/")
        return [_absolute(entry, prefix) for entry in entries]

    def kind(self, path: str) -> str | None:
        """``"directory"``, ``"file"`` (fresh, never from a read cache), or None if nothing
        exists at `path`."""
        if not path.strip("/"):
            return "directory"  # the root of a filesystem or of a chained layer
        fs = self.origin
        fs.invalidate_cache(path)
        try:
            return str(fs.info(path)["type"])
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    def names(self, path: str) -> list[str]:
        """The names (last parts) of the entries of directory `path`."""
        return [entry["name"].rstrip("/").rsplit("/", 1)[-1] for entry in self.ls(path)]

    def find(self, path: str) -> list[str]:
        """Every file below directory `path`, as full paths; ``[]`` if it does not exist."""
        return [file.path for file in self.files(path)]

    def files(self, path: str) -> list[FileInfo]:
        """Every file below directory `path` with its size and time (fresh); ``[]`` if it
        does not exist. Object stores list every key below a prefix in one paginated
        listing (S3: a request per 1,000 keys); other backends walk the directories."""
        fs = self.origin  # metadata is read fresh, never from a read cache
        fs.invalidate_cache(path)
        try:
            found = fs.find(path, detail=True)
        except Exception as exc:
            if is_missing(exc):
                return []
            raise
        prefix = path.rstrip("/")
        return [
            _file_info(p if "/" in p else f"{prefix}/{p}", info)
            for p, info in found.items()
            if info.get("type", "file") != "directory"
        ]

    def read(self, path: str) -> bytes | None:
        """The bytes of `path` (metadata: read in one request), or None if it is missing."""
        fs = self.origin  # fresh, never from a read cache
        try:
            return fs.cat_file(path, **_one_request(fs))
        except Exception as exc:
            if is_missing(exc):
                return None
            raise

    # -- writing -----------------------------------------------------------------------------

    def write(self, path: str, data: bytes) -> None:
        """Store `data` at `path`, appearing whole or not at all."""
        if self.local:
            with atomic_local_file(path) as f:
                f.write(data)
        elif len(data) <= SMALL and self.in_place(path.rsplit("/", 1)[0]):
            self.fs.pipe_file(path, data)  # one PUT: atomic for readers
        else:
            with self.open_write(path, len(data)) as f:
                f.write(data)

    def create(self, path: str, data: bytes = b"") -> None:
        """Write the small file `path` in place: one request where the backend allows (no
        temp file and rename; webdav4's ``pipe_file`` would make its directories first, three
        more), its directory made only if the write finds it missing. For files read by
        name alone (markers, lock tokens): a reader may see one part-written."""
        if self.direct:  # one PUT (a buffered file takes two on Azure: a block, the list)
            self.fs.pipe_file(path, data)
            return
        for attempt in (1, 2):
            f = None
            try:
                f = self.fs.open(path, "wb")  # local, SFTP, SMB: refused here if it is missing
                f.write(data)
                _close(f)  # WebDAV, FTP: refused here
                return
            except Exception as exc:
                with contextlib.suppress(Exception):
                    f.discard()  # type: ignore[union-attr] # what a failed write left open
                if attempt == 2 or not is_missing(exc):
                    raise
                if not self.make_dirs(path.rsplit("/", 1)[0]):
                    raise

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
            parent = temp.rsplit("/", 1)[0]
            if _put_makes_parents.get(self.token) is False:
                self.make_dirs(parent)
            try:
                self.fs.put_file(source, temp, callback=callback)
            except Exception as exc:
                # Refused before any byte moved (SFTP, FTP, SMB): make the parents, once more.
                if not is_missing(exc) or parent in self._dirs or not self.make_dirs(parent):
                    raise
                _put_makes_parents[self.token] = False
                self.fs.put_file(source, temp, callback=callback)
            else:  # WebDAV's makes them itself: ours would be three requests more
                _put_makes_parents.setdefault(self.token, True)
                self._dirs.add(parent)
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
        if self.in_place(path.rsplit("/", 1)[0]):
            f = fs.open(path, "wb", **({"block_size": block_size} if block_size else {}))
            try:
                yield f
            except BaseException:
                with contextlib.suppress(Exception):
                    f.discard()  # aborts the multipart or resumable upload, where it began
                with contextlib.suppress(AttributeError):
                    f.closed = True  # never committed when it is collected
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
                    _close(f)  # commits the temp file, removed below
                raise
            _close(f)

    @contextlib.contextmanager
    def _temp(self, path: str) -> Iterator[str]:
        """A temp path beside `path`, renamed over it when the block ends without error and
        removed otherwise; `path` itself inside a staged directory (no reader sees it)."""
        staged = is_temp(path.rsplit("/", 1)[0])
        temp = path if staged else _temp_beside(path)
        try:
            yield temp
            if not staged:
                self._publish(temp, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.fs.rm_file(temp)
            raise

    def stage(self, path: str) -> str | None:
        """A temp directory to write the files of the new directory `path` in (each written
        in place, with no rename of its own), or None where that saves nothing: objects
        appear whole where they are written (S3, local disks) or `path` exists already."""
        if self.local or self.in_place(path.rsplit("/", 1)[0]) or self.kind(path) is not None:
            return None
        return _temp_beside(path)

    def unstage(self, stage: str, path: str, names: list[str]) -> None:
        """Make the files `names` (relative) written below `stage` appear below `path`:
        with one rename of the directory, or file by file where that did not move them all
        (`path` was made meanwhile, or the backend's ``mv`` moves no directories)."""
        fs = self.fs
        stage_name = stage.rsplit("/", 1)[-1]
        nested = f"{path}/{stage_name}"  # where a move into an existing `path` puts it
        if names:
            moved = False
            with contextlib.suppress(Exception):
                recursive = "recursive" in _parameters(type(fs), "mv")
                fs.mv(stage, path, **({"recursive": True} if recursive else {}))
                moved = True
            found = set(self.names(path))
            tops = {name.split("/", 1)[0] for name in names}
            if moved and stage_name not in found and tops <= found:
                return
            for name in names:
                self._publish_staged([f"{stage}/{name}", f"{nested}/{name}"], f"{path}/{name}")
        for leftover in (stage, nested):
            with contextlib.suppress(Exception):
                self.remove_tree(leftover)

    def _publish_staged(self, sources: list[str], path: str) -> None:
        """Rename the first of `sources` that exists over `path`; none may exist if a move
        got as far as `path`."""
        source = next((s for s in sources if self.kind(s) == "file"), None)
        if source is None:
            if self.kind(path) != "file":
                raise FileNotFoundError(errno.ENOENT, "staged file lost", path)
            return
        self.make_dirs(path.rsplit("/", 1)[0])
        self._publish(source, path)

    def _publish(self, temp: str, path: str) -> None:
        """Rename `temp` over `path`: with the client's own overwriting move where it offers
        one (webdav4: a WebDAV MOVE with ``Overwrite: T``; its ``fs.mv`` is a COPY written in
        place), with a copy and a delete on object stores, else ``fs.mv``; where that refuses
        to overwrite (SMB), `path` is removed first: readers may then briefly miss it, never
        see it partial."""
        fs = self.fs
        if (move := _overwriting_move(fs)) is not None:
            move(temp, path)
            return
        if self.direct:  # an object store's move is a copy and a delete: without the
            fs.cp_file(temp, path)  # checks of ``mv`` (adlfs: five requests more)
            fs.rm_file(temp)
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
        """Make directory `path` and its missing parents (``mkdir -p``), never a bucket: where
        paths start at one (no root marker, paths not relative to a layer's own root), never
        a path's first part. True if `path` now exists as a directory."""
        if path in self._dirs:
            return True
        top = path.strip("/")
        bucketed = not self.fs.root_marker and self.base
        if self.direct or not top or (bucketed and "/" not in top):
            return False
        fs = self.fs
        with self._building:
            lock = self._making.setdefault(path, threading.Lock())
        with lock:  # threads writing into one new directory make it once
            return path in self._dirs or self._make_dir(fs, path)

    def _make_dir(self, fs: AbstractFileSystem, path: str) -> bool:
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
            elif is_missing(exc) and parent == path:  # `dir::` whose own root is missing
                with contextlib.suppress(Exception):
                    fs.makedirs(path, exist_ok=True)
                    made = True
        # The first mkdir that raised nothing tells what this store's mkdir does; after it,
        # one that raised nothing is trusted, and one that raised is checked ("exists" is
        # worded many ways: isdir says).
        if made and _directories.get(self.token) is None:
            if not self.learn_directories(path):
                return False
        elif not made:
            fs.invalidate_cache()  # FTP answers isdir from its listing of the parent
            if not fs.isdir(path):
                return False
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

    def remove_tree(self, path: str) -> None:
        """Remove directory `path` and all below it; nothing if it is gone."""
        try:
            self.fs.rm(path, recursive=True)
        except Exception as exc:
            if not is_missing(exc):
                raise

    # -- exclusion -----------------------------------------------------------------------------

    @functools.cached_property
    def token(self) -> str:
        """What tells this filesystem's configuration apart from others (its options
        hashed, never shown)."""
        return tokenize(self.fs_cls, self.fs_args, self._fs_options)

    # -- pickling ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {
            "fs_cls": self.fs_cls,
            "fs_args": self.fs_args,
            "fs_options": self._fs_options,
            "base": self.base,
            "direct": self._direct,
            "share": self._share,
            "connect_seconds": self._connect_seconds,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state.pop("fs_cls"), **state)  # type: ignore[misc]


def is_temp(path: str) -> bool:
    """True if `path` is a temp file or lies in a staged directory: never an artifact."""
    return temp_root(path) is not None


def temp_root(path: str) -> str | None:
    """The temp file or staged directory that `path` is or lies in, or None."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith(TEMP_PREFIX):
            return "/".join(parts[: i + 1])
    return None


def _temp_beside(path: str) -> str:
    return f"{path.rsplit('/', 1)[0]}/{TEMP_PREFIX}{secrets.token_hex(8)}"


def _absolute(entry: dict[str, Any], directory: str) -> dict[str, Any]:
    """`entry` with its name made a full path (FTP lists bare names)."""
    name = entry["name"]
    if "/" in name.rstrip("/"):
        return entry
    return {**entry, "name": f"{directory}/{name}" if directory else name}


# Where each backend lists a file's modification time: s3fs, adlfs, local/SFTP/SMB/gcsfs,
# webdav4, gcsfs's raw field, FTP (MLSD), memory (its only time). Never ``time``: atime.
_TIME_KEYS = ("LastModified", "last_modified", "mtime", "modified", "updated", "modify", "created")


def _file_info(path: str, info: dict[str, Any]) -> FileInfo:
    modified = next((t for key in _TIME_KEYS if (t := _timestamp(info.get(key))) is not None), None)
    size = int(info.get("size") or 0)
    etag = info.get("ETag") or info.get("etag") or ""
    return FileInfo(path, size, modified, f"{size}:{modified}:{etag}")


def _timestamp(value: Any) -> float | None:
    """Seconds since the epoch from a listed time: a datetime (naive ones are UTC), a
    number, ISO 8601 text, or FTP's ``YYYYMMDDHHMMSS[.sss]``; None for anything else."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            try:
                value = dt.datetime.strptime(value.split(".")[0], "%Y%m%d%H%M%S")
            except ValueError:
                return None
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
        return aware.timestamp()
    return None


def _fresh_listing(fs: AbstractFileSystem) -> dict[str, bool]:
    """The keyword that makes ``fs.ls`` skip its listings cache, if it declares one
    (s3fs, gcsfs: ``refresh``; adlfs: ``invalidate_cache``)."""
    parameters = _parameters(type(fs), "_ls" if getattr(fs, "async_impl", False) else "ls")
    for name in ("refresh", "invalidate_cache"):
        if name in parameters:
            return {name: True}
    return {}


def _one_request(fs: AbstractFileSystem) -> dict[str, int]:
    """The keyword that makes ``fs.cat_file`` read in one request where it declares one
    (s3fs's ``max_concurrency``: else it asks the size first, to split large reads)."""
    method = "_cat_file" if getattr(fs, "async_impl", False) else "cat_file"
    return {"max_concurrency": 1} if "max_concurrency" in _parameters(type(fs), method) else {}


def _overwriting_move(fs: AbstractFileSystem) -> Callable[[str, str], object] | None:
    """The client's move that replaces its target, if it declares one (an ``overwrite``
    parameter on ``fs.client.move``)."""
    client = getattr(fs, "client", None)
    move = getattr(client, "move", None)
    if not callable(move) or "overwrite" not in _parameters(type(client), "move"):
        return None
    return functools.partial(move, overwrite=True)


_PARAMETERS: dict[tuple[type, str], frozenset[str]] = {}


def _parameters(cls: type, method: str) -> frozenset[str]:
    """The parameter names of ``cls.<method>``, probed once per class (calls are on the
    write and list paths)."""
    key = (cls, method)
    if key not in _PARAMETERS:
        try:
            names = frozenset(inspect.signature(getattr(cls, method)).parameters)
        except (AttributeError, TypeError, ValueError):
            names = frozenset()
        _PARAMETERS[key] = names
    return _PARAMETERS[key]


def _shares_one_client(fs: AbstractFileSystem) -> bool:
    """True if one instance may serve every thread: the innermost filesystem (under wrappers
    such as ``dir::`` and caches, which name what they wrap ``.fs``) is the local one or an
    asynchronous implementation (its requests run on one event loop)."""
    while isinstance(inner := getattr(fs, "fs", None), AbstractFileSystem):
        fs = inner
    return isinstance(fs, LocalFileSystem) or bool(getattr(fs, "async_impl", False))


def _close(f: Any) -> None:
    """Close the file `f` written to; where closing fails (WebDAV, FTP: the upload happens
    there), discard what it left open, so that nothing retries the upload when it is
    collected."""
    try:
        f.close()
    except BaseException:
        with contextlib.suppress(Exception):
            f.discard()
        raise
