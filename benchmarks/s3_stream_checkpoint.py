"""A checkpoint written straight to S3 with ``run.open_artifact`` (moto in its own process).

    python benchmarks/s3_stream_checkpoint.py [--size-mib 256] [--repeat 3]

What ``torch.save(state, f)`` does to a file object, done three ways, each in a fresh
interpreter that reports its wall time and peak RSS:

- ``open_artifact``: ``with run.open_artifact(name) as f`` (hashed, stored atomically, recorded);
- the temp-file way: write a local temp file, then ``run.log_artifact(tmp, block=True)``;
- raw s3fs: ``with fs.open(path, "wb") as f`` (no hash, no record).

Targets: ``open_artifact`` within 1.3x of raw s3fs, and under 300 MiB peak RSS. Exits 1 on a
miss.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from _common import moto_process, report, s3_client

PRELUDE = """
import json, os, resource, sys, time
url, size_mib = sys.argv[1], int(sys.argv[2])
options = dict(key="k", secret="s", endpoint_url=url, client_kwargs={"region_name": "us-east-1"})
chunk = os.urandom(2**20)

def save(f):  # what torch.save does: many writes into a file object
    for _ in range(size_mib):
        f.write(chunk)

start = time.perf_counter()
"""

REPORT = """
seconds = time.perf_counter() - start
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss": rss}))
"""

WAYS = {
    "open_artifact": """
from aim_artifacts import Run
run = Run(artifacts_uri="s3://bench/stream", **options)
with run.open_artifact("ckpt/model.pt") as f:
    save(f)
run.close()
""",
    "temp file + log_artifact": """
import tempfile
from aim_artifacts import Run
run = Run(artifacts_uri="s3://bench/temp", **options)
with tempfile.TemporaryDirectory() as tmp:
    with open(os.path.join(tmp, "model.pt"), "wb") as f:
        save(f)
    run.log_artifact(os.path.join(tmp, "model.pt"), name="ckpt/model.pt", block=True)
run.close()
""",
    "raw s3fs open('wb')": """
import s3fs
fs = s3fs.S3FileSystem(**options)
with fs.open("bench/raw/model.pt", "wb") as f:
    save(f)
""",
}


def measure(code: str, url: str, size_mib: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PRELUDE + code + REPORT, url, str(size_mib)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    results: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
    with moto_process() as url:
        s3_client(url).create_bucket(Bucket="bench")
        for _ in range(args.repeat):  # interleaved, so drift hits every way alike
            for way, code in WAYS.items():
                results[way].append(measure(code, url, args.size_mib))

    medians = {}
    print(f"{args.size_mib} MiB checkpoint to S3, {args.repeat} runs each (medians):")
    for way, runs in results.items():
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = statistics.median(r["rss"] for r in runs)
        medians[way] = (seconds, rss)
        spread = ", ".join(f"{r['seconds']:.2f}" for r in runs)
        print(f"  {way:26} {seconds:6.2f}s ({spread})  peak RSS {rss:5.0f} MiB")
    ours, _ = medians["open_artifact"]
    ok = report("open_artifact / raw s3fs", ours / medians["raw s3fs open('wb')"][0], 1.3)
    ok &= report("open_artifact peak RSS", medians["open_artifact"][1], 300, " MiB")
    report(
        "open_artifact / temp file + log_artifact",
        ours / medians["temp file + log_artifact"][0],
        None,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
