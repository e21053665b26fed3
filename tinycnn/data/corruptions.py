"""Acquisition-style corruptions of grey X-rays, and a shift-simulated validation set.

The test split of the pneumonia data was exported differently from train (its original
JPEGs are much smaller: another export or compression), so a model that keys on fine
texture, sharpness or compression artefacts may learn something the test images do not
share. The corruptions here imitate what differs between X-ray machines and exports, in
the spirit of ImageNet-C (Hendrycks & Dietterich, ICLR 2019) and MedMNIST-C (Di Salvo,
Doerrich & Ledig, 2024): blur, down-then-up resampling, JPEG re-compression, gamma and
contrast changes, noise and sharpening. Each entry of :data:`CORRUPTIONS` takes one uint8
(H, W) image, a severity in [0, 1] and a ``numpy.random.Generator``, and returns a new uint8
(H, W) image; its docstring gives the formula and the range that severity spans.

Two uses, both decided elsewhere and on validation only:

* :func:`corrupt_batch` as a training augmentation (each image corrupted with a given
  probability, by one random corruption of random severity);
* :func:`shifted_validation`, a perturbed copy of the validation images on which to choose
  a threshold and fit a temperature: Tomani et al. (CVPR 2021, "Post-hoc uncertainty
  calibration for domain drift scenarios") fit the temperature on perturbed validation
  data so that calibration holds up under a shift.

The evidence for using either comes from validation (clean and shifted), never from the
test split; this module only makes the images and does not know which, if any, are used.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from ..rng import as_generator

#: Severities :func:`corrupt_batch` draws from, uniformly. The lower bound is above 0 so
#: that a corrupted image is really changed (a blur of sigma 0.05 px rounds back to the
#: same grey levels), and ``probability`` is the share of images that change.
TRAINING_SEVERITY = (0.25, 1.0)

#: The fixed severity of :func:`shifted_validation`: a moderate shift.
VALIDATION_SEVERITY = 0.5


# ----------------------------------------------------------------------------- checks


def check_fraction(name: str, argument: str, value) -> float:
    """``value`` as a float; a TypeError naming the function and the argument when it is not a
    number, a ValueError when it is outside [0, 1] (also NaN)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: {argument} must be a number in [0, 1], got {value!r}") from None
    if not 0.0 <= number <= 1.0:  # also refuses NaN
        raise ValueError(f"{name}: {argument} must lie in [0, 1], got {value!r}")
    return number


def check_severity(name: str, severity) -> float:
    """``severity`` as a float in [0, 1], or an error naming the corruption."""
    return check_fraction(name, "severity", severity)


def check_image(name: str, image) -> np.ndarray:
    """A uint8 (H, W) array, or an error naming the corruption, what it expects and what it got."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise TypeError(f"{name}: image must be uint8 (grey levels 0..255), got dtype {image.dtype}")
    if image.ndim != 2:
        raise ValueError(f"{name}: image must have shape (H, W), got {image.shape}")
    return image


def check_batch(name: str, images) -> np.ndarray:
    """A uint8 (N, H, W) or (N, H, W, 1) array, or an error naming the function and the problem."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise TypeError(f"{name}: images must be uint8 (grey levels 0..255), got dtype {images.dtype}")
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 1)):
        raise ValueError(f"{name}: images must have shape (N, H, W) or (N, H, W, 1), got {images.shape}")
    return images


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Round float grey levels to the nearest integer and clip them to 0..255."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- helpers


def gaussian_kernel(sigma: float) -> np.ndarray:
    """The normalised 1-D Gaussian ``g[j] = exp(-j^2 / (2 sigma^2)) / sum``, j = -r..r, r = ceil(3 sigma)."""
    radius = max(1, int(np.ceil(3 * sigma)))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-offsets**2 / (2 * sigma**2))
    return weights / weights.sum()


def smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """``image`` (H, W) convolved with a Gaussian of standard deviation ``sigma`` pixels, as float64.

    Separable: the 1-D kernel along the rows, then along the columns; the borders are
    mirrored (``np.pad(mode="reflect")``) so the output keeps the shape (H, W)."""
    kernel = gaussian_kernel(sigma)
    radius = len(kernel) // 2
    padded = np.pad(image.astype(np.float64), radius, mode="reflect")
    down_rows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel), axis=0) @ kernel
    return np.lib.stride_tricks.sliding_window_view(down_rows, len(kernel), axis=1) @ kernel


def either_way(rng: np.random.Generator, above: float, below: float, severity: float) -> float:
    """A factor ``above ** severity`` or ``below ** severity``, each with probability 1/2 (1 at severity 0)."""
    return (above if rng.random() < 0.5 else below) ** severity


# ----------------------------------------------------------------------------- the corruptions


def gaussian_blur(image, severity, rng=None):
    """A softer detector or a smoothing export: ``x' = G_sigma * x``, sigma = 1.5 * severity pixels.

    Severity 0..1 spans sigma 0..1.5 px (at 64x64, 1.5 px is about a rib's width); severity
    0 returns the image unchanged. ``rng`` is not used."""
    image = check_image("gaussian_blur", image)
    sigma = 1.5 * check_severity("gaussian_blur", severity)
    return image.copy() if sigma == 0 else to_uint8(smooth(image, sigma))


def resample(image, severity, rng=None):
    """A lower-resolution acquisition or export: shrink by ``f = 1 + 2 * severity``, enlarge back.

    Severity 0..1 spans the factor 1..3: the (H, W) image is resized to
    (round(H / f), round(W / f)) and back with Pillow's bilinear filter (which averages over
    the shrunk pixel's footprint), so detail finer than about f pixels is lost. Severity 0
    returns the image unchanged. ``rng`` is not used."""
    image = check_image("resample", image)
    factor = 1 + 2 * check_severity("resample", severity)
    height, width = image.shape
    small_size = (max(1, round(width / factor)), max(1, round(height / factor)))
    if small_size == (width, height):
        return image.copy()
    small = Image.fromarray(image).resize(small_size, Image.Resampling.BILINEAR)
    return np.asarray(small.resize((width, height), Image.Resampling.BILINEAR)).copy()


def jpeg(image, severity, rng=None):
    """A lossy export: save as a grey JPEG of quality ``q = round(90 - 70 * severity)`` and read back.

    Severity 0..1 spans quality 90..20 (Pillow's scale, 95 best). Not the identity at
    severity 0: even quality 90 moves some grey levels by a few units. Block averages, and
    so the image's mean, are kept closely; fine texture is lost and 8x8 block edges appear.
    ``rng`` is not used."""
    image = check_image("jpeg", image)
    quality = round(90 - 70 * check_severity("jpeg", severity))
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("L")).copy()


def gamma(image, severity, rng=None):
    """Another detector response or display curve: ``x' = 255 (x / 255) ** gamma``.

    ``gamma = 1.6 ** severity`` (darker mid-greys) or ``0.6 ** severity`` (brighter), each
    with probability 1/2, so severity 0..1 spans gamma 1 up to 1.6 or down to 0.6. 0 and
    255 stay where they are; severity 0 returns the image unchanged."""
    image = check_image("gamma", image)
    exponent = either_way(as_generator(rng), 1.6, 0.6, check_severity("gamma", severity))
    table = to_uint8(255 * (np.arange(256) / 255) ** exponent)
    return table[image]


def contrast(image, severity, rng=None):
    """Other exposure or windowing: ``x' = m + k (x - m)``, m the image's mean grey level.

    ``k = 1.5 ** severity`` (more contrast) or ``0.5 ** severity`` (less), each with
    probability 1/2, so severity 0..1 spans k 1 up to 1.5 or down to 0.5; clipped to 0..255.
    Severity 0 returns the image unchanged."""
    image = check_image("contrast", image)
    k = either_way(as_generator(rng), 1.5, 0.5, check_severity("contrast", severity))
    mean = image.mean()
    return to_uint8(mean + k * (image - mean))


