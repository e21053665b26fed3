"""Grad-CAM: which part of the image made the network say what it said.

The lecture's four steps.  A is the feature map of the layer before GAP, H x W x C
(50 x 50 x 512 on the board, 8 x 8 x 128 in ``pneumonia_net``, 7 x 7 x 1024 in MobileNet):

    (1) A        = activations of the layer before GAP                  H x W x C
    (2) G        = dS / dA, gradient of the target score S w.r.t. A     H x W x C
    (3) alpha_k  = (1 / HW) sum_ij G_ij^k    (GAP of the gradients)      1 x C
    (4) map      = ReLU( sum_k alpha_k A^k ), scaled to [0, 1]           H x W
        then rescaled (bilinear) to the input size and laid over the original image.

One short function per step: ``layer_activations`` (1), ``score_gradients`` (2),
``channel_weights`` (3), ``weighted_channel_sum`` + ``scale_to_unit`` (4), then ``upsample``
and ``overlay``.  ``GradCAM`` strings them together.

Why (3) is the right weight: when the head is GAP -> Dense, the score of class c is
S = sum_k w_k^c (1/HW) sum_ij A_ij^k + b_c, so G_ij^k = w_k^c / HW at every position, step 3
gives alpha_k = w_k^c / HW, and the map is ReLU(sum_k w_k^c A^k) up to scale: the original
CAM of Zhou et al.  Grad-CAM (Selvaraju et al. 2017) takes the same recipe to any head.

How the gradient is obtained (no hooks): the model is a Sequential, so it is cut in two
after the chosen layer.  layers[:k+1] run under ``no_grad()``; their output becomes a fresh
leaf ``Tensor(A, requires_grad=True)``; layers[k+1:] run from it with the graph recorded;
``tc.grad(score, [A])`` hands back dS/dA without touching any parameter's ``.grad``.  The
model is put in eval mode for the call (batch norm uses its moving statistics, dropout is off,
so images of a batch do not interact) and each module's previous mode is restored.

Which score S (``target``):

* several outputs (multi-class): S = the pre-softmax logit of class ``target``; default: the
  arg-max class;
* one output (binary, e.g. NORMAL = 0 vs PNEUMONIA = 1): the logit z is evidence for class 1,
  so target=1 uses S = +z and target=0 uses S = -z (evidence for class 0).  Default: 1 when
  z > 0 (probability > 0.5), else 0.  Pass ``target`` explicitly to explain a decision made
  at another threshold.

``target`` is one class index for all images or one per image.  Variants built on the same
pieces: ``GradCAMPlusPlus`` (Chattopadhyay et al. 2018: position-dependent weights from the
second and third powers of the gradient) and ``HiResCAM`` (Draelos & Carin 2020: the gradient
multiplies the activations elementwise, nothing averaged).

An ``Ensemble`` (z = (1/K) sum_m z_m, members of one architecture) is explained as one network
whose feature map is the members' maps side by side: A = [A_1, ..., A_K] (H x W x KC) and
G = dS/dA = [G_1 / K, ..., G_K / K], with G_m = dS_m/dA_m.  Steps 3-4 are unchanged and give
ReLU( sum_m sum_k alpha_mk A_m^k ): the Grad-CAM of the ensemble's own score
(``ensemble_activations_and_gradients``).

A map is a heat map of *where the evidence for S sits at the layer's resolution*; it says
nothing about *why*.  ``shortcut_report`` asks one useful question of it on a whole test set:
does the model look at the lungs, or at the burned-in markers and borders?
"""

import contextlib
import os
import warnings
from collections import namedtuple

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from . import tensor as _tensor
from .files import atomic_write_json
from .models.ensemble import Ensemble
from .nn import Module, Sequential
from .tensor import Tensor, enable_grad, no_grad

CLASS_NAMES = ("NORMAL", "PNEUMONIA")
RIGHT_COLOR = "#1a7f37"  # green, as in plots.py
WRONG_COLOR = "#cf222e"  # red

#: what GradCAM.explain returns: maps (N, h, w) in [0, 1], the model's logits (N, K), the
#: class each map explains (N,) and the layer used
Explanation = namedtuple("Explanation", "maps logits targets layer")


# ======================================================================== the four steps


def layer_activations(model, x, k):
    """Step 1: A = the output of layer k, one H x W x C feature map per image.

    Runs ``layers[0..k]`` under ``no_grad()`` (nothing before A needs a gradient) and returns
    the result as a fresh leaf ``Tensor(A, requires_grad=True)``: the graph starts here.
    """
    with no_grad():
        h = x if isinstance(x, Tensor) else Tensor(x)
        for layer in model.layers[:k + 1]:
            h = layer(h)
    return Tensor(h.data, requires_grad=True)


def logits_from(model, A, k):
    """Run ``layers[k+1:]`` from the activation A with the graph recorded: the logits (N, classes)."""
    with enable_grad():
        out = A
        for layer in model.layers[k + 1:]:
            out = layer(out)
    if out.ndim != 2:
        raise ValueError(f"GradCAM: expected the model to output logits (N, classes), "
                         f"got shape {tuple(out.shape)}")
    return out


