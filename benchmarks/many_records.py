"""10,000 artifacts logged one call at a time, then the run reopened.

    python benchmarks/many_records.py [--artifacts 10000] [--size 1024]

Target: with ``block=True`` to a local path, the time per artifact over the last 1,000 calls
is at most 1.5x that over the first 1,000 (metadata costs O(1) per artifact: one journal
entry each, folded into the sidecar now and then). Then:

- the run reopened from the local path loads its records in under 1 s;
- the same records reopened on S3 (moto server, in process, counting requests) take a fixed
  number of requests, whatever the number of records.

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import s3fs
from _common import report, s3_client

from aim_artifacts import Run
from tests.servers import S3Server, free_port


def main() -> int:  # noqa: PLR0915 - one straight measurement script
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--window", type=int, default=1000)
    parser.add_argument("--target", type=float, default=1.5)
    parser.add_argument("--reopen-target", type=float, default=1.0, help="seconds")
    parser.add_argument("--repeat", type=int, default=5, help="reopen timings")
    args = parser.parse_args()
    ok = True

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "metrics.json")
        payload = os.urandom(args.size)
        run = Run(artifacts_uri=os.path.join(tmp, "store"))
        per_call = []
        for i in range(args.artifacts):
            with open(src, "wb") as f:
                f.write(payload)
            start = time.perf_counter()
            run.log_artifact(src, name=f"eval/step-{i:05d}.json", block=True)
            per_call.append(time.perf_counter() - start)
        start = time.perf_counter()
        run.close()
        close_s = time.perf_counter() - start

        first = statistics.mean(per_call[: args.window]) * 1e3
        last = statistics.mean(per_call[-args.window :]) * 1e3
        print(f"{args.artifacts} artifacts x {args.size} B, one blocking call each, local path")
        print(f"  first {args.window}: {first:.3f} ms per artifact (mean)")
        print(f"  last {args.window}:  {last:.3f} ms per artifact (mean)")
        median = statistics.median(per_call) * 1e3
        print(f"  median of all calls: {median:.3f} ms; close {close_s:.3f}s")
        ok &= report("  ratio last / first", last / first, args.target)

        reopen = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            records = Run(run.hash, artifacts_uri=os.path.join(tmp, "store")).artifacts
            reopen.append(time.perf_counter() - start)
        assert len(records) == args.artifacts
        print(
            f"  reopen with {len(records)} records: median {statistics.median(reopen):.3f}s "
            f"(min {min(reopen):.3f}s, max {max(reopen):.3f}s, n={args.repeat})"
        )
        ok &= report("  reopen (median)", statistics.median(reopen), args.reopen_target, " s")

        # The same run on S3: upload its directory as it is, then count a reopen's requests.
        server = S3Server(free_port())
        server.start()
        try:
            s3_client(server.url).create_bucket(Bucket="bench")
            options = {
                "key": "k",
                "secret": "s",
                "endpoint_url": server.url,
                "client_kwargs": {"region_name": "us-east-1"},
            }
            sidecar = os.path.join(tmp, "store", run.hash, ".aim-artifacts.json")
            s3fs.S3FileSystem(**options).put_file(
                sidecar, f"bench/runs/{run.hash}/.aim-artifacts.json"
            )
            server.middleware.requests.clear()
            records = Run(run.hash, artifacts_uri="s3://bench/runs", **options).artifacts
            assert len(records) == args.artifacts
            kinds = sorted(
                {
                    f"{r.method} {'list' if 'list-type' in r.query else 'object'}"
                    for r in server.middleware.requests
                }
            )
            print(
                f"  reopen on S3 with {len(records)} records: "
                f"{len(server.middleware.requests)} requests ({', '.join(kinds)})"
            )
        finally:
            server.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
