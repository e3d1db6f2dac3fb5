"""Opening RAW files: content sniffing and one LibRaw handle per file.

The format is decided from the bytes, never from the file name, so a JPEG renamed
``.NEF`` is refused before LibRaw sees it, and a RAW with a wrong extension still opens.
"""

from __future__ import annotations

import io
import mmap
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

import rawpy

from .dng import DngHeader, DngHeaderError, parse_dng
from .dng_kinds import read_by_engine
from .errors import CorruptFile, UnsupportedFormat, describe_exception

Buffer = bytes | mmap.mmap
Source = str | os.PathLike[str] | BinaryIO | IO[bytes]

_SNIFF_BYTES = 4096

# TIFF-based RAWs are told apart by their Make tag; these are the brand-specific ones.
_TIFF_MAKES: tuple[tuple[bytes, str], ...] = (
    (b"NIKON", "NEF"),
    (b"SONY", "ARW"),
    (b"PENTAX", "PEF"),
    (b"RICOH", "PEF"),
    (b"SAMSUNG", "SRW"),
    (b"KODAK", "KDC"),
    (b"EASTMAN KODAK", "KDC"),
    (b"HASSELBLAD", "3FR"),
    (b"PHASE ONE", "IIQ"),
    (b"LEAF", "IIQ"),
    (b"CANON", "CR2"),
    (b"LEICA", "DNG"),
    (b"GOPRO", "GPR"),
)


def sniff_format(head: bytes) -> str | None:
    """Return the RAW family for the first bytes of a file, or ``None`` when it is not RAW."""
    if len(head) < 16:
        return None
    if head[4:12] == b"ftypcrx ":
        return "CR3"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "RAF"
    if head[6:14] == b"HEAPCCDR":
        return "CRW"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "ORF"
    if head[:4] == b"IIU\x00":
        return "RW2"
    if head[:4] == b"FOVb":
        return "X3F"
    if head[:4] == b"\x00MRM":
        return "MRW"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff_family(head)
    return None


def _tiff_family(head: bytes) -> str:
    if head[8:10] == b"CR":
        return "CR2"
    if head[8:12] == b"IIII":
        return "IIQ"
    if _has_tag(head, 0xC612):  # DNGVersion in IFD0: a DNG from any maker
        return "DNG"
    upper = head.upper()
    for make, family in _TIFF_MAKES:
        if make in upper:
            return family
    return "TIFF-RAW"


def _has_tag(head: bytes, tag: int) -> bool:
    """Look for ``tag`` in IFD0 of a TIFF header held in ``head``."""
    order: Literal["little", "big"] = "little" if head[:2] == b"II" else "big"
    offset = int.from_bytes(head[4:8], order)
    if offset + 2 > len(head):
        return False
    count = int.from_bytes(head[offset : offset + 2], order)
    for i in range(min(count, 512)):
        entry = offset + 2 + 12 * i
        if entry + 2 > len(head):
            return False
        if int.from_bytes(head[entry : entry + 2], order) == tag:
            return True
    return False


