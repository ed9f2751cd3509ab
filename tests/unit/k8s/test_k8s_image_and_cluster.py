"""The image (k8s/Dockerfile), the kind cluster (k8s/kind-config.yaml) and the Ray pods of every manifest
agree: one Ray version, one image, one volume, the metrics port, the Keras flavour, the NodePorts."""

from __future__ import annotations

import fnmatch
import re
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import ray
import yaml
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "k8s"
sys.path.insert(0, str(K8S))

import k8s_manifests as km  # noqa: E402
from imgclf.cluster import WORKER_ENV  # noqa: E402
from imgclf.local_cluster import SERVE_PATH_ENV  # noqa: E402
from imgclf.batch.settings import ALLOWED_ROOTS_ENV  # noqa: E402

RAY_MANIFESTS = ["rayservice.yaml", "rayjob-train.yaml", "rayjob-batch.yaml", "raycluster.yaml"]
CONTEXT_LEFT_OUT = [".venv", ".git", ".demo", ".bench", "runs", "registry", "ray_results", "imgclf.egg-info"]


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of k8s/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (K8S / "Dockerfile").read_text())
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, rest = line.strip().partition(" ")
            instructions.append((keyword.upper(), " ".join(rest.split())))
    return instructions


def test_one_ray_version_everywhere() -> None:
    assert ray.__version__ == km.RAY_VERSION  # the environment the tests (and pyproject.toml) run
    ray_requirement = next(Requirement(spec) for spec in tomllib.loads((REPO / "pyproject.toml").read_text())
                           ["project"]["dependencies"] if spec.startswith("ray"))
    assert ray_requirement.specifier.contains(km.RAY_VERSION)
    froms = [args for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert froms == [km.BASE_IMAGE] == [f"rayproject/ray:{km.RAY_VERSION}-py311-cpu"]
    assert f"ray.__version__ == '{km.RAY_VERSION}'" in (K8S / "Dockerfile").read_text()  # checked at build time
    for filename in RAY_MANIFESTS:
        manifest = km.load_documents(K8S / filename)[0]
        assert km.ray_cluster_spec(manifest)["rayVersion"] == km.RAY_VERSION, filename


def test_the_dockerfile_installs_the_package_and_sets_up_the_working_folder() -> None:
    instructions = dockerfile_instructions()
    env = " ".join(args for keyword, args in instructions if keyword == "ENV")
    assert "TF_USE_LEGACY_KERAS=1" in env.split()
    assert ("WORKDIR", km.APP_DIR) in instructions
    copies = [args.split() for keyword, args in instructions if keyword == "COPY"]
    sources = {source for words in copies for source in words[1:-1] if not source.startswith("--")}
    assert sources == {"pyproject.toml", "README.md", "platform", "gradio_app", "jobs", "serve_config.yaml"}
    assert ["--chown=ray:users", "jobs", "./jobs"] in copies
    assert ["--chown=ray:users", "serve_config.yaml", "./"] in copies
    run = " ".join(args for keyword, args in instructions if keyword == "RUN")
    assert "pip install /tmp/imgclf-src" in run and "-e " not in run  # non-editable, like `pip install .`
    for source in sources:
        assert (REPO / source).exists(), source


def ignored(name: str, patterns: list[str]) -> bool:
    """Whether a top-level path is left out of the build context (.dockerignore rules: the last match wins)."""
    left_out = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        if fnmatch.fnmatch(name, pattern) or (pattern.startswith("**/") and fnmatch.fnmatch(name, pattern[3:])):
            left_out = not negated
    return left_out


def test_the_build_context_holds_only_what_the_dockerfile_copies() -> None:
    lines = (K8S / "Dockerfile.dockerignore").read_text().splitlines()
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for source in ("pyproject.toml", "README.md", "platform", "gradio_app", "jobs", "serve_config.yaml"):
        assert not ignored(source, patterns), source
    for name in CONTEXT_LEFT_OUT + ["tests", "k8s", "Makefile"]:
        assert ignored(name, patterns), name


@pytest.mark.parametrize("filename", RAY_MANIFESTS)
def test_every_ray_pod_uses_the_image_the_volume_and_the_worker_env(filename: str) -> None:
    manifest = km.load_documents(K8S / filename)[0]
    assert km.WORKER_ENV == WORKER_ENV
    assert km.SERVE_PATH_ENV == SERVE_PATH_ENV
    assert km.POD_ENV == {**WORKER_ENV, ALLOWED_ROOTS_ENV: km.DATA_MOUNT, **SERVE_PATH_ENV}
    for group, template in km.pod_templates(manifest):
        where = f"{filename} {group}"
        container = km.ray_container(template)
        assert container["image"] == km.IMAGE, where
        assert container["imagePullPolicy"] == "IfNotPresent", where  # loaded into kind, never pulled
        assert {item["name"]: item["value"] for item in container["env"]} == km.POD_ENV, where
        assert container["volumeMounts"] == [{"name": "data", "mountPath": km.DATA_MOUNT}], where
        assert template["spec"]["volumes"] == [{"name": "data", "persistentVolumeClaim": {"claimName": km.PVC_NAME}}]
        assert template["metadata"]["annotations"] == km.METRICS_ANNOTATIONS, where
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert set(limits) == set(requests) == {"cpu", "memory"}, where  # KubeRay sizes Ray from the limits
        assert manifest["metadata"]["labels"]["app.kubernetes.io/component"] == template["metadata"]["labels"][
            "app.kubernetes.io/component"], where
    assert km.ray_cluster_spec(manifest)["headGroupSpec"]["rayStartParams"]["dashboard-host"] == "0.0.0.0"


def services() -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in km.load_documents(K8S / "services.yaml")}


