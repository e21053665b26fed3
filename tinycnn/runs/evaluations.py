"""Where ``tinycnn evaluate`` writes: never over the training run's own metrics.json and
figures unless asked.

    evaluation_folder("runs/pneumonia", out=None, overwrite=False)   # -> runs/pneumonia/evaluations/001
    evaluation_folder("runs/pneumonia", out=None, overwrite=True)    # -> runs/pneumonia (replaced)
    evaluation_folder("runs/pneumonia", out="eval", overwrite=False) # -> eval (refused if it holds metrics.json)

The folder is only chosen here; ``train.evaluate_run`` takes its run lock while it writes, so
``overwrite`` into a folder that a training holds is refused.
"""

import os

from .checks import RunError


def evaluation_folder(run_folder, out, overwrite):
    """``out`` if given; else with ``overwrite`` the run folder itself; else a new
    ``RUN/evaluations/NNN``.  A folder that already holds a metrics.json is refused (RunError)
    unless ``overwrite``, and so is an ``out`` that is a file."""
    if out is None and not overwrite:
        return new_evaluation_folder(run_folder)
    folder = run_folder if out is None else os.fspath(out)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise RunError(f"--out {folder} is a file, not a folder")
    if os.path.exists(os.path.join(folder, "metrics.json")) and not overwrite:
        raise RunError(f"{folder} already holds a metrics.json (and figures): give --overwrite to replace them, "
                       "or another --out; without --out, evaluate writes to a new folder under "
                       f"{os.path.join(run_folder, 'evaluations')}")
    return folder


def new_evaluation_folder(run_folder):
    """``RUN/evaluations/001``, ``002``, ...: one past the highest number there, created here
    (``mkdir`` is atomic: two evaluations started at once never share a folder)."""
    parent = os.path.join(run_folder, "evaluations")
    os.makedirs(parent, exist_ok=True)
    number = max((int(name) for name in os.listdir(parent) if name.isdigit()), default=0) + 1
    while True:
        folder = os.path.join(parent, f"{number:03d}")
        try:
            os.mkdir(folder)
            return folder
        except FileExistsError:
            number += 1
