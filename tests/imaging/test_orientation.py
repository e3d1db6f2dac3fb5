import pytest
from PIL import Image

from rawproc.imaging.orientation import (
    apply_orientation,
    displayed_size,
    exif_from_libraw_flip,
    preview_needs_rotation,
)


@pytest.mark.parametrize(("flip", "exif"), [(0, 1), (3, 3), (5, 8), (6, 6), (9, 1)])
def test_libraw_flip_codes(flip: int, exif: int) -> None:
    assert exif_from_libraw_flip(flip) == exif


@pytest.mark.parametrize(
    ("preview", "sensor", "orientation", "expected"),
    [
        ((1024, 683), (6000, 4000), 1, False),
        ((1024, 683), (6000, 4000), 6, True),  # stored like the sensor: rotate
        ((683, 1024), (6000, 4000), 6, False),  # already portrait: rotating again is wrong
        ((683, 1024), (6000, 4000), 8, False),
        ((1024, 683), (6000, 4000), 3, True),
        ((512, 512), (6000, 4000), 6, True),
        ((1024, 683), None, 6, True),
    ],
)
def test_preview_needs_rotation(
    preview: tuple[int, int],
    sensor: tuple[int, int] | None,
    orientation: int,
    expected: bool,
) -> None:
    assert preview_needs_rotation(preview, sensor, orientation) is expected


def test_apply_orientation_moves_top_left_pixel() -> None:
    image = Image.new("RGB", (4, 2), "black")
    image.putpixel((0, 0), (255, 0, 0))
    # Orientation 6: the stored top-left pixel belongs at the top-right once displayed.
    rotated = apply_orientation(image, 6)
    assert rotated.size == (2, 4)
    assert rotated.getpixel((1, 0)) == (255, 0, 0)
    assert apply_orientation(image, 8).getpixel((0, 3)) == (255, 0, 0)
    assert apply_orientation(image, 3).getpixel((3, 1)) == (255, 0, 0)
    assert apply_orientation(image, 1) is image


def test_displayed_size() -> None:
    assert displayed_size(6000, 4000, 6) == (4000, 6000)
    assert displayed_size(6000, 4000, 3) == (6000, 4000)
