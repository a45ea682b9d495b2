"""One large file to a local path, sha256 recorded, against copying and hashing alone.

    python benchmarks/local_large_file.py [--size-mib 1024] [--repeat 5] [--dir DIR]

Target: ``log_artifact(block=True)`` takes at most 1.3x max(``shutil.copyfile``,
``hashlib.file_digest(f, "sha256")``) on the same file: copying and hashing overlap instead
of adding up. Each timed run writes to a fresh destination; the source stays in the page
cache for all three. Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile

from _common import Timing, fresh_dir, report, time_runs

from aim_artifacts import Run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temp dir)")
    parser.add_argument("--target", type=float, default=1.3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        src = os.path.join(tmp, "model.bin")
        with open(src, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(2**20))
        store = os.path.join(tmp, "store")

        clean = fresh_dir(store)

        def copy(i: int) -> None:
            shutil.copyfile(src, os.path.join(store, f"copy{i}"))

        def digest(_: int) -> None:
            with open(src, "rb") as f:
                hashlib.file_digest(f, "sha256")

        def ours(_: int) -> None:
            Run(artifacts_uri=store).log_artifact(src, block=True)

        digest(0)  # warm the page cache
        rounds = {"copy": [], "hash": [], "ours": []}
        for i in range(args.repeat):  # interleaved, so drift hits all three alike
            rounds["copy"].append(time_runs(copy, 1, clean).samples[0])
            rounds["hash"].append(time_runs(digest, 1, lambda _: os.sync()).samples[0])
            rounds["ours"].append(time_runs(ours, 1, clean).samples[0])
            del i

    copy_t, hash_t, ours_t = (Timing(rounds[k]) for k in ("copy", "hash", "ours"))
    print(f"{args.size_mib} MiB file to a local path")
    print(f"  shutil.copyfile:         {copy_t}")
    print(f"  hashlib.file_digest:     {hash_t}")
    print(f"  log_artifact(block=True): {ours_t}")
    baseline = max(copy_t.median, hash_t.median)
    ok = report("  ours / max(copy, hash) (medians)", ours_t.median / baseline, args.target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
