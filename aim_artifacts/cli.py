"""``aim-artifacts``: the command line, a thin layer over the public API.

URI resolution for every command: the URI given, else ``$AIM_ARTIFACTS_URI``, else
`DEFAULT_URI` (a local folder, so nothing needs setting up).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

import click

from . import ENV_URI, AimArtifactsError, Artifact, Run, Store
from .formatting import format_time, human_size

__all__ = ["DEFAULT_URI", "main"]

DEFAULT_URI = "./artifacts"

F = TypeVar("F", bound=Callable[..., Any])


def _one_line_errors(command: F) -> F:
    """Report the package's errors (and the backend's OSErrors) as one line, exit 1."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (AimArtifactsError, OSError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            click.echo(f"aim-artifacts: error: {message}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _uri(given: str | None) -> str:
    return given or os.environ.get(ENV_URI) or DEFAULT_URI


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> None:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _artifact_rows(artifacts: Iterable[Artifact]) -> list[tuple[str, ...]]:
    return [
        (a.name, human_size(a.size), (a.sha256 or "")[:12], format_time(a.created_at), a.uri)
        for a in artifacts
    ]


uri_argument = click.argument("uri", required=False)
run_option = click.option("--run", "run_hash", required=True, help="The run's hash.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
progress_option = click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: on a terminal)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aim-artifacts")
def main() -> None:
    """Link training-run files to ML runs, on any storage fsspec reaches.

    URI defaults to $AIM_ARTIFACTS_URI, else ./artifacts.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--uri", help="Artifacts URI (default: $AIM_ARTIFACTS_URI, else ./artifacts).")
@click.option("--run", "run_hash", help="Log to this existing run (default: a new run).")
@click.option("--name", help="Artifact name (one file) or prefix (a directory).")
@progress_option
@_one_line_errors
def log(
    paths: tuple[str, ...],
    uri: str | None,
    run_hash: str | None,
    name: str | None,
    progress: bool | None,
) -> None:
    """Log files and directories to a new run (its hash is printed) or an existing one."""
    if name is not None and len(paths) > 1:
        raise click.UsageError("--name takes one PATH")
    run = Run(run_hash, artifacts_uri=_uri(uri))
    with run:
        for path in paths:
            if os.path.isdir(path):
                run.log_artifacts(path, name, block=True, progress=_progress(progress))
            else:
                run.log_artifact(path, name, block=True, progress=_progress(progress))
    click.echo(run.hash)


@main.command()
@uri_argument
@json_option
@_one_line_errors
def runs(uri: str | None, as_json: bool) -> None:
    """List the runs stored under URI."""
    summaries = Store(_uri(uri)).summaries()
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in summaries], indent=2))
        return
    rows = [
        (
            s.hash,
            str(s.count),
            human_size(s.size),
            format_time(s.last_logged) if s.last_logged else "",
        )
        for s in summaries
    ]
    _table(rows, ("run", "artifacts", "size", "last logged"))


@main.command()
@uri_argument
@run_option
@json_option
@_one_line_errors
def ls(uri: str | None, run_hash: str, as_json: bool) -> None:
    """List a run's artifacts."""
    run = Store(_uri(uri)).run(run_hash)
    if as_json:
        click.echo(json.dumps(run.to_dict(), indent=2))
        return
    _table(_artifact_rows(run.artifacts.values()), ("name", "size", "sha256", "logged at", "uri"))


@main.command()
@uri_argument
@run_option
@click.argument("names", nargs=-1)
@click.option("-o", "--output", default=".", type=click.Path(), help="Destination directory.")
@progress_option
@_one_line_errors
def get(
    uri: str | None, run_hash: str, names: tuple[str, ...], output: str, progress: bool | None
) -> None:
    """Download a run's artifacts (all, or the NAMES given), checking each sha256."""
    run = Store(_uri(uri)).run(run_hash)
    if not names:
        paths = run.download_artifacts(output, progress=_progress(progress))
    else:
        records = run.artifacts
        missing = [n for n in names if n not in records]
        if missing:
            msg = f"run {run_hash} has no artifact {missing[0]!r}"
            raise click.ClickException(msg)
        paths = [records[n].download(output) for n in names]
    for path in paths:
        click.echo(path)


@main.command()
@uri_argument
@run_option
@json_option
@_one_line_errors
def verify(uri: str | None, run_hash: str, as_json: bool) -> None:
    """Re-hash a run's stored objects against their records; exit 1 on any difference."""
    report = Store(_uri(uri)).run(run_hash).verify()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "verified": report.verified,
                    "missing": report.missing,
                    "changed": report.changed,
                    "unrecorded": report.unrecorded,
                },
                indent=2,
            )
        )
    else:
        click.echo(f"{len(report.verified)} verified")
        for label, names in (
            ("missing", report.missing),
            ("changed", report.changed),
            ("unrecorded", report.unrecorded),
        ):
            for name in names:
                click.echo(f"{label}: {name}")
    if not report.ok:
        sys.exit(1)


@main.command()
@uri_argument
@run_option
@_one_line_errors
def repair(uri: str | None, run_hash: str) -> None:
    """Clean up after killed processes: leftover temp files, unfinished uploads."""
    run = Store(_uri(uri)).run(run_hash)
    for removed in run.repair():
        click.echo(f"removed {removed}")


@main.command()
@uri_argument
@run_option
@click.argument("names", nargs=-1, required=True)
@_one_line_errors
def rm(uri: str | None, run_hash: str, names: tuple[str, ...]) -> None:
    """Delete artifacts (record first, then object)."""
    with Store(_uri(uri)).run(run_hash) as run:
        for name in names:
            run.delete_artifact(name)
            click.echo(f"deleted {name}")


@main.command()
@uri_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, help="Port to listen on.")
@_one_line_errors
def ui(uri: str | None, host: str, port: int) -> None:
    """Serve a read-only web page of the runs under URI (needs the [ui] extra)."""
    try:
        import uvicorn  # noqa: PLC0415 - optional extra

        from .ui.app import create_app  # noqa: PLC0415 - optional extra
    except ImportError as exc:
        msg = f"the web page needs the [ui] extra: pip install 'aim-artifacts[ui]' ({exc})"
        raise click.ClickException(msg) from exc
    app = create_app(_uri(uri))
    click.echo(f"aim-artifacts: serving {_uri(uri)} on http://{host}:{port}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")


if __name__ == "__main__":  # python -m aim_artifacts.cli
    main()
