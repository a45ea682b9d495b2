"""Listing a store of many runs on S3 with 30 ms per request: 20 runs against 200, and the
first page of 10,000.

    python benchmarks/listing.py [--latency 0.03] [--repeat 5] [--big 10000]

Measured, each from cold (a new `Store` or app, a new CLI process), medians of `--repeat`:

- `Store.runs()`, `aim-artifacts runs --json` (a process, as a user runs it) and the runs
  page's JSON (`/api/runs`, first page of 50) with 20 and with 200 runs: target, 200 runs
  cost at most 3x what 20 cost (the plain way, a request or five per run, costs 10x);
- the first page of 10,000 runs (`/api/runs` and `Store.page()`): target under 2 s.

Against the plain way in the same run: boto3's paginated ListObjectsV2 of the same keys
(and, for 10,000 runs, of the run prefixes alone, with ``Delimiter="/"``), which bounds
what any listing that orders runs by time can cost on this server.

Each run holds a sidecar and a nested artifact, made once with the API on a local path and
copied to S3 under new hashes in parallel (the sidecar's hash rewritten), with the marker
its writer puts in the runs index (`aim_artifacts.runindex`), one millisecond apart; the
big store is made after the 20 / 200 comparison (moto scans a bucket's every key on each
listing). Its setup takes about two minutes on moto. ``runs --json`` lists the whole store;
`Store.runs()` lists the index, a first page its first names. Exits 1 when a target is
missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from _common import moto_process, report, s3_client, time_runs

from aim_artifacts import Run, Store
from aim_artifacts.names import new_run_hash
from aim_artifacts.runindex import COMPLETE, INDEX_DIR, Marker

BUCKET = "bench"
SMALL, LARGE = 20, 200  # runs in the stores compared
TARGET, BIG_TARGET = 3.0, 2.0  # LARGE / SMALL at most; seconds for the big store's first page


def template(tmp: str) -> tuple[str, dict[str, bytes]]:
    """A real run's files (relative path -> bytes) and its hash."""
    os.makedirs(tmp)
    source = os.path.join(tmp, "model.bin")
    with open(source, "wb") as f:
        f.write(os.urandom(4096))
    with Run(artifacts_uri=os.path.join(tmp, "store")) as run:
        run.log_artifact(source, name="ckpt/model.bin")
    root = os.path.join(tmp, "store", run.hash)
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return run.hash, files


def populate(options: dict[str, Any], prefix: str, count: int, tmp: str) -> None:
    """`count` runs like the template's under ``s3://bench/<prefix>``, each with its marker
    in a complete runs index, written in parallel."""
    import s3fs  # noqa: PLC0415 - the benchmark's own writes, not what it measures

    old, files = template(tmp)
    fs = s3fs.S3FileSystem(
        skip_instance_cache=True, config_kwargs={"max_pool_connections": 64}, **options
    )
    objects = {f"{BUCKET}/{prefix}/{INDEX_DIR}/{COMPLETE}": b""}
    now = int(time.time() * 1000)
    for n in range(count):
        run_hash = new_run_hash()
        for relative, data in files.items():
            body = data.replace(old.encode(), run_hash.encode())
            objects[f"{BUCKET}/{prefix}/{run_hash}/{relative}"] = body
        marker = Marker(run_hash, now - n)
        objects[f"{BUCKET}/{prefix}/{INDEX_DIR}/{marker.name}"] = run_hash.encode()
    fs.pipe(objects, batch_size=64)


def load_average() -> str:
    """The machine's load average, printed beside the timings it may have slowed."""
    return "load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per request")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--big", type=int, default=10_000, help="runs in the big store")
    args = parser.parse_args()

    from starlette.testclient import TestClient  # noqa: PLC0415 - the [ui] extra

    from aim_artifacts.ui.app import create_app  # noqa: PLC0415 - the [ui] extra

    ok = True
    with moto_process(latency=args.latency) as url, tempfile.TemporaryDirectory() as tmp:
        s3_client(url).create_bucket(Bucket=BUCKET)
        options = {
            "key": "k",
            "secret": "s",
            "endpoint_url": url,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        for label, count in (("small", SMALL), ("large", LARGE)):
            populate(options, label, count, os.path.join(tmp, label))

        def uri(label: str) -> str:
            return f"s3://{BUCKET}/{label}"

        def api(label: str) -> list[dict[str, Any]]:
            client = TestClient(create_app(uri(label), **options), base_url="http://127.0.0.1")
            response = client.get("/api/runs")
            response.raise_for_status()
            return response.json()  # type: ignore[no-any-return]

        def cli(label: str) -> None:
            argv = [sys.executable, "-m", "aim_artifacts.cli", "runs", "--json", uri(label)]
            subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)

        def raw(label: str, delimiter: str = "") -> int:
            """The plain way: boto3's ListObjectsV2 of the store, every key (or with a
            delimiter, every run prefix); the entries it returned."""
            pages = (
                s3_client(url)
                .get_paginator("list_objects_v2")
                .paginate(Bucket=BUCKET, Prefix=f"{label}/", Delimiter=delimiter)
            )
            return sum(len(p.get("Contents", [])) + len(p.get("CommonPrefixes", [])) for p in pages)

        print(f"S3 (moto), {args.latency * 1e3:.0f} ms a request; {load_average()}")
        for label, count in (("small", SMALL), ("large", LARGE)):
            timing = time_runs(lambda _, label=label: raw(label), args.repeat)
            print(f"plain: boto3 ListObjectsV2 of {count} runs' keys {timing}")
        entry_points = {
            "Store.runs()": lambda label: Store(uri(label), **options).runs(),
            "aim-artifacts runs --json": cli,
            "/api/runs (first page)": api,
        }
        for name, fn in entry_points.items():
            small = time_runs(lambda _, fn=fn: fn("small"), args.repeat)
            large = time_runs(lambda _, fn=fn: fn("large"), args.repeat)
            print(f"{name}: {SMALL} runs {small}; {LARGE} runs {large}")
            ratio = large.median / small.median
            ok &= report(f"  {LARGE} / {SMALL} runs", ratio, TARGET)

        assert len(Store(uri("large"), **options).runs()) == LARGE
        start = time.perf_counter()
        populate(options, "big", args.big, os.path.join(tmp, "big"))
        print(f"({args.big} runs stored in {time.perf_counter() - start:.0f}s)")
        first = api("big")
        assert len(first) == 50 and all(r["count"] == 1 for r in first)
        repeat = min(args.repeat, 3)
        big_api = time_runs(lambda _: api("big"), repeat)
        big_store = time_runs(lambda _: Store(uri("big"), **options).page(), repeat)
        plain = time_runs(lambda _: raw("big"), repeat)
        prefixes = time_runs(lambda _: raw("big", "/"), repeat)
        print(f"{args.big} runs, first page of 50: /api/runs {big_api}; Store.page() {big_store}")
        print(f"  {load_average()}")
        print(f"  plain: boto3 ListObjectsV2 of every key {plain}; of the run prefixes {prefixes}")
        print(f"  /api/runs / plain listing of every key: {big_api.median / plain.median:.2f}x")
        ok &= report("  /api/runs first page", big_api.median, BIG_TARGET, " s")
        ok &= report("  Store.page() first page", big_store.median, BIG_TARGET, " s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
