"""`Run.set_artifacts_uri` called again: the same URI and options, or a refusal."""

from __future__ import annotations

from typing import Any

import pytest

from aim_artifacts import ArtifactsURIAlreadySetError, Run
from conftest import BUCKET


def test_other_storage_options_for_the_same_uri_are_refused(s3: dict[str, Any]) -> None:
    uri = f"s3://{BUCKET}/runs"
    run = Run(artifacts_uri=uri, **s3)
    run.set_artifacts_uri(uri, **s3)  # the same again: fine
    with pytest.raises(ArtifactsURIAlreadySetError, match="with other storage options"):
        run.set_artifacts_uri(uri, **{**s3, "endpoint_url": "http://127.0.0.1:1"})
    with pytest.raises(ArtifactsURIAlreadySetError, match="with other storage options"):
        run.set_artifacts_uri(uri)
    run.log_bytes(b"a", "a.txt")  # still stored with the options given first
    assert set(Run(run.hash, artifacts_uri=uri, **s3).artifacts) == {"a.txt"}
    run.close()
