"""Request parsers with limits: bounded JSON nesting, stable codes for malformed bodies.

Body size is bounded before any parser runs (rawproc.middleware.request_limits); these
bound what a body within that size may still do: a JSON document nested thousands of levels
deep would exhaust the interpreter's recursion, and a malformed body must answer a 400
with a code of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from itertools import accumulate
from typing import IO, Any

from django.conf import settings
from django.http.multipartparser import MultiPartParserError
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

# A JSON string, escapes included (the unrolled form: fast on long strings).
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKETS = re.compile(rb"[^\[\]{}]+")
_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in ``raw`` (brackets inside strings ignored)."""
    brackets = _BRACKETS.sub(b"", _STRING.sub(b"", raw))
    return max(accumulate(_STEP[byte] for byte in brackets), default=0)


def invalid_json(message: str) -> ParseError:
    return ParseError(f"JSON parse error - {message}", code="invalid_json")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than ``RAWPROC_JSON_MAX_DEPTH``."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        encoding = (parser_context or {}).get("encoding") or settings.DEFAULT_CHARSET
        raw = stream.read()
        limit: int = settings.RAWPROC_JSON_MAX_DEPTH
        if json_depth(raw) > limit:
            raise invalid_json(f"nested deeper than {limit} levels")
        try:
            return json.loads(
                raw.decode(encoding), parse_constant=strict_constant if self.strict else None
            )
        except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
            raise invalid_json(str(exc)) from exc


class MultiPartParser(parsers.MultiPartParser):
    """DRF's multipart parser, answering a malformed body with ``malformed_multipart``."""

    def parse(
        self,
        stream: IO[bytes],
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except ParseError as exc:
            if isinstance(exc.__cause__ or exc.__context__, MultiPartParserError):
                raise ParseError(str(exc.detail), code="malformed_multipart") from exc
            raise
