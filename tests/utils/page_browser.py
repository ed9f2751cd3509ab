"""A real headless Chromium for the Gradio page's tests: the system's browser (Playwright's own download is not used),
and what every page test does with it."""

from __future__ import annotations

import time
from pathlib import Path
from weakref import WeakKeyDictionary

from utils.prerequisites import require_module

sync_api = require_module("playwright.sync_api", "playwright")
expect = sync_api.expect

CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
TIMEOUT_MS = 90_000  # two shared CPU cores: the first classification through the page can take a while
EVENT_STREAM = "/gradio_api/queue/data"  # Gradio's server-sent events of a page's events
OPEN_STREAMS: WeakKeyDictionary = WeakKeyDictionary()  # tab → its requests of EVENT_STREAM not yet ended


def new_tab(context):
    """A tab of `context` that keeps count of its open Gradio event streams (see `settled`)."""
    tab = context.new_page()
    streams = OPEN_STREAMS.setdefault(tab, set())

    def opened(request) -> None:
        if EVENT_STREAM in request.url:
            streams.add(request)

    def ended(request) -> None:
        streams.discard(request)

    tab.on("request", opened)
    tab.on("requestfinished", ended)
    tab.on("requestfailed", ended)
    return tab


def settled(tab) -> None:
    """Wait until the page's load event is answered (the model named) and its event stream has ended. Gradio's
    client loses an event sent in the moment the stream of one that just finished is closing: it never opens a new
    stream for it, and the event waits forever. A person reads the page first; a test must wait as long."""
    expect(tab.locator("#model-description")).not_to_be_empty()
    idle(tab)


def idle(tab) -> None:
    """Wait until the tab (one of `new_tab`'s) has no Gradio event stream open: its events answered, their stream
    ended, so the next event opens a stream of its own."""
    streams, deadline = OPEN_STREAMS[tab], time.monotonic() + TIMEOUT_MS / 1000  # KeyError: not a new_tab tab
    while streams:
        assert time.monotonic() < deadline, f"Gradio's event stream still open after {TIMEOUT_MS} ms"
        tab.wait_for_timeout(20)


def upload(page, image: Path) -> None:
    """Once the page is idle, remove the picture the Image input holds, if any, then choose `image` through its file
    input."""
    idle(page)
    remove = page.get_by_role("button", name="Remove Image")
    if remove.count():
        remove.click()
    page.locator('input[data-testid="file-upload"]').set_input_files(str(image))
    expect(remove).to_be_visible()  # the input holds the upload
