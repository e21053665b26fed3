"""Export a tinycnn model to ONNX, so that onnxruntime (or any ONNX runtime) can run it.

    from tinycnn.export import to_onnx
    to_onnx(model, "detector.onnx", (64, 64, 1), preprocessing="per_image",
            temperature=1.3, threshold=0.42)

    tinycnn export runs/pneumonia/model.npz -o detector.onnx     # the same for a run's model file

Needs the ``onnx`` package, an optional extra: ``pip install "tinycnn[onnx]"``.

The graph
---------
input    ``x_nhwc``: float32 (N, H, W, C), tinycnn's layout, preprocessed as the metadata says.
         N is free; H, W, C are fixed, because Keras "same" padding depends on the input size.
first    a Transpose to NCHW, the layout of ONNX's Conv and pooling ops
then     a few ONNX nodes per layer, walking the model as its ``forward`` does (``CONVERTERS``)
output   ``logits``: float32 (N, K), what the model returns in eval mode

Layer by layer (tinycnn -> ONNX):
    Conv2D (K_h, K_w, C_in, F)        Conv, weight (F, C_in, K_h, K_w), pads [top, left, bottom, right]
    DepthwiseConv2D (K_h, K_w, C, M)  Conv with group = C, weight (C*M, 1, K_h, K_w): output channel
                                      c*M + m is filtered by kernel[:, :, c, m] (tinycnn's and Keras's order)
    PointwiseConv2D (C_in, F)         1x1 Conv;  SeparableConv2D: depthwise, then pointwise
    BatchNorm2D                       BatchNormalization with the moving statistics (eval mode)
    ReLU, ReLU6, Sigmoid, Tanh        Relu, Clip(0, 6), Sigmoid, Tanh;  Swish: Mul(x, Sigmoid(x))
    activation= of a conv/dense       the same nodes after its Conv / Gemm
    MaxPool2D, AvgPool2D              MaxPool (padding counts as -inf, as in tinycnn), AveragePool
                                      with count_include_pad = 0 (padded pixels left out of the mean)
    GlobalAveragePooling2D            GlobalAveragePool (then Flatten to (N, C) unless keepdims)
    Flatten                           Transpose back to NHWC first: features in tinycnn's (H, W, C) order
    Dense (in, units)                 Gemm (MatMul without a bias)
    Dropout, DropConnect              nothing: both are the identity in eval mode
    SqueezeExcite, MBConv, Residual   their layers, then the Mul / Add of their forward
    Sequential                        its layers in order
    Ensemble                          the members' logits added left to right, times 1/K

Any other module is refused, naming it: there is no silent approximation.

The metadata (``metadata_props``, strings)
------------------------------------------
``input_layout`` (NHWC), ``input_shape``, ``temperature``, ``threshold``, ``decision`` (how logits
become a probability and a label) and, when the preprocessing is known, ``preprocessing`` and
``preprocessing_formula``, so that a consumer can reproduce ``tinycnn predict``; plus any
``metadata`` the caller adds (``tinycnn export`` adds ``class_names``, ``source_model``,
``architecture``, ``members`` and ``tinycnn_version``).
"""

from .writer import INPUT_NAME, INSTALL_HINT, OPSET, OUTPUT_NAME, import_onnx, to_onnx

__all__ = ["to_onnx", "import_onnx", "INSTALL_HINT", "INPUT_NAME", "OUTPUT_NAME", "OPSET"]