def score_gradients(model, A, k, target=None):
    """Step 2: G = dS / dA, H x W x C per image.  Returns (G, logits, targets).

    Runs ``layers[k+1:]`` from A, picks each image's target score S_n (``target_coefficients``:
    S_n = sum_j M_nj logit_nj, M one-hot, or +-1 for a single logit) and asks ``tc.grad`` for
    d(sum_n S_n)/dA.  In eval mode images do not interact, so slice n of it is dS_n / dA_n.
    """
    out = logits_from(model, A, k)
    targets, M = target_coefficients(out.data, target)
    (G,) = _tensor.grad(out, [A], grad_output=M.astype(out.dtype))
    return G, out.data, targets


def ensemble_activations_and_gradients(ensemble, x, k, target=None):
    """Steps 1 and 2 for an ``Ensemble``: (A Tensor (N, H, W, K*C), G, logits, targets).

    A_m = member m's layer-k activations; the ensemble's logits z = (1/K) sum_m z_m are built
    from them as ``Ensemble.forward`` builds them, pick each image's target (as for one network),
    and ``tc.grad`` gives dS/dA_m for every member at once (it equals (1/K) dS_m/dA_m).  The
    members' A and G are concatenated along the channel axis, which turns the sum over members
    into the ordinary sum over channels of step 4.
    """
    members = ensemble.members
    activations = [layer_activations(member, x, k) for member in members]
    with enable_grad():
        logits = logits_from(members[0], activations[0], k)
        for member, A in zip(members[1:], activations[1:]):
            logits = logits + logits_from(member, A, k)
        logits = logits * (1.0 / len(members))
    targets, M = target_coefficients(logits.data, target)
    gradients = _tensor.grad(logits, activations, grad_output=M.astype(logits.dtype))
    return (Tensor(np.concatenate([A.data for A in activations], axis=-1)), np.concatenate(gradients, axis=-1),
            logits.data, targets)


def channel_weights(G):
    """Step 3: alpha_k = (1 / HW) sum_ij G_ij^k, the GAP of the gradients: (N, H, W, C) -> (N, C).

    alpha_k says how much the target score rises when channel k's feature map rises everywhere.
    """
    return G.mean(axis=(1, 2))


def weighted_channel_sum(A, alpha):
    """Step 4: map_ij = ReLU( sum_k alpha_k A_ij^k ): (N, H, W, C), (N, C) -> (N, H, W).

    The ReLU keeps only the positions that speak *for* the target; positions that speak against
    it (negative sums) are set to 0.
    """
    return np.maximum(np.einsum("nhwc,nc->nhw", A, alpha), 0)


def scale_to_unit(maps):
    """map / max(map) per image, so every map spans [0, 1] (0 keeps meaning "no evidence").

    A map that is zero everywhere (every weighted sum was <= 0, or not finite) stays zero and
    a warning says so: there is nothing to divide by, and NaN is never returned.
    """
    maps = np.asarray(maps)
    peak = maps.reshape(len(maps), -1).max(axis=1) if maps.size else np.zeros(len(maps))
    empty = ~(peak > 0) | ~np.all(np.isfinite(maps.reshape(len(maps), -1)), axis=1)
    out = np.zeros(maps.shape, dtype=np.float64)
    ok = ~empty
    out[ok] = maps[ok] / peak[ok, None, None]
    if empty.any():
        which = np.flatnonzero(empty)
        shown = ", ".join(str(i) for i in which[:10]) + (", ..." if len(which) > 10 else "")
        warnings.warn(f"Grad-CAM: the map of {len(which)} of {len(maps)} image(s) is all zero "
                      f"(image {shown}): every weighted sum sum_k alpha_k A^k was <= 0 (or not "
                      f"finite), so nothing in the layer speaks for this target; returning zeros",
                      RuntimeWarning, stacklevel=3)
    return out


def upsample(maps, size):
    """Rescale maps (N, h, w) or (h, w) to ``size`` = H or (H, W) by bilinear interpolation.

    Pixel centres are aligned as in image resizing (PIL, OpenCV, torch's align_corners=False):
    output pixel i reads the input at position (i + 0.5) * h / H - 0.5, clamped to [0, h - 1],
    mixing the two nearest input pixels by their distance; columns the same way.
    """
    maps = np.asarray(maps, dtype=np.float64)
    single = maps.ndim == 2
    if single:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"upsample: expected maps of shape (N, h, w) or (h, w), got {maps.shape}")
    H, W = (size, size) if np.isscalar(size) else tuple(size)
    H, W = int(H), int(W)
    if H < 1 or W < 1:
        raise ValueError(f"upsample: expected a positive size, got {size}")

    def taps(n_in, n_out):
        pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        i0 = np.floor(pos).astype(np.intp)
        return i0, np.minimum(i0 + 1, n_in - 1), pos - i0

    r0, r1, wr = taps(maps.shape[1], H)
    c0, c1, wc = taps(maps.shape[2], W)
    rows = (1 - wr)[None, :, None] * maps[:, r0] + wr[None, :, None] * maps[:, r1]
    out = (1 - wc) * rows[:, :, c0] + wc * rows[:, :, c1]
    return out[0] if single else out


# ======================================================================== Grad-CAM


