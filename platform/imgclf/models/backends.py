"""Which backend and precision a model runs with on this node: CPU features, stored variants and the `auto` rule.

`auto` on a node with a GPU: TensorFlow. On a CPU: the fastest stored OpenVINO variant (each one passed its
accuracy guard, or it would not be stored) that this CPU runs natively, when it beat TensorFlow fp32 where it
was measured; otherwise TensorFlow at the model's own precision.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Collection, Mapping

from imgclf.config import check_inference_choice
from imgclf.errors import ConfigError, ModelNotFoundError

CPUINFO = Path("/proc/cpuinfo")
# The flags that make a precision run natively (fp32 always does). Without them bf16 is emulated (no faster
# than fp32) and int8 runs on slower AVX2 kernels.
NATIVE_FLAGS = {
    "bf16": frozenset({"avx512_bf16", "amx_bf16"}),
    "int8": frozenset({"avx512_vnni", "avx_vnni", "amx_int8"}),
}
SHOWN_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_int8")


def cpu_flags(cpuinfo: Path = CPUINFO) -> frozenset[str]:
    """The CPU feature flags of this node ({} where /proc/cpuinfo cannot be read)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def shown_flags(flags: Collection[str]) -> str:
    """The flags that matter for precision, for logs and benchmark records."""
    return " ".join(flag for flag in SHOWN_FLAGS if flag in flags) or "none of " + "/".join(SHOWN_FLAGS)


def runs_natively(precision: str, flags: Collection[str]) -> bool:
    return precision == "fp32" or bool(NATIVE_FLAGS[precision] & set(flags))


@dataclass(frozen=True)
class StoredVariant:
    """What a variant's model.json says about it: its precision and the speeds measured side by side."""

    name: str  # e.g. openvino-int8
    precision: str
    images_per_s: float
    tensorflow_fp32_images_per_s: float  # TensorFlow fp32 measured in the same run

    @classmethod
    def from_card(cls, card: Mapping[str, Any]) -> StoredVariant:
        speed = card["speed"]
        return cls(card["variant"], card["precision"], float(speed["images_per_s"]),
                   float(speed["tensorflow_fp32_images_per_s"]))


@dataclass(frozen=True)
class BackendChoice:
    backend: str  # the runtime's name (models/runtimes.py): tensorflow, openvino, scikit-learn, ...
    precision: str
    variant: str | None  # the stored variant's folder name under variants/, None for TensorFlow
    reason: str

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "precision": self.precision, "variant": self.variant, "reason": self.reason}

    def __str__(self) -> str:
        return f"{self.backend} {self.precision} ({self.reason})"


def choose_backend(
    *,
    backend: str,
    precision: str | None,
    model_precision: str,
    variants: Mapping[str, StoredVariant],
    flags: Collection[str],
    has_gpu: bool,
) -> BackendChoice:
    """The backend and precision to run with; `precision` None means the model's own (or, under auto, the
    fastest); `variants` are keyed by precision."""
    check_inference_choice(backend, precision)
    if backend == "openvino":
        return openvino_choice(precision, variants, flags, "backend openvino was asked for")
    if backend != "auto":  # tensorflow, or a runtime a distribution added, running the model's own files
        return BackendChoice(backend, precision or model_precision, None, f"backend {backend} was asked for")
    if has_gpu:
        if precision == "int8":
            raise ConfigError("a GPU is visible, so auto runs TensorFlow, which has no int8: "
                              "pass backend openvino to run the int8 variant on the CPU")
        return BackendChoice("tensorflow", precision or model_precision, None, "auto: a GPU is visible")
    cpu = f"CPU flags: {shown_flags(flags)}"
    if precision is not None:
        if precision in variants and runs_natively(precision, flags):
            return openvino_choice(precision, variants, flags, f"auto: {precision} asked for, stored, native ({cpu})")
        if precision == "int8":
            return openvino_choice(precision, variants, flags, f"auto: int8 asked for ({cpu})")
        why = "not native here" if precision in variants else "no stored variant"
        return BackendChoice("tensorflow", precision, None, f"auto: {precision} asked for, OpenVINO {why} ({cpu})")
    native = [variant for variant in variants.values() if runs_natively(variant.precision, flags)]
    if not native:
        stored = ", ".join(sorted(variants)) or "none stored"
        return BackendChoice("tensorflow", model_precision, None, f"auto: no variant this CPU runs natively "
                             f"(variants: {stored}; {cpu})")
    best = max(native, key=lambda variant: variant.images_per_s)
    if best.images_per_s <= best.tensorflow_fp32_images_per_s:
        return BackendChoice("tensorflow", model_precision, None, f"auto: the fastest native variant {best.name} "
                             f"({best.images_per_s:.1f} images/s) was not faster than TensorFlow fp32 "
                             f"({best.tensorflow_fp32_images_per_s:.1f}) ({cpu})")
    return BackendChoice("openvino", best.precision, best.name, f"auto: fastest stored variant this CPU runs natively, "
                         f"{best.images_per_s:.1f} vs TensorFlow fp32 {best.tensorflow_fp32_images_per_s:.1f} "
                         f"images/s where measured ({cpu})")


def openvino_choice(precision: str | None, variants: Mapping[str, StoredVariant], flags: Collection[str],
                    reason: str) -> BackendChoice:
    """The stored variant of `precision` (None: the fastest native one, else the fastest), or a clear error."""
    if not variants:
        raise ModelNotFoundError("the model has no compiled OpenVINO variant: make one with "
                                 "`imgclf optimize NAME:VERSION --precision int8` (or bf16, fp32)")
    if precision is None:
        native = [v for v in variants.values() if runs_natively(v.precision, flags)] or list(variants.values())
        chosen = max(native, key=lambda variant: variant.images_per_s)
    elif precision in variants:
        chosen = variants[precision]
    else:
        raise ModelNotFoundError(f"the model has no openvino-{precision} variant (stored: "
                                 f"{', '.join(sorted(v.name for v in variants.values()))}): make it with "
                                 f"`imgclf optimize NAME:VERSION --precision {precision}`")
    if not runs_natively(chosen.precision, flags):
        reason += f"; {chosen.precision} is not native on this CPU ({shown_flags(flags)}): expect it to be slow"
    return BackendChoice("openvino", chosen.precision, chosen.name, reason)
