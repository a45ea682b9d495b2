"""Make the real `aim.Run` store its artifacts through aim-artifacts (the ``[aim]`` extra).

Usage:

    import aim
    from aim_artifacts.integrations import aim as aim_artifacts_for_aim

    aim_artifacts_for_aim.enable()
    run = aim.Run()
    run.set_artifacts_uri("gs://bucket/artifacts")  # any fsspec URI or a plain path
    run.log_artifact("config.yaml")  # size and sha256 recorded in the run's sidecar
    run.close()  # waits for the uploads; raises UploadError if any failed

The hooks, all undone by `disable()`:

- Aim's artifact-storage registry serves every URI scheme with `AimArtifactsStorage`, one
  per ``<uri>/<run hash>``, which stores and downloads through an `aim_artifacts.Run` of the
  same hash, opened at the run's first upload or download (as Aim opens its storages).
  ``registry.get_storage`` stays an ``lru_cache`` (``cache_clear``, ``cache_info``). Aim's
  own `log_artifact` still builds and records Aim's `Artifact` objects, so Aim's metadata
  (name, path, uri) is what Aim itself writes.
- ``aim.Run.set_artifacts_uri(uri, **storage_options)`` checks the URI first, so an
  unsupported one fails before Aim records it; a plain path is recorded as
  ``file://<absolute path>``.
- ``aim.Run.log_artifacts(dir)`` records Aim's artifacts, named as Aim names them, and
  stores the files as one concurrent batch (one journal entry).
- ``aim.Run.close()`` waits for the run's uploads and raises `UploadError` after Aim has
  closed the run; failed artifacts are removed from Aim's list too.
- Aim's ``S3ArtifactStorage_clientconfig`` and `aim_artifacts.S3ArtifactStorage_clientconfig`
  are one setting: a call of either (Aim's, also before `enable()`) configures both.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pathlib
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlparse

from fsspec.core import split_protocol

import aim_artifacts
from aim_artifacts import s3
from aim_artifacts.location import resolve

try:
    from aim.ext.exception_resistant import noexcept
    from aim.sdk.objects.artifact import Artifact as AimArtifact
    from aim.sdk.run import BasicRun
    from aim.storage.artifacts import registry, s3_storage
    from aim.storage.artifacts.artifact_storage import AbstractArtifactStorage
except ImportError as _exc:  # pragma: no cover - the extra is installed wherever this runs
    # Underscored: module-level names, which type checkers would count as public.
    _msg = f"the Aim integration needs Aim: pip install 'aim-artifacts[aim]' ({_exc})"
    raise ImportError(_msg) from _exc

__all__ = ["AimArtifactsStorage", "UnsupportedSchemeError", "disable", "enable", "is_enabled"]

log: logging.Logger = logging.getLogger(__name__)

_lock = threading.RLock()
_originals: dict[str, Callable[..., Any]] = {}  # BasicRun's own methods, while enabled
_aims_factory: list[Callable[..., Any]] = []  # Aim's S3ArtifactStorage_factory, while enabled
_synced: list[dict[str, Any]] = [{}]  # the client config Aim's registry last agreed with
_storages: dict[str, AimArtifactsStorage] = {}  # opened, by Aim's ``<uri>/<run hash>``
_pending: dict[str, tuple[Any, dict[str, Any]]] = {}  # set, not opened: (uri, options)


class UnsupportedSchemeError(aim_artifacts.BackendUnavailableError, ValueError):
    """No storage serves the URI's scheme: the `ValueError` Aim raises there, and ours."""


