"""symbolic/: every derivation verifies, renders, and its numeric predicates agree with plain
numpy computations written here independently (finite differences, brute force, cvxpy).

Papers: TF-SVM arXiv 2308.16898, MMTS arXiv 2306.13596, FWP arXiv 2102.11174, MBR/REINFORCE
(arXiv 1706.02776). The symbolic layer must not import reference/ (DESIGN.md, "Layout").
"""

from __future__ import annotations

import subprocess
import sys
from functools import cache

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.symbolic import (
    att_svm_dual,
    descent_condition,
    feasibility,
    fwp_linear_attention,
    gradients,
    normalized_gd,
    policy_gradient_mbr,
    representer,
    softmax_saturation,
    variational_nuclear_norm,
)
from attnsvm.symbolic.core import (
    Derivation,
    is_identically_zero,
    nonnegative_check,
    plain,
)
from attnsvm.symbolic.registry import DERIVATIONS, get, names

EXPECTED = {
    "att-svm-dual", "representer", "gradient", "softmax-saturation", "descent-condition",
    "variational-nuclear-norm", "feasibility", "normalized-gd", "fwp-linear-attention",
    "policy-gradient-mbr", "hopfield-energy", "icl-gd", "attention-limits", "graph-svm-kkt",
    "satt-svm-dual", "kq-conservation", "lp-svm-dual", "mirror-descent",
}


@cache
def verified(name: str):
    return get(name).verify()


# ============================================================================ registry + proofs


def test_registry_has_the_ten_derivations_in_order() -> None:
    assert EXPECTED <= set(DERIVATIONS)
    assert names() == list(DERIVATIONS)
    with pytest.raises(KeyError, match="unknown derivation"):
        get("no-such-derivation")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_derivation_verifies(name: str) -> None:
    result = verified(name)
    failing = [(c.name, c.detail) for c in result.checks if not c.holds]
    assert result.holds, failing
    assert len(result.checks) >= 3
    assert result.seconds < 30, f"{name} took {result.seconds:.1f} s"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_statement_and_latex_render(name: str) -> None:
    d = get(name)
    items = d.labelled_statement()
    assert len(items) >= 3
    assert all(isinstance(expr, sp.Basic) for expr in d.statement())
    tex = d.latex()
    assert tex.count("\n") == len(items) - 1
    # an evaluated (not displayed) relation would print as a bare boolean
    for (_, expr), line in zip(items, tex.splitlines(), strict=True):
        assert not isinstance(expr, sp.logic.boolalg.BooleanAtom), line
        assert "\\text{True}" not in line and "\\text{False}" not in line
        assert plain(expr) not in ("True", "False")
    assert d.source and d.title and d.summary
    assert d.predicates and all(callable(f) for f in d.predicates.values())


