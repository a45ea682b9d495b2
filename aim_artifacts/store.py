"""`Store`: a base URI holding many runs."""

from __future__ import annotations

from typing import Any

from .errors import InvalidNameError, RunNotFoundError
from .journal import Journal
from .location import Location, resolve
from .names import check_run_hash
from .run import Run

__all__ = ["Store"]


class Store:
    """The runs stored under one base URI (what ``set_artifacts_uri`` was given)."""

    def __init__(self, base_uri: Any, **storage_options: Any) -> None:
        """
        Raises:
            BackendUnavailableError: unknown protocol, or the package serving it is missing.
        """
        self._base: Location = resolve(base_uri, **storage_options)

    @property
    def uri(self) -> str:
        """The base URI, without a trailing slash."""
        return self._base.uri

    def runs(self) -> list[str]:
        """The hashes of the runs stored here, sorted."""
        with self._base.storage_errors():
            entries = self._base.storage.ls(self._base.path)
            hashes = []
            for entry in entries:
                name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
                if entry["type"] != "directory" or not _is_run_hash(name):
                    continue
                if Journal(self._base.child(name), name).exists():
                    hashes.append(name)
        return sorted(hashes)

    def run(self, run_hash: str) -> Run:
        """Open a stored run.

        Raises:
            InvalidNameError: `run_hash` is not a valid run hash.
            RunNotFoundError: no run of that hash is stored here.
        """
        check_run_hash(run_hash)
        with self._base.storage_errors():
            found = Journal(self._base.child(run_hash), run_hash).exists()
        if not found:
            msg = f"no run {run_hash!r} in {self.uri}"
            raise RunNotFoundError(msg)
        return Run(run_hash, artifacts_uri=self._base)

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"


def _is_run_hash(name: str) -> bool:
    try:
        check_run_hash(name)
    except InvalidNameError:
        return False
    return True
