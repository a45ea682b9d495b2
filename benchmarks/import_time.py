"""Time of ``python -c "import aim_artifacts"`` against a bare interpreter.

    python benchmarks/import_time.py [--repeat 10]

Target: under 0.3 s; backends (s3fs, upath, ...) are imported only when a URI needs them.
Exits 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from _common import Timing, report, time_runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--target", type=float, default=0.3)
    args = parser.parse_args()

    def run(code: str) -> None:
        subprocess.run([sys.executable, "-c", code], check=True)

    bare = time_runs(lambda _: run("pass"), args.repeat)
    ours = time_runs(lambda _: run("import aim_artifacts"), args.repeat)
    heavy = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, aim_artifacts; print(sorted(m for m in ('s3fs', "
            "'upath', 'botocore', 'aiobotocore', 'tqdm') if m in sys.modules))",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    print(f"  python -c pass:                  {bare}")
    print(f"  python -c 'import aim_artifacts': {Timing(ours.samples)}")
    print(f"  backends loaded by the import: {heavy}")
    return 0 if report("  import (median)", ours.median, args.target, " s") else 1


if __name__ == "__main__":
    sys.exit(main())
