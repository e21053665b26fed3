"""Bad and unusual image inputs to ``load_xray`` (what ``tinycnn predict`` reads): one table.

Each row builds a file in tmp_path and states the exact outcome:

* ``Refused(words)``: an ``ImageReadError`` whose message names the file and holds ``words``
  (the reason, or the DICOM attribute to blame);
* ``Reads(warnings)``: the grey levels equal the expected ones exactly (the builder returns
  them, computed by hand or by Pillow from the pixels the file holds), and the warnings are
  exactly one per expected phrase, in order (none when ``warnings`` is empty).

A second table covers the ``size`` and ``max_pixels`` arguments. Round trips through the
network are in tests/test_images.py.
"""

import os
import signal
import sys
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image

from tinycnn.data import ImageReadError, load_xray, read_xray
from xray_files import (as_network_input, dicom_dataset, png48_bytes, png_bytes, save_png16, to_bits,
                        write_dicom, xray_8bit)

pydicom = pytest.importorskip("pydicom")


@dataclass
class Refused:
    words: tuple


@dataclass
class Reads:
    warnings: tuple = ()


def refused(*words):
    return Refused(words)


def reads(*warnings):
    return Reads(warnings)


X8 = xray_8bit(0)
EXPECTED = as_network_input(X8)
TINY = "smaller than the model's 64x64 input"
COLOURED = "strongly coloured"
MEAN = "mean grey level"
SPREAD = "grey-level standard deviation"


def pillow_grey(path):
    """Pillow's own 8-bit grey conversion of a file (for formats whose decoding Pillow defines)."""
    with Image.open(path) as im:
        return as_network_input(np.asarray(im.convert("L")))


def saved(path, image, **options):
    image.save(path, **options)
    return path


def saved_bytes(path, data):
    path.write_bytes(data)
    return path


def by_pillow(build):
    """A builder whose expected pixels are Pillow's grey conversion of the file it wrote."""
    def built(tmp):
        path = build(tmp)
        return path, pillow_grey(path)
    return built


