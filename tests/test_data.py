"""Tests for tinycnn.data: loading, patient ids, grouped split, mini-batches, augmentation."""

import io
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tinycnn.data import (
    DEFAULT_PATH,
    TRAIN_MEAN,
    TRAIN_STD,
    DataLoader,
    PneumoniaDataError,
    affine_warp,
    augment_xray,
    bilinear_sample,
    grouped_stratified_split,
    iterate_minibatches,
    load_pneumonia,
    load_pneumonia_folder,
    minibatch_indices,
    normalize,
    patient_id,
    random_affine,
    random_brightness_contrast,
)

# the 128 px file is not shipped with the package; it lives in the shared data folder that sits
# next to the repository (../shared/data/pneumonia/ from the repository root)
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_128 = REPO_ROOT / ".." / "shared" / "data" / "pneumonia" / "pneumonia_128.npz"


@pytest.fixture(scope="module")
def data():
    return load_pneumonia()


# --------------------------------------------------------------------------- NPZ loading


def test_shipped_npz_has_official_split(data):
    assert data.x_train.shape == (5216, 64, 64) and data.x_train.dtype == np.uint8
    assert data.x_test.shape == (624, 64, 64) and data.x_test.dtype == np.uint8
    assert np.bincount(data.y_train).tolist() == [1341, 3875]
    assert np.bincount(data.y_test).tolist() == [234, 390]
    assert data.x_val is None and data.splits() == ["train", "test"]
    # the label agrees with the class folder in the file name
    for files, y in ((data.files_train, data.y_train), (data.files_test, data.y_test)):
        folder_says_pneumonia = np.char.find(files.astype(str), "/PNEUMONIA/") >= 0
        assert np.array_equal(folder_says_pneumonia, y == 1)
    assert data.files_train[0].startswith("train/") and data.files_test[0].startswith("test/")


def test_train_statistics_match_the_documented_constants(data):
    scaled = data.x_train / 255.0
    assert abs(scaled.mean() - TRAIN_MEAN) < 1e-4
    assert abs(scaled.std() - TRAIN_STD) < 1e-4


def test_normalize_gives_standardised_nhwc_float32(data):
    x = normalize(data.x_train)
    assert x.shape == (5216, 64, 64, 1) and x.dtype == np.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3
    assert np.allclose(normalize(np.full((1, 2, 2, 1), 255, np.uint8)), (1 - TRAIN_MEAN) / TRAIN_STD)
    with pytest.raises(TypeError, match="uint8"):
        normalize(x)  # already float: refusing avoids normalising twice
    with pytest.raises(ValueError, match="shape"):
        normalize(np.zeros((2, 4, 4, 3), np.uint8))


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_pneumonia(tmp_path / "nope.npz")


def _flip_byte(raw, where):
    raw = bytearray(raw)
    raw[where(len(raw))] ^= 0xFF
    return bytes(raw)


def _npy_bytes():
    buffer = io.BytesIO()
    np.save(buffer, np.zeros(3))
    return buffer.getvalue()


