"""One large file to S3: ``log_artifact`` against Aim's boto3 path and raw s3fs, same run.

    python benchmarks/s3_large_file.py [--sizes-mib 256 1024] [--latency 0.03] [--repeat 3]

One moto server in its own process adds `--latency` seconds to every request. Each upload
runs in a fresh child process that times the upload alone (imports and client set-up are
not counted) and reports its own peak RSS (``ru_maxrss``), the server emptied before each:

- boto3 ``upload_file`` with its defaults (what Aim 3.29 calls: s3transfer, 8 MiB parts,
  10 at once),
- raw s3fs ``put_file``,
- ``log_artifact(block=True)`` (ours; the record's sha256 is checked against the file).

Targets: ours / boto3 <= 1.0 (medians) for every size; peak RSS <= 300 MiB. The runs are
interleaved so that drift hits all three alike. Then ``s3_many_files.py`` runs with 200 x
4 KiB files at the same latency, so that a regression on small files shows beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile

from _common import ROOT, Timing, empty_server, moto_process, report

CHILD = """
import json, resource, sys, time
tool, url, path = sys.argv[1:4]
options = dict(key="k", secret="s", endpoint_url=url, client_kwargs={"region_name": "us-east-1"})
if tool == "boto3":
    import boto3
    client = boto3.client("s3", endpoint_url=url, aws_access_key_id="k",
                          aws_secret_access_key="s", region_name="us-east-1")
    start = time.perf_counter()
    client.upload_file(path, "bench", "boto3/file.bin")
    seconds, sha256 = time.perf_counter() - start, None
elif tool == "s3fs":
    import s3fs
    fs = s3fs.S3FileSystem(**options)
    fs.ls("bench")
    start = time.perf_counter()
    fs.put_file(path, "bench/s3fs/file.bin")
    seconds, sha256 = time.perf_counter() - start, None
else:
    from aim_artifacts import Run
    run = Run(artifacts_uri="s3://bench/ours", **options)
    run.location.fs.ls("bench")  # its client set up, as the others' are
    start = time.perf_counter()
    art = run.log_artifact(path, name="file.bin", block=True)
    seconds, sha256 = time.perf_counter() - start, art.sha256
    run.close()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": seconds, "rss": rss, "sha256": sha256}))
"""

TOOLS = ("boto3", "s3fs", "ours")
LABELS = {
    "boto3": "boto3 upload_file (Aim)",
    "s3fs": "raw s3fs put_file",
    "ours": "aim-artifacts log_artifact",
}


def upload(tool: str, url: str, path: str) -> dict[str, float | str | None] | None:
    """Run one upload in a fresh interpreter; its seconds, peak RSS (MiB) and sha256, or
    None if it failed (the failure is printed: a comparison tool may time out)."""
    import json  # noqa: PLC0415

    done = subprocess.run(
        [sys.executable, "-c", CHILD, tool, url, path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        if tool == "ours":
            raise RuntimeError(done.stderr)
        print(f"  {LABELS[tool]} failed: {done.stderr.strip().splitlines()[-1]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes-mib", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=1.0, help="max ratio ours / boto3")
    parser.add_argument("--rss-target-mib", type=float, default=300)
    parser.add_argument("--small-files", type=int, default=200, help="0: skip that case")
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp, moto_process(latency=args.latency) as url:
        for size_mib in args.sizes_mib:
            path = os.path.join(tmp, "model.bin")
            digest = hashlib.sha256()
            with open(path, "wb") as f:
                for _ in range(size_mib):
                    block = os.urandom(2**20)
                    digest.update(block)
                    f.write(block)
            seconds: dict[str, list[float]] = {tool: [] for tool in TOOLS}
            rss: dict[str, float] = dict.fromkeys(TOOLS, 0.0)
            for _ in range(args.repeat):
                for tool in TOOLS:
                    empty_server(url)  # moto holds every object in memory: start from none
                    result = upload(tool, url, path)
                    if result is None:
                        continue
                    seconds[tool].append(float(result["seconds"]))  # type: ignore[arg-type]
                    rss[tool] = max(rss[tool], float(result["rss"]))  # type: ignore[arg-type]
                    if tool == "ours" and result["sha256"] != digest.hexdigest():
                        msg = f"recorded sha256 {result['sha256']} is not the file's"
                        raise AssertionError(msg)
            os.remove(path)
            print(
                f"{size_mib} MiB to S3, {args.latency * 1000:.0f} ms per request, "
                f"{args.repeat} runs each"
            )
            for tool in TOOLS:
                if not seconds[tool]:
                    continue
                timing = Timing(seconds[tool])
                rate = size_mib * 2**20 / timing.median / 1e6
                print(
                    f"  {LABELS[tool]:28} {timing}, {rate:.0f} MB/s, peak RSS {rss[tool]:.0f} MiB"
                )
            ours, boto3 = Timing(seconds["ours"]).median, Timing(seconds["boto3"]).median
            ok = report("  ratio ours / boto3 (medians)", ours / boto3, args.target) and ok
            if seconds["s3fs"]:
                raw = Timing(seconds["s3fs"]).median
                print(f"  ratio ours / raw s3fs (medians): {ours / raw:.2f}x")
            ok = report("  peak RSS of ours", rss["ours"], args.rss_target_mib, " MiB") and ok
    if args.small_files:
        print(f"{args.small_files} x 4 KiB (benchmarks/s3_many_files.py):", flush=True)
        many = [
            sys.executable,
            os.path.join(os.path.dirname(__file__), "s3_many_files.py"),
            f"--files={args.small_files}",
            f"--latency={args.latency}",
        ]
        ok = subprocess.run(many, check=False).returncode == 0 and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
