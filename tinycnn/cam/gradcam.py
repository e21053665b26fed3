"""Grad-CAM: which part of the image made the network say what it said.

The lecture's four steps, for A the feature map of the layer before GAP (H x W x C: 8 x 8 x 128
in ``pneumonia_net``, 7 x 7 x 1024 in MobileNet) and S the score of the target class:

    (1) A        = activations of the layer before GAP                  H x W x C
    (2) G        = dS / dA, gradient of the target score S w.r.t. A     H x W x C
    (3) alpha_k  = (1 / HW) sum_ij G_ij^k    (GAP of the gradients)      1 x C
    (4) map      = ReLU( sum_k alpha_k A^k ), scaled to [0, 1]           H x W

``grad_cam`` below is exactly these four lines, one small function per step; the classes
``GradCAM``, ``GradCAMPlusPlus`` and ``HiResCAM`` (further down, with the why and how) run the
same steps in batches and differ only in steps 3-4.  Upsampling and overlays: ``overlay.py``.
"""

import warnings
from collections import namedtuple

import numpy as np

from ..nn import Module
from ..tensor import Tensor, grad
from .overlay import upsample
from .targets import broadcast_target, find_layer, target_coefficients


def grad_cam(model, x, layer=None, target=None):
    """Grad-CAM maps (N, H, W) in [0, 1] of images ``x`` (N, H_in, W_in, C_in) at ``layer``
    (a top-level layer, its name or its index; default: the last one with an H x W x C output).

    ``target``: the class each map explains (see ``GradCAM``; default: the predicted one).
    The shapes on the right are per image; an ensemble of K networks has K C channels.
    """
    x, index = _images_and_layer(model, x, layer, "grad_cam")
    with model.evaluating():
        A, logits = layer_activations(model, x, index)         # (1) A                         H x W x C
        G, _ = score_gradients(logits, A, target)              # (2) G = dS/dA                 H x W x C
        alpha = channel_weights(G)                             # (3) alpha = GAP(G)            1 x C
        return grad_cam_map(A, alpha)                          # (4) ReLU(sum alpha A) / max   H x W


def _images_and_layer(model, x, layer, who):
    """The checked images and the index of the top-level layer to explain."""
    network = _networks_of(model, who)[0]
    x = _check_images(x, model.input_shape, who)
    if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
        layer = network.layers[int(layer)]
    return x, find_layer(network, layer, x.shape[1:], who=who)[0]


# ======================================================================== the four steps


def layer_activations(model, x, layer_index):
    """Step 1: A = the output of top-level layer ``layer_index``: (A, logits).

    A is a list with one leaf Tensor (N, H, W, C) per network ([A] for one network, [A_1, ...,
    A_K] for an ensemble), made under ``no_grad()`` (nothing before A needs a gradient); the
    logits (N, classes) are computed from them with the graph recorded (``model.split_forward``).
    """
    activations, logits = model.split_forward(x, layer_index)
    if logits.ndim != 2:
        raise ValueError(f"GradCAM: expected the model to output logits (N, classes), "
                         f"got shape {tuple(logits.shape)}")
    return activations, logits


def score_gradients(logits, activations, target=None):
    """Step 2: G = dS / dA, (N, H, W, C) per network, side by side (``side_by_side``): (G, targets).

    Picks each image's target score S_n (``target_coefficients``: S_n = sum_j M_nj logit_nj,
    M one-hot, or +-1 for a single logit) and asks ``tc.grad`` for d(sum_n S_n)/dA.  In eval
    mode images do not interact, so slice n of it is dS_n / dA_n.
    """
    targets, M = target_coefficients(logits.data, target)
    gradients = grad(logits, activations, grad_output=M.astype(logits.dtype))
    return side_by_side(gradients), targets


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


def grad_cam_map(activations, alpha):
    """Step 4: ReLU( sum_k alpha_k A^k ) / max, per image (N, H, W) in [0, 1]; ``activations``:
    step 1's list (the networks' A side by side), ``alpha`` (N, K C)."""
    return scale_to_unit(weighted_channel_sum(side_by_side(activations), alpha))


def scale_to_unit(maps):
    """Step 4, last part: map / max(map) per image, so every map spans [0, 1] (0 keeps meaning
    "no evidence"): (N, H, W) -> (N, H, W).

    A map that is zero everywhere (every weighted sum was <= 0, or not finite) stays zero and
    a warning says so: there is nothing to divide by, and NaN is never returned.
    """
    maps = np.asarray(maps)
    peak = maps.reshape(len(maps), -1).max(axis=1)
    empty = all_zero_maps(maps)
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


def all_zero_maps(maps):
    """(N,) bool: maps (N, H, W) with no positive value, or with a value that is not finite."""
    flat = np.asarray(maps).reshape(len(maps), -1)
    peak = flat.max(axis=1) if flat.size else np.zeros(len(flat))
    return ~(peak > 0) | ~np.all(np.isfinite(flat), axis=1)


