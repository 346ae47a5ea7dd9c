"""A planted-signal family with train / held-out splits from one seed.

Each input holds T tokens in R^d: one *signal* token y·mu·e + kappa·f (e and f the first two
basis vectors: e carries the sign, f marks the token as relevant) at a uniformly random
position, and T - 1 *noise* tokens N(0, sigma² I). The signal token's remaining coordinates are
noise too (N(0, sigma²) off span{e, f}). The clean label is y = ±1 (uniform), the observed label
Y = y flipped with probability ``eta`` (label noise); the head is v = e (the readout of the
signal's sign) and the query z_i = unit(f + sigma_q·g_i), g_i standard normal: attention that
looks along f finds the signal token, and v then reads its sign. Clean inputs' optimal token
(TF-SVM's gamma_it = Y_i vᵀx_it) is the signal token when mu exceeds the noise; a flipped
input's is a noise token.

``planted_split`` draws the training and the held-out inputs from one generator (training first),
so one seed fixes both; the same distribution, labels flipped at the same rate.

Signal-to-noise ratio: ``snr`` = ||(mu, kappa)|| / (sigma sqrt(d)), the norm of the signal part
of the signal token over the typical norm of a noise token (the ratio of the norms of signal and
noise tokens that Magen et al., arXiv 2410.07746, call the SNR). ``planted_split(..., snr=s)``
sets mu = kappa = s sigma sqrt(d / 2) (``signal_strength``), so the SNR is set by mu, d (and
sigma), and the other noise tokens number T - 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int, check_memory


@dataclass(frozen=True)
class PlantedSplit:
    """Training and held-out problems of one planted-signal draw.

    Attributes:
        train, test: AttentionProblem (n_train resp. n_test inputs; labels with noise).
        signal_train, signal_test: the signal token's position per input.
        flipped_train, flipped_test: True where the observed label was flipped.
    """

    train: AttentionProblem
    test: AttentionProblem
    signal_train: np.ndarray
    signal_test: np.ndarray
    flipped_train: np.ndarray
    flipped_test: np.ndarray

    @property
    def clean_train(self) -> np.ndarray:
        """The clean labels y of the training inputs (the observed Y with the flips undone)."""
        return np.where(self.flipped_train, -self.train.Y, self.train.Y)

    @property
    def clean_test(self) -> np.ndarray:
        """The clean labels y of the held-out inputs."""
        return np.where(self.flipped_test, -self.test.Y, self.test.Y)


def signal_strength(snr: float, d: int, sigma: float) -> float:
    """mu (= kappa) with ||(mu, kappa)|| / (sigma sqrt(d)) = ``snr``: snr sigma sqrt(d / 2)."""
    snr = as_float("snr", snr, positive=True)
    d = as_int("d", d, low=2)
    sigma = as_float("sigma", sigma, positive=True)
    return snr * sigma * float(np.sqrt(d / 2.0))


def _draw(rng: np.random.Generator, n: int, T: int, d: int, mu: float, kappa: float,
          sigma: float, sigma_q: float, eta: float) -> tuple[np.ndarray, ...]:
    X = sigma * rng.standard_normal((n, T, d))
    y = rng.choice(np.array([-1.0, 1.0]), size=n)
    pos = rng.integers(0, T, size=n)
    rows = np.arange(n)
    X[rows, pos, 0] = y * mu
    X[rows, pos, 1] = kappa
    flip = rng.random(n) < eta
    Y = np.where(flip, -y, y)
    q = np.zeros((n, d))
    q[:, 1] = 1.0
    q = q + sigma_q * rng.standard_normal((n, d))
    Z = q / np.linalg.norm(q, axis=1, keepdims=True)
    return X, Y, Z, pos.astype(np.int64), flip


def planted_split(n_train: int, n_test: int, T: int, d: int, seed: int, *, mu: float = 1.0,
                  kappa: float = 1.0, sigma: float = 0.3, sigma_q: float = 0.1,
                  eta: float = 0.0, snr: float | None = None) -> PlantedSplit:
    """The planted-signal family (module docstring): ``n_train`` training and ``n_test``
    held-out inputs of T tokens in R^d (d >= 2), label-noise rate ``eta`` in [0, 0.5).
    ``snr`` (optional, > 0; needs sigma > 0) replaces mu and kappa by
    ``signal_strength(snr, d, sigma)``."""
    n_train = as_int("n_train", n_train, low=1)
    n_test = as_int("n_test", n_test, low=1)
    T = as_int("T", T, low=2)
    d = as_int("d", d, low=2)
    seed = as_int("seed", seed, low=0)
    mu = as_float("mu", mu, positive=True)
    kappa = as_float("kappa", kappa, nonnegative=True)
    sigma = as_float("sigma", sigma, nonnegative=True)
    sigma_q = as_float("sigma_q", sigma_q, nonnegative=True)
    eta = as_float("eta", eta, nonnegative=True)
    if snr is not None:
        mu = kappa = signal_strength(snr, d, sigma)
    if not eta < 0.5:
        raise ProblemError("eta", f"label-noise rate must lie in [0, 0.5), got {eta!r}")
    check_memory("n_train", 8.0 * 3 * (n_train + n_test) * T * d,
                 f"a planted split of {n_train} + {n_test} inputs, T = {T}, d = {d}")
    rng = np.random.default_rng(seed)
    v = np.zeros(d)
    v[0] = 1.0
    Xa, Ya, Za, pa, fa = _draw(rng, n_train, T, d, mu, kappa, sigma, sigma_q, eta)
    Xb, Yb, Zb, pb, fb = _draw(rng, n_test, T, d, mu, kappa, sigma, sigma_q, eta)
    return PlantedSplit(AttentionProblem(Xa, Ya, v, Za), AttentionProblem(Xb, Yb, v, Zb),
                        pa, pb, fa, fb)
