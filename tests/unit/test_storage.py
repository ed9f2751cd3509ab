"""Local paths and URIs, and the one size-limited reader that decode_file and the batch job share."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec  # gradio's client needs it, so every install has it
import pyarrow.fs as pafs
import pytest

from imgclf.config import DecodeLimits
from imgclf.data.decode import decode_file
from imgclf.errors import ConfigError, ImageDecodeError, ImageTooLargeError
from imgclf.storage import Location, absolute, filesystem_of, is_uri, read_limited, scheme_prefix


def test_a_local_path_is_made_absolute_and_a_uri_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert absolute("models") == str(tmp_path / "models")
    assert absolute("s3://bucket/models?region=x") == "s3://bucket/models?region=x"
    assert (is_uri("file:///data"), is_uri("/data"), is_uri("data")) == (True, False, False)
    assert (scheme_prefix("gs://b/x"), scheme_prefix("/x")) == ("gs://", "")


def test_a_file_uri_and_a_path_name_the_same_local_folder(tmp_path: Path) -> None:
    by_uri, by_path = Location.parse(f"file://{tmp_path}/"), Location.parse(str(tmp_path))
    assert by_uri.base == by_path.base == str(tmp_path)
    assert by_uri.is_local and by_path.is_local and by_uri.is_folder()
    assert by_uri.shown(f"{tmp_path}/a.png") == f"file://{tmp_path}/a.png"
    assert filesystem_of(str(tmp_path))[1] == str(tmp_path)


def test_a_uri_that_cannot_be_opened_is_a_config_error_naming_it() -> None:
    with pytest.raises(ConfigError, match="^cannot open nosuchscheme://x: "):
        Location.parse("nosuchscheme://x")


def test_local_and_remote_reads_refuse_the_same_oversized_file_with_the_same_message(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"x" * 101)
    local = Location.parse(str(tmp_path))
    remote = Location(pafs.SubTreeFileSystem("/", pafs.LocalFileSystem()), str(tmp_path), "sub://")
    messages = set()
    for location in (local, remote):
        with pytest.raises(ImageTooLargeError) as refused:
            read_limited(location, str(tmp_path / "big.png"), "big.png", max_bytes=100)
        messages.add(str(refused.value))
    with pytest.raises(ImageTooLargeError) as by_decode:
        decode_file(tmp_path / "big.png", limits=DecodeLimits(max_bytes=100))
    assert messages == {"big.png: 101 bytes exceeds the limit of 100 bytes"}
    assert str(by_decode.value) == f"{tmp_path / 'big.png'}: 101 bytes exceeds the limit of 100 bytes"
    assert read_limited(local, str(tmp_path / "big.png"), "big.png", max_bytes=101) == b"x" * 101


class SizeNotListed(pafs.FSSpecHandler):
    """A filesystem that lists files without their sizes, as some object stores and gateways do."""

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        return [pafs.FileInfo(info.path, info.type) for info in super().get_file_info(paths)]


def test_a_remote_read_stops_at_the_limit_when_the_filesystem_does_not_say_the_size(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(b"x" * 101)
    remote = Location(pafs.PyFileSystem(SizeNotListed(fsspec.filesystem("file"))), str(tmp_path), "nosize://")
    assert remote.filesystem.get_file_info(str(tmp_path / "big.png")).size is None
    with pytest.raises(ImageTooLargeError, match="big.png: 101 bytes exceeds the limit of 100 bytes"):
        read_limited(remote, str(tmp_path / "big.png"), "big.png", max_bytes=100)
    assert read_limited(remote, str(tmp_path / "big.png"), "big.png", max_bytes=101) == b"x" * 101


def test_decode_file_refuses_a_fifo_instead_of_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.png")
    with pytest.raises(ImageDecodeError, match="not a regular file"):
        decode_file(tmp_path / "pipe.png")
