"""Empirical risk and its closed-form gradients (TF-SVM, Sec. 2 and the gradient in its Lemma on
the descent direction; MMTS, the gradient in p).

For L = (1/n) sum_i l(Y_i f_i) with f_i = psi(X_i^T s_i), s_i = softmax(X_i q_i) and q_i the
effective query of input i, the chain rule gives

    dL/dq_i = (1/n) l'(Y_i f_i) Y_i X_i^T (diag(s_i) - s_i s_i^T) X_i grad psi(u_i),
    u_i = X_i^T s_i,

and (diag(s) - s s^T) h = s o (h - s^T h). Every parameterization only changes how q_i depends on
the parameters:  W:  q_i = W z_i          -> grad_W = sum_i (dL/dq_i) z_i^T
                 KQ: q_i = K Q^T z_i      -> grad_K = grad_W Q,   grad_Q = grad_W^T K
                 p:  q_i = W p (shared)   -> grad_p = W^T sum_i dL/dq_i
so one function, ``query_gradients``, serves them all. Arrays broadcast over leading batch dims.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attnsvm.reference.attention.backend import namespace as array_namespace
from attnsvm.reference.attention.losses import Loss, get_loss
from attnsvm.reference.attention.models import (
    Head,
    LinearHead,
    attend,
    attention_logits,
    prompt_queries,
    queries,
    row_sums,
    softmax_parts,
)

Array = Any


@dataclass(frozen=True)
class RiskEvaluation:
    """The gradient with respect to every effective query and the forward quantities; the risk
    itself is evaluated on demand (training loops need it only at checkpoints).

    ``dq`` is the true gradient; ``dq_scaled`` is the same gradient times a positive factor per
    batch element, exp(-log_scale), chosen so that its largest input contribution is O(1). The
    true gradient underflows to exactly zero once the loss or the softmax saturates far enough
    (l'(m) ~ e^{-m}, non-selected s_t ~ e^{-gap}); its direction, which is all normalized GD
    uses, stays exact in ``dq_scaled``.
    """

    unit: Array  # (..., n, d): dL/dq_i = exp(log_coeff_i) * unit_i
    log_coeff: Array  # (..., n)
    probs: Array  # (..., n, T)
    outputs: Array  # (..., n)
    margins: Array  # (..., n): Y_i f_i
    loss: Loss

    @property
    def dq(self) -> Array:
        """dL/dq_i, shape (..., n, d) (underflows to 0 far into saturation)."""
        return array_namespace(self.unit).exp(self.log_coeff)[..., None] * self.unit

    @property
    def log_scale(self) -> Array:
        """log of the factor between ``dq`` and ``dq_scaled``, shape (...,) (0 where the
        gradient is exactly zero)."""
        xp = array_namespace(self.log_coeff)
        peak = xp.max(self.log_coeff, axis=-1)
        return xp.where(peak > -xp.inf, peak, 0.0)

    @property
    def dq_scaled(self) -> Array:
        """dq * exp(-log_scale): the gradient's direction with an O(1) largest term."""
        xp = array_namespace(self.unit)
        return xp.exp(self.log_coeff - self.log_scale[..., None])[..., None] * self.unit

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

    Numerics. (diag(s) - s s^T) h = s o (h - s^T h); near saturation h_t - s^T h loses every
    digit for the dominant token, so values are measured from the dominant token's, hr_t = h_t -
    h_top, and h_t - s^T h = hr_t - sum_k s_k hr_k. Only tokens whose value differs from the top's
    contribute to that sum; with eps_i the largest probability among them ("the reference token")
    and rho_t = s_t / eps_i <= 1, the centred vector is eps_i (rho o hr - s S), S = sum_k rho_k
    hr_k. So the gradient of input i is l'(m_i) eps_i times an O(1) vector, and that product is
    formed in log space: its direction survives when it underflows (see RiskEvaluation), also
    when the runner-up ties with the top in value (then eps_i is far below the runner-up's mass).

    For a linear head, h = X v does not depend on the parameters; ``token_values`` passes it in
    precomputed (training loops do), which saves two batched products per step.
    """
    xp = array_namespace(X, q)
    ell = get_loss(loss)
    sm = softmax_parts(attention_logits(X, q))
    s, top, rel = sm.probs, sm.top, sm.rel  # rel = logits - max <= 0, exactly 0 at the top
    log_Z = xp.log(sm.Z)
    if isinstance(head, LinearHead):
        h = (
            xp.matmul(X, head.v[..., None, :, None])[..., 0]
            if token_values is None
            else token_values
        )
        h = xp.broadcast_to(h, s.shape)
        u = None
    else:
        u = attend(X, s)
        h = xp.broadcast_to(xp.matmul(X, head.grad(u)[..., None])[..., 0], s.shape)
    h_top = xp.take_along_axis(h, top, axis=-1)
    hr = h - h_top  # exactly 0 at the top and at tokens tied with it in value
    others = xp.where(hr == 0, -xp.inf, rel)
    ref = xp.argmax(others, axis=-1, keepdims=True)
    l_ref = xp.take_along_axis(others, ref, axis=-1)  # -inf when every value equals the top's
    contributes = l_ref > -xp.inf
    l_ref = xp.where(contributes, l_ref, 0.0)
    rho = xp.exp(others - l_ref)  # <= 1; 0 where hr = 0
    log_eps = xp.where(contributes, l_ref - log_Z, -xp.inf)
    rho_hr = rho * hr
    S = row_sums(rho_hr)  # sum_k s_k hr_k = eps * S
    shift = xp.exp(log_eps) * S
    f = head.value(u) if u is not None else (h_top + shift)[..., 0]  # s^T h, accurately
    c_unit = rho_hr - s * S  # (diag(s) - s s^T) h = eps * c_unit
    margin = Y * f
    log_coeff = ell.log_abs_derivative(margin) + log_eps[..., 0]  # (..., n)
    sign = -Y / X.shape[-3]  # l' < 0: every loss of Assumption A is strictly decreasing
    unit = sign[..., None] * attend(X, c_unit)
    return RiskEvaluation(
        unit=unit, log_coeff=log_coeff, probs=s, outputs=f, margins=margin, loss=ell
    )


def risk_W(
    X: Array, Y: Array, W: Array, Z: Array, head: Head, loss: str | Loss = "logistic"
) -> Array:
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
    scaled: bool = False,
) -> tuple[Array, RiskEvaluation]:
    """Closed-form grad_W L = sum_i (dL/dq_i) z_i^T; returns (gradient, evaluation).

    With ``scaled`` the gradient is returned times exp(-ev.log_scale) (same direction, no
    underflow; what normalized GD needs)."""
    xp = array_namespace(W, Z)
    ev = evaluate_queries(X, Y, queries(W, Z), head, loss, token_values)
    return xp.matmul(xp.matrix_transpose(ev.dq_scaled if scaled else ev.dq), Z), ev


def grad_KQ(
    X: Array,
    Y: Array,
    K: Array,
    Q: Array,
    Z: Array,
    head: Head,
    loss: str | Loss = "logistic",
    token_values: Array | None = None,
    scaled: bool = False,
) -> tuple[Array, Array, RiskEvaluation]:
    """Closed-form gradients of L(K Q^T) (TF-SVM KQ-ERM): (grad_W Q, grad_W^T K, evaluation).
    ``scaled`` as in grad_W (one common positive factor for both)."""
    xp = array_namespace(K, Q)
    g, ev = grad_W(X, Y, xp.matmul(K, xp.matrix_transpose(Q)), Z, head, loss, token_values, scaled)
    return xp.matmul(g, Q), xp.matmul(xp.matrix_transpose(g), K), ev


def grad_p(
    X: Array,
    Y: Array,
    p: Array,
    v: Array,
    key: Array | None = None,
    loss: str | Loss = "logistic",
    scaled: bool = False,
) -> tuple[Array, Array, RiskEvaluation]:
    """Gradients of MMTS's L(v, p) for f = <X v, softmax(X W p)>: (grad_p, grad_v, evaluation).

    grad_p = W^T sum_i dL/dq_i (MMTS, gradient of the prompt); grad_v = (1/n) sum_i l'(m_i) Y_i
    X_i^T s_i. With ``scaled`` each is returned times its own positive factor (directions exact,
    no underflow), for normalized GD which normalizes p and v separately.
    """
    xp = array_namespace(X, p)
    n = X.shape[-3]
    ev = evaluate_queries(X, Y, prompt_queries(p, n, key), LinearHead(v), loss)
    total = xp.sum(ev.dq_scaled if scaled else ev.dq, axis=-2)
    gp = total if key is None else xp.matmul(xp.matrix_transpose(key), total[..., None])[..., 0]
    ell = get_loss(loss)
    log_c = ell.log_abs_derivative(ev.margins)
    if scaled:
        log_c = log_c - xp.max(log_c, axis=-1, keepdims=True)
    coeff = -xp.exp(log_c) * Y / n  # l' = -|l'| (Assumption A)
    gv = xp.sum(coeff[..., None] * attend(X, ev.probs), axis=-2)
    return gp, gv, ev
