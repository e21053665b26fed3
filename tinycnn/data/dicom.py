"""Read a DICOM X-ray as uint8 grey levels, the way a viewer shows it (needs ``pydicom``).

pydicom is an optional extra, imported only when a DICOM file is read:
``pip install "tinycnn[dicom]"``. The steps are DICOM's display pipeline (PS3.3 C.11), in order:

1. **stored values**: pydicom's ``pixel_array`` (it honours Bits Stored and the sign);
2. **modality LUT**: Rescale Slope and Intercept (or a Modality LUT Sequence), giving values
   in the modality's units;
3. **VOI**: the VOI LUT Sequence when present; else Window Center/Width (the first pair,
   with VOI LUT Function LINEAR, LINEAR_EXACT or SIGMOID); else the whole stored bit range
   (0 .. 2**BitsStored - 1, or the signed range) through step 2; the result is 0..255;
4. **photometric interpretation**: MONOCHROME1 (low values white) is inverted to MONOCHROME2.
   Presentation LUT Shape is not applied (in DX files it restates the same inversion).

Refused with the attribute named: colour (Samples per Pixel > 1, or a Photometric
Interpretation other than MONOCHROME1/2), multi-frame (Number of Frames > 1), more pixels
than ``max_pixels``, no Pixel Data, and compressed pixel data no installed decoder reads.
Warned about: a Modality other than a radiograph's, a Body Part Examined other than the
chest, a lateral View Position, a patient older than the training children (1-5 years).
"""

from __future__ import annotations

import warnings

import numpy as np

from .images import ImageReadError, check_pixel_count, scale_to_uint8

GREY_INTERPRETATIONS = ("MONOCHROME1", "MONOCHROME2")
RADIOGRAPH_MODALITIES = ("CR", "DX", "RG")     # computed, digital, radiographic imaging
LATERAL_VIEWS = ("LL", "RL", "LAT", "LATERAL")
OLDEST_TRAINING_AGE_YEARS = 5                  # Kermany et al.: children aged one to five


def import_pydicom(file):
    """The pydicom module, or an error that names the extra to install."""
    try:
        import pydicom
    except ImportError:
        raise ImageReadError(file, 'is a DICOM file, and reading DICOM needs pydicom: '
                                   'pip install "tinycnn[dicom]"') from None
    return pydicom


def lut_functions():
    """pydicom's apply_modality_lut and apply_voi (their module moved in pydicom 3)."""
    try:
        from pydicom.pixels import apply_modality_lut, apply_voi
    except ImportError:                         # pydicom 2.x
        from pydicom.pixel_data_handlers.util import apply_modality_lut, apply_voi
    return apply_modality_lut, apply_voi


def read_dicom(f, file, max_pixels: int) -> tuple[np.ndarray, list[str]]:
    """Full-resolution uint8 grey levels of a DICOM X-ray, and warnings about it.

    pydicom's own warnings about a file it could read (a malformed value, say) become
    one-line warnings naming the file, like the ones about its metadata.
    """
    pydicom = import_pydicom(file)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        header = read_dataset(pydicom, f, file, stop_before_pixels=True)
        check_header(header, file, max_pixels)     # before the pixel data is read at all
        f.seek(0)
        ds = read_dataset(pydicom, f, file, stop_before_pixels=False)
        grey = displayed_grey(ds, file)
    notes = [f"{file}: pydicom: {one_line(w.message)}" for w in caught if issubclass(w.category, UserWarning)]
    return grey, notes + metadata_warnings(ds, file)


def displayed_grey(ds, file) -> np.ndarray:
    """Steps 1-4 of the module docstring: stored values to the uint8 grey a viewer shows."""
    stored = stored_values(ds, file)
    apply_modality_lut, _ = lut_functions()
    try:
        grey = voi_to_uint8(apply_modality_lut(stored, ds), ds, file)
    except ImageReadError:
        raise
    except (AttributeError, IndexError, KeyError, ValueError, TypeError, NotImplementedError) as err:
        raise ImageReadError(file, f"cannot apply its rescale, LUT or window: {type(err).__name__}: "
                                   f"{one_line(err)}") from None
    return 255 - grey if ds.PhotometricInterpretation == "MONOCHROME1" else grey


