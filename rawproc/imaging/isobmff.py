"""Just enough ISO base media file format (ISO BMFF) walking to find CR3 metadata.

Canon CR3 files are ISO BMFF containers. Their metadata is not in a TIFF header at the
start of the file, as in CR2, but in a Canon ``uuid`` box inside ``moov`` that holds one
small TIFF stream per IFD: ``CMT1`` (IFD0: Make, Model...), ``CMT2`` (the EXIF IFD),
``CMT3`` (Canon maker notes) and ``CMT4`` (GPS). Only box headers are read, so finding
them costs a handful of small reads however large the file is.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")
CMT_BOXES = ("CMT1", "CMT2", "CMT3", "CMT4")

# A hostile file could hold millions of empty boxes; real CR3 levels hold a dozen.
_MAX_BOXES_PER_LEVEL = 4096


@dataclass(frozen=True)
class Box:
    """One box: its four-character type and where its payload starts and ends."""

    kind: str
    start: int
    end: int


def iter_boxes(fh: BinaryIO, start: int, end: int) -> Iterator[Box]:
    """Yield the boxes laid end to end between ``start`` and ``end``.

    A box that claims to run past ``end`` (a truncated file) is cut at ``end``; a box
    header that makes no sense ends the walk.
    """
    pos = start
    for _ in range(_MAX_BOXES_PER_LEVEL):
        if pos + 8 > end:
            return
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        payload = pos + 8
        if size == 1:
            large = fh.read(8)
            if len(large) < 8:
                return
            (size,) = struct.unpack(">Q", large)
            payload = pos + 16
        elif size == 0:
            size = end - pos
        if pos + size < payload:
            return
        box_end = min(pos + size, end)
        yield Box(kind.decode("latin-1"), payload, box_end)
        pos = box_end


def find_cr3_metadata(fh: BinaryIO) -> dict[str, tuple[int, int]]:
    """Map each ``CMTn`` box of a CR3 file to the (start, end) of its TIFF stream.

    Returns an empty dict when the file has no ``moov`` box or no Canon metadata box.
    """
    end = fh.seek(0, os.SEEK_END)
    for box in iter_boxes(fh, 0, end):
        if box.kind != "moov":
            continue
        for child in iter_boxes(fh, box.start, box.end):
            if child.kind != "uuid":
                continue
            fh.seek(child.start)
            if fh.read(16) != CANON_UUID:
                continue
            return {
                cmt.kind: (cmt.start, cmt.end)
                for cmt in iter_boxes(fh, child.start + 16, child.end)
                if cmt.kind in CMT_BOXES
            }
    return {}
