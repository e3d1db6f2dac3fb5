"""The engine's entry points: one RAW file in, metadata and renditions out.

Per file: open once, read metadata, then pick for every rendition the cheapest source
that is still correct (the embedded preview when it is large enough, else a half-size
sensor render, else the full demosaic), decode each chosen source once, and derive all
renditions from it, largest first.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
import rawpy
from PIL import Image, ImageCms, JpegImagePlugin  # noqa: F401  # the encoder, loaded once

from . import decoders, libraw_stderr, plausibility
from .develop import (
    SRGB_GAMMA,
    Developed,
    Outputs,
    develop_mosaic,
    develop_outputs,
    developable,
)
from .dng_develop import develop_dng
from .encode import encode, encode_tiff16
from .errors import (
    SENSOR_DATA_CUT_OFF,
    SENSOR_DATA_GARBAGE,
    SENSOR_DATA_MISSING,
    SENSOR_DATA_UNREADABLE,
    CorruptFile,
    EngineWarning,
    ImageTooLarge,
    ImagingError,
    SensorDataUnusable,
    describe_exception,
    dng_opcodes_skipped,
    preview_aspect_mismatch,
)
from .exif import build_exif
from .metadata import extract_metadata, read_tags
from .orientation import (
    Picture,
    Pixels,
    apply_orientation_pixels,
    as_image,
    displayed_size,
    exif_from_libraw_flip,
    preview_needs_rotation,
)
from .preview import EmbeddedPreview, decode_preview_pixels, decode_preview_small, find_preview
from .rawfile import RawFile, Source, open_raw
from .specs import DEFAULT_SPECS, RenditionSpec
from .wide import LIBRAW_GAMMA, fit_wide, srgb8_from_wide

SOURCE_PREVIEW = "embedded_preview"
SOURCE_HALF = "half_size"
SOURCE_FULL = "full_demosaic"

# A preview whose aspect differs more than this from the sensor's is cropped or
# letterboxed and would not show the same picture.
_ASPECT_TOLERANCE = 0.02
# What Pillow raises on a damaged JPEG (truncated, bad markers, broken ICC profile).
_PILLOW_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    Image.DecompressionBombError,
    ImageCms.PyCMSError,
)
# A rendition's bytes and its pixel size.
_Encoded = tuple[bytes, int, int]
_P = TypeVar("_P")
# Pillow box-reduces a source to within this factor of the target before resampling.
_REDUCING_GAP = 2.0
# Resamplers by downscale ratio (benchmarks/resize.py): up to 1.25x OpenCV's bicubic
# interpolation is as close to Lanczos as Pillow's bicubic filter at a tenth of the time;
# up to 4x OpenCV's pixel-area average; beyond, Pillow's box reduction then bicubic.
_CUBIC_MAX_RATIO = 1.25
_AREA_MAX_RATIO = 4.0
# Output rows resized together when a large image is scaled by less than 4x.
_RESIZE_BAND_ROWS = 128
# Rows at the end of the sensor data examined for signs of a truncated file.
_CUT_OFF_ROWS = 4
# Sensor data sampled every this many rows and columns when looking for missing data.
_MISSING_STEP = 8
# Sensor data reading 0 in more than this share of its pixels (above a black level) is absent.
_MISSING_SHARE = 0.5
# What LibRaw prints when the data ends before the image does.
_LIBRAW_EOF = "Unexpected end of file"
# Long edge the embedded preview is decoded at to judge a sensor render by.
_REFERENCE_EDGE = 64
# Long edge of the sRGB copy of a 16-bit render the garbage check looks at when no 8-bit
# rendition is made (the check measures on 256 px).
_CHECK_EDGE = 512


@dataclass(frozen=True)
class EngineOptions:
    force_sensor: bool = False
    max_pixels: int = 250_000_000
    copy_exif: bool = False
    strip_gps: bool = True


@dataclass
class Rendition:
    spec: RenditionSpec
    data: bytes
    width: int
    height: int
    source: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


@dataclass
class ProcessResult:
    name: str
    format: str
    metadata: dict[str, Any]
    renditions: list[Rendition]
    timings_ms: dict[str, float]
    degraded: bool = False
    warnings: list[EngineWarning] = field(default_factory=list)
    # Which decoder read the sensor data (``decoders.LIBRAW``, ``FLASHRAW`` or ``ENGINE``);
    # None when no rendition was made from it.
    decoder: str | None = None


class _Timer:
    def __init__(self) -> None:
        self.ms: dict[str, float] = {}

    @contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = (time.perf_counter() - start) * 1000
            self.ms[stage] = round(self.ms.get(stage, 0.0) + elapsed, 2)


def read_metadata(src: Source, *, name: str | None = None) -> dict[str, Any]:
    """The normalised metadata record of a RAW file, without rendering anything."""
    with libraw_stderr.captured(), open_raw(src, name=name) as raw:
        metadata: dict[str, Any] = extract_metadata(raw)
        return metadata


def process_raw(
    src: Source,
    specs: Sequence[RenditionSpec] = DEFAULT_SPECS,
    options: EngineOptions = EngineOptions(),
    *,
    name: str | None = None,
) -> ProcessResult:
    """Read metadata and render ``specs`` from one RAW file (a path or binary file object).

    The container's metadata is read first, on its own: when rendering then fails, the
    ``ImagingError`` carries the record in ``metadata``. LibRaw's own messages are
    logged, and quoted in the ``detail`` of the error raised or of the warnings about the
    sensor data.
    """
    capture = None
    try:
        with libraw_stderr.captured() as capture:
            result = _process(src, specs, options, name, capture)
    except ImagingError as exc:
        if capture is not None:
            exc.detail = _quoting_libraw(exc.detail, capture.lines)
        raise
    if result.degraded:
        result.warnings = [
            replace(w, detail=_quoting_libraw(w.detail, capture.lines))
            if w.code.startswith("sensor_data_")
            else w
            for w in result.warnings
        ]
    return result


def _quoting_libraw(detail: str, lines: list[str]) -> str:
    if not lines:
        return detail
    return "; ".join(filter(None, (detail, libraw_stderr.summary(lines))))


def _process(
    src: Source,
    specs: Sequence[RenditionSpec],
    options: EngineOptions,
    name: str | None,
    libraw: libraw_stderr.Capture,
) -> ProcessResult:
    timer = _Timer()
    with timer("open"):
        raw = open_raw(src, name=name)
    with raw:
        with timer("metadata"):
            tags = read_tags(raw)
        metadata: dict[str, Any] | None = None
        try:
            _check_pixel_limit(raw, options.max_pixels)
            job = _Job(raw, options, timer, libraw)
            job.plan(specs)
            job.unpack()
            with timer("metadata"):
                # LibRaw's black/white levels and white balance need its sensor data
                # unpacked: free when a LibRaw sensor render follows, a wasted decode when
                # the preview serves or another decoder unpacked the sensor data.
                libraw_unpacks = job.needs_sensor and job.unpacked is None
                metadata = extract_metadata(raw, unpack=libraw_unpacks, tags=tags)
                if job.unpacked is not None:
                    metadata["raw"].update(job.unpacked.facts)
            job.use_metadata(metadata)
            renditions = job.render(specs)
        except ImagingError as exc:
            exc.metadata = metadata or extract_metadata(raw, unpack=False, tags=tags)
            raise
        if job.degraded:
            metadata["width"], metadata["height"] = job.preview_displayed_size()
        return ProcessResult(
            name=raw.name,
            format=raw.format,
            metadata=metadata,
            renditions=renditions,
            timings_ms=timer.ms,
            degraded=job.degraded,
            warnings=job.warnings,
            decoder=None if job.degraded else job.decoder,
        )


def _check_pixel_limit(raw: RawFile, max_pixels: int) -> None:
    if raw.dng is not None:
        width, height = raw.dng.image.width, raw.dng.image.height
    elif raw.libraw is not None:
        width, height = int(raw.libraw.sizes.raw_width), int(raw.libraw.sizes.raw_height)
    else:
        return
    pixels = width * height
    if pixels > max_pixels:
        raise ImageTooLarge(
            raw.name,
            f"The image is too large: {pixels / 1e6:.0f} megapixels, "
            f"the limit is {max_pixels / 1e6:.0f}.",
            f"sensor of {width}x{height} pixels, max_pixels={max_pixels}",
        )


class _Job:
    """The per-file rendering plan and the sources it decodes, each at most once."""

    def __init__(
        self,
        raw: RawFile,
        options: EngineOptions,
        timer: _Timer,
        libraw_said: libraw_stderr.Capture | None = None,
    ) -> None:
        self.raw = raw
        self.options = options
        self.timer = timer
        self.libraw_said = libraw_said
        self.degraded = False
        self.warnings: list[EngineWarning] = []
        self.preview: EmbeddedPreview | None = None
        self._found: dict[bool, EmbeddedPreview | None] = {}
        self.sensor_size = self._sensor_size()
        self.targets: dict[RenditionSpec, int] = {}
        self.sources: dict[RenditionSpec, str] = {}
        self.orientation = 1
        self.exif: bytes | None = None
        # Sensor data unpacked by a faster decoder than LibRaw (``decoders``).
        self.unpacked: decoders.Unpacked | None = None
        self.decoder: str | None = None  # the decoder the sensor render read

    @property
    def needs_sensor(self) -> bool:
        return any(source != SOURCE_PREVIEW for source in self.sources.values())

    def unpack(self) -> None:
        """Unpack the sensor data with the fastest decoder proven for this file's kind,
        when a rendition needs it; LibRaw's own unpack waits until it is used."""
        if not self.needs_sensor:
            return
        with self.timer("unpack"):
            self.unpacked = decoders.unpack_sensor(self.raw)

    def use_metadata(self, metadata: dict[str, Any]) -> None:
        """Take orientation (EXIF first, LibRaw's flip second) and EXIF to copy."""
        value = metadata.get("orientation")
        if isinstance(value, int) and 1 <= value <= 8:
            self.orientation = value
        elif self.raw.libraw is not None:
            self.orientation = exif_from_libraw_flip(int(self.raw.libraw.sizes.flip))
        if self.options.copy_exif:
            self.exif = build_exif(metadata, keep_gps=not self.options.strip_gps)

    def _sensor_size(self) -> tuple[int, int] | None:
        """Size of a full sensor render before orientation, or None when LibRaw refused it
        (and the engine does not read the file itself)."""
        if self.raw.dng is not None:
            return self.raw.dng.image.size
        if self.raw.libraw is None:
            return None
        sizes = self.raw.libraw.sizes
        return int(sizes.width), int(sizes.height)

    def plan(self, specs: Sequence[RenditionSpec]) -> None:
        """Choose each rendition's source; only LibRaw's header facts are needed for it."""
        if self.sensor_size is None or not specs:
            return
        long_edge = max(self.sensor_size)
        self.targets = _targets(specs, long_edge)
        self.sources = self._choose_sources(self.targets, long_edge)

    def render(self, specs: Sequence[RenditionSpec]) -> list[Rendition]:
        if not specs:
            return []
        if self.sensor_size is None:
            detail = self.raw.libraw_error or "LibRaw found no sensor data"
            return self._render_degraded(specs, self._unreadable(detail))
        targets, by_source = self.targets, dict(self.sources)
        sensor_specs = [s for s in specs if by_source[s] != SOURCE_PREVIEW]
        developed: Developed | None = None
        if sensor_specs:
            full = any(by_source[s] == SOURCE_FULL for s in sensor_specs)
            # One develop for all: the 16-bit and 8-bit outputs share its demosaic.
            outputs = Outputs(
                srgb=any(not s.wide_gamut for s in sensor_specs),
                wide=any(s.wide_gamut for s in sensor_specs),
            )
            reference = self._reference()
            try:
                developed = self._decode_sensor(half_size=not full, outputs=outputs)
                self._check_picture(_check_image(developed), reference)
            except SensorDataUnusable as exc:
                return self._render_degraded(specs, exc)
            if full:
                for spec in sensor_specs:
                    by_source[spec] = SOURCE_FULL
        results: dict[RenditionSpec, Rendition] = {}
        if developed is not None:
            source = by_source[sensor_specs[0]]
            if developed.srgb is not None:
                srgb_specs = [s for s in sensor_specs if not s.wide_gamut]
                results.update(self._derive(developed.srgb, srgb_specs, targets, source))
                developed.srgb = None
            if developed.wide is not None:
                wide_specs = [s for s in sensor_specs if s.wide_gamut]
                results.update(self._derive_wide(developed.wide, wide_specs, targets, source))
            del developed  # one decoded image in memory at a time
        preview_specs = [s for s in specs if by_source[s] == SOURCE_PREVIEW]
        if preview_specs:
            assert self.preview is not None
            image = self._decode_preview(self.preview, max(targets[s] for s in preview_specs))
            results.update(self._derive(image, preview_specs, targets, SOURCE_PREVIEW))
        return [results[spec] for spec in specs]

    def _choose_sources(
        self, targets: dict[RenditionSpec, int], long_edge: int
    ) -> dict[RenditionSpec, str]:
        # A 16-bit master comes from the sensor data, as a full-size rendition does.
        sized = [t for s, t in targets.items() if not (s.is_full or s.wide_gamut)]
        if sized and not self.options.force_sensor:
            with self.timer("find_preview"):
                self.preview = self._matching_preview()
        # The preview serves only if it serves every sized rendition: once one of them needs
        # the sensor, all come from that one decode, so they look alike.
        preview = self.preview
        preview_serves = bool(sized) and preview is not None and preview.long_edge >= max(sized)
        chosen: dict[RenditionSpec, str] = {}
        for spec, target in targets.items():
            if spec.is_full:
                chosen[spec] = SOURCE_FULL
            elif preview_serves and not spec.wide_gamut:
                chosen[spec] = SOURCE_PREVIEW
            elif target <= long_edge // 2:
                chosen[spec] = SOURCE_HALF
            else:
                chosen[spec] = SOURCE_FULL
        return chosen

    def _find_preview(self, *, thorough: bool = False) -> EmbeddedPreview | None:
        """The largest embedded preview, looked up once per job (headers only)."""
        if thorough not in self._found:
            found = find_preview(self.raw, self.options.max_pixels, 1 << 30, thorough=thorough)
            self._found[thorough] = found
        return self._found[thorough]

    def _matching_preview(self) -> EmbeddedPreview | None:
        """The embedded preview, if it shows the same frame as the sensor."""
        preview = self._find_preview()
        if preview is None or self.sensor_size is None or self._same_aspect(preview):
            return preview
        self.warnings.append(
            preview_aspect_mismatch((preview.width, preview.height), self.sensor_size)
        )
        return None

    def _same_aspect(self, preview: EmbeddedPreview) -> bool:
        assert self.sensor_size is not None
        sw, sh = self.sensor_size
        pw, ph = preview.width, preview.height
        sensor_aspect = max(sw, sh) / min(sw, sh)
        preview_aspect = max(pw, ph) / min(pw, ph)
        return abs(preview_aspect / sensor_aspect - 1) <= _ASPECT_TOLERANCE

    def _reference(self) -> plausibility.Reference | None:
        """The embedded preview, small, to judge the sensor render by (read before LibRaw
        is closed); ``None`` without a preview that shows the sensor's frame."""
        with self.timer("check"):
            preview = self.preview or self._find_preview()
            if preview is None or not self._same_aspect(preview):
                return None
            try:
                image = decode_preview_small(preview, _REFERENCE_EDGE)
            except _PILLOW_ERRORS:
                return None
            return plausibility.reference(image)

    def _check_picture(self, image: Picture, reference: plausibility.Reference | None) -> None:
        """Refuse a sensor render that is noise, or flat or unlike the camera's preview."""
        with self.timer("check"):
            problem = plausibility.garbage(image, reference)
        if problem is not None:
            raise SensorDataUnusable(self.raw.name, SENSOR_DATA_GARBAGE, problem)

    def _decode_sensor(self, *, half_size: bool, outputs: Outputs) -> Developed:
        if self.raw.dng is not None:
            return self._decode_dng(half_size=half_size, outputs=outputs)
        stage = "decode_half" if half_size else "decode_full"
        libraw = self.raw.libraw
        assert libraw is not None
        with self.timer(stage):
            if self.unpacked is not None:
                self.decoder = self.unpacked.decoder
                return self._develop_unpacked(self.unpacked, half_size=half_size, outputs=outputs)
            self.decoder = decoders.LIBRAW
            # Checked before rendering: rendering changes LibRaw's copy of the sensor data.
            problem = _sensor_data_problem(libraw)
            if problem is not None:
                raise SensorDataUnusable(self.raw.name, *problem)
            # Running out of memory says nothing about the file: MemoryError is not caught,
            # and LibRaw's own kind becomes one.
            try:
                if developable(self.raw):
                    orientation = exif_from_libraw_flip(int(libraw.sizes.flip))
                    image = develop_outputs(
                        self.raw, half_size=half_size, orientation=orientation, outputs=outputs
                    )
                elif outputs.wide:
                    image = self._libraw_render_wide(half_size=half_size, srgb=outputs.srgb)
                else:
                    image = Developed(self._libraw_render(half_size=half_size), None)
            except rawpy.LibRawUnsufficientMemoryError as exc:
                raise MemoryError(describe_exception(exc)) from exc
            except (rawpy.LibRawError, ValueError) as exc:
                raise self._unreadable(describe_exception(exc)) from exc
            if image.is_black():
                raise SensorDataUnusable(
                    self.raw.name, SENSOR_DATA_MISSING, "the sensor data decodes to black"
                )
            return image

    def _develop_unpacked(
        self, unpacked: decoders.Unpacked, *, half_size: bool, outputs: Outputs
    ) -> Developed:
        """Develop the sensor data another decoder unpacked, read in its own buffer."""
        assert self.raw.libraw is not None
        sensor = unpacked.sensor
        self.unpacked = None  # the buffer goes once developed
        problem = _mosaic_problem(sensor.mosaic, int(min(sensor.black)))
        if problem is not None:
            raise SensorDataUnusable(self.raw.name, *problem)
        orientation = exif_from_libraw_flip(int(self.raw.libraw.sizes.flip))
        # LibRaw only opened the file (header and sizes, read before this): its handle and
        # buffers go before the render, as they do once it has developed its own data.
        self.raw.close()
        image = develop_mosaic(
            sensor,
            half_size=half_size,
            orientation=orientation,
            outputs=outputs,
            release=unpacked.release_before,
        )
        if image.is_black():
            raise SensorDataUnusable(
                self.raw.name, SENSOR_DATA_MISSING, "the sensor data decodes to black"
            )
        return image

    def _decode_dng(self, *, half_size: bool, outputs: Outputs) -> Developed:
        """The raw image of a DNG the engine reads itself (``dng_kinds``)."""
        header = self.raw.dng
        assert header is not None
        self.decoder = decoders.ENGINE
        with self.timer("decode_half" if half_size else "decode_full"):
            if header.image.opcodes:
                self.warnings.append(dng_opcodes_skipped(header.image.opcodes))
            with self.raw.view() as data:
                image = develop_dng(
                    data,
                    header,
                    self.raw.name,
                    half_size=half_size,
                    orientation=self.orientation,
                    outputs=outputs,
                )
            if image.is_black():
                raise SensorDataUnusable(
                    self.raw.name, SENSOR_DATA_MISSING, "the sensor data decodes to black"
                )
            return image

    def _unreadable(self, detail: str) -> SensorDataUnusable:
        """LibRaw refused the sensor data: because the file ends early, if LibRaw said so."""
        said = self.libraw_said.so_far() if self.libraw_said is not None else ""
        problem = SENSOR_DATA_CUT_OFF if _LIBRAW_EOF in said else SENSOR_DATA_UNREADABLE
        return SensorDataUnusable(self.raw.name, problem, detail)

    def _libraw_render(self, *, half_size: bool) -> Image.Image:
        """LibRaw's own pipeline, for the sensors ``develop`` does not handle."""
        assert self.raw.libraw is not None
        rgb = self.raw.libraw.postprocess(
            half_size=half_size,
            use_camera_wb=True,
            output_color=rawpy.ColorSpace.sRGB,
            gamma=SRGB_GAMMA,  # the curve of the sRGB profile renditions carry
            output_bps=8,
        )
        if rgb.ndim == 3 and rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)  # a one-colour (monochrome) sensor
        # LibRaw's raw and working buffers go before Pillow copies the pixels.
        self.raw.close()
        return Image.fromarray(rgb)

    def _libraw_render_wide(self, *, half_size: bool, srgb: bool) -> Developed:
        """LibRaw's own pipeline at 16 bits in ProPhoto RGB; the 8-bit sRGB image, when
        asked for too, is converted from it rather than developed a second time."""
        assert self.raw.libraw is not None
        rgb = self.raw.libraw.postprocess(
            half_size=half_size,
            use_camera_wb=True,
            output_color=rawpy.ColorSpace.ProPhoto,
            gamma=LIBRAW_GAMMA,  # the curve of the ProPhoto profile the TIFF carries
            output_bps=16,
        )
        self.raw.close()
        if rgb.ndim == 3 and rgb.shape[2] == 1:
            rgb = np.repeat(rgb, 3, axis=2)  # a one-colour (monochrome) sensor
        wide = np.ascontiguousarray(rgb, dtype=np.uint16)
        return Developed(Image.fromarray(srgb8_from_wide(wide)) if srgb else None, wide)

    def _decode_preview(self, preview: EmbeddedPreview, target: int | None) -> Pixels:
        with self.timer("decode_preview"):
            try:
                image = decode_preview_pixels(preview, target)
            except _PILLOW_ERRORS as exc:  # its header was fine, its data is not
                raise CorruptFile(
                    self.raw.name,
                    "The camera's preview in the file is damaged and cannot be shown.",
                    f"embedded preview cannot be decoded: {describe_exception(exc)}",
                ) from exc
            if preview_needs_rotation(
                preview_size=(preview.width, preview.height),
                sensor_size=self.sensor_size,
                orientation=self.orientation,
            ):
                image = apply_orientation_pixels(image, self.orientation)
            return image

    def _render_degraded(
        self, specs: Sequence[RenditionSpec], unusable: SensorDataUnusable
    ) -> list[Rendition]:
        """Every rendition from the embedded preview, because the sensor data is unusable.

        A 16-bit master is never made from the camera's 8-bit preview: a job asking for
        one fails with the sensor data's problem and says so.
        """
        self.degraded = True
        self.raw.close()
        masters = [s.name for s in specs if s.wide_gamut]
        if masters:
            raise SensorDataUnusable(
                self.raw.name,
                unusable.problem,
                f"{self.raw.format} file: {unusable.detail}; a 16-bit master "
                f"({', '.join(masters)}) is made from the sensor data only",
                master=True,
            ) from unusable
        preview = self.preview or self._find_preview(thorough=True)
        if preview is None:
            unusable.detail = f"{self.raw.format} file: {unusable.detail}; no embedded preview"
            raise unusable
        self.preview = preview
        targets = _targets(specs, preview.long_edge)
        try:
            image = self._decode_preview(preview, max(targets.values()))
        except CorruptFile as exc:
            unusable.detail = f"{self.raw.format} file: {unusable.detail}; {exc.detail}"
            raise unusable from exc
        self.warnings.append(unusable.warning(preview.long_edge))
        results = self._derive(image, specs, targets, SOURCE_PREVIEW)
        return [results[spec] for spec in specs]

    def preview_displayed_size(self) -> tuple[int, int]:
        assert self.preview is not None
        size = (self.preview.width, self.preview.height)
        if preview_needs_rotation(size, self.sensor_size, self.orientation):
            return displayed_size(*size, self.orientation)
        return size

    def _derive_wide(
        self,
        image: npt.NDArray[np.uint16],
        specs: Sequence[RenditionSpec],
        targets: dict[RenditionSpec, int],
        source: str,
    ) -> dict[RenditionSpec, Rendition]:
        """The 16-bit renditions, as ``_derive`` makes the 8-bit ones."""

        def encoded(picture: npt.NDArray[np.uint16], spec: RenditionSpec) -> _Encoded:
            height, width = picture.shape[:2]
            return encode_tiff16(picture), width, height

        return self._resize_chain(image, specs, targets, source, fit_wide, encoded)

    def _derive(
        self,
        image: Picture,
        specs: Sequence[RenditionSpec],
        targets: dict[RenditionSpec, int],
        source: str,
    ) -> dict[RenditionSpec, Rendition]:
        """Resize largest first, each smaller rendition from the one before it."""

        def encoded(current: Picture, spec: RenditionSpec) -> _Encoded:
            picture = as_image(current)
            return encode(picture, spec, self.exif), picture.width, picture.height

        return self._resize_chain(image, specs, targets, source, _fit, encoded)

    def _resize_chain(
        self,
        image: _P,
        specs: Sequence[RenditionSpec],
        targets: dict[RenditionSpec, int],
        source: str,
        fit: Callable[[_P, int], _P],
        encoded: Callable[[_P, RenditionSpec], _Encoded],
    ) -> dict[RenditionSpec, Rendition]:
        out: dict[RenditionSpec, Rendition] = {}
        current = image
        for spec in sorted(specs, key=lambda s: targets[s], reverse=True):
            with self.timer("resize"):
                current = fit(current, targets[spec])
            with self.timer("encode"):
                data, width, height = encoded(current, spec)
            out[spec] = Rendition(spec, data, width, height, source)
        return out


