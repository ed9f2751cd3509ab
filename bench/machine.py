"""What the benchmark ran on: cores and the CPU flags that decide bf16 speed."""

from __future__ import annotations

import platform
import subprocess

from imgclf.runtime import cpu_count

RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8")


def machine_info() -> dict:
    model, flags = "unknown", set()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        lscpu = ""
    for line in lscpu.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            model = value.strip()
        elif key.strip() == "Flags":
            flags = set(value.split())
    return {
        "cpu": model,
        "cpus": cpu_count(),
        "flags": [flag for flag in RELEVANT_FLAGS if flag in flags],
        "python": platform.python_version(),
    }
