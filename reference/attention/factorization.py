"""The (K, Q) factorization W = K Q^T beyond m = d: balancedness, gradient flow, diagonal factors.

* Conservation (standard for two-layer factorizations; derived and verified in
  ``symbolic.kq_conservation``): for any loss of W = K Q^T, gradient flow K' = -G Q, Q' = -G^T K
  (G = dL/dW) keeps D = K^T K - Q^T Q constant. One GD step of size eta changes it by exactly
  eta^2 (Q^T G^T G Q - K^T G G^T K) (``gd_balance_increment``), so over a time horizon t = N eta
  the drift is O(eta): GD from a balanced start (D = 0) stays balanced up to O(eta).
* Balanced factors attain the variational nuclear norm: (||K||^2 + ||Q||^2)/2 >= ||K Q^T||_*
  with equality iff balanced; a re-factorization (K R, Q R^{-T}) of the same W costs more unless
  R is orthogonal on the balanced split (``refactorization_cost``).
* Gradient flow on (K, Q) (Sheen, Chen, Wang, Zhou, arXiv 2403.08699, abstract: exponential loss,
  K and Q trained separately; proved for diagonal K and Q and for weights whose singular spaces
  are aligned with the data at initialisation) implicitly minimizes ||K Q^T||_*. With K = diag(k),
  Q = diag(q) the nuclear norm of W = diag(k o q) is ||k o q||_1, so the SVM of that setting is
  the l1 program ``solve_diagonal_nuclear_svm``: min ||w||_1 s.t. <a_k o z_k, w> >= 1.

``train_kq_flow`` follows the flow path with Euler steps: plain (``normalized=False``: GD, the
flow in its own time) or jointly normalized (one step lr * g / ||g|| for the stacked (K, Q):
the same path, reparameterized by arc length, which reaches large norms in few steps).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnsvm.reference.attention.gradients import grad_W
from attnsvm.reference.attention.losses import Loss, get_loss
from attnsvm.reference.attention.models import LinearHead
from attnsvm.reference.attention.training import descend
from attnsvm.reference.errors import InfeasibleSVM, NumericalError, ProblemError
from attnsvm.reference.svm.constraints import MarginConstraints
from attnsvm.reference.svm.frobenius import fro_min_norm
from attnsvm.reference.validate import as_float, as_int, as_real_array

__all__ = [
    "DiagonalSVMSolution",
    "FlowResult",
    "balance_defect",
    "factorization_cost",
    "gd_balance_increment",
    "refactorization_cost",
    "solve_diagonal_frobenius_svm",
    "solve_diagonal_nuclear_svm",
    "train_kq_flow",
]


def _T(A: np.ndarray) -> np.ndarray:
    return np.swapaxes(A, -1, -2)


def balance_defect(K: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """D = K^T K - Q^T Q (batched over leading axes), conserved by gradient flow."""
    return _T(K) @ K - _T(Q) @ Q


def gd_balance_increment(K: np.ndarray, Q: np.ndarray, G: np.ndarray, eta: float) -> np.ndarray:
    """D(K - eta G Q, Q - eta G^T K) - D(K, Q) = eta^2 (Q^T G^T G Q - K^T G G^T K) (exact)."""
    GQ, GtK = G @ Q, _T(G) @ K
    return eta**2 * (_T(GQ) @ GQ - _T(GtK) @ GtK)


def factorization_cost(K: np.ndarray, Q: np.ndarray) -> np.ndarray:
    """(||K||_F^2 + ||Q||_F^2) / 2 per leading index."""
    return 0.5 * (np.sum(K * K, axis=(-2, -1)) + np.sum(Q * Q, axis=(-2, -1)))


def refactorization_cost(K: np.ndarray, Q: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Cost of the re-factorization (K R, Q R^{-T}) of the same W = K Q^T; R (..., m, m)."""
    return factorization_cost(K @ R, Q @ _T(np.linalg.inv(R)))


