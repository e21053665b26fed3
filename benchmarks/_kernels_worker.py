"""The worker processes of bench_kernels.py.  Nothing heavy is imported at the top: each
worker imports its own framework.

Tasks (JSON, written by the parent):
    shapes    tinycnn: build the networks, list every distinct conv / depthwise / pointwise
              layer shape at the training batch (``_export.conv_shapes``)
    time      tinycnn or torch (nchw / channels_last): time each shape's forward and
              forward + backward (gradients of input, weights and bias)
    startup   tinycnn: seconds to import the layers and run the first conv (cold or warm
              Numba cache, chosen by the NUMBA_CACHE_DIR the parent gives)

Both frameworks get the same arrays: ``shape_arrays`` draws them from a seed with NumPy.
"""

import sys
import time

import _harness as H

SAMPLE = 64        # values of each output / gradient sent back for the correctness check


def run(task):
    load_start = H.load_average()
    if task["mode"] == "shapes":
        result = list_shapes(task)
    elif task["mode"] == "startup":
        result = startup()
    elif task["framework"] == "tinycnn":
        import tinycnn.nn  # noqa: F401  (first, as a user's script would)
        result = time_all(task, tinycnn_functions, facts=tinycnn_facts)
    else:
        import torch
        torch.set_num_threads(H.THREADS)
        result = time_all(task, torch_functions, facts=torch_facts)
    result.update(load_start=load_start, load_end=H.load_average())
    H.write_json(task["out"], result)


def list_shapes(task):
    import _export as E
    from tinycnn.models import build
    entries = []
    for net, (registry, kwargs, shape, batch) in task["networks"].items():
        model = build(registry, input_shape=shape, seed=0, **kwargs)
        entries += E.conv_shapes(model, task.get("batch") or batch, net)
    return {"shapes": E.distinct_shapes(entries)}


def shape_arrays(entry, seed=0):
    """x (N, H, W, C_in), the kernel in tinycnn's layout, the bias (or None), the output
    gradient g: standard normal, the kernel scaled by 1/sqrt(fan-in)."""
    import numpy as np
    rng = np.random.default_rng(seed)
    KH, KW = entry["kernel"]
    x = rng.standard_normal((entry["N"], entry["H"], entry["W"], entry["C_in"]), dtype=np.float32)
    if entry["kind"] == "depthwise":
        w_shape, fan_in = (KH, KW, entry["C_in"], entry["depth_multiplier"]), KH * KW
    else:
        w_shape, fan_in = (KH, KW, entry["C_in"], entry["C_out"]), KH * KW * entry["C_in"]
    w = (rng.standard_normal(w_shape) / np.sqrt(fan_in)).astype(np.float32)
    b = (0.1 * rng.standard_normal(entry["C_out"])).astype(np.float32) if entry["bias"] else None
    g = rng.standard_normal((entry["N"], *entry["out"]), dtype=np.float32)
    return x, w, b, g


def sample(array):
    """Evenly spaced values of the array (NHWC / tinycnn layout) and its largest magnitude."""
    import numpy as np
    flat = np.asarray(array).ravel()
    idx = np.linspace(0, flat.size - 1, min(SAMPLE, flat.size)).astype(np.int64)
    return {"values": flat[idx].tolist(), "scale": float(np.abs(flat).max())}


# ---------------------------------------------------------------------- the loop


def time_all(task, make_functions, facts):
    """Time every shape (forward, then forward + backward); samples of the results when
    the task asks (the first round), for the parent's correctness check."""
    shapes, out = task["shapes"], []
    show = sys.stderr.isatty()
    for k, entry in enumerate(shapes):
        if show:
            print(f"\r  {task['worker']}: shape {k + 1}/{len(shapes)}", end="", file=sys.stderr, flush=True)
        forward, forward_backward, samples = make_functions(entry, task.get("layout"))
        row = {"fwd": H.time_steps(forward, task["warmup"], task["repeats"]),
               "fwd+bwd": H.time_steps(forward_backward, task["warmup"], task["repeats"])}
        if task.get("samples"):
            row["samples"] = samples()
        out.append(row)
    if show:
        print(file=sys.stderr)
    return {"rows": out, "facts": facts()}


