"""`imgclf classify` over a folder of hostile entries: symlink loops, a dangling symlink, a symlink out of the
allowed roots, a non-UTF-8 name, a FIFO, a folder named like an image, an unreadable file. The job runs with
$IMGCLF_ALLOWED_ROOTS set, in a process of its own on its own local Ray, without root's power over files (file
permissions hold for it even when the tests run as root), and finishes (a FIFO must not block it); every listed file
has exactly one row, each hostile entry gets an error row naming its cause, the non-UTF-8 name is classified under an
escaped path, and the Parquet output reads back. Inputs outside the allowed roots are refused before any work."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from imgclf.models.prediction_schema import output_schema
from imgclf.batch.settings import ALLOWED_ROOTS_ENV
from utils.cli import CliResult, run_cli
from utils.digits_run import VGG_MODEL, TrainedRun
from utils.images import make_image_bytes
from utils.ray_head import venv_env
from utils.unprivileged import without_file_privileges

pytestmark = pytest.mark.slow
JOB_TIMEOUT_S = 420  # a blocked read (the FIFO) would otherwise hang the session
NON_UTF8_NAME = b"\xff\xfe.png"
NON_UTF8_SHOWN = "\\xff\\xfe.png"  # its row's path: the bytes escaped, so the Parquet string is valid UTF-8
LOCKED = "locked.png"  # mode 000
# Hostile entries that are listed → the start of their error row, and a phrase it must hold.
ERROR_ROWS = {
    "loop.jpg": ("ImageDecodeError: cannot read file: ", "Too many levels of symbolic links"),  # a link to itself
    "dangling.jpg": ("ImageDecodeError: cannot read file: ", "No such file or directory"),  # a link to nothing
    # a FIFO: opening it for reading would wait for a writer forever
    "pipe.png": ("ImageDecodeError: cannot read file: ", "not a regular file"),
    "escape.png": ("InputNotAllowedError: file ", "is outside the allowed roots"),  # a link out of the roots
    LOCKED: ("ImageDecodeError: cannot read file: ", "Permission denied"),
}


@pytest.fixture(scope="module")
def hostile_dir(trained_run: TrainedRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile-input")
    digits = sorted((trained_run.data_dir / "7").glob("*.png"))[:3]
    for source in digits:
        shutil.copy(source, root / source.name)
    (root / "sub").mkdir()
    shutil.copy(digits[0], root / "sub" / "deep.png")
    os.symlink("..", root / "sub" / "back")  # a folder loop: sub/back/sub/back/...
    os.symlink("loop.jpg", root / "loop.jpg")
    os.symlink("nowhere.jpg", root / "dangling.jpg")
    os.symlink(digits[0].name, root / "link.png")  # a symlink to a good file: classified like the file
    os.symlink(trained_run.data_dir / "7" / digits[1].name, root / "escape.png")  # a good file, outside the roots
    os.mkfifo(root / "pipe.png")
    (root / "x.jpg").mkdir()  # a folder named like an image: not a file, but walked into
    shutil.copy(digits[1], root / "x.jpg" / "inner.png")
    descriptor = os.open(os.path.join(os.fsencode(root), NON_UTF8_NAME), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(make_image_bytes("png", size=(32, 32)))
    (root / LOCKED).write_bytes(digits[2].read_bytes())
    os.chmod(root / LOCKED, 0)
    yield root
    os.chmod(root / LOCKED, stat.S_IRUSR | stat.S_IWUSR)


def run_bounded(argv: list[object], timeout_s: float) -> CliResult:
    """run_cli in a daemon thread: a job blocked on a read fails this test instead of hanging the session."""
    results: list[CliResult | BaseException] = []

    def target() -> None:
        try:
            results.append(run_cli(argv))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            results.append(exc)

    thread = threading.Thread(target=target, name="classify-hostile", daemon=True)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), f"`imgclf classify` did not finish in {timeout_s} s (blocked on a FIFO?)"
    if isinstance(results[0], BaseException):
        raise results[0]
    return results[0]


@pytest.fixture(scope="module")
def allowed_roots(trained_run: TrainedRun, hostile_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """$IMGCLF_ALLOWED_ROOTS for this module: the hostile folder, the output folder and the registry."""
    output_root = tmp_path_factory.mktemp("hostile-output")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ALLOWED_ROOTS_ENV, os.pathsep.join(map(str, (hostile_dir, output_root, trained_run.registry))))
        yield output_root


def run_without_file_privileges(argv: list[object], ray_tmp: str, timeout_s: float) -> CliResult:
    """`imgclf ARGV` in a process of its own, without root's power over files; its process group is killed when it
    has not finished in timeout_s (a job blocked on a read)."""
    command = without_file_privileges([sys.executable, "-m", "imgclf.cli", *map(str, argv)])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                               env={**venv_env(), "RAY_TMPDIR": ray_tmp}, start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stderr = process.communicate()[1]
        pytest.fail(f"`imgclf {argv[0]}` did not finish in {timeout_s} s (blocked on a FIFO?):\n{stderr[-3000:]}")
    return CliResult(process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def classified(trained_run: TrainedRun, hostile_dir: Path, allowed_roots: Path):
    output = allowed_roots / "parquet"
    ray_tmp = tempfile.mkdtemp(prefix="imgclf-ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    try:
        result = run_without_file_privileges(
            ["classify", hostile_dir, "--model", VGG_MODEL, "--output", output, "--registry", trained_run.registry,
             "--batch-size", "4", "--address", "local"], ray_tmp, JOB_TIMEOUT_S)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    return result, output


def test_the_job_finishes_with_one_row_per_listed_file(classified, hostile_dir: Path) -> None:
    result, output = classified
    assert result.exit_code == 0, result.stderr
    rows = pads.dataset(output, format="parquet").to_table().to_pylist()
    paths = [row["path"] for row in rows]
    assert len(paths) == len(set(paths)), "a file got more than one row"
    digits = [path.name for path in hostile_dir.glob("*.png") if path.name.startswith("digit")]
    listed = [*digits, "sub/deep.png", "x.jpg/inner.png", "link.png", NON_UTF8_SHOWN, *ERROR_ROWS]
    expected = {str(hostile_dir / name) for name in listed}
    assert len(digits) == 3
    assert set(paths) == expected
    assert not any("/back/" in path for path in paths), "the symlinked folder loop was followed"
    assert str(hostile_dir / "x.jpg") not in paths, "a folder named x.jpg was listed as a file"
    failed = len(ERROR_ROWS)
    assert f"classified {len(rows)} files: {len(rows) - failed} ok, {failed} failed" in result.stdout


def test_hostile_entries_get_error_rows_naming_the_cause(classified, hostile_dir: Path) -> None:
    rows = {row["path"]: row for row in pads.dataset(classified[1], format="parquet").to_table().to_pylist()}
    for name, (start, cause) in ERROR_ROWS.items():
        row = rows[str(hostile_dir / name)]
        assert row["error"].startswith(start) and cause in row["error"], row
        assert row["label"] is None and row["score"] is None and row["top_k"] is None
    for name in ("link.png", "sub/deep.png", "x.jpg/inner.png"):
        row = rows[str(hostile_dir / name)]
        assert row["error"] is None and row["label"] is not None, row
    linked, target = rows[str(hostile_dir / "link.png")], rows[str(hostile_dir / os.readlink(hostile_dir / "link.png"))]
    assert [entry["label"] for entry in linked["top_k"]] == [entry["label"] for entry in target["top_k"]]
    assert linked["score"] == pytest.approx(target["score"], abs=1e-5)


def test_a_non_utf8_name_is_classified_under_an_escaped_path(classified, hostile_dir: Path) -> None:
    """Parquet strings are UTF-8: the row's path shows the name's bytes as escapes; the file itself is read."""
    rows = {row["path"]: row for row in pads.dataset(classified[1], format="parquet").to_table().to_pylist()}
    row = rows[str(hostile_dir / NON_UTF8_SHOWN)]
    assert row["error"] is None and row["label"] is not None, row


def test_the_parquet_output_reads_back(classified) -> None:
    output = classified[1]
    files = sorted(output.glob("*.parquet"))
    assert files
    for file in files:
        table = pq.read_table(file)
        assert table.schema.remove_metadata() == output_schema(embeddings=False)
        for path in table.column("path").to_pylist():
            path.encode("utf-8")


@pytest.mark.parametrize("case", ["missing", "a file", "a fifo", "a dangling symlink"])
def test_classify_refuses_an_input_that_is_not_a_folder_with_one_line(case: str, trained_run: TrainedRun,
                                                                      tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOWED_ROOTS_ENV, raising=False)  # set by `allowed_roots` for the module's jobs
    where = tmp_path / "input"
    if case == "a file":
        where.write_bytes(make_image_bytes("png"))
    elif case == "a fifo":
        os.mkfifo(where)
    elif case == "a dangling symlink":
        os.symlink(tmp_path / "nowhere", where)
    result = run_bounded(["classify", where, "--model", VGG_MODEL, "--output", tmp_path / "out",
                          "--registry", trained_run.registry], 60)
    assert result.exit_code == 2
    assert result.stderr.startswith("imgclf: error: ") and "does not exist or is not a folder" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("what", ["input", "output"])
def test_classify_refuses_a_folder_outside_the_allowed_roots_with_one_line(what: str, trained_run: TrainedRun,
                                                                          hostile_dir: Path, allowed_roots: Path,
                                                                          tmp_path: Path) -> None:
    outside = {"input": trained_run.data_dir, "output": tmp_path / "out"}
    where = {"input": hostile_dir, "output": allowed_roots / "refused", **{what: outside[what]}}
    result = run_bounded(["classify", where["input"], "--model", VGG_MODEL, "--output", where["output"],
                          "--registry", trained_run.registry], 60)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"imgclf: error: {what} {outside[what]}"), result.stderr
    assert f"is outside the allowed roots {hostile_dir}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "out").exists() and not (allowed_roots / "refused").exists()
