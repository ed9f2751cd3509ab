"""A Classifier replica that serves a compiled OpenVINO variant never imports TensorFlow (README: "With a variant
chosen, TensorFlow is not even imported").

Seen from outside the replica, in its own process: `import tensorflow` loads TensorFlow's native libraries from its
package folder, so once a process has imported it, files of that folder are among those it maps
(/proc/<pid>/maps). The replica's pid comes from Serve's own details of its replicas. The same look at a replica of
the session's app, which runs the VGG16 on TensorFlow, does find TensorFlow's files.

The variant's app runs beside the session's, on the same head and HTTP port under its own route prefix, and is
removed after the module; the session's app is deployed unchanged throughout.
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import io
import time
from pathlib import Path
from typing import Any, Iterator

import httpx
import numpy as np
import pytest
from PIL import Image

from imgclf.models.artifact import VARIANTS_DIR
from imgclf.registry import Registry
from utils.cli import run_cli
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.serve_app import ServeApp, replicas, serve_applications, serve_deploy, wait_until_ready

pytestmark = pytest.mark.slow

VARIANT_APP = "imgclf-openvino"
VARIANT_PREFIX = "/openvino"
VARIANT = "openvino-fp32"  # fp32 runs on any CPU
# Small enough to fit beside the session's app on its head's 2 CPUs.
VARIANT_DEPLOYMENTS = {
    "Classifier": {"ray_actor_options": {"num_cpus": 0.25},
                   "autoscaling_config": {"min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 8}},
    "Api": {"ray_actor_options": {"num_cpus": 0.25}},
}
REMOVE_TIMEOUT_S = 120.0
# Where `import tensorflow` loads its libraries from, found without importing it here.
TENSORFLOW_DIR = Path(importlib.util.find_spec("tensorflow").origin).parent


@pytest.fixture(scope="module")
def variant_registry(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's digits VGG16 and its OpenVINO fp32 variant (`imgclf optimize`), in a registry of its own."""
    root = tmp_path_factory.mktemp("variant") / "registry"
    Registry(root).register(VGG_MODEL, Registry(trained_run.registry).local_path(VGG_MODEL))
    result = run_cli(["optimize", VGG_MODEL, "--precision", "fp32", "--registry", root])
    assert result.exit_code == 0, result.stderr
    return root


def variant_application(served: ServeApp, registry: Path) -> dict[str, Any]:
    """The session's application under another name and route prefix, its Classifier running VGG_MODEL by the
    stored variant (backend openvino)."""
    app = copy.deepcopy(served.config["applications"][0])
    app.update(name=VARIANT_APP, route_prefix=VARIANT_PREFIX, args={})
    for entry in app["deployments"]:
        entry.update(VARIANT_DEPLOYMENTS[entry["name"]])
        if entry["name"] == "Classifier":
            entry["user_config"].update(model=VGG_MODEL, registry=str(registry), backend="openvino", precision="fp32")
    return app


@pytest.fixture(scope="module")
def variant_url(served: ServeApp, variant_registry: Path) -> Iterator[str]:
    """The variant's application deployed beside the session's (its URL once ready), removed after."""
    both = copy.deepcopy(served.config)
    both["applications"].append(variant_application(served, variant_registry))
    serve_deploy(served.head, both, served.config_path.with_name("with-variant.yaml"))
    url = f"{served.url}{VARIANT_PREFIX}"
    wait_until_ready(url)
    try:
        yield url
    finally:
        serve_deploy(served.head, served.config, served.config_path)
        deadline = time.monotonic() + REMOVE_TIMEOUT_S
        while VARIANT_APP in serve_applications(served.head) and time.monotonic() < deadline:
            time.sleep(1)


def mapped_files(pid: int) -> set[Path]:
    """The files a process has mapped: its executable, shared libraries and memory-mapped files."""
    lines = Path(f"/proc/{pid}/maps").read_text().splitlines()
    return {Path(fields[5]) for line in lines if len(fields := line.split(maxsplit=5)) == 6 and fields[5].startswith("/")}


def tensorflow_files(pid: int) -> list[Path]:
    return sorted(path for path in mapped_files(pid) if path.is_relative_to(TENSORFLOW_DIR))


def classifier_pids(served: ServeApp, app_name: str) -> list[int]:
    running = [replica for replica in replicas(served.head, app_name, "Classifier") if replica["state"] == "RUNNING"]
    assert running, f"no running Classifier replica of {app_name}"
    return [replica["pid"] for replica in running]


def test_a_replica_serving_a_variant_never_imports_tensorflow(served: ServeApp, variant_url: str,
                                                             variant_registry: Path, trained_run: TrainedRun) -> None:
    digit = sorted((trained_run.data_dir / "7").glob("*.png"))[0]
    answer = httpx.post(f"{variant_url}/v1/classify", content=digit.read_bytes(),
                        headers={"content-type": "image/png"}, timeout=60)
    assert answer.status_code == 200, answer.text
    [described] = httpx.get(f"{variant_url}/v1/models", timeout=30).json()["models"]
    assert (described["inference"]["backend"], described["inference"]["variant"]) == ("openvino", VARIANT)

    weights = (Registry(variant_registry).local_path(VGG_MODEL) / VARIANTS_DIR / VARIANT / "model.bin").resolve()
    [pid] = classifier_pids(served, VARIANT_APP)
    assert weights in mapped_files(pid), "the replica does not hold the variant's weights"
    assert not tensorflow_files(pid), f"the variant's replica loaded TensorFlow: {tensorflow_files(pid)[:5]}"
    for pid in classifier_pids(served, served.name):  # the look finds TensorFlow where it runs
        assert tensorflow_files(pid), f"no TensorFlow file mapped by the TensorFlow replica {pid}"


def test_a_variant_replica_loads_tensorflow_only_to_explain_and_says_so(served: ServeApp, variant_url: str,
                                                                       trained_run: TrainedRun) -> None:
    """Grad-CAM needs gradients, which a compiled variant has not: the replica loads the saved Keras network on the
    first explanation (GET /v1/models says when), and explains as the TensorFlow replica does."""
    digit = sorted((trained_run.data_dir / "7").glob("*.png"))[0]
    [pid] = classifier_pids(served, VARIANT_APP)
    [before] = httpx.get(f"{variant_url}/v1/models", timeout=30).json()["models"]
    assert before["explanation"] == {"method": "grad-cam",
                                     "runs_on": "the saved TensorFlow network, loaded on the first explanation"}
    assert not tensorflow_files(pid)

    answers = [httpx.post(f"{url}/v1/explain", content=digit.read_bytes(), headers={"content-type": "image/png"},
                          timeout=120) for url in (variant_url, served.url)]
    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    variant, tensorflow = (answer.json() for answer in answers)
    assert (variant["method"], variant["label"]) == ("grad-cam", tensorflow["label"])
    heatmaps = [np.asarray(Image.open(io.BytesIO(base64.b64decode(body["heatmap_png"]))), np.int16)
                for body in (variant, tensorflow)]
    assert np.abs(heatmaps[0] - heatmaps[1]).max() <= 2  # the same saved network, the same gradients
    assert tensorflow_files(pid), "the variant's replica explained without loading TensorFlow?"
    [after] = httpx.get(f"{variant_url}/v1/models", timeout=30).json()["models"]
    assert after["explanation"]["runs_on"] == "the saved TensorFlow network, loaded for explanations"
    assert after["inference"]["backend"] == "openvino"  # classifying stays on the variant
