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
The NNLS is solved by block principal pivoting (Kim & Park 2011; Júdice & Pires 1994),
matrix-free: only the passive block H_FF is formed, and the duals of all K rows come from the
d x d_z matrix Σ_F u_l A_l, so no K x K Gram matrix exists (issue 15 §4: K = n(T−1) = 10^4 at
d = 64, where rank G <= d² < K). Exchanges grow the passive set by a bounded fraction, so it
stays inside rank(H) <= rank(A)·rank(Z) + 1; Lawson–Hanson (``scipy.optimize.nnls``, rank-
revealing) takes over when a block is singular or the passive set would pass that bound. The
support found is polished by re-solving G_SS λ_S = h_S, and the result is certified by
``attnsvm.reference.svm.certificates.certify`` (never by the solver's own account). Equality
rows (used by the multi-token programs) are free multipliers kept in every block.

Nothing uncertified is returned (``svm.certificates.require_certified`` guards every
exit). When the fast path's certificate fails — badly scaled rows (a query of size 2^-24 next
to tokens of size 4), duplicated tokens (singular Gram blocks), near-parallel rows with
||W^mm|| ~ 1e7 — the fallbacks are independent and better conditioned: Lawson–Hanson on an
explicit row factor (no Gram matrix, so nothing below sqrt(eps) is lost), the Farkas search,
the same program on unit-normalized rows with exact duplicates merged, supports polished by an
SVD of the explicit rows (cond(M_S), not its square), and finally cvxpy + Clarabel on the
unit rows. Each candidate is certified on the original rows; if none holds and no Farkas
certificate verifies, ``SolverError`` is raised.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg as sla

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import InfeasibleSVM, NumericalError, ProblemError
from attnsvm.reference.svm.certificates import (
    INFEASIBLE_RTOL,
    RANK_RTOL,
    SOLUTION_GOOD_RTOL,
    SUPPORT_RTOL,
    FarkasResult,
    SolverError,
    certificate_failures,
    certify,
    check_solution_range,
    explicit_rows,
    ldexp,
    least_distance_nnls,
    make_solution,
    parallel_groups,
    representable,
    require_certified,
    require_feasible,
    robust_min_margin,
    rounding_bounds,
    row_factor,
    row_norms,
    row_values,
    scale_exponents,
    scaled_constraints,
    unit_relative_residual,
    unit_rows,
    verify_farkas,
    zero_row_certificate,
)
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution, margin_constraints
from attnsvm.reference.svm.exact import classify_infeasible
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.validate import as_float

