"""The first open of a 100,000-artifact run's page, over HTTP: a new `aim-artifacts ui`
process (started untimed; the run is read on the first request), then what a browser asks
for to show the page (the page, which holds the first level of the folder tree, paged, and
its CSS and script) and a script's first page of the paged API (200 rows); median of
`--repeat` new servers. Target: under 1 s.

Against, in the same run: the plain way (the sidecar's bytes read and parsed with
`json.loads`, nothing more), and reading the run through the library
(`Store.run(hash).artifacts`, which any page must do once). Warm: the same requests again to
the same server, within its cache's lifetime (a reload, the page's own requests). Also the
CPU times of a cold open in this process and of the plain way's `json.loads`, which other
load on the machine sways less than wall-clock times.

The run's sidecar is written directly (a real sidecar of 100,000 records; the objects need
not exist to open the page). ``--s3`` puts it on the S3 test server with `--latency` added
to every request instead of a local path.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
import s3fs
from _common import Timing, moto_process, report, s3_client, time_runs, ui_process
from starlette.testclient import TestClient

from aim_artifacts import Store
from aim_artifacts.formatting import format_time
from aim_artifacts.sidecar import RunState, encode_sidecar, new_revision
from aim_artifacts.ui.app import create_app

RUN = "0123456789abcdef01234567"
T = TypeVar("T")


def make_run(base: Path, count: int) -> None:
    """A run of `count` artifacts in three levels of folders, logged a millisecond apart,
    as its sidecar."""
    state = RunState()
    revision, start = new_revision(), dt.datetime.now(dt.timezone.utc)
    for i in range(count):
        name = f"epoch_{i // 10_000:02d}/step_{i // 100 % 100:03d}/shard_{i:06d}.bin"
        record = {
            "name": name,
            "path": f"/data/{name}",
            "uri": f"{base}/{RUN}/{name}",
            "size": i * 7 % 100_000,
            "sha256": f"{i:064x}",
            "created_at": format_time(start + dt.timedelta(milliseconds=i)),
            "content_type": "application/octet-stream",
            "metadata": {},
        }
        state.changes[name] = (revision, record)
    (base / RUN).mkdir(parents=True)
    (base / RUN / ".aim-artifacts.json").write_bytes(encode_sidecar(RUN, state))


def first_open(client: httpx.Client | TestClient, url: str) -> int:
    """What a browser asks for to show the run page, then the API's first page; the bytes
    of the page."""
    page = client.get(f"{url}/runs/{RUN}")
    assets = [client.get(f"{url}/static/app.{kind}") for kind in ("css", "js")]
    api = client.get(f"{url}/api/runs/{RUN}/artifacts", params={"limit": 200})
    assert page.status_code == api.status_code == 200
    assert all(a.status_code == 200 for a in assets)
    assert len(api.json()["artifacts"]) == 200
    return len(page.content)


def cpu_times(fn: Callable[[T], object], repeat: int, setup: Callable[[], T]) -> Timing:
    """The CPU time of this process running ``fn(setup())``, `repeat` times, `setup` untimed."""
    samples = []
    for _ in range(repeat):
        given = setup()
        start = time.process_time()
        fn(given)
        samples.append(time.process_time() - start)
    return Timing(samples)


def cold_opens(uri: str, env: dict[str, str], repeat: int) -> Timing:
    """`first_open` of a new server, `repeat` times."""
    samples = []
    for _ in range(repeat):
        with ui_process(uri, env) as url, httpx.Client(timeout=120) as client:
            start = time.perf_counter()
            first_open(client, url)
            samples.append(time.perf_counter() - start)
    return Timing(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--s3", action="store_true", help="on the S3 test server")
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per S3 request")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        make_run(Path(tmp), args.artifacts)
        sidecar = f"{tmp}/{RUN}/.aim-artifacts.json"
        uri, options, env = tmp, {}, {}
        read_bytes = Path(sidecar).read_bytes
        if args.s3:
            url = stack.enter_context(moto_process(latency=args.latency))
            s3_client(url).create_bucket(Bucket="bench")
            options = {"key": "k", "secret": "s", "endpoint_url": url}
            options["client_kwargs"] = {"region_name": "us-east-1"}
            env = {
                "AWS_ACCESS_KEY_ID": "k",
                "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_ENDPOINT_URL_S3": url,
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            fs = s3fs.S3FileSystem(skip_instance_cache=True, **options)
            fs.put_file(sidecar, f"bench/runs/{RUN}/.aim-artifacts.json")
            uri = "s3://bench/runs"

            def read_bytes() -> bytes:
                s3 = s3fs.S3FileSystem(skip_instance_cache=True, **options)
                return s3.cat_file(f"bench/runs/{RUN}/.aim-artifacts.json")  # type: ignore[no-any-return]

        plain = time_runs(lambda _: json.loads(read_bytes()), args.repeat)
        read = time_runs(lambda _: Store(uri, **options).run(RUN).artifacts, args.repeat)
        cold = cold_opens(uri, env, args.repeat)
        plain_cpu = cpu_times(json.loads, args.repeat, read_bytes)
        cpu = cpu_times(  # a new app each time (made untimed, as a server starts) in this
            lambda client: first_open(client, ""),  # process: Starlette's test client
            args.repeat,
            lambda: TestClient(create_app(uri, **options), base_url="http://127.0.0.1"),
        )
        with ui_process(uri, env) as url, httpx.Client(timeout=120) as client:
            size = first_open(client, url)
            warm = time_runs(lambda _: first_open(client, url), args.repeat * 2)
    where = f"S3 with {args.latency * 1e3:.0f} ms per request" if args.s3 else "a local path"
    print(f"{args.artifacts:,} artifacts on {where}; the page is {size / 1024:.0f} KiB")
    print(f"plain: the sidecar read and json.loads:   {plain}")
    print(f"read the run (Store.run(h).artifacts):    {read}")
    print(f"first open over HTTP, new server (cold):  {cold}")
    print(f"the same again, same server (warm):       {warm}")
    print(f"CPU time: the plain way (json.loads)      {plain_cpu}")
    print(f"CPU time: a cold first open               {cpu}")
    report("cold first open / the plain read and parse", cold.median / plain.median, None)
    report("  in CPU time", cpu.median / plain_cpu.median, None)
    ok = report("cold first open / reading the run", cold.median / read.median, 1.25)
    ok &= report("cold first open", cold.median, 1.0, unit=" s")
    ok &= report("warm first open", warm.median, 1.0, unit=" s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
