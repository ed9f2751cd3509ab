"""Reliability of the serving application (serve_config.yaml on a Ray head of this module's own): sustained load
mixing good and hostile uploads, a Classifier replica SIGKILLed under load, and the API's security promises.

Each scenario records one row of the reliability table (`scoreboard`), also when it fails. The Classifier runs
two replicas of 0.75 CPU each (with the Api's 0.25: 1.75 of the head's 2 CPUs), so one survives a kill and the
replacement fits next to it; its queue (max_queued_requests) is moderate, so a full-size run may see 503s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import httpx
import psutil
import pytest
import yaml

from utils import serve_app  # not its `test_config` by name: pytest would collect it as a test
from utils.classify_load import REQUEST_TIMEOUT_S, Kind, Load, Outcome, mixed, served, summary, wait_for
from utils.digits_run import BAD_FILES, VGG_MODEL, TrainedRun
from utils.images import truncated, with_declared_png_size
from utils.ray_head import HeadNode, ray_head
from utils.serve_app import ServeApp, deploy_app, wait_until_ready

from conftest import Scale, ScenarioResult, Scoreboard  # this folder's: pytest imports it just before its modules

pytestmark = pytest.mark.slow

APP_TIMEOUT_S = 420.0  # starting replicas imports TensorFlow on 2 shared cores
MAX_ONGOING = 8  # per Classifier replica: the most requests one replica holds
# Capacity back after a replica loss: from this long after the replacement is ready, this share of requests is 200.
SETTLE_S = 15.0
CAPACITY_SHARE = 0.9
MAX_BODY_BYTES = 2**20  # the Api's body limit here (1 MiB): "just over" stays cheap to send many times
CLASSIFIER = {
    "autoscaling_config": {"min_replicas": 2, "max_replicas": 2, "target_ongoing_requests": 4},
    "max_ongoing_requests": MAX_ONGOING,
    "max_queued_requests": 16,
    "ray_actor_options": {"num_cpus": 0.75},
}
CLASSIFIER_USER_CONFIG = {"max_batch_size": MAX_ONGOING, "batch_wait_timeout_s": 0.01}
API_USER_CONFIG = {"max_body_bytes": MAX_BODY_BYTES}
REPLICA_TITLE = "ServeReplica:imgclf:Classifier"
TOKEN = "reliability-s3cret"
PROBES = ("/healthz", "/readyz", "/v2/health/live", "/v2/health/ready")
EVIL_ORIGIN = "http://evil.example"
MEMORY_GROWTH = 1.2
# Past a scenario's planned load, how long it may go on until what it counts has happened (answers are counted,
# not requests per second: on a busy CPU they come slower, not wrong).
COUNT_DEADLINE_S = 2 * REQUEST_TIMEOUT_S + 60


@dataclass(frozen=True)
class Deployed:
    app: ServeApp
    registry: Path

    @property
    def head(self) -> HeadNode:
        return self.app.head

    @property
    def url(self) -> str:
        return self.app.url

    @property
    def port(self) -> int:
        return int(self.app.config["http_options"]["port"])


@pytest.fixture(scope="module")
def deployed(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """serve_config.yaml with the trained digits model, two Classifier replicas running, on this module's head."""
    with ray_head("/tmp", num_cpus=2) as head:
        started = time.monotonic()
        app = deploy_app(head, tmp_path_factory.mktemp("serve-reliability"), registry=trained_run.registry,
                         model=VGG_MODEL, classifier=CLASSIFIER, classifier_user_config=CLASSIFIER_USER_CONFIG,
                         api_user_config=API_USER_CONFIG)
        wait_for_classifiers(head, 2, timeout_s=APP_TIMEOUT_S)
        print(f"\nreliability: serve_config.yaml deployed with 2 Classifier replicas in {time.monotonic() - started:.1f} s")
        yield Deployed(app, trained_run.registry)


@pytest.fixture(scope="module")
def digits(trained_run: TrainedRun) -> list[bytes]:
    """Good uploads: the digit PNGs (not the truncated one the run adds)."""
    bad = {trained_run.data_dir / name for name in BAD_FILES}
    paths = sorted(p for p in trained_run.data_dir.glob("*/*.png") if p not in bad)
    assert len(paths) >= 20, paths
    return [p.read_bytes() for p in paths[::10]]


