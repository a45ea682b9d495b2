"""S3 specifics: Aim-compatible client config, error translation, conditional writes.

``S3ArtifactStorage_clientconfig(**boto3_client_kwargs)`` takes what users pass to
``boto3.client("s3", ...)`` and maps it to s3fs storage options:

==========================  =============================
boto3.client argument       s3fs storage option
==========================  =============================
aws_access_key_id           key
aws_secret_access_key       secret
aws_session_token           token
endpoint_url                endpoint_url
use_ssl                     use_ssl
region_name                 client_kwargs["region_name"]
verify                      client_kwargs["verify"]
api_version                 client_kwargs["api_version"]
aws_account_id              client_kwargs["aws_account_id"]
config (dict or Config)     config_kwargs
==========================  =============================
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from fsspec.asyn import sync
from fsspec.core import split_protocol
from fsspec.spec import AbstractFileSystem

from .errors import (
    AccessDeniedError,
    BucketNotFoundError,
    EndpointUnreachableError,
    InvalidCredentialsError,
    error_chain,
    is_unreachable,
)
from .names import RESERVED_PREFIX

__all__ = [
    "BOTO3_TIMEOUT",
    "Conflict",
    "S3ArtifactStorage_clientconfig",
    "abort_incomplete_uploads",
    "client_config",
    "get_object",
    "has_conditional_writes",
    "list_names",
    "put_if",
    "read_with_etag",
    "speaks_s3",
    "storage_options",
    "translate_error",
]

S3_PROTOCOLS = ("s3", "s3a")
BOTO3_TIMEOUT = 60  # boto3's connect and read timeouts; s3fs's own are 5 s and 15 s
DEFAULT_POOL = 10  # botocore's max_pool_connections

_TOP_LEVEL = {
    "aws_access_key_id": "key",
    "aws_secret_access_key": "secret",
    "aws_session_token": "token",
    "endpoint_url": "endpoint_url",
    "use_ssl": "use_ssl",
}
_CLIENT_KWARGS = ("region_name", "verify", "api_version", "aws_account_id")
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "412", "409"}
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
}

log: logging.Logger = logging.getLogger(__name__)

_client_config: dict[str, Any] = {}  # as s3fs storage options
_client_kwargs: dict[str, Any] = {}  # as given, boto3.client arguments
_client_config_lock = threading.Lock()


def S3ArtifactStorage_clientconfig(**boto3_client_kwargs: Any) -> None:
    """Use these ``boto3.client("s3", ...)`` arguments for every ``s3://`` artifacts URI
    resolved from now on (replacing an earlier call). Storage options given to
    ``set_artifacts_uri`` win over them.

    Raises:
        TypeError: an argument this library cannot honour (named in the message).
    """
    options = _from_boto3(boto3_client_kwargs)
    given = copy.deepcopy(boto3_client_kwargs)
    with _client_config_lock:
        _client_config.clear()
        _client_config.update(options)
        _client_kwargs.clear()
        _client_kwargs.update(given)


def client_config() -> dict[str, Any]:
    """A copy of the ``boto3.client`` arguments of the last `S3ArtifactStorage_clientconfig`
    call (``{}`` before any)."""
    with _client_config_lock:
        return copy.deepcopy(_client_kwargs)


def _from_boto3(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for name, value in kwargs.items():
        if name in _TOP_LEVEL:
            options[_TOP_LEVEL[name]] = value
        elif name in _CLIENT_KWARGS:
            options.setdefault("client_kwargs", {})[name] = value
        elif name == "config":
            options["config_kwargs"] = _config_options(value)
        else:
            msg = f"S3ArtifactStorage_clientconfig() cannot honour the argument {name!r}"
            raise TypeError(msg)
    return copy.deepcopy(options)


def _config_options(config: Any) -> dict[str, Any]:
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    provided = getattr(config, "_user_provided_options", None)  # botocore.config.Config
    if isinstance(provided, dict):
        return dict(provided)
    msg = f"config must be a dict or a botocore Config, not {type(config).__name__}"
    raise TypeError(msg)


def storage_options(
    target_protocols: tuple[str, ...], options: Mapping[str, Any], pool_size: int
) -> dict[str, Any]:
    """`options` completed for S3: boto3's timeouts, a connection pool of at least
    `pool_size`, then the client config; the given `options` win over both. Other protocols
    get `options` unchanged. For a chained URL the S3 layer's options are completed."""
    given: dict[str, Any] = copy.deepcopy(dict(options))
    if not target_protocols or target_protocols[-1] not in S3_PROTOCOLS:
        return given
    defaults = {
        "config_kwargs": {
            "connect_timeout": BOTO3_TIMEOUT,
            "read_timeout": BOTO3_TIMEOUT,
            "max_pool_connections": max(DEFAULT_POOL, pool_size),
        }
    }
    with _client_config_lock:
        configured = _merge(defaults, _client_config)
    if len(target_protocols) == 1:
        return _merge(configured, given)
    layer = target_protocols[-1]
    return {**given, layer: _merge(configured, given.get(layer, {}))}


