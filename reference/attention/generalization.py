"""Generalization of a trained attention layer: a margin bound for the token-selection classifier.

The model is the one-layer f(X) = vᵀ Xᵀ softmax(X W z) of TF-SVM (arXiv 2308.16898, Sec. 2) with
a fixed head v. Once the softmax saturates it is the hardmax classifier
sign(vᵀ x_{t*}), t* = argmax_t x_tᵀ W z: a *linear* scoring of the tokens, s_t(W) = <W, x_t zᵀ>,
followed by a fixed read-out. For an input (X, Y) call the tokens whose read-out agrees with the
label good, G = {t : Y vᵀx_t > 0}. The classifier errs on (X, Y) only if the best good token
does not beat every bad one, i.e. only if the *selection margin*

    m(W; X, Y) = max_{t in G} s_t(W) - max_{t not in G} s_t(W)            (+inf if G = all,
                                                                          -inf if G is empty)

is <= 0. m is positively homogeneous in W, so only W / ||W||_F matters; the normalized margin of
a training set is min_i m_i / ||W||_F (for W the Att-SVM solution of TF-SVM Eq. (Att-SVM) with
good tokens selected, it is 1 / ||W^mm||_F).

The bound (``margin_bound``), for the class {W : ||W||_F <= 1} and the ramp loss Phi_rho
(1 for m <= 0, 1 - m/rho on (0, rho), 0 for m >= rho):

* m_i is, as a function of the token scores u_i = (s_it)_t in R^T, sqrt(2)-Lipschitz in the
  Euclidean norm (a difference of two maxima over disjoint sets), so Phi_rho o m_i is
  sqrt(2)/rho-Lipschitz; by the vector-contraction inequality (Maurer, "A vector-contraction
  inequality for Rademacher complexities", ALT 2016, Corollary 1; it allows a different
  Lipschitz function per sample) and Cauchy-Schwarz with Jensen, the empirical Rademacher
  complexity of {Phi_rho o m_W} is at most (2 / (rho n)) S, S = sqrt(sum_{i,t} ||x_it||² ||z_i||²);
* the uniform deviation bound for [0, 1]-valued classes with the empirical Rademacher complexity
  (Mohri, Rostamizadeh, Talwalkar, Foundations of Machine Learning, 2nd ed., Theorem 3.3) gives,
  with probability >= 1 - delta_j over the training sample, for every ||W||_F <= 1:
  P(m <= 0) <= 1/n sum_i Phi_rho(m_i) + 4 S / (rho n) + 3 sqrt(log(2 / delta_j) / (2 n));
* a union bound over the grid rho_j = rho_max 2^{-j} (j = 0 .. J-1; rho_max fixed before the
  data are seen, so the grid does not depend on the sample) with delta_j = delta 2^{-(j+1)}
  makes every grid point valid at once, so the minimum over the grid is a valid bound for the
  data-dependent W / ||W||_F.

Test error here is the hardmax classifier's: P(Y vᵀ x_{t*} <= 0) <= P(m <= 0).

Arrays: X (n, T, d) tokens, Y (n,) labels in {+1, -1}, W (d, d), Z (n, d) queries, v (d,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int


def token_scores(X: np.ndarray, W: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """s_it = x_itᵀ W z_i, shape (n, T)."""
    return np.einsum("ntd,de,ne->nt", np.asarray(X, float), np.asarray(W, float),
                     np.asarray(Z, float))


def good_tokens(X: np.ndarray, Y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """G_it = (Y_i vᵀ x_it > 0): the tokens whose read-out agrees with the label, (n, T)."""
    h = np.asarray(X, float) @ np.asarray(v, float)
    return np.asarray(Y, float)[:, None] * h > 0


def selection_margins(X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray,
                      v: np.ndarray) -> np.ndarray:
    """m_i = max_{t in G_i} s_it - max_{t not in G_i} s_it (module docstring), shape (n,);
    +inf where every token is good, -inf where none is."""
    s = token_scores(X, W, Z)
    G = good_tokens(X, Y, v)
    best_good = np.max(np.where(G, s, -np.inf), axis=1)
    best_bad = np.max(np.where(G, -np.inf, s), axis=1)
    with np.errstate(invalid="ignore"):
        m = best_good - best_bad
    return np.where(G.all(axis=1), np.inf, np.where(~G.any(axis=1), -np.inf, m))


def hardmax_errors(X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray,
                   v: np.ndarray) -> np.ndarray:
    """True where the hardmax classifier sign(vᵀ x_{t*}), t* = argmax_t s_t, errs (an output
    of exactly 0 counts as an error), shape (n,)."""
    s = token_scores(X, W, Z)
    t = np.argmax(s, axis=1)
    h = np.asarray(X, float)[np.arange(len(t)), t] @ np.asarray(v, float)
    return np.asarray(Y, float) * h <= 0


def ramp(m: np.ndarray, rho: float) -> np.ndarray:
    """Phi_rho(m): 1 for m <= 0, 1 - m/rho on (0, rho), 0 for m >= rho."""
    m = np.asarray(m, float)
    return np.clip(1.0 - m / rho, 0.0, 1.0)


def complexity_sum(X: np.ndarray, Z: np.ndarray) -> float:
    """S = sqrt(sum_{i,t} ||x_it||² ||z_i||²) (the Rademacher term's data factor)."""
    xs = np.sum(np.asarray(X, float) ** 2, axis=-1)
    zs = np.sum(np.asarray(Z, float) ** 2, axis=-1)
    return float(np.sqrt(np.sum(xs * zs[:, None])))


@dataclass(frozen=True)
class MarginBound:
    """The margin bound of one trained W (module docstring).

    Attributes:
        bound: min over the grid of the bound's value (may exceed 1: vacuous).
        rho: the grid margin attaining it (for W / ||W||_F).
        ramp_loss, complexity, confidence: its three terms at ``rho``.
        normalized_margin: min_i m_i / ||W||_F over the training sample.
        train_margin_error: fraction of training inputs with m_i <= 0.
        delta: the confidence parameter; grid: the rho_j tried.
    """

    bound: float
    rho: float
    ramp_loss: float
    complexity: float
    confidence: float
    normalized_margin: float
    train_margin_error: float
    delta: float
    grid: tuple[float, ...]


def margin_bound(X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray,
                 *, delta: float, levels: int, rho_max: float) -> MarginBound:
    """The bound on P(m <= 0) (hence on the hardmax classifier's test error) for the trained W,
    from its training sample (X, Y, Z), with probability >= 1 - ``delta``, over ``levels`` grid
    margins rho_j = rho_max 2^{-j} (``rho_max`` must not be chosen from the sample). Raises
    ProblemError for W = 0 or bad delta / levels / rho_max."""
    delta = as_float("delta", delta, positive=True)
    if not delta < 1.0:
        raise ProblemError("delta", f"must lie in (0, 1), got {delta!r}")
    levels = as_int("levels", levels, low=1, high=1000)
    rho_max = as_float("rho_max", rho_max, positive=True)
    W = np.asarray(W, float)
    norm = float(np.linalg.norm(W))
    if not norm > 0 or not math.isfinite(norm):
        raise ProblemError("W", f"needs a finite nonzero W, got ||W||_F = {norm!r}")
    X, Z = np.asarray(X, float), np.asarray(Z, float)
    n = X.shape[0]
    m = selection_margins(X, Y, W / norm, Z, v)
    S = complexity_sum(X, Z)
    best: tuple[float, ...] | None = None
    grid = tuple(rho_max * 2.0 ** (-j) for j in range(levels))
    for j, rho in enumerate(grid):
        conf = 3.0 * math.sqrt((math.log(2.0 / delta) + (j + 1) * math.log(2.0)) / (2.0 * n))
        emp = float(np.mean(ramp(m, rho)))
        comp = 4.0 * S / (rho * n)
        value = emp + comp + conf
        if best is None or value < best[0]:
            best = (value, rho, emp, comp, conf)
    assert best is not None
    return MarginBound(bound=best[0], rho=best[1], ramp_loss=best[2], complexity=best[3],
                       confidence=best[4], normalized_margin=float(np.min(m)),
                       train_margin_error=float(np.mean(m <= 0)), delta=delta, grid=grid)


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: the Pearson correlation of the average ranks; nan when
    either side is constant."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 1 or a.size < 2:
        raise ProblemError("a", f"needs two samples of equal size >= 2, got {a.shape}, {b.shape}")
    if np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)
