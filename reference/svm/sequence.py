"""SAtt-SVM: the attention SVM of causal and full self-attention (sequence-to-sequence).

TF-SVM (Tarzanagh, Li, Thrampoulidis, Oymak, arXiv 2308.16898), appendix: the
sequence-to-sequence extension. Every position k of sequence i is a query z = x_ik with its own
label Y_ik and output f_k(X) = vᵀXᵀ softmax(mask_k ∘ X W x_k); the admissible tokens of
position k are t <= k (``causal``) or every t (``full``). With

    α_ik = argmax_{t admissible for k} Y_ik vᵀ x_it       (the default selection, "opt"),

    SAtt-SVM_α:   min ||W||   s.t.   (x_{i α_ik} − x_it)ᵀ W x_ik >= 1
                                     for every admissible t != α_ik, every i and k.

Row (i, k, t) is <a z_qᵀ, W> with a = x_{iα_ik} − x_it and z_q = x_ik, the query of the stacked
index q = i T + k: the program is Att-SVM's with the n T queries stacked, its Gram matrix still
(A Aᵀ) ∘ (Z Zᵀ), so the certified dual solver (``frobenius.fro_min_norm``), the nuclear-norm
solver (``nuclear.solve_nuclear_constraints``), the certificates and the Farkas / exact
infeasibility proofs are the cross-attention ones. ``MarginConstraints.pairs`` holds (q, t);
``query_positions`` turns them into (i, k, t).

Position 0 of a causal sequence has one admissible token (itself): α_i0 = 0 and no row at all
(a degenerate query, not a failure). The full mask is exactly Att-SVM of
``SequenceProblem.stacked()`` (n T inputs).
"""

from __future__ import annotations

import operator
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import (
    SequenceProblem,
    admissible,
    as_sequence_problem,
    check_mask,
)
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.certificates import (
    INFEASIBLE_RTOL,
    RANK_RTOL,
    SUPPORT_RTOL,
    certificate_failures,
    certify,
    make_solution,
    require_certified,
    require_feasible,
)
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution, index_array
from attnsvm.reference.svm.exact import classify_infeasible
from attnsvm.reference.svm.frobenius import fro_min_norm, solve_constraints_cvxpy
from attnsvm.reference.svm.nuclear import solve_nuclear_constraints
from attnsvm.reference.svm.selection import MAX_SELECTION_CHARS, TIE_RTOL, tie_tolerance
from attnsvm.reference.validate import as_float

__all__ = [
    "SequenceSelection",
    "admissible",
    "check_sequence_selection",
    "query_positions",
    "resolve_sequence_selection",
    "satt_svm_per_constraint_cvxpy",
    "sequence_constraints",
    "sequence_locally_optimal",
    "sequence_optimal_tokens",
    "solve_satt_svm",
    "solve_satt_svm_cvxpy",
]


def masked_scores(problem: SequenceProblem, mask: str) -> np.ndarray:
    """γ_ikt = Y_ik vᵀx_it on admissible tokens, −inf elsewhere; shape (n, T, T)."""
    problem = as_sequence_problem(problem)
    return np.where(admissible(problem.T, mask)[None], problem.scores, -np.inf)


@dataclass(frozen=True)
class SequenceSelection:
    """argmax over admissible t of γ_ikt per query, ties reported (never broken).

    Attributes:
        tokens: the first maximizer per (i, k), shape (n, T).
        ties: {(i, k): (t1, t2, ...)} for every query whose maximum is attained more than once.
        degenerate: (i, k) of the queries with a single admissible token (causal position 0).
    """

    tokens: np.ndarray
    ties: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    degenerate: list[tuple[int, int]] = field(default_factory=list)

    @property
    def unique(self) -> bool:
        return not self.ties


def sequence_optimal_tokens(problem: SequenceProblem, mask: str, *,
                            tie_rtol: float = TIE_RTOL) -> SequenceSelection:
    """The default selection α_ik = argmax_{t admissible} Y_ik vᵀx_it, with ties detected by
    the tie rule of ``svm.selection`` (relative to the largest admissible |score|)."""
    g = masked_scores(problem, mask)
    finite = np.isfinite(g)
    tol = tie_tolerance(np.where(finite, g, 0.0), tie_rtol)
    best = np.max(g, axis=2)
    top = finite & (g >= best[:, :, None] - tol)
    ties = {(int(i), int(k)): tuple(int(t) for t in np.flatnonzero(top[i, k]))
            for i, k in zip(*np.nonzero(top.sum(axis=2) > 1), strict=True)}
    single = admissible(problem.T, mask).sum(axis=1) == 1
    degenerate = [(i, int(k)) for i in range(problem.n) for k in np.flatnonzero(single)]
    return SequenceSelection(tokens=np.argmax(g, axis=2).astype(np.int64), ties=ties,
                             degenerate=degenerate)


