"""``aim-artifacts``: the command line, a thin layer over the public API.

One grammar for every command: the store is ``--uri URI``, else ``$AIM_ARTIFACTS_URI``, else
`DEFAULT_URI` (a local folder, so nothing needs setting up); commands that take no NAME
arguments also take it as their one argument. ``--run HASH`` names an existing run. A
failure is one line on stderr and exit 1 (``--debug`` adds the traceback); usage errors
exit 2.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import secrets
import socket
import sys
import traceback
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

import click

from . import ENV_URI, AimArtifactsError, Artifact, Run, SourceNotFoundError, Store
from .formatting import format_time, human_size

__all__ = ["DEFAULT_URI", "listen", "main"]

DEFAULT_URI = "./artifacts"

F = TypeVar("F", bound=Callable[..., Any])


def _seconds(value: dt.datetime) -> str:
    """``2026-11-30T02:07:23Z``: a table's time, in UTC to the second (JSON keeps the
    microseconds)."""
    return format_time(value)[:19] + "Z"


def _one_line_errors(command: F) -> F:
    """Report any failure as one line on stderr and exit 1 (with ``--debug``, the
    traceback first)."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # noqa: BLE001 - every failure gets its one line
            if _debug():
                traceback.print_exc()
            click.echo(f"aim-artifacts: error: {_one_line(exc)}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if not isinstance(exc, (AimArtifactsError, OSError)) or not text:
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text


def _debug() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context and context.find_root().params.get("debug"))


def _progress(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


def _table(rows: Iterable[tuple[str, ...]], header: tuple[str, ...]) -> None:
    rows = [header, *rows]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _artifact_rows(artifacts: Iterable[Artifact]) -> list[tuple[str, ...]]:
    return [
        (a.name, human_size(a.size), (a.sha256 or "")[:12], _seconds(a.created_at), a.uri)
        for a in artifacts
    ]


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _store(uri: str | None, positional: str | None = None) -> Store:
    """The store named by ``--uri`` or the argument (not both), else the environment, else
    `DEFAULT_URI`; it must exist.

    Raises:
        click.UsageError: both were given, differently.
    """
    if uri and positional and uri != positional:
        msg = f"the URI was given twice: {positional!r} and --uri {uri!r}"
        raise click.UsageError(msg)
    return Store(_uri(uri or positional), must_exist=True)


def _uri(given: str | None) -> str:
    return given or os.environ.get(ENV_URI) or DEFAULT_URI


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}  # a duration's units, in seconds


class _Duration(click.ParamType):
    """A duration: a number and a unit (``s``, ``m``, ``h``, ``d``), e.g. ``12h``; or ``0``."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, dt.timedelta):
            return value
        text = str(value).strip().lower()
        number, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "")
        try:
            seconds = float(number) * _UNITS.get(unit, 1)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds >= 0 and (unit or seconds == 0)):
            msg = f"{value!r} is not a duration: a number and a unit (s, m, h, d), e.g. 12h"
            self.fail(msg, param, ctx)
        return dt.timedelta(seconds=seconds)


# The options several commands share: click's decorators, typed loosely (click's own FC
# type variable has no meaning on a module-level name).
_Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

uri_option: _Decorator = click.option(
    "--uri",
    help="The store: an fsspec URL or path (default: $AIM_ARTIFACTS_URI, else ./artifacts).",
)
uri_argument: _Decorator = click.argument("store_uri", metavar="[URI]", required=False)
run_option: _Decorator = click.option("--run", "run_hash", required=True, help="The run's hash.")
json_option: _Decorator = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON for scripts."
)
progress_option: _Decorator = click.option(
    "--progress/--no-progress", default=None, help="Progress bars (default: on a terminal)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="aim-artifacts")
@click.option("--debug", is_flag=True, help="Show the traceback of a failure.")
def main(debug: bool) -> None:
    """Link training-run files to ML runs, on any storage fsspec reaches.

    The store is --uri URI on every command, else $AIM_ARTIFACTS_URI, else ./artifacts;
    commands without NAME arguments also take it as their one argument. --run names an
    existing run.
    """


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@uri_option
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
    """Log files and directories to a new run (its hash is printed) or an existing one.

    Every PATH is checked before anything is stored.
    """
    if name is not None and len(paths) > 1:
        raise click.UsageError("--name takes one PATH")
    for path in paths:
        if not os.path.exists(path):
            msg = f"no such file or directory: {path!r}"
            raise SourceNotFoundError(msg)
    if run_hash:
        run = Store(_uri(uri)).run(run_hash)
    else:  # a new run: the store is asked once (a dead server fails fast) before any upload
        Store(_uri(uri)).check()
        run = Run(artifacts_uri=_uri(uri))
    with run:
        for path in paths:
            if os.path.isdir(path):
                run.log_artifacts(path, name, block=True, progress=_progress(progress))
            else:
                run.log_artifact(path, name, block=True, progress=_progress(progress))
    click.echo(run.hash)


@main.command()
@uri_argument
@uri_option
@json_option
@click.option("--search", default="", help="Only runs whose hash contains this text.")
@click.option(
    "--limit", type=click.IntRange(min=1), help="At most this many runs, the newest (default: all)."
)
@_one_line_errors
def runs(
    store_uri: str | None, uri: str | None, as_json: bool, search: str, limit: int | None
) -> None:
    """List the runs in the store, newest first."""
    summaries = _store(uri, store_uri).page(search, limit=limit).runs
    if as_json:
        _print_json([s.to_dict() for s in summaries])
        return
    rows = [
        (
            s.hash,
            (s.created and _seconds(s.created)) or "",
            str(s.count),
            human_size(s.size),
            (s.last_logged and _seconds(s.last_logged)) or "",
        )
        for s in summaries
    ]
    _table(rows, ("run", "created", "artifacts", "size", "last logged"))


@main.command()
@uri_argument
@uri_option
@run_option
@json_option
@_one_line_errors
def ls(store_uri: str | None, uri: str | None, run_hash: str, as_json: bool) -> None:
    """List a run's artifacts."""
    run = _store(uri, store_uri).run(run_hash)
    if as_json:
        _print_json(run.to_dict())
        return
    _table(_artifact_rows(run.artifacts.values()), ("name", "size", "sha256", "logged at", "uri"))


