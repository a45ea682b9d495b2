"""The read-only web page: runs, a run's artifacts (`runpage`), and the JSON behind them;
styled error pages.

Needs the ``[ui]`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import Store
from ..display import render
from ..formatting import human_size
from .runpage import run_routes
from .security import LOOPBACK_HOSTS, Guard

__all__ = ["create_app"]

STATIC = Path(__file__).parent.parent / "static"  # the page's CSS and script


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

    def page(name: str, **context: Any) -> HTMLResponse:
        return HTMLResponse(render(name, base_uri=store.uri, **context))

    async def runs_page(request: Request) -> HTMLResponse:
        summaries = store.summaries()
        runs = [{**s.to_dict(), "size_text": human_size(s.size)} for s in summaries]
        return page("runs.html", runs=runs)

    async def runs_api(request: Request) -> JSONResponse:
        return JSONResponse([s.to_dict() for s in store.summaries()])

    async def error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        detail = exc.detail if isinstance(exc, HTTPException) else "Something went wrong."
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": detail}, status_code=status)
        title = HTTPStatus(status).phrase
        html = render("error.html", base_uri=store.uri, status=status, title=title, detail=detail)
        return HTMLResponse(html, status_code=status)

    app = Starlette(
        routes=[
            Route("/", runs_page),
            Route("/api/runs", runs_api),
            *run_routes(store, page),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ],
        exception_handlers={HTTPException: error},
    )
    return Guard(app, allowed_hosts, token)