class GradCAM:
    """Grad-CAM for a ``Sequential`` model (every model in ``tinycnn.models`` is one), or an
    ``Ensemble`` of them (the layer is then the same layer in every member).

        cam = GradCAM(model)                       # layer: the last one with an (H, W, C) output
        maps = cam(x)                              # (N, h, w) in [0, 1], the layer's resolution
        big = cam.upsample(maps, x.shape[1:3])     # (N, H, W), the input's resolution
        rgb = overlay(image, big[0])               # uint8 (H, W, 3)

    ``layer``: a top-level layer of the model or its name.  ``x``: normalised float images
    (N, H, W, C).  ``target``: see the module docstring (default: the predicted class).
    """

    method = "Grad-CAM"

    def __init__(self, model, layer=None, batch_size=64):
        ensemble = isinstance(model, Ensemble)
        if not (isinstance(model, Sequential) or ensemble and all(isinstance(m, Sequential) for m in model.members)):
            raise TypeError(f"{type(self).__name__}: expected an nn.Sequential model (it is cut in two "
                            f"after the layer) or an Ensemble of them, got {type(model).__name__}")
        self.model = model
        self.network = model.members[0] if ensemble else model   # where the layer is looked up
        self.batch_size = int(batch_size)
        self._requested = layer
        self.index = None
        if layer is not None and not isinstance(layer, (str, Module)):
            raise TypeError(f"{type(self).__name__}: layer must be a layer of the model or its name, "
                            f"got {type(layer).__name__}")
        if model.input_shape is not None:
            self._resolve(model.input_shape)

    @property
    def layer(self):
        """The layer whose activations A are explained (None until known)."""
        return None if self.index is None else self.network.layers[self.index]

    def _resolve(self, input_shape):
        self.index, self.feature_shape = find_layer(self.network, self._requested, input_shape,
                                                    who=type(self).__name__)

    # -------------------------------------------------------------- running
    def __call__(self, x, target=None):
        return self.explain(x, target).maps

    def explain(self, x, target=None):
        """Maps, logits, the explained class per image and the layer: an ``Explanation``."""
        x = self._check_images(x)
        if self.index is None:
            self._resolve(x.shape[1:])
        targets_all = _broadcast_target(target, len(x))
        maps, logits, targets = [], [], []
        with _eval_mode(self.model):
            for start in range(0, len(x), self.batch_size):
                stop = start + self.batch_size
                chunk_target = None if targets_all is None else targets_all[start:stop]
                A, G, z, t = self.activations_and_gradients(x[start:stop], chunk_target)
                maps.append(self.raw_map(A.data, G))
                logits.append(z)
                targets.append(t)
        maps = scale_to_unit(np.concatenate(maps))
        return Explanation(maps, np.concatenate(logits), np.concatenate(targets), self.layer.name)

    def activations_and_gradients(self, x, target=None):
        """Steps 1 and 2 for one batch: (A Tensor, G = dS/dA array, logits, targets)."""
        x = self._check_images(x)
        if self.index is None:
            self._resolve(x.shape[1:])
        with _eval_mode(self.model):
            if isinstance(self.model, Ensemble):
                return ensemble_activations_and_gradients(self.model, x, self.index, target)
            A = layer_activations(self.model, x, self.index)
            G, logits, targets = score_gradients(self.model, A, self.index, target)
        return A, G, logits, targets

    def raw_map(self, A, G):
        """Steps 3 and 4 before scaling: ReLU(sum_k alpha_k A^k), (N, h, w)."""
        return weighted_channel_sum(A, channel_weights(G))

    def upsample(self, maps, size):
        """Maps (N, h, w) rescaled to ``size`` (H or (H, W)), bilinear; see ``upsample``."""
        return upsample(maps, size)

    # -------------------------------------------------------------- checks
    def _check_images(self, x):
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        expected = "(N, H, W, C)"
        if self.model.input_shape is not None:
            expected += " = (N, " + ", ".join(str(s) for s in self.model.input_shape) + ")"
        if data.ndim != 4:
            hint = "; for one image use x[None]" if data.ndim == 3 else ""
            raise ValueError(f"{type(self).__name__}: expected a batch of images {expected}, got an array "
                             f"of shape {tuple(data.shape)}{hint}")
        if data.dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}: expected normalised float images, got dtype "
                            f"{data.dtype} (for uint8 X-rays use tinycnn.data.preprocess(x, method) first, with the method the model was trained with)")
        if self.model.input_shape is not None and data.shape[-1] != self.model.input_shape[-1]:
            raise ValueError(f"{type(self).__name__}: expected images with {self.model.input_shape[-1]} "
                             f"channel(s) {expected}, got shape {tuple(data.shape)}")
        if len(data) == 0:
            raise ValueError(f"{type(self).__name__}: expected at least one image, got an empty batch")
        return data


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018): step 3 weights each position before summing.

    With S = exp(logit) the derivatives of S are exp(logit) times the first, second and third
    powers of G (the network is piecewise linear), and the weights have a closed form:

        a_ij^k  = (G_ij^k)^2 / ( 2 (G_ij^k)^2 + sum_ab A_ab^k (G_ij^k)^3 )     (0 where 0/0)
        alpha_k = sum_ij a_ij^k ReLU(G_ij^k)

    Only positions whose gradient is positive count, so a few strong instances are not drowned
    by averaging.  Step 4 is Grad-CAM's.
    """

    method = "Grad-CAM++"

    def raw_map(self, A, G):
        g2, g3 = G * G, G * G * G
        denominator = 2 * g2 + A.sum(axis=(1, 2), keepdims=True) * g3
        safe = np.where(denominator != 0, denominator, 1)
        a = np.where(denominator != 0, g2 / safe, 0)
        alpha = (a * np.maximum(G, 0)).sum(axis=(1, 2))
        return weighted_channel_sum(A, alpha)


class HiResCAM(GradCAM):
    """HiResCAM (Draelos & Carin 2020): steps 3-4 without the average.

        map_ij = ReLU( sum_k A_ij^k G_ij^k )

    Each position keeps its own gradient, so the map shows exactly which positions raise the
    score (for a GAP -> Dense head G is the same everywhere and this equals Grad-CAM).
    """

    method = "HiResCAM"

    def raw_map(self, A, G):
        return np.maximum((A * G).sum(axis=-1), 0)


# ======================================================================== helpers


def find_layer(model, layer, input_shape, who="GradCAM"):
    """(index of the top-level layer to explain, its output shape (h, w, C)).

    ``layer`` None: the last top-level layer with a spatial (h, w, C) output.  Otherwise a
    top-level layer (a module or a name) whose output must be spatial.
    """
    shapes = model.layer_shapes(input_shape)
    names = [lay.name for lay, _, _ in shapes]
    spatial = [i for i, (_, _, out) in enumerate(shapes) if len(out) == 3]

    def choices():
        listed = [names[i] for i in spatial]
        if len(listed) > 8:
            listed = listed[:3] + ["..."] + listed[-4:]
        return ", ".join(listed) if listed else "(none)"

    if layer is None:
        if not spatial:
            raise ValueError(f"{who}: {model.describe()} has no layer with a spatial (H, W, C) output "
                             f"for input {tuple(input_shape)}; nothing to explain")
        return spatial[-1], shapes[spatial[-1]][2]

    if isinstance(layer, str):
        matches = [i for i, name in enumerate(names) if name == layer]
        if not matches:
            parent = _top_level_parent(model, lambda m: m.name == layer)
            where = (f" ('{layer}' is inside '{parent}': the model is cut between top-level layers)"
                     if parent else "")
            raise ValueError(f"{who}: no top-level layer named '{layer}' in {model.describe()}{where}; "
                             f"expected one with a spatial (H, W, C) output: {choices()}")
        k = matches[0]
    else:
        found = [i for i, (lay, _, _) in enumerate(shapes) if lay is layer]
        if not found:
            parent = _top_level_parent(model, lambda m: m is layer)
            where = (f" (it is inside '{parent}': the model is cut between top-level layers)"
                     if parent else "")
            raise ValueError(f"{who}: {layer.describe()} is not a top-level layer of {model.describe()}"
                             f"{where}; expected one with a spatial (H, W, C) output: {choices()}")
        k = found[0]
    out = shapes[k][2]
    if len(out) != 3:
        raise ValueError(f"{who}: layer '{names[k]}' has output shape {tuple(out)}, expected a spatial "
                         f"(H, W, C) feature map; layers with one: {choices()}")
    return k, out


def _top_level_parent(model, is_it):
    for top in model.layers:
        if any(is_it(m) for m in top.modules() if m is not top):
            return top.name
    return None


def _broadcast_target(target, n):
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
        targets = _broadcast_target(target, n)
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


@contextlib.contextmanager
def _eval_mode(model):
    """Eval mode inside the block; afterwards every module gets back its own previous mode."""
    saved = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, mode in saved:
            m.training = mode


def _logits(model, x, batch_size=256):
    with _eval_mode(model), no_grad():
        return np.concatenate([model(Tensor(x[s:s + batch_size])).data
                               for s in range(0, len(x), batch_size)])


def class_probabilities(logits, temperature=1.0):
    """(N, K) logits -> (N, classes) probabilities; one logit -> [1 - p, p], p = sigmoid(z / T)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    if z.ndim == 1:
        z = z[:, None]
    if z.shape[1] == 1:
        p = 1 / (1 + np.exp(-np.clip(z[:, 0], -500, 500)))
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


