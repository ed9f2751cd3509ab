"""A console that tells the user's story: TensorFlow's load-time noise and Ray's internal notices held back, every
other line passed on unchanged.

Only processes imgclf owns take this over: the `imgclf` command (`imgclf.cli.main`), the Ray workers of its jobs
(`imgclf.cluster.setup_worker`) and its Serve replicas. Importing imgclf changes neither `sys.meta_path` nor file
descriptor 2, so a notebook or a test session keeps its own console.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import logging
import os
import re
import select
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
# Ray Train's warning, traceback attached, when a resource request to its autoscaling coordinator takes over 5 s:
# on a busy two-core node at a run's start; the request repeats every 20 s, and the warning itself says a transient
# one is safe to ignore. Its one line stays (a lasting failure still shows); the traceback of a timeout goes.
RAY_TRAIN_REQUEST_LOGGER = "ray.train.v2._internal.execution.scaling_policy.autoscaling_coordinator_client"
# tf.function retracing notices: TensorFlow's own performance hints about how it was called, not about the data.
RETRACING_NOTICE = "triggered tf.function retracing"
# A partial line (no newline yet) waits this long for its end before it passes as it is: what a progress bar redraws
# in place, or a prompt, shows at once to the eye, and a notice split over two writes is still judged whole.
PARTIAL_LINE_WAIT_S = 0.2
LINE_ENDS = (b"\n", b"\r")  # a progress bar's \r ends what it drew: judged and passed at once, like a line
READ_BYTES = 65536


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
        logging.getLogger("tensorflow").addFilter(without_retracing_notice)

    def __getattr__(self, name: str) -> Any:  # is_package, get_resource_reader, ...: TensorFlow's loader answers
        return getattr(self.loader, name)


def without_retracing_notice(record: logging.LogRecord) -> bool:
    """A filter of TensorFlow's logger: every record but its tf.function retracing notices."""
    return RETRACING_NOTICE not in record.getMessage()


def without_traceback(record: logging.LogRecord) -> bool:
    """A filter that keeps every record but drops its traceback: the message line says what the user needs."""
    record.exc_info = record.exc_text = None
    return True


def shorten_ray_train_request_warnings() -> None:
    """Ray Train's resource-request warnings in this process as their one line, without a traceback."""
    logger = logging.getLogger(RAY_TRAIN_REQUEST_LOGGER)
    if without_traceback not in logger.filters:
        logger.addFilter(without_traceback)


def install_quiet_tensorflow_import() -> None:
    """Hold back what TensorFlow prints while it loads, whoever imports it first in this process (imgclf, or Ray
    Train's TensorFlow support in a worker): lines matching LOAD_NOISE are dropped, and the CUDA probe's failure
    too when this node has no NVIDIA driver; every other line reaches stderr unchanged once the import is done, and
    every line, noise included, when the import fails. For processes imgclf owns only (see the module docstring)."""
    if "tensorflow" not in sys.modules and not any(isinstance(f, QuietTensorFlowImport) for f in sys.meta_path):
        sys.meta_path.insert(0, QuietTensorFlowImport())


@contextlib.contextmanager
def stderr_without(dropped: re.Pattern[str]) -> Iterator[None]:
    """Capture what this process writes to file descriptor 2 (C++ code included); when the block ends, replay the
    lines that do not match `dropped`, or, when it raised, every line as it was written: what led to a failure is
    the user's business, noise included."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            captured = capture.read()
            os.write(2, captured if failed else without_lines(captured.splitlines(keepends=True), dropped))


def without_lines(lines: list[bytes], dropped: re.Pattern[str]) -> bytes:
    """`lines` joined again, less those that match `dropped`."""
    return b"".join(line for line in lines if not dropped.search(line.decode(errors="replace")))


STDERR_PUMP: threading.Thread | None = None  # the running filter of `drop_stderr_lines`, once per process


def drop_stderr_lines(dropped: re.Pattern[str]) -> None:
    """From now until this process exits, drop the lines written to file descriptor 2 (by Python, C++ code, or
    Ray printing its workers' output) that match `dropped`, each judged whole (see `pump_lines`); everything else
    passes on. Processes started before the call keep the real stderr; once per process."""
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


class LineFilter:
    """Drops the lines that match `dropped` from a byte stream fed in pieces, judging each line whole: the part of a
    line not ended yet is held back until its end arrives, or until `release` lets it pass as it is (and the rest of
    that line after it, which can no longer be judged whole)."""

    def __init__(self, dropped: re.Pattern[str]) -> None:
        self.dropped = dropped
        self.pending = b""  # the line begun, not ended yet
        self.released = False  # whether the start of the line now pending has passed already

    def feed(self, chunk: bytes) -> bytes:
        """What passes of the lines that `chunk` completes."""
        lines = (self.pending + chunk).splitlines(keepends=True)
        self.pending = lines.pop() if lines and not lines[-1].endswith(LINE_ENDS) else b""
        if not lines:
            return b""
        first = lines[0] if self.released else without_lines(lines[:1], self.dropped)
        self.released = False
        return first + without_lines(lines[1:], self.dropped)

    def release(self) -> bytes:
        """The partial line held back, to pass now."""
        partial, self.pending = self.pending, b""
        self.released = self.released or bool(partial)
        return partial


def pump_lines(read_end: int, target: int, dropped: re.Pattern[str]) -> None:
    """Copy what arrives on `read_end` to `target`, without the lines that match `dropped` (see LineFilter); a
    partial line passes after PARTIAL_LINE_WAIT_S without more output, and at the end."""
    lines = LineFilter(dropped)
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while True:
            if not select.select([source], [], [], PARTIAL_LINE_WAIT_S if lines.pending else None)[0]:
                os.write(target, lines.release())  # quiet for a while: the partial line passes as it is
                continue
            chunk = source.read(READ_BYTES)
            os.write(target, lines.feed(chunk) if chunk else lines.release())
            if not chunk:
                return  # end of file: the last write end is closed
