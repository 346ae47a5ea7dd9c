"""Solver-independent optimality and infeasibility certificates for min-norm margin programs.

Every program here has the form (TF-SVM, arXiv 2308.16898, Sec. 2, Eq. (Att-SVM) and Att-SVM⋆):

    min ||W||   s.t.   <A_k, W> >= rhs_k  (inequality rows),   <A_k, W> = rhs_k  (equality rows),

with A_k = a_k z_k^T the rows of a ``reference.svm_core.MarginConstraints``.  A certificate is
recomputed from the pair (W, lam) only; nothing a solver reports about itself is trusted.

Dual conventions (which multipliers ``lam`` mean):

* ``norm="fro"``: multipliers of  min ½||W||_F²  (dual: max lamᵀrhs − ½||Σ lam_k A_k||_F²,
  lam >= 0 on inequality rows).  Stationarity is the representer form W = Σ_k lam_k a_k z_kᵀ
  and strong duality reads lamᵀrhs = ||W||_F².
* ``norm="nuc"``: multipliers of  min ||W||_*  (dual: max lamᵀrhs s.t. ||Σ lam_k A_k||_2 <= 1).
  Stationarity is G = Σ lam_k A_k ∈ ∂||W||_*, i.e. ||G||_2 <= 1 and <G, W> = ||W||_*.

Infeasibility is proved by Farkas' lemma (Gordan's alternative when every rhs_k = 1, TF-SVM
Sec. 2 feasibility remark): the rows admit no W iff some lam (>= 0 on inequality rows) has
Σ_k lam_k A_k = 0 and lamᵀrhs > 0.  ``farkas_search`` finds the lam of minimal ||Σ lam_k A_k||_F
(normalized to Σ|lam| = 1) as a least-distance program solved by Lawson–Hanson NNLS, and
``verify_farkas`` checks a candidate from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import nnls

from reference.errors import InfeasibleSVM, ProblemError
from reference.svm_core import MarginConstraints, SVMSolution

NORMS = ("fro", "nuc")
#: An inequality row is *active* (a support row) when its slack is at most this (x max(1, |rhs|)).
SUPPORT_RTOL = 1e-6
#: Rank counts singular values above this fraction of the largest one (CONVENTIONS.md).
RANK_RTOL = 1e-6
#: A Farkas combination Σ lam_k A_k that vanishes to this relative precision (relative to the
#: largest row, see ``farkas_relative_residual``) proves infeasibility at working precision:
#: ||W^mm|| would exceed ~1/INFEASIBLE_RTOL in units of the data (softmax is only exact up to
#: ||W|| ~ 1e8).
INFEASIBLE_RTOL = 1e-9



def _relative(value: float, scale: float) -> float:
    """value / scale, or value itself when the scale vanishes (e.g. W = 0)."""
    return value / scale if scale > 1e-150 else value


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ProblemError("norm", f"unknown norm {norm!r}; choose from {NORMS}")
    return norm


def singular_values_and_rank(W: np.ndarray, rank_rtol: float = RANK_RTOL) -> tuple[np.ndarray, int]:
    """Singular values of W (descending) and the relative-threshold rank #{σ_k > rtol·σ_1}."""
    sv = np.linalg.svd(np.asarray(W, dtype=np.float64), compute_uv=False)
    if sv.size == 0 or sv[0] <= 0.0:
        return sv, 0
    return sv, int(np.count_nonzero(sv > rank_rtol * sv[0]))


def norm_value(W: np.ndarray, norm: str) -> float:
    """||W||_F or ||W||_* ."""
    if _check_norm(norm) == "fro":
        return float(np.linalg.norm(W))
    return float(np.sum(np.linalg.svd(W, compute_uv=False)))


def row_values(constraints: MarginConstraints, W: np.ndarray) -> np.ndarray:
    """<A_k, W> = a_kᵀ W z_k for every row, shape (K,)."""
    if constraints.K == 0:
        return np.zeros(0)
    return np.sum((constraints.a @ W) * constraints.z, axis=1)


