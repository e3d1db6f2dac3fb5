"""Messages for people: every error and warning the engine gives on bad input.

Every builder of bad input in ``tests/fixtures/badfiles.py`` (non-RAW images, flipped
headers, files cut at 10/50/90 %) applied to the real fixtures and to synthetic DNGs, plus
mutated files (``tests/fixtures/mutate.py``), goes through the engine. Whatever comes out,
its message is a sentence for people (``tests/fixtures/messages.py``), and the technical
words are in ``detail``.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from rawproc.imaging import BUILTIN, ImagingError, RenditionSpec, process_raw
from tests.fixtures.badfiles import cuts, flip, image_bytes
from tests.fixtures.dngmaker import make_bomb_dng, make_dng
from tests.fixtures.messages import not_human
from tests.fixtures.mutate import apply_all, exercise, random_mutations
from tests.samples import FIXTURES

pytestmark = pytest.mark.timeout(600)

SPECS = (BUILTIN["thumbnail"], RenditionSpec("full", None))
REAL = sorted((FIXTURES / "raw").iterdir())


def bad_inputs(tmp_path: Path) -> dict[str, bytes]:
    clean = make_dng(tmp_path / "clean.dng", width=240, height=160, preview="none")
    with_preview = make_dng(tmp_path / "preview.dng", width=240, height=160)
    files: dict[str, bytes] = {
        "empty.NEF": b"",
        "tiny.NEF": b"II*\x00\x08",
        "notes.ARW": b"my holiday notes\n" * 40,
        "random.CR2": random.Random(0).randbytes(5000),
        "bomb.dng": make_bomb_dng(tmp_path / "bomb.dng").read_bytes(),
    }
    for fmt in ("PNG", "JPEG", "GIF", "PDF"):
        files[f"image-{fmt}.NEF"] = image_bytes(fmt)
    for source in (clean, with_preview, *REAL):
        data = source.read_bytes()
        files[f"magic-{source.name}"] = flip(data, 0, 4, 1)
        files[f"header-{source.name}"] = flip(data, 8, 200)
        files.update(cuts(data, f"{source.stem}-cut", source.suffix))
    return files


def test_every_bad_file_gets_a_message_for_people(tmp_path: Path) -> None:
    outcomes: dict[str, str] = {}
    for name, data in bad_inputs(tmp_path).items():
        try:
            result = process_raw(io.BytesIO(data), SPECS, name=name)
        except ImagingError as exc:
            assert not_human(exc.message) is None, (name, exc.code)
            assert name in str(exc)  # logs still name the file
            outcomes[name] = exc.code
            continue
        for warning in result.warnings:
            assert not_human(warning.message) is None, (name, warning.code)
        outcomes[name] = "degraded" if result.degraded else "ready"
    # The matrix reaches every outcome, so each kind of message was checked.
    assert {"unsupported_format", "corrupt_file", "image_too_large", "degraded"} <= set(
        outcomes.values()
    ), outcomes


@pytest.mark.parametrize("seed", [path.name for path in REAL])
def test_mutated_files_get_messages_for_people(seed: str) -> None:
    """``exercise`` refuses a message or warning that is not for people."""
    data = (FIXTURES / "raw" / seed).read_bytes()
    rng = random.Random(seed)
    for _ in range(15):
        exercise(apply_all(data, random_mutations(rng, data)), seed)


def test_libraw_words_stay_in_the_detail() -> None:
    """LibRaw refuses the truncated NEF's sensor data with an "out of order call": the
    message says what it means for the user, the detail keeps LibRaw's words."""
    result = process_raw(FIXTURES / "raw" / "nikon_d7100_truncated.nef", SPECS)
    [warning] = result.warnings
    assert warning.message == "The file is incomplete: shown from the camera's 6000 px preview."
    assert "Out of order call of libraw function" in warning.detail
    assert "Unexpected end of file" in warning.detail
