"""Many small files to a local path: ``log_artifacts`` against a ``shutil.copyfile`` loop.

    python benchmarks/local_many_files.py [--files 1000] [--size 4096] [--repeat 5]

Target: at most 1.5x a plain loop of ``shutil.copyfile`` into the same layout (with its
``os.makedirs``), both into a fresh directory each run. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile

from _common import Timing, fresh_dir, report, time_runs

from aim_artifacts import Run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "ckpt")
        for i in range(args.files):
            sub = os.path.join(src, f"shard{i % 10}")
            os.makedirs(sub, exist_ok=True)
            with open(os.path.join(sub, f"f{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(args.size))
        files = sorted(
            os.path.relpath(os.path.join(d, n), src) for d, _, ns in os.walk(src) for n in ns
        )
        dest = os.path.join(tmp, "dest")

        clean = fresh_dir(dest)

        def plain(_: int) -> None:
            for rel in files:
                target = os.path.join(dest, "run", "ckpt", rel)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.copyfile(os.path.join(src, rel), target)

        def ours(_: int) -> None:
            with Run(artifacts_uri=dest) as run:
                run.log_artifacts(src, block=True)

        rounds: dict[str, list[float]] = {"plain": [], "ours": []}
        for _ in range(args.repeat):
            rounds["plain"] += time_runs(plain, 1, clean).samples
            rounds["ours"] += time_runs(ours, 1, clean).samples

    plain_t, ours_t = Timing(rounds["plain"]), Timing(rounds["ours"])
    print(f"{args.files} files x {args.size} B to a local path")
    print(f"  shutil.copyfile loop:   {plain_t}")
    print(f"  log_artifacts(block=True) + close: {ours_t}")
    ok = report("  ratio ours / plain (medians)", ours_t.median / plain_t.median, args.target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
