"""`RunView`: where a run stores and what it holds, the reading half of `Run`."""

from __future__ import annotations

import os
from typing import Any

from . import integrity
from .catalog import Catalog
from .errors import NoArtifactsURIError
from .integrity import VerifyReport
from .location import Location, resolve
from .records import Artifacts
from .storage import SHARED_WORKERS

__all__ = ["ENV_URI", "RunView"]

ENV_URI = "AIM_ARTIFACTS_URI"


class RunView:
    """A run's place and records: its URI, its artifacts, downloads and verification.
    `Run` adds what changes a run; this half only reads it."""

    hash: str
    _catalog: Catalog
    _reopened: bool
    _max_concurrency: int | None

    # -- where artifacts go ------------------------------------------------------------------

    @property
    def artifacts_uri(self) -> str | None:
        """``<artifacts uri>/<run hash>``, or None before an artifacts URI is set."""
        return self.location.uri if self.location else None

    @property
    def location(self) -> Location | None:
        """Where the run stores (URI, filesystem, storage options), or None before an
        artifacts URI is set. Read-only."""
        return self._catalog.location

    def set_artifacts_uri(self, uri: Any, **storage_options: Any) -> None:
        """Store this run's artifacts under ``<uri>/<run hash>/``.

        Args:
            uri: an fsspec URL (``s3://b/p``, ``memory://x``, ``simplecache::s3://...``), a
                local or mounted path, an ``os.PathLike`` or a ``upath.UPath``.
            **storage_options: options for the filesystem (never written anywhere).

        Raises:
            BackendUnavailableError: unknown protocol, or the package serving it is missing.
            ArtifactsURIAlreadySetError: a different URI was set before, or this one with
                other storage options (they are never silently ignored).
            NotAStoreError: `uri` is a local file.
        """
        pool_size = self._max_concurrency or SHARED_WORKERS
        base = resolve(uri, pool_size=pool_size, **storage_options)
        if base.storage.local:  # free to ask, and a common mistake
            base.check_store(must_exist=False)
        self._catalog.bind(base.child(self.hash), load=self._reopened)

    def _bound(self) -> Location:
        """Where the run stores, from ``AIM_ARTIFACTS_URI`` if no URI was set."""
        if self.location is None:
            env = os.environ.get(ENV_URI)
            if not env:
                msg = (
                    f"run {self.hash} has no artifacts URI: call "
                    f"run.set_artifacts_uri(uri) or set {ENV_URI}"
                )
                raise NoArtifactsURIError(msg)
            self.set_artifacts_uri(env)
        return self.location  # type: ignore[return-value]

    # -- reading -----------------------------------------------------------------------------

    @property
    def artifacts(self) -> Artifacts:
        """The run's fully stored artifacts by name (a copy, in name order).

        Raises:
            SidecarError: a stored record is invalid (the message says where).
        """
        return self._catalog.artifacts()

    def download_artifacts(
        self, dest_dir: str | os.PathLike[str], prefix: str | None = None, *, progress: bool = False
    ) -> list[str]:
        """Download the artifacts whose names start with `prefix` to ``<dest_dir>/<name>``.

        ``progress=True`` shows a tqdm bar (bytes and files) on stderr.

        Returns:
            The local paths, in name order.

        Raises:
            IntegrityError: stored bytes disagree with their record (no file is left).
            ArtifactNotFoundError: an object is missing from storage.
        """
        chosen = [a for n, a in self.artifacts.items() if prefix is None or n.startswith(prefix)]
        downloader = self._catalog.downloader
        if downloader is None:
            return []
        label = f"run {self.hash}" if progress else None
        return downloader.download_all(chosen, os.fspath(dest_dir), label)

    def to_dict(self) -> dict[str, Any]:
        """The run as JSON (``aim-artifacts ls --json``, ``/api/runs/<hash>``): its hash, URI
        and stored records."""
        records = [a.to_dict() for a in self.artifacts.values()]
        return {"hash": self.hash, "uri": self.artifacts_uri, "artifacts": records}

    def verify(self) -> VerifyReport:
        """Re-hash every stored object against its record and look for objects no record
        names (the library's own files and temp files aside).

        Raises:
            NoArtifactsURIError: no artifacts URI was set.
            StorageError: the backend failed.
        """
        location = self._bound()
        with location.storage_errors():
            return integrity.verify(location, self.artifacts)

    # -- display -----------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"Run(hash={self.hash!r}, artifacts_uri={self.artifacts_uri!r})"

    def _repr_html_(self) -> str:
        from .display import run_card  # noqa: PLC0415 - only notebooks need it

        return run_card(self.hash, self.artifacts_uri, self.artifacts.values())
