"""Multi-head softmax attention as a sum of heads, its risk, gradients and batched training.

Model (Deora, Ghaderi, Taheri, Thrampoulidis, arXiv 2310.12680: a single-layer multi-head
attention model trained by GD, here with TF-SVM's fixed linear head v, arXiv 2308.16898 Sec. 2):

    f(X_i) = sum_h v^T X_i^T softmax(X_i W_h z_i),        W_h = K_h Q_h^T  in the (K, Q) form,

and L = (1/n) sum_i l(Y_i f(X_i)). The chain rule of ``attention.gradients`` per head:

    dL/dq_ih = (1/n) l'(Y_i f_i) Y_i X_i^T (diag(s_ih) - s_ih s_ih^T) X_i v,   q_ih = W_h z_i,

so grad_{W_h} = sum_i (dL/dq_ih) z_i^T, grad_{K_h} = grad_{W_h} Q_h, grad_{Q_h} = grad_{W_h}^T K_h.
The softmax factor of every head is evaluated by ``evaluate_queries`` with the correlation loss
l(x) = -x and labels +1 (then dL/dq = -(1/n) df/dq exactly, in log space: its direction survives
saturation); the loss factor l'(Y_i f_i) of the summed output multiplies it, again in log space.
Heads are stacked on the axis before the matrix axes: W has shape (..., H, d, d_z).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnsvm.reference.attention.gradients import evaluate_queries
from attnsvm.reference.attention.losses import Loss, get_loss
from attnsvm.reference.attention.models import LinearHead, queries
from attnsvm.reference.attention.training import StepRule, descend, direction_only
from attnsvm.reference.errors import NumericalError, ProblemError
from attnsvm.reference.validate import as_int, as_real_array

__all__ = [
    "MultiHeadEvaluation",
    "MultiHeadResult",
    "evaluate_heads",
    "grad_heads",
    "grad_heads_KQ",
    "head_outputs",
    "train_heads",
    "train_heads_KQ",
]


@dataclass(frozen=True)
class MultiHeadEvaluation:
    """Per-head query gradients and forward quantities of the summed model.

    ``unit`` (..., H, n, d) and ``log_coeff`` (..., H, n): dL/dq_ih = exp(log_coeff) * unit.
    ``probs`` (..., H, n, T), ``head_out`` (..., H, n), ``outputs`` = sum over heads (..., n),
    ``margins`` = Y * outputs.
    """

    unit: np.ndarray
    log_coeff: np.ndarray
    probs: np.ndarray
    head_out: np.ndarray
    outputs: np.ndarray
    margins: np.ndarray
    loss: Loss

    @property
    def log_scale(self) -> np.ndarray:
        """log of the common factor between ``dq`` and ``dq_scaled`` per run, shape (...,)."""
        peak = np.max(self.log_coeff, axis=(-2, -1))
        return np.where(peak > -np.inf, peak, 0.0)

    @property
    def dq(self) -> np.ndarray:
        """dL/dq_ih, shape (..., H, n, d) (underflows to 0 far into saturation)."""
        return np.exp(self.log_coeff)[..., None] * self.unit

    @property
    def dq_scaled(self) -> np.ndarray:
        """dq times one positive factor per run (shared by all heads): exact direction, O(1)."""
        ls = self.log_scale[..., None, None]
        return np.exp(self.log_coeff - ls)[..., None] * self.unit

    @property
    def risk(self) -> np.ndarray:
        """L = (1/n) sum_i l(Y_i f_i), shape (...,)."""
        return np.sum(self.loss.value(self.margins), axis=-1) / self.margins.shape[-1]


def _check(X: Any, Y: Any, W: Any, Z: Any, v: Any) -> tuple[np.ndarray, ...]:
    Xa = as_real_array("X", X, ndim=(3, 4))
    n, T, d = Xa.shape[-3:]
    Ya = as_real_array("Y", Y, ndim=(1, 2))
    if Ya.shape[-1] != n:
        raise ProblemError("Y", f"expected (..., {n}) to match X, got shape {Ya.shape}")
    Za = as_real_array("Z", Z, ndim=(2, 3))
    if Za.shape[-2] != n:
        raise ProblemError("Z", f"expected (..., {n}, d_z) to match X, got shape {Za.shape}")
    Wa = as_real_array("W", W, ndim=(3, 4))
    if Wa.shape[-2:] != (d, Za.shape[-1]):
        raise ProblemError("W", f"expected (..., H, {d}, {Za.shape[-1]}), got shape {Wa.shape}")
    va = as_real_array("v", v, ndim=(1, 2))
    if va.shape[-1] != d:
        raise ProblemError("v", f"expected (..., {d}) to match X, got shape {va.shape}")
    return Xa, Ya, Wa, Za, va


def _head_values(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """h_it = v^T x_it with a head axis inserted: (..., 1, n, T)."""
    return np.matmul(X, v[..., None, :, None])[..., 0][..., None, :, :]


def evaluate_heads(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray,
    loss: str | Loss = "logistic", token_values: np.ndarray | None = None,
) -> MultiHeadEvaluation:
    """Risk and dL/dq_ih of the H-head model (module docstring), batched over leading axes.

    X (..., n, T, d), Y (..., n), W (..., H, d, d_z), Z (..., n, d_z), v (..., d)."""
    ell = get_loss(loss)
    hv = _head_values(X, v) if token_values is None else token_values
    q = queries(W, Z[..., None, :, :])  # (..., H, n, d)
    Xh = X[..., None, :, :, :]
    # correlation loss, labels +1: unit * exp(log_coeff) = -(1/n) d f_ih / d q_ih (log space)
    per = evaluate_queries(Xh, np.ones(X.shape[-3]), q, LinearHead(v[..., None, :]),
                           "correlation", hv)
    f = np.sum(per.outputs, axis=-2)  # (..., n)
    margins = Y * f
    # dL/dq_ih = (1/n) l'(m_i) Y_i df_ih/dq_ih = |l'(m_i)| Y_i * (unit exp(log_coeff))_ih
    log_coeff = per.log_coeff + ell.log_abs_derivative(margins)[..., None, :]
    unit = np.broadcast_to(Y, margins.shape)[..., None, :, None] * per.unit
    return MultiHeadEvaluation(unit=unit, log_coeff=log_coeff, probs=per.probs,
                               head_out=per.outputs, outputs=f, margins=margins, loss=ell)


def head_outputs(X: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray) -> np.ndarray:
    """f(X_i) = sum_h v^T X_i^T softmax(X_i W_h z_i), shape (..., n)."""
    X, _, W, Z, v = _check(X, np.zeros(np.shape(X)[-3]), W, Z, v)
    return evaluate_heads(X, np.ones(X.shape[-3]), W, Z, v, "correlation").outputs


def _grad(X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray,
          loss: Loss, scaled: bool, token_values: np.ndarray | None
          ) -> tuple[np.ndarray, MultiHeadEvaluation]:
    ev = evaluate_heads(X, Y, W, Z, v, loss, token_values)
    dq = ev.dq_scaled if scaled else ev.dq
    return np.matmul(np.swapaxes(dq, -1, -2), Z[..., None, :, :]), ev


def _grad_KQ(X: np.ndarray, Y: np.ndarray, K: np.ndarray, Q: np.ndarray, Z: np.ndarray,
             v: np.ndarray, loss: Loss, scaled: bool, token_values: np.ndarray | None
             ) -> tuple[np.ndarray, np.ndarray, MultiHeadEvaluation]:
    g, ev = _grad(X, Y, np.matmul(K, np.swapaxes(Q, -1, -2)), Z, v, loss, scaled, token_values)
    return np.matmul(g, Q), np.matmul(np.swapaxes(g, -1, -2), K), ev


def grad_heads(
    X: np.ndarray, Y: np.ndarray, W: np.ndarray, Z: np.ndarray, v: np.ndarray,
    loss: str | Loss = "logistic", *, scaled: bool = False,
) -> tuple[np.ndarray, MultiHeadEvaluation]:
    """grad_{W_h} L for every head, shape (..., H, d, d_z), and the evaluation. With ``scaled``
    the gradient carries one positive factor per run (exact direction, no underflow). Inputs
    are validated (ProblemError naming the field)."""
    X, Y, W, Z, v = _check(X, Y, W, Z, v)
    return _grad(X, Y, W, Z, v, get_loss(loss), scaled, None)


def grad_heads_KQ(
    X: np.ndarray, Y: np.ndarray, K: np.ndarray, Q: np.ndarray, Z: np.ndarray, v: np.ndarray,
    loss: str | Loss = "logistic", *, scaled: bool = False,
) -> tuple[np.ndarray, np.ndarray, MultiHeadEvaluation]:
    """(grad_{K_h}, grad_{Q_h}, evaluation) for W_h = K_h Q_h^T, K (..., H, d, m), Q (..., H,
    d_z, m)."""
    K = as_real_array("K", K, ndim=(3, 4))
    Q = as_real_array("Q", Q, ndim=(3, 4))
    if Q.shape[-1] != K.shape[-1]:
        raise ProblemError("Q", f"expected {K.shape[-1]} columns as K, got shape {Q.shape}")
    X, Y, _, Z, v = _check(X, Y, np.matmul(K, np.swapaxes(Q, -1, -2)), Z, v)
    return _grad_KQ(X, Y, K, Q, Z, v, get_loss(loss), scaled, None)


@dataclass(frozen=True)
class MultiHeadResult:
    """Outcome of batched multi-head training.

    Attributes:
        params: final parameters ("W", or "K" and "Q"), shape (B, H, ., .).
        W: final W_h = K_h Q_h^T (or W itself), shape (B, H, d, d_z).
        checkpoints, history, risk: as ``TrainResult`` (history (B, C, H, ., .), risk (B, C)).
        probs: final softmax of every head, (B, H, n, T); selected: its argmax, (B, H, n).
    """

    params: dict[str, np.ndarray]
    W: np.ndarray
    checkpoints: np.ndarray
    history: dict[str, np.ndarray]
    risk: np.ndarray
    probs: np.ndarray
    selected: np.ndarray

    @property
    def min_max_prob(self) -> np.ndarray:
        """Per run: the smallest over heads and inputs of the largest probability, (B,)."""
        return self.probs.max(axis=-1).min(axis=(-2, -1))


def _stacked(field: str, x: Any, H: int | None = None) -> np.ndarray:
    arr = np.array(as_real_array(field, x, ndim=(3, 4)), dtype=np.float64)
    arr = arr if arr.ndim == 4 else arr[None]
    if H is not None and arr.shape[1] != H:
        raise ProblemError(field, f"expected {H} heads, got shape {arr.shape}")
    return arr


def _run(params: dict[str, np.ndarray], grad_fn: Callable, to_W: Callable, *, steps: int,
         lr: float, normalized: bool, per_head: bool, checkpoints: Iterable[int] | None,
         rule: StepRule | None) -> MultiHeadResult:
    """``descend`` with stacked heads: each stacked parameter has 2 trailing axes per head when
    ``per_head`` (normalized GD then normalizes every head separately) or 3 (all heads as one
    parameter)."""
    k = 2 if per_head else 3
    final, cps, hist, risk, ev = descend(params, grad_fn, steps=steps, lr=lr,
                                         normalized=normalized, checkpoints=checkpoints,
                                         rule=rule, ndim={name: k for name in params})
    W = to_W(final)
    if not (np.all(np.isfinite(W)) and np.all(np.isfinite(ev.probs))):
        raise NumericalError("W", "multi-head training produced non-finite values (NaN/inf)")
    return MultiHeadResult(params=final, W=W, checkpoints=cps, history=hist, risk=risk,
                           probs=ev.probs, selected=ev.probs.argmax(axis=-1))


def train_heads(
    X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray, W0: np.ndarray, *,
    steps: int = 2000, lr: float = 0.1, normalized: bool = True, per_head: bool = True,
    loss: str | Loss = "logistic", checkpoints: Iterable[int] | None = None,
    rule: StepRule | None = None,
) -> MultiHeadResult:
    """(Normalized) GD on the H heads W_h jointly, through ``descend``; W0 (B, H, d, d_z) or
    (H, d, d_z). Normalized GD steps every head by lr * g_h / ||g_h||_F (``per_head``) or all
    heads by lr * g / ||g||_F; plain GD is W <- W - lr * grad (Deora et al.'s algorithm)."""
    X, Y, W0, Z, v = _check(X, Y, W0, Z, v)
    W0 = _stacked("W0", W0)
    steps = as_int("steps", steps, low=0)
    ell = get_loss(loss)
    hv = _head_values(X, v)
    scaled = direction_only(normalized, rule)

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        g, ev = _grad(X, Y, par["W"], Z, v, ell, scaled, hv)
        return {"W": g}, ev

    return _run({"W": W0}, grad_fn, lambda p: p["W"], steps=steps, lr=lr,
                normalized=normalized, per_head=per_head, checkpoints=checkpoints, rule=rule)


def train_heads_KQ(
    X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray, K0: np.ndarray,
    Q0: np.ndarray, *, steps: int = 2000, lr: float = 0.1, normalized: bool = True,
    per_head: bool = True, loss: str | Loss = "logistic",
    checkpoints: Iterable[int] | None = None, rule: StepRule | None = None,
) -> MultiHeadResult:
    """(Normalized) GD on (K_h, Q_h) of every head; K0 (B, H, d, m), Q0 (B, H, d_z, m). K and
    Q are normalized separately (as ``train_KQ`` does), per head when ``per_head``."""
    K0 = _stacked("K0", K0)
    Q0 = _stacked("Q0", Q0, K0.shape[1])
    if Q0.shape[-1] != K0.shape[-1]:
        raise ProblemError("Q0", f"expected {K0.shape[-1]} columns as K0, got {Q0.shape}")
    X, Y, _, Z, v = _check(X, Y, np.matmul(K0, np.swapaxes(Q0, -1, -2)), Z, v)
    steps = as_int("steps", steps, low=0)
    ell = get_loss(loss)
    hv = _head_values(X, v)
    scaled = direction_only(normalized, rule)

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        gK, gQ, ev = _grad_KQ(X, Y, par["K"], par["Q"], Z, v, ell, scaled, hv)
        return {"K": gK, "Q": gQ}, ev

    return _run({"K": K0, "Q": Q0}, grad_fn,
                lambda p: np.matmul(p["K"], np.swapaxes(p["Q"], -1, -2)), steps=steps, lr=lr,
                normalized=normalized, per_head=per_head, checkpoints=checkpoints, rule=rule)
