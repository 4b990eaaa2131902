"""Time every activation: the NumPy reference, plain NumPy, the torch mirror and torch's own.

For each activation, on ``--size`` float32 elements drawn from N(0, 1) (the scale of
pre-activations after a good initialisation), this measures the median of ``--repeat``
timings of

* ``relu_course.activations``: forward and derivative;
* the fastest of a few plain NumPy expressions for the forward pass (which one is shown);
* ``relu_course.torch_activations`` (the mirror): forward, and forward + backward;
* torch's own module: forward, and forward + backward;

then prints a Markdown table with the ratios NumPy reference / fastest plain NumPy and
mirror / torch (forward + backward), and writes it to ``--out``. Torch uses as many
threads as this process may run on, unless ``--threads`` says otherwise.

Usage::

    python scripts/bench_activations.py                    # 1e6 elements, CPU (+ CUDA)
    python scripts/bench_activations.py --size 100000 --repeat 5 --device cpu
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from relu_course import torch_activations as ta

try:  # the NumPy reference; the benchmark still runs the torch columns without it
    from relu_course import activations as npa
except ImportError:  # pragma: no cover - only while the module is being written
    npa = None

try:  # exact GELU needs erf, which NumPy lacks; scipy comes with scikit-learn
    from scipy.special import erf as _scipy_erf
except ImportError:  # pragma: no cover
    _scipy_erf = None

# Rows: one per activation (the alias "swish" is the same function as "silu").
ROWS = [name for name in ta.ACTIVATION_NAMES if name != "swish"] + ["maxout"]
MAXOUT_K = 2


def _plain_numpy(name: str) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Candidate plain NumPy expressions for each forward pass, by their source text."""
    s, a = ta.SELU_SCALE, ta.SELU_ALPHA
    c, k = ta.GELU_TANH_C, ta.GELU_TANH_K
    r = (ta.RRELU_LOWER + ta.RRELU_UPPER) / 2
    candidates: dict[str, dict[str, Callable[[np.ndarray], np.ndarray]]] = {
        "relu": {"np.maximum(x, 0)": lambda x: np.maximum(x, 0)},
        "relu6": {
            "np.clip(x, 0, 6)": lambda x: np.clip(x, 0, 6),
            "np.minimum(np.maximum(x, 0), 6)": lambda x: np.minimum(np.maximum(x, 0), 6),
        },
        "leaky_relu": {
            "np.where(x > 0, x, 0.01 * x)": lambda x: np.where(x > 0, x, 0.01 * x),
            "np.maximum(x, 0.01 * x)": lambda x: np.maximum(x, 0.01 * x),
            "np.maximum(x, 0) + 0.01 * np.minimum(x, 0)": lambda x: (
                np.maximum(x, 0) + 0.01 * np.minimum(x, 0)
            ),
        },
        "prelu": {
            "np.where(x > 0, x, 0.25 * x)": lambda x: np.where(x > 0, x, 0.25 * x),
            "np.maximum(x, 0.25 * x)": lambda x: np.maximum(x, 0.25 * x),
            "np.maximum(x, 0) + 0.25 * np.minimum(x, 0)": lambda x: (
                np.maximum(x, 0) + 0.25 * np.minimum(x, 0)
            ),
        },
        "rrelu": {"np.maximum(x, (11/48) * x)": lambda x: np.maximum(x, r * x)},
        "elu": {
            "np.where(x > 0, x, np.expm1(np.minimum(x, 0)))": lambda x: np.where(
                x > 0, x, np.expm1(np.minimum(x, 0))
            ),
            "np.maximum(x, 0) + np.expm1(np.minimum(x, 0))": lambda x: (
                np.maximum(x, 0) + np.expm1(np.minimum(x, 0))
            ),
        },
        "selu": {
            "s * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))": lambda x: (
                s * np.where(x > 0, x, a * np.expm1(np.minimum(x, 0)))
            )
        },
        "celu": {
            "np.where(x > 0, x, np.expm1(np.minimum(x, 0)))": lambda x: np.where(
                x > 0, x, np.expm1(np.minimum(x, 0))
            )
        },
        "gelu_tanh": {
            "0.5 * x * (1 + np.tanh(c * (x + k * x**3)))": lambda x: (
                0.5 * x * (1 + np.tanh(c * (x + k * x**3)))
            )
        },
        "silu": {"x / (1 + np.exp(-x))": lambda x: x / (1 + np.exp(-x))},
        "mish": {
            "x * np.tanh(np.logaddexp(0, x))": lambda x: x * np.tanh(np.logaddexp(0, x)),
            "x * np.tanh(np.log1p(np.exp(x)))": lambda x: x * np.tanh(np.log1p(np.exp(x))),
        },
        "softplus": {
            "np.logaddexp(0, x)": lambda x: np.logaddexp(0, x),
            "np.log1p(np.exp(x))": lambda x: np.log1p(np.exp(x)),
        },
        "sigmoid": {
            "1 / (1 + np.exp(-x))": lambda x: 1 / (1 + np.exp(-x)),
            "0.5 + 0.5 * np.tanh(0.5 * x)": lambda x: 0.5 + 0.5 * np.tanh(0.5 * x),
        },
        "tanh": {"np.tanh(x)": np.tanh},
        "hardswish": {"x * np.clip(x + 3, 0, 6) / 6": lambda x: x * np.clip(x + 3, 0, 6) / 6},
        "maxout": {
            "x.reshape(-1, 2).max(axis=1)": lambda x: x.reshape(-1, 2).max(axis=1),
            "np.maximum(x[0::2], x[1::2])": lambda x: np.maximum(x[0::2], x[1::2]),
        },
    }
    if _scipy_erf is not None:
        candidates["gelu"] = {
            "0.5 * x * (1 + scipy.special.erf(x / sqrt 2))": lambda x: (
                0.5 * x * (1 + _scipy_erf(x * np.float32(1 / math.sqrt(2))))
            )
        }
    return candidates.get(name, {})


