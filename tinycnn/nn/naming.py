"""Keras-style names for layers: ``conv2d``, ``conv2d_1``, ... per model, ``block2a_dwconv`` inside a block."""

import re


def to_snake_case(name):
    """Keras's rule: 'MaxPooling2D' -> 'max_pooling2d', 'ReLU' -> 're_lu'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def assign_names(root):
    """Give every auto-named module below ``root`` a Keras-style name, per model.

    Layers directly inside containers (Sequential) count per type: conv2d, conv2d_1, ...;
    explicit names are kept and skipped by the counter.  Children of a block are named
    ``<block name>_<attribute>``.  Raises if two layers of one container share a name.
    """
    taken = set()

    def collect(mod):
        for _, child in mod._modules.items():
            if mod.is_container and not child._auto_name:
                taken.add(child._name)
            collect(child)

    collect(root)
    counts = {}

    def fresh(base):
        while True:
            n = counts.get(base, 0)
            counts[base] = n + 1
            candidate = base if n == 0 else f"{base}_{n}"
            if candidate not in taken:
                taken.add(candidate)
                return candidate

    def visit(mod):
        for key, child in mod._modules.items():
            if child._auto_name:
                if mod.is_container:
                    child._name = fresh(to_snake_case(child.type_name))
                else:
                    child._name = f"{mod.name}_{key}"
            visit(child)

    visit(root)
