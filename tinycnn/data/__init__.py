"""Data for tinycnn: the pneumonia X-rays, patient-grouped splits, mini-batches, augmentation,
acquisition-style corruptions.

Arrays in, arrays out: nothing here knows about Tensors or models.

    from tinycnn.data import load_pneumonia, grouped_stratified_split, normalize, DataLoader
    data = load_pneumonia()                                   # shipped 64x64 NPZ
    train_idx, val_idx = grouped_stratified_split(data.files_train, data.y_train, 0.15, seed=0)
    x = normalize(data.x_train)                               # float32 (N, 64, 64, 1)
    xray = load_xray("chest.dcm", size=64)                    # one PNG/TIFF/JPEG/DICOM file
    small = data.resized(28)                                  # every split at 28x28 (resize_images)
    shifted = shifted_validation(data.x_train[val_idx])      # blurred, re-compressed, ... copies

The data are CC BY 4.0 (Kermany et al. 2018); see README.md in this folder.
"""

from .augment import (
    affine_warp,
    augment_xray,
    bilinear_sample,
    random_affine,
    random_brightness_contrast,
)
from .batches import DataLoader, iterate_minibatches, minibatch_indices, number_of_batches
from .corruptions import CORRUPTIONS, corrupt_batch, shifted_validation
from .images import IMAGE_SUFFIXES, ImageReadError, XRay, load_xray, read_xray, resize_grey, resize_images
from .pneumonia import (
    CLASS_NAMES,
    DEFAULT_PATH,
    KNOWN_SHA256,
    PREPROCESSING_METHODS,
    TRAIN_MEAN,
    TRAIN_STD,
    PneumoniaData,
    PneumoniaDataError,
    load_pneumonia,
    load_pneumonia_folder,
    normalize,
    preprocess,
    standardize_per_image,
    sha256_of_file,
)
from .splits import grouped_stratified_split, patient_id

__all__ = [
    "CLASS_NAMES",
    "CORRUPTIONS",
    "DEFAULT_PATH",
    "KNOWN_SHA256",
    "PREPROCESSING_METHODS",
    "TRAIN_MEAN",
    "TRAIN_STD",
    "DataLoader",
    "IMAGE_SUFFIXES",
    "ImageReadError",
    "PneumoniaData",
    "PneumoniaDataError",
    "affine_warp",
    "augment_xray",
    "bilinear_sample",
    "corrupt_batch",
    "grouped_stratified_split",
    "iterate_minibatches",
    "load_pneumonia",
    "load_pneumonia_folder",
    "load_xray",
    "minibatch_indices",
    "normalize",
    "preprocess",
    "standardize_per_image",
    "number_of_batches",
    "patient_id",
    "random_affine",
    "random_brightness_contrast",
    "read_xray",
    "resize_grey",
    "resize_images",
    "sha256_of_file",
    "shifted_validation",
    "XRay",
]