def _numpy_reference(name: str) -> tuple[Callable, Callable] | None:
    """(forward, derivative) from relu_course.activations, or None when it is missing."""
    if npa is None:
        return None
    if name == "maxout":
        return (lambda x: npa.maxout(x, MAXOUT_K)), (lambda x: npa.maxout_grad(x, MAXOUT_K))
    act = npa.get(name)
    return (lambda x: act.fn(x, **act.params)), (lambda x: act.grad(x, **act.params))


def _torch_pair(name: str, device: torch.device) -> tuple[Callable, Callable]:
    """(mirror, torch's own) forward functions on ``device``, in eval mode."""
    if name == "maxout":
        return (
            lambda x: ta.maxout(x, MAXOUT_K),
            lambda x: x.unflatten(-1, (-1, MAXOUT_K)).max(dim=-1).values,
        )
    mirror = ta.get_activation(name).to(device).eval()
    builtin = ta.get_activation(name, builtin=True).to(device).eval()
    return mirror, builtin


def _median_ms(fn: Callable[[], object], repeat: int, sync: Callable[[], None]) -> float:
    """Median wall time of fn() in ms; each sample loops until it lasts >= 2 ms."""
    fn()  # warm-up (allocator, lazy init)
    sync()
    start = time.perf_counter()
    fn()
    sync()
    once = time.perf_counter() - start
    number = max(1, min(100, math.ceil(2e-3 / max(once, 1e-7))))
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        sync()
        samples.append((time.perf_counter() - start) / number)
    return statistics.median(samples) * 1e3


def _forward_backward(f: Callable, x: torch.Tensor) -> Callable[[], None]:
    x = x.detach().clone().requires_grad_(True)
    grad_out = torch.ones_like(f(x))

    def run() -> None:
        f(x).backward(grad_out)
        x.grad = None

    return run


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:  # pragma: no cover - not on every OS
        return "n/a"


def _load_1min() -> float | None:
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover
        return None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def bench_device(
    device: torch.device, size: int, repeat: int, with_numpy: bool
) -> list[dict[str, object]]:
    """Measure every row on ``device``; NumPy columns only when ``with_numpy``."""
    rng = np.random.default_rng(0)
    x_np = rng.standard_normal(size, dtype=np.float32)
    x = torch.from_numpy(x_np.copy()).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    no_sync: Callable[[], None] = lambda: None  # noqa: E731
    rows = []
    for name in ROWS:
        row: dict[str, object] = {"name": name}
        if with_numpy:
            reference = _numpy_reference(name)
            with np.errstate(all="ignore"):
                if reference is not None:
                    fwd, grad = reference
                    row["np_fwd"] = _median_ms(lambda f=fwd: f(x_np), repeat, no_sync)
                    row["np_grad"] = _median_ms(lambda g=grad: g(x_np), repeat, no_sync)
                best = None
                for expr, fn in _plain_numpy(name).items():
                    ms = _median_ms(lambda f=fn: f(x_np), repeat, no_sync)
                    if best is None or ms < best[1]:
                        best = (expr, ms)
                if best is not None:
                    row["plain_expr"], row["plain"] = best
        mirror, builtin = _torch_pair(name, device)
        with torch.no_grad():
            row["mirror_fwd"] = _median_ms(lambda f=mirror: f(x), repeat, sync)
            row["torch_fwd"] = _median_ms(lambda f=builtin: f(x), repeat, sync)
        row["mirror_fb"] = _median_ms(_forward_backward(mirror, x), repeat, sync)
        row["torch_fb"] = _median_ms(_forward_backward(builtin, x), repeat, sync)
        rows.append(row)
        print(f"  {device.type}: {name} done", file=sys.stderr, flush=True)
    return rows


