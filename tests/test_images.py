"""Real clinical image files give the network the same X-ray as the 8-bit original (issue 11).

A shipped 8-bit X-ray is written as a 16-bit PNG with 12-bit values, 16-bit TIFFs, a float
TIFF and DICOM files (12-bit, MONOCHROME1, windowed, rescaled, signed); each must read back
as exactly the grey levels of the 8-bit image, so ``predict`` gives the same probability.

The tolerance, and why: every file here holds the 8-bit values on a finer scale,
``round(x * (2**b - 1) / 255)``, whose rounding error (at most 0.5 / (2**b - 1) of the range,
0.03 grey levels for 12 bits) is far below the half grey level that would change a rounded
8-bit value. So the uint8 images are asserted *equal*, and the probabilities equal to 1e-6
(float32 arithmetic on identical inputs is identical; 1e-6 only guards the print). That this
test can fail: the old reader (Pillow's ``convert("L")``, which clips a 16-bit image at 255)
moves the probability of the network below by more than 0.01, while noise of +-1 grey level
on every pixel moves it by less than 0.01 (both asserted).

The network: ``pneumonia_net(seed=0)``, untrained, with its batch-norm statistics estimated
on shipped training images (``refresh_batch_norm_statistics``): deterministic, and unlike a
bare untrained net (whose logits are all about 0) its probabilities differ between images.
"""

import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tinycnn import cli, metrics
from tinycnn.data import load_pneumonia, load_pneumonia_folder, load_xray, preprocess, read_xray
from tinycnn.data.input_checks import TRAIN_IMAGE_MEAN_RANGE, TRAIN_IMAGE_STD_RANGE
from tinycnn.nn.precise_bn import refresh_batch_norm_statistics
from tinycnn.runs import build_network, predict_logits, save_model
from xray_files import as_network_input, save_png16, to_bits, write_dicom, xray_8bit

pytest.importorskip("pydicom")

METHODS = ("per_image", "dataset")
XRAYS = (0, 400)        # a NORMAL and a PNEUMONIA test image (x_test is sorted by class)


@pytest.fixture(scope="module")
def networks():
    """One deterministic network per preprocessing method (module docstring)."""
    train = load_pneumonia().x_train[::20]
    nets = {}
    for method in METHODS:
        net = build_network("pneumonia_net", (64, 64, 1), seed=0)
        refresh_batch_norm_statistics(net, preprocess(train, method), max_images=256)
        nets[method] = net
    return nets


def probability(net, pixels, method):
    return float(metrics.sigmoid(predict_logits(net, preprocess(pixels[None], method))[0]))


# --------------------------------------------------------------------------- the files


def png8(path, x8):
    Image.fromarray(x8).save(path)


def png16_12bit(path, x8):
    save_png16(path, to_bits(x8, 12))


def png16_full(path, x8):
    save_png16(path, x8.astype(np.uint16) * 257)          # 0..255 -> 0..65535 exactly


def tiff16(path, x8):
    Image.fromarray(to_bits(x8, 14)).save(path)


def tiff16_big_endian(path, x8):
    Image.fromarray(to_bits(x8, 12).astype(">u2")).save(path)   # Pillow mode I;16B


def tiff_float(path, x8):
    Image.fromarray((x8 / np.float32(255)).astype(np.float32), "F").save(path)


def dicom_12bit(path, x8):
    write_dicom(path, to_bits(x8, 12))


def dicom_monochrome1(path, x8):
    write_dicom(path, 4095 - to_bits(x8, 12), photometric="MONOCHROME1")


def dicom_windowed(path, x8):
    # 16-bit stored values 1000 + 16 x; the LINEAR window [c - 0.5 -+ (w - 1) / 2] = [1000, 5080]
    # maps them back to x, while the bit range 0..65535 would give a nearly black image.
    write_dicom(path, 1000 + 16 * x8.astype(np.uint16), bits_stored=16, WindowCenter=3040.5, WindowWidth=4081)


def dicom_rescaled(path, x8):
    write_dicom(path, to_bits(x8, 12), RescaleSlope=2, RescaleIntercept=-1024)


def dicom_rescaled_windowed(path, x8):
    # the window is in rescaled units: 2 * 0 - 1024 .. 2 * 4095 - 1024 = -1024 .. 7166; without the
    # rescale it would cut the stored 0..4095 at 3071 and the images would differ.
    write_dicom(path, to_bits(x8, 12), RescaleSlope=2, RescaleIntercept=-1024,
                WindowCenter=3071.5, WindowWidth=8191)


