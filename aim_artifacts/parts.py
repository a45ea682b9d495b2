"""Large files to S3 as concurrent multipart parts, hashed once as read, and resumable.

Used where the filesystem offers S3's calls as coroutines on its event loop (s3fs's
``_call_s3``: probed, never by class name); `transfer` streams through ``open("wb")``
elsewhere. The caller's thread reads the file once, in order, hashing each part as it is
read, while the filesystem's event loop sends up to `WINDOW` parts at once; the part bytes in
flight in the whole process stay within `MEMORY_BUDGET`.

A resume record beside the journal (``.aim-artifacts.uploads/<hash of the path>.json``: the
upload id, part size, the source's path, size and mtime, the ETag of each part acknowledged;
never a credential) lets the next attempt to store the same source at the same path, from
any process, list the parts already stored (ListParts), check each against the source (an S3
part's ETag is the md5 of its bytes), send only the others and complete the upload. A changed
source aborts the stale upload and starts afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import IO, Any

import attrs
from fsspec.spec import AbstractFileSystem

from .errors import SourceChangedError, UploadStoppedError, is_missing
from .location import Location
from .names import RESERVED_PREFIX

__all__ = [
    "MEMORY_BUDGET",
    "UPLOADS_DIR",
    "WINDOW",
    "Resume",
    "load_resumes",
    "send_parts",
    "stop_sending",
    "takes_parts",
    "wait_idle",
]

UPLOADS_DIR = f"{RESERVED_PREFIX}.uploads"  # resume records, beside the journal
MEMORY_BUDGET = 128 * 2**20  # part bytes in flight in this process, all uploads together
WINDOW = 16  # parts in flight per upload (S3's connection pool holds at least as many)
SAVE_EVERY = 8  # acknowledged parts between two updates of the resume record
_FORMAT = 1


class _Senders:
    """The uploads sending parts in this process, and the order to stop at a part boundary."""

    def __init__(self) -> None:
        self.active = 0
        self.stop = threading.Event()
        self.changed = threading.Condition()

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        with self.changed:
            self.active += 1
        try:
            yield
        finally:
            with self.changed:
                self.active -= 1
                self.changed.notify_all()


_senders = _Senders()


def wait_idle(until: float) -> bool:
    """Wait until no upload sends parts or ``time.monotonic()`` reaches `until`; True if idle."""
    with _senders.changed:
        return _senders.changed.wait_for(
            lambda: _senders.active == 0, timeout=max(0.0, until - time.monotonic())
        )


def stop_sending() -> None:
    """Make every upload stop at its next part boundary, left resumable (it raises
    `UploadStoppedError`), and new ones stop before their first part; returns once the
    parts in flight have landed."""
    _senders.stop.set()
    with _senders.changed:
        _senders.changed.wait_for(lambda: _senders.active == 0)


def takes_parts(fs: AbstractFileSystem) -> bool:
    """True if `fs` offers S3's multipart calls as coroutines (``_call_s3``) on its loop."""
    call = getattr(fs, "_call_s3", None)
    return bool(getattr(fs, "async_impl", False)) and inspect.iscoroutinefunction(call)


