"""Offline data sets for the course: scikit-learn's bundled digits and small 2-D toys.

Nothing here downloads anything. Every function is deterministic for a given ``seed``:
the same seed gives identical arrays, a different seed gives different ones.

* :func:`load_digits` and :func:`digits_loaders`: the 1,797 8x8 handwritten digits that
  ship inside scikit-learn, split with a fixed stratified split and standardised with
  statistics of the training part only.
* :func:`load_mnist1d` and :func:`mnist1d_loaders`: MNIST-1D (Greydanus 2020), 5,000
  one-dimensional "digits" of length 40, generated offline by the ``mnist1d`` package
  from templates in its code (its ``get_dataset`` would download; it is never called).
  Harder than the digits: there a linear model already reaches about 95 %, here 32 %.
* :func:`make_spirals`, :func:`make_xor`, :func:`make_moons`: 2-D classification sets
  that no linear model can separate, for decision-boundary pictures.
* :func:`as_loaders`: any ``(X, y)`` arrays to a pair of seeded ``DataLoader``.

The 2-D generators return ``X`` as ``float32`` of shape ``(n, 2)`` and ``y`` as
``int64`` of shape ``(n,)``, so ``torch.from_numpy`` gives tensors ready for
``nn.Linear`` and ``nn.CrossEntropyLoss``.
"""

from __future__ import annotations

import os
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split
from torch.utils.data import DataLoader, TensorDataset

__all__ = [
    "DigitsData",
    "as_loaders",
    "digits_loaders",
    "load_digits",
    "load_mnist1d",
    "make_moons",
    "make_spirals",
    "make_xor",
    "mnist1d_loaders",
]


@dataclass(frozen=True)
class DigitsData:
    """The digits split into train and test parts, standardised with train statistics.

    Attributes
    ----------
    X_train, X_test : torch.Tensor
        ``float32``, shape ``(N, 64)``: ``(pixels - mean) / std``.
    y_train, y_test : torch.Tensor
        ``int64``, shape ``(N,)``: the digit, 0 to 9.
    mean, std : torch.Tensor
        ``float32``, shape ``(64,)``: per-pixel statistics of the training images
        (raw pixel scale 0..16). Pixels that are constant in the training part get
        ``std = 1`` so that nothing is divided by zero.
    """

    X_train: torch.Tensor
    X_test: torch.Tensor
    y_train: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def _check_seed(seed: int) -> None:
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}; pass e.g. seed=0")


def _check_split(test_size: float, seed: int) -> None:
    if not 0.0 < test_size < 1.0:
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}; "
            "use e.g. test_size=0.25 for a quarter of the examples"
        )
    _check_seed(seed)


def _check_n(n: int, minimum: int, name: str = "n") -> None:
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {n!r}")


def load_digits(test_size: float = 0.25, seed: int = 0) -> DigitsData:
    """Digits split and standardised: ``x' = (x - mean_train) / std_train``.

    The split is stratified (each digit keeps its share in both parts) and depends only
    on ``seed``. Statistics come from the training part only, so nothing about the test
    images leaks into training.

    Parameters
    ----------
    test_size : float
        Fraction of the 1,797 images held out for testing.
    seed : int
        Seed of the split.

    Returns
    -------
    DigitsData
        Float32 inputs of shape ``(N, 64)``, int64 labels, and the statistics used.

    Examples
    --------
    >>> d = load_digits()
    >>> tuple(d.X_train.shape), tuple(d.X_test.shape), d.X_train.dtype, d.y_train.dtype
    ((1347, 64), (450, 64), torch.float32, torch.int64)
    >>> round(float(d.X_train[:, 10].mean()), 6), round(float(d.X_train[:, 10].std()), 2)
    (0.0, 1.0)
    """
    _check_split(test_size, seed)
    bunch = datasets.load_digits()
    X = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, y, test_size=test_size, random_state=seed, stratify=y
    )
    mean = X_tr.mean(axis=0)
    std = X_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # pixels that never change (the corners)
    return DigitsData(
        X_train=torch.from_numpy(((X_tr - mean) / std).astype(np.float32)),
        X_test=torch.from_numpy(((X_te - mean) / std).astype(np.float32)),
        y_train=torch.from_numpy(y_tr),
        y_test=torch.from_numpy(y_te),
        mean=torch.from_numpy(mean.astype(np.float32)),
        std=torch.from_numpy(std.astype(np.float32)),
    )


