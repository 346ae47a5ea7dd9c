"""In-context learning by one gradient-descent step (von Oswald et al., arXiv 2212.07677, Sec. 2).

Tokens e_j = (x_j, y_j) in R^{d + d_y}, j = 1..N (the context), and a query token
e_q = (x_q, 0).  A linear self-attention (LSA) layer with one head updates every token as

    e_j <- e_j + P W_V sum_{i <= N} e_i (e_i^T W_K^T W_Q e_j)        (keys/values: the context)

and the softmax variant replaces the scores e_i^T W_K^T W_Q e_j by their softmax over i.

The construction (the paper's Proposition 1, W_0 = 0): W_K = W_Q = [[I_d, 0], [0, 0]],
W_V = [[0, 0], [W_0, -I_{d_y}]], P = (eta / N) I.  Then the y-part of the query becomes
-(eta / N) sum_i y_i x_i^T x_q = -(W_1 x_q) with W_1 = W_0 - eta grad L(W_0) the GD step on
L(W) = 1/(2N) sum_i ||W x_i - y_i||^2 from W_0 = 0, so the layer's prediction (the negated
y-part) is W_1 x_q exactly (symbolic derivation ``icl-gd``).

Bad inputs raise ProblemError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsvm.reference.errors import ProblemError


@dataclass(frozen=True)
class LSAWeights:
    """One head: W_K, W_Q, W_V (D, D) and the projection P (D, D), D = d + d_y."""

    WK: np.ndarray
    WQ: np.ndarray
    WV: np.ndarray
    P: np.ndarray


def _data(xs: object, ys: object) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(xs, dtype=np.float64)
    y = np.asarray(ys, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 1:
        raise ProblemError("xs", f"expected xs (N, d) and ys (N, d_y), got {x.shape}, {y.shape}")
    return x, y


def tokens(xs: object, ys: object, x_query: object) -> np.ndarray:
    """The sequence E (N + 1, d + d_y): context tokens (x_i, y_i), then the query (x_q, 0)."""
    x, y = _data(xs, ys)
    q = np.asarray(x_query, dtype=np.float64).ravel()
    if q.size != x.shape[1]:
        raise ProblemError("x_query", f"query of size {q.size} for inputs of size {x.shape[1]}")
    return np.vstack([np.hstack([x, y]), np.concatenate([q, np.zeros(y.shape[1])])])


def constructed_weights(d: int, d_y: int, eta: float, N: int) -> LSAWeights:
    """The weights of Proposition 1 with W_0 = 0 (see the module docstring)."""
    D = d + d_y
    WK = np.zeros((D, D))
    WK[:d, :d] = np.eye(d)
    WV = np.zeros((D, D))
    WV[d:, d:] = -np.eye(d_y)
    return LSAWeights(WK, WK.copy(), WV, (float(eta) / N) * np.eye(D))


def lsa_layer(E: object, w: LSAWeights, n_context: int, *, softmax: bool = False) -> np.ndarray:
    """Every token after one (linear or softmax) self-attention layer with residual; keys and
    values are the first ``n_context`` tokens."""
    E = np.asarray(E, dtype=np.float64)
    C = E[:n_context]
    S = (C @ w.WK.T) @ (E @ w.WQ.T).T  # S[i, j] = e_i^T W_K^T W_Q e_j
    if softmax:
        S = np.exp(S - S.max(axis=0, keepdims=True))
        S = S / S.sum(axis=0, keepdims=True)
    return E + (S.T @ C) @ (w.P @ w.WV).T


def lsa_prediction(xs: object, ys: object, x_query: object, w: LSAWeights, *,
                   softmax: bool = False) -> np.ndarray:
    """The layer's prediction for the query: minus the y-part of the updated query token."""
    x, y = _data(xs, ys)
    out = lsa_layer(tokens(x, y, x_query), w, x.shape[0], softmax=softmax)
    return -out[-1, x.shape[1]:]


def gd_step(xs: object, ys: object, eta: float, W0: object | None = None) -> np.ndarray:
    """W_1 = W_0 - eta grad L(W_0), L(W) = 1/(2N) sum_i ||W x_i - y_i||^2; W (d_y, d)."""
    x, y = _data(xs, ys)
    W = np.zeros((y.shape[1], x.shape[1])) if W0 is None else np.asarray(W0, dtype=np.float64)
    grad = (x @ W.T - y).T @ x / x.shape[0]
    return W - float(eta) * grad
