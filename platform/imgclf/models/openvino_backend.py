"""OpenVINO variants of a Keras network: convert, quantize to int8 with NNCF, save, and run compiled.

A variant folder holds `model.xml` + `model.bin` (the OpenVINO IR of the network, raw RGB uint8 in, every output
of the Keras network out) and a `model.json` card. bf16 and fp32 variants share one f32 IR and differ in the
inference precision they are compiled with; int8 variants hold a quantized IR.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from imgclf.models.runtimes import InferenceRuntime
from imgclf.runtime import cpu_count

if TYPE_CHECKING:
    from imgclf.models.backends import BackendChoice

IR_FILE = "model.xml"
VARIANTS_DIR = "variants"  # a model folder's compiled variants, one folder each: variants/openvino-int8/ ...
OV_PRECISION_HINT = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}  # int8 layers stay int8; the rest run f32


def convert_network(network, input_size: int):
    """The OpenVINO model of a Keras network, its input fixed to (batch, input_size, input_size, 3) uint8."""
    import openvino as ov

    return ov.convert_model(network, input=[(-1, input_size, input_size, 3)])


def quantize_int8(model, calibration: Sequence[np.ndarray]):
    """NNCF post-training int8 quantization, calibrated on every batch of uint8 images in `calibration`."""
    import nncf

    return nncf.quantize(model, nncf.Dataset(list(calibration)), subset_size=len(calibration))


def save_ir(model, folder: Path) -> None:
    import openvino as ov

    folder.mkdir(parents=True, exist_ok=True)
    ov.save_model(model, folder / IR_FILE, compress_to_fp16=False)


@dataclass(frozen=True)
class OutputSpec:
    shape: tuple[int | None, ...]


class OpenVINONetwork:
    """A compiled variant with the part of a Keras model's surface the prediction helpers use
    (`outputs`, `predict_on_batch`), so baselines and VGG16 run on it unchanged."""

    def __init__(self, folder: Path, precision: str, *, threads: int | None = None) -> None:
        import openvino as ov

        self.folder = Path(folder)
        self.precision = precision
        config = {
            "PERFORMANCE_HINT": "LATENCY",  # one synchronous call at a time uses every core
            "INFERENCE_PRECISION_HINT": OV_PRECISION_HINT[precision],
            "INFERENCE_NUM_THREADS": int(threads or cpu_count()),
        }
        self.compiled = ov.Core().compile_model(self.folder / IR_FILE, "CPU", config)
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()  # one infer request: calls from several threads take turns
        self.outputs = [OutputSpec((None, int(port.get_partial_shape()[-1].get_length())))
                        for port in self.compiled.outputs]

    def predict_on_batch(self, batch: np.ndarray) -> np.ndarray | list[np.ndarray]:
        """Like Keras: one array for a single-output network, a list of arrays otherwise."""
        with self.lock:
            results = self.request.infer({0: np.ascontiguousarray(batch, dtype=np.uint8)})
            values = [np.array(results[port], dtype=np.float32) for port in self.compiled.outputs]
        return values[0] if len(values) == 1 else values


def variant_network(folder: Path, choice: BackendChoice, threads: int | None) -> OpenVINONetwork:
    """The chosen compiled variant of a model folder."""
    return OpenVINONetwork(Path(folder) / VARIANTS_DIR / choice.variant, choice.precision, threads=threads)


OPENVINO = InferenceRuntime("openvino", needs_tensorflow=False, network=variant_network)
