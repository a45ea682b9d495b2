"""Credentials written into a URI (``ftp://bob:pw@host/x``, as fsspec's FTP, SFTP and SMB
backends take them) connect, and are never recorded or shown; a server that does not answer
is one clear line naming it, without them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from aim_artifacts import (
    EndpointUnreachableError,
    InvalidCredentialsError,
    InvalidURIError,
    Run,
    Store,
)
from aim_artifacts.cli import main
from aim_artifacts.location import public_uri
from tests.servers import FileServer, free_port

SECRET = "hunter2-not-a-real-one"


def test_a_password_in_the_uri_connects_and_is_never_written(
    ftp: FileServer, tmp_path: Path
) -> None:
    user, password = ftp.options["username"], ftp.secret
    assert password
    store = ftp.url_root.replace("ftp://", f"ftp://{user}:{password}@", 1) + "/store"
    shown = ftp.url_root.replace("ftp://", f"ftp://{user}@", 1) + "/store"

    with Run(artifacts_uri=store) as run:  # no options: the URI is all it has
        art = run.log_bytes(b"lr: 0.1\n", "config.yaml")
    assert art.uri == f"{shown}/{run.hash}/config.yaml"
    assert run.artifacts_uri == f"{shown}/{run.hash}"
    assert password not in repr(run) + repr(run.location)

    again = Run(run.hash, artifacts_uri=store)
    assert again.artifacts["config.yaml"].uri == art.uri
    again.download_artifacts(tmp_path)
    assert (tmp_path / "config.yaml").read_bytes() == b"lr: 0.1\n"
    listed = CliRunner().invoke(main, ["ls", store, "--run", run.hash], catch_exceptions=False)
    assert listed.exit_code == 0, listed.output
    assert "config.yaml" in listed.output
    assert password not in listed.output
    assert ftp.disk_root
    written = [p for p in Path(ftp.disk_root).rglob("*") if p.is_file()]
    assert len(written) >= 3  # the object, the sidecar, the runs index's marker
    assert all(password.encode() not in p.read_bytes() for p in written)


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "uri",
    [
        "sftp://bob:{secret}@127.0.0.1:{port}/x",
        "ftp://bob:{secret}@127.0.0.1:{port}/x",
        "smb://bob:{secret}@127.0.0.1:{port}/share/x",
    ],
    ids=["sftp", "ftp", "smb"],
)
def test_a_file_server_that_does_not_answer_is_one_clear_line(uri: str) -> None:
    uri = uri.format(secret=SECRET, port=free_port())
    with pytest.raises(EndpointUnreachableError, match=r"^cannot reach the server of ") as caught:
        Run(artifacts_uri=uri)
    message = str(caught.value)
    assert public_uri(uri) in message
    assert SECRET not in message
    assert "\n" not in message
    assert "[Errno" not in message

    result = CliRunner().invoke(main, ["runs", uri])
    assert result.exit_code == 1
    assert result.output.startswith("aim-artifacts: error: cannot reach the server of ")
    assert result.output.count("\n") == 1
    assert SECRET not in result.output


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["sftp", "ftp", "smb"])
def test_a_refused_login_is_one_clear_line(name: str, request: pytest.FixtureRequest) -> None:
    server: FileServer = request.getfixturevalue(name)
    port = server.options["port"]
    share = "/share" if name == "smb" else ""
    uri = f"{name}://nobody:{SECRET}@127.0.0.1:{port}{share}/x"
    with pytest.raises(InvalidCredentialsError, match=r"^the server of .* refused the login: "):
        Run(artifacts_uri=uri)

    result = CliRunner().invoke(main, ["runs", uri])
    assert result.exit_code == 1
    assert result.output.startswith(f"aim-artifacts: error: the server of {public_uri(uri)} ")
    assert result.output.count("\n") == 1
    assert SECRET not in result.output


def test_an_s3_uri_with_credentials_is_refused_before_any_request() -> None:
    with pytest.raises(InvalidURIError, match="takes no credentials") as caught:
        Store(f"s3://AKIAEXAMPLE:{SECRET}@bucket/runs")
    assert SECRET not in str(caught.value)
    # An '@' further on is part of a key, as S3 allows: not a credential.
    assert public_uri("s3://bucket/runs@v2") == "s3://bucket/runs@v2"


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("sftp://bob:pw@host:22/x", "sftp://bob@host:22/x"),
        ("simplecache::ftp://bob:p%40ss@host/x", "simplecache::ftp://bob@host/x"),
        ("smb://:pw@host/share", "smb://@host/share"),
        ("ftp://bob@host/x", "ftp://bob@host/x"),
        ("file:///data/a:b@c", "file:///data/a:b@c"),
        ("/data/a:b@c", "/data/a:b@c"),
    ],
)
def test_public_uri_drops_only_the_password(uri: str, shown: str) -> None:
    assert public_uri(uri) == shown