class AimArtifactsStorage(AbstractArtifactStorage):
    """Aim's artifact storage for one ``<uri>/<run hash>``, served by an `aim_artifacts.Run`.

    Aim calls it with artifact names (``upload_artifact(path, name)``); files land at
    ``<uri>/<run hash>/<name>`` and are recorded in that run's sidecar.
    """

    def __init__(self, url: str, uri: Any = None, **storage_options: Any) -> None:
        """
        Args:
            url: ``<uri>/<run hash>``, as Aim passes it.
            uri: the artifacts URI as given to ``set_artifacts_uri`` (a ``UPath`` keeps its
                options); by default, the one in `url`.
            **storage_options: for the filesystem; kept in this process, never written.

        Raises:
            InvalidNameError: the last part of `url` is not a run hash.
            UnsupportedSchemeError: no storage serves the URI's scheme (a `ValueError`).
            StorageError: the URI cannot be read (missing bucket, no credentials, ...).
        """
        super().__init__(url)
        base, _, run_hash = url.rstrip("/").rpartition("/")
        uri = base if uri is None else uri
        self._open = functools.partial(
            aim_artifacts.Run, run_hash, artifacts_uri=uri, **storage_options
        )
        self._options = storage_options
        with _unsupported_as_value_error(url):
            self.run: aim_artifacts.Run = self._open()
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

    def upload_artifacts(self, files: Mapping[str, str], block: bool = False) -> None:
        """Store `files` (artifact name -> local path) as one batch, in the background unless
        `block`: concurrent uploads, one journal entry.

        Raises:
            InvalidNameError, SourceNotFoundError, RunClosedError: nothing moves.
            UploadError: with `block`, some files failed (the others are recorded).
        """
        self.run.log_files(files, block=block)
        self._logged.update(files)

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

    def opened_with(self, storage_options: Mapping[str, Any]) -> bool:
        """True if this storage's filesystem was built with `storage_options`."""
        return self._options == storage_options

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

    def __init__(self, url: str, meta_run_tree: Any) -> None:
        self.url = url
        self.meta_run_tree = meta_run_tree

    def close(self) -> None:
        storage = _forget(self.url)
        if storage is None:
            return
        try:
            storage.finish(self.meta_run_tree)
        except Exception as exc:  # noqa: BLE001 - raising here would stop Aim's own cleanup
            log.error("aim run %s: %s", storage.run.hash, exc)


def enable() -> None:
    """Route the artifacts of every `aim.Run` through aim-artifacts (idempotent).

    Runs whose artifacts URI is set after this call accept any fsspec URI or plain path,
    record size and sha256 in the run's sidecar, and raise failed uploads from ``close()``.
    A client config given to Aim's ``S3ArtifactStorage_clientconfig`` before this call is
    adopted.

    Raises:
        TypeError: Aim's client config holds an argument aim-artifacts cannot honour.
    """
    with _lock:
        if _originals:
            return
        aims = _client_kwargs(registry.registry.get("s3"))
        if aims:
            aim_artifacts.S3ArtifactStorage_clientconfig(**aims)
        _synced[0] = s3.client_config()
        for name, patch in (
            ("set_artifacts_uri", _set_artifacts_uri),
            ("log_artifacts", _log_artifacts),
            ("close", _close),
        ):
            _originals[name] = original = vars(BasicRun)[name]
            method = _method(original, patch)
            setattr(BasicRun, name, noexcept(method) if name == "log_artifacts" else method)
        _get_storage.cache_clear()
        vars(registry)["get_storage"] = _get_storage  # shadows Aim's (cached) lookup by scheme
        _aims_factory.append(s3_storage.S3ArtifactStorage_factory)
        s3_storage.S3ArtifactStorage_factory = _s3_factory


def disable() -> None:
    """Give `aim.Run`, Aim's artifact registry and Aim's ``S3ArtifactStorage_clientconfig``
    their own behaviour back (idempotent); Aim keeps the S3 client config in force.

    Runs that already logged through aim-artifacts still finish their uploads when Aim
    closes them, but failures are then logged, not raised: close them before this call.
    """
    with _lock:
        if not _originals:
            return
        s3_storage.S3ArtifactStorage_factory = _aims_factory.pop()
        vars(registry).pop("get_storage", None)
        for name, original in _originals.items():
            setattr(BasicRun, name, original)
        _originals.clear()
        config = s3.client_config()
        if config != _synced[0]:  # set through aim-artifacts meanwhile: Aim's too
            registry.registry["s3"] = (
                s3_storage.S3ArtifactStorage_factory(**config)
                if config
                else s3_storage.S3ArtifactStorage
            )