__all__ = [
    "SolverError",
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
    constraints: MarginConstraints, F0: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """The least-distance NNLS  min_{u >= 0} ½ uᵀHu − hᵀu  (H = G + hhᵀ, u_k free on equality
    rows) by block principal pivoting, matrix-free: returns (u, exchanges).

    The LCP  y = Hu − h,  u, y >= 0,  uᵀy = 0  is solved by exchanging every infeasible index at
    once, with Murty's single-index backup rule after three non-improving exchanges (Kim & Park,
    SIAM J. Sci. Comput. 33(6), 2011, Alg. 2). Only the passive block H_FF is ever formed (from
    the rows of F, O(|F|²(d + d_z))); the dual of every row comes from the d x d_z matrix
    V = Σ_F u_l A_l as y_k = <A_k, V> − h_k (1 − hᵀu), so no K x K Gram matrix exists and the
    cost per exchange is one Cholesky factor of H_FF plus O(K d d_z).

    rank(H) <= rank(A)·rank(Z) + 1 (``_gram_rank_bound``), which is below K once K > d·d_z: a
    passive block larger than that is singular, and on the full Gram matrix the first exchange
    (every violated row at once) already made one at n = 500, T = 21, d = 64. An exchange
    therefore grows F by at most ENTER_FRACTION (at least to ENTER_MIN rows), admitting the
    most violated rows (relative to ||A_k||) first; the others stay infeasible and are admitted
    by later exchanges. Typical runs take under fifteen exchanges. A singular block (duplicated
    rows, more rows per query than rank(A)), a passive set beyond the rank bound (a support
    that fills the space: Lawson–Hanson, rank-revealing, is the method there, and cheap since
    d·d_z is small) or 300 exchanges raise _PivotingFailed.
    """
    h = np.asarray(constraints.rhs, dtype=np.float64)
    free = np.asarray(constraints.equality, dtype=bool)
    K = h.shape[0]
    norms = row_norms(constraints)
    inv = np.divide(1.0, norms, out=np.zeros(K), where=norms > 0)
    cap = max(_gram_rank_bound(constraints) + 1, int(free.sum()))  # rank(H) <= rank(G) + 1
    F = free.copy() if F0 is None else (F0 | free)
    hmax = float(np.max(np.abs(h)))
    scale = max(float(np.max(norms * norms + h * h)), hmax, 1e-300)
    tol_x = 1e-15 * max(1.0, hmax) / scale
    tol_y = 64 * _EPS * scale
    best, budget = K + 1, 3
    for it in range(1, min(10 * K + 50, 300)):
        x = np.zeros(K)
        idx = np.flatnonzero(F)
        if idx.size:
            hf = h[idx]
            try:
                cf = sla.cho_factor(_sub_rows(constraints, idx).gram() + np.outer(hf, hf),
                                    check_finite=False)
            except np.linalg.LinAlgError:
                raise _PivotingFailed("singular block") from None
            x[idx] = sla.cho_solve(cf, hf, check_finite=False)
            if not np.all(np.isfinite(x)):
                raise _PivotingFailed("non-finite block solution")
        y = row_values(constraints, constraints.combine(x)) - h * (1.0 - float(h @ x))
        y[F] = 0.0
        bad = (F & ~free & (x < -tol_x)) | (~F & (y < -tol_y))
        nbad = int(bad.sum())
        if nbad == 0:
            x[~free] = np.maximum(x[~free], 0.0)
            return x, it
        if nbad < best:
            best, budget = nbad, 3
            flip = bad
        elif budget > 0:
            budget -= 1
            flip = bad
        else:
            flip = np.zeros(K, dtype=bool)
            flip[int(np.flatnonzero(bad).max())] = True
        F = _capped_exchange(F, flip, y * inv,
                             max(ENTER_MIN, int((1 + ENTER_FRACTION) * F.sum())))
        if int(F.sum()) > cap:
            raise _PivotingFailed(f"passive set beyond rank(H) <= {cap}")
    raise _PivotingFailed("no convergence")


def _capped_exchange(F: np.ndarray, flip: np.ndarray, rel_y: np.ndarray, cap: int) -> np.ndarray:
    """F with the indices of ``flip`` exchanged, admitting rows only up to ``cap`` passive rows
    (the most violated by rel_y = y_k/||A_k|| first; at least one, so every exchange moves)."""
    leave = F & flip
    enter = np.flatnonzero(~F & flip)
    out = F & ~leave
    room = cap - int(np.count_nonzero(out))
    if enter.size > room:
        limit = max(room, 0 if leave.any() else 1)
        enter = enter[np.argsort(rel_y[enter], kind="stable")[:limit]]
    out[enter] = True
    return out


def _worst_served(constraints: MarginConstraints) -> np.ndarray:
    """Margin rows ordered from the one W0 = Σ_l A_l/||A_l|| serves worst (smallest
    <A_k, W0>/||A_k||) to the best; computed from W0 itself, without a Gram matrix."""
    h = np.asarray(constraints.rhs, dtype=np.float64)
    free = np.asarray(constraints.equality, dtype=bool)
    norms = row_norms(constraints)
    inv = np.divide(1.0, norms, out=np.zeros(constraints.K), where=norms > 0)
    r = row_values(constraints, constraints.combine(inv)) * inv
    rows = np.flatnonzero(~free & (h > 0))
    return rows[np.argsort(r[rows], kind="stable")]


def _gram_rank_bound(constraints: MarginConstraints) -> int:
    """rank(G) <= rank(A)·rank(Z) (G = (AAᵀ) ∘ (ZZᵀ) is a principal submatrix of the Kronecker
    product of the two Gram matrices), and <= K."""
    def rank(x: np.ndarray) -> int:
        return int(np.linalg.matrix_rank(x)) if x.size and np.all(np.isfinite(x)) else x.shape[1]
    return min(constraints.K, rank(constraints.a) * rank(constraints.z))


#: An exchange grows the passive set F at most to (1 + ENTER_FRACTION)|F| (and ENTER_MIN) rows.
ENTER_FRACTION = 0.1
ENTER_MIN = 64
#: Passive start of the pivoting: the rows W0 serves worst, this fraction of
#: min(#margin rows, rank bound) (used with at least 64 rows, 16 of them margin rows).
WARM_START_FRACTION = 0.4


def _warm_start(constraints: MarginConstraints) -> np.ndarray | None:
    """Initial passive set for pivoting (``WARM_START_FRACTION``). Any start is correct; this
    one saves a large first block."""
    order = _worst_served(constraints)
    if constraints.K < 64 or order.size < 16:
        return None
    F0 = np.zeros(constraints.K, dtype=bool)
    F0[order[:int(WARM_START_FRACTION * min(order.size, _gram_rank_bound(constraints)))]] = True
    return F0


def _sub_rows(constraints: MarginConstraints, idx: np.ndarray) -> MarginConstraints:
    """The rows ``idx`` of ``constraints`` as a program of their own."""
    return MarginConstraints(a=constraints.a[idx], z=constraints.z[idx],
                             pairs=constraints.pairs[idx],
                             rhs=np.asarray(constraints.rhs, dtype=np.float64)[idx],
                             equality=np.asarray(constraints.equality, dtype=bool)[idx])


def _lawson_hanson(constraints: MarginConstraints) -> np.ndarray | None:
    """The least-distance NNLS by Lawson–Hanson (robust to rank deficiency) on a factor of the
    rows built without squaring their conditioning; returns u (K,), or None at its iteration
    limit."""
    h = np.asarray(constraints.rhs, dtype=np.float64)
    F = row_factor(constraints)
    return None if F is None else least_distance_nnls(F, h, constraints.equality)


def _polish(
    constraints: MarginConstraints, h: np.ndarray, support: np.ndarray
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
    sub = MarginConstraints(a=constraints.a[idx], z=constraints.z[idx],
                            pairs=constraints.pairs[idx], rhs=h[idx])
    Gs = sub.gram()  # the support's block only: no K x K Gram matrix is formed
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
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(W))):
        return None
    return lam, W


