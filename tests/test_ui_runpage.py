"""The run page's requests through Starlette's test client (real storage): folder levels,
sorted and filtered pages with a cursor, previews, verify and the comparison of two runs."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from aim_artifacts import Run
from aim_artifacts.ui.app import create_app
from tests.runpage_data import CONFIG, HOSTILE_SVG, LONG_NAME, SCRIPT_SVG, demo_runs, png
from tests.servers import S3Server

GOLDEN = Path(__file__).parent / "data" / "sidecar-v1.json"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestClient, Run, Run, Path]:
    tmp_path = tmp_path_factory.mktemp("demo")
    old, new = demo_runs(tmp_path / "store", tmp_path)
    client = TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1")
    return client, old, new, tmp_path


def names(html: str) -> list[str]:
    return re.findall(r'<div class="row file[^"]*" data-name="([^"]*)"', html)


def test_folders_open_one_level_at_a_time_with_counts_and_sizes(demo: Any) -> None:
    client, old, _, _ = demo
    top = client.get(f"/runs/{old.hash}/rows?folder=")
    assert top.headers["x-total"] == "300"
    folders = re.findall(r'class="row folder depth-0" data-folder="([^"]*)"', top.text)
    assert folders == ["checkpoints", "configs", "images", "logs", "metrics", "plots", "results"]
    assert names(top.text) == [HOSTILE_SVG.replace("<", "&lt;").replace(">", "&gt;"), "README.md"]
    deep = client.get(f"/runs/{old.hash}/rows?folder=checkpoints/epoch_03/shards").text
    assert len(names(deep)) == 29 and "depth-3" in deep
    sizes = sum(a.size for n, a in old.artifacts.items() if n.startswith("checkpoints/"))
    listing = client.get(f"/api/runs/{old.hash}/artifacts?folder=").json()
    checkpoints = next(f for f in listing["folders"] if f["path"] == "checkpoints")
    assert checkpoints == {"path": "checkpoints", "count": 290, "size": sizes}


def test_flat_pages_follow_the_cursor_in_size_order(demo: Any) -> None:
    client, old, _, _ = demo
    seen: list[dict[str, Any]] = []
    first = f"/api/runs/{old.hash}/artifacts?sort=size&order=desc&limit=64"
    url = first
    while url:
        page = client.get(url).json()
        assert page["total"] == 300 and len(page["artifacts"]) <= 64
        seen += page["artifacts"]
        url = page["next"] and f"{first}&cursor={page['next']}"
    assert len(seen) == 300 and len({a["name"] for a in seen}) == 300
    assert [a["size"] for a in seen] == sorted(
        (a.size for a in old.artifacts.values()), reverse=True
    )
    # The HTML rows carry the URL of the next page.
    rows = client.get(f"/runs/{old.hash}/rows?sort=size&limit=100").text
    assert len(names(rows)) == 100 and 'class="more' in rows and "cursor=" in rows


def test_filter_counts_matches_and_folders(demo: Any) -> None:
    client, old, _, _ = demo
    flat = client.get(f"/runs/{old.hash}/rows?q=SHARD_0").headers["x-total"]
    assert flat == str(10 * 10)  # shard_00..09 of each of 10 epochs
    tree = client.get(f"/api/runs/{old.hash}/artifacts?folder=&q=yaml").json()
    assert tree["total"] == 1 and tree["folders"] == [
        {"path": "configs", "count": 1, "size": len(CONFIG)}
    ]
    none = client.get(f"/runs/{old.hash}/rows?folder=&q=no-such-thing")
    assert none.headers["x-total"] == "0" and names(none.text) == []


def preview(client: TestClient, run: Run, name: str) -> str:
    response = client.get(f"/runs/{run.hash}/preview/{quote(name)}")
    assert response.status_code == 200, response.text
    return response.text


def test_previews_of_text_tables_and_images(demo: Any) -> None:
    client, old, _, _ = demo
    assert "lr: 0.1" in preview(client, old, "configs/train.yaml")
    assert "&#34;splits&#34;: {\n    &#34;train&#34;: 0.9" in preview(
        client, old, "configs/data.json"
    )
    csv = preview(client, old, "metrics/epochs.csv")
    assert "<th>epoch</th><th>loss</th><th>acc</th>" in csv and csv.count("<tr>") == 91
    assert "<td>1</td><td>2</td>" not in csv and "<th>step</th>" in preview(
        client, old, "metrics/steps.tsv"
    )
    log = preview(client, old, "logs/train.log")
    assert "epoch 90 loss 0.028" in log
    image = preview(client, old, "images/samples/grid.png")
    data = re.search(r'<img class="image" src="data:image/png;base64,([^"]+)"', image)
    assert data and base64.b64decode(data.group(1)) == png()
    assert "&lt;script&gt;alert(4)" in preview(client, old, "README.md")
    assert f'<h2 class="name" title="{LONG_NAME}">' in preview(client, old, LONG_NAME)


def test_svg_and_hostile_names_are_shown_as_text(demo: Any) -> None:
    client, old, _, _ = demo
    for name in (HOSTILE_SVG, "plots/loss.svg"):
        html = preview(client, old, name)
        assert "Shown as source" in html and "<svg" not in html and "<script" not in html
        assert "&lt;script&gt;alert(3)&lt;/script&gt;" in html
        assert "<img src=x" not in html
    binary = preview(client, old, "checkpoints/epoch_00/shards/shard_01.bin")
    assert "No preview for this type" in binary and "application/octet-stream" in binary
    record = old.artifacts["checkpoints/epoch_00/shards/shard_01.bin"]
    assert (
        record.sha256 in binary and f"({record.size} bytes)" in binary and "Download</a>" in binary
    )
    assert SCRIPT_SVG not in client.get(f"/runs/{old.hash}").text


def test_previews_read_at_most_one_mebibyte(tmp_path: Path) -> None:
    (tmp_path / "big.txt").write_text("first line\n" + "x" * (3 << 20) + "\nlast line\n")
    (tmp_path / "big.log").write_bytes((tmp_path / "big.txt").read_bytes())
    (tmp_path / "big.png").write_bytes(png() + bytes(2 << 20))
    with Run(artifacts_uri=tmp_path / "store") as run:
        for name in ("big.txt", "big.log", "big.png"):
            run.log_artifact(tmp_path / name)
    client = TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1")
    head = preview(client, run, "big.txt")
    assert "first line" in head and "last line" not in head and len(head) < (1 << 20) + 4096
    assert "Only the first 1.0 MiB of 3.0 MiB is shown." in head
    tail = preview(client, run, "big.log")
    assert "last line" in tail and "first line" not in tail and "Only the last 1.0 MiB" in tail
    assert "No preview for this type" in preview(client, run, "big.png")  # no partial image


def test_verify_reports_what_changed(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    with Run(artifacts_uri=tmp_path / "store") as run:
        run.log_artifact(tmp_path / "a.txt")
        run.log_artifact(tmp_path / "a.txt", name="b.txt")
    client = TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1")
    ok = client.post(f"/api/runs/{run.hash}/verify").json()
    assert ok == {"ok": True, "verified": 2, "missing": [], "changed": [], "unrecorded": []}
    (tmp_path / "store" / run.hash / "b.txt").write_text("tampered")
    bad = client.post(f"/api/runs/{run.hash}/verify").json()
    assert bad["ok"] is False and bad["changed"] == ["b.txt"] and bad["verified"] == 1
    assert client.post("/api/runs/ffffffffffffffffffffffff/verify").status_code == 404


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "../../x"}, r"artifacts\[&#39;../../x&#39;\]: invalid artifact name"),
        ({"size": "12"}, r"artifacts\[&#39;config.yaml&#39;\]\.size: expected int, got str"),
    ],
)
def test_a_tampered_sidecar_is_an_error_page_and_nothing_of_the_run(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    doc = json.loads(GOLDEN.read_bytes())
    record = {**doc["artifacts"].pop("config.yaml"), **change}
    doc["artifacts"][record["name"]] = record
    (tmp_path / doc["run"]).mkdir()
    (tmp_path / doc["run"] / ".aim-artifacts.json").write_text(json.dumps(doc))
    client = TestClient(create_app(tmp_path), base_url="http://127.0.0.1")
    page = client.get(f"/runs/{doc['run']}")
    assert page.status_code == 500 and "text/html" in page.headers["content-type"]
    assert re.search(r"The records of run &#39;\w+&#39; are invalid: .*" + message, page.text)
    assert "ckpt/model.bin" not in page.text
    for url in (f"/api/runs/{doc['run']}/artifacts", f"/runs/{doc['run']}/download/ckpt/model.bin"):
        assert client.get(url).status_code == 500


def test_compare_shows_added_removed_changed_and_the_config_diff(demo: Any) -> None:
    client, old, new, _ = demo
    html = client.get(f"/compare?a={old.hash}&b={new.hash}").text
    assert "1 added</span>" in html and "1 removed</span>" in html and "1 changed</span>" in html
    assert "298 the same" in html
    assert '<tr class="added"><td>added</td><td class="cut" title="eval/report.json">' in html
    assert '<tr class="removed"><td>removed</td><td class="cut" title="plots/loss.svg">' in html
    assert (
        '<span class="del">-lr: 0.1</span>' in html and '<span class="add">+lr: 0.05</span>' in html
    )
    picker = client.get("/compare").text
    assert f'<option value="{old.hash}">' in picker and "summary" not in picker
    assert client.get(f"/compare?a={old.hash}&b=ffffffffffffffffffffffff").status_code == 404


def test_on_s3_previews_are_ranged_reads(
    s3: dict[str, Any], s3_moto: S3Server, tmp_path: Path
) -> None:
    (tmp_path / "big.txt").write_text("first line\n" + "x" * (3 << 20) + "\nlast line\n")
    (tmp_path / "c.yaml").write_text("lr: 0.1\n")
    with Run(artifacts_uri="s3://artifacts/page", **s3) as run:
        run.log_artifact(tmp_path / "big.txt", name="logs/big.txt")
        run.log_artifact(tmp_path / "c.yaml", name="c.yaml")
    client = TestClient(create_app("s3://artifacts/page", **s3), base_url="http://127.0.0.1")
    top = client.get(f"/api/runs/{run.hash}/artifacts?folder=").json()
    size = (tmp_path / "big.txt").stat().st_size
    assert top["folders"] == [{"path": "logs", "count": 1, "size": size}]
    s3_moto.middleware.requests.clear()
    head = preview(client, run, "logs/big.txt")
    assert "first line" in head and "last line" not in head and "Only the first 1.0 MiB" in head
    gets = [r for r in s3_moto.middleware.requests if r.method == "GET" and "big.txt" in r.path]
    assert [r.range for r in gets] == [f"bytes=0-{(1 << 20) - 1}"]  # one read of 1 MiB
    assert "lr: 0.1" in preview(client, run, "c.yaml")


GIF = bytes.fromhex("47494638396101000100800000000000ffffff2c00000000010001000002024401003b")  # 1x1
WEBP = bytes.fromhex(
    "524946461a000000574542505650384c0d0000002f00000010071011118888fe0700"
)  # 1x1, lossless


@pytest.mark.parametrize(
    ("name", "data", "shown"),
    [
        ("a.gif", GIF, "data:image/gif;base64,"),
        ("a.webp", WEBP, "data:image/webp;base64,"),
        ("a.jpeg", b"\xff\xd8\xff\xe0" + bytes(16), "data:image/jpeg;base64,"),
        ("png-named.jpg", png(), "data:image/png;base64,"),  # its bytes say what it is
        ("svg-named.png", SCRIPT_SVG.encode(), None),  # not a raster image: described only
        ("page.html", b"<html><script>alert(1)</script>", None),
    ],
)
def test_images_are_what_their_first_bytes_say(
    tmp_path: Path, name: str, data: bytes, shown: str | None
) -> None:
    (tmp_path / name).write_bytes(data)
    with Run(artifacts_uri=tmp_path / "store") as run:
        run.log_artifact(tmp_path / name)
    client = TestClient(create_app(tmp_path / "store"), base_url="http://127.0.0.1")
    html = preview(client, run, name)
    assert "<script" not in html and "<svg" not in html and "<html" not in html
    if shown is None:
        assert "<img" not in html
    else:
        assert f'<img class="image" src="{shown}{base64.b64encode(data).decode()}"' in html
