"""S3 specifics: conditional writes for the sidecar (``If-Match`` / ``If-None-Match``)."""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractFileSystem

__all__ = ["Conflict", "has_conditional_writes", "put_if", "read_with_etag"]

_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}


class Conflict(Exception):
    """The object changed since it was read (a lost compare-and-swap)."""


def has_conditional_writes(fs: AbstractFileSystem) -> bool:
    """True for s3fs filesystems, whose PUTs take ``IfMatch`` / ``IfNoneMatch``."""
    import s3fs  # noqa: PLC0415 - s3fs is imported only when S3 is used

    return isinstance(fs, s3fs.S3FileSystem)


def read_with_etag(fs: AbstractFileSystem, path: str) -> tuple[bytes | None, str | None]:
    """The object's bytes and the ETag they belong to; ``(None, None)`` if it is missing.

    Raises:
        Conflict: the object changed while it was read.
    """
    fs.invalidate_cache(path)
    try:
        with fs.open(path, "rb") as f:
            return f.read(), f.details["ETag"]
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if _is_conflict(exc):
            raise Conflict(str(exc)) from exc
        raise


def put_if(fs: AbstractFileSystem, path: str, data: bytes, etag: str | None) -> None:
    """Write `data` only if the object still has `etag` (or, for None, does not exist).

    Raises:
        Conflict: it changed (or appeared) since it was read.
    """
    condition: dict[str, Any] = {"IfMatch": etag} if etag else {"IfNoneMatch": "*"}
    try:
        fs.pipe_file(path, data, **condition)
    except OSError as exc:
        if _is_conflict(exc):
            raise Conflict(str(exc)) from exc
        raise
    finally:
        fs.invalidate_cache(path)


def _is_conflict(exc: BaseException) -> bool:
    if isinstance(exc, FileExistsError) or type(exc).__name__ == "FileExpired":
        return True
    cause = exc.__cause__
    response = getattr(cause, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    return code in _CONFLICT_CODES
