"""Build solutions/ps1_activations/ps1_activations.ipynb, the nbgrader source notebook.

The notebook is the source of truth nbgrader reads; this script is how it is written,
so a reviewer can read the whole assignment (prose, reference solutions, visible and
hidden tests) as one Python file. Run it after editing, then regenerate the release:

    .venv/bin/python scripts/make_ps1.py
    PATH=.venv/bin:$PATH nbgrader generate_assignment ps1_activations --force

Cell conventions (a re-grader parses these): one solution cell per graded function with
grade_id = the function name, signature and docstring outside the solution markers; one
locked test cell per function with grade_id "test_<function>" and its points; visible
tests first, then hidden ones between the hidden-test markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ASSIGNMENT = "ps1_activations"
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "_ext"))
from notebook_twins import install_line  # noqa: E402 - the one install line (README, twins)

OUT = REPO_ROOT / "solutions" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


def md(text: str) -> nbformat.NotebookNode:
    return new_markdown_cell(text.strip("\n"))


def code(text: str) -> nbformat.NotebookNode:
    return new_code_cell(text.strip("\n"))


def setup_cell(text: str) -> nbformat.NotebookNode:
    """A locked, ungraded cell: nbgrader restores it as written here when grading."""
    cell = code(text.replace("INSTALL_LINE", install_line(REPO_ROOT)))
    cell.metadata["nbgrader"] = {
        "grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
        "solution": False, "task": False,
    }  # fmt: skip
    return cell


def solution(grade_id: str, signature_and_doc: str, body: str) -> nbformat.NotebookNode:
    """A solution cell: the contract (signature, docstring) stays in the released stub."""
    body = "\n".join("    " + line if line else "" for line in body.strip("\n").splitlines())
    cell = code(f"{signature_and_doc.strip()}\n    {BEGIN}\n{body}\n    {END}")
    cell.metadata["nbgrader"] = {
        "grade": False, "grade_id": grade_id, "locked": False, "schema_version": 3,
        "solution": True, "task": False,
    }  # fmt: skip
    return cell


def tests(grade_id: str, points: int, visible: str, hidden: str) -> nbformat.NotebookNode:
    """A locked test cell worth ``points``: visible tests, then hidden ones."""
    text = f"{visible.strip()}\n{BEGIN_HIDDEN}\n{hidden.strip()}\n{END_HIDDEN}"
    cell = code(text)
    cell.metadata["nbgrader"] = {
        "grade": True, "grade_id": grade_id, "locked": True, "points": points,
        "schema_version": 3, "solution": False, "task": False,
    }  # fmt: skip
    return cell


ARRAY_DOC = """
    Parameters
    ----------
    x : np.ndarray
        Float array (float32 or float64) of any shape, 0-d and empty included.{extra}

    Returns
    -------
    np.ndarray
        A new array with the shape and dtype of ``x``; ``x`` is left unchanged.
    \"\"\""""


def doc(summary: str, extra: str = "") -> str:
    return summary.rstrip() + "\n" + ARRAY_DOC.format(extra=extra)


SLOPE_DOC = """
    negative_slope : float
        Slope for x <= 0; any real number (it may exceed 1)."""
ALPHA_DOC = """
    alpha : float
        Scale of the negative branch; any positive number."""