def dicom_signed(path, x8):
    write_dicom(path, to_bits(x8, 12).astype(np.int32) - 2048, signed=True)   # range -2048..2047


ROUND_TRIPS = {
    "8-bit.png": png8, "16-bit-12-bit-values.png": png16_12bit, "16-bit-full-range.png": png16_full,
    "16-bit-14-bit-values.tif": tiff16, "16-bit-big-endian.tif": tiff16_big_endian, "float.tif": tiff_float,
    "12-bit.dcm": dicom_12bit, "monochrome1.dcm": dicom_monochrome1, "windowed.dcm": dicom_windowed,
    "rescaled.dcm": dicom_rescaled, "rescaled-windowed.dcm": dicom_rescaled_windowed, "signed.dcm": dicom_signed,
}


@pytest.mark.parametrize("index", XRAYS)
@pytest.mark.parametrize("name", ROUND_TRIPS)
def test_every_format_gives_the_8bit_image_and_its_probability(tmp_path, networks, name, index):
    x8 = xray_8bit(index)
    path = tmp_path / name
    ROUND_TRIPS[name](path, x8)
    xray = load_xray(path, 64)
    expected = as_network_input(x8)
    assert xray.pixels.dtype == np.uint8 and np.array_equal(xray.pixels, expected)
    assert xray.warnings == []
    for method in METHODS:
        net = networks[method]
        assert probability(net, xray.pixels, method) == pytest.approx(probability(net, expected, method), abs=1e-6)


def test_the_round_trip_test_can_fail(tmp_path, networks):
    """The old reader's clipping changes the probability; +-1 grey level of noise does not."""
    x8 = xray_8bit(0)
    png16_12bit(tmp_path / "x.png", x8)
    with Image.open(tmp_path / "x.png") as im:
        clipped = np.asarray(im.convert("L").resize((64, 64), Image.Resampling.LANCZOS))
    expected = as_network_input(x8)
    jitter = np.random.default_rng(0).integers(-1, 2, expected.shape)
    noisy = np.clip(expected.astype(int) + jitter, 0, 255).astype(np.uint8)
    for method in METHODS:
        p = probability(networks[method], expected, method)
        assert abs(probability(networks[method], clipped, method) - p) > 0.01
        assert abs(probability(networks[method], noisy, method) - p) < 0.01


# --------------------------------------------------------------------------- the command


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, networks):
    path = tmp_path_factory.mktemp("run") / "model.npz"
    save_model(path, networks["dataset"], "pneumonia_net", (64, 64, 1), 0, {}, extra={"preprocessing": "dataset"})
    # a calibration next to it, as a trained run has (without one, predict warns on stderr)
    (path.parent / "metrics.json").write_text('{"temperature": 1.0, "threshold_val_sens": {"threshold": 0.5}}')
    return str(path)