def protocols_of(uri: str) -> tuple[str, ...]:
    """The protocols of a (possibly chained) URL, outermost first; ``()`` for a plain path."""
    *outer, last = uri.split("::")
    target = split_protocol(last)[0]
    if target is None:
        return ()
    return (*(split_protocol(part)[0] or part for part in outer), target)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def translate_error(exc: BaseException, uri: str, fs: AbstractFileSystem) -> Exception | None:
    """Our error for an S3 failure (missing bucket, access denied, bad credentials,
    unreachable endpoint), or None when `exc` is none of those."""
    code = _client_error_code(exc)
    if code == "NoSuchBucket" or (code is None and "bucket does not exist" in str(exc)):
        bucket = uri.split("://", 1)[-1].split("/", 1)[0]
        return BucketNotFoundError(f"bucket {bucket!r} does not exist ({uri})")
    if code in _CREDENTIAL_CODES:
        return InvalidCredentialsError(f"S3 rejected the credentials for {uri}: {exc}")
    if any(type(link).__name__ in _NO_CREDENTIALS for link in error_chain(exc)):
        return InvalidCredentialsError(f"no usable S3 credentials for {uri}: {exc}")
    if code in ("AccessDenied", "403", "AllAccessDisabled") or isinstance(exc, PermissionError):
        return AccessDeniedError(f"access denied to {uri}: {exc}")
    if is_unreachable(exc):
        endpoint = _endpoint(fs)
        return EndpointUnreachableError(f"cannot reach the S3 endpoint {endpoint}: {exc}")
    return None


_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"}


def _client_error_code(exc: BaseException) -> str | None:
    for link in error_chain(exc):
        response = getattr(link, "response", None)
        if isinstance(response, dict) and "Error" in response:
            return str(response["Error"].get("Code", ""))
    return None


def _endpoint(fs: AbstractFileSystem) -> str:
    endpoint = getattr(fs, "endpoint_url", None) or fs.storage_options.get("endpoint_url")
    client = getattr(fs, "s3", None)
    if endpoint is None and client is not None:
        endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
    return str(endpoint or "(AWS default)")


def abort_incomplete_uploads(
    fs: AbstractFileSystem, path: str, keep: Callable[[Mapping[str, Any]], bool] | None = None
) -> list[str]:
    """Abort the multipart uploads left unfinished below `path`, except those `keep` (given
    ``list_multipart_uploads``'s entry: ``Key``, ``UploadId``, ``Initiated``) says to keep;
    return the keys aborted.

    Servers that cannot list multipart uploads (s3rver) have none to abort: logged, not raised.
    """
    bucket, _, prefix = path.partition("/")
    try:
        response = fs.call_s3(
            "list_multipart_uploads", Bucket=bucket, Prefix=prefix.rstrip("/") + "/"
        )
    except OSError as exc:
        if _client_error_code(exc) != "NotImplemented":
            raise
        log.warning("%s cannot list multipart uploads; none aborted", _endpoint(fs))
        return []
    aborted = []
    for upload in response.get("Uploads", []):
        if keep is not None and keep(upload):
            continue
        fs.call_s3(
            "abort_multipart_upload", Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
        )
        aborted.append(f"{bucket}/{upload['Key']}")
    return aborted


