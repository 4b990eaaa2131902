"""Device choice, seeding, a small MLP builder and a short, readable training loop.

* :func:`get_device`: explicit argument > ``RELU_COURSE_DEVICE`` > CUDA > MPS > CPU.
* :func:`seed_everything`: seeds Python, NumPy and torch in one call.
* :func:`make_mlp`: ``Linear -> activation -> ... -> Linear`` with a chosen initialisation.
* :func:`train` / :func:`evaluate`: cross-entropy training with Adam or SGD, recorded in
  a :class:`History`.

The progress bar (``tqdm.auto``) is off when ``progress=False``, when the environment sets
``RELU_COURSE_PROGRESS=0``, or inside nbgrader (``NBGRADER_EXECUTION`` is set), because
nbgrader scores a test cell 0 when anything is written to stderr. Without ipywidgets (a
plain ``pip install relu-course``) a notebook gets tqdm's text bar on stdout instead of
the widget, and no ``TqdmWarning`` on stderr.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

__all__ = [
    "History",
    "evaluate",
    "get_device",
    "make_mlp",
    "model_device",
    "seed_everything",
    "train",
]

DEVICE_ENV = "RELU_COURSE_DEVICE"
PROGRESS_ENV = "RELU_COURSE_PROGRESS"


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _checked_device(device: str | torch.device, source: str) -> torch.device:
    """Parse ``device`` and make sure this machine has it."""
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"{source} {device!r} is not a device torch knows; use 'cpu', 'cuda', 'cuda:0' or 'mps'"
        ) from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            f"{source} asks for {str(dev)!r} but torch sees no CUDA GPU here "
            f"(torch {torch.__version__}); use 'cpu', or in Colab pick a GPU runtime "
            "(Runtime > Change runtime type)"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise RuntimeError(
            f"{source} asks for {str(dev)!r} but only {torch.cuda.device_count()} CUDA "
            "device(s) exist; use 'cuda' or 'cuda:0'"
        )
    if dev.type == "mps" and not _mps_available():
        raise RuntimeError(f"{source} asks for 'mps' but MPS is not available; use 'cpu'")
    return dev


def get_device(device: str | torch.device | None = None) -> torch.device:
    """Pick the device: ``device`` if given, else ``$RELU_COURSE_DEVICE``, else the best found.

    Order of precedence: the explicit argument, then the environment variable
    ``RELU_COURSE_DEVICE`` (ignored when empty), then CUDA, then Apple's MPS, then CPU.

    Parameters
    ----------
    device : str, torch.device or None
        ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a ``torch.device``.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        If the string (argument or environment) is not a device name.
    RuntimeError
        If the requested device does not exist on this machine.

    Examples
    --------
    >>> get_device("cpu")
    device(type='cpu')
    """
    if device is not None:
        return _checked_device(device, "device")
    env = os.environ.get(DEVICE_ENV, "").strip()
    if env:
        return _checked_device(env, f"environment variable {DEVICE_ENV}=")
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int = 0, deterministic: bool = True) -> torch.Generator:
    """Seed ``random``, ``numpy.random`` and ``torch`` (CPU and every GPU) with ``seed``.

    With ``deterministic=True`` torch is also asked for deterministic algorithms
    (``torch.use_deterministic_algorithms(True, warn_only=True)``: an operation without a
    deterministic version warns instead of failing) and cuDNN autotuning is switched off.
    ``deterministic=False`` turns the deterministic request off again.

    Parameters
    ----------
    seed : int
        The seed.
    deterministic : bool
        Whether to ask torch for reproducible kernels as well.

    Returns
    -------
    torch.Generator
        A fresh CPU generator seeded with ``seed``, for a ``DataLoader`` or ``torch.randn``.

    Examples
    --------
    >>> g = seed_everything(3)
    >>> a = torch.rand(2, generator=g)
    >>> bool(torch.equal(a, torch.rand(2, generator=seed_everything(3))))
    True
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}; pass e.g. seed=0")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 -- students' code uses the global RNG
    torch.manual_seed(seed)
    if deterministic:
        # Needed by cuBLAS for deterministic matmuls; read when CUDA starts.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if (
        torch.are_deterministic_algorithms_enabled() != deterministic
        or not torch.is_deterministic_algorithms_warn_only_enabled()
    ):
        # The first call imports torch._inductor (about 2 s); skip it when nothing changes.
        torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.deterministic = deterministic
    if deterministic:
        torch.backends.cudnn.benchmark = False
    return torch.Generator().manual_seed(seed)


