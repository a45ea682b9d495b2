"""A small Markdown renderer for previews: headings, paragraphs, lists, fenced code, and
``code``, **strong** and *emphasis* inside lines. Every character of the source is escaped
first; the only tags in the output are the ones this module writes (no links, no images,
no raw HTML)."""

from __future__ import annotations

import re

from markupsafe import Markup, escape

__all__ = ["render_markdown"]

_HEADING = re.compile(r"(#{1,6})\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"\s*(?:[-*+]|\d+[.)])\s+(.*)")
_CODE = re.compile(r"`([^`]+)`")
_EMPHASIS = [
    (re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
]


def _inline(text: str) -> str:
    """One line: code spans kept as they are, emphasis elsewhere; all of it escaped."""
    parts = _CODE.split(text)  # text, code, text, code, ..., text
    html = []
    for n, part in enumerate(parts):
        if n % 2:
            html.append(f"<code>{escape(part)}</code>")
            continue
        escaped = str(escape(part))
        for pattern, tag in _EMPHASIS:
            escaped = pattern.sub(tag, escaped)
        html.append(escaped)
    return "".join(html)


def _pre(lines: list[str]) -> str:
    text = "\n".join(lines)
    return f"<pre><code>{escape(text)}</code></pre>"


def render_markdown(source: str) -> Markup:
    """`source` as HTML; anything it does not know stays text."""
    out: list[str] = []
    paragraph: list[str] = []
    code: list[str] | None = None  # the lines of an open code fence
    in_list = False

    def close() -> None:
        nonlocal in_list
        if paragraph:
            out.append(f"<p>{' '.join(_inline(line) for line in paragraph)}</p>")
            paragraph.clear()
        if in_list:
            out.append("</ul>")
            in_list = False

    for line in source.splitlines():
        if line.lstrip().startswith("```"):
            close()
            if code is not None:
                out.append(_pre(code))
            code = [] if code is None else None
        elif code is not None:
            code.append(line)
        elif heading := _HEADING.fullmatch(line):
            close()
            level = min(len(heading.group(1)) + 2, 6)  # h3..h6: the pane's own title is h2
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif item := _ITEM.fullmatch(line):
            if paragraph or not in_list:
                close()
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{_inline(item.group(1))}</li>")
        elif line.strip():
            if in_list:
                close()
            paragraph.append(line.strip())
        else:
            close()
    close()
    if code is not None:  # a fence never closed
        out.append(_pre(code))
    return Markup("\n".join(out))  # escaped text and this module's own tags
