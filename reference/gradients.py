"""Empirical risk and its closed-form gradients (TF-SVM, Sec. 2 and the gradient in its Lemma on
the descent direction; MMTS, the gradient in p).

For L = (1/n) sum_i l(Y_i f_i) with f_i = psi(X_i^T s_i), s_i = softmax(X_i q_i) and q_i the
effective query of input i, the chain rule gives

    dL/dq_i = (1/n) l'(Y_i f_i) Y_i X_i^T (diag(s_i) - s_i s_i^T) X_i grad psi(u_i),   u_i = X_i^T s_i,

and (diag(s) - s s^T) h = s o (h - s^T h). Every parameterization only changes how q_i depends on
the parameters:  W:  q_i = W z_i          -> grad_W = sum_i (dL/dq_i) z_i^T
                 KQ: q_i = K Q^T z_i      -> grad_K = grad_W Q,   grad_Q = grad_W^T K
                 p:  q_i = W p (shared)   -> grad_p = W^T sum_i dL/dq_i
so one function, ``query_gradients``, serves them all. Arrays broadcast over leading batch dims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from reference.backend import namespace as array_namespace

from reference.losses import Loss, get_loss
from reference.models import (
    Head,
    LinearHead,
    attend,
    attention_logits,
    queries,
    row_sums,
    softmax_and_argmax,
)

Array = Any


@dataclass(frozen=True)
class RiskEvaluation:
    """The gradient with respect to every effective query and the forward quantities; the risk
    itself is evaluated on demand (training loops need it only at checkpoints)."""

    dq: Array  # (..., n, d)
    probs: Array  # (..., n, T)
    outputs: Array  # (..., n)
    margins: Array  # (..., n): Y_i f_i
    loss: Loss

    @property
    def risk(self) -> Array:
        """L = (1/n) sum_i l(Y_i f_i), shape (...,)."""
        xp = array_namespace(self.margins)
        return xp.sum(self.loss.value(self.margins), axis=-1) / self.margins.shape[-1]


def evaluate_queries(
    X: Array,
    Y: Array,
    q: Array,
    head: Head,
    loss: str | Loss,
    token_values: Array | None = None,
) -> RiskEvaluation:
    """Risk and dL/dq_i for given effective queries q (..., n, d) (the chain rule above).

    For a linear head, h = X v does not depend on the parameters; ``token_values`` passes it in
    precomputed (training loops do), which saves two batched products per step.
    """
    xp = array_namespace(X, q)
    ell = get_loss(loss)
    s, top = softmax_and_argmax(attention_logits(X, q))
    # (diag(s) - s s^T) h = s o (h - s^T h). Near saturation (1 - s_max below machine epsilon)
    # h_t - s^T h loses every digit for the dominant token; measuring h from the dominant token's
    # value r instead, h_t - s^T h = (h_t - r) - sum_k s_k (h_k - r), keeps full relative accuracy.
    if isinstance(head, LinearHead):
        h = xp.matmul(X, head.v[..., None, :, None])[..., 0] if token_values is None else token_values
        h = xp.broadcast_to(h, s.shape)
        hr = h - xp.take_along_axis(h, top, axis=-1)
        shift = row_sums(s * hr)
        f = (xp.take_along_axis(h, top, axis=-1) + shift)[..., 0]  # s^T h, accurately
    else:
        u = attend(X, s)
        f = head.value(u)
        h = xp.broadcast_to(xp.matmul(X, head.grad(u)[..., None])[..., 0], s.shape)
        hr = h - xp.take_along_axis(h, top, axis=-1)
        shift = row_sums(s * hr)
    margin = Y * f
    coeff = ell.derivative(margin) * Y / X.shape[-3]  # (..., n)
    centered = s * (hr - shift)
    dq = coeff[..., None] * attend(X, centered)
    return RiskEvaluation(dq=dq, probs=s, outputs=f, margins=margin, loss=ell)


def risk_W(X: Array, Y: Array, W: Array, Z: Array, head: Head, loss: str | Loss = "logistic") -> Array:
    """L(W) = (1/n) sum_i l(Y_i psi(X_i^T softmax(X_i W z_i))) (TF-SVM W-ERM)."""
    return evaluate_queries(X, Y, queries(W, Z), head, loss).risk


def grad_W(
    X: Array,
    Y: Array,
    W: Array,
    Z: Array,
    head: Head,
    loss: str | Loss = "logistic",
    token_values: Array | None = None,
) -> tuple[Array, RiskEvaluation]:
    """Closed-form grad_W L = sum_i (dL/dq_i) z_i^T; returns (gradient, evaluation)."""
    xp = array_namespace(W, Z)
    ev = evaluate_queries(X, Y, queries(W, Z), head, loss, token_values)
    return xp.matmul(xp.matrix_transpose(ev.dq), Z), ev


def grad_KQ(
    X: Array,
    Y: Array,
    K: Array,
    Q: Array,
    Z: Array,
    head: Head,
    loss: str | Loss = "logistic",
    token_values: Array | None = None,
) -> tuple[Array, Array, RiskEvaluation]:
    """Closed-form gradients of L(K Q^T) (TF-SVM KQ-ERM): (grad_W Q, grad_W^T K, evaluation)."""
    xp = array_namespace(K, Q)
    g, ev = grad_W(X, Y, xp.matmul(K, xp.matrix_transpose(Q)), Z, head, loss, token_values)
    return xp.matmul(g, Q), xp.matmul(xp.matrix_transpose(g), K), ev


def prompt_queries(p: Array, n: int, key: Array | None = None) -> Array:
    """The shared query W p of prompt attention, broadcast to every input: (..., n, d)."""
    xp = array_namespace(p)
    q = p if key is None else xp.matmul(key, p[..., None])[..., 0]
    return xp.broadcast_to(q[..., None, :], (*q.shape[:-1], n, q.shape[-1]))


def grad_p(
    X: Array, Y: Array, p: Array, v: Array, key: Array | None = None, loss: str | Loss = "logistic"
) -> tuple[Array, Array, RiskEvaluation]:
    """Gradients of MMTS's L(v, p) for f = <X v, softmax(X W p)>: (grad_p, grad_v, evaluation).

    grad_p = W^T sum_i dL/dq_i (MMTS, gradient of the prompt), grad_v = (1/n) sum_i l' Y_i X_i^T s_i.
    """
    xp = array_namespace(X, p)
    n = X.shape[-3]
    ev = evaluate_queries(X, Y, prompt_queries(p, n, key), LinearHead(v), loss)
    total = xp.sum(ev.dq, axis=-2)
    gp = total if key is None else xp.matmul(xp.matrix_transpose(key), total[..., None])[..., 0]
    ell = get_loss(loss)
    coeff = ell.derivative(Y * ev.outputs) * Y / n
    gv = xp.sum(coeff[..., None] * attend(X, ev.probs), axis=-2)
    return gp, gv, ev