# Used when relu_course.torch_activations is not importable: torch's own modules by name.
_TORCH_MODULES: dict[str, Callable[..., nn.Module]] = {
    "relu": nn.ReLU,
    "relu6": nn.ReLU6,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "rrelu": nn.RReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "celu": nn.CELU,
    "gelu": nn.GELU,
    "gelu_tanh": lambda **kw: nn.GELU(approximate="tanh", **kw),
    "silu": nn.SiLU,
    "swish": nn.SiLU,
    "mish": nn.Mish,
    "softplus": nn.Softplus,
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "hardswish": nn.Hardswish,
}

ActivationSpec = str | nn.Module | Callable[..., nn.Module]


def _activation_factory(activation: ActivationSpec, act_kw: dict) -> Callable[[], nn.Module]:
    """Return a function that builds one fresh activation module per call."""
    if isinstance(activation, str):
        name = activation.lower()
        try:
            from relu_course.torch_activations import get_activation
        except ImportError:
            get_activation = None
        if get_activation is not None:
            return lambda: get_activation(name, builtin=True, **act_kw)
        if name not in _TORCH_MODULES:
            raise ValueError(
                f"unknown activation {activation!r}; choose one of {sorted(_TORCH_MODULES)} "
                "or pass an nn.Module class such as nn.ReLU"
            )
        return lambda: _TORCH_MODULES[name](**act_kw)
    if isinstance(activation, nn.Module):
        # One copy per layer, so layers never share (PReLU) parameters or hooks.
        return lambda: copy.deepcopy(activation)
    if callable(activation):
        return lambda: activation(**act_kw)
    raise TypeError(
        "activation must be a name such as 'relu', an nn.Module class such as nn.ReLU, "
        f"or a function returning an nn.Module; got {type(activation).__name__}"
    )


def _init_linear(layer: nn.Linear, init: str, bias: float | None) -> None:
    if init == "he":
        nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
    elif init == "xavier":
        nn.init.xavier_normal_(layer.weight)
    if bias is not None and layer.bias is not None:
        nn.init.constant_(layer.bias, bias)


