"""Make the real `aim.Run` store its artifacts through aim-artifacts (the ``[aim]`` extra).

Usage:

    import aim
    from aim_artifacts.integrations import aim as aim_artifacts_for_aim

    aim_artifacts_for_aim.enable()
    run = aim.Run()
    run.set_artifacts_uri("gs://bucket/artifacts")  # any fsspec URI or a plain path
    run.log_artifact("config.yaml")  # size and sha256 recorded in the run's sidecar
    run.close()  # waits for the uploads; raises UploadError if any failed

Three hooks, all undone by `disable()`:

- Aim's artifact-storage registry serves every URI scheme with `AimArtifactsStorage`, one
  per ``<uri>/<run hash>``, which stores and downloads through an `aim_artifacts.Run` of the
  same hash. Aim's own `log_artifact(s)` still build and record Aim's `Artifact` objects, so
  Aim's metadata (name, path, uri) is what Aim itself writes.
- ``aim.Run.set_artifacts_uri(uri, **storage_options)`` opens that run first, so a bad URI
  fails before Aim records it; a plain path is recorded as ``file://<absolute path>``.
- ``aim.Run.close()`` waits for the run's uploads and raises `UploadError` after Aim has
  closed the run; failed artifacts are removed from Aim's list too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from fsspec.core import split_protocol

import aim_artifacts

try:
    from aim.sdk.run import BasicRun
    from aim.storage.artifacts import registry
    from aim.storage.artifacts.artifact_storage import AbstractArtifactStorage
except ImportError as _exc:  # pragma: no cover - the extra is installed wherever this runs
    # Underscored: module-level names, which type checkers would count as public.
    _msg = f"the Aim integration needs Aim: pip install 'aim-artifacts[aim]' ({_exc})"
    raise ImportError(_msg) from _exc

__all__ = ["AimArtifactsStorage", "disable", "enable", "is_enabled"]

log: logging.Logger = logging.getLogger(__name__)

_lock = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}  # BasicRun's own methods, while enabled
_storages: dict[str, AimArtifactsStorage] = {}  # by Aim's ``<uri>/<run hash>``


class AimArtifactsStorage(AbstractArtifactStorage):
    """Aim's artifact storage for one ``<uri>/<run hash>``, served by an `aim_artifacts.Run`.

    Aim calls it with artifact names (``upload_artifact(path, name)``); files land at
    ``<uri>/<run hash>/<name>`` and are recorded in that run's sidecar.
    """

    def __init__(self, url: str, opener: Callable[[], aim_artifacts.Run] | None = None) -> None:
        """
        Args:
            url: ``<uri>/<run hash>``, as Aim passes it.
            opener: opens the `aim_artifacts.Run`; by default, the run hash and URI in `url`.

        Raises:
            InvalidNameError: the last part of `url` is not a run hash.
            BackendUnavailableError, StorageError: the URI cannot be opened or read.
        """
        super().__init__(url)
        if opener is None:
            base, _, run_hash = url.rstrip("/").rpartition("/")
            opener = functools.partial(aim_artifacts.Run, run_hash, artifacts_uri=base)
        self._open = opener
        self.run: aim_artifacts.Run = opener()
        self._logged: set[str] = set()  # names uploaded through this storage, not yet checked

    def upload_artifact(self, file_path: str, artifact_path: str, block: bool = False) -> None:
        """Store `file_path` as artifact `artifact_path`, in the background unless `block`.

        Raises:
            InvalidNameError: the name escapes the run directory (nothing moves).
            SourceNotFoundError, SourceIsDirectoryError, RunClosedError: as for
                `aim_artifacts.Run.log_artifact`; with `block`, the upload's own error.
        """
        self.run.log_artifact(file_path, artifact_path, block=block)
        self._logged.add(artifact_path)

    def download_artifact(self, artifact_path: str, dest_dir: str | None = None) -> str:
        """Download artifact `artifact_path` to ``<dest_dir>/<name>``, checking its sha256.

        An artifact that Aim logged without aim-artifacts (no record in the sidecar) is
        downloaded by Aim's own storage for the scheme, as Aim would (to
        ``<dest_dir>/<basename>``, unchecked).

        Returns:
            The local path (in a new temp directory when `dest_dir` is None).

        Raises:
            ArtifactNotFoundError: the run has no such stored artifact.
            IntegrityError: the stored bytes disagree with the record.
        """
        record = self.run.artifacts.get(artifact_path)
        if record is None:  # stored since this storage opened the run, by another process?
            record = self._open().artifacts.get(artifact_path)
        if record is not None:
            return record.download(dest_dir)
        aims_own = registry.registry.get(urlparse(self.url).scheme)
        if aims_own is not None:  # logged by Aim itself, without aim-artifacts: Aim's way
            return aims_own(self.url).download_artifact(artifact_path, dest_dir)
        msg = f"run {self.run.hash} has no stored artifact {artifact_path!r}"
        raise aim_artifacts.ArtifactNotFoundError(msg)

    def delete_artifact(self, artifact_path: str) -> None:
        """Remove the artifact's record, then its object (Aim itself never calls this)."""
        self.run.delete_artifact(artifact_path)

    def finish(self, meta_run_tree: Any) -> None:
        """Close the run (wait for its uploads), then unlist from Aim's metadata
        (`meta_run_tree`, the Aim run's) every artifact logged here that was not stored.

        Raises:
            UploadError: some uploads failed.
            StorageError: the run's records could not be written.
        """
        try:
            self.run.close()
        finally:
            failed, self._logged = self._logged - self.run.artifacts.keys(), set()
            for name in sorted(failed):
                with contextlib.suppress(KeyError):
                    del meta_run_tree["artifacts", name]


