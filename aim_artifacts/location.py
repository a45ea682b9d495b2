"""Where a run's artifacts live: the only module that creates fsspec filesystems.

A `Location` keeps what is needed to rebuild its filesystem (class, arguments, storage
options) rather than a live client, so it pickles and survives ``fork``: the filesystem is
built again whenever the process id changes (s3fs clients are not fork-safe).
"""

from __future__ import annotations

import contextlib
import copy
import errno
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FuturesTimeout
from typing import Any

from fsspec.core import split_protocol, url_to_fs
from fsspec.spec import AbstractFileSystem

from . import forksafe, s3  # noqa: F401 - forksafe installs its fork hooks on import
from .errors import (
    AimArtifactsError,
    BackendUnavailableError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    InvalidURIError,
    NotAStoreError,
    StorageError,
    StoreNotFoundError,
    error_chain,
    is_missing,
    is_refused_login,
    is_unreachable,
)
from .names import check_name
from .storage import Storage

__all__ = ["FIRST_ANSWER_ENV", "Location", "public_uri", "resolve"]

FIRST_ANSWER_ENV = "AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT"
FIRST_ANSWER_TIMEOUT = 10.0  # seconds a store's server has to answer the first request
_PASSWORD = re.compile(r"(://[^/?#@:]*):[^/?#@]*@")  # ``://user:password@`` in a URL


