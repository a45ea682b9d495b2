"""What the page shows of an artifact's bytes: text, JSON, YAML, CSV/TSV as a table,
Markdown, the last lines of a log, PNG/JPEG/GIF/WebP images; anything else is described.

At most `LIMIT` bytes are read, by a ranged read (the head, or the tail of a log); nothing
from storage is ever rendered as markup: SVG and HTML are shown as their source, images only
when their first bytes say they are one of the four raster formats."""

from __future__ import annotations

import base64
import csv
import io
import json
import re
from typing import Any

import attrs
from markupsafe import Markup

from .. import Artifact
from .markdown import render_markdown

__all__ = ["LIMIT", "Preview", "preview", "read_head", "text_kind"]

LIMIT = 1 << 20  # bytes read for a preview, at most
ROWS = 500  # rows of a CSV table shown
LOG_LINES = 500  # last lines of a log shown
IMAGES = {  # leading bytes of the raster formats shown as images
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}
TEXT_KINDS = {
    "json": "json",
    "yaml": "yaml",
    "yml": "yaml",
    "csv": "csv",
    "tsv": "tsv",
    "md": "markdown",
    "markdown": "markdown",
    "log": "log",
    "out": "log",
    "err": "log",
    "svg": "source",
    "html": "source",
    "htm": "source",
    "xhtml": "source",
    "xml": "source",
}
IMAGE_SUFFIXES = {"png", "jpg", "jpeg", "gif", "webp"}
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f\x7f]")  # not in text files


@attrs.frozen
class Preview:
    """What the preview pane shows: `kind` (text, json, yaml, csv, tsv, markdown, log,
    source, image, binary), the `text` (and Markdown's `html`) or table `rows`, an image as a
    ``data:`` URL, and
    whether only part of the object was read (`partial`)."""

    kind: str
    text: str = ""
    html: Markup = attrs.field(factory=Markup)  # Markdown, rendered from escaped text
    rows: list[list[str]] = attrs.field(factory=list)
    image: str = ""
    partial: bool = False


def text_kind(name: str) -> str | None:
    """The text kind a name's suffix announces (``"yaml"`` for ``a/b.yml``), or None."""
    suffix = name.rsplit(".", 1)[-1].lower() if "." in name.rsplit("/", 1)[-1] else ""
    return TEXT_KINDS.get(suffix, "text" if suffix in {"txt", "cfg", "ini", "toml", "py"} else None)


def read_head(artifact: Artifact, limit: int = LIMIT, *, tail: bool = False) -> bytes:
    """The first `limit` bytes of the stored object (the last, if `tail`), by a ranged read.

    Raises:
        FileNotFoundError: the object is gone.
    """
    path = artifact.upath
    start = max(0, artifact.size - limit) if tail else 0
    end = artifact.size if tail else min(artifact.size, limit)
    if end <= start:
        return b""
    return bytes(path.fs.cat_file(path.path, start=start, end=end))


def preview(artifact: Artifact) -> Preview:
    """The preview of `artifact`, from at most `LIMIT` of its bytes."""
    kind = text_kind(artifact.name)
    partial = artifact.size > LIMIT
    suffix = artifact.name.rsplit(".", 1)[-1].lower()
    if kind is None and suffix in IMAGE_SUFFIXES:
        return _image(artifact) if not partial else Preview("binary")
    data = read_head(artifact, tail=kind == "log")
    if kind is None:
        if _CONTROL.search(data[:8192]) or not _is_text(data, partial):
            return Preview("binary")
        kind = "text"
    text = data.decode("utf-8", errors="replace")
    if kind == "log":
        lines = text.splitlines()
        return Preview(
            "log", "\n".join(lines[-LOG_LINES:]), partial=partial or len(lines) > LOG_LINES
        )
    if kind in {"csv", "tsv"}:
        rows = list(csv.reader(io.StringIO(text), delimiter="\t" if kind == "tsv" else ","))
        shown = rows[: ROWS + 1]
        return Preview(kind, rows=shown, partial=partial or len(rows) > len(shown))
    if kind == "json" and not partial:
        text = _pretty_json(text)
    if kind == "markdown":
        return Preview(kind, text, render_markdown(text), partial=partial)
    return Preview(kind, text, partial=partial)


def _image(artifact: Artifact) -> Preview:
    data = read_head(artifact)
    media = next((m for magic, m in IMAGES.items() if data.startswith(magic)), None)
    if media is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        media = "image/webp"
    if media is None:
        return Preview("binary")
    return Preview("image", image=f"data:{media};base64,{base64.b64encode(data).decode()}")


def _is_text(data: bytes, partial: bool) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return partial and exc.start >= len(data) - 3  # a character cut by the read
    return True


def _pretty_json(text: str) -> str:
    try:
        value: Any = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value, indent=2, ensure_ascii=False)