@main.command()
@click.argument("names", nargs=-1)
@uri_option
@run_option
@click.option("-o", "--output", default=".", type=click.Path(), help="Destination directory.")
@progress_option
@_one_line_errors
def get(
    names: tuple[str, ...], uri: str | None, run_hash: str, output: str, progress: bool | None
) -> None:
    """Download a run's artifacts (all, or the NAMES given), checking each sha256.

    Every intact artifact is downloaded; each one that fails is named on stderr (exit 1).
    """
    run = _store(uri).run(run_hash)
    records = run.artifacts
    missing = [n for n in names if n not in records]
    if missing:
        msg = f"run {run_hash} has no artifact {missing[0]!r}"
        raise click.ClickException(msg)
    chosen = [records[n] for n in names] if names else list(records.values())
    failed = 0
    for artifact in chosen:
        try:
            click.echo(artifact.download(output))
        except (AimArtifactsError, OSError) as exc:
            failed += 1
            click.echo(f"aim-artifacts: error: {artifact.name}: {_one_line(exc)}", err=True)
    if failed:
        click.echo(f"aim-artifacts: {failed} of {len(chosen)} artifact(s) failed", err=True)
        sys.exit(1)


@main.command()
@uri_argument
@uri_option
@run_option
@json_option
@_one_line_errors
def verify(store_uri: str | None, uri: str | None, run_hash: str, as_json: bool) -> None:
    """Re-hash a run's stored objects against their records; exit 1 on any difference."""
    report = _store(uri, store_uri).run(run_hash).verify()
    if as_json:
        _print_json(
            {
                "ok": report.ok,
                "verified": report.verified,
                "missing": report.missing,
                "changed": report.changed,
                "unrecorded": report.unrecorded,
            }
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
@uri_option
@run_option
@click.option(
    "--keep-resumable",
    type=_Duration(),
    help="Keep resumable uploads younger than this (e.g. 30m, 12h; 0: none; default: a day).",
)
@_one_line_errors
def repair(
    store_uri: str | None, uri: str | None, run_hash: str, keep_resumable: dt.timedelta | None
) -> None:
    """Clean up after killed processes: leftover temp files, unfinished uploads."""
    run = _store(uri, store_uri).run(run_hash)
    kept = {} if keep_resumable is None else {"keep_resumable": keep_resumable}
    for removed in run.repair(**kept):
        click.echo(f"removed {removed}")


@main.command()
@uri_argument
@uri_option
@_one_line_errors
def reindex(store_uri: str | None, uri: str | None) -> None:
    """Build the runs index of a store written before it (or by an older version), so the
    newest runs list without listing the whole store."""
    marked = _store(uri, store_uri).reindex()
    click.echo(f"indexed {len(marked)} run{'' if len(marked) == 1 else 's'}")


@main.command()
@click.argument("names", nargs=-1, required=True)
@uri_option
@run_option
@_one_line_errors
def rm(names: tuple[str, ...], uri: str | None, run_hash: str) -> None:
    """Delete artifacts (record first, then object)."""
    with _store(uri).run(run_hash) as run:
        for name in names:
            run.delete_artifact(name)
            click.echo(f"deleted {name}")


@main.command()
@uri_argument
@uri_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8765, show_default=True, help="Port to listen on (0: any).")
@click.option(
    "--allowed-host", "allowed_hosts", multiple=True, help="Another Host name to answer (repeat)."
)
@click.option("--token", help="Required on every request when not on loopback (default: new).")
@_one_line_errors
def ui(
    store_uri: str | None,
    uri: str | None,
    *,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    token: str | None,
) -> None:
    """Serve a read-only web page of the runs in the store (needs the [ui] extra).

    It answers only its own Host names (127.0.0.1, localhost, --host, --allowed-host); bound
    beyond loopback, every request needs the token printed with its URL.
    """
    try:
        import uvicorn  # noqa: PLC0415 - optional extra

        from .ui.app import create_app  # noqa: PLC0415 - optional extra
        from .ui.security import LOOPBACK_HOSTS, is_loopback  # noqa: PLC0415
    except ImportError as exc:
        msg = f"the web page needs the [ui] extra: pip install 'aim-artifacts[ui]' ({exc})"
        raise click.ClickException(msg) from exc
    store = _store(uri, store_uri)
    if not is_loopback(host):
        token = token or secrets.token_urlsafe(24)
    app = create_app(store, allowed_hosts=(*LOOPBACK_HOSTS, host, *allowed_hosts), token=token)
    listener = listen(host, port)  # bound now: the port announced is real
    bound = listener.getsockname()[1]
    url = f"http://{host}:{bound}" + (f"/?token={token}" if token else "")
    click.echo(f"aim-artifacts: serving {store.uri} on {url}", err=True)
    server = uvicorn.Server(uvicorn.Config(app, log_level="info"))
    server.run(sockets=[listener])


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on `host`:`port` whose connections send each reply at once.

    asyncio turns Nagle's algorithm off only on the sockets it makes; without this, a reply
    on a kept-alive connection waited ~40 ms for the client's delayed ACK. Accepted
    connections inherit the option.
    """
    listener = socket.create_server((host, port))
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


if __name__ == "__main__":  # python -m aim_artifacts.cli
    main()
