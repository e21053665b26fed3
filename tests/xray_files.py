"""Image and DICOM files built from the shipped X-rays, for tests/test_images.py and
tests/test_bad_inputs_images.py.

Every file starts from a real 8-bit X-ray of ``pneumonia_64.npz`` enlarged to 256x256
(:func:`xray_8bit`), so that a reader that handles bit depth, windowing or MONOCHROME1
correctly gives back exactly the grey levels of that 8-bit image.
"""

import struct
import zlib
from functools import lru_cache

import numpy as np
from PIL import Image

from tinycnn.data import load_pneumonia
from tinycnn.data.images import resize_grey

SIDE = 256          # the 8-bit original's side: larger than the 64-pixel network input


@lru_cache(maxsize=None)
def _test_images():
    return load_pneumonia().x_test


def xray_8bit(index=0):
    """A shipped test X-ray (uint8) enlarged to SIDE x SIDE: the '8-bit original'."""
    image = Image.fromarray(_test_images()[index]).resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    return np.asarray(image)


def as_network_input(grey, size=64):
    """What a correct reader returns for a full-resolution uint8 grey image."""
    return resize_grey(grey, size)


def to_bits(x8, bits):
    """The 8-bit image on a ``bits``-bit scale: round(x * (2**bits - 1) / 255)."""
    return np.rint(x8.astype(np.float64) * (2**bits - 1) / 255).astype(np.uint16)


def save_png16(path, values):
    """A 16-bit grey PNG (Pillow mode I;16) of uint16 values."""
    Image.fromarray(np.asarray(values, dtype=np.uint16)).save(path)
    return path


# --------------------------------------------------------------------------- raw PNG


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(width, height, bit_depth, colour_type, rows=b""):
    """A PNG file written by hand (its IHDR may claim any size; ``rows`` need not match)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows))
            + _chunk(b"IEND", b""))


def png48_bytes(rgb16):
    """A 16-bit-per-channel RGB PNG of a uint16 (H, W, 3) array (Pillow cannot write one)."""
    big_endian = np.asarray(rgb16, dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in big_endian)
    return png_bytes(big_endian.shape[1], big_endian.shape[0], 16, 2, rows)


# --------------------------------------------------------------------------- DICOM


def dicom_dataset(stored, bits_stored=12, photometric="MONOCHROME2", signed=False, **attributes):
    """A Digital X-Ray DICOM dataset of ``stored`` (2-D integer array) plus ``attributes``."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    stored = np.asarray(stored)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, for presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.BodyPartExamined, ds.PatientAge = "DX", "CHEST", "003Y"
    ds.Rows, ds.Columns = stored.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = stored.astype("<i2" if signed else "<u2").tobytes()
    for name, value in attributes.items():
        setattr(ds, name, value)
    return ds


def write_dicom(path, stored, **kwargs):
    """Write :func:`dicom_dataset` as a DICOM file (preamble and 'DICM' marker)."""
    ds = dicom_dataset(stored, **kwargs)
    try:
        ds.save_as(path, enforce_file_format=True)
    except TypeError:                       # pydicom 2.x
        ds.save_as(path, write_like_original=False)
    return path
