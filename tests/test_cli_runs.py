"""``aim-artifacts runs``: every run newest first (JSON as documented), search, limit."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from aim_artifacts import Run
from aim_artifacts.cli import main


def cli(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_runs_json_lists_every_run_newest_first_in_the_documented_shape(tmp_path: Path) -> None:
    (tmp_path / "a.bin").write_bytes(b"x" * 10)
    hashes = []
    for n in range(1, 4):
        with Run(artifacts_uri=tmp_path / "store") as run:
            for i in range(n):
                run.log_artifact(tmp_path / "a.bin", name=f"{i}.bin")
        hashes.append(run.hash)
    uri = str(tmp_path / "store")
    runs = json.loads(cli("runs", uri, "--json").stdout)
    assert [(r["hash"], r["count"], r["size"]) for r in runs] == [
        (hashes[2], 3, 30),
        (hashes[1], 2, 20),
        (hashes[0], 1, 10),
    ]
    assert all(list(r) == ["hash", "created", "last_logged", "count", "size"] for r in runs)
    assert all(r["created"] <= r["last_logged"] and r["created"].endswith("Z") for r in runs)

    newest = json.loads(cli("runs", uri, "--json", "--limit", "2").stdout)
    assert [r["hash"] for r in newest] == hashes[:0:-1]
    found = json.loads(cli("runs", uri, "--json", "--search", hashes[0][2:10].upper()).stdout)
    assert [r["hash"] for r in found] == [hashes[0]]
    row = cli("runs", uri, "--limit", "1").stdout.splitlines()[1].split()
    created = runs[0]["created"]
    assert row[:2] == [hashes[2], created[:19] + "Z"]  # the table's times: to the second
    table = cli("runs", uri, "--search", "no-such-run").stdout.splitlines()
    assert table == ["run  created  artifacts  size  last logged"]
    refused = CliRunner().invoke(main, ["runs", uri, "--limit", "0"])
    assert refused.exit_code == 2 and "--limit" in refused.output
