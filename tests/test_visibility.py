"""What a reader polling the final name sees while a large object is stored (docs/backends.md).

On WebDAV the object is sent whole to a temp name, then MOVEd over the final name: a reader
sees the old object, no object, or the new one, never a partial one. On object stores it is
replaced in one step (S3: the multipart upload completes in place; GCS and Azure: a temp
object copied over it): a reader sees the old object or the new one, never none.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import attrs
import fsspec
import pytest

from aim_artifacts import Run

MiB = 2**20


@attrs.frozen
class Store:
    uri: str
    options: dict[str, Any]
    protocol: str
    root: str  # `uri` as a path of its filesystem
    new_size: int  # the size of the object re-logged
    may_be_missing: bool  # readers may briefly find no object under the name


@pytest.fixture(params=["webdav", "s3", "gcs", "azure"])
def store(request: pytest.FixtureRequest) -> Store:
    name = request.param
    if name == "webdav":
        server = request.getfixturevalue("webdav")
        return Store(server.url_root, server.options, "webdav", server.root, 200 * MiB, True)
    if name == "s3":
        options = request.getfixturevalue("s3")
        return Store("s3://artifacts/seen", options, "s3", "artifacts/seen", 96 * MiB, False)
    bucket = request.getfixturevalue(name)
    uri = f"{bucket.protocol}://{bucket.name}/seen"
    return Store(uri, bucket.options, bucket.protocol, f"{bucket.name}/seen", 96 * MiB, False)


def test_readers_never_see_a_partial_object(store: Store, tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(b"old version")
    new = tmp_path / "new.bin"
    with open(new, "wb") as f:
        for _ in range(store.new_size // MiB):
            f.write(os.urandom(MiB))
    run = Run(artifacts_uri=store.uri, **store.options)
    run.log_artifact(old, name="model.bin", block=True)
    target = f"{store.root}/{run.hash}/model.bin"

    reader = fsspec.filesystem(store.protocol, skip_instance_cache=True, **store.options)
    seen: list[int | None] = []
    stored = threading.Event()

    def poll() -> None:
        while not stored.is_set() or len(seen) < 2:
            reader.invalidate_cache()
            try:
                seen.append(reader.info(target)["size"])
            except FileNotFoundError:
                seen.append(None)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        run.log_artifact(new, name="model.bin", block=True)
    finally:
        stored.set()
        poller.join(timeout=60)
    run.close()

    assert len(seen) > 10  # the reader was polling throughout
    allowed = {len(b"old version"), store.new_size} | ({None} if store.may_be_missing else set())
    assert set(seen) <= allowed  # never a partial object
    assert seen[-1] == store.new_size
