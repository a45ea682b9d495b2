"""Many small files to S3: ``log_artifacts`` against raw s3fs and against a per-file loop.

    python benchmarks/s3_many_files.py [--files 1000] [--size 4096] [--latency 0.03]

One moto server in its own process adds `--latency` seconds to every request (what a real
network costs). Three ways to store the same files, each into a fresh prefix:

- raw s3fs ``fs.put(list, list)`` at the same concurrency (target: ours <= 1.3x),
- ``log_artifacts(block=True)`` (ours),
- a loop of one blocking upload per file, as Aim does (target: ours >= 8x faster).

Prints medians of `--repeat` runs; exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import s3fs
from _common import Timing, moto_process, report, s3_client, time_runs

from aim_artifacts import Run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--target", type=float, default=1.3, help="max ratio ours / raw s3fs")
    parser.add_argument("--loop-target", type=float, default=8.0, help="min speed-up vs loop")
    parser.add_argument("--no-loop", action="store_true", help="skip the per-file loop")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, moto_process(latency=args.latency) as url:
        options: dict[str, Any] = {
            "key": "k",
            "secret": "s",
            "endpoint_url": url,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        client = s3_client(url)
        client.create_bucket(Bucket="bench")
        src = os.path.join(tmp, "files")
        os.makedirs(src)
        paths = []
        for i in range(args.files):
            path = os.path.join(src, f"f{i:05d}.bin")
            with open(path, "wb") as f:
                f.write(os.urandom(args.size))
            paths.append(path)

        fs = s3fs.S3FileSystem(**options)

        def raw(i: int) -> None:
            targets = [f"bench/raw{i}/{os.path.basename(p)}" for p in paths]
            fs.put(paths, targets, batch_size=args.concurrency)

        def ours(i: int) -> None:
            with Run(
                artifacts_uri="s3://bench/ours", max_concurrency=args.concurrency, **options
            ) as run:
                run.log_artifacts(src, name=f"r{i}", block=True)

        def loop(i: int) -> None:
            for p in paths:
                client.upload_file(p, "bench", f"loop{i}/{os.path.basename(p)}")

        raw(-1)  # warm up (connections, imports)
        ours(-1)
        rounds: dict[str, list[float]] = {"raw": [], "ours": [], "loop": []}
        for i in range(args.repeat):  # interleaved, so drift hits all alike
            rounds["raw"] += time_runs(lambda _, i=i: raw(i), 1).samples
            rounds["ours"] += time_runs(lambda _, i=i: ours(i), 1).samples
            if not args.no_loop:
                rounds["loop"] += time_runs(lambda _, i=i: loop(i), 1).samples

    raw_t, ours_t = Timing(rounds["raw"]), Timing(rounds["ours"])
    print(
        f"{args.files} files x {args.size} B to S3, {args.latency * 1000:.0f} ms per request, "
        f"concurrency {args.concurrency}"
    )
    print(f"  raw s3fs fs.put(list, list):  {raw_t}")
    print(f"  aim-artifacts log_artifacts:  {ours_t}")
    ok = report("  ratio ours / raw s3fs (medians)", ours_t.median / raw_t.median, args.target)
    if not args.no_loop:
        loop_t = Timing(rounds["loop"])
        print(f"  loop of blocking uploads:     {loop_t}")
        speedup = loop_t.median / ours_t.median
        met = speedup >= args.loop_target
        print(
            f"  speed-up over the loop (medians): {speedup:.1f}x "
            f"(target >= {args.loop_target:g}x) {'OK' if met else 'MISSED'}"
        )
        ok = ok and met
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
