"""Uploads to file servers (SFTP, FTP, WebDAV): ours against the backend's own transfer, same run.

    python benchmarks/file_servers.py [--repeat 5] [--servers sftp,ftp,webdav]

For each server, one 20 MiB file (``log_artifact`` vs ``fs.put_file``) and 200 x 4 KiB files
(``log_artifacts`` vs ``fs.put(list, list)``), each into a fresh directory (ours: a new run of
one store, as a training job's; the store is made before timing), each way making its own
connection as a job would (a ``Run`` also writes the runs index's marker and folds its
metadata), the two ways taking turns. Target: at most
1.3x the backend's own way (medians). Exits 1 when a target is missed. The SFTP server is
Debian's openssh-server (``apt-get install openssh-server``); FTP is pyftpdlib; WebDAV
is wsgidav.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from typing import Any

import fsspec
from _common import report, sources, time_interleaved

from aim_artifacts import Run
from tests.server_ftp_webdav import ftp_server, webdav_server
from tests.server_sftp_smb import sftp_server

SERVERS = {"sftp": sftp_server, "ftp": ftp_server, "webdav": webdav_server}


def bench(  # noqa: PLR0917 - one call site, read top to bottom
    name: str, server: Any, big: str, small_dir: str, smalls: list[str], repeat: int, target: float
) -> bool:
    """Time both ways on one server; print the medians and ratios."""

    def connect() -> Any:  # the plain way connects once per job, as a Run does
        return fsspec.filesystem(server.protocol, skip_instance_cache=True, **server.options)

    def fresh() -> str:
        return f"t{uuid.uuid4().hex[:12]}"

    store = f"{server.url_root}/{fresh()}"
    with Run(artifacts_uri=store, **server.options) as run:  # the store, made untimed
        run.log_bytes(b"warm-up", "warm-up.txt")

    def ours_big(_: int) -> None:
        with Run(artifacts_uri=store, **server.options) as run:
            run.log_artifact(big, block=True)

    def plain_big(_: int) -> None:
        fs = connect()
        directory = f"{server.root}/{fresh()}"
        fs.makedirs(directory, exist_ok=True)
        fs.put_file(big, f"{directory}/model.bin")

    def ours_small(_: int) -> None:
        with Run(artifacts_uri=store, **server.options) as run:
            run.log_artifacts(small_dir, block=True)

    def plain_small(_: int) -> None:
        fs = connect()
        directory = f"{server.root}/{fresh()}/ckpt"
        fs.makedirs(directory, exist_ok=True)
        fs.put(smalls, [f"{directory}/{os.path.basename(p)}" for p in smalls])

    ok = True
    for label, ours, plain in (
        ("20 MiB file", ours_big, plain_big),
        ("200 x 4 KiB", ours_small, plain_small),
    ):
        timings = time_interleaved({"plain": plain, "ours": ours}, repeat)
        t_plain, t_ours = timings["plain"], timings["ours"]
        print(f"{name} {label}: ours {t_ours}; backend's own {t_plain}")
        ok &= report(f"{name} {label} ratio", t_ours.median / t_plain.median, target)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--servers", default="sftp,ftp,webdav")
    parser.add_argument("--target", type=float, default=1.3)
    args = parser.parse_args()

    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        big, small_dir, smalls = sources(tmp, 20 * 2**20)
        for name in args.servers.split(","):
            with SERVERS[name](os.path.join(tmp, f"srv-{name}")) as server:
                ok &= bench(name, server, big, small_dir, smalls, args.repeat, args.target)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