CELLS: list[nbformat.NotebookNode] = [
    md(r"""
# Problem set 1: activation functions and their derivatives

A neural network without a non-linearity between its layers collapses into one linear
map, however deep it is. In this problem set you write the non-linearities yourself, in
NumPy, together with the derivatives that backpropagation multiplies together: ReLU,
Leaky ReLU, ELU, the logistic sigmoid and GELU. Then you write a finite-difference
gradient, the tool that tells you whether a hand-written derivative is right.

Run the setup cell first. Each exercise is a function with its signature and docstring
already written: replace `raise NotImplementedError()` with your code. The cell after
each function tests it; some tests are visible to you, others run only when your
notebook is graded.
"""),
    setup_cell(r"""
# Setup: run this cell first. It installs the course package when it is missing.
try:
    import relu_course
except ImportError:  # Colab or a fresh environment
    INSTALL_LINE
    import relu_course

import os

import numpy as np

from relu_course.checks import check_activation, check_numerical_grad

# This problem set is NumPy only; the device matters from ps2 on. Graded runs use the
# CPU (see the course's SECURITY.md), so they skip importing torch (about 1 s each).
if os.environ.get("NBGRADER_EXECUTION"):
    device = "cpu"
else:
    from relu_course.training import get_device

    device = get_device()
print(f"relu_course {relu_course.__version__}, device: {device}")
"""),
    md(r"""
## The contract every function must meet

The graders check exactly this, for each of your functions:

* **Input**: a NumPy array of floats, `float32` or `float64`, of any shape, including a
  0-d array (`np.array(1.5)`) and an empty one (`np.zeros((0, 3))`).
* **Output**: an `np.ndarray` (not a Python list or float, not a subclass) with the
  **same shape and dtype** as the input. For a 0-d input a NumPy scalar of the input's
  dtype is fine too: that is what NumPy's own functions return
  (`np.maximum(np.array(2.0), 0)` is a `np.float64`), so `np.maximum(x, 0)` and
  `x * (x > 0)` meet the contract as they are.
* **Your input stays as it was**: never write into `x`.
* **Values** are correct (to float precision) and finite for every finite `x` with
  `|x| <= 1e4`. That rules out formulas that compute `inf / inf` or `0 * inf` on the way.
  An intermediate `inf` that ends in the right finite value is fine: the textbook
  sigmoid `1 / (1 + np.exp(-x))` computes `np.exp(1e4) = inf` at `x = -1e4`, then
  `1 / inf = 0`, which is correct, so it keeps full marks (NumPy prints an overflow
  warning; see below).
* **Kinks follow PyTorch**: where a function has a corner, the derivative takes the
  left-hand (negative-side) value: `relu_grad(0) = 0`,
  `leaky_relu_grad(0) = negative_slope`, `elu_grad(0) = alpha`.
* **Parameters other than the defaults work**: `negative_slope` may be any number,
  even larger than 1; `alpha` any positive number.
* **float32 stays float32**: a `float32` input gives `float32` results. Comparisons
  such as `x > 0` give booleans: convert them, `(x > 0).astype(x.dtype)`.
* NaN inputs are not graded.
* `numerical_grad(f, x, eps)` gets a function `f` that maps an array to a float; it
  returns an `np.ndarray` of `x`'s shape holding central differences taken one element
  at a time, and leaves `x` unchanged.

Warnings do not cost points: if your correct code makes NumPy print an overflow
warning (say, from `np.exp(1000.0)`), the checks silence warnings raised inside your
function and you keep full marks. Wrong values still lose them.

You can run the checks yourself at any time:
`check_activation(relu, "relu")` runs the basic battery, `level="full"` the broader one.
A failed check names the input, the expected and the received value, and the mistake it
most likely comes from. Each test cell below runs that check first, and the basic
battery already holds one case of every rule above (a non-default parameter, `+-1e4`,
`float32`, a 0-d and an empty input); the hidden tests only add more inputs of the same
kinds.
"""),
    md(r"""
## 1. ReLU (3 points)

$$\operatorname{relu}(x) = \max(x, 0), \qquad
\operatorname{relu}'(x) = \begin{cases} 1 & x > 0 \\ 0 & x \le 0 \end{cases}$$

ReLU passes positive inputs through and silences the rest. Its slope is exactly 1 on
the positive side, so a gradient that flows through an active unit is not shrunk. At
`x = 0` the function has a corner and no derivative; PyTorch picks 0, and so do we.
"""),
    solution(
        "relu",
        'def relu(x: np.ndarray) -> np.ndarray:\n    """relu(x) = max(x, 0), elementwise.\n'
        + ARRAY_DOC.format(extra=""),
        "return np.asarray(np.maximum(x, 0), dtype=x.dtype)",
    ),
    tests(
        "test_relu",
        1,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(relu, "relu", level="basic")
x = np.array([-2.0, -0.5, 0.0, 0.5, 3.0])
y = relu(x)
assert isinstance(y, np.ndarray), f"relu must return an np.ndarray, got {type(y).__name__}"
assert np.allclose(y, [0.0, 0.0, 0.0, 0.5, 3.0]), f"relu({x}) should be [0 0 0 0.5 3], got {y}"
""",
        """
check_activation(relu, "relu", level="full")
""",
    ),
    solution(
        "relu_grad",
        "def relu_grad(x: np.ndarray) -> np.ndarray:\n"
        '    """relu\'(x) = 1 if x > 0 else 0 (0 at the kink, as PyTorch).\n'
        + ARRAY_DOC.format(extra=""),
        "return np.asarray(x > 0, dtype=x.dtype)",
    ),
    tests(
        "test_relu_grad",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(relu_grad, "relu", grad=True, level="basic")
x = np.array([-2.0, 0.0, 0.5, 3.0])
g = relu_grad(x)
assert np.allclose(g, [0.0, 0.0, 1.0, 1.0]), f"relu_grad({x}) should be [0 0 1 1], got {g}"
assert relu_grad(np.array(0.0)) == 0.0, "at the kink x = 0, relu_grad must be 0 (as PyTorch)"
""",
        """
check_activation(relu_grad, "relu", grad=True, level="full")
""",
    ),
    md(r"""
## 2. Leaky ReLU (4 points)

$$\operatorname{leaky}(x) = \begin{cases} x & x > 0 \\ a\,x & x \le 0 \end{cases},
\qquad \operatorname{leaky}'(x) = \begin{cases} 1 & x > 0 \\ a & x \le 0 \end{cases}$$

A ReLU unit whose input is negative for every example passes no gradient back and
stops learning. Leaky ReLU keeps a small slope `a` (PyTorch's default is 0.01) on the
negative side so such a unit can recover. Beware of shortcuts that hold only for
some slopes: `np.maximum(a * x, x)` equals Leaky ReLU for every `a <= 1` (negative
ones included), but not above 1, and the tests also use slopes above 1.
"""),
    solution(
        "leaky_relu",
        "def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:\n"
        '    """leaky_relu(x) = x if x > 0 else negative_slope * x, elementwise.\n'
        + ARRAY_DOC.format(extra=SLOPE_DOC),
        "return np.asarray(np.where(x > 0, x, negative_slope * x), dtype=x.dtype)",
    ),
    tests(
        "test_leaky_relu",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(leaky_relu, "leaky_relu", level="basic")
x = np.array([-2.0, 0.0, 3.0])
y = leaky_relu(x)
assert np.allclose(y, [-0.02, 0.0, 3.0]), f"leaky_relu({x}) should be [-0.02 0 3], got {y}"
y = leaky_relu(x, negative_slope=0.5)
assert np.allclose(y, [-1.0, 0.0, 3.0]), f"with negative_slope=0.5 expected [-1 0 3], got {y}"
""",
        """
y = leaky_relu(np.array([-1.0, 2.0]), negative_slope=3.0)
assert np.allclose(y, [-3.0, 2.0]), f"negative_slope=3 on [-1, 2]: expected [-3, 2], got {y}"
check_activation(leaky_relu, "leaky_relu", level="full")
""",
    ),
    solution(
        "leaky_relu_grad",
        "def leaky_relu_grad(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:\n"
        '    """leaky_relu\'(x) = 1 if x > 0 else negative_slope (negative_slope at 0).\n'
        + ARRAY_DOC.format(extra=SLOPE_DOC),
        "return np.asarray(np.where(x > 0, 1.0, negative_slope), dtype=x.dtype)",
    ),
    tests(
        "test_leaky_relu_grad",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(leaky_relu_grad, "leaky_relu", grad=True, level="basic")
x = np.array([-2.0, 0.0, 3.0])
g = leaky_relu_grad(x)
assert np.allclose(g, [0.01, 0.01, 1.0]), f"leaky_relu_grad({x}) should be [0.01 0.01 1], got {g}"
""",
        """
g = leaky_relu_grad(np.array([-1.0, 0.0, 2.0]), negative_slope=3.0)
assert np.allclose(g, [3.0, 3.0, 1.0]), f"negative_slope=3: expected [3, 3, 1], got {g}"
check_activation(leaky_relu_grad, "leaky_relu", grad=True, level="full")
""",
    ),
    md(r"""
## 3. ELU (4 points)

$$\operatorname{elu}(x) = \begin{cases} x & x > 0 \\ \alpha\,(e^{x} - 1) & x \le 0
\end{cases}, \qquad \operatorname{elu}'(x) = \begin{cases} 1 & x > 0 \\ \alpha\,e^{x}
& x \le 0 \end{cases}$$

ELU bends smoothly towards $-\alpha$ for very negative inputs, so a layer's outputs
can average closer to zero than ReLU's. Evaluate the exponential only where it is
needed: `np.exp(1e4)` is `inf`, and `0 * inf` is NaN. `np.expm1(x)` computes
$e^x - 1$ accurately for small $x$.
"""),
    solution(
        "elu",
        "def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:\n"
        '    """elu(x) = x if x > 0 else alpha * (exp(x) - 1), elementwise.\n'
        + ARRAY_DOC.format(extra=ALPHA_DOC),
        "negative = alpha * np.expm1(np.minimum(x, 0))\n"
        "return np.asarray(np.where(x > 0, x, negative), dtype=x.dtype)",
    ),
    tests(
        "test_elu",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(elu, "elu", level="basic")
x = np.array([-1.0, 0.0, 2.0])
y = elu(x)
expected = [np.exp(-1.0) - 1.0, 0.0, 2.0]
assert np.allclose(y, expected), f"elu({x}) should be {expected}, got {y}"
""",
        """
y = elu(np.array([-1.0, 2.0]), alpha=2.0)
assert np.allclose(y, [2.0 * (np.exp(-1.0) - 1.0), 2.0]), f"alpha=2 on [-1, 2]: got {y}"
check_activation(elu, "elu", level="full")
""",
    ),
    solution(
        "elu_grad",
        "def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:\n"
        '    """elu\'(x) = 1 if x > 0 else alpha * exp(x) (alpha at the kink, as PyTorch).\n'
        + ARRAY_DOC.format(extra=ALPHA_DOC),
        "return np.asarray(np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0))), dtype=x.dtype)",
    ),
    tests(
        "test_elu_grad",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(elu_grad, "elu", grad=True, level="basic")
x = np.array([-1.0, 0.0, 2.0])
g = elu_grad(x)
expected = [np.exp(-1.0), 1.0, 1.0]
assert np.allclose(g, expected), f"elu_grad({x}) should be {expected}, got {g}"
""",
        """
g = elu_grad(np.array([-1.0, 0.0, 2.0]), alpha=2.0)
expected = [2.0 * np.exp(-1.0), 2.0, 1.0]
assert np.allclose(g, expected), f"alpha=2: elu_grad at 0 is alpha; expected {expected}, got {g}"
check_activation(elu_grad, "elu", grad=True, level="full")
""",
    ),
    md(r"""
## 4. The logistic sigmoid (3 points)

$$\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,\bigl(1 - \sigma(x)\bigr)$$

The sigmoid squashes every input into $(0, 1)$. Its slope is at most $1/4$ (at
$x = 0$), which is why a deep stack of sigmoids shrinks gradients layer after layer.
The textbook formula `1 / (1 + np.exp(-x))` overflows in `np.exp(-x)` for large
negative $x$: NumPy warns, but $1 / (1 + \infty) = 0$ is the right value, so the
formula is correct and keeps full marks. The rearranged $e^x / (1 + e^x)$ is not: it
gives `inf / inf = nan` for large positive $x$. A version that never overflows (and
never warns) uses only $e^{-|x|}$, which never exceeds 1.
"""),
    solution(
        "sigmoid",
        "def sigmoid(x: np.ndarray) -> np.ndarray:\n"
        '    """sigmoid(x) = 1 / (1 + exp(-x)), elementwise.\n' + ARRAY_DOC.format(extra=""),
        "z = np.exp(-np.abs(x))  # in (0, 1]: never overflows\n"
        "return np.asarray(np.where(x >= 0, 1 / (1 + z), z / (1 + z)), dtype=x.dtype)",
    ),
    tests(
        "test_sigmoid",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(sigmoid, "sigmoid", level="basic")
x = np.array([-1.0, 0.0, 1.0])
y = sigmoid(x)
expected = 1.0 / (1.0 + np.exp(-x))
assert np.allclose(y, expected), f"sigmoid({x}) should be {expected}, got {y}"
assert sigmoid(np.array(0.0)) == 0.5, "sigmoid(0) must be exactly 0.5"
""",
        """
with np.errstate(all="ignore"):  # an overflow warning costs nothing; a wrong value does
    y = sigmoid(np.array([-1e4, 1e4]))
assert np.all(np.isfinite(y)) and np.allclose(y, [0.0, 1.0]), f"sigmoid(+-1e4): got {y}"
check_activation(sigmoid, "sigmoid", level="full")
""",
    ),
    solution(
        "sigmoid_grad",
        "def sigmoid_grad(x: np.ndarray) -> np.ndarray:\n"
        '    """sigmoid\'(x) = sigmoid(x) * (1 - sigmoid(x)) = exp(-|x|) / (1 + exp(-|x|))**2.\n'
        + ARRAY_DOC.format(extra=""),
        "z = np.exp(-np.abs(x))  # the derivative is even, so exp(-|x|) suffices\n"
        "return np.asarray(z / (1 + z) ** 2, dtype=x.dtype)",
    ),
    tests(
        "test_sigmoid_grad",
        1,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(sigmoid_grad, "sigmoid", grad=True, level="basic")
x = np.array([-1.0, 0.0, 1.0])
g = sigmoid_grad(x)
s = 1.0 / (1.0 + np.exp(-x))
assert np.allclose(g, s * (1 - s)), f"sigmoid_grad({x}) should be {s * (1 - s)}, got {g}"
""",
        """
with np.errstate(all="ignore"):
    g = sigmoid_grad(np.array([-1e4, 1e4]))
assert np.all(np.isfinite(g)) and np.allclose(g, [0.0, 0.0]), f"sigmoid_grad(+-1e4): got {g}"
check_activation(sigmoid_grad, "sigmoid", grad=True, level="full")
""",
    ),
    md(r"""
## 5. GELU, tanh approximation (4 points)

GELU weights its input by the probability that a standard normal variable is smaller:
$\operatorname{gelu}(x) = x\,\Phi(x)$. Transformers usually compute the tanh
approximation, which is what you implement here (PyTorch's
`gelu(x, approximate="tanh")`):

$$\operatorname{gelu}(x) \approx \tfrac12\,x\,\bigl(1 + \tanh u\bigr), \qquad
u = c\,(x + k x^3), \quad c = \sqrt{2/\pi}, \quad k = 0.044715.$$

Differentiate it with the product and chain rules, using
$\tanh'(u) = 1 - \tanh^2 u$. Unlike ReLU, GELU is smooth and dips slightly below zero
for negative inputs; its derivative at 0 is exactly $1/2$.
"""),
    solution(
        "gelu",
        "def gelu(x: np.ndarray) -> np.ndarray:\n"
        '    """gelu(x) = x / 2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3))), elementwise.\n'
        + ARRAY_DOC.format(extra=""),
        "u = np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)\n"
        "return np.asarray(0.5 * x * (1 + np.tanh(u)), dtype=x.dtype)",
    ),
    tests(
        "test_gelu",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(gelu, "gelu", level="basic")
x = np.array([-1.0, 0.0, 1.0])
y = gelu(x)
expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
assert np.allclose(y, expected, atol=1e-6), f"gelu({x}) should be {expected}, got {y}"
""",
        """
check_activation(gelu, "gelu", level="full")
""",
    ),
    solution(
        "gelu_grad",
        "def gelu_grad(x: np.ndarray) -> np.ndarray:\n"
        '    """d/dx of the tanh-approximate GELU (see the formula above).\n'
        + ARRAY_DOC.format(extra=""),
        "c, k = np.sqrt(2 / np.pi), 0.044715\n"
        "t = np.tanh(c * (x + k * x**3))\n"
        "grad = 0.5 * (1 + t) + 0.5 * x * (1 - t**2) * c * (1 + 3 * k * x**2)\n"
        "return np.asarray(grad, dtype=x.dtype)",
    ),
    tests(
        "test_gelu_grad",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_activation(gelu_grad, "gelu", grad=True, level="basic")
assert np.allclose(gelu_grad(np.array(0.0)), 0.5), "gelu_grad(0) should be exactly 1/2"
x = np.array([-1.0, 0.0, 1.0])
g = gelu_grad(x)


def reference_gelu(v):
    return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v**3)))


