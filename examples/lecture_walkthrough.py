"""Session 6, "CNN for medical diagnosis", number by number, each from a tinycnn call.

    python examples/lecture_walkthrough.py [--out runs/lecture_walkthrough]

Prints, in the lecture's order: the plain CNN's summary, what the GAP head saves, GAP as
"is the feature present" scores, 864 vs 27 weights, the depthwise shapes, the
depthwise-separable cost ratio, MobileNet's Table 1 and EfficientNet-B0's Table 1 read off
the models, and the "30 layers without residual connections" meme measured on real
networks (a plot goes to --out).  Where a hand-typed figure on a slide disagrees with the
arithmetic, the arithmetic wins and a NOTE says so.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinycnn as tc  # noqa: E402
import tinycnn.functional as F  # noqa: E402
from tinycnn import nn  # noqa: E402
from tinycnn.models import (compress_table, efficientnet_b0, efficientnet_stage_outputs,  # noqa: E402
                            efficientnet_stage_table, mobilenet_table, mobilenet_v1, vgg_like)
from tinycnn.summary import count_macs, summary, summary_rows  # noqa: E402


def heading(text):
    print()
    print("=" * 88)
    print(text)
    print("=" * 88)


def show(call, value):
    print(f"  {call:<62} -> {value}")


def note(text):
    print(f"  NOTE: {text}")


# the slide's hand-typed table rows that the code checks against
SLIDE_VGG_PARAMS = [896, 9248, 0, 18496, 36928, 0, 73856, 147584, 0, 295168, 590080, 0, 1180160,
                    2359888, 0, 0, 25691136, 1049600, 10250]
SLIDE_VGG_TOTAL = 31463210

SLIDE_MOBILENET = [
    ("Conv / s2", "3 × 3 × 3 × 32", "224 × 224 × 3"),
    ("Conv dw / s1", "3 × 3 × 32 dw", "112 × 112 × 32"),
    ("Conv / s1", "1 × 1 × 32 × 64", "112 × 112 × 32"),
    ("Conv dw / s2", "3 × 3 × 64 dw", "112 × 112 × 64"),
    ("Conv / s1", "1 × 1 × 64 × 128", "56 × 56 × 64"),
    ("Conv dw / s1", "3 × 3 × 128 dw", "56 × 56 × 128"),
    ("Conv / s1", "1 × 1 × 128 × 128", "56 × 56 × 128"),
    ("Conv dw / s2", "3 × 3 × 128 dw", "56 × 56 × 128"),
    ("Conv / s1", "1 × 1 × 128 × 256", "28 × 28 × 128"),
    ("Conv dw / s1", "3 × 3 × 256 dw", "28 × 28 × 256"),
    ("Conv / s1", "1 × 1 × 256 × 256", "28 × 28 × 256"),
    ("Conv dw / s2", "3 × 3 × 256 dw", "28 × 28 × 256"),
    ("Conv / s1", "1 × 1 × 256 × 512", "14 × 14 × 256"),
    ("5x Conv dw / s1", "3 × 3 × 512 dw", "14 × 14 × 512"),
    ("", "1 × 1 × 512 × 512", "14 × 14 × 512"),
    ("Conv dw / s2", "3 × 3 × 512 dw", "14 × 14 × 512"),
    ("Conv / s1", "1 × 1 × 512 × 1024", "7 × 7 × 512"),
    ("Conv dw / s2", "3 × 3 × 1024 dw", "7 × 7 × 1024"),
    ("Conv / s1", "1 × 1 × 1024 × 1024", "7 × 7 × 1024"),
    ("Avg Pool / s1", "Pool 7 × 7", "7 × 7 × 1024"),
    ("FC / s1", "1024 × 1000", "1 × 1 × 1024"),
    ("Softmax / s1", "Classifier", "1 × 1 × 1000"),
]


def plain_cnn():
    heading("1. The plain CNN (\"Why GAP makes sense\"): tc.summary(vgg_like(), (224, 224, 3))")
    model = vgg_like()
    print(summary(model, (224, 224, 3)))          # the same function as tc.summary
    rows = summary_rows(model)
    for row, slide in zip(rows, SLIDE_VGG_PARAMS):
        if row["params"] != slide:
            layer = row["layer"]
            kh, kw = layer.kernel_size
            note(f"the slide lists {row['name']} with {slide:,} params; {kh}*{kw}*{layer.in_channels}*"
                 f"{layer.filters} + {layer.filters} = {row['params']:,}.  The slide's own total "
                 f"{SLIDE_VGG_TOTAL:,} only adds up with {row['params']:,} (its rows sum to "
                 f"{sum(SLIDE_VGG_PARAMS):,}), so {slide:,} is a typo.")
    return model


def gap_head(model):
    heading("2. What the Flatten -> Dense head costs, and what GAP saves")
    dense = model.get_layer("dense")
    total = model.count_params()
    show('vgg_like().get_layer("dense").count_params()', f"{dense.count_params():,} "
         f"(= 25,088 x 1024 + 1024, {dense.count_params() / total:.1%} of {total:,})")
    gap = vgg_like(head="gap")
    show('vgg_like(head="gap").get_layer("dense").count_params()',
         f"{gap.get_layer('dense').count_params():,} (= 512 x 1024 + 1024)")
    show('vgg_like(head="gap").count_params()', f"{gap.count_params():,} "
         f"(saves {total - gap.count_params():,} parameters)")


def gap_demo():
    heading("3. GAP turns each feature map into one 'is the feature present' score")
    # five 4x4 feature maps; channel 1 ("dog ear") fires weakly on 2 pixels, channel 2 strongly
    maps = np.zeros((1, 4, 4, 5), np.float32)
    maps[0, 1:3, 1, 1] = [16, 16]
    maps[0, 0:2, 2:4, 2] = 20
    scores = nn.GlobalAveragePooling2D()(tc.Tensor(maps)).data[0]
    show("nn.GlobalAveragePooling2D()(feature maps 4x4x5)", scores.tolist())
    print("  channel 2 (say, the 'dog ear' detector) is strongly present, channel 1 weakly, "
          "channels 0, 3, 4 not at all.")


def weight_counts():
    heading("4. Standard vs depthwise weights (MobileNet)")
    show("nn.Conv2D(3, 32, 3, use_bias=False).kernel.size",
         f"{nn.Conv2D(3, 32, 3, use_bias=False).kernel.size}  (3 x 3 x 3) x 32")
    show("nn.DepthwiseConv2D(3, 3, use_bias=False).kernel.size",
         f"{nn.DepthwiseConv2D(3, 3, use_bias=False).kernel.size}  (3 x 3 x 1) x 3")
    conv = nn.Conv2D(3, 32, 3, use_bias=False)
    show("nn.Conv2D(3, 32, 3).output_shape((5, 5, 3))", conv.output_shape((5, 5, 3)))
    show("count_macs(nn.Conv2D(3, 32, 3), (5, 5, 3))", f"{count_macs(conv, (5, 5, 3)):,}")
    note("the slide's '5x5x3 -> (3x3x3) x 32 -> 864' counts weights: 864 does not depend on the "
         "5x5 input.  Applied to a 5x5x3 input ('valid') the conv gives 3x3x32 and costs "
         "3*3 positions x 864 = 7,776 multiply-adds.")


def depthwise_shapes():
    heading("5. Output shapes (stride 1, 'valid')")
    show("nn.Conv2D(3, 1, 3).output_shape((32, 32, 3))", nn.Conv2D(3, 1, 3).output_shape((32, 32, 3)))
    show("nn.DepthwiseConv2D(3, 3).output_shape((32, 32, 3))",
         nn.DepthwiseConv2D(3, 3).output_shape((32, 32, 3)))
    print("  (per channel 30x30: the 3x3x3 filter's element-wise products, summed over the 3 "
          "channels, give one 30x30 map)")
    for shape in [(224, 224, 32), (5, 5, 4), (14, 14, 124)]:
        show(f"nn.DepthwiseConv2D({shape[2]}, 3).output_shape({shape})",
             nn.DepthwiseConv2D(shape[2], 3).output_shape(shape))
    x = tc.Tensor(np.random.default_rng(0).standard_normal((1, 224, 224, 32)).astype(np.float32))
    show("nn.DepthwiseConv2D(32, 3)(x of 1x224x224x32).shape", nn.DepthwiseConv2D(32, 3)(x).shape)


def separable_cost():
    heading("6. Depthwise-separable cost: 1/N + 1/D_K^2, by counting multiply-adds of real layers")
    shape = (112, 112, 32)
    standard = nn.Conv2D(32, 64, 3, padding="same", use_bias=False)
    dw = nn.DepthwiseConv2D(32, 3, padding="same", use_bias=False)
    pw = nn.Conv2D(32, 64, 1, use_bias=False)
    s, d, p = count_macs(standard, shape), count_macs(dw, shape), count_macs(pw, shape)
    show("count_macs(nn.Conv2D(32, 64, 3, 'same'), (112, 112, 32))", f"{s:,}")
    show("count_macs(nn.DepthwiseConv2D(32, 3, 'same'), (112, 112, 32))", f"{d:,}  -> {dw.output_shape(shape)}")
    show("count_macs(nn.Conv2D(32, 64, 1), (112, 112, 32))", f"{p:,}  -> {pw.output_shape(shape)}")
    show("(depthwise + pointwise) / standard", f"{(d + p) / s:.6f}")
    show("1/N + 1/D_K^2 = 1/64 + 1/9", f"{1 / 64 + 1 / 9:.6f}")
    note("the slide writes the pointwise step as '112x112x64 (.) (1x1x32) x 32 -> 112x112x32'. "
         "The first MobileNet block maps 112x112x32 with 64 filters of 1x1x32 to 112x112x64 "
         "(conv_pw_1: 1x1x32x64), as computed above.  Its 'Elim > 112x112x32/64' cannot be "
         f"read as a single number; the measured saving is {s - d - p:,} multiply-adds "
         f"({1 - (d + p) / s:.1%}).")
    for n, k in [(128, 3), (1024, 3), (256, 5)]:
        a = count_macs(nn.Conv2D(64, n, k, padding="same"), (14, 14, 64))
        b = count_macs(nn.SeparableConv2D(64, n, k, padding="same"), (14, 14, 64))
        show(f"SeparableConv2D / Conv2D, N={n}, D_K={k}", f"{b / a:.6f} = 1/{n} + 1/{k * k} = "
             f"{1 / n + 1 / k ** 2:.6f}")


def mobilenet_section():
    heading("7. MobileNetV1, Table 1, read off mobilenet_v1() (alpha=1, 224x224x3, 1000 classes)")
    model = mobilenet_v1()
    counts = model.param_counts()
    show("mobilenet_v1().param_counts()", f"total {counts['total']:,}, trainable "
         f"{counts['trainable']:,}, non-trainable {counts['non_trainable']:,}")
    show("count_macs(mobilenet_v1())", f"{count_macs(model) / 1e6:.1f} M multiply-adds (paper: 569 M)")
    rows = mobilenet_table(model)
    n_layers = sum(r[0].startswith(("Conv", "FC")) for r in rows)
    print(f"  mobilenet_table(model): {len(rows)} rows = {n_layers - 1} convs + Avg Pool + FC + "
          f"Softmax; convs + FC = {n_layers}, the paper's '28 layers'")
    print(f"  {'Type / Stride':<18} {'Filter Shape':<22} {'Input Size':<16} lecture")
    for ours, slide in zip(compress_table(rows), SLIDE_MOBILENET):
        mark = "same" if ours == slide else f"DIFFERS: slide says {slide[0]}"
        print(f"  {ours[0]:<18} {ours[1]:<22} {ours[2]:<16} {mark}")
    note("the slide (like the paper's Table 1) prints 'Conv dw / s2' for the depthwise conv on "
         "7x7x1024.  A stride of 2 would give "
         f"{nn.DepthwiseConv2D(1024, 3, strides=2, padding='same').output_shape((7, 7, 1024))}, but "
         "the next rows and 'Avg Pool 7x7' need 7x7, so the stride is 1 (as in Keras).")


def efficientnet_section():
    heading("8. EfficientNet-B0, Table 1, read off efficientnet_b0()")
    model = efficientnet_b0()
    counts = model.param_counts()
    show("efficientnet_b0().param_counts()", f"total {counts['total']:,}, trainable "
         f"{counts['trainable']:,}, non-trainable {counts['non_trainable']:,}")
    show("count_macs(efficientnet_b0())", f"{count_macs(model) / 1e6:.1f} M multiply-adds (paper: 0.39 B FLOPs)")
    print(f"  {'Stage':<6} {'Operator':<26} {'Resolution':<11} {'#Channels':<10} {'#Layers':<8} output")
    outs = efficientnet_stage_outputs(model)
    for row, out in zip(efficientnet_stage_table(model), outs):
        print(f"  {row[0]:<6} {row[1]:<26} {row[2]:<11} {row[3]:<10} {row[4]:<8} "
              f"{'x'.join(map(str, out))}")


def vanishing_gradients(out_dir, depth=30, channels=16):
    heading(f"9. 'Me: makes a {depth} layer deep network with no residual connections.  Gradients:'")
    rng_x = np.random.default_rng(1)
    x = tc.Tensor(rng_x.standard_normal((16, 8, 8, 3)).astype(np.float32))
    labels = rng_x.integers(0, 10, 16)

    def build(kind, seed=0):
        rng = np.random.default_rng(seed)
        layers = [nn.Conv2D(3, channels, 3, padding="same", rng=rng)]
        for _ in range(depth - 1):
            if kind == "plain":
                layers.append(nn.Conv2D(channels, channels, 3, padding="same", activation="sigmoid", rng=rng))
            elif kind == "residual":
                layers.append(nn.Residual(nn.Conv2D(channels, channels, 3, padding="same",
                                                    activation="sigmoid", rng=rng)))
            else:
                layers += [nn.Conv2D(channels, channels, 3, padding="same", use_bias=False, rng=rng),
                           nn.BatchNorm2D(channels), nn.Sigmoid()]
        layers += [nn.GlobalAveragePooling2D(), nn.Dense(channels, 10, rng=rng)]
        return nn.Sequential(layers, input_shape=(8, 8, 3))

    curves = {}
    for kind, label in [("plain", "plain (conv + sigmoid)"), ("residual", "with residual skips"),
                        ("bn", "with batch norm")]:
        model = build(kind)
        F.cross_entropy(model(x), labels).backward()
        convs = [m for m in model.modules() if isinstance(m, nn.Conv2D)]
        curves[label] = [float(np.linalg.norm(c.kernel.grad)) for c in convs]
    print(f"  |dL/dW| of each of the {depth} conv layers, 3x3x{channels} filters, sigmoid, batch of 16 8x8 images")
    print(f"  {'layer':>5}  " + "  ".join(f"{k:>24}" for k in curves))
    for i in [0, 1, 2, 5, 10, 15, 20, 25, depth - 1]:
        print(f"  {i + 1:>5}  " + "  ".join(f"{v[i]:>24.3e}" for v in curves.values()))
    for k, v in curves.items():
        print(f"  {k:<24} last / first layer gradient: {v[-1] / v[0]:.1e}")

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "vanishing_gradients.png")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("  (matplotlib missing: no plot)")
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for (k, v), style in zip(curves.items(), ["o-", "s-", "^-"]):
        ax.semilogy(range(1, depth + 1), v, style, ms=3.5, label=k)
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel("gradient norm |dL/dW| (log scale)")
    ax.set_title(f"A {depth}-layer CNN: gradients vanish without skips or batch norm")
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"  plot: {path}")
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join("runs", "lecture_walkthrough"),
                        help="folder for the gradient plot")
    args = parser.parse_args(argv)
    model = plain_cnn()
    gap_head(model)
    gap_demo()
    weight_counts()
    depthwise_shapes()
    separable_cost()
    mobilenet_section()
    efficientnet_section()
    vanishing_gradients(args.out)


if __name__ == "__main__":
    main()
