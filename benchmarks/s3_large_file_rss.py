"""Peak RSS while logging one large file to S3 (moto server in its own process).

    python benchmarks/s3_large_file_rss.py [--size-mib 1024]

The upload runs in a child process whose peak RSS (ru_maxrss) is measured; raw s3fs
``put_file`` of the same file is measured the same way for comparison. Target: under 300 MiB
for 1 GiB. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

from _common import moto_process, report, s3_client

LOG = """
import sys
from aim_artifacts import Run
run = Run(artifacts_uri="s3://bench/rss", key="k", secret="s", endpoint_url=sys.argv[1],
          client_kwargs={"region_name": "us-east-1"})
art = run.log_artifact(sys.argv[2], block=True)
run.close()
print(art.size, art.sha256[:12])
"""

RAW = """
import sys, s3fs
fs = s3fs.S3FileSystem(key="k", secret="s", endpoint_url=sys.argv[1],
                       client_kwargs={"region_name": "us-east-1"})
fs.put_file(sys.argv[2], "bench/raw/file.bin")
print(fs.info("bench/raw/file.bin")["size"])
"""


def peak_rss_mib(code: str, *args: str) -> tuple[float, float, str]:
    """Run `code` in a fresh interpreter; its peak RSS in MiB, wall seconds and output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout.strip()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak <= before:
        msg = "a child before this one had a larger peak RSS: measure in a fresh parent"
        raise RuntimeError(msg)
    return peak / 1024, seconds, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--target-mib", type=float, default=300)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, moto_process() as url:
        s3_client(url).create_bucket(Bucket="bench")
        path = os.path.join(tmp, "model.bin")
        with open(path, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(2**20))
        # The raw s3fs run goes second: ru_maxrss of children only grows.
        ours, our_s, out = peak_rss_mib(LOG, url, path)
        print(f"aim-artifacts log_artifact of {args.size_mib} MiB: {our_s:.1f}s, {out}")
        ok = report("  peak RSS", ours, args.target_mib, " MiB")
        raw, raw_s, _ = peak_rss_mib(RAW, url, path)
        print(f"raw s3fs put_file of the same file: {raw_s:.1f}s, peak RSS {raw:.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
