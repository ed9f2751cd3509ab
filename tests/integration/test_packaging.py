"""A non-editable install: the wheel holds `imgclf` and `gradio_app`, and they import from a fresh venv elsewhere; the
benchmark (`bench/`, beside the product) stays out of the wheel and runs from the repository root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
# What `pip install .` needs from the working tree, and the benchmark beside it (which the wheel must leave out);
# copied so the build writes nothing into the repository.
SOURCES = ("pyproject.toml", "README.md", "platform", "gradio_app", "bench")
PACKAGES = {"imgclf": REPO_ROOT / "platform" / "imgclf", "gradio_app": REPO_ROOT / "gradio_app"}
# pyproject.toml's `license = "Apache-2.0"` (a PEP 639 expression) needs setuptools >= 77 to build.
SETUPTOOLS_FOR_LICENSE_EXPRESSIONS = 77


def run(command: list, **kwargs) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env, timeout=540, **kwargs)
    assert done.returncode == 0, f"{command} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def local_setuptools_can_build() -> bool:
    try:
        return int(metadata.version("setuptools").split(".")[0]) >= SETUPTOOLS_FOR_LICENSE_EXPRESSIONS
    except metadata.PackageNotFoundError:
        return False


def build_wheel(workdir: Path) -> Path:
    """`pip wheel` of a copy of the sources: offline with this venv's setuptools when it is new enough, else
    in pip's isolated build environment (which installs the build-system requirements from the package index)."""
    source = workdir / "source"
    source.mkdir()
    for name in SOURCES:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
        else:
            shutil.copy2(path, source / name)
    isolation = ["--no-build-isolation"] if local_setuptools_can_build() else []
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-w", workdir / "dist", source])
    (wheel,) = (workdir / "dist").glob("imgclf-*.whl")
    return wheel


def purelib(python: Path) -> Path:
    return Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this working tree, built once for the module."""
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_installs_into_a_fresh_venv_and_imports_from_another_folder(wheel: Path, tmp_path: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for package, folder in PACKAGES.items():
        sources = {f"{package}/{p.relative_to(folder).as_posix()}" for p in folder.rglob("*.py")}
        assert sources <= names, f"missing from the wheel: {sorted(sources - names)}"
    assert not any(name.startswith(("platform/", "tests/", "jobs/")) for name in names)

    fresh = tmp_path / "fresh"
    run([sys.executable, "-m", "venv", fresh])
    fresh_python, fresh_site = fresh / "bin" / "python", purelib(fresh / "bin" / "python")
    # Dependencies come from this venv's site-packages (no download); imgclf itself only from the wheel.
    (fresh_site / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([fresh / "bin" / "pip", "install", "--no-deps", "--no-index", wheel])

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run(
        [fresh_python, "-c", "import imgclf, gradio_app; print(imgclf.__file__); print(gradio_app.__file__)"],
        cwd=elsewhere,
    )
    for imported in done.stdout.split():
        path = Path(imported).resolve()
        assert path.is_relative_to(fresh_site.resolve()), f"{path} is not inside {fresh_site}"
        assert not path.is_relative_to(REPO_ROOT)
    help_text = run([fresh / "bin" / "imgclf", "--help"], cwd=elsewhere).stdout
    assert help_text.startswith("usage: imgclf")


def test_the_wheel_holds_no_benchmark_code(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert not [name for name in names if name.startswith("bench/") or "/bench/" in name]


def test_the_benchmark_runs_from_the_repository_root() -> None:
    done = run([sys.executable, "-m", "bench", "--help"], cwd=REPO_ROOT)
    assert done.stdout.startswith("usage: python -m bench")
