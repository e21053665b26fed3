"""A run's calibration: the temperature and the decision threshold fitted on validation,
read back from its metrics.json with every value checked (a temperature of -0.5 would
invert every diagnosis, a threshold of 5 would call everyone NORMAL)."""

import os

from ..files import read_json
from .checks import check_dict, check_number, field

#: metrics.fit_temperature searches [0.01, 100]; a file holding anything else was not fitted.
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0


def read_calibration(run_folder):
    """(temperature, threshold) fitted on validation, from the run's metrics.json; (1, 0.5) without one."""
    path = os.path.join(run_folder, "metrics.json")
    if not os.path.exists(path):
        return 1.0, 0.5
    report = check_dict(read_json(path, "metrics file"), "the file", path)
    temperature = check_number(field(report, "temperature", path), "temperature", path,
                               low=MIN_TEMPERATURE, high=MAX_TEMPERATURE)
    chosen = check_dict(field(report, "threshold_val_sens", path), "threshold_val_sens", path)
    threshold = check_number(field(chosen, "threshold", f"{path}: threshold_val_sens"),
                             "threshold_val_sens.threshold", path, low=0, high=1)
    return float(temperature), float(threshold)
