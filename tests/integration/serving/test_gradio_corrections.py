"""Corrections on the page of a real Serve deployment, in a real headless Chromium: a digit corrected on the page lands
in its class folder under its upload's hash with a manifest row naming the model version the page showed; a flood
beyond the rate is refused with a toast and writes nothing; with the page password, corrections need it too."""

from __future__ import annotations

import copy
import csv
import hashlib
import os
import re
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from imgclf.serving.corrections import MANIFEST
from imgclf.serving.http_app import UI_USER
from imgclf.serving.settings import UI_PASSWORD_ENV
from utils.digits_run import DIGIT_CLASSES, VGG_MODEL, TrainedRun
from utils.page_browser import TIMEOUT_MS, expect, new_tab, settled, upload
from utils.serve_app import ServeApp, deployment, redeploy, serve_applications, serve_deploy, with_deployment_env

pytestmark = pytest.mark.slow

PER_MINUTE = 3
PAGE_PASSWORD = "corrections-pa55word"
RECONFIGURE_TIMEOUT_S = 120.0
REFUSED = "The correction was not saved: more than 3 corrections a minute"


def reconfigured(app: ServeApp, config: dict[str, Any], file_name: str) -> None:
    """`serve deploy` a config that changes only the Api's user_config, and wait until its replicas run with it
    (Serve reconfigures them in place)."""
    serve_deploy(app.head, config, app.config_path.with_name(file_name))
    wanted = deployment(config, "Api")["user_config"]
    deadline, api = time.monotonic() + RECONFIGURE_TIMEOUT_S, {}
    while time.monotonic() < deadline:
        api = serve_applications(app.head)[app.name]["deployments"]["Api"]
        if api["status"] == "HEALTHY" and api["deployment_config"].get("user_config") == wanted:
            return
        time.sleep(0.5)
    raise TimeoutError(f"Api not reconfigured in {RECONFIGURE_TIMEOUT_S:.0f} s: {api.get('status')}")


@pytest.fixture(scope="module")
def corrections(served: ServeApp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict]]:
    """The served app with `feedback_dir` and `corrections_per_minute` in the Api's user_config (the folder and the
    config returned); afterwards corrections are off again."""
    folder = tmp_path_factory.mktemp("corrections") / "feedback"
    config = copy.deepcopy(served.config)
    deployment(config, "Api")["user_config"].update(feedback_dir=str(folder), corrections_per_minute=PER_MINUTE)
    reconfigured(served, config, "corrections.yaml")
    try:
        yield folder, config
    finally:
        reconfigured(served, served.config, served.config_path.name)


def manifest_rows(folder: Path) -> list[dict[str, str]]:
    if not (folder / MANIFEST).exists():
        return []
    with open(folder / MANIFEST, newline="", encoding="utf-8") as manifest:
        return list(csv.DictReader(manifest))


def tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder below `root` with its size and modification time (ns)."""
    return {str(Path(folder, name).relative_to(root)): (Path(folder, name).stat().st_size,
                                                         Path(folder, name).stat().st_mtime_ns)
            for folder, names, files in os.walk(root) for name in names + files}


def digit_of(trained_run: TrainedRun, label: str) -> Path:
    return min((trained_run.data_dir / label).glob("*.png"))


def classify_and_pick(page, image: Path) -> tuple[str, str, str]:
    """Upload `image`, classify it and pick a label other than the one shown; (shown, answered by, picked)."""
    upload(page, image)
    page.get_by_role("button", name="Classify").click()
    shown = page.get_by_test_id("label-output-value")
    expect(shown).to_have_count(1)
    answered = page.locator("#correction-answered")
    expect(answered).to_contain_text("Answered by")
    label = shown.inner_text().strip()
    right = next(digit for digit in DIGIT_CLASSES if digit != label)
    menu = page.locator("#correction-choice input")
    menu.click()
    page.get_by_role("option").filter(has_text=re.compile(rf"(?<!\d){right}$")).click()
    expect(menu).to_have_value(right)
    return label, answered.inner_text().strip(), right


def save(page) -> None:
    page.get_by_role("button", name="Save correction").click()


def test_a_corrected_digit_lands_in_its_class_folder_with_the_version_the_page_showed(
        corrections: tuple[Path, dict], page, trained_run: TrainedRun) -> None:
    folder, _ = corrections
    image = digit_of(trained_run, "4")
    shown, answered, right = classify_and_pick(page, image)
    assert answered == f"Answered by {VGG_MODEL}:1"
    save(page)
    expect(page.locator("#correction-saved")).to_have_text(f"Saved as {right} · thank you")
    digest = hashlib.sha256(image.read_bytes()).hexdigest()
    stored = folder / right / f"{digest[:16]}.png"
    assert stored.read_bytes() == image.read_bytes()
    [row] = manifest_rows(folder)
    assert {key: row[key] for key in ("model", "model_version", "predicted", "label", "path", "sha256")} == {
        "model": VGG_MODEL, "model_version": "1", "predicted": shown, "label": right,
        "path": f"{right}/{digest[:16]}.png", "sha256": digest}
    assert row["who"] == "127.0.0.1"  # no page password: the client's host
    assert sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")) == sorted(
        [MANIFEST, right, f"{right}/{digest[:16]}.png"])


def test_a_flood_of_corrections_is_refused_with_a_toast_and_writes_nothing(
        corrections: tuple[Path, dict], page, trained_run: TrainedRun) -> None:
    folder, _ = corrections
    classify_and_pick(page, digit_of(trained_run, "8"))
    refusal = page.get_by_test_id("toast-body").filter(has_text=REFUSED)
    saved = 0
    for _ in range(PER_MINUTE + 1):
        before = len(manifest_rows(folder))
        save(page)
        deadline = time.monotonic() + TIMEOUT_MS / 1000
        while len(manifest_rows(folder)) == before and not refusal.count() and time.monotonic() < deadline:
            page.wait_for_timeout(100)
        if refusal.count():
            break
        assert len(manifest_rows(folder)) == before + 1
        saved += 1
    expect(refusal).to_be_visible()
    assert 1 <= saved <= PER_MINUTE  # the first test's correction may still be in the minute's window
    before = tree(folder)
    page.get_by_test_id("toast-close").first.click()
    expect(refusal).to_have_count(0)
    save(page)
    expect(refusal).to_be_visible()
    assert tree(folder) == before


@pytest.fixture
def page_password(served: ServeApp, corrections: tuple[Path, dict]) -> Iterator[str]:
    """Corrections on and $IMGCLF_UI_PASSWORD set for the Api alone (its replica restarts, with a fresh rate window);
    afterwards the page is open again."""
    _, config = corrections
    redeploy(served, with_deployment_env(config, "Api", {UI_PASSWORD_ENV: PAGE_PASSWORD}), "Api",
             "corrections-password.yaml")
    try:
        yield PAGE_PASSWORD
    finally:
        redeploy(served, config, "Api", "corrections.yaml")


def test_with_the_page_password_a_correction_needs_it_and_names_the_user(
        browser, served: ServeApp, corrections: tuple[Path, dict], page_password: str, trained_run: TrainedRun) -> None:
    folder, _ = corrections
    answer = httpx.post(f"{served.url}/ui/gradio_api/call/correct", json={"data": []}, timeout=30)
    assert answer.status_code == 401, answer.text[:200]
    rows = len(manifest_rows(folder))
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        tab = new_tab(context)
        tab.goto(f"{served.url}/ui/")
        expect(tab.get_by_role("button", name="Save correction")).to_have_count(0)  # the login form alone
        tab.get_by_label("username").fill(UI_USER)
        tab.get_by_label("password").fill(page_password)
        tab.get_by_role("button", name="Login").click()
        settled(tab)
        _, _, right = classify_and_pick(tab, digit_of(trained_run, "2"))
        save(tab)
        expect(tab.locator("#correction-saved")).to_have_text(f"Saved as {right} · thank you")
    finally:
        context.close()
    added = manifest_rows(folder)[rows:]
    assert [(row["who"], row["label"]) for row in added] == [(UI_USER, right)]