def is_enabled() -> bool:
    """True between `enable()` and `disable()`."""
    return bool(_originals)


def _method(original: Callable[..., Any], patch: Callable[..., Any]) -> Callable[..., Any]:
    """`patch` as a method, called with Aim's `original` first."""

    @functools.wraps(original)
    def method(self: BasicRun, *args: Any, **kwargs: Any) -> Any:
        return patch(original, self, *args, **kwargs)

    return method


def _client_kwargs(storage_class: Any) -> dict[str, Any]:
    """The ``boto3.client`` arguments Aim's ``S3ArtifactStorage_clientconfig`` gave the
    storage class it registered (``{}`` for Aim's default class, or one it did not make)."""
    method = vars(storage_class).get("_get_s3_client") if storage_class is not None else None
    if method is None or method.__closure__ is None:
        return {}
    cells = dict(zip(method.__code__.co_freevars, method.__closure__, strict=True))
    kwargs = cells["boto3_client_kwargs"].cell_contents if "boto3_client_kwargs" in cells else {}
    return dict(kwargs) if isinstance(kwargs, dict) else {}


def _s3_factory(**boto3_client_kwargs: Any) -> Any:
    """Aim's ``S3ArtifactStorage_factory``, which Aim's ``S3ArtifactStorage_clientconfig``
    calls: the same arguments configure aim-artifacts first.

    Raises:
        TypeError: an argument aim-artifacts cannot honour (nothing is configured).
    """
    with _lock:
        aim_artifacts.S3ArtifactStorage_clientconfig(**boto3_client_kwargs)
        _synced[0] = s3.client_config()
        return _aims_factory[-1](**boto3_client_kwargs)


@contextlib.contextmanager
def _unsupported_as_value_error(uri: str) -> Iterator[None]:
    """`BackendUnavailableError` raised as `UnsupportedSchemeError`, Aim's `ValueError`."""
    try:
        yield
    except aim_artifacts.BackendUnavailableError as exc:
        if isinstance(exc, UnsupportedSchemeError):
            raise
        scheme = split_protocol(uri)[0]
        msg = f"{scheme!r} is not supported artifact storage scheme: {exc}"
        raise UnsupportedSchemeError(msg) from exc


@functools.lru_cache(maxsize=100)
def _get_storage(url: str) -> AimArtifactsStorage:
    """Aim's ``registry.get_storage``: the storage of ``<uri>/<run hash>``, any scheme,
    opened with what ``set_artifacts_uri`` was given, or the URI in `url` alone.

    Raises:
        UnsupportedSchemeError, StorageError: as for `AimArtifactsStorage`.
    """
    with _lock:
        storage = _storages.get(url)
        uri, options = _pending.get(url, (None, {}))
    if storage is None:
        storage = AimArtifactsStorage(url, uri, **options)  # reads the run: not under the lock
        with _lock:
            storage = _storages.setdefault(url, storage)
    return storage


def _forget(url: str) -> AimArtifactsStorage | None:
    """Drop what is known of ``<uri>/<run hash>``; its storage, if it was opened."""
    with _lock:
        _pending.pop(url, None)
        storage = _storages.pop(url, None)
        if storage is not None:
            _get_storage.cache_clear()  # the cache must not hand out a finished storage
    return storage