@dataclass(frozen=True)
class Certificate:
    """What (W, lam) prove about a min-norm margin program (all recomputed, none from a solver).

    Attributes:
        norm: "fro" or "nuc".
        objective: ||W|| in that norm.
        min_margin: min over inequality rows with rhs_k > 0 of <A_k,W>/rhs_k (1 at the optimum
            of an Att-SVM); ``nan`` when there is no such row.
        max_violation: largest primal violation, max(rhs_k − <A_k,W>) on inequality rows and
            |<A_k,W> − rhs_k| on equality rows, clipped at 0 (absolute, margins are O(1)).
        stationarity: fro: ||W − Σ lam_k A_k||_F / ||W||_F;  nuc: max(||G||_2 − 1, 0) +
            |<G,W> − ||W||_*| / ||W||_*  with G = Σ lam_k A_k.
        complementarity: max_k |lam_k| · |slack_k| over inequality rows, divided by Σ lam_k <A_k,W>
            (= ||W||_F² resp. ||W||_* at the optimum).
        dual_sign: the largest negative lam_k on an inequality row over max |lam|.
        kkt_residual: max of max_violation, stationarity, complementarity, dual_sign.
        primal_value, dual_value: ½||W||_F² and lamᵀrhs − ½||G||_F² (fro);  ||W||_* and lamᵀrhs
            (nuc).
        duality_gap: |primal_value − dual_value| / primal_value.
        support: indices of the active inequality rows (slack <= support_rtol·max(1,|rhs_k|)).
        near_support: inequality rows with slack in (tol, 1e3·tol]: an ambiguous support decision.
        singular_values, rank: of W, rank with the relative threshold ``rank_rtol``.
    """

    norm: str
    objective: float
    min_margin: float
    max_violation: float
    stationarity: float
    complementarity: float
    dual_sign: float
    kkt_residual: float
    primal_value: float
    dual_value: float
    duality_gap: float
    support: np.ndarray
    near_support: np.ndarray
    singular_values: np.ndarray
    rank: int
    values: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, Any]:
        """The scalar fields as plain floats/ints (for JSON and SVMSolution.extra)."""
        return {
            "min_margin": self.min_margin,
            "max_violation": self.max_violation,
            "stationarity": self.stationarity,
            "complementarity": self.complementarity,
            "dual_sign": self.dual_sign,
            "kkt_residual": self.kkt_residual,
            "primal_value": self.primal_value,
            "dual_value": self.dual_value,
            "duality_gap": self.duality_gap,
            "near_support": self.near_support.tolist(),
        }


