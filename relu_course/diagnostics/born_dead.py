"""The odds that a random ReLU network is dead at initialisation: the formula and a simulation."""

from __future__ import annotations

import math

import numpy as np

from relu_course.diagnostics._hooks import _check_positive_ints


def born_dead_probability(width: int, depth: int) -> float:
    """Chance that a ReLU net is dead at a fixed input: ``1 - (1 - 2^-N)^L``.

    Setting: ``L`` hidden ReLU layers of width ``N``, zero biases, weights drawn
    independently from a distribution symmetric about 0 with no atom at 0 (He-normal,
    Xavier ...), and one fixed input ``x != 0``. "Dead" means the last hidden layer
    outputs the zero vector, so the output layer sees only its bias.

    Derivation. Write ``h_0 = x`` and ``h_l = relu(W_l h_{l-1})``.

    1. Fix any non-zero ``h_{l-1}``. Each unit ``i`` of layer ``l`` receives
       ``z_i = w_i . h_{l-1}``, where the rows ``w_i`` are independent and symmetric, so
       the ``z_i`` are independent, symmetric and non-zero almost surely: each is
       ``<= 0`` with probability 1/2. All ``N`` units are zero with probability ``2^-N``,
       whatever the value of ``h_{l-1}``.
    2. A zero layer stays zero: with zero biases ``h_{l-1} = 0`` gives ``h_l = 0``. So
       the net is alive at ``x`` only if *every* layer has at least one positive unit.
    3. Because the probability in step 1 does not depend on ``h_{l-1}`` and the weights
       of different layers are independent, the survival events multiply:
       ``P(alive) = prod_l P(layer l not all zero | layers < l alive) = (1 - 2^-N)^L``.

    So ``P(dead) = 1 - (1 - 2^-N)^L``, which goes to 1 as ``L`` grows for any fixed
    ``N``: deep, narrow ReLU nets are often dead at initialisation. The formula is exact
    in this setting; in particular it is not changed by the scale of the weights.
    Dead on a whole data set is a different, stronger event (Lu et al. 2020 study it).

    Parameters
    ----------
    width : int
        Units per hidden layer, ``N >= 1``.
    depth : int
        Number of hidden layers, ``L >= 1``.

    Returns
    -------
    float
        The probability, computed as ``-expm1(L log1p(-2^-N))`` to stay accurate.

    Examples
    --------
    >>> round(born_dead_probability(2, 10), 4), born_dead_probability(1, 1)
    (0.9437, 0.5)
    """
    _check_positive_ints(width=width, depth=depth)
    return -math.expm1(depth * math.log1p(-(2.0**-width)))


def simulate_born_dead(
    width: int, depth: int, trials: int = 2000, d_in: int = 1, seed: int = 0
) -> float:
    """Monte Carlo estimate of :func:`born_dead_probability`: share of dead random nets.

    Each trial draws a net of ``depth`` hidden ReLU layers of ``width`` units with
    He-normal weights ``W ~ N(0, 2 / fan_in)`` and zero biases, feeds it the fixed input
    ``x = (1, ..., 1)`` of size ``d_in``, and counts it as dead when the last hidden
    layer (the input of the output layer) is the zero vector. All trials run at once as
    a batch of ``trials`` independent nets. Since only signs matter, any other non-zero
    input, fixed or random, gives the same distribution. The standard error of the
    estimate is ``sqrt(p (1 - p) / trials)``.

    Parameters
    ----------
    width, depth : int
        ``N`` and ``L``, as in :func:`born_dead_probability`.
    trials : int
        Number of independent nets.
    d_in : int
        Input size.
    seed : int
        Seed of the weights; the same seed gives the same estimate.

    Returns
    -------
    float
        Fraction of dead nets.

    Examples
    --------
    >>> p = simulate_born_dead(2, 10, trials=20000, seed=0)
    >>> abs(p - born_dead_probability(2, 10)) < 4 * (p * (1 - p) / 20000) ** 0.5
    True
    """
    _check_positive_ints(width=width, depth=depth, trials=trials, d_in=d_in)
    rng = np.random.default_rng(seed)
    h = np.ones((trials, d_in))
    for _ in range(depth):
        fan_in = h.shape[1]
        w = rng.standard_normal((trials, width, fan_in)) * math.sqrt(2.0 / fan_in)
        h = np.maximum(np.einsum("toi,ti->to", w, h), 0.0)
    return float(np.mean(np.all(h <= 0, axis=1)))
