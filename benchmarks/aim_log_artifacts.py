"""Aim's ``run.log_artifacts(dir)`` on S3: plain Aim, through the integration, and ours.

    python benchmarks/aim_log_artifacts.py [--files 200] [--size 4096] [--latency 0.03]

One moto server in its own process adds `--latency` seconds to every request. Three ways to
store the same directory (each call into a new prefix, ``block=True`` so that the upload is
timed, runs and URIs set up untimed), interleaved:

- plain Aim 3.29.1: ``aim.Run.log_artifacts``, one blocking upload per file;
- the same call with ``aim_artifacts.integrations.aim`` enabled (target: >= 6x faster than
  plain Aim, and <= 1.3x aim-artifacts' own);
- ``aim_artifacts.Run.log_artifacts``.

S3 is configured the way Aim's documentation says, with Aim's
``S3ArtifactStorage_clientconfig``. Prints medians of `--repeat` runs; exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
import tempfile
import warnings

from _common import Timing, moto_process, report, s3_client, time_runs

import aim_artifacts

with warnings.catch_warnings():
    # Aim 3.29.1 imports SQLAlchemy's declarative_base() from where SQLAlchemy 1.x had it.
    warnings.simplefilter("ignore")
    import aim
    from aim.storage.artifacts.s3_storage import S3ArtifactStorage_clientconfig

    from aim_artifacts.integrations import aim as integration


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--target", type=float, default=1.3, help="max ratio integration / ours")
    parser.add_argument("--aim-target", type=float, default=6.0, help="min speed-up vs Aim")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, moto_process(latency=args.latency) as url:
        s3_client(url).create_bucket(Bucket="bench")
        S3ArtifactStorage_clientconfig(
            aws_access_key_id="k",
            aws_secret_access_key="s",
            endpoint_url=url,
            region_name="us-east-1",
        )
        src = os.path.join(tmp, "files")
        os.makedirs(src)
        for i in range(args.files):
            with open(os.path.join(src, f"f{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(args.size))
        repo = os.path.join(tmp, "aim")
        aim.Repo.from_path(repo, init=True)

        def aim_run(uri: str) -> aim.Run:
            run = aim.Run(repo=repo)
            run.set_artifacts_uri(uri)
            return run

        runs = {"plain": aim_run("s3://bench/plain")}  # before enable(): Aim's own storage
        integration.enable()
        runs["through"] = aim_run("s3://bench/through")
        runs["ours"] = aim_artifacts.Run(artifacts_uri="s3://bench/ours")
        enabled = {"plain": False, "through": True, "ours": True}

        rounds: dict[str, list[float]] = {way: [] for way in runs}
        for i in range(-1, args.repeat):  # -1 warms up; interleaved, so drift hits all alike
            for way, run in runs.items():
                (integration.enable if enabled[way] else integration.disable)()
                log = functools.partial(run.log_artifacts, src, name=f"r{i}", block=True)
                samples = time_runs(lambda _, log=log: log(), 1).samples
                if i >= 0:
                    rounds[way] += samples
        integration.enable()
        for run in runs.values():
            run.close()
        integration.disable()
        runs.clear()  # Aim flushes its database when its runs go, which must be before
        gc.collect()  # the temporary directory does

    plain_t, through_t, ours_t = (Timing(rounds[w]) for w in ("plain", "through", "ours"))
    print(
        f"aim.Run.log_artifacts of {args.files} files x {args.size} B to S3, "
        f"{args.latency * 1000:.0f} ms per request"
    )
    print(f"  plain Aim 3.29.1:                {plain_t}")
    print(f"  Aim through the integration:     {through_t}")
    print(f"  aim_artifacts.Run.log_artifacts: {ours_t}")
    ok = report(
        "  ratio integration / aim-artifacts (medians)",
        through_t.median / ours_t.median,
        args.target,
    )
    speedup = plain_t.median / through_t.median
    met = speedup >= args.aim_target
    print(
        f"  speed-up of the integration over plain Aim (medians): {speedup:.1f}x "
        f"(target >= {args.aim_target:g}x) {'OK' if met else 'MISSED'}"
    )
    return 0 if ok and met else 1


if __name__ == "__main__":
    sys.exit(main())
