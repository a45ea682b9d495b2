"""The read-only web page: runs, a run's artifacts (`runpage`), and the JSON behind them;
styled error pages.

Needs the ``[ui]`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import InvalidCursorError, RunsPage, Store
from ..display import load_templates, render
from ..formatting import human_size
from .runpage import run_routes
from .security import LOOPBACK_HOSTS, Guard

__all__ = ["create_app"]

STATIC = Path(__file__).parent.parent / "static"  # the page's CSS and script
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
    load_templates()  # now, not on the first request

    def list_runs(request: Request) -> tuple[str, RunsPage]:
        """The page of runs the query asks for (``q``: part of a hash, ``cursor``, ``limit``,
        as the run page's API names them): a listing is reused for `LISTING_MAX_AGE` s."""
        query = request.query_params
        search = query.get("q", "").strip()
        try:
            limit = int(query.get("limit", PAGE_SIZE))
            if not 1 <= limit <= MAX_PAGE_SIZE:
                raise ValueError(limit)
        except ValueError as exc:
            raise HTTPException(400, f"limit: a number from 1 to {MAX_PAGE_SIZE}") from exc
        try:
            listed = store.page(
                search, after=query.get("cursor"), limit=limit, max_age=LISTING_MAX_AGE
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
            newest=_url("/", q=search) if "cursor" in request.query_params else None,
            older=listed.next and _url("/", q=search, cursor=listed.next),
        )

    def runs_api(request: Request) -> JSONResponse:
        search, listed = list_runs(request)
        headers = {} if listed.total is None else {"X-Total-Count": str(listed.total)}
        if listed.next is not None:
            limit = request.query_params.get("limit")
            url = _url("/api/runs", q=search, cursor=listed.next, limit=limit)
            headers["Link"] = f'<{url}>; rel="next"'
        return JSONResponse([s.to_dict() for s in listed.runs], headers=headers)

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


def _url(path: str, **query: str | None) -> str:
    """`path` with the query parameters that have a value."""
    given = {k: v for k, v in query.items() if v}
    return f"{path}?{urlencode(given)}" if given else path
