"""The batch output folder: refusing to mix jobs, proving it writable, finding rows already written."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from imgclf.storage import Location
from imgclf.batch.output import count_rows, head, parquet_files, prepare_output, written_paths
from imgclf.errors import ConfigError


def write_rows(path: Path, paths: list[str], errors: list[str | None]) -> None:
    pq.write_table(pa.table({"path": paths, "error": pa.array(errors, pa.string())}), path)


def test_prepare_creates_the_folder_and_leaves_no_probe(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    prepare_output(Location.parse(str(out)), resume=False)
    assert out.is_dir() and list(out.iterdir()) == []


def test_folder_with_output_is_refused_unless_resuming(tmp_path: Path) -> None:
    write_rows(tmp_path / "part.parquet", ["x.png"], [None])
    with pytest.raises(ConfigError, match="already holds 1 Parquet files: pass --resume"):
        prepare_output(Location.parse(str(tmp_path)), resume=False)
    prepare_output(Location.parse(str(tmp_path)), resume=True)


def test_unwritable_output_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(ConfigError, match=f"cannot write to output {blocker / 'out'}"):
        prepare_output(Location.parse(str(blocker / "out")), resume=False)


def test_written_paths_reads_every_file_and_deletes_cut_off_ones(tmp_path: Path, caplog) -> None:
    write_rows(tmp_path / "one.parquet", ["a.png", "b.png"], [None, "CorruptImageError: x"])
    write_rows(tmp_path / "two.parquet", ["c.png"], [None])
    cut = tmp_path / "three.parquet"
    cut.write_bytes((tmp_path / "two.parquet").read_bytes()[:40])
    location = Location.parse(str(tmp_path))
    assert written_paths(location) == {"a.png", "b.png", "c.png"}
    assert not cut.exists()
    assert "deleting unreadable output file" in caplog.text


def test_count_rows_counts_error_rows(tmp_path: Path) -> None:
    write_rows(tmp_path / "one.parquet", ["a", "b", "c"], [None, "bad", None])
    write_rows(tmp_path / "two.parquet", ["d"], ["bad"])
    location = Location.parse(str(tmp_path))
    counts = count_rows(location, parquet_files(location))
    assert (counts.files, counts.failed, counts.ok) == (4, 2, 2)


def test_head_shows_labels_scores_and_errors(tmp_path: Path) -> None:
    table = pa.table({
        "path": ["/data/a.png", "/data/b.png"],
        "label": pa.array(["cat", None], pa.string()),
        "score": pa.array([0.91234, None], pa.float32()),
        "error": pa.array([None, "EmptyImageError: empty file (0 bytes)"], pa.string()),
    })
    pq.write_table(table, tmp_path / "part.parquet")
    lines = head(str(tmp_path), 5).splitlines()
    assert lines[0].split() == ["path", "label", "score", "error"]
    assert lines[1].split() == ["/data/a.png", "cat", "0.9123"]
    assert lines[2].split()[:3] == ["/data/b.png", "-", "-"] and lines[2].endswith("EmptyImageError: empty file (0 bytes)")
