"""Log a config file and a small checkpoint directory, then show what the run stored.

    python examples/quickstart.py [ARTIFACTS_URI]

ARTIFACTS_URI defaults to $AIM_ARTIFACTS_URI, else the local folder ./artifacts.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from aim_artifacts import Run, Store

DEFAULT_URI = "./artifacts"


def main() -> None:
    uri = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("AIM_ARTIFACTS_URI", DEFAULT_URI)
    work = Path(tempfile.mkdtemp(prefix="quickstart-"))
    (work / "config.yaml").write_text("model: resnet18\nlr: 0.001\nepochs: 3\n")
    checkpoint = work / "checkpoint"
    (checkpoint / "optimizer").mkdir(parents=True)
    (checkpoint / "model.bin").write_bytes(os.urandom(256 * 1024))
    (checkpoint / "optimizer" / "state.bin").write_bytes(os.urandom(64 * 1024))

    with Run() as run:
        run.set_artifacts_uri(uri)
        run.log_artifact(work / "config.yaml", name="run-config", metadata={"kind": "config"})
        run.log_artifacts(checkpoint, name="checkpoints/epoch-3")
    # Closing waited for the uploads and wrote the run's sidecar; read it back as anyone would.
    stored = Store(uri).run(run.hash)

    print(f"run {run.hash}: {len(stored.artifacts)} artifacts in {stored.artifacts_uri}")
    width = max(len(name) for name in stored.artifacts)
    print(f"{'name':<{width}}  {'size':>9}  {'sha256':<12}  uri")
    for art in stored.artifacts.values():
        print(f"{art.name:<{width}}  {art.size:>9}  {art.sha256[:12]:<12}  {art.uri}")


if __name__ == "__main__":
    main()
