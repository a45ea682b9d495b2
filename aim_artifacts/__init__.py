"""aim-artifacts: link training-run files to ML runs, on any storage fsspec reaches."""

from .errors import (
    AimArtifactsError,
    ArtifactNotFoundError,
    ArtifactsURIAlreadySetError,
    BackendUnavailableError,
    ConcurrentUpdateError,
    IntegrityError,
    InvalidMetadataError,
    InvalidNameError,
    NoArtifactsURIError,
    RunClosedError,
    RunNotFoundError,
    SidecarError,
    SourceChangedError,
    SourceIsDirectoryError,
    SourceNotDirectoryError,
    SourceNotFoundError,
    StorageError,
    UnsupportedFormatError,
    UploadError,
)
from .records import Artifact
from .run import Run
from .store import Store

__all__ = [
    "AimArtifactsError",
    "Artifact",
    "ArtifactNotFoundError",
    "ArtifactsURIAlreadySetError",
    "BackendUnavailableError",
    "ConcurrentUpdateError",
    "IntegrityError",
    "InvalidMetadataError",
    "InvalidNameError",
    "NoArtifactsURIError",
    "Run",
    "RunClosedError",
    "RunNotFoundError",
    "SidecarError",
    "SourceChangedError",
    "SourceIsDirectoryError",
    "SourceNotDirectoryError",
    "SourceNotFoundError",
    "StorageError",
    "Store",
    "UnsupportedFormatError",
    "UploadError",
]
