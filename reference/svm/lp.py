"""ℓp-AttSVM: the entrywise ℓp-norm attention SVM, solved and certified (p ∈ [1, ∞]).

Julistiono, Tarzanagh, Azizan, "Optimizing Attention with Mirror Descent: Generalized Max-Margin
Token Selection" (arXiv 2410.14581), abstract: mirror descent with potential
ψ(W) = ||W||_p^p / p converges in direction to the generalized hard-margin SVM

    W^mm_{p,α} = argmin_W ||vec(W)||_p   s.t.   (x_{iα_i} − x_it)ᵀ W z_i >= 1   for all i, t != α_i

(the ℓp-AttSVM; p = 2 is TF-SVM's Att-SVM, arXiv 2308.16898 Sec. 2). Constraint k is
<A_k, W> >= rhs_k with A_k = a_k z_kᵀ (``svm.constraints.MarginConstraints``).

Dual (Hölder): with q = p / (p − 1) the dual exponent (q = ∞ for p = 1, q = 1 for p = ∞),

    max  λᵀrhs   s.t.   ||Σ_k λ_k a_k z_kᵀ||_q <= 1,   λ >= 0 on inequality rows,

because for every feasible W and every such λ,  λᵀrhs <= Σ λ_k <A_k, W> = <G, W> <= ||G||_q ||W||_p.
A pair (W, λ) therefore brackets the optimum: λᵀrhs / ||G||_q <= OPT <= ||W||_p. Every solution
this module returns carries that bracket (``holder_certificate``), recomputed from W and λ only;
the multipliers are stored normalized to ||G||_q = 1 (a dual-feasible point), so
``duality_gap`` = (||W||_p − λᵀrhs) / ||W||_p.

Methods (``lp_min_norm``):

* p = 1: the LP  min 1ᵀ(u + v)  s.t.  M(u − v) >= rhs,  u, v >= 0  (HiGHS through
  ``scipy.optimize.linprog``), then cvxpy + Clarabel as the fallback (also for p = ∞);
* p = ∞: the box LP  max γ  s.t.  M w >= γ rhs,  −1 <= w <= 1  (HiGHS), W = w / γ;
* 1 < p < ∞: first the smooth dual of min ½||w||_p² on the K multipliers (L-BFGS-B, then
  Newton on its support: ``_dual_newton``), accepted when its certified gap is at most
  ``GAP_ACCEPT``; otherwise the power-cone program
  min Σ_j r_j  s.t.  M w >= rhs / c,  (r_j, 1, w_j) ∈ K_pow(1/p)  (r_j >= |w_j|^p: the same
  minimizer as ||w||_p; c = ||W_F||_p of the Frobenius solution keeps w of order one), the
  margin rows lifted through y_j = W ẑ_j so that every row is sparse (``_lifted``), built
  directly for Clarabel (no modelling layer), with cvxpy + ``solver="CLARABEL"`` as the last
  fallback;
* p = 1 and ∞ use the same lifted rows in their LPs;
* p = 2: delegated to the structured Frobenius solver (``svm.frobenius.fro_min_norm``), whose
  multipliers of ½||W||_F² divided by ||W||_F are the Hölder dual point.

M holds the rows vec(a_k z_kᵀ) (row-major, so W = w.reshape(d, d_z)). Infeasibility does not
depend on the norm: a failed or infeasible solve runs the Farkas search of the Frobenius program
(``svm.certificates.require_feasible``), which raises ``InfeasibleSVM`` with a verified
certificate; ``solve_lp_svm`` classifies it in exact arithmetic (``svm.exact``). Nothing whose
certificate fails is returned: ``SolverError`` says so.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.certificates import (
    INFEASIBLE_RTOL,
    RANK_RTOL,
    SOLUTION_PRIMAL_RTOL,
    SUPPORT_RTOL,
    SolverError,
    ldexp,
    require_feasible,
    row_values,
    scale_exponents,
    scaled_constraints,
    singular_values_and_rank,
)
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution, margin_constraints
from attnsvm.reference.svm.exact import classify_infeasible
from attnsvm.reference.svm.selection import resolve_selection

__all__ = [
    "GAP_ACCEPT",
    "GAP_REFUSE",
    "HolderCertificate",
    "check_p",
    "dual_exponent",
    "holder_certificate",
    "lp_min_norm",
    "lp_norm",
    "lp_rows",
    "solve_lp_constraints_cvxpy",
    "solve_lp_svm",
]

#: a candidate whose certified relative duality gap is at most this is accepted at once ...
GAP_ACCEPT = 1e-8
#: ... and none whose gap exceeds this is ever returned (SolverError instead)
GAP_REFUSE = 1e-6
#: the methods of ``lp_min_norm``
METHODS = ("auto", "lp", "conic", "power-cone", "cvxpy", "fro")


def check_p(p: object) -> float:
    """The exponent p as a float in [1, ∞] (``float('inf')`` for ∞; the strings 'inf' and
    'infinity' are accepted); ProblemError('p') otherwise."""
    if isinstance(p, str):
        text = p.strip().lower()
        if text in ("inf", "infinity", "+inf"):
            return float("inf")
        try:
            p = float(text)
        except ValueError:
            raise ProblemError("p", f"must be a number >= 1 or 'inf', got {p!r:.60}") from None
    if isinstance(p, (bool, np.bool_, bytes, complex)) or not isinstance(
            p, (int, float, np.integer, np.floating)):
        raise ProblemError("p", f"must be a number >= 1 or 'inf', got {p!r:.60}")
    value = float(p)
    if np.isnan(value) or value < 1.0:
        raise ProblemError("p", f"must be a number >= 1 or 'inf', got {p!r}")
    return value


def dual_exponent(p: float) -> float:
    """q with 1/p + 1/q = 1 (q = ∞ for p = 1, q = 1 for p = ∞)."""
    p = check_p(p)
    if p == 1.0:
        return float("inf")
    if np.isinf(p):
        return 1.0
    return p / (p - 1.0)


def lp_norm(W: np.ndarray, p: float) -> float:
    """||vec(W)||_p, computed on W / max|W| so that |w|^p neither over- nor underflows."""
    p = check_p(p)
    w = np.abs(np.asarray(W, dtype=np.float64)).reshape(-1)
    m = float(np.max(w, initial=0.0))
    if not m > 0 or not np.isfinite(m):
        return m
    if np.isinf(p):
        return m
    return m * float(np.sum((w / m) ** p) ** (1.0 / p))


def lp_rows(constraints: MarginConstraints) -> np.ndarray:
    """M (K, d d_z): row k is vec(a_k z_kᵀ) in row-major order, so <A_k, W> = M_k · W.ravel()."""
    K = constraints.K
    return (constraints.a[:, :, None] * constraints.z[:, None, :]).reshape(K, -1)


# --------------------------------------------------------------------------------- certificate
@dataclass(frozen=True)
class HolderCertificate:
    """What (W, λ) prove about the ℓp-AttSVM (recomputed, nothing read from a solver).

    Attributes:
        p, q: the exponent and its dual.
        objective: ||W||_p.
        min_margin: min over inequality rows with rhs_k > 0 of <A_k, W> / rhs_k.
        max_violation: largest primal violation (clipped at 0).
        dual_norm: ||G||_q of G = Σ λ_k a_k z_kᵀ for λ as given.
        lower_bound: λᵀrhs / ||G||_q (weak duality, valid for λ >= 0 on inequality rows).
        duality_gap: (||W||_p − lower_bound) / ||W||_p.
        alignment: 1 − <G, W> / (||G||_q ||W||_p) (Hölder equality: 0 at the optimum).
        complementarity: max_k λ_k slack_k / λᵀrhs on inequality rows.
        dual_sign: the largest negative λ_k on an inequality row over max|λ|.
        kkt_residual: max of max_violation, |alignment|, complementarity, dual_sign.
        support: indices of the active inequality rows.
    """

    p: float
    q: float
    objective: float
    min_margin: float
    max_violation: float
    dual_norm: float
    lower_bound: float
    duality_gap: float
    alignment: float
    complementarity: float
    dual_sign: float
    kkt_residual: float
    support: np.ndarray

    def summary(self) -> dict[str, Any]:
        """The scalar fields as plain floats (``SVMSolution.extra``); p, q = ∞ as 'inf'."""
        def num(x: float) -> float | str:
            return "inf" if np.isinf(x) else float(x)

        return {"p": num(self.p), "q": num(self.q), "min_margin": self.min_margin,
                "max_violation": self.max_violation, "dual_norm": self.dual_norm,
                "lower_bound": self.lower_bound, "upper_bound": self.objective,
                "duality_gap": self.duality_gap, "alignment": self.alignment,
                "complementarity": self.complementarity, "dual_sign": self.dual_sign,
                "kkt_residual": self.kkt_residual}


def holder_certificate(constraints: MarginConstraints, W: np.ndarray, lam: np.ndarray, p: float,
                       *, support_rtol: float = SUPPORT_RTOL) -> HolderCertificate:
    """Certify (W, λ) for the ℓp-AttSVM on ``constraints`` (module docstring: Hölder bracket)."""
    p = check_p(p)
    q = dual_exponent(p)
    W = np.asarray(W, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    ineq = ~eq
    values = row_values(constraints, W)
    slack = values - rhs
    viol = np.where(eq, np.abs(slack), np.maximum(-slack, 0.0))
    max_violation = float(np.max(viol, initial=0.0))
    pos = ineq & (rhs > 0)
    min_margin = float(np.min(values[pos] / rhs[pos])) if pos.any() else float("nan")
    obj = lp_norm(W, p)
    G = constraints.combine(lam) if constraints.K else np.zeros_like(W)
    gq = lp_norm(G, q) if np.all(np.isfinite(G)) else float("nan")
    weight = float(lam @ rhs)
    lower = weight / gq if gq > 0 else (0.0 if weight <= 0 else float("inf"))
    gap = (obj - lower) / obj if obj > 0 else abs(lower)
    align = 1.0 - float(np.sum(G * W)) / (gq * obj) if gq > 0 and obj > 0 else float("nan")
    lmax = float(np.max(np.abs(lam), initial=0.0))
    neg = float(np.max(-lam[ineq], initial=0.0))
    dual_sign = neg / lmax if neg > 0 else 0.0
    comp = np.abs(lam[ineq]) * np.abs(slack[ineq])
    complementarity = float(np.max(comp, initial=0.0)) / weight if weight > 0 else float("nan")
    kkt = max(max_violation, abs(align), complementarity, dual_sign)
    tol = support_rtol * np.maximum(1.0, np.abs(rhs))
    return HolderCertificate(p=p, q=q, objective=obj, min_margin=min_margin,
                             max_violation=max_violation, dual_norm=gq, lower_bound=lower,
                             duality_gap=float(gap), alignment=float(align),
                             complementarity=complementarity, dual_sign=dual_sign,
                             kkt_residual=float(kkt),
                             support=np.flatnonzero(ineq & (slack <= tol)))


def _failures(constraints: MarginConstraints, cert: HolderCertificate,
              gap_refuse: float = GAP_REFUSE) -> list[str]:
    """Why a certificate does not prove optimality ([] when it does)."""
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    tol = SOLUTION_PRIMAL_RTOL * max(float(np.max(np.abs(rhs), initial=0.0)), 1e-300)
    out = []
    if not (np.isfinite(cert.objective) and cert.objective > 0):
        out.append(f"objective {cert.objective!r}")
    if not cert.max_violation <= tol:
        out.append(f"max_violation {cert.max_violation:.3g}")
    if not cert.dual_sign == 0.0:
        out.append(f"dual_sign {cert.dual_sign:.3g}")
    if not abs(cert.duality_gap) <= gap_refuse:
        out.append(f"duality_gap {cert.duality_gap:.3g}")
    return out


def _normalized(constraints: MarginConstraints, W: np.ndarray, lam: np.ndarray,
                p: float) -> tuple[np.ndarray, np.ndarray]:
    """W divided by its min margin when that is short of 1 by round-off (W/μ is feasible for
    margin rows), λ clipped at 0 on inequality rows and divided by ||G||_q (dual feasible)."""
    eq = np.asarray(constraints.equality, dtype=bool)
    lam = np.where(eq, lam, np.maximum(lam, 0.0))
    values = row_values(constraints, W)
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    pos = ~eq & (rhs > 0)
    if pos.any() and not eq.any():
        mu = float(np.min(values[pos] / rhs[pos]))
        if 1.0 - 1e-6 < mu and mu != 1.0:  # a margin off 1 by round-off (or W above OPT)
            W = W / mu
    gq = lp_norm(constraints.combine(lam), dual_exponent(p))
    if gq > 0 and np.isfinite(gq):
        lam = lam / gq
    return W, lam


# ------------------------------------------------------------------------------------- methods
def _highs_options() -> dict[str, Any]:
    return {"primal_feasibility_tolerance": 1e-10, "dual_feasibility_tolerance": 1e-10}


def _lifted(cons: MarginConstraints) -> tuple[Any, Any, int]:
    """The sparse lifted form of the margin rows, over variables [w (d d_z), y (m d)] with m the
    distinct queries ẑ_j: ``link`` (m d, D + m d) holds y_j − W ẑ_j (= 0), ``margin`` (K, D + m d)
    holds a_kᵀ y_{j(k)} (= <A_k, W> once linked). Each margin row has d entries instead of d d_z,
    so LP and conic solvers factor sparse matrices. Returns (link, margin, m d)."""
    import scipy.sparse as sp

    K = cons.K
    d, dz = cons.a.shape[1], cons.z.shape[1]
    D = d * dz
    Zu, inv = np.unique(cons.z, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    m = Zu.shape[0]
    n = D + m * d
    jj, ee, ff = np.meshgrid(np.arange(m), np.arange(d), np.arange(dz), indexing="ij")
    link = sp.csr_matrix(
        (np.concatenate([np.ones(m * d), -Zu[jj, ff].ravel()]),
         (np.concatenate([np.arange(m * d), (jj * d + ee).ravel()]),
          np.concatenate([D + np.arange(m * d), (ee * dz + ff).ravel()]))),
        shape=(m * d, n))
    kk, ee2 = np.meshgrid(np.arange(K), np.arange(d), indexing="ij")
    margin = sp.csr_matrix((cons.a.ravel(), (kk.ravel(), D + (inv[kk] * d + ee2).ravel())),
                           shape=(K, n))
    return link, margin, m * d


def _linprog(c: np.ndarray, A_ub: Any, b_ub: np.ndarray, A_eq: Any, b_eq: np.ndarray,
             bounds: list[tuple[float | None, float | None]]) -> Any:
    from scipy.optimize import linprog

    kw: dict[str, Any] = {}
    if A_ub.shape[0]:
        kw.update(A_ub=A_ub, b_ub=b_ub)
    if A_eq.shape[0]:
        kw.update(A_eq=A_eq, b_eq=b_eq)
    return linprog(c, bounds=bounds, method="highs", options=_highs_options(), **kw)


def _lp_l1(cons: MarginConstraints) -> tuple[np.ndarray, np.ndarray] | None:
    """p = 1: min 1ᵀ(u + v) s.t. a_kᵀ y_{j(k)} >= rhs_k (= on equality rows), y_j = (U − V) ẑ_j,
    u, v >= 0, y free (HiGHS on the sparse lifted rows, ``_lifted``); W = U − V."""
    import scipy.sparse as sp

    K = cons.K
    D = cons.a.shape[1] * cons.z.shape[1]
    eq = np.asarray(cons.equality, dtype=bool)
    rhs = np.asarray(cons.rhs, dtype=np.float64)
    link, margin, my = _lifted(cons)

    def split(A: Any) -> Any:  # columns [w, y] -> [u, v, y] with w = u − v
        A = A.tocsc()
        return sp.hstack([A[:, :D], -A[:, :D], A[:, D:]]).tocsr()

    c = np.concatenate([np.ones(2 * D), np.zeros(my)])
    res = _linprog(c, -split(margin[~eq]), -rhs[~eq], sp.vstack([split(margin[eq]), split(link)]),
                   np.concatenate([rhs[eq], np.zeros(my)]),
                   [(0, None)] * (2 * D) + [(None, None)] * my)
    if res.status != 0 or res.x is None:
        return None
    w = res.x[:D] - res.x[D:2 * D]
    lam = np.zeros(K)
    lam[~eq] = -np.asarray(res.ineqlin.marginals)
    lam[eq] = np.asarray(res.eqlin.marginals)[:int(eq.sum())]
    return w, lam


def _lp_linf(cons: MarginConstraints) -> tuple[np.ndarray, np.ndarray] | None:
    """p = ∞: max γ s.t. a_kᵀ y_{j(k)} >= γ rhs_k (= on equality rows), y_j = W ẑ_j,
    −1 <= W <= 1 (HiGHS on the sparse lifted rows); the solution is W / γ."""
    import scipy.sparse as sp

    K = cons.K
    D = cons.a.shape[1] * cons.z.shape[1]
    eq = np.asarray(cons.equality, dtype=bool)
    rhs = np.asarray(cons.rhs, dtype=np.float64)
    link, margin, my = _lifted(cons)
    rows = sp.hstack([-margin, sp.csr_matrix(rhs[:, None])]).tocsr()  # γ rhs − a_kᵀ y <= 0
    c = np.zeros(D + my + 1)
    c[-1] = -1.0
    A_eq = sp.vstack([rows[eq], sp.hstack([link, sp.csr_matrix((my, 1))])])
    res = _linprog(c, rows[~eq], np.zeros(int((~eq).sum())), A_eq, np.zeros(A_eq.shape[0]),
                   [(-1.0, 1.0)] * D + [(None, None)] * (my + 1))
    if res.status != 0 or res.x is None or not res.x[-1] > 0:
        return None
    gamma = float(res.x[-1])
    lam = np.zeros(K)
    lam[~eq] = -np.asarray(res.ineqlin.marginals)
    lam[eq] = -np.asarray(res.eqlin.marginals)[:int(eq.sum())]
    return res.x[:D] / gamma, lam


def _grad_h(g: np.ndarray, q: float) -> np.ndarray:
    """∇h(g) for h = ½||g||_q²: ||g||_q^{2−q} sign(g)|g|^{q−1} (the primal of a dual point)."""
    m = float(np.max(np.abs(g), initial=0.0))
    if not m > 0:
        return np.zeros_like(g)
    u = np.abs(g) / m
    nq = float(np.sum(u**q) ** (1.0 / q))  # ||g||_q / m
    return m * nq ** (2.0 - q) * np.sign(g) * u ** (q - 1.0)


def _dual_newton(cons: MarginConstraints, p: float, maxiter: int = 5000, newton_steps: int = 20,
                 support_rounds: int = 6) -> tuple[np.ndarray, np.ndarray] | None:
    """1 < p < ∞ through the smooth dual of min ½||w||_p²:  min_λ ½||Mᵀλ||_q² − λᵀrhs over
    λ >= 0 (free on equality rows), K variables only; w = ∇h(Mᵀλ) (``_grad_h``).

    L-BFGS-B (``scipy.optimize``) brings λ close; Newton's method on the KKT equations of its
    support S, M_S ∇h(M_Sᵀ λ_S) = rhs_S (Jacobian M_S ∇²h M_Sᵀ, ∇²h a diagonal plus a rank-one
    term), then polishes it to working precision; rows it leaves violated join S and rows whose
    multiplier turns negative leave it (a few rounds). Like every candidate, the result is only
    accepted through its certificate."""
    from scipy.optimize import minimize

    q = p / (p - 1.0)
    M = lp_rows(cons)
    K = cons.K
    rhs = np.asarray(cons.rhs, dtype=np.float64)
    eq = np.asarray(cons.equality, dtype=bool)

    def fg(lam: np.ndarray) -> tuple[float, np.ndarray]:
        g = M.T @ lam
        w = _grad_h(g, q)
        return 0.5 * float(g @ w) - float(lam @ rhs), M @ w - rhs  # g·∇h(g) = ||g||_q²

    bounds = [(None, None) if e else (0.0, None) for e in eq]
    res = minimize(fg, np.where(eq, 0.0, 1.0 / max(K, 1)), jac=True, method="L-BFGS-B",
                   bounds=bounds, options={"maxiter": maxiter, "maxfun": 2 * maxiter,
                                           "ftol": 0.0, "gtol": 0.0, "maxcor": 30})
    lam = np.asarray(res.x, dtype=np.float64)
    if not np.all(np.isfinite(lam)):
        return None
    S = eq | (lam > 1e-10 * float(np.max(lam, initial=0.0)))
    for _ in range(support_rounds):
        ls = _newton_polish(M[S], rhs[S], lam[S], q, newton_steps)
        lam = np.zeros(K)
        lam[S] = ls
        slack = M @ _grad_h(M.T @ lam, q) - rhs
        violated = ~eq & ~S & (slack < -1e-12 * float(np.max(np.abs(rhs))))
        negative = S & ~eq & (lam < 0)
        if not violated.any() and not negative.any():
            break
        lam[negative] = 0.0
        S = (S & ~negative) | violated
    lam = np.where(eq, lam, np.maximum(lam, 0.0))
    return _grad_h(M.T @ lam, q), lam


def _newton_polish(Ms: np.ndarray, bs: np.ndarray, ls: np.ndarray, q: float,
                   steps: int) -> np.ndarray:
    """Newton's method on M_S ∇h(M_Sᵀ λ_S) = b_S with backtracking on the largest residual."""

    def residual(x: np.ndarray) -> float:
        return float(np.max(np.abs(Ms @ _grad_h(Ms.T @ x, q) - bs)))

    r0 = residual(ls)
    for _ in range(steps):
        g = Ms.T @ ls
        m = float(np.max(np.abs(g)))
        if not m > 0 or r0 < 1e-15:
            break
        a = np.maximum(np.abs(g), 1e-12 * m)
        nq = float(np.linalg.norm(g, ord=q))
        u = np.sign(g) * a ** (q - 1.0)
        diag = (q - 1.0) * nq ** (2.0 - q) * a ** (q - 2.0)
        v = Ms @ u
        J = (Ms * diag) @ Ms.T + (2.0 - q) * nq ** (2.0 - 2.0 * q) * np.outer(v, v)
        F = Ms @ _grad_h(g, q) - bs
        try:
            step = np.linalg.lstsq(J, F, rcond=None)[0]
        except np.linalg.LinAlgError:
            break
        t, improved = 1.0, False
        for _ in range(30):
            trial = ls - t * step
            r1 = residual(trial)
            if r1 < r0:
                ls, r0, improved = trial, r1, True
                break
            t *= 0.5
        if not improved:
            break
    return ls


