"""k8s/rayservice.yaml is generated from serve_config.yaml, and its serveConfigV2 differs only where a cluster
needs it to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "k8s"
GENERATOR = K8S / "generate_rayservice.py"
sys.path.insert(0, str(K8S))

import generate_rayservice as generator  # noqa: E402
from imgclf.serving.launcher import deployment, read_serve_config  # noqa: E402
import k8s_manifests as km  # noqa: E402


@pytest.fixture(scope="module")
def serve_config() -> dict[str, Any]:
    return generator.read_serve_config(REPO / "serve_config.yaml")


@pytest.fixture(scope="module")
def rayservice() -> dict[str, Any]:
    return km.load_one(K8S / "rayservice.yaml", "RayService")


def run_generator(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(GENERATOR), *args], capture_output=True, text=True, timeout=60,
                          cwd=REPO)


def test_the_committed_file_is_the_generators_output(serve_config: dict[str, Any]) -> None:
    assert (K8S / "rayservice.yaml").read_text(encoding="utf-8") == generator.render(serve_config), (
        "k8s/rayservice.yaml is stale: run `python k8s/generate_rayservice.py`")


def test_check_passes_on_the_committed_file() -> None:
    done = run_generator("--check")
    assert done.returncode == 0, done.stderr
    assert "up to date" in done.stdout


def test_check_fails_and_shows_the_diff_when_the_serve_config_changed(tmp_path: Path) -> None:
    changed = tmp_path / "serve_config.yaml"
    changed.write_text((REPO / "serve_config.yaml").read_text().replace("max_batch_size: 16", "max_batch_size: 8"))
    copy = tmp_path / "rayservice.yaml"
    copy.write_text((K8S / "rayservice.yaml").read_text())
    done = run_generator("--check", "--serve-config", str(changed), "--output", str(copy))
    assert done.returncode == 1
    added = [line for line in done.stderr.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(added) == 1 and added[0].endswith(" max_batch_size: 8"), done.stderr  # the diff shows the change
    assert "stale" in done.stderr
    assert copy.read_text() == (K8S / "rayservice.yaml").read_text()  # --check writes nothing
    assert run_generator("--serve-config", str(changed), "--output", str(copy)).returncode == 0
    assert run_generator("--check", "--serve-config", str(changed), "--output", str(copy)).returncode == 0


def test_serve_config_v2_is_the_in_cluster_serve_config(serve_config: dict[str, Any],
                                                        rayservice: dict[str, Any]) -> None:
    embedded = yaml.safe_load(rayservice["spec"]["serveConfigV2"])
    assert embedded == generator.in_cluster_serve_config(serve_config)
    assert rayservice["spec"]["serveConfigV2"] == generator.serve_config_v2(serve_config)


def leaves(value: Any, prefix: tuple = ()) -> dict[tuple, Any]:
    if isinstance(value, dict):
        return {key: leaf for name, item in value.items() for key, leaf in leaves(item, (*prefix, name)).items()}
    if isinstance(value, list):
        return {key: leaf for index, item in enumerate(value) for key, leaf in leaves(item, (*prefix, index)).items()}
    return {prefix: value}


def test_only_the_in_cluster_values_differ_from_serve_config(serve_config: dict[str, Any],
                                                             rayservice: dict[str, Any]) -> None:
    original = leaves(serve_config)
    embedded = leaves(yaml.safe_load(rayservice["spec"]["serveConfigV2"]))
    changed = {key: embedded[key] for key in embedded if original.get(key) != embedded[key]}
    assert changed == {
        ("http_options", "host"): "0.0.0.0",
        ("applications", 0, "deployments", 0, "user_config", "registry"): km.DATA_LAYOUT["registry"],
        ("applications", 0, "args", "examples_dir"): km.DATA_LAYOUT["digits"],
    }
    assert set(original) == set(embedded)  # nothing dropped either


def test_the_generator_agrees_with_imgclf_serve_overrides(serve_config: dict[str, Any]) -> None:
    """The same changes as `imgclf serve --host 0.0.0.0 --registry /data/registry --examples /data/digits`."""
    from imgclf.serving.launcher import with_overrides

    expected = with_overrides(serve_config, host="0.0.0.0", registry=km.DATA_LAYOUT["registry"],
                              examples_dir=km.DATA_LAYOUT["digits"])
    assert generator.in_cluster_serve_config(serve_config) == expected


def test_serve_config_v2_is_a_valid_serve_deploy_config(rayservice: dict[str, Any]) -> None:
    from ray.serve.schema import ServeDeploySchema

    parsed = ServeDeploySchema.parse_obj(yaml.safe_load(rayservice["spec"]["serveConfigV2"]))
    assert parsed.http_options.host == "0.0.0.0"
    [app] = parsed.applications
    assert app.import_path == "imgclf.serving.app:build_app"


def test_the_ray_cluster_serves_what_the_config_says(serve_config: dict[str, Any],
                                                     rayservice: dict[str, Any]) -> None:
    port = serve_config["http_options"]["port"]
    cluster = rayservice["spec"]["rayClusterConfig"]
    head = km.ray_container(cluster["headGroupSpec"]["template"])
    assert {"name": "serve", "containerPort": port} in head["ports"]  # KubeRay builds imgclf-serve-svc from it
    classifier = deployment(serve_config, "Classifier")
    api = deployment(serve_config, "Api")
    workers = cluster["workerGroupSpecs"]
    worker_cpus = sum(int(group["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"])
                      * group["maxReplicas"] for group in workers)
    needed = (classifier["autoscaling_config"]["max_replicas"] * classifier["ray_actor_options"]["num_cpus"]
              + api["num_replicas"] * api["ray_actor_options"]["num_cpus"])
    assert cluster["headGroupSpec"]["rayStartParams"]["num-cpus"] == "0"
    assert worker_cpus >= needed  # every replica, at the autoscaling maximum, fits on the workers


def test_the_generator_reads_the_serve_config_as_imgclf_serve_does(tmp_path: Path) -> None:
    """One serve config reader (imgclf.serving.launcher's), so a config `imgclf serve` refuses is refused here too."""
    assert generator.read_serve_config is read_serve_config
    bad = tmp_path / "serve_config.yaml"
    bad.write_text("http_options: {port: 8000}\n")
    done = subprocess.run([sys.executable, str(GENERATOR), "--serve-config", str(bad), "--output", str(tmp_path / "out")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"generate_rayservice: error: serve config {bad} must hold a mapping with `applications`"
