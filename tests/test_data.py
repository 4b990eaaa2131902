"""Tests of relu_course.data: shapes, dtypes, standardisation, determinism, no leakage."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from relu_course import data

GENERATORS = [data.make_spirals, data.make_xor, data.make_moons]


def test_digits_shapes_dtypes_and_stratified_split() -> None:
    d = data.load_digits(test_size=0.25, seed=0)
    assert d.X_train.shape == (1347, 64) and d.X_test.shape == (450, 64)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.mean.shape == d.std.shape == (64,)
    # stratified: each digit's share in the test part is within one example of 25 %
    train_counts = torch.bincount(d.y_train, minlength=10)
    test_counts = torch.bincount(d.y_test, minlength=10)
    totals = train_counts + test_counts
    assert torch.all((test_counts - 0.25 * totals).abs() <= 1), (test_counts, totals)


def test_digits_standardised_with_train_statistics_only() -> None:
    d = data.load_digits(seed=0)
    mean = d.X_train.mean(dim=0)
    std = d.X_train.std(dim=0, unbiased=False)
    varying = d.std != 1.0
    assert torch.allclose(mean, torch.zeros(64), atol=1e-5)
    assert torch.allclose(std[varying], torch.ones(int(varying.sum())), atol=1e-4)
    # the test part is NOT re-standardised: its mean differs from 0 somewhere
    assert d.X_test.mean(dim=0).abs().max() > 1e-3
    # undoing the scaling gives back raw pixels 0..16 (integers)
    raw = d.X_test * d.std + d.mean
    assert torch.allclose(raw, raw.round(), atol=1e-4)
    assert float(raw.min()) >= -1e-4 and float(raw.max()) <= 16 + 1e-4


def test_digits_constant_pixels_do_not_divide_by_zero() -> None:
    d = data.load_digits(seed=0)
    constant = d.std == 1.0
    assert constant.any(), "the digits have always-blank corner pixels"
    assert torch.isfinite(d.X_train).all() and torch.isfinite(d.X_test).all()
    assert torch.all(d.X_train[:, constant] == 0)


def test_digits_deterministic_and_seed_dependent() -> None:
    a, b, c = data.load_digits(seed=0), data.load_digits(seed=0), data.load_digits(seed=1)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.y_train, c.y_train)


@pytest.mark.parametrize("images", [False, True])
def test_digits_loaders_shapes(images: bool) -> None:
    train, test = data.digits_loaders(batch_size=50, images=images)
    xb, yb = next(iter(train))
    assert xb.shape == ((50, 1, 8, 8) if images else (50, 64))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert len(train.dataset) == 1347 and len(test.dataset) == 450


def test_digits_loaders_shuffle_reproducibly() -> None:
    def first_batches(seed: int) -> list[torch.Tensor]:
        train, _ = data.digits_loaders(batch_size=64, seed=seed)
        # two epochs: the order must change between epochs but repeat across runs
        return [next(iter(train))[1] for _ in range(2)]

    run1, run2 = first_batches(0), first_batches(0)
    assert all(torch.equal(x, y) for x, y in zip(run1, run2, strict=True))
    assert not torch.equal(run1[0], run1[1]), "a new epoch should reshuffle"
    _, test = data.digits_loaders(seed=0)
    assert torch.equal(next(iter(test))[1], next(iter(test))[1]), "test order is fixed"


@pytest.mark.parametrize("make", GENERATORS)
def test_toy_sets_deterministic_and_seed_dependent(make) -> None:
    X1, y1 = make(seed=3)
    X2, y2 = make(seed=3)
    X3, _ = make(seed=4)
    assert np.array_equal(X1, X2) and np.array_equal(y1, y2)
    assert not np.array_equal(X1, X3)
    assert X1.dtype == np.float32 and y1.dtype == np.int64
    assert X1.shape == (len(y1), 2) and np.isfinite(X1).all()


@pytest.mark.parametrize("classes", [2, 3, 5])
def test_spirals_balanced_classes(classes: int) -> None:
    X, y = data.make_spirals(n=301, classes=classes, seed=0)
    counts = np.bincount(y)
    assert len(counts) == classes and counts.sum() == 301
    assert counts.max() - counts.min() <= 1
    assert np.abs(X).max() <= 1.0 + 1e-6  # noise moves the angle, not the radius


def test_spirals_are_spirals() -> None:
    """Without noise each arm's angle grows with its radius: t = 3 pi r + offset."""
    X, y = data.make_spirals(n=200, classes=2, noise=0.0, seed=0)
    for k in range(2):
        arm = X[y == k].astype(np.float64)
        r = np.hypot(arm[:, 0], arm[:, 1])
        order = np.argsort(r)
        t = np.unwrap(np.arctan2(arm[order, 1], arm[order, 0]))
        slope = np.polyfit(r[order], t, 1)[0]
        assert abs(slope - 3 * np.pi) < 1e-3, slope


def test_xor_labels_follow_quadrants_without_noise() -> None:
    X, y = data.make_xor(n=500, noise=0.0, seed=0)
    assert np.array_equal(y, ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64))
    assert 0.4 < y.mean() < 0.6
    # no linear rule does much better than chance: the best of the axis rules is ~50 %
    for rule in (X[:, 0] > 0, X[:, 1] > 0, X.sum(1) > 0):
        assert abs((rule == y).mean() - 0.5) < 0.1


def test_moons_match_scikit_learn() -> None:
    from sklearn.datasets import make_moons

    X, y = data.make_moons(n=120, noise=0.05, seed=7)
    X_ref, y_ref = make_moons(n_samples=120, noise=0.05, random_state=7)
    assert np.allclose(X, X_ref, atol=1e-6) and np.array_equal(y, y_ref)


