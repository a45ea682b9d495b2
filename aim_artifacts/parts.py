"""Large files to S3 as concurrent multipart parts, hashed once as read, and resumable.

Used where the filesystem offers S3's calls as coroutines on its event loop (s3fs's
``_call_s3``: probed, never by class name); `transfer` streams through ``open("wb")``
elsewhere. The caller's thread reads the file once, in order, hashing each part as it is
read, while the filesystem's event loop sends up to `WINDOW` parts at once; the part bytes in
flight in the whole process stay within `MEMORY_BUDGET`.

Each part carries its sha256 (``ChecksumSHA256``, a signed header the server checks the
body against), computed on the reading thread; so the part's body is sent unsigned
(``UNSIGNED-PAYLOAD``, for UploadPart only) rather than hashed again by botocore's signer on
the event loop, one part after another: the body is as authenticated as with payload signing.
Where the client config asks for checksums only when required (servers without S3's
flexible checksums), parts go without one, their payload signed.

A resume record beside the journal (``.aim-artifacts.uploads/<hash of the path>.json``: the
upload id, part size, the source's path, size and mtime, the ETag and sha256 of each part
acknowledged; never a credential) lets the next attempt to store the same source at the same
path, from any process, list the parts already stored (ListParts), check each against the
source (by the sha256 recorded or listed for that ETag, else by the md5 an S3 part's ETag is),
send only the others and complete the upload. A changed source aborts the stale upload and
starts afresh.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import inspect
import io
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import IO, Any

import attrs
from fsspec.spec import AbstractFileSystem

from . import s3
from .errors import SourceChangedError, UploadStoppedError, is_missing
from .hashing import FileHasher
from .location import Location
from .names import RESERVED_PREFIX

__all__ = [
    "MEMORY_BUDGET",
    "UPLOADS_DIR",
    "WINDOW",
    "Resume",
    "load_resumes",
    "send_parts",
    "settle",
    "stop_sending",
    "takes_parts",
    "wait_idle",
]

log: logging.Logger = logging.getLogger(__name__)
UPLOADS_DIR = f"{RESERVED_PREFIX}.uploads"  # resume records, beside the journal
MEMORY_BUDGET = 128 * 2**20  # part bytes in flight in this process, all uploads together
WINDOW = 16  # parts in flight per upload (S3's connection pool holds at least as many)
SAVE_EVERY = 8  # acknowledged parts between two updates of the resume record
_FORMAT = 2  # 2: parts hold [ETag, sha256]; the upload checks each part's SHA256

Part = tuple[str, str | None]  # a stored part's ETag and sha256 (base64), where known


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
    checksums: bool  # the parts carry their sha256 (the upload was created for SHA256)
    parts: dict[int, Part] = attrs.field(factory=dict)  # part number -> acknowledged part

    def same_source(self, other: Resume) -> bool:
        """True if `other` stores the same source, cut the same way, at the same path."""
        fields = ("path", "source", "size", "mtime_ns", "part_size", "checksums")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    def to_json(self) -> bytes:
        data = attrs.asdict(self)
        data["parts"] = {str(n): list(part) for n, part in sorted(self.parts.items())}
        return json.dumps({"format": _FORMAT, **data}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Resume | None:
        """The record in `raw`, or None if it is unreadable or of another format."""
        try:
            data = json.loads(raw)
            if data.pop("format") != _FORMAT:
                return None
            data["parts"] = {int(n): (str(e), c and str(c)) for n, (e, c) in data["parts"].items()}
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
        checksums=upload.takes_checksums(),
    )
    records = _Records(upload, record_path(location, path))
    with _senders.sending():
        loading, creating = _start(upload, records, wanted)
        try:
            head = _Head.read(src, wanted)  # meanwhile: the first part, read and hashed
        except BaseException:
            with contextlib.suppress(Exception):
                upload.abort(creating.result()["UploadId"])
            raise
        try:
            resume, stored, saving = _resumable(upload, records, wanted, loading, creating)
        except BaseException:
            head.release()
            raise
        try:
            sender = _Sender(upload, resume, records, progress, saving)
            sha256, read, sent = sender.send(src, stored, head)
            check(read)
        except SourceChangedError:
            upload.abort(resume.upload_id)
            records.remove()
            raise
        parts = [
            {"PartNumber": n, "ETag": etag, **({"ChecksumSHA256": sha} if sha else {})}
            for n, (etag, sha) in sorted(sent.items())
        ]
        upload.call(
            "complete_multipart_upload",
            UploadId=resume.upload_id,
            MultipartUpload={"Parts": parts},
        ).result()
        _remove_later(records)
    upload.fs.invalidate_cache(path)
    return sha256


_removing: set[Future[Any]] = set()  # resume records of completed uploads, being removed
_removing_lock = threading.Lock()


def _remove_later(records: _Records) -> None:
    """Start removing the resume record of a completed upload; `settle` waits for it."""
    future = records.start_removal()
    with _removing_lock:
        _removing.add(future)
    future.add_done_callback(_removed)


def _removed(future: Future[Any]) -> None:
    with _removing_lock:
        _removing.discard(future)
    if (exc := future.exception()) is not None:  # the artifact is stored all the same
        log.warning("resume record of a completed upload left behind: %s", exc)


def settle() -> None:
    """Wait until the resume records of the uploads this process completed are removed.
    The removal starts as an upload completes, to go beside its journal entry; one that
    fails is logged, and harmless: the next attempt finds the upload gone, and ``repair``
    removes the record."""
    with _removing_lock:
        pending = list(_removing)
    wait(pending)


def _start(
    upload: _Upload, records: _Records, wanted: Resume
) -> tuple[Future[Resume | None], Future[Any]]:
    """Start reading the resume record and, beside it, a new upload (most uploads are new:
    one round trip less); their futures."""
    algorithm = {"ChecksumAlgorithm": "SHA256"} if wanted.checksums else {}
    return records.load(), upload.call("create_multipart_upload", **algorithm)


def _resumable(
    upload: _Upload,
    records: _Records,
    wanted: Resume,
    loading: Future[Resume | None],
    creating: Future[Any],
) -> tuple[Resume, dict[int, Part], Future[Any] | None]:
    """The upload to continue (the earlier attempt's, if it stored the same source and the
    server still has it) and the parts the server holds; else the new upload (`creating`;
    aborted if not needed), and the future of its resume record being saved."""
    earlier = loading.result()
    if earlier is not None and earlier.same_source(wanted):
        listed = upload.list_parts(earlier.upload_id)
        if listed is not None:
            upload.abort(creating.result()["UploadId"])
            return earlier, _known(listed, earlier.parts), None
    elif earlier is not None:  # the source changed, or is another file: what was sent is lost
        upload.abort(earlier.upload_id)
    resume = attrs.evolve(wanted, upload_id=creating.result()["UploadId"])
    return resume, {}, records.save(resume)


def _known(listed: dict[int, Part], recorded: dict[int, Part]) -> dict[int, Part]:
    """The parts `listed` by the server, each with its sha256 where the server gave it, or
    where the record holds the same ETag with a sha256 (the part it acknowledged)."""
    known = {}
    for number, (etag, sha) in listed.items():
        etag_then, sha_then = recorded.get(number, ("", None))
        known[number] = (etag, sha or (sha_then if etag_then == etag else None))
    return known


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
        _send_parts_as_checked(await self.fs.get_s3(self.bucket))
        return await self.fs._call_s3(method, Bucket=self.bucket, Key=key, **kwargs)

    def takes_checksums(self) -> bool:
        """False where the client config computes checksums only when an operation requires
        them (``request_checksum_calculation="when_required"``: servers without them)."""
        return asyncio.run_coroutine_threadsafe(self._takes_checksums(), self.fs.loop).result()

    async def _takes_checksums(self) -> bool:
        await self.fs.set_session()
        config = (await self.fs.get_s3(self.bucket)).meta.config
        return getattr(config, "request_checksum_calculation", None) != "when_required"

    def read(self, key: str) -> Future[bytes | None]:
        """Start reading the object `key` in the same bucket; None if it does not exist."""
        return asyncio.run_coroutine_threadsafe(self._read(key), self.fs.loop)

    async def _read(self, key: str) -> bytes | None:
        found = await s3.get_object(self.fs, self.bucket, key)
        return None if found is None else found[0]

    def list_parts(self, upload_id: str) -> dict[int, Part] | None:
        """The parts stored for `upload_id` (number -> ETag and sha256, if the server gives
        it), or None if it is gone."""
        parts: dict[int, Part] = {}
        marker = 0
        while True:
            try:
                page = self.call("list_parts", UploadId=upload_id, PartNumberMarker=marker).result()
            except Exception as exc:
                if is_missing(exc):  # completed or aborted since
                    return None
                raise
            for p in page.get("Parts", []):
                parts[p["PartNumber"]] = (p["ETag"], p.get("ChecksumSHA256"))
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
        self.start_removal().result()

    def start_removal(self) -> Future[Any]:
        """Start removing the record; its future."""
        return self._upload.call("delete_object", self.key)


@attrs.frozen
class _Head:
    """A source's first part, read and hashed while its upload is being created, its
    bytes taken from the process's memory budget."""

    chunk: bytes
    want: int  # the budget taken
    digest: Any  # the file's sha256 so far (hashlib's)
    sha: str | None  # the part's, as S3 takes it, if the upload's parts carry it

    @classmethod
    def read(cls, src: IO[bytes], wanted: Resume) -> _Head:
        want = min(wanted.part_size, wanted.size)
        chunk = _read_within_budget(src, want)
        sha = _part_sha256(chunk) if wanted.checksums else None
        return cls(chunk, want, hashlib.sha256(chunk), sha)

    def release(self) -> None:
        _budget().release(self.want)


