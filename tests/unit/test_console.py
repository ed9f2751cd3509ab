"""The console: TensorFlow loads without its noise, and filtered stderr loses nothing else."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import logging
import textwrap
import time
from pathlib import Path

import pytest

from imgclf.console import (
    ACTOR_ARGUMENTS_NOTICE,
    RAY_TRAIN_REQUEST_LOGGER,
    LineFilter,
    shorten_ray_train_request_warnings,
    stderr_without,
)

NOISE = re.compile(r"noise")
RAY_NOTICE = ("[2026-12-02 12:30:48,368 E 14421 14421] core_worker.cc:2465: Actor with class name: 'MapWorker' and ID: "
              "'c118' has constructor arguments in the object store and max_restarts > 0. If the arguments ...\n")


# What TensorFlow prints first while it loads on a node without CUDA: one of the lines its quiet import drops.
CUDA_NOTICE = "I0000 00:00:1796361556.375684 22395 cudart_stub.cc:31] Could not find cuda drivers on your machine.\n"
# A stand-in for a TensorFlow whose import fails after printing, as a broken CUDA or protobuf install does.
FAILING_TENSORFLOW = f"""
import os
os.write(2, {CUDA_NOTICE.encode()!r} + b"the library it could not load\\n")
raise ImportError("libtensorflow_framework.so.2: cannot open shared object file")
"""
# Enough for a partial line held back to pass on a loaded machine, well above PARTIAL_LINE_WAIT_S.
PARTIAL_LINE_DEADLINE_S = 10.0


def python_env(*first: Path) -> dict[str, str]:
    """The environment of a Python with `first` and then this one's path (imgclf included) importable."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, first), *sys.path])}


