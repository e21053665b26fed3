"""Keras-style model summaries, parameter counts and multiply-add counts, without running data.

    >>> print(tc.summary(vgg_like(), (224, 224, 3)))
    Model: "sequential"
    ┏━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┓
    ┃ Layer (type)                        ┃ Output Shape               ┃         Param # ┃
    ┡━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━┩
    │ conv2d (Conv2D)                     │ (None, 224, 224, 32)       │             896 │
    ├─────────────────────────────────────┼────────────────────────────┼─────────────────┤
    ...
     Total params: 31,463,210 (120.02 MB)
     Trainable params: 31,463,210 (120.02 MB)
     Non-trainable params: 0 (0.00 B)

The layout and the size strings follow Keras 3 (sizes in B / KB / MB / GB with 1 KB = 1024
B, from each weight's dtype).  Batch norm's moving mean and variance are non-trainable
params, as in Keras.  Composite blocks (MBConv, SqueezeExcite, Residual, nested
Sequentials) are one row each by default, like a nested Keras model; ``expand=True``
lists their layers underneath, indented with "└ ", as Keras's ``expand_nested=True``.
"""


def readable_memory_size(num_bytes):
    """Keras 3's format: '120.02 MB', '0.00 B' (1024-based units)."""
    size = float(num_bytes)
    for unit in ["B", "KB", "MB", "GB", "TB", "PB"]:
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def format_shape(shape):
    """(None, 224, 224, 32): the batch axis is shown as None."""
    return "(" + ", ".join(str(s) for s in (None, *shape)) + ")"


def count_params(model):
    """dict(total, trainable, non_trainable, total_bytes, trainable_bytes, non_trainable_bytes)."""
    return model.param_counts()


def count_macs(model_or_layer, input_shape=None):
    """Multiply-accumulates of one forward pass for one example (batch axis excluded).

    Counted: every convolution (standard K_h*K_w*C_in*C_out per output pixel, depthwise
    K_h*K_w*C*M, pointwise C_in*C_out), dense layers and squeeze-excite's two small matrix
    products.  Not counted: bias adds, batch norm, activations, pooling, residual adds.
    """
    if input_shape is None:
        input_shape = getattr(model_or_layer, "input_shape", None)
        if input_shape is None:
            raise ValueError("count_macs: give input_shape (batch axis excluded)")
    return int(model_or_layer.macs(tuple(input_shape)))


def summary_rows(model, input_shape=None, expand=False):
    """The summary table as data: a list of dicts with keys name, type, output_shape
    (batch axis as None), params, trainable, non_trainable, depth, layer.

    A container (``Sequential``, ``Ensemble``) gives one row per layer or member; any other
    module is one row.  With ``expand`` every row is followed by its module's own
    ``summary_layers`` (the layers inside a block), one level deeper.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
        if input_shape is None:
            raise ValueError("summary_rows: give input_shape (batch axis excluded)")
    input_shape = tuple(input_shape)
    if model.is_container:
        top = model.summary_layers(input_shape)
    else:
        top = [(model, input_shape, tuple(model.output_shape(input_shape)))]
    rows = []

    def add(layer, shape_in, out, depth):
        counts = layer.param_counts()
        rows.append({"name": layer.name, "type": layer.type_name, "output_shape": (None, *out),
                     "params": counts["total"], "trainable": counts["trainable"],
                     "non_trainable": counts["non_trainable"], "depth": depth, "layer": layer})
        if expand and layer.named_children():
            for child, child_in, child_out in layer.summary_layers(shape_in):
                add(child, child_in, child_out, depth + 1)

    for layer, shape_in, out in top:
        add(layer, shape_in, out, 0)
    return rows


def summary(model, input_shape=None, expand=False, line_length=88, print_fn=None):
    """Keras-3-style summary of ``model`` for ``input_shape`` (H, W, C), as a string.

    input_shape defaults to the model's own.  expand=True also lists the layers inside
    blocks.  print_fn (e.g. print) is called with the text if given.
    """
    if input_shape is None:
        input_shape = getattr(model, "input_shape", None)
    rows = summary_rows(model, input_shape, expand=expand)
    header = ["Layer (type)", "Output Shape", "Param #"]
    cells = []
    for r in rows:
        prefix = ("   " * r["depth"] + "└ ") if r["depth"] else ""
        cells.append([f"{prefix}{r['name']} ({r['type']})", format_shape(r["output_shape"][1:]),
                      f"{r['params']:,}"])
    inner = line_length - 4 - 6                    # 4 border characters, 1 space padding each side
    widths = [int(inner * 0.45), int(inner * 0.80) - int(inner * 0.45), 0]
    widths[2] = inner - widths[0] - widths[1]
    need = [max([len(header[col])] + [len(c[col]) for c in cells]) for col in range(3)]
    widths = [max(w, n) for w, n in zip(widths, need)]
    over = sum(widths) - inner                   # keep the line length if other columns have room
    for col in (1, 2, 0):
        take = max(0, min(widths[col] - need[col], over))
        widths[col] -= take
        over -= take

    def line(left, fill, mid, right):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(values, bar):
        parts = [f" {values[0]:<{widths[0]}} ", f" {values[1]:<{widths[1]}} ",
                 f" {values[2]:>{widths[2]}} "]
        return bar + bar.join(parts) + bar

    counts = model.param_counts()
    out = [f'Model: "{model.name}"',
           line("┏", "━", "┳", "┓"),
           row(header, "┃"),
           line("┡", "━", "╇", "┩")]
    for i, c in enumerate(cells):
        out.append(row(c, "│"))
        out.append(line("├", "─", "┼", "┤") if i < len(cells) - 1 else line("└", "─", "┴", "┘"))
    if not cells:
        out.append(line("└", "─", "┴", "┘"))
    out.append(f" Total params: {counts['total']:,} ({readable_memory_size(counts['total_bytes'])})")
    out.append(f" Trainable params: {counts['trainable']:,} "
               f"({readable_memory_size(counts['trainable_bytes'])})")
    out.append(f" Non-trainable params: {counts['non_trainable']:,} "
               f"({readable_memory_size(counts['non_trainable_bytes'])})")
    text = "\n".join(out)
    if print_fn is not None:
        print_fn(text)
    return text


__all__ = ["summary", "summary_rows", "count_params", "count_macs", "readable_memory_size",
           "format_shape"]
