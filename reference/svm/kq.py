"""The rank-constrained attention SVM of the (K, Q) parameterization (nonconvex), solved locally.

TF-SVM (arXiv 2308.16898), Sec. 2 (W = KQᵀ with K, Q ∈ ℝ^{d×m}) and Att-SVM⋆: gradient descent on
(K, Q) is biased towards

    min ½(‖K‖_F² + ‖Q‖_F²)   s.t.   (x_{iα_i} − x_it)ᵀ K Qᵀ z_i ≥ 1   for all i, t ≠ α_i.

Facts used (the variational form of the nuclear norm, Srebro, Rennie, Jaakkola 2005; Recht,
Fazel, Parrilo 2010, arXiv 0706.4138; the block steps are derived in this module):

* ½(‖K‖² + ‖Q‖²) ≥ ‖KQᵀ‖_⋆, with equality iff (K, Q) is *balanced* (K = U√Σ R, Q = V√Σ R for
  the SVD UΣVᵀ of KQᵀ and an orthogonal R). So the program equals min ‖W‖_⋆ over rank W ≤ m,
  and the convex Att-SVM⋆ optimum (solved and certified by ``svm.nuclear``) is a lower
  bound; the bound is attained when m ≥ rank W^mm_⋆ (by the rank lemma, m ≥ n always suffices).
* With Q fixed the program is a Frobenius least-norm program in K with rows ⟨a_k (Qᵀz_k)ᵀ, K⟩ ≥ 1;
  with K fixed it is one in Q with rows ⟨z_k (Kᵀa_k)ᵀ, Q⟩ ≥ 1. Both are solved exactly by
  ``attnsvm.reference.svm.frobenius.fro_min_norm`` (least-distance dual, certified).

Method (documented, deterministic from ``seed``), per start (K0, Q0):

1. Alternating exact minimization with rebalancing: "K-step, rebalance, Q-step, rebalance"
   (from Q0; if that K-step is infeasible, "Q-step, K-step" from K0) until a full cycle lowers
   the objective by less than ``rtol`` (relative) or ``max_cycles``. Every step keeps the
   product feasible and never increases the objective (a block step is an exact minimizer over
   a set containing the current point; rebalancing replaces ½(‖K‖² + ‖Q‖²) by ‖KQᵀ‖_⋆).
2. Joint prox-linear steps (``_prox_linear``): block coordinate descent can stall at
   non-stationary points because the margins couple K and Q, so (K, Q) are then moved together
   by convex subproblems with the margins linearized at the current point and a proximal term,
   accepted only when they raise ν = min margin / ½(‖K‖² + ‖Q‖²) (the margins are homogeneous
   of degree 2, so 1/ν is the objective of the rescaled feasible point). From a start where
   both block programs are infeasible the same steps act as a phase 1 (ν ≤ 0 → ν > 0); a start
   that never reaches ν > 0 is recorded as infeasible.

Starts: the rank-m truncated SVD of the certified nuclear solution (a fixed point, hence optimal,
when m ≥ rank W^mm_⋆), the same for the Frobenius solution, then Gaussian (K0, Q0). The best
local solution is returned, scaled so that its minimum margin is exactly 1 (up to round-off),
with the certified nuclear lower bound. It is a local solution of a nonconvex program: the gap to
the lower bound is reported, and claimed to be 0 only when m ≥ rank W^mm_⋆. For small m the
rank-m program can be infeasible although Att-SVM⋆ is feasible (m = 1 needs a sign pattern of
(q̂ᵀz_i) that some k̂ separates); no start reaching feasibility raises KQSearchFailed, which
proves nothing.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import AttnsvmError, InfeasibleSVM
from attnsvm.reference.svm.certificates import RANK_RTOL
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution, margin_constraints
from attnsvm.reference.svm.frobenius import fro_min_norm
from attnsvm.reference.svm.nuclear import solve_nuclear_constraints
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.validate import as_float, as_int, check_memory

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
    start: np.ndarray,
    m: int,
    *,
    rtol: float,
    max_cycles: int,
    first: str = "K",
) -> tuple[np.ndarray, np.ndarray, int]:
    """Alternating exact block minimization with rebalancing. ``first="K"``: ``start`` is Q and
    the cycle is K-step, Q-step; ``first="Q"``: ``start`` is K and the cycle is Q-step, K-step.
    Raises InfeasibleSVM when the first block program is infeasible."""
    best = np.inf
    cycles = 0
    K = start if first == "Q" else np.zeros_like(start)
    Q = start if first == "K" else np.zeros_like(start)
    while cycles < max_cycles:
        cycles += 1
        for block in ((first, "Q" if first == "K" else "K")):
            if block == "K":
                K = _k_step(cons, Q)
            else:
                Q = _q_step(cons, K)
            K, Q = balanced_factors(K @ Q.T, m)
        f = _objective(K, Q)
        if best - f <= rtol * f:
            break
        best = f
    return K, Q, cycles


def _normalized_margin(cons: MarginConstraints, K: np.ndarray, Q: np.ndarray) -> float:
    """ν = min margin / ½(‖K‖² + ‖Q‖²), invariant under (K, Q) → t(K, Q). When ν > 0, 1/ν is the
    objective of the rescaled feasible point, so maximizing ν is the problem itself; when ν ≤ 0
    it measures how far the point is from feasibility (phase 1)."""
    f = _objective(K, Q)
    return float(cons.values(K @ Q.T).min()) / f if f > 0 else -np.inf


def _merit(cons: MarginConstraints, K: np.ndarray, Q: np.ndarray) -> float:
    """½(‖K‖² + ‖Q‖²) / min margin: the objective of the rescaled feasible point (∞ if μ ≤ 0)."""
    nu = _normalized_margin(cons, K, Q)
    return 1.0 / nu if nu > 0 else np.inf


def _normalize(cons: MarginConstraints, K: np.ndarray, Q: np.ndarray) -> tuple[np.ndarray, ...]:
    """Scale (K, Q) to min margin 1 when it is positive, else to ½(‖K‖² + ‖Q‖²) = 1."""
    mu = float(cons.values(K @ Q.T).min())
    t = mu if mu > 0 else _objective(K, Q)
    return (K / np.sqrt(t), Q / np.sqrt(t)) if t > 0 else (K, Q)


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
    """Joint prox-linear (SQP-like) steps in (K, Q), from any point (feasible or not).

    Step: min ½‖K'‖² + ½‖Q'‖² + (ρ/2)(‖K' − K‖² + ‖Q' − Q‖²) subject to the margins linearized at
    (K, Q): a_kᵀ(K'Qᵀ + KQ'ᵀ − KQᵀ)z_k ≥ 1, a least-distance program in the stacked [K'; Q'].
    A step is accepted when it raises the normalized margin ν = min margin / ½(‖K‖² + ‖Q‖²)
    (ρ halves), rejected otherwise (ρ × 4). For ν > 0 this lowers the objective of the rescaled
    feasible point; for ν ≤ 0 it is a phase 1 towards feasibility. Moving K and Q together
    escapes the points where alternating block steps stall (the margins couple the blocks).
    At a feasible point the subproblem is always feasible ((K, Q) itself satisfies it).
    """
    d = K.shape[0]
    K, Q = _normalize(cons, K, Q)
    nu = _normalized_margin(cons, K, Q)
    rho = 1.0
    it = 0
    stall = 0
    while it < max_iter and rho < 1e8:
        it += 1
        w = cons.z @ Q  # (rows, m): Qᵀz_k
        v = cons.a @ K  # Kᵀa_k
        Bk = (cons.a[:, :, None] * w[:, None, :]).reshape(cons.K, d * m)
        Bq = (cons.z[:, :, None] * v[:, None, :]).reshape(cons.K, d * m)
        B = np.hstack([Bk, Bq])
        y0 = np.concatenate([K.ravel(), Q.ravel()])
        c = (rho / (1.0 + rho)) * y0
        h = 1.0 + np.einsum("km,km->k", v, w) - B @ c
        D = _ldp(B, h)
        if D is None:  # the linearized margins admit no point: a stationary infeasible start
            break
        y = c + D
        Kn, Qn = balanced_factors(y[: d * m].reshape(d, m) @ y[d * m :].reshape(d, m).T, m)
        nun = _normalized_margin(cons, Kn, Qn)
        if nun > nu:
            improvement = (nun - nu) / abs(nun)
            K, Q = _normalize(cons, Kn, Qn)
            nu = nun
            rho = max(rho / 2.0, 1e-8)
            stall = stall + 1 if (nu > 0 and improvement <= rtol) else 0
            if stall >= 3:
                break
        else:
            rho *= 4.0
    return K, Q, it


def solve_kq_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    m: int | None = None,
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
    random ones drawn from ``np.random.default_rng(seed)``); the remaining ones are skipped once
    a solution attains the certified lower bound (then it is globally optimal). Raises
    InfeasibleSVM (with the Farkas certificate of the convex relaxation) if no W at all
    satisfies the margins, and KQSearchFailed if no start reached a feasible rank-m point.
    ``select`` defaults to the optimal tokens (as for every solver), ``m`` to d.
    """
    problem = as_problem(problem)
    if m is None:
        m = problem.d
    m = as_int("m", m, low=1)
    starts = as_int("starts", starts, low=1)
    seed = as_int("seed", seed, low=0)
    rtol = as_float("rtol", rtol, positive=True)
    max_cycles = as_int("max_cycles", max_cycles, low=0)
    max_refine = as_int("max_refine", max_refine, low=0)
    rel_rank_tol = as_float("rel_rank_tol", rel_rank_tol, positive=True)
    check_memory("m", 8.0 * 16 * problem.d * m * starts, f"{starts} starts of width m = {m}")
    t0 = time.perf_counter()
    alpha = resolve_selection(problem, select)
    cons = margin_constraints(problem, alpha)
    nuclear = solve_nuclear_constraints(cons, select=alpha, rel_rank_tol=rel_rank_tol)
    lower = float(nuclear.extra["lower_bound"])
    d = problem.d
    rng = np.random.default_rng(seed)

    inits: list[tuple[str, np.ndarray, np.ndarray]] = []
    inits.append(("svd-nuclear", *balanced_factors(nuclear.W, m)))
    if starts > 1:
        try:
            from attnsvm.reference.svm.frobenius import solve_att_svm

            inits.append(("svd-frobenius", *balanced_factors(solve_att_svm(problem, alpha).W, m)))
        except (InfeasibleSVM, AttnsvmError):  # pragma: no cover - nuclear was feasible
            pass
    while len(inits) < starts:
        K0, Q0 = rng.standard_normal((d, m)), rng.standard_normal((d, m))
        inits.append((f"random-{len(inits)}", K0, Q0))
    inits = inits[:starts]

    records: list[dict[str, Any]] = []
    best: tuple[float, np.ndarray, np.ndarray, str] | None = None
    for kind, K0, Q0 in inits:
        K = Q = None
        cycles = 0
        for first_block in ("K", "Q"):  # alternate from Q0 (K-step first), else from K0
            try:
                K, Q, cycles = _alternate(
                    cons, Q0 if first_block == "K" else K0, m, rtol=rtol, max_cycles=max_cycles,
                    first=first_block,
                )
                break
            except (InfeasibleSVM, AttnsvmError):
                K = Q = None
        phase1 = K is None
        if phase1:  # both block programs infeasible at the start: joint steps from (K0, Q0)
            K, Q = K0, Q0
        f1 = _merit(cons, K, Q)
        K, Q, refine = _prox_linear(cons, K, Q, m, rtol=rtol, max_iter=max_refine)
        mu = float(cons.values(K @ Q.T).min())
        if not mu > 0:
            records.append({"start": kind, "feasible": False, "phase1": phase1,
                            "reason": f"no feasible point reached (min margin {mu:.3g})"})
            continue
        K, Q = K / np.sqrt(mu), Q / np.sqrt(mu)
        f = _objective(K, Q)
        records.append({"start": kind, "feasible": True, "objective": f, "cycles": cycles,
                        "phase1": phase1, "after_alternating": f1, "refine_iterations": refine})
        if best is None or f < best[0]:
            best = (f, K, Q, kind)
        if best[0] <= lower * (1.0 + 1e-9):
            break  # the certified lower bound is attained: a global optimum, no start can beat it
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
