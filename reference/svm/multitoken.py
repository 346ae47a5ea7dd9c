"""Generalized SVM-equivalence for nonlinear heads: several tokens selected per input.

TF-SVM (arXiv 2308.16898), Sec. 6 (nonlinear heads; official ``base_nonlinear.W_svm_solver``):
given selected sets O_i (tokens keeping softmax mass) and their complements Ō_i,

* W^dir  = argmin ||W||_F  s.t.  (x_it − x_iτ)ᵀ W z_i = 0  for t, τ ∈ O_i,
                                 (x_it − x_iτ)ᵀ W z_i >= 1 for t ∈ O_i, τ ∈ Ō_i;
* W^fin  = argmin ||W||_F  s.t.  (x_iτ − x_it)ᵀ W z_i = log(s_iτ / s_it)  for t, τ ∈ O_i;
* W^svmeq = W^fin + R·W^dir with the scalar R fitted by least squares to a given iterate.

Both programs are written with one representative r_i = min O_i per input: the rows
(x_{i r_i} − x_it)ᵀ W z_i = 0 (t ∈ O_i \\ {r_i}) make all scores in O_i equal, after which the
pairwise inequalities for t ∈ O_i are the same as those for r_i; likewise the log-ratio
equalities against r_i imply all the others. The feasible sets — hence W^dir and W^fin — are
those of the all-pairs programs, without their redundant (rank-deficient) rows.
Row pairs: (i, t) means a_k = x_{i r_i} − x_it. Since W^fin ∈ span{A_k: equality rows} and
W^dir is orthogonal to that span, <W^dir, W^fin> = 0 (an orthogonal decomposition).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnsvm.reference.attention.models import probabilities
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm.certificates import INFEASIBLE_RTOL, SUPPORT_RTOL, make_solution
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution
from attnsvm.reference.svm.frobenius import fro_min_norm


def attention_probs(problem: AttentionProblem, W: np.ndarray) -> np.ndarray:
    """softmax_t(x_itᵀ W z_i) (attention.models.probabilities, after a shape check), (n, T)."""
    Wa = np.asarray(W, dtype=np.float64)
    if Wa.shape != (problem.d, problem.d):
        raise ProblemError("W", f"expected shape ({problem.d}, {problem.d}), got {Wa.shape}")
    return probabilities(problem.X, Wa, problem.Z)


def selected_sets(probs: np.ndarray, threshold: float = 1e-3) -> list[np.ndarray]:
    """O_i = {t : s_it >= threshold} (the official rule, threshold 1e-3); never empty."""
    s = np.asarray(probs, dtype=np.float64)
    if s.ndim != 2 or not np.all(np.isfinite(s)) or np.any(s < 0):
        raise ProblemError("probs", "expected a finite nonnegative (n, T) array")
    if not 0 < threshold <= 1:
        raise ProblemError("threshold", f"must lie in (0, 1], got {threshold!r}")
    sets = [np.flatnonzero(row >= threshold) for row in s]
    for i, o in enumerate(sets):
        if o.size == 0:
            raise ProblemError("probs", f"input {i} has no token with probability >= {threshold}")
    return sets


def _check_sets(problem: AttentionProblem, sets: Sequence[Sequence[int]]) -> list[np.ndarray]:
    if len(sets) != problem.n:
        raise ProblemError("sets", f"expected {problem.n} selected sets, got {len(sets)}")
    out = []
    for i, o in enumerate(sets):
        arr = np.unique(np.asarray(o, dtype=np.int64))
        if arr.size == 0 or arr.min() < 0 or arr.max() >= problem.T:
            raise ProblemError("sets", f"set {i} must be a nonempty subset of [0, {problem.T - 1}]")
        out.append(arr)
    return out


def direction_constraints(
    problem: AttentionProblem, sets: Sequence[Sequence[int]]
) -> MarginConstraints:
    """Rows of W^dir: equalities inside O_i (rhs 0), margins >= 1 from O_i to Ō_i."""
    O = _check_sets(problem, sets)
    a, z, pairs, rhs, eq = [], [], [], [], []
    for i, o in enumerate(O):
        r = o[0]
        for t in range(problem.T):
            if t == r:
                continue
            inside = bool(np.isin(t, o))
            a.append(problem.X[i, r] - problem.X[i, t])
            z.append(problem.Z[i])
            pairs.append((i, t))
            rhs.append(0.0 if inside else 1.0)
            eq.append(inside)
    return MarginConstraints(
        a=np.array(a).reshape(-1, problem.d), z=np.array(z).reshape(-1, problem.d),
        pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2), rhs=np.array(rhs),
        equality=np.array(eq, dtype=bool),
    )


def finite_constraints(
    problem: AttentionProblem, sets: Sequence[Sequence[int]], probs: np.ndarray
) -> MarginConstraints:
    """Rows of W^fin: (x_{i r_i} − x_it)ᵀ W z_i = log(s_{i r_i} / s_it), t ∈ O_i \\ {r_i}."""
    O = _check_sets(problem, sets)
    s = np.asarray(probs, dtype=np.float64)
    if s.shape != (problem.n, problem.T):
        raise ProblemError("probs", f"expected shape ({problem.n}, {problem.T}), got {s.shape}")
    a, z, pairs, rhs = [], [], [], []
    for i, o in enumerate(O):
        r = o[0]
        if np.any(s[i, o] <= 0):
            raise ProblemError("probs", f"input {i}: selected tokens need positive probability")
        for t in o[1:]:
            a.append(problem.X[i, r] - problem.X[i, t])
            z.append(problem.Z[i])
            pairs.append((i, int(t)))
            rhs.append(float(np.log(s[i, r]) - np.log(s[i, t])))
    return MarginConstraints(
        a=np.array(a).reshape(-1, problem.d), z=np.array(z).reshape(-1, problem.d),
        pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2), rhs=np.array(rhs),
        equality=np.ones(len(rhs), dtype=bool),
    )


def _solve(cons: MarginConstraints, sets: list[np.ndarray], what: str,
           support_rtol: float, infeasible_rtol: float) -> SVMSolution:
    t0 = time.perf_counter()
    W, lam, info = fro_min_norm(cons, infeasible_rtol=infeasible_rtol, what=what,
                                context={"program": what, "sets": [o.tolist() for o in sets]})
    seconds = time.perf_counter() - t0
    info["sets"] = [o.tolist() for o in sets]
    rep = np.array([o[0] for o in sets], dtype=np.int64)
    return make_solution(cons, W, lam, "fro", rep, seconds, f"dual-nnls/{info['method']}",
                         support_rtol=support_rtol, extra=info)


def solve_direction_svm(
    problem: AttentionProblem, sets: Sequence[Sequence[int]], *,
    support_rtol: float = SUPPORT_RTOL, infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """W^dir (multi-token Att-SVM). ``select`` holds the representatives r_i; raises
    InfeasibleSVM with a Farkas certificate when no W separates O_i from Ō_i."""
    O = _check_sets(problem, sets)
    return _solve(direction_constraints(problem, O), O, "W^dir SVM", support_rtol,
                  infeasible_rtol)


def solve_finite_component(
    problem: AttentionProblem, sets: Sequence[Sequence[int]], probs: np.ndarray, *,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """W^fin: the min-norm W reproducing the log-probability ratios inside every O_i."""
    O = _check_sets(problem, sets)
    return _solve(finite_constraints(problem, O, probs), O, "W^fin", SUPPORT_RTOL,
                  infeasible_rtol)


def fit_scale(W_iterate: np.ndarray, W_fin: np.ndarray, W_dir: np.ndarray) -> tuple[float, float]:
    """R = argmin_R ||W_iterate − W_fin − R·W_dir||_F and the relative residual of the fit."""
    Wi, Wf, Wd = (np.asarray(m, dtype=np.float64) for m in (W_iterate, W_fin, W_dir))
    dd = float(np.sum(Wd * Wd))
    if dd == 0:
        raise ProblemError("W_dir", "is zero: no direction to fit")
    R = float(np.sum((Wi - Wf) * Wd)) / dd
    res = float(np.linalg.norm(Wi - Wf - R * Wd)) / max(float(np.linalg.norm(Wi)), 1e-300)
    return R, res


@dataclass(frozen=True)
class SVMEquivalence:
    """W^svmeq = W^fin + R·W^dir fitted to an iterate, with both certified programs."""

    sets: list[np.ndarray]
    direction: SVMSolution
    finite: SVMSolution
    R: float
    W_eq: np.ndarray
    fit_residual: float


def svm_equivalence(
    problem: AttentionProblem,
    W_iterate: np.ndarray,
    *,
    probs: np.ndarray | None = None,
    threshold: float = 1e-3,
) -> SVMEquivalence:
    """The official protocol: O_i from the iterate's softmax (or ``probs``), W^dir, W^fin, and R
    fitted by least squares to ``W_iterate`` (so the equivalence uses one scalar from the run)."""
    s = attention_probs(problem, W_iterate) if probs is None else np.asarray(probs, float)
    O = selected_sets(s, threshold)
    wdir = solve_direction_svm(problem, O)
    wfin = solve_finite_component(problem, O, s)
    R, res = fit_scale(W_iterate, wfin.W, wdir.W)
    return SVMEquivalence(O, wdir, wfin, R, wfin.W + R * wdir.W, res)
