"""The Gradio page of a real Serve deployment, used the way a person does: in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from utils.digits_run import SERVED_MODELS, VGG_MODEL, TrainedRun
from utils.images import make_image_bytes, truncated
from utils.prerequisites import require_module
from utils.serve_app import ServeApp
from utils.system_binaries import require_binary

pytestmark = pytest.mark.slow

sync_api = require_module("playwright.sync_api", "playwright")
expect = sync_api.expect

CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
TIMEOUT_MS = 90_000  # two shared CPU cores: the first classification through the page can take a while
FRIENDLY = "That file cannot be classified"


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """The system Chromium (Playwright's own download is not used), closed after the module."""
    executable = require_binary("chromium", "chromium")
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, served: ServeApp) -> Iterator:
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.goto(f"{served.url}/ui/")
    try:
        yield tab
    finally:
        context.close()


def api_label(app: ServeApp, image: Path, model: str | None = None) -> str:
    answer = httpx.post(f"{app.url}/v1/classify", content=image.read_bytes(), headers={"content-type": "image/png"},
                        params={"model": model} if model else {}, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()["label"]


@pytest.fixture(scope="module")
def seven(served: ServeApp, trained_run: TrainedRun) -> tuple[Path, str]:
    """A digit "7" and the label the HTTP API gives it (what the page must show: same decode, same model)."""
    image = sorted((trained_run.data_dir / "7").glob("*.png"))[0]
    return image, api_label(served, image)


def upload(page, image: Path) -> None:
    """Remove the picture the Image input holds, if any, then choose `image` through its file input."""
    remove = page.get_by_role("button", name="Remove Image")
    if remove.count():
        remove.click()
    page.locator('input[data-testid="file-upload"]').set_input_files(str(image))
    expect(remove).to_be_visible()  # the input holds the upload


def classify(page) -> None:
    page.get_by_role("button", name="Classify").click()


def predicted(page):
    return page.get_by_test_id("label-output-value")


def test_page_names_the_served_model_and_its_test_accuracy(page, served: ServeApp) -> None:
    model = httpx.get(f"{served.url}/v1/models", timeout=30).json()["models"][0]  # the default
    accuracy = model["metrics"]["test"]["accuracy"]
    expect(page.get_by_text(f"{VGG_MODEL}:1")).to_be_visible()
    expect(page.locator("body")).to_contain_text(re.compile(rf"test accuracy\s*{accuracy:.4f}"))


def test_uploaded_digit_gets_the_apis_label(page, seven: tuple[Path, str]) -> None:
    image, label = seven
    upload(page, image)
    classify(page)
    expect(predicted(page)).to_have_text(label)


def test_unreadable_files_get_a_friendly_error_and_the_page_keeps_working(
    page, seven: tuple[Path, str], tmp_path: Path
) -> None:
    """A text file named .png passes the browser's `accept="image/*"` and Gradio's upload; a truncated PNG even
    passes Pillow's header check: both must reach our decoder and come back as its message in an error toast."""
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("meeting notes, not a photo\n")
    cut = tmp_path / "cut.png"
    cut.write_bytes(truncated(make_image_bytes("png", size=(64, 64))))
    for bad, cause in ((not_an_image, "not an image"), (cut, "truncated")):
        upload(page, bad)
        classify(page)
        toast = page.get_by_test_id("toast-body").filter(has_text=FRIENDLY).filter(has_text=cause)
        expect(toast).to_be_visible()
        expect(toast).not_to_contain_text("/tmp/")  # no server paths, no Gradio internals
        expect(toast).not_to_contain_text("preprocess")
    expect(predicted(page)).to_have_count(0)  # no label shown for either
    image, label = seven
    upload(page, image)
    classify(page)
    expect(predicted(page)).to_have_text(label)


def test_compare_shows_every_served_models_answer_beside_its_test_metrics(page, served: ServeApp,
                                                                          seven: tuple[Path, str]) -> None:
    """The Compare tab: one upload, one row per served model (the default first) with the label that model's
    `/v1/classify?model=` gives and the test accuracy, precision and recall of its metrics.json."""
    image, _ = seven
    page.get_by_role("tab", name="Compare").click()
    panel = page.get_by_role("tabpanel")  # only the open tab's content has the role
    panel.locator('input[data-testid="file-upload"]').set_input_files(str(image))
    expect(panel.get_by_role("button", name="Remove Image")).to_be_visible()
    panel.get_by_role("button", name="Compare").click()
    rows = page.locator("#comparison table tbody tr")
    expect(rows).to_have_count(len(SERVED_MODELS))
    models = httpx.get(f"{served.url}/v1/models", timeout=30).json()["models"]
    for index, model in enumerate(models):
        row = rows.nth(index)
        test = model["metrics"]["test"]
        expect(row.locator("td").nth(0)).to_have_text(f"{model['name']}:{model['version']}")
        expect(row.locator("td").nth(2).locator("strong")).to_have_text(api_label(served, image, model["name"]))
        for value in (test["accuracy"], test["macro_avg"]["precision"], test["macro_avg"]["recall"]):
            expect(row).to_contain_text(f"{value:.4f}")


def test_the_model_menu_lists_the_served_models_and_classifies_with_the_chosen_one(
        page, served: ServeApp, seven: tuple[Path, str]) -> None:
    image, _ = seven
    menu = page.locator("#model-choice input")
    expect(menu).to_have_value(VGG_MODEL)  # filled on load, the default first
    menu.click()
    options = page.get_by_role("option")
    expect(options).to_have_count(len(SERVED_MODELS))
    expect(options).to_have_text([re.compile(rf"{re.escape(name)}$") for name in SERVED_MODELS])  # after a tick mark
    baseline = SERVED_MODELS[1]
    options.filter(has_text=baseline).click()
    expect(menu).to_have_value(baseline)
    upload(page, image)
    classify(page)
    expect(predicted(page)).to_have_text(api_label(served, image, baseline))
