"""`Store`: a base URI holding many runs."""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable
from typing import Any

import attrs

from .errors import InvalidNameError, RunNotFoundError
from .formatting import format_time
from .journal import Journal
from .location import Location, resolve
from .names import check_run_hash
from .records import Artifact
from .run import Run

__all__ = ["RunSummary", "Store"]


@attrs.frozen
class RunSummary:
    """One line about a run: what the runs page and ``aim-artifacts runs`` show."""

    hash: str
    created: dt.datetime | None  # when its first artifact was logged (None: it has none)
    last_logged: dt.datetime | None
    count: int
    size: int  # bytes, all artifacts together

    @classmethod
    def of(cls, run_hash: str, artifacts: Iterable[Artifact]) -> RunSummary:
        """The summary of the run `run_hash` holding `artifacts`."""
        artifacts = list(artifacts)
        times = [a.created_at for a in artifacts]
        return cls(
            run_hash,
            min(times, default=None),
            max(times, default=None),
            len(times),
            sum(a.size for a in artifacts),
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``aim-artifacts runs --json`` and ``/api/runs`` (times as in the
        sidecar, None for a run without artifacts)."""
        return {
            "hash": self.hash,
            "created": format_time(self.created) if self.created else None,
            "last_logged": format_time(self.last_logged) if self.last_logged else None,
            "count": self.count,
            "size": self.size,
        }


class Store:
    """The runs stored under one base URI (what ``set_artifacts_uri`` was given)."""

    def __init__(self, base_uri: Any, *, must_exist: bool = False, **storage_options: Any) -> None:
        """
        Args:
            base_uri: as for `Run.set_artifacts_uri`.
            must_exist: check now that the URI names an existing directory (one request).
            **storage_options: options for the filesystem.

        Raises:
            BackendUnavailableError: unknown protocol, or the package serving it is missing.
            StoreNotFoundError: `must_exist` and nothing exists at the URI.
            NotAStoreError: the URI names a file.
        """
        self._base: Location = resolve(base_uri, **storage_options)
        if must_exist or self._base.storage.local:  # local: free to ask, and a common mistake
            self._base.check_store(must_exist=must_exist)

    @property
    def uri(self) -> str:
        """The base URI, without a trailing slash."""
        return self._base.uri

    def check(self) -> None:
        """Ask the store once, before anything is stored there: its server answers (within
        10 s, ``$AIM_ARTIFACTS_FIRST_ANSWER_TIMEOUT``), the credentials are accepted and the
        URI is not a file; it need not exist yet.

        Raises:
            EndpointUnreachableError, InvalidCredentialsError, NotAStoreError.
        """
        self._base.check_store(must_exist=False)

    def runs(self) -> list[str]:
        """The hashes of the runs stored here, sorted."""
        with self._base.storage_errors():
            entries = self._base.storage.ls(self._base.path)
            hashes = []
            for entry in entries:
                name = entry["name"].rstrip("/").rsplit("/", 1)[-1]
                if entry["type"] != "directory" or not _is_run_hash(name):
                    continue
                if Journal(self._base.child(name), name).exists():
                    hashes.append(name)
        return sorted(hashes)

    def summaries(self) -> list[RunSummary]:
        """A summary of every run stored here, newest first."""
        summaries = [
            RunSummary.of(h, list(Run(h, artifacts_uri=self._base).artifacts.values()))
            for h in self.runs()
        ]
        oldest = dt.datetime.min.replace(tzinfo=dt.timezone.utc)
        return sorted(summaries, key=lambda s: (s.created or oldest, s.hash), reverse=True)

    def run(self, run_hash: str) -> Run:
        """Open a stored run.

        Raises:
            InvalidNameError: `run_hash` is not a valid run hash.
            RunNotFoundError: no run of that hash is stored here.
        """
        check_run_hash(run_hash)
        with self._base.storage_errors():
            found = Journal(self._base.child(run_hash), run_hash).exists()
        if not found:
            msg = f"no run {run_hash!r} in {self.uri}{self._did_you_mean(run_hash)}"
            raise RunNotFoundError(msg)
        return Run(run_hash, artifacts_uri=self._base)

    def _did_you_mean(self, run_hash: str) -> str:
        """``"; did you mean 'x'?"`` naming the stored run closest to a mistyped hash."""
        try:
            hashes = self.runs()
        except Exception:  # noqa: BLE001 - a hint only: the error being raised matters
            return ""
        close = [h for h in hashes if h.startswith(run_hash) or run_hash.startswith(h)]
        close = close or difflib.get_close_matches(run_hash, hashes, n=1, cutoff=0.8)
        return f"; did you mean {close[0]!r}?" if close else ""

    def __repr__(self) -> str:
        return f"Store({self.uri!r})"


def _is_run_hash(name: str) -> bool:
    try:
        check_run_hash(name)
    except InvalidNameError:
        return False
    return True
