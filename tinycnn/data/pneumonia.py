"""Load the pediatric chest X-ray pneumonia data (Kermany et al. 2018).

Two sources give the same result, a :class:`PneumoniaData`:

* :func:`load_pneumonia` reads the compact ``.npz`` shipped inside this package
  (``pneumonia_64.npz``: the complete official train 5,216 / test 624 split at 64x64),
  or ``pneumonia_128.npz`` if you pass its path.
* :func:`load_pneumonia_folder` reads the public JPEG release laid out as
  ``chest_xray/{train,test,val}/{NORMAL,PNEUMONIA}/*.jpeg``.

Labels: ``1 = PNEUMONIA``, ``0 = NORMAL``. Images are uint8 grey levels, shape (N, S, S).
Rows are sorted by relative file path, so all NORMAL rows come first: shuffle before training.
See ``README.md`` next to this file for the citation (CC BY 4.0) and notes on the data.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from .images import DEFAULT_MAX_PIXELS, IMAGE_SUFFIXES, read_xray, resize_images

DATA_DIR = Path(__file__).resolve().parent
DEFAULT_PATH = DATA_DIR / "pneumonia_64.npz"

#: sha256 of the files we distribute; a copy with one of these names must match.
KNOWN_SHA256 = {
    "pneumonia_64.npz": "5b0a8ec8c163eb994e0c369df41192d0fbaa4bbadb096047d309a5db5515e4f6",
    "pneumonia_128.npz": "f12c6f0e93e931421ea15b60cdf0bd7c67172ac4e2b96ab813881b16cb337d65",
}

CLASS_NAMES = ("NORMAL", "PNEUMONIA")  # label 0, label 1
REQUIRED_SPLITS = ("train", "test")
OPTIONAL_SPLITS = ("val",)

#: Mean and standard deviation of all pixels of ``x_train`` in ``pneumonia_64.npz``,
#: after scaling to [0, 1] (123.0 / 255 and 60.0 / 255 grey levels). Used by :func:`normalize`.
TRAIN_MEAN = 0.4825
TRAIN_STD = 0.2352

class PneumoniaDataError(ValueError):
    """The data file or folder is missing pieces, corrupted, or has the wrong shape."""


@dataclass(repr=False)
class PneumoniaData:
    """Images, labels and file names of each split.

    ``x_*``: uint8 (N, S, S); ``y_*``: uint8 (N,), 1 = PNEUMONIA; ``files_*``: relative paths
    such as ``train/NORMAL/IM-0115-0001.jpeg``. The ``val`` fields are ``None`` unless the
    source had a ``val`` split. ``skipped`` lists ``(file, reason)`` for unreadable images.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    files_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    files_test: np.ndarray
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    files_val: np.ndarray | None = None
    source: str = ""
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def skipped_files(self) -> list[str]:
        """Names of the images that could not be read."""
        return [name for name, _ in self.skipped]

    @property
    def n_skipped(self) -> int:
        return len(self.skipped)

    def splits(self) -> list[str]:
        """Names of the splits present, e.g. ``["train", "test"]``."""
        return [s for s in REQUIRED_SPLITS + OPTIONAL_SPLITS if getattr(self, f"x_{s}") is not None]

    def resized(self, size: int) -> PneumoniaData:
        """These data with every split's images resized to ``size x size`` by
        :func:`~tinycnn.data.images.resize_images` (Pillow's antialiased LANCZOS, the resize a
        user's X-ray goes through); ``size`` 0 or the images' own size: these data unchanged."""
        if size == 0 or size == self.x_train.shape[1]:
            return self
        return replace(self, **{f"x_{s}": resize_images(getattr(self, f"x_{s}"), size) for s in self.splits()})

    def __repr__(self) -> str:
        parts = []
        for split in self.splits():
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            n_pos = int(np.sum(y == 1))
            parts.append(f"{split}={x.shape} ({len(y) - n_pos} NORMAL, {n_pos} PNEUMONIA)")
        skipped = f", skipped={self.n_skipped}" if self.skipped else ""
        return f"PneumoniaData({', '.join(parts)}{skipped}, source={self.source!r})"


# --------------------------------------------------------------------------- NPZ file


def load_pneumonia(path: str | Path | None = None, verify: bool = True) -> PneumoniaData:
    """Load the pneumonia arrays from an ``.npz`` file (default: the one shipped here).

    With ``verify=True`` a file named ``pneumonia_64.npz`` or ``pneumonia_128.npz`` must
    have the published sha256; a file with any other name has no known hash, so only its
    keys, shapes and dtypes are checked (these are always checked).

    Raises ``FileNotFoundError`` if the file is missing and :class:`PneumoniaDataError`
    (a ``ValueError``) if it is corrupted, truncated or has unexpected contents.
    """
    path = DEFAULT_PATH if path is None else Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pneumonia data file not found: {path}")
    if verify and path.name in KNOWN_SHA256:
        _check_sha256(path, KNOWN_SHA256[path.name])
    arrays = _read_npz(path)
    _validate_arrays(arrays, source=str(path))
    return PneumoniaData(**arrays, source=str(path))


