"""Read one X-ray image file as the network sees it: uint8 grey levels, ``size x size``.

    xray = load_xray("chest.dcm", size=64)      # XRay(pixels=uint8 (64, 64), warnings=[...])
    pixels, reason = read_xray("chest.png", 64)  # (None, reason) instead of an error

Formats (README.md, "What `tinycnn predict` reads", says the same for users):

* Anything Pillow opens (PNG, TIFF, JPEG, BMP, GIF, WebP ...), by its real bit depth:
  - 8-bit images keep their grey levels; colour (RGB, CMYK, palette ...) becomes grey by
    ITU-R 601 luma, ``L = 0.299 R + 0.587 G + 0.114 B`` (Pillow's ``convert("L")``), after
    compositing any transparency on black. This is the recipe of the shipped training data.
  - integer images deeper than 8 bits (Pillow modes ``I;16``, ``I;16B``, ``I``): a PNG or TIFF
    does not say how many of its 16 bits carry data (a 12-bit detector's values fill 0..4095
    of a 16-bit file), so the range is the smallest usual detector depth, 8, 10, 12, 14 or 16
    bits, that holds the brightest pixel: ``0 .. 2**bits - 1`` maps linearly to 0..255.
    Negative values or values beyond 16 bits: the image's own min..max.
  - float images (mode ``F``): 0..1 when every value lies in it, else the image's min..max.
* DICOM (``.dcm``, or the ``DICM`` marker at byte 128): :mod:`tinycnn.data.dicom`.

Then the EXIF orientation is applied (a photo tagged "rotate 180" is turned the right way up)
and the grey image is resized with Pillow's LANCZOS filter. Anything but a regular file (a
folder, a FIFO, a device) is refused before it is read, so nothing can hang; so are images
of more than ``max_pixels`` pixels (decompression bombs) and animations or multi-page files.
"""

from __future__ import annotations

import os
import stat
import struct
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .input_checks import colour_warnings, intensity_warnings, size_warnings

#: File name endings :func:`tinycnn.data.load_pneumonia_folder` reads (``predict`` reads any).
IMAGE_SUFFIXES = frozenset({".jpeg", ".jpg", ".png", ".tif", ".tiff", ".dcm"})

#: Refuse images with more pixels than this (a "decompression bomb": a tiny file that
#: would expand to gigabytes). The largest original X-ray in the release is about 7.5 Mpx.
DEFAULT_MAX_PIXELS = 40_000_000

#: The largest output side: a network input far beyond any here (64, 128) but bounded in memory.
MAX_SIZE = 4096

#: Bit depths of X-ray detectors; the first that holds an integer image's maximum is its range.
DETECTOR_BITS = (8, 10, 12, 14, 16)

#: The EXIF tag that says how to turn the stored pixels to show the image upright.
EXIF_ORIENTATION = 0x0112

#: Pillow modes with more than 8 bits per pixel, read by their values, not through "L".
DEEP_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I", "F"})


class ImageReadError(ValueError):
    """An image file that cannot be read; ``reason`` says why, ``str(err)`` names the file too."""

    def __init__(self, file, reason: str):
        super().__init__(f"{file}: {reason}")
        self.file = str(file)
        self.reason = reason


@dataclass
class XRay:
    """One image as the network sees it, and what is unusual about it.

    ``pixels``: uint8 (size, size) grey levels. ``warnings``: one line each, naming the file,
    for an input unlike the training images (tiny, coloured, odd intensities, DICOM metadata).
    """

    pixels: np.ndarray
    warnings: list[str] = field(default_factory=list)


def load_xray(file: str | Path, size: int, max_pixels: int = DEFAULT_MAX_PIXELS) -> XRay:
    """Read an image or DICOM file as a uint8 (size, size) grey X-ray, plus warnings.

    Raises :class:`ImageReadError` for a file that is missing, not a regular file, corrupt,
    truncated, too large, or a kind of image that cannot be turned into one grey X-ray
    (multi-frame, colour DICOM). ``size`` and ``max_pixels`` must be positive ints.
    """
    check_positive_int("size", size, largest=MAX_SIZE)
    check_positive_int("max_pixels", max_pixels)
    with open_regular_file(file) as f:
        if is_dicom(file, f):
            from .dicom import read_dicom

            grey, notes = read_dicom(f, file, max_pixels)
        else:
            grey, notes = read_with_pillow(f, file, max_pixels)
    pixels = resize_grey(grey, size)
    height, width = grey.shape
    notes = size_warnings(file, width, height, size) + notes + intensity_warnings(file, pixels)
    return XRay(pixels, notes)