def tinycnn_layer(entry, w, b):
    from tinycnn import nn
    pads = tuple(tuple(p) for p in entry["pads"])
    common = dict(strides=tuple(entry["stride"]), padding=pads, use_bias=b is not None,
                  activation=entry["activation"])
    if entry["kind"] == "depthwise":
        layer = nn.DepthwiseConv2D(entry["C_in"], tuple(entry["kernel"]),
                                   depth_multiplier=entry["depth_multiplier"], **common)
    else:
        layer = nn.Conv2D(entry["C_in"], entry["C_out"], tuple(entry["kernel"]), **common)
    layer.kernel.data[...] = w
    if b is not None:
        layer.bias.data[...] = b
    return layer


def tinycnn_functions(entry, layout=None):
    """The layer as the network runs it (a 1x1 stride-1 Conv2D runs as pointwise)."""
    import tinycnn as tc
    x, w, b, g = shape_arrays(entry)
    layer = tinycnn_layer(entry, w, b)
    x_plain, x_grad = tc.Tensor(x), tc.Tensor(x, requires_grad=True)
    inputs = [x_grad, layer.kernel] + ([layer.bias] if b is not None else [])

    def forward():
        with tc.no_grad():
            return layer(x_plain)

    def forward_backward():
        return tc.grad(layer(x_grad), inputs, g)

    def samples():
        dx, dw = forward_backward()[:2]
        return {"y": sample(forward().data), "dx": sample(dx), "dw": sample(dw)}

    return forward, forward_backward, samples


def torch_functions(entry, layout):
    import torch

    import _torch_port as P
    x, w, b, g = shape_arrays(entry)
    depthwise = entry["kind"] == "depthwise"
    module = P.to_layout(P.conv2d(w, b, entry["stride"], entry["pads"], entry["activation"], depthwise), layout)
    conv = next(m for m in module.modules() if isinstance(m, torch.nn.Conv2d))
    x_plain, x_grad = P.input_tensor(x, layout), P.input_tensor(x, layout, requires_grad=True)
    g_t = P.input_tensor(g, layout)
    inputs = [x_grad, conv.weight] + ([conv.bias] if b is not None else [])

    def forward():
        with torch.inference_mode():
            return module(x_plain)

    def forward_backward():
        return torch.autograd.grad(module(x_grad), inputs, g_t)

    def samples():
        dx, dw = forward_backward()[:2]
        return {"y": sample(P.as_nhwc(forward())), "dx": sample(P.as_nhwc(dx)),
                "dw": sample(P.weight_grad_as_tinycnn(dw, w.shape, depthwise).numpy())}

    return forward, forward_backward, samples


# ---------------------------------------------------------------------- facts


def sgemm_peak(n=2048, repeats=5):
    """GFLOP/s of NumPy's float32 GEMM on n x n matrices (best of repeats)."""
    import numpy as np
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    a @ b
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def tinycnn_facts():
    import _models_worker
    return dict(_models_worker.tinycnn_facts(), sgemm_gflops=sgemm_peak())


def torch_facts():
    import _models_worker
    return _models_worker.torch_facts()


def startup():
    """Seconds: import tinycnn's layers, then the first 3x3 conv forward, then its backward."""
    t0 = time.perf_counter()
    import numpy as np

    import tinycnn as tc
    from tinycnn import nn
    t1 = time.perf_counter()
    layer = nn.Conv2D(3, 8, 3, padding="same")
    x = tc.Tensor(np.ones((2, 16, 16, 3), np.float32), requires_grad=True)
    y = layer(x)
    t2 = time.perf_counter()
    tc.grad(y, [x, layer.kernel, layer.bias], np.ones_like(y.data))
    t3 = time.perf_counter()
    return {"import": t1 - t0, "first_forward": t2 - t1, "first_backward": t3 - t2}
