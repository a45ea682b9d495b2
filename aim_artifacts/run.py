"""`Run`: Aim's artifacts API (set_artifacts_uri, log_artifact(s)) on any fsspec storage.

A facade: `jobs` plans what a call stores, `transfer` moves the bytes, the `Uploader` runs
them on threads, the `Catalog` keeps the records and the journal; the reading half (where
the run stores, its artifacts, downloads, verification) is `view.RunView`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from typing import Any

from . import integrity, preemption, runindex
from .batch import record_of, store_batch
from .catalog import Catalog
from .errors import (
    ArtifactNotFoundError,
    RunClosedError,
    UploadError,
)
from .jobs import Job, directory_jobs, file_job, serialise, stream_job
from .location import Location
from .names import check_name, check_run_hash, new_run_hash
from .records import Artifact
from .uploader import Uploader, close_at_exit
from .view import RunView
from .writer import ArtifactWriter, writing

__all__ = ["Run"]


class Run(RunView):
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
                connection pool is sized to match), up to 4 on backends with a connection
                per thread (SFTP, FTP, SMB, WebDAV: each worker past the first logs in, and
                joins only where that saves time) and 1 on local and mounted paths, where
                more threads only contend for the GIL (raise it for high-latency mounts).
            **storage_options: passed to the filesystem with `artifacts_uri`.

        Raises:
            InvalidNameError: `run_hash` is not a valid run hash.
            BackendUnavailableError: see `set_artifacts_uri`.
        """
        if storage_options and artifacts_uri is None:
            msg = "storage options were given without artifacts_uri"
            raise TypeError(msg)
        self.hash: str = check_run_hash(run_hash) if run_hash is not None else new_run_hash()
        self._reopened = run_hash is not None
        self._index = runindex.RunEntry(self.hash)  # its marker and open flag
        self._max_concurrency = max_concurrency
        self._catalog = Catalog(self.hash)
        self._uploader = Uploader()
        self._closed = False
        if artifacts_uri is not None:
            self.set_artifacts_uri(artifacts_uri, **storage_options)

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
        job = file_job(path, name, metadata, skip_unchanged=skip_unchanged)
        batch = self._submit([job], block=block, label=job.name if progress else None)
        if not block:
            return record_of(job, self._bound(), self._catalog, None)
        try:
            return batch.result()[0]
        except UploadError as exc:
            failure = exc.failures[job.name]
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
        jobs = directory_jobs(path, name, skip_unchanged=skip_unchanged)
        label = (name or os.path.basename(os.path.abspath(path))) if progress else None
        return self._log_jobs(jobs, block=block, label=label)

    def log_files(
        self, files: Mapping[str, str | os.PathLike[str]], *, block: bool = False
    ) -> list[Artifact]:
        """Store each local file of `files` (name -> path) under its name, as `log_artifacts`
        stores a directory: every source and name checked first, uploads concurrent, one
        journal entry for the call.

        Raises:
            SourceNotFoundError, SourceIsDirectoryError, InvalidNameError: nothing is stored.
            UploadError: with ``block=True``, some files failed (the others are recorded).
            NoArtifactsURIError, RunClosedError: as for `log_artifact`.
        """
        self._check_open()
        jobs = [file_job(path, name) for name, path in files.items()]
        return self._log_jobs(jobs, block=block, label=None)

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
        return self.log_text(serialise(obj, name), name, metadata=metadata)

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
        job = stream_job(name, metadata)
        location = self._bound()
        with writing(location, location.join(name)) as writer:
            yield writer
        writer.recorded_as(record_of(job, location, self._catalog, writer.sha256, writer.size))
        self._before_record(location)
        self._catalog.commit([writer.artifact])

    def wait(self) -> None:
        """Wait for every background upload started by this process.

        Raises:
            UploadError: some uploads failed; ``failures`` maps their names to the errors.
                None of them was recorded.
        """
        self._uploader.wait()

    def close(self) -> None:
        """Wait for uploads, fold the run's journal into its sidecar and release workers.

        Raises:
            UploadError: as for `wait`; the run is closed all the same.
        """
        if self._closed:
            return
        try:
            self.wait()
        finally:
            self._closed = True
            self._uploader.shutdown()
            if (location := self.location) is not None:  # else nothing was recorded
                closed = functools.partial(self._index.closed, location)
                if self._catalog.unfolded:  # the flag goes once the sidecar has every record
                    self._catalog.fold(then=closed)
                else:
                    with location.storage_errors():
                        closed()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def repair(self, *, keep_resumable: dt.timedelta = integrity.KEEP_RESUMABLE) -> list[str]:
        """Clean up after killed processes: remove leftover temp files, abort unfinished S3
        multipart uploads below the run, fold the journal into the sidecar, and remove the
        open flags killed writers left in the runs index. Uploads the next attempt can
        resume (they have a resume record) are kept while they are younger than
        `keep_resumable`.

        Returns:
            The temp files removed and the uploads aborted.
        """
        location = self._bound()
        with location.storage_errors():
            removed = integrity.repair(location, keep_resumable)
        self._catalog.fold()
        with location.storage_errors():
            self._index.clear_stale_flags(location)  # the index's bookkeeping: not listed
        return removed

    def delete_artifact(self, name: str) -> None:
        """Remove the artifact's record, then its object.

        Raises:
            ArtifactNotFoundError: the run has no artifact `name`.
            RunClosedError: the run is closed.
        """
        self._check_open()
        check_name(name)
        location = self._bound()
        if not self._catalog.has(name):
            msg = f"run {self.hash} has no artifact {name!r}"
            raise ArtifactNotFoundError(msg)
        self._before_record(location)
        self._catalog.commit(deleted=[name])
        integrity.remove_object(location, name)

    # -- internals ---------------------------------------------------------------------------

    def _bound(self) -> Location:
        location = super()._bound()
        close_at_exit(self)  # uploads waited for and the journal folded at exit, if open
        return location

    def _before_record(self, location: Location) -> None:
        """Put the run in its store's runs index and flag it open (`runindex`); a run
        reopened with records has its marker already, or dates from before the index."""
        with location.storage_errors():
            self._index.before_record(
                location, lambda: self._reopened and bool(self._catalog.artifacts())
            )

    def _check_open(self) -> None:
        if self._closed:
            msg = f"run {self.hash} is closed: it takes no more artifacts"
            raise RunClosedError(msg)
        if preemption.stopping():
            msg = f"run {self.hash} takes no more artifacts: the process is being stopped"
            raise RunClosedError(msg)

    def _log_jobs(self, jobs: list[Job], *, block: bool, label: str | None) -> list[Artifact]:
        """Store `jobs` as one batch; their records (stored, or pending unless `block`)."""
        if not jobs:
            return []
        batch = self._submit(jobs, block=block, label=label)
        if block:
            return batch.result()
        return [record_of(job, self._bound(), self._catalog, None) for job in jobs]

    def _submit(self, jobs: list[Job], *, block: bool, label: str | None) -> Future[list[Artifact]]:
        """Store `jobs`; `label`: show a progress bar with this label."""
        location = self._bound()
        workers = self._max_concurrency or location.storage.workers
        return store_batch(
            jobs,
            location,
            self._catalog,
            self._uploader,
            workers=workers,
            block=block,
            progress_label=label,
            before_record=self._index_ahead(location),
        )

    def _index_ahead(self, location: Location) -> Callable[[], object]:
        """What a batch calls before its records: the runs index's requests
        (`_before_record`), started now on a thread of their own where one client serves
        every thread (object stores: no second login), so that they overlap the uploads."""
        storage = location.storage
        if (
            self._index.done
            or storage.local
            or not storage.shared
            or storage.fs is not storage.origin
        ):
            return lambda: self._before_record(location)
        ahead: Future[None] = Future()

        def run() -> None:
            try:
                self._before_record(location)
            except BaseException as exc:  # noqa: BLE001 - raised where the batch records
                ahead.set_exception(exc)
            else:
                ahead.set_result(None)

        threading.Thread(target=run, name="aim-artifacts-index", daemon=True).start()
        return ahead.result