def _clarabel_power(cons: MarginConstraints, p: float,
                    scale: float = 1.0) -> tuple[np.ndarray, np.ndarray] | None:
    """1 < p < ∞: min Σ_j |w_j|^p (same minimizer as ||w||_p) for Clarabel directly, in a
    sparse lifted form with one independent power cone per entry.

    Variables x = [w (d d_z), y (m d), r (d d_z)] with m the distinct queries ẑ_j: y_j = W ẑ_j
    (zero cone), a_kᵀ y_{j(k)} >= rhs_k / scale (nonnegative cone; zero cone on equality rows),
    and (r_j, 1, w_j) ∈ K_pow(1/p) (r_j^{1/p} >= |w_j|, i.e. r_j >= |w_j|^p) with objective
    Σ_j r_j. The margin rows touch d entries each instead of d d_z and no variable couples the
    cones, so the KKT factor stays sparse. ``scale`` (an estimate of OPT) makes the optimal w of
    order one; the solution is scale · w. Constraints are b − A x ∈ cone; the duals of the
    margin rows are a positive multiple of the Hölder λ (normalized by the caller)."""
    import clarabel
    import scipy.sparse as sp

    K = cons.K
    d, dz = cons.a.shape[1], cons.z.shape[1]
    D = d * dz
    eq = np.asarray(cons.equality, dtype=bool)
    rhs = np.asarray(cons.rhs, dtype=np.float64) / scale
    link_w, margin_w, my = _lifted(cons)
    orr = D + my
    n = orr + D
    link = sp.hstack([link_w, sp.csr_matrix((my, D))]).tocsr()
    margin = sp.hstack([margin_w, sp.csr_matrix((K, D))]).tocsr()
    ne, ni = int(eq.sum()), int((~eq).sum())
    # power cones: slack (r_j, 1, w_j) = b − A x with b = (0, 1, 0) and no A entry for the 1
    rows = np.concatenate([3 * np.arange(D), 3 * np.arange(D) + 2])
    cols = np.concatenate([orr + np.arange(D), np.arange(D)])
    power = sp.csr_matrix((-np.ones(2 * D), (rows, cols)), shape=(3 * D, n))
    b_pow = np.zeros(3 * D)
    b_pow[1::3] = 1.0
    A = sp.vstack([link, margin[eq], -margin[~eq], power]).tocsc()
    b = np.concatenate([np.zeros(my), rhs[eq], -rhs[~eq], b_pow])
    cones = [clarabel.ZeroConeT(my + ne)]
    if ni:
        cones.append(clarabel.NonnegativeConeT(ni))
    cones.extend(clarabel.PowerConeT(1.0 / p) for _ in range(D))
    q = np.zeros(n)
    q[orr:] = 1.0
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = 1e-12
    settings.tol_gap_rel = 1e-12
    settings.tol_feas = 1e-11
    settings.tol_ktratio = 1e-9
    settings.max_iter = 300
    sol = clarabel.DefaultSolver(sp.csc_matrix((n, n)), q, A, b, cones, settings).solve()
    x = np.asarray(sol.x, dtype=np.float64)
    z = np.asarray(sol.z, dtype=np.float64)
    if x.shape != (n,) or not np.all(np.isfinite(x)) or not np.all(np.isfinite(z)):
        return None
    lam = np.zeros(K)
    lam[eq] = -z[my:my + ne]
    lam[~eq] = z[my + ne:my + ne + ni]
    return scale * x[:D], lam


