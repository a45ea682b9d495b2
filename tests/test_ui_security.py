"""The page is private to its user, over HTTP against a real uvicorn server: a foreign `Host`
(DNS rebinding) gets 400 on every route, a server bound beyond loopback wants its token, and
every response carries the security headers."""

from __future__ import annotations

import http.client
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from aim_artifacts import Run

HEADERS = ("content-security-policy", "x-content-type-options", "x-frame-options")


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    with Run(artifacts_uri=str(tmp_path / "store")) as run:
        run.log_artifact(tmp_path / "config.yaml")
    return str(tmp_path / "store"), run.hash


def routes(run_hash: str) -> list[str]:
    return [
        "/",
        f"/runs/{run_hash}",
        f"/runs/{run_hash}/download/config.yaml",
        "/api/runs",
        f"/api/runs/{run_hash}",
        "/static/app.js",
        # the run page's own requests, the comparison, the style sheet
        f"/runs/{run_hash}/rows?folder=",
        f"/runs/{run_hash}/rows?sort=size&order=desc&limit=1",
        f"/runs/{run_hash}/preview/config.yaml",
        f"/api/runs/{run_hash}/artifacts?limit=1",
        f"/compare?a={run_hash}&b={run_hash}",
        "/static/app.css",
    ]


@contextmanager
def ui(uri: str, *args: str) -> Iterator[tuple[int, str | None]]:
    """``aim-artifacts ui`` in its own process; yields its port and the token it printed."""
    argv = [sys.executable, "-m", "aim_artifacts.cli", "ui", uri, "--port", "0", *args]
    process = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    assert process.stderr is not None
    try:
        line = process.stderr.readline()
        match = re.search(r"http://[^:]+:(\d+)/?(?:\?token=(\S+))?", line)
        assert match, line
        yield int(match.group(1)), match.group(2)
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()


def get(
    port: int, path: str, host: str | None = None, method: str = "GET", **headers: str
) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request(method, path, headers={"Host": host or f"127.0.0.1:{port}", **headers})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def test_a_foreign_host_gets_400_on_every_route(store: tuple[str, str]) -> None:
    uri, run_hash = store
    with ui(uri) as (port, token):
        assert token is None  # loopback: no token
        for path in routes(run_hash):
            assert get(port, path).status == 200, path
            assert get(port, path, host=f"localhost:{port}").status == 200, path
            refused = get(port, path, host=f"evil.example:{port}")
            assert refused.status == 400, path
            assert all(refused.getheader(h) for h in HEADERS)


def test_beyond_loopback_every_route_wants_the_token(store: tuple[str, str]) -> None:
    uri, run_hash = store
    with ui(uri, "--host", "0.0.0.0") as (port, token):
        assert token
        for path in routes(run_hash):
            assert get(port, path).status == 401, path
            assert get(port, path, Authorization="Token wrong").status == 401, path
            assert get(port, path, Authorization=f"Token {token}").status == 200, path
        first = get(port, f"/?token={token}")  # the printed URL, then the cookie it sets
        assert first.status == 200
        cookie = first.getheader("set-cookie", "").split(";")[0]
        assert "HttpOnly" in first.getheader("set-cookie", "")
        assert get(port, f"/runs/{run_hash}", Cookie=cookie).status == 200


def test_every_response_carries_the_security_headers(store: tuple[str, str]) -> None:
    uri, run_hash = store
    with ui(uri) as (port, _):
        for path in routes(run_hash):
            response = get(port, path)
            csp = response.getheader("content-security-policy", "")
            assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
            assert "unsafe-inline" not in csp
            assert response.getheader("x-content-type-options") == "nosniff"
        download = get(port, f"/runs/{run_hash}/download/config.yaml")
        assert download.getheader("content-disposition", "").startswith("attachment")


def test_pages_have_no_inline_script_or_style(store: tuple[str, str]) -> None:
    uri, run_hash = store
    with ui(uri) as (port, _):
        pages = ("/", f"/runs/{run_hash}", f"/compare?a={run_hash}&b={run_hash}")
        fragments = (f"/runs/{run_hash}/rows?folder=", f"/runs/{run_hash}/preview/config.yaml")
        for path in (*pages, *fragments, "/runs/ffffffffffffffffffffffff"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path)
            html = connection.getresponse().read().decode()
            connection.close()
            assert "<style" not in html
            assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []


def test_verify_and_error_pages_are_guarded_and_carry_the_headers(store: tuple[str, str]) -> None:
    uri, run_hash = store
    verify = f"/api/runs/{run_hash}/verify"
    with ui(uri) as (port, _):
        assert get(port, verify, host=f"evil.example:{port}", method="POST").status == 400
        for path, method, status in (
            (verify, "POST", 200),
            ("/runs/ffffffffffffffffffffffff", "GET", 404),
            (f"/runs/{run_hash}/preview/nope.txt", "GET", 404),
            (f"/api/runs/{run_hash}/artifacts?cursor=x", "GET", 400),
        ):
            response = get(port, path, method=method)
            assert response.status == status, path
            assert all(response.getheader(h) for h in HEADERS), path
            assert response.getheader("x-content-type-options") == "nosniff"
        # A page of another site can POST to 127.0.0.1 (its Host is ours): its Origin is not.
        evil = get(port, verify, method="POST", Origin="http://evil.example")
        assert evil.status == 403 and all(evil.getheader(h) for h in HEADERS)
        assert get(port, verify, method="POST", Origin=f"http://127.0.0.1:{port}").status == 200
    with ui(uri, "--host", "0.0.0.0") as (port, token):
        assert get(port, verify, method="POST").status == 401
        assert get(port, verify, method="POST", Authorization=f"Token {token}").status == 200
