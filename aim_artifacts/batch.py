"""Storing a batch of jobs: each file through `transfer` (or skipped when unchanged) on the
`Uploader`'s threads, then every stored record in one journal entry of the `Catalog`."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future

import attrs

from . import parts
from .catalog import Catalog
from .jobs import Job, build_record, source_size
from .location import Location
from .progress import ProgressBar
from .records import Artifact
from .transfer import hash_file, store_file
from .uploader import Uploader, upload_error

__all__ = ["record_of", "store_batch"]

STAGE_MIN = 8  # files a batch into a new directory needs to be staged (a few requests more)


@attrs.frozen
class _Outcome:
    """A job's outcome: its record, and whether bytes moved (False: skipped, unchanged)."""

    record: Artifact
    changed: bool


def store_batch(
    jobs: list[Job],
    location: Location,
    catalog: Catalog,
    uploader: Uploader,
    *,
    workers: int,
    block: bool,
    progress_label: str | None,
    before_record: Callable[[], object],
) -> Future[list[Artifact]]:
    """Store `jobs` at `location` and record them; the future holds their records once
    recorded, or an `UploadError` naming the failed ones (the others are recorded).
    `progress_label`: show a progress bar with this label; `before_record` is called
    before the records are (its failure fails them)."""
    staging = _Staging.of(jobs, location)
    bar = None
    if progress_label is not None:
        bar = ProgressBar(progress_label, sum(source_size(j) for j in jobs), len(jobs))

    def store(job: Job) -> _Outcome:
        same = _unchanged(catalog, job) if job.skip_unchanged else None
        if same is None:
            with location.storage_errors():
                progress = bar.add if bar is not None else None
                path = staging.path(job) if staging else location.join(job.name)
                stored = store_file(job.source, location, path, progress)
            outcome = _Outcome(record_of(job, location, catalog, stored.sha256, stored.size), True)
        else:
            outcome = _Outcome(same, changed=False)
            if bar is not None:
                bar.add(same.size)
        if bar is not None:
            bar.file_done()
        return outcome

    def finish(results: dict[str, _Outcome], failures: dict[str, BaseException]) -> list[Artifact]:
        if bar is not None:
            bar.close()
        changed = [r.record for j in jobs if (r := results.get(j.name)) and r.changed]
        try:
            if staging:
                staging.publish([r.name for r in changed])
            if changed:
                before_record()
                catalog.commit(changed)
        except Exception as exc:  # noqa: BLE001 - the record failed: so did every upload
            failures.update(dict.fromkeys(results, exc))
        finally:
            parts.settle()  # resume records of completed uploads, removed beside the entry
        if failures:
            raise upload_error(failures)
        return [results[j.name].record for j in jobs]

    return uploader.submit(
        jobs,
        store,
        finish,
        workers=workers,
        block=block,
        connect_cost=location.storage.connect_cost,
    )


@attrs.frozen
class _Staging:
    """A batch into one new directory, written in a temp directory renamed into place once
    (on file servers a rename per file costs as much as the write)."""

    location: Location
    top: str  # the directory's name in the run
    stage: str  # the temp directory's path

    @classmethod
    def of(cls, jobs: list[Job], location: Location) -> _Staging | None:
        """The staging of `jobs` if they fill one new directory and the storage renames."""
        tops = {job.name.split("/", 1)[0] for job in jobs}
        if len(jobs) < STAGE_MIN or len(tops) != 1 or not all("/" in j.name for j in jobs):
            return None
        top = tops.pop()
        with location.storage_errors():
            stage = location.storage.stage(location.join(top))
        return None if stage is None else cls(location, top, stage)

    def path(self, job: Job) -> str:
        """Where `job` is written."""
        return f"{self.stage}/{job.name[len(self.top) + 1 :]}"

    def publish(self, names: list[str]) -> None:
        """Make the artifacts `names`, stored in the stage, appear in the run."""
        relative = [name[len(self.top) + 1 :] for name in names]
        with self.location.storage_errors():
            self.location.storage.unstage(self.stage, self.location.join(self.top), relative)


def record_of(
    job: Job, location: Location, catalog: Catalog, sha256: str | None, size: int | None = None
) -> Artifact:
    """The record of `job` stored at `location` (`sha256` None: not stored yet; `size`
    None: the source's)."""
    size = source_size(job) if size is None else size
    return build_record(job, location.uri, size, sha256, catalog.downloader)


def _unchanged(catalog: Catalog, job: Job) -> Artifact | None:
    """The run's record of `job`'s name if the source has the same size and sha256."""
    record = catalog.record(job.name)
    if record is None or record.size != source_size(attrs.evolve(job, size=None)):
        return None
    return record if hash_file(job.source).sha256 == record.sha256 else None