class Location:
    """A directory on some storage: its URI for people, its path and `Storage` for code."""

    __slots__ = ("path", "protocols", "rooted", "storage", "uri")

    def __init__(
        self,
        uri: str,
        path: str,
        storage: Storage,
        *,
        protocols: tuple[str, ...] = (),
        rooted: bool = False,
    ) -> None:
        self.uri: str = uri.rstrip("/") or uri
        self.path: str = path.rstrip("/") or path
        self.storage: Storage = storage
        self.protocols: tuple[str, ...] = (
            protocols  # of the URI, outermost first; () for plain paths
        )
        self.rooted: bool = rooted  # paths are relative to a chained layer's own root (``dir::``)

    @property
    def fs(self) -> AbstractFileSystem:
        """This process's (or thread's) filesystem."""
        return self.storage.fs

    @property
    def storage_options(self) -> dict[str, Any]:
        """A copy of the options the filesystem is built with (they may hold secrets)."""
        return self.storage.storage_options

    @property
    def is_s3(self) -> bool:
        """True when the URI's innermost protocol is S3 (``s3://``, ``simplecache::s3://``)."""
        return bool(self.protocols) and self.protocols[-1] in s3.S3_PROTOCOLS

    def child(self, name: str) -> Location:
        """The location `name` (a checked relative posix path) below this one."""
        check_name(name)
        return Location(
            f"{self.uri}/{name}",
            self.join(name),
            self.storage,
            protocols=self.protocols,
            rooted=self.rooted,
        )

    def url(self) -> tuple[str, dict[str, Any]]:
        """A URL and storage options that open this location with fsspec or ``UPath``: the
        URI, or for a ``dir::`` URI the URL of the layer below (fsspec reads ``dir::`` URLs
        with a path as the root repeated)."""
        if self.rooted:
            return self.uri.split("::", 1)[1], self.storage_options.get("target_options", {})
        return self.uri, self.storage_options

    @contextlib.contextmanager
    def storage_errors(self) -> Iterator[None]:
        """Translate the backend's errors into the package's (the cause kept), once, here."""
        try:
            yield
        except AimArtifactsError:
            raise
        except Exception as exc:
            if self.is_s3:
                better = s3.translate_error(exc, self.uri, self.fs)
            elif (server := _server_error(exc, self.uri, str(exc))) is not None:
                better = server
            elif (bucket := self._missing_bucket()) is not None:
                better = BucketNotFoundError(f"bucket {bucket!r} does not exist ({self.uri})")
            elif is_missing(exc) and not isinstance(exc, FileNotFoundError):
                better = FileNotFoundError(errno.ENOENT, f"{exc} ({self.uri})")  # SMB, FTP
            else:
                better = None
            if better is None:
                raise
            raise better from exc

    def check_store(self, *, must_exist: bool) -> None:
        """Check that this location can hold runs: not a file, and (`must_exist`) there.

        Raises:
            NotAStoreError: it is a file.
            StoreNotFoundError: `must_exist`, and nothing is there.
        """
        with self.storage_errors():
            if self.storage.shared:  # the probe's thread uses the caller's client
                kind = self._first_answer(lambda: self.storage.kind(self.path))
            else:  # a client per thread: it connected when it was built (`resolve`)
                kind = self.storage.kind(self.path)
        if kind == "file":
            msg = f"{self.uri} is a file, not a directory of runs"
            raise NotAStoreError(msg)
        if kind is None and must_exist:
            msg = f"no artifacts at {self.uri}: it does not exist"
            raise StoreNotFoundError(msg)

    def _first_answer(self, request: Callable[[], str | None]) -> str | None:
        """`request()`, or `TimeoutError` if the server has not answered within
        `FIRST_ANSWER_TIMEOUT` seconds (``$AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT``): some
        clients retry a dead endpoint for minutes (gcsfs, adlfs) and let no caller bound
        it. The request goes on in a daemon thread until its client gives up.

        Raises:
            TimeoutError: no answer in time.
        """
        seconds = float(os.environ.get(FIRST_ANSWER_ENV) or FIRST_ANSWER_TIMEOUT)
        answer: Future[str | None] = Future()

        def call() -> None:
            try:
                answer.set_result(request())
            except BaseException as exc:  # noqa: BLE001 - handed to the caller below
                answer.set_exception(exc)

        threading.Thread(target=call, name="aim-artifacts-first-request", daemon=True).start()
        try:
            return answer.result(timeout=seconds)
        except FuturesTimeout:
            if answer.done():  # the request's own timeout (the same class on 3.11)
                raise
            # `storage_errors` names the server
            msg = f"no answer within {seconds:g} s (${FIRST_ANSWER_ENV} sets how long to wait)"
            raise TimeoutError(msg) from None

    def _missing_bucket(self) -> str | None:
        """After a failure on an object store (no root marker: paths start at a bucket): the
        path's first part (its bucket or container) if the store says it does not exist.
        Backends word this differently (gcsfs: a FileNotFoundError naming a URL; adlfs: a
        RuntimeError), so ask."""
        bucket = self.storage.base.split("/", 1)[0]
        if self.fs.root_marker or not bucket:  # paths start at a root, not at a bucket
            return None
        try:
            self.fs.invalidate_cache(bucket)
            self.fs.info(bucket)  # not exists(): it says False for any error
        except FileNotFoundError:
            return bucket
        except Exception:  # noqa: BLE001 - the original error is the one to raise
            return None
        return None

    def join(self, name: str) -> str:
        """The filesystem path of `name` below this location (no checks: internal names)."""
        return f"{self.path}/{name}" if self.path else name

    def __getstate__(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "path": self.path,
            "storage": self.storage,
            "protocols": self.protocols,
            "rooted": self.rooted,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Location) and other.uri == self.uri

    def __hash__(self) -> int:
        return hash(self.uri)

    def __repr__(self) -> str:
        # Never the storage options: they may hold credentials.
        return f"Location({self.uri!r})"


def resolve(
    target: str | os.PathLike[str] | Location,
    *,
    pool_size: int = s3.DEFAULT_POOL,
    **storage_options: Any,
) -> Location:
    """Resolve a URI, a local path, an ``os.PathLike`` or a ``upath.UPath`` to a `Location`.

    Backend detection is fsspec's. Plain paths become absolute local paths (``~`` expanded).
    S3 options are completed by `s3.storage_options` (client config, timeouts, a connection
    pool of `pool_size`).

    Raises:
        BackendUnavailableError: fsspec knows no such protocol, or its package is missing.
        TypeError: `target` is not a str, PathLike or UPath.
    """
    if isinstance(target, Location) and not storage_options:
        return target
    upath = sys.modules.get("upath")
    if upath is not None and isinstance(target, upath.UPath):
        protocols = s3.protocols_of(str(target))
        options = {**target.storage_options, **storage_options}
        options = s3.storage_options(protocols, options, pool_size)
        fs, seconds = _build(str(target), lambda: type(target.fs)(**_fresh(options)))
        return _located(str(target), target.path, fs, protocols, seconds)
    if not isinstance(target, (str, os.PathLike)):
        msg = f"artifacts URI must be a str, os.PathLike or UPath, not {type(target).__name__}"
        raise TypeError(msg)
    uri = os.fspath(target)
    if split_protocol(uri)[0] is None:
        uri = os.path.abspath(os.path.expanduser(uri))
    protocols = s3.protocols_of(uri)
    if protocols and protocols[-1] in s3.S3_PROTOCOLS and "@" in _innermost_host(uri):
        msg = (
            f"an {protocols[-1]}:// URI takes no credentials before '@' "
            f"({public_uri(uri)}): pass key= and secret=, or use the AWS environment or a profile"
        )
        raise InvalidURIError(msg)
    options = s3.storage_options(protocols, storage_options, pool_size)
    (fs, path), seconds = _build(uri, lambda: url_to_fs(uri, **_fresh(options)))
    return _located(public_uri(uri), path, fs, protocols, seconds)


