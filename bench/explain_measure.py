"""The explain section's measures on a Ray head of its own: a digits run's five models served by serve_config.yaml
(one Classifier replica, `model: digits-*`), each model's /v1/classify and /v1/explain at concurrency 1, then
classify windows with the Classifier's `explanations` switched on and off in turn."""

from __future__ import annotations

import copy
import io
import time
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench.artifacts import CALIBRATION_IMAGES, VARIANTS
from bench.cluster import same_priority_env, section_cluster
from bench.data import BenchInputs, digits_folder
from bench.explain_figures import SETTINGS, model_figures
from bench.serve_deployment import BATCH_SIZE, bench_config, deploy
from bench.serve_load import REQUEST_TIMEOUT_S, CpuProbe, load
from bench.serve_measure import HEAD_CPUS
from imgclf.config import ClusterSettings, OptimizeSettings, TrainSettings, VGGSettings
from imgclf.local_cluster import free_port, running_head
from imgclf.explanations.neighbours import GALLERY_FILE
from imgclf.registry import Registry
from imgclf.serving.launcher import api_url, deployment
from imgclf.storage import is_uri

MODELS = ("digits-vgg16", "digits-knn-pixels", "digits-dt-pixels", "digits-knn-embeddings", "digits-dt-embeddings")
PATTERN = "digits-*"  # the default model is the strongest kind's: the VGG16
EPOCHS = 4  # latency does not depend on how well the models learnt
HEADERS = {"content-type": "image/jpeg"}  # as the load generator sends it


def explains_all(registry: Registry) -> bool:
    """Whether the registry holds the five digits models, its KNNs saved with the neighbour gallery they explain with
    (a registry older than explanations has KNNs without it)."""
    if not set(MODELS) <= set(registry.list_models()):
        return False
    return all((registry.local_path(name) / GALLERY_FILE).is_file() for name in MODELS if "-knn-" in name)


def digits_registry(bench_dir: Path, registry: str | None) -> str:
    """The given registry when it holds the five digits models, else a digits run (VGG16 with its compiled int8
    variant, KNN and a decision tree on pixels and on embeddings) trained once into the bench folder."""
    if registry and explains_all(Registry(registry)):
        return registry if is_uri(registry) else str(Path(registry).resolve())  # the replicas' folder is not ours
    root = (bench_dir / "explain" / "registry").resolve()
    if not explains_all(Registry(root)):
        from imgclf.training.run import run_training

        settings = TrainSettings(
            data_dir=digits_folder(bench_dir), name="digits", registry=str(root), output_dir=root.parent / "runs",
            vgg=VGGSettings(image_size=32, epochs=EPOCHS),
            cluster=ClusterSettings(storage_path=str(root.parent / "ray_results")),
            # speed is measured, so the variant is kept whatever accuracy it loses
            optimize=OptimizeSettings(precisions=VARIANTS, max_accuracy_drop=100,
                                      calibration_images=CALIBRATION_IMAGES),
        )
        with section_cluster():
            run_training(settings, progress=False)
    return str(root)


def digit_jpeg(digits: Path) -> bytes:
    """The set's first digit image as JPEG bytes, at its own size (the models' input size: nothing to resize)."""
    buffer = io.BytesIO()
    Image.open(min(digits.rglob("*.png"))).convert("RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def explanations_config(config: dict[str, Any], enabled: bool) -> dict[str, Any]:
    """A copy of the config with the Classifier's `explanations` set."""
    changed = copy.deepcopy(config)
    deployment(changed, "Classifier")["user_config"]["explanations"] = enabled
    return changed


def timed_post(client: httpx.Client, url: str, body: bytes, **params: str) -> tuple[int, float]:
    """One POST of the image: its HTTP status and seconds from send to answer."""
    started = time.perf_counter()
    answer = client.post(url, content=body, headers=HEADERS, params=params)
    return answer.status_code, time.perf_counter() - started


def model_calls(url: str, body: bytes, model: str, calls: int) -> dict[str, Any]:
    """The model's first /v1/explain since it was loaded, then `calls` pairs of /v1/classify and /v1/explain, one
    after the other (so both see the same drift)."""
    classify, explain = [], []
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        first = timed_post(client, f"{url}/v1/explain", body, model=model)
        for _ in range(calls):
            classify.append(timed_post(client, f"{url}/v1/classify", body, model=model))
            explain.append(timed_post(client, f"{url}/v1/explain", body, model=model))
    return model_figures(classify, explain, first)


def served_inference(url: str) -> dict[str, Any]:
    """Each served model's inference (backend, precision, variant), as GET /v1/models lists them."""
    answer = httpx.get(f"{url}/v1/models", timeout=REQUEST_TIMEOUT_S)
    answer.raise_for_status()
    return {model["name"]: model["inference"] for model in answer.json()["models"]}


def refusal(url: str, body: bytes) -> dict[str, Any]:
    """What /v1/explain answers with explanations off: its status and error code."""
    answer = httpx.post(f"{url}/v1/explain", content=body, headers=HEADERS, timeout=REQUEST_TIMEOUT_S)
    return {"status": answer.status_code, "code": answer.json().get("error", {}).get("code")}


def measure(work: Path, inputs: BenchInputs, registry: str, body: bytes, seconds: float, rounds: int,
            calls: int) -> dict[str, Any]:
    """Each model's calls on the config as deployed (explanations on), then `rounds` rounds of a classify window
    (concurrency 1, the default model) with explanations on and one with them off, each after a reconfigure."""
    work.mkdir(parents=True, exist_ok=True)
    with running_head(num_cpus=HEAD_CPUS, env=same_priority_env()) as head:
        base = bench_config(inputs.serve_config, registry, PATTERN, free_port(), BATCH_SIZE)
        configs = {setting: explanations_config(base, setting == "enabled") for setting in SETTINGS}
        url = api_url(base)
        deploy_s: dict[str, list[float]] = {setting: [] for setting in SETTINGS}

        def switch(setting: str) -> None:
            deploy_s[setting].append(deploy(head, configs[setting], work / f"serve_config-{setting}.yaml"))

        def window(setting: str) -> dict[str, Any]:
            """Reconfigure to the setting, then a classify window at concurrency 1 with the serving CPU time."""
            switch(setting)
            return load(url, body, 1, seconds, CpuProbe(head))

        switch("enabled")
        inference = served_inference(url)
        models = {model: model_calls(url, body, model, calls) for model in MODELS}
        windows = [{setting: window(setting) for setting in SETTINGS} for _ in range(rounds)]
        refused = refusal(url, body)  # the last window's config: explanations off
    return {"registry": registry, "request_bytes": len(body), "inference": inference,
            "default_model": next(iter(inference)), "deploy_s": deploy_s, "models": models, "windows": windows,
            "refusal_when_off": refused}