def _scale_estimate(cons: MarginConstraints, p: float) -> float:
    """An estimate of OPT_p within a factor D^{|1/p − 1/2|}: ||W_F||_p of the Frobenius solution
    (certified, fast), or 1 when that solve fails (the estimate only conditions the program)."""
    from attnsvm.reference.svm.frobenius import fro_min_norm

    try:
        W, _, _ = fro_min_norm(cons)
    except Exception:  # noqa: BLE001 - infeasible or failed: the caller decides later
        return 1.0
    v = lp_norm(W, p)
    return v if np.isfinite(v) and v > 0 else 1.0


def solve_lp_constraints_cvxpy(
    constraints: MarginConstraints, p: float, *, per_constraint: bool = False,
    tight: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, str]:
    """min ||vec(W)||_p over the rows with cvxpy + ``solver="CLARABEL"``: returns (W, λ, seconds,
    status). ``per_constraint`` builds one cvxpy constraint per row, <a_k z_kᵀ, W> >= rhs_k (the
    model a researcher writes first; the benchmark's baseline), else one vectorized constraint.
    λ are cvxpy's duals, normalized to ||G||_q = 1 here but *not* trusted: callers certify."""
    import cvxpy as cp

    from attnsvm.reference.svm.frobenius import clarabel_failure

    p = check_p(p)
    K = constraints.K
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    W = cp.Variable((d, dz))
    eq = np.asarray(constraints.equality, dtype=bool)
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    t0 = time.perf_counter()
    if per_constraint:
        cons = []
        for k in range(K):
            expr = constraints.a[k] @ W @ constraints.z[k]
            cons.append(expr == rhs[k] if eq[k] else expr >= rhs[k])
    else:
        M = lp_rows(constraints)
        w = cp.vec(W, order="C")
        cons = []
        if (~eq).any():
            cons.append(M[~eq] @ w >= rhs[~eq])
        if eq.any():
            cons.append(M[eq] @ w == rhs[eq])
    obj = cp.pnorm(cp.vec(W, order="C"), p if np.isfinite(p) else "inf")
    prob = cp.Problem(cp.Minimize(obj), cons)
    lam = np.zeros(K)
    failure = clarabel_failure(prob, W, tight)
    seconds = time.perf_counter() - t0
    if failure is not None:
        return np.full((d, dz), np.nan), lam, seconds, failure
    if per_constraint:
        for k in range(K):
            dv = float(np.asarray(cons[k].dual_value).reshape(-1)[0])
            lam[k] = -dv if eq[k] else dv
    else:
        j = 0
        if (~eq).any():
            lam[~eq] = np.asarray(cons[j].dual_value, dtype=np.float64).reshape(-1)
            j += 1
        if eq.any():
            lam[eq] = -np.asarray(cons[j].dual_value, dtype=np.float64).reshape(-1)
    Wv = np.asarray(W.value, dtype=np.float64)
    Wn, lam = _normalized(constraints, Wv, lam, p)
    return Wn, lam, seconds, str(prob.status)


