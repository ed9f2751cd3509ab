"""Typed settings of the two Serve deployments, built from their `user_config` in serve_config.yaml."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from imgclf.config import DecodeLimits, build_dataclass, check_inference_choice, check_int_range, check_number_range
from imgclf.config import default_registry
from imgclf.errors import ConfigError, ModelNotFoundError

MODEL_PATTERN_SUFFIX = "*"
FEEDBACK_DIR_ENV = "IMGCLF_FEEDBACK_DIR"


@dataclass(frozen=True, kw_only=True)
class CanaryConfig:
    """A second version of the default model answering `weight` percent of its requests (the rest: the stable one)."""

    version: str  # a concrete version or an alias of the default model's name
    weight: float = 10.0  # percent of the default model's requests, 0-100

    def __post_init__(self) -> None:
        if isinstance(self.version, int) and not isinstance(self.version, bool):
            object.__setattr__(self, "version", str(self.version))
        if not isinstance(self.version, str) or not self.version or ":" in self.version:
            raise ConfigError(f"canary.version must be a version (3) or an alias of the default model; "
                              f"got {self.version!r}")
        check_number_range("canary.weight", self.weight, 0, 100, " of percent")


@dataclass(frozen=True, kw_only=True)
class ClassifierConfig:
    """The Classifier deployment's user_config: which models, and how requests are batched.

    `model` is one model reference (`digits-vgg16`, `digits-vgg16:2`, `digits-vgg16:production`), a list of them,
    or a pattern `<prefix>*` for every registered model whose name starts with the prefix (`digits-*`: one run's
    VGG16 and baselines). Every replica loads them all; a request names one, and the first is the default.
    """

    model: str | tuple[str, ...]
    registry: str = field(default_factory=default_registry)
    backend: str = "auto"  # auto, tensorflow or openvino (imgclf.models.backends)
    precision: str | None = None  # None: the model's own, or auto's choice
    max_batch_size: int = 8
    # 0: a batch is whatever queued while the previous one ran, so a lone request never waits for company
    batch_wait_timeout_s: float = 0.0
    explanations: bool = True  # POST /v1/explain answers (each kind's reason, computed only when asked for)
    canary: CanaryConfig | None = None  # another version of the default model taking a share of its requests

    def __post_init__(self) -> None:
        references = self.references
        if not isinstance(references, tuple) or not references or not all(isinstance(r, str) and r for r in references):
            raise ConfigError("model must be a model reference such as 'digits-vgg16:1', a list of them, or a "
                              f"pattern such as 'digits-*'; got {self.model!r}")
        if len(set(references)) != len(references):
            raise ConfigError(f"model lists a reference twice: {list(references)}")
        check_inference_choice(self.backend, self.precision)
        check_int_range("max_batch_size", self.max_batch_size, 1, 1024)
        check_number_range("batch_wait_timeout_s", self.batch_wait_timeout_s, 0, 60, " of seconds")

    @property
    def references(self) -> tuple[str, ...]:
        """The configured references and patterns, in order."""
        return (self.model,) if isinstance(self.model, str) else self.model

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ClassifierConfig:
        return build_dataclass(cls, values, "Classifier user_config.")


def expand_references(references: tuple[str, ...], registered: list[str]) -> list[list[str]]:
    """A group per reference: the reference as given, or for a `<prefix>*` pattern the registered names starting
    with the prefix, by name; in order, without repeats. A pattern matching nothing is an error."""
    expanded: list[list[str]] = []
    seen: set[str] = set()
    for reference in references:
        if not reference.endswith(MODEL_PATTERN_SUFFIX):
            matches = [reference]
        else:
            prefix = reference[: -len(MODEL_PATTERN_SUFFIX)]
            matches = sorted(name for name in registered if name.startswith(prefix))
            if not matches:
                raise ModelNotFoundError(f"no registered model matches {reference!r}; models: {', '.join(registered)}")
        expanded.append([match for match in matches if match not in seen])
        seen.update(matches)
    return expanded


API_TOKEN_ENV = "IMGCLF_API_TOKEN"
UI_PASSWORD_ENV = "IMGCLF_UI_PASSWORD"
SECRETS_ENV = {"api_token": API_TOKEN_ENV, "ui_password": UI_PASSWORD_ENV}  # from the environment only


@dataclass(frozen=True, kw_only=True)
class RequestLogConfig:
    """The request log: a sampled share of classify requests kept as Parquet plus the images, off the request path."""

    folder: str  # a local folder, created when missing
    sample: float = 0.1  # share of classify requests logged, 0-1 (chosen by the request id, so reproducible)
    max_bytes: int = 2**30  # the folder's size budget: the oldest files go first beyond it
    flush_s: float = 2.0  # rows wait at most this long in memory before a Parquet file is written
    max_pending: int = 4096  # rows waiting to be written; beyond it (a stalled disk) new rows are dropped and counted
    max_pending_bytes: int = 256 * 2**20  # and their images' bytes waiting in memory, at most

    def __post_init__(self) -> None:
        if not isinstance(self.folder, str) or not self.folder:
            raise ConfigError(f"request_log.folder must be a folder path; got {self.folder!r}")
        check_number_range("request_log.sample", self.sample, 0, 1)
        check_int_range("request_log.max_bytes", self.max_bytes, 2**20, 2**50)
        check_number_range("request_log.flush_s", self.flush_s, 0.01, 3600, " of seconds")
        check_int_range("request_log.max_pending", self.max_pending, 1, 10**7)
        check_int_range("request_log.max_pending_bytes", self.max_pending_bytes, 2**20, 2**40)


@dataclass(frozen=True, kw_only=True)
class ApiConfig:
    """The API ingress deployment's user_config (request limits and answers) and the secrets that guard it,
    which come from the replica's environment, never from user_config, and stay out of repr."""

    max_body_bytes: int = 10 * 2**20
    max_pixels: int = DecodeLimits().max_pixels
    default_top_k: int = 3
    max_top_k: int = 100
    retry_after_s: int = 1
    # A classification whose Classifier replica died is sent again (to a live replica) this many times before
    # the client gets 503 replica_unavailable: classifying is idempotent.
    replica_retries: int = 2
    # A classification refused because every replica and the queue are full is tried again for this long before
    # the client gets 503 overloaded (0: at once).
    overload_wait_s: float = 1.0
    max_images_per_request: int = 32  # images one Open Inference Protocol request may carry
    request_log: RequestLogConfig | None = None  # off unless configured
    # Where the page's corrections go (folder per class + corrections.csv); None: $IMGCLF_FEEDBACK_DIR, else off.
    feedback_dir: str | None = None
    corrections_per_minute: int = 30  # corrections the page accepts per minute (per replica); beyond: refused
    api_token: str | None = field(default=None, repr=False)  # every route but the probes wants it as Bearer
    ui_password: str | None = field(default=None, repr=False)  # the page asks for it instead of the token

    def __post_init__(self) -> None:
        check_int_range("max_body_bytes", self.max_body_bytes, 1, 2**31)
        self.limits  # validates max_pixels as every decode limit is
        check_int_range("default_top_k", self.default_top_k, 1, self.max_top_k)
        check_int_range("max_top_k", self.max_top_k, 1, 10_000)
        check_int_range("retry_after_s", self.retry_after_s, 1, 3600)
        check_int_range("replica_retries", self.replica_retries, 0, 10)
        check_number_range("overload_wait_s", self.overload_wait_s, 0, 60, " of seconds")
        check_int_range("max_images_per_request", self.max_images_per_request, 1, 1024)
        check_int_range("corrections_per_minute", self.corrections_per_minute, 1, 100_000)

    @property
    def max_infer_body_bytes(self) -> int:
        """An inference request's body: its images at most max_body_bytes each, base64 in JSON (4/3), plus 1 MiB."""
        return self.max_images_per_request * (self.max_body_bytes * 4 // 3 + 4) + 2**20

    @property
    def limits(self) -> DecodeLimits:
        return DecodeLimits(max_pixels=self.max_pixels, max_bytes=self.max_body_bytes)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ApiConfig:
        """The user_config's values plus the secrets read from the environment now (start-up, reconfigure)."""
        secrets = sorted(set(values) & set(SECRETS_ENV))
        if secrets:
            raise ConfigError(f"Api user_config.{secrets[0]} is a secret: set ${SECRETS_ENV[secrets[0]]} in the "
                              "replica's environment (runtime_env env_vars or the pod) instead")
        from_env = {name: os.environ.get(variable) or None for name, variable in SECRETS_ENV.items()}
        if values.get("feedback_dir") is None:
            from_env["feedback_dir"] = os.environ.get(FEEDBACK_DIR_ENV) or None
        return build_dataclass(cls, {**values, **from_env}, "Api user_config.")


@dataclass(frozen=True, kw_only=True)
class AppArgs:
    """The application's `args` in serve_config.yaml."""

    examples_dir: str | None = None  # a folder of example images for the Gradio page
