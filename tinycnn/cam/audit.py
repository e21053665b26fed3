"""A shortcut audit: does the model look at the lungs, or at the burned-in markers and borders?

Two tests on a whole test set, each a small function:

* where the CAM mass sits (``region_masks``, ``cam_mass_shares``, ``region_statistics``): the
  share of each map's mass in the central box (the lungs), the border frame and the corner
  squares (where "R" / "A-P" markers, rulers and ECG leads sit), against the share a uniform
  map would put there (the region's area), per outcome (TP / TN / FP / FN);
* a deletion test (``deletion_curve``, ``deletion_report``): blank the pixels the map ranks
  highest first and watch the confidence fall, against a random order.

``shortcut_report`` runs both and writes ``shortcut_report.json``, ``shortcut_report.png`` and
``deletion_curve.png``.
"""

import os
import warnings

import numpy as np

from ..data import CLASS_NAMES
from ..files import atomic_write_json
from ..plots.cam import plot_deletion_curves, plot_region_report
from .gradcam import GradCAM, all_zero_maps
from .overlay import upsample
from .targets import class_probabilities, predicted_classes

#: the regions of a shortcut report, as shares of the height / width
BORDER, CORNER, CENTRAL = 0.125, 0.2, (0.2, 0.8)


# ======================================================================== regions


def region_boxes(height, width, border=BORDER, corner=CORNER, central=CENTRAL):
    """The regions in pixels: ``central`` (top, bottom, left, right) rows / columns (end
    excluded), ``border`` thickness (rows, columns), ``corners`` square size (rows, columns)."""
    lo, hi = central
    return {"central": (int(round(lo * height)), int(round(hi * height)),
                        int(round(lo * width)), int(round(hi * width))),
            "border": (border * height, border * width),
            "corners": (int(round(corner * height)), int(round(corner * width)))}


def region_masks(height, width, border=BORDER, corner=CORNER, central=CENTRAL):
    """Boolean masks (H, W) of the regions a shortcut report compares.

    * ``border``:  the outer frame, ``border`` (12.5 %) of the height / width thick on every
      side (8 pixels of 64): where the burned-in "R" / "L" / "A-P" markers, ruler and text sit;
    * ``corners``: the four ``corner`` x ``corner`` (20 % x 20 %) squares at the image corners
      (13 x 13 pixels of 64): markers, ECG leads and clips end up there;
    * ``central``: the middle box, rows and columns from 20 % to 80 % (pixels 13..50 of 64):
      the lungs, the heart and the mediastinum in a centred chest X-ray.

    Central is disjoint from border and corners; border and corners overlap (the corner squares
    reach into the frame).  A uniform map puts a share of its mass equal to each region's area
    in it: 43.8 % border, 16.5 % corners (4 x 13^2 / 64^2 at 64), 35.3 % central.
    """
    boxes = region_boxes(height, width, border, corner, central)
    fr = (np.arange(height)[:, None] + 0.5) / height
    fc = (np.arange(width)[None, :] + 0.5) / width
    border_mask = (fr < border) | (fr > 1 - border) | (fc < border) | (fc > 1 - border)
    ch, cw = boxes["corners"]
    corner_mask = np.zeros((height, width), dtype=bool)
    for r in (slice(0, ch), slice(height - ch, height)):
        for c in (slice(0, cw), slice(width - cw, width)):
            corner_mask[r, c] = True
    r0, r1, c0, c1 = boxes["central"]
    central_mask = np.zeros((height, width), dtype=bool)
    central_mask[r0:r1, c0:c1] = True
    return {"central": central_mask, "border": border_mask, "corners": corner_mask}


def cam_mass_shares(maps, masks):
    """Share of each map's total mass inside each region: dict region -> (N,) array.

    Maps with no mass (all zero) give NaN shares and are left out of the averages.
    """
    maps = np.asarray(maps, dtype=np.float64)
    total = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return {name: np.where(total > 0, (maps * m).sum(axis=(1, 2)) / total, np.nan)
                for name, m in masks.items()}


