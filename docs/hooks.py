"""MkDocs hooks: the site's home and changelog pages are README.md and CHANGELOG.md.

Their links are written for GitHub, relative to the repository's top level; on the site the
guides sit next to the home page, so ``docs/x.md`` becomes ``x.md``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

TOP = Path(__file__).resolve().parent.parent
PAGES = {"index.md": "README.md", "changelog.md": "CHANGELOG.md"}


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    """The text of README.md or CHANGELOG.md for the pages standing in for them."""
    source = PAGES.get(page.file.src_uri)
    if source is None:
        return markdown
    return (TOP / source).read_text(encoding="utf-8").replace("](docs/", "](")
