"""Token scores, optimal tokens (with ties), support tokens and locally-optimal selections.

TF-SVM (arXiv 2308.16898), Sec. 2 token scores and Sec. 4 (Def. of SVM-neighbours and
locally-optimal tokens; same definition as MMTS, arXiv 2306.13596, Sec. 3 with p in place of W):

* γ_it = Y_i vᵀx_it;  opt_i ∈ argmax_t γ_it (unique unless tied: ties are reported, never broken).
* Support tokens of a feasible selection α: T_i(α) = {t != α_i : (x_{iα_i} − x_it)ᵀ W^mm_α z_i = 1}.
* α is locally optimal iff Att-SVM_α is feasible and γ_{iα_i} > γ_it for every i, t ∈ T_i(α)
  (strictly: by more than the tie tolerance).

Two scores are tied when they differ by at most ``tie_rtol * max_it |γ_it|`` (relative to the
score scale, ``svm.selection.tie_tolerance``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.constraints import SVMSolution, margin_constraints
from attnsvm.reference.svm.frobenius import fro_min_norm, solve_att_svm
from attnsvm.reference.svm.selection import (
    TIE_RTOL,
    resolve_selection,
    tie_tolerance,
    token_scores,
)
from attnsvm.reference.validate import as_int


def support_tokens(solution: SVMSolution, n: int | None = None) -> list[np.ndarray]:
    """T_i(α) per input: the tokens whose margin constraint is active in ``solution``."""
    pairs = np.asarray(solution.support).reshape(-1, 2)
    n = int(np.asarray(solution.select).shape[0]) if n is None else n
    return [np.sort(pairs[pairs[:, 0] == i, 1]).astype(np.int64) for i in range(n)]


@dataclass(frozen=True)
class LocalOptimality:
    """Verdict of the local-optimality test for one selection α.

    ``violations`` lists (i, t, γ_{iα_i} − γ_it) for support tokens that do not score strictly
    below the selected one; ``feasible`` is False when Att-SVM_α is infeasible (then α is not
    locally optimal: W^mm_α does not exist).
    """

    select: np.ndarray
    locally_optimal: bool
    feasible: bool
    support: list[np.ndarray]
    violations: list[tuple[int, int, float]]


def local_optimality(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray,
    *,
    solution: SVMSolution | None = None,
    tie_rtol: float = TIE_RTOL,
) -> LocalOptimality:
    """Test whether α is locally optimal (every support token scores strictly below α_i).

    ``solution`` (an SVMSolution for this α, of any norm) is reused when given; otherwise the
    Frobenius Att-SVM_α is solved.
    """
    alpha = resolve_selection(problem, select, tie_rtol=tie_rtol)
    if solution is None:

        try:
            solution = solve_att_svm(problem, alpha, prove=False)  # feasibility is all we need
        except InfeasibleSVM:
            return LocalOptimality(alpha, False, False, [], [])
    elif not isinstance(solution, SVMSolution):
        raise ProblemError("solution", f"expected an SVMSolution, got {type(solution).__name__}")
    elif not np.array_equal(np.asarray(solution.select), alpha):
        raise ProblemError("select", "the given solution was computed for another selection")
    g = token_scores(problem)
    tol = tie_tolerance(g, tie_rtol)
    sup = support_tokens(solution, problem.n)
    violations = [
        (i, int(t), float(g[i, alpha[i]] - g[i, t]))
        for i in range(problem.n)
        for t in sup[i]
        if not g[i, alpha[i]] - g[i, t] > tol
    ]
    return LocalOptimality(alpha, not violations, True, sup, violations)


def is_locally_optimal(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray,
    *,
    solution: SVMSolution | None = None,
    tie_rtol: float = TIE_RTOL,
) -> bool:
    """True iff α is feasible and every support token of W^mm_α scores strictly below α_i."""
    return local_optimality(problem, select, solution=solution, tie_rtol=tie_rtol).locally_optimal


@dataclass(frozen=True)
class Enumeration:
    """All locally-optimal selections of an instance, with the search statistics."""

    selections: list[tuple[int, ...]]
    nodes: int  # search-tree nodes visited (root included)
    pruned: int  # infeasible prefixes cut
    skipped: int  # complete selections never solved because a prefix was cut
    solved: int  # complete selections solved (skipped + solved = T^n)
    infeasible: int  # solved selections whose Att-SVM is infeasible


def enumerate_locally_optimal(
    problem: AttentionProblem, *, max_leaves: int = 100_000, tie_rtol: float = TIE_RTOL
) -> Enumeration:
    """Every locally-optimal selection α ∈ [T]^n, by depth-first search with pruning.

    Pruning (both exact, so nothing locally optimal is lost):
    * infeasible prefixes: if the constraints of inputs 0..j under (α_0..α_j) are infeasible
      (Farkas certificate), so is every completion, which therefore has no W^mm_α;
    * nothing else is assumed: a token scoring below others can still be locally optimal when
      its input has no support token, so no token is discarded by score alone.
    The search refuses instances with more than ``max_leaves`` = T^n candidate selections.
    """

    problem = as_problem(problem)
    max_leaves = as_int("max_leaves", max_leaves, low=1)
    n, T = problem.n, problem.T
    if T**n > max_leaves:
        raise ProblemError("problem", f"T^n = {T}^{n} selections exceeds max_leaves={max_leaves}")
    g = token_scores(problem)
    order = [np.argsort(-g[i], kind="stable") for i in range(n)]
    found: list[tuple[int, ...]] = []
    stats = {"nodes": 0, "pruned": 0, "skipped": 0, "solved": 0, "infeasible": 0}

    def prefix_feasible(prefix: tuple[int, ...]) -> bool:
        j = len(prefix)
        sub = AttentionProblem(problem.X[:j], problem.Y[:j], problem.v, problem.Z[:j])
        try:
            fro_min_norm(margin_constraints(sub, np.array(prefix)))
        except InfeasibleSVM:
            return False
        return True

    def visit(prefix: tuple[int, ...]) -> None:
        stats["nodes"] += 1
        if len(prefix) == n:
            stats["solved"] += 1
            verdict = local_optimality(problem, np.array(prefix), tie_rtol=tie_rtol)
            if not verdict.feasible:
                stats["infeasible"] += 1
            elif verdict.locally_optimal:
                found.append(prefix)
            return
        for t in order[len(prefix)]:
            child = (*prefix, int(t))
            if len(child) < n and not prefix_feasible(child):
                stats["pruned"] += 1
                stats["skipped"] += T ** (n - len(child))
                continue
            visit(child)

    visit(())
    return Enumeration(sorted(found), **stats)


def all_selections(problem: AttentionProblem) -> list[tuple[int, ...]]:
    """Every α ∈ [T]^n (for brute-force checks of small instances)."""
    return list(itertools.product(range(problem.T), repeat=problem.n))


def single_deviations(
    problem: AttentionProblem, alpha: np.ndarray, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Every selection that differs from alpha in exactly one input, in index order, or in the
    order of ``rng`` (a permutation of the inputs, then of the tokens of each input)."""
    alpha = np.asarray(alpha)
    inputs = range(problem.n) if rng is None else rng.permutation(problem.n)
    out = []
    for i in inputs:
        for t in range(problem.T) if rng is None else rng.permutation(problem.T):
            if t != alpha[i]:
                a = alpha.copy()
                a[i] = t
                out.append(a)
    return out


def locally_optimal_deviation(
    problem: AttentionProblem, alpha: np.ndarray, rng: np.random.Generator | None = None
) -> np.ndarray | None:
    """The first one-input deviation of alpha (order as in ``single_deviations``) that is
    locally optimal, or None: a locally-optimal, non-global selection when alpha = opt."""
    for a in single_deviations(problem, alpha, rng):
        try:
            if is_locally_optimal(problem, a):
                return a
        except ProblemError:
            continue
    return None