def test_as_loaders_split_and_types() -> None:
    X, y = data.make_spirals(n=400, classes=4, seed=0)
    train, test = data.as_loaders(X, y, batch_size=32, test_size=0.25, seed=0)
    assert len(train.dataset) == 300 and len(test.dataset) == 100
    xb, yb = next(iter(train))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64 and xb.shape == (32, 2)
    assert torch.bincount(test.dataset.tensors[1]).tolist() == [25, 25, 25, 25]
    # torch tensors are accepted too and give the same split
    train_t, _ = data.as_loaders(torch.from_numpy(X), torch.from_numpy(y), seed=0)
    assert torch.equal(train_t.dataset.tensors[0], train.dataset.tensors[0])


def test_errors_say_what_to_do() -> None:
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        data.load_digits(test_size=1.5)
    with pytest.raises(ValueError, match="classes must be an int >= 2"):
        data.make_spirals(classes=1)
    with pytest.raises(TypeError, match="astype"):
        data.as_loaders(np.zeros((10, 2)), np.linspace(0, 1, 10))
    with pytest.raises(ValueError, match="same number of rows"):
        data.as_loaders(np.zeros((10, 2)), np.zeros(9, dtype=np.int64))


# ----------------------------------------------------------------------------- MNIST-1D


@pytest.fixture(autouse=True, scope="module")
def _mnist1d_cache_in_tmp(tmp_path_factory):
    """Keep the tests' MNIST-1D disk cache out of the user's home folder."""
    old = os.environ.get("RELU_COURSE_CACHE")
    os.environ["RELU_COURSE_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        del os.environ["RELU_COURSE_CACHE"]
    else:
        os.environ["RELU_COURSE_CACHE"] = old


def test_mnist1d_shapes_dtypes_and_balanced_classes() -> None:
    d = data.load_mnist1d()
    assert d.X_train.shape == (4000, 40) and d.X_test.shape == (1000, 40)
    assert d.X_train.dtype == torch.float32 and d.y_train.dtype == torch.int64
    assert d.mean.shape == d.std.shape == (40,)
    counts = torch.bincount(torch.cat([d.y_train, d.y_test]), minlength=10)
    assert counts.tolist() == [500] * 10, counts
    # the generator standardises the whole set: mean 0, standard deviation 1 overall
    everything = torch.cat([d.X_train, d.X_test]).double()
    assert abs(float(everything.mean())) < 1e-5 and abs(float(everything.std()) - 1) < 1e-3


def test_mnist1d_deterministic_seed_dependent_and_cached_copies() -> None:
    a, b, c = data.load_mnist1d(seed=42), data.load_mnist1d(seed=42), data.load_mnist1d(seed=1)
    assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
    assert not torch.equal(a.X_train, c.X_train)
    a.X_train.zero_()  # the cache hands out copies: a caller cannot spoil the next call
    assert not torch.equal(data.load_mnist1d(seed=42).X_train, a.X_train)


def test_mnist1d_leaves_numpy_global_random_state_alone(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RELU_COURSE_CACHE", str(tmp_path))  # empty: the generator runs
    data._mnist1d_arrays.cache_clear()
    np.random.seed(123)  # noqa: NPY002 - the global state is what is under test
    expected = np.random.rand(3)  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    data.load_mnist1d(seed=7)
    assert np.array_equal(np.random.rand(3), expected)  # noqa: NPY002
    data._mnist1d_arrays.cache_clear()


def test_mnist1d_is_hard_for_a_linear_model() -> None:
    """Greydanus (2020) reports 32 % for logistic regression; the digits give about 95 %."""
    from sklearn.linear_model import LogisticRegression

    d = data.load_mnist1d()
    clf = LogisticRegression(max_iter=500).fit(d.X_train.numpy(), d.y_train.numpy())
    acc = clf.score(d.X_test.numpy(), d.y_test.numpy())
    assert 0.2 < acc < 0.45, acc


@pytest.mark.parametrize("channels", [False, True])
def test_mnist1d_loaders_shapes(channels: bool) -> None:
    train, test = data.mnist1d_loaders(batch_size=100, channels=channels)
    xb, yb = next(iter(train))
    assert xb.shape == ((100, 1, 40) if channels else (100, 40))
    assert xb.dtype == torch.float32 and yb.dtype == torch.int64
    assert len(train.dataset) == 4000 and len(test.dataset) == 1000


def test_mnist1d_seed_must_be_an_int() -> None:
    with pytest.raises(TypeError, match="seed must be an int"):
        data.load_mnist1d(seed=1.5)


def test_mnist1d_disk_cache_is_written_read_and_repaired(tmp_path, monkeypatch) -> None:
    import mnist1d.data

    monkeypatch.setenv("RELU_COURSE_CACHE", str(tmp_path))
    data._mnist1d_arrays.cache_clear()
    first = data.load_mnist1d(seed=3)
    path = tmp_path / "mnist1d-seed3.npz"
    assert path.is_file()

    # a second process would read the file: the generator must not run again
    def fail(*args, **kwargs):
        raise AssertionError("make_dataset called although the disk cache holds the data")

    monkeypatch.setattr(mnist1d.data, "make_dataset", fail)
    data._mnist1d_arrays.cache_clear()
    assert torch.equal(data.load_mnist1d(seed=3).X_train, first.X_train)

    # a damaged file is regenerated, not trusted
    monkeypatch.undo()
    monkeypatch.setenv("RELU_COURSE_CACHE", str(tmp_path))
    path.write_bytes(b"not a zip file")
    data._mnist1d_arrays.cache_clear()
    assert torch.equal(data.load_mnist1d(seed=3).X_train, first.X_train)
    data._mnist1d_arrays.cache_clear()