class _Finisher:
    """An extra resource of an `aim.Run`: Aim closes it before the run, also when the run is
    garbage-collected or the interpreter exits, where nobody could catch an error: it logs."""

    def __init__(self, storage: AimArtifactsStorage, meta_run_tree: Any) -> None:
        self.storage = storage
        self.meta_run_tree = meta_run_tree

    def close(self) -> None:
        _forget(self.storage)
        try:
            self.storage.finish(self.meta_run_tree)
        except Exception as exc:  # noqa: BLE001 - raising here would stop Aim's own cleanup
            log.error("aim run %s: %s", self.storage.run.hash, exc)


def enable() -> None:
    """Route the artifacts of every `aim.Run` through aim-artifacts (idempotent).

    Runs whose artifacts URI is set after this call accept any fsspec URI or plain path,
    record size and sha256 in the run's sidecar, and raise failed uploads from ``close()``.
    """
    with _lock:
        if _originals:
            return
        for name, patch in (("set_artifacts_uri", _set_artifacts_uri), ("close", _close)):
            _originals[name] = original = vars(BasicRun)[name]
            setattr(BasicRun, name, _method(original, patch))
        vars(registry)["get_storage"] = _storage  # shadows Aim's (cached) lookup by scheme


def disable() -> None:
    """Give `aim.Run` and Aim's artifact registry their own behaviour back (idempotent).

    Runs that already logged through aim-artifacts still finish their uploads when Aim
    closes them, but failures are then logged, not raised: close them before this call.
    """
    with _lock:
        vars(registry).pop("get_storage", None)
        for name, original in _originals.items():
            setattr(BasicRun, name, original)
        _originals.clear()


def is_enabled() -> bool:
    """True between `enable()` and `disable()`."""
    return bool(_originals)


def _method(original: Callable[..., Any], patch: Callable[..., Any]) -> Callable[..., Any]:
    """`patch` as a method, called with Aim's `original` first."""

    @functools.wraps(original)
    def method(self: BasicRun, *args: Any, **kwargs: Any) -> Any:
        return patch(original, self, *args, **kwargs)

    return method


def _storage(url: str) -> AimArtifactsStorage:
    """Aim's ``registry.get_storage``: the storage of ``<uri>/<run hash>``, any scheme."""
    with _lock:
        storage = _storages.get(url)
    if storage is None:
        storage = AimArtifactsStorage(url)  # reads the run's records: not under the lock
        with _lock:
            storage = _storages.setdefault(url, storage)
    return storage


def _forget(storage: AimArtifactsStorage) -> None:
    with _lock:
        if _storages.get(storage.url) is storage:
            del _storages[storage.url]


def _set_artifacts_uri(
    original: Callable[..., None], self: BasicRun, uri: Any, **storage_options: Any
) -> None:
    """Store this run's artifacts under ``<uri>/<run hash>/`` through aim-artifacts.

    Args:
        uri: an fsspec URL, a local or mounted path, an ``os.PathLike`` or a ``upath.UPath``.
        **storage_options: for the filesystem; kept in this process, never written.

    Raises:
        BackendUnavailableError: unknown protocol, or the package serving it is missing.
        StorageError: the storage cannot be read (missing bucket, bad credentials, ...).
        ArtifactsURIAlreadySetError: this run already logged to another URI in this process.
    """
    if isinstance(uri, (str, os.PathLike)):
        target = os.fspath(uri)
        if split_protocol(target)[0] is None:  # Aim wants a scheme: file:// keeps Aim reading
            target = "file://" + os.path.abspath(os.path.expanduser(target))
        text = target
    else:  # a upath.UPath: its options are kept; aim-artifacts refuses other types
        target, text = uri, str(uri)
    url = os.path.join(text, self.hash)
    with _lock:
        current = self._run_artifacts_uri
        if current is not None and current != url and current in _storages:
            msg = (
                f"run {self.hash} already stores artifacts at {current}; "
                "the artifacts URI is set once per run"
            )
            raise aim_artifacts.ArtifactsURIAlreadySetError(msg)
        storage = _storages.get(url)
    if storage is None:
        opener = functools.partial(
            aim_artifacts.Run, self.hash, artifacts_uri=target, **storage_options
        )
        storage = AimArtifactsStorage(url, opener)
        with _lock:
            storage = _storages.setdefault(url, storage)
    resources = self._resources
    if resources is not None and not any(
        isinstance(r, _Finisher) and r.storage is storage for r in resources.extra_resources
    ):
        resources.add_extra_resource(_Finisher(storage, self.meta_run_tree))
    original(self, text)


def _close(original: Callable[[BasicRun], None], self: BasicRun) -> None:
    """Aim's ``Run.close``, after waiting for the run's uploads.

    Raises:
        UploadError: some uploads failed (raised once Aim has closed the run; the failed
            artifacts are neither in the sidecar nor in Aim's ``run.artifacts``).
    """
    try:
        if self._resources is not None and not self.read_only:
            url = self.artifacts_uri
            with _lock:
                storage = _storages.pop(url, None) if url is not None else None
            if storage is not None:
                storage.finish(self.meta_run_tree)
    finally:
        original(self)
