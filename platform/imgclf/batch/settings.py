"""The batch job's typed settings: one classification job, every image file below `input` → one Parquet row."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from imgclf.config import (
    DecodeLimits,
    check_inference_choice,
    check_int_range,
    check_placement,
    check_positive_number,
    default_registry,
)
from imgclf.errors import ConfigError
from imgclf.storage import is_uri

ALLOWED_ROOTS_ENV = "IMGCLF_ALLOWED_ROOTS"


def allowed_roots_from_env() -> tuple[str, ...]:
    """The local folders batch jobs may read and write, from $IMGCLF_ALLOWED_ROOTS (os.pathsep-separated);
    () when unset: no restriction."""
    return tuple(root for root in os.environ.get(ALLOWED_ROOTS_ENV, "").split(os.pathsep) if root)


@dataclass(frozen=True, kw_only=True)
class BatchSettings:
    """One batch classification job: every image file below `input` → one Parquet row in `output`."""

    input: str
    output: str
    model: str
    registry: str = field(default_factory=default_registry)
    top_k: int = 3
    batch_size: int = 32
    concurrency: int | None = None  # model actors; None: one per node (or per GPU), or as many as cpus_per_actor fit
    cpus_per_actor: float | None = None  # None: the node's CPUs less what the readers and writers need
    gpus_per_actor: float | None = None  # None: 1 when the cluster has GPUs
    embeddings: bool = False
    resume: bool = False
    rows_per_file: int = 1000
    backend: str = "auto"
    precision: str | None = None
    pushgateway: str | None = None
    push_interval_s: float = 15.0
    job_name: str | None = None  # the Pushgateway's job label; None: the Ray job's submission id or id
    address: str | None = None
    progress: bool = True
    limits: DecodeLimits = field(default_factory=DecodeLimits)
    # Set by whoever runs the cluster ($IMGCLF_ALLOWED_ROOTS), not by the job: input, output, registry and every
    # file read (symlinks resolved) must lie below one of these local folders. (): no restriction.
    allowed_roots: tuple[str, ...] = field(default_factory=allowed_roots_from_env)

    def __post_init__(self) -> None:
        for name in ("input", "output", "model"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ConfigError(f"{name} must be a non-empty string; got {getattr(self, name)!r}")
        check_int_range("top_k", self.top_k, 1, 1000)
        check_int_range("batch_size", self.batch_size, 1, 65536)
        check_int_range("rows_per_file", self.rows_per_file, 1, 10_000_000)
        check_placement(("concurrency", self.concurrency), ("cpus_per_actor", self.cpus_per_actor),
                        ("gpus_per_actor", self.gpus_per_actor))
        check_inference_choice(self.backend, self.precision)
        check_positive_number("push_interval_s", self.push_interval_s)
        for root in self.allowed_roots:
            if is_uri(root) or not os.path.isabs(os.path.expanduser(root)):
                raise ConfigError(f"allowed roots must be absolute local folders (${ALLOWED_ROOTS_ENV}); got {root!r}")
