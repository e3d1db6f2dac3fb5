import io
import os
from pathlib import Path

import pytest

from rawproc.imaging.errors import CorruptFile, UnsupportedFormat
from rawproc.imaging.rawfile import open_raw, sniff_format
from tests.samples import FIXTURES


def _tiff(make: bytes, order: bytes = b"II") -> bytes:
    return (
        order + (b"*\x00" if order == b"II" else b"\x00*") + b"\x08\x00\x00\x00" + make + bytes(64)
    )


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (b"\x00\x00\x00\x18ftypcrx " + bytes(32), "CR3"),
        (b"FUJIFILMCCD-RAW 0201" + bytes(32), "RAF"),
        (b"II\x1a\x00\x00\x00HEAPCCDR" + bytes(32), "CRW"),
        (b"IIRO\x08\x00\x00\x00" + bytes(32), "ORF"),
        (b"IIU\x00\x08\x00\x00\x00" + bytes(32), "RW2"),
        (b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(32), "CR2"),
        (_tiff(b"NIKON CORPORATION"), "NEF"),
        (_tiff(b"SONY", b"MM"), "ARW"),
        (_tiff(b"PENTAX"), "PEF"),
    ],
)
def test_sniff_format_by_content(head: bytes, family: str) -> None:
    assert sniff_format(head) == family


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(32),
        b"\x89PNG\r\n\x1a\n" + bytes(32),
        b"%PDF-1.7\n" + bytes(32),
        b"hello, this is a text file and not a photo\n",
    ],
)
def test_sniff_format_rejects_non_raw(head: bytes) -> None:
    assert sniff_format(head) is None


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", "empty"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(100), "JPEG"),
        (b"just some notes, not a RAW file\n" * 4, "text"),
        (os.urandom(4096), "not a camera RAW"),
    ],
)
def test_open_raw_refuses_non_raw_with_named_file(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "DSC_0001.NEF"
    path.write_bytes(content)
    with pytest.raises(UnsupportedFormat) as info:
        open_raw(path)
    assert "DSC_0001.NEF" in str(info.value)
    assert words in str(info.value)
    assert info.value.code == "unsupported_format"


def test_open_raw_refuses_a_few_bytes_of_tiff() -> None:
    with pytest.raises(CorruptFile) as info:
        open_raw(io.BytesIO(b"II*\x00\x08\x00\x00\x00NIKON\x00\x00\x00"), name="cut.nef")
    assert "cut.nef" in str(info.value)


def test_open_raw_from_file_object_matches_path() -> None:
    path = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
    with open(path, "rb") as fh, open_raw(fh) as from_stream, open_raw(path) as from_path:
        assert from_stream.format == from_path.format == "NEF"
        assert from_stream.name == from_path.name == path.name
        assert from_stream.size_bytes == from_path.size_bytes == path.stat().st_size
        with from_stream.view() as a, from_path.view() as b:
            assert bytes(a[:1000]) == bytes(b[:1000])
