"""Multi-token SVM-equivalence (TF-SVM arXiv 2308.16898, nonlinear heads): W^dir, W^fin and
W^fin + R·W^dir, checked against the official all-pairs programs solved by cvxpy + Clarabel."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.multitoken import (
    attention_probs,
    fit_scale,
    selected_sets,
    solve_direction_svm,
    solve_finite_component,
    svm_equivalence,
)


def official_programs(problem, sets, probs):
    """The official ``W_svm_solver`` programs with *all* pairs t, τ (cvxpy + Clarabel)."""
    n, T, d = problem.X.shape
    W = cp.Variable((d, d))
    eqs, ineqs, fins = [], [], []
    for i in range(n):
        O = list(sets[i])
        rest = [t for t in range(T) if t not in O]
        for t in O:
            for tau in O:
                if t < tau:
                    eqs.append((problem.X[i, t] - problem.X[i, tau]) @ W @ problem.Z[i] == 0)
                if t != tau:
                    fins.append((problem.X[i, tau] - problem.X[i, t]) @ W @ problem.Z[i]
                                == np.log(probs[i, tau] / probs[i, t]))
            for tau in rest:
                ineqs.append((problem.X[i, t] - problem.X[i, tau]) @ W @ problem.Z[i] >= 1)
    opts = {"tol_gap_abs": 1e-11, "tol_gap_rel": 1e-11, "tol_feas": 1e-11}
    cp.Problem(cp.Minimize(cp.sum_squares(W)), eqs + ineqs).solve(solver=cp.CLARABEL, **opts)
    W_dir = np.array(W.value)
    if fins:
        cp.Problem(cp.Minimize(cp.sum_squares(W)), fins).solve(solver=cp.CLARABEL, **opts)
        W_fin = np.array(W.value)
    else:
        W_fin = np.zeros((d, d))
    return W_dir, W_fin


@st.composite
def multi_instances(draw):
    n = draw(st.integers(1, 3))
    T = draw(st.integers(2, 5))
    low = max(T - 1, n, 2)  # unit tokens are discrete (duplicates) in d = 1
    d = draw(st.integers(low, low + 2))
    seed = draw(st.integers(0, 2**31 - 1))
    problem = paper_family(n, T, d, seed)
    rng = np.random.default_rng(seed)
    sets = []
    for _ in range(n):
        k = draw(st.integers(1, T - 1))
        sets.append(np.sort(rng.choice(T, size=k, replace=False)))
    probs = np.zeros((n, T))
    for i, O in enumerate(sets):
        probs[i, O] = rng.uniform(0.2, 1.0, size=len(O))
        probs[i] /= probs[i].sum()
    return problem, sets, probs


@given(multi_instances())
@settings(max_examples=15)
def test_direction_and_finite_match_official_programs(inst) -> None:
    problem, sets, probs = inst
    wdir = solve_direction_svm(problem, sets)
    wfin = solve_finite_component(problem, sets, probs)
    ref_dir, ref_fin = official_programs(problem, sets, probs)
    assert wdir.kkt_residual <= 1e-9 and wfin.kkt_residual <= 1e-9
    assert np.linalg.norm(wdir.W - ref_dir) <= 1e-6 * np.linalg.norm(ref_dir)
    assert np.linalg.norm(wfin.W - ref_fin) <= 1e-6 * max(np.linalg.norm(ref_fin), 1e-12)
    # every pair, from the raw arrays
    for i, O in enumerate(sets):
        s_dir = problem.X[i] @ wdir.W @ problem.Z[i]
        s_fin = problem.X[i] @ wfin.W @ problem.Z[i]
        rest = [t for t in range(problem.T) if t not in O]
        assert np.ptp(s_dir[O]) <= 1e-9
        if rest:
            assert s_dir[O].min() - s_dir[rest].max() >= 1 - 1e-9
        for t in O:
            for tau in O:
                assert s_fin[tau] - s_fin[t] == pytest.approx(
                    np.log(probs[i, tau] / probs[i, t]), abs=1e-9)
    # orthogonal decomposition
    assert abs(np.sum(wdir.W * wfin.W)) <= 1e-9 * np.linalg.norm(wdir.W) * max(
        np.linalg.norm(wfin.W), 1.0)


def test_singletons_reduce_to_att_svm() -> None:
    problem = paper_family(3, 5, 6, 8)
    alpha = np.array([2, 0, 4])
    wdir = solve_direction_svm(problem, [[a] for a in alpha])
    assert np.allclose(wdir.W, solve_att_svm(problem, alpha).W, rtol=1e-10, atol=1e-12)
    probs = np.eye(5)[alpha]
    assert np.all(solve_finite_component(problem, [[a] for a in alpha], probs).W == 0)


def test_fit_recovers_planted_scale() -> None:
    problem = paper_family(3, 4, 5, 1)
    sets = [[0, 1], [2], [1, 3]]
    probs = np.array([[0.7, 0.3, 0, 0], [0, 0, 1.0, 0], [0, 0.4, 0, 0.6]])
    wdir = solve_direction_svm(problem, sets)
    wfin = solve_finite_component(problem, sets, probs)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((5, 5))
    noise -= np.sum(noise * wdir.W) / np.sum(wdir.W**2) * wdir.W  # orthogonal to W^dir
    R, res = fit_scale(wfin.W + 37.0 * wdir.W + 1e-3 * noise, wfin.W, wdir.W)
    assert R == pytest.approx(37.0, rel=1e-12)
    assert res > 0
    R0, res0 = fit_scale(wfin.W + 37.0 * wdir.W, wfin.W, wdir.W)
    assert R0 == pytest.approx(37.0, rel=1e-12) and res0 <= 1e-14


def test_equivalence_from_an_iterate() -> None:
    """The planted iterate W = W^fin + R·W^dir reproduces its own selected sets and R."""
    problem = paper_family(3, 4, 5, 2)
    sets = [[0, 2], [1], [0, 3]]
    probs = np.array([[0.6, 0, 0.4, 0], [0, 1.0, 0, 0], [0.5, 0, 0, 0.5]])
    wdir = solve_direction_svm(problem, sets)
    wfin = solve_finite_component(problem, sets, probs)
    W = wfin.W + 40.0 * wdir.W
    s = attention_probs(problem, W)
    eq = svm_equivalence(problem, W)
    assert [o.tolist() for o in eq.sets] == sets
    assert eq.R == pytest.approx(40.0, rel=1e-9)
    assert eq.fit_residual <= 1e-9
    for i, O in enumerate(sets):  # the composition inside O_i is the planted one
        assert np.allclose(s[i, O] / s[i, O].sum(), probs[i, O], atol=1e-12)


def test_attention_probs_is_stable_and_exact() -> None:
    problem = paper_family(2, 4, 3, 0)
    W = np.random.default_rng(1).standard_normal((3, 3))
    logits = np.einsum("itd,de,ie->it", problem.X, W, problem.Z)
    naive = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    assert np.allclose(attention_probs(problem, W), naive, rtol=1e-13, atol=1e-16)
    big = attention_probs(problem, 1e8 * W)
    assert np.all(np.isfinite(big)) and np.allclose(big.sum(1), 1.0)


def test_selected_sets_rule_and_errors() -> None:
    probs = np.array([[0.5, 0.4995, 0.0005], [1.0, 0.0, 0.0]])
    assert [o.tolist() for o in selected_sets(probs)] == [[0, 1], [0]]
    assert [o.tolist() for o in selected_sets(probs, threshold=1e-4)] == [[0, 1, 2], [0]]
    with pytest.raises(ProblemError):
        selected_sets(np.full((1, 2000), 1 / 2000))
    with pytest.raises(ProblemError):
        selected_sets(probs, threshold=0.0)
    with pytest.raises(ProblemError):
        selected_sets(-probs)


def test_direction_infeasible_with_duplicate_across_sets() -> None:
    """A token outside O_i equal to one inside it cannot be separated by a margin."""
    problem = paper_family(2, 4, 5, 3)
    X = np.array(problem.X)
    X[0, 3] = X[0, 1]
    bad = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    with pytest.raises(InfeasibleSVM) as exc:
        solve_direction_svm(bad, [[0, 1], [2]])
    lam = np.asarray(exc.value.certificate["lambda"])
    assert np.isclose(np.abs(lam).sum(), 1.0) and exc.value.certificate["residual"] <= 1e-12