def peak_inside(maps, masks, empty):
    """Region -> (N,) bool: the map's highest pixel lies in the region (False for all-zero maps)."""
    peak = np.argmax(maps.reshape(len(maps), -1), axis=1)
    return {name: m.reshape(-1)[peak] & ~empty for name, m in masks.items()}


def outcome_groups(y, predicted):
    """Group name -> (N,) bool: all, correct, wrong, and true / false positives / negatives."""
    correct = predicted == y
    return {"all": np.ones(len(y), bool), "correct": correct, "wrong": ~correct,
            "true_positive": correct & (y == 1), "true_negative": correct & (y == 0),
            "false_positive": ~correct & (predicted == 1), "false_negative": ~correct & (predicted == 0)}


def region_statistics(maps, empty, masks, groups):
    """Per group: ``n``, ``n_all_zero_maps`` and per region ``mean_share`` (over the maps with
    mass), ``ratio_to_uniform`` (mean share / the region's area share) and ``peak_inside`` (the
    fraction of the group's maps, all-zero ones included, whose peak lies in the region)."""
    shares = cam_mass_shares(maps, masks)
    peaks = peak_inside(maps, masks, empty)
    uniform = uniform_shares(masks)
    return {g: _group_statistics(sel, empty, shares, peaks, uniform) for g, sel in groups.items()}


def _group_statistics(sel, empty, shares, peaks, uniform):
    stats = {"n": int(sel.sum()), "n_all_zero_maps": int((sel & empty).sum())}
    for name in shares:
        share = _mean_or_none(shares[name][sel])
        stats[name] = {
            "mean_share": share,
            "ratio_to_uniform": None if share is None else share / uniform[name],
            "peak_inside": None if not sel.any() else float(peaks[name][sel].mean()),
        }
    return stats


def uniform_shares(masks):
    """Region -> the share of a uniform map's mass in it (the region's share of the area)."""
    return {name: float(m.mean()) for name, m in masks.items()}


def _mean_or_none(values):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


# ======================================================================== deletion test


def deletion_curve(model, x, maps, classes, steps=20, temperature=1.0, order="cam", seed=0,
                   batch_size=256, random_resolution=None):
    """Confidence in each image's class as its pixels are blanked, most important first.

    ``maps`` (N, H, W) at the input's resolution rank the pixels.  At step s of ``steps`` the
    first round(s / steps * H W) pixels of the ranking are set to the image's own mean and the
    probability of ``classes`` (temperature-scaled) is recorded.  Returns
    (fractions (steps + 1,), confidences (N, steps + 1)).  A map that points at what the model
    uses makes the confidence fall faster than the baseline.

    ``order="random"`` is the baseline: pixels ranked by uniform noise drawn at
    ``random_resolution`` (h, w) and upsampled like a CAM, so both orders blank smooth blobs of
    the same size.  (Blanking single scattered pixels makes a speckled image unlike any X-ray,
    which hurts the confidence for reasons that have nothing to do with the map; default
    resolution: H x W, i.e. single pixels.)
    """
    x = np.asarray(x)
    n, H, W = x.shape[:3]
    rank_of = _pixel_ranks(maps, order, seed, random_resolution, (n, H, W))
    means = x.reshape(n, -1, x.shape[-1]).mean(axis=1)             # (N, C)
    fractions = np.linspace(0, 1, steps + 1)
    confidence = np.empty((n, steps + 1))
    for s, f in enumerate(fractions):
        blank = (rank_of < int(round(f * H * W))).reshape(n, H, W, 1)
        blanked = np.where(blank, means[:, None, None, :], x).astype(x.dtype)
        p = class_probabilities(model.predict(blanked, batch_size), temperature)
        confidence[:, s] = p[np.arange(n), classes]
    return fractions, confidence