def _polish_explicit(
    constraints: MarginConstraints,
    explicit: tuple[np.ndarray, np.ndarray, np.ndarray],
    h: np.ndarray,
    support: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Like ``_polish``, but on the explicit rows M_S (``explicit_rows``) by an SVD instead of
    the Gram matrix G_SS = M_S M_Sᵀ: the minimum-norm w with M_S w = h_S and λ_S with
    M_Sᵀ λ_S = w, whose accuracy degrades with cond(M_S), not its square (near-parallel rows,
    ||W|| ~ 1e8). Two steps of refinement on the original rows' residual."""
    M, Ua, Uz = explicit
    idx = np.flatnonzero(support)
    lam = np.zeros(constraints.K)
    if idx.size == 0:
        return lam, constraints.combine(lam)
    try:
        U, sv, Vt = np.linalg.svd(M[idx], full_matrices=False)
    except np.linalg.LinAlgError:
        return None
    if sv.size == 0 or not sv[0] > 0:
        return None
    keep = sv > sv[0] * max(M[idx].shape) * _EPS
    U, sv, Vt = U[:, keep], sv[keep], Vt[keep]
    shape = (Ua.shape[1], Uz.shape[1])

    def solve(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        y = (U.T @ r) / sv
        return Ua @ (Vt.T @ y).reshape(shape) @ Uz.T, U @ (y / sv)

    sub = MarginConstraints(a=constraints.a[idx], z=constraints.z[idx],
                            pairs=constraints.pairs[idx], rhs=h[idx])
    W, lam[idx] = solve(h[idx])
    res = float(np.max(np.abs(h[idx] - row_values(sub, W))))
    for _ in range(2):
        dW, dl = solve(h[idx] - row_values(sub, W))
        res_new = float(np.max(np.abs(h[idx] - row_values(sub, W + dW))))
        if not res_new < res:
            break
        W, res = W + dW, res_new
        lam[idx] += dl
    if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(W))):
        return None
    return lam, W


