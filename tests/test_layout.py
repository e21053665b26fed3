"""The package's layout promises: a learner can import the autograd alone, and the budgets hold.

(The import layering itself is checked by import-linter's contract in pyproject.toml, which
``.ci/run`` runs as ``lint-imports``.)
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tinycnn"
FILE_BUDGET, REFERENCE_BUDGET, FUNCTION_BUDGET = 400, 500, 60


def modules_loaded_by(statement):
    """The top-level module names loaded by running ``statement`` in a fresh interpreter."""
    code = f"import sys; {statement}; print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(done.stdout.split())


@pytest.mark.parametrize("statement", [
    "import tinycnn.tensor",
    "import tinycnn.kernels.reference",
    "import tinycnn",
    "import tinycnn; tinycnn.Tensor([1.0], requires_grad=True).sum().backward()",
])
def test_the_learning_core_loads_neither_numba_nor_matplotlib(statement):
    loaded = modules_loaded_by(statement)
    assert "tinycnn" in loaded
    assert "numba" not in loaded and "matplotlib" not in loaded, sorted(loaded)


@pytest.mark.parametrize("statement", ["import tinycnn.nn", "import tinycnn as tc; tc.nn.Conv2D(1, 1, 1)"])
def test_the_layers_do_load_the_fast_kernels(statement):
    # the check above could pass because nothing is ever loaded; the fast kernels still are,
    # and the subpackages are reachable from the top-level name on first use
    assert "numba" in modules_loaded_by(statement)


def python_files():
    return sorted(PACKAGE.rglob("*.py"))


def test_no_file_is_over_its_line_budget():
    over = {}
    for path in python_files():
        budget = REFERENCE_BUDGET if path.relative_to(PACKAGE).as_posix() == "kernels/reference.py" else FILE_BUDGET
        lines = len(path.read_text().splitlines())
        if lines > budget:
            over[path.relative_to(PACKAGE).as_posix()] = lines
    assert not over, f"files over {FILE_BUDGET} lines (kernels/reference.py: {REFERENCE_BUDGET}): {over}"


def test_no_function_is_over_its_line_budget():
    over = {}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_BUDGET:
                    over[f"{path.relative_to(PACKAGE).as_posix()}:{node.lineno} {node.name}"] = length
    assert not over, f"functions over {FUNCTION_BUDGET} lines: {over}"