def read_dataset(pydicom, f, file, stop_before_pixels: bool):
    """``pydicom.dcmread``, its errors turned into one line naming the file."""
    try:
        return pydicom.dcmread(f, stop_before_pixels=stop_before_pixels)
    except pydicom.errors.InvalidDicomError:
        raise ImageReadError(file, "is not a DICOM file (no 'DICM' marker at byte 128 "
                                   "and no DICOM header)") from None
    except (OSError, EOFError, ValueError, KeyError, TypeError, OverflowError) as err:
        raise ImageReadError(file, f"unreadable DICOM: {type(err).__name__}: {one_line(err)}") from None


def one_line(err: Exception) -> str:
    return " ".join(str(err).split())


def check_header(ds, file, max_pixels: int) -> None:
    """Refuse what cannot be one grey X-ray: colour, several frames, too many pixels."""
    samples = whole_number(ds, "SamplesPerPixel", 1, file)
    if samples != 1:
        raise ImageReadError(file, f"SamplesPerPixel is {samples}: a colour DICOM image; "
                                   "tinycnn reads grey X-rays (MONOCHROME1/MONOCHROME2)")
    for name in ("PhotometricInterpretation", "Rows", "Columns"):
        if name not in ds:
            raise ImageReadError(file, f"has no {name}: not a DICOM image, or the file is truncated")
    photometric = ds.PhotometricInterpretation
    if photometric not in GREY_INTERPRETATIONS:
        raise ImageReadError(file, f"PhotometricInterpretation is {photometric!r}: tinycnn reads "
                                   "grey X-rays (MONOCHROME1/MONOCHROME2)")
    frames = whole_number(ds, "NumberOfFrames", 1, file)
    if frames > 1:
        raise ImageReadError(file, f"NumberOfFrames is {frames}: a multi-frame DICOM; "
                                   "export the one frame to classify as its own file")
    rows, columns = whole_number(ds, "Rows", None, file), whole_number(ds, "Columns", None, file)
    if rows < 1 or columns < 1:
        raise ImageReadError(file, f"Rows x Columns is {rows} x {columns}: an image has at least one pixel")
    check_pixel_count(file, columns, rows, max_pixels)


def whole_number(ds, name: str, default, file) -> int:
    """An integer attribute (``default`` when absent or empty), or an error naming it."""
    value = ds.get(name, None)
    if value is None or value == "":
        value = default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ImageReadError(file, f"{name} is {value!r}, not a whole number") from None


def stored_values(ds, file) -> np.ndarray:
    """The stored pixel values (pydicom's pixel_array), or a reason it cannot have them."""
    if "PixelData" not in ds:
        raise ImageReadError(file, "has no Pixel Data (7FE0,0010): a DICOM object that is not an image")
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError) as err:  # no decoder for the compression
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown")
        name = getattr(syntax, "name", syntax)
        raise ImageReadError(file, f"its pixel data are compressed as {name} and cannot be "
                                   f"decoded here: {one_line(err)}") from None
    except (ValueError, AttributeError, KeyError, TypeError, IndexError) as err:
        raise ImageReadError(file, f"unreadable pixel data: {type(err).__name__}: {one_line(err)}") from None


def voi_to_uint8(values: np.ndarray, ds, file) -> np.ndarray:
    """Step 3 of the module docstring: the values of interest mapped to 0..255."""
    if ds.get("VOILUTSequence"):
        _, apply_voi = lut_functions()
        nominal_bits = int(ds.VOILUTSequence[0].LUTDescriptor[2])
        looked_up = apply_voi(np.rint(values).astype(np.int64), ds)
        return scale_to_uint8(looked_up.astype(np.float64), 0.0, 2.0**nominal_bits - 1)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = first_value(ds.WindowCenter), first_value(ds.WindowWidth)
        return window_to_uint8(values, center, width, ds.get("VOILUTFunction", "LINEAR"), file)
    low, high = modality_range(ds)
    return scale_to_uint8(np.asarray(values, dtype=np.float64), low, high)


