"""Att-SVM (Frobenius) solved through its structure, plus the cvxpy + Clarabel cross-check.

TF-SVM (arXiv 2308.16898), Sec. 2, Eq. (Att-SVM):

    W^mm_α = argmin ||W||_F  s.t.  (x_{iα_i} − x_it)ᵀ W z_i >= 1   for all i, t != α_i.

Constraint k is <A_k, W> with A_k = a_k z_kᵀ, so the Lagrange dual of ½||W||_F² lives on the
K = n(T−1) multipliers only:

    max_{λ >= 0}  1ᵀλ − ½ λᵀ G λ,     G = (A Aᵀ) ∘ (Z Zᵀ),     W = Σ_k λ_k a_k z_kᵀ

(the representer form, so rank W^mm <= n and its row space lies in span{z_i}: TF-SVM rank lemma).
The dual is unbounded exactly when the primal is infeasible, so we solve the *least-distance*
form (Lawson & Hanson, "Solving Least Squares Problems", Ch. 23): with h = rhs and H = G + h hᵀ,

    u = argmin_{u >= 0}  ½ uᵀ H u − hᵀu        (= ½||[Mᵀ; hᵀ] u − e_last||² − ½,  M Mᵀ = G),

which is always bounded; s = 1 − hᵀu > 0 iff the program is feasible, and then λ = u / s.
The NNLS is solved by block principal pivoting (Kim & Park 2011; Júdice & Pires 1994) on the
K x K Gram matrix, with Lawson–Hanson (``scipy.optimize.nnls``) as the fallback when a pivoting
block is singular; the support found is polished by re-solving G_SS λ_S = h_S, and the result
is certified by ``reference.certificates.certify`` (never by the solver's own account).
Equality rows (used by the multi-token programs) are free multipliers kept in every block.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla
from scipy.optimize import nnls

from reference.certificates import (
    INFEASIBLE_RTOL,
    RANK_RTOL,
    SUPPORT_RTOL,
    _row_factor,
    certify,
    make_solution,
    require_feasible,
    row_values,
)
from reference.errors import AttnsvmError, ProblemError
from reference.problem import AttentionProblem
from reference.svm_core import MarginConstraints, SVMSolution, margin_constraints
from reference.token_optimality import resolve_selection

__all__ = [
    "fro_min_norm",
    "representer_W",
    "solve_att_svm",
    "solve_att_svm_cvxpy",
    "solve_constraints_cvxpy",
]

_EPS = np.finfo(np.float64).eps


class _PivotingFailed(Exception):
    """Block principal pivoting met a singular block or did not finish."""


def _bpp(
    H: np.ndarray, c: np.ndarray, free: np.ndarray, F0: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """Block principal pivoting for min ½xᵀHx − cᵀx, x_k >= 0 unless ``free[k]`` (H PD on blocks).

    The LCP  y = Hx − c,  x, y >= 0,  xᵀy = 0  is solved by exchanging every infeasible index at
    once, with Murty's single-index backup rule after three non-improving exchanges (Kim & Park,
    SIAM J. Sci. Comput. 33(6), 2011, Alg. 2), which guarantees termination for PD H. Typical
    runs take under ten exchanges; after 300 the caller falls back to Lawson–Hanson.
    """
    K = c.shape[0]
    F = free.copy() if F0 is None else (F0 | free)
    scale = max(float(np.max(np.abs(np.diag(H)), initial=0.0)), float(np.max(np.abs(c))), 1e-300)
    tol_x = 1e-15 * max(1.0, float(np.max(np.abs(c)))) / scale
    tol_y = 64 * _EPS * scale
    best, budget = K + 1, 3
    for it in range(1, min(10 * K + 50, 300)):
        x = np.zeros(K)
        idx = np.flatnonzero(F)
        if idx.size:
            try:
                cf = sla.cho_factor(H[np.ix_(idx, idx)], check_finite=False)
            except np.linalg.LinAlgError:
                raise _PivotingFailed("singular block") from None
            x[idx] = sla.cho_solve(cf, c[idx], check_finite=False)
            if not np.all(np.isfinite(x)):
                raise _PivotingFailed("non-finite block solution")
        y = H[:, idx] @ x[idx] - c
        y[F] = 0.0
        bad = (F & ~free & (x < -tol_x)) | (~F & (y < -tol_y))
        nbad = int(bad.sum())
        if nbad == 0:
            x[~free] = np.maximum(x[~free], 0.0)
            return x, it
        if nbad < best:
            best, budget = nbad, 3
            F ^= bad
        elif budget > 0:
            budget -= 1
            F ^= bad
        else:
            j = int(np.flatnonzero(bad).max())
            F[j] = not F[j]
    raise _PivotingFailed("no convergence")


def _warm_start(G: np.ndarray, h: np.ndarray, free: np.ndarray) -> np.ndarray | None:
    """Initial passive set for pivoting: the 40% of margin rows that W0 = Σ_l A_l/||A_l|| serves
    worst (smallest <A_k, W0>/||A_k||). Any start is correct; this one saves a large first block."""
    K = h.shape[0]
    rows = ~free & (h > 0)
    if K < 64 or rows.sum() < 16:
        return None
    norms = np.sqrt(np.maximum(np.diag(G), 0.0))
    inv = np.divide(1.0, norms, out=np.zeros(K), where=norms > 0)
    r = (G @ inv) * inv
    r[~rows] = np.inf
    return rows & (r <= np.quantile(r[rows], 0.4))


def _lawson_hanson(constraints: MarginConstraints) -> np.ndarray | None:
    """The least-distance NNLS by Lawson–Hanson (robust to rank deficiency); returns u (K,), or
    None if it hit its iteration limit."""
    K = constraints.K
    rhs = constraints.rhs
    eq = np.asarray(constraints.equality, dtype=bool)
    M = _row_factor(constraints)
    cols = np.concatenate([np.arange(K), np.flatnonzero(eq)])
    sign = np.concatenate([np.ones(K), -np.ones(int(eq.sum()))])
    E = np.vstack([(M[cols] * sign[:, None]).T, (rhs[cols] * sign)[None, :]])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    try:
        v, _ = nnls(E, f, maxiter=50 * E.shape[1])
    except RuntimeError:
        return None
    u = np.zeros(K)
    np.add.at(u, cols, v * sign)
    return u


def _polish(
    constraints: MarginConstraints, G: np.ndarray, h: np.ndarray, support: np.ndarray
) -> tuple[np.ndarray, np.ndarray] | None:
    """Re-solve G_SS λ_S = h_S on a support, then refine in W-space: with r_S = h_S − <A_S, W>,
    λ_S += G_SS⁻¹ r_S and W += Σ_S δλ_k A_k (two steps at most). Refining W itself, not only λ,
    removes the round-off of W = Σ λ_k A_k, which matters when ||λ|| is large (near-infeasible
    data). Returns (λ, W) or None when the support system has no finite solution."""
    idx = np.flatnonzero(support)
    K = h.shape[0]
    lam = np.zeros(K)
    if idx.size == 0:
        return lam, constraints.combine(lam)
    Gs = G[np.ix_(idx, idx)]
    try:
        cf = sla.cho_factor(Gs, check_finite=False)

        def solve(rhs: np.ndarray) -> np.ndarray:
            return sla.cho_solve(cf, rhs, check_finite=False)
    except np.linalg.LinAlgError:
        pinv = np.linalg.pinv(Gs)

        def solve(rhs: np.ndarray) -> np.ndarray:
            return pinv @ rhs
    lam[idx] = solve(h[idx])
    if not np.all(np.isfinite(lam)):
        return None
    sub = MarginConstraints(a=constraints.a[idx], z=constraints.z[idx],
                            pairs=constraints.pairs[idx], rhs=h[idx])
    W = sub.combine(lam[idx])
    res = float(np.max(np.abs(h[idx] - row_values(sub, W))))
    for _ in range(2):
        r = h[idx] - row_values(sub, W)
        step = solve(r)
        W_new = W + sub.combine(step)
        res_new = float(np.max(np.abs(h[idx] - row_values(sub, W_new))))
        if not res_new < res:
            break
        lam[idx] += step
        W, res = W_new, res_new
    return lam, W


def _score(constraints: MarginConstraints, lam: np.ndarray, W: np.ndarray) -> float:
    cert = certify(constraints, W, lam, "fro")
    return max(cert.kkt_residual, cert.duality_gap)


def _add_candidates(
    candidates: list[tuple[float, np.ndarray, np.ndarray, str]],
    constraints: MarginConstraints,
    G: np.ndarray,
    h: np.ndarray,
    free: np.ndarray,
    u: np.ndarray,
    tag: str,
) -> float:
    """Turn a least-distance solution u into scored (λ, W) candidates; returns s = 1 − hᵀu."""
    s = 1.0 - float(h @ u)
    polished = _polish(constraints, G, h, (u > 0) | free)
    best = np.inf
    if polished is not None:
        lam1, W1 = polished
        if np.all(lam1[~free] >= -1e-12 * float(np.max(np.abs(lam1)))):
            lam1[~free] = np.maximum(lam1[~free], 0.0)
            best = _score(constraints, lam1, W1)
            candidates.append((best, lam1, W1, tag + "polished"))
    if s > 0 and not best <= 1e-12:
        lam0 = u / s
        W0 = constraints.combine(lam0)
        candidates.append((_score(constraints, lam0, W0), lam0, W0, tag + "ldp"))
    return s


def fro_min_norm(
    constraints: MarginConstraints,
    *,
    infeasible_rtol: float = INFEASIBLE_RTOL,
    context: dict[str, Any] | None = None,
    what: str = "Att-SVM",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """min ½||W||_F² s.t. the rows of ``constraints``: returns (W, λ, info); W = Σ λ_k a_k z_kᵀ.

    Raises ``InfeasibleSVM`` (with a verified Farkas certificate, ``context`` merged into it) when
    the rows are infeasible at working precision. ``info`` says which method produced λ.
    """
    K = constraints.K
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    if K == 0:
        return np.zeros((d, dz)), np.zeros(0), {"method": "empty", "iterations": 0}
    h = np.asarray(constraints.rhs, dtype=np.float64)
    free = np.asarray(constraints.equality, dtype=bool)
    G = constraints.gram()
    H = G + np.outer(h, h)
    info: dict[str, Any] = {}
    candidates: list[tuple[float, np.ndarray, np.ndarray, str]] = []
    try:
        u, iters = _bpp(H, h, free, _warm_start(G, h, free))
        info.update(method="bpp", iterations=iters)
    except _PivotingFailed as exc:
        u = _lawson_hanson(constraints)
        info.update(method="lawson-hanson", iterations=None, bpp_failure=str(exc))
    s = _add_candidates(candidates, constraints, G, h, free, u, "") if u is not None else 0.0

    def second_opinion() -> None:
        # Lawson–Hanson, an independent algorithm, before anything is declared borderline.
        if info["method"] == "bpp" and "second_method" not in info:
            info["second_method"] = "lawson-hanson"
            u2 = _lawson_hanson(constraints)
            if u2 is not None:
                _add_candidates(candidates, constraints, G, h, free, u2, "lawson-hanson/")

    if s > 0 and not any(c[0] < 1e-9 for c in candidates):
        second_opinion()
    # A finite solution must also be one the data can express: ||W|| below 1/(rtol * scale).
    row_scale = float(np.max(np.linalg.norm(constraints.a, axis=1)
                             * np.linalg.norm(constraints.z, axis=1)))
    hmax = float(np.max(np.abs(h)))
    good = [
        c for c in candidates
        if np.isfinite(c[0]) and c[0] < 1e-6
        and float(np.linalg.norm(c[2])) * row_scale * infeasible_rtol < max(hmax, 1e-300)
    ]
    if not good:
        require_feasible(constraints, rtol=infeasible_rtol, context=context, what=what)
        second_opinion()
        if not candidates:
            raise AttnsvmError(
                f"{what}: the dual solver found no finite solution, yet no Farkas certificate "
                "verifies (numerically borderline problem)"
            )
        good = candidates
    sc, lam, W, which = min(good, key=lambda c: c[0])
    info["refinement"] = which
    info["ldp_s"] = s
    return W, lam, info


def representer_W(constraints: MarginConstraints, lam: np.ndarray) -> np.ndarray:
    """W = Σ_k λ_k a_k z_kᵀ: the representer form of a dual vector (TF-SVM rank lemma)."""
    return constraints.combine(np.asarray(lam, dtype=np.float64))


def solve_att_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """W^mm_α of Att-SVM_α (Frobenius), certified; raises InfeasibleSVM with a Farkas certificate.

    ``select`` is "opt" (argmax of γ_it; a tie raises ProblemError("select")) or one token index
    per input. The returned ``lam`` are the multipliers of ½||W||_F², so W = Σ λ_k a_k z_kᵀ.
    """
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    t0 = time.perf_counter()
    W, lam, info = fro_min_norm(
        cons, infeasible_rtol=infeasible_rtol, context={"select": alpha.tolist(), "norm": "fro"}
    )
    seconds = time.perf_counter() - t0
    return make_solution(
        cons, W, lam, "fro", alpha, seconds, f"dual-nnls/{info['method']}",
        support_rtol=support_rtol, rank_rtol=rank_rtol, extra=info,
    )


# --------------------------------------------------------------------------- cvxpy cross-check


def solve_constraints_cvxpy(
    constraints: MarginConstraints, norm: str = "fro", *, tight: bool = True
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """min ||W|| over the rows with cvxpy + Clarabel (vectorized model); returns (W, λ, s, status).

    For ``fro`` the objective is ½||W||_F² so that λ follows the certificate's Frobenius
    convention; for ``nuc`` it is ||W||_*. λ are cvxpy's dual values; they are *not* trusted:
    callers certify them.
    """
    import cvxpy as cp

    if norm not in ("fro", "nuc"):
        raise ProblemError("norm", f"unknown norm {norm!r}; choose from ('fro', 'nuc')")
    K = constraints.K
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    # vec(a zᵀ) in column-major order is kron(z, a).
    M = (constraints.z[:, :, None] * constraints.a[:, None, :]).reshape(K, d * dz)
    W = cp.Variable((d, dz))
    w = cp.vec(W, order="F")
    eq = np.asarray(constraints.equality, dtype=bool)
    cons = []
    ineq_rows, eq_rows = np.flatnonzero(~eq), np.flatnonzero(eq)
    if ineq_rows.size:
        cons.append(M[ineq_rows] @ w >= constraints.rhs[ineq_rows])
    if eq_rows.size:
        cons.append(M[eq_rows] @ w == constraints.rhs[eq_rows])
    obj = 0.5 * cp.sum_squares(W) if norm == "fro" else cp.normNuc(W)
    prob = cp.Problem(cp.Minimize(obj), cons)
    opts: dict[str, Any] = {}
    if tight:
        opts = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11,
                "tol_ktratio": 1e-9, "max_iter": 500}
    t0 = time.perf_counter()
    prob.solve(solver=cp.CLARABEL, **opts)
    seconds = time.perf_counter() - t0
    lam = np.zeros(K)
    if W.value is None:
        return np.full((d, dz), np.nan), lam, seconds, str(prob.status)
    k = 0
    if ineq_rows.size:
        lam[ineq_rows] = np.asarray(cons[k].dual_value, dtype=np.float64).reshape(-1)
        k += 1
    if eq_rows.size:
        # cvxpy's equality duals carry the opposite sign of our <A_k,W> = rhs_k multipliers.
        lam[eq_rows] = -np.asarray(cons[k].dual_value, dtype=np.float64).reshape(-1)
    return np.asarray(W.value, dtype=np.float64), lam, seconds, str(prob.status)


def solve_att_svm_cvxpy(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    norm: str = "fro",
    *,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """Att-SVM_α (``fro``) or Att-SVM⋆_α (``nuc``) by cvxpy with ``solver=cp.CLARABEL`` (tight
    tolerances), certified by ``reference.certificates.certify``. Feasibility is decided by the
    Farkas search first (never by the solver status)."""
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    require_feasible(cons, rtol=infeasible_rtol, context={"select": alpha.tolist(), "norm": norm})
    W, lam, seconds, status = solve_constraints_cvxpy(cons, norm)
    if not np.all(np.isfinite(W)):
        raise AttnsvmError(f"Clarabel returned no solution (status {status})")
    return make_solution(
        cons, W, lam, norm, alpha, seconds, "cvxpy/CLARABEL",
        support_rtol=support_rtol, rank_rtol=rank_rtol, extra={"solver_status": status},
    )
