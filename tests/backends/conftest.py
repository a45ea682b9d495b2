"""The backends every contract test runs on: each gives a URI, options and a raw view."""

from __future__ import annotations

import os
from typing import Any

import attrs
import fsspec
import pytest
from fsspec.spec import AbstractFileSystem

from conftest import AWS_SECRET, BUCKET


@attrs.frozen
class Backend:
    """Where a contract test stores runs, and a raw filesystem to check what landed there."""

    name: str
    uri: Any  # what a user passes to set_artifacts_uri: str or UPath
    options: dict[str, Any]
    fs: AbstractFileSystem
    root: str  # `uri` as a path of `fs`
    # False where no sidecar update is exclusive, so folds keep the journal's entries
    exclusive_folds: bool = True
    secret: str = AWS_SECRET  # a credential in `options` that must never be written

    def files(self) -> list[str]:
        """Every file stored below the base, relative to it, sorted."""
        self.fs.invalidate_cache()
        if not self.fs.exists(self.root):
            return []
        return sorted(p[len(self.root) + 1 :] for p in self.fs.find(self.root))

    def read(self, relative: str) -> bytes:
        self.fs.invalidate_cache()
        return self.fs.cat_file(f"{self.root}/{relative}")


def is_library_file(path: str) -> bool:
    """True for the library's own files (path relative to the store): a run's sidecar and
    journal, the store's runs index and open flags."""
    return any(part.startswith(".aim-artifacts") for part in path.split("/")[:2])


def make_backend(name: str, tmp_path: Any, request: pytest.FixtureRequest) -> Backend:
    local = fsspec.filesystem("file")
    if name == "path":
        return Backend(name, str(tmp_path / "store"), {}, local, str(tmp_path / "store"))
    if name == "file-url":
        root = str(tmp_path / "store")
        return Backend(name, f"file://{root}/", {}, local, root)
    if name == "memory":
        return Backend(name, "memory://store/", {}, fsspec.filesystem("memory"), "/store")
    if name == "upath":
        from upath import UPath

        return Backend(name, UPath(tmp_path / "store"), {}, local, str(tmp_path / "store"))
    if name == "upath-s3":
        from upath import UPath

        options = request.getfixturevalue("s3")
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
        return Backend(name, UPath(f"s3://{BUCKET}/up", **options), {}, fs, f"{BUCKET}/up")
    if name == "chained":  # reads through a local cache, writes straight to S3
        options = request.getfixturevalue("s3")
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
        uri = f"simplecache::s3://{BUCKET}/chained"
        # its filesystem is simplecache's, not s3fs: no compare-and-swap, entries kept
        return Backend(name, uri, {"s3": options}, fs, f"{BUCKET}/chained", exclusive_folds=False)
    if name == "s3":
        options = request.getfixturevalue("s3")
        fs = fsspec.filesystem("s3", skip_instance_cache=True, **options)
        return Backend(name, f"s3://{BUCKET}/base/", options, fs, f"{BUCKET}/base")
    if name in FILE_SERVERS:  # a fresh directory on a file server
        server = request.getfixturevalue(name)
        fs = fsspec.filesystem(server.protocol, skip_instance_cache=True, **server.options)
        secret = server.secret or AWS_SECRET
        return Backend(name, server.url_root, server.options, fs, server.root, secret=secret)
    if name == "dir":  # paths relative to a directory that exists
        root = str(tmp_path / "store")
        os.makedirs(root)
        return Backend(name, f"dir::file://{root}", {}, local, root)
    if name == "simplecache-file":
        root = str(tmp_path / "store")
        return Backend(name, f"simplecache::file://{root}", {}, local, root)
    if name == "local-url":
        root = str(tmp_path / "store")
        return Backend(name, f"local://{root}", {}, local, root)
    if name in EMULATED:  # a fresh bucket on an emulator
        bucket = request.getfixturevalue(name)
        fs = fsspec.filesystem(bucket.protocol, skip_instance_cache=True, **bucket.options)
        uri = f"{bucket.protocol}://{bucket.name}/base"
        root = f"{bucket.name}/base"
        return Backend(
            name,
            uri,
            bucket.options,
            fs,
            root,
            exclusive_folds=False,
            secret=bucket.secret or AWS_SECRET,
        )
    raise AssertionError(name)


EMULATED = ("azure", "gcs", "s3rver")  # each also the name of its Bucket fixture
FILE_SERVERS = ("sftp", "ftp", "smb", "webdav")  # each also the name of its fixture
WRAPPED = ("dir", "simplecache-file", "local-url")  # local files through other fsspec layers


ALL = ("path", "file-url", "memory", "upath", "upath-s3", "s3", "chained", *EMULATED)
ALL += (*FILE_SERVERS, *WRAPPED)
# reachable from another process
SHARED = ("path", "file-url", "upath", "s3", *EMULATED, *FILE_SERVERS, *WRAPPED)
BUCKETED = ("s3", "chained", *EMULATED)  # object stores: a URI names a bucket or container


@pytest.fixture(params=ALL)
def backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    return make_backend(request.param, tmp_path, request)


@pytest.fixture(params=SHARED)
def shared_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    return make_backend(request.param, tmp_path, request)


@pytest.fixture(params=BUCKETED)
def bucketed_backend(request: pytest.FixtureRequest, tmp_path: Any) -> Backend:
    return make_backend(request.param, tmp_path, request)