def check_sequence_selection(problem: SequenceProblem, mask: str, select: object) -> np.ndarray:
    """A user selection as an (n, T) int64 array of admissible tokens: an (n, T) array or n T
    indices in row-major order (sequence i, then position k); ProblemError("select")."""
    problem = as_sequence_problem(problem)
    n, T = problem.n, problem.T
    arr = index_array(select, f"{n * T} token indices")
    if arr.size != n * T or arr.shape not in ((n, T), (n * T,)):
        raise ProblemError("select", f"expected {n} x {T} = {n * T} token indices (one per "
                           f"position), got shape {arr.shape}")
    if arr.dtype.kind == "O":
        try:
            arr = np.array([operator.index(a) for a in arr.reshape(-1).tolist()], dtype=object)
        except TypeError:
            raise ProblemError("select", "token indices must be integers") from None
    elif arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ProblemError("select", "token indices must be integers")
    elif arr.dtype.kind not in "iu":
        raise ProblemError("select", f"token indices must be integers, got dtype {arr.dtype}")
    flat = arr.reshape(-1)
    if any(not 0 <= int(a) < T for a in flat.tolist()):
        raise ProblemError("select", f"token indices must lie in [0, {T - 1}]")
    alpha = np.array([int(a) for a in flat.tolist()], dtype=np.int64).reshape(n, T)
    ok = admissible(T, mask)[np.arange(T)[None, :], alpha]
    if not ok.all():
        i, k = (int(x) for x in np.argwhere(~ok)[0])
        raise ProblemError("select", f"sequence {i}, position {k}: token {alpha[i, k]} is not "
                           f"admissible under the {mask} mask (t <= {k})")
    return alpha


def resolve_sequence_selection(
    problem: SequenceProblem, mask: str, select: str | Sequence[int] | np.ndarray = "opt", *,
    tie_rtol: float = TIE_RTOL,
) -> np.ndarray:
    """A validated (n, T) selection: "opt" (refused with ProblemError on a tie: choose
    explicitly), "t00,t01,...,t(n-1)(T-1)" (row-major) or an array of indices."""
    problem = as_sequence_problem(problem)
    check_mask(mask)
    if not isinstance(select, str):
        return check_sequence_selection(problem, mask, select)
    if select.strip().lower() == "opt":
        opt = sequence_optimal_tokens(problem, mask, tie_rtol=tie_rtol)
        if not opt.unique:
            shown = "; ".join(f"sequence {i} position {k}: tokens {list(ts)}"
                              for (i, k), ts in list(opt.ties.items())[:3])
            raise ProblemError("select", f"the optimal token is not unique ({shown}"
                               f"{'; ...' if len(opt.ties) > 3 else ''}); pass an explicit "
                               "selection")
        return opt.tokens
    if len(select) > MAX_SELECTION_CHARS:
        raise ProblemError("select", f"selection text longer than {MAX_SELECTION_CHARS} chars")
    try:
        values = [int(part) for part in select.split(",")]
    except ValueError:
        raise ProblemError("select", "expected 'opt' or comma-separated token indices, got "
                           f"{select[:57]!r}") from None
    return check_sequence_selection(problem, mask, values)


def sequence_constraints(problem: SequenceProblem, alpha: np.ndarray, mask: str
                         ) -> MarginConstraints:
    """The rows of SAtt-SVM_α, vectorized: one per (i, k, t) with t admissible for k and
    t != α_ik, pairs (q, t) with q = i T + k. Degenerate queries (a single admissible token)
    contribute no row."""
    problem = as_sequence_problem(problem)
    alpha = check_sequence_selection(problem, mask, alpha)
    n, T, d = problem.X.shape
    allowed = admissible(T, mask)[None] & (np.arange(T)[None, None, :] != alpha[:, :, None])
    ii, kk, tt = np.nonzero(allowed)
    a = problem.X[ii, alpha[ii, kk]] - problem.X[ii, tt]
    z = problem.X[ii, kk]
    pairs = np.stack([ii * T + kk, tt], axis=1).astype(np.int64).reshape(-1, 2)
    return MarginConstraints(a=a.reshape(-1, d), z=z.reshape(-1, d), pairs=pairs,
                             rhs=np.ones(len(ii)))


