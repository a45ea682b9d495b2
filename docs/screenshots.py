"""Make the README's screenshots of the web page (docs/images/*.png), at 1400x900 in Debian's
chromium, from the runs the browser tests use: ``python docs/screenshots.py``.

Needs the test extra (Playwright) and /usr/bin/chromium; the tests do not need this script.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run from a checkout: reuse the tests' runs and server
    sys.path.insert(0, str(ROOT))

from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

from tests.runpage_data import demo_runs  # noqa: E402
from tests.servers import ui_process  # noqa: E402
from tests.test_browser import FLAGS, VIEWPORT  # noqa: E402

IMAGES = ROOT / "docs" / "images"


def open_folder(page: Page, path: str) -> None:
    page.click(f".row.folder[data-folder='{path}'] button.toggle")
    expect(page.locator(f".children[data-folder='{path}'] .row").first).to_be_visible()


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    with tempfile.TemporaryDirectory() as tmp:
        old, new = demo_runs(f"{tmp}/store", Path(tmp))
        with ui_process(f"{tmp}/store") as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=FLAGS, headless=True)
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.goto(f"{url}/")
            page.screenshot(path=IMAGES / "runs.png")

            page.goto(f"{url}/runs/{old.hash}")
            for path in ("checkpoints", "checkpoints/epoch_00", "configs", "results"):
                open_folder(page, path)
            page.click(".row.file[data-name='configs/train.yaml'] .name")
            expect(page.locator("#preview pre.yaml")).to_be_visible()
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=IMAGES / "run.png")

            page.click("#view-flat")
            page.fill("#filter", "epochs.csv")
            page.click(".row.file[data-name='metrics/epochs.csv'] .name")
            expect(page.locator("#preview table.csv")).to_be_visible()
            page.screenshot(path=IMAGES / "preview.png")

            page.goto(f"{url}/compare?a={old.hash}&b={new.hash}")
            page.screenshot(path=IMAGES / "compare.png")
            browser.close()
    for name in ("runs", "run", "preview", "compare"):
        print(IMAGES / f"{name}.png")


if __name__ == "__main__":
    main()
