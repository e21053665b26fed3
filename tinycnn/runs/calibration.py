"""A run's calibration: the temperature and the decision threshold fitted on validation
(``fit_calibration``), read back from its metrics.json with every value checked (a
temperature of -0.5 would invert every diagnosis, a threshold of 5 would call everyone NORMAL)."""

import os

from .. import metrics
from ..files import read_json
from .checks import RunError, check_dict, check_number, field
from .model_file import predict_logits

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


def fit_calibration(model, data, val_logits, config):
    """(temperature, threshold, report) fitted on ``config.calibrate_on``: the validation images
    ("val", ``val_logits``) or their shift-simulated copies ("shifted_val", ``data["x_val_shifted"]``).

    The threshold is the one that reaches ``config.target_sensitivity`` on that set after the
    temperature.  ``report``: the set used, and the ECE of the validation images and of their
    shifted copies (when ``data`` has them) before and after the temperature, with the shifted
    copies' AUC; nothing of the test split."""
    y_val = data["y_val"].astype(int)
    sets = {"val": val_logits}
    if "x_val_shifted" in data:
        sets["shifted_val"] = predict_logits(model, data["x_val_shifted"])
    if config.calibrate_on not in sets:
        raise RunError(f"calibrate_on {config.calibrate_on!r} needs the shifted validation images, "
                       "data['x_val_shifted'] (train.prepare_data makes them)")
    logits = sets[config.calibrate_on]
    temperature = metrics.fit_temperature(logits, y_val)
    threshold = metrics.threshold_for_sensitivity(y_val, metrics.sigmoid(logits / temperature),
                                                  config.target_sensitivity)
    report = {"calibrate_on": config.calibrate_on}
    for name, logits in sets.items():
        report[f"ece_{name}_before_temperature"] = metrics.ece(y_val, metrics.sigmoid(logits))
        report[f"ece_{name}_after_temperature"] = metrics.ece(y_val, metrics.sigmoid(logits / temperature))
    if "shifted_val" in sets:
        report["shifted_val_auc"] = metrics.roc_auc(y_val, sets["shifted_val"])
    return temperature, threshold, report
