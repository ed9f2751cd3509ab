"""The Gradio page of a real Serve deployment, used the way a person does: in a real headless Chromium."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from imgclf.registry import Registry
from imgclf.serving.http_app import UI_USER
from imgclf.serving.page import COMPARE_TOP_K
from imgclf.serving.settings import UI_PASSWORD_ENV
from utils.page_browser import TIMEOUT_MS, expect, new_tab, settled, upload
from utils.digits_run import SERVED_MODELS, VGG_MODEL, TrainedRun
from utils.images import make_image_bytes, truncated
from utils.serve_app import ServeApp, redeploy, with_deployment_env

pytestmark = pytest.mark.slow

FRIENDLY = "That file cannot be classified"
PAGE_PASSWORD = "page-pa55word"


def api_answer(app: ServeApp, image: Path, model: str | None = None, top_k: int | None = None) -> dict:
    """`/v1/classify` of `image` (by `model`, the top `top_k`; the defaults when None)."""
    params = {key: value for key, value in (("model", model), ("top_k", top_k)) if value is not None}
    answer = httpx.post(f"{app.url}/v1/classify", content=image.read_bytes(), headers={"content-type": "image/png"},
                        params=params, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def api_label(app: ServeApp, image: Path, model: str | None = None) -> str:
    return api_answer(app, image, model)["label"]


@pytest.fixture(scope="module")
def seven(served: ServeApp, trained_run: TrainedRun) -> tuple[Path, str]:
    """A digit "7" and the label the HTTP API gives it (what the page must show: same decode, same model)."""
    image = sorted((trained_run.data_dir / "7").glob("*.png"))[0]
    return image, api_label(served, image)


def classify(page) -> None:
    page.get_by_role("button", name="Classify").click()


def predicted(page):
    return page.get_by_test_id("label-output-value")


def test_page_names_the_served_model_and_its_test_accuracy(page, serve_registry: Path) -> None:
    accuracy = Registry(serve_registry).read_json(f"{VGG_MODEL}:1", "metrics.json")["test"]["accuracy"]
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
                                                                          serve_registry: Path,
                                                                          seven: tuple[Path, str]) -> None:
    """The Compare tab: one upload, one row per served model (the default first) with the top 3 that model's
    `/v1/classify?model=` gives for the same image, and the test accuracy, precision, recall and ms per image of
    its metrics.json in the registry."""
    image, _ = seven
    page.get_by_role("tab", name="Compare").click()
    panel = page.get_by_role("tabpanel")  # only the open tab's content has the role
    panel.locator('input[data-testid="file-upload"]').set_input_files(str(image))
    expect(panel.get_by_role("button", name="Remove Image")).to_be_visible()
    panel.get_by_role("button", name="Compare").click()
    rows = page.locator("#comparison table tbody tr")
    expect(rows).to_have_count(len(SERVED_MODELS))
    registry = Registry(serve_registry)
    for row, name in zip(rows.all(), SERVED_MODELS):
        cells = row.locator("td")
        reference = f"{name}:1"
        expect(cells.nth(0)).to_have_text(reference)
        top = api_answer(served, image, name, COMPARE_TOP_K)["top_k"]
        expect(cells.nth(2)).to_have_text(", ".join(f"{entry['label']} {entry['score']:.3f}" for entry in top))
        expect(cells.nth(2).locator("strong")).to_have_text(top[0]["label"])
        metrics = registry.read_json(reference, "metrics.json")
        test = metrics["test"]
        for column, shown in ((3, f"{test['accuracy']:.4f}"), (4, f"{test['macro_avg']['precision']:.4f}"),
                              (5, f"{test['macro_avg']['recall']:.4f}"),
                              (6, f"{metrics['timing']['single_ms']:.2f}")):
            expect(cells.nth(column)).to_have_text(shown)


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


@pytest.fixture
def page_password(served: ServeApp) -> Iterator[str]:
    """The served app with $IMGCLF_UI_PASSWORD set for its Api deployment alone: only the Api replica restarts (the
    Classifier keeps its loaded models); after the test the page is open again."""
    redeploy(served, with_deployment_env(served.config, "Api", {UI_PASSWORD_ENV: PAGE_PASSWORD}), "Api",
             "page-password.yaml")
    try:
        yield PAGE_PASSWORD
    finally:
        redeploy(served, served.config, "Api", served.config_path.name)


def log_in(tab, password: str) -> None:
    tab.get_by_label("username").fill(UI_USER)
    tab.get_by_label("password").fill(password)
    tab.get_by_role("button", name="Login").click()


def test_the_page_password_keeps_out_who_lacks_it_and_lets_in_who_has_it(browser, served: ServeApp,
                                                                       page_password: str,
                                                                       seven: tuple[Path, str]) -> None:
    """Over HTTP, without the login cookie the page's config and its Classify event answer 401, and a wrong
    password gets no cookie; in Chromium the page shows only its login form, refuses a wrong password, and with the
    right one classifies as the API does. The HTTP API itself stays open (the page password guards only /ui)."""
    image, label = seven
    for method, path, body in (("GET", "/ui/config", None), ("POST", "/ui/gradio_api/call/classify", {"data": []})):
        answer = httpx.request(method, f"{served.url}{path}", json=body, timeout=30)
        assert answer.status_code == 401, f"{method} {path}: {answer.status_code} {answer.text[:200]}"
    wrong = httpx.post(f"{served.url}/ui/login", data={"username": UI_USER, "password": f"{page_password}x"},
                       timeout=30)
    assert wrong.status_code == 400 and not wrong.cookies, (wrong.status_code, wrong.text)
    assert api_label(served, image) == label

    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        tab = new_tab(context)
        tab.goto(f"{served.url}/ui/")
        expect(tab.get_by_role("button", name="Login")).to_be_visible()
        expect(tab.get_by_role("button", name="Classify")).to_have_count(0)
        log_in(tab, f"{page_password}x")
        expect(tab.get_by_text("Incorrect Credentials")).to_be_visible()
        expect(tab.get_by_role("button", name="Classify")).to_have_count(0)
        log_in(tab, page_password)
        expect(tab.get_by_text(f"{VGG_MODEL}:1")).to_be_visible()
        settled(tab)
        upload(tab, image)
        classify(tab)
        expect(predicted(tab)).to_have_text(label)
    finally:
        context.close()
