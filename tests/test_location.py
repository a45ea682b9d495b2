from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import pytest
from upath import UPath

from aim_artifacts import ArtifactsURIAlreadySetError, BackendUnavailableError, Run
from aim_artifacts.location import resolve
from conftest import AWS_SECRET


def test_relative_and_home_paths_become_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve("rel/dir/").uri == str(tmp_path / "rel/dir")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve("~/art").uri == str(tmp_path / "home/art")
    assert resolve(Path("rel")).path == str(tmp_path / "rel")


def test_urls_keep_their_form(tmp_path: Path) -> None:
    assert resolve(f"file://{tmp_path}/x/").uri == f"file://{tmp_path}/x"
    assert resolve(f"file://{tmp_path}/x/").path == f"{tmp_path}/x"
    assert resolve("memory://a/b").uri == "memory://a/b"
    assert resolve("memory://a/b").path == "/a/b"


def test_upath_keeps_filesystem_and_options(s3: dict[str, Any]) -> None:
    location = resolve(UPath("s3://artifacts/p", **s3))
    assert location.uri == "s3://artifacts/p"
    assert location.path == "artifacts/p"
    assert location.fs.storage_options["endpoint_url"] == s3["endpoint_url"]


def test_unknown_protocol_names_the_problem() -> None:
    with pytest.raises(BackendUnavailableError, match="fsspec knows no protocol 'nope'") as info:
        resolve("nope://bucket/x")
    assert isinstance(info.value, ImportError)


def test_missing_backend_package_names_what_to_install() -> None:
    # dropbox:// is known to fsspec and served by dropboxdrivefs, which we never install.
    with pytest.raises(BackendUnavailableError, match="dropboxdrivefs"):
        Run().set_artifacts_uri("dropbox://folder")


def test_wrong_type() -> None:
    with pytest.raises(TypeError, match="not int"):
        resolve(3)  # type: ignore[arg-type]


def test_location_pickles_without_live_client_and_hides_options(s3: dict[str, Any]) -> None:
    location = resolve("s3://artifacts/p", **s3)
    fs = location.fs
    clone = pickle.loads(pickle.dumps(location))
    assert clone == location and clone.uri == "s3://artifacts/p"
    assert clone.fs.storage_options == fs.storage_options
    assert AWS_SECRET not in repr(location)


def test_caller_options_are_not_mutated(s3: dict[str, Any]) -> None:
    options = {**s3, "config_kwargs": {"retries": {"max_attempts": 2}}}
    before = repr(options)
    resolve("s3://artifacts/p", **options).fs.ls("artifacts")
    assert repr(options) == before


def test_filesystem_is_rebuilt_in_a_forked_child(s3: dict[str, Any]) -> None:
    location = resolve("s3://artifacts/p", **s3)
    parent_fs = location.fs
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # s3fs clients are not fork-safe: the child must get its own, and work
        try:
            fresh = location.fs is not parent_fs
            location.fs.pipe_file("artifacts/p/child", b"ok")
            os.write(write, b"rebuilt" if fresh else b"reused")
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 100) == b"rebuilt"
    assert location.fs is parent_fs
    assert location.fs.cat_file("artifacts/p/child") == b"ok"


def test_artifacts_uri_is_set_once(tmp_path: Path) -> None:
    run = Run(artifacts_uri=tmp_path / "a")
    run.set_artifacts_uri(str(tmp_path / "a") + "/")  # same place: fine
    with pytest.raises(ArtifactsURIAlreadySetError, match="set once per run"):
        run.set_artifacts_uri(tmp_path / "b")


def test_storage_options_need_a_uri() -> None:
    with pytest.raises(TypeError, match="without artifacts_uri"):
        Run(key="x")
