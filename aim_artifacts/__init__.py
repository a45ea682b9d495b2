"""aim-artifacts: link training-run files to ML runs, on any storage fsspec reaches."""

from .__about__ import __version__ as __version__
from .errors import (
    AccessDeniedError,
    AimArtifactsError,
    ArtifactNotFoundError,
    ArtifactsURIAlreadySetError,
    BackendUnavailableError,
    BucketNotFoundError,
    ConcurrentUpdateError,
    EndpointUnreachableError,
    IntegrityError,
    InvalidCredentialsError,
    InvalidCursorError,
    InvalidMetadataError,
    InvalidNameError,
    NoArtifactsURIError,
    NotAStoreError,
    RunClosedError,
    RunNotFoundError,
    SidecarError,
    SourceChangedError,
    SourceIsDirectoryError,
    SourceNotDirectoryError,
    SourceNotFoundError,
    StorageError,
    StoreNotFoundError,
    UnsupportedFormatError,
    UploadError,
    UploadStoppedError,
)
from .integrity import VerifyReport
from .preemption import finish_on_signal
from .records import Artifact
from .run import Run
from .s3 import S3ArtifactStorage_clientconfig
from .store import RunsPage, RunSummary, Store
from .view import ENV_URI

__all__ = [
    "ENV_URI",
    "AccessDeniedError",
    "AimArtifactsError",
    "Artifact",
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
    "NoArtifactsURIError",
    "NotAStoreError",
    "Run",
    "RunClosedError",
    "RunNotFoundError",
    "RunSummary",
    "RunsPage",
    "S3ArtifactStorage_clientconfig",
    "SidecarError",
    "SourceChangedError",
    "SourceIsDirectoryError",
    "SourceNotDirectoryError",
    "SourceNotFoundError",
    "StorageError",
    "Store",
    "StoreNotFoundError",
    "UnsupportedFormatError",
    "UploadError",
    "UploadStoppedError",
    "VerifyReport",
    "finish_on_signal",
]