def predicted(capsys, *argv):
    code = cli.main(["predict", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_predict_prints_one_probability_for_every_format(tmp_path, capsys, model_file):
    x8 = xray_8bit(400)
    files = []
    for name in ("8-bit.png", "16-bit-12-bit-values.png", "float.tif", "12-bit.dcm", "monochrome1.dcm",
                 "rescaled-windowed.dcm"):
        ROUND_TRIPS[name](tmp_path / name, x8)
        files.append(str(tmp_path / name))
    code, out, err = predicted(capsys, *files, "--model", model_file)
    assert code == 0 and err == ""
    answers = re.findall(r": (NORMAL|PNEUMONIA) \(probability of pneumonia (\d\.\d{3})", out)
    assert len(answers) == len(files) and len(set(answers)) == 1


def test_predict_warns_on_stderr_and_still_answers(tmp_path, capsys, model_file):
    tiny = tmp_path / "tiny.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (10, 10), dtype=np.uint8)).save(tiny)
    code, out, err = predicted(capsys, str(tiny), "--model", model_file)
    assert code == 0 and out.startswith(f"{tiny}: ") and "probability of pneumonia" in out
    assert err == (f"tinycnn: warning: {tiny}: only 10x10 pixels, smaller than the model's 64x64 input; "
                   "it was enlarged, and the training X-rays were all reduced from large originals\n")


def test_predict_on_a_fifo_fails_at_once(tmp_path, model_file):
    fifo = tmp_path / "xray.png"
    os.mkfifo(fifo)
    done = subprocess.run([sys.executable, "-m", "tinycnn.cli", "predict", str(fifo), "--model", model_file],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1                  # 1: a file was skipped (tinycnn.cli's exit statuses)
    assert done.stderr == (f"tinycnn predict: error: cannot read {fifo}: is a FIFO (named pipe), not an image file "
                           "(skipped)\n")


def test_predict_help_names_the_population_and_the_formats(capsys):
    with pytest.raises(SystemExit):
        cli.main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("paediatric anterior-posterior (AP) chest X-rays", "Kermany", "16-bit", "DICOM",
                  'pip install "tinycnn[dicom]"', "MONOCHROME1", "EXIF", "warning on stderr"):
        assert words in text


# --------------------------------------------------------------------------- folder, EXIF, bounds


def test_folder_loader_reads_16bit_and_dicom_like_the_8bit_image(tmp_path):
    root = tmp_path / "chest_xray"
    formats = {"a.png": png8, "b.png": png16_12bit, "c.tif": tiff16, "d.dcm": dicom_monochrome1,
               "e.dcm": dicom_windowed}
    for split in ("train", "test"):
        for label, index in (("NORMAL", 0), ("PNEUMONIA", 400)):
            (root / split / label).mkdir(parents=True)
            for name, write in formats.items():
                write(root / split / label / f"IM-{index:04d}-{name}", xray_8bit(index))
    data = load_pneumonia_folder(root, size=64)
    assert data.skipped == [] and len(data.x_train) == 2 * len(formats)
    for i, index in enumerate([0] * len(formats) + [400] * len(formats)):
        assert np.array_equal(data.x_train[i], as_network_input(xray_8bit(index)))
    assert np.array_equal(data.x_test, data.x_train)


def test_jpeg_tagged_rotate_180_reads_the_right_way_up(tmp_path):
    x8 = xray_8bit(0).copy()
    x8[:32] = 255                                       # a bright band at the top of the chest
    exif = Image.Exif()
    exif[0x0112] = 3                                    # Orientation: rotate 180
    path = tmp_path / "upside-down.jpeg"
    Image.fromarray(np.rot90(x8, 2)).save(path, quality=95, exif=exif.tobytes())
    pixels = load_xray(path, 64).pixels
    with Image.open(path) as im:
        as_stored = np.asarray(im.convert("L"))
    assert np.array_equal(pixels, as_network_input(np.rot90(as_stored, 2)))
    assert pixels[:4].mean() > 240 and pixels[-4:].mean() < 200       # the band is at the top


def test_intensity_bounds_hold_every_training_image():
    x = load_pneumonia().x_train.astype(np.float64)
    means, stds = x.mean(axis=(1, 2)), x.std(axis=(1, 2))
    for values, (low, high) in ((means, TRAIN_IMAGE_MEAN_RANGE), (stds, TRAIN_IMAGE_STD_RANGE)):
        assert low <= values.min() < low + 1 and high - 1 < values.max() <= high


@pytest.mark.parametrize("depth_dtype, top", [(np.uint16, 4095), (np.uint16, 65535), (np.float32, 1.0)])
def test_a_white_is_zero_deep_tiff_reads_like_the_normal_one(tmp_path, depth_dtype, top):
    # PhotometricInterpretation 0 ("white is zero"): Pillow inverts 8-bit TIFFs itself but not
    # deeper ones; without the inversion the X-ray would be read as its negative, silently
    from PIL import TiffImagePlugin
    values = (np.linspace(0, top, 64 * 64).reshape(64, 64)).astype(depth_dtype)
    Image.fromarray(values).save(tmp_path / "normal.tif")
    tags = TiffImagePlugin.ImageFileDirectory_v2()
    tags[262] = 0
    Image.fromarray((top - values).astype(depth_dtype)).save(tmp_path / "white_is_zero.tif", tiffinfo=tags)
    normal, _ = read_xray(tmp_path / "normal.tif", 64)
    inverted, _ = read_xray(tmp_path / "white_is_zero.tif", 64)
    assert normal is not None and inverted is not None
    assert np.abs(normal.astype(int) - inverted.astype(int)).max() <= 1
    assert normal[0, 0] < 10 and normal[-1, -1] > 245        # dark top-left, bright bottom-right
