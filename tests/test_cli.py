"""The aim-artifacts command line, through click's test runner."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from aim_artifacts import Run
from aim_artifacts.cli import human_size, listen, main
from conftest import AWS_KEY, AWS_SECRET


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    (tmp_path / "ckpt" / "opt").mkdir(parents=True)
    (tmp_path / "ckpt" / "model.bin").write_bytes(b"\x00" * 3000)
    (tmp_path / "ckpt" / "opt" / "state.bin").write_bytes(b"\x01" * 10)
    return tmp_path


def logged(files: Path, uri: str) -> str:
    result = cli("log", str(files / "config.yaml"), str(files / "ckpt"), "--uri", uri)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_log_prints_the_new_runs_hash_and_stores_everything(files: Path) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    assert len(run_hash) == 24
    assert sorted(Run(run_hash, artifacts_uri=uri).artifacts) == [
        "ckpt/model.bin",
        "ckpt/opt/state.bin",
        "config.yaml",
    ]


def test_log_to_an_existing_run_with_a_name(files: Path) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    result = cli("log", str(files / "config.yaml"), "--uri", uri, "--run", run_hash, "--name", "c")
    assert result.stdout.strip() == run_hash
    assert "c" in Run(run_hash, artifacts_uri=uri).artifacts


def test_runs_and_ls_tables_and_json(files: Path) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    table = cli("runs", uri).stdout.splitlines()
    assert table[0].split() == ["run", "created", "artifacts", "size", "last", "logged"]
    row = table[1].split()
    assert [row[0], *row[2:5]] == [run_hash, "3", "2.9", "KiB"]  # 3018 B
    assert json.loads(cli("runs", uri, "--json").stdout)[0]["size"] == 3018

    listing = cli("ls", uri, "--run", run_hash).stdout.splitlines()
    assert listing[1].split()[:3] == ["ckpt/model.bin", "2.9", "KiB"]
    records = json.loads(cli("ls", uri, "--run", run_hash, "--json").stdout)
    records = records["artifacts"]
    assert [r["name"] for r in records] == ["ckpt/model.bin", "ckpt/opt/state.bin", "config.yaml"]
    assert all(len(r["sha256"]) == 64 for r in records)


def test_get_all_or_some(files: Path) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    out = files / "out"
    result = cli("get", "--uri", uri, "--run", run_hash, "-o", str(out))
    assert result.stdout.split() == [
        str(out / "ckpt/model.bin"),
        str(out / "ckpt/opt/state.bin"),
        str(out / "config.yaml"),
    ]
    one = cli("get", "--uri", uri, "--run", run_hash, "config.yaml", "-o", str(files / "one"))
    assert Path(one.stdout.strip()).read_text() == "lr: 0.1\n"


def test_verify_repair_and_rm(files: Path) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    assert cli("verify", uri, "--run", run_hash).stdout == "3 verified\n"
    (files / "store" / run_hash / "config.yaml").write_text("tampered")
    bad = cli("verify", uri, "--run", run_hash)
    assert bad.exit_code == 1
    assert "changed: config.yaml" in bad.stdout
    assert json.loads(cli("verify", uri, "--run", run_hash, "--json").stdout)["changed"] == [
        "config.yaml"
    ]
    leftover = files / "store" / run_hash / ".aim-artifacts-tmp-00000000deadbeef"
    leftover.write_bytes(b"half")
    assert cli("repair", uri, "--run", run_hash).stdout == (
        "removed .aim-artifacts-tmp-00000000deadbeef\n"
    )
    assert (
        cli("rm", "--uri", uri, "--run", run_hash, "config.yaml").stdout == "deleted config.yaml\n"
    )
    assert cli("verify", uri, "--run", run_hash).exit_code == 0


def test_uri_from_environment_then_default_folder(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files)
    run_hash = cli("log", "config.yaml").stdout.strip()
    assert (files / "artifacts" / run_hash / "config.yaml").exists()  # the default folder
    env_run = cli("log", "config.yaml", env={"AIM_ARTIFACTS_URI": str(files / "env")})
    assert (files / "env" / env_run.stdout.strip() / "config.yaml").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ls", "{uri}", "--run", "ffffffffffffffffffffffff"), "no run 'ffffffffffffffffffffffff'"),
        (("log", "{tmp}/missing.txt", "--uri", "{uri}"), "no such file or directory"),
        (("ls", "nope://bucket", "--run", "x"), "fsspec knows no protocol 'nope'"),
        (("log", "{tmp}/config.yaml", "--uri", "{uri}", "--name", "../x"), "'..' part"),
        (
            ("get", "--uri", "{uri}", "--run", "{run}", "missing.txt"),
            "has no artifact 'missing.txt'",
        ),
    ],
)
def test_errors_are_one_line_with_exit_1(files: Path, args: tuple[str, ...], message: str) -> None:
    uri = str(files / "store")
    run_hash = logged(files, uri)
    filled = [a.format(uri=uri, tmp=files, run=run_hash) for a in args]
    result = cli(*filled)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_usage_errors_exit_2(files: Path) -> None:
    assert cli("ls", str(files)).exit_code == 2  # --run is required
    assert cli("log").exit_code == 2
    assert cli("log", "a", "b", "--name", "x").exit_code == 2


def test_progress_flag(files: Path) -> None:
    result = cli("log", str(files / "ckpt"), "--uri", str(files / "s"), "--progress")
    assert "2/2 files" in result.stderr
    quiet = cli("log", str(files / "ckpt"), "--uri", str(files / "s"))
    assert quiet.stderr == ""  # not a terminal: no bar by default


def test_s3_from_environment_never_prints_the_secret(
    files: Path, s3: dict[str, Any], s3_server: str
) -> None:
    env = {
        "AWS_ACCESS_KEY_ID": AWS_KEY,
        "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
        "AWS_ENDPOINT_URL_S3": s3_server,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    uri = "s3://artifacts/cli"
    log = cli("log", str(files / "config.yaml"), "--uri", uri, env=env)
    run_hash = log.stdout.strip()
    outputs = [log, cli("runs", uri, env=env), cli("ls", uri, "--run", run_hash, env=env)]
    outputs.append(cli("ls", "s3://no-such-bucket/x", "--run", run_hash, env=env))
    assert "config.yaml" in outputs[2].stdout
    assert all(AWS_SECRET not in r.output for r in outputs)


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 2**30, "5.0 GiB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


def test_the_page_server_sends_each_reply_at_once() -> None:
    """Connections of `aim-artifacts ui` have Nagle's algorithm off (with it on, each reply
    on a kept-alive connection waited ~40 ms for the client's delayed ACK)."""
    with (
        listen("127.0.0.1", 0) as listener,
        socket.create_connection(listener.getsockname()[:2], timeout=10),
    ):
        accepted, _ = listener.accept()
        with accepted:
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
