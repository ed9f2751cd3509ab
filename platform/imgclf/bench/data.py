"""The benchmark's data: the embedded digits set, written once into the bench folder."""

from __future__ import annotations

from pathlib import Path

from imgclf.data.digits import write_digits


def digits_folder(bench_dir: Path) -> Path:
    folder = bench_dir / "digits"
    if not folder.is_dir():
        write_digits(folder)
    return folder
