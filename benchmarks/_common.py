"""Shared helpers for the benchmark scripts: timing, reporting, servers."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # the scripts run from a checkout: reuse the test servers
    sys.path.insert(0, str(ROOT))

from tests.servers import moto_process, ui_process  # noqa: E402

__all__ = [
    "ROOT",
    "Timing",
    "empty_server",
    "fresh_dir",
    "moto_process",
    "report",
    "s3_client",
    "sources",
    "time_runs",
    "ui_process",
]


class Timing:
    """Wall-clock seconds of repeated runs."""

    def __init__(self, samples: list[float]) -> None:
        self.samples = samples

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def __str__(self) -> str:
        return (
            f"median {self.median:.3f}s "
            f"(min {min(self.samples):.3f}s, max {max(self.samples):.3f}s, n={len(self.samples)})"
        )


def fresh_dir(path: str) -> Callable[[int], None]:
    """A setup step: `path` emptied, and every dirty page written back, so that writeback
    from one timed run does not land in the next."""

    def setup(_: int) -> None:
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        os.sync()

    return setup


def time_runs(
    fn: Callable[[int], object], repeat: int, setup: Callable[[int], object] | None = None
) -> Timing:
    """Time `fn(i)` for i in range(repeat), calling `setup(i)` untimed before each."""
    samples = []
    for i in range(repeat):
        if setup is not None:
            setup(i)
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return Timing(samples)


def time_interleaved(ways: dict[str, Callable[[int], object]], repeat: int) -> dict[str, Timing]:
    """Time each of `ways` `repeat` times, taking turns, so drift in the machine's load hits
    them alike."""
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for i in range(repeat):
        for name, fn in ways.items():
            start = time.perf_counter()
            fn(i)
            samples[name].append(time.perf_counter() - start)
    return {name: Timing(times) for name, times in samples.items()}


def report(label: str, value: float, target: float | None, unit: str = "x") -> bool:
    """Print one result line beside its target; True when the target is met (lower is better)."""
    if target is None:
        print(f"{label}: {value:.2f}{unit}")
        return True
    ok = value <= target
    print(f"{label}: {value:.2f}{unit} (target <= {target:g}{unit}) {'OK' if ok else 'MISSED'}")
    return ok


def empty_server(url: str, bucket: str = "bench") -> None:
    """Reset the moto server at `url` to one empty `bucket`. Moto holds every object in
    memory, and a completion joining 1 GiB of parts slows as that grows (by up to 1.2 s over
    three rounds), which would weigh on whichever upload comes later."""
    import requests  # noqa: PLC0415 - botocore's dependency, here for the reset alone

    requests.post(f"{url}/moto-api/reset", timeout=60).raise_for_status()
    s3_client(url).create_bucket(Bucket=bucket)


def s3_client(url: str) -> Any:
    """A boto3 client of the benchmark's S3 server (key ``k``, secret ``s``)."""
    import boto3  # noqa: PLC0415 - only the S3 benchmarks need it

    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
    )


def sources(tmp: str, big: int, small: int = 200) -> tuple[str, str, list[str]]:
    """Random files to upload, below `tmp`: one of `big` bytes (``model.bin``), and `small`
    of 4 KiB in the folder ``ckpt``; their paths (the big file, the folder, the small files)."""
    path = os.path.join(tmp, "model.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(big))
    folder = os.path.join(tmp, "ckpt")
    os.makedirs(folder)
    smalls = [os.path.join(folder, f"f{i:03d}.bin") for i in range(small)]
    for name in smalls:
        with open(name, "wb") as f:
            f.write(os.urandom(4096))
    return path, folder, smalls