def gaussian_noise(image, severity, rng=None):
    """Quantum and electronic noise: ``x' = x + n``, n ~ N(0, sigma^2) per pixel, sigma = 12.75 * severity.

    Severity 0..1 spans sigma 0..12.75 grey levels (0..5 % of the range); clipped to 0..255,
    so near 0 and 255 the spread is smaller. Severity 0 returns the image unchanged."""
    image = check_image("gaussian_noise", image)
    sigma = 12.75 * check_severity("gaussian_noise", severity)
    if sigma == 0:
        return image.copy()
    return to_uint8(image + as_generator(rng).normal(0.0, sigma, size=image.shape))


def sharpen(image, severity, rng=None):
    """Edge enhancement by the machine's software: unsharp mask ``x' = x + a (x - G_1 * x)``.

    ``G_1`` is a Gaussian blur of sigma 1 px and ``a = 1.5 * severity``, so severity 0..1
    spans a 0..1.5 (edges overshoot, halos appear); clipped to 0..255. Severity 0 returns
    the image unchanged. ``rng`` is not used."""
    image = check_image("sharpen", image)
    amount = 1.5 * check_severity("sharpen", severity)
    if amount == 0:
        return image.copy()
    return to_uint8(image + amount * (image - smooth(image, 1.0)))


#: name -> function(image (H, W) uint8, severity in [0, 1], rng) -> image (H, W) uint8
CORRUPTIONS = {
    "gaussian_blur": gaussian_blur,
    "resample": resample,
    "jpeg": jpeg,
    "gamma": gamma,
    "contrast": contrast,
    "gaussian_noise": gaussian_noise,
    "sharpen": sharpen,
}


# ----------------------------------------------------------------------------- batches


def corrupt_batch(images, rng, probability):
    """A corrupted copy of ``images`` (uint8, (N, H, W) or (N, H, W, 1), same shape back).

    Each image independently, with ``probability``, gets ONE corruption drawn uniformly
    from :data:`CORRUPTIONS` with a severity drawn uniformly from :data:`TRAINING_SEVERITY`;
    the others come back bit-identical. ``rng``: a Generator (its stream goes on) or a seed.
    """
    images = check_batch("corrupt_batch", images)
    probability = check_fraction("corrupt_batch", "probability", probability)
    rng = as_generator(rng)
    n = len(images)
    chosen = rng.random(n) < probability
    kinds = rng.integers(len(CORRUPTIONS), size=n)
    severities = rng.uniform(*TRAINING_SEVERITY, size=n)
    functions = list(CORRUPTIONS.values())
    out = images.copy()
    grey = out.reshape(images.shape[:3])  # a view: writing into it writes into out
    for i in np.flatnonzero(chosen):
        grey[i] = functions[kinds[i]](grey[i], severities[i], rng)
    return out


def shifted_validation(images, seed=0):
    """A shift-simulated copy of ``images`` (uint8, (N, H, W) or (N, H, W, 1), same shape back).

    Every image is corrupted: image i by the (i mod 7)-th entry of :data:`CORRUPTIONS` (in
    their order: blur, resample, jpeg, gamma, contrast, noise, sharpen), all at
    :data:`VALIDATION_SEVERITY`. ``seed`` fixes the random parts (the direction of gamma and
    contrast, the noise), so the same call gives the same array.
    """
    images = check_batch("shifted_validation", images)
    rng = as_generator(seed)
    functions = list(CORRUPTIONS.values())
    out = images.copy()
    grey = out.reshape(images.shape[:3])
    for i in range(len(images)):
        grey[i] = functions[i % len(functions)](grey[i], VALIDATION_SEVERITY, rng)
    return out