@contextlib.contextmanager
def scenario_row(scoreboard: Scoreboard, **cells: Any) -> Iterator[dict[str, Any]]:
    """Record the scenario's ScenarioResult from `cells` (which the test fills in) when it ends, passed or not."""
    row = dict(cells)
    passed = False
    try:
        yield row
        passed = True
    finally:
        scoreboard.record(ScenarioResult(**row, passed=passed))


# --- Serve's view of the application ----------------------------------------------------------------------------


def serve_application(head: HeadNode) -> dict[str, Any] | None:
    from ray.dashboard.modules.serve.sdk import ServeSubmissionClient

    return ServeSubmissionClient(head.dashboard_url).get_serve_details()["applications"].get("imgclf")


def classifier_replicas(head: HeadNode) -> list[dict[str, Any]]:
    app = serve_application(head)
    deployment = (app or {}).get("deployments", {}).get("Classifier")
    return list(deployment["replicas"]) if deployment else []


def wait_for_classifiers(head: HeadNode, count: int, *, timeout_s: float, without: set[str] = frozenset(),
                         started_after: float | None = None) -> list[dict[str, Any]]:
    """Poll Serve until exactly `count` Classifier replicas run, none of them with an actor id in `without`
    (and, given `started_after`, every replica of the application started after it); their details."""
    deadline, last = time.monotonic() + timeout_s, "not asked yet"
    while time.monotonic() < deadline:
        try:
            app = serve_application(head)
            replicas = classifier_replicas(head)
            states = [(r["state"], r["actor_id"][-8:] if r.get("actor_id") else None) for r in replicas]
            everyone = [r for d in (app or {}).get("deployments", {}).values() for r in d["replicas"]]
            if (app and app["status"] == "RUNNING" and len(replicas) == count
                    and all(r["state"] == "RUNNING" and r.get("pid") for r in replicas)
                    and not {r["actor_id"] for r in replicas} & set(without)
                    and (started_after is None or all(r["start_time_s"] >= started_after for r in everyone))):
                return replicas
            last = f"application {(app or {}).get('status')}, Classifier replicas {states}"
        except Exception as exc:  # noqa: BLE001 - the dashboard busy: ask again
            last = repr(exc)[:300]
        time.sleep(1)
    raise TimeoutError(f"not {count} fresh Classifier replicas RUNNING within {timeout_s:.0f} s: {last}")


