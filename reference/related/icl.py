"""In-context learning by gradient descent (von Oswald et al., arXiv 2212.07677, Secs. 2-3).

Tokens e_j = (x_j, y_j) in R^{d + d_y}, j = 1..N (the context), and a query token
e_q = (x_q, 0).  A linear self-attention (LSA) layer with one head updates every token as

    e_j <- e_j + P W_V sum_{i <= N} e_i (e_i^T W_K^T W_Q e_j)        (keys/values: the context)

and the softmax variant replaces the scores e_i^T W_K^T W_Q e_j by their softmax over i.

The construction (the paper's Proposition 1, W_0 = 0): W_K = W_Q = [[I_d, 0], [0, 0]],
W_V = [[0, 0], [W_0, -I_{d_y}]], P = (eta / N) I.  Then the y-part of the query becomes
-(eta / N) sum_i y_i x_i^T x_q = -(W_1 x_q) with W_1 = W_0 - eta grad L(W_0) the GD step on
L(W) = 1/(2N) sum_i ||W x_i - y_i||^2 from W_0 = 0, so the layer's prediction (the negated
y-part) is W_1 x_q exactly (symbolic derivation ``icl-gd``).

Trained layer (the paper's Sec. 3): ``train_lsa`` fits W_K, W_Q, W_V, P by Adam on random
regression tasks (``regression_tasks``: x ~ U(-1, 1)^d, w ~ N(0, I)); ``best_gd_eta`` is the GD
step it should match, and ``lsa_predictions`` / ``lsa_sensitivities`` (d yhat / d x_q) against
``gd_predictions`` / ``gd_sensitivities`` compare the two as the paper does. The weights are
compared through invariants (``effective_weights``): the output depends on the weights only
through K = W_Kᵀ W_Q and PV = P W_V (so W_K -> A W_K, W_Q -> A^{-T} W_Q, and P -> P B^{-1},
W_V -> B W_V change nothing), and on those only through the product PV[y, :] ⊗ K[:, :d] (so
K -> c K, PV -> PV / c change nothing).

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


# --------------------------------------------------------------------------------------------
# A trained LSA layer (the paper's Sec. 3 experiment, scaled to a CPU)


def regression_tasks(rng: np.random.Generator, n_tasks: int, N: int, d: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n_tasks`` random linear-regression tasks of the paper's Sec. 3 setting: x ~ U(-1, 1)^d,
    w ~ N(0, I_d), y = wᵀx; N context points and one query each. Returns xs (B, N, d),
    ys (B, N), x_query (B, d), y_query (B,)."""
    x = rng.uniform(-1.0, 1.0, (n_tasks, N, d))
    w = rng.standard_normal((n_tasks, d))
    xq = rng.uniform(-1.0, 1.0, (n_tasks, d))
    return x, np.matmul(x, w[:, :, None])[..., 0], xq, np.sum(xq * w, axis=-1)


