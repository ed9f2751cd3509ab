"""A real headless Chromium for the Gradio page's tests: the system's browser (Playwright's own download is not used),
and what every page test does with it."""

from __future__ import annotations

from pathlib import Path

from utils.prerequisites import require_module

sync_api = require_module("playwright.sync_api", "playwright")
expect = sync_api.expect

CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
TIMEOUT_MS = 90_000  # two shared CPU cores: the first classification through the page can take a while


def upload(page, image: Path) -> None:
    """Remove the picture the Image input holds, if any, then choose `image` through its file input."""
    remove = page.get_by_role("button", name="Remove Image")
    if remove.count():
        remove.click()
    page.locator('input[data-testid="file-upload"]').set_input_files(str(image))
    expect(remove).to_be_visible()  # the input holds the upload
