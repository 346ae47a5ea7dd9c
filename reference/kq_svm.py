"""The rank-constrained attention SVM of the (K, Q) parameterization (nonconvex), solved locally.

TF-SVM (arXiv 2308.16898), Sec. 2 (W = KQᵀ with K, Q ∈ ℝ^{d×m}) and Att-SVM⋆: gradient descent on
(K, Q) is biased towards

    min ½(‖K‖_F² + ‖Q‖_F²)   s.t.   (x_{iα_i} − x_it)ᵀ K Qᵀ z_i ≥ 1   for all i, t ≠ α_i.

Facts used (claims catalog TFSVM-D2, [DER]):

* ½(‖K‖² + ‖Q‖²) ≥ ‖KQᵀ‖_⋆, with equality iff (K, Q) is *balanced* (K = U√Σ R, Q = V√Σ R for
  the SVD UΣVᵀ of KQᵀ and an orthogonal R). So the program equals min ‖W‖_⋆ over rank W ≤ m,
  and the convex Att-SVM⋆ optimum (solved and certified by ``reference.nuclear_svm``) is a lower
  bound; the bound is attained when m ≥ rank W^mm_⋆ (by the rank lemma, m ≥ n always suffices).
* With Q fixed the program is a Frobenius least-norm program in K with rows ⟨a_k (Qᵀz_k)ᵀ, K⟩ ≥ 1;
  with K fixed it is one in Q with rows ⟨z_k (Kᵀa_k)ᵀ, Q⟩ ≥ 1. Both are solved exactly by
  ``reference.att_svm.fro_min_norm`` (least-distance dual, certified).

Method (documented, deterministic from ``seed``), per start:

1. Alternating exact minimization with rebalancing: "K-step, rebalance, Q-step, rebalance" until a
   full cycle lowers the objective by less than ``rtol`` (relative) or ``max_cycles``. Every step
   keeps the product feasible and never increases the objective (a block step is an exact
   minimizer over a set containing the current point; rebalancing replaces ½(‖K‖² + ‖Q‖²) by
   ‖KQᵀ‖_⋆).
2. Joint prox-linear refinement (``_prox_linear``): block coordinate descent can stall at
   non-stationary points because the margins couple K and Q, so (K, Q) are then moved together
   by convex subproblems with the margins linearized at the current point and a proximal term,
   accepted only when they lower ½(‖K‖² + ‖Q‖²)/min margin (the objective of the rescaled,
   feasible point; the margins are homogeneous of degree 2 in (K, Q)).

Starts: the rank-m truncated SVD of the certified nuclear solution (a fixed point, hence optimal,
when m ≥ rank W^mm_⋆), the same for the Frobenius solution, then random Gaussian Q. The best
local solution is returned, scaled so that its minimum margin is exactly 1 (up to round-off),
with the certified nuclear lower bound. It is a local solution of a nonconvex program: the gap to
the lower bound is reported, and claimed to be 0 only when m ≥ rank W^mm_⋆.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reference.att_svm import fro_min_norm
from reference.certificates import RANK_RTOL
from reference.errors import AttnsvmError, InfeasibleSVM, ProblemError
from reference.nuclear_svm import solve_nuclear_constraints
from reference.problem import AttentionProblem
from reference.svm_core import MarginConstraints, SVMSolution, margin_constraints
from reference.token_optimality import resolve_selection

__all__ = ["KQSearchFailed", "KQSolution", "balanced_factors", "solve_kq_svm"]


class KQSearchFailed(AttnsvmError, RuntimeError):
    """No start reached a feasible rank-m point (this does NOT prove the rank-m program
    infeasible; an infeasible convex relaxation raises InfeasibleSVM instead)."""


@dataclass(frozen=True)
class KQSolution:
    """Best local solution of the rank-m (K, Q) attention SVM, with its certificate.

    Attributes:
        K, Q: d×m factors; W = K Qᵀ.
        objective: ½(‖K‖_F² + ‖Q‖_F²) (= ‖W‖_⋆ since the factors are balanced).
        lower_bound: certified lower bound 1ᵀλ of the convex Att-SVM⋆ (dual-feasible λ).
        nuclear_objective: ‖W^mm_⋆‖_⋆ of the certified nuclear solution (≥ lower_bound).
        min_margin: min_k (x_{iα_i} − x_it)ᵀ W z_i, recomputed (≥ 1 − 1e-12 by construction).
        gap_to_lower_bound: (objective − lower_bound) / lower_bound.
        method: description of the method and the start that won.
        m: factor width; select: the selection α.
        singular_values, rank: of W, rank with the relative threshold.
        nuclear: the certified Att-SVM⋆ solution (``SVMSolution``).
        starts: one record per start (kind, objective or failure, cycles).
    """

    K: np.ndarray
    Q: np.ndarray
    W: np.ndarray
    objective: float
    lower_bound: float
    nuclear_objective: float
    min_margin: float
    gap_to_lower_bound: float
    method: str
    m: int
    select: np.ndarray
    singular_values: np.ndarray
    rank: int
    nuclear: SVMSolution
    seconds: float
    starts: list[dict[str, Any]] = field(default_factory=list)


def balanced_factors(W: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """(K, Q) = (U_m √Σ_m, V_m √Σ_m): the rank-m truncation of W, split so that
    ½(‖K‖² + ‖Q‖²) = ‖K Qᵀ‖_⋆ (the variational form of the nuclear norm)."""
    U, s, Vt = np.linalg.svd(np.asarray(W, dtype=np.float64), full_matrices=False)
    k = min(m, s.size)
    K = np.zeros((W.shape[0], m))
    Q = np.zeros((W.shape[1], m))
    r = np.sqrt(s[:k])
    K[:, :k] = U[:, :k] * r
    Q[:, :k] = Vt[:k].T * r
    return K, Q


def _objective(K: np.ndarray, Q: np.ndarray) -> float:
    return 0.5 * (float(np.sum(K * K)) + float(np.sum(Q * Q)))


def _k_step(cons: MarginConstraints, Q: np.ndarray) -> np.ndarray:
    """argmin_K ½‖K‖² s.t. a_kᵀ K (Qᵀz_k) ≥ 1 (a Frobenius least-norm program in K)."""
    rows = MarginConstraints(a=cons.a, z=cons.z @ Q, pairs=cons.pairs, rhs=cons.rhs)
    K, _, _ = fro_min_norm(rows, what="K-step")
    return K


def _q_step(cons: MarginConstraints, K: np.ndarray) -> np.ndarray:
    """argmin_Q ½‖Q‖² s.t. z_kᵀ Q (Kᵀa_k) ≥ 1 (a Frobenius least-norm program in Q)."""
    rows = MarginConstraints(a=cons.z, z=cons.a @ K, pairs=cons.pairs, rhs=cons.rhs)
    Q, _, _ = fro_min_norm(rows, what="Q-step")
    return Q


def _alternate(
    cons: MarginConstraints,
    Q: np.ndarray,
    m: int,
    *,
    rtol: float,
    max_cycles: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Phase 1: alternating exact block minimization with rebalancing, starting with a K-step."""
    best = np.inf
    cycles = 0
    K = np.zeros_like(Q)
    while cycles < max_cycles:
        cycles += 1
        K = _k_step(cons, Q)
        K, Q = balanced_factors(K @ Q.T, m)
        Q = _q_step(cons, K)
        K, Q = balanced_factors(K @ Q.T, m)
        f = _objective(K, Q)
        if best - f <= rtol * f:
            break
        best = f
    return K, Q, cycles