def certify(
    constraints: MarginConstraints,
    W: np.ndarray,
    lam: np.ndarray,
    norm: str = "fro",
    *,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
) -> Certificate:
    """Certify (W, lam) for  min ||W||  s.t. the rows of ``constraints`` (see module docstring).

    W has shape (d, dz) matching ``constraints.a`` (K, d) and ``constraints.z`` (K, dz); lam has
    shape (K,). Nothing here depends on how W and lam were computed.
    """
    _check_norm(norm)
    W = np.asarray(W, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    K = constraints.K
    shape = (constraints.a.shape[1], constraints.z.shape[1])
    if W.shape != shape:
        raise ProblemError("W", f"expected shape {shape}, got {W.shape}")
    if lam.shape != (K,):
        raise ProblemError("lam", f"expected {K} multipliers, got shape {lam.shape}")
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    ineq = ~eq
    values = row_values(constraints, W)
    slack = values - rhs

    viol = np.zeros(K)
    viol[ineq] = np.maximum(-slack[ineq], 0.0)
    viol[eq] = np.abs(slack[eq])
    max_violation = float(viol.max()) if K else 0.0
    pos = ineq & (rhs > 0)
    min_margin = float(np.min(values[pos] / rhs[pos])) if pos.any() else float("nan")

    G = constraints.combine(lam) if K else np.zeros_like(W)
    sv, rank = singular_values_and_rank(W, rank_rtol)
    if norm == "fro":
        wn = float(np.linalg.norm(W))
        objective = wn
        stationarity = _relative(float(np.linalg.norm(W - G)), wn)
        scale = wn * wn
        primal = 0.5 * wn * wn
        dual = float(lam @ rhs) - 0.5 * float(np.sum(G * G))
    else:
        objective = float(np.sum(sv))
        g2 = float(np.linalg.norm(G, 2)) if G.size else 0.0
        align = _relative(abs(float(np.sum(G * W)) - objective), objective)
        stationarity = max(g2 - 1.0, 0.0) + align
        scale = objective
        primal = objective
        dual = float(lam @ rhs)
    comp = np.abs(lam[ineq]) * np.abs(slack[ineq])
    complementarity = _relative(float(comp.max()), scale) if comp.size else 0.0
    lam_scale = float(np.max(np.abs(lam))) if K else 0.0
    neg = float(np.max(-lam[ineq], initial=0.0))
    dual_sign = _relative(neg, lam_scale) if neg > 0 else 0.0
    if primal > 0:
        gap = abs(primal - dual) / primal
    else:
        gap = abs(dual)
    kkt = max(max_violation, stationarity, complementarity, dual_sign)

    tol = support_rtol * np.maximum(1.0, np.abs(rhs))
    active = ineq & (slack <= tol)
    near = ineq & (slack > tol) & (slack <= 1e3 * tol)
    return Certificate(
        norm=norm,
        objective=objective,
        min_margin=min_margin,
        max_violation=max_violation,
        stationarity=stationarity,
        complementarity=complementarity,
        dual_sign=dual_sign,
        kkt_residual=kkt,
        primal_value=primal,
        dual_value=dual,
        duality_gap=gap,
        support=np.flatnonzero(active),
        near_support=np.flatnonzero(near),
        singular_values=sv,
        rank=rank,
        values=values,
    )


def make_solution(
    constraints: MarginConstraints,
    W: np.ndarray,
    lam: np.ndarray,
    norm: str,
    select: np.ndarray,
    seconds: float,
    method: str,
    *,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    extra: dict[str, Any] | None = None,
) -> SVMSolution:
    """Certify (W, lam) and pack them into ``SVMSolution`` (the one record every solver returns).

    ``SVMSolution.support`` holds the (i, t) pairs of the active inequality rows; their row
    indices are in ``extra["support_rows"]``; the remaining certificate fields are in ``extra``.
    """
    cert = certify(constraints, W, lam, norm, support_rtol=support_rtol, rank_rtol=rank_rtol)
    info = {"support_rows": cert.support, **cert.summary(), "support_rtol": support_rtol,
            "rank_rtol": rank_rtol}
    if extra:
        info.update(extra)
    W = np.array(W, dtype=np.float64)
    W.setflags(write=False)
    return SVMSolution(
        W=W,
        norm=norm,
        select=np.asarray(select),
        constraints=constraints,
        lam=np.asarray(lam, dtype=np.float64),
        objective=cert.objective,
        min_margin=cert.min_margin,
        kkt_residual=cert.kkt_residual,
        duality_gap=cert.duality_gap,
        singular_values=cert.singular_values,
        rank=cert.rank,
        support=np.asarray(constraints.pairs)[cert.support].reshape(-1, 2),
        seconds=float(seconds),
        method=method,
        extra=info,
    )


# --------------------------------------------------------------------------- Farkas / Gordan


@dataclass(frozen=True)
class FarkasResult:
    """The minimum-norm point of the Farkas cone section, and whether it proves infeasibility.

    ``lam`` (K,) has Σ|lam| = 1, lam >= 0 on inequality rows (free sign on equality rows) and
    ``rhs_weight`` = lamᵀrhs > 0; ``residual`` = ||Σ lam_k a_k z_kᵀ||_F is recomputed from the
    explicit matrix; ``relative_residual`` is ``farkas_relative_residual`` (for a feasible
    program with unit right-hand sides, residual = 1/||W^mm||_F).
    ``infeasible`` is True iff the certificate verifies with ``tolerance``.
    """

    lam: np.ndarray
    pairs: np.ndarray
    residual: float
    relative_residual: float
    rhs_weight: float
    tolerance: float
    infeasible: bool

    def as_certificate(self, **context: Any) -> dict[str, Any]:
        """The JSON-ready certificate: the nonzero weights, their (i, t) pairs and the residual."""
        nz = np.flatnonzero(self.lam != 0.0)
        cert: dict[str, Any] = {
            "lambda": self.lam[nz].tolist(),
            "pairs": np.asarray(self.pairs)[nz].tolist(),
            "rows": nz.tolist(),
            "residual": self.residual,
            "relative_residual": self.relative_residual,
            "rhs_weight": self.rhs_weight,
            "tolerance": self.tolerance,
        }
        cert.update(context)
        return cert


def _row_norms(constraints: MarginConstraints) -> np.ndarray:
    return np.linalg.norm(constraints.a, axis=1) * np.linalg.norm(constraints.z, axis=1)


def farkas_relative_residual(constraints: MarginConstraints, lam: np.ndarray) -> float:
    """||Σ lam_k A_k||_F / (max_k ||A_k||_F · lamᵀrhs / max|rhs|), for Σ|lam| = 1.

    Any feasible W has ||W||_F >= lamᵀrhs / ||Σ lam_k A_k||_F, so a relative residual <= rtol
    means ||W^mm||_F · max_k ||A_k||_F / max|rhs| >= 1 / rtol: margins of one would need logits
    ~1/rtol times the data's scale, which is infeasible at working precision (the scale is that
    of the whole data, so a row that is zero up to round-off, a token duplicated up to
    round-off, counts as zero). An exactly vanishing combination gives 0.
    """
    lam = np.asarray(lam, dtype=np.float64)
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    residual = float(np.linalg.norm(constraints.combine(lam)))
    if residual == 0.0:
        return 0.0
    weight = float(lam @ rhs)
    rmax = float(np.max(np.abs(rhs), initial=0.0))
    unit = float(np.max(_row_norms(constraints), initial=0.0))
    scale = unit * weight / rmax if rmax > 0 else 0.0
    return residual / scale if scale > 0 else float("inf")


def verify_farkas(
    constraints: MarginConstraints, lam: np.ndarray, *, rtol: float = INFEASIBLE_RTOL
) -> tuple[bool, float, str]:
    """Check a Farkas certificate from scratch: (ok, relative residual, reason if not ok).

    Conditions: lam >= 0 on inequality rows, Σ|lam| = 1, lamᵀrhs > 0, and the explicit matrix
    Σ lam_k a_k z_kᵀ is zero to relative precision ``rtol`` (``farkas_relative_residual``), which
    by Farkas' lemma leaves no feasible W of norm below ~1/rtol in the data's units.
    """
    lam = np.asarray(lam, dtype=np.float64).reshape(-1)
    if lam.shape != (constraints.K,) or constraints.K == 0:
        return False, float("inf"), "lambda has the wrong length"
    if not np.all(np.isfinite(lam)):
        return False, float("inf"), "lambda is not finite"
    eq = np.asarray(constraints.equality, dtype=bool)
    if np.any(lam[~eq] < 0):
        return False, float("inf"), "lambda is negative on an inequality row"
    if abs(float(np.sum(np.abs(lam))) - 1.0) > 1e-12:
        return False, float("inf"), "lambda does not sum to one"
    weight = float(lam @ np.asarray(constraints.rhs, dtype=np.float64))
    if not weight > 0:
        return False, float("inf"), "lambda^T rhs is not positive"
    rel = farkas_relative_residual(constraints, lam)
    if not rel <= rtol:
        return False, rel, f"relative residual {rel:.3g} exceeds {rtol:.1g}"
    return True, rel, ""


def _row_factor(constraints: MarginConstraints) -> np.ndarray:
    """A matrix M (K, r) with M Mᵀ = Gram of the rows: explicit vec(A_k) when small, else eigh."""
    K = constraints.K
    d, dz = constraints.a.shape[1], constraints.z.shape[1]
    if d * dz <= K:
        return (constraints.a[:, :, None] * constraints.z[:, None, :]).reshape(K, d * dz)
    w, V = np.linalg.eigh(constraints.gram())
    keep = w > max(float(w[-1]), 0.0) * K * np.finfo(np.float64).eps
    return V[:, keep] * np.sqrt(w[keep])


def farkas_search(
    constraints: MarginConstraints, *, rtol: float = INFEASIBLE_RTOL
) -> FarkasResult:
    """min ||Σ lam_k A_k||_F over {lam >= 0 on inequalities, lamᵀrhs = 1}, normalized to Σ|lam| = 1.

    Solved as a least-distance program by Lawson–Hanson NNLS (``scipy.optimize.nnls``) on
    [Mᵀ; rhsᵀ] u ≈ e_last with M Mᵀ the Gram matrix (A Aᵀ)∘(Z Zᵀ); equality rows enter as ±
    pairs. With every rhs = 1 this is the Gordan QP over the simplex. The result is verified by
    ``verify_farkas``; for a feasible program it is the normalized dual of the Frobenius SVM.
    """
    K = constraints.K
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    if K == 0 or float(np.max(np.abs(rhs), initial=0.0)) == 0.0:
        return FarkasResult(np.zeros(K), constraints.pairs, float("inf"), float("inf"), 0.0,
                            rtol, False)
    M = _row_factor(constraints)
    cols = np.concatenate([np.arange(K), np.flatnonzero(eq)])
    sign = np.concatenate([np.ones(K), -np.ones(int(eq.sum()))])
    E = np.vstack([(M[cols] * sign[:, None]).T, (rhs[cols] * sign)[None, :]])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    try:
        u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    except RuntimeError:  # iteration limit: no certificate found
        u = np.zeros(E.shape[1])
    lam = np.zeros(K)
    np.add.at(lam, cols, u * sign)
    total = float(np.sum(np.abs(lam)))
    if not total > 0:
        return FarkasResult(lam, constraints.pairs, float("inf"), float("inf"), 0.0, rtol, False)
    lam = lam / total
    lam[~eq] = np.maximum(lam[~eq], 0.0)
    lam = lam / float(np.sum(np.abs(lam)))
    ok, _, _ = verify_farkas(constraints, lam, rtol=rtol)
    residual = float(np.linalg.norm(constraints.combine(lam)))
    weight = float(lam @ rhs)
    rel = farkas_relative_residual(constraints, lam) if weight > 0 else float("inf")
    return FarkasResult(lam, constraints.pairs, residual, rel, weight, rtol, ok)


def require_feasible(
    constraints: MarginConstraints,
    *,
    rtol: float = INFEASIBLE_RTOL,
    context: dict[str, Any] | None = None,
    what: str = "Att-SVM",
) -> FarkasResult:
    """Raise ``InfeasibleSVM`` with a verified Farkas certificate if the rows are infeasible.

    Returns the (non-certifying) FarkasResult otherwise; its ``relative_residual`` is the
    normalized max margin, a measure of how far the program is from infeasibility.
    """
    res = farkas_search(constraints, rtol=rtol)
    if res.infeasible:
        raise InfeasibleSVM(
            f"{what} is infeasible: a convex combination of the constraint matrices a_k z_k^T "
            f"vanishes (relative residual {res.relative_residual:.2e} <= {rtol:.0e})",
            res.as_certificate(**(context or {})),
        )
    return res
