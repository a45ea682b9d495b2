"""Runs for the run page's tests and screenshots: a 300-artifact run with nested folders, a
200-character name, a YAML config, a CSV, a PNG, a log, Markdown, hostile names and an SVG
carrying a script; and a second run whose config changed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

from aim_artifacts import Run

LONG_NAME = "results/" + "very-long-experiment-name-" * 7 + "x" * 10 + ".json"  # 200 characters
HOSTILE_SVG = "<img src=x onerror=alert(1)>.svg"
SCRIPT_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(2)">'
    "<script>alert(3)</script><circle r='4'/></svg>"
)
CONFIG = "model: resnet50\nlr: 0.1\nbatch_size: 64\nepochs: 90\noptimizer: sgd\n"


def png(width: int = 48, height: int = 32) -> bytes:
    """A small RGB gradient as PNG bytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(
        b"\0" + bytes(c for x in range(width) for c in (x * 5 % 256, y * 8 % 256, 160))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def files(config: str, *, extra: bool) -> dict[str, bytes]:
    """The artifacts of a demo run by name: 300 of them, or 300 + 1 with `extra`."""
    out: dict[str, bytes] = {
        "configs/train.yaml": config.encode(),
        "configs/data.json": b'{"dataset": "imagenet", "splits": {"train": 0.9, "val": 0.1}}',
        "metrics/epochs.csv": b"epoch,loss,acc\n"
        + b"".join(f"{e},{2.5 / e:.3f},{0.5 + e / 200:.3f}\n".encode() for e in range(1, 91)),
        "metrics/steps.tsv": b"step\tloss\n1\t2.3\n2\t2.1\n",
        "images/samples/grid.png": png(),
        "logs/train.log": b"".join(
            f"epoch {e} loss {2.5 / e:.3f}\n".encode() for e in range(1, 91)
        ),
        "README.md": b"# Demo run\n\n*ResNet-50* on ImageNet. <script>alert(4)</script>\n",
        LONG_NAME: b'{"top1": 0.761}',
        HOSTILE_SVG: SCRIPT_SVG.encode(),
        "plots/loss.svg": SCRIPT_SVG.encode(),
    }
    for n in range(290):
        epoch, shard = divmod(n, 29)
        out[f"checkpoints/epoch_{epoch:02d}/shards/shard_{shard:02d}.bin"] = bytes([n % 256]) * (
            (n * 37) % 4000 + 100
        )
    if extra:
        out["eval/report.json"] = b'{"top1": 0.77}'
        del out["plots/loss.svg"]
    return out


def log_files(run: Run, tmp_path: Path, artifacts: dict[str, bytes]) -> None:
    """Log `artifacts` to `run` through one directory upload."""
    source = tmp_path / f"src-{run.hash}"
    for name, data in artifacts.items():
        path = source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    run.log_artifacts(source, "", block=True)


def demo_runs(uri: Any, tmp_path: Path) -> tuple[Run, Run]:
    """Two runs under `uri`: the 300-artifact run, then one with lr 0.05 instead of 0.1, an
    added report and a removed plot."""
    runs = []
    for config, extra in ((CONFIG, False), (CONFIG.replace("lr: 0.1", "lr: 0.05"), True)):
        with Run(artifacts_uri=uri) as run:
            log_files(run, tmp_path, files(config, extra=extra))
        runs.append(run)
    return runs[0], runs[1]