def gone(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def replica_rss(head: HeadNode) -> dict[str, int]:
    """RSS (bytes) of each running Classifier replica's process, by actor id (pid from Serve, checked by title)."""
    sizes = {}
    for replica in classifier_replicas(head):
        process = psutil.Process(replica["pid"])
        assert REPLICA_TITLE in " ".join(process.cmdline()), process.cmdline()
        sizes[replica["actor_id"]] = process.memory_info().rss
    return sizes


# --- load -------------------------------------------------------------------------------------------------------


def bad_kinds(digit: bytes) -> list[Kind]:
    png = {"content-type": "image/png"}
    return [
        Kind("text", {"content": b"a shopping list, not a picture\n" * 20, "headers": {"content-type": "text/plain"}}, 415),
        Kind("text as png", {"content": b"%PDF-1.4 not a png at all" * 10, "headers": png}, 415),
        Kind("truncated png", {"content": truncated(digit), "headers": png}, 400),
        Kind("wrong content type", {"content": digit, "headers": {"content-type": "application/json"}}, 415),
        Kind("empty body", {"content": b"", "headers": png}, 400),
        Kind("over body limit", {"content": b"\0" * (MAX_BODY_BYTES + 1), "headers": {"content-type": "image/jpeg"}}, 413),
        Kind("pixel bomb", {"content": with_declared_png_size(digit, 50_000, 50_000), "headers": png}, 400),
        Kind("multipart bomb", {"files": {"file": ("b.png", with_declared_png_size(digit, 30_000, 30_000), "image/png")}},
             400),
    ]


def good_kinds(digits: list[bytes]) -> list[Kind]:
    raw = [Kind(f"digit {i}", {"content": d, "headers": {"content-type": "image/png"}}) for i, d in enumerate(digits)]
    form = [Kind(f"digit form {i}", {"files": {"file": (f"{i}.png", d, "image/png")}}) for i, d in enumerate(digits[:3])]
    return raw + form


# --- 1. load with good and bad uploads --------------------------------------------------------------------------


def test_load_with_good_and_bad_uploads_answers_every_request(deployed: Deployed, digits: list[bytes], scale: Scale,
                                                             scoreboard: Scoreboard, seed: int) -> None:
    started = time.monotonic()
    goods, bads = good_kinds(digits), bad_kinds(digits[0])
    warmup_s = min(5.0, scale.load_seconds / 2)
    with scenario_row(scoreboard, scenario="serving: load, good + bad uploads",
                      load=f"{scale.load_seconds:.0f} s, {scale.clients} clients, good+bad mix", faults="-",
                      bad_inputs=", ".join(k.name for k in bads)) as row:
        async def for_seconds(seconds: float) -> None:
            await asyncio.sleep(seconds)

        async def for_seconds_and_until_served(seconds: float, load: Load) -> None:
            """The planned load, then on until `scale.clients` good requests were answered 200 (or the deadline)."""
            await asyncio.sleep(seconds)
            await wait_for(lambda: served(load.outcomes) >= scale.clients, COUNT_DEADLINE_S)

        warmup = Load(deployed.url, scale.clients, mixed(goods, bads), seed)
        asyncio.run(warmup.run(for_seconds(warmup_s)))
        assert not [o for o in warmup.outcomes if o.wrong], f"warm-up: {summary(warmup.outcomes)}"
        time.sleep(1)
        warm_rss = replica_rss(deployed.head)

        load = Load(deployed.url, scale.clients, mixed(goods, bads), seed + 1)
        load_started = time.monotonic()
        asyncio.run(load.run(for_seconds_and_until_served(scale.load_seconds, load)))
        load_s = time.monotonic() - load_started
        time.sleep(1)
        after_rss = replica_rss(deployed.head)

        outcomes = load.outcomes
        unanswered = [o for o in outcomes if not o.answered]
        server_errors = [o for o in outcomes if o.answered and o.status >= 500 and not o.overloaded]
        bad_accepted = [o for o in outcomes if not o.kind.good and o.status == 200]
        wrong = [o for o in outcomes if o.wrong]  # ⊇ unanswered, 5xx but 503 + Retry-After, bad input not refused
        row.update(answered=len(outcomes) - len(unanswered), sent=len(outcomes), failures=len(wrong))
        good_sent = [o for o in outcomes if o.kind.good]
        latencies = sorted(o.ended - o.started for o in good_sent if o.status == 200)
        p95 = latencies[int(0.95 * (len(latencies) - 1))] if latencies else float("nan")
        row["details"] = (f"{len(outcomes)} requests in {load_s:.0f} s by {scale.clients} clients "
              f"({len(good_sent)} good, {len(outcomes) - len(good_sent)} bad): {summary(outcomes)}; "
              f"good p95 {p95:.2f} s; {sum(o.overloaded for o in outcomes)} overloaded (503 + Retry-After); "
              f"replica RSS MiB after warm-up {[round(v / 2**20) for v in warm_rss.values()]}, "
              f"after load {[round(after_rss.get(k, 0) / 2**20) for k in warm_rss]}; "
              f"test {time.monotonic() - started:.1f} s")
        print(f"\nload: {row['details']}")

        assert not unanswered, f"{len(unanswered)} requests unanswered, e.g. {[o.error for o in unanswered[:3]]}"
        assert not server_errors, f"5xx answers: {[(o.kind.name, o.status, o.code) for o in server_errors[:5]]}"
        assert not bad_accepted, f"bad inputs answered 200: {sorted({o.kind.name for o in bad_accepted})}"
        assert not wrong, f"unexpected answers: {[(o.kind.name, o.status, o.code) for o in wrong[:10]]}"
        assert {o.kind.name for o in outcomes if not o.kind.good} == {k.name for k in bads}, "a bad kind never sent"
        assert served(outcomes) >= scale.clients, (
            f"fewer than {scale.clients} good requests answered 200 in {load_s:.0f} s of load: {summary(outcomes)}")
        for overloaded in (o for o in outcomes if o.status == 503):
            assert overloaded.retry_after and overloaded.code == "overloaded", (overloaded.code, overloaded.retry_after)
        assert set(after_rss) == set(warm_rss), "the Classifier replicas changed during the load"
        for actor, rss in after_rss.items():
            assert rss <= MEMORY_GROWTH * warm_rss[actor], (
                f"replica {actor[-8:]} grew from {warm_rss[actor] / 2**20:.0f} MiB to {rss / 2**20:.0f} MiB")


# --- 2. a Classifier replica killed under load ------------------------------------------------------------------


def lost(outcome: Outcome) -> bool:
    """A good request not served: anything but 200 or the backpressure 503 (a replica_unavailable 503 is lost)."""
    return outcome.status != 200 and not (outcome.overloaded and outcome.code == "overloaded")


def test_a_killed_classifier_replica_is_replaced_under_load(deployed: Deployed, digits: list[bytes], scale: Scale,
                                                           scoreboard: Scoreboard, seed: int) -> None:
    started = time.monotonic()
    goods = good_kinds(digits)
    after_requests = 2 * scale.clients  # requests started after recovery that must all be served
    with scenario_row(scoreboard, scenario="serving: replica killed under load",
                      load=f"{scale.clients} clients, good images, until replaced + {after_requests} requests",
                      faults="SIGKILL 1 of 2 Classifier replicas (no failure allowed: the Api sends them again)",
                      bad_inputs="-") as row:
        before = wait_for_classifiers(deployed.head, 2, timeout_s=APP_TIMEOUT_S)
        load = Load(deployed.url, scale.clients, lambda rng: rng.choice(goods), seed + 2)
        times: dict[str, float] = {}

        async def kill_and_recover() -> dict[str, Any]:
            # Under load: the kill comes once the clients are being served, not after a fixed time.
            if not await wait_for(lambda: served(load.outcomes) >= scale.clients, COUNT_DEADLINE_S):
                raise TimeoutError(f"before the kill, fewer than {scale.clients} requests answered 200 in "
                                   f"{COUNT_DEADLINE_S:.0f} s: {summary(load.outcomes)}")
            victim = before[0]
            process = psutil.Process(victim["pid"])
            assert REPLICA_TITLE in " ".join(process.cmdline()), process.cmdline()
            in_flight = load.in_flight
            times["killed"] = time.monotonic()
            os.kill(victim["pid"], signal.SIGKILL)
            replacements = await asyncio.to_thread(wait_for_classifiers, deployed.head, 2, timeout_s=APP_TIMEOUT_S,
                                                   without={victim["actor_id"]})
            times["replaced"] = time.monotonic()
            await asyncio.to_thread(wait_until_ready, deployed.url, timeout_s=120)
            times["ready"] = time.monotonic()
            times["settled"] = times["ready"] + SETTLE_S
            await wait_for(lambda: sum(o.started >= times["settled"] for o in load.outcomes) >= after_requests,
                           SETTLE_S + COUNT_DEADLINE_S)
            return {"victim": victim, "in_flight": in_flight, "replicas": replacements, "gone": gone(process)}

        result = asyncio.run(load.run(kill_and_recover()))
        outcomes = load.outcomes
        failed = [o for o in outcomes if lost(o)]
        unavailable = [o for o in outcomes if o.status == 503]
        after = [o for o in outcomes if o.started >= times["ready"]]
        settled = [o for o in outcomes if o.started >= times["settled"]]
        served_settled = sum(o.status == 200 for o in settled)
        row.update(answered=sum(o.answered for o in outcomes), sent=len(outcomes), failures=len(failed))
        new = {r["actor_id"] for r in result["replicas"]} - {r["actor_id"] for r in before}
        row["details"] = (f"{len(outcomes)} requests by {scale.clients} clients: {summary(outcomes)}; "
              f"{load.clients} clients / {result['in_flight']} requests in flight at the kill; {len(failed)} failed "
              f"({sorted({o.code or o.error[:60] for o in failed})}); replaced in {times['replaced'] - times['killed']:.1f} s, "
              f"/readyz 200 {times['ready'] - times['killed']:.1f} s after the kill; {len(after)} requests after, "
              f"{sum(o.status == 200 for o in after)} answered 200; from {SETTLE_S:.0f} s after ready {len(settled)}, "
              f"{served_settled} answered 200; test {time.monotonic() - started:.1f} s")
        print(f"\nreplica kill: {row['details']}")

        assert result["gone"], "the killed replica's process is still running"
        assert len(new) == 1, f"expected one new Classifier replica; new actors: {new}"
        assert not failed, (f"{len(failed)} requests failed: "
                            f"{[(o.status, o.code or o.error[:80]) for o in failed[:10]]}")
        for answer in unavailable:
            assert answer.retry_after, f"503 without Retry-After ({answer.code})"
        assert len(settled) >= after_requests, (
            f"only {len(settled)} of {after_requests} requests {SETTLE_S:.0f} s after recovery ended within "
            f"{COUNT_DEADLINE_S:.0f} s: {summary(settled)}")
        assert served_settled >= CAPACITY_SHARE * len(settled), (
            f"capacity not back {SETTLE_S:.0f} s after the replacement was ready: {summary(settled)}")
        assert sum(o.status == 200 for o in outcomes if o.started >= times["killed"]) > 0, "nothing served meanwhile"


# --- 3. security ------------------------------------------------------------------------------------------------


def is_unauthorized(answer: httpx.Response) -> bool:
    """A refusal as the API gives it: 401, WWW-Authenticate: Bearer and the JSON error code `unauthorized`
    (under /v2 the inference protocol's form, `{"error": message}`)."""
    if answer.status_code != 401 or answer.headers.get("www-authenticate") != "Bearer":
        return False
    try:
        error = answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        return False
    if answer.request.url.path.startswith("/v2"):
        return isinstance(error, str) and "Authorization: Bearer" in error
    return isinstance(error, dict) and error.get("code") == "unauthorized"


def test_with_a_token_only_probes_answer_without_it_and_no_cors(deployed: Deployed, digits: list[bytes],
                                                               scoreboard: Scoreboard) -> None:
    started = time.monotonic()
    with scenario_row(scoreboard, scenario="serving: security", load="sequential probing requests", faults="-",
                      bad_inputs="no/wrong token, cross-origin") as row:
        problems: list[str] = []
        sent = answered = 0

        def ask(method: str, path: str, **request: Any) -> httpx.Response | None:
            nonlocal sent, answered
            sent += 1
            try:
                answer = httpx.request(method, f"{deployed.url}{path}", timeout=REQUEST_TIMEOUT_S, **request)
            except httpx.HTTPError as exc:
                problems.append(f"{method} {path}: no answer ({exc!r})")
                return None
            answered += 1
            return answer

        # The default bind: loopback only, in the repository's serve_config.yaml and on the running proxy.
        shipped = yaml.safe_load(serve_app.SERVE_CONFIG.read_text())
        if shipped["http_options"].get("host") != "127.0.0.1":
            problems.append(f"serve_config.yaml binds {shipped['http_options'].get('host')!r}, not 127.0.0.1")
        listeners = {c.laddr.ip for c in psutil.net_connections("tcp")
                     if c.status == psutil.CONN_LISTEN and c.laddr.port == deployed.port}
        if not listeners or listeners - {"127.0.0.1"}:
            problems.append(f"the HTTP proxy listens on {listeners or 'nothing'}, not only 127.0.0.1")

        # Redeploy with the token: a runtime_env change restarts every replica (one Classifier is enough here).
        since = time.time()
        config = serve_app.test_config(port=deployed.port, registry=deployed.registry, model=VGG_MODEL,
                                       classifier={**CLASSIFIER, "autoscaling_config": {
                                           "min_replicas": 1, "max_replicas": 1, "target_ongoing_requests": 4}},
                                       classifier_user_config=CLASSIFIER_USER_CONFIG, api_user_config=API_USER_CONFIG,
                                       env_vars={"IMGCLF_API_TOKEN": TOKEN})
        serve_app.serve_deploy(deployed.head, config, deployed.app.config_path.with_name("token.yaml"))
        wait_for_classifiers(deployed.head, 1, timeout_s=APP_TIMEOUT_S, started_after=since)
        wait_until_ready(deployed.url)
        deployed_s = time.monotonic() - started
        authorised = {"authorization": f"Bearer {TOKEN}"}

        spec = httpx.get(f"{deployed.url}/openapi.json", headers=authorised, timeout=30)
        assert spec.status_code == 200, spec.text
        operations = [(method.upper(), path) for path, item in spec.json()["paths"].items() if path not in PROBES
                      for method in item if method in ("get", "post", "put", "patch", "delete")]
        assert {("POST", "/v1/classify"), ("GET", "/v1/models")} <= set(operations), operations
        # The app's own routes must answer 401 + WWW-Authenticate: Bearer; odd spellings must at least not serve.
        routes = [*operations, ("GET", "/docs"), ("GET", "/docs/oauth2-redirect"), ("GET", "/redoc"),
                  ("GET", "/openapi.json"), ("GET", "/ui"), ("GET", "/ui/"), ("GET", "/ui/config"),
                  ("GET", "/ui/gradio_api/info"), ("POST", "/ui/gradio_api/queue/join")]
        odd = [("GET", "/v1/models/"), ("GET", "//v1/models"), ("GET", "/v1/models?path=/healthz"),
               ("GET", "/healthz/../v1/models"), ("GET", "/HEALTHZ"), ("POST", "/v1/classify/"), ("GET", "/nowhere")]
        let_through: dict[str, list[str]] = {}
        for method, path in [*routes, *odd]:
            body = {"content": digits[0], "headers": {"content-type": "image/png"}} if method == "POST" else {}
            for credentials in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {TOKEN}"},
                                {"authorization": f"Bearer {TOKEN}x"}, {"authorization": "Bearer"},
                                {"x-api-key": TOKEN}):
                answer = ask(method, path, content=body.get("content"),
                             headers={**body.get("headers", {}), **credentials, "origin": EVIL_ORIGIN})
                if answer is None:
                    continue
                refused = (is_unauthorized(answer) if (method, path) in routes else 400 <= answer.status_code < 500)
                if not refused:
                    let_through.setdefault(f"{method} {path}", []).append(
                        f"{credentials or 'no credentials'}: {answer.status_code}")
                if "access-control-allow-origin" in answer.headers:
                    problems.append(f"{method} {path}: CORS header on a refusal")
        for probe in PROBES:
            answer = ask("GET", probe)
            if answer is not None and answer.status_code != 200:
                problems.append(f"{probe} without the token: {answer.status_code}")
        # With the token everything serves; the scheme's name is case-insensitive (RFC 7235).
        for method, path, scheme in (("GET", "/docs", "Bearer"), ("GET", "/ui/", "Bearer"),
                                     ("POST", "/v1/classify", "bearer")):
            body = {"content": digits[0], "headers": {"content-type": "image/png"}} if method == "POST" else {}
            answer = ask(method, path, content=body.get("content"),
                         headers={**body.get("headers", {}), "authorization": f"{scheme} {TOKEN}"})
            if answer is not None and answer.status_code != 200:
                problems.append(f"{method} {path} with '{scheme} <token>': {answer.status_code} {answer.text[:200]}")

        # No CORS: neither a preflight nor an authorised cross-origin request gets Access-Control-Allow-Origin.
        preflight = {"origin": EVIL_ORIGIN, "access-control-request-method": "POST",
                     "access-control-request-headers": "authorization, content-type"}
        for method, path, request in (
                ("OPTIONS", "/v1/classify", {"headers": preflight}),
                ("OPTIONS", "/v1/classify", {"headers": {**preflight, **authorised}}),
                ("POST", "/v1/classify", {"content": digits[0], "headers": {
                    "content-type": "image/png", "origin": EVIL_ORIGIN, **authorised}}),
                ("GET", "/v1/models", {"headers": {"origin": EVIL_ORIGIN, **authorised}}),
                ("GET", "/readyz", {"headers": {"origin": EVIL_ORIGIN}})):
            answer = ask(method, path, **request)
            if answer is None:
                continue
            leaked = sorted(h for h in answer.headers if h.startswith("access-control-allow"))
            if leaked:
                problems.append(f"{method} {path} from {EVIL_ORIGIN}: {answer.status_code} with {leaked}")
            if method == "POST" and answer.status_code != 200:
                problems.append(f"POST /v1/classify with the token: {answer.status_code} {answer.text[:200]}")

        row.update(answered=answered, sent=sent, failures=len(let_through) + len(problems))
        row["details"] = (f"{len(operations)} operations in the OpenAPI spec + {len(routes) - len(operations)} other "
              f"routes + {len(odd)} odd paths, {sent} probing requests, {answered} answered; {len(let_through)} "
              f"routes let a request through {let_through or ''}; other problems: {problems or 'none'}; redeploy "
              f"with the token {deployed_s:.1f} s, test {time.monotonic() - started:.1f} s")
        print(f"\nsecurity: {row['details']}")
        assert not let_through, f"routes that let a request through without the token: {let_through}"
        assert not problems, "\n".join(problems)