def _loaders(
    X_train: torch.Tensor,
    y_train: torch.Tensor,
    X_test: torch.Tensor,
    y_test: torch.Tensor,
    batch_size: int,
    seed: int,
) -> tuple[DataLoader, DataLoader]:
    _check_n(batch_size, 1, "batch_size")
    generator = torch.Generator().manual_seed(seed)
    train = DataLoader(
        TensorDataset(X_train, y_train), batch_size=batch_size, shuffle=True, generator=generator
    )
    test = DataLoader(TensorDataset(X_test, y_test), batch_size=batch_size, shuffle=False)
    return train, test


def digits_loaders(
    batch_size: int = 64, test_size: float = 0.25, seed: int = 0, images: bool = False
) -> tuple[DataLoader, DataLoader]:
    """Train and test ``DataLoader`` over :func:`load_digits`.

    The training loader reshuffles every epoch from a ``torch.Generator`` seeded with
    ``seed``, so two runs that build their loaders the same way see the same batches.
    The test loader keeps a fixed order.

    Parameters
    ----------
    batch_size : int
        Examples per batch.
    test_size, seed : float, int
        As in :func:`load_digits`.
    images : bool
        ``False``: inputs of shape ``(B, 64)`` for an MLP. ``True``: ``(B, 1, 8, 8)``
        for a convolutional network.

    Returns
    -------
    tuple of DataLoader
        ``(train_loader, test_loader)`` yielding ``(inputs, labels)``.

    Examples
    --------
    >>> train, test = digits_loaders(batch_size=32, images=True)
    >>> xb, yb = next(iter(train))
    >>> tuple(xb.shape), tuple(yb.shape), len(test.dataset)
    ((32, 1, 8, 8), (32,), 450)
    """
    d = load_digits(test_size=test_size, seed=seed)
    X_train, X_test = d.X_train, d.X_test
    if images:
        X_train, X_test = X_train.reshape(-1, 1, 8, 8), X_test.reshape(-1, 1, 8, 8)
    return _loaders(X_train, d.y_train, X_test, d.y_test, batch_size, seed)


CACHE_ENV = "RELU_COURSE_CACHE"


