"""Shared fixtures: a real S3 server (moto, over HTTP on 127.0.0.1), isolation, stores."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from aim_artifacts import S3ArtifactStorage_clientconfig
from tests.servers import Middleware, S3Server, free_port

AWS_KEY = "testing-key-id"
AWS_SECRET = "testing-secret-key-do-not-leak"
BUCKET = "artifacts"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No AWS_* / AIM_ARTIFACTS_* from the developer's shell; no ~/.aws config."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "AIM_ARTIFACTS_")):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("aws-home")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    S3ArtifactStorage_clientconfig()  # no client config from an earlier test


def _clear_fsspec() -> None:
    classes = [fsspec.AbstractFileSystem]
    while classes:  # every filesystem class keeps its own instance cache
        cls = classes.pop()
        cls.clear_instance_cache()
        classes.extend(cls.__subclasses__())
    MemoryFileSystem.store.clear()
    MemoryFileSystem.pseudo_dirs[:] = [""]


@pytest.fixture(autouse=True)
def clean_fsspec() -> Iterator[None]:
    """Fresh fsspec instance caches and an empty memory store around each test."""
    _clear_fsspec()
    yield
    _clear_fsspec()


@pytest.fixture(scope="session")
def s3_moto() -> Iterator[S3Server]:
    """A moto S3 server (ThreadedMotoServer) on a free 127.0.0.1 port, one per session."""
    server = S3Server(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server(s3_moto: S3Server) -> str:
    """The S3 server's URL."""
    return s3_moto.url


@pytest.fixture
def s3_requests(s3_moto: S3Server, s3: dict[str, Any]) -> Middleware:
    """The S3 server's request log (and latency / fault knobs), empty at the test's start."""
    s3_moto.middleware.reset()
    return s3_moto.middleware


def s3_client(endpoint: str) -> Any:
    """A boto3 client for inspecting the test server directly."""
    import boto3

    return boto3.session.Session().client(  # a fresh session: env and config files as now
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=AWS_KEY,
        aws_secret_access_key=AWS_SECRET,
        region_name="us-east-1",
    )


@pytest.fixture
def s3(s3_moto: S3Server, s3_server: str) -> dict[str, Any]:
    """The S3 server reset to one empty bucket, ``artifacts``; returns s3fs storage options."""
    import requests

    requests.post(f"{s3_server}/moto-api/reset", timeout=10).raise_for_status()
    s3_moto.middleware.reset()
    s3_client(s3_server).create_bucket(Bucket=BUCKET)
    return {
        "key": AWS_KEY,
        "secret": AWS_SECRET,
        "endpoint_url": s3_server,
        "client_kwargs": {"region_name": "us-east-1"},
    }
