"""One image file scored by a run's model, as ``tinycnn predict`` (and its ``--json``) reports it.

    result = score_file(model, description, "xray.png", temperature, threshold)
    # {"file": "xray.png", "probability": 0.91, "label": "PNEUMONIA", "threshold": 0.4,
    #  "temperature": 1.3, "warnings": [], "error": None}

A file that cannot be read is not an exception here: its result has ``error`` (the reason)
and ``probability`` and ``label`` None, so a list of files is scored to the end.
"""

from .. import metrics
from ..data import CLASS_NAMES, ImageReadError, load_xray, preprocess
from .model_file import predict_logits


def score_file(model, description, path, temperature, threshold):
    """The result of one file: {file, probability, label, threshold, temperature, warnings, error}.

    ``description``: the model file's (its input size and preprocessing); probability is
    P(pneumonia) = sigmoid(logit / temperature), label PNEUMONIA when it is >= threshold.
    ``warnings``: one line each for an input unlike the training X-rays (the result is still given)."""
    result = {"file": str(path), "probability": None, "label": None, "threshold": threshold,
              "temperature": temperature, "warnings": [], "error": None}
    try:
        xray = load_xray(path, description["input_shape"][0])
    except ImageReadError as err:
        result["error"] = err.reason
        return result
    x = preprocess(xray.pixels[None], description.get("preprocessing", "dataset"))
    probability = float(metrics.sigmoid(predict_logits(model, x)[0] / temperature))
    result.update(probability=probability, label=CLASS_NAMES[int(probability >= threshold)],
                  warnings=list(xray.warnings))
    return result
