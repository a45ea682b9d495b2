"""End to end in a real headless Chromium (Debian's, driven by Playwright) at 1400x900: the
run page of a 300-artifact run, its previews, and the comparison of two runs."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect, sync_playwright

from aim_artifacts import Run
from tests.runpage_data import CONFIG, HOSTILE_SVG, LONG_NAME, demo_runs
from tests.servers import ui_process

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Headless, and nothing that would reach out of this machine.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

pytestmark = [
    pytest.mark.slow,  # a browser and a uvicorn process
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Run, Run]]:
    tmp_path = tmp_path_factory.mktemp("site")
    old, new = demo_runs(str(tmp_path / "store"), tmp_path)
    with ui_process(str(tmp_path / "store")) as url:
        yield url, old, new


@pytest.fixture
def page(site: tuple[str, Run, Run]) -> Iterator[tuple[Page, list[Dialog]]]:
    """A page at 1400x900 on the first run's page that records (and dismisses) every dialog
    a script opens."""
    dialogs: list[Dialog] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)  # type: ignore[arg-type]
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site[0])
            tab = context.new_page()
            tab.on("dialog", on_dialog)
            tab.goto(f"{site[0]}/runs/{site[1].hash}")
            yield tab, dialogs
        finally:
            browser.close()


def fits(page: Page) -> bool:
    """No horizontal scroll: the document is no wider than the window."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def open_folder(page: Page, path: str) -> None:
    page.click(f".row.folder[data-folder='{path}'] button.toggle")
    expect(page.locator(f".children[data-folder='{path}'] .row").first).to_be_visible()


def test_the_run_page_fits_1400px_with_a_tree_sorting_and_a_filter(
    site: tuple[str, Run, Run], page: tuple[Page, list[Dialog]]
) -> None:
    url, old, _ = site
    tab, dialogs = page
    tab.goto(f"{url}/")
    tab.click(f"a[href='/runs/{old.hash}']")
    tab.wait_for_url(f"**/runs/{old.hash}")
    expect(tab.locator("#match-count")).to_have_text("(300)")
    assert fits(tab)

    # The tree: open three levels, then close the top one.
    for path in ("checkpoints", "checkpoints/epoch_03", "checkpoints/epoch_03/shards"):
        open_folder(tab, path)
    shards = tab.locator(".children[data-folder='checkpoints/epoch_03/shards'] .row.file")
    assert shards.count() == 29
    assert fits(tab)
    tab.click(".row.folder[data-folder='checkpoints'] button.toggle")
    expect(shards.first).to_be_hidden()
    assert tab.get_attribute(".row.folder[data-folder='checkpoints']", "aria-expanded") == "false"

    # The 200-character name: cut in the middle, whole on hover, the row as high as others.
    open_folder(tab, "results")
    row = tab.locator(f".row.file[data-name='{LONG_NAME}']")
    assert row.locator(".name").get_attribute("title") == LONG_NAME
    assert row.locator(".tail").inner_text().endswith("xx.json")
    head = row.locator(".head")
    assert head.evaluate("e => e.scrollWidth > e.clientWidth")  # cut, with an ellipsis
    box, other = row.bounding_box(), tab.locator(".row.file[data-name='README.md']").bounding_box()
    assert box and other and box["x"] + box["width"] <= 1400 and box["height"] == other["height"]
    assert fits(tab)
    # Copying keeps the row's height, and copies the URI.
    row.locator("button.copy").click()
    expect(row.locator("button.copy")).to_have_text("Copied")
    assert row.bounding_box()["height"] == box["height"]  # type: ignore[index]
    assert tab.evaluate("navigator.clipboard.readText()") == old.artifacts[LONG_NAME].uri

    # Sort by size: the flat view, smallest first, then largest first.
    sizes = sorted(a.size for a in old.artifacts.values())
    tab.click(".row.heads button[data-sort='size']")
    expect(tab.locator("#rows.flat")).to_be_visible()
    first = tab.locator("#rows .row.file").first
    expect(first).to_have_attribute("data-size", str(sizes[0]))
    tab.click(".row.heads button[data-sort='size']")
    expect(first).to_have_attribute("data-size", str(sizes[-1]))
    assert tab.locator("#rows .row.file").count() == 200  # one page, then "Show more"
    tab.click("#rows button.more")
    expect(tab.locator("#rows .row.file")).to_have_count(300)
    assert fits(tab)

    # Filter: the count follows, and says when nothing matches.
    tab.fill("#filter", "shard_0")
    expect(tab.locator("#match-count")).to_have_text("(100 of 300 match)")
    expect(tab.locator("#rows .row.file")).to_have_count(100)
    tab.fill("#filter", "no-such-artifact")
    expect(tab.locator("#match-count")).to_have_text("(no match of 300)")
    expect(tab.locator("#no-match")).to_be_visible()
    tab.fill("#filter", "")
    expect(tab.locator("#match-count")).to_have_text("(300)")
    expect(tab.locator("#no-match")).to_be_hidden()

    # Verify runs verify() and shows the result.
    tab.click("#verify")
    expect(tab.locator("#verify-result")).to_have_text("OK: all 300 artifacts match their sha256.")
    assert dialogs == []