@attrs.frozen
class Resume:
    """What the next attempt needs to continue an upload; no credential, ever."""

    path: str  # the object being uploaded
    source: str  # the local file's absolute path, size and mtime when the upload started
    size: int
    mtime_ns: int
    part_size: int
    upload_id: str
    started: float  # seconds since the epoch
    parts: dict[int, str] = attrs.field(factory=dict)  # part number -> ETag, acknowledged

    def same_source(self, other: Resume) -> bool:
        """True if `other` stores the same source, cut the same way, at the same path."""
        fields = ("path", "source", "size", "mtime_ns", "part_size")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    def to_json(self) -> bytes:
        data = attrs.asdict(self)
        data["parts"] = {str(n): etag for n, etag in sorted(self.parts.items())}
        return json.dumps({"format": _FORMAT, **data}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Resume | None:
        """The record in `raw`, or None if it is unreadable or of another format."""
        try:
            data = json.loads(raw)
            if data.pop("format") != _FORMAT:
                return None
            data["parts"] = {int(n): str(etag) for n, etag in data["parts"].items()}
            return cls(**data)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def record_path(location: Location, path: str) -> str:
    """Where the resume record of an upload to `path` below `location` lives."""
    digest = hashlib.sha256(path.encode()).hexdigest()[:32]
    return location.join(f"{UPLOADS_DIR}/{digest}.json")


def load_resumes(location: Location) -> dict[str, Resume]:
    """The resume records of the run at `location`, by their own paths."""
    found = {}
    for path in location.storage.find(location.join(UPLOADS_DIR)):
        raw = location.storage.read(path)
        resume = Resume.from_json(raw) if raw is not None else None
        if resume is not None:
            found[path] = resume
    return found


def send_parts(
    src: IO[bytes],
    location: Location,
    path: str,
    *,
    source: str,
    before: os.stat_result,
    part_size: int,
    check: Callable[[int], object],
    progress: Callable[[int], object] | None,
) -> str:
    """Store the first ``before.st_size`` bytes of `src` (the file `source`) at `path` as a
    multipart upload, resuming one an earlier attempt left; return their sha256. `check` is
    called with the number of bytes read before the upload is completed.

    Raises:
        SourceChangedError: from `check`; the upload is aborted, nothing is stored.
    """
    upload = _Upload(location.storage.fs, path)
    wanted = Resume(
        path,
        os.path.abspath(source),
        before.st_size,
        before.st_mtime_ns,
        part_size,
        upload_id="",
        started=time.time(),
    )
    records = _Records(upload, record_path(location, path))
    with _senders.sending():
        resume, stored, saving = _resumable(upload, records, wanted)
        try:
            sender = _Sender(upload, resume, records, progress, saving)
            sha256, read, etags = sender.send(src, stored)
            check(read)
        except SourceChangedError:
            upload.abort(resume.upload_id)
            records.remove()
            raise
        parts = [{"PartNumber": n, "ETag": etags[n]} for n in sorted(etags)]
        upload.call(
            "complete_multipart_upload",
            UploadId=resume.upload_id,
            MultipartUpload={"Parts": parts},
        ).result()
        records.remove()
    upload.fs.invalidate_cache(path)
    return sha256


def _resumable(
    upload: _Upload, records: _Records, wanted: Resume
) -> tuple[Resume, dict[int, str], Future[Any] | None]:
    """The upload to continue (the earlier attempt's, if it stored the same source and the
    server still has it) and the parts the server holds; else a new upload, and the future
    of its resume record being saved. A new upload is started beside the record's read
    (most uploads are new: one round trip less), and aborted if it is not needed."""
    loading = records.load()
    creating = upload.call("create_multipart_upload")
    earlier = loading.result()
    if earlier is not None and earlier.same_source(wanted):
        stored = upload.list_parts(earlier.upload_id)
        if stored is not None:
            upload.abort(creating.result()["UploadId"])
            return earlier, stored, None
    elif earlier is not None:  # the source changed, or is another file: what was sent is lost
        upload.abort(earlier.upload_id)
    resume = attrs.evolve(wanted, upload_id=creating.result()["UploadId"])
    return resume, {}, records.save(resume)


class _Upload:
    """S3's multipart calls for one key, run on the filesystem's event loop."""

    def __init__(self, fs: AbstractFileSystem, path: str) -> None:
        self.fs = fs
        self.bucket, self.key, _ = fs.split_path(path)

    def call(self, method: str, key: str | None = None, **kwargs: Any) -> Future[Any]:
        """Start ``method`` for this key (or `key`, in the same bucket); its future."""
        coroutine = self._call(method, key or self.key, kwargs)
        return asyncio.run_coroutine_threadsafe(coroutine, self.fs.loop)

    async def _call(self, method: str, key: str, kwargs: dict[str, Any]) -> Any:
        await self.fs.set_session()
        _send_bodies_whole(await self.fs.get_s3(self.bucket))
        return await self.fs._call_s3(method, Bucket=self.bucket, Key=key, **kwargs)

    def read(self, key: str) -> Future[bytes | None]:
        """Start reading the object `key` in the same bucket; None if it does not exist."""
        return asyncio.run_coroutine_threadsafe(self._read(key), self.fs.loop)

    async def _read(self, key: str) -> bytes | None:
        try:
            response = await self._call("get_object", key, {})
        except FileNotFoundError:
            return None
        try:
            return bytes(await response["Body"].read())
        finally:
            response["Body"].close()

    def list_parts(self, upload_id: str) -> dict[int, str] | None:
        """The parts stored for `upload_id` (number -> ETag), or None if it is gone."""
        parts: dict[int, str] = {}
        marker = 0
        while True:
            try:
                page = self.call("list_parts", UploadId=upload_id, PartNumberMarker=marker).result()
            except Exception as exc:
                if is_missing(exc):  # completed or aborted since
                    return None
                raise
            parts.update({p["PartNumber"]: p["ETag"] for p in page.get("Parts", [])})
            if not page.get("IsTruncated"):
                return parts
            marker = int(page["NextPartNumberMarker"])

    def abort(self, upload_id: str) -> None:
        """Abort `upload_id`; one already gone is no error."""
        try:
            self.call("abort_multipart_upload", UploadId=upload_id).result()
        except Exception as exc:
            if not is_missing(exc):
                raise


class _Records:
    """The resume record of one upload, stored beside the run's journal (in its bucket)."""

    def __init__(self, upload: _Upload, path: str) -> None:
        self._upload = upload
        self.key = upload.fs.split_path(path)[1]

    def load(self) -> Future[Resume | None]:
        """Start reading the record; its future (None: no record, or an unreadable one)."""
        loaded: Future[Resume | None] = Future()

        def parse(read: Future[bytes | None]) -> None:
            if (exc := read.exception()) is not None:
                loaded.set_exception(exc)
            else:
                raw = read.result()
                loaded.set_result(Resume.from_json(raw) if raw is not None else None)

        self._upload.read(self.key).add_done_callback(parse)
        return loaded

    def save(self, resume: Resume) -> Future[Any]:
        """Start writing `resume`; its future."""
        return self._upload.call("put_object", self.key, Body=resume.to_json())

    def remove(self) -> None:
        self._upload.call("delete_object", self.key).result()


class _Sender:
    """Reads a source part by part on the caller's thread, hashing it, and sends each part
    the server does not hold yet, `WINDOW` at once within the process's memory budget."""

    def __init__(
        self,
        upload: _Upload,
        resume: Resume,
        records: _Records,
        progress: Callable[[int], object] | None,
        saving: Future[Any] | None,
    ) -> None:
        self._upload = upload
        self._resume = resume
        self._records = records
        self._progress = progress
        self._saving = saving  # the resume record's last update, if one was started
        self._pending: dict[Future[Any], tuple[int, int]] = {}  # -> part number, bytes
        self._etags: dict[int, str] = {}
        self._saved = 0

    def send(self, src: IO[bytes], stored: dict[int, str]) -> tuple[str, int, dict[int, str]]:
        """Send `src` (up to the resume record's size); its sha256, the bytes read, and the
        ETag of every part."""
        digest = hashlib.sha256()
        part_size, size, read, number = self._resume.part_size, self._resume.size, 0, 0
        budget = _budget()
        try:
            while read < size:
                if _senders.stop.is_set():
                    msg = f"upload to {self._upload.key} stopped after {read} bytes: resumable"
                    raise UploadStoppedError(msg)
                want = min(part_size, size - read)
                budget.acquire(want)
                try:
                    chunk = src.read(want)
                except BaseException:
                    budget.release(want)
                    raise
                if not chunk:  # shorter than it was: the caller's check says so
                    budget.release(want)
                    break
                number += 1
                read += len(chunk)
                digest.update(chunk)  # hashlib releases the GIL: parts go up meanwhile
                etag = stored.get(number)
                if etag is not None and _same(etag, chunk):
                    budget.release(want)
                    self._etags[number] = etag
                    self._report(len(chunk))
                else:
                    self._start(number, chunk, budget, want)
                del chunk
                self._collect(block=len(self._pending) >= WINDOW)
            while self._pending:
                self._collect(block=True)
            if self._saving is not None:  # landed before the upload completes (and the
                self._saving.result()  # record is removed): never a record left behind
        finally:
            if self._pending:  # a failure: let what is in flight land before raising
                wait(list(self._pending))
        return digest.hexdigest(), read, self._etags

    def _start(self, number: int, chunk: bytes, budget: _Budget, want: int) -> None:
        future = self._upload.call(
            "upload_part", PartNumber=number, UploadId=self._resume.upload_id, Body=chunk
        )
        future.add_done_callback(lambda _: budget.release(want))
        self._pending[future] = (number, len(chunk))

    def _collect(self, *, block: bool) -> None:
        """Take the parts that landed (waiting for one if `block`); raise a failed one's error."""
        if block:
            wait(list(self._pending), return_when=FIRST_COMPLETED)
        for future in [f for f in self._pending if f.done()]:
            number, size = self._pending.pop(future)
            self._etags[number] = future.result()["ETag"]
            self._report(size)
        if len(self._etags) - self._saved >= SAVE_EVERY and (
            self._saving is None or self._saving.done()  # one update at a time, in order
        ):
            if self._saving is not None:
                self._saving.result()
            self._saved = len(self._etags)
            self._saving = self._records.save(attrs.evolve(self._resume, parts=dict(self._etags)))

    def _report(self, size: int) -> None:
        if self._progress is not None:
            self._progress(size)


def _send_bodies_whole(client: Any) -> None:
    """Make `client` (aiobotocore's) send part bodies as one buffer: botocore wraps them in
    a BytesIO, which aiohttp reads 64 KiB at a time, each read a hop to a worker thread."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register("before-send.s3.UploadPart", _whole_body, unique_id=_WHOLE_BODY)


_WHOLE_BODY = "aim-artifacts-whole-body"


def _whole_body(request: Any, **_: Any) -> None:
    """The body of `request` (signed already) as the bytes it holds (not a copy)."""
    if isinstance(request.body, io.BytesIO):
        request.body = request.body.getvalue()


def _same(etag: str, chunk: bytes) -> bool:
    """True if `etag` (an S3 part's) is the md5 of `chunk`."""
    return etag.strip('"') == hashlib.md5(chunk, usedforsecurity=False).hexdigest()


class _Budget:
    """Bytes that may be in flight; one taker may exceed it alone (a part larger than it)."""

    def __init__(self, total: int) -> None:
        self._total = total
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, n: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._used == 0 or self._used + n <= self._total)
            self._used += n

    def release(self, n: int) -> None:
        with self._changed:
            self._used -= n
            self._changed.notify_all()


_budgets: dict[int, _Budget] = {}


def _budget() -> _Budget:
    """This process's budget (a forked child gets its own)."""
    pid = os.getpid()
    if pid not in _budgets:
        _budgets.clear()
        _budgets[pid] = _Budget(MEMORY_BUDGET)
    return _budgets[pid]
