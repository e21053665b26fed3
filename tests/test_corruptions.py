"""Acquisition-style corruptions (tinycnn.data.corruptions): what each one does to an image,
corrupt_batch's probability and seeding, shifted_validation's determinism, and bad inputs.

Real images are training X-rays of the shipped data (train split only)."""

import numpy as np
import pytest

from tinycnn.data import load_pneumonia
from tinycnn.data import corruptions
from tinycnn.data.corruptions import (
    CORRUPTIONS,
    TRAINING_SEVERITY,
    VALIDATION_SEVERITY,
    corrupt_batch,
    shifted_validation,
    smooth,
)

pytestmark = pytest.mark.nojit   # nothing here uses Numba


@pytest.fixture(scope="module")
def xrays():
    """200 training X-rays (64x64 uint8), a fixed sample of the train split."""
    x_train = load_pneumonia().x_train
    return x_train[np.random.default_rng(0).choice(len(x_train), 200, replace=False)]


def high_frequency_energy(image):
    """Sum of squared differences between horizontal and vertical neighbours."""
    x = image.astype(np.float64)
    return float(np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.diff(x, axis=1) ** 2))


def ramp(height=16, width=16):
    """A grey ramp from 0 to 255 (both ends present), shape (height, width)."""
    return np.linspace(0, 255, height * width).round().astype(np.uint8).reshape(height, width)


# ----------------------------------------------------------------------------- every corruption


@pytest.mark.parametrize("name", CORRUPTIONS)
@pytest.mark.parametrize("shape", [(64, 64), (28, 28), (20, 33), (1, 1)])
@pytest.mark.parametrize("severity", [0.0, 0.3, 1.0])
def test_shape_and_dtype_kept(name, shape, severity):
    image = np.random.default_rng(1).integers(0, 256, size=shape, dtype=np.uint8)
    before = image.copy()
    out = CORRUPTIONS[name](image, severity, np.random.default_rng(2))
    assert out.shape == shape and out.dtype == np.uint8
    assert out is not image and np.array_equal(image, before)   # a new array; the input untouched


@pytest.mark.parametrize("name", sorted(set(CORRUPTIONS) - {"jpeg"}))
def test_severity_zero_is_the_identity(name, xrays):
    for i, image in enumerate(xrays[:20]):
        assert np.array_equal(CORRUPTIONS[name](image, 0.0, np.random.default_rng(i)), image)


def test_jpeg_at_severity_zero_is_quality_90_not_the_identity(xrays):
    """Stated in its docstring: any JPEG pass moves some grey levels, at quality 90 only a little
    (on 200 training X-rays: 1.3 to 2.3 grey levels on average, the mean within 0.1)."""
    for image in xrays[:20]:
        out = corruptions.jpeg(image, 0.0)
        difference = np.abs(out.astype(int) - image)
        assert difference.any() and difference.mean() < 3.0 and abs(out.mean() - image.mean()) < 0.3


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_same_rng_same_output_and_deterministic_ones_ignore_it(name, xrays):
    image = xrays[0]
    first = CORRUPTIONS[name](image, 0.7, np.random.default_rng(5))
    assert np.array_equal(first, CORRUPTIONS[name](image, 0.7, np.random.default_rng(5)))
    if name in ("gaussian_blur", "resample", "jpeg", "sharpen"):
        assert np.array_equal(first, CORRUPTIONS[name](image, 0.7, np.random.default_rng(6)))


# ----------------------------------------------------------------------------- what each one does


def test_smooth_of_an_impulse_is_the_gaussian_kernel():
    image = np.zeros((21, 21), dtype=np.uint8)
    image[10, 10] = 100
    kernel = corruptions.gaussian_kernel(1.5)            # radius ceil(4.5) = 5
    assert len(kernel) == 11 and np.isclose(kernel.sum(), 1.0)
    assert np.isclose(kernel[6] / kernel[5], np.exp(-1 / (2 * 1.5**2)))
    expected = np.zeros((21, 21))
    expected[5:16, 5:16] = 100 * np.outer(kernel, kernel)
    assert np.allclose(smooth(image, 1.5), expected)


def test_blur_lowers_high_frequency_energy(xrays):
    """On 200 training X-rays the energy falls to 0.69-0.86 of its value at severity 0.3 and
    to 0.12-0.40 at severity 1."""
    for image in xrays[:20]:
        energy = high_frequency_energy(image)
        mild = high_frequency_energy(corruptions.gaussian_blur(image, 0.3))
        strong = high_frequency_energy(corruptions.gaussian_blur(image, 1.0))
        assert strong < mild < 0.9 * energy and strong < 0.5 * energy
        assert abs(corruptions.gaussian_blur(image, 1.0).mean() - image.mean()) < 1.0