def side_by_side(arrays):
    """The networks' (N, H, W, C) arrays (or Tensors) concatenated along channels: (N, H, W, KC).

    This turns step 4's sum over an ensemble's members and channels into one sum over channels.
    """
    return np.concatenate([a.data if isinstance(a, Tensor) else a for a in arrays], axis=-1)


# ======================================================================== the variants of steps 3-4


def channel_weights_plus_plus(A, G):
    """Grad-CAM++'s step 3: alpha_k = sum_ij a_ij^k ReLU(G_ij^k), (N, H, W, C) -> (N, C), with

        a_ij^k = (G_ij^k)^2 / ( 2 (G_ij^k)^2 + sum_ab A_ab^k (G_ij^k)^3 )     (0 where 0/0)
    """
    g2, g3 = G * G, G * G * G
    denominator = 2 * g2 + A.sum(axis=(1, 2), keepdims=True) * g3
    safe = np.where(denominator != 0, denominator, 1)
    a = np.where(denominator != 0, g2 / safe, 0)
    return (a * np.maximum(G, 0)).sum(axis=(1, 2))


def elementwise_evidence(A, G):
    """HiResCAM's steps 3-4: map_ij = ReLU( sum_k A_ij^k G_ij^k ), (N, H, W, C) -> (N, H, W)."""
    return np.maximum((A * G).sum(axis=-1), 0)


#: what GradCAM.explain returns: maps (N, h, w) in [0, 1], the model's logits (N, K), the
#: class each map explains (N,) and the layer used
Explanation = namedtuple("Explanation", "maps logits targets layer")


class GradCAM:
    """Grad-CAM for a ``Sequential`` model (every model in ``tinycnn.models`` is one), or an
    ``Ensemble`` of them (the layer is then the same layer in every member).

        cam = GradCAM(model)                       # layer: the last one with an (H, W, C) output
        maps = cam(x)                              # (N, h, w) in [0, 1], the layer's resolution
        big = cam.upsample(maps, x.shape[1:3])     # (N, H, W), the input's resolution
        rgb = overlay(image, big[0])               # uint8 (H, W, 3)

    ``layer``: a top-level layer of the model or its name.  ``x``: normalised float images
    (N, H, W, C), run ``batch_size`` at a time.  ``target``: see below (default: the predicted
    class).  Subclasses change ``raw_map`` (steps 3-4) only.

    Why (3) is the right weight: when the head is GAP -> Dense, the score of class c is
    S = sum_k w_k^c (1/HW) sum_ij A_ij^k + b_c, so G_ij^k = w_k^c / HW at every position, step 3
    gives alpha_k = w_k^c / HW, and the map is ReLU(sum_k w_k^c A^k) up to scale: the original
    CAM of Zhou et al.  Grad-CAM (Selvaraju et al. 2017) takes the same recipe to any head.

    How the gradient is obtained (no hooks): the container cuts itself in two after the chosen
    top-level layer (``model.split_forward``): the layers up to it run under ``no_grad()``, their
    output becomes a fresh leaf ``Tensor(A, requires_grad=True)``, the rest runs from it with the
    graph recorded, and ``tc.grad(score, [A])`` hands back dS/dA without touching any parameter's
    ``.grad``.  The model is in eval mode for the call (batch norm uses its moving statistics,
    dropout is off, so images of a batch do not interact) and every module's previous mode is
    restored afterwards (``model.evaluating()``).

    Which score S (``target``):

    * several outputs (multi-class): S = the pre-softmax logit of class ``target``; default: the
      arg-max class;
    * one output (binary, e.g. NORMAL = 0 vs PNEUMONIA = 1): the logit z is evidence for class 1,
      so target=1 uses S = +z and target=0 uses S = -z (evidence for class 0).  Default: 1 when
      z > 0 (probability > 0.5), else 0.  Pass ``target`` explicitly to explain a decision made
      at another threshold.

    ``target`` is one class index for all images or one per image (``targets.py``, which also
    finds the layer).

    An ``Ensemble`` (z = (1/K) sum_m z_m, members of one architecture) is explained as one network
    whose feature map is the members' maps side by side: A = [A_1, ..., A_K] (H x W x KC) and
    G = dS/dA = [G_1 / K, ..., G_K / K], with G_m = dS_m/dA_m.  Steps 3-4 are unchanged and give
    ReLU( sum_m sum_k alpha_mk A_m^k ): the Grad-CAM of the ensemble's own score.

    A map is a heat map of *where the evidence for S sits at the layer's resolution*; it says
    nothing about *why*.  ``tinycnn.cam.audit.shortcut_report`` asks one useful question of it on
    a whole test set: does the model look at the lungs, or at the burned-in markers and borders?
    """

    method = "Grad-CAM"

    def __init__(self, model, layer=None, batch_size=64):
        networks = _networks_of(model, type(self).__name__)
        if layer is not None and not isinstance(layer, (str, Module)):
            raise TypeError(f"{type(self).__name__}: layer must be a layer of the model or its name, "
                            f"got {type(layer).__name__}")
        self.model = model
        self.network = networks[0]          # where the layer is looked up: members share one architecture
        self.batch_size = int(batch_size)
        self._requested = layer
        self.index = None
        if model.input_shape is not None:
            self._resolve(model.input_shape)

    @property
    def layer(self):
        """The layer whose activations A are explained (None until known)."""
        return None if self.index is None else self.network.layers[self.index]

    def _resolve(self, input_shape):
        self.index, self.feature_shape = find_layer(self.network, self._requested, input_shape,
                                                    who=type(self).__name__)

    def __call__(self, x, target=None):
        return self.explain(x, target).maps

    def explain(self, x, target=None):
        """Maps, logits, the explained class per image and the layer: an ``Explanation``."""
        x = self._prepare(x)
        targets = broadcast_target(target, len(x))
        batches = []
        for start in range(0, len(x), self.batch_size):
            part = slice(start, start + self.batch_size)
            A, G, logits, chosen = self._steps_1_and_2(x[part], None if targets is None else targets[part])
            batches.append((self.raw_map(A, G), logits, chosen))
        maps, logits, chosen = (np.concatenate(column) for column in zip(*batches))
        return Explanation(scale_to_unit(maps), logits, chosen, self.layer.name)

    def activations_and_gradients(self, x, target=None):
        """Steps 1 and 2 for one batch: (A, G = dS/dA, logits, targets); A and G (N, h, w, C)
        arrays (an ensemble's members side by side: (N, h, w, K C))."""
        return self._steps_1_and_2(self._prepare(x), target)

    def _steps_1_and_2(self, x, target):
        with self.model.evaluating():
            activations, logits = layer_activations(self.model, x, self.index)
            G, targets = score_gradients(logits, activations, target)
        return side_by_side(activations), G, logits.data, targets

    def raw_map(self, A, G):
        """Steps 3 and 4 before scaling: ReLU(sum_k alpha_k A^k), (N, h, w)."""
        return weighted_channel_sum(A, channel_weights(G))

    def upsample(self, maps, size):
        """Maps (N, h, w) rescaled to ``size`` (H or (H, W)), bilinear; see ``upsample``."""
        return upsample(maps, size)

    def _prepare(self, x):
        """The images as a checked float array; the layer resolved from their shape if needed."""
        x = _check_images(x, self.model.input_shape, type(self).__name__)
        if self.index is None:
            self._resolve(x.shape[1:])
        return x