def _merit(cons: MarginConstraints, K: np.ndarray, Q: np.ndarray) -> float:
    """½(‖K‖² + ‖Q‖²) / min margin: the objective of the rescaled feasible point (∞ if μ ≤ 0)."""
    mu = float(cons.values(K @ Q.T).min())
    return _objective(K, Q) / mu if mu > 0 else np.inf


def _ldp(B: np.ndarray, h: np.ndarray) -> np.ndarray | None:
    """min ‖x‖ s.t. B x ≥ h by Lawson–Hanson least-distance programming (None if infeasible)."""
    from scipy.optimize import nnls

    E = np.vstack([B.T, h[None, :]])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * E.shape[1])
    r = E @ u - f
    if not abs(r[-1]) > 1e-14:
        return None
    return -r[:-1] / r[-1]


def _prox_linear(
    cons: MarginConstraints,
    K: np.ndarray,
    Q: np.ndarray,
    m: int,
    *,
    rtol: float,
    max_iter: int,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Phase 2: joint prox-linear (SQP-like) refinement in (K, Q).

    Step: min ½‖K'‖² + ½‖Q'‖² + (ρ/2)(‖K' − K‖² + ‖Q' − Q‖²) subject to the margins linearized at
    (K, Q): a_kᵀ(K'Qᵀ + KQ'ᵀ − KQᵀ)z_k ≥ 1, a least-distance program in the stacked [K'; Q'].
    Accepted when it lowers the scale-invariant merit ½(‖K‖² + ‖Q‖²)/min margin (ρ halves),
    rejected otherwise (ρ × 4). This moves K and Q together, which alternating steps cannot do
    when the margins couple them (block coordinate descent can stall at non-stationary points).
    """
    d = K.shape[0]
    g = _merit(cons, K, Q)
    rho = 1.0
    it = 0
    stall = 0
    while it < max_iter and rho < 1e8:
        it += 1
        w = cons.z @ Q  # (n_rows, m): Qᵀz_k
        v = cons.a @ K  # Kᵀa_k
        Bk = (cons.a[:, :, None] * w[:, None, :]).reshape(cons.K, d * m)
        Bq = (cons.z[:, :, None] * v[:, None, :]).reshape(cons.K, d * m)
        B = np.hstack([Bk, Bq])
        y0 = np.concatenate([K.ravel(), Q.ravel()])
        c = (rho / (1.0 + rho)) * y0
        h = 1.0 + np.einsum("km,km->k", v, w) - B @ c
        D = _ldp(B, h)
        if D is None:
            rho *= 4.0
            continue
        y = c + D
        Kn, Qn = balanced_factors(y[: d * m].reshape(d, m) @ y[d * m :].reshape(d, m).T, m)
        gn = _merit(cons, Kn, Qn)
        if gn < g:
            improvement = (g - gn) / gn
            mu = float(cons.values(Kn @ Qn.T).min())
            K, Q, g = Kn / np.sqrt(mu), Qn / np.sqrt(mu), gn
            rho = max(rho / 2.0, 1e-8)
            stall = stall + 1 if improvement <= rtol else 0
            if stall >= 3:
                break
        else:
            rho *= 4.0
    return K, Q, it


def solve_kq_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray,
    m: int,
    *,
    starts: int = 8,
    seed: int = 0,
    rtol: float = 1e-10,
    max_cycles: int = 20,
    max_refine: int = 200,
    rel_rank_tol: float = RANK_RTOL,
) -> KQSolution:
    """Best local min ½(‖K‖² + ‖Q‖²) s.t. (x_{iα_i} − x_it)ᵀ K Qᵀ z_i ≥ 1, K, Q ∈ ℝ^{d×m}.

    See the module docstring for the method. ``starts`` counts all starts (SVD starts first, then
    random ones drawn from ``np.random.default_rng(seed)``). Raises InfeasibleSVM (with the
    Farkas certificate of the convex relaxation) if no W at all satisfies the margins, and
    KQSearchFailed if no start reached a feasible rank-m point.
    """
    if isinstance(m, bool) or int(m) != m or m < 1:
        raise ProblemError("m", f"must be an integer >= 1, got {m!r}")
    if isinstance(starts, bool) or int(starts) != starts or starts < 1:
        raise ProblemError("starts", f"must be an integer >= 1, got {starts!r}")
    m, starts = int(m), int(starts)
    t0 = time.perf_counter()
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    nuclear = solve_nuclear_constraints(cons, select=alpha, rel_rank_tol=rel_rank_tol)
    lower = float(nuclear.extra["lower_bound"])
    d = problem.d
    rng = np.random.default_rng(seed)

    inits: list[tuple[str, np.ndarray]] = []
    inits.append(("svd-nuclear", balanced_factors(nuclear.W, m)[1]))
    if starts > 1:
        try:
            from reference.att_svm import solve_att_svm

            inits.append(("svd-frobenius", balanced_factors(solve_att_svm(problem, alpha).W, m)[1]))
        except (InfeasibleSVM, AttnsvmError):  # pragma: no cover - nuclear was feasible
            pass
    while len(inits) < starts:
        inits.append((f"random-{len(inits)}", rng.standard_normal((d, m))))
    inits = inits[:starts]

    records: list[dict[str, Any]] = []
    best: tuple[float, np.ndarray, np.ndarray, str] | None = None
    for kind, Q0 in inits:
        try:
            K, Q, cycles = _alternate(cons, Q0, m, rtol=rtol, max_cycles=max_cycles)
        except (InfeasibleSVM, AttnsvmError) as exc:
            records.append({"start": kind, "feasible": False, "reason": str(exc)[:200]})
            continue
        f1 = _merit(cons, K, Q)
        K, Q, refine = _prox_linear(cons, K, Q, m, rtol=rtol, max_iter=max_refine)
        mu = float(cons.values(K @ Q.T).min())
        if not mu > 0:
            records.append({"start": kind, "feasible": False, "reason": f"min margin {mu:.3g}"})
            continue
        K, Q = K / np.sqrt(mu), Q / np.sqrt(mu)
        f = _objective(K, Q)
        records.append({"start": kind, "feasible": True, "objective": f, "cycles": cycles,
                        "after_alternating": f1, "refine_iterations": refine})
        if best is None or f < best[0]:
            best = (f, K, Q, kind)
    if best is None:
        raise KQSearchFailed(
            f"no feasible rank-{m} point found from {len(inits)} starts "
            f"(nuclear solution has rank {nuclear.rank})"
        )
    f, K, Q, kind = best
    W = K @ Q.T
    sv = np.linalg.svd(W, compute_uv=False)
    rank = int(np.sum(sv > rel_rank_tol * sv[0])) if sv[0] > 0 else 0
    return KQSolution(
        K=K,
        Q=Q,
        W=W,
        objective=f,
        lower_bound=lower,
        nuclear_objective=float(nuclear.objective),
        min_margin=float(cons.values(W).min()),
        gap_to_lower_bound=(f - lower) / lower,
        method=f"alternating-exact+rebalance+prox-linear/{kind}",
        m=m,
        select=alpha,
        singular_values=sv,
        rank=rank,
        nuclear=nuclear,
        seconds=time.perf_counter() - t0,
        starts=records,
    )