def test_resample_removes_detail_finer_than_its_factor():
    checkerboard = (np.indices((32, 32)).sum(axis=0) % 2 * 255).astype(np.uint8)   # 1-pixel squares
    out = corruptions.resample(checkerboard, 1.0)                                    # factor 3: 32 -> 11 -> 32
    assert out.std() < 0.2 * checkerboard.std()
    assert abs(out.mean() - checkerboard.mean()) < 10


@pytest.mark.parametrize("severity, small_side", [(1.0, 11), (0.5, 16), (0.25, 22)])
def test_resample_keeps_only_as_many_numbers_as_the_shrunk_image(severity, small_side):
    """Enlarging is linear, out = U small V^T, so a 33x33 image shrunk by f = 1 + 2 severity to
    k = round(33 / f) a side comes back with rank at most k: singular values k+1, k+2, ... are
    at the level of the uint8 rounding (measured: at most 2.7); the first k-1 are not (the k-th,
    the finest stripes the small image holds, is damped by the two bilinear filters, at
    severity 0.5 down to the rounding level)."""
    image = np.random.default_rng(0).integers(0, 256, size=(33, 33), dtype=np.uint8)
    singular_values = np.linalg.svd(corruptions.resample(image, severity).astype(float), compute_uv=False)
    assert np.all(singular_values[small_side:] < 3.5) and singular_values[small_side - 2] > 7.0


def test_resample_lowers_high_frequency_energy(xrays):
    """On 200 training X-rays, factor 3 leaves 0.11-0.39 of the energy."""
    for image in xrays[:20]:
        assert high_frequency_energy(corruptions.resample(image, 1.0)) < 0.5 * high_frequency_energy(image)


def test_jpeg_at_low_quality_changes_the_image_but_keeps_its_mean(xrays):
    """Quality 20 (severity 1): most pixels change (on 200 training X-rays by 4.0 to 7.9 grey
    levels on average), the mean moves by less than 1 grey level (measured: at most 0.6)."""
    for image in xrays[:20]:
        out = corruptions.jpeg(image, 1.0)
        assert np.mean(out != image) > 0.5
        assert np.abs(out.astype(int) - image).mean() > 3.0
        assert abs(out.mean() - image.mean()) < 1.0


def test_jpeg_loses_more_at_higher_severity(xrays):
    def error(image, severity):
        return np.abs(corruptions.jpeg(image, severity).astype(int) - image).mean()
    for image in xrays[:10]:
        assert error(image, 0.0) < error(image, 0.5) < error(image, 1.0)