@dataclass(frozen=True)
class FlowResult:
    """Euler path of (K, Q) gradient flow: final K, Q (B, d, m), W = K Q^T, checkpoints, the
    iterates' history (B, C, d, m) for K and Q, risk (B, C) and the final softmax (B, n, T)."""

    K: np.ndarray
    Q: np.ndarray
    W: np.ndarray
    checkpoints: np.ndarray
    history: dict[str, np.ndarray]
    risk: np.ndarray
    probs: np.ndarray

    @property
    def min_max_prob(self) -> np.ndarray:
        return self.probs.max(axis=-1).min(axis=-1)


def train_kq_flow(
    X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray, K0: np.ndarray, Q0: np.ndarray,
    *, steps: int, lr: float, normalized: bool = False, diagonal: bool = False,
    loss: str | Loss = "exponential", checkpoints: Iterable[int] | None = None,
) -> FlowResult:
    """Euler steps of gradient flow on (K, Q) (module docstring), batched: K0 (B, d, m), Q0
    (B, d_z, m). ``diagonal``: K = diag(k), Q = diag(q) (m = d = d_z; the off-diagonal entries
    of K0, Q0 must be 0 and stay 0: the gradient in k is diag(G) o q, in q diag(G) o k)."""
    X = as_real_array("X", X, ndim=(3, 4))
    K0 = np.array(as_real_array("K0", K0, ndim=(2, 3)), dtype=np.float64)
    Q0 = np.array(as_real_array("Q0", Q0, ndim=(2, 3)), dtype=np.float64)
    K0, Q0 = (K0 if K0.ndim == 3 else K0[None]), (Q0 if Q0.ndim == 3 else Q0[None])
    if K0.shape[-1] != Q0.shape[-1] or K0.shape[-2] != X.shape[-1]:
        raise ProblemError("Q0", f"K0 {K0.shape} and Q0 {Q0.shape} must be (B, d, m), (B, d_z, m)")
    steps = as_int("steps", steps, low=0)
    lr = as_float("lr", lr, positive=True)
    ell = get_loss(loss)
    head = LinearHead(np.asarray(v, dtype=np.float64))
    values = np.matmul(X, head.v[..., None, :, None])[..., 0]
    d = K0.shape[-2]
    if diagonal:
        if not (K0.shape[-2:] == Q0.shape[-2:] == (d, d)):
            raise ProblemError("K0", "diagonal factors need d = d_z = m")
        off = ~np.eye(d, dtype=bool)
        if np.any(K0[..., off] != 0) or np.any(Q0[..., off] != 0):
            raise ProblemError("K0", "diagonal factors need zero off-diagonal entries")
        theta0 = np.stack([np.diagonal(K0, axis1=-2, axis2=-1),
                           np.diagonal(Q0, axis1=-2, axis2=-1)], axis=-2)  # (B, 2, d)
    else:
        theta0 = np.concatenate([K0, Q0], axis=-2)  # (B, d + d_z, m)

    def factors(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if diagonal:
            eye = np.eye(d)
            return theta[..., 0, :, None] * eye, theta[..., 1, :, None] * eye
        return theta[..., :d, :], theta[..., d:, :]

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        K, Q = factors(par["kq"])
        G, ev = grad_W(X, Y, K @ _T(Q), Z, head, ell, values, scaled=normalized)
        if diagonal:
            g = np.diagonal(G, axis1=-2, axis2=-1)
            return {"kq": np.stack([g * par["kq"][..., 1, :], g * par["kq"][..., 0, :]],
                                   axis=-2)}, ev
        return {"kq": np.concatenate([G @ Q, _T(G) @ K], axis=-2)}, ev

    final, cps, hist, risk, ev = descend({"kq": theta0}, grad_fn, steps=steps, lr=lr,
                                         normalized=normalized, checkpoints=checkpoints,
                                         ndim={"kq": 2})
    K, Q = factors(final["kq"])
    hK, hQ = factors(hist["kq"])
    if not (np.all(np.isfinite(K)) and np.all(np.isfinite(Q))):
        raise NumericalError("K", "(K, Q) flow produced non-finite values (NaN/inf)")
    probs = np.asarray(ev.probs)
    probs = np.broadcast_to(probs, (K.shape[0], *probs.shape[-2:]))
    return FlowResult(K=K, Q=Q, W=K @ _T(Q), checkpoints=cps, history={"K": hK, "Q": hQ},
                      risk=risk, probs=probs)


@dataclass(frozen=True)
class DiagonalSVMSolution:
    """min ||w||_1 s.t. <a_k o z_k, w> >= 1 (Att-SVM* over diagonal W = diag(w)) with its
    certificate: ``lam`` >= 0 dual multipliers, ``lower_bound`` = 1^T lam / max(1, ||C^T
    lam||_inf) (weak duality: a valid lower bound for any lam >= 0), ``duality_gap`` =
    (objective - lower_bound) / objective, ``min_margin`` recomputed."""

    W: np.ndarray
    w: np.ndarray
    objective: float
    lower_bound: float
    duality_gap: float
    min_margin: float
    lam: np.ndarray


def _diag_rows(cons: MarginConstraints) -> np.ndarray:
    if cons.a.shape[1] != cons.z.shape[1]:
        raise ProblemError("Z", "diagonal W needs d_z = d")
    return cons.a * cons.z


def solve_diagonal_nuclear_svm(cons: MarginConstraints, *, gap_tol: float = 1e-7
                               ) -> DiagonalSVMSolution:
    """The l1 program above as an LP (HiGHS through scipy), certified from its own primal and
    dual (never from the solver's status). Infeasible (no diagonal W separates) raises
    InfeasibleSVM with a Farkas certificate lam >= 0, sum lam = 1, C^T lam = 0 (checked)."""
    from scipy.optimize import linprog

    gap_tol = as_float("gap_tol", gap_tol, positive=True)
    C = _diag_rows(cons)
    K, d = C.shape
    res = linprog(np.ones(2 * d), A_ub=-np.hstack([C, -C]), b_ub=-np.ones(K),
                  bounds=(0, None), method="highs")
    if res.x is None:
        far = linprog(np.zeros(K), A_eq=np.vstack([C.T, np.ones((1, K))]),
                      b_eq=np.r_[np.zeros(d), 1.0], bounds=(0, None), method="highs")
        scale = max(1.0, float(np.abs(C).max()))
        if far.x is not None and np.abs(C.T @ far.x).max() <= 1e-9 * scale:
            residual = float(np.abs(C.T @ far.x).max())
            raise InfeasibleSVM(
                f"no diagonal W satisfies the margins (Farkas: ||C^T lam||_inf = {residual:.2e})",
                {"lambda": far.x, "pairs": cons.pairs, "residual": residual, "proved": False})
        raise NumericalError("W", f"diagonal SVM LP failed without a certificate: {res.message}")
    w = res.x[:d] - res.x[d:]
    margins = C @ w
    mu = float(margins.min())
    if mu > 0:
        w = w / min(mu, 1.0)  # restore margins >= 1 exactly up to round-off
    lam = np.maximum(-np.asarray(res.ineqlin.marginals, dtype=np.float64), 0.0)
    lower = float(lam.sum()) / max(1.0, float(np.abs(C.T @ lam).max()))
    obj = float(np.abs(w).sum())
    gap = (obj - lower) / obj
    if not gap <= gap_tol:
        raise NumericalError("W", f"diagonal SVM not certified: relative duality gap {gap:.2e}")
    return DiagonalSVMSolution(W=np.diag(w), w=w, objective=obj, lower_bound=lower,
                               duality_gap=gap, min_margin=float((C @ w).min()), lam=lam)


def solve_diagonal_frobenius_svm(cons: MarginConstraints) -> np.ndarray:
    """min ||w||_2 s.t. <a_k o z_k, w> >= 1 (Att-SVM over diagonal W), by the certified
    least-norm solver ``fro_min_norm`` on the rows a_k o z_k with a scalar query 1; returns w."""
    C = _diag_rows(cons)
    rows = MarginConstraints(a=C, z=np.ones((C.shape[0], 1)), pairs=cons.pairs, rhs=cons.rhs)
    w, _, _ = fro_min_norm(rows, what="diagonal W")
    return w[:, 0]
