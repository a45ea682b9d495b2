"""The command line as a stranger meets it: the README's own lines, run as written, and every
command given the mistakes people make. Each failure must be one line on stderr, exit 1, no
traceback, and nothing stored."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from aim_artifacts import InvalidCredentialsError, Run, Store
from aim_artifacts.cli import main
from conftest import AWS_KEY, AWS_SECRET
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "aim_artifacts.cli"]


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def stored(path: Path) -> list[str]:
    """Every file below `path` (nothing if it does not exist)."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with what the README logs: config.yaml and checkpoints/."""
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "model.bin").write_bytes(b"\x00" * 3000)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- the docs, run as written ----------------------------------------------------------------


def documented_lines() -> list[str]:
    """The ``aim-artifacts`` lines of the bash blocks of README.md and docs/cli.md."""
    lines = []
    for doc in (ROOT / "README.md", ROOT / "docs" / "cli.md"):
        for block in re.findall(r"```bash\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
            for line in block.splitlines():
                command = line.split("  #", 1)[0].strip()
                if command.startswith("aim-artifacts "):
                    lines.append(command)
    return lines


def test_the_docs_show_every_command() -> None:
    commands = {shlex.split(line)[1] for line in documented_lines()}
    assert commands == {"log", "runs", "ls", "get", "verify", "repair", "rm", "ui"}


def test_the_documented_lines_run_as_written(workdir: Path) -> None:
    """Each line, in the order shown, with HASH the run the first `log` printed and NAME
    one of its artifacts; `ui` must answer on the port it announces."""
    run_hash = ""
    for line in documented_lines():
        args = [
            a.replace("HASH", run_hash).replace("NAME", "config.yaml") for a in shlex.split(line)
        ]
        if args[1] == "ui":
            with (
                serving([*args[1:], "--port", "0"]) as url,
                urllib.request.urlopen(f"{url}/api/runs", timeout=30) as response,
            ):
                assert run_hash in response.read().decode()
            continue
        result = subprocess.run(
            [*CLI, *args[1:]], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, (line, result.stderr)
        if args[1] == "log" and not run_hash:
            run_hash = result.stdout.strip()
    assert (workdir / "out" / "config.yaml").read_text() == "lr: 0.1\n"  # get -o out/
    assert "config.yaml" not in Store(str(workdir / "artifacts")).run(run_hash).artifacts  # rm


@contextmanager
def serving(args: list[str]) -> Iterator[str]:
    """`aim-artifacts <args>` (a ``ui`` command) in a process; yields the URL it announces.
    The socket is bound before the announcement, so the URL answers from then on."""
    process = subprocess.Popen(
        [*CLI, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert process.stderr is not None
        announced = process.stderr.readline()
        match = re.search(r"on (http://127\.0\.0\.1:(\d+))", announced)
        assert match, announced
        assert match.group(2) != "0"
        yield match.group(1)
    finally:
        process.terminate()
        process.wait(timeout=30)
        process.stderr.close()  # type: ignore[union-attr]


# -- every command, every mistake --------------------------------------------------------------

COMMANDS = ("log", "runs", "ls", "get", "verify", "repair", "rm", "ui")
WITH_RUN = ("log", "ls", "get", "verify", "repair", "rm")


def command(name: str, uri: str, run: str | None) -> list[str]:
    """`name` as a user types it, against store `uri` and run `run`."""
    by_run = ["--run", run] if run is not None else []
    return {
        "log": ["log", "config.yaml", "--uri", uri, *by_run],
        "runs": ["runs", "--uri", uri],
        "ls": ["ls", "--uri", uri, *by_run],
        "get": ["get", "--uri", uri, *by_run, "-o", "out"],
        "verify": ["verify", "--uri", uri, *by_run],
        "repair": ["repair", "--uri", uri, *by_run],
        "rm": ["rm", "--uri", uri, *by_run, "config.yaml"],
        "ui": ["ui", "--uri", uri, "--port", "0"],
    }[name]


def s3_env(endpoint: str) -> dict[str, str]:
    return {"AWS_ENDPOINT_URL_S3": endpoint, "AWS_DEFAULT_REGION": "us-east-1"}


def keys() -> dict[str, str]:
    return {"AWS_ACCESS_KEY_ID": AWS_KEY, "AWS_SECRET_ACCESS_KEY": AWS_SECRET}


# (mistake, commands it applies to): what the user typed wrong, and what the one line says
MISTAKES = {
    "unknown run": (WITH_RUN, r"no run '0123456789abcdef01234567' in "),
    "typo in run": (WITH_RUN, r"no run '[0-9a-f]{23}' in .*did you mean '[0-9a-f]{24}'"),
    "missing file": (("log",), r"no such file or directory: 'nonexistent\.txt'"),
    "URI is a file": (COMMANDS, r"config\.yaml is a file, not a directory of runs"),
    "URI does not exist": (
        tuple(c for c in COMMANDS if c != "log"),
        r"no artifacts at .*nowhere: it does not exist",
    ),
    "no credentials": (COMMANDS, r"credentials"),
    "dead endpoint": (COMMANDS, r"cannot reach the S3 endpoint http://127\.0\.0\.1:\d+"),
}
CASES = [
    # a dead endpoint waits out botocore's retries (seconds each): not for the quick loop
    pytest.param(m, c, id=f"{c}-{m}", marks=[pytest.mark.slow] if m == "dead endpoint" else [])
    for m, (commands, _) in MISTAKES.items()
    for c in commands
]


@pytest.mark.timeout(120)  # a command that served instead of failing would hang here
@pytest.mark.parametrize(("mistake", "name"), CASES)
def test_every_mistake_is_one_line_exit_1_and_stores_nothing(
    workdir: Path, s3: dict[str, Any], s3_server: str, mistake: str, name: str
) -> None:
    store = workdir / "artifacts"
    with Run(artifacts_uri=str(store)) as run:
        run.log_artifact("config.yaml")
    uri, run_hash, env = str(store), run.hash, None
    if mistake == "unknown run":
        run_hash = "0123456789abcdef01234567"
    elif mistake == "typo in run":
        run_hash = run.hash[:-1]
    elif mistake == "URI is a file":
        uri = str(workdir / "config.yaml")
    elif mistake == "URI does not exist":
        uri = str(workdir / "nowhere")
    elif mistake == "no credentials":
        uri, env = "s3://artifacts/x", s3_env(s3_server)
    elif mistake == "dead endpoint":
        uri, env = "s3://artifacts/x", {**s3_env(f"http://127.0.0.1:{free_port()}"), **keys()}
    args = command(name, uri, run_hash if name in WITH_RUN else None)
    if mistake == "missing file":
        args = ["log", "config.yaml", "nonexistent.txt", "--uri", uri]
    before = stored(workdir)

    started = time.monotonic()
    result = cli(*args, env=env)
    took = time.monotonic() - started

    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert re.search(MISTAKES[mistake][1], lines[0]), lines[0]
    assert stored(workdir) == before  # nothing stored, nothing half-written
    assert Store(str(store)).runs() == [run.hash]
    assert took < 15  # a dead endpoint fails fast (retries are bounded)


# -- what a stranger ran into, one test each ------------------------------------------------------


def test_get_downloads_every_intact_artifact_and_names_the_corrupted_one(workdir: Path) -> None:
    store = workdir / "artifacts"
    with Run(artifacts_uri=str(store)) as run:
        run.log_artifacts("checkpoints")
        run.log_artifact("config.yaml")
    (store / run.hash / "checkpoints" / "model.bin").write_bytes(b"\x01" * 3000)  # bit rot

    result = cli("get", "--run", run.hash, "-o", "out")

    assert result.exit_code == 1
    assert (workdir / "out" / "config.yaml").read_text() == "lr: 0.1\n"
    assert not (workdir / "out" / "checkpoints" / "model.bin").exists()
    failed = [line for line in result.stderr.splitlines() if "checkpoints/model.bin" in line]
    assert len(failed) == 1 and "do not match the record" in failed[0], result.stderr
    assert "1 of 2 artifact(s) failed" in result.stderr


def test_runs_are_listed_newest_first_in_table_and_json(workdir: Path) -> None:
    hashes = []
    for _ in range(3):
        with Run(artifacts_uri="artifacts") as run:
            run.log_artifact("config.yaml")
        hashes.append(run.hash)
    table = cli("runs").stdout.splitlines()[1:]
    assert [row.split()[0] for row in table] == hashes[::-1]
    summaries = json.loads(cli("runs", "--json").stdout)
    assert [s["hash"] for s in summaries] == hashes[::-1]
    assert set(summaries[0]) == {"hash", "created", "last_logged", "count", "size"}


def test_the_progress_bar_names_what_is_stored(workdir: Path) -> None:
    result = cli("log", "config.yaml", "--progress")
    assert result.stderr.lstrip("\r").startswith("config.yaml")
    result = cli("log", "checkpoints", "--progress")
    assert result.stderr.lstrip("\r").startswith("checkpoints")


def test_records_keep_the_absolute_source_path_and_a_yaml_type(workdir: Path) -> None:
    (workdir / "src").mkdir()
    (workdir / "src" / "params.yaml").write_text("a: 1\n")
    (workdir / "elsewhere").mkdir()
    os.chdir(workdir / "elsewhere")
    run_hash = cli("log", "../src/params.yaml", "--uri", "../artifacts").stdout.strip()
    record = Store("../artifacts").run(run_hash).artifacts["params.yaml"]
    assert record.path == str(workdir / "src" / "params.yaml")
    assert record.content_type in {"application/yaml", "application/x-yaml", "text/yaml"}


def test_the_api_says_invalid_credentials_too(workdir: Path, s3: dict[str, Any]) -> None:
    options = {k: v for k, v in s3.items() if k not in {"key", "secret"}}
    run = Run(artifacts_uri="s3://artifacts/no-keys", **options)
    with pytest.raises(InvalidCredentialsError, match="credentials"):
        run.log_artifact("config.yaml", block=True)


def test_debug_shows_the_traceback(workdir: Path) -> None:
    result = cli("--debug", "ls", "--uri", "nowhere", "--run", "abc")
    assert result.exit_code == 1
    assert "Traceback" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("aim-artifacts: error: no artifacts at")