def test_gamma_keeps_0_and_255_and_goes_both_ways():
    image = ramp()
    darker = brighter = 0
    for seed in range(40):
        out = corruptions.gamma(image, 1.0, np.random.default_rng(seed))
        assert out.flat[0] == 0 and out.flat[-1] == 255
        assert np.all(np.diff(out.ravel().astype(int)) >= 0)           # still a ramp
        middle = int(out.flat[image.size // 2])                         # input 128
        assert middle in (round(255 * (128 / 255) ** 1.6), round(255 * (128 / 255) ** 0.6))
        darker += middle < 128
        brighter += middle > 128
    assert darker > 5 and brighter > 5


def test_contrast_scales_the_spread_about_the_mean_by_its_factor():
    image = np.random.default_rng(3).integers(100, 156, size=(64, 64), dtype=np.uint8)  # no clipping at k = 1.5
    factors = set()
    for seed in range(20):
        out = corruptions.contrast(image, 1.0, np.random.default_rng(seed))
        k = out.std() / image.std()
        assert abs(out.mean() - image.mean()) < 0.5
        assert min(abs(k - 1.5), abs(k - 0.5)) < 0.02
        factors.add(round(k))
    assert factors == {0, 2}                                            # both directions occur (0.5 and 1.5)


@pytest.mark.parametrize("severity", [0.3, 0.5, 1.0])
def test_noise_has_the_requested_standard_deviation_on_a_constant_image(severity):
    image = np.full((128, 128), 128, dtype=np.uint8)
    out = corruptions.gaussian_noise(image, severity, np.random.default_rng(4))
    sigma = 12.75 * severity
    assert abs(out.std() - sigma) < 0.03 * sigma + 0.05               # rounding adds 1/12 to the variance
    assert abs(out.mean() - 128) < 0.3


def test_sharpen_raises_high_frequency_energy_and_keeps_flat_images(xrays):
    """On 200 training X-rays, a = 1.5 multiplies the energy by 2.4-4.0."""
    for image in xrays[:20]:
        assert high_frequency_energy(corruptions.sharpen(image, 1.0)) > 2.0 * high_frequency_energy(image)
    flat = np.full((16, 16), 77, dtype=np.uint8)
    assert np.array_equal(corruptions.sharpen(flat, 1.0), flat)


# ----------------------------------------------------------------------------- corrupt_batch


def test_probability_zero_returns_an_identical_copy(xrays):
    out = corrupt_batch(xrays, np.random.default_rng(0), 0.0)
    assert out is not xrays and out.dtype == np.uint8 and np.array_equal(out, xrays)


def test_probability_one_changes_every_image(xrays):
    out = corrupt_batch(xrays, 0, 1.0)
    assert all(not np.array_equal(a, b) for a, b in zip(out, xrays))
    noise = np.random.default_rng(1).integers(0, 256, size=(100, 28, 28), dtype=np.uint8)
    out = corrupt_batch(noise, 1, 1.0)
    assert all(not np.array_equal(a, b) for a, b in zip(out, noise))


def test_probability_half_changes_about_half_and_leaves_the_rest_bit_identical(xrays):
    batch = np.concatenate([xrays, xrays])                             # 400 images
    out = corrupt_batch(batch, np.random.default_rng(2), 0.5)
    changed = np.array([not np.array_equal(a, b) for a, b in zip(out, batch)])
    assert 0.4 < changed.mean() < 0.6                                 # binomial sd 0.025


def test_each_chosen_image_gets_exactly_one_corruption_of_training_severity(monkeypatch):
    calls = []

    def recorder(name):
        def corruption(image, severity, rng):
            calls.append((name, float(severity), image.shape))
            return np.full_like(image, 7)
        return corruption

    monkeypatch.setattr(corruptions, "CORRUPTIONS", {name: recorder(name) for name in CORRUPTIONS})
    images = np.random.default_rng(0).integers(0, 256, size=(700, 8, 8, 1), dtype=np.uint8)
    out = corrupt_batch(images, 3, 0.5)
    changed = np.flatnonzero(np.all(out == 7, axis=(1, 2, 3)))
    untouched = np.setdiff1d(np.arange(700), changed)
    assert len(calls) == len(changed) and np.array_equal(out[untouched], images[untouched])
    assert {name for name, _, _ in calls} == set(CORRUPTIONS)         # every kind is drawn
    assert all(TRAINING_SEVERITY[0] <= s <= TRAINING_SEVERITY[1] for _, s, _ in calls)
    assert all(shape == (8, 8) for _, _, shape in calls)


def test_same_seed_same_output_different_seed_different_output(xrays):
    first = corrupt_batch(xrays, 11, 0.5)
    assert np.array_equal(first, corrupt_batch(xrays, 11, 0.5))
    assert np.array_equal(first, corrupt_batch(xrays, np.random.default_rng(11), 0.5))
    assert not np.array_equal(first, corrupt_batch(xrays, 12, 0.5))


def test_a_generator_stream_goes_on(xrays):
    rng = np.random.default_rng(0)
    assert not np.array_equal(corrupt_batch(xrays, rng, 0.5), corrupt_batch(xrays, rng, 0.5))


def test_a_channel_axis_is_kept_and_changes_nothing_else(xrays):
    with_channel = corrupt_batch(xrays[..., None], 4, 0.5)
    assert with_channel.shape == (200, 64, 64, 1)
    assert np.array_equal(with_channel[..., 0], corrupt_batch(xrays, 4, 0.5))


def test_an_empty_batch_gives_an_empty_batch():
    out = corrupt_batch(np.zeros((0, 64, 64), np.uint8), 0, 0.5)
    assert out.shape == (0, 64, 64) and out.dtype == np.uint8


# ----------------------------------------------------------------------------- shifted_validation


def test_shifted_validation_is_deterministic_and_changes_every_image(xrays):
    first = shifted_validation(xrays)
    assert np.array_equal(first, shifted_validation(xrays))
    assert np.array_equal(first, shifted_validation(xrays, seed=0))
    assert first.shape == xrays.shape and first.dtype == np.uint8
    assert all(not np.array_equal(a, b) for a, b in zip(first, xrays))
    assert not np.array_equal(first, shifted_validation(xrays, seed=1))   # noise, gamma and contrast directions


def test_shifted_validation_cycles_through_the_corruptions_at_moderate_severity(xrays):
    """Image i gets the (i mod 7)-th corruption; the deterministic ones can be checked exactly."""
    out = shifted_validation(xrays[:14, ..., None])[..., 0]
    names = list(CORRUPTIONS)
    for i in range(14):
        name = names[i % len(names)]
        if name in ("gaussian_blur", "resample", "jpeg", "sharpen"):
            assert np.array_equal(out[i], CORRUPTIONS[name](xrays[i], VALIDATION_SEVERITY)), name
        if name == "gaussian_noise":
            assert 3.0 < np.std(out[i].astype(int) - xrays[i]) < 9.0      # sigma 6.4, some clipped


# ----------------------------------------------------------------------------- bad inputs

IMAGES = np.zeros((2, 8, 8), dtype=np.uint8)

# (the call, the exception it must raise, the words its message must contain: a regex)
REFUSED = {
    "probability-negative": (lambda: corrupt_batch(IMAGES, 0, -0.1), ValueError,
                             r"corrupt_batch: probability must lie in \[0, 1\], got -0.1"),
    "probability-above-one": (lambda: corrupt_batch(IMAGES, 0, 1.5), ValueError,
                              r"corrupt_batch: probability must lie in \[0, 1\], got 1.5"),
    "probability-nan": (lambda: corrupt_batch(IMAGES, 0, float("nan")), ValueError,
                        r"corrupt_batch: probability must lie in \[0, 1\], got nan"),
    "batch-float32": (lambda: corrupt_batch(IMAGES.astype(np.float32), 0, 0.5), TypeError,
                      r"corrupt_batch: images must be uint8 \(grey levels 0..255\), got dtype float32"),
    "batch-one-image": (lambda: corrupt_batch(IMAGES[0], 0, 0.5), ValueError,
                        r"corrupt_batch: images must have shape \(N, H, W\) or \(N, H, W, 1\), got \(8, 8\)"),
    "batch-three-channels": (lambda: corrupt_batch(np.zeros((2, 8, 8, 3), np.uint8), 0, 0.5), ValueError,
                             r"corrupt_batch: images must have shape .* got \(2, 8, 8, 3\)"),
    "shifted-int16": (lambda: shifted_validation(IMAGES.astype(np.int16)), TypeError,
                      r"shifted_validation: images must be uint8 .* got dtype int16"),
    "shifted-5d": (lambda: shifted_validation(np.zeros((1, 2, 8, 8, 1), np.uint8)), ValueError,
                   r"shifted_validation: images must have shape .* got \(1, 2, 8, 8, 1\)"),
    "severity-above-one": (lambda: corruptions.gaussian_blur(IMAGES[0], 1.2), ValueError,
                           r"gaussian_blur: severity must lie in \[0, 1\], got 1.2"),
    "severity-negative": (lambda: corruptions.jpeg(IMAGES[0], -0.5), ValueError,
                          r"jpeg: severity must lie in \[0, 1\], got -0.5"),
    "severity-nan": (lambda: corruptions.gamma(IMAGES[0], float("nan")), ValueError,
                     r"gamma: severity must lie in \[0, 1\], got nan"),
    "severity-a-word": (lambda: corruptions.contrast(IMAGES[0], "a"), TypeError,
                        r"^contrast: severity must be a number in \[0, 1\], got 'a'$"),
    "severity-none": (lambda: corruptions.resample(IMAGES[0], None), TypeError,
                      r"^resample: severity must be a number in \[0, 1\], got None$"),
    "probability-a-word": (lambda: corrupt_batch(IMAGES, 0, "a"), TypeError,
                           r"^corrupt_batch: probability must be a number in \[0, 1\], got 'a'$"),
    "probability-none": (lambda: corrupt_batch(IMAGES, 0, None), TypeError,
                         r"^corrupt_batch: probability must be a number in \[0, 1\], got None$"),
    "image-float64": (lambda: corruptions.gaussian_noise(IMAGES[0].astype(float), 0.5), TypeError,
                      r"gaussian_noise: image must be uint8 \(grey levels 0..255\), got dtype float64"),
    "image-batch-given": (lambda: corruptions.sharpen(IMAGES, 0.5), ValueError,
                          r"sharpen: image must have shape \(H, W\), got \(2, 8, 8\)"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_bad_input_is_refused_with_a_clear_message(case):
    call, error, words = REFUSED[case]
    with pytest.raises(error, match=words):
        call()


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_checks_its_severity(name):
    with pytest.raises(ValueError, match=rf"{name}: severity must lie in \[0, 1\], got 2"):
        CORRUPTIONS[name](IMAGES[0], 2, np.random.default_rng(0))
