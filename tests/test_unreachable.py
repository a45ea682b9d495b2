"""A store whose server does not answer fails within 15 s with one line, on every object store,
however long its client would retry (gcsfs: about a minute; adlfs: minutes): where a store
is first asked (``Store(must_exist=True)``, and every CLI command)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from aim_artifacts import EndpointUnreachableError, Store
from aim_artifacts.cli import main
from conftest import AZURITE_ACCOUNT, AZURITE_KEY
from tests.servers import free_port


def dead_store(kind: str) -> tuple[str, dict[str, Any]]:
    """A URI and options naming a server on a port where nothing listens."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    if kind == "gcs":
        return "gs://bucket/x", {"endpoint_url": endpoint, "token": "anon", "project": "p"}
    if kind == "azure":
        connection_string = (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={endpoint}/{AZURITE_ACCOUNT};"
        )
        return "az://container/x", {"connection_string": connection_string}
    return "s3://bucket/x", {"endpoint_url": endpoint, "key": "k", "secret": "s"}


@pytest.mark.slow  # waits out the default bound
@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_dead_endpoint_fails_within_15_s_by_default(kind: str) -> None:
    uri, options = dead_store(kind)
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError, match="cannot reach the") as caught:
        Store(uri, must_exist=True, **options)
    assert time.monotonic() - started < 15
    assert "\n" not in str(caught.value)
    assert AZURITE_KEY not in str(caught.value)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", ["gcs", "azure"])
@pytest.mark.parametrize("call", ["Store(must_exist=True)", "Store().check()"])
def test_the_bound_is_set_by_the_environment(
    kind: str, call: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT", "1")
    uri, options = dead_store(kind)
    ask = (lambda: Store(uri, **options).check()) if call == "Store().check()" else None
    ask = ask or (lambda: Store(uri, must_exist=True, **options))
    started = time.monotonic()
    with pytest.raises(EndpointUnreachableError, match=r"no answer within 1 s \(\$AIM_ARTIFACTS"):
        ask()
    assert time.monotonic() - started < 5


@pytest.mark.slow  # waits out the default bound
@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", ["runs", "log"])
def test_the_cli_says_so_in_one_line(command: str, tmp_path: Path) -> None:
    uri, options = dead_store("azure")
    env = {"AZURE_STORAGE_CONNECTION_STRING": options["connection_string"]}
    (tmp_path / "config.yaml").write_text("lr: 0.1\n")
    args = ["runs", uri] if command == "runs" else ["log", str(tmp_path / "config.yaml")]
    started = time.monotonic()
    result = CliRunner().invoke(
        main, [*args, "--uri", uri][: 2 if command == "runs" else 4], env=env
    )
    assert time.monotonic() - started < 15
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"aim-artifacts: error: cannot reach the server of {uri}: no answer within 10 s"
        " ($AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT sets how long to wait)"
    ]
