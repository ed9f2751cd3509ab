"""The inference runtimes a model runs on, one InferenceRuntime entry each; `backends.choose_backend` picks one by name.

imgclf's own are tensorflow (the saved Keras files), openvino (a compiled variant, models/openvino_backend.py) and
scikit-learn (models without a network). A distribution adds one with an entry in the entry point group
`imgclf.backends` (models/plugins.py) naming its InferenceRuntime:

    [project.entry-points."imgclf.backends"]
    onnxruntime = "ort_package.runtime:ONNX_RUNTIME"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from imgclf.models.plugins import PluginTable

if TYPE_CHECKING:
    from imgclf.models.backends import BackendChoice

BACKENDS_GROUP = "imgclf.backends"


def own_files(folder: Path, choice: BackendChoice, threads: int | None) -> None:
    """No network of the runtime's own: the model kind loads its saved files."""
    del folder, choice, threads


@dataclass(frozen=True)
class InferenceRuntime:
    """What runs a loaded model: `network` gives what the model kind's `load` runs for a model folder and a
    BackendChoice (`threads`: the CPUs to use, None: all), or None for the kind's own saved files."""

    name: str
    needs_tensorflow: bool  # TensorFlow's thread pools are sized before the model loads
    network: Callable[[Path, BackendChoice, int | None], Any] = own_files
    selectable: bool = True  # whether settings and options may name it as `backend`


TENSORFLOW = InferenceRuntime("tensorflow", needs_tensorflow=True)
SCIKIT_LEARN = InferenceRuntime("scikit-learn", needs_tensorflow=False, selectable=False)  # chosen by the kind

RUNTIME_TABLE: PluginTable[InferenceRuntime] = PluginTable(
    BACKENDS_GROUP, "backend", InferenceRuntime,
    {"tensorflow": "imgclf.models.runtimes:TENSORFLOW", "openvino": "imgclf.models.openvino_backend:OPENVINO",
     "scikit-learn": "imgclf.models.runtimes:SCIKIT_LEARN"},
)


def inference_runtime(name: str) -> InferenceRuntime:
    return RUNTIME_TABLE.get(name)


def selectable_backends() -> tuple[str, ...]:
    """The runtimes `backend` may name (imports each runtime's module)."""
    return tuple(runtime.name for runtime in RUNTIME_TABLE.entries() if runtime.selectable)
