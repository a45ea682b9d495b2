"""The web page and its JSON endpoints, through Starlette's test client (real storage)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from aim_artifacts import Run
from aim_artifacts.ui.app import create_app
from conftest import AWS_SECRET
from tests.servers import ui_process

HOSTILE = "<script>alert(1)</script>"


def make_runs(uri: Any, tmp_path: Path, **options: Any) -> list[Run]:
    runs = []
    for n in (1, 2):
        (tmp_path / "m.bin").write_bytes(bytes(range(256)) * 8 * n)
        with Run(artifacts_uri=uri, **options) as run:
            run.log_artifact(tmp_path / "m.bin", name="ckpt/model.bin", metadata={"n": n})
            run.log_artifact(tmp_path / "m.bin", name=HOSTILE)
        runs.append(run)
    return runs


@pytest.fixture
def local(tmp_path: Path) -> tuple[TestClient, list[Run]]:
    runs = make_runs(tmp_path / "store", tmp_path)
    return TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1"), runs


def test_runs_page_lists_every_run_newest_first(local: tuple[TestClient, list[Run]]) -> None:
    client, runs = local
    page = client.get("/")
    assert page.status_code == 200
    assert page.text.index(runs[1].hash) < page.text.index(runs[0].hash)
    api = client.get("/api/runs").json()
    assert [r["hash"] for r in api] == [runs[1].hash, runs[0].hash]
    assert api[0]["count"] == 2 and api[0]["size"] == 2 * 4096


def test_run_page_has_a_header_and_a_folder_tree_escaped(
    local: tuple[TestClient, list[Run]],
) -> None:
    client, runs = local
    page = client.get(f"/runs/{runs[0].hash}").text
    assert f"<code>{runs[0].hash}</code>" in page
    assert f"store/{runs[0].hash}</code>" in page  # the run's URI
    assert "<dd>2</dd>" in page and "<dd>4.0 KiB</dd>" in page  # count, total size
    assert page.count(" UTC</dd>") == 2  # created, last logged
    assert 'id="verify"' in page and 'id="filter"' in page and "Artifacts <span" in page
    # The top level: two folders (one artifact each, with its size); the hostile name's "/"
    # makes it a folder too, escaped.
    assert 'data-folder="ckpt"' in page and "1 artifact<" in page and "2.0 KiB" in page
    assert 'data-folder="&lt;script&gt;alert(1)&lt;"' in page
    assert HOSTILE not in page


def test_api_run_and_404s(local: tuple[TestClient, list[Run]]) -> None:
    client, runs = local
    data = client.get(f"/api/runs/{runs[0].hash}").json()
    assert [a["name"] for a in data["artifacts"]] == [HOSTILE, "ckpt/model.bin"]
    missing = client.get("/runs/ffffffffffffffffffffffff")
    assert missing.status_code == 404
    assert "404 &middot; Not Found" in missing.text and 'href="/static/app.css"' in missing.text
    assert client.get("/nope").status_code == 404 and "Back to the runs" in client.get("/nope").text
    api = client.get("/api/runs/ffffffffffffffffffffffff")
    assert api.status_code == 404 and "no run" in api.json()["error"]
    assert client.get("/api/runs/../../etc").status_code == 404
    assert client.get(f"/runs/{runs[0].hash}/download/nope.bin").status_code == 404
    assert client.get(f"/runs/{runs[0].hash}/preview/nope.bin").status_code == 404
    bad = client.get(f"/api/runs/{runs[0].hash}/artifacts?cursor=nonsense")
    assert bad.status_code == 400 and "cursor" in bad.json()["error"]
    for limit in ("0", "1001", "x"):
        bad = client.get(f"/api/runs/{runs[0].hash}/artifacts?limit={limit}")
        assert bad.status_code == 400 and bad.json() == {"error": "limit: a number from 1 to 1000"}


def test_download_streams_the_bytes(local: tuple[TestClient, list[Run]], tmp_path: Path) -> None:
    client, runs = local
    for name in ("ckpt/model.bin", HOSTILE):
        response = client.get(f"/runs/{runs[1].hash}/download/{quote(name)}")
        assert response.status_code == 200
        assert response.content == bytes(range(256)) * 16
        assert response.headers["content-length"] == "4096"
        assert "attachment" in response.headers["content-disposition"]


def test_s3_page_never_shows_the_secret(s3: dict[str, Any], tmp_path: Path) -> None:
    runs = make_runs("s3://artifacts/ui", tmp_path, **s3)
    client = TestClient(create_app("s3://artifacts/ui", **s3), base_url="http://127.0.0.1")
    texts = [client.get("/").text, client.get(f"/runs/{runs[0].hash}").text]
    texts += [client.get("/api/runs").text, client.get(f"/api/runs/{runs[0].hash}").text]
    assert all(AWS_SECRET not in t for t in texts)
    body = client.get(f"/runs/{runs[0].hash}/download/ckpt/model.bin").content
    assert body == bytes(range(256)) * 8


def test_cli_serves_the_page_on_localhost(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "store", tmp_path)
    with ui_process(str(tmp_path / "store")) as url:
        assert url.startswith("http://127.0.0.1:")  # loopback unless asked otherwise
        with urllib.request.urlopen(f"{url}/api/runs", timeout=30) as response:
            assert {run["hash"] for run in json.load(response)} == {run.hash for run in runs}
