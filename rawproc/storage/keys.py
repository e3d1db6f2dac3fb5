"""Object keys: where each kind of object lives, and which keys the app may touch.

``originals/<owner>/<asset>/<name>``  an asset's original, written only by the app
``renditions/<asset>/<spec>-<version>.<ext>``  rendered variants, one version per run
``incoming/<asset>/<random>``  the one key a direct-upload grant may write; the app moves
the object to the asset's original key when the upload is completed
"""

from __future__ import annotations

import re
import secrets
import unicodedata

from rawproc.storage.base import ObjectNotFound

ORIGINALS = "originals/"
RENDITIONS = "renditions/"
INCOMING = "incoming/"
PREFIXES = (ORIGINALS, RENDITIONS, INCOMING)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_filename(name: str, max_length: int = 100) -> str:
    """An ASCII file name safe in any object store key: no path, no control characters.

    The extension is kept, the stem is shortened, so ``../../x.NEF`` becomes ``x.NEF``.
    """
    base = re.split(r"[\\/]", name)[-1]
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    ext = _ascii_part(ext)[:10]
    stem = _ascii_part(stem)[: max_length - len(ext) - 1] or "upload"
    return f"{stem}.{ext}" if ext else stem


def _ascii_part(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return _UNSAFE.sub("_", text).strip("._")


def original_key(owner_id: object, asset_id: object, filename: str) -> str:
    return f"{ORIGINALS}{owner_id}/{asset_id}/{safe_filename(filename)}"


def rendition_key(asset_id: object, spec_name: str, extension: str, version: str) -> str:
    """Each processing run writes under its own version, so a live variant is never overwritten."""
    return f"{RENDITIONS}{asset_id}/{spec_name}-{version}.{extension}"


def incoming_key(asset_id: object) -> str:
    """A fresh key for one upload grant: unguessable, and named by that grant alone."""
    return f"{INCOMING}{asset_id}/{secrets.token_urlsafe(18)}"


def asset_prefixes(owner_id: object, asset_id: object) -> tuple[str, ...]:
    """Every prefix under which objects of one asset live."""
    return (
        f"{ORIGINALS}{owner_id}/{asset_id}/",
        f"{RENDITIONS}{asset_id}/",
        f"{INCOMING}{asset_id}/",
    )


def check_key(key: str) -> str:
    """``key`` when it lies under one of the app's prefixes, else ``ObjectNotFound``."""
    if not key.startswith(PREFIXES) or ".." in key.split("/") or "\x00" in key:
        raise ObjectNotFound(f"invalid object key {key!r}")
    return key
