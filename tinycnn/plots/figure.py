"""The one figure helper every plot uses: a new figure, and saving it as a PNG.

We draw on a ``matplotlib.figure.Figure`` with the Agg canvas directly instead of using
``pyplot``: importing this never changes matplotlib's global backend or opens a window, and
figures are freed as soon as they go out of scope.
"""

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

RIGHT_COLOR = "#1a7f37"  # green: a correct prediction
WRONG_COLOR = "#cf222e"  # red: a wrong one


def new_figure(width, height, layout="constrained"):
    """A Figure of ``width`` x ``height`` inches on an Agg canvas (``layout=None``: placed by hand)."""
    fig = Figure(figsize=(width, height), dpi=100, layout=layout)
    FigureCanvasAgg(fig)
    return fig


def save_png(fig, path):
    """Write ``fig`` to ``path`` as a PNG at 120 dpi (creating the folder); returns the Path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=120)
    return path