class _Sender:
    """Reads a source part by part on the caller's thread, hashing it, and sends each part
    the server does not hold yet, `WINDOW` at once within the process's memory budget.

    While the reader checks parts the server holds (a resumed upload), the window is kept
    busy with the parts it lacks further on, read by offset; the reader reads those again,
    in order, for the file's sha256 only."""

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
        self._pending: dict[Future[Any], tuple[int, int, str | None]] = {}  # -> number, bytes, sha
        self._parts: dict[int, Part] = {}
        self._unsaved = 0  # parts acknowledged since the resume record's last update
        self._budget = _budget()
        self._ahead: set[int] = set()  # parts sent ahead of the reader
        self._cursor = 0  # the last part considered for sending ahead

    def send(
        self, src: IO[bytes], stored: dict[int, Part], head: _Head
    ) -> tuple[str, int, dict[int, Part]]:
        """Send `src` (up to the resume record's size), its first part read as `head`; its
        sha256, the bytes read, and the ETag and sha256 of every part.

        Resuming, the file's sha256 is computed by a thread of its own reading the file in
        order, while this one checks the parts stored and skips those sent ahead: the
        hashing is spread over two cores, and no part is read twice on this thread."""
        with contextlib.ExitStack() as stack:
            whole = None
            if stored:
                whole = stack.enter_context(FileHasher(self._resume.source, self._resume.size))
            try:
                read = self._read(src, stored, head, head.digest if whole is None else None)
                while self._pending:
                    self._collect(block=True)
                if self._saving is not None:  # landed before the upload completes (and the
                    self._saving.result()  # record is removed): never a record left behind
            finally:
                if self._pending:  # a failure: let what is in flight land before raising
                    wait(list(self._pending))
            sha256 = head.digest.hexdigest() if whole is None else whole.result(read).sha256
        return sha256, read, self._parts

    def _read(self, src: IO[bytes], stored: dict[int, Part], head: _Head, digest: Any) -> int:
        """Read `src` part by part, from `head` on, taking each part (`_take`) and feeding
        `digest` (if any); skip the parts sent ahead. The bytes read (or skipped)."""
        part_size, size, read, number = self._resume.part_size, self._resume.size, 0, 0
        if not head.chunk or _senders.stop.is_set():  # shorter than it was, or stopped
            head.release()
            size = size if head.chunk else 0  # shorter: the caller's check says so
        else:
            number, read = 1, len(head.chunk)
            self._take(src, number, head.chunk, stored, head.want, sha=head.sha)
        while read < size:
            if _senders.stop.is_set():
                msg = f"upload to {self._upload.key} stopped after {read} bytes: resumable"
                raise UploadStoppedError(msg)
            want = min(part_size, size - read)
            number += 1
            if number in self._ahead:  # sent already; the file's hash reads it on its own
                src.seek(want, os.SEEK_CUR)
                read += want
                continue
            chunk = _read_within_budget(src, want)
            if not chunk:  # shorter than it was: the caller's check says so
                self._budget.release(want)
                break
            read += len(chunk)
            if digest is not None:
                digest.update(chunk)  # hashlib releases the GIL: parts go up meanwhile
            self._take(src, number, chunk, stored, want)
            del chunk
        return read

    def _take(
        self,
        src: IO[bytes],
        number: int,
        chunk: bytes,
        stored: dict[int, Part],
        want: int,
        *,
        sha: str | None = None,
    ) -> None:
        """Send part `number` unless the server holds it (then, send the parts it lacks
        further on meanwhile); the `want` bytes of budget taken for it are given back once
        it is done with."""
        budget = self._budget
        sha = sha or self._sha256(chunk)
        part = stored.get(number)
        if part is not None and _holds(part, chunk, sha):
            budget.release(want)
            self._parts[number] = (part[0], sha)
            self._report(len(chunk))
        else:
            while len(self._pending) >= WINDOW:
                self._collect(block=True)
            self._start(number, chunk, sha, want)
        self._collect(block=False)
        if part is not None:
            self._send_ahead(src, number, stored)

    def _send_ahead(self, src: IO[bytes], number: int, stored: dict[int, Part]) -> None:
        """Start the parts after `number` the server lacks while the window and the budget
        have room, leaving a part's room for the reader."""
        part_size, size = self._resume.part_size, self._resume.size
        candidate = max(self._cursor, number) + 1
        while len(self._pending) < WINDOW - 1 and not _senders.stop.is_set():
            while candidate in stored:
                candidate += 1
            offset = (candidate - 1) * part_size
            want = min(part_size, size - offset)
            if want <= 0 or not self._budget.try_acquire(want, leave=part_size):
                return
            chunk = os.pread(src.fileno(), want, offset)
            if len(chunk) != want:  # shorter than it was: the reader sees it and stops
                self._budget.release(want)
                return
            self._start(candidate, chunk, self._sha256(chunk), want)
            self._ahead.add(candidate)
            self._cursor = candidate
            candidate += 1

    def _sha256(self, chunk: bytes) -> str | None:
        """The part's sha256 as S3 takes it, if the upload's parts carry it."""
        return _part_sha256(chunk) if self._resume.checksums else None

    def _start(self, number: int, chunk: bytes, sha: str | None, want: int) -> None:
        checksum = {"ChecksumSHA256": sha} if sha else {}
        future = self._upload.call(
            "upload_part",
            PartNumber=number,
            UploadId=self._resume.upload_id,
            Body=chunk,
            **checksum,
        )
        budget = self._budget
        future.add_done_callback(lambda _: budget.release(want))
        self._pending[future] = (number, len(chunk), sha)

    def _collect(self, *, block: bool) -> None:
        """Take the parts that landed (waiting for one if `block`); raise a failed one's error."""
        if block:
            wait(list(self._pending), return_when=FIRST_COMPLETED)
        for future in [f for f in self._pending if f.done()]:
            number, size, sha = self._pending.pop(future)
            self._parts[number] = (future.result()["ETag"], sha)
            self._unsaved += 1
            self._report(size)
        every_part = len(self._parts) * self._resume.part_size >= self._resume.size
        if (
            self._unsaved >= SAVE_EVERY  # parts found stored are the server's to list
            and not every_part  # next comes the completion: nothing left to resume
            and (self._saving is None or self._saving.done())  # one update at a time, in order
        ):
            if self._saving is not None:
                self._saving.result()
            self._unsaved = 0
            self._saving = self._records.save(attrs.evolve(self._resume, parts=dict(self._parts)))

    def _report(self, size: int) -> None:
        if self._progress is not None:
            self._progress(size)


