"""The serve section's side-by-side measures: each round runs the bare model and the served one back to back
(single, c1, batch, c32, unbatched c32, the one-hop layout), and each round's ratios are taken against its own bare
figures; direct ingress once, on a head of its own."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from bench.artifacts import BACKEND, bench_model
from bench.cluster import same_priority_env
from bench.data import BenchInputs
from bench.one_hop import one_hop_config
from bench.serve_bare import bare_batch, bare_single, request_jpeg
from bench.serve_deployment import (
    BATCH_SIZE,
    DIRECT_INGRESS_ENV,
    bench_config,
    deploy,
    direct_ingress_address,
    wait_until_applied,
)
from bench.serve_load import CpuProbe, load, pooled
from imgclf.data.decode import decode_image
from imgclf.local_cluster import SERVE_PATH_ENV, free_port, running_head
from imgclf.models.artifact import load_classifier
from imgclf.serving.launcher import api_url, serve_deploy, wait_until_ready

CONCURRENCY_ONCE = 8  # measured in the first round only: it enters no ratio
HEAD_CPUS = 2


def measure(work: Path, inputs: BenchInputs, image_size: int, measure_s: float, rounds: int) -> dict[str, Any]:
    model = bench_model((work / "registry").resolve(), image_size, inputs.photos)
    body = request_jpeg(inputs.photos, image_size)
    image = decode_image(body)  # what the ingress hands the Classifier: already at the model's size
    classifier = load_classifier(model.folder, backend=BACKEND)
    with running_head(num_cpus=HEAD_CPUS, env=same_priority_env()) as head:
        port = free_port()  # once the head holds its own ports
        configs = {"batched": bench_config(inputs.serve_config, model.registry, model.reference, port, BATCH_SIZE),
                   "unbatched": bench_config(inputs.serve_config, model.registry, model.reference, port, 1)}
        configs["one_hop"] = one_hop_config(configs["batched"])
        url = api_url(configs["batched"])
        deploy_s: dict[str, list[float]] = {name: [] for name in configs}

        def switch(name: str) -> None:
            deploy_s[name].append(deploy(head, configs[name], work / f"serve_config-{name}.yaml"))

        measured: list[dict[str, Any]] = []
        for round_index in range(rounds):
            switch("batched")  # after a round's one-hop layout: new processes
            probe = CpuProbe(head)
            entry: dict[str, Any] = {"bare_single": bare_single(classifier, image)}
            entry["c1"] = load(url, body, 1, measure_s, probe)
            entry["bare_batch"] = bare_batch(classifier, image, BATCH_SIZE)
            entry["c32"] = load(url, body, 32, measure_s, probe)
            if round_index == 0:
                entry[f"c{CONCURRENCY_ONCE}"] = load(url, body, CONCURRENCY_ONCE, measure_s, probe)
            switch("unbatched")
            entry["c32_unbatched"] = load(url, body, 32, measure_s, probe)
            switch("one_hop")
            probe = CpuProbe(head)  # the new replicas' processes
            entry["c1_one_hop"] = load(url, body, 1, measure_s, probe)
            entry["c32_one_hop"] = load(url, body, 32, measure_s, probe)
            measured.append(entry)
    direct = measure_direct_ingress(work, inputs.serve_config, model.registry, model.reference, body, measure_s)
    return {"model": model.reference, "inference": classifier.card["inference"], "request_bytes": len(body),
            "deploy_s": deploy_s, "runs": pooled_by_kind(measured, measure_s), "bare_model": bare_figures(measured),
            "rounds": [round_figures(entry) for entry in measured], "direct_ingress": direct}


def pooled_by_kind(measured: list[dict[str, Any]], measure_s: float) -> dict[str, dict[str, Any]]:
    """Each kind of load run pooled over the rounds that ran it."""
    kinds = ("c1", f"c{CONCURRENCY_ONCE}", "c32", "c32_unbatched", "c1_one_hop", "c32_one_hop")
    return {kind: pooled([entry[kind] for entry in measured if kind in entry], measure_s) for kind in kinds}


def round_figures(entry: dict[str, Any]) -> dict[str, float | None]:
    """One round's side-by-side figures: its ratios and latency overheads against its own bare measures."""
    return {
        "bare_single_latency_ms": entry["bare_single"]["latency_ms"],
        "bare_batch_images_per_s": entry["bare_batch"]["images_per_s"],
        "c1_p50_ms": entry["c1"]["p50_ms"],
        "c32_rps": entry["c32"]["throughput_rps"],
        "c32_unbatched_rps": entry["c32_unbatched"]["throughput_rps"],
        "batching_speedup": ratio(entry["c32"]["throughput_rps"], entry["c32_unbatched"]["throughput_rps"]),
        "serve_over_bare": entry["c32"]["throughput_rps"] / entry["bare_batch"]["images_per_s"],
        "latency_overhead_ms": overhead(entry["c1"], entry["bare_single"]),
        "one_hop_serve_over_bare": entry["c32_one_hop"]["throughput_rps"] / entry["bare_batch"]["images_per_s"],
        "one_hop_latency_overhead_ms": overhead(entry["c1_one_hop"], entry["bare_single"]),
    }


def bare_figures(measured: list[dict[str, Any]]) -> dict[str, float]:
    """The bare model's figures, each the median over the rounds."""
    return {
        "single_latency_ms": statistics.median(entry["bare_single"]["latency_ms"] for entry in measured),
        "single_cpu_ms": statistics.median(entry["bare_single"]["cpu_ms"] for entry in measured),
        f"batch{BATCH_SIZE}_images_per_s": statistics.median(entry["bare_batch"]["images_per_s"] for entry in measured),
        f"batch{BATCH_SIZE}_cpu_ms_per_image": statistics.median(
            entry["bare_batch"]["cpu_ms_per_image"] for entry in measured),
    }


def measure_direct_ingress(work: Path, serve_config: Path, registry: str, reference: str, body: bytes,
                           measure_s: float) -> dict[str, Any]:
    """The shipped config on a head started with Serve's direct ingress on: c1 and c32 (one window each) sent to
    the Api replica's own HTTP server, with the address it listens on."""
    env = {**same_priority_env(), **SERVE_PATH_ENV, **DIRECT_INGRESS_ENV}
    with running_head(num_cpus=HEAD_CPUS, env=env) as head:
        config = bench_config(serve_config, registry, reference, free_port(), BATCH_SIZE)
        serve_deploy(config, work / "serve_config-direct.yaml", head.dashboard_url)
        wait_until_applied(head, config)
        host, port = direct_ingress_address(head)
        url = f"http://{host}:{port}"
        wait_until_ready(url)
        probe = CpuProbe(head)
        return {"listens_on": f"{host}:{port}", "env": DIRECT_INGRESS_ENV,
                "c1": without_latencies(load(url, body, 1, measure_s, probe)),
                "c32": without_latencies(load(url, body, 32, measure_s, probe))}


def without_latencies(run: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in run.items() if key != "latencies"}


def overhead(run: dict[str, Any], bare_single: dict[str, float]) -> float | None:
    """A run's p50 over the bare model's single-image latency, ms."""
    return run["p50_ms"] - bare_single["latency_ms"] if run["p50_ms"] is not None else None


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None
