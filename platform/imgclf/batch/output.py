"""The Parquet output folder of a batch job: check it before work starts, find rows already written, count rows."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyarrow.lib import ArrowException

from imgclf.storage import Location
from imgclf.errors import ConfigError

LOG = logging.getLogger("imgclf.batch")
PARQUET_SUFFIX = ".parquet"


@dataclass(frozen=True)
class RowCounts:
    files: int
    failed: int

    @property
    def ok(self) -> int:
        return self.files - self.failed


def parquet_files(location: Location) -> list[str]:
    """Filesystem paths of the Parquet files directly inside the output folder (none when it does not exist)."""
    infos = location.entries(recursive=False, what="output")
    return sorted(i.path for i in infos if i.type == pafs.FileType.File and i.base_name.endswith(PARQUET_SUFFIX))


def prepare_output(location: Location, *, resume: bool) -> None:
    """Create the folder and prove it is writable; refuse a folder that already holds output unless resuming."""
    shown = location.shown(location.base)
    existing = parquet_files(location)
    if existing and not resume:
        raise ConfigError(
            f"output {shown} already holds {len(existing)} Parquet files: pass --resume to continue that job, "
            "or choose an empty folder"
        )
    probe = f"{location.base}/.imgclf-write-probe-{uuid.uuid4().hex}"
    try:
        location.filesystem.create_dir(location.base, recursive=True)
        with location.filesystem.open_output_stream(probe) as stream:
            stream.write(b"ok")
        location.filesystem.delete_file(probe)
    except (ArrowException, OSError) as exc:
        raise ConfigError(f"cannot write to output {shown}: {exc}") from exc


def written_paths(location: Location) -> set[str]:
    """The `path` of every row already in the output; files cut off mid-write (unreadable) are deleted so their
    images are classified again."""
    done: set[str] = set()
    for path in parquet_files(location):
        try:
            column = pq.read_table(path, columns=["path"], filesystem=location.filesystem).column("path")
        except (ArrowException, OSError) as exc:
            LOG.warning("deleting unreadable output file %s (cut off by an interrupted job?): %s", path, exc)
            location.filesystem.delete_file(path)
            continue
        done.update(column.to_pylist())
    return done


def count_rows(location: Location, files: list[str]) -> RowCounts:
    """Rows and error rows in the given output files, read from the `error` column only."""
    total = failed = 0
    for path in files:
        errors = pq.read_table(path, columns=["error"], filesystem=location.filesystem).column("error")
        total += len(errors)
        failed += len(errors) - errors.null_count
    return RowCounts(total, failed)


def head(output: str, rows: int) -> str:
    """The first rows of an output folder as a text table (path, label, score, error)."""
    location = Location.parse(output)
    dataset = pads.dataset(location.base, filesystem=location.filesystem, format="parquet")
    table = dataset.head(rows, columns=["path", "label", "score", "error"]).to_pylist()
    lines = [f"{'path':<48}  {'label':<12}  {'score':>6}  error"]
    for row in table:
        score = f"{row['score']:.4f}" if row["score"] is not None else "-"
        lines.append(f"{row['path'][-48:]:<48}  {row['label'] or '-':<12}  {score:>6}  {row['error'] or ''}")
    return "\n".join(lines)
