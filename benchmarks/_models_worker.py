"""The worker processes of bench_models.py.  Nothing heavy is imported at the top: each
worker imports its framework(s) itself, in the order its task names.

Tasks (JSON, written by the parent):
    export        build each model (seed 0), set its batch-norm statistics from one batch,
                  write its state, inputs, reference outputs (.npz) and spec (.json)
    time          tinycnn or torch (nchw / channels_last): time inference and training steps
    import-order  tinycnn after ``import numba; numba.set_num_threads(2)`` or ``import torch``
                  (or first, as usual): time the training step, report the threading layer
"""

import json
import os
import sys

import _harness as H

TOLERANCE = 1e-3


def run(task):
    load_start = H.load_average()
    if task["mode"] == "export":
        result = export(task)
    elif task["mode"] == "import-order":
        import_frameworks(task["order"])
        result = time_tinycnn(task)
    elif task["framework"] == "tinycnn":
        import_frameworks("tinycnn-first")
        result = time_tinycnn(task)
    else:
        result = time_torch(task)
    result.update(load_start=load_start, load_end=H.load_average())
    H.write_json(task["out"], result)


def import_frameworks(order):
    """Import tinycnn's layers (which load the kernels and choose the threading layer) after
    whatever the order puts first."""
    if order == "numba-first":
        import numba
        numba.set_num_threads(H.THREADS)
    elif order == "torch-first":
        import torch
        torch.set_num_threads(H.THREADS)
    elif order != "tinycnn-first":
        raise ValueError(f"unknown import order {order!r}")
    import tinycnn.nn  # noqa: F401


def data_path(task, model, suffix):
    return os.path.join(task["data"], f"{model}.{suffix}")


def inputs(shape, batch):
    """The batch every worker uses: standard-normal images, random 0/1 labels."""
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *shape), dtype=np.float32)
    y = rng.integers(0, 2, size=(batch, 1)).astype(np.float32)
    return x, y


# ---------------------------------------------------------------------- export (tinycnn)


def export(task):
    import numpy as np

    import _export as E
    import tinycnn as tc
    from tinycnn.models import build
    params = {}
    for name in task["models"]:
        registry, kwargs, shape, batch = task["cases"][name]
        model = build(registry, input_shape=shape, seed=0, **kwargs)
        x, y = inputs(shape, batch)
        E.calibrate_batch_norm(model, x)
        arrays = {f"state:{k}": v for k, v in model.state_dict().items()}
        model.eval()
        with tc.no_grad():
            arrays["ref_eval"] = model(tc.Tensor(x)).data
            arrays["ref_eval1"] = model(tc.Tensor(x[:1])).data
        model.train()
        E.set_random_layers(model, False)
        with tc.no_grad():
            arrays["ref_train"] = model(tc.Tensor(x)).data
        np.savez(data_path(task, name, "npz"), x=x, y=y, **arrays)
        with open(data_path(task, name, "json"), "w", encoding="utf-8") as f:
            json.dump(E.model_spec(model), f)
        params[name] = model.count_params()
    return {"params": params}


def state_of(data):
    return {k.split(":", 1)[1]: data[k] for k in data.files if k.startswith("state:")}


# ---------------------------------------------------------------------- tinycnn


def time_tinycnn(task):
    import numpy as np

    import tinycnn as tc
    import tinycnn.functional as F
    from tinycnn.models import build
    results = {}
    for name in task["models"]:
        registry, kwargs, shape, batch = task["cases"][name]
        data = np.load(data_path(task, name, "npz"))
        model = build(registry, input_shape=shape, seed=0, **kwargs)
        model.load_state_dict(state_of(data))
        x, x1, y = tc.Tensor(data["x"]), tc.Tensor(data["x"][:1]), data["y"]

        def infer():
            with tc.no_grad():
                model(x1)

        def train():
            loss = F.binary_cross_entropy_with_logits(model(x), y)
            model.zero_grad()
            loss.backward()

        results[name] = timed_tasks(task, model, infer, train)
    return {"results": results, "facts": tinycnn_facts(), "probe": H.allocator_probe()}


def timed_tasks(task, model, infer, train):
    """{"infer": ..., "train": ...} from H.time_steps (inference skipped for train_only)."""
    out = {}
    if not task.get("train_only"):
        model.eval()
        out["infer"] = H.time_steps(infer, task["infer_warmup"], task["infer_steps"])
    model.train()
    out["train"] = H.time_steps(train, task["warmup"], task["steps"])
    return out


def tinycnn_facts():
    import numba

    import tinycnn.kernels as kernels
    from tinycnn.kernels import _threads, blas
    try:
        layer = numba.threading_layer()
    except ValueError:                      # no parallel kernel has run
        layer = None
    return {"framework": "tinycnn", "numba": numba.__version__, "numba_threads": numba.get_num_threads(),
            "chosen_layer": getattr(_threads, "CHOSEN_LAYER", None), "threading_layer": layer,
            "blas_threads_now": blas.blas_threads(),
            "kernels": kernels.KERNEL_BACKEND, "torch_loaded": "torch" in sys.modules,
            **H.runtime_facts()}


# ---------------------------------------------------------------------- torch


def time_torch(task):
    import torch
    torch.set_num_threads(H.THREADS)
    import numpy as np
    import torch.nn.functional as TF

    import _torch_port as P
    layout, results, errors = task["layout"], {}, {}
    for name in task["models"]:
        data = np.load(data_path(task, name, "npz"))
        with open(data_path(task, name, "json"), encoding="utf-8") as f:
            spec = json.load(f)
        model = P.to_layout(P.build_model(spec, state_of(data)), layout)
        x, x1 = P.input_tensor(data["x"], layout), P.input_tensor(data["x"][:1], layout)
        y = torch.from_numpy(data["y"])
        errors[name] = check_outputs(model, x, x1, data, P)
        if errors[name] > TOLERANCE:
            raise SystemExit(f"bench_models: {name}: torch ({layout}) and tinycnn outputs differ: "
                             f"max relative error {errors[name]:.1e} > {TOLERANCE}")

        def infer():
            with torch.inference_mode():
                model(x1)

        def train():
            loss = TF.binary_cross_entropy_with_logits(model(x), y)
            model.zero_grad(set_to_none=True)
            loss.backward()

        results[name] = timed_tasks(task, model, infer, train)
    return {"results": results, "max_rel_error": errors, "facts": torch_facts(),
            "probe": H.allocator_probe()}


def relative_error(ours, reference):
    import numpy as np
    return float(np.abs(ours - reference).max() / max(float(np.abs(reference).max()), 1e-30))


def check_outputs(model, x, x1, data, P):
    """Largest relative difference to tinycnn's outputs: eval mode on the batch and on one
    image, training mode (batch statistics) with dropout and drop-connect off."""
    import torch
    model.eval()
    with torch.no_grad():
        errors = [relative_error(model(x).numpy(), data["ref_eval"]),
                  relative_error(model(x1).numpy(), data["ref_eval1"])]
        model.train()
        P.set_random_layers(model, False)
        errors.append(relative_error(model(x).numpy(), data["ref_train"]))
        P.set_random_layers(model, True)
    return max(errors)


def torch_facts():
    import torch
    parallel = [line.strip() for line in torch.__config__.parallel_info().splitlines()
                if line.startswith(("ATen parallel backend", "OpenMP"))]
    return {"framework": "torch", "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "parallel": "; ".join(parallel), "mkldnn": torch.backends.mkldnn.is_available(),
            "numba_loaded": "numba" in sys.modules, "tinycnn_loaded": "tinycnn" in sys.modules,
            **H.runtime_facts()}
