"""Prompt-attention SVMs of MMTS (arXiv 2306.13596): p^mm, v^mm and the relaxed p-SVM, against
hand-derived optima of the official examples and against cvxpy + Clarabel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.prompt import (
    head_constraints,
    prompt_constraints,
    prompt_keys,
    solve_head_svm,
    solve_prompt_svm,
    solve_relaxed_prompt_svm,
    solve_vector_svm_cvxpy,
)


def joint_example(third: list[float]) -> AttentionProblem:
    """MMTS official ``joint_training`` data: tokens (0,0) and x_i; Y = (+1, -1, +1)."""
    X = np.array([[[0, 0], [1, 1]], [[0, 0], [1, -1]], [[0, 0], third]], dtype=float)
    return AttentionProblem(X, [1.0, -1.0, 1.0], [0.0, 1.0], np.zeros((3, 2)))


def test_joint_example_tight() -> None:
    """(0.5, 1): every input is a support vector of v^mm = (0, 1), so relaxed = full p-SVM and
    ½||p||² = 17/18 = 0.9444 (the official cvxopt log), p = (4/3, 1/3)."""
    problem = joint_example([0.5, 1.0])
    head = solve_head_svm(problem, [1, 1, 1])
    assert np.allclose(head.W[:, 0], [0.0, 1.0], atol=1e-12)
    assert sorted(head.support[:, 0].tolist()) == [0, 1, 2]
    full = solve_prompt_svm(problem, [1, 1, 1])
    assert np.allclose(full.W[:, 0], [4 / 3, 1 / 3], atol=1e-12)
    assert 0.5 * full.objective**2 == pytest.approx(17 / 18, rel=1e-12)
    relaxed = solve_relaxed_prompt_svm(problem, [1, 1, 1])
    assert np.allclose(relaxed.W, full.W, atol=1e-12)
    assert relaxed.extra["head_support"] == [0, 1, 2]


def test_joint_example_non_tight() -> None:
    """(0.5, 1.5): input 2 has head margin 1.5, so its p-constraint relaxes to >= 0; the relaxed
    optimum is p = (1, 0) with ½||p||² = 0.5 (official log), the full one p = (1.25, 0.25)."""
    problem = joint_example([0.5, 1.5])
    head = solve_head_svm(problem, [1, 1, 1])
    assert sorted(head.support[:, 0].tolist()) == [0, 1]
    relaxed = solve_relaxed_prompt_svm(problem, [1, 1, 1], head=head)
    assert np.allclose(relaxed.W[:, 0], [1.0, 0.0], atol=1e-12)
    assert 0.5 * relaxed.objective**2 == pytest.approx(0.5, rel=1e-12)
    assert relaxed.kkt_residual <= 1e-12
    full = solve_prompt_svm(problem, [1, 1, 1])
    assert np.allclose(full.W[:, 0], [1.25, 0.25], atol=1e-12)
    assert relaxed.objective < full.objective


def test_single_input_local_example() -> None:
    """MMTS ``single_input_converge`` (local variant): W = diag(1,1,0), v = (0,0,1); selecting
    the γ = 0.9 token gives p^mm = (1, 0, 0) with the γ = 0 token as only support token."""
    X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, 0.0]]])
    problem = AttentionProblem(X, [1.0], [0.0, 0.0, 1.0], np.zeros((1, 3)))
    W = np.diag([1.0, 1.0, 0.0])
    sol = solve_prompt_svm(problem, [1], W)
    assert np.allclose(sol.W[:, 0], [1.0, 0.0, 0.0], atol=1e-12)
    assert sol.support.tolist() == [[0, 2]]
    g = problem.scores[0]
    assert g[1] > g[2]  # its support token scores below it: locally optimal
    margins = (prompt_keys(problem, W)[0, 1] - prompt_keys(problem, W)[0]) @ sol.W[:, 0]
    assert margins[0] == pytest.approx(1.1, abs=1e-12)


@st.composite
def prompt_instances(draw):
    n = draw(st.integers(1, 3))
    T = draw(st.integers(2, 4))
    d = draw(st.integers(n * (T - 1), n * (T - 1) + 2))  # generic keys: feasible
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    problem = AttentionProblem(rng.standard_normal((n, T, d)), rng.choice([-1.0, 1.0], n),
                               rng.standard_normal(d), np.zeros((n, d)))
    W = None if draw(st.booleans()) else rng.standard_normal((d, d))
    alpha = rng.integers(0, T, n)
    return problem, W, alpha


@given(prompt_instances())
@settings(max_examples=20)
def test_p_svm_matches_clarabel_and_model_convention(inst) -> None:
    problem, W, alpha = inst
    sol = solve_prompt_svm(problem, alpha, W)
    p = sol.W[:, 0]
    Wm = np.eye(problem.d) if W is None else W
    # the model's logits are x_tᵀ W p: margins of the selected token over the others
    for i in range(problem.n):
        logits = problem.X[i] @ Wm @ p
        others = np.delete(logits, alpha[i])
        assert np.min(logits[alpha[i]] - others) >= 1 - 1e-9
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    ref = solve_vector_svm_cvxpy(prompt_constraints(problem, alpha, W), alpha)
    assert ref.kkt_residual <= 1e-7
    assert np.linalg.norm(p / np.linalg.norm(p) - ref.W[:, 0] / np.linalg.norm(ref.W)) <= 1e-6


@given(prompt_instances())
@settings(max_examples=15)
def test_relaxed_p_svm_is_a_relaxation(inst) -> None:
    problem, W, alpha = inst
    try:
        head = solve_head_svm(problem, alpha)
    except InfeasibleSVM as exc:
        lam = np.asarray(exc.certificate["lambda"])
        combo = sum(lk * problem.Y[i] * problem.X[i, t]
                    for lk, (i, t) in zip(lam, exc.certificate["pairs"], strict=True))
        assert np.linalg.norm(combo) <= 1e-9 * 2
        return
    v = head.W[:, 0]
    margins = problem.Y * np.einsum("id,d->i", problem.X[np.arange(problem.n), alpha], v)
    assert margins.min() >= 1 - 1e-9
    sup = sorted(np.flatnonzero(margins <= 1 + 1e-6).tolist())
    relaxed = solve_relaxed_prompt_svm(problem, alpha, W, head=head)
    full = solve_prompt_svm(problem, alpha, W)
    assert relaxed.extra["head_support"] == sup
    assert relaxed.objective <= full.objective * (1 + 1e-12)
    keys = prompt_keys(problem, W)
    p = relaxed.W[:, 0]
    for i in range(problem.n):
        diffs = keys[i, alpha[i]] - np.delete(keys[i], alpha[i], axis=0)
        assert np.min(diffs @ p) >= (1.0 if i in sup else 0.0) - 1e-9
    ref = solve_vector_svm_cvxpy(relaxed.constraints, alpha)
    assert abs(ref.objective - relaxed.objective) <= 1e-6 * max(ref.objective, 1e-12)


def test_infeasible_p_svm_has_certificate() -> None:
    """Two inputs whose key differences are opposite: no shared p separates both."""
    X = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]]])
    problem = AttentionProblem(X, [1.0, 1.0], [1.0, 0.0], np.zeros((2, 2)))
    with pytest.raises(InfeasibleSVM) as exc:
        solve_prompt_svm(problem, [0, 0])
    cert = exc.value.certificate
    assert cert["lambda"] == pytest.approx([0.5, 0.5], abs=1e-12)
    assert cert["residual"] <= 1e-15


def test_head_svm_infeasible_on_contradicting_labels() -> None:
    X = np.array([[[1.0, 2.0], [0.0, 1.0]], [[1.0, 2.0], [3.0, 1.0]]])
    problem = AttentionProblem(X, [1.0, -1.0], [1.0, 0.0], np.zeros((2, 2)))
    with pytest.raises(InfeasibleSVM) as exc:
        solve_head_svm(problem, [0, 0])
    assert sorted(map(tuple, exc.value.certificate["pairs"])) == [(0, 0), (1, 0)]
    cons = head_constraints(problem, [0, 0])
    assert cons.K == 2 and np.allclose(cons.a[0], -cons.a[1])
