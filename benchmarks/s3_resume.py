"""A large upload killed halfway, resumed, against the same upload from scratch.

    python benchmarks/s3_resume.py [--size-mib 1024] [--latency 0.03] [--repeat 3]

One moto server in its own process adds `--latency` seconds to every request. Each round,
in fresh child processes: ``log_artifact`` of the file from scratch (timed); the same into
another run, the process killing itself (SIGKILL) once half the bytes went up; then a new
process logs the file again into that run (timed: it resumes). Target: resumed / scratch
<= 0.65 (medians; about half is expected: the source is still read and hashed whole).

Both timed uploads end with CompleteMultipartUpload, whose time is the server's alone and the
same whatever was resumed (moto joins the parts into one object in memory: seconds for
1 GiB); it is timed too, and the ratio without it printed beside. Both timed uploads start
from an empty server (moto's reset), as its completions slow while it holds more.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

from _common import ROOT, Timing, empty_server, moto_process, report

CHILD = """
import os, signal, sys, time
from aim_artifacts import Run, progress
what, url, path, run_hash = sys.argv[1:5]
options = dict(key="k", secret="s", endpoint_url=url, client_kwargs={"region_name": "us-east-1"})
if what == "kill":
    add, moved, half = progress.ProgressBar.add, [0], os.path.getsize(path) // 2

    def add_then_die(self, nbytes):
        add(self, nbytes)
        moved[0] += nbytes
        if moved[0] >= half:
            os.kill(os.getpid(), signal.SIGKILL)

    progress.ProgressBar.add = add_then_die
run = Run(run_hash, artifacts_uri="s3://bench/resume", **options)
fs = run.location.fs
fs.ls("bench")  # the client set up before timing
completing = []
fs.s3.meta.events.register(
    "before-call.s3.CompleteMultipartUpload", lambda **_: completing.append(time.perf_counter())
)
fs.s3.meta.events.register(
    "after-call.s3.CompleteMultipartUpload", lambda **_: completing.append(time.perf_counter())
)
start = time.perf_counter()
art = run.log_artifact(path, name="model.bin", block=True, progress=what == "kill")
print(time.perf_counter() - start, completing[-1] - completing[0])
run.close()
"""


def child(what: str, url: str, path: str, run_hash: str) -> tuple[float, float] | None:
    """Run one logging process; its upload's seconds and the completion's (None if it was
    killed)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD, what, url, path, run_hash],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if what == "kill":
        assert done.returncode == -9, done.stderr
        return None
    assert done.returncode == 0, done.stderr
    seconds, completion = done.stdout.split()[:2]
    return float(seconds), float(completion)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.65, help="max resumed / scratch")
    args = parser.parse_args()

    from aim_artifacts.names import new_run_hash  # noqa: PLC0415 - after _common's path set-up

    scratch, resumed = [], []
    with tempfile.TemporaryDirectory() as tmp, moto_process(latency=args.latency) as url:
        path = os.path.join(tmp, "model.bin")
        with open(path, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(2**20))
        for _ in range(args.repeat):
            empty_server(url)
            scratch.append(child("log", url, path, new_run_hash()))
            empty_server(url)
            run_hash = new_run_hash()
            child("kill", url, path, run_hash)
            resumed.append(child("log", url, path, run_hash))
    scratch_t, scratch_c = (Timing([s[i] for s in scratch if s]) for i in (0, 1))
    resumed_t, resumed_c = (Timing([s[i] for s in resumed if s]) for i in (0, 1))
    print(f"{args.size_mib} MiB to S3, {args.latency * 1000:.0f} ms per request")
    print(f"  from scratch:             {scratch_t}")
    print(f"    of which the server's completion: {scratch_c}")
    print(f"  resumed after a kill at 50%: {resumed_t}")
    print(f"    of which the server's completion: {resumed_c}")
    ok = report(
        "  ratio resumed / scratch (medians)", resumed_t.median / scratch_t.median, args.target
    )
    without = (
        Timing([t - c for t, c in (s for s in resumed if s)]).median
        / Timing([t - c for t, c in (s for s in scratch if s)]).median
    )
    report("  the same without the server's completion", without, None)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