def _method_for(p: float, method: str) -> str:
    if method not in METHODS:
        raise ProblemError("method", f"unknown method {method!r}; choose from {METHODS}")
    if method != "auto":
        if method == "lp" and not (p == 1.0 or np.isinf(p)):
            raise ProblemError("method", "the LP method needs p = 1 or p = inf")
        if method in ("conic", "power-cone") and (p == 1.0 or np.isinf(p)):
            raise ProblemError("method", f"the {method} method needs 1 < p < inf")
        if method == "fro" and p != 2.0:
            raise ProblemError("method", "the Frobenius method needs p = 2")
        return method
    if p == 2.0:
        return "fro"
    if p == 1.0 or np.isinf(p):
        return "lp"
    return "conic"


def _candidates(cons: MarginConstraints, p: float, method: str) -> list[tuple[str, Any]]:
    """The solvers to try, in order, as (name, callable returning (w or W, λ) or None)."""

    def fro() -> tuple[np.ndarray, np.ndarray]:
        from attnsvm.reference.svm.frobenius import fro_min_norm

        W, lam, _ = fro_min_norm(cons)
        return W, lam

    def cvx() -> tuple[np.ndarray, np.ndarray] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # its status is not trusted: we certify
            W, lam, _, _ = solve_lp_constraints_cvxpy(cons, p)
        return (W, lam) if np.all(np.isfinite(W)) else None

    table = {
        "fro": [("frobenius", fro)],
        "lp": [("highs", (lambda: _lp_l1(cons)) if p == 1.0 else (lambda: _lp_linf(cons))),
               ("cvxpy/CLARABEL", cvx)],
        "conic": [("dual-lbfgs-newton", lambda: _dual_newton(cons, p)),
                  ("clarabel-power-cone",
                   lambda: _clarabel_power(cons, p, _scale_estimate(cons, p))),
                  ("cvxpy/CLARABEL", cvx)],
        "power-cone": [("clarabel-power-cone",
                        lambda: _clarabel_power(cons, p, _scale_estimate(cons, p))),
                       ("cvxpy/CLARABEL", cvx)],
        "cvxpy": [("cvxpy/CLARABEL", cvx)],
    }
    return table[method]


