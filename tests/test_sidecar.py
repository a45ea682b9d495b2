from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aim_artifacts import Artifact, Run, SidecarError, UnsupportedFormatError
from aim_artifacts.sidecar import (
    RunState,
    decode_entry,
    decode_sidecar,
    encode_entry,
    encode_sidecar,
    new_revision,
)

GOLDEN = Path(__file__).parent / "data" / "sidecar-v1.json"
RUN = "0123456789abcdef01234567"


def test_golden_v1_round_trips() -> None:
    data = GOLDEN.read_bytes()
    state = decode_sidecar(data, where="golden")
    assert list(state.live()) == ["ckpt/model.bin", "config.yaml"]
    revision, record = state.live()["ckpt/model.bin"]
    assert revision == "01795690000000000000-aaaaaaaaaaaa"
    assert Artifact.from_dict(record).metadata == {"epoch": 3, "tags": ["best"]}
    assert state.changes["old.txt"] == ("01795690000000000001-cccccccccccc", None)
    assert json.loads(encode_sidecar(RUN, state)) == json.loads(data)


def record(name: str, size: int = 1) -> dict[str, Any]:
    golden = json.loads(GOLDEN.read_bytes())["artifacts"]["config.yaml"]
    del golden["revision"]
    return {**golden, "name": name, "size": size}


def test_newest_revision_wins_in_any_order() -> None:
    old, new = "0" * 19 + "1-" + "a" * 12, "0" * 19 + "2-" + "a" * 12
    a = RunState()
    a.apply(old, {"x": record("x", 1)})
    b = RunState()
    b.apply(new, {"x": record("x", 2)})
    c = RunState()
    c.apply(new, deleted=["y"])
    for order in ([a, b, c], [c, b, a], [b, a, c, a, b]):
        merged = RunState()
        for part in order:
            merged.merge(part)
        assert merged.live()["x"][1]["size"] == 2
        assert "y" not in merged.live()


def test_deletion_hides_older_record_but_not_newer() -> None:
    state = RunState()
    first, second, third = (new_revision() for _ in range(3))
    assert first < second < third
    state.apply(first, {"x": record("x")})
    state.apply(second, deleted=["x"])
    assert state.live() == {}
    state.apply(third, {"x": record("x")})
    assert list(state.live()) == ["x"]


def test_entry_round_trip() -> None:
    revision = new_revision()
    data = encode_entry(RUN, revision, {"a": record("a"), "b/c": record("b/c")}, ["gone"])
    state = decode_entry(data, where="entry")
    assert {n: r for n, (r, _) in state.changes.items()} == {
        "a": revision,
        "b/c": revision,
        "gone": revision,
    }
    assert list(state.live()) == ["a", "b/c"]
    assert state.live()["b/c"][1] == record("b/c")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"^s: not valid JSON"),
        ('{"format": "aim-artifacts/1", "artifacts": {', r"^s: not valid JSON"),
        ("[]", r"^s: expected a JSON object, got list"),
        ('{"format": "other/1"}', r"^s: format 'other/1' is not an aim-artifacts format"),
        ('{"artifacts": {}}', r"format None is not an aim-artifacts format"),
        ('{"format": "aim-artifacts/1", "artifacts": []}', r"^s: artifacts: expected dict"),
        (
            '{"format": "aim-artifacts/1", "artifacts": {"a": {"name": "b"}}}',
            r"^s: artifacts\['a'\]\.name: 'b' differs from its key",
        ),
        ('{"format": "aim-artifacts/1", "artifacts": {"a": 3}}', r"expected an object, got int"),
        (
            '{"format": "aim-artifacts/1", "artifacts": {"a": {"name": "a"}}}',
            r"^s: artifacts\['a'\]\.revision: None is not a revision",
        ),
        (
            '{"format": "aim-artifacts/1", "artifacts": {"a": {"name": "a", "revision": "r"}}}',
            r"^s: artifacts\['a'\]\.revision: 'r' is not a revision",
        ),
        (
            '{"format": "aim-artifacts/1", "artifacts": {"a//b": {"name": "a//b", "revision": 1}}}',
            r"^s: artifacts\['a//b'\]: invalid artifact name 'a//b': it has an empty part",
        ),
        ('{"format": "aim-artifacts/1", "deleted": {"../x": "r"}}', r"is not a revision"),
        (  # Arabic-Indic digits are digits to \d, not in a revision
            '{"format": "aim-artifacts/1", "deleted": {"a": "%s-aaaaaaaaaaaa"}}' % ("\u0660" * 20),
            r"is not a revision",
        ),
    ],
)
def test_corrupt_sidecars_say_where(text: str, message: str) -> None:
    with pytest.raises(SidecarError, match=message):
        decode_sidecar(text.encode(), where="s")


def test_escaping_names_in_a_sidecar_are_refused() -> None:
    doc = json.loads(GOLDEN.read_bytes())
    record = doc["artifacts"].pop("config.yaml")
    doc["artifacts"]["../../etc/passwd"] = {**record, "name": "../../etc/passwd"}
    with pytest.raises(SidecarError, match=r"'\.\.' part"):
        decode_sidecar(json.dumps(doc).encode(), where="s")
    doc = json.loads(GOLDEN.read_bytes())
    doc["deleted"] = {"/abs": "01795690000000000001-cccccccccccc"}
    with pytest.raises(SidecarError, match="must be relative"):
        decode_sidecar(json.dumps(doc).encode(), where="s")


def test_key_and_name_must_agree() -> None:
    doc = json.loads(GOLDEN.read_bytes())
    doc["artifacts"]["config.yaml"]["name"] = "other.yaml"
    with pytest.raises(SidecarError, match="differs from its key"):
        decode_sidecar(json.dumps(doc).encode(), where="s")


@pytest.mark.parametrize("fmt", ["aim-artifacts/2", "aim-artifacts/10.1"])
def test_newer_major_format_is_refused(fmt: str) -> None:
    doc = {**json.loads(GOLDEN.read_bytes()), "format": fmt}
    with pytest.raises(UnsupportedFormatError, match="upgrade aim-artifacts"):
        decode_sidecar(json.dumps(doc).encode(), where="s")


def test_newer_minor_format_and_extra_keys_are_read() -> None:
    doc = {**json.loads(GOLDEN.read_bytes()), "format": "aim-artifacts/1.4", "future": True}
    assert len(decode_sidecar(json.dumps(doc).encode(), where="s").live()) == 2


def test_sidecar_is_one_artifact_per_line() -> None:
    state = decode_sidecar(GOLDEN.read_bytes(), where="golden")
    lines = encode_sidecar(RUN, state).decode().splitlines()
    assert lines[1].startswith('"ckpt/model.bin":{')
    assert lines[2].startswith('"config.yaml":{')
    assert len(lines) == 5


def test_invalid_record_is_reported_where_when_a_run_loads(tmp_path: Path) -> None:
    doc = json.loads(GOLDEN.read_bytes())
    doc["artifacts"]["config.yaml"]["size"] = "12"
    run_dir = tmp_path / RUN
    run_dir.mkdir()
    (run_dir / ".aim-artifacts.json").write_text(json.dumps(doc))
    with pytest.raises(SidecarError, match=r"artifacts\['config\.yaml'\]\.size: expected int"):
        Run(RUN, artifacts_uri=tmp_path)