def _set_artifacts_uri(
    original: Callable[..., None], self: BasicRun, uri: Any, **storage_options: Any
) -> None:
    """Store this run's artifacts under ``<uri>/<run hash>/`` through aim-artifacts, from
    the run's first upload or download on (the S3 client config in force then applies).

    Args:
        uri: an fsspec URL, a local or mounted path, an ``os.PathLike`` or a ``upath.UPath``.
        **storage_options: for the filesystem; kept in this process, never written.

    Raises:
        UnsupportedSchemeError: unknown protocol, or the package serving it is missing
            (a `ValueError`, as Aim's, and a `BackendUnavailableError`).
        ArtifactsURIAlreadySetError: this run already stores in this process at another
            URI, or at this one with other storage options.
    """
    if isinstance(uri, (str, os.PathLike)):
        target = os.fspath(uri)
        if split_protocol(target)[0] is None:  # Aim wants a scheme: file:// keeps Aim reading
            target = "file://" + os.path.abspath(os.path.expanduser(target))
        text = target
    else:  # a upath.UPath: its options are kept; aim-artifacts refuses other types
        target, text = uri, str(uri)
    with _unsupported_as_value_error(text):
        resolve(target, **storage_options)  # no I/O: the protocol and its package
    url = os.path.join(text, self.hash)
    with _lock:
        current = self._run_artifacts_uri
        opened = _storages.get(url)
        if current is not None and current != url and current in _storages:
            msg = (
                f"run {self.hash} already stores artifacts at {current}; "
                "the artifacts URI is set once per run"
            )
            raise aim_artifacts.ArtifactsURIAlreadySetError(msg)
        if opened is not None and not opened.opened_with(storage_options):
            msg = (
                f"run {self.hash} already stores artifacts at {url} with other storage "
                "options; they are set before the run's first upload or download"
            )
            raise aim_artifacts.ArtifactsURIAlreadySetError(msg)
        if current is not None:
            _pending.pop(current, None)
        _pending[url] = (target, storage_options)
    resources = self._resources
    if resources is not None and not any(
        isinstance(r, _Finisher) and r.url == url for r in resources.extra_resources
    ):
        resources.add_extra_resource(_Finisher(url, self.meta_run_tree))
    original(self, text)


def _log_artifacts(
    original: Callable[..., None],
    self: BasicRun,
    path: str,
    name: str | None = None,
    *,
    block: bool = False,
) -> None:
    """Aim's ``Run.log_artifacts``: Aim's artifacts, named and recorded as Aim does
    (``<name>/<relative path>``, `name` defaulting to the directory's name), their files
    stored as one batch.

    Raises:
        ValueError: no artifacts URI is set (Aim's error).
        SourceNotFoundError, SourceNotDirectoryError, InvalidNameError: nothing is stored.
        UploadError: with `block`, some files failed (the others are stored and listed).
    """
    if self.artifacts_uri is None:
        msg = "run.artifacts_uri is None. Use run.set_artifacts_uri(...) to set this value"
        raise ValueError(msg)
    directory = pathlib.Path(path)
    if not directory.exists():
        msg = f"no such file or directory: {path!r}"
        raise aim_artifacts.SourceNotFoundError(msg)
    if not directory.is_dir():
        msg = f"{path!r} is not a directory: use run.log_artifact({path!r})"
        raise aim_artifacts.SourceNotDirectoryError(msg)
    prefix = directory.name if name is None else name
    uri = self.artifacts_uri
    artifacts = [
        AimArtifact(str(file), uri=uri, name=f"{prefix}/{file.relative_to(directory)}")
        for file in sorted(directory.glob("**/*"))
        if file.is_file()
    ]
    storage = _get_storage(uri)
    failure: aim_artifacts.UploadError | None = None
    try:
        storage.upload_artifacts({a.name: a.path for a in artifacts}, block=block)
    except aim_artifacts.UploadError as exc:
        failure = exc
    listed: Any = self.meta_run_tree.subtree("artifacts")  # Aim types it too narrowly
    for artifact in artifacts:
        if failure is None or artifact.name not in failure.failures:
            listed[artifact.name] = artifact
    if failure is not None:
        raise failure


def _close(original: Callable[[BasicRun], None], self: BasicRun) -> None:
    """Aim's ``Run.close``, after waiting for the run's uploads.

    Raises:
        UploadError: some uploads failed (raised once Aim has closed the run; the failed
            artifacts are neither in the sidecar nor in Aim's ``run.artifacts``).
    """
    try:
        if self._resources is not None and not self.read_only:
            url = self.artifacts_uri
            storage = _forget(url) if url is not None else None
            if storage is not None:
                storage.finish(self.meta_run_tree)
    finally:
        original(self)
