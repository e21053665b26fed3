"""The one figure helper every plot uses: a new figure, and saving it as a PNG.

We draw on a ``matplotlib.figure.Figure`` with the Agg canvas directly instead of using
``pyplot``: importing this never changes matplotlib's global backend or opens a window, and
figures are freed as soon as they go out of scope.
"""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..files import atomic_write

RIGHT_COLOR = "#1a7f37"  # green: a correct prediction
WRONG_COLOR = "#cf222e"  # red: a wrong one
COLOUR_KEY = ("green: correct", "red: wrong")  # at the figure's threshold


def describe_threshold(threshold, target_sensitivity=None):
    """How every figure names its decision threshold.

    'threshold 0.829, chosen on validation for sensitivity >= 0.95' for a run's own threshold
    (``target_sensitivity`` given: the sensitivity it was chosen for), else 'threshold 0.500'."""
    text = f"threshold {float(threshold):.3f}"
    if target_sensitivity is not None:
        text += f", chosen on validation for sensitivity >= {float(target_sensitivity):.2f}"
    return text


def describe_data(what, split=None, n=None):
    """'ROC curve on the test split (n = 624)'; the parts not given are left out."""
    return what + (f" on the {split} split" if split else "") + (f" (n = {n})" if n is not None else "")


def new_figure(width, height, layout="constrained"):
    """A Figure of ``width`` x ``height`` inches on an Agg canvas (``layout=None``: placed by hand)."""
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path):
    """Write ``fig`` to ``path`` as a PNG at 120 dpi (creating the folder); returns the Path.

    Written atomically (``files.atomic_write``): a full disk or a kill half-way leaves the
    old figure, never a truncated one."""
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=120), suffix=".png")
    return path


#: matplotlib's formats that are not an image file a viewer opens ("pgf" also needs LaTeX)
NOT_IMAGE_FORMATS = ("pgf", "raw", "rgba")


def figure_format(path):
    """The format ``path``'s extension names, as matplotlib writes it ('x.jpg' -> 'jpg');
    a ValueError naming the file and the extensions that work for any other."""
    formats = sorted(set(FigureCanvasAgg.get_supported_filetypes()) - set(NOT_IMAGE_FORMATS))
    extension = Path(path).suffix.lower().lstrip(".")
    if extension not in formats:
        raise ValueError(f"cannot write a figure to {path}: its extension {'.' + extension if extension else '(none)'} "
                         f"names no image format matplotlib writes; use one of {', '.join('.' + f for f in formats)}")
    return extension


def save_figure(fig, path):
    """Like ``save_png``, in the format ``path``'s extension names (``figure_format``):
    'x.jpg' is a JPEG, 'x.pdf' a PDF, never PNG bytes under another name."""
    path = Path(path)
    atomic_write(path, lambda f: fig.savefig(f, format=figure_format(path), dpi=120), suffix=path.suffix)
    return path
