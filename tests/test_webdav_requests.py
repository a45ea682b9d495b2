"""What logging one file to a new run costs on WebDAV, counted at the client (httpx's
response hook): webdav4's own ``put_file`` makes missing parent directories, so the library
leaves them to it, no directory is asked for twice, and the runs index's files are written
in place (benchmarks/file_servers.py times the same path)."""

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
    for _ in range(2):  # the first run makes the store and learns what the backend does
        requests.clear()
        with Run(artifacts_uri=f"{webdav.url_root}/store", **options) as run:
            run.log_artifact(source, block=True)
            assert run.artifacts["model.bin"].size == 9 * MiB

    missing = [path for _, path, status in requests if status >= 400]
    run_dir = f"/{webdav.root}/store/{run.hash}"
    assert missing == [f"{run_dir}/.aim-artifacts.json"]  # no 405 or 409: no directory twice
    assert ("MKCOL", run_dir, 201) in requests
    # The run's directory (2), the file and its rename (2), the runs index's marker and open
    # flag (2) and whether the index is complete (1), the journal entry (3), the fold under
    # the lock (10), the flag removed (1).
    assert len(requests) == 21, requests