def _send_parts_as_checked(client: Any) -> None:
    """Make `client` (aiobotocore's) send a part that carries its sha256 with an unsigned
    payload (`_unsigned_payload`), as one buffer (`_whole_body`). Only UploadPart changes;
    the client's config is left as it is."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register("before-sign.s3.UploadPart", _unsigned_payload, unique_id=_UNSIGNED)
        events.register("before-send.s3.UploadPart", _whole_body, unique_id=_WHOLE_BODY)


_UNSIGNED = "aim-artifacts-unsigned-payload"
_WHOLE_BODY = "aim-artifacts-whole-body"
_SHA256_HEADER = "x-amz-checksum-sha256"


def _unsigned_payload(request: Any, **_: Any) -> None:
    """Sign `request` (a part carrying its sha256 in a signed header, which the server checks
    the body against) without hashing its body again: on this request's own copy of the
    client config, unless the user set ``payload_signing_enabled`` themselves."""
    config = request.context.get("client_config")
    s3 = dict(getattr(config, "s3", None) or {})
    if _SHA256_HEADER not in request.headers or s3.get("payload_signing_enabled") is not None:
        return
    config = copy.copy(config)
    config.s3 = {**s3, "payload_signing_enabled": False}
    request.context["client_config"] = config


def _whole_body(request: Any, **_: Any) -> None:
    """The body of `request` (signed already) as the bytes it holds (not a copy)."""
    if isinstance(request.body, io.BytesIO):
        request.body = request.body.getvalue()


def _read_within_budget(src: IO[bytes], want: int) -> bytes:
    """Read up to `want` bytes of `src`, taking `want` from the process's memory budget
    first (given back here if the read fails; the caller gives it back otherwise)."""
    budget = _budget()
    budget.acquire(want)
    try:
        return src.read(want)
    except BaseException:
        budget.release(want)
        raise


def _part_sha256(chunk: bytes) -> str:
    """A part's sha256 as S3 takes it (base64)."""
    return base64.b64encode(hashlib.sha256(chunk).digest()).decode()


def _holds(part: Part, chunk: bytes, sha: str | None) -> bool:
    """True if the stored `part` holds `chunk` (whose sha256 is `sha`, if computed): by the
    part's sha256 where known, else by its ETag (the md5 of an S3 part's bytes)."""
    etag, stored_sha = part
    if stored_sha is not None and sha is not None:
        return stored_sha == sha
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

    def try_acquire(self, n: int, leave: int) -> bool:
        """Take `n` if `leave` more would still fit; True if taken."""
        with self._changed:
            if self._used + n + leave > self._total:
                return False
            self._used += n
            return True

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