def run_python(code: str, *path_first: Path) -> subprocess.CompletedProcess[bytes]:
    """Python running `code` with imgclf importable; its output as bytes (a progress bar's \r stays a \r)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, timeout=120,
                          env=python_env(*path_first))


def test_stderr_without_drops_matching_lines_of_file_descriptor_2_and_keeps_the_rest_in_order(capfd) -> None:
    with stderr_without(NOISE):  # os.write: as C++ code writes, below Python's sys.stderr
        os.write(2, b"first\nsome noise from C++\n")
        os.write(2, b"second\n")
        os.write(2, b"more noise\nthird\n")

    assert capfd.readouterr().err == "first\nsecond\nthird\n"


def test_stderr_without_replays_every_line_noise_included_when_the_block_raises(capfd) -> None:
    with pytest.raises(ImportError), stderr_without(NOISE):
        os.write(2, b"some noise first\nthe reason it failed\nnoise\n")
        raise ImportError("no such module")

    assert capfd.readouterr().err == "some noise first\nthe reason it failed\nnoise\n"


def test_a_failed_tensorflow_import_shows_every_line_it_printed(tmp_path: Path) -> None:
    (tmp_path / "tensorflow").mkdir()
    (tmp_path / "tensorflow" / "__init__.py").write_text(FAILING_TENSORFLOW)
    result = run_python("""
        from imgclf.console import install_quiet_tensorflow_import
        install_quiet_tensorflow_import()
        import tensorflow
    """, tmp_path)

    assert result.returncode == 1
    assert result.stderr.startswith(CUDA_NOTICE.encode() + b"the library it could not load\n"), result.stderr
    assert b"ImportError: libtensorflow_framework.so.2" in result.stderr


def test_a_line_is_judged_whole_however_it_arrives() -> None:
    lines = LineFilter(ACTOR_ARGUMENTS_NOTICE)
    half = len(RAY_NOTICE) // 2

    passed = [lines.feed(b"kept\n" + RAY_NOTICE[:half].encode()), lines.feed(RAY_NOTICE[half:].encode()),
              lines.feed(b"progress 50%\r"), lines.feed(b"also "), lines.feed(b"kept\n")]

    assert passed == [b"kept\n", b"", b"progress 50%\r", b"", b"also kept\n"]


def test_a_partial_line_released_passes_with_the_rest_of_its_line_and_the_next_line_is_judged_again() -> None:
    lines = LineFilter(ACTOR_ARGUMENTS_NOTICE)
    half = len(RAY_NOTICE) // 2
    lines.feed(RAY_NOTICE[:half].encode())

    assert lines.release() == RAY_NOTICE[:half].encode()
    assert lines.feed(RAY_NOTICE[half:].encode() + RAY_NOTICE.encode() + b"kept") == RAY_NOTICE[half:].encode()
    assert lines.release() == b"kept"


def test_dropped_stderr_lines_are_gone_for_the_rest_of_the_process_and_nothing_else_is() -> None:
    result = run_python(f"""
        import os, sys, time
        from imgclf.console import ACTOR_ARGUMENTS_NOTICE, drop_stderr_lines
        drop_stderr_lines(ACTOR_ARGUMENTS_NOTICE)
        os.write(2, b"kept before\\n" + {RAY_NOTICE.encode()!r} + b"kept after\\n")
        os.write(2, {RAY_NOTICE[:60].encode()!r})  # a notice in two writes, read apart
        time.sleep(0.05)
        os.write(2, {RAY_NOTICE[60:].encode()!r})
        os.write(2, b"progress 50%\\r")  # a progress bar's redrawn line passes at once
        print("the last words", file=sys.stderr)
        raise SystemExit(3)
    """)

    assert result.returncode == 3
    assert result.stderr == b"kept before\nkept after\nprogress 50%\rthe last words\n"
    assert ACTOR_ARGUMENTS_NOTICE.search(RAY_NOTICE) and not ACTOR_ARGUMENTS_NOTICE.search(RAY_NOTICE[:60])


def test_a_partial_line_passes_on_its_own_while_the_process_waits() -> None:
    code = """
        import os, sys
        from imgclf.console import ACTOR_ARGUMENTS_NOTICE, drop_stderr_lines
        drop_stderr_lines(ACTOR_ARGUMENTS_NOTICE)
        os.write(2, b"downloading 50%")
        sys.stdin.read()  # until the test has seen it
    """
    with subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdin=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=python_env()) as child:
        try:
            seen = read_up_to(child.stderr.fileno(), len(b"downloading 50%"), PARTIAL_LINE_DEADLINE_S)
        finally:
            child.stdin.close()
        assert child.wait(timeout=60) == 0

    assert seen == b"downloading 50%"


def read_up_to(fd: int, size: int, seconds: float) -> bytes:
    """The first `size` bytes that arrive on `fd`, or fewer: what came within `seconds`, or up to its end."""
    deadline, received = time.monotonic() + seconds, b""
    while len(received) < size and (left := deadline - time.monotonic()) > 0 and select.select([fd], [], [], left)[0]:
        chunk = os.read(fd, size - len(received))
        if not chunk:
            break
        received += chunk
    return received


def test_importing_imgclf_leaves_the_import_system_and_file_descriptor_2_alone() -> None:
    result = run_python(f"""
        import os, sys
        meta_path, stderr_file = list(sys.meta_path), os.fstat(2)
        import imgclf, imgclf.console
        assert sys.meta_path == meta_path, sys.meta_path
        assert (os.fstat(2).st_dev, os.fstat(2).st_ino) == (stderr_file.st_dev, stderr_file.st_ino)
        os.write(2, {CUDA_NOTICE.encode()!r})
    """)

    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == CUDA_NOTICE.encode()


def test_tensorflow_loads_without_its_cuda_and_absl_noise_in_the_imgclf_command() -> None:
    result = run_python("""
        from imgclf.cli import main
        try:
            main(["--version"])
        except SystemExit:
            pass
        import tensorflow as tf
        print(int(tf.constant(41) + 1), tf.__spec__.name)
    """)

    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert result.stdout.split() == [b"imgclf", b"0.1.0", b"42", b"tensorflow"]
    noise = [line for line in stderr.splitlines()
             if re.search(r"absl::InitializeLog|cudart_stub|cuInit|cpu_feature_guard", line)]
    assert noise == [], stderr


def test_ray_trains_request_warning_keeps_its_line_and_loses_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    shorten_ray_train_request_warnings()
    shorten_ray_train_request_warnings()  # twice: one filter
    logger = logging.getLogger(RAY_TRAIN_REQUEST_LOGGER)
    try:
        raise TimeoutError("Get timed out: some object(s) not ready.")
    except TimeoutError:
        logger.warning("Failed to send resource request for train-1.", exc_info=True)
    assert caplog.text.count("Failed to send resource request for train-1.") == 1, caplog.text
    assert "Traceback" not in caplog.text and "TimeoutError" not in caplog.text, caplog.text
    assert len(logger.filters) == 1