def list_names(
    fs: AbstractFileSystem, path: str, *, after: str | None, limit: int, folders: bool = False
) -> tuple[list[str], bool] | None:
    """One ListObjectsV2 request: up to `limit` names of the keys directly below the folder
    `path` whose names sort after `after` (with `folders`, the sub-folders' names too), in
    order, and whether more follow; None when `fs` does not make S3's calls (list some
    other way).
    """
    if not speaks_s3(fs):
        return None
    bucket, _, prefix = path.partition("/")
    prefix = f"{prefix.strip('/')}/" if prefix.strip("/") else ""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": limit}
    if after is not None:
        request["StartAfter"] = prefix + after
    if folders:
        request["Delimiter"] = "/"
    response = fs.call_s3("list_objects_v2", **request)
    names = [o["Key"][len(prefix) :] for o in response.get("Contents", [])]
    names += [p["Prefix"][len(prefix) :].rstrip("/") for p in response.get("CommonPrefixes", [])]
    return sorted(n for n in names if n and "/" not in n), bool(response.get("IsTruncated"))


def speaks_s3(fs: AbstractFileSystem) -> bool:
    """True if `fs` makes S3's API calls itself (s3fs's ``call_s3``): declared by the
    filesystem, not looked up by its class; wrappers (caches, ``dir::``) do not."""
    return callable(getattr(type(fs), "call_s3", None))


# -- conditional writes (the sidecar's compare-and-swap) -------------------------------------


class Conflict(Exception):
    """The object changed since it was read (a lost compare-and-swap)."""


_conditional_writes: dict[tuple[str, str], bool] = {}  # (endpoint, bucket) -> probed answer


def has_conditional_writes(fs: AbstractFileSystem, path: str) -> bool:
    """True if `fs` makes S3's calls and the server honours conditional PUTs in `path`'s
    bucket.

    Not every S3-compatible server does (s3rver ignores ``If-None-Match`` / ``If-Match`` and
    overwrites), so this is probed once per endpoint and bucket with a scratch object in
    `path`: a second ``If-None-Match: *`` PUT and an ``If-Match`` PUT with a wrong ETag must
    both be refused.
    """
    if not speaks_s3(fs):
        return False
    key = (_endpoint(fs), path.split("/", 1)[0])
    if key not in _conditional_writes:
        _conditional_writes[key] = answer = _probe_conditional_writes(fs, path)
        if not answer:
            log.warning(
                "S3 endpoint %s ignores conditional writes in bucket %r: folds keep journal "
                "entries (see docs/backends.md)",
                *key,
            )
    return _conditional_writes[key]


def _probe_conditional_writes(fs: AbstractFileSystem, path: str) -> bool:
    probe = f"{path}/{RESERVED_PREFIX}-probe-{uuid.uuid4().hex}"
    try:
        put_if(fs, probe, b"", None)
        for etag in (None, '"0"'):  # exists already; never had this ETag
            try:
                put_if(fs, probe, b"", etag)
            except Conflict:
                continue
            return False
        return True
    except OSError as exc:
        if _client_error_code(exc) == "NotImplemented":
            return False
        raise
    finally:
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(probe)


def read_with_etag(fs: AbstractFileSystem, path: str) -> tuple[bytes | None, str | None]:
    """The object's bytes and the ETag they belong to (one GetObject: s3fs's ``open`` asks
    for the size first, and for a missing object lists its folder too); ``(None, None)``
    if it is missing."""
    bucket, _, key = path.partition("/")
    found = sync(fs.loop, get_object, fs, bucket, key)
    return (None, None) if found is None else found


async def get_object(fs: AbstractFileSystem, bucket: str, key: str) -> tuple[bytes, str] | None:
    """The object's bytes and ETag from one GetObject on s3fs's loop; None if it is missing."""
    try:
        response = await fs._call_s3("get_object", Bucket=bucket, Key=key)
    except FileNotFoundError:
        return None
    try:
        return bytes(await response["Body"].read()), response["ETag"]
    finally:
        response["Body"].close()


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
    return _client_error_code(exc) in _CONFLICT_CODES
