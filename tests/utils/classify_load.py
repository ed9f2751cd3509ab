"""Concurrent clients sending classify requests until stopped, each answer kept as an Outcome: the load of the
reliability suite, shared by the serving tests that need many clients at once.

    load = Load(url, clients=32, pick=lambda rng: rng.choice(kinds), seed=42)
    asyncio.run(load.run(asyncio.sleep(10)))      # 10 s of load, then the clients' last answers
    load.outcomes                                 # one Outcome per request: its Kind, status, error code, times
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

import httpx

REQUEST_TIMEOUT_S = 60.0  # per request: an answer later than this counts as a timeout, not as answered


@dataclass(frozen=True)
class Kind:
    """A kind of classify request: its body and headers, and the status a bad one must get (None: a good one)."""

    name: str
    request: dict[str, Any]
    expected: int | None = None

    @property
    def good(self) -> bool:
        return self.expected is None


@dataclass
class Outcome:
    kind: Kind
    started: float
    ended: float
    status: int | None = None  # None: no HTTP answer (timeout or connection error)
    error: str = ""  # the exception of an unanswered request
    code: str = ""  # the JSON error code of a non-200 answer
    retry_after: str | None = None
    version: str | None = None  # the model version that answered (X-Model-Version)

    @property
    def answered(self) -> bool:
        return self.status is not None

    @property
    def overloaded(self) -> bool:
        """503 with Retry-After: the promised answer under overload (or while a replica is replaced)."""
        return self.status == 503 and bool(self.retry_after)

    @property
    def wrong(self) -> bool:
        """An answer the API promises never to give for this kind of request."""
        if self.status is None:
            return True
        if self.kind.good:
            return self.status != 200 and not self.overloaded
        return self.status != self.kind.expected


@dataclass
class Load:
    """Concurrent clients, each sending one classify request after another (picked by `pick`) until stopped."""

    url: str
    clients: int
    pick: Callable[[random.Random], Kind]
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    in_flight: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def client(self, http: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(self.seed * 1000 + number)
        while not self.stop.is_set():
            kind = self.pick(rng)
            outcome = Outcome(kind, time.monotonic(), 0.0)
            self.in_flight += 1
            try:
                answer = await asyncio.wait_for(http.post(f"{self.url}/v1/classify", **kind.request),
                                                REQUEST_TIMEOUT_S + 5)
                outcome.status = answer.status_code
                outcome.retry_after = answer.headers.get("retry-after")
                outcome.version = answer.headers.get("x-model-version")
                if answer.status_code != 200:
                    with contextlib.suppress(Exception):
                        outcome.code = answer.json()["error"]["code"]
            except (httpx.HTTPError, asyncio.TimeoutError, OSError) as exc:
                outcome.error = repr(exc)[:200]
            finally:
                self.in_flight -= 1
                outcome.ended = time.monotonic()
                self.outcomes.append(outcome)

    async def run(self, controller: Awaitable[Any]) -> Any:
        """Load while `controller` runs; stop the clients when it ends, wait for their last answers; its result."""
        limits = httpx.Limits(max_connections=self.clients, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
            clients = [asyncio.create_task(self.client(http, n)) for n in range(self.clients)]
            try:
                return await controller
            finally:
                self.stop.set()
                await asyncio.gather(*clients)


def mixed(goods: list[Kind], bads: list[Kind], bad_share: float = 0.4) -> Callable[[random.Random], Kind]:
    return lambda rng: rng.choice(bads) if rng.random() < bad_share else rng.choice(goods)


async def wait_for(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `condition` while the load goes on; whether it held before `timeout_s` passed."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def served(outcomes: list[Outcome]) -> int:
    """Good requests answered 200."""
    return sum(o.kind.good and o.status == 200 for o in outcomes)


def summary(outcomes: list[Outcome]) -> str:
    by_status: dict[str, int] = {}
    for o in outcomes:
        key = str(o.status) if o.answered else "no answer"
        by_status[key] = by_status.get(key, 0) + 1
    return ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items()))

