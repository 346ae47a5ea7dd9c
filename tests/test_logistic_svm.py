"""Tests of related.logistic (Soudry et al., arXiv 1710.10345: GD -> hard-margin SVM)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from related_evidence import evidence

from attnsvm.properties import related_checks as rc
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.related import logistic as ls


@st.composite
def separable(draw, max_n: int = 25, max_d: int = 6):
    n = draw(st.integers(2, max_n))
    d = draw(st.integers(1, max_d))
    seed = draw(st.integers(0, 2**32 - 1))
    margin = draw(st.sampled_from([0.0, 0.05, 0.3]))
    return ls.separable_data(n, d, seed, margin=margin)


@settings(max_examples=20)
@given(separable())
def test_svm_certified_and_matches_cvxpy(data):
    X, y = data
    sol = ls.hard_margin_svm(X, y)
    assert sol.certified, sol
    assert np.all(sol.lam >= 0)
    # independent solve (Clarabel at tight tolerances: its defaults leave ~1e-6 primal error on
    # some of these instances), compared on the primal (unique: strictly convex objective)
    w = cp.Variable(X.shape[1])
    cp.Problem(cp.Minimize(cp.sum_squares(w)), [cp.multiply(y, X @ w) >= 1]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    assert np.linalg.norm(w.value - sol.w) <= 1e-7 * max(1.0, np.linalg.norm(sol.w))
    assert np.linalg.norm(sol.w) <= np.linalg.norm(w.value) * (1 + 1e-9)


@given(separable(), st.floats(0.1, 10))
def test_svm_scale_covariance(data, c):
    """Scaling the data by c scales w_hat by 1/c (homogeneity of the constraints)."""
    X, y = data
    a, b = ls.hard_margin_svm(X, y), ls.hard_margin_svm(c * X, y)
    np.testing.assert_allclose(b.w, a.w / c, rtol=1e-7, atol=1e-9 * np.abs(a.w).max() / c)


def test_non_separable_raises_with_gordan_certificate():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    X = np.vstack([X, -X[:1]])  # x and -x with the same label: not separable through 0
    y = np.ones(7)
    with pytest.raises(InfeasibleSVM) as exc:
        ls.hard_margin_svm(X, y)
    lam = np.asarray(exc.value.certificate["lambda"])
    A = y[:, None] * X
    assert np.all(lam >= 0) and abs(lam.sum() - 1) < 1e-12
    assert np.linalg.norm(A.T @ lam) < 1e-8


@pytest.mark.parametrize(
    "X,y,field",
    [(np.ones((3, 2)), np.array([1, -1, 0.5]), "y"), (np.ones((3, 2)), np.ones(2), "y"),
     (np.array([[1.0, np.nan], [1, 1]]), np.ones(2), "X"), (np.ones(3), np.ones(3), "X")],
)
def test_bad_inputs(X, y, field):
    with pytest.raises(ProblemError) as exc:
        ls.hard_margin_svm(X, y)
    assert exc.value.field == field


def test_step_size_range():
    X, y = ls.separable_data(5, 2, 0)
    with pytest.raises(ProblemError) as exc:
        ls.logistic_step_size(X, y, fraction=2.0)
    assert exc.value.field == "fraction"


@given(separable(max_n=12, max_d=4), st.integers(0, 2**32 - 1))
def test_gd_step_matches_autograd(data, seed):
    X, y = data
    w0 = np.random.default_rng(seed).standard_normal(X.shape[1])
    eta = float(ls.logistic_step_size(X, y))
    w1 = ls.logistic_gd(X, y, [1], eta=eta, w0=w0).w[0]
    wt = torch.tensor(w0, requires_grad=True)
    loss = torch.nn.functional.softplus(-torch.tensor(y) * (torch.tensor(X) @ wt)).mean()
    loss.backward()
    np.testing.assert_allclose(w1, w0 - eta * wt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ls.logistic_loss(w0, X, y), float(loss.detach()), rtol=1e-12)


@settings(max_examples=10)
@given(separable(max_n=15, max_d=4))
def test_loss_decreases_monotonically(data):
    """eta = 1/beta: the descent lemma gives L(w_{t+1}) <= L(w_t)."""
    X, y = data
    path = ls.logistic_gd(X, y, range(0, 200))
    assert np.all(np.diff(path.loss) <= 1e-15)


def test_batched_gd_equals_single_runs():
    X, y = ls.separable_data(10, 3, 4, runs=3)
    batch = ls.logistic_gd(X, y, [5, 50])
    for r in range(3):
        single = ls.logistic_gd(X[r], y[r], [5, 50])
        np.testing.assert_allclose(batch.w[r], single.w, rtol=1e-12, atol=1e-14)


def test_soudry_direction_converges_like_one_over_log_t():
    """Theorem 3 of 1710.10345 as a trend: gap shrinks, ||w(t) - w_hat log t|| plateaus,
    normalised margin rises toward the SVM margin (never above it)."""
    e = evidence(rc.check_soudry_trend, {"seed": 0, "n": 30, "d": 5}, runs=8,
                 checkpoints=[100, 1_000, 10_000, 100_000])
    assert e.status == "ok" and e.details["svm_certified"], e
    gap = np.asarray(e.details["direction_gap"])
    assert np.all(gap[:, -1] < gap[:, 0])
    assert np.all(np.asarray(e.details["gap_log_t"]) < 2.0)
    margin = np.asarray(e.details["normalized_margin"])
    assert np.all(margin <= np.asarray(e.details["svm_margin"]) + 1e-12)
    off = np.asarray(e.details["offset_norm"])
    assert np.all(np.diff(off, axis=1)[:, -1] < np.diff(off, axis=1)[:, 0])  # plateauing


def test_direction_gap_bad_input():
    with pytest.raises(ProblemError):
        ls.direction_gap(np.zeros(3), np.ones(3))
