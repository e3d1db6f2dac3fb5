"""Byte ranges (RFC 9110 section 14) for downloads from the embedded file storage.

One range per request: ``bytes=0-1023``, ``bytes=1024-`` (to the end) or ``bytes=-500``
(the last 500 bytes). A header that is not a byte range, or asks for several ranges, is
ignored and the whole file is sent, as the RFC allows; a range that starts past the end is
unsatisfiable (``416``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

_SINGLE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive, as in Content-Range

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class Unsatisfiable(Exception):
    """The range names no byte of the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range ``header`` asks for in a file of ``size`` bytes; ``None`` for the whole."""
    if not header:
        return None
    match = _SINGLE.match(header.strip().replace(" ", ""))
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # a suffix: the last N bytes
        suffix = int(last)
        if suffix == 0:
            raise Unsatisfiable(header)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None  # invalid: ignored, the whole file is sent
    if start >= size:
        raise Unsatisfiable(header)
    return ByteRange(start, end)


def iter_range(fh: IO[bytes], byte_range: ByteRange) -> Iterator[bytes]:
    """The bytes of ``byte_range`` from ``fh``, in chunks; closes ``fh`` at the end."""
    try:
        fh.seek(byte_range.start)
        remaining = byte_range.length
        while remaining > 0:
            chunk = fh.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        fh.close()
