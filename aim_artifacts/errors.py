"""The package's one error tree.

Every error raised on purpose derives from `AimArtifactsError`; leaves also derive from the
builtin they mean, so existing ``except FileNotFoundError`` / ``except ValueError`` code keeps
working:

    AimArtifactsError
    ├── InvalidNameError (ValueError)           bad artifact name or run hash
    ├── InvalidMetadataError (ValueError)       metadata that is not a JSON object
    ├── InvalidCursorError (ValueError)         not a cursor of a page of runs
    ├── InvalidURIError (ValueError)            an artifacts URI that cannot be used as given
    ├── SourceNotFoundError (FileNotFoundError) the file or directory to log is missing
    ├── SourceIsDirectoryError (IsADirectoryError)   log_artifact given a directory
    ├── SourceNotDirectoryError (NotADirectoryError) log_artifacts given a file
    ├── SourceChangedError (OSError)            the source changed while it was read
    ├── ArtifactNotFoundError (FileNotFoundError, KeyError)
    ├── RunNotFoundError (LookupError)
    ├── StoreNotFoundError (FileNotFoundError)  the URI to read runs from does not exist
    ├── NotAStoreError (NotADirectoryError)     the URI names a file, not a directory
    ├── NoArtifactsURIError (RuntimeError)      no URI set and AIM_ARTIFACTS_URI unset
    ├── ArtifactsURIAlreadySetError (RuntimeError)
    ├── RunClosedError (RuntimeError)           logging to a closed run
    ├── BackendUnavailableError (ImportError)   unknown protocol or its package missing
    ├── SidecarError (ValueError)               a sidecar or journal entry that can't be read
    │   └── UnsupportedFormatError              written by a newer major format
    ├── IntegrityError (OSError)                stored bytes disagree with the record
    ├── StorageError (OSError)                  the backend failed; the cause is kept
    │   ├── BucketNotFoundError (FileNotFoundError)
    │   ├── AccessDeniedError (PermissionError)
    │   ├── InvalidCredentialsError (PermissionError)
    │   ├── EndpointUnreachableError (ConnectionError)
    │   └── ConcurrentUpdateError               the sidecar kept changing under us
    ├── UploadError (OSError)                   background uploads failed; see .failures
    └── UploadStoppedError (InterruptedError)   stopped for a preemption; it can resume

`is_missing` (not part of the tree, for the storage layer) recognises a backend's "no such
file" however it is worded.
"""

from __future__ import annotations

import errno

__all__ = [
    "AccessDeniedError",
    "AimArtifactsError",
    "ArtifactNotFoundError",
    "ArtifactsURIAlreadySetError",
    "BackendUnavailableError",
    "BucketNotFoundError",
    "ConcurrentUpdateError",
    "EndpointUnreachableError",
    "IntegrityError",
    "InvalidCredentialsError",
    "InvalidCursorError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidURIError",
    "NoArtifactsURIError",
    "NotAStoreError",
    "RunClosedError",
    "RunNotFoundError",
    "SidecarError",
    "SourceChangedError",
    "SourceIsDirectoryError",
    "SourceNotDirectoryError",
    "SourceNotFoundError",
    "StorageError",
    "StoreNotFoundError",
    "UnsupportedFormatError",
    "UploadError",
    "UploadStoppedError",
]


class AimArtifactsError(Exception):
    """Base of every error this package raises on purpose."""

    def __str__(self) -> str:
        # One message argument everywhere; builtins like OSError would otherwise format tuples.
        return str(self.args[0]) if self.args else ""


class InvalidNameError(AimArtifactsError, ValueError):
    """An artifact name or run hash that is not allowed."""


class InvalidMetadataError(AimArtifactsError, ValueError):
    """User metadata that is not a JSON-serialisable object."""


class InvalidCursorError(AimArtifactsError, ValueError):
    """A cursor that no page of runs gave (`Store.page`'s ``after``)."""


class InvalidURIError(AimArtifactsError, ValueError):
    """An artifacts URI that cannot be used as given (credentials where none are taken)."""


class SourceNotFoundError(AimArtifactsError, FileNotFoundError):
    """The local file or directory to log does not exist."""


class SourceIsDirectoryError(AimArtifactsError, IsADirectoryError):
    """`log_artifact` was given a directory."""


class SourceNotDirectoryError(AimArtifactsError, NotADirectoryError):
    """`log_artifacts` was given something that is not a directory."""


class SourceChangedError(AimArtifactsError, OSError):
    """The source file changed while it was being stored."""


class ArtifactNotFoundError(AimArtifactsError, FileNotFoundError, KeyError):
    """The run has no artifact of that name."""


class RunNotFoundError(AimArtifactsError, LookupError):
    """No run of that hash under the base URI."""


class StoreNotFoundError(AimArtifactsError, FileNotFoundError):
    """Nothing exists at the URI runs are read from."""


class NotAStoreError(AimArtifactsError, NotADirectoryError):
    """The artifacts URI names a file, where a directory of runs belongs."""


