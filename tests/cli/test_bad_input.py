"""``rawproc process`` on bad input beyond tests/cli/test_process.py (empty, JPEG, noise, a
cut synthetic DNG, a crashing worker, ``--max-pixels``): more non-RAW content, real and
synthetic RAWs cut at 10/50/90 %, garbled headers, a pixel bomb, hostile file names.

Every file gets exactly one record, failures have a stable code and a message for people,
degraded files a warning saying why, good
files next to them are processed, and nothing is written outside the output folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_process import assert_clean_failure, dng, rawproc, records
from tests.fixtures.badfiles import cuts, flip, image_bytes
from tests.fixtures.dngmaker import make_bomb_dng
from tests.samples import FIXTURES, sample

NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"


HOSTILE_NAMES = [
    "写真_東京タワー.dng",
    "Фотография ночью.dng",
    "bell\x07esc\x1b[31m.dng",
    "x" * 250 + ".dng",  # near the 255-byte limit of file names on Linux
    "...dng",  # its stem ".." must not name a folder outside the output folder
]


def test_bad_input_each_file_fails_alone(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    clean = dng(tmp_path / "src" / "clean.dng", preview="none").read_bytes()
    files: dict[str, bytes] = {
        "tiny.NEF": b"II*\x00\x08",
        "shot.NEF": image_bytes("PNG"),
        "doc.DNG": b"%PDF-1.7\n" + b"1 0 obj << >> endobj\n" * 50,
        "notes.ARW": b"my holiday notes\n" * 40,
        "magic.dng": flip(clean, 0, 4, 1),
        "header.dng": flip(clean, 8, 200),
        **cuts(clean, "cut", ".dng"),
        **cuts(NEF.read_bytes(), "cut", ".NEF"),
    }
    for name, data in files.items():
        (inputs / name).parent.mkdir(parents=True, exist_ok=True)
        (inputs / name).write_bytes(data)
    make_bomb_dng(inputs / "bomb.dng")
    for seed, name in enumerate(["good.dng", *HOSTILE_NAMES]):
        dng(inputs / name, seed=seed)
    work = tmp_path / "work"
    work.mkdir()

    # Inputs named through "../": outputs still land in ./out.
    proc = rawproc(*(f"../in/{p.name}" for p in sorted(inputs.iterdir())), "--json", cwd=work)

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    found = records(proc)
    assert len(proc.stdout.splitlines()) == len(found) == len(files) + 2 + len(HOSTILE_NAMES)
    for name, words in (
        ("tiny.NEF", "not a camera RAW"),
        ("shot.NEF", "PNG"),
        ("doc.DNG", "PDF"),
        ("notes.ARW", "text"),
        ("magic.dng", "not a camera RAW"),
    ):
        assert_clean_failure(found[name], "unsupported_format", name)
        assert words in found[name]["error"]["message"]
    for name in ("header.dng", "cut10.dng", "cut50.dng", "cut90.dng"):
        assert_clean_failure(found[name], "corrupt_file", name)
    assert_clean_failure(found["bomb.dng"], "image_too_large", "bomb.dng")
    for name in ("cut10.NEF", "cut50.NEF", "cut90.NEF"):
        assert (found[name]["status"], found[name]["degraded"]) == ("ok", True), name
        assert found[name]["metadata"]["camera_model"] == "NIKON D7100"
        assert [w["code"] for w in found[name]["warnings"]] == ["sensor_data_cut_off"], name
    out = work / "out"
    for name in ["good.dng", *HOSTILE_NAMES, "cut10.NEF"]:
        record = found[name]
        assert record["status"] == "ok", record["error"]
        folder = (work / record["output_dir"]).resolve()
        assert folder.parent == out.resolve(), record["output_dir"]
        assert (folder / "preview.jpg").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["out"]  # nothing beside ./out
    assert {p.name for p in inputs.iterdir()} == {*files, "bomb.dng", "good.dng", *HOSTILE_NAMES}


@pytest.mark.samples
def test_bad_input_real_raws_cut_short(tmp_path: Path) -> None:
    """Real camera files cut at 10/50/90 %: metadata and renditions from the preview."""
    for relpath in ("real-full/canon_eos-30d.cr2", "real-full/sony_ilce-7rm3_apsc-crop.arw"):
        source = sample(relpath)
        for name, data in cuts(source.read_bytes(), source.stem, source.suffix).items():
            (tmp_path / name).write_bytes(data)

    proc = rawproc(".", "--json", "-j", "2", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    found = records(proc)
    assert len(found) == 6
    for name, record in found.items():
        assert (record["status"], record["degraded"]) == ("ok", True), name
        assert record["metadata"]["camera_make"], name
        [warning] = record["warnings"]
        assert warning["code"] in ("sensor_data_cut_off", "sensor_data_unreadable"), name
        assert {r["source"] for r in record["renditions"].values()} == {"embedded_preview"}
