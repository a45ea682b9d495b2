"""The previews' Markdown: what it renders, and that nothing of the source becomes markup."""

from __future__ import annotations

import pytest

from aim_artifacts.ui.markdown import render_markdown

SOURCE = """# Title *one*

Some **bold** and *em* text,
and `a**b** <i>` code.

- first
- second <b>x</b>

```
<script>alert(1)</script>
**not bold**
```
## Results ##
"""


def test_headings_paragraphs_lists_and_code() -> None:
    html = render_markdown(SOURCE)
    assert html.splitlines() == [
        "<h3>Title <em>one</em></h3>",
        "<p>Some <strong>bold</strong> and <em>em</em> text, and "
        "<code>a**b** &lt;i&gt;</code> code.</p>",
        "<ul>",
        "<li>first</li>",
        "<li>second &lt;b&gt;x&lt;/b&gt;</li>",
        "</ul>",
        "<pre><code>&lt;script&gt;alert(1)&lt;/script&gt;",
        "**not bold**</code></pre>",
        "<h4>Results</h4>",
    ]


@pytest.mark.parametrize(
    "source",
    [
        "<script>alert(1)</script>",
        "[x](javascript:alert(1))",
        "![x](data:text/html,<script>alert(1)</script>)",
        '<img src=x onerror="alert(1)">',
        "`<svg onload=alert(1)>`",
        "**<b onclick=alert(1)>**",
        "```\n<iframe src=x>",
    ],
)
def test_no_tag_comes_from_the_source(source: str) -> None:
    html = render_markdown(source)
    tags = {t.split(">")[0].split()[0] for t in html.split("<")[1:]}
    assert tags <= {"p", "/p", "code", "/code", "strong", "/strong", "pre", "/pre"}
    assert "javascript:" not in html or "<a" not in html