def _pixel_ranks(maps, order, seed, random_resolution, shape):
    """(N, H W): each pixel's place in the blanking order (0 = blanked first; ties by position)."""
    n, H, W = shape
    if order == "cam":
        scores = np.asarray(maps, dtype=np.float64).reshape(n, H * W)
    elif order == "random":
        h, w = random_resolution or (H, W)
        scores = upsample(np.random.default_rng(seed).random((n, h, w)), (H, W)).reshape(n, H * W)
    else:
        raise ValueError(f"deletion_curve: order must be 'cam' or 'random', got {order!r}")
    ranking = np.argsort(-scores, axis=1, kind="stable")
    rank_of = np.empty_like(ranking)
    rank_of[np.arange(n)[:, None], ranking] = np.arange(H * W)[None, :]
    return rank_of


def _area_under(values, xs, upto=None):
    """Trapezoid rule: sum of (x_{i+1} - x_i) (v_i + v_{i+1}) / 2, optionally only for x <= upto
    (the curve is interpolated linearly at ``upto``)."""
    values, xs = np.asarray(values, dtype=float), np.asarray(xs, dtype=float)
    if upto is not None:
        keep = xs < upto
        xs, values = np.append(xs[keep], upto), np.append(values[keep], np.interp(upto, xs, values))
    return float(np.sum(np.diff(xs) * (values[1:] + values[:-1]) / 2))


def deletion_report(model, x, maps, predicted, class_names, map_resolution, steps=20, temperature=1.0,
                    seed=0, early_fraction=0.2):
    """Deletion curves in CAM order and in random order (smooth noise at ``map_resolution``),
    their mean per subset (all, and per predicted class when ``class_names`` names the two
    classes of a one-logit detector; None: all only) and their areas."""
    fractions, by_cam = deletion_curve(model, x, maps, predicted, steps, temperature, "cam", seed)
    _, by_chance = deletion_curve(model, x, maps, predicted, steps, temperature, "random", seed,
                                  random_resolution=map_resolution)
    subsets = {"all": np.ones(len(x), bool)}
    if class_names is not None:
        subsets.update({f"predicted {class_names[c]}": predicted == c for c in (1, 0)})
    curves = {name: _curve_summary(by_cam[sel].mean(axis=0), by_chance[sel].mean(axis=0), fractions,
                                   early_fraction, int(sel.sum()))
              for name, sel in subsets.items() if sel.any()}
    h, w = map_resolution
    return {
        "fractions": fractions, "curves": curves, "early_fraction": early_fraction,
        "auc": "area under the mean-confidence curve, blanked fraction 0..1 (lower = the ranking "
               "found what the model uses)",
        "early_auc": f"the same over the first {100 * early_fraction:.0f} % of pixels, divided by "
                     f"{early_fraction} (the mean confidence there)",
        "blank_value": "each image's own mean", "explained_class": "the predicted class",
        "random_order": f"ranking by uniform noise at {h} x {w}, upsampled like the CAM (blobs of the same size)",
    }


def _curve_summary(cam_curve, random_curve, fractions, early_fraction, n):
    return {
        "n": n,
        "mean_confidence_cam_order": cam_curve, "mean_confidence_random_order": random_curve,
        "auc_cam_order": _area_under(cam_curve, fractions),
        "auc_random_order": _area_under(random_curve, fractions),
        "early_auc_cam_order": _area_under(cam_curve, fractions, early_fraction) / early_fraction,
        "early_auc_random_order": _area_under(random_curve, fractions, early_fraction) / early_fraction,
    }


# ======================================================================== the report