def _grams(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """G_b = sum_i e_i e_iᵀ over the context tokens e_i = (x_i, y_i) of each task, (B, D, D)."""
    C = np.concatenate([xs, ys[..., None]], axis=-1)
    return np.matmul(np.swapaxes(C, -1, -2), C)


def _products(w: LSAWeights) -> tuple[np.ndarray, np.ndarray]:
    """K = W_Kᵀ W_Q and PV = P W_V: the only combinations of the weights the layer uses."""
    return w.WK.T @ w.WQ, w.P @ w.WV


def lsa_predictions(w: LSAWeights, xs: object, ys: object, x_query: object) -> np.ndarray:
    """Batched ``lsa_prediction`` (d_y = 1): yhat_b = -PV[y,:] G_b K[:, :d] x_q,b, shape (B,)."""
    xs, ys, xq = (np.asarray(a, dtype=np.float64) for a in (xs, ys, x_query))
    d = xs.shape[-1]
    K, PV = _products(w)
    s = np.einsum("bef,bf->be", _grams(xs, ys), xq @ K[:, :d].T)
    return -(s @ PV[d, :])


def lsa_sensitivities(w: LSAWeights, xs: object, ys: object) -> np.ndarray:
    """d yhat / d x_q per task (the layer is linear in x_q): -PV[y,:] G_b K[:, :d], (B, d)."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    d = xs.shape[-1]
    K, PV = _products(w)
    return -(np.einsum("e,bef->bf", PV[d, :], _grams(xs, ys)) @ K[:, :d])


def gd_predictions(xs: object, ys: object, x_query: object, eta: float) -> np.ndarray:
    """W_1 x_q per task for one GD step from 0 with step eta: eta/N sum_i y_i x_iᵀ x_q, (B,)."""
    return np.einsum("bd,bd->b", gd_sensitivities(xs, ys, eta), np.asarray(x_query, float))


def gd_sensitivities(xs: object, ys: object, eta: float) -> np.ndarray:
    """d (W_1 x_q) / d x_q = W_1 = eta/N sum_i y_i x_i per task, (B, d)."""
    xs, ys = np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)
    return float(eta) / xs.shape[-2] * np.einsum("bn,bnd->bd", ys, xs)


def best_gd_eta(xs: object, ys: object, x_query: object, y_query: object) -> float:
    """The step eta minimising the mean squared error of one GD step from 0 on these tasks
    (least squares in eta: the GD prediction is eta times a fixed number per task)."""
    a = gd_predictions(xs, ys, x_query, 1.0)
    den = float(a @ a)
    if not den > 0:
        raise ProblemError("xs", "one GD step predicts 0 on every task; no best step exists")
    return float(a @ np.asarray(y_query, dtype=np.float64)) / den


@dataclass(frozen=True)
class EffectiveWeights:
    """The layer's prediction written in invariants of its weights (d_y = 1):
    yhat = sum_i y_i x_iᵀ M x_q + (terms even in y), M = -(PV_yy K_xx + PV_yx K_yxᵀ) (d, d):
    one GD step with step eta is M = eta/N I. ``nuisance`` = the Frobenius norm of the even
    terms' coefficients (PV_yx ⊗ K_xx and PV_yy K_yx), which the construction sets to 0."""

    M: np.ndarray
    nuisance: float


def effective_weights(w: LSAWeights, d: int) -> EffectiveWeights:
    """``EffectiveWeights`` of an LSA head on tokens (x, y) with x in R^d, y in R."""
    K, PV = _products(w)
    M = -(PV[d, d] * K[:d, :d] + np.outer(PV[d, :d], K[d, :d]))
    nuis = float(np.hypot(np.linalg.norm(PV[d, :d]) * np.linalg.norm(K[:d, :d]),
                          abs(PV[d, d]) * np.linalg.norm(K[d, :d])))
    return EffectiveWeights(M, nuis)


@dataclass(frozen=True)
class TrainedLSA:
    """An LSA layer trained on regression tasks (``train_lsa``): its weights and the training
    loss per step."""

    weights: LSAWeights
    losses: np.ndarray


_LSA_PARAMS = ("WK", "WQ", "WV", "P")


def lsa_loss_and_grads(w: LSAWeights, xs: np.ndarray, ys: np.ndarray, x_query: np.ndarray,
                       y_query: np.ndarray) -> tuple[float, dict[str, np.ndarray]]:
    """L = mean_b (yhat_b - y_q,b)^2 over the tasks and its gradient in W_K, W_Q, W_V, P
    (closed form: yhat_b = -PV[y,:] G_b K[:, :d] x_q,b is bilinear in PV[y,:] and K[:, :d];
    the chain rule through PV = P W_V and K = W_Kᵀ W_Q; tested against torch autograd)."""
    xs, ys, xq, yq = (np.asarray(a, dtype=np.float64) for a in (xs, ys, x_query, y_query))
    d = xs.shape[-1]
    K, PV = _products(w)
    G = _grams(xs, ys)
    s = np.matmul(G, (xq @ K[:, :d].T)[:, :, None])[:, :, 0]  # G_b K[:, :d] x_q,b
    pred = -(s @ PV[d, :])
    resid = pred - yq
    r = 2.0 * resid / len(yq)
    gPV = np.zeros_like(PV)
    gPV[d, :] = -(r @ s)
    gK = np.zeros_like(K)
    gK[:, :d] = -((G @ PV[d, :]) * r[:, None]).T @ xq
    grads = {"WK": w.WQ @ gK.T, "WQ": w.WK @ gK, "WV": w.P.T @ gPV, "P": gPV @ w.WV.T}
    return float(np.mean(resid * resid)), grads


@dataclass(frozen=True)
class _Risk:
    risk: np.ndarray


def train_lsa(d: int, N: int, *, steps: int, batch: int, lr: float, seed: int,
              init_scale: float) -> TrainedLSA:
    """Train W_K, W_Q, W_V, P (each (d+1, d+1), initialised N(0, init_scale²)) of one LSA head
    with Adam (``attention.optimizers.Adam``, torch.optim.Adam's update; step ``lr`` with cosine
    decay to 0 over ``steps``) through ``attention.training.descend``, on the mean squared error
    of the query prediction over ``batch`` fresh tasks of ``regression_tasks`` per step (the
    paper's Sec. 3 protocol at a small scale); float64, seeded."""
    from attnsvm.reference.attention.optimizers import Adam
    from attnsvm.reference.attention.training import descend
    from attnsvm.reference.validate import as_float, as_int

    d, N = as_int("d", d, low=1), as_int("N", N, low=1)
    steps, batch = as_int("steps", steps, low=1), as_int("batch", batch, low=1)
    init_scale = as_float("init_scale", init_scale, positive=True)
    rng = np.random.default_rng(as_int("seed", seed, low=0))
    D = d + 1
    start = {k: init_scale * rng.standard_normal((D, D)) for k in _LSA_PARAMS}
    losses: list[float] = []

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], _Risk]:
        tasks = regression_tasks(rng, batch, N, d)
        loss, grads = lsa_loss_and_grads(LSAWeights(*(par[k] for k in _LSA_PARAMS)), *tasks)
        losses.append(loss)
        return grads, _Risk(np.array([loss]))

    final, *_ = descend(start, grad_fn, steps=steps, lr=lr, rule=Adam(),
                        lr_schedule=lambda it: 0.5 * (1.0 + float(np.cos(np.pi * it / steps))),
                        ndim={k: 2 for k in _LSA_PARAMS})
    return TrainedLSA(LSAWeights(*(final[k] for k in _LSA_PARAMS)), np.array(losses[:steps]))
