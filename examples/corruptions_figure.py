"""Show the acquisition-style corruptions of tinycnn.data.corruptions on three training X-rays.

    python examples/corruptions_figure.py                     # writes runs/corruptions.png
    python examples/corruptions_figure.py --out corruptions.png --seed 3

The first row shows each X-ray as it is; every further row is one entry of ``CORRUPTIONS``,
at severity 0.3 and 1.0 (two columns per X-ray). Grey levels are drawn on the fixed scale
0 (black) to 255 (white), so changes of gamma and contrast show as they are. The X-rays
come from the train split of the shipped data only (never from test).
"""

import argparse

import numpy as np

from tinycnn.data import CLASS_NAMES, CORRUPTIONS, load_pneumonia
from tinycnn.plots.figure import new_figure, save_png

SEVERITIES = (0.3, 1.0)

#: what severity 0..1 spans for each corruption (from its docstring in tinycnn/data/corruptions.py)
SPANS = {
    "gaussian_blur": "sigma 0 to 1.5 px",
    "resample": "shrink factor 1 to 3",
    "jpeg": "quality 90 to 20",
    "gamma": "gamma 1 to 0.6 or 1.6",
    "contrast": "k 1 to 0.5 or 1.5",
    "gaussian_noise": "sigma 0 to 12.75",
    "sharpen": "amount 0 to 1.5",
}


def pick_xrays(images, labels, seed):
    """One NORMAL and two PNEUMONIA training X-rays, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    normal = rng.choice(np.flatnonzero(labels == 0), 1, replace=False)
    pneumonia = rng.choice(np.flatnonzero(labels == 1), 2, replace=False)
    chosen = np.concatenate([normal, pneumonia])
    return images[chosen], labels[chosen], chosen


def draw_tile(ax, image, title=None):
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=7.5)


def direction(name, image, corrupted):
    """For the two corruptions that go either way, which way this draw went (read off the result)."""
    if name == "gamma":
        return "brighter (gamma < 1)" if corrupted.mean() > image.mean() else "darker (gamma > 1)"
    if name == "contrast":
        return "more contrast (k > 1)" if corrupted.std() > image.std() else "less contrast (k < 1)"
    return None


def corruptions_figure(images, labels, rows, seed=0):
    """A figure: a clean row, then one row per corruption, two severities per X-ray."""
    rng = np.random.default_rng(seed)              # gamma/contrast direction and noise
    n_columns = len(images) * len(SEVERITIES)
    fig = new_figure(1.25 * n_columns + 1.2, 1.3 * (len(CORRUPTIONS) + 1) + 0.9)
    axes = fig.subplots(len(CORRUPTIONS) + 1, n_columns)
    for j, (image, label, row) in enumerate(zip(images, labels, rows)):
        for k, severity in enumerate(SEVERITIES):
            column = len(SEVERITIES) * j + k
            header = f"train #{row} ({CLASS_NAMES[label]})\nseverity {severity}"
            draw_tile(axes[0, column], image, header if k == 0 else f"\nseverity {severity}")
            for i, (name, function) in enumerate(CORRUPTIONS.items(), start=1):
                corrupted = function(image, severity, rng)
                draw_tile(axes[i, column], corrupted, direction(name, image, corrupted))
    axes[0, 0].set_ylabel("clean", fontsize=9)
    for i, name in enumerate(CORRUPTIONS, start=1):
        axes[i, 0].set_ylabel(f"{name}\n{SPANS[name]}", fontsize=8)
    fig.suptitle(f"Acquisition-style corruptions (tinycnn.data.corruptions) of {len(images)} training X-rays "
                 f"({images.shape[1]}x{images.shape[2]}),\nat severities {SEVERITIES[0]} and {SEVERITIES[1]}; "
                 "first row clean (shown twice); grey levels on a fixed 0-255 scale", fontsize=10)
    return fig


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/corruptions.png", help="PNG to write (atomically)")
    parser.add_argument("--seed", type=int, default=0, help="which X-rays, and the random parts")
    args = parser.parse_args(argv)
    data = load_pneumonia()
    images, labels, rows = pick_xrays(data.x_train, data.y_train, args.seed)
    path = save_png(corruptions_figure(images, labels, rows, args.seed), args.out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