def test_symbolic_does_not_import_reference() -> None:
    code = ("import sys; import attnsvm.symbolic.registry; "
            "bad = [m for m in sys.modules if m == 'reference' or m.startswith('reference.')]; "
            "sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


# ------------------------------------------------------------------ the proof tools can fail


def test_zero_test_and_sign_certificate_reject_false_claims() -> None:
    x, q = sp.symbols("x q", positive=True)
    assert not is_identically_zero(x - x + 1)
    assert not is_identically_zero(sp.Matrix([0, x**2 - x]))
    assert is_identically_zero((x**2 - 1) / (x - 1) - x - 1)
    assert not nonnegative_check(q - 1, [q], "q - 1")[0]
    assert not nonnegative_check(q**2 - 2 * q + 1, [q], "(q-1)^2 has no one-sign certificate")[0]
    assert nonnegative_check(q / (1 + q), [q], "q/(1+q)")[0]


def test_gradient_check_rejects_a_wrong_closed_form() -> None:
    def without_outer_term(X, v, z, s):  # diag(s) X v only: forgets - s s^T
        from sympy.matrices.expressions.hadamard import hadamard_product
        return X.T * hadamard_product(s, X * v) * z.T

    def transposed(X, v, z, s):
        return gradients.attention_gradient_term(X, v, z, s).T

    assert not gradients.check_grad_W(term=without_outer_term, n=1, T=2, d=2)[0]
    assert not gradients.check_grad_W(term=transposed, n=1, T=2, d=2)[0]
    assert gradients.check_grad_W(n=1, T=2, d=2)[0]


def test_failing_or_crashing_check_makes_the_derivation_fail() -> None:
    def boom() -> tuple[bool, str]:
        raise ZeroDivisionError("nope")

    d = Derivation("demo", "t", "s", "u", lambda: [("x", sp.Symbol("x"))],
                   (("fine", lambda: (True, "ok")), ("wrong", lambda: (False, "no")),
                    ("crash", boom)))
    r = d.verify()
    assert not r.holds
    assert [c.holds for c in r.checks] == [True, False, False]
    assert "ZeroDivisionError" in r.checks[2].detail
    assert not Derivation("empty", "t", "s", "u", lambda: [], ()).verify().holds


# ============================================================================ numeric helpers


def rng_for(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def np_softmax(u: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(u - u.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_loss(u: np.ndarray, loss: str) -> np.ndarray:
    if loss == "logistic":
        return np.logaddexp(0.0, -u)
    if loss == "exponential":
        return np.exp(-u)
    return -u


def np_risk(X, Y, v, Z, W, loss):
    logits = np.einsum("ntd,de,ne->nt", X, W, Z)
    f = np.einsum("nt,ntd,d->n", np_softmax(logits), X, v)
    return float(np.mean(np_loss(Y * f, loss)))


def np_risk_prompt(X, Y, v, W, p, loss):
    logits = np.einsum("ntd,de,e->nt", X, W, p)
    f = np.einsum("nt,ntd,d->n", np_softmax(logits), X, v)
    return float(np.mean(np_loss(Y * f, loss)))


def central_diff(fn, x: np.ndarray, h: float = 1e-6) -> np.ndarray:
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (fn(xp) - fn(xm)) / (2 * h)
    return g


@st.composite
def attention_data(draw, max_d: int = 3):
    n, T, d = draw(st.integers(1, 3)), draw(st.integers(2, 4)), draw(st.integers(1, max_d))
    r = rng_for(draw(st.integers(0, 2**32 - 1)))
    X = r.normal(size=(n, T, d))
    Y = r.choice([-1.0, 1.0], size=n)
    v = r.normal(size=d)
    Z = r.normal(size=(n, d))
    W = r.normal(size=(d, d))
    loss = draw(st.sampled_from(gradients.LOSS_NAMES))
    return X, Y, v, Z, W, loss


# ============================================================================ gradient


@given(attention_data())
@settings(max_examples=15)
def test_grad_W_matches_finite_differences(data) -> None:
    X, Y, v, Z, W, loss = data
    g = gradients.grad_W(X, Y, v, Z, W, loss)
    fd = central_diff(lambda M: np_risk(X, Y, v, Z, M, loss), W)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


@given(attention_data(), st.integers(1, 3), st.integers(0, 2**32 - 1))
@settings(max_examples=10)
def test_grad_KQ_matches_finite_differences(data, m, seed) -> None:
    X, Y, v, Z, _, loss = data
    d = X.shape[2]
    r = rng_for(seed)
    K, Q = r.normal(size=(d, m)), r.normal(size=(d, m))
    gK, gQ = gradients.grad_KQ(X, Y, v, Z, K, Q, loss)
    fdK = central_diff(lambda A: np_risk(X, Y, v, Z, A @ Q.T, loss), K)
    fdQ = central_diff(lambda B: np_risk(X, Y, v, Z, K @ B.T, loss), Q)
    np.testing.assert_allclose(gK, fdK, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(gQ, fdQ, rtol=1e-5, atol=1e-7)


@given(attention_data(), st.integers(0, 2**32 - 1))
@settings(max_examples=10)
def test_grad_p_matches_finite_differences(data, seed) -> None:
    X, Y, v, _, W, loss = data
    p = rng_for(seed).normal(size=W.shape[1])
    g = gradients.grad_p(X, Y, v, W, p, loss)
    fd = central_diff(lambda q: np_risk_prompt(X, Y, v, W, q, loss), p)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_loss_derivative_is_finite_and_correct_at_extremes() -> None:
    u = np.array([-800.0, -30.0, -1.0, 0.0, 2.5, 40.0, 800.0])
    for loss in gradients.LOSS_NAMES:
        got = gradients.loss_derivative(u, loss)
        assert got.shape == u.shape
        mid = np.abs(u) < 50
        fd = (np_loss(u[mid] + 1e-6, loss) - np_loss(u[mid] - 1e-6, loss)) / 2e-6
        np.testing.assert_allclose(got[mid], fd, rtol=1e-6, atol=1e-9)
        if loss != "exponential":
            assert np.all(np.isfinite(got))
    lg = gradients.loss_derivative(u, "logistic")
    assert lg[0] == -1.0 and lg[-1] == 0.0
    with pytest.raises(ValueError):
        gradients.loss_derivative(u, "hinge")


def test_gradient_row_space_lies_in_span_of_queries() -> None:
    r = rng_for(3)
    X, Y, v = r.normal(size=(2, 4, 5)), np.array([1.0, -1.0]), r.normal(size=5)
    Z, W = r.normal(size=(2, 5)), r.normal(size=(5, 5))
    g = gradients.grad_W(X, Y, v, Z, W)
    assert representer.row_space_residual(g, Z) < 1e-12
    assert representer.relative_rank(g)[0] <= 2


# ============================================================================ saturation


@given(st.integers(2, 40), st.floats(0.01, 30.0), st.integers(0, 2**32 - 1))
def test_saturation_bounds_sandwich_the_mass(T, c, seed) -> None:
    u = rng_for(seed).normal(scale=3.0, size=T)
    mass = softmax_saturation.nonselected_mass(u, c)
    # independent: 1 - max softmax in float64 (fine while the mass is not tiny)
    direct = 1.0 - np_softmax(c * u).max()
    if direct > 1e-6:
        assert mass == pytest.approx(direct, rel=1e-8)
    gap = softmax_saturation.score_gap(u)
    assert gap == pytest.approx(np.sort(u)[-1] - np.sort(u)[-2])
    lo = softmax_saturation.saturation_lower_bound(gap, T, c)
    weak = softmax_saturation.saturation_weak_lower_bound(gap, T, c)
    tight = softmax_saturation.saturation_tight_upper_bound(gap, T, c)
    up = softmax_saturation.saturation_upper_bound(gap, T, c)
    tol = 1e-12 * max(mass, 1e-300)
    assert weak <= lo + tol
    assert lo <= mass + tol
    assert mass <= tight + tol
    assert tight <= up + tol


@given(st.integers(2, 30), st.floats(0.0, 20.0), st.floats(0.1, 5.0))
def test_saturation_bounds_are_attained(T, gap, c) -> None:
    ties = np.r_[gap, np.zeros(T - 1)]
    m_ties = softmax_saturation.nonselected_mass(ties, c)
    assert m_ties == pytest.approx(softmax_saturation.saturation_tight_upper_bound(gap, T, c),
                                   rel=1e-10)
    lonely = np.r_[gap, 0.0, np.full(T - 2, -1e6)]
    assert softmax_saturation.nonselected_mass(lonely, c) == pytest.approx(
        softmax_saturation.saturation_lower_bound(gap, T, c), rel=1e-10)


def test_svm_ray_bound_holds_along_the_max_margin_ray() -> None:
    r = rng_for(11)
    n, T, d = 2, 3, 3
    X, Z = r.normal(size=(n, T, d)), r.normal(size=(n, d))
    v, Y = r.normal(size=d), np.array([1.0, -1.0])
    opt = np.argmax(Y[:, None] * (X @ v), axis=1)
    A, Zk, _ = att_svm_dual.constraint_vectors(X, Z, opt)
    Wmm, _ = att_svm_dual.active_set_svm(A, Zk)
    N = np.linalg.norm(Wmm)
    for R in (0.5, 2.0, 8.0, 30.0):
        W = R * Wmm / N
        u = np.einsum("ntd,de,ne->nt", X, W, Z)
        # 1 - s_opt without cancellation: S / (1 + S), S = sum_{t != opt} e^{u_t - u_opt}
        others = np.arange(T)[None, :] != opt[:, None]
        S = np.where(others, np.exp(u - u[np.arange(n), opt][:, None]), 0.0).sum(axis=1)
        mass = S / (1.0 + S)
        assert np.all(mass <= softmax_saturation.svm_ray_mass_bound(R, N, T) * (1 + 1e-12))


# ====================================================================== Att-SVM dual, representer


def np_margins(A, Zk, W):
    return np.einsum("kd,de,ke->k", A, W, Zk)


@st.composite
def svm_instances(draw):
    n, T = draw(st.integers(1, 2)), draw(st.integers(2, 4))
    d = draw(st.integers(max(T - 1, n), 3))
    r = rng_for(draw(st.integers(0, 2**32 - 1)))
    X, Z = r.normal(size=(n, T, d)), r.normal(size=(n, d))
    alpha = r.integers(0, T, size=n)
    return X, Z, alpha


@given(svm_instances())
@settings(max_examples=15)
def test_active_set_svm_matches_cvxpy_and_kkt(inst) -> None:
    import cvxpy as cp

    X, Z, alpha = inst
    A, Zk, pairs = att_svm_dual.constraint_vectors(X, Z, alpha)
    assert pairs.shape == (A.shape[0], 2)
    found = att_svm_dual.active_set_svm(A, Zk)
    assert found is not None  # d >= max(T-1, n), generic data: feasible for every alpha
    W, lam = found
    Wc = cp.Variable((X.shape[2], X.shape[2]))
    cons = [A[k] @ Wc @ Zk[k] >= 1 for k in range(A.shape[0])]
    cp.Problem(cp.Minimize(cp.sum_squares(Wc)), cons).solve(solver=cp.CLARABEL)
    np.testing.assert_allclose(W, Wc.value, atol=1e-5 * max(1.0, np.linalg.norm(W)))
    res = att_svm_dual.kkt_residuals(W, lam, A, Zk)
    assert max(res.values()) < 1e-8 * max(1.0, np.linalg.norm(W))
    G = att_svm_dual.constraint_gram(A, Zk)
    np.testing.assert_allclose(G, np.array([[np.sum(np.outer(a, z) * np.outer(b, w))
                                             for b, w in zip(A, Zk, strict=True)]
                                            for a, z in zip(A, Zk, strict=True)]), atol=1e-12)
    # strong duality and ||W^mm||^2 = sum lam
    assert att_svm_dual.dual_objective(lam, G) == pytest.approx(0.5 * np.sum(W**2), rel=1e-8)
    assert np.sum(W**2) == pytest.approx(np.sum(lam), rel=1e-8)
    # representer consequences
    assert representer.row_space_residual(W, Z) < 1e-10
    assert representer.relative_rank(W)[0] <= representer.rank_bound(Z) <= X.shape[0]


def test_active_set_svm_reports_infeasible_d1() -> None:
    X = np.array([[[2.0], [0.0]], [[0.0], [1.0]]])
    Z = np.ones((2, 1))
    A, Zk, _ = att_svm_dual.constraint_vectors(X, Z, [0, 0])
    assert att_svm_dual.active_set_svm(A, Zk) is None


def test_primal_from_dual_is_the_sum_of_rank_one_terms() -> None:
    r = rng_for(5)
    A, Zk, lam = r.normal(size=(4, 3)), r.normal(size=(4, 3)), r.random(4)
    expected = sum(lam[k] * np.outer(A[k], Zk[k]) for k in range(4))
    np.testing.assert_allclose(att_svm_dual.primal_from_dual(A, Zk, lam), expected, atol=1e-12)


def test_row_space_residual_detects_components_outside_the_span() -> None:
    r = rng_for(8)
    Z = r.normal(size=(2, 4))
    W_in = r.normal(size=(4, 2)) @ Z
    assert representer.row_space_residual(W_in, Z) < 1e-12
    assert representer.row_space_residual(r.normal(size=(4, 4)), Z) > 0.1
    k, sv = representer.relative_rank(W_in)
    assert k == 2 and sv.shape == (4,)


# ============================================================================ descent condition


def equal_score_problem(seed: int, n: int = 2, T: int = 4, d: int = 4):
    """Tokens whose non-optimal scores all equal gamma_opt - delta_i (built, not filtered)."""
    r = rng_for(seed)
    v = r.normal(size=d)
    v /= np.linalg.norm(v)
    X = r.normal(size=(n, T, d))
    Y = r.choice([-1.0, 1.0], size=n)
    opt = r.integers(0, T, size=n)
    for i in range(n):
        X[i] -= np.outer(X[i] @ v, v)  # scores 0 ...
        X[i, opt[i]] += Y[i] * (0.5 + r.random()) * v  # ... except a strictly better opt
    Z = r.normal(size=(n, d))
    return X, Y, v, Z, opt


@given(st.integers(0, 2**32 - 1), st.sampled_from(gradients.LOSS_NAMES))
@settings(max_examples=15)
def test_descent_inner_product_positive_under_equal_scores(seed, loss) -> None:
    X, Y, v, Z, opt = equal_score_problem(seed)
    assert descent_condition.equal_nonoptimal_scores(X, Y, v)
    A, Zk, _ = att_svm_dual.constraint_vectors(X, Z, opt)
    Wmm, _ = att_svm_dual.active_set_svm(A, Zk)
    W = rng_for(seed + 1).normal(scale=2.0, size=Wmm.shape)
    ip = descent_condition.descent_inner_product(X, Y, v, Z, W, Wmm, loss)
    # independent: -<grad L(W), W^mm> with the gradient by finite differences
    fd = central_diff(lambda M: np_risk(X, Y, v, Z, M, loss), W)
    assert ip == pytest.approx(-np.sum(fd * Wmm), rel=1e-5, abs=1e-9)
    lb = descent_condition.descent_lower_bound(X, Y, v, Z, W, loss)
    assert lb > 0
    assert ip >= lb * (1 - 1e-9)


def test_descent_counterexample_without_the_condition_is_negative() -> None:
    ce = descent_condition.COUNTEREXAMPLE
    X = np.array(ce["X"], dtype=float)[None]
    v = np.array([float(x) for x in ce["v"]])
    Z = np.array([ce["z"]], dtype=float)
    W = np.array([[float(x) for x in row] for row in ce["W"]])
    Wmm = np.array([[-1.0, 0.0], [0.0, 0.0]])
    Y = np.array([1.0])
    assert not descent_condition.equal_nonoptimal_scores(X, Y, v)
    for loss in gradients.LOSS_NAMES:
        ip = descent_condition.descent_inner_product(X, Y, v, Z, W, Wmm, loss)
        fd = central_diff(lambda M, loss=loss: np_risk(X, Y, v, Z, M, loss), W)
        assert ip == pytest.approx(-np.sum(fd * Wmm), rel=1e-5)
        assert ip < 0


def test_equal_nonoptimal_scores_rejects_ties_and_unequal_scores() -> None:
    v = np.array([1.0, 0.0])
    base = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]])
    assert descent_condition.equal_nonoptimal_scores(base, np.array([1.0]), v)
    tie = base.copy()
    tie[0, 1, 0] = 1.0
    assert not descent_condition.equal_nonoptimal_scores(tie, np.array([1.0]), v)
    unequal = base.copy()
    unequal[0, 2, 0] = -0.5
    assert not descent_condition.equal_nonoptimal_scores(unequal, np.array([1.0]), v)


def test_weighted_covariance_matches_numpy() -> None:
    r = rng_for(2)
    s = r.random(5)
    s /= s.sum()
    g, h = r.normal(size=5), r.normal(size=5)
    expected = np.sum(s * (g - s @ g) * (h - s @ h))
    assert descent_condition.weighted_covariance(s, g, h) == pytest.approx(expected, rel=1e-12)


# ============================================================================ nuclear norm


@given(st.integers(0, 2**32 - 1), st.integers(1, 4), st.integers(1, 4))
def test_variational_nuclear_norm_matches_svd_and_beats_other_splits(seed, d1, d2) -> None:
    r = rng_for(seed)
    W = r.normal(size=(d1, d2))
    nuc = np.linalg.norm(W, "nuc")
    assert variational_nuclear_norm.variational_nuclear_norm(W) == pytest.approx(nuc, rel=1e-10)
    K, Q = variational_nuclear_norm.balanced_factors(W)
    np.testing.assert_allclose(K @ Q.T, W, atol=1e-12)
    G = r.normal(size=(K.shape[1], K.shape[1])) + 2 * np.eye(K.shape[1])
    cost = variational_nuclear_norm.factorization_cost(K @ G, Q @ np.linalg.inv(G).T)
    assert cost >= nuc * (1 - 1e-10)
    assert cost == pytest.approx(0.5 * (np.sum((K @ G) ** 2)
                                        + np.sum((Q @ np.linalg.inv(G).T) ** 2)), rel=1e-12)


@given(st.integers(0, 2**32 - 1))
def test_nuclear_norm_2x2_closed_form(seed) -> None:
    W = rng_for(seed).normal(size=(2, 2))
    assert variational_nuclear_norm.nuclear_norm_2x2(W) == pytest.approx(
        np.linalg.norm(W, "nuc"), rel=1e-10)
    with pytest.raises(ValueError):
        variational_nuclear_norm.nuclear_norm_2x2(np.eye(3))


# ============================================================================ feasibility


@st.composite
def d1_instances(draw):
    n, T = draw(st.integers(1, 3)), draw(st.integers(2, 4))
    r = rng_for(draw(st.integers(0, 2**32 - 1)))
    X = r.integers(-3, 4, size=(n, T, 1)).astype(float)
    Z = r.integers(-2, 3, size=(n, 1)).astype(float)
    return X, Z, r.integers(0, T, size=n)


@given(d1_instances())
@settings(max_examples=40)
def test_d1_feasibility_matches_linprog(inst) -> None:
    from scipy.optimize import linprog

    X, Z, alpha = inst
    b = feasibility.d1_scalars(X, Z, alpha)
    expected_b = [(X[i, alpha[i], 0] - X[i, t, 0]) * Z[i, 0]
                  for i in range(X.shape[0]) for t in range(X.shape[1]) if t != alpha[i]]
    np.testing.assert_array_equal(b, expected_b)
    lp = linprog(c=[0.0], A_ub=-b[:, None], b_ub=-np.ones(b.size), bounds=[(None, None)],
                 method="highs")
    feasible = feasibility.feasible_d1(X, Z, alpha)
    assert feasible == (lp.status == 0)
    cert = feasibility.d1_certificate(X, Z, alpha)
    w = feasibility.d1_min_norm(X, Z, alpha)
    if feasible:
        assert cert is None and w is not None
        assert np.all(b * w >= 1 - 1e-12) and np.min(b * w) == pytest.approx(1.0)
        lp_min = linprog(c=[1.0] if w > 0 else [-1.0], A_ub=-b[:, None], b_ub=-np.ones(b.size),
                         bounds=[(None, None)], method="highs")
        assert abs(w) == pytest.approx(abs(lp_min.x[0]), rel=1e-9)
    else:
        assert w is None and cert is not None
        assert np.all(cert >= 0) and cert.sum() == pytest.approx(1.0)
        assert abs(cert @ b) < 1e-12
        assert feasibility.certificate_residual(X, Z, alpha, cert) < 1e-12


@given(st.integers(1, 3), st.integers(2, 4), st.integers(0, 2), st.integers(0, 2**32 - 1))
@settings(max_examples=20)
def test_overparameterised_constraints_are_independent_for_every_alpha(n, T, extra, seed) -> None:
    d = max(T - 1, n) + extra
    r = rng_for(seed)
    X, Z = r.normal(size=(n, T, d)), r.normal(size=(n, d))
    for _ in range(3):
        alpha = r.integers(0, T, size=n)
        assert feasibility.constraints_independent(X, Z, alpha)
        W = feasibility.independence_witness(X, Z, alpha)
        A, Zk, _ = att_svm_dual.constraint_vectors(X, Z, alpha)
        np.testing.assert_allclose(np_margins(A, Zk, W), 1.0, atol=1e-8)


def test_dependent_constraints_are_detected() -> None:
    # repeated token: a_k = 0 for one constraint
    X = np.array([[[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]])
    assert not feasibility.constraints_independent(X, np.array([[1.0, 1.0]]), [0])
    with pytest.raises(ValueError):
        feasibility.certificate_residual(X, np.array([[1.0, 1.0]]), [0], [-1.0, 0.0])


# ============================================================================ normalized GD


@given(st.integers(1, 30), st.floats(1e-3, 1.0), st.integers(0, 2**32 - 1),
       st.sampled_from([0.0, 1e-9, 0.3]))
def test_normalized_gd_displacement_bound(k, eta, seed, eps) -> None:
    r = rng_for(seed)
    W0 = r.normal(size=(3, 3))
    W = W0.copy()
    for _ in range(k):
        G = r.normal(size=(3, 3)) * r.choice([1e-6, 1.0, 1e3])
        step = normalized_gd.ngd_step(W, G, eta, eps)
        assert np.linalg.norm(step - W) == pytest.approx(
            eta * np.linalg.norm(G) / (np.linalg.norm(G) + eps), rel=1e-10)
        W = step
    assert np.linalg.norm(W - W0) <= normalized_gd.ngd_displacement_bound(k, eta) * (1 + 1e-12)
    assert np.linalg.norm(W) <= normalized_gd.ngd_norm_bound(np.linalg.norm(W0), k, eta) * (
        1 + 1e-12)


def test_normalized_gd_bound_is_attained_for_aligned_gradients() -> None:
    G = rng_for(1).normal(size=(2, 2))
    W = np.zeros((2, 2))
    for _ in range(7):
        W = normalized_gd.ngd_step(W, G, 0.1)
    assert np.linalg.norm(W) == pytest.approx(normalized_gd.ngd_displacement_bound(7, 0.1))
    assert normalized_gd.ngd_step_norm(2.0, 0.1, 2.0) == pytest.approx(0.05)


# ============================================================================ fast weights


@given(st.integers(1, 12), st.integers(1, 5), st.integers(1, 4), st.integers(0, 2**32 - 1))
def test_linear_attention_equals_fwp_recurrence(L, m, dv, seed) -> None:
    r = rng_for(seed)
    phi_q, phi_k = r.random((L, m)) + 0.05, r.random((L, m)) + 0.05  # phi > 0
    V = r.normal(size=(L, dv))
    direct = np.array([
        sum(V[j] * (phi_k[j] @ phi_q[i]) for j in range(i + 1))
        / sum(phi_k[j] @ phi_q[i] for j in range(i + 1))
        for i in range(L)
    ])
    np.testing.assert_allclose(fwp_linear_attention.causal_linear_attention(phi_q, phi_k, V),
                               direct, atol=1e-12)
    np.testing.assert_allclose(fwp_linear_attention.fwp_recurrence(phi_q, phi_k, V),
                               direct, atol=1e-12)


@given(st.integers(1, 4), st.integers(1, 4), st.floats(0.0, 2.0), st.integers(0, 2**32 - 1))
def test_delta_rule_is_an_sgd_step(m, dv, beta, seed) -> None:
    r = rng_for(seed)
    W, v, phi = r.normal(size=(dv, m)), r.normal(size=dv), r.normal(size=m)
    grad = central_diff(lambda M: 0.5 * np.sum((M @ phi - v) ** 2), W)
    np.testing.assert_allclose(fwp_linear_attention.delta_rule_step(W, v, phi, beta),
                               W - beta * grad, atol=1e-6)
    M = fwp_linear_attention.delta_transition(phi, beta)
    eig = np.sort(np.linalg.eigvalsh(M))
    expected = np.sort(np.r_[np.ones(m - 1), 1 - beta * phi @ phi])
    np.testing.assert_allclose(eig, expected, atol=1e-10)


# ============================================================================ policy gradient


@given(st.integers(2, 8), st.integers(0, 2**32 - 1), st.floats(-5.0, 5.0))
def test_mbr_gradient_matches_fd_and_reinforce_any_baseline(H, seed, baseline) -> None:
    r = rng_for(seed)
    s, A = r.normal(size=H), r.random(H)
    g = policy_gradient_mbr.mbr_grad_logits(s, A)
    fd = central_diff(lambda x: float(np_softmax(x) @ A), s)
    np.testing.assert_allclose(g, fd, atol=1e-8)
    assert policy_gradient_mbr.expected_reward(s, A) == pytest.approx(np_softmax(s) @ A)
    np.testing.assert_allclose(policy_gradient_mbr.reinforce_expected_grad(s, A, baseline), g,
                               atol=1e-12)
    assert abs(g.sum()) < 1e-12


def test_reinforce_samples_converge_to_the_exact_gradient() -> None:
    r = rng_for(4)
    s, A = r.normal(size=5), r.random(5)
    P = np_softmax(s)
    samples = r.choice(5, p=P, size=200_000)
    exact = policy_gradient_mbr.mbr_grad_logits(s, A)
    for b in (0.0, float(P @ A), 3.0):
        est = policy_gradient_mbr.reinforce_sample_grad(s, A, samples, b)
        per = (A[samples] - b)[:, None] * (np.eye(5)[samples] - P)
        se = per.std(axis=0) / np.sqrt(samples.size)
        assert np.all(np.abs(est - exact) <= 5 * se + 1e-12)
