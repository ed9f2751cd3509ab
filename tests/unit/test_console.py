"""The console: TensorFlow loads without its noise, and filtered stderr loses nothing else."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import pytest

from imgclf.console import ACTOR_ARGUMENTS_NOTICE, stderr_without

NOISE = re.compile(r"noise")
RAY_NOTICE = ("[2026-12-02 12:30:48,368 E 14421 14421] core_worker.cc:2465: Actor with class name: 'MapWorker' and ID: "
              "'c118' has constructor arguments in the object store and max_restarts > 0. If the arguments ...\n")


def run_python(code: str) -> subprocess.CompletedProcess[bytes]:
    """Python running `code` with imgclf importable; its output as bytes (a progress bar's \r stays a \r)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})


def test_stderr_without_drops_matching_lines_of_file_descriptor_2_and_keeps_the_rest_in_order(capfd) -> None:
    with stderr_without(NOISE):  # os.write: as C++ code writes, below Python's sys.stderr
        os.write(2, b"first\nsome noise from C++\n")
        os.write(2, b"second\n")
        os.write(2, b"more noise\nthird\n")

    assert capfd.readouterr().err == "first\nsecond\nthird\n"


def test_stderr_without_replays_what_it_kept_when_the_block_raises(capfd) -> None:
    with pytest.raises(ImportError), stderr_without(NOISE):
        os.write(2, b"the reason it failed\nnoise\n")
        raise ImportError("no such module")

    assert capfd.readouterr().err == "the reason it failed\n"


def test_dropped_stderr_lines_are_gone_for_the_rest_of_the_process_and_nothing_else_is() -> None:
    result = run_python(f"""
        import os, sys
        from imgclf.console import ACTOR_ARGUMENTS_NOTICE, drop_stderr_lines
        drop_stderr_lines(ACTOR_ARGUMENTS_NOTICE)
        os.write(2, b"kept before\\n" + {RAY_NOTICE.encode()!r} + b"kept after\\n")
        os.write(2, b"progress 50%\\r")  # a progress bar's partial line passes at once
        print("the last words", file=sys.stderr)
        raise SystemExit(3)
    """)

    assert result.returncode == 3
    assert result.stderr == b"kept before\nkept after\nprogress 50%\rthe last words\n"
    assert ACTOR_ARGUMENTS_NOTICE.search(RAY_NOTICE)


def test_tensorflow_loads_without_its_cuda_and_absl_noise_once_imgclf_is_imported() -> None:
    result = run_python("""
        import imgclf
        import tensorflow as tf
        print(int(tf.constant(41) + 1), tf.__spec__.name)
    """)

    stderr = result.stderr.decode()
    assert result.returncode == 0, stderr
    assert result.stdout.split() == [b"42", b"tensorflow"]
    noise = [line for line in stderr.splitlines()
             if re.search(r"absl::InitializeLog|cudart_stub|cuInit|cpu_feature_guard", line)]
    assert noise == [], stderr