def read_xray(file: str | Path, size: int, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Like :func:`load_xray`, but ``(pixels, "")`` on success and ``(None, reason)`` for a
    file that cannot be read, as the folder loader needs; warnings are dropped.

    A bad ``size`` or ``max_pixels`` still raises: that is the caller's mistake, not the file's.
    """
    try:
        return load_xray(file, size, max_pixels).pixels, ""
    except ImageReadError as err:
        return None, err.reason


def check_positive_int(name: str, value, largest: int | None = None) -> None:
    """Refuse a ``size``/``max_pixels`` that is not an int in 1..largest (a bool is not a size)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"read_xray: {name} must be an int (pixels), got {type(value).__name__} {value!r}")
    if value < 1:
        raise ValueError(f"read_xray: {name} must be >= 1 (pixels), got {value}")
    if largest is not None and value > largest:
        raise ValueError(f"read_xray: {name} must be <= {largest} (pixels), got {value}")


# --------------------------------------------------------------------------- the file


def _open_nonblocking(path, flags):
    # O_NONBLOCK: opening a FIFO with no writer returns at once instead of waiting forever.
    return os.open(path, flags | getattr(os, "O_NONBLOCK", 0))


def special_file_kind(mode: int) -> str:
    """'a directory', 'a FIFO (named pipe)', ... for an ``st_mode`` that is not a regular file."""
    kinds = [(stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISSOCK, "a socket")]
    return next((kind for test, kind in kinds if test(mode)), "not a regular file")


def open_regular_file(file):
    """Open ``file`` for reading in binary, refusing anything that is not a regular file.

    The file is opened without blocking and then checked with ``fstat`` on the open
    descriptor, so even a file swapped for a FIFO between a check and the open cannot hang.
    """
    try:
        f = open(file, "rb", opener=_open_nonblocking)
    except FileNotFoundError:
        raise ImageReadError(file, "no such image file") from None
    except IsADirectoryError:
        raise ImageReadError(file, "is a directory, not an image file") from None
    except OSError as err:
        raise ImageReadError(file, f"cannot open it ({err.strerror or err})") from None
    mode = os.fstat(f.fileno()).st_mode
    if not stat.S_ISREG(mode):
        f.close()
        raise ImageReadError(file, f"is {special_file_kind(mode)}, not an image file")
    return f


def is_dicom(file, f) -> bool:
    """A ``.dcm`` name, or the ``DICM`` marker after the 128-byte preamble (rewinds ``f``)."""
    f.seek(128)
    marker = f.read(4)
    f.seek(0)
    return marker == b"DICM" or Path(file).suffix.lower() == ".dcm"


# --------------------------------------------------------------------------- Pillow images


