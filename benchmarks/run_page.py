"""The run page of a 100,000-artifact run: server time of the page plus the first page of
its paged API (what a browser asks for first), against reading the run through the library
(`Store.run(hash).artifacts`, which any page must do once).

Cold: a new app, so the run is read; warm: the same app within its cache's lifetime (the
page's own requests, a reload, a preview). The run's sidecar is written directly (a real
sidecar of 100,000 records; the objects need not exist to open the page). ``--s3`` puts it
on the S3 test server with `--latency` added to every request instead of a local path.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import sys
import tempfile
from pathlib import Path

import s3fs
from _common import moto_process, report, s3_client, time_runs
from starlette.testclient import TestClient

from aim_artifacts import Store
from aim_artifacts.formatting import format_time
from aim_artifacts.sidecar import RunState, encode_sidecar, new_revision
from aim_artifacts.ui.app import create_app

RUN = "0123456789abcdef01234567"


def make_run(base: Path, count: int) -> None:
    """A run of `count` artifacts in three levels of folders, as its sidecar."""
    state = RunState()
    revision, now = new_revision(), format_time(dt.datetime.now(dt.timezone.utc))
    for i in range(count):
        name = f"epoch_{i // 10_000:02d}/step_{i // 100 % 100:03d}/shard_{i:06d}.bin"
        record = {
            "name": name,
            "path": f"/data/{name}",
            "uri": f"{base}/{RUN}/{name}",
            "size": i * 7 % 100_000,
            "sha256": f"{i:064x}",
            "created_at": now,
            "content_type": "application/octet-stream",
            "metadata": {},
        }
        state.changes[name] = (revision, record)
    (base / RUN).mkdir(parents=True)
    (base / RUN / ".aim-artifacts.json").write_bytes(encode_sidecar(RUN, state))


def first_load(client: TestClient) -> int:
    """GET the run page and the first page of its API; the bytes of the page."""
    page = client.get(f"/runs/{RUN}")
    api = client.get(f"/api/runs/{RUN}/artifacts?limit=200")
    assert page.status_code == api.status_code == 200
    assert len(api.json()["artifacts"]) == 200
    return len(page.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--s3", action="store_true", help="on the S3 test server")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per S3 request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        make_run(Path(tmp), args.artifacts)
        uri, options = tmp, {}
        if args.s3:
            url = stack.enter_context(moto_process(latency=args.latency))
            s3_client(url).create_bucket(Bucket="bench")
            options = {"key": "k", "secret": "s", "endpoint_url": url}
            options["client_kwargs"] = {"region_name": "us-east-1"}
            sidecar = f"{RUN}/.aim-artifacts.json"
            s3fs.S3FileSystem(**options).put_file(f"{tmp}/{sidecar}", f"bench/runs/{sidecar}")
            uri = "s3://bench/runs"

        def app() -> TestClient:
            return TestClient(create_app(uri, **options), base_url="http://127.0.0.1")

        read = time_runs(lambda _: Store(uri, **options).run(RUN).artifacts, args.repeat)
        cold = time_runs(lambda _: first_load(app()), args.repeat)
        client = app()
        size = first_load(client)
        warm = time_runs(lambda _: first_load(client), args.repeat * 2)
    where = f"S3 with {args.latency * 1e3:.0f} ms per request" if args.s3 else "a local path"
    print(f"{args.artifacts:,} artifacts on {where}; the page is {size / 1024:.0f} KiB")
    print(f"read the run (Store.run(h).artifacts): {read}")
    print(f"page + first API page, cold:           {cold}")
    print(f"page + first API page, warm:           {warm}")
    ok = report("cold first load / reading the run", cold.median / read.median, 1.25)
    ok &= report("warm first load", warm.median, 1.0, unit=" s")
    report("cold first load", cold.median, None, unit=" s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
