"""Functions that tests run in other processes (importable by ``spawn``)."""

from __future__ import annotations

import os
from typing import Any

from aim_artifacts import Run


def log_many(
    run_hash: str, uri: Any, options: dict[str, Any], src_dir: str, tag: str, n: int
) -> None:
    """Reopen a run and log `n` files named ``<tag>-<i>.txt``, one blocking call each."""
    run = Run(run_hash, artifacts_uri=uri, **options)
    for i in range(n):
        path = os.path.join(src_dir, f"{tag}-{i}.txt")
        with open(path, "w") as f:
            f.write(f"{tag} {i}\n")
        run.log_artifact(path, block=True)
    run.close()


def log_with_pickled_run(run: Run, path: str, name: str) -> str:
    """Log through a Run that was pickled into this process; return its sha256."""
    art = run.log_artifact(path, name=name, block=True)
    run.close()
    assert art.sha256 is not None
    return art.sha256


def read_names(run_hash: str, uri: Any, options: dict[str, Any]) -> list[str]:
    """The artifact names a fresh process sees in a run."""
    return sorted(Run(run_hash, artifacts_uri=uri, **options).artifacts)


def log_until_killed(
    run_hash: str, uri: Any, options: dict[str, Any], path: str, after: int, conn: Any
) -> None:
    """Log `path` as ``model.bin`` (a directory: as ``ckpt``) and stop for good once `after`
    bytes have moved, telling the parent through `conn`, which then kills this process
    (SIGKILL)."""
    import threading

    from aim_artifacts import progress

    add = progress.ProgressBar.add
    moved = [0]

    def add_then_stop(self: progress.ProgressBar, nbytes: int) -> None:
        add(self, nbytes)
        moved[0] += nbytes
        if moved[0] >= after:
            conn.send("in the middle")
            threading.Event().wait()  # until killed

    progress.ProgressBar.add = add_then_stop  # type: ignore[method-assign]
    run = Run(run_hash, artifacts_uri=uri, **options)
    if os.path.isdir(path):
        run.log_artifacts(path, name="ckpt", block=True, progress=True)
    else:
        run.log_artifact(path, name="model.bin", block=True, progress=True)


def fold_until_killed(
    run_hash: str, uri: Any, options: dict[str, Any], src_dir: str, conn: Any
) -> None:
    """Log 10 files, then stop for good just before the sidecar's new version is put in
    place (renamed locally or on a file server, PUT on S3), telling the parent through
    `conn`, which then kills this process."""
    import threading

    from aim_artifacts import s3, storage

    def stop() -> None:
        conn.send("in the middle")
        threading.Event().wait()  # until killed

    replace, put_if, publish = os.replace, s3.put_if, storage.Storage._publish

    def replace_then_stop(src: str, dst: str) -> None:
        if dst.endswith(".aim-artifacts.json"):
            stop()
        replace(src, dst)

    def put_then_stop(*args: Any) -> None:
        stop()
        put_if(*args)

    def publish_then_stop(self: storage.Storage, temp: str, path: str) -> None:
        if path.endswith(".aim-artifacts.json"):
            stop()
        publish(self, temp, path)

    run = Run(run_hash, artifacts_uri=uri, **options)
    for i in range(10):
        path = os.path.join(src_dir, f"late-{i}.txt")
        with open(path, "w") as f:
            f.write(str(i))
        run.log_artifact(path, block=True)
    os.replace = replace_then_stop  # type: ignore[assignment]
    s3.put_if = put_then_stop  # type: ignore[assignment]
    storage.Storage._publish = publish_then_stop  # type: ignore[method-assign]
    run.close()


def log_many_where_locks_are_granted_to_all(
    run_hash: str, uri: Any, src_dir: str, tag: str, n: int
) -> None:
    """`log_many`, folding every 4 entries, in a process where every advisory lock is granted
    at once (as on a mount that does not forward locks to a server: FUSE, sshfs, some NFS
    and SMB setups)."""
    import fcntl

    from aim_artifacts import catalog

    fcntl.lockf = fcntl.flock = lambda *args, **kwargs: None  # type: ignore[assignment]
    catalog.COMPACT_EVERY = 4  # type: ignore[attr-defined]
    log_many(run_hash, uri, {}, src_dir, tag, n)


def log_file(run_hash: str, uri: Any, options: dict[str, Any], path: str, name: str) -> str:
    """Reopen a run and log `path` as `name` (blocking); return the recorded sha256."""
    run = Run(run_hash, artifacts_uri=uri, **options)
    art = run.log_artifact(path, name=name, block=True)
    run.close()
    assert art.sha256 is not None
    return art.sha256


def log_until_terminated(
    run_hash: str, uri: Any, options: dict[str, Any], small: str, big: str, conn: Any
) -> None:
    """With `finish_on_signal(SIGTERM, deadline=2)`: log `small`, then `big` as
    ``model.bin``, telling the parent through `conn` once 64 MiB of it have gone up (the
    parent then sends SIGTERM)."""
    import signal

    from aim_artifacts import finish_on_signal, progress

    finish_on_signal(signal.SIGTERM, deadline=2.0)
    add = progress.ProgressBar.add
    moved = [0]

    def add_and_tell(self: progress.ProgressBar, nbytes: int) -> None:
        add(self, nbytes)
        moved[0] += nbytes
        if moved[0] >= 64 * 2**20 > moved[0] - nbytes:
            conn.send("in the middle")

    progress.ProgressBar.add = add_and_tell  # type: ignore[method-assign]
    run = Run(run_hash, artifacts_uri=uri, **options)
    run.log_artifact(small, block=True)
    run.log_artifact(big, name="model.bin", block=True, progress=True)