def first_value(value) -> float:
    """The first value of a multi-valued attribute (in DICOM, the default window), as a float."""
    if isinstance(value, (str, bytes)) or np.isscalar(value):
        return float(value)
    return float(value[0])


def window_to_uint8(values, center: float, width: float, function: str, file) -> np.ndarray:
    """Window Center/Width to 0..255 by DICOM PS3.3 C.11.2.1.2.

    LINEAR: ``c - 0.5 - (w - 1) / 2`` and below -> 0, ``c - 0.5 + (w - 1) / 2`` and above -> 255,
    linear in between; LINEAR_EXACT: ``c -+ w / 2``; SIGMOID: ``255 / (1 + exp(-4 (x - c) / w))``.
    """
    values = np.asarray(values, dtype=np.float64)
    function = str(function).upper()
    if function not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
        raise ImageReadError(file, f"VOILUTFunction is {function!r}: expected LINEAR, LINEAR_EXACT or SIGMOID")
    wide_enough = width >= 1 if function == "LINEAR" else width > 0
    if not (np.isfinite(center) and np.isfinite(width) and wide_enough):
        needed = ">= 1" if function == "LINEAR" else "> 0"
        raise ImageReadError(file, f"WindowWidth is {width:g} (WindowCenter {center:g}): "
                                   f"a {function} window needs a finite centre and a width {needed}")
    if function == "SIGMOID":
        exponent = np.clip(-4.0 * (values - center) / width, -700, 700)     # exp(710) overflows
        return np.rint(255.0 / (1.0 + np.exp(exponent))).astype(np.uint8)
    half = (width - 1) / 2 if function == "LINEAR" else width / 2
    middle = center - 0.5 if function == "LINEAR" else center
    return scale_to_uint8(values, middle - half, middle + half)


def modality_range(ds) -> tuple[float, float]:
    """The stored bit range (from BitsStored and the sign) in the modality's units."""
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    if int(ds.get("PixelRepresentation", 0)) == 1:
        ends = np.array([-(2 ** (bits - 1)), 2 ** (bits - 1) - 1])
    else:
        ends = np.array([0, 2**bits - 1])
    apply_modality_lut, _ = lut_functions()
    mapped = np.asarray(apply_modality_lut(ends, ds), dtype=np.float64)
    return float(mapped.min()), float(mapped.max())


def patient_age_years(age) -> float | None:
    """DICOM Patient's Age ('004Y', '018M', '010W', '030D') in years, None when absent or odd."""
    text = str(age or "").strip().upper()
    per_year = {"Y": 1, "M": 12, "W": 52.18, "D": 365.25}
    if len(text) < 2 or text[-1] not in per_year or not text[:-1].isdigit():
        return None
    return int(text[:-1]) / per_year[text[-1]]


def metadata_warnings(ds, file) -> list[str]:
    """Warnings when the DICOM header says the image is unlike the training X-rays."""
    notes = []
    modality = str(ds.get("Modality", "") or "")
    if modality and modality not in RADIOGRAPH_MODALITIES:
        notes.append(f"{file}: Modality is {modality!r}, not a radiograph (CR/DX): "
                     "the model was trained on chest X-rays")
    body_part = str(ds.get("BodyPartExamined", "") or "").upper()
    if body_part and body_part != "CHEST":
        notes.append(f"{file}: BodyPartExamined is {body_part!r}: the model was trained on chest X-rays")
    view = str(ds.get("ViewPosition", "") or "").upper()
    if view in LATERAL_VIEWS:
        notes.append(f"{file}: ViewPosition is {view!r}, a lateral view: "
                     "the model was trained on frontal (AP) chest X-rays")
    years = patient_age_years(ds.get("PatientAge"))
    if years is not None and years > OLDEST_TRAINING_AGE_YEARS:
        notes.append(f"{file}: PatientAge is {ds.PatientAge}: the model was trained on children "
                     f"aged 1 to {OLDEST_TRAINING_AGE_YEARS}")
    return notes
