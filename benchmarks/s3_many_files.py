"""Many small files to S3: ``log_artifacts`` against raw s3fs ``fs.put(list, list)``.

    python benchmarks/s3_many_files.py [--files 500] [--size 4096] [--repeat 5]

Both run in this process against one moto server (its own process), at the same
concurrency, each into a fresh prefix. Prints medians and the ratio (ours / raw).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from typing import Any

import boto3
import s3fs
from _common import moto_process, report, time_runs

from aim_artifacts import Run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--target", type=float, default=None, help="max ratio ours/raw")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, moto_process() as url:
        options: dict[str, Any] = {
            "key": "k",
            "secret": "s",
            "endpoint_url": url,
            "client_kwargs": {"region_name": "us-east-1"},
        }
        boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="k",
            aws_secret_access_key="s",
            region_name="us-east-1",
        ).create_bucket(Bucket="bench")
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
            fs.put(
                paths,
                [f"bench/raw{i}/{os.path.basename(p)}" for p in paths],
                batch_size=args.concurrency,
            )

        def ours(i: int) -> None:
            with Run(
                artifacts_uri="s3://bench/ours", max_concurrency=args.concurrency, **options
            ) as run:
                run.log_artifacts(src, name=f"r{i}", block=True)

        raw(-1)  # warm up both (connections, imports)
        ours(-1)
        raw_t = time_runs(raw, args.repeat)
        ours_t = time_runs(ours, args.repeat)

    print(f"{args.files} files x {args.size} B to S3, concurrency {args.concurrency}")
    print(f"  raw s3fs fs.put(list, list): {raw_t}")
    print(f"  aim-artifacts log_artifacts: {ours_t}")
    ok = report("  ratio ours / raw (medians)", ours_t.median / raw_t.median, args.target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
