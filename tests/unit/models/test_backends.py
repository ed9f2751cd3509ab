"""The backend choice: what `auto` runs on each kind of machine, and what explicit requests get."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.errors import ConfigError, ModelNotFoundError
from imgclf.models.backends import StoredVariant, choose_backend, cpu_flags, runs_natively

AVX2_ONLY = frozenset({"sse4_2", "avx2", "fma"})
ZEN4 = AVX2_ONLY | {"avx512f", "avx512_bf16", "avx512_vnni"}
AMX_XEON = AVX2_ONLY | {"avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "amx_tile"}
ALDER_LAKE = AVX2_ONLY | {"avx_vnni"}
# Speeds as optimize measures them: each variant next to TensorFlow fp32 in the same run.
VARIANTS = {
    "int8": StoredVariant("openvino-int8", "int8", 24.8, 6.5),
    "bf16": StoredVariant("openvino-bf16", "bf16", 12.7, 6.5),
    "fp32": StoredVariant("openvino-fp32", "fp32", 6.0, 6.5),
}


def choose(flags=ZEN4, *, backend="auto", precision=None, variants=VARIANTS, has_gpu=False, model_precision="fp32"):
    return choose_backend(backend=backend, precision=precision, model_precision=model_precision,
                          variants=variants, flags=flags, has_gpu=has_gpu)


@pytest.mark.parametrize(
    ("flags", "expected"),
    [(ZEN4, "openvino-int8"), (AMX_XEON, "openvino-int8"), (ALDER_LAKE, "openvino-int8"), (AVX2_ONLY, None)],
    ids=["zen4", "amx-xeon", "avx-vnni", "avx2-only"],
)
def test_auto_on_cpu_takes_the_fastest_native_variant(flags, expected):
    choice = choose(flags)
    assert choice.variant == expected
    assert choice.backend == ("openvino" if expected else "tensorflow")
    assert choice.reason.startswith("auto: ")


def test_auto_skips_variants_this_cpu_only_emulates():
    """bf16 without avx512_bf16/AMX and int8 without VNNI are not native: a CPU with neither gets TensorFlow even
    though OpenVINO fp32 is stored, because OpenVINO fp32 measured slower than TensorFlow fp32."""
    choice = choose(AVX2_ONLY)
    assert (choice.backend, choice.precision) == ("tensorflow", "fp32")
    assert "not faster than TensorFlow fp32" in choice.reason


def test_auto_takes_bf16_where_int8_is_not_stored():
    choice = choose(ZEN4, variants={p: v for p, v in VARIANTS.items() if p != "int8"})
    assert choice.variant == "openvino-bf16"


def test_auto_without_variants_runs_the_model_as_it_is():
    choice = choose(ZEN4, variants={}, model_precision="bf16")
    assert (choice.backend, choice.precision, choice.variant) == ("tensorflow", "bf16", None)
    assert "no variant" in choice.reason


def test_auto_with_a_gpu_runs_tensorflow_whatever_is_stored():
    choice = choose(AMX_XEON, has_gpu=True)
    assert (choice.backend, choice.precision) == ("tensorflow", "fp32")
    assert "GPU" in choice.reason
    with pytest.raises(ConfigError, match="TensorFlow, which has no int8"):
        choose(AMX_XEON, has_gpu=True, precision="int8")


def test_auto_with_an_asked_precision():
    assert choose(ZEN4, precision="bf16").variant == "openvino-bf16"
    on_avx2 = choose(AVX2_ONLY, precision="bf16")
    assert (on_avx2.backend, on_avx2.precision) == ("tensorflow", "bf16")
    assert "not native" in on_avx2.reason
    int8_on_avx2 = choose(AVX2_ONLY, precision="int8")  # asked for explicitly: run it, and say it will be slow
    assert int8_on_avx2.variant == "openvino-int8" and "expect it to be slow" in int8_on_avx2.reason


def test_explicit_backends():
    assert choose(AVX2_ONLY, backend="tensorflow").backend == "tensorflow"
    assert choose(ZEN4, backend="openvino", precision="fp32").variant == "openvino-fp32"
    assert choose(AVX2_ONLY, backend="openvino").variant == "openvino-fp32"  # fastest native there
    with pytest.raises(ConfigError, match="int8 runs only as a compiled OpenVINO variant"):
        choose(ZEN4, backend="tensorflow", precision="int8")


def test_missing_variants_name_the_command_that_makes_them():
    with pytest.raises(ModelNotFoundError, match=r"no openvino-int8 variant \(stored: openvino-fp32\).*--precision int8"):
        choose(ZEN4, backend="openvino", precision="int8", variants={"fp32": VARIANTS["fp32"]})
    with pytest.raises(ModelNotFoundError, match="no compiled OpenVINO variant: make one with `imgclf optimize"):
        choose(ZEN4, backend="openvino", variants={})
    with pytest.raises(ModelNotFoundError, match="no compiled OpenVINO variant"):
        choose(ZEN4, precision="int8", variants={})


def test_bad_choices_are_config_errors():
    with pytest.raises(ConfigError, match="backend must be one of auto, tensorflow, openvino; got 'onnx'"):
        choose(backend="onnx")
    with pytest.raises(ConfigError, match="precision must be one of fp32, bf16, int8; got 'fp16'"):
        choose(precision="fp16")


def test_native_precisions():
    assert runs_natively("fp32", AVX2_ONLY)
    assert not runs_natively("bf16", AVX2_ONLY) and not runs_natively("int8", AVX2_ONLY)
    assert runs_natively("bf16", ZEN4) and runs_natively("int8", ZEN4)
    assert runs_natively("int8", ALDER_LAKE) and not runs_natively("bf16", ALDER_LAKE)


def test_cpu_flags_are_read_from_cpuinfo(tmp_path: Path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu sse avx2 avx512_vnni\n\n"
                       "processor\t: 1\nflags\t\t: fpu sse avx2 avx512_vnni\n")
    assert cpu_flags(cpuinfo) == {"fpu", "sse", "avx2", "avx512_vnni"}
    assert cpu_flags(tmp_path / "missing") == frozenset()