def _ratio(a: object, b: object) -> float | None:
    if isinstance(a, float) and isinstance(b, float) and b > 0:
        return a / b
    return None


def markdown_table(rows: list[dict[str, object]], with_numpy: bool) -> str:
    """The results as a Markdown table (times in ms)."""
    if with_numpy:
        head = [
            "activation",
            "NumPy ref fwd",
            "fastest plain NumPy",
            "ref / plain",
            "NumPy ref grad",
            "mirror fwd",
            "mirror fwd+bwd",
            "torch fwd",
            "torch fwd+bwd",
            "mirror / torch (fwd+bwd)",
            "plain NumPy expression",
        ]
    else:
        head = [
            "activation",
            "mirror fwd",
            "mirror fwd+bwd",
            "torch fwd",
            "torch fwd+bwd",
            "mirror / torch (fwd+bwd)",
        ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        torch_cols = [
            _fmt(r.get("mirror_fwd")),
            _fmt(r.get("mirror_fb")),
            _fmt(r.get("torch_fwd")),
            _fmt(r.get("torch_fb")),
            _fmt(_ratio(r.get("mirror_fb"), r.get("torch_fb")), 2),
        ]
        if with_numpy:
            cells = [
                str(r["name"]),
                _fmt(r.get("np_fwd")),
                _fmt(r.get("plain")),
                _fmt(_ratio(r.get("np_fwd"), r.get("plain")), 2),
                _fmt(r.get("np_grad")),
                *torch_cols,
                f"`{r['plain_expr']}`" if "plain_expr" in r else "n/a",
            ]
        else:
            cells = [str(r["name"]), *torch_cols]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="elements (default 1e6)")
    parser.add_argument("--repeat", type=int, default=7, help="timings per median (default 7)")
    parser.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="auto: CPU, and CUDA too when available (default)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: every CPU this process may use)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench-results/activations.md"))
    args = parser.parse_args(argv)
    if args.size < MAXOUT_K or args.size % MAXOUT_K:
        parser.error(f"--size must be a positive multiple of {MAXOUT_K} (maxout pairs entries)")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch; use --device cpu")

    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = args.threads or available or 1
    torch.set_num_threads(threads)

    devices = []
    if args.device in ("auto", "cpu"):
        devices.append(torch.device("cpu"))
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(torch.device("cuda"))

    load_before = _load()
    started = time.perf_counter()
    sections = []
    for device in devices:
        with_numpy = device.type == "cpu"
        rows = bench_device(device, args.size, args.repeat, with_numpy)
        title = "CPU" if device.type == "cpu" else f"CUDA ({torch.cuda.get_device_name(device)})"
        sections.append(f"### {title}\n\n{markdown_table(rows, with_numpy)}")
    elapsed = time.perf_counter() - started

    header = [
        "## Activation benchmark",
        "",
        f"- input: {args.size:,} float32 elements from N(0, 1); "
        f"median of {args.repeat} timings, in ms",
        f"- machine: {_cpu_model()}, {os.cpu_count()} cores ({available} usable), "
        f"torch threads {torch.get_num_threads()}",
        f"- versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"NumPy {np.__version__}",
        f"- devices: {', '.join(d.type for d in devices)}",
        f"- load average (1/5/15 min): {load_before} before, {_load()} after; "
        f"total {elapsed:.1f} s",
        f"- NumPy reference: {'relu_course.activations' if npa else 'not importable (n/a)'}; "
        "rrelu is timed in eval mode; maxout with k = 2 (torch's own: unflatten + max)",
        "",
    ]
    busy = _load_1min()
    if busy is not None and threads > 1 and busy > available:
        header.insert(
            -1,
            f"- warning: the 1-minute load ({busy:.1f}) exceeds the {available} usable CPUs; "
            "multi-threaded torch timings then measure waiting for a core. "
            "Compare with --threads 1.",
        )
    report = "\n".join(header) + "\n" + "\n\n".join(sections) + "\n"
    print(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
