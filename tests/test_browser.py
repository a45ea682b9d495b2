"""End to end in a real headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, sync_playwright

from aim_artifacts import Run
from tests.servers import ui_process
from tests.test_ui import HOSTILE, make_runs

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

pytestmark = [
    pytest.mark.slow,  # a browser and a uvicorn process
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)"
    ),
]


def test_browse_filter_download_and_escaping(tmp_path: Path) -> None:
    runs = make_runs(tmp_path / "store", tmp_path)
    (tmp_path / "c.yaml").write_text("lr: 0.1\n")
    with Run(runs[0].hash, artifacts_uri=tmp_path / "store") as run:
        run.log_artifact(tmp_path / "c.yaml", name="config/c.yaml")
    records = Run(runs[0].hash, artifacts_uri=tmp_path / "store").artifacts
    dialogs: list[Dialog] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog)
        dialog.dismiss()

    with ui_process(str(tmp_path / "store")) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            page = browser.new_page(accept_downloads=True)
            page.on("dialog", on_dialog)
            page.goto(f"{url}/")
            assert page.locator("#runs tbody tr").count() == 2
            page.click(f"text={runs[0].hash}")
            page.wait_for_url(f"**/runs/{runs[0].hash}")

            rows = page.locator("#artifacts tbody tr")
            assert rows.count() == 3
            assert "Artifacts (3)" in page.inner_text("h2")
            for name, record in records.items():
                row = page.locator(f"#artifacts tbody tr[data-name='{name}']")
                assert row.locator("td.size").inner_text().strip().endswith("B")
                assert row.locator("td.sha256").inner_text() == record.sha256[:12]  # type: ignore[index]
            # The hostile name is shown as text, and nothing ran.
            assert page.locator("td.name", has_text=HOSTILE).count() == 1
            assert dialogs == []

            page.fill("#filter", "model")
            assert page.locator("#artifacts tbody tr:visible").count() == 1
            page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
            page.fill("#filter", "")
            assert page.locator("#artifacts tbody tr:visible").count() == 3

            with page.expect_download() as info:
                page.click("#artifacts tbody tr[data-name='ckpt/model.bin'] a.download")
            downloaded = Path(info.value.path()).read_bytes()
            assert downloaded == bytes(range(256)) * 8
            assert info.value.suggested_filename == "model.bin"
        finally:
            browser.close()
    assert (tmp_path / "run.png").stat().st_size > 10_000
