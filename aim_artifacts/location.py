"""Where a run's artifacts live: the only module that creates fsspec filesystems.

A `Location` keeps what is needed to rebuild its filesystem (class, arguments, storage
options) rather than a live client, so it pickles and survives ``fork``: the filesystem is
built again whenever the process id changes (s3fs clients are not fork-safe).
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from typing import Any

from fsspec.core import split_protocol, url_to_fs
from fsspec.implementations.local import LocalFileSystem
from fsspec.spec import AbstractFileSystem

from .errors import BackendUnavailableError
from .names import check_name

__all__ = ["Location", "resolve"]


class Location:
    """A directory on some storage: its URI for people, its path and filesystem for code."""

    __slots__ = ("_fs", "_fs_args", "_fs_cls", "_fs_options", "_pid", "path", "uri")

    def __init__(
        self,
        uri: str,
        path: str,
        fs_cls: type[AbstractFileSystem],
        fs_args: tuple[Any, ...] = (),
        fs_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.uri = uri.rstrip("/") or uri
        self.path = path.rstrip("/") or path
        self._fs_cls = fs_cls
        self._fs_args = fs_args
        self._fs_options = copy.deepcopy(dict(fs_options or {}))
        self._fs: AbstractFileSystem | None = None
        self._pid = -1

    @property
    def fs(self) -> AbstractFileSystem:
        """This process's filesystem (rebuilt after fork or unpickling)."""
        pid = os.getpid()
        if self._fs is None or self._pid != pid:
            # Deep copy: botocore rewrites nested dicts (``retries``) in place.
            self._fs = self._fs_cls(*self._fs_args, **copy.deepcopy(self._fs_options))
            self._pid = pid
        return self._fs

    @property
    def is_local(self) -> bool:
        """True when the filesystem is the local one (plain and mounted paths, file://)."""
        return isinstance(self.fs, LocalFileSystem)

    def child(self, name: str) -> Location:
        """The location `name` (a checked relative posix path) below this one."""
        check_name(name)
        return Location(
            f"{self.uri}/{name}",
            f"{self.path}/{name}",
            self._fs_cls,
            self._fs_args,
            self._fs_options,
        )

    def join(self, name: str) -> str:
        """The filesystem path of `name` below this location (no checks: internal names)."""
        return f"{self.path}/{name}"

    def __getstate__(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "path": self.path,
            "fs_cls": self._fs_cls,
            "fs_args": self._fs_args,
            "fs_options": self._fs_options,
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


def resolve(target: str | os.PathLike[str] | Location, **storage_options: Any) -> Location:
    """Resolve a URI, a local path, an ``os.PathLike`` or a ``upath.UPath`` to a `Location`.

    Backend detection is fsspec's. Plain paths become absolute local paths (``~`` expanded).

    Raises:
        BackendUnavailableError: fsspec knows no such protocol, or its package is missing.
        TypeError: `target` is not a str, PathLike or UPath.
    """
    if isinstance(target, Location) and not storage_options:
        return target
    upath = sys.modules.get("upath")
    if upath is not None and isinstance(target, upath.UPath):
        options = {**target.storage_options, **storage_options}
        fs = _build(str(target), lambda: type(target.fs)(**copy.deepcopy(options)))
        return Location(str(target), target.path, type(fs), fs.storage_args, fs.storage_options)
    if not isinstance(target, (str, os.PathLike)):
        msg = f"artifacts URI must be a str, os.PathLike or UPath, not {type(target).__name__}"
        raise TypeError(msg)
    uri = os.fspath(target)
    if split_protocol(uri)[0] is None:
        uri = os.path.abspath(os.path.expanduser(uri))
    fs, path = _build(uri, lambda: url_to_fs(uri, **copy.deepcopy(storage_options)))
    return Location(uri, path, type(fs), fs.storage_args, fs.storage_options)


def _build(uri: str, factory: Any) -> Any:
    try:
        return factory()
    except ImportError as exc:
        msg = f"cannot open {uri!r}: {exc}"
        raise BackendUnavailableError(msg) from exc
    except ValueError as exc:
        if "Protocol not known" not in str(exc):
            raise
        protocol = split_protocol(uri)[0]
        msg = (
            f"cannot open {uri!r}: fsspec knows no protocol {protocol!r}; "
            "install the package that provides it"
        )
        raise BackendUnavailableError(msg) from exc