def query_positions(pairs: np.ndarray, T: int) -> np.ndarray:
    """(q, t) rows -> (i, k, t) rows (q = i T + k), shape (K, 3)."""
    p = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    return np.stack([p[:, 0] // T, p[:, 0] % T, p[:, 1]], axis=1)


def _classified(problem: SequenceProblem, alpha: np.ndarray, exc: InfeasibleSVM
                ) -> InfeasibleSVM:
    """The infeasibility proof of ``svm.exact`` on the stacked queries (input q = i T + k has
    tokens X_i and query x_ik), the certificate's rows also given as (i, k, t)."""
    T = problem.T
    cert = dict(exc.certificate)
    pairs = np.asarray(cert.get("pairs", []), dtype=np.int64).reshape(-1, 2)
    # only the queries the certificate uses are stacked (q -> its index in ``used``)
    used, local = np.unique(pairs[:, 0], return_inverse=True)
    sub = dict(cert, pairs=np.stack([local.reshape(-1), pairs[:, 1]], axis=1).tolist())
    out = classify_infeasible(problem.X[used // T], problem.X[used // T, used % T],
                              alpha.reshape(-1)[used], type(exc)(str(exc), sub))
    cert = dict(out.certificate, pairs=pairs.tolist())
    cert["positions"] = query_positions(pairs, T).tolist()
    return type(out)(str(out), cert)


def solve_satt_svm(
    problem: SequenceProblem,
    mask: str = "causal",
    select: str | Sequence[int] | np.ndarray = "opt",
    norm: str = "fro",
    *,
    support_rtol: float = SUPPORT_RTOL,
    rank_rtol: float = RANK_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
    prove: bool = True,
) -> SVMSolution:
    """W^mm_α of SAtt-SVM_α (``fro``) or its nuclear-norm version (``nuc``), certified.

    ``select``: see ``resolve_sequence_selection``. Returns the cross-attention solvers'
    ``SVMSolution`` (``select`` of shape (n, T); ``support`` pairs (q, t), q = i T + k;
    ``extra["support_positions"]`` the (i, k, t) of the support rows and
    ``extra["degenerate_queries"]`` the number of queries with no row). Raises InfeasibleSVM
    with a Farkas certificate (proved exactly, or InfeasibleAtWorkingPrecision) as
    ``frobenius.solve_att_svm`` does; ``prove=False`` skips the exact check.
    """
    problem = as_sequence_problem(problem)
    check_mask(mask)
    if norm not in ("fro", "nuc"):
        raise ProblemError("norm", f"unknown norm {norm!r:.40}; choose from fro, nuc")
    support_rtol, rank_rtol, infeasible_rtol = (
        _rtol(name, v) for name, v in (("support_rtol", support_rtol), ("rank_rtol", rank_rtol),
                                       ("infeasible_rtol", infeasible_rtol)))
    alpha = resolve_sequence_selection(problem, mask, select)
    cons = sequence_constraints(problem, alpha, mask)
    single = int(np.sum(admissible(problem.T, mask).sum(axis=1) == 1)) * problem.n
    extra: dict[str, Any] = {"mask": mask, "degenerate_queries": single,
                             "queries": problem.n * problem.T}
    context = {"select": alpha.tolist(), "norm": norm, "mask": mask}
    t0 = time.perf_counter()
    try:
        if norm == "fro":
            W, lam, info = fro_min_norm(cons, infeasible_rtol=infeasible_rtol,
                                        context=context, what="SAtt-SVM")
            method = f"dual-nnls/{info['method']}"
            extra.update(info)
        else:
            nuc = solve_nuclear_constraints(cons, select=alpha.reshape(-1),
                                            rel_rank_tol=rank_rtol, support_rtol=support_rtol,
                                            infeasible_rtol=infeasible_rtol)
            W, lam, method = nuc.W, nuc.lam, nuc.method
            extra.update({k: v for k, v in nuc.extra.items() if k in
                          ("primal_scale", "dual_scale", "iterations", "reduced_shape")})
    except InfeasibleSVM as exc:
        if not prove:
            raise
        raise _classified(problem, alpha, exc) from None
    seconds = time.perf_counter() - t0
    cert = None
    if norm == "fro":
        cert = require_certified(cons, W, lam, what="SAtt-SVM", support_rtol=support_rtol,
                                 rank_rtol=rank_rtol)
    sol = make_solution(cons, W, lam, norm, alpha, seconds, method, support_rtol=support_rtol,
                        rank_rtol=rank_rtol, extra=extra, cert=cert)
    sol.extra["support_positions"] = query_positions(np.asarray(sol.support), problem.T).tolist()
    return sol


def _rtol(name: str, value: float) -> float:
    x = as_float(name, value)
    if not 0 < x < 1:
        raise ProblemError(name, f"must lie in (0, 1), got {x!r}")
    return x


def sequence_locally_optimal(problem: SequenceProblem, sol: SVMSolution, *,
                             tie_rtol: float = TIE_RTOL) -> bool:
    """TF-SVM's local optimality for every query: each support token (i, k, t) of the solved
    program scores strictly below the selected token, γ_ikt < γ_{ik α_ik} beyond the tie
    tolerance."""
    problem = as_sequence_problem(problem)
    g = problem.scores
    tol = tie_tolerance(g, tie_rtol)
    alpha = np.asarray(sol.select, dtype=np.int64).reshape(problem.n, problem.T)
    pos = query_positions(np.asarray(sol.support), problem.T)
    if pos.size == 0:
        return True
    i, k, t = pos[:, 0], pos[:, 1], pos[:, 2]
    return bool(np.all(g[i, k, t] < g[i, k, alpha[i, k]] - tol))


# --------------------------------------------------------------------------- cvxpy references


def solve_satt_svm_cvxpy(
    problem: SequenceProblem, mask: str = "causal",
    select: str | Sequence[int] | np.ndarray = "opt", norm: str = "fro", *,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """SAtt-SVM_α by cvxpy + Clarabel on the vectorized model of the same rows
    (``frobenius.solve_constraints_cvxpy``), certified by ``svm.certificates`` (never by the
    solver status). Feasibility is decided by the Farkas search first (InfeasibleSVM)."""
    problem = as_sequence_problem(problem)
    alpha = resolve_sequence_selection(problem, mask, select)
    cons = sequence_constraints(problem, alpha, mask)
    require_feasible(cons, rtol=infeasible_rtol, context={"mask": mask, "norm": norm},
                     what="SAtt-SVM")
    W, lam, seconds, status = solve_constraints_cvxpy(cons, norm)
    if not np.all(np.isfinite(W)):
        raise ProblemError("solver", f"SAtt-SVM: Clarabel returned no solution ({status})")
    if norm == "fro":
        require_certified(cons, W, lam, what=f"SAtt-SVM (Clarabel, status {status})")
    else:
        bad = certificate_failures(cons, certify(cons, W, lam, "nuc"), W)
        if bad:
            raise ProblemError("solver", f"SAtt-SVM⋆: Clarabel's solution (status {status}) "
                               f"fails its certificate: {', '.join(bad)}")
    return make_solution(cons, W, lam, norm, alpha, seconds, "cvxpy/CLARABEL",
                         extra={"solver_status": status, "mask": mask})


def satt_svm_per_constraint_cvxpy(
    problem: SequenceProblem, mask: str, alpha: np.ndarray, norm: str = "fro",
) -> dict[str, Any]:
    """The per-constraint cvxpy + Clarabel model of SAtt-SVM_α, written from the definition
    and independent of ``sequence_constraints``: one cvxpy constraint
    (x_{iα_ik} − x_it)ᵀ W x_ik >= 1 per sequence i, position k and token t (t <= k for the
    causal mask, any t for the full one; t != α_ik). Returns {W, objective, seconds (solve and
    model construction), status, rows}; W is NaN when Clarabel returns none."""
    import cvxpy as cp

    problem = as_sequence_problem(problem)
    alpha = check_sequence_selection(problem, mask, alpha)
    X = problem.X
    n, T, d = X.shape
    W = cp.Variable((d, d))
    cons = []
    t0 = time.perf_counter()
    for i in range(n):
        for k in range(T):
            last = k if mask == "causal" else T - 1
            for t in range(last + 1):
                if t != alpha[i, k]:
                    cons.append((X[i, alpha[i, k]] - X[i, t]) @ W @ X[i, k] >= 1)
    obj = 0.5 * cp.sum_squares(W) if norm == "fro" else cp.normNuc(W)
    prob = cp.Problem(cp.Minimize(obj), cons)
    try:
        prob.solve(solver=cp.CLARABEL)
    except cp.error.SolverError:
        return {"W": np.full((d, d), np.nan), "objective": float("nan"),
                "seconds": time.perf_counter() - t0, "status": "solver_error",
                "rows": len(cons)}
    seconds = time.perf_counter() - t0
    Wv = np.full((d, d), np.nan) if W.value is None else np.asarray(W.value, dtype=np.float64)
    value = float(np.linalg.norm(Wv)) if norm == "fro" else float(np.linalg.norm(Wv, "nuc"))
    return {"W": Wv, "objective": value, "seconds": seconds, "status": str(prob.status),
            "rows": len(cons)}
