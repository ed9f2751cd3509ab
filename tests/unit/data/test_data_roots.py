"""scan_roots: several folder-per-class roots as one file list; a later root's files by absolute path; the union of
the classes, one class enough for a later root."""

from __future__ import annotations

from pathlib import Path

import pytest

from imgclf.data.roots import scan_roots
from imgclf.data.scan import LabelledFile, scan_folder
from imgclf.errors import DatasetError
from utils.images import write_image


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    first, later = tmp_path / "digits", tmp_path / "corrections"
    for name in ("0/a.png", "0/b.png", "1/c.png"):
        write_image(first / name)
    for name in ("1/d.png", "seven/e.png"):
        write_image(later / name)
    (later / "corrections.csv").write_text("file,label\n")
    return first, later


def test_the_first_roots_files_are_relative_and_a_later_roots_absolute(roots: tuple[Path, Path]) -> None:
    first, later = roots

    scanned = scan_roots([first, later])

    assert scanned.files == (
        LabelledFile("0/a.png", "0"), LabelledFile("0/b.png", "0"), LabelledFile("1/c.png", "1"),
        LabelledFile((later.resolve() / "1/d.png").as_posix(), "1"),
        LabelledFile((later.resolve() / "seven/e.png").as_posix(), "seven"),
    )
    assert scanned.sources == (0, 0, 0, 1, 1)
    assert all((first / item.path).is_file() for item in scanned.files)


def test_the_classes_are_the_union_and_those_only_later_roots_hold_are_named(roots: tuple[Path, Path]) -> None:
    first, later = roots

    scanned = scan_roots([first, later])

    assert scanned.classes == ("0", "1", "seven")
    assert scanned.added_classes == {"seven": [str(later)]}


def test_one_root_reads_as_scan_folder_does(roots: tuple[Path, Path]) -> None:
    first, _ = roots
    classes, files = scan_folder(first)

    scanned = scan_roots([first])

    assert (list(scanned.classes), list(scanned.files), scanned.added_classes) == (classes, files, {})


def test_a_later_root_may_hold_one_class_but_the_first_needs_two(roots: tuple[Path, Path], tmp_path: Path) -> None:
    write_image(tmp_path / "only" / "5" / "a.png")

    assert scan_roots([roots[0], tmp_path / "only"]).classes == ("0", "1", "5")
    with pytest.raises(DatasetError, match="only must hold at least 2 class folders"):
        scan_roots([tmp_path / "only", roots[0]])


def test_a_later_root_without_any_class_folder_is_refused(roots: tuple[Path, Path], tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()

    with pytest.raises(DatasetError, match=r"empty must hold at least 1 class folder \(one folder per class\); found"):
        scan_roots([roots[0], empty])