def test_kind_maps_the_nodeports_and_mounts_the_volume_path() -> None:
    config = yaml.safe_load((K8S / "kind-config.yaml").read_text())
    assert (config["kind"], config["apiVersion"]) == ("Cluster", "kind.x-k8s.io/v1alpha4")
    [node] = config["nodes"]  # one node: the hostPath volume is on it, and every pod with it
    assert node["role"] == "control-plane"
    assert node["extraMounts"] == [{"hostPath": km.HOST_DATA_PATH, "containerPath": km.NODE_DATA_PATH}]
    volume = km.load_one(K8S / "volume.yaml", "PersistentVolume")
    assert volume["spec"]["hostPath"]["path"] == km.NODE_DATA_PATH
    mapped = {(entry["containerPort"], entry["hostPort"], entry["listenAddress"]) for entry in node["extraPortMappings"]}
    node_ports = {port["nodePort"] for service in services().values() for port in service["spec"]["ports"]}
    assert node_ports == {km.SERVE_NODE_PORT, km.DASHBOARD_NODE_PORT}
    assert mapped == {(port, port, "127.0.0.1") for port in node_ports}


def test_the_nodeports_select_the_rayservice_pods_and_ports() -> None:
    rayservice = km.load_one(K8S / "rayservice.yaml", "RayService")
    head = dict(km.pod_templates(rayservice))["head"]
    head_ports = {port["name"]: port["containerPort"] for port in km.ray_container(head)["ports"]}
    expected = {"imgclf-serve-nodeport": ("serve", km.SERVE_PORT, km.SERVE_NODE_PORT, {"ray.io/serve": "true"}),
                "imgclf-dashboard-nodeport": ("dashboard", km.DASHBOARD_PORT, km.DASHBOARD_NODE_PORT,
                                              {"ray.io/node-type": "head"})}
    assert set(services()) == set(expected)
    for name, service in services().items():
        port_name, port, node_port, kuberay_labels = expected[name]
        [service_port] = service["spec"]["ports"]
        assert service["spec"]["type"] == "NodePort"
        assert (service_port["name"], service_port["targetPort"], service_port["nodePort"]) == (port_name, port, node_port)
        assert head_ports[port_name] == port
        selector = dict(service["spec"]["selector"])
        for key, value in kuberay_labels.items():  # set by KubeRay on the pods, not by the template
            assert selector.pop(key) == value
        assert selector.items() <= head["metadata"]["labels"].items(), name
