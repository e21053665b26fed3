"""What a Grad-CAM map explains: which layer (``find_layer``), which score S
(``target_coefficients``), and the class a model predicts (``class_probabilities``,
``predicted_classes``).

Score S of image n: S_n = sum_j M_nj z_nj for logits z (N, K).  K > 1: M is one-hot at the
target class, S = that class's pre-softmax logit.  K = 1 (binary): M = +1 for target 1 (S = +z,
evidence for class 1) and -1 for target 0 (S = -z, evidence for class 0).
"""

import numpy as np

from ..metrics import sigmoid


def target_coefficients(logits, target=None):
    """(targets (N,), M (N, K)): which class each map explains and S = sum_j M_nj * logit_nj.

    K > 1: M is one-hot at the target class (default: arg-max).  K == 1 (binary): M = +1 for
    target 1 (S = +logit), -1 for target 0 (S = -logit); default: 1 where logit > 0.
    """
    n, k = logits.shape
    binary = k == 1
    n_classes = 2 if binary else k
    if target is None:
        targets = (logits[:, 0] > 0).astype(np.int64) if binary else logits.argmax(axis=1)
    else:
        targets = broadcast_target(target, n)
        bad = (targets < 0) | (targets >= n_classes)
        if bad.any():
            kind = ("0 (negative, S = -logit) or 1 (positive, S = +logit) for this single-logit model"
                    if binary else f"a class index in 0..{n_classes - 1}")
            raise ValueError(f"target: expected {kind}, got {targets[bad][0]}")
    if binary:
        coefficients = np.where(targets == 1, 1.0, -1.0)[:, None]
    else:
        coefficients = np.zeros((n, k))
        coefficients[np.arange(n), targets] = 1.0
    return targets, coefficients


def broadcast_target(target, n):
    """target as None or an int array of shape (n,), with a clear error for anything else."""
    if target is None:
        return None
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.broadcast_to(t, (n,)).copy()
    if t.shape != (n,):
        raise ValueError(f"target: expected one class index, or one per image (shape ({n},)), "
                         f"got shape {t.shape}")
    if t.dtype.kind == "b":
        t = t.astype(np.int64)
    if t.dtype.kind == "f" and np.all(np.isfinite(t)) and np.all(t == np.round(t)):
        t = t.astype(np.int64)
    if t.dtype.kind not in "iu":
        raise TypeError(f"target: expected integer class indices, got {t.dtype} values {t[:5].tolist()}")
    return t.astype(np.int64)


# ======================================================================== the layer


def find_layer(model, layer, input_shape, who="GradCAM"):
    """(index of the top-level layer to explain, its output shape (h, w, C)).

    ``layer`` None: the last top-level layer with a spatial (h, w, C) output.  Otherwise a
    top-level layer (a module or a name) whose output must be spatial.
    """
    shapes = model.layer_shapes(input_shape)
    names = [lay.name for lay, _, _ in shapes]
    spatial = [i for i, (_, _, out) in enumerate(shapes) if len(out) == 3]
    choices = _listed(names[i] for i in spatial)
    if layer is None:
        if not spatial:
            raise ValueError(f"{who}: {model.describe()} has no layer with a spatial (H, W, C) output "
                             f"for input {tuple(input_shape)}; nothing to explain")
        return spatial[-1], shapes[spatial[-1]][2]
    k = _position_of(model, [lay for lay, _, _ in shapes], layer, who, choices)
    out = shapes[k][2]
    if len(out) != 3:
        raise ValueError(f"{who}: layer '{names[k]}' has output shape {tuple(out)}, expected a spatial "
                         f"(H, W, C) feature map; layers with one: {choices}")
    return k, out


def _position_of(model, layers, layer, who, choices):
    """Index of ``layer`` (a module or a name) among the top-level ``layers``, or a ValueError
    that says where it is when it sits inside a block (the model is cut between top-level layers)."""
    is_it = (lambda m: m.name == layer) if isinstance(layer, str) else (lambda m: m is layer)
    found = [i for i, candidate in enumerate(layers) if is_it(candidate)]
    if found:
        return found[0]
    parent = _top_level_parent(model, is_it)
    if isinstance(layer, str):
        where = f" ('{layer}' is inside '{parent}': the model is cut between top-level layers)" if parent else ""
        raise ValueError(f"{who}: no top-level layer named '{layer}' in {model.describe()}{where}; "
                         f"expected one with a spatial (H, W, C) output: {choices}")
    where = f" (it is inside '{parent}': the model is cut between top-level layers)" if parent else ""
    raise ValueError(f"{who}: {layer.describe()} is not a top-level layer of {model.describe()}"
                     f"{where}; expected one with a spatial (H, W, C) output: {choices}")


def _top_level_parent(model, is_it):
    for top in model.layers:
        if any(is_it(m) for m in top.modules() if m is not top):
            return top.name
    return None


def _listed(names):
    names = list(names)
    if len(names) > 8:
        names = names[:3] + ["..."] + names[-4:]
    return ", ".join(names) if names else "(none)"


# ======================================================================== the predicted class


def class_probabilities(logits, temperature=1.0):
    """(N, K) logits -> (N, classes) probabilities; one logit -> [1 - p, p], p = sigmoid(z / T)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        p = sigmoid(z[:, 0])
        return np.stack([1 - p, p], axis=1)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predicted_classes(probabilities, threshold=0.5):
    """Binary: class 1 where P(class 1) >= threshold; otherwise the arg-max."""
    probabilities = np.asarray(probabilities)
    if probabilities.shape[1] == 2:
        return (probabilities[:, 1] >= threshold).astype(np.int64)
    return probabilities.argmax(axis=1)
