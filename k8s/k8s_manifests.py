"""Shared facts about imgclf's Kubernetes manifests, and small readers for them.

The constants are the values every manifest in k8s/ must agree on (the tests check that they do);
`generate_rayservice.py` builds k8s/rayservice.yaml from them. The readers let tests reuse what the
manifests hold, e.g. the command line of a RayJob:

    import sys; sys.path.insert(0, "k8s")
    from k8s_manifests import rayjob_command, rebase_paths
    script, args = rayjob_command("k8s/rayjob-train.yaml")   # ("jobs/train.py", ["--data", "/data/digits", ...])
    args = rebase_paths(args, "/tmp/some-folder")            # the same run on a local folder

Only PyYAML is needed, so this works outside the project's virtual environment too.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any, Iterator

import yaml

K8S_DIR = Path(__file__).resolve().parent
REPO_ROOT = K8S_DIR.parent

RAY_VERSION = "2.60.0"  # the Ray of pyproject.toml (ray>=2.60,<2.61) and of the base image
BASE_IMAGE = f"rayproject/ray:{RAY_VERSION}-py311-cpu"
IMAGE = "imgclf:0.1.0"  # built by k8s/Dockerfile, loaded into kind by deploy-kind.sh (never pulled)
APP_DIR = "/home/ray/imgclf"  # the image's WORKDIR: jobs/ and serve_config.yaml

NAMESPACE = "imgclf"
PVC_NAME = "imgclf-data"  # also the PersistentVolume's name
DATA_MOUNT = "/data"  # where every Ray pod mounts the volume
NODE_DATA_PATH = "/var/local/imgclf-data"  # the hostPath inside the kind node (extraMounts containerPath)
HOST_DATA_PATH = "/tmp/imgclf-kind-data"  # the folder on the machine running kind (extraMounts hostPath)

# The volume's layout, shared by the RayJobs, the RayService and the interactive RayCluster.
DATA_LAYOUT = {
    "digits": f"{DATA_MOUNT}/digits",  # the dataset, a folder per class (deploy-kind.sh writes it)
    "registry": f"{DATA_MOUNT}/registry",  # model registry: train writes, batch and serving read
    "runs": f"{DATA_MOUNT}/runs",  # training reports
    "ray_results": f"{DATA_MOUNT}/ray_results",  # Ray Train checkpoints (shared by every node)
    "predictions": f"{DATA_MOUNT}/predictions",  # batch classification output, Parquet
}

METRICS_PORT = 8080  # Ray's metrics export port; KubeRay passes --metrics-export-port=8080
SERVE_PORT = 8000  # Serve's HTTP port (serve_config.yaml http_options.port)
DASHBOARD_PORT = 8265
SERVE_NODE_PORT = 30800  # k8s/services.yaml NodePorts, mapped to 127.0.0.1 by k8s/kind-config.yaml
DASHBOARD_NODE_PORT = 30265
PART_OF_LABEL = {"app.kubernetes.io/part-of": "imgclf"}
METRICS_ANNOTATIONS = {  # for Prometheus' annotation-based pod discovery (kubernetes_sd_configs role: pod)
    "prometheus.io/scrape": "true",
    "prometheus.io/port": str(METRICS_PORT),
    "prometheus.io/path": "/metrics",
}
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}  # as imgclf.cluster.WORKER_ENV
# Ray Serve's faster request path, as imgclf.local_cluster.SERVE_PATH_ENV (docs/benchmarks.md)
SERVE_PATH_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_DIRECT_INGRESS": "0"}
# every Ray pod: batch jobs stay below the volume
POD_ENV = {**WORKER_ENV, "IMGCLF_ALLOWED_ROOTS": DATA_MOUNT, **SERVE_PATH_ENV}


def load_documents(path: str | Path) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a manifest file."""
    with open(path, encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def load_one(path: str | Path, kind: str) -> dict[str, Any]:
    """The single document of `kind` in a manifest file."""
    found = [doc for doc in load_documents(path) if doc.get("kind") == kind]
    if len(found) != 1:
        raise ValueError(f"{path} holds {len(found)} documents of kind {kind}; expected exactly one")
    return found[0]


def rayjob_entrypoint(path: str | Path) -> list[str]:
    """The RayJob's `spec.entrypoint`, split like a shell would."""
    return shlex.split(load_one(path, "RayJob")["spec"]["entrypoint"])


def rayjob_command(path: str | Path) -> tuple[str, list[str]]:
    """(script, arguments) of a RayJob whose entrypoint is `python SCRIPT ARGS...`; the script path is
    relative to the image's working folder, which mirrors the repository root."""
    words = rayjob_entrypoint(path)
    if len(words) < 2 or words[0] not in ("python", "python3"):
        raise ValueError(f"{path}: the entrypoint must be `python SCRIPT ARGS...`; got {words!r}")
    return words[1], words[2:]


def rebase_paths(arguments: list[str], root: str | Path, *, mount: str = DATA_MOUNT) -> list[str]:
    """The arguments with every path under the volume mount (`/data/...`) moved under `root`."""
    moved = []
    for word in arguments:
        if word == mount or word.startswith(mount + "/"):
            word = str(Path(root) / word[len(mount) :].lstrip("/"))
        moved.append(word)
    return moved


def ray_cluster_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    """The RayCluster spec inside a RayCluster, RayJob or RayService."""
    spec = manifest["spec"]
    kind = manifest["kind"]
    if kind == "RayCluster":
        return spec
    if kind == "RayJob":
        return spec["rayClusterSpec"]
    if kind == "RayService":
        return spec["rayClusterConfig"]
    raise ValueError(f"not a KubeRay kind with a Ray cluster: {kind}")


def pod_templates(manifest: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(group, pod template) of the head and of every worker group; group is `head` or the groupName."""
    cluster = ray_cluster_spec(manifest)
    yield "head", cluster["headGroupSpec"]["template"]
    for group in cluster.get("workerGroupSpecs", []):
        yield group["groupName"], group["template"]


def ray_container(template: dict[str, Any]) -> dict[str, Any]:
    """The Ray container: KubeRay treats the first container of a pod template as the Ray one."""
    return template["spec"]["containers"][0]