slope = (reference_gelu(x + 1e-6) - reference_gelu(x - 1e-6)) / 2e-6  # measured slope
assert np.allclose(g, slope, atol=1e-6), f"gelu_grad({x}) should be {slope}, got {g}"
""",
        """
check_activation(gelu_grad, "gelu", grad=True, level="full")
""",
    ),
    md(r"""
## 6. A numerical gradient (2 points)

How do you know a hand-written derivative is right? Compare it with the slope you
measure. For a function $f$ from an array to a number, the central difference

$$\frac{\partial f}{\partial x_i} \approx
\frac{f(x + \varepsilon e_i) - f(x - \varepsilon e_i)}{2\varepsilon}$$

nudges one element $x_i$ at a time, up and down by $\varepsilon$, and its error shrinks
like $\varepsilon^2$. Near a kink it is fooled: at $x = 0$ it reports $1/2$ for ReLU,
the average of the two sides, so gradient checks use points away from corners.

Write `numerical_grad(f, x, eps)`: it returns an array of `x`'s shape whose element
`i` is the central difference for $x_i$, and it leaves `x` unchanged (work on a copy).
"""),
    solution(
        "numerical_grad",
        "def numerical_grad(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:\n"
        '    """Central differences: grad[i] = (f(x + eps e_i) - f(x - eps e_i)) / (2 eps).\n'
        "\n"
        "    Parameters\n"
        "    ----------\n"
        "    f : callable\n"
        "        Maps an array shaped like ``x`` to a float.\n"
        "    x : np.ndarray\n"
        "        Float array (float32 or float64) of any shape; it is left unchanged.\n"
        "    eps : float\n"
        "        Step size.\n"
        "\n"
        "    Returns\n"
        "    -------\n"
        "    np.ndarray\n"
        "        The estimated gradient, an array with the shape of ``x``.\n"
        '    """',
        "point = np.array(x, dtype=np.float64)  # a private float64 copy\n"
        "grad = np.zeros_like(point)\n"
        "for i in np.ndindex(point.shape):\n"
        "    saved = point[i]\n"
        "    point[i] = saved + eps\n"
        "    up = f(point)\n"
        "    point[i] = saved - eps\n"
        "    down = f(point)\n"
        "    point[i] = saved\n"
        "    grad[i] = (up - down) / (2 * eps)\n"
        "return grad.astype(x.dtype, copy=False)",
    ),
    tests(
        "test_numerical_grad",
        2,
        """
# The check first: a failure names the input, expected, received value and a hint.
check_numerical_grad(numerical_grad, level="basic")
x = np.array([1.0, -2.0, 3.0])
g = numerical_grad(lambda v: float(np.sum(v**2)), x)
assert np.allclose(g, 2 * x, atol=1e-4), f"the gradient of sum(x**2) at {x} is {2 * x}, got {g}"
assert np.array_equal(x, [1.0, -2.0, 3.0]), "numerical_grad must leave x unchanged"
""",
        """
check_numerical_grad(numerical_grad, level="full")
""",
    ),
    md(r"""
## Try it: check your derivatives and look at the curves (not graded)

The cell below measures each derivative with your `numerical_grad` at points away from
the kinks and prints the largest disagreement with your hand-written one, then plots
your activations and their derivatives. If every gap is around $10^{-8}$ or smaller,
your derivatives agree with the slopes they claim.
"""),
    code(r"""
import os

points = np.array([-2.5, -1.3, -0.4, 0.3, 0.9, 2.2])  # no kinks in here
pairs = {
    "relu": (relu, relu_grad),
    "leaky_relu (slope 0.1)": (lambda v: leaky_relu(v, 0.1), lambda v: leaky_relu_grad(v, 0.1)),
    "elu (alpha 1.5)": (lambda v: elu(v, 1.5), lambda v: elu_grad(v, 1.5)),
    "sigmoid": (sigmoid, sigmoid_grad),
    "gelu": (gelu, gelu_grad),
}
try:
    for label, (f, df) in pairs.items():
        # d/dx_i of sum(f(x)) is f'(x_i), so one numerical gradient checks every point
        measured = numerical_grad(lambda v, f=f: float(np.sum(f(v))), points)
        print(f"{label:24s} largest gap {np.max(np.abs(measured - df(points))):.1e}")
except NotImplementedError:
    print("Finish the exercises above first, then run this cell again.")
else:
    if os.environ.get("NBGRADER_EXECUTION") is None:  # skip the figure while grading
        import matplotlib.pyplot as plt

        grid = np.linspace(-4, 4, 401)
        fig, (ax_f, ax_df) = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
        for label, (f, df) in pairs.items():
            ax_f.plot(grid, f(grid), label=label)
            ax_df.plot(grid, df(grid), label=label)
        ax_f.set(title="activations", xlabel="input x", ylabel="f(x)")
        ax_df.set(title="derivatives", xlabel="input x", ylabel="f'(x)")
        ax_f.legend(fontsize=8)
        plt.show()
"""),
    md(r"""
## What you built

Every activation here is a cheap elementwise function; what sets them apart is the
derivative. ReLU's is exactly 0 or 1, Leaky ReLU and ELU keep a non-zero slope for
negative inputs, the sigmoid's never exceeds 1/4, and GELU's is smooth. The next problem
set multiplies these derivatives through many layers and watches what happens to the
gradient.
"""),
]


def build() -> nbformat.NotebookNode:
    nb = new_notebook(cells=CELLS)
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
        "name": "python3",
    }
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help=f"default: {OUT}")
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    nb = build()
    nbformat.validate(nb)
    nbformat.write(nb, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