def _innermost_host(uri: str) -> str:
    """What follows ``://`` in the innermost layer of `uri`, up to the first ``/``."""
    return uri.rsplit("://", 1)[-1].split("/", 1)[0]


def public_uri(uri: str) -> str:
    """`uri` without the password in any of its layers (``sftp://bob:pw@host/x`` ->
    ``sftp://bob@host/x``): the URI recorded and shown. The filesystem keeps the password
    among its options."""
    return _PASSWORD.sub(r"\1@", uri)


def _located(
    uri: str, path: str, fs: AbstractFileSystem, protocols: tuple[str, ...], seconds: float
) -> Location:
    """The location of `path` on `fs`, built (connected) in `seconds`."""
    rooted = fs.storage_options.get("fo") == path
    if rooted:
        # A chained layer that took the URL's path as its own root (``dir::``): its paths
        # are relative to it, and fsspec hands the path back as if they were not.
        path = ""
    direct = bool(protocols) and protocols[-1] in s3.S3_PROTOCOLS
    storage = Storage.of(fs, base=path.rstrip("/"), direct=direct, connect_seconds=seconds)
    return Location(uri, path, storage, protocols=protocols, rooted=rooted)


def _fresh(options: Mapping[str, Any]) -> dict[str, Any]:
    """Options for a new, uncached instance: a cached one may carry options that botocore
    has since rewritten in place (``retries``), and we record the options we are given."""
    return {**copy.deepcopy(dict(options)), "skip_instance_cache": True}


def _build(uri: str, factory: Any) -> tuple[Any, float]:
    """`factory()` and the seconds it took, its errors made the package's (SFTP, FTP and SMB
    clients connect here)."""
    shown = public_uri(uri)
    began = time.perf_counter()
    try:
        return factory(), time.perf_counter() - began
    except ImportError as exc:
        msg = f"cannot open {shown!r}: {exc}"
        raise BackendUnavailableError(msg) from exc
    except Exception as exc:
        if (server := _server_error(exc, shown, _reason(exc))) is not None:
            raise server from exc
        if isinstance(exc, TypeError):  # a backend that needs options the URI cannot give
            msg = f"cannot open {shown!r}: {exc} (pass it as a storage option)"
            raise InvalidURIError(msg) from exc
        if not isinstance(exc, ValueError) or "Protocol not known" not in str(exc):
            raise
        protocol = split_protocol(uri)[0]
        msg = (
            f"cannot open {shown!r}: fsspec knows no protocol {protocol!r}; "
            "install the package that provides it"
        )
        raise BackendUnavailableError(msg) from exc


def _server_error(exc: BaseException, uri: str, reason: str) -> StorageError | None:
    """The package's error for a server at `uri` that `exc` says did not answer, or refused
    the login; None for any other failure."""
    if is_unreachable(exc):
        return EndpointUnreachableError(f"cannot reach the server of {uri}: {reason}")
    if is_refused_login(exc):
        return InvalidCredentialsError(f"the server of {uri} refused the login: {reason}")
    return None


def _reason(exc: BaseException) -> str:
    """Why `exc` happened, in the words of the first error in its chain that has them
    (``Connection refused``), without an ``[Errno N]`` prefix."""
    for link in error_chain(exc):
        if isinstance(link, OSError) and link.strerror:
            return link.strerror
    return str(exc)
