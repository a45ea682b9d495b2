"""The read-only web page: runs, a run's artifacts, downloads, and the JSON behind them.

Needs the ``[ui]`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import (
    Artifact,
    InvalidCursorError,
    InvalidNameError,
    Run,
    RunNotFoundError,
    RunsPage,
    Store,
)
from ..display import artifact_rows, render
from ..formatting import human_size
from .security import LOOPBACK_HOSTS, Guard

__all__ = ["create_app"]

STATIC = Path(__file__).parent.parent / "static"  # the page's CSS and script
CHUNK = 1 << 20  # bytes per streamed read: a download never holds the object in memory
PAGE_SIZE = 50  # runs on a page, unless the query asks for another number ...
MAX_PAGE_SIZE = 1000  # ... up to this many
LISTING_MAX_AGE = 2.0  # seconds a listing of the store serves page loads before it is redone


def create_app(
    base_uri: Any,
    *,
    allowed_hosts: Iterable[str] = LOOPBACK_HOSTS,
    token: str | None = None,
    **storage_options: Any,
) -> Guard:
    """The web app for the runs under `base_uri` (a URI, or a `Store`; storage options are
    never shown), answering requests whose `Host` is one of `allowed_hosts` and, if `token`
    is set, that carry it."""
    store = base_uri if isinstance(base_uri, Store) else Store(base_uri, **storage_options)

    def open_run(run_hash: str) -> Run:
        try:
            return store.run(run_hash)
        except (RunNotFoundError, InvalidNameError) as exc:
            raise HTTPException(404, f"no run {run_hash!r}") from exc

    def list_runs(request: Request) -> tuple[str, RunsPage]:
        """The page of runs the query asks for (``search``, ``after``, ``limit``): a
        listing of the store is reused for `LISTING_MAX_AGE` seconds."""
        query = request.query_params
        search = query.get("search", "").strip()
        try:
            limit = int(query.get("limit", PAGE_SIZE))
            if not 1 <= limit <= MAX_PAGE_SIZE:
                raise ValueError(limit)
        except ValueError as exc:
            raise HTTPException(400, f"limit: a number from 1 to {MAX_PAGE_SIZE}") from exc
        try:
            listed = store.page(
                search, after=query.get("after"), limit=limit, max_age=LISTING_MAX_AGE
            )
        except InvalidCursorError as exc:
            raise HTTPException(400, str(exc)) from exc
        return search, listed

    def page(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(render(name, base_uri=store.uri, **context))

    def runs_page(request: Request) -> HTMLResponse:  # sync: Starlette runs it on a thread
        search, listed = list_runs(request)
        runs = [{**s.to_dict(), "size_text": human_size(s.size)} for s in listed.runs]
        return page(
            "runs.html",
            runs=runs,
            total=listed.total,
            search=search,
            newest=_url("/", search=search) if "after" in request.query_params else None,
            older=listed.next and _url("/", search=search, after=listed.next),
        )

    async def run_page(request: Request) -> HTMLResponse:
        run_hash = request.path_params["run_hash"]
        artifacts = open_run(run_hash).artifacts.values()
        return page("run.html", run_hash=run_hash, artifacts=artifact_rows(artifacts))

    def runs_api(request: Request) -> JSONResponse:
        search, listed = list_runs(request)
        headers = {"X-Total-Count": str(listed.total)}
        if listed.next is not None:
            limit = request.query_params.get("limit")
            url = _url("/api/runs", search=search, after=listed.next, limit=limit)
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse([s.to_dict() for s in listed.runs], headers=headers)

    async def run_api(request: Request) -> JSONResponse:
        run_hash = request.path_params["run_hash"]
        return JSONResponse(open_run(run_hash).to_dict())

    async def download(request: Request) -> StreamingResponse:
        run_hash, name = request.path_params["run_hash"], request.path_params["name"]
        artifact = open_run(run_hash).artifacts.get(name)
        if artifact is None:
            raise HTTPException(404, f"run {run_hash!r} has no artifact {name!r}")
        filename = name.rsplit("/", 1)[-1]
        return StreamingResponse(
            _stream(artifact),
            media_type=artifact.content_type,
            headers={
                "Content-Length": str(artifact.size),
                "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
            },
        )

    app = Starlette(
        routes=[
            Route("/", runs_page),
            Route("/runs/{run_hash}", run_page),
            Route("/runs/{run_hash}/download/{name:path}", download),
            Route("/api/runs", runs_api),
            Route("/api/runs/{run_hash}", run_api),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ]
    )
    return Guard(app, allowed_hosts, token)


def _url(path: str, **query: str | None) -> str:
    """`path` with the query parameters that have a value."""
    given = {k: v for k, v in query.items() if v}
    return f"{path}?{urlencode(given)}" if given else path


def _stream(artifact: Artifact) -> Iterator[bytes]:
    with artifact.upath.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _quote(name: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415 - one use

    return quote(name, safe="")
