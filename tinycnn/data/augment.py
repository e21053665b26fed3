"""Random augmentation for chest X-rays, in NumPy.

Every call draws fresh random parameters per image from a ``numpy.random.Generator``, so
the same seed gives the same augmented batch. Inputs are float batches of shape (N, H, W)
or (N, H, W, C) (normalised or not); outputs are float32 of the same shape.

What we change, and how much -- small changes a radiograph could really show:

* rotation by up to +-10 degrees (patients are not perfectly straight),
* shift by up to +-8 % of the image size (framing differs),
* zoom by 0.9 to 1.1 (distance to the detector, child size),
* brightness and contrast jitter (exposure differs between machines).

Why **no left-right flip**, the standard augmentation for photos: a chest X-ray is not
mirror-symmetric. The heart sits on the left; a flipped image shows it on the right, which
is a real (rare) finding, dextrocardia, not a normal chest. Burned-in side markers such as
"R" or "L" would also be mirrored. A flip would teach the network anatomy that does not
occur in the data, so we leave it out. (Up-down flips are even less plausible.)
"""

from __future__ import annotations

import numpy as np

from ..rng import as_generator


def _to_nhwc(images: np.ndarray) -> tuple[np.ndarray, bool]:
    """float32 (N, H, W, C) view of the batch, and whether a channel axis was added."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        return x[..., None], True
    if x.ndim == 4:
        return x, False
    raise ValueError(f"expected images of shape (N, H, W) or (N, H, W, C), got {x.shape}")


def _add_frame(images: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """Surround each image (N, H, W, C) with a one-pixel frame of its ``fill`` value."""
    n, height, width, channels = images.shape
    framed = np.empty((n, height + 2, width + 2, channels), dtype=images.dtype)
    framed[:] = np.broadcast_to(np.asarray(fill, dtype=images.dtype), (n,))[:, None, None, None]
    framed[:, 1:-1, 1:-1] = images
    return framed


def bilinear_sample(images: np.ndarray, rows: np.ndarray, cols: np.ndarray, fill=None) -> np.ndarray:
    """Read ``images`` (N, H, W, C) at fractional positions ``rows``, ``cols`` (N, H', W').

    With ``r0 = floor(row)``, ``dr = row - r0`` (and the same for columns) the value is the
    weighted mean of the four surrounding pixels::

        (1-dr)(1-dc) I[r0, c0] + (1-dr) dc I[r0, c0+1] + dr (1-dc) I[r0+1, c0] + dr dc I[r0+1, c0+1]

    Positions outside the image are moved to the nearest edge first. With ``fill=None`` the
    border pixels are thus repeated outwards; with ``fill`` a number (or one number per
    image) the image first gets a one-pixel frame of that value, so outside reads ``fill``.
    """
    if fill is not None:
        images = _add_frame(images, fill)
        rows, cols = rows + 1, cols + 1  # positions in the framed image
    n, height, width, _ = images.shape
    rows = np.clip(rows, 0, height - 1)
    cols = np.clip(cols, 0, width - 1)
    r0 = np.floor(rows).astype(np.intp)
    c0 = np.floor(cols).astype(np.intp)
    r1 = np.minimum(r0 + 1, height - 1)
    c1 = np.minimum(c0 + 1, width - 1)
    dr = (rows - r0)[..., None]  # (N, H', W', 1), broadcasts over channels
    dc = (cols - c0)[..., None]
    i = np.arange(n)[:, None, None]  # image index for fancy indexing
    top = (1 - dc) * images[i, r0, c0] + dc * images[i, r0, c1]
    bottom = (1 - dc) * images[i, r1, c0] + dc * images[i, r1, c1]
    return ((1 - dr) * top + dr * bottom).astype(np.float32)


def affine_warp(images: np.ndarray, matrices: np.ndarray, offsets: np.ndarray, fill="min") -> np.ndarray:
    """Warp each image with its own affine map, by inverse mapping.

    For every *output* pixel ``p = (x, y)`` (x = column, y = row) we compute where it comes
    from in the *input* image and read the value there with :func:`bilinear_sample`::

        q = A (p - c) + c + b

    with ``c = ((W-1)/2, (H-1)/2)`` the image centre, ``A = matrices[i]`` (2x2) and
    ``b = offsets[i]`` (2,) for image ``i``. Going from output to input (rather than pushing
    input pixels forward) gives every output pixel exactly one value: no holes.

    Pixels that come from outside the input get ``fill``: ``"min"`` (default) uses each
    image's darkest value, like the black border of many radiographs; ``"edge"`` repeats
    the border pixels; a number is used as is.

    ``images``: (N, H, W) or (N, H, W, C); returns float32 of the same shape.
    """
    x, added_channel = _to_nhwc(images)
    if isinstance(fill, str):
        if fill not in ("min", "edge"):
            raise ValueError(f"fill must be 'min', 'edge' or a number, got {fill!r}")
        fill = x.min(axis=(1, 2, 3)) if fill == "min" else None
    _, height, width, _ = x.shape
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    p = np.stack([xs - centre[0], ys - centre[1]])  # (2, H, W), relative to the centre
    q = np.einsum("nij,jhw->nihw", matrices, p) + (centre + offsets)[:, :, None, None]
    out = bilinear_sample(x, rows=q[:, 1], cols=q[:, 0], fill=fill)
    return out[..., 0] if added_channel else out


def random_affine(
    images: np.ndarray,
    rng: np.random.Generator | int,
    rotation_deg: float = 10.0,
    shift: float = 0.08,
    zoom: tuple[float, float] = (0.9, 1.1),
    fill="min",
) -> np.ndarray:
    """Rotate, shift and zoom each image by random amounts about its centre.

    Per image: angle ``theta ~ U(-rotation_deg, rotation_deg)``, zoom ``s ~ U(zoom)``
    (``s > 1`` enlarges), shift ``t = (tx, ty)`` with ``tx ~ U(-shift, shift) * W`` and
    ``ty ~ U(-shift, shift) * H``. Rows grow downwards, so a positive angle turns the
    picture clockwise on screen. The forward map ``p = c + s R(theta) (q - c) + t`` is
    inverted for :func:`affine_warp`::

        q = c + A (p - c) + b,   A = R(-theta) / s,   b = -A t

    Uncovered corners get ``fill`` (see :func:`affine_warp`).
    """
    rng = as_generator(rng)
    n, height, width = np.shape(images)[:3]
    theta = np.deg2rad(rng.uniform(-rotation_deg, rotation_deg, size=n))
    scale = rng.uniform(zoom[0], zoom[1], size=n)
    t = rng.uniform(-shift, shift, size=(n, 2)) * np.array([width, height])
    cos, sin = np.cos(theta), np.sin(theta)
    rotate_back = np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], axis=1)  # R(-theta)
    matrices = rotate_back / scale[:, None, None]
    offsets = -np.einsum("nij,nj->ni", matrices, t)
    return affine_warp(images, matrices, offsets, fill)


def random_brightness_contrast(
    images: np.ndarray,
    rng: np.random.Generator | int,
    brightness: float = 0.1,
    contrast: float = 0.1,
) -> np.ndarray:
    """Jitter exposure per image: ``x' = m + k (x - m) + beta * sd``.

    ``m`` and ``sd`` are the image's own mean and standard deviation, the contrast factor
    ``k ~ U(1 - contrast, 1 + contrast)`` and the brightness shift ``beta ~ U(-brightness,
    brightness)`` (in units of ``sd``, so it works for raw and normalised images alike).
    Values are not clipped.
    """
    rng = as_generator(rng)
    x, added_channel = _to_nhwc(images)
    n = x.shape[0]
    k = rng.uniform(1 - contrast, 1 + contrast, size=n).astype(np.float32)[:, None, None, None]
    beta = rng.uniform(-brightness, brightness, size=n).astype(np.float32)[:, None, None, None]
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    sd = x.std(axis=(1, 2, 3), keepdims=True)
    out = mean + k * (x - mean) + beta * sd
    return out[..., 0] if added_channel else out


def augment_xray(
    images: np.ndarray,
    rng: np.random.Generator | int,
    rotation_deg: float = 10.0,
    shift: float = 0.08,
    zoom: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.1,
    contrast: float = 0.1,
    fill="min",
) -> np.ndarray:
    """The X-ray augmentation: :func:`random_affine`, then :func:`random_brightness_contrast`.

    No left-right flip (see the module docstring: the heart is on the left).
    Fits ``DataLoader(..., transform=augment_xray)``.
    """
    rng = as_generator(rng)
    warped = random_affine(images, rng, rotation_deg, shift, zoom, fill)
    return random_brightness_contrast(warped, rng, brightness, contrast)
