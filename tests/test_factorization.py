"""The (K, Q) factorization (reference.attention.factorization): the balancedness invariant and
its O(eta) GD drift, diagonal factors, the certified l1 (diagonal nuclear-norm) SVM against
cvxpy, re-factorization costs, and the kq-conservation derivation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention import factorization as fz
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.gradients import grad_W
from attnsvm.reference.attention.models import LinearHead
from attnsvm.reference.attention.training import uniform_init
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.constraints import MarginConstraints, margin_constraints
from attnsvm.reference.svm.kq import balanced_factors
from attnsvm.reference.svm.selection import optimal_tokens


@pytest.fixture(scope="module")
def problem():
    return make_problem("paper", 4, 4, 4, 1)


def test_drift_is_first_order_in_eta(problem) -> None:
    p = problem
    K0, Q0 = uniform_init((1, 4, 2), 0, 0.5), uniform_init((1, 4, 2), 1, 0.5)
    D0 = fz.balance_defect(K0, Q0)
    etas = np.array([0.1, 0.05, 0.025])
    drift = [np.linalg.norm(fz.balance_defect(*_kq(fz.train_kq_flow(
        p.X, p.Y, p.Z, p.v, K0, Q0, steps=int(round(1.0 / e)), lr=e, loss="logistic"))) - D0)
        for e in etas]
    slope = np.polyfit(np.log(etas), np.log(drift), 1)[0]
    assert abs(slope - 1.0) < 0.05, (slope, drift)


def _kq(run: fz.FlowResult) -> tuple[np.ndarray, np.ndarray]:
    return run.K, run.Q


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), m=st.integers(1, 4), eta=st.floats(0.01, 1.0))
def test_one_step_increment_is_exact(seed, m, eta) -> None:
    p = make_problem("paper", 3, 3, 4, seed % 1000)
    K0, Q0 = uniform_init((1, 4, m), seed), uniform_init((1, 4, m), seed + 1)
    G, _ = grad_W(p.X, p.Y, K0[0] @ Q0[0].T, p.Z, LinearHead(p.v), "logistic")
    run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, K0, Q0, steps=1, lr=eta, loss="logistic")
    step = fz.balance_defect(run.K[0], run.Q[0]) - fz.balance_defect(K0[0], Q0[0])
    pred = fz.gd_balance_increment(K0[0], Q0[0], G, eta)
    floor = 1e-15 * (np.abs(K0[0].T @ K0[0]).max() + np.abs(Q0[0].T @ Q0[0]).max())
    assert np.abs(step - pred).max() <= 1e-9 * max(np.abs(pred).max(), floor)


def test_diagonal_mode_is_gd_on_the_diagonals(problem) -> None:
    p = problem
    k, q = np.array([0.3, -0.2, 0.5, 0.1]), np.array([0.2, 0.4, -0.1, 0.3])
    run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, np.diag(k)[None], np.diag(q)[None], steps=1,
                           lr=0.2, diagonal=True)
    G, _ = grad_W(p.X, p.Y, np.diag(k * q), p.Z, LinearHead(p.v), "exponential")
    g = np.diagonal(G)
    np.testing.assert_allclose(np.diagonal(run.K[0]), k - 0.2 * g * q, atol=1e-14)
    np.testing.assert_allclose(np.diagonal(run.Q[0]), q - 0.2 * g * k, atol=1e-14)
    assert np.count_nonzero(run.K[0] - np.diag(np.diagonal(run.K[0]))) == 0
    with pytest.raises(ProblemError, match="K0"):
        fz.train_kq_flow(p.X, p.Y, p.Z, p.v, np.ones((1, 4, 4)), np.eye(4)[None], steps=1,
                         lr=0.1, diagonal=True)


def test_balanced_diagonal_flow_keeps_its_orthant(problem) -> None:
    """k_j = +-q_j is invariant (symbolic check 'diagonal factors keep their orthant')."""
    p = problem
    sign = np.array([1.0, -1.0, 1.0, -1.0])
    run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, 0.1 * np.eye(4)[None],
                           (0.1 * np.diag(sign))[None], steps=300, lr=0.05, normalized=True,
                           diagonal=True)
    w = np.diagonal(run.W[0])
    assert np.all(w * sign >= 0)
    np.testing.assert_allclose(np.diagonal(run.Q[0]), sign * np.diagonal(run.K[0]), atol=1e-12)


@settings(max_examples=2, deadline=None)
@given(seed=st.integers(0, 1000), n=st.integers(2, 4), d=st.integers(3, 6))
def test_diagonal_svm_matches_cvxpy(seed, n, d) -> None:
    import cvxpy as cp

    p = make_problem("paper", n, 3, d, seed)
    cons = margin_constraints(p, optimal_tokens(p).tokens)
    C = cons.a * cons.z
    w = cp.Variable(d)
    prob = cp.Problem(cp.Minimize(cp.norm1(w)), [C @ w >= 1])
    prob.solve(solver="CLARABEL")
    try:
        sol = fz.solve_diagonal_nuclear_svm(cons)
    except InfeasibleSVM:
        assert prob.status == "infeasible"
        return
    assert sol.min_margin >= 1 - 1e-9 and sol.duality_gap <= 1e-7
    assert abs(sol.objective - prob.value) <= 1e-6 * prob.value
    w2 = fz.solve_diagonal_frobenius_svm(cons)
    assert np.linalg.norm(w2) <= np.linalg.norm(sol.w) + 1e-9
    assert np.abs(w2).sum() >= sol.objective - 1e-7 * sol.objective


def test_diagonal_svm_infeasible_has_a_certificate() -> None:
    a = np.array([[1.0, 0.0], [-1.0, 0.0]])
    cons = MarginConstraints(a=a, z=np.ones((2, 2)), pairs=np.zeros((2, 2), int),
                             rhs=np.ones(2))
    with pytest.raises(InfeasibleSVM):
        fz.solve_diagonal_nuclear_svm(cons)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), d=st.integers(2, 6), m=st.integers(2, 6),
       sigma=st.floats(0.01, 2.0))
def test_refactorizations_cost_more(seed, d, m, sigma) -> None:
    rng = np.random.default_rng(seed)
    r = int(rng.integers(1, min(d, m) + 1))
    W = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    K, Q = balanced_factors(W, m)
    nuc = np.linalg.svd(W, compute_uv=False).sum()
    base = float(fz.factorization_cost(K, Q))
    assert abs(base - nuc) <= 1e-10 * nuc
    R = np.eye(m) + sigma * rng.standard_normal((20, m, m))
    costs = fz.refactorization_cost(K[None], Q[None], R)
    assert np.all(costs >= base * (1 - 1e-12))
    np.testing.assert_allclose((K @ R) @ np.swapaxes(Q @ np.swapaxes(np.linalg.inv(R), -1, -2),
                                                     -1, -2), np.broadcast_to(W, R.shape[:1]
                                                                              + W.shape),
                               atol=1e-8 * np.abs(W).max())


def test_symbolic_predicates_agree_with_reference() -> None:
    from attnsvm.symbolic.registry import get

    pred = get("kq-conservation").predicates
    rng = np.random.default_rng(0)
    K, Q, G = rng.standard_normal((3, 2)), rng.standard_normal((2, 2)), rng.standard_normal((3, 2))
    np.testing.assert_allclose(pred["gd_balance_increment"](K, Q, G, 0.3),
                               fz.gd_balance_increment(K, Q, G, 0.3), atol=1e-13)
    assert np.abs(pred["flow_balance_rate"](K, Q, G)).max() <= 1e-14


def test_kq_conservation_derivation_verifies_and_renders() -> None:
    from attnsvm.symbolic.registry import get, names

    d = get("kq-conservation")
    assert "kq-conservation" in names()
    result = d.verify()
    assert result.holds, [(c.name, c.detail) for c in result.checks if not c.holds]
    assert len(result.checks) >= 4
    assert len(d.labelled_statement()) >= 3 and "K^\\top K - Q^\\top Q" in d.latex()
