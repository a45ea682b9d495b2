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
