"""From a map at the layer's resolution to a picture: bilinear upsampling and the coloured overlay.

Arrays in, arrays out (NumPy, and matplotlib's colour maps for the colours): the figures in
``tinycnn.plots.cam`` receive what these functions make.
"""

import numpy as np
from matplotlib import colormaps


def upsample(maps, size):
    """Rescale maps (N, h, w) or (h, w) to ``size`` = H or (H, W) by bilinear interpolation.

    Pixel centres are aligned as in image resizing (PIL, OpenCV, torch's align_corners=False):
    output pixel i reads the input at position (i + 0.5) * h / H - 0.5, clamped to [0, h - 1],
    mixing the two nearest input pixels by their distance; columns the same way.
    """
    maps = np.asarray(maps, dtype=np.float64)
    single = maps.ndim == 2
    if single:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"upsample: expected maps of shape (N, h, w) or (h, w), got {maps.shape}")
    H, W = (size, size) if np.isscalar(size) else tuple(size)
    H, W = int(H), int(W)
    if H < 1 or W < 1:
        raise ValueError(f"upsample: expected a positive size, got {size}")
    r0, r1, wr = _bilinear_taps(maps.shape[1], H)
    c0, c1, wc = _bilinear_taps(maps.shape[2], W)
    rows = (1 - wr)[None, :, None] * maps[:, r0] + wr[None, :, None] * maps[:, r1]
    out = (1 - wc) * rows[:, :, c0] + wc * rows[:, :, c1]
    return out[0] if single else out


def _bilinear_taps(n_in, n_out):
    """For each of n_out outputs: the two input indices it mixes and the weight of the second."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    i0 = np.floor(pos).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_in - 1), pos - i0


def image_as_rgb(image):
    """(H, W), (H, W, 1) or (H, W, 3) image -> float (H, W, 3) in [0, 1].

    uint8 is divided by 255; a float image already in [0, 1] is kept; any other range is
    stretched to [0, 1].
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
        raise ValueError(f"overlay: expected a grey (H, W) or RGB (H, W, 3) image, got shape {img.shape}")
    if img.dtype == np.uint8:
        img = img / 255.0
    elif img.dtype.kind in "biuf":
        img = img.astype(np.float64)
        if not np.all(np.isfinite(img)):
            raise ValueError("overlay: the image contains NaN or inf")
        lo, hi = img.min(), img.max()
        if lo < 0 or hi > 1:                       # any other range: stretch to [0, 1]
            img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    else:
        raise TypeError(f"overlay: expected a numeric image, got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """Lay a heat map over an image: uint8 RGB (H, W, 3) = (1 - alpha) image + alpha colour(map).

    ``image``: grey (H, W) (or (H, W, 1)) or RGB (H, W, 3); uint8, or float in [0, 1] (a float
    image in any other range is stretched to [0, 1]).  ``heatmap``: (h, w) at any resolution,
    values in [0, 1] (larger ones are divided by the maximum); it is rescaled to H x W
    (bilinear) and coloured with the matplotlib ``colormap`` (jet: blue = 0, red = 1).
    """
    if not 0 <= float(alpha) <= 1:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
    rgb = image_as_rgb(image)
    heat = _heat_in_unit_range(heatmap, rgb.shape[:2])
    colours = colormaps[colormap](heat)[..., :3]
    out = (1 - alpha) * rgb + alpha * colours
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


def _heat_in_unit_range(heatmap, shape):
    """The heat map as float (H, W) at ``shape``, negatives cut to 0, divided by its maximum if > 1."""
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2:
        raise ValueError(f"overlay: expected a heat map of shape (h, w), got {heat.shape}")
    if not np.all(np.isfinite(heat)):
        raise ValueError("overlay: the heat map contains NaN or inf")
    if heat.shape != shape:
        heat = upsample(heat, shape)
    heat = np.maximum(heat, 0)
    if heat.max() > 1:
        heat = heat / heat.max()
    return heat