@dataclass
class RawFile:
    """An opened RAW file: its name for messages, detected family and LibRaw handle.

    ``libraw`` is ``None`` when the container is a RAW but LibRaw refuses it (a stub or a
    file cut off inside its header); metadata and embedded previews may still be read.
    ``libraw_error`` then says why, technically (for a ``detail`` field).
    ``dng`` is the parsed header of a DNG whose raw image the engine reads itself
    (``dng_kinds``); LibRaw does not open those (``libraw`` is ``None``).
    """

    name: str
    format: str
    size_bytes: int
    libraw: Any | None
    _path: Path | None = None
    _data: bytes | None = field(default=None, repr=False)
    libraw_error: str | None = None
    dng: DngHeader | None = None

    @property
    def content(self) -> Path | bytes:
        """Where the file's bytes are: its path on disk, or the bytes read from a stream."""
        if self._path is not None:
            return self._path
        assert self._data is not None
        return self._data

    def content_bytes(self) -> bytes:
        """The whole file's bytes."""
        if self._data is not None:
            return self._data
        assert self._path is not None
        return self._path.read_bytes()

    def stream(self) -> BinaryIO:
        """A fresh seekable stream over the whole file; the caller closes it."""
        if self._path is not None:
            return open(self._path, "rb")
        assert self._data is not None
        return io.BytesIO(self._data)

    @contextmanager
    def view(self) -> Iterator[Buffer]:
        """The whole file as a read-only buffer, memory-mapped when it lives on disk."""
        if self._data is not None:
            yield self._data
            return
        assert self._path is not None
        with open(self._path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            yield mm

    def close(self) -> None:
        if self.libraw is not None:
            self.libraw.close()
            self.libraw = None

    def __enter__(self) -> RawFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_raw(src: Source, *, name: str | None = None) -> RawFile:
    """Open ``src`` (a path or a binary file object) after checking that it is a RAW file.

    Raises ``UnsupportedFormat`` for anything that is not a RAW container and
    ``CorruptFile`` for a RAW container with neither decodable data nor readable headers.
    """
    path: Path | None = None
    data: bytes | None = None
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        label = name or path.name
        try:
            size = path.stat().st_size
            with open(path, "rb") as fh:
                head = fh.read(_SNIFF_BYTES)
        except OSError as exc:
            raise UnsupportedFormat(
                label, "The file cannot be read.", describe_exception(exc)
            ) from exc
    else:
        label = name or os.path.basename(str(getattr(src, "name", "") or "")) or "<stream>"
        data = src.read()
        size = len(data)
        head = data[:_SNIFF_BYTES]
    if size == 0:
        raise UnsupportedFormat(label, "The file is empty.")
    family = sniff_format(head)
    if family is None:
        raise UnsupportedFormat(
            label,
            f"This is not a camera RAW file ({describe_content(head)}).",
            f"first bytes: {head[:16].hex(' ')}",
        )
    dng = _engine_dng(path, data, label) if family == "DNG" else None
    if dng is not None:
        return RawFile(label, family, size, None, path, data, None, dng)
    libraw = None
    error = None
    try:
        if path is not None:
            libraw = rawpy.imread(str(path))
        else:
            assert data is not None
            libraw = rawpy.imread(io.BytesIO(data))
    except rawpy.LibRawUnsufficientMemoryError as exc:
        raise MemoryError(describe_exception(exc)) from exc
    except (rawpy.LibRawError, OSError, ValueError) as exc:
        error = describe_exception(exc)
    if libraw is None and size < 64:
        raise CorruptFile(label, f"The {family} file is cut off after {size} bytes.", error or "")
    return RawFile(label, family, size, libraw, path, data, error)


def _engine_dng(path: Path | None, data: bytes | None, label: str) -> DngHeader | None:
    """The header of a DNG the engine reads itself; ``None`` for one LibRaw reads, or
    whose structure does not parse (LibRaw then has its say)."""
    try:
        if data is not None:
            header = parse_dng(data, label)
        else:
            assert path is not None
            with (
                open(path, "rb") as fh,
                mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm,
            ):
                header = parse_dng(mm, label)
    except (DngHeaderError, OSError, ValueError):
        return None
    return header if read_by_engine(header) else None


def describe_content(head: bytes) -> str:
    """Name common non-RAW content so the error tells the user what they sent."""
    if head.startswith(b"\xff\xd8\xff"):
        return "it is a JPEG image"
    if head.startswith(b"\x89PNG"):
        return "it is a PNG image"
    if head.startswith(b"%PDF"):
        return "it is a PDF document"
    if head.startswith(b"GIF8"):
        return "it is a GIF image"
    if head[4:12] in (b"ftypheic", b"ftypmif1", b"ftypavif"):
        return "it is a HEIF/AVIF image"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return "unrecognised binary content"
    return "it is text"