def make_mlp(
    in_features: int,
    hidden: Sequence[int],
    out_features: int,
    activation: ActivationSpec = "relu",
    init: str = "he",
    bias: float | None = 0.0,
    **act_kw: object,
) -> nn.Sequential:
    """``Linear(in, h1) -> act -> ... -> Linear(h_last, out)``, initialised as asked.

    Weight initialisation of every ``Linear`` (the output layer too):

    * ``"he"``: ``W ~ N(0, 2 / fan_in)`` (Kaiming normal, fan-in mode, ReLU gain
      ``sqrt 2``), which keeps ``E[h^2]`` constant through a ReLU stack;
    * ``"xavier"``: ``W ~ N(0, 2 / (fan_in + fan_out))`` (Glorot normal, gain 1);
    * ``"default"``: ``nn.Linear``'s own ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``.

    Every bias is then set to the constant ``bias``; ``bias=None`` keeps the bias
    ``nn.Linear`` drew (use it with ``init="default"`` for PyTorch's stock layer).

    Parameters
    ----------
    in_features, out_features : int
        Input size and number of outputs (classes).
    hidden : sequence of int
        Widths of the hidden layers; empty gives a single linear layer.
    activation : str, nn.Module class, callable or nn.Module
        A name (``"relu"``, ``"leaky_relu"``, ``"elu"``, ...), built by
        ``relu_course.torch_activations.get_activation(name, builtin=True, **act_kw)``
        when that module exists and by ``torch.nn`` otherwise; or a factory such as
        ``nn.ReLU`` or ``lambda: nn.LeakyReLU(0.1)``, called once per layer with
        ``**act_kw``; or a module instance, copied once per layer.
    init : {"he", "xavier", "default"}
        Weight initialisation, see above.
    bias : float or None
        Constant for every bias, or None to keep ``nn.Linear``'s.
    **act_kw
        Keyword arguments of the activation, e.g. ``negative_slope=0.1``.

    Returns
    -------
    nn.Sequential

    Examples
    --------
    >>> net = make_mlp(64, [32, 16], 10, activation="leaky_relu", negative_slope=0.1)
    >>> [type(m).__name__ for m in net]
    ['Linear', 'LeakyReLU', 'Linear', 'LeakyReLU', 'Linear']
    >>> int(torch.count_nonzero(net[0].bias))
    0
    """
    if init not in ("he", "xavier", "default"):
        raise ValueError(f"init must be 'he', 'xavier' or 'default', got {init!r}")
    widths = [in_features, *hidden, out_features]
    if any(not isinstance(w, int) or isinstance(w, bool) or w < 1 for w in widths):
        raise ValueError(f"layer widths must be positive ints, got {widths}")
    new_activation = _activation_factory(activation, dict(act_kw))
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        linear = nn.Linear(fan_in, fan_out)
        _init_linear(linear, init, bias)
        layers.append(linear)
        if i < len(widths) - 2:
            layers.append(new_activation())
    return nn.Sequential(*layers)


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch.

    Attributes
    ----------
    epoch : list of int
        1, 2, ...
    train_loss, train_acc : list of float
        Mean cross-entropy and accuracy over the epoch's batches, measured while the
        weights were changing (the usual running figures).
    test_loss, test_acc : list of float
        :func:`evaluate` on the test loader after the epoch; empty without a test loader.
    seconds : list of float
        Wall-clock seconds of each epoch, evaluation included.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Wall-clock seconds of the whole run."""
        return float(sum(self.seconds))


def _show_progress(progress: bool | None) -> bool:
    if progress is not None:
        return bool(progress)
    if os.environ.get("NBGRADER_EXECUTION"):
        return False
    return os.environ.get(PROGRESS_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def _progress_bar(iterable: Sequence[int], *, disable: bool, **kwargs: object):
    """tqdm's notebook widget when ipywidgets is installed, else its text bar, silently.

    ``tqdm.auto`` warns on stderr ("IProgress not found") in a kernel without ipywidgets;
    there the text bar goes to stdout, so that a notebook shows it without a red box.
    """
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm

        if "ipykernel" in sys.modules:
            kwargs["file"] = sys.stdout
    return tqdm(iterable, disable=disable, **kwargs)


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s first parameter or buffer; the CPU when it has none.

    Examples
    --------
    >>> model_device(nn.ReLU())
    device(type='cpu')
    """
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _make_optimizer(
    model: nn.Module, optimizer: str | torch.optim.Optimizer, lr: float, momentum: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    if optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    raise ValueError(
        f"optimizer must be 'adam', 'sgd' or a torch.optim.Optimizer, got {optimizer!r}"
    )


def evaluate(
    model: nn.Module, loader: DataLoader, device: str | torch.device | None = None
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``model`` over every example in ``loader``.

    ``loss = -(1/N) sum_i log softmax(model(x_i))[y_i]``, ``acc = (1/N) #{argmax = y_i}``.
    Runs in eval mode without gradients and restores each module's mode afterwards.

    Parameters
    ----------
    model : nn.Module
        Maps a batch of inputs to class scores (logits).
    loader : DataLoader
        Yields ``(inputs, labels)``.
    device : str, torch.device or None
        Where to compute; None uses the device the model's parameters are on.

    Returns
    -------
    tuple of float
        ``(loss, accuracy)``, accuracy in ``[0, 1]``.

    Examples
    --------
    >>> from torch.utils.data import TensorDataset
    >>> net = nn.Linear(2, 2)
    >>> with torch.no_grad():
    ...     _ = net.weight.copy_(torch.eye(2)), net.bias.zero_()
    >>> loader = DataLoader(TensorDataset(torch.tensor([[2.0, 0.0], [0.0, 1.0]]),
    ...                                   torch.tensor([0, 0])))
    >>> loss, acc = evaluate(net, loader)
    >>> round(loss, 4), acc
    (0.7201, 0.5)
    """
    dev = model_device(model) if device is None else get_device(device)
    model.to(dev)
    modes = {m: m.training for m in model.modules()}
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    try:
        with torch.no_grad():
            for xb, yb in loader:
                xb, yb = xb.to(dev), yb.to(dev)
                logits = model(xb)
                total_loss += nn.functional.cross_entropy(logits, yb, reduction="sum").item()
                correct += (logits.argmax(dim=1) == yb).sum().item()
                count += len(yb)
    finally:
        for module, mode in modes.items():
            module.train(mode)
    if count == 0:
        raise ValueError("the loader yielded no examples; check its dataset and batch_size")
    return total_loss / count, correct / count


def train(
    model: nn.Module,
    train_loader: DataLoader,
    test_loader: DataLoader | None = None,
    *,
    epochs: int = 10,
    lr: float = 1e-3,
    optimizer: str | torch.optim.Optimizer = "adam",
    momentum: float = 0.9,
    device: str | torch.device | None = None,
    progress: bool | None = None,
) -> History:
    """Minimise the cross-entropy ``-(1/B) sum log softmax(model(x))[y]`` batch by batch.

    Each epoch: one pass over ``train_loader`` with ``loss.backward(); opt.step()``, then
    :func:`evaluate` on ``test_loader`` if given. The model is moved to ``device`` and
    stays there.

    Parameters
    ----------
    model : nn.Module
        Maps inputs to class scores (logits).
    train_loader, test_loader : DataLoader
        Yield ``(inputs, labels)``; the test loader is optional.
    epochs : int
        Passes over the training data.
    lr : float
        Learning rate of the optimizer built from a name.
    optimizer : {"adam", "sgd"} or torch.optim.Optimizer
        A name (``"sgd"`` uses ``momentum``), or a ready optimizer over ``model``'s
        parameters (then ``lr`` and ``momentum`` are not used).
    momentum : float
        Momentum of ``"sgd"``.
    device : str, torch.device or None
        Passed to :func:`get_device` (None: environment, then the best available).
    progress : bool or None
        Show a ``tqdm`` bar over epochs with loss and accuracy. None: yes, unless
        ``RELU_COURSE_PROGRESS=0`` or ``NBGRADER_EXECUTION`` is set.

    Returns
    -------
    History
        Per-epoch losses, accuracies and seconds.

    Examples
    --------
    >>> from relu_course.data import as_loaders, make_xor
    >>> _ = seed_everything(0)
    >>> tr, te = as_loaders(*make_xor(n=200), batch_size=32)
    >>> hist = train(make_mlp(2, [16], 2), tr, te, epochs=3, lr=0.01, device="cpu",
    ...              progress=False)
    >>> hist.epoch, len(hist.test_acc)
    ([1, 2, 3], 3)
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    dev = get_device(device)
    model.to(dev)
    opt = _make_optimizer(model, optimizer, lr, momentum)
    history = History()
    bar = _progress_bar(
        range(1, epochs + 1), desc="train", unit="epoch", disable=not _show_progress(progress)
    )
    for epoch in bar:
        start = time.perf_counter()
        model.train()
        total_loss, correct, count = 0.0, 0, 0
        for xb, yb in train_loader:
            xb, yb = xb.to(dev), yb.to(dev)
            logits = model(xb)
            loss = nn.functional.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total_loss += loss.item() * len(yb)
            correct += (logits.argmax(dim=1) == yb).sum().item()
            count += len(yb)
        if count == 0:
            raise ValueError("train_loader yielded no examples; check its dataset")
        history.epoch.append(epoch)
        history.train_loss.append(total_loss / count)
        history.train_acc.append(correct / count)
        stats = {"loss": f"{total_loss / count:.4f}", "acc": f"{correct / count:.3f}"}
        if test_loader is not None:
            test_loss, test_acc = evaluate(model, test_loader, dev)
            history.test_loss.append(test_loss)
            history.test_acc.append(test_acc)
            stats.update(test_loss=f"{test_loss:.4f}", test_acc=f"{test_acc:.3f}")
        history.seconds.append(time.perf_counter() - start)
        bar.set_postfix(stats)
    bar.close()
    return history
