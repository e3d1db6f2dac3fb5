"""What loading the engine costs a process: the libraries only some renditions need are
imported when such a rendition is made, not with the engine (every worker pool process
and every ``rawproc process`` pays for what the engine imports at load)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from rawproc.imaging.encode import encode_tiff16
from tests.fixtures.dngmaker import make_dng

FIXTURES = Path(__file__).parent.parent / "fixtures" / "raw"

# tifffile: only a tiff16 rendition writes a TIFF (it adds about 37 MB to a process).
# simplejpeg: only an embedded preview that serves a rendition is decoded with it.
# flashraw: only the DNG kinds it serves are unpacked by it.
LOADED_ON_USE = ("tifffile", "simplejpeg", "flashraw")


def _modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return {name.split(".")[0] for name in json.loads(out.splitlines()[-1])}


def test_loading_the_engine_leaves_the_rendition_specific_libraries_unloaded() -> None:
    loaded = _modules_after("import rawproc.imaging.engine, rawproc.imaging")
    assert "rawproc" in loaded
    assert not loaded & set(LOADED_ON_USE)


def test_a_tiff16_rendition_loads_tifffile_when_it_is_made() -> None:
    loaded = _modules_after(
        "import numpy as np\n"
        "from rawproc.imaging.encode import encode_tiff16\n"
        "encode_tiff16(np.zeros((2, 2, 3), np.uint16))"
    )
    assert "tifffile" in loaded


def test_the_tiff16_encoder_still_writes_a_tiff() -> None:
    data = encode_tiff16(np.full((4, 6, 3), 1000, np.uint16))
    assert data[:4] in (b"II*\x00", b"MM\x00*")


def _process(path: str, *, force_sensor: bool) -> str:
    return (
        "from rawproc.imaging import EngineOptions, ImagingError, process_raw\n"
        "try:\n"
        f"    process_raw({path!r}, options=EngineOptions(force_sensor={force_sensor}))\n"
        "except ImagingError:\n"
        "    pass\n"
    )


def test_a_file_of_a_format_flashraw_never_serves_does_not_load_it() -> None:
    for name in ("nikon_d7100_truncated.nef", "canon_eos-1ds-mk3_truncated.cr2"):
        path = str(FIXTURES / name)
        for force_sensor in (False, True):
            assert "flashraw" not in _modules_after(_process(path, force_sensor=force_sensor))


def test_a_dng_flashraw_serves_loads_it(tmp_path: Path) -> None:
    path = tmp_path / "plain.dng"
    make_dng(path, width=256, height=192)
    assert "flashraw" in _modules_after(_process(str(path), force_sensor=True))