def _cache_dir() -> Path:
    """``$RELU_COURSE_CACHE``, else ``$XDG_CACHE_HOME/relu_course`` or ``~/.cache/relu_course``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "relu_course"


def _generate_mnist1d(seed: int) -> dict[str, np.ndarray]:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "load_mnist1d needs the mnist1d package; install it with `pip install mnist1d`"
        ) from err
    args = get_dataset_args()
    args.seed = int(seed)
    # make_dataset seeds NumPy's global generator: put the caller's state back afterwards
    state = np.random.get_state()  # noqa: NPY002
    try:
        raw = make_dataset(args)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return {"x": raw["x"], "x_test": raw["x_test"], "y": raw["y"], "y_test": raw["y_test"]}


@lru_cache(maxsize=4)
def _mnist1d_arrays(seed: int) -> tuple[np.ndarray, ...]:
    """MNIST-1D as read-only arrays: from memory, else from the disk cache, else generated.

    Generating takes a few seconds, so the arrays are also kept in an ``.npz`` file in
    :func:`_cache_dir` (written atomically; an unreadable file is regenerated, and a
    cache folder that cannot be written is skipped).
    """
    path = _cache_dir() / f"mnist1d-seed{seed}.npz"
    raw = None
    if path.is_file():
        try:
            with np.load(path) as stored:
                raw = {key: stored[key] for key in ("x", "x_test", "y", "y_test")}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            raw = None
    if raw is None:
        raw = _generate_mnist1d(seed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".npz", delete=False) as f:
                np.savez(f, **raw)
            os.replace(f.name, path)
        except OSError:
            pass  # no writable cache: generate again next time
    arrays = (
        np.asarray(raw["x"], dtype=np.float32),
        np.asarray(raw["x_test"], dtype=np.float32),
        np.asarray(raw["y"], dtype=np.int64),
        np.asarray(raw["y_test"], dtype=np.int64),
    )
    for a in arrays:
        a.setflags(write=False)
    return arrays


def load_mnist1d(seed: int = 42) -> DigitsData:
    """MNIST-1D: 4,000 training and 1,000 test sequences of length 40, 10 classes.

    Each example is one of ten 12-point templates, padded, translated, scaled, sheared
    and given correlated and independent noise, then resampled to 40 points
    (Greydanus 2020). ``mnist1d.data.make_dataset`` generates it on this machine, so
    nothing is downloaded; ``seed=42`` is the published data set. The generator already
    standardises the whole set (mean 0, standard deviation 1), so ``mean`` is 0 and
    ``std`` is 1 for every position. Generating takes a few seconds, so the result is
    cached in memory and on disk (``$RELU_COURSE_CACHE``, default
    ``~/.cache/relu_course``); every call returns fresh tensors.

    Parameters
    ----------
    seed : int
        Seed of the generator (42 gives the data of the paper).

    Returns
    -------
    DigitsData
        The same container as :func:`load_digits`: float32 inputs of shape ``(N, 40)``,
        int64 labels 0..9, and ``mean``, ``std`` of shape ``(40,)``.

    Examples
    --------
    >>> d = load_mnist1d()
    >>> tuple(d.X_train.shape), tuple(d.X_test.shape), d.X_train.dtype, d.y_train.dtype
    ((4000, 40), (1000, 40), torch.float32, torch.int64)
    >>> torch.bincount(torch.cat([d.y_train, d.y_test])).tolist()
    [500, 500, 500, 500, 500, 500, 500, 500, 500, 500]
    """
    _check_seed(seed)
    X_tr, X_te, y_tr, y_te = _mnist1d_arrays(int(seed))
    n_features = X_tr.shape[1]
    return DigitsData(
        X_train=torch.tensor(X_tr),
        X_test=torch.tensor(X_te),
        y_train=torch.tensor(y_tr),
        y_test=torch.tensor(y_te),
        mean=torch.zeros(n_features),
        std=torch.ones(n_features),
    )


def mnist1d_loaders(
    batch_size: int = 100, seed: int = 42, channels: bool = False
) -> tuple[DataLoader, DataLoader]:
    """Train and test ``DataLoader`` over :func:`load_mnist1d`.

    As :func:`digits_loaders`: the training loader reshuffles every epoch from a
    generator seeded with ``seed``; the test loader keeps a fixed order.

    Parameters
    ----------
    batch_size : int
        Examples per batch (the paper uses 100).
    seed : int
        Seed of the data set and of the shuffling.
    channels : bool
        ``False``: inputs of shape ``(B, 40)`` for an MLP. ``True``: ``(B, 1, 40)`` for
        a one-dimensional convolutional network.

    Returns
    -------
    tuple of DataLoader
        ``(train_loader, test_loader)`` yielding ``(inputs, labels)``.

    Examples
    --------
    >>> train, test = mnist1d_loaders(batch_size=50, channels=True)
    >>> xb, yb = next(iter(train))
    >>> tuple(xb.shape), tuple(yb.shape), len(train.dataset), len(test.dataset)
    ((50, 1, 40), (50,), 4000, 1000)
    """
    d = load_mnist1d(seed=seed)
    X_train, X_test = d.X_train, d.X_test
    if channels:
        X_train, X_test = X_train.unsqueeze(1), X_test.unsqueeze(1)
    return _loaders(X_train, d.y_train, X_test, d.y_test, batch_size, seed)


def _class_sizes(n: int, classes: int) -> list[int]:
    """Split ``n`` points over ``classes`` as evenly as possible (first ones get extra)."""
    return [n // classes + (1 if k < n % classes else 0) for k in range(classes)]


def _finish(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Shuffle the rows and fix the dtypes (float32 inputs, int64 labels)."""
    order = rng.permutation(len(y))
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_spirals(
    n: int = 600, classes: int = 2, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms: ``x = r (cos t, sin t)``, ``t = 3 pi r + 2 pi k / K + noise e``.

    Arm ``k`` of ``K = classes`` arms has radii ``r`` evenly spaced in ``[0.05, 1]`` and an
    angle jittered by ``noise * e`` with ``e ~ N(0, 1)`` (radians). Each arm turns 1.5
    times around the origin, so no straight line (and no single ReLU kink) separates them.

    Parameters
    ----------
    n : int
        Total number of points, split as evenly as possible over the arms.
    classes : int
        Number of arms (labels ``0 .. classes - 1``), at least 2.
    noise : float
        Standard deviation of the angle jitter in radians; 0 gives clean curves.
    seed : int
        Seed of the jitter and of the row order.

    Returns
    -------
    X : np.ndarray
        ``float32``, shape ``(n, 2)``, inside roughly ``[-1, 1]^2``.
    y : np.ndarray
        ``int64``, shape ``(n,)``.

    Examples
    --------
    >>> X, y = make_spirals(n=300, classes=3)
    >>> X.shape, X.dtype, y.dtype, np.bincount(y).tolist()
    ((300, 2), dtype('float32'), dtype('int64'), [100, 100, 100])
    """
    _check_n(n, 1)
    _check_n(classes, 2, "classes")
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    Xs, ys = [], []
    for k, m in enumerate(_class_sizes(n, classes)):
        r = np.linspace(0.05, 1.0, m)
        t = 3 * np.pi * r + 2 * np.pi * k / classes + noise * rng.standard_normal(m)
        Xs.append(np.stack([r * np.cos(t), r * np.sin(t)], axis=1))
        ys.append(np.full(m, k))
    return _finish(np.concatenate(Xs), np.concatenate(ys), rng)


def make_xor(n: int = 400, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """XOR of the signs: ``y = [x1 > 0] xor [x2 > 0]`` for ``x ~ U([-1, 1]^2)``.

    Labels are computed on the clean points; then every coordinate gets ``noise * e``
    with ``e ~ N(0, 1)``, so points near the axes may cross them (label noise near the
    boundary, as in real data). Class 1 holds the second and fourth quadrants.

    Parameters
    ----------
    n : int
        Number of points.
    noise : float
        Standard deviation of the Gaussian jitter added after labelling.
    seed : int
        Seed of the points and the jitter.

    Returns
    -------
    X : np.ndarray
        ``float32``, shape ``(n, 2)``.
    y : np.ndarray
        ``int64``, shape ``(n,)``, values 0 and 1.

    Examples
    --------
    >>> X, y = make_xor(n=8, noise=0.0)
    >>> bool(np.all(y == ((X[:, 0] > 0) != (X[:, 1] > 0))))
    True
    """
    _check_n(n, 1)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, size=(n, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    X = X + noise * rng.standard_normal((n, 2))
    return _finish(X, y, rng)


def make_moons(n: int = 400, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaved half circles, from ``sklearn.datasets.make_moons``.

    Upper moon: ``(cos t, sin t)``; lower moon: ``(1 - cos t, 1/2 - sin t)``, for
    ``t`` evenly spaced in ``[0, pi]``, plus ``noise * e`` with ``e ~ N(0, 1)``.

    Parameters
    ----------
    n : int
        Total number of points (label 1 gets the extra one when ``n`` is odd).
    noise : float
        Standard deviation of the Gaussian jitter.
    seed : int
        Seed of the jitter and the row order.

    Returns
    -------
    X : np.ndarray
        ``float32``, shape ``(n, 2)``.
    y : np.ndarray
        ``int64``, shape ``(n,)``, values 0 and 1.

    Examples
    --------
    >>> X, y = make_moons(n=100)
    >>> X.shape, X.dtype, np.bincount(y).tolist()
    ((100, 2), dtype('float32'), [50, 50])
    """
    _check_n(n, 2)
    if noise < 0:
        raise ValueError(f"noise must be >= 0, got {noise!r}")
    X, y = datasets.make_moons(n_samples=n, noise=noise, shuffle=True, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def as_loaders(
    X: np.ndarray | torch.Tensor,
    y: np.ndarray | torch.Tensor,
    batch_size: int = 64,
    test_size: float = 0.25,
    seed: int = 0,
) -> tuple[DataLoader, DataLoader]:
    """Stratified train/test split of ``(X, y)`` into two seeded ``DataLoader``.

    Inputs become ``float32`` tensors and labels ``int64``; nothing is standardised
    (the 2-D sets above are already on a unit scale). The training loader reshuffles
    each epoch from a generator seeded with ``seed``.

    Parameters
    ----------
    X : np.ndarray or torch.Tensor
        Inputs, shape ``(n, ...)``.
    y : np.ndarray or torch.Tensor
        Integer class labels, shape ``(n,)``.
    batch_size, test_size, seed : int, float, int
        As in :func:`digits_loaders`.

    Returns
    -------
    tuple of DataLoader
        ``(train_loader, test_loader)``.

    Examples
    --------
    >>> train, test = as_loaders(*make_moons(n=200), batch_size=50)
    >>> len(train.dataset), len(test.dataset), len(train)
    (150, 50, 3)
    """
    _check_split(test_size, seed)
    X_np = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    y_np = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if len(X_np) != len(y_np):
        raise ValueError(
            f"X and y must have the same number of rows, got {len(X_np)} and {len(y_np)}"
        )
    if not np.issubdtype(y_np.dtype, np.integer):
        raise TypeError(
            f"y must hold integer class labels, got dtype {y_np.dtype}; "
            "convert with y.astype(np.int64)"
        )
    X_tr, X_te, y_tr, y_te = train_test_split(
        X_np, y_np, test_size=test_size, random_state=seed, stratify=y_np
    )
    return _loaders(
        torch.from_numpy(np.ascontiguousarray(X_tr, dtype=np.float32)),
        torch.from_numpy(y_tr.astype(np.int64)),
        torch.from_numpy(np.ascontiguousarray(X_te, dtype=np.float32)),
        torch.from_numpy(y_te.astype(np.int64)),
        batch_size,
        seed,
    )
