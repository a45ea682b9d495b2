from __future__ import annotations

import os
from typing import Any

import pytest

from aim_artifacts import InvalidNameError
from aim_artifacts.names import check_name, check_run_hash, join_name, new_run_hash


@pytest.mark.parametrize(
    "name",
    ["a", "a.txt", "dir/sub/file.bin", ".hidden", "a..b", "..x", "日本/語.txt", "a b", "a\u00a0b"],
)
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name",
    [
        "",
        "/a",
        "a/",
        "a//b",
        "..",
        "../a",
        "a/..",
        "a/./b",
        ".",
        "a\\b",
        "a\nb",
        "a\x00b",
        ".aim-artifacts.json",
        ".aim-artifacts.d/x",
        "d/.aim-artifacts-tmp-1",
    ],
)
def test_invalid_names(name: str) -> None:
    with pytest.raises(InvalidNameError, match="invalid artifact name"):
        check_name(name)


def test_name_must_be_a_string() -> None:
    with pytest.raises(InvalidNameError, match="must be a str, not int"):
        check_name(3)  # type: ignore[arg-type]


def test_join_name() -> None:
    assert join_name("ckpt", "a/b.bin") == "ckpt/a/b.bin"
    assert join_name("", "a/b.bin") == "a/b.bin"
    with pytest.raises(InvalidNameError):
        join_name("..", "a")


def test_new_run_hash_is_24_lowercase_hex() -> None:
    hashes = {new_run_hash() for _ in range(100)}
    assert len(hashes) == 100
    for h in hashes:
        assert len(h) == 24 and set(h) <= set("0123456789abcdef")
        assert check_run_hash(h) == h


@pytest.mark.parametrize("bad", ["", "..", "a/b", "-x", "_x", "a" * 129, "a.b", None])
def test_invalid_run_hashes(bad: object) -> None:
    with pytest.raises(InvalidNameError, match="invalid run hash"):
        check_run_hash(bad)  # type: ignore[arg-type]


# -- property-based: whatever a name is, it stays inside the run directory -------------------

import posixpath  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from aim_artifacts.download import local_target  # noqa: E402

PARTS = ["a", "b.txt", ".", "..", "", "/", "\\", "..\\", ".aim-artifacts", "x\x00", "~", " "]
names = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(PARTS), max_size=8).map("".join))


@settings(max_examples=2000, deadline=None)
@given(names)
def test_accepted_names_stay_inside_the_run(name: str) -> None:
    try:
        check_name(name)
    except ValueError:  # InvalidNameError is the ValueError it raises (see test_errors)
        return
    root = "/store/run"
    joined = posixpath.normpath(posixpath.join(root, name))
    assert joined.startswith(root + "/")
    assert not any(part.startswith(".aim-artifacts") for part in name.split("/"))


@settings(max_examples=300, deadline=None)
@given(names)
def test_downloads_never_leave_the_destination(tmp_path_factory: Any, name: str) -> None:
    dest = tmp_path_factory.mktemp("dest")
    try:
        target = local_target(str(dest), name)
    except InvalidNameError:
        return
    assert os.path.commonpath([str(dest.resolve()), target]) == str(dest.resolve())