# ======================================================================== images


def _image_as_rgb(image):
    """(H, W), (H, W, 1) or (H, W, 3) image -> float (H, W, 3) in [0, 1]."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[-1] == 3)):
        raise ValueError(f"overlay: expected a grey (H, W) or RGB (H, W, 3) image, got shape {img.shape}")
    if img.dtype == np.uint8:
        img = img / 255.0
    elif img.dtype.kind in "biuf":
        img = img.astype(np.float64)
        if not np.all(np.isfinite(img)):
            raise ValueError("overlay: the image contains NaN or inf")
        lo, hi = img.min(), img.max()
        if lo < 0 or hi > 1:                       # any other range: stretch to [0, 1]
            img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    else:
        raise TypeError(f"overlay: expected a numeric image, got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """Lay a heat map over an image: uint8 RGB (H, W, 3) = (1 - alpha) image + alpha colour(map).

    ``image``: grey (H, W) (or (H, W, 1)) or RGB (H, W, 3); uint8, or float in [0, 1] (a float
    image in any other range is stretched to [0, 1]).  ``heatmap``: (h, w) at any resolution,
    values in [0, 1] (larger ones are divided by the maximum); it is rescaled to H x W
    (bilinear) and coloured with the matplotlib ``colormap`` (jet: blue = 0, red = 1).
    """
    if not 0 <= float(alpha) <= 1:
        raise ValueError(f"overlay: alpha must be in [0, 1], got {alpha}")
    rgb = _image_as_rgb(image)
    heat = np.asarray(heatmap, dtype=np.float64)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2:
        raise ValueError(f"overlay: expected a heat map of shape (h, w), got {heat.shape}")
    if not np.all(np.isfinite(heat)):
        raise ValueError("overlay: the heat map contains NaN or inf")
    if heat.shape != rgb.shape[:2]:
        heat = upsample(heat, rgb.shape[:2])
    heat = np.maximum(heat, 0)
    if heat.max() > 1:
        heat = heat / heat.max()
    colours = colormaps[colormap](heat)[..., :3]
    out = (1 - alpha) * rgb + alpha * colours
    return np.clip(np.round(out * 255), 0, 255).astype(np.uint8)


# ======================================================================== figures


def _new_figure(width, height):
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path):
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fig.savefig(path, format="png", dpi=120)
    return path


def _grey(image):
    image = np.asarray(image)
    return image[..., 0] if image.ndim == 3 and image.shape[-1] == 1 else image


def gradcam_figure_for_image(model, pixels, output_path, temperature=1.0, threshold=0.5, title=None,
                             layer=None, preprocessing="per_image"):
    """One X-ray, three panels (original, Grad-CAM heat map, overlay) and the probability.

    ``pixels``: the uint8 (H, W) X-ray as ``read_xray`` gives it, turned into network input
    with ``tinycnn.data.preprocess(pixels, preprocessing)``: pass the model's own method, the
    ``"preprocessing"`` entry of its description (``"dataset"`` for files that lack it).  The
    map explains the predicted class: PNEUMONIA when P(pneumonia) = sigmoid(logit /
    temperature) >= threshold, else NORMAL.  Returns the path of the PNG.
    """
    from .data import preprocess

    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if pixels.ndim != 2:
        raise ValueError(f"gradcam_figure_for_image: expected one grey image (H, W), "
                         f"got shape {pixels.shape}")
    if pixels.dtype != np.uint8:
        raise TypeError(f"gradcam_figure_for_image: expected uint8 pixels (0..255), got {pixels.dtype}")
    x = preprocess(pixels[None], preprocessing)
    cam = GradCAM(model, layer)
    logits = _logits(model, x)
    probabilities = class_probabilities(logits, temperature)
    predicted = predicted_classes(probabilities, threshold)
    result = cam.explain(x, predicted)
    heat = upsample(result.maps[0], pixels.shape)
    binary = logits.shape[1] == 1
    names = CLASS_NAMES if binary else [f"class {k}" for k in range(logits.shape[1])]
    name = names[predicted[0]]

    fig = _new_figure(10.5, 4.0)
    ax_img, ax_heat, ax_over = fig.subplots(1, 3)
    ax_img.imshow(pixels, cmap="gray", vmin=0, vmax=255)
    ax_img.set_title(f"X-ray ({pixels.shape[0]} x {pixels.shape[1]})")
    im = ax_heat.imshow(heat, cmap="jet", vmin=0, vmax=1)
    h, w = result.maps.shape[1:]
    ax_heat.set_title(f"Grad-CAM for {name}\n({h} x {w} map of '{result.layer}', upsampled)", fontsize=10)
    fig.colorbar(im, ax=ax_heat, shrink=0.8, label="evidence (scaled to max)")
    ax_over.imshow(overlay(pixels, result.maps[0]))
    ax_over.set_title("overlay (alpha 0.4)")
    for ax in (ax_img, ax_heat, ax_over):
        ax.set_xticks([])
        ax.set_yticks([])
    if binary:
        verdict = (f"P(pneumonia) = {probabilities[0, 1]:.3f}, threshold {threshold:.3f} "
                   f"-> {name}")
    else:
        verdict = f"predicted {name} with probability {probabilities[0, predicted[0]]:.3f}"
    fig.suptitle(f"{title + ':  ' if title else ''}{verdict}", fontsize=12)
    return _save(fig, output_path)


def plot_overlay_grid(rows, path, threshold=0.5, ncols=6, class_names=CLASS_NAMES, title=None, alpha=0.4):
    """Grid of Grad-CAM overlays, one row per group, each panel captioned with its probability.

    ``rows``: a list of dicts with ``images`` (n, H, W) uint8 X-rays, ``heatmaps`` (n, h, w),
    ``probs`` (n,) P(class 1) and optionally ``labels`` (n,) true classes and ``title`` (the
    row's name, e.g. "false positives (12)").  Each image is shown twice, plain and with its
    overlay, so the anatomy under the colour stays readable; captions are green when
    ``probs >= threshold`` matches the label, red when not.  Rows longer than ``ncols`` are cut.
    """
    ncols = max(1, int(ncols))
    # laid out by hand (inches): a pair of square panels per image, a gap between pairs
    size, gap, margin = 1.15, 0.3, 0.15
    head, row_title, caption = (0.45 if title else 0.1), 0.3, 0.32
    row_height = row_title + size + caption
    width = 2 * margin + ncols * 2 * size + (ncols - 1) * gap
    height = head + len(rows) * row_height + 0.05
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    if title:
        fig.text(0.5, 1 - 0.12 / height, title, ha="center", va="top", fontsize=11)
    for r, row in enumerate(rows):
        top = height - head - r * row_height               # inches from the bottom
        images = np.asarray(row["images"])[:ncols]
        heatmaps = np.asarray(row["heatmaps"])[:ncols]
        probs = np.asarray(row["probs"], dtype=float)[:ncols]
        labels = row.get("labels")
        labels = None if labels is None else np.asarray(labels).astype(int)[:ncols]
        if row.get("title"):
            fig.text(margin / width, (top - 0.05) / height, row["title"], ha="left", va="top",
                     fontsize=10, fontweight="bold")
        bottom = top - row_title - size
        if len(images) == 0:
            fig.text(margin / width, (bottom + size / 2) / height, "none", color="grey", va="center")
        for j in range(len(images)):
            left = margin + j * (2 * size + gap)
            grey = _grey(images[j])
            for half, picture in enumerate((None, overlay(grey, heatmaps[j], alpha=alpha))):
                ax = fig.add_axes([(left + half * size + 0.02) / width, bottom / height,
                                   (size - 0.04) / width, size / height])
                ax.axis("off")
                if picture is None:
                    ax.imshow(grey, cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(picture)
            text = f"p={probs[j]:.2f}"
            colour = "black"
            if labels is not None:
                text += f", true {class_names[labels[j]]}"
                colour = RIGHT_COLOR if int(probs[j] >= threshold) == labels[j] else WRONG_COLOR
            fig.text((left + size) / width, (bottom - 0.04) / height, text, ha="center", va="top",
                     fontsize=8, color=colour)
    return _save(fig, path)


# ======================================================================== shortcut report


#: the regions of a shortcut report, as shares of the height / width
BORDER, CORNER, CENTRAL = 0.125, 0.2, (0.2, 0.8)


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
    rows = np.arange(height)[:, None] + 0.5
    cols = np.arange(width)[None, :] + 0.5
    fr, fc = rows / height, cols / width
    border_mask = (fr < border) | (fr > 1 - border) | (fc < border) | (fc > 1 - border)
    ch, cw = int(round(corner * height)), int(round(corner * width))
    corner_mask = np.zeros((height, width), dtype=bool)
    for r in (slice(0, ch), slice(height - ch, height)):
        for c in (slice(0, cw), slice(width - cw, width)):
            corner_mask[r, c] = True
    lo, hi = central
    r0, r1 = int(round(lo * height)), int(round(hi * height))
    c0, c1 = int(round(lo * width)), int(round(hi * width))
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
    flat = np.asarray(maps, dtype=np.float64).reshape(n, H * W)
    if order == "cam":
        ranking = np.argsort(-flat, axis=1, kind="stable")
    elif order == "random":
        rng = np.random.default_rng(seed)
        h, w = random_resolution or (H, W)
        noise = upsample(rng.random((n, h, w)), (H, W)).reshape(n, H * W)
        ranking = np.argsort(-noise, axis=1, kind="stable")
    else:
        raise ValueError(f"deletion_curve: order must be 'cam' or 'random', got {order!r}")
    means = x.reshape(n, -1, x.shape[-1]).mean(axis=1)             # (N, C)
    fractions = np.linspace(0, 1, steps + 1)
    confidence = np.empty((n, steps + 1))
    rank_of = np.empty_like(ranking)
    rank_of[np.arange(n)[:, None], ranking] = np.arange(H * W)[None, :]
    for s, f in enumerate(fractions):
        k = int(round(f * H * W))
        blank = (rank_of < k).reshape(n, H, W, 1)
        blanked = np.where(blank, means[:, None, None, :], x).astype(x.dtype)
        p = class_probabilities(_logits(model, blanked, batch_size), temperature)
        confidence[:, s] = p[np.arange(n), classes]
    return fractions, confidence


def _area_under(values, xs, upto=None):
    """Trapezoid rule: sum of (x_{i+1} - x_i) (v_i + v_{i+1}) / 2, optionally only for x <= upto
    (the curve is interpolated linearly at ``upto``)."""
    values, xs = np.asarray(values, dtype=float), np.asarray(xs, dtype=float)
    if upto is not None:
        keep = xs < upto
        xs, values = np.append(xs[keep], upto), np.append(values[keep], np.interp(upto, xs, values))
    return float(np.sum(np.diff(xs) * (values[1:] + values[:-1]) / 2))


def _mean_or_none(values):
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    return float(values.mean()) if values.size else None


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
    x = np.asarray(x)
    y = np.asarray(y).astype(np.int64)
    n, H, W = x.shape[:3]
    cam = method(model, layer, batch_size=batch_size)
    logits = _logits(model, x)
    probabilities = class_probabilities(logits, temperature)
    predicted = predicted_classes(probabilities, threshold)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # counted below instead
        result = cam.explain(x, predicted)
    maps = upsample(result.maps, (H, W))
    empty = ~(result.maps.reshape(n, -1).max(axis=1) > 0)
    masks = region_masks(H, W)
    shares = cam_mass_shares(maps, masks)
    peak = np.argmax(maps.reshape(n, -1), axis=1)
    peak_in = {name: m.reshape(-1)[peak] & ~empty for name, m in masks.items()}
    uniform = {name: float(m.mean()) for name, m in masks.items()}

    correct = predicted == y
    groups = {"all": np.ones(n, bool), "correct": correct, "wrong": ~correct,
              "true_positive": correct & (y == 1), "true_negative": correct & (y == 0),
              "false_positive": ~correct & (predicted == 1), "false_negative": ~correct & (predicted == 0)}
    region_stats = {}
    for g, sel in groups.items():
        stats = {"n": int(sel.sum()), "n_all_zero_maps": int((sel & empty).sum())}
        for name in masks:
            share = _mean_or_none(shares[name][sel])
            stats[name] = {
                "mean_share": share,
                "ratio_to_uniform": None if share is None else share / uniform[name],
                "peak_inside": None if not sel.any() else float(peak_in[name][sel].mean()),
            }
        region_stats[g] = stats

    fractions, conf_cam = deletion_curve(model, x, maps, predicted, steps, temperature, "cam", seed)
    _, conf_rand = deletion_curve(model, x, maps, predicted, steps, temperature, "random", seed,
                                  random_resolution=result.maps.shape[1:])
    binary = logits.shape[1] == 1
    names = CLASS_NAMES if binary else [f"class {k}" for k in range(logits.shape[1])]
    subsets = {"all": np.ones(n, bool)}
    if binary:
        subsets.update({f"predicted {names[c]}": predicted == c for c in (1, 0)})
    curves = {}
    for name, sel in subsets.items():
        if not sel.any():
            continue
        cam_curve, rand_curve = conf_cam[sel].mean(axis=0), conf_rand[sel].mean(axis=0)
        curves[name] = {
            "n": int(sel.sum()),
            "mean_confidence_cam_order": cam_curve, "mean_confidence_random_order": rand_curve,
            "auc_cam_order": _area_under(cam_curve, fractions),
            "auc_random_order": _area_under(rand_curve, fractions),
            "early_auc_cam_order": _area_under(cam_curve, fractions, early_fraction) / early_fraction,
            "early_auc_random_order": _area_under(rand_curve, fractions, early_fraction) / early_fraction,
        }
    deletion = {
        "fractions": fractions, "curves": curves, "early_fraction": early_fraction,
        "auc": "area under the mean-confidence curve, blanked fraction 0..1 (lower = the ranking "
               "found what the model uses)",
        "early_auc": f"the same over the first {100 * early_fraction:.0f} % of pixels, divided by "
                     f"{early_fraction} (the mean confidence there)",
        "blank_value": "each image's own mean", "explained_class": "the predicted class",
        "random_order": f"ranking by uniform noise at {result.maps.shape[1]} x {result.maps.shape[2]}, "
                        f"upsampled like the CAM (blobs of the same size)",
    }
    report = {
        "method": cam.method, "layer": result.layer, "map_resolution": list(result.maps.shape[1:]),
        "n_images": int(n), "threshold": float(threshold), "temperature": float(temperature),
        "accuracy": float(correct.mean()), "n_all_zero_maps": int(empty.sum()),
        "regions": {"central": "rows and columns 20 %..80 % (middle box)",
                    "border": "outer frame 12.5 % thick on every side",
                    "corners": "four 20 % x 20 % corner squares",
                    "uniform_share": uniform},
        "region_shares": region_stats,
        "deletion": deletion,
    }
    os.makedirs(out_dir, exist_ok=True)
    atomic_write_json(os.path.join(out_dir, "shortcut_report.json"), report)
    _plot_region_report(report, maps, correct, x[..., 0], os.path.join(out_dir, "shortcut_report.png"))
    _plot_deletion(report, os.path.join(out_dir, "deletion_curve.png"))
    if print_fn:
        print_fn(summarise_shortcut_report(report))
    return report


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
        parts = []
        for name in ("central", "border", "corners"):
            r = s[name]
            if r["mean_share"] is not None:
                parts.append(f"{name} {100 * r['mean_share']:.1f} % (uniform {100 * uniform[name]:.1f} %)")
        lines.append(f"CAM mass, {g} ({s['n']}): " + ", ".join(parts)
                     + f"; peak in border for {100 * s['border']['peak_inside']:.1f} %")
    d = report["deletion"]
    for name, c in d["curves"].items():
        lines.append(f"deletion, {name} ({c['n']}): area CAM order {c['auc_cam_order']:.3f} vs random "
                     f"{c['auc_random_order']:.3f}; first {100 * d['early_fraction']:.0f} %: "
                     f"{c['early_auc_cam_order']:.3f} vs {c['early_auc_random_order']:.3f}")
    return "\n".join(lines)


def _outline(ax, H, W):
    """Draw the three regions of ``region_masks`` on an image axis."""
    top, bottom = int(round(CENTRAL[0] * H)), int(round(CENTRAL[1] * H))
    left, right = int(round(CENTRAL[0] * W)), int(round(CENTRAL[1] * W))
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left, bottom - top, fill=False, ec="white", lw=1.5))
    bh, bw = BORDER * H, BORDER * W
    ax.add_patch(Rectangle((bw - 0.5, bh - 0.5), W - 2 * bw, H - 2 * bh, fill=False, ec="white", lw=1.2, ls="--"))
    ch, cw = int(round(CORNER * H)), int(round(CORNER * W))
    for r in (0, H - ch):
        for q in (0, W - cw):
            ax.add_patch(Rectangle((q - 0.5 + 0.6, r - 0.5 + 0.6), cw - 1.2, ch - 1.2, fill=False, ec="magenta",
                                   lw=1.5, ls=":"))


def _plot_region_report(report, maps, correct, images, path):
    H, W = maps.shape[1:]
    fig = _new_figure(13, 4.3)
    ax_c, ax_w, ax_bar = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1, 1, 1.45]})
    means = [maps[sel].mean(axis=0) for sel in (correct, ~correct) if sel.any()]
    top = max(float(m.max()) for m in means) if means else 1.0
    for ax, sel, name in ((ax_c, correct, "correct"), (ax_w, ~correct, "wrong")):
        if sel.any():
            ax.imshow(images[sel].mean(axis=0), cmap="gray")
            im = ax.imshow(maps[sel].mean(axis=0), cmap="jet", vmin=0, vmax=top or 1.0, alpha=0.5)
            fig.colorbar(im, ax=ax, shrink=0.75, label="mean map value")
        _outline(ax, H, W)
        ax.set_title(f"{name} predictions (n={int(sel.sum())}):\nmean map over mean X-ray", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    regions = ["central", "border", "corners"]
    uniform = report["regions"]["uniform_share"]
    bars = [("correct", RIGHT_COLOR), ("wrong", WRONG_COLOR)]
    width = 0.27
    xs = np.arange(len(regions))
    for j, (g, colour) in enumerate(bars):
        values = [report["region_shares"][g][r]["mean_share"] or 0 for r in regions]
        ax_bar.bar(xs + (j - 1) * width, 100 * np.asarray(values), width, color=colour,
                   label=f"{g} (n={report['region_shares'][g]['n']})")
    ax_bar.bar(xs + width, [100 * uniform[r] for r in regions], width, color="lightgrey",
               edgecolor="grey", label="uniform map (= area)")
    for j, r in enumerate(regions):
        for k, (g, _) in enumerate(bars):
            v = report["region_shares"][g][r]["mean_share"]
            if v is not None:
                ax_bar.text(j + (k - 1) * width, 100 * v + 0.8, f"{100 * v:.0f}", ha="center", fontsize=8)
        ax_bar.text(j + width, 100 * uniform[r] + 0.8, f"{100 * uniform[r]:.0f}", ha="center", fontsize=8)
    ax_bar.set_xticks(xs, ["central box\n(solid white)", "border frame\n(dashed white)",
                           "corner squares\n(dotted magenta)"])
    ax_bar.set_ylabel("share of CAM mass (%)")
    ax_bar.set_title("Where the CAM mass sits, vs a uniform map", fontsize=10)
    ax_bar.set_ylim(0, 100)
    ax_bar.legend(fontsize=8, loc="upper right")
    ax_bar.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Shortcut check: {report['method']} of the predicted class on {report['n_images']} "
                 f"test images "
                 f"(accuracy {report['accuracy']:.3f} at threshold {report['threshold']:.2f})", fontsize=11)
    return _save(fig, path)


def _plot_deletion(report, path):
    d = report["deletion"]
    f = 100 * np.asarray(d["fractions"])
    panels = [(k, c) for k, c in d["curves"].items() if k != "all"] or list(d["curves"].items())
    fig = _new_figure(5.2 * len(panels) + 0.4, 4.6)
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    for ax, (name, c) in zip(axes, panels):
        ax.axvspan(0, 100 * d["early_fraction"], color="0.93", zorder=0)
        ax.plot(f, c["mean_confidence_cam_order"], marker="o", ms=3, color="tab:red",
                label=f"highest Grad-CAM first: area {c['auc_cam_order']:.3f}, "
                      f"first {100 * d['early_fraction']:.0f} % {c['early_auc_cam_order']:.3f}")
        ax.plot(f, c["mean_confidence_random_order"], marker="o", ms=3, color="tab:blue",
                label=f"random blobs first: area {c['auc_random_order']:.3f}, "
                      f"first {100 * d['early_fraction']:.0f} % {c['early_auc_random_order']:.3f}")
        ax.set(xlabel="pixels blanked to the image mean (%)", xlim=(0, 100), ylim=(0, 1.02),
               title=f"{name} (n={c['n']})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower left")
    axes[0].set_ylabel("mean probability of the predicted class")
    fig.suptitle("Deletion test: the faster the red curve falls below the blue one, the better the map "
                 "points at what the model uses", fontsize=10)
    return _save(fig, path)
