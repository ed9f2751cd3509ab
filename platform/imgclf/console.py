"""A console that tells the user's story: TensorFlow's load-time noise and Ray's internal notices held back, every
other line passed on unchanged."""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
from pathlib import Path
from types import ModuleType
from typing import Any, Iterator

from imgclf.runtime import use_legacy_keras

# What TensorFlow's C++ side prints while it loads and probes for CUDA on a node without a GPU: written before
# absl's logging starts, so TF_CPP_MIN_LOG_LEVEL cannot hold it back, and none of it is the user's business.
LOAD_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\) is called"
    r"|cudart_stub\.cc|Could not find cuda drivers"
    r"|cpu_feature_guard\.cc|To enable the following instructions:"
    r"|oneDNN custom operations are on"
    r"|Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered"
    r"|TF-TRT Warning"
)
# The failed CUDA initialisation TensorFlow logs as an error on every node without an NVIDIA driver.
CUDA_PROBE_FAILURE = re.compile(r"failed call to cuInit")
NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")
# Ray's error-level notice from its C++ core for each actor created with arguments in the object store and restarts
# allowed — every Ray Data model actor, Ray Train's preemption watcher — about a restart limitation (ray#53727,
# ray#57733), not about anything the user did.
ACTOR_ARGUMENTS_NOTICE = re.compile(r"has constructor arguments in the object store and max_restarts > 0")
# tf.function retracing notices: TensorFlow's own performance hints about how it was called, not about the data.
RETRACING_NOTICE = "triggered tf.function retracing"



class QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """On the first `import tensorflow` of the process, load TensorFlow (and probe its devices) with its
    load-time noise held back; every other import passes by untouched. See `install_quiet_tensorflow_import`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: TensorFlow loads once per process
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = QuietLoader(spec.loader)
        return spec


class QuietLoader(importlib.abc.Loader):
    """TensorFlow's own loader, run inside `stderr_without` the load noise."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        use_legacy_keras()
        dropped = LOAD_NOISE if NVIDIA_DRIVER.exists() else re.compile(f"{LOAD_NOISE.pattern}|{CUDA_PROBE_FAILURE.pattern}")
        with stderr_without(dropped):
            self.loader.exec_module(module)
            module.config.list_physical_devices("GPU")  # CUDA is probed here, inside the filter, not at a first op
        module.__loader__ = self.loader
        logging.getLogger("tensorflow").addFilter(lambda record: RETRACING_NOTICE not in record.getMessage())

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader, ...: TensorFlow's loader answers
        return getattr(self.loader, name)


def install_quiet_tensorflow_import() -> None:
    """Hold back what TensorFlow prints while it loads, whoever imports it first in this process (imgclf, or Ray
    Train's TensorFlow support in a worker): lines matching LOAD_NOISE are dropped, and the CUDA probe's failure
    too when this node has no NVIDIA driver; every other line reaches stderr unchanged once the import is done."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowImport())


@contextlib.contextmanager
def stderr_without(dropped: re.Pattern[str]) -> Iterator[None]:
    """Capture what this process writes to file descriptor 2 (C++ code included); replay the lines that do not
    match `dropped` when the block ends, however it ends."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode(errors="replace").splitlines(keepends=True)
                    if not dropped.search(line)]
            sys.stderr.write("".join(kept))
            sys.stderr.flush()


STDERR_PUMP: threading.Thread | None = None  # the running filter of `drop_stderr_lines`, once per process


def drop_stderr_lines(dropped: re.Pattern[str]) -> None:
    """From now until this process exits, drop the lines written to file descriptor 2 (by Python, C++ code, or
    Ray printing its workers' output) that match `dropped`; everything else passes at once, partial lines (progress
    bars) included. Processes started before the call keep the real stderr; once per process."""
    global STDERR_PUMP
    if STDERR_PUMP is not None:
        return
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    real_stderr = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)
    STDERR_PUMP = threading.Thread(target=pump_lines, args=(read_end, real_stderr, dropped), name="stderr-filter",
                                   daemon=True)
    STDERR_PUMP.start()

    def restore() -> None:  # at exit: the real stderr back, and whatever is still in the pipe written to it
        sys.stderr.flush()
        os.dup2(real_stderr, 2)  # closes the pipe's last write end: the pump reads the rest, then end of file
        STDERR_PUMP.join(timeout=5.0)

    atexit.register(restore)



def pump_lines(read_end: int, target: int, dropped: re.Pattern[str]) -> None:
    """Copy what arrives on `read_end` to `target`, without the complete lines that match `dropped`."""
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            lines = chunk.splitlines(keepends=True)
            kept = b"".join(line for line in lines if not dropped.search(line.decode(errors="replace")))
            if kept:
                os.write(target, kept)