def lp_min_norm(
    constraints: MarginConstraints,
    p: float,
    *,
    method: str = "auto",
    infeasible_rtol: float = INFEASIBLE_RTOL,
    context: dict[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """min ||vec(W)||_p s.t. the rows of ``constraints``: returns (W, λ, info), λ the Hölder dual
    point (λ >= 0 on inequality rows, ||Σ λ_k a_k z_kᵀ||_q = 1) and ``info`` the method and the
    certificate summary. ``method``: "auto" (p = 2 Frobenius, p = 1 and ∞ HiGHS LPs, else
    "conic": the smooth dual, then the power cone), or one of "lp", "conic", "power-cone" (the
    Clarabel power cone first), "cvxpy", "fro". Raises ``InfeasibleSVM`` (verified
    Farkas certificate) or ``SolverError`` (no certified candidate); data of extreme magnitude
    are solved on their power-of-two normalization (exact: W(a s, z r) = W / (s r))."""
    p = check_p(p)
    name = _method_for(p, method)
    if not isinstance(constraints, MarginConstraints):
        raise ProblemError("constraints", f"expected MarginConstraints, got "
                           f"{type(constraints).__name__}")
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    if constraints.K == 0 or not np.any(np.where(eq, rhs != 0, rhs > 0)):
        W, lam = np.zeros((d, dz)), np.zeros(constraints.K)
        return W, lam, {"method": "zero", "p": p}
    ea, ez = scale_exponents(constraints)
    e = ea + ez
    cons = scaled_constraints(constraints, ea, ez)
    tried: list[str] = []
    best: tuple[float, np.ndarray, np.ndarray, str, HolderCertificate] | None = None
    with np.errstate(all="ignore"):
        for tag, fn in _candidates(cons, p, name):
            try:
                out = fn()
            except InfeasibleSVM:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed solver is one failed candidate
                tried.append(f"{tag} ({type(exc).__name__})")
                continue
            if out is None:
                tried.append(f"{tag} (no solution)")
                continue
            w, lam = out
            W, lam = _normalized(cons, np.asarray(w, dtype=np.float64).reshape(d, dz),
                                 np.asarray(lam, dtype=np.float64), p)
            cert = holder_certificate(cons, W, lam, p)
            bad = _failures(cons, cert)
            tried.append(tag + (f" ({', '.join(bad)})" if bad else ""))
            if not bad and (best is None or abs(cert.duality_gap) < best[0]):
                best = (abs(cert.duality_gap), W, lam, tag, cert)
            if best is not None and best[0] <= GAP_ACCEPT:
                break
    if best is None:
        require_feasible(constraints, rtol=infeasible_rtol,
                         context={"norm": "lp", "p": _json_p(p), **(context or {})},
                         what="lp-AttSVM")
        raise SolverError(f"lp-AttSVM (p = {p:g}): no candidate's Hölder certificate holds "
                          f"(tried {'; '.join(tried)})")
    _, W, lam, tag, cert = best
    info = {"method": tag, "tried": tried, "p": p, **cert.summary()}
    if e:
        info["scale_exponents"] = [ea, ez]
        W = ldexp(W, -e)
        lam = ldexp(lam, -e)
    return W, lam, info


def _json_p(p: float) -> float | str:
    return "inf" if np.isinf(p) else float(p)


def solve_lp_svm(
    problem: AttentionProblem,
    p: float | str,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    method: str = "auto",
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    prove: bool = True,
) -> SVMSolution:
    """W^mm_{p,α} of the ℓp-AttSVM (arXiv 2410.14581), certified by the Hölder bracket.

    ``p`` in [1, ∞] (a float, ``float('inf')`` or 'inf'); ``select`` "opt" (argmax score, ties
    refused) or one token index per input. The returned ``SVMSolution`` has ``norm = "lp"``,
    ``objective`` = ||W||_p, ``lam`` the dual point (||Σ λ_k a_k z_kᵀ||_q = 1), ``duality_gap`` =
    (||W||_p − Σ λ_k) / ||W||_p, and ``extra["p"]``, ``extra["q"]`` and the certificate fields.
    Infeasible: ``InfeasibleSVM`` with the Farkas certificate, classified in exact arithmetic
    when ``prove`` (as ``svm.frobenius.solve_att_svm``)."""
    problem = as_problem(problem)
    p = check_p(p)
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    t0 = time.perf_counter()
    try:
        W, lam, info = lp_min_norm(cons, p, method=method, context={"select": alpha.tolist()})
    except InfeasibleSVM as exc:
        if not prove:
            raise
        raise classify_infeasible(problem.X, problem.Z, alpha, exc) from None
    seconds = time.perf_counter() - t0
    cert = holder_certificate(cons, W, lam, p, support_rtol=support_rtol)
    sv, rank = singular_values_and_rank(W, rank_rtol)
    extra = {**info, **cert.summary(), "support_rows": cert.support,
             "support_rtol": support_rtol, "rank_rtol": rank_rtol}
    W = np.array(W, dtype=np.float64)
    W.setflags(write=False)
    return SVMSolution(
        W=W, norm="lp", select=alpha, constraints=cons, lam=np.asarray(lam, dtype=np.float64),
        objective=cert.objective, min_margin=cert.min_margin, kkt_residual=cert.kkt_residual,
        duality_gap=cert.duality_gap, singular_values=sv, rank=rank,
        support=np.asarray(cons.pairs)[cert.support].reshape(-1, 2), seconds=seconds,
        method=f"lp/{info['method']}", extra=extra,
    )
