"""One Ray head for the serving tests, with serve_config.yaml deployed on it for the trained model: package-scoped, so
it stops once the serving tests are done instead of idling on the CPUs under every later test."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from imgclf.registry import Registry
from utils.digits_run import SERVED_BASELINES, VGG_MODEL, TrainedRun
from utils.ray_head import HeadNode, ray_head
from utils.serve_app import ServeApp, deploy_app
from utils.system_binaries import require_binary


@pytest.fixture(scope="session")
def serve_registry(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A registry holding the trained digits VGG16 twice: versions 1 and 2 (for tests naming a version), and the
    SERVED_BASELINES of the same run."""
    root = tmp_path_factory.mktemp("serve-registry")
    trained, registry = Registry(trained_run.registry), Registry(root)
    for _ in range(2):
        registry.register(VGG_MODEL, trained.local_path(VGG_MODEL))
    for name in SERVED_BASELINES:
        registry.register(name, trained.local_path(name))
    return root


@pytest.fixture(scope="package")
def serve_head() -> Iterator[HeadNode]:
    with ray_head("/tmp", num_cpus=2) as head:
        yield head


@pytest.fixture(scope="package")
def served(serve_head: HeadNode, serve_registry: Path, trained_run: TrainedRun,
           tmp_path_factory: pytest.TempPathFactory) -> ServeApp:
    """serve_config.yaml deployed with `digits-vgg16:1` (the default) and SERVED_BASELINES, the page's examples from
    the digits folder."""
    return deploy_app(serve_head, tmp_path_factory.mktemp("serve-app"), registry=serve_registry,
                      model=[f"{VGG_MODEL}:1", *SERVED_BASELINES], examples_dir=trained_run.data_dir)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    """The system Chromium, headless, closed after the module."""
    from utils.page_browser import CHROMIUM_ARGS, TIMEOUT_MS, expect, sync_api

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
    """A fresh browser context's tab on the served app's page, once the page has settled."""
    from utils.page_browser import TIMEOUT_MS, new_tab, settled

    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    tab = new_tab(context)
    tab.goto(f"{served.url}/ui/")
    settled(tab)
    try:
        yield tab
    finally:
        context.close()
