"""Solver-independent optimality and infeasibility certificates for min-norm margin programs.

Every program here has the form (TF-SVM, arXiv 2308.16898, Sec. 2, Eq. (Att-SVM) and Att-SVM⋆):

    min ||W||   s.t.   <A_k, W> >= rhs_k  (inequality rows),   <A_k, W> = rhs_k  (equality rows),

with A_k = a_k z_k^T the rows of a ``svm.constraints.MarginConstraints``.  A certificate is
recomputed from the pair (W, lam) only; nothing a solver reports about itself is trusted.

Dual conventions (which multipliers ``lam`` mean):

* ``norm="fro"``: multipliers of  min ½||W||_F²  (dual: max lamᵀrhs − ½||Σ lam_k A_k||_F²,
  lam >= 0 on inequality rows).  Stationarity is the representer form W = Σ_k lam_k a_k z_kᵀ
  and strong duality reads lamᵀrhs = ||W||_F².
* ``norm="nuc"``: multipliers of  min ||W||_*  (dual: max lamᵀrhs s.t. ||Σ lam_k A_k||_2 <= 1).
  Stationarity is G = Σ lam_k A_k ∈ ∂||W||_*, i.e. ||G||_2 <= 1 and <G, W> = ||W||_*.

Infeasibility is proved by Farkas' lemma (Gordan's alternative when every rhs_k = 1, TF-SVM
Sec. 2 feasibility remark): the rows admit no W iff some lam (>= 0 on inequality rows) has
Σ_k lam_k A_k = 0 and lamᵀrhs > 0.  ``farkas_search`` looks for such a lam by exact checks (zero
rows, groups of parallel/opposite rows) and least-distance programs solved by Lawson–Hanson NNLS
on explicit row matrices (unit-normalized rows, so the search does not depend on how rows are
scaled, then the data scale); ``verify_farkas`` checks every candidate from scratch.

Acceptance guard: ``certificate_failures`` / ``require_certified`` say whether (W, lam) prove a
Frobenius solution optimal (rows met to SOLUTION_PRIMAL_RTOL even after the rounding bounds of
their values, KKT residuals and gap <= SOLUTION_KKT_RTOL); solvers raise ``SolverError``
rather than return anything that fails it.

Scale: Att-SVM scales exactly (W(sX, sZ) = W / s², Frobenius multipliers / s⁴), so rows whose
tokens or queries are beyond 2**±64 (``scale_exponents``) are certified on their power-of-two
normalization and reported in the user's units (objective, singular values); a certificate
whose objective under- or overflows fails (``certificate_failures``), and multipliers out of
float64's range are carried exactly as ``lam · 2**lam_exponent`` (``SVMSolution``).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy.optimize import nnls

from attnsvm.reference.errors import AttnsvmError, InfeasibleSVM, ProblemError
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution
from attnsvm.reference.validate import as_float, as_real_array

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
#: A returned solution satisfies every row to this precision relative to max|rhs| (Att-SVM:
#: every margin >= 1 − 1e-9) ...
SOLUTION_PRIMAL_RTOL = 1e-9
#: ... and its stationarity, complementarity, dual sign and duality gap are at most this.
SOLUTION_KKT_RTOL = 1e-6
#: Solvers stop trying fallbacks once a candidate's KKT residual and gap are below this.
SOLUTION_GOOD_RTOL = 1e-9
#: Tokens (token differences a_k) or queries z_k whose largest entry lies outside
#: 2**±ORDINARY_EXPONENT are normalized by exact powers of two before a solve or a certificate:
#: beyond it the squares in Gram matrices, norms and multipliers (λ ~ 1/(|a||z|)² for ½||W||²)
#: leave float64's range (underflow to 0 made zero certificates "pass"). Inside the range the
#: data are computed on as given.
ORDINARY_EXPONENT = 64
#: Data whose largest row ||a_k|| ||z_k|| is beyond 10**±MAX_LOG10_ROW_NORM have an Att-SVM
#: solution (||W|| ~ 1 / ||A_k||) that float64 cannot hold: refused (ProblemError "X").
MAX_LOG10_ROW_NORM = 300
_TINY = float(np.finfo(np.float64).tiny)  # smallest normal float64, 2**-1022


def _exponent(x: np.ndarray) -> int:
    """e with max|x| = f 2**e, f in [0.5, 1) (0 for an empty, zero or non-finite x)."""
    m = float(np.max(np.abs(x), initial=0.0)) if np.size(x) else 0.0
    if not (m > 0 and np.isfinite(m)):
        return 0
    return int(np.frexp(m)[1])


def scale_exponents(constraints: MarginConstraints) -> tuple[int, int]:
    """(e_a, e_z): the powers of two that normalize the rows (a / 2**e_a, z / 2**e_z have largest
    entries in [0.5, 1)), or (0, 0) when both lie within 2**±ORDINARY_EXPONENT (data computed on
    as given). Att-SVM scales exactly: W(a s, z r) = W(a, z) / (s r)."""
    ea, ez = _exponent(constraints.a), _exponent(constraints.z)
    if abs(ea) <= ORDINARY_EXPONENT and abs(ez) <= ORDINARY_EXPONENT:
        return 0, 0
    return ea, ez


def scaled_constraints(constraints: MarginConstraints, ea: int, ez: int) -> MarginConstraints:
    """The rows with a / 2**ea and z / 2**ez (exact; entries far below the largest one may
    underflow, at relative size 2**-1074, beyond float64's resolution of the data anyway)."""
    if ea == 0 and ez == 0:
        return constraints
    with np.errstate(under="ignore"):
        return MarginConstraints(a=np.ldexp(constraints.a, -ea), z=np.ldexp(constraints.z, -ez),
                                 pairs=constraints.pairs, rhs=constraints.rhs,
                                 equality=constraints.equality)


def representable(x: np.ndarray) -> bool:
    """True when every entry of x is finite and its largest magnitude is a normal float64 (or x
    is zero): then whatever underflowed is below 2**-1074 <= eps · max|x|, i.e. rounding."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        return False
    m = float(np.max(np.abs(x), initial=0.0))
    return m == 0.0 or m >= _TINY


def ldexp(x: Any, e: int) -> Any:
    """x · 2**e without warnings (under/overflow give 0 / inf, which callers check)."""
    with np.errstate(over="ignore", under="ignore"):
        out = np.ldexp(np.asarray(x, dtype=np.float64), int(e))
    return float(out) if np.ndim(out) == 0 else out


def check_solution_range(constraints: MarginConstraints, field: str = "X") -> None:
    """ProblemError(field) when max_k ||a_k|| ||z_k|| is beyond 10**±MAX_LOG10_ROW_NORM: every
    feasible W has ||W|| >= 1 / max_k ||A_k||, and the optimum is of that order up to the
    conditioning, so the solution norm would be out of float64's range."""
    ea, ez = scale_exponents(constraints)
    sc = scaled_constraints(constraints, ea, ez)
    top = float(np.max(safe_norms(sc.a) * safe_norms(sc.z), initial=0.0))
    if not top > 0:
        return
    log_rows = float(np.log10(top) + (ea + ez) * np.log10(2.0))
    if abs(log_rows) > MAX_LOG10_ROW_NORM:
        raise ProblemError(
            field,
            f"max_k ||a_k|| ||z_k|| = 1e{log_rows:.0f} (token differences times queries): the "
            "Att-SVM solution norm would be out of float64 range; rescale the data",
        )


def safe_norms(rows: np.ndarray) -> np.ndarray:
    """Euclidean norm of every row without overflow or underflow of the squares (rows of size
    1e-200 or 1e200 keep their true norm; np.linalg.norm returns 0 or inf)."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.shape[1] == 0:
        return np.zeros(rows.shape[0])
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out = np.sqrt(np.einsum("ij,ij->i", rows, rows))
    redo = ~((out > 1e-140) & (out < 1e140))  # zero, tiny, huge, inf or nan: rescale
    if redo.any():
        sub = rows[redo]
        m = np.max(np.abs(sub), axis=1)
        ok = (m > 0) & np.isfinite(m)
        fixed = np.where(np.isfinite(m), 0.0, np.inf)
        fixed[ok] = m[ok] * np.linalg.norm(sub[ok] / m[ok, None], axis=1)
        out[redo] = fixed
    return out


def safe_norm(x: np.ndarray) -> float:
    """||x||_F without overflow or underflow of the squares."""
    return float(safe_norms(np.asarray(x, dtype=np.float64).reshape(1, -1))[0])


def _relative(value: float, scale: float) -> float:
    """value / scale, or value itself when the scale vanishes (e.g. W = 0)."""
    return value / scale if scale > 1e-150 else value


def _check_norm(norm: str) -> str:
    if norm not in NORMS:
        raise ProblemError("norm", f"unknown norm {norm!r}; choose from {NORMS}")
    return norm


def singular_values_and_rank(W: np.ndarray, rank_rtol: float = RANK_RTOL) -> tuple[np.ndarray, int]:
    """Singular values of W (descending) and the relative-threshold rank #{σ_k > rtol·σ_1};
    NaN singular values (and rank 0) when W is not finite or the SVD does not converge."""
    W = np.asarray(W, dtype=np.float64)
    try:
        if not np.all(np.isfinite(W)):
            raise np.linalg.LinAlgError("non-finite W")
        sv = np.linalg.svd(W, compute_uv=False)
    except np.linalg.LinAlgError:
        return np.full(min(W.shape[-2:]) if W.ndim >= 2 else 0, np.nan), 0
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
        scale_exponent: e such that the certificate was computed on the rows normalized by
            powers of two (``scale_exponents``, e = e_a + e_z; W_normalized = W · 2**e); 0 for
            data of ordinary magnitude. ``objective``, ``singular_values``, ``values`` and the
            relative residuals are in the user's units either way; ``primal_value`` and
            ``dual_value`` are those of the normalized program when e != 0 (times 2**(-2e) for
            "fro", 2**(-e) for "nuc" in the user's units, which may be out of float64's range).
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
    scale_exponent: int = 0

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
    lam_exponent: int = 0,
) -> Certificate:
    """Certify (W, lam) for  min ||W||  s.t. the rows of ``constraints`` (see module docstring).

    W has shape (d, dz) matching ``constraints.a`` (K, d) and ``constraints.z`` (K, dz); lam has
    shape (K,); the multipliers are lam · 2**lam_exponent (``SVMSolution.lam_exponent``: 0 unless
    they are out of float64's range in the user's units). Nothing here depends on how W and lam
    were computed.

    Scale-aware: rows of extreme magnitude (``scale_exponents``) are certified on the rows
    normalized by powers of two, with W and lam mapped exactly (W 2**e, lam 2**(2e) for "fro",
    2**e for "nuc"); what underflowed in the user's units stays lost, so an underflowed W or
    lam fails its certificate instead of passing on zeros.
    """
    _check_norm(norm)
    if not isinstance(constraints, MarginConstraints):
        raise ProblemError("constraints", f"expected MarginConstraints, got "
                           f"{type(constraints).__name__}")
    W = as_real_array("W", W, ndim=2, finite=False)
    lam = as_real_array("lam", lam, finite=False)
    ea, ez = scale_exponents(constraints)
    if ea == 0 and ez == 0 and lam_exponent == 0:
        return _certify_rows(constraints, W, lam, norm, support_rtol, rank_rtol)
    e = ea + ez
    Wa = np.asarray(W, dtype=np.float64)
    la = np.asarray(lam, dtype=np.float64)
    cert = _certify_rows(
        scaled_constraints(constraints, ea, ez), ldexp(Wa, e),
        ldexp(la, lam_exponent + (2 * e if norm == "fro" else e)), norm, support_rtol, rank_rtol,
    )
    return replace(cert, objective=ldexp(cert.objective, -e),
                   singular_values=ldexp(cert.singular_values, -e), scale_exponent=e)


def _certify_rows(
    constraints: MarginConstraints,
    W: np.ndarray,
    lam: np.ndarray,
    norm: str,
    support_rtol: float,
    rank_rtol: float,
) -> Certificate:
    """``certify`` on rows as given (no normalization)."""
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
        if not G.size:
            g2 = 0.0
        elif np.all(np.isfinite(G)):
            g2 = float(np.linalg.norm(G, 2))
        else:  # non-finite multipliers: the certificate fails (nan)
            g2 = float("nan")
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
    cert: Certificate | None = None,
    lam_exponent: int = 0,
) -> SVMSolution:
    """Certify (W, lam) and pack them into ``SVMSolution`` (the one record every solver returns).

    ``SVMSolution.support`` holds the (i, t) pairs of the active inequality rows; their row
    indices are in ``extra["support_rows"]``; the remaining certificate fields are in ``extra``.
    ``cert`` may pass ``certify(constraints, W, lam, norm, support_rtol=..., rank_rtol=...)``
    when the caller computed it already (it is not recomputed then). ``lam_exponent``: the
    multipliers are lam · 2**lam_exponent (see ``SVMSolution``).
    """
    if cert is None or cert.norm != norm:
        cert = certify(constraints, W, lam, norm, support_rtol=support_rtol, rank_rtol=rank_rtol,
                       lam_exponent=lam_exponent)
    info = {"support_rows": cert.support, **cert.summary(), "support_rtol": support_rtol,
            "rank_rtol": rank_rtol}
    if cert.scale_exponent:
        info["scale_exponent"] = cert.scale_exponent
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
        lam_exponent=int(lam_exponent),
    )


# --------------------------------------------------------------------------- acceptance guard


class SolverError(AttnsvmError, RuntimeError):
    """A solver produced neither a solution whose recomputed certificate holds nor a verified
    Farkas certificate. Raised instead of returning an unproven answer; the message names the
    program and the failed certificate fields."""


def rounding_bounds(constraints: MarginConstraints, W: np.ndarray) -> np.ndarray:
    """δ_k = 2 eps |a_k|ᵀ|W||z_k|: how far <A_k, W> can move between two summation orders (or
    one rounding of W) in float64. When W must cancel large terms to reach margin one (huge
    tokens or queries, ||W|| ~ 1e8), margins are only known to ±δ_k."""
    if constraints.K == 0:
        return np.zeros(0)
    W = np.abs(np.asarray(W, dtype=np.float64))
    mag = np.sum((np.abs(constraints.a) @ W) * np.abs(constraints.z), axis=1)
    return 2.0 * np.finfo(np.float64).eps * mag


def robust_min_margin(constraints: MarginConstraints, values: np.ndarray,
                      delta: np.ndarray) -> float:
    """min over inequality rows with rhs_k > 0 of (<A_k, W> − δ_k) / rhs_k (nan if none): the
    margin every evaluation order of the row values is guaranteed to reach."""
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    pos = ~np.asarray(constraints.equality, dtype=bool) & (rhs > 0)
    if not pos.any():
        return float("nan")
    return float(np.min((values[pos] - delta[pos]) / rhs[pos]))


def certificate_failures(
    constraints: MarginConstraints,
    cert: Certificate,
    W: np.ndarray | None = None,
    *,
    primal_rtol: float = SOLUTION_PRIMAL_RTOL,
    kkt_rtol: float = SOLUTION_KKT_RTOL,
) -> list[str]:
    """Why ``cert`` does not prove (W, lam) optimal; [] when it does.

    Primal: every row within primal_rtol · max|rhs_k| of feasibility (for an Att-SVM: every
    margin >= 1 − primal_rtol), and, when W is given, the same for the inequality rows with
    their values lowered by the rounding bounds δ_k (``rounding_bounds``), so that any
    recomputation of the margins also finds them >= 1 − primal_rtol. Dual: stationarity,
    complementarity, dual sign and duality gap (all relative) <= kkt_rtol. Non-finite values
    fail.
    """
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    ineq = ~np.asarray(constraints.equality, dtype=bool)
    tol = primal_rtol * max(float(np.max(np.abs(rhs), initial=0.0)), 1e-300)
    out = []
    if cert.scale_exponent and W is not None:
        # the rounding bounds below, on the normalized rows (no under/overflow in |a||W||z|)
        constraints = scaled_constraints(constraints, *scale_exponents(constraints))
        W = ldexp(np.asarray(W, dtype=np.float64), cert.scale_exponent)
    demands = bool(np.any(np.where(ineq, rhs > 0, rhs != 0)))
    if not np.isfinite(cert.objective) or (demands and not cert.objective >= _TINY):
        # a row demands a positive value, so W != 0: an objective of 0, a subnormal or inf is
        # an under/overflow, never a certified optimum
        out.append(f"objective {cert.objective!r} not representable in float64")
    if not cert.max_violation <= tol:
        out.append(f"max_violation {cert.max_violation:.3g}")
    if np.any(ineq & (rhs > 0)) and not cert.min_margin >= 1.0 - primal_rtol:
        out.append(f"min_margin {cert.min_margin:.12g}")
    if W is not None and not out and constraints.K:
        delta = rounding_bounds(constraints, W)
        low = cert.values - delta
        worst = float(np.max(rhs[ineq] - low[ineq], initial=-np.inf))
        mu = robust_min_margin(constraints, cert.values, delta)
        if not (worst <= tol and (np.isnan(mu) or mu >= 1.0 - primal_rtol)):
            out.append(f"margins after rounding bounds (worst row short by {worst:.3g}; max "
                       f"rounding bound {float(np.max(delta)):.3g})")
    for name in ("stationarity", "complementarity", "dual_sign", "duality_gap"):
        value = getattr(cert, name)
        if not value <= kkt_rtol:
            out.append(f"{name} {value:.3g}")
    return out


def require_certified(
    constraints: MarginConstraints,
    W: np.ndarray,
    lam: np.ndarray,
    *,
    what: str = "Att-SVM",
    primal_rtol: float = SOLUTION_PRIMAL_RTOL,
    kkt_rtol: float = SOLUTION_KKT_RTOL,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    lam_exponent: int = 0,
) -> Certificate:
    """The final guard of every Frobenius solve: certify (W, lam) from scratch and raise
    ``SolverError`` unless ``certificate_failures`` is empty; returns the certificate (computed
    with ``support_rtol`` and ``rank_rtol``, so ``make_solution`` can reuse it)."""
    cert = certify(constraints, W, lam, "fro", support_rtol=support_rtol, rank_rtol=rank_rtol,
                   lam_exponent=lam_exponent)
    bad = certificate_failures(constraints, cert, W, primal_rtol=primal_rtol, kkt_rtol=kkt_rtol)
    if bad:
        raise SolverError(
            f"{what}: no certified solution (the best candidate fails its certificate: "
            f"{', '.join(bad)}) and no Farkas certificate of infeasibility verifies"
        )
    return cert


# --------------------------------------------------------------------------- Farkas / Gordan


@dataclass(frozen=True)
class FarkasResult:
    """The minimum-norm point of the Farkas cone section, and whether it proves infeasibility.

    ``lam`` (K,) has Σ|lam| = 1, lam >= 0 on inequality rows (free sign on equality rows) and
    ``rhs_weight`` = lamᵀrhs > 0; ``residual`` = ||Σ lam_k a_k z_kᵀ||_F is recomputed from the
    explicit matrix; ``relative_residual`` is ``farkas_relative_residual`` (for a feasible
    program with unit right-hand sides, residual = 1/||W^mm||_F).
    ``infeasible`` is True iff the certificate verifies with ``tolerance``.
    ``unit_relative_residual`` measures the cancellation against the unit-normalized rows used
    (``unit_relative_residual``); ``method`` says which search produced ``lam``.
    """

    lam: np.ndarray
    pairs: np.ndarray
    residual: float
    relative_residual: float
    rhs_weight: float
    tolerance: float
    infeasible: bool
    unit_relative_residual: float = float("nan")
    method: str = ""

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
            "unit_relative_residual": self.unit_relative_residual,
            "method": self.method,
        }
        cert.update(context)
        return cert


def _row_norms(constraints: MarginConstraints) -> np.ndarray:
    with np.errstate(over="ignore", under="ignore"):
        return safe_norms(constraints.a) * safe_norms(constraints.z)


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
    residual = safe_norm(constraints.combine(lam))
    if residual == 0.0:
        return 0.0
    weight = float(lam @ rhs)
    rmax = float(np.max(np.abs(rhs), initial=0.0))
    unit = float(np.max(_row_norms(constraints), initial=0.0))
    scale = unit * weight / rmax if rmax > 0 else 0.0
    return residual / scale if scale > 0 else float("inf")


def certificate_weights(constraints: MarginConstraints, certificate: dict[str, Any]) -> np.ndarray:
    """The full weight vector lambda (one entry per constraint row) of a JSON certificate, whose
    nonzero weights are listed against their (i, t) pairs; an unknown pair raises KeyError."""
    index = {(int(i), int(t)): k for k, (i, t) in enumerate(constraints.pairs)}
    lam = np.zeros(constraints.K)
    for w, (i, t) in zip(certificate["lambda"], certificate["pairs"], strict=True):
        lam[index[(int(i), int(t))]] = w
    return lam


def verify_farkas(
    constraints: MarginConstraints, lam: np.ndarray, *, rtol: float = INFEASIBLE_RTOL
) -> tuple[bool, float, str]:
    """Check a Farkas certificate from scratch: (ok, relative residual, reason if not ok).

    Conditions: lam >= 0 on inequality rows, Σ|lam| = 1, lamᵀrhs > 0, and the explicit matrix
    Σ lam_k a_k z_kᵀ is zero to relative precision ``rtol`` (``farkas_relative_residual``), which
    by Farkas' lemma leaves no feasible W of norm below ~1/rtol in the data's units.
    """
    if not isinstance(constraints, MarginConstraints):
        raise ProblemError("constraints", f"expected MarginConstraints, got "
                           f"{type(constraints).__name__}")
    lam = as_real_array("lam", lam, finite=False).reshape(-1)
    rtol = as_float("rtol", rtol, positive=True)
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


def row_norms(constraints: MarginConstraints) -> np.ndarray:
    """||A_k||_F = ||a_k|| · ||z_k|| for every row, shape (K,) (0 for a zero row)."""
    return _row_norms(constraints)


def unit_rows(constraints: MarginConstraints) -> tuple[MarginConstraints, np.ndarray]:
    """The same program with every row scaled to unit Frobenius norm, and the row norms.

    Row k becomes <â_k ẑ_kᵀ, W> >= b_k with â_k = a_k/||a_k||, ẑ_k = z_k/||z_k|| and
    b_k = rhs_k / ||A_k||_F: the feasible set and the minimum-norm W are unchanged, multipliers
    map as λ_k = λ̂_k / ||A_k||_F. A zero row (||A_k|| = 0) stays zero with b_k = 0; callers
    decide it separately (``zero_row_certificate``). Positive row rescaling leaves the result
    unchanged, which makes searches on it scale-invariant.
    """
    na = safe_norms(constraints.a)
    nz = safe_norms(constraints.z)
    with np.errstate(over="ignore", under="ignore"):
        norms = na * nz
    ok = norms > 0
    ua = np.zeros_like(constraints.a, dtype=np.float64)
    uz = np.zeros_like(constraints.z, dtype=np.float64)
    ua[ok] = constraints.a[ok] / na[ok, None]
    uz[ok] = constraints.z[ok] / nz[ok, None]
    b = np.zeros(constraints.K)
    b[ok] = np.asarray(constraints.rhs, dtype=np.float64)[ok] / norms[ok]
    unit = MarginConstraints(a=ua, z=uz, pairs=constraints.pairs, rhs=b,
                             equality=np.asarray(constraints.equality, dtype=bool))
    return unit, norms


def zero_row_certificate(constraints: MarginConstraints) -> np.ndarray | None:
    """A Farkas certificate e_k (sign(rhs_k) e_k on an equality row) when some row is the zero
    matrix yet demands <0, W> >= rhs_k > 0 (or = rhs_k != 0); None when there is no such row.
    Zero rows that demand nothing (rhs_k <= 0, or an equality with rhs_k = 0) are trivially met."""
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    bad = (_row_norms(constraints) == 0.0) & np.where(eq, rhs != 0.0, rhs > 0.0)
    if not bad.any():
        return None
    k = int(np.flatnonzero(bad)[0])
    lam = np.zeros(constraints.K)
    lam[k] = float(np.sign(rhs[k])) if eq[k] else 1.0
    return lam


def _canonical_sign(u: np.ndarray) -> np.ndarray:
    """±1 per row: the sign of the row's largest-magnitude entry (+1 for a zero row). A row and
    its exact negative get opposite signs, so sign·row is the same vector for both."""
    if u.shape[1] == 0:
        return np.ones(u.shape[0])
    j = np.argmax(np.abs(u), axis=1)
    s = np.sign(u[np.arange(u.shape[0]), j])
    s[s == 0] = 1.0
    return s


def parallel_groups(
    unit: MarginConstraints, decimals: int | None = 12
) -> tuple[np.ndarray, np.ndarray]:
    """Group unit rows Â_k = â_k ẑ_kᵀ that equal ±one matrix U: returns (labels, sigma) with
    Â_k = sigma_k U_{labels_k}. A rank-one matrix fixes (â, ẑ) up to one common sign, so rows are
    compared through sign-canonical â and ẑ; ``decimals`` rounds them (None: exact equality)."""
    sa = _canonical_sign(unit.a)
    sz = _canonical_sign(unit.z)
    ca = unit.a * sa[:, None]
    cz = unit.z * sz[:, None]
    key = np.hstack([ca, cz])
    if decimals is not None:
        key = np.round(key, decimals) + 0.0  # + 0.0 merges -0.0 into 0.0
    _, labels = np.unique(key, axis=0, return_inverse=True)
    return labels.reshape(-1), sa * sz


def _interval_bounds(unit: MarginConstraints, sigma: np.ndarray) -> tuple[np.ndarray, ...]:
    """For rows sigma_k <U, W> >= b_k (= on equalities): the lower bound each row puts on
    x = <U, W> (-inf if none) and the upper bound (+inf if none)."""
    b = unit.rhs
    eq = np.asarray(unit.equality, dtype=bool)
    lower = np.where(eq | (sigma > 0), sigma * b, -np.inf)
    upper = np.where(eq | (sigma < 0), sigma * b, np.inf)
    return lower, upper


def _group_certificates(
    unit: MarginConstraints, norms: np.ndarray, labels: np.ndarray, sigma: np.ndarray
) -> list[np.ndarray]:
    """Farkas candidates from groups of parallel/opposite rows: in each group the rows bound the
    scalar x = <U, W> from below and above; a largest lower bound above the smallest upper bound
    is a two-row certificate (weights 1/||A_k|| on the two rows, signed on equality rows)."""
    eq = np.asarray(unit.equality, dtype=bool)
    lower, upper = _interval_bounds(unit, sigma)
    out: list[tuple[float, np.ndarray]] = []
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for grp in np.split(order, bounds):
        if grp.size < 2:
            continue
        k = int(grp[np.argmax(lower[grp])])
        m = int(grp[np.argmin(upper[grp])])
        if k == m or not lower[k] > upper[m]:
            continue
        lam = np.zeros(unit.K)
        lam[k] += (sigma[k] if eq[k] else 1.0) / norms[k]
        lam[m] += (-sigma[m] if eq[m] else 1.0) / norms[m]
        out.append((float(lower[k] - upper[m]), lam))
    out.sort(key=lambda c: -c[0])
    return [lam for _, lam in out]


#: Largest explicit row matrix (K x r_a r_z entries) built for a search; above it the Gram matrix
#: is factored instead.
EXPLICIT_MAX_ENTRIES = 8_000_000


def _range_basis(rows: np.ndarray) -> np.ndarray:
    """Orthonormal basis (d, r) of the span of ``rows`` (K, d), numerical rank from the SVD."""
    K, d = rows.shape
    if K == 0 or d == 0:
        return np.zeros((d, 0))
    if not np.all(np.isfinite(rows)):
        return np.eye(d)
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    if s.size == 0 or s[0] == 0:
        return np.zeros((d, 0))
    r = int(np.count_nonzero(s > s[0] * max(K, d) * np.finfo(np.float64).eps))
    return vt[:r].T


def explicit_rows(
    constraints: MarginConstraints,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(M, Ua, Uz): rows vec(Uaᵀ a_k z_kᵀ Uz) (K, r_a r_z) in orthonormal bases Ua, Uz of
    span{a_k}, span{z_k} (inner products preserved; A_k = Ua mat(M_k) Uzᵀ), or None when M would
    exceed ``EXPLICIT_MAX_ENTRIES``."""
    K = constraints.K
    Ua = _range_basis(constraints.a)
    Uz = _range_basis(constraints.z)
    p = Ua.shape[1] * Uz.shape[1]
    if K * p > EXPLICIT_MAX_ENTRIES:
        return None
    at = constraints.a @ Ua
    zt = constraints.z @ Uz
    return (at[:, :, None] * zt[:, None, :]).reshape(K, p), Ua, Uz


def row_factor(constraints: MarginConstraints) -> np.ndarray | None:
    """A matrix F (K, r) with F Fᵀ = Gram of the rows, built without squaring the conditioning
    (None when the rows overflow).

    The explicit rows of ``explicit_rows``, compressed to the triangular factor of a QR when
    they are wider than tall; when that matrix would exceed ``EXPLICIT_MAX_ENTRIES``, the
    eigendecomposition of the Gram matrix (which loses what lies below ~sqrt(eps) of the
    largest row).
    """
    K = constraints.K
    ex = explicit_rows(constraints)
    if ex is not None:
        M = ex[0]
        if not np.all(np.isfinite(M)):
            return None
        if M.shape[1] <= K:
            return M
        return np.linalg.qr(M.T, mode="r").T
    G = constraints.gram()
    if not np.all(np.isfinite(G)):
        return None
    w, V = np.linalg.eigh(G)
    keep = w > max(float(w[-1]), 0.0) * K * np.finfo(np.float64).eps
    return V[:, keep] * np.sqrt(w[keep])


def least_distance_nnls(
    F: np.ndarray, h: np.ndarray, equality: np.ndarray, *, maxiter_factor: int = 50
) -> np.ndarray | None:
    """u = argmin ||[Fᵀ; hᵀ] u − e_last||² over u >= 0 (free on equality rows, entered as ±
    pairs), by Lawson–Hanson (``scipy.optimize.nnls``); None when it hits its iteration limit.

    The least-distance form of  min ½||W||² s.t. rows (Lawson & Hanson, Ch. 23): with
    s = 1 − hᵀu > 0 the program is feasible and λ = u/s; s = 0 with Fᵀu = 0 is a Farkas
    certificate.
    """
    K = F.shape[0]
    eq = np.asarray(equality, dtype=bool)
    cols = np.concatenate([np.arange(K), np.flatnonzero(eq)])
    sign = np.concatenate([np.ones(K), -np.ones(int(eq.sum()))])
    E = np.vstack([(F[cols] * sign[:, None]).T, (h[cols] * sign)[None, :]])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    try:
        v, _ = nnls(E, f, maxiter=maxiter_factor * E.shape[1])
    except RuntimeError:  # iteration limit
        return None
    if not np.all(np.isfinite(v)):
        return None
    u = np.zeros(K)
    np.add.at(u, cols, v * sign)
    return u


def _farkas_normalized(lam: np.ndarray, eq: np.ndarray) -> np.ndarray | None:
    """lam scaled to Σ|lam| = 1 with negative inequality weights clipped (None if all vanish)."""
    lam = np.array(lam, dtype=np.float64)
    if not np.all(np.isfinite(lam)):
        return None
    total = float(np.sum(np.abs(lam)))
    if not total > 0:
        return None
    lam = lam / total
    lam[~eq] = np.maximum(lam[~eq], 0.0)
    total = float(np.sum(np.abs(lam)))
    return lam / total if total > 0 else None


def unit_relative_residual(constraints: MarginConstraints, lam: np.ndarray) -> float:
    """||Σ lam_k A_k||_F / Σ_k |lam_k| ||A_k||_F: how well the weighted rows cancel, measured
    against the unit-normalized rows they use (invariant under positive row rescaling)."""
    lam = np.asarray(lam, dtype=np.float64)
    denom = float(np.sum(np.abs(lam) * _row_norms(constraints)))
    num = safe_norm(constraints.combine(lam))
    if num == 0.0:
        return 0.0
    return num / denom if denom > 0 else float("inf")


def _farkas_result(
    constraints: MarginConstraints, lam: np.ndarray, rtol: float, ok: bool, method: str
) -> FarkasResult:
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    residual = safe_norm(constraints.combine(lam))
    weight = float(lam @ rhs)
    rel = farkas_relative_residual(constraints, lam) if weight > 0 else float("inf")
    return FarkasResult(lam, constraints.pairs, residual, rel, weight, rtol, ok,
                        unit_relative_residual(constraints, lam), method)


def farkas_search(
    constraints: MarginConstraints, *, rtol: float = INFEASIBLE_RTOL
) -> FarkasResult:
    """Search a Farkas certificate (see ``_farkas_search``); floating-point warnings are
    silenced inside (every candidate is verified from scratch)."""
    with np.errstate(all="ignore"):
        return _farkas_search(constraints, rtol=rtol)


def _farkas_search(
    constraints: MarginConstraints, *, rtol: float = INFEASIBLE_RTOL
) -> FarkasResult:
    """Search a Farkas certificate; returns the first candidate that ``verify_farkas`` accepts,
    else the minimum-norm point of the data-scale cone section (not a certificate).

    The data-scale point: min ||Σ lam_k A_k||_F over {lam >= 0 on inequalities, lamᵀrhs = 1},
    normalized to Σ|lam| = 1; with every rhs = 1 it is the Gordan QP over the simplex and, for a
    feasible program, the normalized dual of the Frobenius SVM (residual = 1/||W^mm||_F).

    Candidates, cheapest and exact first, each verified from scratch on the given rows:
    (1) a zero row that demands a positive margin; (2) groups of exactly parallel/opposite rows
    whose bounds on <U, W> conflict; (3) the least-distance NNLS on the unit-normalized rows
    (explicit row matrix, so nothing below sqrt(eps) is lost, and independent of how rows are
    scaled), and when all rows are margin inequalities the Gordan point of the unit rows
    ([Mᵀ; 1ᵀ] μ ≈ [0; 1]); (4) the data-scale least-distance NNLS, which also proves
    "infeasible at working precision" (rows negligible next to the largest one count as zero).
    """
    K = constraints.K
    rhs = np.asarray(constraints.rhs, dtype=np.float64)
    eq = np.asarray(constraints.equality, dtype=bool)
    if K == 0 or not np.any(np.where(eq, rhs != 0.0, rhs > 0.0)):
        # Nothing demands a positive value: W = 0 is feasible, no certificate can exist.
        return FarkasResult(np.zeros(K), constraints.pairs, float("inf"), float("inf"), 0.0,
                            rtol, False, float("inf"), "trivially feasible")

    def verified(lam: np.ndarray | None, method: str) -> FarkasResult | None:
        if lam is None:
            return None
        lam = _farkas_normalized(lam, eq)
        if lam is None:
            return None
        ok, _, _ = verify_farkas(constraints, lam, rtol=rtol)
        return _farkas_result(constraints, lam, rtol, True, method) if ok else None

    found = verified(zero_row_certificate(constraints), "zero row")
    if found is not None:
        return found
    unit, norms = unit_rows(constraints)
    nz = np.flatnonzero(norms > 0)
    sub = MarginConstraints(a=unit.a[nz], z=unit.z[nz], pairs=unit.pairs[nz], rhs=unit.rhs[nz],
                            equality=eq[nz])
    if sub.K:
        labels, sigma = parallel_groups(sub)
        for lam_sub in _group_certificates(sub, norms[nz], labels, sigma)[:8]:
            lam = np.zeros(K)
            lam[nz] = lam_sub
            found = verified(lam, "parallel rows")
            if found is not None:
                return found
        bmax = float(np.max(np.abs(sub.rhs)))
        F = row_factor(sub) if 0 < bmax < np.inf else None
        tries = [(sub.rhs / bmax, "unit rows")]
        if not eq.any() and np.all(rhs > 0):
            tries.append((np.ones(sub.K), "unit rows, Gordan"))
        for h, how in tries if F is not None else ():
            mu = least_distance_nnls(F, h, sub.equality)
            if mu is not None:
                lam = np.zeros(K)
                lam[nz] = mu / norms[nz]
                found = verified(lam, how)
                if found is not None:
                    return found
    # Data scale: rows as given (divided by the largest row norm, an exact-enough rescaling).
    scale = float(np.max(norms))
    data = MarginConstraints(a=constraints.a / scale, z=constraints.z, pairs=constraints.pairs,
                             rhs=rhs, equality=eq)
    F = row_factor(data) if 0 < scale < np.inf else None
    u = least_distance_nnls(F, rhs / float(np.max(np.abs(rhs))), eq) if F is not None else None
    lam = _farkas_normalized(u, eq) if u is not None else None
    ok = lam is not None and verify_farkas(constraints, lam, rtol=rtol)[0]
    if not ok:
        tiny = np.flatnonzero((norms <= rtol * scale) & ~eq & (rhs > 0))
        if tiny.size:
            found = verified(np.eye(K)[tiny[np.argmin(norms[tiny])]], "negligible row")
            if found is not None:
                return found
    if lam is None:
        return FarkasResult(np.zeros(K), constraints.pairs, float("inf"), float("inf"), 0.0,
                            rtol, False, float("inf"), "data scale")
    return _farkas_result(constraints, lam, rtol, ok, "data scale")


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
