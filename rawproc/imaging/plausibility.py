"""Is a sensor render a picture? Garbage checks that cost a few milliseconds per file.

LibRaw decodes some damaged or stripped files without an error into noise, a flat field or
a picture that is not the one in the file (scrambled tiles, a wrong geometry). Two cheap
statistics catch these on small grey thumbnails:

- **Structure of the render itself.** Natural pictures keep most of their contrast when
  they are made smaller (their energy sits at low spatial frequencies); white noise loses
  it: averaging 4x4 blocks of independent values divides their variance by 16. The
  ``coarse_ratio`` is the variance left after that averaging, over the variance before it,
  measured on a thumbnail of about 256 px, small enough for the sensor's own noise to be
  averaged away in a real photo.
- **Agreement with the camera's preview.** The camera's own JPEG shows the picture the
  sensor data should give. The Pearson correlation of 32x32 grey thumbnails (taking the
  best of the eight rotations and mirrorings, so a wrong orientation never counts as
  garbage) is near 1 for the same picture whatever the tone curve, and near 0 for noise
  or scrambled data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from .orientation import Picture, as_image

Grey = npt.NDArray[np.float32]

# Long edge of the thumbnail the noise statistic is measured on.
_NOISE_EDGE = 256
# Side of the square thumbnails compared with the preview.
_COMPARE_EDGE = 32
# Block size of the averaging in the noise statistic.
_BLOCK = 4
# Below this standard deviation (in 8-bit levels) a thumbnail is flat: no picture.
FLAT_STD = 1.5
# A preview with less contrast than this cannot tell a picture from a flat render.
PREVIEW_STD = 6.0
# White noise keeps 1/16 of its variance after 4x4 averaging; photographs keep most of it.
NOISE_RATIO = 0.2
# Below this, the render does not show the preview's picture in any orientation.
MIN_CORRELATION = 0.3


@dataclass(frozen=True)
class Reference:
    """The camera preview, reduced to what the comparison needs."""

    grey: Grey  # _COMPARE_EDGE x _COMPARE_EDGE

    @property
    def flat(self) -> bool:
        return float(self.grey.std()) < PREVIEW_STD


def reference(preview: Image.Image) -> Reference:
    return Reference(_square(_grey(preview)))


def garbage(render: Picture, preview: Reference | None) -> str | None:
    """Why ``render`` is not a picture (a technical sentence), or ``None`` when it is one."""
    grey = _grey(render)
    std = float(grey.std())
    if std < FLAT_STD:
        if preview is not None and not preview.flat:
            return (
                f"the sensor render is flat (standard deviation {std:.2f} levels) where the "
                f"embedded preview shows a picture ({float(preview.grey.std()):.1f} levels)"
            )
        return None  # a flat picture (a dark frame, a lens cap) is still a picture
    ratio = coarse_ratio(grey)
    if ratio < NOISE_RATIO:
        return (
            f"the sensor render is noise: {ratio:.3f} of its variance survives "
            f"{_BLOCK}x{_BLOCK} averaging (a picture keeps over {NOISE_RATIO})"
        )
    if preview is not None and not preview.flat:
        corr = best_correlation(_square(grey), preview.grey)
        if corr < MIN_CORRELATION:
            return (
                f"the sensor render does not show the embedded preview's picture "
                f"(correlation {corr:.2f}, a match is over {MIN_CORRELATION})"
            )
    return None


def coarse_ratio(grey: Grey) -> float:
    """Variance left after averaging ``_BLOCK`` x ``_BLOCK`` blocks, over the variance before."""
    h = grey.shape[0] // _BLOCK * _BLOCK
    w = grey.shape[1] // _BLOCK * _BLOCK
    if h == 0 or w == 0:
        return 1.0
    cropped = grey[:h, :w]
    total = float(cropped.var())
    if total == 0:
        return 1.0
    blocks = cropped.reshape(h // _BLOCK, _BLOCK, w // _BLOCK, _BLOCK).mean(axis=(1, 3))
    return float(blocks.var()) / total


def best_correlation(a: Grey, b: Grey) -> float:
    """The highest Pearson correlation of ``a`` with ``b`` turned or mirrored in any of 8 ways."""
    best = -1.0
    for candidate in _dihedral(b):
        best = max(best, _pearson(a, candidate))
    return best


def _dihedral(square: Grey) -> list[Grey]:
    turns = [np.rot90(square, k) for k in range(4)]
    return turns + [np.fliplr(t) for t in turns]


def _pearson(a: Grey, b: Grey) -> float:
    da = a - a.mean()
    db = b - b.mean()
    denominator = float(np.sqrt((da * da).sum() * (db * db).sum()))
    if denominator == 0:
        return 0.0
    return float((da * db).sum()) / denominator


def _grey(image: Picture) -> Grey:
    """A grey thumbnail of about ``_NOISE_EDGE`` px: block averages, so noise stays white."""
    # A half-size render's array: Pillow's block reduction is the fastest here (the copy
    # is made after the sensor buffer is gone, well below the render's peak).
    image = as_image(image)
    factor = max(1, max(image.size) // _NOISE_EDGE)
    small = image.reduce(factor) if factor > 1 else image
    return np.asarray(small.convert("L"), dtype=np.float32)


def _square(grey: Grey) -> Grey:
    image = Image.fromarray(grey)
    square = image.resize((_COMPARE_EDGE, _COMPARE_EDGE), Image.Resampling.BOX)
    return np.asarray(square, dtype=np.float32)