def _check_image(developed: Developed) -> Picture:
    """The 8-bit sRGB image the garbage check looks at: the render's own, else a small
    copy of the 16-bit one."""
    if developed.srgb is not None:
        return developed.srgb
    assert developed.wide is not None
    small = fit_wide(developed.wide, _CHECK_EDGE)
    return Image.fromarray(srgb8_from_wide(small))


def _sensor_data_problem(libraw: Any) -> tuple[str, str] | None:
    """A warning code and its detail when the sensor data is cut off or absent, which LibRaw
    does not report as an error.

    LibRaw fills the rows it could not read by repeating the last row it read (a real
    sensor never gives two bit-identical rows that are not uniform), or leaves them at 0 (a
    real pixel never reads 0 when the black level is above it); a stub whose data was
    stripped reads 0 almost everywhere.
    """
    try:
        raw = libraw.raw_image_visible
    except rawpy.LibRawError:
        return None
    if raw is None:
        return None
    return _mosaic_problem(raw, min(libraw.black_level_per_channel))


def _mosaic_problem(raw: Any, black: float) -> tuple[str, str] | None:
    """``_sensor_data_problem`` for a mosaic (the visible area) and its black level."""
    if raw.ndim != 2 or raw.shape[0] < 8:
        return None
    tail = raw[-min(_CUT_OFF_ROWS, raw.shape[0] // 4) :]
    if (tail == tail[0]).all() and tail[0].min() != tail[0].max():
        return SENSOR_DATA_CUT_OFF, "the last rows of the sensor data repeat bit for bit"
    if black <= 0:
        return None
    if not tail.any():
        return SENSOR_DATA_CUT_OFF, f"the last rows of the sensor data read 0, black level {black}"
    sample = raw[::_MISSING_STEP, ::_MISSING_STEP]
    zeros = float(np.count_nonzero(sample == 0)) / max(1, sample.size)
    if zeros > _MISSING_SHARE:
        return SENSOR_DATA_MISSING, f"{zeros:.0%} of the sensor data reads 0, black level {black}"
    return None


def _targets(specs: Sequence[RenditionSpec], long_edge: int) -> dict[RenditionSpec, int]:
    """The long edge each spec gets from a source of ``long_edge`` pixels: never upscaled."""
    return {s: long_edge if s.size is None else min(s.size, long_edge) for s in specs}


def _fit(picture: Picture, long_edge: int) -> Picture:
    """Scale so the long edge is ``long_edge``, with the resampler for the ratio; never
    upscale. An array stays an array for OpenCV (Pillow's copy out of an image is slow)."""
    height, width = (
        picture.shape[:2] if isinstance(picture, np.ndarray) else (picture.height, picture.width)
    )
    current = max(width, height)
    if long_edge >= current:
        return picture
    scale = long_edge / current
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    ratio = current / long_edge
    # Only an array goes to OpenCV: copying a Pillow image out would cost more time and
    # memory than the resize saves.
    if isinstance(picture, np.ndarray) and ratio < _AREA_MAX_RATIO:
        flag = cv2.INTER_CUBIC if ratio <= _CUBIC_MAX_RATIO else cv2.INTER_AREA
        return np.asarray(cv2.resize(picture, size, interpolation=flag))
    image = as_image(picture)
    if current < long_edge * 2 * _REDUCING_GAP and image.height > _RESIZE_BAND_ROWS:
        # An image gets the filter an array would: above 1.25x Pillow's box filter, the
        # pixel-area average of OpenCV's INTER_AREA, at under half the bicubic's time.
        cubic = ratio <= _CUBIC_MAX_RATIO
        return _resize_in_bands(
            image, size, Image.Resampling.BICUBIC if cubic else Image.Resampling.BOX
        )
    # Box-reduce to within twice the target, then bicubic: as sharp as Lanczos for
    # downscaling, at a fraction of the cost on a 24 MP source.
    return image.resize(size, Image.Resampling.BICUBIC, reducing_gap=_REDUCING_GAP)


def _resize_in_bands(
    image: Image.Image,
    size: tuple[int, int],
    resample: Image.Resampling = Image.Resampling.BICUBIC,
) -> Image.Image:
    """A resize with ``resample``, a band of output rows at a time: the same pixels, less
    memory.

    Without a box reduction first (the scale is under 4x), Pillow resizes each row of the
    whole source before the columns, an intermediate image as wide as the result and as
    tall as the source: 33 MB for a 24 MP photo to 2048 px. A band's source box is
    fractional and Pillow reads the filter's support beyond it, so bands join without seams
    (Pillow holds box corners as 32-bit floats, which moves a value by a level here and
    there).
    """
    result = Image.new(image.mode, size, None)
    step = image.height / size[1]
    for top in range(0, size[1], _RESIZE_BAND_ROWS):
        bottom = min(size[1], top + _RESIZE_BAND_ROWS)
        box = (0.0, top * step, float(image.width), bottom * step)
        band = image.resize((size[0], bottom - top), resample, box=box)
        result.paste(band, (0, top))
    return result