def read_with_pillow(f, file, max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """Full-resolution uint8 grey levels of an image Pillow reads, and colour warnings."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and above twice its limit, raises) for huge images; treat both as errors.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(f) as im:
                check_pixel_count(file, *im.size, max_pixels)  # only the header has been read so far
                frames = getattr(im, "n_frames", 1)
                if frames > 1:
                    raise ImageReadError(file, f"has {frames} frames (an animation or a multi-page "
                                               "file); give one image per file")
                white_is_zero = deep_white_is_zero(im)      # read before upright(): the copy loses the tags
                grey, notes = grey_levels(upright(im, file), file)
                return (255 - grey if white_is_zero else grey), notes
    except ImageReadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise ImageReadError(file, f"too large (decompression bomb): {err}") from None
    except UnidentifiedImageError:
        raise ImageReadError(file, unidentified_reason(f)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise ImageReadError(file, f"unreadable: {type(err).__name__}: {err}") from None


def deep_white_is_zero(im: Image.Image) -> bool:
    """True for a 16-bit or float TIFF stored "white is zero" (PhotometricInterpretation 0, the
    TIFF form of DICOM's MONOCHROME1): Pillow inverts such 8-bit TIFFs itself, not deeper ones."""
    tags = getattr(im, "tag_v2", None)
    return im.mode in DEEP_MODES and tags is not None and tags.get(262) == 0


#: The first bytes of the formats an X-ray is usually exported in.
MAGIC_NUMBERS = {b"\x89PNG": "PNG", b"\xff\xd8\xff": "JPEG", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
                 b"GIF8": "GIF", b"BM": "BMP"}


def unidentified_reason(f) -> str:
    """Why Pillow could not open a file: empty, a damaged known format, or no image at all."""
    f.seek(0)
    head = f.read(8)
    if not head:
        return "is empty (0 bytes)"
    known = next((name for magic, name in MAGIC_NUMBERS.items() if head.startswith(magic)), None)
    if known:
        return f"unreadable: starts like a {known} file but its header is corrupt or truncated"
    return "unreadable: not an image (no known format: PNG, JPEG, TIFF, ... or DICOM expected)"


def upright(im: Image.Image, file) -> Image.Image:
    """The image turned the way its EXIF orientation tag says (1..8; no tag: as stored).

    A corrupt EXIF block or an orientation outside 1..8 is an error: the turn would be a guess.
    """
    try:
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    except (SyntaxError, ValueError, KeyError, TypeError, struct.error) as err:
        raise ImageReadError(file, f"its EXIF block (which holds the orientation) is corrupt: "
                                   f"{type(err).__name__}: {err}") from None
    if orientation not in range(1, 9):
        raise ImageReadError(file, f"EXIF orientation is {orientation!r}; expected 1 to 8")
    return ImageOps.exif_transpose(im)


def check_pixel_count(file, width: int, height: int, max_pixels: int) -> None:
    """Refuse an image of more than ``max_pixels`` pixels before its pixels are decoded."""
    if width * height > max_pixels:
        raise ImageReadError(file, f"too large: {width}x{height} pixels > max_pixels={max_pixels}")


def grey_levels(im: Image.Image, file) -> tuple[np.ndarray, list[str]]:
    """uint8 grey levels of a Pillow image by its real bit depth (module docstring)."""
    if im.mode in DEEP_MODES:
        return deep_to_uint8(np.asarray(im), file), []
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))
        im = Image.alpha_composite(black, im.convert("RGBA")).convert("RGB")
    notes = []
    if im.mode not in ("L", "1"):
        im = im.convert("RGB")
        notes = colour_warnings(file, np.asarray(im.reduce(max(1, min(im.size) // 256))))
    return np.asarray(im.convert("L")), notes


def deep_to_uint8(values: np.ndarray, file) -> np.ndarray:
    """Map a >8-bit integer or float image to 0..255 by its stored range (module docstring)."""
    is_float = values.dtype.kind == "f"
    values = values.astype(np.float64)
    if not np.isfinite(values).all():
        raise ImageReadError(file, "has NaN or infinite pixel values")
    lowest, highest = float(values.min()), float(values.max())
    return scale_to_uint8(values, *stored_range(lowest, highest, is_float))


def stored_range(lowest: float, highest: float, is_float: bool) -> tuple[float, float]:
    """The grey range of a deep image whose pixels lie in ``lowest .. highest``."""
    if is_float:
        return (0.0, 1.0) if lowest >= 0 and highest <= 1 else (lowest, highest)
    if lowest < 0 or highest >= 2 ** DETECTOR_BITS[-1]:
        return lowest, highest
    bits = next(b for b in DETECTOR_BITS if highest < 2**b)
    return 0.0, float(2**bits - 1)


def scale_to_uint8(values: np.ndarray, low: float, high: float) -> np.ndarray:
    """``low`` -> 0 and ``high`` -> 255 linearly, clipped outside, rounded to the nearest level.

    ``high <= low`` (a window of width 1, a constant float image) is a threshold: 255 above ``low``.
    """
    if high <= low:
        return np.where(values > low, 255, 0).astype(np.uint8)
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def resize_grey(grey: np.ndarray, size: int) -> np.ndarray:
    """uint8 (size, size) by Pillow's LANCZOS filter, as the shipped NPZ was made.

    The one resize of tinycnn: a user's X-ray goes through it (``load_xray``), and so do the
    shipped 64x64 images when a run asks for another input size (``resize_images``).  When
    it shrinks an image, Pillow widens the Lanczos-3 kernel by the shrink factor, so every
    output pixel is a weighted mean over its whole footprint (antialiased, no aliasing of
    fine texture); the weights sum to 1, so a constant image stays constant.  The same size
    returns the pixels unchanged."""
    image = Image.fromarray(np.ascontiguousarray(grey, dtype=np.uint8), "L")
    return np.asarray(image.resize((size, size), Image.Resampling.LANCZOS))


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """uint8 (N, size, size): each uint8 (H, W) image of ``images`` (N, H, W) through :func:`resize_grey`."""
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ValueError(f"resize_images: images must be uint8 (N, H, W), got {images.dtype} {images.shape}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"resize_images: size must be an int in 1..{MAX_SIZE} (pixels), got {size!r}")
    resized = np.empty((len(images), size, size), dtype=np.uint8)
    for number, image in enumerate(images):
        resized[number] = resize_grey(image, size)
    return resized
