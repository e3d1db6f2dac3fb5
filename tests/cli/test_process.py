"""``rawproc process`` run as a user runs it: a real subprocess, real files, real outputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from rawproc.cli.process import assign_output_names, parse_renditions
from tests.fixtures.dngmaker import make_dng
from tests.fixtures.messages import not_human
from tests.fixtures.strip import strip_pixels
from tests.samples import FIXTURES

RECORD_FIELDS = {
    "file",
    "status",
    "error",
    "output_dir",
    "degraded",
    "decoder",
    "warnings",
    "renditions",
    "metadata",
    "timings_ms",
}
RENDITION_FIELDS = {"path", "width", "height", "bytes", "format", "source"}
SOURCES = {"embedded_preview", "half_size", "full_demosaic"}
TRUNCATED_NEF = FIXTURES / "raw" / "nikon_d7100_truncated.nef"


def dng(path: Path, **options: Any) -> Path:
    """A synthetic DNG at ``path``, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return make_dng(path, **options)


def rawproc(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rawproc.cli", "process", *map(str, args)],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def records(proc: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    """The JSON lines by input file name; every line must be a complete record."""
    by_name: dict[str, dict[str, Any]] = {}
    for line in proc.stdout.splitlines():
        record = json.loads(line)
        assert set(record) == RECORD_FIELDS
        assert record["status"] in ("ok", "failed")
        by_name[Path(record["file"]).name] = record
    return by_name


def records_list(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.stdout.splitlines()]


def assert_clean_failure(record: dict[str, Any], code: str, name: str) -> None:
    assert record["status"] == "failed"
    assert Path(record["file"]).name == name
    assert set(record["error"]) == {"code", "message", "detail"}
    assert record["error"]["code"] == code
    assert not_human(record["error"]["message"]) is None
    assert record["warnings"] == []
    assert record["renditions"] == {}
    # A RAW container the engine refuses still says what it is; a file that is no RAW, or
    # a worker that died, has nothing to say.
    assert (record["metadata"] is not None) == (code in ("corrupt_file", "image_too_large"))


def assert_rendition(info: dict[str, Any], cwd: Path, long_edge: int, fmt: str = "jpeg") -> None:
    """The file on disk is what the record says it is (paths are relative to ``cwd``)."""
    assert set(info) == RENDITION_FIELDS
    path = cwd / info["path"]
    assert path.stat().st_size == info["bytes"] > 0
    with Image.open(path) as image:
        assert image.size == (info["width"], info["height"])
        assert image.format == {"jpeg": "JPEG", "webp": "WEBP", "avif": "AVIF"}[fmt]
    assert max(info["width"], info["height"]) == long_edge
    assert info["format"] == fmt
    assert info["source"] in SOURCES


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """A folder as a photographer has it: RAWs in subfolders, sidecars and exported JPEGs."""
    folder = tmp_path / "in"
    dng(folder / "landscape.dng", width=600, height=400)
    dng(folder / "day2" / "portrait.dng", width=600, height=400, orientation=6)
    dng(folder / "day2" / "no_extension", width=480, height=320, preview="none")
    shutil.copy(TRUNCATED_NEF, folder / "day2" / "DSC_0001.NEF")
    (folder / "landscape.xmp").write_text("<x:xmpmeta/>")
    Image.new("RGB", (64, 48)).save(folder / "export.jpg")
    Image.new("RGB", (64, 48)).save(folder / "day2" / "renamed_jpeg.raw", "JPEG")
    return folder


def test_renders_every_raw_in_folders_in_parallel(inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = rawproc(inputs, "-o", out, "-j", "2", "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    found = records(proc)
    # Picked by content: the extensionless DNG is in, sidecars and JPEGs are not.
    assert set(found) == {"landscape.dng", "portrait.dng", "no_extension", "DSC_0001.NEF"}
    for name, record in found.items():
        assert record["status"] == "ok" and record["error"] is None
        stem = Path(name).stem
        assert record["output_dir"] == str(out / stem)
        assert set(record["renditions"]) == {"thumbnail", "preview"}
        assert record["timings_ms"]["total"] > 0
        metadata = json.loads((out / stem / "metadata.json").read_text())
        assert metadata == record["metadata"]
        assert sorted(p.name for p in (out / stem).iterdir()) == [
            "metadata.json",
            "preview.jpg",
            "thumbnail.jpg",
        ]
        native = max(metadata["width"], metadata["height"])
        assert_rendition(record["renditions"]["thumbnail"], tmp_path, min(320, native))
        assert_rendition(record["renditions"]["preview"], tmp_path, min(2048, native))

    portrait = found["portrait.dng"]["renditions"]["preview"]
    assert (portrait["width"], portrait["height"]) == (400, 600)
    nef = found["DSC_0001.NEF"]
    assert nef["metadata"]["camera_model"] == "NIKON D7100"
    assert nef["renditions"]["preview"]["source"] == "embedded_preview"
    assert nef["renditions"]["preview"]["width"] == 2048
    assert "4 files: 4 ok, 0 failed" in proc.stderr


def test_bad_files_are_reported_and_the_others_processed(tmp_path: Path) -> None:
    good = dng(tmp_path / "good.dng")
    (tmp_path / "empty.NEF").write_bytes(b"")
    jpeg = tmp_path / "photo.NEF"
    Image.new("RGB", (64, 48)).save(jpeg, "JPEG")
    (tmp_path / "noise.CR2").write_bytes(os.urandom(20_000))
    # A DNG cut off inside its image data: header intact, nothing decodable.
    truncated = tmp_path / "truncated.dng"
    truncated.write_bytes(dng(tmp_path / "full.dng", preview="none").read_bytes()[:4096])

    proc = rawproc(
        "empty.NEF", "photo.NEF", "noise.CR2", "truncated.dng", good, "--json", cwd=tmp_path
    )

    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    found = records(proc)
    assert found["good.dng"]["status"] == "ok"
    assert_clean_failure(found["empty.NEF"], "unsupported_format", "empty.NEF")
    assert_clean_failure(found["photo.NEF"], "unsupported_format", "photo.NEF")
    assert "JPEG" in found["photo.NEF"]["error"]["message"]
    assert_clean_failure(found["noise.CR2"], "unsupported_format", "noise.CR2")
    assert_clean_failure(found["truncated.dng"], "corrupt_file", "truncated.dng")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good"]
    for name in ("empty.NEF", "photo.NEF", "noise.CR2", "truncated.dng"):
        assert f"failed: {name}" in proc.stderr
    assert "5 files: 1 ok, 4 failed" in proc.stderr


def test_same_name_in_two_folders_does_not_overwrite(tmp_path: Path) -> None:
    dng(tmp_path / "a" / "IMG_1.dng", width=600, height=400)
    dng(tmp_path / "b" / "IMG_1.dng", width=400, height=600)

    proc = rawproc("a", "b", "-j", "1", "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    dirs = {r["file"]: r["output_dir"] for r in records_list(proc)}
    assert dirs == {
        str(Path("a") / "IMG_1.dng"): str(Path("out") / "IMG_1"),
        str(Path("b") / "IMG_1.dng"): str(Path("out") / "IMG_1-2"),
    }
    with Image.open(tmp_path / "out" / "IMG_1-2" / "preview.jpg") as image:
        assert image.size == (400, 600)


def test_output_names_are_unique_ignoring_case() -> None:
    paths = [Path("x/IMG.NEF"), Path("y/img.cr2"), Path("IMG-2.dng"), Path("z/IMG.dng")]
    assert assign_output_names(paths) == ["IMG", "img-2", "IMG-2-2", "IMG-3"]


def test_rendition_specs_and_format(tmp_path: Path) -> None:
    dng(tmp_path / "shot.dng", width=600, height=400)

    proc = rawproc(
        "shot.dng",
        "--renditions",
        "thumbnail,small:100:webp:70,full",
        "--format",
        "avif",
        "--quality",
        "50",
        "--json",
        cwd=tmp_path,
    )

    assert proc.returncode == 0, proc.stderr
    renditions = records(proc)["shot.dng"]["renditions"]
    assert_rendition(renditions["thumbnail"], tmp_path, 320, "avif")
    assert_rendition(renditions["small"], tmp_path, 100, "webp")
    assert_rendition(renditions["full"], tmp_path, 600, "avif")
    assert renditions["full"]["source"] == "full_demosaic"
    assert renditions["small"]["path"] == str(Path("out") / "shot" / "small.webp")


def test_parse_renditions_applies_format_and_quality_to_builtins_only() -> None:
    specs = parse_renditions("preview, web:800:jpeg:90", "webp", 60)
    assert [(s.name, s.size, s.format, s.quality) for s in specs] == [
        ("preview", 2048, "webp", 60),
        ("web", 800, "jpeg", 90),
    ]


def test_engine_options_reach_the_engine(tmp_path: Path) -> None:
    dng(tmp_path / "shot.dng", width=600, height=400, gps=(48.8584, 2.2945, 35.0))

    default = records(rawproc("shot.dng", "--json", "-o", "a", cwd=tmp_path))["shot.dng"]
    forced = rawproc("shot.dng", "--json", "-o", "b", "--force-sensor", "--copy-exif", cwd=tmp_path)
    too_big = rawproc("shot.dng", "--json", "-o", "c", "--max-pixels", "1000", cwd=tmp_path)
    gps = rawproc("shot.dng", "--json", "-o", "d", "--copy-exif", "--keep-gps", cwd=tmp_path)

    assert default["renditions"]["thumbnail"]["source"] == "embedded_preview"
    forced_record = records(forced)["shot.dng"]
    assert forced_record["renditions"]["thumbnail"]["source"] != "embedded_preview"
    with Image.open(tmp_path / forced_record["renditions"]["thumbnail"]["path"]) as image:
        exif = image.getexif()
        assert exif.get(0x010F) == "NIKON CORPORATION"  # Make
        assert 0x8825 not in exif  # GPS dropped unless asked for
    gps_thumbnail = records(gps)["shot.dng"]["renditions"]["thumbnail"]["path"]
    with Image.open(tmp_path / gps_thumbnail) as image:
        assert 0x8825 in image.getexif()
    assert too_big.returncode == 1
    assert_clean_failure(records(too_big)["shot.dng"], "image_too_large", "shot.dng")


def test_without_json_stdout_stays_empty(tmp_path: Path) -> None:
    dng(tmp_path / "shot.dng")

    proc = rawproc("shot.dng", "-o", "result", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "1 files: 1 ok, 0 failed" in proc.stderr
    assert (tmp_path / "result" / "shot" / "thumbnail.jpg").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["shot.dng", "--renditions", "preview:big"], "size must be a whole number"),
        (["shot.dng", "--renditions", "huge"], "unknown rendition 'huge'"),
        (["shot.dng", "--renditions", "1080.gif"], "unknown format 'gif'"),
        (["shot.dng", "--renditions", "8.webp"], "16..65535"),
        (["shot.dng", "--renditions", "preview,preview:100"], "listed twice"),
        (["shot.dng", "--format", "gif"], "invalid choice"),
        (["shot.dng", "-j", "0"], "must be between 1"),
        (["shot.dng", "missing.NEF"], "no such file or folder: missing.NEF"),
        (["only_sidecars"], "no RAW files found"),
    ],
)
def test_usage_errors_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "only_sidecars").mkdir()
    (tmp_path / "only_sidecars" / "a.xmp").write_text("<x/>")
    dng(tmp_path / "shot.dng")

    proc = rawproc(*args, cwd=tmp_path)

    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_a_crashing_worker_fails_only_its_file(tmp_path: Path) -> None:
    """A native crash (simulated with abort()) in one file: the pool recovers, others succeed."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    # sitecustomize runs in every interpreter started with this PYTHONPATH, workers included.
    (hooks / "sitecustomize.py").write_text(
        textwrap.dedent(
            """
            import os
            import rawproc.imaging

            _process_raw = rawproc.imaging.process_raw

            def process_raw(src, *args, **kwargs):
                if "crashme" in os.fspath(src):
                    os.abort()
                return _process_raw(src, *args, **kwargs)

            rawproc.imaging.process_raw = process_raw
            """
        )
    )
    for name in ("a.dng", "crashme.dng", "b.dng", "c.dng"):
        dng(tmp_path / "in" / name)
    pythonpath = os.pathsep.join(filter(None, [str(hooks), os.environ.get("PYTHONPATH")]))

    proc = rawproc("in", "-j", "2", "--json", cwd=tmp_path, env={"PYTHONPATH": pythonpath})

    assert proc.returncode == 1
    found = records(proc)
    assert len(proc.stdout.splitlines()) == 4  # exactly one record per file
    assert_clean_failure(found["crashme.dng"], "worker_crashed", "crashme.dng")
    for name in ("a.dng", "b.dng", "c.dng"):
        assert found[name]["status"] == "ok"
        assert (tmp_path / found[name]["renditions"]["preview"]["path"]).is_file()


def test_degraded_files_say_why_and_libraw_stays_quiet(tmp_path: Path) -> None:
    """Truncated real files make LibRaw print its own lines ("Unexpected end of file") on the
    process's standard error; they are captured and logged, never shown. Each degraded file
    carries a warning with a code and a message, in JSON and in the human summary."""
    pentax = FIXTURES / "raw" / "pentax_k-3-ii_truncated.pef"
    proc = rawproc(TRUNCATED_NEF, pentax, "--renditions", "thumbnail,full", "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    for word in ("Unexpected end of file", "data corrupted", "LibRaw", "libraw"):
        assert word not in proc.stderr
    found = records(proc)
    lines = proc.stderr.splitlines()
    for name in (TRUNCATED_NEF.name, pentax.name):
        record = found[name]
        assert record["degraded"], name
        [warning] = record["warnings"]
        assert set(warning) == {"code", "message", "detail"}
        assert warning["code"] == "sensor_data_cut_off"
        assert not_human(warning["message"]) is None
        assert "preview" in warning["message"]
        assert "Unexpected end of file" in warning["detail"]  # quoted, for support
        assert f"warning: {name}: {warning['message']}" in lines
    assert lines[-1].startswith("2 files: 2 ok (2 from the camera's preview), 0 failed")
    assert all(line.startswith(("warning: ", "2 files: ")) for line in lines), lines


def test_failed_file_prints_its_metadata(tmp_path: Path) -> None:
    """A file that cannot be rendered (pixels and previews stripped) is still described."""
    source = FIXTURES / "raw" / "nikon_d7100_truncated.nef"
    (tmp_path / "stripped.nef").write_bytes(strip_pixels(source.read_bytes(), previews=True))
    proc = rawproc("stripped.nef", "--json", cwd=tmp_path)
    assert proc.returncode == 1
    record = records(proc)["stripped.nef"]
    assert record["status"] == "failed"
    assert record["error"]["code"] == "corrupt_file"
    metadata = record["metadata"]
    assert (metadata["camera_model"], metadata["iso"], metadata["exposure_time_display"]) == (
        "NIKON D7100",
        100,
        "1/30",
    )
    assert metadata["taken_at"] == "2013-09-03T09:45:16.40+05:30"


def test_parse_renditions_takes_the_spec_strings_of_the_api() -> None:
    specs = parse_renditions("1080.webp, full.avif, web=200.jpeg.90, thumbnail, 640", "webp", None)
    assert [(s.name, s.key) for s in specs] == [
        ("1080-webp-82", "1080.webp.82"),
        ("full-avif-60", "full.avif.60"),
        ("web", "200.jpeg.90"),
        ("thumbnail", "320.webp.82"),
        ("640-jpeg-85", "640.jpeg.85"),
    ]


def test_spec_strings_render_their_size_and_format(tmp_path: Path) -> None:
    dng(tmp_path / "shot.dng", width=600, height=400)

    proc = rawproc("shot.dng", "--renditions", "200.webp,big=full.avif.40", "--json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stderr
    renditions = records(proc)["shot.dng"]["renditions"]
    assert_rendition(renditions["200-webp-82"], tmp_path, 200, "webp")
    assert_rendition(renditions["big"], tmp_path, 600, "avif")
    assert renditions["big"]["path"] == str(Path("out") / "shot" / "big.avif")