def preview(tab: Page, name: str) -> None:
    tab.fill("#filter", name)
    row = tab.locator(f"#rows .row.file[data-name='{name}']")
    row.locator(".name").click()
    expect(tab.locator("#preview h2.name")).to_have_attribute("title", name)


def test_previews_beside_the_list_and_nothing_from_storage_runs(
    page: tuple[Page, list[Dialog]],
) -> None:
    tab, dialogs = page
    tab.click("#view-flat")
    expect(tab.locator("#rows.flat")).to_be_visible()

    preview(tab, "configs/train.yaml")
    assert tab.inner_text("#preview pre.yaml") == CONFIG
    preview(tab, "metrics/epochs.csv")
    assert tab.locator("#preview table.csv tbody tr").count() == 90
    assert tab.locator("#preview table.csv th").all_inner_texts() == ["epoch", "loss", "acc"]
    preview(tab, "images/samples/grid.png")
    image = tab.locator("#preview img.image")
    expect(image).to_be_visible()
    assert image.evaluate("i => [i.complete, i.naturalWidth, i.naturalHeight]") == [True, 48, 32]
    assert fits(tab)
    preview(tab, "README.md")  # rendered from escaped text: its <script> is text
    assert tab.inner_text("#preview .markdown h3") == "Demo run"
    assert "<script>alert(4)</script>" in tab.inner_text("#preview .markdown p")
    preview(tab, HOSTILE_SVG)
    assert "alert(3)" in tab.inner_text("#preview pre.source")
    preview(tab, "plots/loss.svg")
    assert "onload=" in tab.inner_text("#preview pre.source")
    assert tab.locator("#preview svg, #preview script, #preview iframe").count() == 0
    with tab.expect_download() as info:
        tab.click("#preview a.download")
    assert Path(info.value.path()).read_text().startswith("<svg")
    assert info.value.suggested_filename == "loss.svg"
    assert dialogs == []  # no script from storage ran


def test_compare_two_runs_and_a_styled_404(
    site: tuple[str, Run, Run], page: tuple[Page, list[Dialog]]
) -> None:
    url, _, new = site
    tab, dialogs = page
    tab.click("text=Compare with another run")
    tab.fill("input[name=b]", new.hash)
    tab.click("form.compare-form button[type=submit]")
    expect(tab.locator("#compare-summary")).to_contain_text(
        "1 added · 1 removed · 1 changed · 298 the same"
    )
    assert tab.locator("table.changes tr.changed td.cut").inner_text() == "configs/train.yaml"
    assert tab.locator("pre.diff .del").all_inner_texts() == ["-lr: 0.1"]
    assert tab.locator("pre.diff .add").all_inner_texts() == ["+lr: 0.05"]
    assert fits(tab)

    response = tab.goto(f"{url}/runs/ffffffffffffffffffffffff")
    assert response is not None and response.status == 404
    expect(tab.locator("h1")).to_have_text("404 · Not Found")
    assert tab.evaluate("getComputedStyle(document.querySelector('.card')).borderRadius") == "8px"
    assert dialogs == []