def _ldp_candidates(
    constraints: MarginConstraints,
    h: np.ndarray,
    free: np.ndarray,
    u: np.ndarray,
    tag: str,
    explicit: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> tuple[list[tuple[np.ndarray, np.ndarray, str]], float]:
    """(λ, W) candidates from a least-distance solution u: the support polished (on its Gram
    block, and on the explicit rows when given), and λ = u/s itself when s = 1 − hᵀu > 0;
    returns (candidates, s)."""
    s = 1.0 - float(h @ u)
    out: list[tuple[np.ndarray, np.ndarray, str]] = []
    support = (u > 0) | free
    _append_polished(out, _polish(constraints, h, support), free, tag + "polished")
    if explicit is not None:
        _append_polished(out, _polish_explicit(constraints, explicit, h, support), free,
                         tag + "svd-polished")
    if s > 0:
        lam0 = u / s
        out.append((lam0, constraints.combine(lam0), tag + "ldp"))
    return out, s


def _append_polished(
    out: list[tuple[np.ndarray, np.ndarray, str]],
    polished: tuple[np.ndarray, np.ndarray] | None,
    free: np.ndarray,
    tag: str,
) -> None:
    """Keep a polished (λ, W) whose inequality multipliers are >= 0 up to round-off."""
    if polished is None:
        return
    lam, W = polished
    if np.all(lam[~free] >= -1e-12 * float(np.max(np.abs(lam), initial=0.0))):
        lam[~free] = np.maximum(lam[~free], 0.0)
        out.append((lam, W, tag))


@dataclass
class _Candidate:
    lam: np.ndarray
    W: np.ndarray
    tag: str
    failures: list[str]
    score: float
    norm: float


class _Pool:
    """Candidates (λ, W) for one program, each certified from scratch on the original rows."""

    def __init__(self, constraints: MarginConstraints, infeasible_rtol: float) -> None:
        self.constraints = constraints
        h = np.asarray(constraints.rhs, dtype=np.float64)
        self.rescalable = not np.any(np.asarray(constraints.equality, dtype=bool) & (h != 0))
        # A finite solution the data can express has ||W|| below hmax / (rtol · largest row).
        self.norm_limit = float(np.max(np.abs(h))) / (
            infeasible_rtol * float(np.max(row_norms(constraints))))
        self.items: list[_Candidate] = []

    def add(self, lam: np.ndarray, W: np.ndarray, tag: str) -> None:
        lam = np.asarray(lam, dtype=np.float64)
        W = np.asarray(W, dtype=np.float64)
        if not (np.all(np.isfinite(lam)) and np.all(np.isfinite(W))):
            return
        cons = self.constraints
        cert = certify(cons, W, lam, "fro")
        failures = certificate_failures(cons, cert, W)
        if failures and self.rescalable and not tag.endswith("/rescaled"):
            # Margins short of one by round-off (at most 1e-6, counting the rounding bounds):
            # W/μ and λ/μ meet every row, at a relative cost 1/μ − 1 in the objective.
            mu = robust_min_margin(cons, cert.values, rounding_bounds(cons, W))
            if 1.0 - 1e-6 < mu < 1.0:
                self.add(lam / mu, W / mu, tag + "/rescaled")
        score = max(cert.kkt_residual, cert.duality_gap)
        self.items.append(_Candidate(lam, W, tag, failures, score, cert.objective))

    def best(self, *, expressible: bool = True, good: bool = False) -> _Candidate | None:
        """The certified candidate of least residual (optionally: of norm the data can express,
        with residuals below SOLUTION_GOOD_RTOL); None if there is none."""
        ok = [c for c in self.items if not c.failures
              and (not expressible or c.norm < self.norm_limit)
              and (not good or c.score <= SOLUTION_GOOD_RTOL)]
        return min(ok, key=lambda c: c.score) if ok else None

    def closest(self) -> _Candidate | None:
        return min(self.items, key=lambda c: c.score) if self.items else None


def _nonredundant_rows(unit: MarginConstraints) -> np.ndarray:
    """Indices of unit rows to keep: within a group of exactly parallel/opposite rows (±U) the
    rows only bound x = <U, W>, so one equality row, or the largest lower and the smallest upper
    bound, imply the others (duplicated tokens make such groups and singular Gram blocks)."""
    labels, sigma = parallel_groups(unit, decimals=None)
    eq = np.asarray(unit.equality, dtype=bool)
    b = unit.rhs
    lower = np.where(eq | (sigma > 0), sigma * b, -np.inf)
    upper = np.where(eq | (sigma < 0), sigma * b, np.inf)
    keep = np.zeros(unit.K, dtype=bool)
    order = np.argsort(labels, kind="stable")
    for grp in np.split(order, np.flatnonzero(np.diff(labels[order])) + 1):
        if grp.size == 1:
            keep[grp] = True
            continue
        eq_rows = grp[eq[grp]]
        if eq_rows.size:
            keep[eq_rows[0]] = True
            continue
        if np.isfinite(lower[grp]).any():
            keep[grp[np.argmax(lower[grp])]] = True
        if np.isfinite(upper[grp]).any():
            keep[grp[np.argmin(upper[grp])]] = True
    return np.flatnonzero(keep)


def _unit_row_problem(
    constraints: MarginConstraints,
) -> tuple[MarginConstraints, np.ndarray, np.ndarray, float]:
    """The program on unit-normalized, non-redundant rows with right-hand sides divided by
    their largest magnitude: returns (rows, kept indices, their norms, that magnitude). A
    solution (λ̂, Ŵ) of it maps back as W = c Ŵ, λ_k = c λ̂_k / ||A_k|| (c the magnitude)."""
    unit, norms = unit_rows(constraints)
    keep = _nonredundant_rows(unit)
    b = unit.rhs[keep]
    c = float(np.max(np.abs(b), initial=0.0))
    sub = MarginConstraints(a=unit.a[keep], z=unit.z[keep], pairs=unit.pairs[keep], rhs=b / c,
                            equality=np.asarray(unit.equality, dtype=bool)[keep])
    return sub, keep, norms[keep], c


def _unit_row_candidates(pool: _Pool, solvers: tuple[str, ...]) -> None:
    """Solve the unit-row program (well conditioned when the rows differ in size only) by block
    pivoting, Lawson–Hanson on its explicit row factor, or cvxpy + Clarabel (tight tolerances,
    its support then polished); every result is mapped back and certified on the original rows.
    """
    cons = pool.constraints
    sub, keep, norms, c = _unit_row_problem(cons)
    if not (0.0 < c < np.inf and np.all(np.isfinite(sub.rhs))):
        return  # right-hand sides over row norms overflow: nothing to normalize to
    h = sub.rhs
    free = np.asarray(sub.equality, dtype=bool)
    explicit = explicit_rows(sub)

    def add(items: list[tuple[np.ndarray, np.ndarray, str]]) -> None:
        for lam_hat, W_hat, tag in items:
            lam = np.zeros(cons.K)
            lam[keep] = c * lam_hat / norms
            pool.add(lam, c * W_hat, tag)

    for solver in solvers:
        if solver == "bpp":
            try:
                u, _ = _bpp(sub)
            except _PivotingFailed:
                continue
            add(_ldp_candidates(sub, h, free, u, "unit-rows/bpp/", explicit)[0])
        elif solver == "lawson-hanson":
            u = _lawson_hanson(sub)
            if u is not None:
                add(_ldp_candidates(sub, h, free, u, "unit-rows/lawson-hanson/", explicit)[0])
        elif solver == "clarabel":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its status is not trusted: we certify
                W_hat, lam_hat, _, _ = solve_constraints_cvxpy(sub, "fro", tight=True)
            if not (np.all(np.isfinite(W_hat)) and np.all(np.isfinite(lam_hat))):
                continue
            slack = row_values(sub, W_hat) - h
            lam_hat = np.where(free, lam_hat, np.maximum(lam_hat, 0.0))
            items = [(lam_hat, W_hat, "unit-rows/clarabel")]
            lmax = float(np.max(np.abs(lam_hat), initial=0.0))
            by_dual = free | (lam_hat > 1e-9 * lmax)
            by_slack = by_dual | (slack <= 1e-9 * max(1.0, float(np.max(np.abs(h)))))
            for sup in (by_dual, by_slack):
                _append_polished(items, _polish(sub, h, sup), free,
                                 "unit-rows/clarabel/polished")
                if explicit is not None:
                    _append_polished(items, _polish_explicit(sub, explicit, h, sup), free,
                                     "unit-rows/clarabel/svd-polished")
            add(items)


def fro_min_norm(
    constraints: MarginConstraints,
    *,
    infeasible_rtol: float = INFEASIBLE_RTOL,
    context: dict[str, Any] | None = None,
    what: str = "Att-SVM",
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """min ½||W||_F² s.t. the rows of ``constraints``: returns (W, λ, info); W = Σ λ_k a_k z_kᵀ.

    Every returned pair passes ``svm.certificates.certificate_failures`` on the given rows
    (every row met to 1e-9 · max|rhs|, also after the rounding bounds of its value; KKT
    residuals and duality gap <= SOLUTION_KKT_RTOL = 1e-6; fallbacks run until one is below
    SOLUTION_GOOD_RTOL = 1e-9, which the fast path reaches on well-conditioned data). Raises
    ``InfeasibleSVM`` (with a verified Farkas certificate, ``context`` merged into it) when the
    rows are infeasible at working precision, and ``SolverError`` when neither a certified
    solution nor a verified certificate is found (never an unproven answer).

    Rows that are the zero matrix are met trivially (rhs <= 0, or 0 on an equality) and get
    λ = 0, or prove infeasibility; when no row demands a positive value, W = 0. The fast path
    (matrix-free block pivoting, ``_bpp``; Lawson–Hanson when a block is singular or the passive
    set would pass the rank bound) is used when its
    certificate holds; otherwise, in order: Lawson–Hanson on an explicit row factor, the Farkas
    search, the program on unit-normalized de-duplicated rows (pivoting, Lawson–Hanson), and
    cvxpy + Clarabel on those rows. ``info`` says which method produced λ. Floating-point
    warnings are silenced inside (every result is certified); a numerical breakdown (rows that
    overflow, a non-converging decomposition) raises ``SolverError``.

    Scale: rows of extreme magnitude (tokens or queries beyond 2**±64,
    ``certificates.scale_exponents``) are solved normalized by powers of two and mapped back
    exactly (the program scales exactly: W(a s, z r) = W / (s r)); data whose solution norm is
    out of float64's range raise ProblemError("X"), and multipliers that float64 cannot hold in
    the user's units raise NumericalError("lam") (``solve_att_svm`` returns those with
    ``SVMSolution.lam_exponent`` instead).
    """
    W, lam, info, lam_exponent = _fro_solve(constraints, infeasible_rtol, context, what)
    if lam_exponent:
        raise NumericalError(
            "lam", f"{what}: the multipliers are ~2^{lam_exponent} times those of the normalized "
            "rows, outside float64's range in the user's units; rescale the data"
        )
    return W, lam, info


def _fro_guarded(
    constraints: MarginConstraints,
    infeasible_rtol: float,
    context: dict[str, Any] | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    with np.errstate(all="ignore"):
        try:
            return _fro_min_norm(constraints, infeasible_rtol, context, what)
        except np.linalg.LinAlgError as exc:
            raise SolverError(f"{what}: numerical breakdown ({exc}); rows span "
                              f"{_row_range(constraints)}") from exc


def _fro_solve(
    constraints: MarginConstraints,
    infeasible_rtol: float,
    context: dict[str, Any] | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any], int]:
    """(W, λ, info, lam_exponent) with W in the user's units and multipliers λ · 2**lam_exponent
    (lam_exponent = 0 whenever float64 holds them in the user's units). Rows of ordinary
    magnitude are solved as given; extreme ones on their power-of-two normalization."""
    ea, ez = scale_exponents(constraints)
    if ea == 0 and ez == 0:
        W, lam, info = _fro_guarded(constraints, infeasible_rtol, context, what)
        return W, lam, info, 0
    check_solution_range(constraints)
    e = ea + ez
    scaled = scaled_constraints(constraints, ea, ez)
    try:
        Ws, ls, info = _fro_guarded(scaled, infeasible_rtol, context, what)
    except InfeasibleSVM as exc:
        cert = dict(exc.certificate)
        # Σ λ_k A_k = 2**e Σ λ_k Â_k: the residual in the user's units (weights sum to one)
        cert["residual"] = ldexp(float(cert["residual"]), e)
        cert["scale_exponent"] = e
        raise type(exc)(str(exc), cert) from None
    info["scale_exponents"] = [ea, ez]
    W = ldexp(Ws, -e)
    if not representable(W):
        raise NumericalError(
            "W", f"{what}: the solution's entries (~2^{-e} times those of the normalized rows) "
            "are outside float64's normal range; rescale the data"
        )
    lam = ldexp(ls, -2 * e)
    if representable(lam) and _exact_map(ls, lam):
        return W, lam, info, 0
    return W, ls, info, -2 * e


def _exact_map(ls: np.ndarray, lam: np.ndarray) -> bool:
    """True when λ = λ_s 2**(-2e) lost nothing that matters: every multiplier above eps times
    the largest one is a normal float64 (smaller ones only carry rounding)."""
    big = np.abs(ls) > np.finfo(np.float64).eps * float(np.max(np.abs(ls), initial=0.0))
    return bool(np.all(np.abs(lam[big]) >= np.finfo(np.float64).tiny))


def _row_range(constraints: MarginConstraints) -> str:
    norms = row_norms(constraints)
    return f"norms {float(np.min(norms)):.3g} .. {float(np.max(norms)):.3g}"


def _fro_min_norm(
    constraints: MarginConstraints,
    infeasible_rtol: float,
    context: dict[str, Any] | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    K = constraints.K
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    if K == 0:
        return np.zeros((d, dz)), np.zeros(0), {"method": "empty", "iterations": 0}
    h = np.asarray(constraints.rhs, dtype=np.float64)
    free = np.asarray(constraints.equality, dtype=bool)
    lam0 = zero_row_certificate(constraints)
    if lam0 is not None:
        _raise_infeasible(constraints, lam0, infeasible_rtol, context, what,
                          "a constraint matrix a_k z_k^T is zero yet demands a positive value")
    live = row_norms(constraints) > 0
    if not np.any(live & np.where(free, h != 0, h > 0)):
        # W = 0 meets every row (rhs <= 0 on inequalities, 0 on equalities) and is the minimum.
        W, lam = np.zeros((d, dz)), np.zeros(K)
        require_certified(constraints, W, lam, what=what)
        return W, lam, {"method": "zero", "iterations": 0, "refinement": "zero"}
    if live.all():
        return _fro_min_norm_rows(constraints, infeasible_rtol, context, what)
    idx = np.flatnonzero(live)
    sub = MarginConstraints(a=constraints.a[idx], z=constraints.z[idx],
                            pairs=constraints.pairs[idx], rhs=h[idx], equality=free[idx])
    try:
        W, lam_sub, info = _fro_min_norm_rows(sub, infeasible_rtol, context, what)
    except InfeasibleSVM as exc:
        # The certificate's row indices refer to the nonzero rows: map them back (its pairs,
        # weights and residuals are those of the original rows already).
        cert = dict(exc.certificate)
        cert["rows"] = idx[np.asarray(cert["rows"], dtype=np.int64)].tolist()
        raise InfeasibleSVM(str(exc), cert) from None
    lam = np.zeros(K)
    lam[idx] = lam_sub
    info["zero_rows"] = int(K - idx.size)
    require_certified(constraints, W, lam, what=what)
    return W, lam, info


def _raise_infeasible(
    constraints: MarginConstraints,
    lam: np.ndarray,
    rtol: float,
    context: dict[str, Any] | None,
    what: str,
    reason: str,
) -> None:
    """Raise InfeasibleSVM for a candidate certificate if ``verify_farkas`` accepts it."""
    lam = np.asarray(lam, dtype=np.float64) / float(np.sum(np.abs(lam)))
    ok, rel, _ = verify_farkas(constraints, lam, rtol=rtol)
    if ok:
        res = FarkasResult(lam, constraints.pairs, float(np.linalg.norm(constraints.combine(lam))),
                           rel, float(lam @ constraints.rhs), rtol, True,
                           unit_relative_residual(constraints, lam), "zero row")
        raise InfeasibleSVM(f"{what} is infeasible: {reason}",
                            res.as_certificate(**(context or {})))
    require_feasible(constraints, rtol=rtol, context=context, what=what)


def _fro_min_norm_rows(
    constraints: MarginConstraints,
    infeasible_rtol: float,
    context: dict[str, Any] | None,
    what: str,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """``fro_min_norm`` on rows that are all nonzero matrices (see there)."""
    h = np.asarray(constraints.rhs, dtype=np.float64)
    free = np.asarray(constraints.equality, dtype=bool)
    info: dict[str, Any] = {}
    pool = _Pool(constraints, infeasible_rtol)
    try:
        u, iters = _bpp(constraints, _warm_start(constraints))
        info.update(method="bpp", iterations=iters)
    except _PivotingFailed as exc:
        u = _lawson_hanson(constraints)
        info.update(method="lawson-hanson", iterations=None, bpp_failure=str(exc))
    s = 0.0
    if u is not None:
        items, s = _ldp_candidates(constraints, h, free, u, "")
        for lam, W, tag in items:
            pool.add(lam, W, tag)
            if pool.best(good=True) is not None:
                break
    info["ldp_s"] = s

    def done(cand: _Candidate) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        # ``_Pool.best`` only yields candidates whose certificate holds on these rows.
        info["refinement"] = cand.tag
        return cand.W, cand.lam, info

    best = pool.best(good=True)
    if best is not None:
        return done(best)
    # The fast path's certificate fails (or is only just acceptable): independent methods.
    fallbacks: list[str] = []
    info["fallbacks"] = fallbacks
    if info["method"] == "bpp":
        # Lawson–Hanson, an independent algorithm, before anything is declared borderline.
        fallbacks.append("lawson-hanson")
        u2 = _lawson_hanson(constraints)
        if u2 is not None:
            items = _ldp_candidates(constraints, h, free, u2, "lawson-hanson/",
                                    explicit_rows(constraints))[0]
            for lam, W, tag in items:
                pool.add(lam, W, tag)
        best = pool.best(good=True)
        if best is not None:
            return done(best)
    if pool.best() is None:
        require_feasible(constraints, rtol=infeasible_rtol, context=context, what=what)
    for solvers in (("bpp", "lawson-hanson"), ("clarabel",)):
        best = pool.best(expressible=False, good=True)
        if best is not None:
            return done(best)
        fallbacks.extend(f"unit-rows/{name}" for name in solvers)
        _unit_row_candidates(pool, solvers)
    best = pool.best(expressible=False)
    if best is not None:
        return done(best)
    closest = pool.closest()
    detail = f"; best candidate {closest.tag}: {', '.join(closest.failures)}" if closest else ""
    raise SolverError(
        f"{what}: no solver produced a solution whose certificate holds, and no Farkas "
        f"certificate of infeasibility verifies (tried {info['method']}, "
        f"{', '.join(fallbacks)}){detail}"
    )


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
    prove: bool = True,
) -> SVMSolution:
    """W^mm_α of Att-SVM_α (Frobenius), certified; raises InfeasibleSVM with a Farkas certificate.

    ``select`` is "opt" (argmax of γ_it; a tie raises ProblemError("select")) or one token index
    per input. The returned ``lam`` are the multipliers of ½||W||_F², so W = Σ λ_k a_k z_kᵀ
    (times 2**``lam_exponent``, which is 0 unless data of extreme scale put them out of
    float64's range). Infeasibility: with ``prove`` (the default) the certificate is checked in
    exact arithmetic (``svm.exact``): InfeasibleSVM when it proves infeasibility,
    InfeasibleAtWorkingPrecision (a subclass) when the program may be feasible with ||W|| beyond
    ~1e9 times the data's scale; ``prove=False`` skips the check (InfeasibleSVM, unclassified).
    """
    problem = as_problem(problem)
    alpha = resolve_selection(problem, select)
    support_rtol, rank_rtol, infeasible_rtol = _check_rtols(support_rtol, rank_rtol,
                                                            infeasible_rtol)
    cons = margin_constraints(problem, alpha)
    t0 = time.perf_counter()
    try:
        W, lam, info, lam_exponent = _fro_solve(
            cons, infeasible_rtol, {"select": alpha.tolist(), "norm": "fro"}, "Att-SVM"
        )
    except InfeasibleSVM as exc:
        if not prove:
            raise
        raise classify_infeasible(problem.X, problem.Z, alpha, exc) from None
    seconds = time.perf_counter() - t0
    # Final guard (fro_min_norm already certifies what it returns): never a failed certificate.
    cert = require_certified(cons, W, lam, what="Att-SVM", support_rtol=support_rtol,
                             rank_rtol=rank_rtol, lam_exponent=lam_exponent)
    return make_solution(
        cons, W, lam, "fro", alpha, seconds, f"dual-nnls/{info['method']}",
        support_rtol=support_rtol, rank_rtol=rank_rtol, extra=info, cert=cert,
        lam_exponent=lam_exponent,
    )


def _check_rtols(*values: float) -> tuple[float, ...]:
    names = ("support_rtol", "rank_rtol", "infeasible_rtol")
    out = []
    for name, v in zip(names, values, strict=False):
        x = as_float(name, v)
        if not 0 < x < 1:
            raise ProblemError(name, f"must lie in (0, 1), got {x!r}")
        out.append(x)
    return tuple(out)


# --------------------------------------------------------------------------- cvxpy cross-check


def clarabel_failure(prob: Any, W: Any, tight: bool) -> str | None:
    """Solve a cvxpy reference model with Clarabel (named explicitly; ``tight``: gaps and
    feasibility to 1e-11); None when the variable W received a value, else why not
    ("solver_error" or cvxpy's status). The value is only a candidate: callers certify it."""
    import cvxpy as cp

    opts: dict[str, Any] = {}
    if tight:
        opts = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11,
                "tol_ktratio": 1e-9, "max_iter": 500}
    try:
        prob.solve(solver=cp.CLARABEL, **opts)
    except cp.error.SolverError:
        return "solver_error"
    return None if W.value is not None else str(prob.status)


def solve_constraints_cvxpy(
    constraints: MarginConstraints, norm: str = "fro", *, tight: bool = True
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """min ||W|| over the rows with cvxpy + Clarabel (vectorized model); returns (W, λ, s, status).

    For ``fro`` the objective is ½||W||_F² so that λ follows the certificate's Frobenius
    convention; for ``nuc`` it is ||W||_*. λ are cvxpy's dual values; they are *not* trusted:
    callers certify them. Rows that are the zero matrix and demand nothing (rhs <= 0, or 0 on
    an equality) are left out of the model (λ = 0; Clarabel fails on such rows at tight
    tolerances); a failed solve returns a NaN W and status "solver_error".
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
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    trivial = ~np.any(M != 0, axis=1) & np.where(eq, rhs == 0, rhs <= 0)
    cons = []
    ineq_rows = np.flatnonzero(~eq & ~trivial)
    eq_rows = np.flatnonzero(eq & ~trivial)
    if ineq_rows.size:
        cons.append(M[ineq_rows] @ w >= rhs[ineq_rows])
    if eq_rows.size:
        cons.append(M[eq_rows] @ w == rhs[eq_rows])
    obj = 0.5 * cp.sum_squares(W) if norm == "fro" else cp.normNuc(W)
    prob = cp.Problem(cp.Minimize(obj), cons)
    t0 = time.perf_counter()
    lam = np.zeros(K)
    failure = clarabel_failure(prob, W, tight)
    seconds = time.perf_counter() - t0
    if failure is not None:
        return np.full((d, dz), np.nan), lam, seconds, failure
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
    tolerances), certified by ``svm.certificates.certify``. Feasibility is decided by the
    Farkas search first (never by the solver status)."""
    problem = as_problem(problem)
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    try:
        require_feasible(cons, rtol=infeasible_rtol,
                         context={"select": alpha.tolist(), "norm": norm})
    except InfeasibleSVM as exc:
        raise classify_infeasible(problem.X, problem.Z, alpha, exc) from None
    W, lam, seconds, status = solve_constraints_cvxpy(cons, norm)
    if not np.all(np.isfinite(W)):
        raise SolverError(f"Att-SVM: Clarabel returned no solution (status {status})")
    if norm == "fro":
        require_certified(cons, W, lam, what=f"Att-SVM (Clarabel, status {status})")
    else:
        cert = certify(cons, W, lam, "nuc")
        bad = certificate_failures(cons, cert, W)
        if bad:
            raise SolverError(f"Att-SVM⋆: Clarabel's solution (status {status}) fails its "
                              f"certificate: {', '.join(bad)}")
    return make_solution(
        cons, W, lam, norm, alpha, seconds, "cvxpy/CLARABEL",
        support_rtol=support_rtol, rank_rtol=rank_rtol, extra={"solver_status": status},
    )
