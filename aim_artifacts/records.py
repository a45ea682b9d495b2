"""The `Artifact` record and its explicit mapping to and from JSON (pure: no I/O)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from .errors import InvalidMetadataError, SidecarError
from .formatting import format_time, parse_time
from .names import check_name, is_valid_name

__all__ = ["Artifact", "Artifacts", "Downloader", "check_metadata"]

_SHA256 = re.compile(r"[0-9a-f]{64}")


class Downloader(Protocol):
    """What a record is bound to, to read its stored bytes back."""

    def download(self, artifact: Artifact, dest_dir: str | None) -> str:
        """Copy `artifact` to ``<dest_dir>/<name>`` (a new temp dir if None), checked; the
        local path."""

    def upath(self, artifact: Artifact) -> Any:
        """A ``upath.UPath`` of the stored object, with its storage options."""


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of user metadata.

    Raises:
        InvalidMetadataError: it is not a mapping with str keys that JSON can encode.
    """
    if not metadata and isinstance(metadata, (dict, type(None))):
        return {}
    if not isinstance(metadata, Mapping):
        msg = f"metadata must be a dict, not {type(metadata).__name__}"
        raise InvalidMetadataError(msg)
    try:
        _check_keys(metadata)
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        msg = f"metadata must be JSON-serialisable: {exc}"
        raise InvalidMetadataError(msg) from exc


