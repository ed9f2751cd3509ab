"""The serve section's load generator (N workers POSTing one JPEG back to back, a warm-up, then a measured window)
and the CPU probe that charges each serving process's CPU time to the requests of that window."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any, Callable

import httpx
import numpy as np
import psutil

from imgclf.local_cluster import HeadNode, head_processes

WARMUP_S = 3.0
REQUEST_TIMEOUT_S = 120.0
COMPONENTS = (("ServeReplica:imgclf:Classifier", "classifier"), ("ServeReplica:imgclf:Api", "api"),
              ("ProxyActor", "proxy"))


class CpuProbe:
    """CPU seconds so far of the serving processes by component, and of this process (the load generator)."""

    def __init__(self, head: HeadNode) -> None:
        self.processes = [(component_of(process), process) for process in head_processes(head)]
        self.processes.append(("load_generator", psutil.Process()))

    def __call__(self) -> dict[str, float]:
        return cpu_by_name(self.processes)


def cpu_by_name(processes: list[tuple[str, psutil.Process]]) -> dict[str, float]:
    """User + system CPU seconds so far of the processes, summed by name (a process that cannot be read skipped)."""
    totals: Counter[str] = Counter()
    for name, process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        totals[name] += times.user + times.system
    return dict(totals)


def component_of(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline())
    except psutil.Error:
        return "ray_other"
    return next((name for marker, name in COMPONENTS if marker in command), "ray_other")


async def load_async(url: str, body: bytes, concurrency: int, warmup_s: float, measure_s: float,
                     probe: Callable[[], dict[str, float]] | None = None) -> dict[str, Any]:
    """`concurrency` workers POST the body back to back. Warm-up until every worker has had an answer and
    `warmup_s` passed (the pipeline is then full, TensorFlow has traced the batch shapes); then a measured
    window of `measure_s`: the answers completed inside it count, and `probe`'s CPU seconds across it."""
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"content-type": "image/jpeg"}
    warm_after = time.perf_counter() + warmup_s
    answered = [False] * concurrency
    window: list[float] = []  # [start, end] once the warm-up is over
    cpu: list[dict[str, float]] = []

    async def worker(index: int, client: httpx.AsyncClient) -> None:
        while not window or time.perf_counter() < window[1]:
            started = time.perf_counter()
            try:
                answer = await client.post(f"{url}/v1/classify", content=body, headers=headers)
                status = str(answer.status_code)
            except httpx.HTTPError as exc:
                status = type(exc).__name__
            done = time.perf_counter()
            answered[index] = True
            if not window and done >= warm_after and all(answered):
                window.extend([done, done + measure_s])
                if probe:
                    cpu.append(probe())
            elif window and window[0] <= done <= window[1]:
                statuses[status] += 1
                if status == "200":
                    latencies.append(done - started)

    async def probe_at_window_end() -> None:
        while not window:
            await asyncio.sleep(0.05)
        await asyncio.sleep(max(window[1] - time.perf_counter(), 0))
        cpu.append(probe())

    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        began = time.perf_counter()
        await asyncio.gather(*(worker(index, client) for index in range(concurrency)),
                             *([probe_at_window_end()] if probe else []))
    result = {"concurrency": concurrency, "warmup_s": window[0] - began,
              **window_figures(statuses, latencies, measure_s)}
    if probe and result["ok"]:
        result["cpu_ms_per_request"] = cpu_ms_per_request(cpu[0], cpu[1], result["ok"])
    return result


def window_figures(statuses: Counter[str], latencies: list[float], measure_s: float) -> dict[str, Any]:
    """One measured window's answers by status, its throughput (200s ÷ the window) and the 200s' latencies."""
    ok = statuses.get("200", 0)
    return {
        "requests": sum(statuses.values()),
        "ok": ok,
        "non_200": sum(statuses.values()) - ok,
        "statuses": dict(statuses),
        "throughput_rps": ok / measure_s,
        **latency_percentiles(latencies),
        "latencies": latencies,
    }


def cpu_ms_per_request(before: dict[str, float], after: dict[str, float], ok: int) -> dict[str, float]:
    """Each process group's CPU time across the window ÷ the 200s in it, ms (a group new at the end from 0)."""
    return {name: (after[name] - before.get(name, 0.0)) * 1000 / ok for name in after}


def latency_percentiles(latencies: list[float]) -> dict[str, float | None]:
    if not latencies:
        return {f"p{q}_ms": None for q in (50, 95, 99)}
    values = np.percentile(np.asarray(latencies) * 1000, [50, 95, 99])
    return {"p50_ms": float(values[0]), "p95_ms": float(values[1]), "p99_ms": float(values[2])}


def load(url: str, body: bytes, concurrency: int, measure_s: float, probe: CpuProbe | None = None) -> dict[str, Any]:
    return asyncio.run(load_async(url, body, concurrency, WARMUP_S, measure_s, probe))


def pooled(runs: list[dict[str, Any]], measure_s: float) -> dict[str, Any]:
    """The runs of one kind over all rounds as one: summed counts, all latencies, mean CPU per request."""
    latencies = [latency for run in runs for latency in run["latencies"]]
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run["statuses"])
    ok = sum(run["ok"] for run in runs)
    result = {
        "concurrency": runs[0]["concurrency"],
        "rounds": len(runs),
        "requests": sum(run["requests"] for run in runs),
        "ok": ok,
        "non_200": sum(run["non_200"] for run in runs),
        "statuses": dict(statuses),
        "throughput_rps": ok / (measure_s * len(runs)),
        "throughput_rps_by_round": [run["throughput_rps"] for run in runs],
        **latency_percentiles(latencies),
    }
    with_cpu = [run for run in runs if "cpu_ms_per_request" in run]
    if with_cpu:
        names = sorted({name for run in with_cpu for name in run["cpu_ms_per_request"]})
        result["cpu_ms_per_request"] = {
            name: sum(run["cpu_ms_per_request"].get(name, 0.0) * run["ok"] for run in with_cpu)
            / sum(run["ok"] for run in with_cpu)
            for name in names
        }
        result["cpu_ms_per_request"]["total"] = sum(result["cpu_ms_per_request"].values())
    return result
