"""The read-only web page: runs, a run's artifacts, downloads, and the JSON behind them.

Needs the ``[ui]`` extra (Starlette, Jinja2, uvicorn).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, StreamingResponse
from starlette.routing import Route

from ..errors import InvalidNameError, RunNotFoundError
from ..records import Artifact, format_time
from ..run import Run
from ..store import Store
from .html import artifact_rows, human_size, templates

__all__ = ["create_app"]

CHUNK = 1 << 20  # bytes per streamed read: a download never holds the object in memory


def create_app(base_uri: Any, **storage_options: Any) -> Starlette:
    """The web app for the runs under `base_uri` (storage options are never shown)."""
    store = Store(base_uri, **storage_options)

    def open_run(run_hash: str) -> Run:
        try:
            return store.run(run_hash)
        except (RunNotFoundError, InvalidNameError) as exc:
            raise HTTPException(404, f"no run {run_hash!r}") from exc

    def page(name: str, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(base_uri=store.uri, **context)
        return HTMLResponse(html)

    async def runs_page(request: Request) -> HTMLResponse:
        return page("runs.html", runs=_run_summaries(store))

    async def run_page(request: Request) -> HTMLResponse:
        run_hash = request.path_params["run_hash"]
        artifacts = open_run(run_hash).artifacts.values()
        return page("run.html", run_hash=run_hash, artifacts=artifact_rows(artifacts))

    async def runs_api(request: Request) -> JSONResponse:
        summaries = _run_summaries(store)
        return JSONResponse([{k: v for k, v in s.items() if k != "size_text"} for s in summaries])

    async def run_api(request: Request) -> JSONResponse:
        run_hash = request.path_params["run_hash"]
        artifacts = [a.to_dict() for a in open_run(run_hash).artifacts.values()]
        return JSONResponse({"run": run_hash, "artifacts": artifacts})

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

    return Starlette(
        routes=[
            Route("/", runs_page),
            Route("/runs/{run_hash}", run_page),
            Route("/runs/{run_hash}/download/{name:path}", download),
            Route("/api/runs", runs_api),
            Route("/api/runs/{run_hash}", run_api),
        ]
    )


def _run_summaries(store: Store) -> list[dict[str, Any]]:
    summaries = []
    for run_hash in store.runs():
        artifacts = list(store.run(run_hash).artifacts.values())
        size = sum(a.size for a in artifacts)
        created = min((a.created_at for a in artifacts), default=None)
        summaries.append(
            {
                "hash": run_hash,
                "created": format_time(created) if created else None,
                "count": len(artifacts),
                "size": size,
                "size_text": human_size(size),
            }
        )
    return sorted(summaries, key=lambda s: s["created"] or "", reverse=True)


def _stream(artifact: Artifact) -> Iterator[bytes]:
    with artifact.upath.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _quote(name: str) -> str:
    from urllib.parse import quote  # noqa: PLC0415 - one use

    return quote(name, safe="")
