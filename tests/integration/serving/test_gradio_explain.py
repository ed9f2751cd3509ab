"""The page's "Why?" panel and the Compare tab's reasons on a real Serve deployment, in a real headless Chromium: the
page explains each served model's answer exactly as `POST /v1/explain` does for the same file."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from imgclf.data.decode import decode_image
from imgclf.explanations.render import overlay
from utils.page_browser import expect, upload
from utils.digits_run import SERVED_BASELINES, SERVED_MODELS, VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp

pytestmark = pytest.mark.slow

KNN_MODEL, TREE_MODEL = SERVED_BASELINES  # neighbours on pixels, a decision path on embeddings
FRIENDLY = "That file cannot be explained"
OVERLAY_TOLERANCE = 3  # the API's heatmap PNG holds 8-bit levels, the page's overlay the float heatmap


@pytest.fixture(scope="module")
def digit(trained_run: TrainedRun) -> Path:
    return sorted((trained_run.data_dir / "4").glob("*.png"))[0]


def api_explanation(app: ServeApp, image: Path, model: str) -> dict:
    """`POST /v1/explain?model=` of `image` (the predicted class explained)."""
    answer = httpx.post(f"{app.url}/v1/explain", content=image.read_bytes(), headers={"content-type": "image/png"},
                        params={"model": model}, timeout=120)
    assert answer.status_code == 200, answer.text
    return answer.json()


def png_pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


def shown_picture(image) -> np.ndarray:
    """The pixels of an <img> on the page, fetched from where the browser got them."""
    answer = httpx.get(image.get_attribute("src"), timeout=30)
    assert answer.status_code == 200, answer.text
    return png_pixels(answer.content)


def why(page, image: Path, model: str) -> None:
    """Upload `image`, choose `model` in the Model menu and click "Why?"."""
    upload(page, image)
    menu = page.locator("#model-choice input")
    expect(menu).to_have_value(VGG_MODEL)  # filled on load: choosing before would be overwritten
    if model != VGG_MODEL:
        menu.click()
        page.get_by_role("option").filter(has_text=re.compile(rf"{re.escape(model)}$")).click()
        expect(menu).to_have_value(model)
    page.locator("#explain-button").click()


def event_ids(page, api_name: str) -> set[int]:
    """The ids the page's config gives the events named `api_name` (what a browser posts as fn_index)."""
    config = httpx.get(f"{page.url.rstrip('/')}/config", timeout=30).json()
    return {event["id"] for event in config["dependencies"] if event.get("api_name") == api_name}


def test_why_shows_the_vgg16s_grad_cam_overlay_and_recolours_it_without_the_model(
        page, served: ServeApp, digit: Path) -> None:
    """The summary is the API's; the overlay is the upload under the API's heatmap at the slider's 0.5; moving the
    slider redraws it at the new opacity through the overlay event alone, never the explain event."""
    explained = api_explanation(served, digit, VGG_MODEL)
    why(page, digit, VGG_MODEL)
    expect(page.locator("#explanation-summary")).to_have_text(explained["summary"])
    picture = page.locator("#explanation-overlay img")
    expect(picture).to_be_visible()
    expect(page.locator("#explanation-neighbours, #explanation-path")).to_have_count(0)
    upload_pixels = decode_image(digit.read_bytes())
    heatmap = png_pixels(base64.b64decode(explained["heatmap_png"])).astype(np.float32) / 255
    expected = overlay(upload_pixels, heatmap, 0.5)
    assert np.abs(shown_picture(picture).astype(int) - expected).max() <= OVERLAY_TOLERANCE

    posted: list[dict] = []
    page.on("request", lambda request: posted.append(request.post_data_json)
            if request.method == "POST" and "/queue/join" in request.url else None)
    first = picture.get_attribute("src")
    page.locator("#explanation-opacity input[type=range]").fill("0.9")
    expect(picture).not_to_have_attribute("src", first)
    assert np.abs(shown_picture(picture).astype(int) - overlay(upload_pixels, heatmap, 0.9)).max() <= OVERLAY_TOLERANCE
    assert posted and {event["fn_index"] for event in posted} <= event_ids(page, "explanation_overlay")
    assert not {event["fn_index"] for event in posted} & event_ids(page, "explain")
    expect(page.locator("#explanation-summary")).to_have_text(explained["summary"])


def test_why_shows_the_knns_voting_neighbours_as_the_api_lists_them(page, served: ServeApp, digit: Path) -> None:
    explained = api_explanation(served, digit, KNN_MODEL)
    why(page, digit, KNN_MODEL)
    expect(page.locator("#explanation-summary")).to_have_text(explained["summary"])
    neighbours = explained["neighbours"]
    captions = page.locator("#explanation-neighbours .caption-label")
    expect(captions).to_have_text([f"{n['label']} · {n['distance']:.2f} · {n['reference']}" for n in neighbours])
    expect(page.locator("#explanation-overlay, #explanation-path")).to_have_count(0)
    for thumbnail, neighbour in zip(page.locator("#explanation-neighbours img").all(), neighbours):
        shown, small = shown_picture(thumbnail), png_pixels(base64.b64decode(neighbour["thumbnail_png"]))
        factor = shown.shape[0] // small.shape[0]
        assert factor > 1 and shown.shape[:2] == (small.shape[0] * factor, small.shape[1] * factor)
        np.testing.assert_array_equal(shown[::factor, ::factor, :3], small)


def test_why_shows_the_trees_decision_path_as_the_api_words_it(page, served: ServeApp, digit: Path) -> None:
    explained = api_explanation(served, digit, TREE_MODEL)
    why(page, digit, TREE_MODEL)
    expect(page.locator("#explanation-summary")).to_have_text(explained["summary"])
    expect(page.locator("#explanation-path textarea")).to_have_value(explained["path"])
    expect(page.locator("#explanation-overlay, #explanation-neighbours")).to_have_count(0)


def test_compare_with_reasons_gives_each_models_summary_as_the_api(page, served: ServeApp, digit: Path) -> None:
    page.get_by_role("tab", name="Compare").click()
    panel = page.get_by_role("tabpanel")
    panel.locator('input[data-testid="file-upload"]').set_input_files(str(digit))
    expect(panel.get_by_role("button", name="Remove Image")).to_be_visible()
    panel.get_by_role("button", name="Compare").click()
    rows = page.locator("#comparison table tbody tr")
    expect(rows).to_have_count(len(SERVED_MODELS))
    expect(page.locator("#comparison table thead th").last).not_to_have_text("Reason")
    page.locator("#compare-reasons input").check()  # redoes the comparison shown, with reasons
    expect(page.locator("#comparison table thead th").last).to_have_text("Reason")
    expect(rows.locator("td:last-child")).to_have_text(
        [api_explanation(served, digit, name)["summary"] for name in SERVED_MODELS])


def test_an_unreadable_file_gets_a_friendly_toast_on_why_and_the_page_keeps_working(
        page, served: ServeApp, digit: Path, tmp_path: Path) -> None:
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("meeting notes, not a photo\n")
    why(page, not_an_image, VGG_MODEL)
    toast = page.get_by_test_id("toast-body").filter(has_text=FRIENDLY).filter(has_text="not an image")
    expect(toast).to_be_visible()
    expect(toast).not_to_contain_text("/tmp/")
    expect(page.locator("#explanation-overlay")).to_have_count(0)
    why(page, digit, KNN_MODEL)
    expect(page.locator("#explanation-summary")).to_have_text(api_explanation(served, digit, KNN_MODEL)["summary"])
