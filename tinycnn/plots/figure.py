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