class GradCAMPlusPlus(GradCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018): step 3 weights each position before summing.

    With S = exp(logit) the derivatives of S are exp(logit) times the first, second and third
    powers of G (the network is piecewise linear), and the weights have a closed form
    (``channel_weights_plus_plus``).  Only positions whose gradient is positive count, so a few
    strong instances are not drowned by averaging.  Step 4 is Grad-CAM's.
    """

    method = "Grad-CAM++"

    def raw_map(self, A, G):
        return weighted_channel_sum(A, channel_weights_plus_plus(A, G))


class HiResCAM(GradCAM):
    """HiResCAM (Draelos & Carin 2020): steps 3-4 without the average,
    map_ij = ReLU( sum_k A_ij^k G_ij^k ).

    Each position keeps its own gradient, so the map shows exactly which positions raise the
    score (for a GAP -> Dense head G is the same everywhere and this equals Grad-CAM).
    """

    method = "HiResCAM"

    def raw_map(self, A, G):
        return elementwise_evidence(A, G)


def _networks_of(model, who):
    """The model's networks (``model.members``: [model] for a Sequential), or a TypeError when it
    is not a container that can cut itself in two (``split_forward``)."""
    networks = list(getattr(model, "members", None) or [])
    if (not callable(getattr(model, "split_forward", None)) or not networks
            or not all(hasattr(network, "layers") for network in networks)):
        raise TypeError(f"{who}: expected an nn.Sequential model (it is cut in two after the layer) "
                        f"or an Ensemble of them, got {type(model).__name__}")
    return networks


def _check_images(x, input_shape, who):
    """x as a float (N, H, W, C) array, with an error that names what was expected."""
    data = x.data if isinstance(x, Tensor) else np.asarray(x)
    expected = "(N, H, W, C)"
    if input_shape is not None:
        expected += " = (N, " + ", ".join(str(s) for s in input_shape) + ")"
    if data.ndim != 4:
        hint = "; for one image use x[None]" if data.ndim == 3 else ""
        raise ValueError(f"{who}: expected a batch of images {expected}, got an array "
                         f"of shape {tuple(data.shape)}{hint}")
    if data.dtype.kind != "f":
        raise TypeError(f"{who}: expected normalised float images, got dtype {data.dtype} (for uint8 "
                        f"X-rays use tinycnn.data.preprocess(x, method) first, with the method the model "
                        f"was trained with)")
    if input_shape is not None and data.shape[-1] != input_shape[-1]:
        raise ValueError(f"{who}: expected images with {input_shape[-1]} channel(s) {expected}, "
                         f"got shape {tuple(data.shape)}")
    if len(data) == 0:
        raise ValueError(f"{who}: expected at least one image, got an empty batch")
    return data
