"""Uploads to GCS and Azure Blob emulators: ours against the backend's own transfer, same run.

    python benchmarks/object_stores.py [--repeat 5] [--latency 0.03] [--stores gcs,azure]

fake-gcs-server and Azurite, each behind a TCP proxy in a process of its own that adds
`--latency` seconds to every round trip (`tests/latency.py`). For each store, the two ways
taking turns, each into a fresh folder (ours: a new run of one store, made before timing):

- one 64 MiB file: ``log_artifact`` vs ``fs.put_file``,
- 200 x 4 KiB files: ``log_artifacts`` vs ``fs.put(list, list)``,
- one 1 KiB file: ``log_artifact`` vs ``fs.put_file``: what a run costs besides its bytes
  (the runs index's marker and open flag, a journal entry, the sidecar), shown, no target.

Target: at most 1.3x the backend's own way (medians) for the first two. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import fsspec
from _common import ROOT, report, sources, time_interleaved

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")  # no gRPC probe of the emulator

from aim_artifacts import Run
from tests.servers import AZURITE_ACCOUNT, AZURITE_KEY, azurite_process, fake_gcs_process

PROXY = """
import sys
from tests.latency import latency_proxy
with latency_proxy(int(sys.argv[1]), float(sys.argv[2])) as proxy:
    print(proxy.port, flush=True)
    sys.stdin.read()  # until the benchmark ends
"""


@contextlib.contextmanager
def delayed(url: str, latency: float) -> Iterator[str]:
    """`url` behind a latency proxy in its own process (its CPU is not ours)."""
    if latency <= 0:
        yield url
        return
    parts = urlsplit(url)
    argv = [sys.executable, "-c", PROXY, str(parts.port), str(latency)]
    with subprocess.Popen(argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        port = int(proc.stdout.readline())
        try:
            yield url.replace(f":{parts.port}", f":{port}", 1)
        finally:
            proc.stdin.close()
            proc.wait(timeout=30)


@contextlib.contextmanager
def store(name: str, latency: float) -> Iterator[tuple[str, dict[str, Any]]]:
    """The protocol and fsspec options of emulator `name` behind the proxy."""
    if name == "gcs":
        with fake_gcs_process() as url, delayed(url, latency) as near:
            yield "gs", {"endpoint_url": near, "token": "anon", "project": "bench"}
    else:
        with azurite_process() as url, delayed(url, latency) as near:
            connection = (
                f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                f"AccountKey={AZURITE_KEY};BlobEndpoint={near};"
            )
            yield "abfs", {"connection_string": connection}


def bench(name: str, files: dict[str, Any], repeat: int, latency: float, target: float) -> bool:
    """Time both ways on one store; print the medians and ratios."""
    ok = True
    with store(name, latency) as (protocol, options):
        fs = fsspec.filesystem(protocol, skip_instance_cache=True, **options)
        bucket = f"b{uuid.uuid4().hex[:12]}"
        fs.mkdir(bucket)
        base = f"{protocol}://{bucket}/store"
        with Run(artifacts_uri=base, **options) as run:  # the store, made untimed
            run.log_bytes(b"warm-up", "warm-up.txt")

        def fresh() -> str:
            return f"{bucket}/plain/{uuid.uuid4().hex[:12]}"

        def connect() -> Any:  # a new client per job, as a Run builds one
            return fsspec.filesystem(protocol, skip_instance_cache=True, **options)

        def one(path: str) -> tuple[Any, Any]:
            def ours(_: int) -> None:
                with Run(artifacts_uri=base, **options) as run:
                    run.log_artifact(path, block=True)

            def plain(_: int) -> None:
                connect().put_file(path, f"{fresh()}/{os.path.basename(path)}")

            return ours, plain

        def ours_many(_: int) -> None:
            with Run(artifacts_uri=base, **options) as run:
                run.log_artifacts(files["dir"], block=True)

        def plain_many(_: int) -> None:
            folder = fresh()
            connect().put(
                files["smalls"], [f"{folder}/{os.path.basename(p)}" for p in files["smalls"]]
            )

        cases = [
            ("64 MiB file", *one(files["big"]), target),
            ("200 x 4 KiB", ours_many, plain_many, target),
            ("1 KiB file", *one(files["tiny"]), None),
        ]
        for label, ours, plain, goal in cases:
            timings = time_interleaved({"plain": plain, "ours": ours}, repeat)
            t_plain, t_ours = timings["plain"], timings["ours"]
            print(f"{name} {label}: ours {t_ours}; backend's own {t_plain}", flush=True)
            ok &= report(f"{name} {label} ratio", t_ours.median / t_plain.median, goal)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency", type=float, default=0.03)
    parser.add_argument("--stores", default="gcs,azure")
    parser.add_argument("--target", type=float, default=1.3)
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        big, folder, smalls = sources(tmp, 64 * 2**20)
        tiny = os.path.join(tmp, "config.yaml")
        with open(tiny, "wb") as f:
            f.write(os.urandom(1024))
        files = {"big": big, "dir": folder, "smalls": smalls, "tiny": tiny}
        print(f"{args.latency * 1000:.0f} ms added to every round trip, {args.repeat} runs each")
        for name in args.stores.split(","):
            ok &= bench(name, files, args.repeat, args.latency, args.target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
