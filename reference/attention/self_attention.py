"""Causal and full self-attention with a label per position: risk, gradient, training, path.

TF-SVM (arXiv 2308.16898), appendix, the sequence-to-sequence extension: the output at
position k of sequence i is

    f_ik(W) = vᵀ X_iᵀ s_ik,   s_ik = softmax(mask_k ∘ X_i W x_ik)   (masked logits are −inf),

and the risk is the mean over the n T queries, L(W) = (1/(nT)) Σ_{i,k} ℓ(Y_ik f_ik). The query of
position k is the token x_ik itself (fixed data), so with c_ik = ℓ'(Y_ik f_ik) Y_ik / (nT),

    ∇_W L = Σ_{i,k} c_ik X_iᵀ (diag(s_ik) − s_ik s_ikᵀ) X_i v  x_ikᵀ

(the cross-attention gradient of ``attention.gradients`` with the queries stacked). The
numerics are those of ``gradients.evaluate_queries``: values measured from the dominant
token's, the centred vector formed from the runner-up's probability in log space, so the
direction survives when the gradient itself underflows (saturated loss or softmax). A masked
token has probability exactly 0 and contributes nothing; causal position 0 (one admissible
token) has s = e_0, f_i0 = vᵀx_i0 for every W and gradient exactly 0.

Training goes through ``training.descend`` (the one loop), batched over runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnsvm.reference.attention.losses import Loss, get_loss
from attnsvm.reference.attention.models import row_sums, softmax_parts
from attnsvm.reference.attention.problem import (
    SequenceProblem,
    admissible,
    as_sequence_problem,
    check_mask,
)
from attnsvm.reference.attention.regularization import PathPoint
from attnsvm.reference.attention.training import (
    Projection,
    StepRule,
    TrainResult,
    descend,
    direction_only,
)
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int, as_real_array, check_memory

Array = Any


@dataclass(frozen=True)
class SelfAttentionEvaluation:
    """Forward quantities and the gradient of the masked self-attention risk.

    ``probs`` (..., n, T, T): s_ik over tokens t; ``outputs`` and ``margins`` (..., n, T);
    ``grad`` the gradient (times exp(−log_scale) per run when computed ``scaled``: same
    direction, largest term O(1)); ``log_scale`` (...,)."""

    probs: np.ndarray
    outputs: np.ndarray
    margins: np.ndarray
    grad: np.ndarray
    log_scale: np.ndarray
    loss: Loss

    @property
    def risk(self) -> np.ndarray:
        """L = (1/(nT)) Σ_{i,k} ℓ(Y_ik f_ik), shape (...,)."""
        m = self.margins
        return np.sum(self.loss.value(m), axis=(-2, -1)) / (m.shape[-1] * m.shape[-2])


def _check_inputs(X: object, Y: object, v: object, W: object) -> tuple[np.ndarray, ...]:
    Xa = as_real_array("X", X, ndim=(3, 4))
    n, T, d = Xa.shape[-3:]
    if n < 1 or T < 1 or d < 1:
        raise ProblemError("X", f"needs n, T, d >= 1, got shape {Xa.shape}")
    Ya = as_real_array("Y", Y, ndim=(2, 3))
    if Ya.shape[-2:] != (n, T):
        raise ProblemError("Y", f"expected (..., {n}, {T}) to match X, got shape {Ya.shape}")
    va = as_real_array("v", v, ndim=(1, 2))
    if va.shape[-1] != d:
        raise ProblemError("v", f"expected (..., {d}) to match X, got shape {va.shape}")
    Wa = as_real_array("W", W, ndim=(2, 3), finite=False)
    if Wa.shape[-2:] != (d, d):
        raise ProblemError("W", f"expected (..., {d}, {d}), got shape {Wa.shape}")
    return Xa, Ya, va, Wa


def evaluate_self_attention(
    X: np.ndarray, Y: np.ndarray, v: np.ndarray, W: np.ndarray, mask: str,
    loss: str | Loss = "logistic", *, scaled: bool = False,
) -> SelfAttentionEvaluation:
    """Risk and ∇_W L of masked self-attention (module docstring), batched: X (..., n, T, d),
    Y (..., n, T), v (..., d), W (..., d, d). ``scaled``: the gradient's direction in log
    space (what normalized GD needs); otherwise the true gradient (which underflows to 0 far
    into saturation)."""
    X, Y, v, W = _check_inputs(X, Y, v, W)
    ok = admissible(X.shape[-2], check_mask(mask))
    ell = get_loss(loss)
    n, T = X.shape[-3], X.shape[-2]
    Xt = np.swapaxes(X, -1, -2)
    q = X @ np.swapaxes(W, -1, -2)[..., None, :, :]  # q_ik = W x_ik, (..., n, T, d)
    logits = np.where(ok, q @ Xt, -np.inf)  # x_it . q_ik at [..., i, k, t]
    sm = softmax_parts(logits)
    s, top, rel = sm.probs, sm.top, sm.rel
    log_Z = np.log(sm.Z)
    h = np.broadcast_to((X @ v[..., None, :, None])[..., 0][..., None, :], s.shape)
    h_top = np.take_along_axis(h, top, axis=-1)
    hr = np.where(ok, h - h_top, 0.0)  # exactly 0 at the top, at ties and at masked tokens
    others = np.where(hr == 0, -np.inf, rel)
    ref = np.argmax(others, axis=-1, keepdims=True)
    l_ref = np.take_along_axis(others, ref, axis=-1)
    contributes = l_ref > -np.inf
    l_ref = np.where(contributes, l_ref, 0.0)
    rho = np.exp(others - l_ref)
    log_eps = np.where(contributes, l_ref - log_Z, -np.inf)
    rho_hr = rho * hr
    S = row_sums(rho_hr)
    f = (h_top + np.exp(log_eps) * S)[..., 0]  # sᵀh, accurately
    c_unit = rho_hr - s * S  # (diag(s) − s sᵀ) h = eps · c_unit
    margin = Y * f
    with np.errstate(divide="ignore"):
        log_coeff = ell.log_abs_derivative(margin) + log_eps[..., 0]  # (..., n, T)
    peak = np.max(log_coeff, axis=(-2, -1))
    log_scale = np.where(peak > -np.inf, peak, 0.0) if scaled else np.zeros_like(peak)
    coeff = np.exp(log_coeff - log_scale[..., None, None]) * (-Y / (n * T))
    dq = coeff[..., None] * (c_unit @ X)  # dL/dq_ik, (..., n, T, d)
    grad = np.sum(np.swapaxes(dq, -1, -2) @ X, axis=-3)  # Σ_ik dL/dq_ik x_ikᵀ
    return SelfAttentionEvaluation(probs=s, outputs=f, margins=margin, grad=grad,
                                   log_scale=log_scale, loss=ell)


def self_attention_risk(X: np.ndarray, Y: np.ndarray, v: np.ndarray, W: np.ndarray, mask: str,
                        loss: str | Loss = "logistic") -> np.ndarray:
    """L(W) of masked self-attention, shape (...,) (batched over W)."""
    return evaluate_self_attention(X, Y, v, W, mask, loss).risk


def self_attention_memory_bytes(n: int, T: int, d: int, runs: int) -> int:
    """Peak memory of one training step: per run the (n, T, T) logits and their by-products
    (about 12 arrays), the (n, T, d) queries and gradient terms (4), the d x d parameter,
    gradient and checkpoints (8); plus the data."""
    return 8 * (runs * (12 * n * T * T + 4 * n * T * d + 8 * d * d) + 4 * n * T * d)


def train_self_attention(
    problem: SequenceProblem,
    W0: np.ndarray,
    mask: str = "causal",
    *,
    steps: int = 2000,
    lr: float = 0.1,
    normalized: bool = True,
    loss: str | Loss = "logistic",
    checkpoints: Iterable[int] | None = None,
    project: Projection | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    rule: StepRule | None = None,
) -> TrainResult:
    """(Normalized) GD on the masked self-attention risk L(W), batched over runs (W0 of shape
    (B, d, d) or (d, d)), through ``training.descend``. ``TrainResult.probs`` holds the stacked
    queries: shape (B, n T, T), row q = i T + k; ``selected`` (B, n T) likewise."""
    problem = as_sequence_problem(problem)
    check_mask(mask)
    d = problem.d
    W0 = as_real_array("W0", W0, ndim=(2, 3))
    if W0.shape[-2:] != (d, d):
        raise ProblemError("W0", f"expected (..., {d}, {d}), got shape {W0.shape}")
    runs = 1 if W0.ndim == 2 else W0.shape[0]
    check_memory("runs", self_attention_memory_bytes(problem.n, problem.T, d, runs),
                 f"{runs} self-attention run(s) on n = {problem.n}, T = {problem.T}, d = {d}")
    loss = get_loss(loss)
    scaled = direction_only(normalized, rule)
    X, Y, v = problem.X, problem.Y, problem.v

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        ev = evaluate_self_attention(X, Y, v, par["W"], mask, loss, scaled=scaled)
        return {"W": ev.grad}, ev

    final, cps, hist, risk, ev = descend(
        {"W": W0 if W0.ndim == 3 else W0[None]}, grad_fn, steps=steps, lr=lr,
        normalized=normalized, checkpoints=checkpoints, project=project,
        lr_schedule=lr_schedule, rule=rule)
    probs = np.asarray(ev.probs).reshape(risk.shape[0], problem.n * problem.T, problem.T)
    return TrainResult(params=final, checkpoints=cps, history=hist, risk=risk, probs=probs,
                       selected=probs.argmax(axis=-1))


def _ball(R: float) -> Projection:
    def project(par: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        W = par["W"]
        nrm = np.sqrt(np.sum(W * W, axis=(-2, -1), keepdims=True))
        return {"W": W * np.minimum(1.0, R / np.maximum(nrm, 1e-300))}

    return project


def self_attention_path(
    problem: SequenceProblem,
    radii: Iterable[float],
    mask: str = "causal",
    *,
    starts: int = 6,
    steps: int = 1200,
    seed: int = 0,
    loss: str = "logistic",
) -> list[PathPoint]:
    """The regularization path W_R ∈ argmin_{||W||_F <= R} L(W) of masked self-attention over
    increasing radii, approximated as ``regularization.regularization_path_W`` does: projected
    normalized GD from ``starts`` random starts on the sphere of radius R plus the previous
    radius' solution rescaled, step 0.1 R decaying to 0.001 R; the best start is kept."""
    problem = as_sequence_problem(problem)
    starts = as_int("starts", starts, low=1)
    steps = as_int("steps", steps, low=1)
    seed = as_int("seed", seed, low=0)
    rs = sorted(as_float("radii", r, positive=True) for r in radii)
    if not rs:
        raise ProblemError("radii", "expected at least one positive radius")
    d = problem.d
    points: list[PathPoint] = []

    def decay(k: int) -> float:
        return float(np.exp(np.log(1e-2) * k / max(steps - 1, 1)))

    for j, R in enumerate(rs):
        W0 = np.random.default_rng(seed + j).standard_normal((starts, d, d))
        W0 *= R / np.linalg.norm(W0, axis=(1, 2), keepdims=True)
        if points:
            prev = points[-1].W
            W0[0] = prev * (R / max(float(np.linalg.norm(prev)), 1e-300))
        res = train_self_attention(problem, W0, mask, steps=steps, lr=0.1 * R, loss=loss,
                                   project=_ball(R), lr_schedule=decay)
        final = res.params["W"]
        losses = np.asarray(self_attention_risk(problem.X, problem.Y, problem.v, final, mask,
                                                loss))
        best = int(np.argmin(losses))
        points.append(PathPoint(R=float(R), W=final[best], loss=float(losses[best]),
                                start_losses=losses))
    return points


def gaussian_sequence_problem(n: int, T: int, d: int, seed: int) -> SequenceProblem:
    """A seeded random sequence problem: tokens x_it ~ N(0, I_d / d) (norm about 1), labels
    Y_ik uniform in {+1, -1}, head v ~ N(0, I_d / d); the same seed gives the same bytes."""
    n, T, d = (as_int(name, x, low=low) for name, x, low in (("n", n, 1), ("T", T, 2),
                                                                ("d", d, 1)))
    seed = as_int("seed", seed, low=0)
    check_memory("n", 8.0 * 6 * n * T * d, f"a sequence problem with n = {n}, T = {T}, d = {d}")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d)) / np.sqrt(d)
    Y = rng.choice(np.array([-1.0, 1.0]), size=(n, T))
    v = rng.standard_normal(d) / np.sqrt(d)
    return SequenceProblem(X, Y, v)
