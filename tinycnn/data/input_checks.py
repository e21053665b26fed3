"""Warnings for an input far from the training X-rays: tiny, coloured, odd grey levels.

The model was trained on paediatric (age 1-5) anterior-posterior chest X-rays (Kermany et al.
2018), grey, reduced to 64x64 from originals hundreds of pixels or more a side. It answers for
any picture; these checks say when that answer is likely meaningless. Each returns a list of
one-line messages naming the file (empty when nothing is unusual); nothing here refuses an input.

The bounds and why:

* **tiny**: a side shorter than the network's input (``size``): the image must be enlarged,
  and no training image was (every one was reduced), so its detail is not an X-ray's.
* **coloured**: mean chroma (max(R, G, B) - min(R, G, B), in grey levels 0..255) above
  :data:`MAX_MEAN_CHROMA` = 20. A grey X-ray saved as colour, JPEG noise included, stays
  below about 5; a colour photo is typically 30-60 (matplotlib's Grace Hopper portrait: 51).
* **intensity**: the per-image mean and standard deviation of the grey levels of the image
  the network sees, against those of the 5,216 training images of ``pneumonia_64.npz``:
  mean 60.7 .. 221.5, standard deviation 19.5 .. 87.2 (tests/test_images.py recomputes
  them). An image outside the range that *every* training image lies in (rounded outward
  to :data:`TRAIN_IMAGE_MEAN_RANGE` and :data:`TRAIN_IMAGE_STD_RANGE`) is far from them:
  blank, inverted, badly windowed, or not an X-ray.
"""

from __future__ import annotations

import numpy as np

#: Per-image mean grey level of every training image lies in this range (0..255 scale).
TRAIN_IMAGE_MEAN_RANGE = (60.0, 222.0)

#: Per-image standard deviation of the grey levels of every training image lies in this range.
TRAIN_IMAGE_STD_RANGE = (19.0, 88.0)

#: Mean chroma (grey levels) above which an image counts as strongly coloured.
MAX_MEAN_CHROMA = 20.0


def size_warnings(file, width: int, height: int, size: int) -> list[str]:
    """A warning when a side of the image is shorter than the network's input."""
    if min(width, height) >= size:
        return []
    return [f"{file}: only {width}x{height} pixels, smaller than the model's {size}x{size} input; "
            "it was enlarged, and the training X-rays were all reduced from large originals"]


def mean_chroma(rgb: np.ndarray) -> float:
    """Mean of max(R, G, B) - min(R, G, B) over the pixels of a uint8 (H, W, 3) image."""
    rgb = np.asarray(rgb, dtype=np.int16)
    return float(np.mean(rgb.max(axis=-1) - rgb.min(axis=-1)))


def colour_warnings(file, rgb: np.ndarray) -> list[str]:
    """A warning when an RGB image is strongly coloured (a photo rather than an X-ray)."""
    chroma = mean_chroma(rgb)
    if chroma <= MAX_MEAN_CHROMA:
        return []
    return [f"{file}: strongly coloured (mean chroma {chroma:.0f} of 255, above {MAX_MEAN_CHROMA:.0f}): "
            "a colour photo rather than a grey X-ray? It was turned to grey by luma"]


def intensity_warnings(file, pixels: np.ndarray) -> list[str]:
    """Warnings when the mean or spread of the grey levels lies outside every training image's."""
    grey = np.asarray(pixels, dtype=np.float64)
    notes = []
    mean, spread = float(grey.mean()), float(grey.std())
    low, high = TRAIN_IMAGE_MEAN_RANGE
    if not low <= mean <= high:
        notes.append(f"{file}: mean grey level {mean:.1f} is outside that of every training X-ray "
                     f"({low:.0f} to {high:.0f}): blank, inverted, over- or under-exposed, or not an X-ray?")
    low, high = TRAIN_IMAGE_STD_RANGE
    if not low <= spread <= high:
        notes.append(f"{file}: grey-level standard deviation {spread:.1f} is outside that of every "
                     f"training X-ray ({low:.0f} to {high:.0f}): too little or too much contrast for an X-ray")
    return notes
