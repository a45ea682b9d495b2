"""The run page and what it asks for: artifacts by folder or sorted (HTML rows for the page,
JSON for scripts, both paged with a cursor), previews, verify, downloads; and the page that
compares two runs. Plain functions: Starlette runs them on its threads, so a slow backend
never stalls other requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlencode

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from .. import Artifact, InvalidNameError, Run, RunNotFoundError, SidecarError, Store
from ..display import artifact_rows, render, short_time, split_middle
from ..formatting import human_size
from .compare import compare
from .index import PAGE, IndexCache, Page, RunIndex
from .preview import LIMIT, preview

__all__ = ["run_routes"]

LISTING_PARAMS = ("q", "sort", "order", "limit")  # carried to the next page's URL
MAX_PAGE = 1000  # rows a page may ask for
CHUNK = 1 << 20  # bytes per streamed read: a download never holds the object in memory
Render = Callable[..., HTMLResponse]


def run_routes(store: Store, page: Render) -> list[Route]:
    """The routes of the run page, its previews, downloads and the comparison page, reading
    the runs of `store`; `page` renders a template with the page's common context."""

    def open_run(run_hash: str) -> Run:
        try:
            return store.run(run_hash)
        except (RunNotFoundError, InvalidNameError) as exc:
            raise HTTPException(404, f"There is no run {run_hash!r} in this store.") from exc
        except SidecarError as exc:  # nothing of the run is served
            raise HTTPException(500, f"The records of run {run_hash!r} are invalid: {exc}") from exc

    indexes = IndexCache(lambda run_hash: open_run(run_hash).artifacts.values())

    def artifact(request: Request) -> Artifact:
        run_hash, name = request.path_params["run_hash"], request.path_params["name"]
        found = indexes.get(run_hash).get(name)
        if found is None:
            raise HTTPException(404, f"Run {run_hash!r} has no artifact {name!r}.")
        return found

    def run_page(request: Request) -> HTMLResponse:
        run_hash = request.path_params["run_hash"]
        index = indexes.get(run_hash)
        first = index.page(folder="")
        return page(
            "run.html",
            uri=f"{store.uri}/{run_hash}",
            created=_time(index.created),
            last_logged=_time(index.last_logged),
            count=index.count,
            size_text=human_size(index.size),
            **_rows_context(request, first, folder=""),
        )

    def rows(request: Request) -> HTMLResponse:
        listing, folder = _listing(indexes.get(request.path_params["run_hash"]), request)
        html = render("artifact_rows.html", **_rows_context(request, listing, folder))
        return HTMLResponse(html, headers={"X-Total": str(listing.total)})

    def artifacts_api(request: Request) -> JSONResponse:
        listing, _ = _listing(indexes.get(request.path_params["run_hash"]), request)
        return JSONResponse(
            {
                "total": listing.total,
                "folders": [
                    {"path": f.path, "count": f.count, "size": f.size} for f in listing.folders
                ],
                "artifacts": [a.to_dict() for a in listing.artifacts],
                "next": listing.next,
            }
        )

    def preview_fragment(request: Request) -> HTMLResponse:
        found = artifact(request)
        try:
            shown = preview(found)
        except FileNotFoundError as exc:
            raise HTTPException(404, f"The object of {found.name!r} is gone from storage.") from exc
        context = {"run_hash": request.path_params["run_hash"], "shown": human_size(LIMIT)}
        return HTMLResponse(render("preview.html", a=artifact_rows([found])[0], p=shown, **context))

    def run_api(request: Request) -> JSONResponse:
        return JSONResponse(open_run(request.path_params["run_hash"]).to_dict())

    def verify(request: Request) -> JSONResponse:
        report = open_run(request.path_params["run_hash"]).verify()
        return JSONResponse(
            {
                "ok": report.ok,
                "verified": len(report.verified),
                "missing": report.missing,
                "changed": report.changed,
                "unrecorded": report.unrecorded,
            }
        )

    def download(request: Request) -> StreamingResponse:
        found = artifact(request)
        filename = found.name.rsplit("/", 1)[-1]
        return StreamingResponse(
            _stream(found),
            media_type=found.content_type,
            headers={
                "Content-Length": str(found.size),
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename, safe='')}",
            },
        )

    def compare_page(request: Request) -> HTMLResponse:
        a, b = request.query_params.get("a"), request.query_params.get("b")
        result = None
        if a and b:
            old, new = ({x.name: x for x in indexes.get(h).records} for h in (a, b))
            result = compare(old, new)
        return page("compare.html", runs=store.runs(), a=a, b=b, c=result)

    return [
        Route("/runs/{run_hash}", run_page),
        Route("/runs/{run_hash}/rows", rows),
        Route("/runs/{run_hash}/preview/{name:path}", preview_fragment),
        Route("/runs/{run_hash}/download/{name:path}", download),
        Route("/api/runs/{run_hash}", run_api),
        Route("/api/runs/{run_hash}/artifacts", artifacts_api),
        Route("/api/runs/{run_hash}/verify", verify, methods=["POST"]),
        Route("/compare", compare_page),
    ]


def _listing(index: RunIndex, request: Request) -> tuple[Page, str | None]:
    """The page of `index` the query asks for: ``folder`` (absent: flat), ``q``, ``sort``,
    ``order`` (``desc``), ``cursor``, ``limit``."""
    params = request.query_params
    folder = params.get("folder")
    limit = params.get("limit", str(PAGE))
    if not limit.isdigit() or not 1 <= int(limit) <= MAX_PAGE:
        raise HTTPException(400, f"limit: a number from 1 to {MAX_PAGE}")
    try:
        listing = index.page(
            folder=folder,
            query=params.get("q", ""),
            sort=params.get("sort", "name"),
            descending=params.get("order") == "desc",
            cursor=params.get("cursor"),
            limit=int(limit),
        )
    except ValueError as exc:
        raise HTTPException(400, str(exc)) from exc
    return listing, folder


def _rows_context(request: Request, listing: Page, folder: str | None) -> dict[str, Any]:
    """What ``artifact_rows.html`` needs for `listing`: rows, folder rows, the depth of the
    level and the URL of the page after it."""
    depth = len(folder.split("/")) if folder else 0
    more = None
    if listing.next is not None:
        query = {k: v for k, v in request.query_params.items() if k in LISTING_PARAMS}
        if folder is not None:
            query["folder"] = folder
        query["cursor"] = listing.next
        more = f"/runs/{quote(request.path_params['run_hash'])}/rows?{urlencode(query)}"
    folders = [
        {
            "path": f.path,
            "label": split_middle(f.path.rsplit("/", 1)[-1] + "/"),
            "count": f.count,
            "size_text": human_size(f.size),
        }
        for f in listing.folders
    ]
    return {
        "run_hash": request.path_params["run_hash"],
        "folders": folders,
        "artifacts": artifact_rows(listing.artifacts, leaf=folder is not None),
        "depth": min(depth, 12),
        "more": more,
        "links": True,
        "notebook": False,
    }


def _time(value: dt.datetime | None) -> str | None:
    return f"{short_time(value)} UTC" if value else None


def _stream(artifact: Artifact) -> Iterator[bytes]:
    with artifact.upath.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
