"""The explain section's measures on a Ray head of its own: a digits run's five models served by serve_config.yaml
(one Classifier replica, `model: digits-*`), each model's /v1/classify and /v1/explain at concurrency 1; then the
VGG16 served twice side by side, explanations on in one application and off in the other, and /v1/classify of each
in interleaved pairs."""

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
from bench.explain_figures import SIDES, Call, model_figures, pair_orders
from bench.serve_deployment import BATCH_SIZE, bench_config, deploy, wait_until_applied
from bench.serve_load import REQUEST_TIMEOUT_S
from bench.serve_measure import HEAD_CPUS
from imgclf.config import ClusterSettings, OptimizeSettings, TrainSettings, VGGSettings
from imgclf.explanations.neighbours import GALLERY_FILE
from imgclf.local_cluster import HeadNode, free_port, running_head
from imgclf.registry import Registry
from imgclf.serving.launcher import api_url, deployment, serve_deploy, wait_until_ready
from imgclf.storage import is_uri

MODELS = ("digits-vgg16", "digits-knn-pixels", "digits-dt-pixels", "digits-knn-embeddings", "digits-dt-embeddings")
PATTERN = "digits-*"  # the default model is the strongest kind's: the VGG16
EPOCHS = 4  # latency does not depend on how well the models learnt
HEADERS = {"content-type": "image/jpeg"}  # as the load generator sends it
# Each side's replicas: both fit on the head's CPUs beside each other.
SIDE_CPUS = {"Classifier": 0.5, "Api": 0.25}
WARMUP_CALLS = 20  # classify calls to each side before the pairs
REMOVE_TIMEOUT_S = 120.0  # for the first config's application to be gone


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


def side_application(app: dict[str, Any], side: str, model: str) -> dict[str, Any]:
    """A copy of the application named explain-<side> under the route prefix /<side>, its Classifier serving only
    the model with explanations on or off, each deployment with its SIDE_CPUS."""
    copied = copy.deepcopy(app)
    copied.update(name=f"explain-{side}", route_prefix=f"/{side}")
    for entry in copied["deployments"]:
        entry.setdefault("ray_actor_options", {})["num_cpus"] = SIDE_CPUS[entry["name"]]
        if entry["name"] == "Classifier":
            entry["user_config"].update(model=model, explanations=side == "on")
    return copied


def side_by_side(config: dict[str, Any], model: str) -> dict[str, Any]:
    """A copy of the config whose one application is served twice, explanations on and off (SIDES)."""
    both = copy.deepcopy(config)
    both["applications"] = [side_application(config["applications"][0], side, model) for side in SIDES]
    return both


def deploy_side_by_side(head: HeadNode, config: dict[str, Any], path: Path) -> float:
    """`serve deploy` the config, wait until each application runs and answers /readyz and until no other one is
    left; seconds it took."""
    started = time.perf_counter()
    serve_deploy(config, path, head.dashboard_url)
    names = {app["name"] for app in config["applications"]}
    for app in config["applications"]:
        wait_until_applied(head, {"applications": [app]})
        wait_until_ready(f"{api_url(config)}{app['route_prefix']}")
    deadline = time.monotonic() + REMOVE_TIMEOUT_S
    while set(serve_applications(head)) != names:
        if time.monotonic() > deadline:
            raise TimeoutError(f"applications other than {sorted(names)} still up after {REMOVE_TIMEOUT_S:.0f} s")
        time.sleep(1)
    return time.perf_counter() - started


def serve_applications(head: HeadNode) -> list[str]:
    """The names of the applications Serve runs on the head."""
    answer = httpx.get(f"{head.dashboard_url}/api/serve/applications/", timeout=30)
    answer.raise_for_status()
    return list(answer.json()["applications"])


def timed_post(client: httpx.Client, url: str, body: bytes, **params: str) -> Call:
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


def interleaved(url: str, body: bytes, pairs: int) -> list[dict[str, Call]]:
    """WARMUP_CALLS classify calls to each side, then `pairs` pairs of one classify call to each side, one after the
    other from one client, the side that goes first alternating (so both see the same drift)."""
    with httpx.Client(timeout=REQUEST_TIMEOUT_S) as client:
        for _ in range(WARMUP_CALLS):
            for side in SIDES:
                timed_post(client, f"{url}/{side}/v1/classify", body)
        return [{side: timed_post(client, f"{url}/{side}/v1/classify", body) for side in order}
                for order in pair_orders(pairs)]


def explain_answer(url: str, body: bytes) -> dict[str, Any]:
    """What /v1/explain answers: its status and error code (None when it explained)."""
    answer = httpx.post(f"{url}/v1/explain", content=body, headers=HEADERS, timeout=REQUEST_TIMEOUT_S)
    return {"status": answer.status_code, "code": answer.json().get("error", {}).get("code")}


def measure(work: Path, inputs: BenchInputs, registry: str, body: bytes, pairs: int, calls: int) -> dict[str, Any]:
    """Each model's calls on the config with explanations on, then the VGG16 served side by side with explanations
    on and off: `pairs` interleaved classify pairs, then what /v1/explain answers on each side."""
    work.mkdir(parents=True, exist_ok=True)
    with running_head(num_cpus=HEAD_CPUS, env=same_priority_env()) as head:
        config = bench_config(inputs.serve_config, registry, PATTERN, free_port(), BATCH_SIZE)
        deployment(config, "Classifier")["user_config"]["explanations"] = True
        url = api_url(config)
        deploy_s = {"all_models": deploy(head, config, work / "serve_config.yaml")}
        inference = served_inference(url)
        models = {model: model_calls(url, body, model, calls) for model in MODELS}
        sides = side_by_side(config, MODELS[0])
        deploy_s["side_by_side"] = deploy_side_by_side(head, sides, work / "serve_config-side-by-side.yaml")
        side_inference = {side: served_inference(f"{url}/{side}")[MODELS[0]] for side in SIDES}
        timed = interleaved(url, body, pairs)
        explain_statuses = {side: explain_answer(f"{url}/{side}", body) for side in SIDES}
    return {"registry": registry, "request_bytes": len(body), "inference": inference, "deploy_s": deploy_s,
            "models": models, "side_inference": side_inference, "pairs": timed,
            "explain_when": explain_statuses}