# (file name, its bytes, verify=, the error must match): every way a file can fail to be the data
BAD_FILES = {
    "known-name-flipped-byte-sha256": (
        "pneumonia_64.npz", lambda: _flip_byte(DEFAULT_PATH.read_bytes(), lambda n: n // 2), True,
        r"pneumonia_64\.npz.*sha256"),
    "known-128-name-fake-contents-sha256": (
        "pneumonia_128.npz", lambda: b"not really", True, "sha256"),
    "unknown-name-truncated-verify": (
        "my_copy.npz", lambda: DEFAULT_PATH.read_bytes()[:100_000], True,
        r"my_copy\.npz.*(corrupted|truncated)"),
    "unknown-name-truncated-no-verify": (
        "my_copy.npz", lambda: DEFAULT_PATH.read_bytes()[:100_000], False,
        r"my_copy\.npz.*(corrupted|truncated)"),
    "unknown-name-byte-flipped-in-x_train": (
        "flipped.npz", lambda: _flip_byte(DEFAULT_PATH.read_bytes(), lambda n: n // 3), True,
        r"flipped\.npz: not a readable"),
    "text-not-npz": ("junk.npz", lambda: b"hello, I am text\n" * 10, True, r"junk\.npz"),
    "npy-saved-as-npz": ("array.npz", _npy_bytes, True, "single .npy array"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_file_gives_a_clear_error_naming_it(tmp_path, case):
    name, contents, verify, message = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(contents())
    with pytest.raises(PneumoniaDataError, match=message):
        load_pneumonia(path, verify=verify)


def _small_arrays(n=6, size=8):
    rng = np.random.default_rng(0)
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        arrays[f"y_{split}"] = np.array([0, 1] * (n // 2), dtype=np.uint8)
        arrays[f"files_{split}"] = np.array([f"{split}/NORMAL/IM-{i:04d}-0001.jpeg" for i in range(n)])
    return arrays


def test_user_npz_with_unknown_name_is_validated_and_loaded(tmp_path):
    path = tmp_path / "mine.npz"
    arrays = _small_arrays()
    np.savez(path, **arrays)
    loaded = load_pneumonia(path)
    assert np.array_equal(loaded.x_test, arrays["x_test"])
    assert "train=(6, 8, 8)" in repr(loaded)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda a: a.pop("y_test"), r"missing arrays \['y_test'\]"),
        (lambda a: a.update(x_train=a["x_train"].astype(np.float32)), "x_train should be uint8"),
        (lambda a: a.update(y_train=a["y_train"] + 1), "y_train should hold only 0 and 1"),
        (lambda a: a.update(files_test=a["files_test"][:3]), "files_test should be 6 strings"),
        (lambda a: a.update(x_test=np.zeros((6, 4, 4), np.uint8)), "x_test has images of"),
    ],
)
def test_bad_npz_contents_are_named(tmp_path, change, message):
    arrays = _small_arrays()
    change(arrays)
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(PneumoniaDataError, match=message):
        load_pneumonia(path)


@pytest.mark.skipif(not SHARED_128.exists(), reason=f"pneumonia_128.npz is not shipped with the package "
                    f"and was not found at {SHARED_128} (the shared data folder next to the repository)")
def test_128_file_loads_with_hash_check():
    d = load_pneumonia(SHARED_128)
    assert d.x_train.shape == (2086, 128, 128) and d.x_test.shape == (624, 128, 128)


# --------------------------------------------------------------------------- JPEG folder


def _write_jpeg(path: Path, seed: int, size=(20, 15)):
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, format="JPEG")


def _make_release(root: Path, with_val=False) -> Path:
    """A tiny chest_xray/ tree, with clutter that must be ignored."""
    names = {
        "NORMAL": ["IM-0001-0001.jpeg", "IM-0002-0001.jpeg", "NORMAL2-IM-0003-0001.jpeg"],
        "PNEUMONIA": ["person1_bacteria_1.jpeg", "person1_bacteria_2.jpeg", "person2_virus_5.jpeg"],
    }
    splits = ("train", "test", "val") if with_val else ("train", "test")
    seed = 0
    for split in splits:
        for cls, files in names.items():
            for name in files:
                _write_jpeg(root / split / cls / name, seed)
                seed += 1
    (root / "train" / "NORMAL" / ".DS_Store").write_bytes(b"\x00\x01binary")
    (root / "train" / "NORMAL" / "notes.txt").write_text("not an image")
    (root / "train" / "NORMAL" / "._IM-0001-0001.jpeg").write_bytes(b"AppleDouble junk")
    return root


def test_folder_reads_grey_lanczos_images_sorted_by_path(tmp_path):
    root = _make_release(tmp_path / "chest_xray")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clutter must not cause warnings
        d = load_pneumonia_folder(root, size=16)
    assert d.x_train.shape == (6, 16, 16) and d.x_train.dtype == np.uint8
    assert d.y_train.tolist() == [0, 0, 0, 1, 1, 1] and d.y_train.dtype == np.uint8
    assert list(d.files_train) == sorted(d.files_train)
    assert d.files_train[0] == "train/NORMAL/IM-0001-0001.jpeg"
    assert d.x_val is None and d.skipped == []
    with Image.open(root / "train" / "PNEUMONIA" / "person2_virus_5.jpeg") as im:
        expected = np.asarray(im.convert("L").resize((16, 16), Image.Resampling.LANCZOS))
    assert np.array_equal(d.x_train[5], expected)


def test_folder_accepts_parent_of_chest_xray_and_reads_val(tmp_path):
    _make_release(tmp_path / "chest_xray", with_val=True)
    d = load_pneumonia_folder(tmp_path, size=8)
    assert d.splits() == ["train", "test", "val"]
    assert d.x_val.shape == (6, 8, 8) and d.files_val[0].startswith("val/")


def test_folder_skips_corrupt_and_truncated_images_with_warning(tmp_path):
    root = _make_release(tmp_path / "chest_xray")
    good = root / "test" / "PNEUMONIA" / "person2_virus_5.jpeg"
    raw = good.read_bytes()
    (root / "test" / "PNEUMONIA" / "person3_virus_6.jpeg").write_bytes(raw[: len(raw) // 2])
    (root / "test" / "NORMAL" / "IM-0009-0001.jpeg").write_bytes(b"this is no jpeg at all")
    with pytest.warns(UserWarning, match="skipped 2 unreadable"):
        d = load_pneumonia_folder(root, size=8)
    assert d.n_skipped == 2
    assert sorted(d.skipped_files) == ["test/NORMAL/IM-0009-0001.jpeg", "test/PNEUMONIA/person3_virus_6.jpeg"]
    assert all(reason for _, reason in d.skipped)
    assert len(d.x_test) == 6  # the good ones are all still there


@pytest.mark.parametrize("max_pixels, pillow_limit, reason", [
    (20 * 15, None, "too large"),            # our own limit: 3000 px > 300
    (None, 1000, "decompression bomb"),      # Pillow's check: 3000 px above twice its limit
    (None, 2000, "decompression bomb"),      # ... and above its limit (a warning turned into a skip)
])
def test_folder_skips_images_that_are_too_large(tmp_path, monkeypatch, max_pixels, pillow_limit, reason):
    root = _make_release(tmp_path / "chest_xray")
    _write_jpeg(root / "train" / "NORMAL" / "IM-0100-0001.jpeg", 99, size=(60, 50))
    if pillow_limit is not None:
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    limit = {} if max_pixels is None else {"max_pixels": max_pixels}
    with pytest.warns(UserWarning, match="skipped 1"):
        d = load_pneumonia_folder(root, size=8, **limit)
    assert d.skipped_files == ["train/NORMAL/IM-0100-0001.jpeg"]
    assert reason in d.skipped[0][1]
    assert len(d.x_train) == 6


def test_folder_missing_class_folder_is_named(tmp_path):
    root = _make_release(tmp_path / "chest_xray")
    shutil.rmtree(root / "test" / "PNEUMONIA")
    with pytest.raises(PneumoniaDataError, match="test/PNEUMONIA"):
        load_pneumonia_folder(root)


def test_folder_missing_or_empty_split_is_named(tmp_path):
    root = _make_release(tmp_path / "chest_xray")
    for cls in ("NORMAL", "PNEUMONIA"):
        for f in (root / "test" / cls).iterdir():
            f.unlink()
    with pytest.raises(PneumoniaDataError, match="split 'test/' has no readable images"):
        load_pneumonia_folder(root)
    shutil.rmtree(root / "test")
    with pytest.raises(PneumoniaDataError, match="'test/' is missing"):
        load_pneumonia_folder(root)
    with pytest.raises(FileNotFoundError):
        load_pneumonia_folder(tmp_path / "nowhere")


# --------------------------------------------------------------------------- patient ids and split


@pytest.mark.parametrize(
    "name, expected",
    [
        ("person123_bacteria_456.jpeg", "person123"),
        ("person123_virus_456.jpeg", "person123"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("NORMAL2-IM-0587-0001-0001.jpeg", "NORMAL2-IM-0587"),
        ("train/NORMAL/IM-0115-0001.jpeg", "IM-0115"),
        ("chest_xray\\train\\PNEUMONIA\\person9_bacteria_38.jpeg", "person9"),
        (Path("test/NORMAL/NORMAL2-IM-0095-0001.jpeg"), "NORMAL2-IM-0095"),
    ],
)
def test_patient_id(name, expected):
    assert patient_id(name) == expected


def test_patient_id_rejects_unknown_names():
    with pytest.raises(ValueError, match="holiday.jpeg"):
        patient_id("train/NORMAL/holiday.jpeg")


def test_every_shipped_file_has_a_single_class_patient(data):
    files = np.concatenate([data.files_train, data.files_test])
    labels = np.concatenate([data.y_train, data.y_test])
    label_of = {}
    for f, y in zip(files, labels):
        label_of.setdefault(patient_id(f), set()).add(int(y))
    assert all(len(v) == 1 for v in label_of.values())
    assert len(label_of) < len(files)  # some patients have several images


def _patients(files, idx):
    return {patient_id(f) for f in files[idx]}


def test_grouped_split_on_real_train_set(data):
    files, y = data.files_train, data.y_train
    train_idx, val_idx = grouped_stratified_split(files, y, val_fraction=0.15, seed=0)
    assert np.array_equal(np.sort(np.concatenate([train_idx, val_idx])), np.arange(len(y)))
    assert not _patients(files, train_idx) & _patients(files, val_idx)
    for cls in (0, 1):
        share = np.sum(y[val_idx] == cls) / np.sum(y == cls)
        assert abs(share - 0.15) < 0.01
    again = grouped_stratified_split(files, y, val_fraction=0.15, seed=0)
    assert np.array_equal(again[1], val_idx)
    other = grouped_stratified_split(files, y, val_fraction=0.15, seed=1)
    assert not np.array_equal(other[1], val_idx)


@settings(deadline=None, max_examples=30)
@given(
    group_sizes=st.lists(st.integers(1, 6), min_size=4, max_size=40),
    fraction=st.floats(0.1, 0.5),
    seed=st.integers(0, 10_000),
)
def test_grouped_split_property(group_sizes, fraction, seed):
    files, labels = [], []
    for k, size in enumerate(group_sizes):
        cls = k % 2
        for j in range(size):
            files.append(f"person{k}_bacteria_{j}.jpeg" if cls else f"IM-{k:04d}-{j:04d}.jpeg")
            labels.append(cls)
    files, labels = np.array(files), np.array(labels)
    train_idx, val_idx = grouped_stratified_split(files, labels, fraction, seed)
    assert len(np.intersect1d(train_idx, val_idx)) == 0
    assert len(train_idx) + len(val_idx) == len(files)
    assert not _patients(files, train_idx) & _patients(files, val_idx)
    for cls in (0, 1):
        n_cls = np.sum(labels == cls)
        n_val = np.sum(labels[val_idx] == cls)
        biggest_group = max(s for k, s in enumerate(group_sizes) if k % 2 == cls)
        # greedy "take if closer" can miss the target by at most half of a group... plus one group
        assert abs(n_val - fraction * n_cls) <= biggest_group


def test_grouped_split_validates_input():
    with pytest.raises(ValueError, match="length"):
        grouped_stratified_split(["IM-0001-0001.jpeg"], [0, 1])
    with pytest.raises(ValueError, match="val_fraction"):
        grouped_stratified_split(["IM-0001-0001.jpeg"], [0], val_fraction=1.5)


# --------------------------------------------------------------------------- mini-batches


def test_plain_batches_cover_everything_once():
    y = np.arange(10) % 2
    batches = list(minibatch_indices(y, 4, shuffle=False))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert np.array_equal(np.concatenate(batches), np.arange(10))
    assert [len(b) for b in minibatch_indices(y, 4, shuffle=False, drop_last=True)] == [4, 4]


def test_shuffled_batches_are_a_seeded_permutation():
    y = np.zeros(50)
    order = lambda seed: np.concatenate(list(minibatch_indices(y, 8, rng=np.random.default_rng(seed))))
    assert np.array_equal(np.sort(order(0)), np.arange(50))
    assert np.array_equal(order(0), order(0))
    assert not np.array_equal(order(0), order(1))
    assert not np.array_equal(order(0), np.arange(50))
    with pytest.raises(ValueError, match="rng"):
        list(minibatch_indices(y, 8, shuffle=True, rng=None))


def test_iterate_minibatches_keeps_x_and_y_paired():
    x = np.arange(30).reshape(15, 2)
    y = np.arange(15)
    seen = []
    for xb, yb in iterate_minibatches(x, y, 4, shuffle=True, rng=3):
        assert np.array_equal(xb[:, 0], 2 * yb)
        seen.extend(yb)
    assert sorted(seen) == list(range(15))
    with pytest.raises(ValueError, match="length"):
        next(iterate_minibatches(x, y[:3], 4, rng=0))


def test_balanced_batches_have_equal_class_counts():
    y = np.array([1] * 90 + [0] * 10)
    batches = list(minibatch_indices(y, 16, rng=np.random.default_rng(0), balanced=True))
    assert len(batches) == 7  # ceil(100 / 16)
    for b in batches:
        assert len(b) == 16 and np.sum(y[b] == 0) == 8
    used = np.concatenate(batches)
    assert set(used[y[used] == 0]) == set(range(90, 100))  # every minority image is used
    majority = used[y[used] == 1]
    assert len(set(majority)) == len(majority)  # majority images not repeated within one pass
    odd = list(minibatch_indices(y, 5, rng=0, balanced=True, drop_last=True))
    assert len(odd) == 20 and all(np.sum(y[b] == 0) in (2, 3) for b in odd)


def test_dataloader_epochs_differ_but_seed_repeats():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20) % 2

    def epoch_rows(loader):
        return np.concatenate([xb[:, 0] for xb, _ in loader])

    loader = DataLoader(x, y, batch_size=6, seed=5)
    assert len(loader) == 4
    first, second = epoch_rows(loader), epoch_rows(loader)
    assert sorted(first) == sorted(x[:, 0])
    assert not np.array_equal(first, second)  # a new order every epoch
    fresh = DataLoader(x, y, batch_size=6, seed=5)
    assert np.array_equal(epoch_rows(fresh), first) and np.array_equal(epoch_rows(fresh), second)
    assert len(DataLoader(x, y, batch_size=6, drop_last=True)) == 3


def test_dataloader_applies_transform_with_its_generator():
    x = np.zeros((8, 6, 6, 1), np.float32)
    calls = []

    def transform(xb, rng):
        calls.append(rng)
        return xb + 1

    loader = DataLoader(x, np.zeros(8), batch_size=4, transform=transform)
    assert all((xb == 1).all() for xb, _ in loader)
    assert len(calls) == 2 and calls[0] is loader.rng


# --------------------------------------------------------------------------- augmentation


def _image(n=2, size=12, seed=0):
    return np.random.default_rng(seed).random((n, size, size)).astype(np.float32)


@pytest.mark.parametrize("fill", ["min", "edge", 0.5])
def test_identity_warp_returns_input(fill):
    x = _image()
    out = affine_warp(x, np.tile(np.eye(2), (2, 1, 1)), np.zeros((2, 2)), fill=fill)
    assert out.dtype == np.float32 and np.array_equal(out, x)


def test_positive_rotation_turns_clockwise():
    x = _image(n=1, size=9)
    theta = np.pi / 2
    rotate_back = np.array([[[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]]])
    out = affine_warp(x, rotate_back, np.zeros((1, 2)))
    assert np.allclose(out[0], np.rot90(x[0], k=-1), atol=1e-5)


def test_shift_moves_content_and_fills_with_minimum():
    x = _image(n=1)
    out = affine_warp(x, np.eye(2)[None], np.array([[-3.0, 0.0]]))  # read 3 px to the left
    assert np.allclose(out[0, :, 3:], x[0, :, :-3])
    assert np.allclose(out[0, :, :2], x.min())


def test_bilinear_sample_is_weighted_mean_of_neighbours():
    img = np.array([[0.0, 10.0], [20.0, 30.0]], np.float32)[None, :, :, None]
    rows = np.array([[[0.5, 0.0, 0.25]]])
    cols = np.array([[[0.5, 0.5, 1.0]]])
    out = bilinear_sample(img, rows, cols)[0, 0, :, 0]
    assert np.allclose(out, [15.0, 5.0, 15.0])


def test_augment_is_deterministic_per_seed_and_keeps_shape():
    x = np.repeat(_image(n=1, size=32), 4, axis=0)
    a = augment_xray(x, np.random.default_rng(0))
    b = augment_xray(x, np.random.default_rng(0))
    c = augment_xray(x, np.random.default_rng(1))
    assert a.shape == x.shape and a.dtype == np.float32 and np.isfinite(a).all()
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert not np.allclose(a[0], a[1])  # each image gets its own random parameters
    assert augment_xray(x[..., None], 0).shape == (4, 32, 32, 1)


def test_augment_with_zero_strength_is_identity():
    x = _image(n=3)
    out = augment_xray(x, 0, rotation_deg=0, shift=0, zoom=(1, 1), brightness=0, contrast=0)
    assert np.allclose(out, x, atol=1e-6)


def test_random_affine_stays_small():
    # a bright dot at the centre moves at most shift*size + rotation/zoom effect (~0) pixels
    x = np.zeros((20, 41, 41), np.float32)
    x[:, 20, 20] = 1.0
    out = random_affine(x, np.random.default_rng(0), rotation_deg=10, shift=0.08, zoom=(0.9, 1.1))
    peaks = np.array([np.unravel_index(np.argmax(o), o.shape) for o in out])
    moved = np.abs(peaks - 20)
    assert moved.max() <= np.ceil(0.08 * 41) + 1 and moved.max() >= 1


def test_brightness_contrast_bounds():
    x = _image(n=50, seed=3)
    out = random_brightness_contrast(x, np.random.default_rng(0), brightness=0.1, contrast=0.2)
    mean, sd = x.mean(axis=(1, 2)), x.std(axis=(1, 2))
    assert np.all(np.abs(out.mean(axis=(1, 2)) - mean) <= 0.1 * sd + 1e-5)
    ratio = out.std(axis=(1, 2)) / sd
    assert np.all((ratio >= 0.8 - 1e-4) & (ratio <= 1.2 + 1e-4)) and ratio.std() > 0
    same_mean = random_brightness_contrast(x, 0, brightness=0.0, contrast=0.2)
    assert np.allclose(same_mean.mean(axis=(1, 2)), mean, atol=1e-5)