def shortcut_report(model, x, y, out_dir, temperature=1.0, threshold=0.5, layer=None, steps=20,
                    seed=0, method=GradCAM, batch_size=64, early_fraction=0.2, print_fn=print):
    """Does the model look at the lungs or at the markers?  Region shares and a deletion test.

    For every image of ``x`` (normalised (N, H, W, C)) with labels ``y``, the Grad-CAM map of
    the *predicted* class (at ``threshold`` on the temperature-scaled probability) is upsampled
    to H x W and split into the regions of ``region_masks``; the report compares the mean share
    of CAM mass in central / border / corners with the share a uniform map would give (the
    region's area), for correct and wrong predictions (and TP / TN / FP / FN), and counts how
    often the map's peak lies in the border.  Then ``deletion_curve`` with the CAM order and a
    random order (smooth random maps at the CAM's resolution); the area under each
    mean-confidence curve (x from 0 to 1) is reported, overall and per predicted class, and the
    "early" area over the first ``early_fraction`` of the pixels: the lower the CAM's area
    compared with random, the more the map points at what the model uses.  Read the late part
    of the curves with care: a large patch of uniform grey is itself an input the model has
    an opinion about (to a pneumonia model it can look like an opacity), so the confidence can
    rise again once most of the image is blank.

    Writes ``shortcut_report.json``, ``shortcut_report.png`` and ``deletion_curve.png`` to
    ``out_dir`` and returns the report dict.
    """
    x, y = np.asarray(x), np.asarray(y).astype(np.int64)
    cam = method(model, layer, batch_size=batch_size)
    logits = model.predict(x)
    predicted = predicted_classes(class_probabilities(logits, temperature), threshold)
    result = _explain_quietly(cam, x, predicted)
    maps, empty = upsample(result.maps, x.shape[1:3]), all_zero_maps(result.maps)
    masks, groups = region_masks(*x.shape[1:3]), outcome_groups(y, predicted)
    names = CLASS_NAMES if logits.shape[1] == 1 else None   # per-class curves for a one-logit detector
    report = {
        "method": cam.method, "layer": result.layer, "map_resolution": list(result.maps.shape[1:]),
        "n_images": int(len(x)), "threshold": float(threshold), "temperature": float(temperature),
        "accuracy": float(groups["correct"].mean()), "n_all_zero_maps": int(empty.sum()),
        "regions": describe_regions(masks),
        "region_shares": region_statistics(maps, empty, masks, groups),
        "deletion": deletion_report(model, x, maps, predicted, names, result.maps.shape[1:], steps,
                                    temperature, seed, early_fraction),
    }
    write_shortcut_report(report, maps, groups["correct"], x[..., 0], out_dir)
    if print_fn:
        print_fn(summarise_shortcut_report(report))
    return report


def _explain_quietly(cam, x, classes):
    """``cam.explain`` of ``classes`` without the all-zero warning: the report counts those maps."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return cam.explain(x, classes)


def describe_regions(masks):
    return {"central": "rows and columns 20 %..80 % (middle box)",
            "border": "outer frame 12.5 % thick on every side",
            "corners": "four 20 % x 20 % corner squares",
            "uniform_share": uniform_shares(masks)}


def write_shortcut_report(report, maps, correct, images, out_dir):
    """``shortcut_report.json``, ``shortcut_report.png`` (regions) and ``deletion_curve.png``."""
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, "shortcut_report.json"), report)
    plot_region_report(report, maps, correct, images, region_boxes(*maps.shape[1:]),
                       os.path.join(out_dir, "shortcut_report.png"))
    plot_deletion_curves(report["deletion"], os.path.join(out_dir, "deletion_curve.png"))


def summarise_shortcut_report(report):
    """A few lines of text with the report's main numbers."""
    lines = [f"{report['method']} on '{report['layer']}' ({report['map_resolution'][0]} x "
             f"{report['map_resolution'][1]}), {report['n_images']} images, accuracy "
             f"{report['accuracy']:.3f} at threshold {report['threshold']:.3f}"]
    uniform = report["regions"]["uniform_share"]
    for g in ("correct", "wrong"):
        s = report["region_shares"][g]
        if not s["n"]:
            continue
        parts = [f"{name} {100 * s[name]['mean_share']:.1f} % (uniform {100 * uniform[name]:.1f} %)"
                 for name in ("central", "border", "corners") if s[name]["mean_share"] is not None]
        lines.append(f"CAM mass, {g} ({s['n']}): " + ", ".join(parts)
                     + f"; peak in border for {100 * s['border']['peak_inside']:.1f} %")
    d = report["deletion"]
    for name, c in d["curves"].items():
        lines.append(f"deletion, {name} ({c['n']}): area CAM order {c['auc_cam_order']:.3f} vs random "
                     f"{c['auc_random_order']:.3f}; first {100 * d['early_fraction']:.0f} %: "
                     f"{c['early_auc_cam_order']:.3f} vs {c['early_auc_random_order']:.3f}")
    return "\n".join(lines)