class NoArtifactsURIError(AimArtifactsError, RuntimeError):
    """Neither `set_artifacts_uri` nor `AIM_ARTIFACTS_URI` gave an artifacts URI."""


class ArtifactsURIAlreadySetError(AimArtifactsError, RuntimeError):
    """`set_artifacts_uri` called again with a different URI."""


class RunClosedError(AimArtifactsError, RuntimeError):
    """The run was closed; it takes no more artifacts."""


class BackendUnavailableError(AimArtifactsError, ImportError):
    """The URI's protocol is unknown, or the package that serves it is not installed."""


class SidecarError(AimArtifactsError, ValueError):
    """A sidecar or journal entry that cannot be read; the message says where."""


class UnsupportedFormatError(SidecarError):
    """A sidecar written in a newer major format than this version reads."""


class IntegrityError(AimArtifactsError, OSError):
    """Stored bytes whose size or sha256 disagree with the record."""


class StorageError(AimArtifactsError, OSError):
    """The storage backend failed; ``__cause__`` holds its error."""


class BucketNotFoundError(StorageError, FileNotFoundError):
    """The bucket (or container) does not exist; the message names it."""


class AccessDeniedError(StorageError, PermissionError):
    """The credentials are valid but not allowed to do this."""


class InvalidCredentialsError(StorageError, PermissionError):
    """The backend rejected the credentials, or wanted some (unknown key, bad signature,
    expired token; a refused FTP, SSH or SMB login)."""


class EndpointUnreachableError(StorageError, ConnectionError):
    """The storage endpoint could not be reached; the message names it."""


class ConcurrentUpdateError(StorageError):
    """The sidecar kept changing under us; the update was given up."""


class UploadError(AimArtifactsError, OSError):
    """One or more background uploads failed; none of them was recorded.

    ``failures`` maps each failed artifact name to the error that stopped it.
    """

    def __init__(self, message: str, failures: dict[str, BaseException] | None = None) -> None:
        super().__init__(message)
        self.failures: dict[str, BaseException] = dict(failures or {})

    def __reduce__(self) -> tuple[type[UploadError], tuple[str, dict[str, BaseException]]]:
        return type(self), (str(self), self.failures)


def is_missing(exc: BaseException) -> bool:
    """True if `exc` (or an error it was raised from) says "no such file or directory"."""
    for link in error_chain(exc):
        if isinstance(link, FileNotFoundError):
            return True
        if isinstance(link, OSError) and link.errno == errno.ENOENT:
            return True
        response = getattr(link, "response", None)  # httpx / requests responses
        if getattr(response, "status_code", None) in (404, 409):  # 409: no parent (WebDAV)
            return True
        text = str(link)
        if type(link).__name__ == "error_perm" and text.startswith("550") and "exists" not in text:
            return True  # ftplib: "550 No such file or directory." (not "550 File exists.")
    return False


def error_chain(exc: BaseException) -> list[BaseException]:
    """`exc` and the errors it was raised from or during, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_unreachable(exc: BaseException) -> bool:
    """True if `exc` (or an error it was raised from) says the server could not be reached:
    a refused or timed-out connection, an unknown host."""
    return any(
        isinstance(link, (ConnectionError, TimeoutError))
        or type(link).__name__ in _UNREACHABLE
        or (isinstance(link, OSError) and link.errno in _UNREACHABLE_ERRNOS)
        for link in error_chain(exc)
    )


_UNREACHABLE = {
    "ClientConnectorError",  # aiohttp (s3fs, gcsfs, adlfs)
    "ServerTimeoutError",
    "ConnectTimeout",  # httpx (webdav4)
    "ConnectError",
    "EndpointConnectionError",  # botocore
    "NoValidConnectionsError",  # paramiko (SFTP): every address refused
    "ConnectTimeoutError",
}
_UNREACHABLE_ERRNOS = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ETIMEDOUT}


def is_refused_login(exc: BaseException) -> bool:
    """True if `exc` (or an error it was raised from) says the server refused the
    credentials, or wanted some and got none: FTP's 530, SSH's and SMB's failed logons, HTTP
    401."""
    for link in error_chain(exc):
        name, text = type(link).__name__, str(link)
        response = getattr(link, "response", None)  # httpx / requests responses
        if (
            name in _REFUSED_LOGIN
            or (name == "error_perm" and text.startswith("530"))  # ftplib
            or (name == "SSHException" and "authentication" in text.lower())  # paramiko
            or getattr(response, "status_code", None) == 401
        ):
            return True
    return False


_REFUSED_LOGIN = {
    "AuthenticationException",  # paramiko (SFTP), and its BadAuthenticationType
    "BadAuthenticationType",
    "PasswordRequiredException",
    "LogonFailure",  # smbprotocol (SMB)
}


class UploadStoppedError(AimArtifactsError, InterruptedError):
    """An upload stopped at a part boundary as the process is preempted; the next attempt
    to log the same file under the same name resumes it."""
