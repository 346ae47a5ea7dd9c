"""Token scores, ties, support tokens and locally-optimal selections (TF-SVM arXiv 2308.16898,
token scores and the SVM-neighbour / local-optimality definition), enumeration vs brute force."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.families import make_problem, near_tie_family, paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.selection import optimal_tokens, resolve_selection, token_scores
from attnsvm.reference.svm.token_optimality import (
    enumerate_locally_optimal,
    is_locally_optimal,
    local_optimality,
    support_tokens,
)


def brute_force_locally_optimal(problem: AttentionProblem) -> list[tuple[int, ...]]:
    """Every α, solved, with support tokens read off margins computed from the raw arrays."""
    g = problem.Y[:, None] * np.einsum("itd,d->it", problem.X, problem.v)
    tol = 1e-9 * max(1.0, np.abs(g).max())
    found = []
    for alpha in itertools.product(range(problem.T), repeat=problem.n):
        try:
            W = solve_att_svm(problem, list(alpha)).W
        except InfeasibleSVM:
            continue
        ok = True
        for i in range(problem.n):
            for t in range(problem.T):
                if t == alpha[i]:
                    continue
                m = (problem.X[i, alpha[i]] - problem.X[i, t]) @ W @ problem.Z[i]
                if m - 1 <= 1e-6 and not g[i, alpha[i]] - g[i, t] > tol:
                    ok = False
        if ok:
            found.append(alpha)
    return found


def test_scores_are_label_times_head() -> None:
    problem = paper_family(3, 4, 5, 2)
    g = token_scores(problem)
    for i in range(3):
        for t in range(4):
            assert g[i, t] == pytest.approx(problem.Y[i] * problem.v @ problem.X[i, t], abs=1e-15)


@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(2, 5), st.integers(2, 6))
def test_exact_ties_are_reported_not_broken(seed, n, T, d) -> None:
    problem = near_tie_family(n, T, d, seed, gap=0.0)
    opt = optimal_tokens(problem)
    g = problem.scores
    order = np.argsort(-g, axis=1)
    assert set(opt.ties) == set(range(n))
    for i in range(n):
        assert {int(order[i, 0]), int(order[i, 1])} <= set(opt.ties[i])
    with pytest.raises(ProblemError) as exc:
        resolve_selection(problem, "opt")
    assert exc.value.field == "select" and "not unique" in str(exc.value)
    explicit = order[:, 0]
    assert resolve_selection(problem, explicit).tolist() == explicit.tolist()


@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(2, 5), st.integers(2, 6))
def test_small_gaps_are_not_ties(seed, n, T, d) -> None:
    problem = near_tie_family(n, T, d, seed, gap=1e-6)
    opt = optimal_tokens(problem)
    assert opt.unique
    assert np.allclose(opt.gaps, 1e-6, rtol=1e-6)
    assert resolve_selection(problem, "opt").tolist() == np.argmax(problem.scores, 1).tolist()


@given(st.integers(0, 2**31 - 1), st.integers(1, 4), st.integers(2, 5))
def test_opt_is_locally_optimal(seed, n, T) -> None:
    """opt is locally optimal whenever it is unique and Att-SVM_opt is feasible (TF-SVM Def.)."""
    problem = paper_family(n, T, max(T - 1, n) + 1, seed)
    verdict = local_optimality(problem, "opt")
    assert verdict.feasible and verdict.locally_optimal and not verdict.violations


@given(st.integers(0, 2**31 - 1))
def test_support_tokens_are_active_margins(seed) -> None:
    problem = paper_family(3, 5, 4, seed)
    alpha = np.random.default_rng(seed).integers(0, 5, 3)
    sol = solve_att_svm(problem, alpha)
    sup = support_tokens(sol)
    for i in range(3):
        active = [t for t in range(5) if t != alpha[i]
                  and (problem.X[i, alpha[i]] - problem.X[i, t]) @ sol.W @ problem.Z[i] <= 1 + 1e-6]
        assert sup[i].tolist() == active
    verdict = local_optimality(problem, alpha, solution=sol)
    g = problem.scores
    expected = all(g[i, alpha[i]] > g[i, t] + 1e-9 for i in range(3) for t in sup[i])
    assert verdict.locally_optimal == expected == is_locally_optimal(problem, alpha)


def test_local_optimality_needs_strict_scores() -> None:
    """A support token with the same score as the selected one breaks local optimality."""
    problem = near_tie_family(2, 3, 4, 5, gap=0.0)
    order = np.argsort(-problem.scores, axis=1)
    alpha = order[:, 0]
    sol = solve_att_svm(problem, alpha)
    verdict = local_optimality(problem, alpha, solution=sol)
    sup = support_tokens(sol)
    tied_support = [(i, int(order[i, 1])) for i in range(2) if order[i, 1] in sup[i]]
    assert tied_support  # this instance has a tied support token
    assert not verdict.locally_optimal
    assert {(i, t) for i, t, _ in verdict.violations} == set(tied_support)


def test_infeasible_selection_is_not_locally_optimal() -> None:
    problem = paper_family(2, 3, 4, 0)
    X = np.array(problem.X)
    X[0, 1] = X[0, 0]
    dup = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    verdict = local_optimality(dup, [0, 0])
    assert not verdict.feasible and not verdict.locally_optimal


@given(st.integers(0, 2**31 - 1), st.integers(1, 3), st.integers(2, 4), st.integers(1, 4),
       st.booleans())
@settings(max_examples=12)
def test_enumeration_matches_brute_force(seed, n, T, d, equal_scores) -> None:
    fam = "equal-scores" if equal_scores else "paper"
    problem = make_problem(fam, n, T, d, seed)
    result = enumerate_locally_optimal(problem)
    assert result.selections == sorted(brute_force_locally_optimal(problem))
    assert result.solved + result.skipped == problem.T**problem.n


def test_pruning_skips_infeasible_prefixes() -> None:
    """d = 1 with repeated tokens: infeasible prefixes are cut, and nothing is lost."""
    rng = np.random.default_rng(4)
    X = rng.choice([-1.0, 0.5, 2.0], size=(3, 3, 1))
    X[0, 2] = X[0, 0]
    problem = AttentionProblem(X, [1.0, -1.0, 1.0], [1.0], rng.standard_normal((3, 1)))
    result = enumerate_locally_optimal(problem)
    assert result.pruned > 0 and result.skipped > 0
    assert result.solved + result.skipped == problem.T**problem.n
    assert result.selections == sorted(brute_force_locally_optimal(problem))


def test_enumeration_refuses_huge_instances() -> None:
    with pytest.raises(ProblemError):
        enumerate_locally_optimal(paper_family(8, 8, 4, 0), max_leaves=1000)