def sha256_of_file(path: str | Path) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_sha256(path: Path, expected: str) -> None:
    actual = sha256_of_file(path)
    if actual != expected:
        raise PneumoniaDataError(
            f"{path}: sha256 is {actual}, but {path.name} should have {expected}. "
            "The file is corrupted or truncated; copy it again "
            "(or pass verify=False if you rebuilt it on purpose)."
        )


def _array_keys(split: str) -> tuple[str, str, str]:
    return f"x_{split}", f"y_{split}", f"files_{split}"


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read all split arrays; turn low-level zip/zlib errors into a clear message."""
    wanted = [k for s in REQUIRED_SPLITS + OPTIONAL_SPLITS for k in _array_keys(s)]
    try:
        contents = np.load(path, allow_pickle=False)
        if isinstance(contents, np.ndarray):
            raise PneumoniaDataError(f"{path}: holds a single .npy array, expected an .npz archive")
        with contents as npz:
            missing = [k for s in REQUIRED_SPLITS for k in _array_keys(s) if k not in npz.files]
            if missing:
                raise PneumoniaDataError(f"{path}: missing arrays {missing} (has {sorted(npz.files)})")
            return {k: npz[k] for k in wanted if k in npz.files}
    except PneumoniaDataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as err:
        raise PneumoniaDataError(
            f"{path}: not a readable .npz archive, probably corrupted or truncated "
            f"({type(err).__name__}: {err})"
        ) from err


def _validate_arrays(arrays: dict[str, np.ndarray], source: str) -> None:
    """Check dtypes, shapes and label values of every split that is present."""
    image_shape = None
    for split in REQUIRED_SPLITS + OPTIONAL_SPLITS:
        x_key, y_key, f_key = _array_keys(split)
        if x_key not in arrays:
            continue
        x, y, files = arrays[x_key], arrays[y_key], arrays[f_key]
        problem = None
        if x.dtype != np.uint8 or x.ndim != 3 or x.shape[1] != x.shape[2]:
            problem = f"{x_key} should be uint8 (N, S, S), got {x.dtype} {x.shape}"
        elif y.ndim != 1 or len(y) != len(x):
            problem = f"{y_key} should have shape ({len(x)},), got {y.shape}"
        elif not np.isin(y, (0, 1)).all():
            problem = f"{y_key} should hold only 0 and 1, got {np.unique(y)[:10]}"
        elif files.ndim != 1 or len(files) != len(x) or files.dtype.kind != "U":
            problem = f"{f_key} should be {len(x)} strings, got {files.dtype} {files.shape}"
        elif image_shape is not None and x.shape[1:] != image_shape:
            problem = f"{x_key} has images of {x.shape[1:]}, other splits have {image_shape}"
        if problem:
            raise PneumoniaDataError(f"{source}: {problem}")
        image_shape = x.shape[1:]


# --------------------------------------------------------------------------- JPEG folder


def load_pneumonia_folder(
    path: str | Path, size: int = 64, max_pixels: int = DEFAULT_MAX_PIXELS
) -> PneumoniaData:
    """Read the public JPEG release: ``path/{train,test[,val]}/{NORMAL,PNEUMONIA}/*.jpeg``.

    Each image is read by :func:`tinycnn.data.read_xray`, as ``tinycnn predict`` reads it:
    8-bit images converted to grey (Pillow mode ``"L"``) and resized to ``size x size`` with
    Pillow's LANCZOS filter -- the recipe used for the shipped NPZ --, 16-bit and float
    PNG/TIFF by their stored range and DICOM through its windowing (``images.py``,
    ``dicom.py``), never clipped. ``path`` may also be a folder that holds ``chest_xray/``.

    * Files that are not ``.jpeg/.jpg/.png/.tif/.tiff/.dcm`` and hidden files (``.DS_Store``,
      ``._x.jpeg``) are ignored.
    * Corrupt or truncated images, and images with more than ``max_pixels`` pixels
      (decompression bombs), are skipped: they are listed in ``result.skipped`` as
      ``(file, reason)`` and reported once with ``warnings.warn``.
    * A missing ``train``/``test`` folder, a missing class folder, or a split with no
      readable image raises :class:`PneumoniaDataError`.
    """
    root = _find_root(Path(path))
    skipped: list[tuple[str, str]] = []
    arrays: dict[str, np.ndarray] = {}
    for split in REQUIRED_SPLITS + OPTIONAL_SPLITS:
        if not (root / split).is_dir():
            if split in REQUIRED_SPLITS:
                raise PneumoniaDataError(f"{root}: split folder '{split}/' is missing")
            continue
        x, y, files = _read_split(root, split, size, max_pixels, skipped)
        arrays.update(dict(zip(_array_keys(split), (x, y, files))))
    if skipped:
        names = ", ".join(name for name, _ in skipped[:5])
        more = " ..." if len(skipped) > 5 else ""
        warnings.warn(f"{root}: skipped {len(skipped)} unreadable image(s): {names}{more}", stacklevel=2)
    return PneumoniaData(**arrays, source=str(root), skipped=skipped)


def _find_root(path: Path) -> Path:
    """Accept the folder holding ``train/`` or the folder holding ``chest_xray/``."""
    if not path.is_dir():
        raise FileNotFoundError(f"pneumonia image folder not found: {path}")
    if not (path / "train").is_dir() and (path / "chest_xray" / "train").is_dir():
        return path / "chest_xray"
    return path


def _image_files(folder: Path) -> list[Path]:
    """Image files in ``folder``, sorted by name; hidden and non-image files are left out."""
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _read_split(root: Path, split: str, size: int, max_pixels: int, skipped: list) -> tuple:
    images, labels, names = [], [], []
    for label, class_name in enumerate(CLASS_NAMES):
        class_dir = root / split / class_name
        if not class_dir.is_dir():
            raise PneumoniaDataError(f"{root}: class folder '{split}/{class_name}/' is missing")
        for file in _image_files(class_dir):
            relative = f"{split}/{class_name}/{file.name}"
            image, reason = read_xray(file, size, max_pixels)
            if image is None:
                skipped.append((relative, reason))
                continue
            images.append(image)
            labels.append(label)
            names.append(relative)
    if not images:
        raise PneumoniaDataError(f"{root}: split '{split}/' has no readable images")
    order = np.argsort(names, kind="stable")  # sorted by relative path, like the NPZ
    x = np.stack(images)[order]
    y = np.asarray(labels, dtype=np.uint8)[order]
    files = np.asarray(names, dtype=str)[order]
    return x, y, files


# --------------------------------------------------------------------------- preprocessing


def normalize(x_uint8: np.ndarray, mean: float = TRAIN_MEAN, std: float = TRAIN_STD) -> np.ndarray:
    """Scale uint8 grey images to float32 network input of shape (N, H, W, 1).

        x_out = (x / 255 - mean) / std

    ``mean`` and ``std`` default to the training-set statistics ``TRAIN_MEAN = 0.4825`` and
    ``TRAIN_STD = 0.2352`` (so the train pixels end up with mean 0 and standard deviation 1).
    Use the *train* statistics for validation and test images too.
    """
    x = np.asarray(x_uint8)
    if x.dtype != np.uint8:
        raise TypeError(f"normalize expects uint8 images (0..255), got {x.dtype}; already normalised?")
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 3:
        raise ValueError(f"normalize expects (N, H, W) or (N, H, W, 1), got shape {x.shape}")
    scaled = x.astype(np.float32) / np.float32(255.0)
    return ((scaled - np.float32(mean)) / np.float32(std))[..., None]


def standardize_per_image(x_uint8: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Scale each uint8 grey image by its own statistics: float32 (N, H, W, 1).

        x_out = (x - mean_i) / (std_i + eps),   mean_i, std_i over the pixels of image i

    Unlike :func:`normalize` this removes each image's overall exposure and contrast, which
    differ between X-ray machines and habits and correlate with the label in this data set
    (see README.md, "Shortcut cues"); the network then has to look at the structure.
    """
    x = normalize(x_uint8, mean=0.0, std=1.0)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    std = x.std(axis=(1, 2, 3), keepdims=True)
    return ((x - mean) / (std + np.float32(eps))).astype(np.float32)


#: The ways :func:`preprocess` turns uint8 images into network input.
PREPROCESSING_METHODS = ("per_image", "dataset", "unit")


def preprocess(x_uint8: np.ndarray, method: str = "per_image") -> np.ndarray:
    """Network input from uint8 images, float32 (N, H, W, 1), by ``method``:

    * ``"per_image"``: :func:`standardize_per_image` (each X-ray by its own mean and std);
    * ``"dataset"``: :func:`normalize` (the training set's ``TRAIN_MEAN`` and ``TRAIN_STD``);
    * ``"unit"``: ``x / 255`` in [0, 1], nothing else (the published 28x28 baseline's recipe).
    """
    if method == "per_image":
        return standardize_per_image(x_uint8)
    if method == "dataset":
        return normalize(x_uint8)
    if method == "unit":
        return normalize(x_uint8, mean=0.0, std=1.0)
    raise ValueError(f"unknown preprocessing {method!r}; expected one of {PREPROCESSING_METHODS}")
