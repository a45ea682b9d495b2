"""The runs page and ``/api/runs``: pages newest first, a next link, search, bad queries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from aim_artifacts import Run
from aim_artifacts.ui.app import create_app
from tests.servers import Middleware


def make_store(tmp_path: Path, count: int) -> tuple[TestClient, list[str]]:
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    hashes = []
    for _ in range(count):
        with Run(artifacts_uri=tmp_path / "store") as run:
            run.log_artifact(tmp_path / "a.bin")
        hashes.append(run.hash)
    client = TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1")
    return client, hashes[::-1]


def test_api_pages_follow_the_link_header(tmp_path: Path) -> None:
    client, newest_first = make_store(tmp_path, 5)
    seen, url = [], "/api/runs?limit=2"
    while url:
        response = client.get(url)
        assert "x-total-count" not in response.headers  # read from the index: not counted
        seen.append([r["hash"] for r in response.json()])
        link = response.headers.get("link")
        url = re.fullmatch(r'<(/api/runs\?[^>]+)>; rel="next"', link).group(1) if link else ""
    assert seen == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    first = client.get("/api/runs").json()
    assert [r["hash"] for r in first] == newest_first
    assert set(first[0]) == {"hash", "created", "last_logged", "count", "size"}


def test_api_search_and_bad_queries(tmp_path: Path) -> None:
    client, newest_first = make_store(tmp_path, 3)
    part = newest_first[1][3:9].upper()
    found = client.get(f"/api/runs?q={part}")
    assert [r["hash"] for r in found.json()] == [newest_first[1]]
    assert found.headers["x-total-count"] == "1"  # a search lists the store: counted
    bad = ("limit=0", "limit=1001", "limit=x", "cursor=nope", "cursor=1.a%2Fb", "cursor=ia%2Fb")
    for query in bad:
        assert client.get(f"/api/runs?{query}").status_code == 400, query
        assert client.get(f"/?{query}").status_code == 400, query


def test_page_rows_search_box_and_older_link(tmp_path: Path) -> None:
    client, newest_first = make_store(tmp_path, 3)
    page = client.get("/?limit=2").text
    assert "<h1>Runs</h1>" in page and 'name="q"' in page
    for header in ("Created (UTC)", "Last logged (UTC)", "Artifacts", "Total size"):
        assert f"<th>{header}</th>" in page
    assert page.index(newest_first[0]) < page.index(newest_first[1])
    assert newest_first[2] not in page
    older = re.search(r'rel="next" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    last = client.get(older).text
    assert newest_first[2] in last and newest_first[0] not in last
    assert 'href="/">Newest runs</a>' in last and 'rel="next"' not in last


def test_page_search_is_escaped_and_says_when_nothing_matches(tmp_path: Path) -> None:
    client, _ = make_store(tmp_path, 1)
    page = client.get("/", params={"q": "<script>x</script>"}).text
    assert "No run matches <code>&lt;script&gt;x&lt;/script&gt;</code>" in page
    assert "<script>x" not in page


def test_a_reload_within_seconds_reuses_the_listing(
    s3: dict[str, Any], s3_requests: Middleware, tmp_path: Path
) -> None:
    (tmp_path / "a.bin").write_bytes(b"x")
    with Run(artifacts_uri="s3://artifacts/ui", **s3) as run:
        run.log_artifact(tmp_path / "a.bin")
    client = TestClient(create_app("s3://artifacts/ui", **s3), base_url="http://127.0.0.1")
    s3_requests.requests.clear()
    assert [r["hash"] for r in client.get("/api/runs").json()] == [run.hash]
    first = [(r.method, r.path, r.query) for r in s3_requests.requests]
    assert len(first) == 3  # the index's first names, the runs flagged open, the sidecar
    assert run.hash in client.get("/").text
    # The page reused (or, on a machine slower than its 2 s, read again).
    assert [(r.method, r.path, r.query) for r in s3_requests.requests[3:]] in ([], first)
