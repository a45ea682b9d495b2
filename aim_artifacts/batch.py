"""Storing a batch of jobs: each file through `transfer` (or skipped when unchanged) on the
`Uploader`'s threads, then every stored record in one journal entry of the `Catalog`."""

from __future__ import annotations

from concurrent.futures import Future

import attrs

from .catalog import Catalog
from .jobs import Job, build_record, source_size
from .location import Location
from .progress import ProgressBar
from .records import Artifact
from .transfer import hash_file, store_file
from .uploader import Uploader, upload_error

__all__ = ["record_of", "store_batch"]


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
) -> Future[list[Artifact]]:
    """Store `jobs` at `location` and record them; the future holds their records once
    recorded, or an `UploadError` naming the failed ones (the others are recorded).
    `progress_label`: show a progress bar with this label."""
    bar = None
    if progress_label is not None:
        bar = ProgressBar(progress_label, sum(source_size(j) for j in jobs), len(jobs))

    def store(job: Job) -> _Outcome:
        same = _unchanged(catalog, job) if job.skip_unchanged else None
        if same is None:
            with location.storage_errors():
                progress = bar.add if bar is not None else None
                stored = store_file(job.source, location, location.join(job.name), progress)
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
            if changed:
                catalog.commit(changed)
        except Exception as exc:  # noqa: BLE001 - the record failed: so did every upload
            failures.update(dict.fromkeys(results, exc))
        if failures:
            raise upload_error(failures)
        return [results[j.name].record for j in jobs]

    return uploader.submit(jobs, store, finish, workers=workers, block=block)


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
