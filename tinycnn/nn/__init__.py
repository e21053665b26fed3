"""Layers, blocks and the Module system, with Keras names and NHWC layout.

    import tinycnn.nn as nn
    model = nn.Sequential([
        nn.Conv2D(3, 32, 3, padding="same", activation="relu"),
        nn.MaxPool2D(),
        nn.GlobalAveragePooling2D(),
        nn.Dense(32, 10),
    ])
    model.output_shape((224, 224, 3))   # (10,), computed without data
"""

from . import init
from .blocks import DropConnect, MBConv, Residual, SqueezeExcite
from .layers import BatchNorm2D, Conv2D, Dense, DepthwiseConv2D, PointwiseConv2D, SeparableConv2D
from .parameter_free import (AvgPool2D, Dropout, Flatten, GlobalAveragePooling2D, MaxPool2D, ReLU,
                             ReLU6, Sigmoid, Swish, Tanh)
from .containers import Ensemble, Sequential
from .module import Module
from .naming import assign_names, to_snake_case

__all__ = [
    "init", "Module", "Sequential", "Ensemble", "assign_names", "to_snake_case",
    "Conv2D", "DepthwiseConv2D", "PointwiseConv2D", "SeparableConv2D", "BatchNorm2D",
    "ReLU", "ReLU6", "Swish", "Sigmoid", "Tanh", "MaxPool2D", "AvgPool2D", "GlobalAveragePooling2D",
    "Flatten", "Dense", "Dropout",
    "SqueezeExcite", "MBConv", "DropConnect", "Residual",
]
