"""What logging one file costs on WebDAV, counted at the client (httpx's request hook):
webdav4's own ``put_file`` makes missing parent directories, so the library leaves them to
it and no directory is asked for twice (benchmarks/file_servers.py times the same path)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from aim_artifacts import Run

MiB = 2**20


def test_a_new_run_on_webdav_asks_for_each_directory_once(webdav: Any, tmp_path: Path) -> None:
    requests: list[tuple[str, str, int]] = []

    def count(response: Any) -> None:
        request = response.request
        requests.append((request.method, request.url.path.rstrip("/"), response.status_code))

    options = {**webdav.options, "event_hooks": {"response": [count]}}
    source = tmp_path / "model.bin"
    source.write_bytes(os.urandom(9 * MiB))  # above one read: the backend's own transfer
    for uri in ("first", "second"):  # the first run learns what the backend does (once)
        requests.clear()
        with Run(artifacts_uri=f"{webdav.url_root}/{uri}", **options) as run:
            run.log_artifact(source, block=True)
            assert run.artifacts["model.bin"].size == 9 * MiB

    missing = [path for _, path, status in requests if status >= 400]
    run_dir = f"/{webdav.root}/second/{run.hash}"
    assert missing == [f"/{webdav.root}/second", f"{run_dir}/.aim-artifacts.json"]  # no 405/409
    assert ("MKCOL", run_dir, 201) in requests
    # Two directories, the file and its rename, the journal entry, the fold under the lock
    # (4 + 2 + 3 + 10); 23 before the backend's put_file was left to make the directories.
    assert len(requests) == 19, requests