def _check_keys(value: Any) -> None:
    """JSON would silently turn non-str keys into strings; refuse them instead."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                msg = f"keys must be str, got {key!r}"
                raise TypeError(msg)
            _check_keys(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _check_keys(item)


def _is_utc(_: object, attribute: attrs.Attribute, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() != dt.timedelta(0):
        msg = f"{attribute.name} must be timezone-aware UTC, got {value!r}"
        raise ValueError(msg)


def _is_sha256(_: object, attribute: attrs.Attribute, value: str | None) -> None:
    if value is not None and not _SHA256.fullmatch(value):
        msg = f"{attribute.name} must be 64 lowercase hex characters, got {value!r}"
        raise ValueError(msg)


@attrs.frozen
class Artifact:
    """One stored artifact of a run.

    ``sha256`` is ``None`` only on the record a non-blocking ``log_artifact`` returns before
    its upload finished; the stored record (``run.artifacts``) always has it.
    """

    name: str = attrs.field(validator=lambda _, __, v: check_name(v))
    path: str = attrs.field(validator=attrs.validators.instance_of(str))
    uri: str = attrs.field(validator=attrs.validators.instance_of(str))
    size: int = attrs.field(validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)])
    sha256: str | None = attrs.field(validator=_is_sha256)
    created_at: dt.datetime = attrs.field(validator=_is_utc)
    content_type: str = attrs.field(
        default="application/octet-stream", validator=attrs.validators.instance_of(str)
    )
    # pyright --verifytypes lists "Artifact.__converterDescriptor_metadata" as a class without
    # a docstring: the descriptor it synthesises for a converter field; there is none to write.
    metadata: dict[str, Any] = attrs.field(factory=dict, converter=check_metadata, hash=False)
    _downloader: Downloader | None = attrs.field(
        default=None, eq=False, repr=False, hash=False, alias="downloader"
    )

    def download(self, dest_dir: str | None = None) -> str:
        """Download to ``<dest_dir>/<name>`` (a new temp dir if None), checking sha256.

        Returns:
            The local path of the file.

        Raises:
            IntegrityError: the stored bytes do not match the record (no file is left).
            ArtifactNotFoundError: the object is gone from storage.
            StorageError: the backend failed.
        """
        if self._downloader is None:
            msg = f"artifact {self.name!r} is not bound to a run; use Run.artifacts"
            raise RuntimeError(msg)
        return self._downloader.download(self, dest_dir)

    @property
    def upath(self) -> Any:
        """A ``upath.UPath`` of the stored object, with its storage options, to read it
        directly (``art.upath.read_bytes()``, ``art.upath.open()``)."""
        if self._downloader is None:
            msg = f"artifact {self.name!r} is not bound to a run; use Run.artifacts"
            raise RuntimeError(msg)
        return self._downloader.upath(self)

    def _repr_html_(self) -> str:
        from .display import artifact_table  # noqa: PLC0415 - only notebooks need it

        return artifact_table([self])

    def to_dict(self) -> dict[str, Any]:
        """The record as stored in the sidecar."""
        return {
            "name": self.name,
            "path": self.path,
            "uri": self.uri,
            "size": self.size,
            "sha256": self.sha256,
            "created_at": format_time(self.created_at),
            "content_type": self.content_type,
            "metadata": self.metadata,
        }

    @classmethod
    def from_dict(
        cls, data: Any, *, where: str = "artifact", downloader: Downloader | None = None
    ) -> Artifact:
        """Build a record from its sidecar form; unknown keys are ignored.

        Raises:
            SidecarError: a key is missing or has a wrong value; the message says where.
        """
        record = _assemble(data, downloader) if cls is Artifact else None
        if record is not None and is_valid_name(record.name):
            return record
        return _checked(cls, data, where, downloader)

    def __repr__(self) -> str:
        return f"Artifact(name={self.name!r}, size={self.size}, uri={self.uri!r})"


def from_stored(data: Any, *, sidecar: str, downloader: Downloader | None) -> Artifact:
    """`Artifact.from_dict` for a record of the sidecar at path `sidecar`, which its decoder
    passed: the name was checked there (where it entered), so it is not checked again.

    Raises:
        SidecarError: a key is missing or has a wrong value; the message says where.
    """
    record = _assemble(data, downloader)
    if record is None:
        where = f"{sidecar}: artifacts[{data.get('name')!r}]"
        record = _checked(Artifact, data, where, downloader)
    return record


def _assemble(data: Any, downloader: Downloader | None) -> Artifact | None:
    """The record of `data` if it passes every check but the name's (the types of `_FIELDS`
    and what the validators check) without a message built, set directly as attrs' own
    ``__init__`` sets it; else None, for `_checked` to say what is wrong."""
    try:
        name, path, uri, size = data["name"], data["path"], data["uri"], data["size"]
        sha256, created_at = data["sha256"], data["created_at"]
        content_type, metadata = data["content_type"], data["metadata"]
        if not (
            type(name) is type(path) is type(uri) is type(sha256) is str
            and type(created_at) is type(content_type) is str
            and type(size) is int
            and size >= 0
            and type(metadata) is dict
            and _SHA256.fullmatch(sha256)
        ):
            return None
        created_at = parse_time(created_at)
        metadata = check_metadata(metadata)  # the field's converter
    except (LookupError, TypeError, ValueError):
        return None
    record = object.__new__(Artifact)
    set_field = object.__setattr__
    set_field(record, "name", name)
    set_field(record, "path", path)
    set_field(record, "uri", uri)
    set_field(record, "size", size)
    set_field(record, "sha256", sha256)
    set_field(record, "created_at", created_at)
    set_field(record, "content_type", content_type)
    set_field(record, "metadata", metadata)
    set_field(record, "_downloader", downloader)
    return record


_FIELDS = (  # a record's keys in the sidecar, and their JSON types
    ("name", str),
    ("path", str),
    ("uri", str),
    ("size", int),
    ("sha256", str),
    ("created_at", str),
    ("content_type", str),
    ("metadata", dict),
)


def _checked(cls: type[Artifact], data: Any, where: str, downloader: Downloader | None) -> Artifact:
    """The record of `data` built by ``cls(...)`` and its validators: every problem an
    error that says where."""
    if not isinstance(data, Mapping):
        msg = f"{where}: expected an object, got {type(data).__name__}"
        raise SidecarError(msg)
    values: dict[str, Any] = {}
    for key, kind in _FIELDS:
        if key not in data:
            msg = f"{where}.{key}: missing"
            raise SidecarError(msg)
        value = data[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            msg = f"{where}.{key}: expected {kind.__name__}, got {type(value).__name__}"
            raise SidecarError(msg)
        values[key] = value
    try:
        values["created_at"] = parse_time(values["created_at"])
        return cls(**values, downloader=downloader)
    except ValueError as exc:
        msg = f"{where}: {exc}"
        raise SidecarError(msg) from exc


class Artifacts(dict[str, Artifact]):
    """A run's artifacts by name: a dict that renders as a table in notebooks."""

    def _repr_html_(self) -> str:
        from .display import artifact_table  # noqa: PLC0415 - only notebooks need it

        return artifact_table(self.values())
