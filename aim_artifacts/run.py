"""`Run`: Aim's artifacts API (set_artifacts_uri, log_artifact(s)) on any fsspec storage."""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import enum
import functools
import hashlib
import json
import logging
import mimetypes
import os
import sys
import tempfile
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import PurePath
from typing import Any

import attrs

from . import s3
from .errors import (
    ArtifactNotFoundError,
    ArtifactsURIAlreadySetError,
    NoArtifactsURIError,
    RunClosedError,
    SourceIsDirectoryError,
    SourceNotDirectoryError,
    SourceNotFoundError,
    UploadError,
)
from .integrity import VerifyReport, leftovers, verify
from .journal import Journal
from .location import Location, resolve
from .names import check_name, check_run_hash, join_name, new_run_hash
from .progress import ProgressBar
from .records import Artifact, check_metadata
from .sidecar import RunState
from .storage import SHARED_WORKERS
from .transfer import (
    Stored,
    atomic_writer,
    download_file,
    hash_file,
    local_target,
    store_file,
)

__all__ = ["ENV_URI", "Run"]

log = logging.getLogger(__name__)

ENV_URI = "AIM_ARTIFACTS_URI"
COMPACT_EVERY = 256  # fewest journal entries a Run writes before it folds them


class _Lifecycle(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


@attrs.frozen
class _Job:
    """One file to store under one name."""

    source: str
    name: str
    metadata: dict[str, Any]
    created_at: dt.datetime
    size: int | None  # known up front for single files; read when needed for directories
    skip_unchanged: bool = False


@attrs.frozen
class _Stored:
    """A job's outcome: its record, and whether bytes moved (False: skipped, unchanged)."""

    record: Artifact
    changed: bool


@attrs.frozen
class _Downloader:
    """Downloads a run's artifacts; bound to each of its records."""

    location: Location

    def download(
        self,
        artifact: Artifact,
        dest_dir: str | os.PathLike[str] | None,
        progress: Callable[[int], object] | None = None,
    ) -> str:
        dest = tempfile.mkdtemp(prefix="aim-artifacts-") if dest_dir is None else dest_dir
        local = local_target(os.fspath(dest), artifact.name)
        expected = Stored(artifact.size, artifact.sha256) if artifact.sha256 else None
        source = self.location.join(artifact.name)
        try:
            with self.location.storage_errors():
                download_file(self.location, source, local, expected, progress)
        except FileNotFoundError as exc:
            if os.path.isdir(os.path.dirname(local)):
                msg = f"artifact {artifact.name!r} is missing from {self.location.uri}"
                raise ArtifactNotFoundError(msg) from exc
            raise
        return local

    def upath(self, artifact: Artifact) -> Any:
        from upath import UPath  # noqa: PLC0415 - upath is imported when it is used

        url, options = self.location.child(artifact.name).url()
        return UPath(url, **options)


class ArtifactWriter:
    """The file `Run.open_artifact` yields: binary writes, hashed as they go."""

    def __init__(self, sink: Any, location: Location) -> None:
        self._sink = sink
        self._location = location
        self._digest = hashlib.sha256()
        self.size = 0
        self.stored: Artifact | None = None  # set once stored and recorded

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        with self._location.storage_errors():  # object stores upload parts as they fill
            self._sink.write(view)
        self._digest.update(view)
        self.size += len(view)
        return len(view)

    def tell(self) -> int:
        return self.size

    def flush(self) -> None:
        """Bytes reach storage when the block ends; nothing to do before."""

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    @property
    def artifact(self) -> Artifact:
        """The record, once the ``with`` block has ended and the bytes are stored."""
        if self.stored is None:
            msg = "the artifact is stored and recorded when the with block ends"
            raise RuntimeError(msg)
        return self.stored


class Artifacts(dict[str, Artifact]):
    """A run's artifacts by name: a dict that renders as a table in notebooks."""

    def _repr_html_(self) -> str:
        from .ui.html import artifact_table  # noqa: PLC0415 - only notebooks need it

        return artifact_table(self.values())


class Run:
    """A training run's artifacts, stored under ``<artifacts uri>/<run hash>/``.

    ``Run()`` starts a new run; ``Run(run_hash, artifacts_uri=uri)`` reopens one (its records
    are loaded and more can be logged). A Run pickles and survives ``fork``: background
    uploads belong to the process that started them.
    """

    def __init__(
        self,
        run_hash: str | None = None,
        *,
        artifacts_uri: Any = None,
        max_concurrency: int | None = None,
        **storage_options: Any,
    ) -> None:
        """
        Args:
            run_hash: the hash of a run to reopen; None starts a new run.
            artifacts_uri: as for `set_artifacts_uri`; None waits for that call or falls
                back to the ``AIM_ARTIFACTS_URI`` environment variable.
            max_concurrency: uploads that run at once; by default 16 on object stores (S3's
                connection pool is sized to match), 4 on backends with a connection per
                thread (SFTP, FTP, SMB, WebDAV) and 1 on local and mounted paths, where more
                threads only contend for the GIL (raise it for high-latency mounts).
            **storage_options: passed to the filesystem with `artifacts_uri`.

        Raises:
            InvalidNameError: `run_hash` is not a valid run hash.
            BackendUnavailableError: see `set_artifacts_uri`.
        """
        if storage_options and artifacts_uri is None:
            msg = "storage options were given without artifacts_uri"
            raise TypeError(msg)
        self.hash = check_run_hash(run_hash) if run_hash is not None else new_run_hash()
        self._reopened = run_hash is not None
        self._max_concurrency = max_concurrency
        self._location: Location | None = None
        self._journal: Journal | None = None
        self._state = RunState()  # raw records, as stored
        self._built: dict[str, tuple[str, Artifact]] = {}  # name -> (revision, record)
        self._downloader: _Downloader | None = None
        self._lifecycle = _Lifecycle.OPEN
        self._written: set[str] = set()  # revisions of the journal entries this Run wrote
        self._init_process()
        if artifacts_uri is not None:
            self.set_artifacts_uri(artifacts_uri, **storage_options)

    def _init_process(self) -> None:
        """Per-process machinery: locks, worker pool, pending uploads."""
        self._pid = os.getpid()
        self._lock = threading.RLock()
        self._executor: ThreadPoolExecutor | None = None
        self._pending: set[Future[list[Artifact]]] = set()

    def _this_process(self) -> None:
        if self._pid != os.getpid():  # forked: the parent's threads and uploads are not ours
            self._init_process()

    # -- where artifacts go ------------------------------------------------------------------

    @property
    def artifacts_uri(self) -> str | None:
        """``<artifacts uri>/<run hash>``, or None before an artifacts URI is set."""
        return self._location.uri if self._location else None

    def set_artifacts_uri(self, uri: Any, **storage_options: Any) -> None:
        """Store this run's artifacts under ``<uri>/<run hash>/``.

        Args:
            uri: an fsspec URL (``s3://b/p``, ``memory://x``, ``simplecache::s3://...``), a
                local or mounted path, an ``os.PathLike`` or a ``upath.UPath``.
            **storage_options: options for the filesystem (never written anywhere).

        Raises:
            BackendUnavailableError: unknown protocol, or the package serving it is missing.
            ArtifactsURIAlreadySetError: a different URI was set before.
        """
        self._this_process()
        pool_size = self._max_concurrency or SHARED_WORKERS
        location = resolve(uri, pool_size=pool_size, **storage_options)
        location = location.child(self.hash)
        with self._lock:
            if self._location is not None:
                if self._location.uri == location.uri:
                    return
                msg = (
                    f"run {self.hash} already stores artifacts at {self._location.uri}; "
                    "the artifacts URI is set once per run"
                )
                raise ArtifactsURIAlreadySetError(msg)
            journal = Journal(location, self.hash)
            self._downloader = _Downloader(location)
            if self._reopened:
                with location.storage_errors():
                    self._state.merge(journal.load())
            self._location, self._journal = location, journal
            if self._reopened:
                self._artifacts()  # every record checked now, not on first use

    def _require_location(self) -> tuple[Location, Journal]:
        if self._location is None:
            env = os.environ.get(ENV_URI)
            if not env:
                msg = (
                    f"run {self.hash} has no artifacts URI: call "
                    f"run.set_artifacts_uri(uri) or set {ENV_URI}"
                )
                raise NoArtifactsURIError(msg)
            self.set_artifacts_uri(env)
        return self._location, self._journal  # type: ignore[return-value]

    # -- logging -----------------------------------------------------------------------------

    def log_artifact(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        block: bool = False,
        metadata: Mapping[str, Any] | None = None,
        skip_unchanged: bool = False,
        progress: bool = False,
    ) -> Artifact:
        """Store the file `path` as artifact `name` (default: its basename).

        With ``block=False`` the upload runs in the background and the record returned has
        ``sha256=None``; the stored record appears in `artifacts` once the bytes are stored,
        and a failure is raised by `wait` / `close`. ``skip_unchanged=True`` moves no bytes
        when the run already has this name with the same size and sha256 (the source is
        hashed to tell). ``progress=True`` shows a tqdm bar on stderr.

        Raises:
            SourceNotFoundError: `path` does not exist.
            SourceIsDirectoryError: `path` is a directory (use `log_artifacts`).
            InvalidNameError: `name` is not a relative posix path inside the run.
            InvalidMetadataError: `metadata` is not a JSON-serialisable dict.
            NoArtifactsURIError: no artifacts URI was set.
            RunClosedError: the run is closed.
            SourceChangedError, StorageError, OSError: with ``block=True``, the upload failed.
        """
        self._check_open()
        source = os.fspath(path)
        st = _stat(source)
        if os.path.isdir(source):
            msg = f"{source!r} is a directory: use run.log_artifacts({source!r})"
            raise SourceIsDirectoryError(msg)
        name = check_name(os.path.basename(source) if name is None else name)
        job = _Job(source, name, check_metadata(metadata), _now(), st.st_size, skip_unchanged)
        future = self._submit([job], block=block, progress=progress)
        if not block:
            return self._pending_record(job)
        try:
            return future.result()[0]
        except UploadError as exc:
            failure = exc.failures[name]
        raise failure  # the upload's own error, its cause kept, outside the batch's

    def log_artifacts(
        self,
        path: str | os.PathLike[str],
        name: str | None = None,
        *,
        block: bool = False,
        skip_unchanged: bool = False,
        progress: bool = False,
    ) -> list[Artifact]:
        """Store every file below the directory `path` as ``<name>/<relative posix path>``.

        `name` defaults to the directory's basename; ``""`` stores files by relative path
        alone. Uploads run concurrently; one journal entry records the whole call.
        ``skip_unchanged=True`` uploads only files whose size or sha256 differ from the run's
        records (re-logging an unchanged directory moves no bytes); ``progress=True`` shows
        a tqdm bar (bytes and files) on stderr.

        Raises:
            SourceNotFoundError: `path` does not exist.
            SourceNotDirectoryError: `path` is not a directory.
            InvalidNameError: a resulting name is invalid (nothing is stored).
            UploadError: with ``block=True``, some files failed (the others are recorded).
            NoArtifactsURIError, RunClosedError: as for `log_artifact`.
        """
        self._check_open()
        root = os.fspath(path)
        _stat(root)
        if not os.path.isdir(root):
            msg = f"{root!r} is not a directory: use run.log_artifact({root!r})"
            raise SourceNotDirectoryError(msg)
        prefix = os.path.basename(os.path.abspath(root)) if name is None else name
        if prefix:
            check_name(prefix)
        jobs = []
        created_at = _now()
        for directory, dirnames, filenames in os.walk(root):
            dirnames.sort()
            relative_dir = _posix(os.path.relpath(directory, root))
            base = prefix if relative_dir == "." else join_name(prefix, relative_dir)
            for filename in sorted(filenames):
                name = join_name(base, filename)
                source = os.path.join(directory, filename)
                jobs.append(_Job(source, name, {}, created_at, None, skip_unchanged))
        if not jobs:
            return []
        future = self._submit(jobs, block=block, progress=progress)
        if block:
            return future.result()
        return [self._pending_record(job) for job in jobs]

    def log_bytes(
        self, data: bytes, name: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Artifact:
        """Store `data` as artifact `name`, with no file in between (blocking).

        Raises:
            InvalidNameError, InvalidMetadataError, NoArtifactsURIError, RunClosedError: as
                for `log_artifact`; the backend's error if the write fails.
        """
        with self.open_artifact(name, metadata=metadata) as f:
            f.write(data)
        return f.artifact

    def log_text(
        self,
        text: str,
        name: str,
        *,
        encoding: str = "utf-8",
        metadata: Mapping[str, Any] | None = None,
    ) -> Artifact:
        """Store `text` as artifact `name` (encoded with `encoding`)."""
        return self.log_bytes(text.encode(encoding), name, metadata=metadata)

    def log_dict(
        self, obj: Mapping[str, Any], name: str, *, metadata: Mapping[str, Any] | None = None
    ) -> Artifact:
        """Store `obj` as JSON, or as YAML when `name` ends in .yaml/.yml and PyYAML is
        installed.

        Raises:
            TypeError: `obj` cannot be serialised.
        """
        if name.endswith((".yaml", ".yml")):
            try:
                import yaml  # noqa: PLC0415 - optional
            except ImportError:
                yaml = None
            if yaml is not None:
                return self.log_text(yaml.safe_dump(dict(obj)), name, metadata=metadata)
        return self.log_text(json.dumps(obj, indent=2), name, metadata=metadata)

    @contextlib.contextmanager
    def open_artifact(
        self, name: str, mode: str = "wb", *, metadata: Mapping[str, Any] | None = None
    ) -> Iterator[ArtifactWriter]:
        """A file to write artifact `name` into (``torch.save(state, f)``): hashed as it is
        written, stored atomically and recorded when the block ends; if the block raises,
        nothing is stored or recorded.

        Raises:
            ValueError: `mode` is not ``"wb"``.
            InvalidNameError, InvalidMetadataError, NoArtifactsURIError, RunClosedError: as
                for `log_artifact`.
        """
        if mode != "wb":
            msg = f"open_artifact writes binary files: mode must be 'wb', not {mode!r}"
            raise ValueError(msg)
        self._check_open()
        check_name(name)
        job = _Job("", name, check_metadata(metadata), _now(), None)
        location, journal = self._require_location()
        storing = contextlib.ExitStack()
        with location.storage_errors():
            sink = storing.enter_context(atomic_writer(location, location.join(name)))
        writer = ArtifactWriter(sink, location)
        try:
            yield writer
        except BaseException as exc:  # the caller's error, as raised; nothing is stored
            storing.__exit__(type(exc), exc, exc.__traceback__)
            raise
        with location.storage_errors():
            storing.close()  # the object appears, whole
        writer.stored = self._record(job, writer.size, writer.sha256)
        self._commit(journal, [writer.stored])

    def wait(self) -> None:
        """Wait for every background upload started by this process.

        Raises:
            UploadError: some uploads failed; ``failures`` maps their names to the errors.
                None of them was recorded.
        """
        self._this_process()
        failures: dict[str, BaseException] = {}
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                break
            for future in pending:
                exc = future.exception()
                if isinstance(exc, UploadError):
                    failures.update(exc.failures)
                elif exc is not None:  # pragma: no cover - _store_batch wraps every error
                    failures[repr(exc)] = exc
                with self._lock:
                    self._pending.discard(future)
        if failures:
            raise _upload_error(failures)

    def close(self) -> None:
        """Wait for uploads, fold the run's journal into its sidecar and release workers.

        Raises:
            UploadError: as for `wait`; the run is closed all the same.
        """
        self._this_process()
        if self._lifecycle is _Lifecycle.CLOSED:
            return
        try:
            self.wait()
        finally:
            self._lifecycle = _Lifecycle.CLOSED
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None
            if self._written and self._journal is not None:
                self._fold(self._journal)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    @property
    def artifacts(self) -> Artifacts:
        """The run's fully stored artifacts by name (a copy, in name order).

        Raises:
            SidecarError: a stored record is invalid (the message says where).
        """
        with self._lock:
            return self._artifacts()

    def _artifacts(self) -> Artifacts:
        """Build (once per revision) and return the live records; hold the lock."""
        return Artifacts(
            (name, self._artifacts_one(name, revision, raw))
            for name, (revision, raw) in self._state.live().items()
        )

    def _artifacts_one(self, name: str, revision: str, raw: dict[str, Any]) -> Artifact:
        """The record of `name` at `revision`, built once; hold the lock."""
        built = self._built.get(name)
        if built is None or built[0] != revision:
            where = f"{self.artifacts_uri}/.aim-artifacts.json: artifacts[{name!r}]"
            record = Artifact.from_dict(raw, where=where, downloader=self._downloader)
            built = self._built[name] = (revision, record)
        return built[1]

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
        dest = os.fspath(dest_dir)
        chosen = [a for n, a in self.artifacts.items() if prefix is None or n.startswith(prefix)]
        if not progress or self._downloader is None:
            return [artifact.download(dest) for artifact in chosen]
        bar = ProgressBar(f"run {self.hash}", sum(a.size for a in chosen), len(chosen))
        try:
            paths = []
            for artifact in chosen:
                paths.append(self._downloader.download(artifact, dest, bar.add))
                bar.file_done()
            return paths
        finally:
            bar.close()

    def verify(self) -> VerifyReport:
        """Re-hash every stored object against its record and look for objects no record
        names (the library's own files and temp files aside).

        Raises:
            NoArtifactsURIError: no artifacts URI was set.
            StorageError: the backend failed.
        """
        location, _ = self._require_location()
        with location.storage_errors():
            return verify(location, self.artifacts)

    def repair(self) -> list[str]:
        """Clean up after killed processes: remove leftover temp files, abort unfinished S3
        multipart uploads below the run, and fold the journal into the sidecar.

        Returns:
            What was removed or aborted.
        """
        location, journal = self._require_location()
        with location.storage_errors():
            removed = leftovers(location)
            location.storage.remove([location.join(name) for name in removed])
            if location.is_s3:
                removed += s3.abort_incomplete_uploads(location.fs, location.path)
            self._fold_now(journal)
        return removed

    def delete_artifact(self, name: str) -> None:
        """Remove the artifact's record, then its object.

        Raises:
            ArtifactNotFoundError: the run has no artifact `name`.
            RunClosedError: the run is closed.
        """
        self._check_open()
        check_name(name)
        location, journal = self._require_location()
        with self._lock, location.storage_errors():
            if not self._state.is_live(name):
                self._state.merge(journal.load())
            if not self._state.is_live(name):
                msg = f"run {self.hash} has no artifact {name!r}"
                raise ArtifactNotFoundError(msg)
        self._commit(journal, deleted=[name])
        try:
            with location.storage_errors():
                location.fs.rm_file(location.join(name))
        except FileNotFoundError:
            log.warning("artifact %s had no object at %s", name, location.join(name))

    # -- internals ---------------------------------------------------------------------------

    def _check_open(self) -> None:
        self._this_process()
        if self._lifecycle is _Lifecycle.CLOSED:
            msg = f"run {self.hash} is closed: it takes no more artifacts"
            raise RunClosedError(msg)

    def _submit(
        self, jobs: list[_Job], *, block: bool, progress: bool = False
    ) -> Future[list[Artifact]]:
        """Start storing `jobs` concurrently; the returned future completes once they are
        recorded (successes) or failed (an `UploadError`). A blocking call with one worker or
        one job runs on the caller's thread: no hand-offs."""
        location, journal = self._require_location()
        workers = self._max_concurrency or location.storage.workers
        bar = None
        if progress:
            total = sum(j.size if j.size is not None else _stat(j.source).st_size for j in jobs)
            bar = ProgressBar(f"run {self.hash}", total, len(jobs))
        store = functools.partial(self._store, location, bar=bar)
        batch: Future[list[Artifact]] = Future()
        if block and (workers == 1 or len(jobs) == 1):
            done: dict[str, _Stored] = {}
            failed: dict[str, BaseException] = {}
            for job in jobs:
                try:
                    done[job.name] = store(job)
                except Exception as exc:  # noqa: BLE001 - reported with the batch, as below
                    failed[job.name] = exc
            self._finish_batch(journal, jobs, done, failed, batch, bar=bar)
            return batch
        results: dict[str, _Stored] = {}
        failures: dict[str, BaseException] = {}
        remaining = [len(jobs)]
        done_lock = threading.Lock()

        def finish(job: _Job, future: Future[_Stored]) -> None:
            exc = future.exception()
            with done_lock:
                if exc is None:
                    results[job.name] = future.result()
                else:
                    failures[job.name] = exc
                remaining[0] -= 1
                last = remaining[0] == 0
            if last:
                self._finish_batch(journal, jobs, results, failures, batch, bar=bar)

        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(workers, "aim-artifacts")
            if not block:  # a blocking caller gets the batch's outcome itself, once
                self._pending.add(batch)
                _runs_with_uploads.add(self)
            for job in jobs:
                future = self._executor.submit(store, job)
                future.add_done_callback(functools.partial(finish, job))
        return batch

    def _finish_batch(
        self,
        journal: Journal,
        jobs: list[_Job],
        results: dict[str, _Stored],
        failures: dict[str, BaseException],
        batch: Future[list[Artifact]],
        *,
        bar: ProgressBar | None,
    ) -> None:
        if bar is not None:
            bar.close()
        changed = [r.record for j in jobs if (r := results.get(j.name)) and r.changed]
        try:
            if changed:
                self._commit(journal, changed)
        except BaseException as exc:  # noqa: BLE001 - the record failed: so did every upload
            failures.update(dict.fromkeys(results, exc))
            results.clear()
        if failures:
            batch.set_exception(_upload_error(failures))
        else:
            batch.set_result([results[j.name].record for j in jobs])

    def _store(self, location: Location, job: _Job, bar: ProgressBar | None = None) -> _Stored:
        same = self._unchanged(job) if job.skip_unchanged else None
        if same is not None:
            if bar is not None:
                bar.add(same.size)
                bar.file_done()
            return _Stored(same, changed=False)
        with location.storage_errors():
            progress = bar.add if bar is not None else None
            stored = store_file(job.source, location, location.join(job.name), progress)
        if bar is not None:
            bar.file_done()
        return _Stored(self._record(job, stored.size, stored.sha256), changed=True)

    def _unchanged(self, job: _Job) -> Artifact | None:
        """The run's record of `job`'s name if the source has the same size and sha256."""
        with self._lock:
            revision, raw = self._state.changes.get(job.name, ("", None))
            if raw is None:
                return None
            record = self._artifacts_one(job.name, revision, raw)
        if record.size != _stat(job.source).st_size:
            return None
        return record if hash_file(job.source).sha256 == record.sha256 else None

    def _pending_record(self, job: _Job) -> Artifact:
        """The record a non-blocking log returns: its sha256 is not known yet."""
        size = job.size if job.size is not None else _stat(job.source).st_size
        return self._record(job, size, None)

    def _record(self, job: _Job, size: int, sha256: str | None) -> Artifact:
        location, _ = self._require_location()
        return Artifact(
            name=job.name,
            path=_posix(job.source),
            uri=f"{location.uri}/{job.name}",
            size=size,
            sha256=sha256,
            created_at=job.created_at,
            content_type=mimetypes.guess_type(job.name)[0] or "application/octet-stream",
            metadata=job.metadata,
            downloader=self._downloader,
        )

    def _commit(
        self, journal: Journal, records: Sequence[Artifact] = (), deleted: Sequence[str] = ()
    ) -> None:
        with journal.location.storage_errors():
            revision, changes = journal.record(records, deleted)
        with self._lock:
            self._state.merge(changes)
            self._built.update((r.name, (revision, r)) for r in records)
            _runs_with_uploads.add(self)  # folded at exit if never closed
            self._written.add(revision)
            # Geometric: folding costs O(records), so fold after a fixed share of them and
            # the cost per artifact stays constant however large the run grows.
            fold = len(self._written) >= max(COMPACT_EVERY, len(self._state.changes) // 8)
        if fold:
            self._fold(journal)

    def _fold(self, journal: Journal) -> None:
        """Fold the journal into the sidecar, passing what this Run already holds."""
        with journal.location.storage_errors():
            self._fold_now(journal)

    def _fold_now(self, journal: Journal) -> None:
        with self._lock:
            known, mine = RunState(dict(self._state.changes)), set(self._written)
        folded = journal.compact(known, mine)
        with self._lock:
            self._state.merge(folded)
            self._written -= mine

    # -- pickling and display ----------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        with self._lock:
            return {
                "hash": self.hash,
                "reopened": self._reopened,
                "max_concurrency": self._max_concurrency,
                "location": self._location,
                "state": self._state.changes.copy(),
                "lifecycle": self._lifecycle,
            }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.hash = state["hash"]
        self._reopened = state["reopened"]
        self._max_concurrency = state["max_concurrency"]
        self._location = state["location"]
        self._journal = None
        if self._location is not None:
            self._journal = Journal(self._location, self.hash)
        self._downloader = _Downloader(self._location) if self._location else None
        self._state = RunState(state["state"])
        self._built = {}
        self._lifecycle = state["lifecycle"]
        self._written = set()
        self._init_process()

    def __repr__(self) -> str:
        return f"Run(hash={self.hash!r}, artifacts_uri={self.artifacts_uri!r})"

    def _repr_html_(self) -> str:
        from .ui.html import run_card  # noqa: PLC0415 - only notebooks need it

        return run_card(self.hash, self.artifacts_uri, self.artifacts.values())


def _posix(path: str) -> str:
    """`path` with ``/`` separators (already so on POSIX)."""
    return path if os.sep == "/" else PurePath(path).as_posix()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _stat(source: str) -> os.stat_result:
    try:
        return os.stat(source)
    except FileNotFoundError as exc:
        msg = f"no such file or directory: {source!r}"
        raise SourceNotFoundError(msg) from exc


def _upload_error(failures: dict[str, BaseException]) -> UploadError:
    lines = "; ".join(f"{name!r}: {type(exc).__name__}: {exc}" for name, exc in failures.items())
    msg = f"{len(failures)} artifact(s) failed to upload and were not recorded: {lines}"
    return UploadError(msg, failures)


_runs_with_uploads: weakref.WeakSet[Run] = weakref.WeakSet()


def _finish_uploads_at_exit() -> None:
    """Finish the background uploads of runs left open at interpreter exit and fold their
    journals; report failures on stderr (nothing else would see them)."""
    for run in list(_runs_with_uploads):
        try:
            run.close()
        except Exception as exc:  # noqa: BLE001 - the process is ending: say it, don't raise
            print(f"aim-artifacts: run {run.hash}: {exc}", file=sys.stderr)


# Run before concurrent.futures shuts its pools down at exit (threading's exit hooks run in
# reverse order of registration, and it registered on import, above): s3fs and aiohttp still
# need to start threads while the last uploads and the sidecar fold complete.
getattr(threading, "_register_atexit", atexit.register)(_finish_uploads_at_exit)
