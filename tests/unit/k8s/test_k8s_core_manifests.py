"""Core Kubernetes objects of k8s/ (Namespace, PersistentVolume(Claim), Services) against Kubernetes' schemas,
the PodMonitor's structure, and `kubectl kustomize k8s/`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
K8S = REPO / "k8s"
sys.path.insert(0, str(K8S))

import k8s_manifests as km  # noqa: E402
from utils.system_binaries import require_binary  # noqa: E402

# Kubernetes 1.33 (kubernetes-validate 1.37 bundles 1.25-1.37): a release current KubeRay (1.7) supports and
# kind ships node images for; these objects use only core/v1 fields that are stable across all of them.
K8S_VERSION = "1.33"
CORE_FILES = ["namespace.yaml", "volume.yaml", "services.yaml"]
KUBERAY_KINDS = {"RayCluster", "RayJob", "RayService"}
KUSTOMIZED_KINDS = {"Namespace", "PersistentVolume", "PersistentVolumeClaim", "Service", "RayService"}


def validate_core(document: dict[str, Any], where: str) -> None:
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        pytest.fail(f"{where}: {document['kind']} {document['metadata'].get('name')}: {exc.message} "
                    f"at {list(exc.caught.absolute_path)}")


@pytest.mark.parametrize("filename", CORE_FILES)
def test_core_objects_validate_for_the_pinned_kubernetes(filename: str) -> None:
    documents = km.load_documents(K8S / filename)
    assert documents
    for document in documents:
        validate_core(document, filename)


def test_kubernetes_validate_supports_the_pinned_version() -> None:
    from kubernetes_validate.utils import all_versions

    assert any(version.startswith(K8S_VERSION + ".") for version in all_versions())


def test_the_volume_is_a_static_hostpath_bound_to_its_claim() -> None:
    volume = km.load_one(K8S / "volume.yaml", "PersistentVolume")
    claim = km.load_one(K8S / "volume.yaml", "PersistentVolumeClaim")
    assert volume["metadata"]["name"] == claim["metadata"]["name"] == km.PVC_NAME
    assert volume["spec"]["hostPath"]["path"] == km.NODE_DATA_PATH
    assert volume["spec"]["claimRef"] == {"namespace": km.NAMESPACE, "name": km.PVC_NAME}
    assert claim["spec"]["volumeName"] == km.PVC_NAME
    assert volume["spec"]["storageClassName"] == claim["spec"]["storageClassName"] == ""
    assert volume["spec"]["persistentVolumeReclaimPolicy"] == "Retain"
    assert volume["spec"]["capacity"]["storage"] == claim["spec"]["resources"]["requests"]["storage"]


def test_the_podmonitor_scrapes_the_metrics_port_of_every_imgclf_ray_pod() -> None:
    """PodMonitor is a Prometheus Operator CRD that kubernetes-validate does not know: check what matters."""
    monitor = km.load_one(K8S / "podmonitor.yaml", "PodMonitor")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["namespace"] == km.NAMESPACE
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector == {**km.PART_OF_LABEL, "ray.io/is-ray-node": "yes"}  # head and workers alike
    [endpoint] = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] == "metrics" and endpoint["path"] == "/metrics"
    for relabel in endpoint.get("relabelings", []):
        assert relabel["sourceLabels"] and relabel["targetLabel"]
    # Every Ray pod of every manifest carries the selected labels and a container port named `metrics`.
    for filename in ("rayservice.yaml", "rayjob-train.yaml", "rayjob-batch.yaml", "raycluster.yaml"):
        manifest = km.load_documents(K8S / filename)[0]
        for group, template in km.pod_templates(manifest):
            assert km.PART_OF_LABEL.items() <= template["metadata"]["labels"].items(), (filename, group)
            ports = {port["name"]: port["containerPort"] for port in km.ray_container(template)["ports"]}
            assert ports.get("metrics") == km.METRICS_PORT, (filename, group)


def kustomize_output() -> list[dict[str, Any]]:
    kubectl = require_binary("kubectl", "kubernetes-client")
    done = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_kustomize_renders_every_listed_kind_into_the_namespace() -> None:
    rendered = kustomize_output()
    assert {doc["kind"] for doc in rendered} == KUSTOMIZED_KINDS
    for doc in rendered:
        if doc["kind"] not in ("Namespace", "PersistentVolume"):  # cluster-scoped
            assert doc["metadata"]["namespace"] == km.NAMESPACE, doc["metadata"]["name"]
        if doc["kind"] not in KUBERAY_KINDS:
            validate_core(doc, "kubectl kustomize k8s/")
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    # One-off runs, the interactive cluster and the CRD-dependent PodMonitor are applied on their own.
    assert not {"rayjob-train.yaml", "rayjob-batch.yaml", "raycluster.yaml", "podmonitor.yaml"} & set(
        kustomization["resources"])
