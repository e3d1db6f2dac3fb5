"""EXIF written into renditions, built from the normalised metadata record.

Renditions carry upright pixels, so Orientation is always 1; GPS is left out unless
the caller keeps it, because renditions are what gets shared.
"""

from __future__ import annotations

from datetime import datetime
from fractions import Fraction
from typing import Any

from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

_BASE = ExifTags.Base
_GPS = ExifTags.GPS

_TEXT_TAGS: dict[str, int] = {
    "camera_make": _BASE.Make,
    "camera_model": _BASE.Model,
    "software": _BASE.Software,
    "artist": _BASE.Artist,
    "copyright": _BASE.Copyright,
}
_EXIF_TEXT_TAGS: dict[str, int] = {
    "lens_make": _BASE.LensMake,
    "lens_model": _BASE.LensModel,
    "serial_number": _BASE.BodySerialNumber,
}


def _ratio(value: float, limit: int = 100000) -> IFDRational:
    """A TIFF rational; Pillow cannot infer the type of a plain Fraction when saving."""
    fraction = Fraction(value).limit_denominator(limit)
    return IFDRational(fraction.numerator, fraction.denominator)


def build_exif(metadata: dict[str, Any], *, keep_gps: bool) -> bytes:
    exif = Image.Exif()
    for key, tag in _TEXT_TAGS.items():
        if metadata.get(key):
            exif[tag] = str(metadata[key])
    exif[_BASE.Orientation] = 1
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    for key, tag in _EXIF_TEXT_TAGS.items():
        if metadata.get(key):
            sub[tag] = str(metadata[key])
    if metadata.get("iso") is not None:
        sub[_BASE.ISOSpeedRatings] = int(metadata["iso"])
    if metadata.get("exposure_time"):
        sub[_BASE.ExposureTime] = _ratio(float(metadata["exposure_time"]))
    if metadata.get("f_number"):
        sub[_BASE.FNumber] = _ratio(float(metadata["f_number"]), 100)
    if metadata.get("focal_length_mm"):
        sub[_BASE.FocalLength] = _ratio(float(metadata["focal_length_mm"]), 100)
    if metadata.get("focal_length_35mm"):
        sub[_BASE.FocalLengthIn35mmFilm] = int(metadata["focal_length_35mm"])
    if metadata.get("exposure_bias_ev") is not None:
        sub[_BASE.ExposureBiasValue] = _ratio(float(metadata["exposure_bias_ev"]), 100)
    taken_at = _parse_time(metadata.get("taken_at"))
    if taken_at is not None:
        sub[_BASE.DateTimeOriginal] = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        offset = taken_at.strftime("%z")
        if offset:
            sub[_BASE.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    gps = metadata.get("gps")
    if keep_gps and gps:
        _add_gps(exif, gps)
    return exif.tobytes()


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    value = abs(value)
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = (minutes_full - minutes) * 60
    return IFDRational(degrees, 1), IFDRational(minutes, 1), _ratio(seconds, 1000)


def _add_gps(exif: Image.Exif, gps: dict[str, Any]) -> None:
    ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
    ifd[_GPS.GPSVersionID] = b"\x02\x03\x00\x00"
    lat, lon, alt = gps.get("latitude"), gps.get("longitude"), gps.get("altitude_m")
    if lat is not None and lon is not None:
        ifd[_GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        ifd[_GPS.GPSLatitude] = _dms(float(lat))
        ifd[_GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        ifd[_GPS.GPSLongitude] = _dms(float(lon))
    if alt is not None:
        ifd[_GPS.GPSAltitudeRef] = 0 if alt >= 0 else 1
        ifd[_GPS.GPSAltitude] = _ratio(abs(float(alt)), 100)