def scaled(values, low, high):
    """The linear map low -> 0, high -> 255 a reader must apply, computed here on its own."""
    values = np.asarray(values, dtype=np.float64)
    return np.clip(np.rint((values - low) * (255.0 / (high - low))), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- builders: damaged and special files


def refused_file(build):
    """A builder for a file that must be refused: it has no expected pixels."""
    return lambda tmp: (build(tmp), None)


def truncated(suffix):
    def build(tmp):
        whole = saved(tmp / f"whole{suffix}", Image.fromarray(X8)).read_bytes()
        return saved_bytes(tmp / f"x{suffix}", whole[: len(whole) // 2])
    return refused_file(build)


def header_only_png(tmp):
    whole = saved(tmp / "whole.png", Image.fromarray(X8)).read_bytes()
    return saved_bytes(tmp / "x.png", whole[:33])               # signature + IHDR, no pixel data


def directory(tmp):
    (tmp / "folder.png").mkdir()
    return tmp / "folder.png"


def fifo(tmp):
    os.mkfifo(tmp / "pipe.png")
    return tmp / "pipe.png"


def symlink_to_directory(tmp):
    (tmp / "folder").mkdir()
    (tmp / "link.png").symlink_to(tmp / "folder")
    return tmp / "link.png"


def broken_symlink(tmp):
    (tmp / "link.png").symlink_to(tmp / "gone.png")
    return tmp / "link.png"


def animation(suffix):
    def build(tmp):
        frames = [Image.fromarray(X8), Image.fromarray(255 - X8)]
        return saved(tmp / f"x{suffix}", frames[0], save_all=True, append_images=frames[1:])
    return refused_file(build)


def float_tiff_with_nan(tmp):
    values = X8.astype(np.float32)
    values[5, 5] = np.nan
    return saved(tmp / "x.tif", Image.fromarray(values, "F"))


# --------------------------------------------------------------------------- builders: bit depth


def png16(values, expected=EXPECTED):
    return lambda tmp: (save_png16(tmp / "x.png", values(X8)), expected)


def tiff(values, mode=None, expected=EXPECTED):
    return lambda tmp: (saved(tmp / "x.tif", Image.fromarray(values(X8), mode)), expected)


SIGNED = X8.astype(np.int32) * 100 - 20_000                  # negative values: min..max is the range
UNITS = X8.astype(np.float32) * np.float32(0.37) + np.float32(12.5)      # floats not within 0..1
UNITS64 = UNITS.astype(np.float64)


def rgb48_png(tmp):
    grey16 = X8.astype(np.uint16) * 257
    return saved_bytes(tmp / "x.png", png48_bytes(np.stack([grey16] * 3, axis=-1))), EXPECTED


def constant_png16(level, grey):
    return lambda tmp: (save_png16(tmp / "x.png", np.full((80, 80), level)), np.full((64, 64), grey, np.uint8))


# --------------------------------------------------------------------------- builders: modes, colour, size


def primaries(tmp):
    """Red, green, blue, white and yellow bands: ITU-R 601 luma 76, 150, 29, 255, 226."""
    colours = np.array([(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255), (255, 255, 0)], np.uint8)
    rgb = np.repeat(colours, 20, axis=0)[:, None, :].repeat(100, axis=1)
    luma = np.repeat(np.array([76, 150, 29, 255, 226], np.uint8), 20)[:, None].repeat(100, axis=1)
    return saved(tmp / "x.png", Image.fromarray(rgb)), as_network_input(luma)


def colour_photo(tmp):
    """A synthetic photo: a red-to-blue sky over green grass (mean chroma about 170)."""
    rows = np.linspace(0, 1, 200)[:, None, None]
    sky = np.concatenate([255 * (1 - rows), 80 + 0 * rows, 255 * rows], axis=-1)
    rgb = np.broadcast_to(sky, (200, 300, 3)).copy()
    rgb[120:] = (40, 170, 60)
    return saved(tmp / "photo.jpg", Image.fromarray(rgb.astype(np.uint8)), quality=95)


def rgba_half_transparent(tmp):
    rgba = np.dstack([X8, X8, X8, np.full(X8.shape, 255, np.uint8)])
    rgba[:, :128, 3] = 0                                     # left half transparent: black
    expected = X8.copy()
    expected[:, :128] = 0
    return saved(tmp / "x.png", Image.fromarray(rgba, "RGBA")), as_network_input(expected)


def grey_alpha(tmp):
    alpha = np.full(X8.shape, 255, np.uint8)
    alpha[:128] = 0                                          # top half transparent: black
    expected = X8.copy()
    expected[:128] = 0
    return saved(tmp / "x.png", Image.fromarray(np.dstack([X8, alpha]), "LA")), as_network_input(expected)


def palette_transparent(tmp):
    """A palette PNG whose darkest entry is transparent: those pixels become black."""
    image = Image.fromarray(X8).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    indices = np.asarray(image)
    darkest = int(indices[X8 == X8.min()][0])
    path = saved(tmp / "x.png", image, transparency=darkest)
    expected = np.asarray(image.convert("L")).copy()
    expected[indices == darkest] = 0
    return path, as_network_input(expected)


def noise(width, height, colour=False):
    def build(tmp):
        shape = (height, width, 3) if colour else (height, width)
        pixels = np.random.default_rng(2).integers(0, 256, shape, dtype=np.uint8)
        return saved(tmp / "noise.png", Image.fromarray(pixels))
    return by_pillow(build)


def flat(level):
    image = Image.fromarray(np.full((100, 100), level, np.uint8))
    return lambda tmp: (saved(tmp / "x.png", image), np.full((64, 64), level, np.uint8))


def low_contrast(tmp):
    washed = (X8 // 8 + 120).astype(np.uint8)
    return saved(tmp / "x.png", Image.fromarray(washed)), as_network_input(washed)


XR = np.ascontiguousarray(X8[:, 28:228])                     # 256 high, 200 wide: turns show


def exif_orientation(value):
    """A PNG whose EXIF orientation says how to turn the stored pixels to show the X-ray ``XR``."""
    stored = {1: XR, 2: np.fliplr(XR), 3: np.rot90(XR, 2), 4: np.flipud(XR), 5: XR.T,
              6: np.rot90(XR, 1), 7: np.rot90(XR, 2).T, 8: np.rot90(XR, -1)}.get(value, XR)

    def build(tmp):
        exif = Image.Exif()
        exif[0x0112] = value
        image = Image.fromarray(np.ascontiguousarray(stored))
        return saved(tmp / "x.png", image, exif=exif.tobytes()), as_network_input(XR)
    return build


# --------------------------------------------------------------------------- builders: DICOM


X12 = to_bits(X8, 12)


def dicom(stored=X12, expected=EXPECTED, name="x.dcm", **attributes):
    return lambda tmp: (write_dicom(tmp / name, stored, **attributes), expected)


def dicom_changed(change, name="x.dcm"):
    """A DICOM file of X12 after ``change(dataset)``, to be refused."""
    def build(tmp):
        ds = dicom_dataset(X12)
        change(ds)
        ds.save_as(tmp / name, enforce_file_format=True)
        return tmp / name, None
    return build


def voi_lut(tmp):
    """A VOI LUT Sequence (a square-root curve, 16-bit entries) instead of a window."""
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    lut = np.rint(65535 * np.sqrt(np.arange(4096) / 4095)).astype(np.uint16)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.LUTData = lut.astype("<u2").tobytes()
    ds = dicom_dataset(X12)
    ds.VOILUTSequence = Sequence([item])
    ds.save_as(tmp / "x.dcm", enforce_file_format=True)
    return tmp / "x.dcm", as_network_input(scaled(lut[X12], 0, 65535))


def jpeg_ls_compressed(ds):
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLSLossless

    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7 not decodable without a JPEG-LS plugin"])


def halve_pixel_data(ds):
    ds.PixelData = ds.PixelData[: len(ds.PixelData) // 2]


def two_frames(ds):
    ds.NumberOfFrames = 2
    ds.PixelData = ds.PixelData * 2


def rgb_samples(ds):
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.PixelData = ds.PixelData * 3


def truncated_dicom(tmp):
    whole = write_dicom(tmp / "whole.dcm", X12).read_bytes()
    return saved_bytes(tmp / "x.dcm", whole[:300]), None


def without(name):
    return lambda ds: delattr(ds, name)


def setting(**attributes):
    return lambda ds: [setattr(ds, k, v) for k, v in attributes.items()]


SIGMOID = np.rint(255.0 / (1.0 + np.exp(-4.0 * (X12 - 2048.0) / 2048))).astype(np.uint8)


# --------------------------------------------------------------------------- the table


def case(name, build, outcome, max_pixels=None):
    return pytest.param(build, outcome, max_pixels, id=name)


CASES = [
    # damaged files and things that are not image files
    case("missing file", refused_file(lambda t: t / "nowhere.png"), refused("no such image file")),
    case("broken symlink", refused_file(broken_symlink), refused("no such image file")),
    case("empty file", refused_file(lambda t: saved_bytes(t / "x.png", b"")), refused("is empty (0 bytes)")),
    case("random bytes .png", refused_file(lambda t: saved_bytes(t / "x.png", np.random.default_rng(1).bytes(5000))),
         refused("not an image", "PNG, JPEG, TIFF")),
    case("text named .jpeg", refused_file(lambda t: saved_bytes(t / "notes.jpeg", b"no jpeg at all\n")),
         refused("not an image")),
    case("truncated PNG", truncated(".png"), refused("unreadable", "truncated")),
    case("truncated JPEG", truncated(".jpeg"), refused("unreadable", "truncated")),
    case("PNG header only", refused_file(header_only_png), refused("starts like a PNG file", "corrupt or truncated")),
    case("directory", refused_file(directory), refused("is a directory, not an image file")),
    case("symlink to a directory", refused_file(symlink_to_directory), refused("is a directory")),
    case("FIFO", refused_file(fifo), refused("is a FIFO (named pipe), not an image file")),
    case("character device", refused_file(lambda t: "/dev/null"), refused("is a character device")),
    case("huge dimensions in header", refused_file(lambda t: saved_bytes(
        t / "bomb.png", png_bytes(100_000, 100_000, 8, 0, b"\x00" * 100))), refused("decompression bomb")),
    case("more pixels than max_pixels", refused_file(lambda t: saved(t / "x.png", Image.fromarray(X8))),
         refused("too large: 256x256 pixels > max_pixels=10000"), max_pixels=10_000),
    case("animated GIF", animation(".gif"), refused("has 2 frames")),
    case("multi-page TIFF", animation(".tif"), refused("has 2 frames")),
    case("float TIFF with NaN", refused_file(float_tiff_with_nan), refused("NaN or infinite")),
    # bit depth: every reading equals the 8-bit image, or the stated stored range
    case("8-bit PNG", lambda t: (saved(t / "x.png", Image.fromarray(X8)), EXPECTED), reads()),
    case("16-bit PNG, 12-bit values", png16(lambda x: to_bits(x, 12)), reads()),
    case("16-bit PNG, 10-bit values", png16(lambda x: to_bits(x, 10)), reads()),
    case("16-bit PNG, full range", png16(lambda x: x.astype(np.uint16) * 257), reads()),
    case("16-bit PNG holding 8-bit values", png16(lambda x: x.astype(np.uint16)), reads()),
    case("16-bit TIFF, 12-bit values", tiff(lambda x: to_bits(x, 12)), reads()),
    case("16-bit big-endian TIFF", tiff(lambda x: to_bits(x, 16).astype(">u2")), reads()),
    case("32-bit TIFF, negative values", tiff(lambda x: SIGNED, expected=as_network_input(
        scaled(SIGNED, SIGNED.min(), SIGNED.max()))), reads()),
    case("float TIFF 0..1", tiff(lambda x: (x / np.float32(255)).astype(np.float32), "F"), reads()),
    case("float TIFF, other units", tiff(lambda x: UNITS, "F", as_network_input(
        scaled(UNITS64, UNITS64.min(), UNITS64.max()))), reads()),
    case("16-bit constant 1000 (10-bit range)", constant_png16(1000, 249), reads(MEAN, SPREAD)),
    case("16-bit all zero", constant_png16(0, 0), reads(MEAN, SPREAD)),
    case("48-bit RGB PNG", rgb48_png, reads()),
    # modes and colour
    case("1-bit", by_pillow(lambda t: saved(t / "x.png", Image.fromarray(X8).convert("1"))), reads()),
    case("palette of greys", by_pillow(lambda t: saved(t / "x.png", Image.fromarray(X8).convert(
        "P", palette=Image.Palette.ADAPTIVE, colors=256))), reads()),
    case("RGB holding grey", lambda t: (saved(t / "x.png", Image.fromarray(np.dstack([X8] * 3))), EXPECTED), reads()),
    case("RGB primaries: ITU-R 601 luma", primaries, reads(COLOURED)),
    case("colour photo (JPEG)", by_pillow(colour_photo), reads(COLOURED, SPREAD)),
    case("colour noise", noise(120, 100, colour=True), reads(COLOURED)),
    case("RGBA: transparent is black", rgba_half_transparent, reads()),
    case("LA: transparent is black", grey_alpha, reads()),
    case("palette with a transparent entry", palette_transparent, reads()),
    case("CMYK JPEG", by_pillow(lambda t: saved(t / "x.jpg", Image.fromarray(np.dstack([X8] * 3)).convert("CMYK"))),
         reads()),
    # size and intensity far from the training X-rays
    case("10x10 noise", noise(10, 10), reads(TINY)),
    case("63x300 image", by_pillow(lambda t: saved(t / "x.png", Image.fromarray(X8).resize((63, 300)))),
         reads(TINY)),
    case("all white", flat(255), reads(MEAN, SPREAD)),
    case("all black", flat(0), reads(MEAN, SPREAD)),
    case("washed out", low_contrast, reads(SPREAD)),
    # EXIF orientation: the X-ray the right way up, whatever the stored pixels
    *[case(f"EXIF orientation {v}", exif_orientation(v), reads()) for v in range(1, 9)],
    case("EXIF orientation 9", refused_file(lambda t: exif_orientation(9)(t)[0]),
         refused("EXIF orientation is 9; expected 1 to 8")),
    case("corrupt EXIF block", refused_file(lambda t: saved(t / "x.png", Image.fromarray(X8), exif=b"garbage")),
         refused("EXIF block (which holds the orientation) is corrupt")),
    # DICOM
    case("DICOM 12-bit", dicom(), reads()),
    case("DICOM 8-bit", dicom(X8.astype(np.uint16), bits_stored=8), reads()),
    case("DICOM without .dcm (DICM marker)", dicom(name="image.img"), reads()),
    case("DICOM MONOCHROME1", dicom(4095 - X12, photometric="MONOCHROME1"), reads()),
    case("DICOM windowed", dicom(1000 + 16 * X8.astype(np.uint16), bits_stored=16,
                                 WindowCenter=3040.5, WindowWidth=4081), reads()),
    case("DICOM narrow window clips", dicom(expected=as_network_input(scaled(X12, 1535.5, 2559.5)),
                                            WindowCenter=2048, WindowWidth=1025), reads(SPREAD)),
    case("DICOM LINEAR_EXACT window", dicom(expected=as_network_input(scaled(X12, 1024, 3072)), WindowCenter=2048,
                                            WindowWidth=2048, VOILUTFunction="LINEAR_EXACT"), reads(SPREAD)),
    case("DICOM SIGMOID window", dicom(expected=as_network_input(SIGMOID), WindowCenter=2048, WindowWidth=2048,
                                       VOILUTFunction="SIGMOID"), reads()),
    case("DICOM two windows: the first", dicom(WindowCenter=[2048, 100], WindowWidth=[4096, 50]), reads()),
    case("DICOM window far above the data", dicom(expected=np.zeros((64, 64), np.uint8), WindowCenter=20000,
                                                  WindowWidth=100), reads(MEAN, SPREAD)),
    case("DICOM rescaled", dicom(RescaleSlope=2, RescaleIntercept=-1024), reads()),
    case("DICOM rescaled and windowed", dicom(RescaleSlope=2, RescaleIntercept=-1024,
                                              WindowCenter=3071.5, WindowWidth=8191), reads()),
    case("DICOM negative slope", dicom(expected=as_network_input(255 - X8), RescaleSlope=-1,
                                       RescaleIntercept=4095), reads()),
    case("DICOM signed", dicom(X12.astype(np.int32) - 2048, signed=True), reads()),
    case("DICOM VOI LUT", voi_lut, reads()),
    case("DICOM CT", dicom(Modality="CT"), reads("Modality is 'CT'")),
    case("DICOM hand", dicom(BodyPartExamined="HAND"), reads("BodyPartExamined is 'HAND'")),
    case("DICOM lateral", dicom(ViewPosition="LL"), reads("ViewPosition is 'LL', a lateral view")),
    case("DICOM adult", dicom(PatientAge="045Y"), reads("PatientAge is 045Y")),
    case("DICOM multi-frame", dicom_changed(two_frames), refused("NumberOfFrames is 2", "multi-frame")),
    case("DICOM RGB", dicom_changed(rgb_samples), refused("SamplesPerPixel is 3", "colour")),
    case("DICOM PALETTE COLOR", dicom_changed(setting(PhotometricInterpretation="PALETTE COLOR")),
         refused("PhotometricInterpretation is 'PALETTE COLOR'", "MONOCHROME1/MONOCHROME2")),
    case("DICOM without PhotometricInterpretation", dicom_changed(without("PhotometricInterpretation")),
         refused("has no PhotometricInterpretation")),
    case("DICOM without pixel data", dicom_changed(without("PixelData")), refused("has no Pixel Data (7FE0,0010)")),
    case("DICOM JPEG-LS, no decoder", dicom_changed(jpeg_ls_compressed),
         refused("compressed as JPEG-LS Lossless Image Compression", "cannot be decoded")),
    case("DICOM pixel data cut in half", dicom_changed(halve_pixel_data),
         refused("unreadable pixel data", "less than expected")),
    case("DICOM cut in its header", truncated_dicom, refused("has no PhotometricInterpretation", "truncated")),
    case("DICOM huge Rows/Columns", dicom_changed(setting(Rows=60000, Columns=50000)),
         refused("too large: 50000x60000 pixels > max_pixels=40000000")),
    case("DICOM with 0 rows", dicom_changed(setting(Rows=0)), refused("Rows x Columns is 0 x 256")),
    case("DICOM window width 0", dicom_changed(setting(WindowCenter=2048, WindowWidth=0)),
         refused("WindowWidth is 0", "width >= 1")),
    case("DICOM unknown VOILUTFunction", dicom_changed(setting(WindowCenter=2048, WindowWidth=4096,
                                                               VOILUTFunction="CUBIC")),
         refused("VOILUTFunction is 'CUBIC'")),
    case(".dcm that is not DICOM", refused_file(lambda t: saved_bytes(t / "x.dcm", b"\x00" * 300)),
         refused("is not a DICOM file")),
    case("DICM marker, no DICOM header", refused_file(lambda t: saved_bytes(t / "x.img", b"\x00" * 128 + b"DICM" + b"\xff" * 64)),
         refused("has no PhotometricInterpretation: not a DICOM image, or the file is truncated")),
]


@pytest.fixture
def no_hang():
    """Fail instead of hanging (a FIFO opened for reading waits for a writer)."""
    def give_up(signum, frame):
        raise TimeoutError("load_xray hung")
    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(30)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.mark.parametrize("build, outcome, max_pixels", CASES)
def test_bad_or_unusual_image(tmp_path, no_hang, build, outcome, max_pixels):
    path, expected = build(tmp_path)
    limit = {} if max_pixels is None else {"max_pixels": max_pixels}
    if isinstance(outcome, Refused):
        with pytest.raises(ImageReadError) as err:
            load_xray(path, 64, **limit)
        assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
        for words in outcome.words:
            assert words in err.value.reason
        assert read_xray(path, 64, **limit) == (None, err.value.reason)
        return
    xray = load_xray(path, 64, **limit)
    assert xray.pixels.dtype == np.uint8 and xray.pixels.shape == (64, 64)
    assert np.array_equal(xray.pixels, expected)
    assert len(xray.warnings) == len(outcome.warnings), xray.warnings
    for warning, words in zip(xray.warnings, outcome.warnings):
        assert warning.startswith(f"{path}: ") and words in warning


def test_the_table_is_big_enough():
    refusals = sum(isinstance(c.values[1], Refused) for c in CASES)
    assert len(CASES) >= 45 and refusals >= 20 and len(CASES) - refusals >= 20


def test_dicom_without_pydicom_names_the_extra(tmp_path, monkeypatch):
    path = write_dicom(tmp_path / "x.dcm", X12)
    monkeypatch.setitem(sys.modules, "pydicom", None)            # import pydicom now fails
    with pytest.raises(ImageReadError, match=r'reading DICOM needs pydicom: pip install "tinycnn\[dicom\]"'):
        load_xray(path, 64)


@pytest.mark.parametrize("size, error, words", [
    (0, ValueError, "size must be >= 1 (pixels), got 0"),
    (-64, ValueError, "size must be >= 1 (pixels), got -64"),
    (100_000, ValueError, "size must be <= 4096 (pixels), got 100000"),
    (2.5, TypeError, "size must be an int (pixels), got float 2.5"),
    ("64", TypeError, "size must be an int (pixels), got str '64'"),
    (True, TypeError, "size must be an int (pixels), got bool True"),
    (None, TypeError, "size must be an int (pixels), got NoneType None"),
])
def test_size_argument_is_blamed_not_the_file(tmp_path, size, error, words):
    path = saved(tmp_path / "x.png", Image.fromarray(X8))
    for read in (load_xray, read_xray):
        with pytest.raises(error) as err:
            read(path, size)
        assert str(err.value) == f"read_xray: {words}"


@pytest.mark.parametrize("max_pixels, error", [(0, ValueError), (1.5, TypeError)])
def test_max_pixels_argument_is_named(tmp_path, max_pixels, error):
    path = saved(tmp_path / "x.png", Image.fromarray(X8))
    with pytest.raises(error, match="read_xray: max_pixels must be"):
        load_xray(path, 64, max_pixels=max_pixels)
