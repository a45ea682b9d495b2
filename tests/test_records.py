from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import attrs
import pytest

from aim_artifacts import Artifact, InvalidMetadataError, SidecarError
from aim_artifacts.records import check_metadata, from_stored

SHA = "ab" * 32
WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.timezone.utc)


def record(**changes: Any) -> dict[str, Any]:
    data = {
        "name": "ckpt/model.bin",
        "path": "/src/model.bin",
        "uri": "s3://b/p/run/ckpt/model.bin",
        "size": 10,
        "sha256": SHA,
        "created_at": "2026-01-02T03:04:05.678901Z",
        "content_type": "application/octet-stream",
        "metadata": {"step": 3},
    }
    data.update(changes)
    return data


def test_round_trip() -> None:
    art = Artifact.from_dict(record())
    assert art.created_at == WHEN
    assert art.to_dict() == record()
    assert Artifact.from_dict(art.to_dict()) == art


def test_extra_keys_are_ignored() -> None:
    assert Artifact.from_dict(record(etag='"abc-2"', revision="x")).to_dict() == record()


def test_offsets_are_converted_to_utc() -> None:
    art = Artifact.from_dict(record(created_at="2026-01-02T05:04:05.678901+02:00"))
    assert art.created_at == WHEN and art.created_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": "10"}, r"artifacts\[0\]\.size: expected int, got str"),
        ({"size": True}, r"\.size: expected int, got bool"),
        ({"size": -1}, r"size"),
        ({"sha256": "xyz"}, r"sha256 must be 64 lowercase hex"),
        ({"name": "../x"}, r"'\.\.' part"),
        ({"created_at": "2026-01-02T03:04:05"}, r"has no time zone"),
        ({"created_at": "yesterday"}, r"Invalid isoformat"),
        ({"metadata": []}, r"\.metadata: expected dict"),
        ({"metadata": {"x": float("nan")}}, r"metadata must be JSON-serialisable"),
        ({"sha256": "AB" * 32}, r"sha256 must be 64 lowercase hex"),
    ],
)
def test_bad_records_say_where(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(SidecarError, match=message) as info:
        Artifact.from_dict(record(**changes), where="artifacts[0]")
    assert str(info.value).startswith("artifacts[0]")


def test_a_record_read_is_the_one_the_constructor_makes() -> None:
    """`from_dict` sets the fields it checked directly: every field is set, as
    ``Artifact(...)`` sets it (the metadata a copy)."""
    data = record()
    made = Artifact(**{**data, "created_at": WHEN})
    for read in (Artifact.from_dict(data), from_stored(data, sidecar="s", downloader=None)):
        assert attrs.asdict(read, recurse=False) == attrs.asdict(made, recurse=False)
        assert read.metadata is not data["metadata"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"size": -1}, r"'size' must be >= 0"),
        ({"sha256": "xyz"}, r"sha256 must be 64 lowercase hex"),
        ({"created_at": "yesterday"}, r"Invalid isoformat"),
        ({"metadata": None}, r"\.metadata: expected dict, got NoneType"),
    ],
)
def test_records_from_a_decoded_sidecar_are_checked_but_for_the_name(
    changes: dict[str, Any], message: str
) -> None:
    """The sidecar's decoder checked the name; everything else is checked here, and the
    error names the sidecar and the record."""
    where = r"^s\.json: artifacts\['ckpt/model\.bin'\]"
    with pytest.raises(SidecarError, match=where + ".*" + message):
        from_stored(record(**changes), sidecar="s.json", downloader=None)
    assert from_stored(record(name="../x"), sidecar="s.json", downloader=None).name == "../x"


def test_missing_key_says_which() -> None:
    data = record()
    del data["sha256"]
    with pytest.raises(SidecarError, match=r"^here\.sha256: missing$"):
        Artifact.from_dict(data, where="here")


def test_records_are_frozen_and_evolve() -> None:
    art = Artifact.from_dict(record())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        art.size = 3  # type: ignore[misc]
    assert attrs.evolve(art, size=3).size == 3
    assert hash(art) == hash(Artifact.from_dict(record()))


def test_naive_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware UTC"):
        attrs.evolve(Artifact.from_dict(record()), created_at=dt.datetime(2026, 1, 1))


def test_repr_is_one_short_line_and_records_pickle() -> None:
    art = Artifact.from_dict(record())
    assert repr(art) == (
        "Artifact(name='ckpt/model.bin', size=10, uri='s3://b/p/run/ckpt/model.bin')"
    )
    assert pickle.loads(pickle.dumps(art)) == art


def test_unbound_record_cannot_download() -> None:
    with pytest.raises(RuntimeError, match="not bound to a run"):
        Artifact.from_dict(record()).download()


@pytest.mark.parametrize("bad", [{1: "x"}, {"x": {1, 2}}, {"x": float("inf")}, "text"])
def test_metadata_must_be_a_json_object(bad: Any) -> None:
    with pytest.raises(InvalidMetadataError):
        check_metadata(bad)


def test_metadata_is_copied() -> None:
    given = {"a": [1, 2]}
    kept = check_metadata(given)
    given["a"].append(3)
    assert kept == {"a": [1, 2]}
