"""What a reader polling the final name sees while a large object is stored (docs/backends.md):
on WebDAV the object is sent whole to a temp name, then MOVEd over the final name, so a
reader sees the old object, no object, or the new one, and never a partial one."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import fsspec

from aim_artifacts import Run

MiB = 2**20


def test_webdav_readers_never_see_a_partial_object(webdav: Any, tmp_path: Path) -> None:
    old = tmp_path / "old.bin"
    old.write_bytes(b"old version")
    new = tmp_path / "new.bin"
    with open(new, "wb") as f:
        for _ in range(200):
            f.write(os.urandom(MiB))
    run = Run(artifacts_uri=webdav.url_root, **webdav.options)
    run.log_artifact(old, name="model.bin", block=True)
    target = f"{webdav.root}/{run.hash}/model.bin"

    reader = fsspec.filesystem("webdav", skip_instance_cache=True, **webdav.options)
    seen: list[int | None] = []
    stored = threading.Event()

    def poll() -> None:
        while not stored.is_set() or len(seen) < 2:
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
    assert set(seen) <= {len(b"old version"), None, 200 * MiB}  # never a partial object
    assert seen[-1] == 200 * MiB
