"""Frobenius Att-SVM with more constraints than dimensions (issue 15 §4), scaled down.

Att-SVM (TF-SVM, arXiv 2308.16898, Sec. 2) has K = n(T−1) rows <a_k z_kᵀ, W> >= 1 in the d·d
entries of W, so once K > d² the Gram matrix (A Aᵀ) ∘ (Z Zᵀ) of the dual has rank <= d² < K:
every pivoting block larger than d² + 1 is singular. Scaled down: d = 20 with K = 1200 (the
fast path's regime, support well inside the space) and d = 4 with K = 200 (a support that fills
it); both certified and equal to cvxpy + Clarabel's optimum.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

import attnsvm.reference.svm.frobenius as fro
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm, solve_att_svm_cvxpy


def planted_problem(n: int, T: int, d: int, seed: int) -> tuple[AttentionProblem, np.ndarray]:
    """Random tokens and queries, with α_i the token a random W* scores highest: Att-SVM_α is
    feasible (W* meets every row up to scale) whatever K = n(T−1) is against d²."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Z = rng.standard_normal((n, d))
    W_star = rng.standard_normal((d, d))
    alpha = np.argmax(np.einsum("itd,de,ie->it", X, W_star, Z), axis=1)
    problem = AttentionProblem(X, np.ones(n), rng.standard_normal(d), Z)
    return problem, alpha


def solve_recording_blocks(monkeypatch, problem, alpha):
    """solve_att_svm, with the size of every Cholesky factor the solver takes recorded."""
    sizes: list[int] = []
    real = sla.cho_factor

    def recording(A, *args, **kwargs):
        sizes.append(int(A.shape[0]))
        return real(A, *args, **kwargs)

    monkeypatch.setattr(fro.sla, "cho_factor", recording)
    return solve_att_svm(problem, alpha), sizes


def test_more_rows_than_entries_stays_on_the_fast_path(monkeypatch) -> None:
    """Paper data, d = 20, K = 1200 > d² = 400 (support ~225): block pivoting certifies it with
    every block within rank(H) <= 401 and no K x K Gram matrix (on the full Gram matrix its
    first block already had 480 rows, singular, and Lawson–Hanson had to take over)."""
    problem = make_problem("paper", 60, 21, 20, 0)
    alpha = np.argmax(problem.scores, axis=1)
    grams: list[int] = []
    real_gram = fro.MarginConstraints.gram

    def recording_gram(self):
        grams.append(self.K)
        return real_gram(self)

    monkeypatch.setattr(fro.MarginConstraints, "gram", recording_gram)
    sol, sizes = solve_recording_blocks(monkeypatch, problem, alpha)
    assert sol.constraints.K == 1200
    assert sol.method == "dual-nnls/bpp" and "fallbacks" not in sol.extra
    assert sizes and max(sizes) <= 401 and max(grams) <= 401
    assert sol.min_margin >= 1 - 1e-9
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    # an independent algorithm (Clarabel takes ~30 s here): Lawson–Hanson on the explicit rows
    u = fro._lawson_hanson(sol.constraints)
    W_lh = sol.constraints.combine(u / (1.0 - float(sol.constraints.rhs @ u)))
    assert np.linalg.norm(sol.W - W_lh) <= 1e-8 * sol.objective


def test_support_that_fills_the_space_is_certified() -> None:
    """d = 4, K = 200, twenty rows per query in a 4-dimensional token space: the passive sets
    reach rank(H) <= 17, pivoting hands over to Lawson–Hanson (rank-revealing), and the answer
    is certified and Clarabel's."""
    problem, alpha = planted_problem(10, 21, 4, 0)
    sol = solve_att_svm(problem, alpha)
    assert sol.constraints.K == 200
    assert sol.min_margin >= 1 - 1e-9
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    assert len(sol.support) <= 17
    ref = solve_att_svm_cvxpy(problem, alpha, "fro")
    assert ref.kkt_residual < 1e-7
    assert abs(sol.objective - ref.objective) <= 1e-8 * ref.objective
    assert np.linalg.norm(sol.W - ref.W) <= 1e-6 * ref.objective


@settings(max_examples=6, deadline=None)
@given(d=st.integers(2, 4), n=st.integers(4, 10), T=st.integers(4, 8),
       seed=st.integers(0, 2**31 - 1))
def test_more_rows_than_dimensions_matches_clarabel(d, n, T, seed) -> None:
    """K = n(T−1) > d² rows: certified, and Clarabel's optimum to 1e-8."""
    problem, alpha = planted_problem(n, T, d, seed)
    assert margin_constraints(problem, alpha).K > d * d
    sol = solve_att_svm(problem, alpha)
    assert sol.kkt_residual <= 1e-6 and sol.duality_gap <= 1e-6
    assert sol.min_margin >= 1 - 1e-9
    ref = solve_att_svm_cvxpy(problem, alpha, "fro")
    assert ref.kkt_residual < 1e-7
    assert abs(sol.objective - ref.objective) <= 1e-8 * ref.objective
