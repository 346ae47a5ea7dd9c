"""Limits of one softmax-attention layer with a linear head.

* Convex hull: f(X) = v^T X^T s with s = softmax(X W z) a probability vector, so
  f(X) = sum_t s_t h_t with h_t = v^T x_t lies in [min_t h_t, max_t h_t] for every W.  A target
  outside that interval cannot be fitted: the mean squared loss is at least the mean squared
  distance of the targets to their intervals (``hull_loss_lower_bound``).
* Dispersion: with logits |u_t| <= B, max_t softmax(u)_t <= e^{2B} / (e^{2B} + T - 1) (the top
  logit is at most B, each other at least -B).  Selecting one token with probability >= 1 - delta
  therefore needs B >= 1/2 log((T - 1)(1 - delta) / delta) (``min_logit_bound``): with unit tokens
  and queries, ||W||_2 >= B grows like 1/2 log T.

Arrays: X (n, T, d) tokens, Z (n, d) queries, v (d,) head, W (d, d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsvm.reference.attention.models import probabilities
from attnsvm.reference.errors import ProblemError


def head_scores(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """h_it = v^T x_it, shape (n, T)."""
    return np.asarray(X, dtype=np.float64) @ np.asarray(v, dtype=np.float64)


def hull_interval(X: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(min_t h_it, max_t h_it) per input."""
    h = head_scores(X, v)
    return h.min(axis=-1), h.max(axis=-1)


def attention_outputs(X: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """f_i = v^T X_i^T softmax(X_i W z_i), shape (n,)."""
    s = probabilities(np.asarray(X, float), np.asarray(W, float), np.asarray(Z, float))
    return np.sum(s * head_scores(X, v), axis=-1)


def hull_violation(X: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """max(0, f_i - max_t h_it, min_t h_it - f_i) per input (0 when the bound holds)."""
    f = attention_outputs(X, W, Z, v)
    lo, hi = hull_interval(X, v)
    return np.maximum(0.0, np.maximum(f - hi, lo - f))


def hull_loss_lower_bound(X: np.ndarray, v: np.ndarray, targets: np.ndarray) -> float:
    """1/(2n) sum_i dist(y_i, [lo_i, hi_i])^2: no W has a smaller mean squared loss."""
    lo, hi = hull_interval(X, v)
    y = np.asarray(targets, dtype=np.float64)
    dist = np.maximum(0.0, np.maximum(y - hi, lo - y))
    return float(0.5 * np.mean(dist * dist))


@dataclass(frozen=True)
class Fit:
    """Gradient descent on the mean squared loss 1/(2n) sum_i (f_i - y_i)^2 over W."""

    W: np.ndarray
    losses: np.ndarray


def fit_squared(X: np.ndarray, Z: np.ndarray, v: np.ndarray, targets: np.ndarray, *,
                steps: int, lr: float, W0: np.ndarray | None = None) -> Fit:
    """``steps`` full-batch GD steps on W (``losses[k]`` after k steps);
    grad_W = 1/n sum_i (f_i - y_i) X_i^T (s_i o (h_i - f_i)) z_i^T."""
    X, Z = np.asarray(X, float), np.asarray(Z, float)
    y = np.asarray(targets, float)
    h = head_scores(X, v)
    d = X.shape[-1]
    W = np.zeros((d, d)) if W0 is None else np.array(W0, dtype=float)
    losses = []
    for k in range(int(steps) + 1):
        s = probabilities(X, W, Z)
        f = np.sum(s * h, axis=-1)
        r = f - y
        losses.append(0.5 * float(np.mean(r * r)))
        if k == int(steps):
            break
        g = s * (h - f[:, None])  # df_i / d logits_it
        grad = np.einsum("i,itd,it,ie->de", r, X, g, Z) / X.shape[0]
        W = W - lr * grad
    return Fit(W, np.array(losses))


def dispersion_bound(B: float, T: int) -> float:
    """e^{2B} / (e^{2B} + T - 1) = 1 / (1 + (T - 1) e^{-2B}) (B >= 0)."""
    if T < 1 or B < 0:
        raise ProblemError("B", f"needs B >= 0 and T >= 1, got B={B!r}, T={T!r}")
    return float(1.0 / (1.0 + (T - 1) * np.exp(-2.0 * float(B))))


def min_logit_bound(T: int, delta: float) -> float:
    """1/2 log((T - 1)(1 - delta) / delta): the least B for which the dispersion bound allows
    max_t s_t >= 1 - delta (T >= 2, 0 < delta < 1)."""
    if T < 2 or not 0 < delta < 1:
        raise ProblemError("delta", f"needs T >= 2 and 0 < delta < 1, got T={T!r}, {delta!r}")
    return 0.5 * float(np.log((T - 1) * (1.0 - delta) / delta))


def nonselected_mass(u: np.ndarray, c: float) -> float:
    """1 - max_t softmax(c u)_t as S / (1 + S), S = sum_{t != top} e^{c (u_t - u_top)}."""
    a = np.asarray(u, dtype=np.float64).ravel()
    k = int(np.argmax(a))
    S = float(np.sum(np.exp(c * (np.delete(a, k) - a[k]))))
    return S / (1.0 + S)


def selection_scale(u: np.ndarray, delta: float, *, iterations: int) -> float:
    """The least c >= 0 with max_t softmax(c u)_t >= 1 - delta (bisection; the top probability
    increases with c when the top logit is unique).  inf when no c reaches it (tied top)."""
    a = np.asarray(u, dtype=np.float64).ravel()
    if np.sum(a == a.max()) > 1:
        return float("inf")
    hi = 1.0
    while nonselected_mass(a, hi) > delta:
        hi *= 2.0
        if hi > 1e300:
            return float("inf")
    lo = 0.0
    for _ in range(int(iterations)):
        mid = 0.5 * (lo + hi)
        if nonselected_mass(a, mid) > delta:
            lo = mid
        else:
            hi = mid
    return hi
