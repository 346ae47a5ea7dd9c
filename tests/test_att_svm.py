"""Att-SVM (Frobenius) by its dual: cross-checked against cvxpy + Clarabel, certificates verified
from the raw arrays (TF-SVM arXiv 2308.16898, Sec. 2: Att-SVM, feasibility, rank lemma)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.families import make_problem, paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.certificates import certify, farkas_search, verify_farkas
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import fro_min_norm, solve_att_svm, solve_att_svm_cvxpy

# ----------------------------------------------------------------------------- strategies


@st.composite
def instances(draw, feasible_by_theorem: bool = True):
    """(problem, selection): paper / equal-scores data, cross- or self-attention; with
    ``feasible_by_theorem`` d >= max(T-1, n) so every α is feasible (TF-SVM over-param. theorem)."""
    n = draw(st.integers(1, 4))
    T = draw(st.integers(2, 5))
    fam = draw(st.sampled_from(["paper", "equal-scores"]))
    # Unit tokens are discrete in d = 1, and equal-score tokens coincide in d = 2: those
    # dimensions are degenerate (not "almost all data"), so the theorem's range starts above.
    low = max(T - 1, n, 3 if fam == "equal-scores" else 2) if feasible_by_theorem else 1
    high = low + 2 if feasible_by_theorem else max(T - 2, 1)
    d = draw(st.integers(low, max(low, high)))
    sa = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    problem = make_problem(fam, n, T, d, seed, self_attention=sa)
    alpha = draw(st.one_of(st.just("opt"),
                           st.lists(st.integers(0, T - 1), min_size=n, max_size=n)))
    if alpha == "opt":
        alpha = np.argmax(problem.scores, axis=1)
    return problem, np.asarray(alpha)


def direct_margins(problem: AttentionProblem, alpha: np.ndarray, W: np.ndarray) -> dict:
    """(x_{iα_i} − x_it)ᵀ W z_i from the raw arrays, keyed by (i, t)."""
    X, Z = problem.X, problem.Z
    return {
        (i, t): float((X[i, alpha[i]] - X[i, t]) @ W @ Z[i])
        for i in range(problem.n) for t in range(problem.T) if t != alpha[i]
    }


def direct_representer(problem, alpha, pairs, lam) -> np.ndarray:
    W = np.zeros((problem.d, problem.d))
    for (i, t), lk in zip(pairs, lam, strict=True):
        W += lk * np.outer(problem.X[i, alpha[i]] - problem.X[i, t], problem.Z[i])
    return W


def direction(W: np.ndarray) -> np.ndarray:
    return W / np.linalg.norm(W)


# ----------------------------------------------------------------------------- optimal solutions


@given(instances())
def test_matches_clarabel(inst) -> None:
    problem, alpha = inst
    ours = solve_att_svm(problem, alpha)
    ref = solve_att_svm_cvxpy(problem, alpha, "fro")
    assert ref.kkt_residual < 1e-7  # the reference itself is certified
    assert np.linalg.norm(direction(ours.W) - direction(ref.W)) <= 1e-6
    assert abs(ours.objective - ref.objective) <= 1e-6 * ref.objective


@given(instances())
def test_certificate_holds_from_raw_arrays(inst) -> None:
    problem, alpha = inst
    sol = solve_att_svm(problem, alpha)
    W, lam = sol.W, sol.lam
    pairs = [tuple(p) for p in sol.constraints.pairs]
    margins = direct_margins(problem, alpha, W)
    assert sorted(margins) == sorted(pairs)
    m = np.array([margins[p] for p in pairs])
    assert m.min() >= 1 - 1e-9
    assert np.all(lam >= 0)
    wn2 = float(np.sum(W * W))
    # stationarity: W = Σ λ_k (x_{iα} − x_it) z_iᵀ, the representer form
    assert np.linalg.norm(W - direct_representer(problem, alpha, pairs, lam)) <= 1e-9 * np.sqrt(wn2)
    # complementarity and strong duality (Σ λ_k = ||W||_F² for unit right-hand sides)
    assert np.max(lam * (m - 1)) <= 1e-9 * wn2
    assert abs(lam.sum() - wn2) <= 1e-9 * wn2
    # reported numbers are the recomputed ones
    assert sol.min_margin == pytest.approx(m.min(), abs=1e-12)
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    # support = active margins; every positive multiplier sits on one
    active = {p for p, mk in zip(pairs, m, strict=True) if mk - 1 <= 1e-6}
    assert {tuple(p) for p in sol.support} == active
    assert {p for p, lk in zip(pairs, lam, strict=True) if lk > 1e-9 * lam.max()} <= active


@given(instances())
def test_rank_lemma(inst) -> None:
    """rank W^mm <= n and its row space lies in span{z_i} (TF-SVM rank lemma)."""
    problem, alpha = inst
    sol = solve_att_svm(problem, alpha)
    sv = np.linalg.svd(sol.W, compute_uv=False)
    assert np.allclose(sol.singular_values, sv, rtol=1e-12, atol=1e-14 * sv[0])
    assert sol.rank == int(np.sum(sv > 1e-6 * sv[0])) <= problem.n
    Q, _ = np.linalg.qr(problem.Z.T)
    assert np.linalg.norm(sol.W - sol.W @ Q @ Q.T) <= 1e-10 * np.linalg.norm(sol.W)


@given(instances(feasible_by_theorem=False))
@settings(max_examples=20)
def test_below_overparameterization_solution_or_proof(inst) -> None:
    """Small d (singular Gram matrices; the Lawson–Hanson fallback path): either a certified
    optimum equal to Clarabel's, or a Farkas certificate that verifies from scratch."""
    problem, alpha = inst
    try:
        sol = solve_att_svm(problem, alpha)
    except InfeasibleSVM as exc:
        cert = exc.certificate
        lam = np.asarray(cert["lambda"])
        assert np.all(lam >= 0) and abs(lam.sum() - 1) <= 1e-12
        R = direct_representer(problem, alpha, cert["pairs"], lam)
        assert np.linalg.norm(R) <= 1e-9 * 4  # ||a_k z_kᵀ||_F <= 2 for unit tokens and queries
        return
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    assert min(direct_margins(problem, alpha, sol.W).values()) >= 1 - 1e-9
    ref = solve_att_svm_cvxpy(problem, alpha, "fro")
    assert ref.kkt_residual < 1e-7
    assert abs(sol.objective - ref.objective) <= 1e-6 * ref.objective


@given(st.integers(0, 2**31 - 1), st.integers(1, 6))
def test_single_constraint_closed_form(seed, d) -> None:
    """n = 1, T = 2: W^mm = a zᵀ / (|a|² |z|²)."""
    rng = np.random.default_rng(seed)
    problem = AttentionProblem(rng.standard_normal((1, 2, d)), [1.0], rng.standard_normal(d),
                               rng.standard_normal((1, d)))
    for alpha in ([0], [1]):
        a = problem.X[0, alpha[0]] - problem.X[0, 1 - alpha[0]]
        z = problem.Z[0]
        sol = solve_att_svm(problem, alpha)
        expected = np.outer(a, z) / (a @ a * (z @ z))
        assert np.allclose(sol.W, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
        assert sol.rank == 1 and sol.support.tolist() == [[0, 1 - alpha[0]]]


@given(st.integers(0, 2**31 - 1), st.integers(2, 5), st.integers(2, 4))
def test_d1_feasible_iff_one_sign(seed, n, T) -> None:
    """d = 1: constraint k reads c_k w >= 1 with c_k = (x_{iα}−x_it) z_i; feasible iff all c_k
    share one sign, and then w = sign / min |c_k|."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, 1))
    Z = rng.standard_normal((n, 1))
    problem = AttentionProblem(X, rng.choice([-1.0, 1.0], n), [1.0], Z)
    alpha = rng.integers(0, T, n)
    c = np.array([(X[i, alpha[i], 0] - X[i, t, 0]) * Z[i, 0]
                  for i in range(n) for t in range(T) if t != alpha[i]])
    if np.all(c > 0) or np.all(c < 0):
        sol = solve_att_svm(problem, alpha)
        w = np.sign(c[0]) / np.min(np.abs(c))
        assert sol.W[0, 0] == pytest.approx(w, rel=1e-12)
    else:
        with pytest.raises(InfeasibleSVM) as exc:
            solve_att_svm(problem, alpha)
        lam = np.asarray(exc.value.certificate["lambda"])
        R = direct_representer(problem, alpha, exc.value.certificate["pairs"], lam)
        assert np.all(lam >= 0) and abs(lam.sum() - 1) <= 1e-12
        assert abs(R[0, 0]) <= 1e-12 * np.abs(c).max()


@given(instances(), st.data())
@settings(max_examples=15)
def test_duplicate_token_is_infeasible_with_certificate(inst, data) -> None:
    problem, alpha = inst
    i = data.draw(st.integers(0, problem.n - 1))
    t = data.draw(st.sampled_from([s for s in range(problem.T) if s != alpha[i]]))
    X = np.array(problem.X)
    X[i, t] = X[i, alpha[i]]
    bad = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    with pytest.raises(InfeasibleSVM) as exc:
        solve_att_svm(bad, alpha)
    cert = exc.value.certificate
    lam = np.asarray(cert["lambda"])
    assert np.all(lam >= 0) and abs(lam.sum() - 1) <= 1e-12
    assert np.linalg.norm(direct_representer(bad, alpha, cert["pairs"], lam)) <= 1e-12
    assert cert["select"] == [int(a) for a in alpha]
    # the cvxpy path decides feasibility by the same proof, not by Clarabel's status
    with pytest.raises(InfeasibleSVM):
        solve_att_svm_cvxpy(bad, alpha)


# ----------------------------------------------------------------------------- certificates


@given(instances())
@settings(max_examples=15)
def test_gordan_point_is_the_inverse_margin(inst) -> None:
    """min over the simplex of ||Σ λ_k A_k||_F equals 1/||W^mm||_F (Lawson–Hanson on the Gordan
    QP vs the pivoting dual solver: two independent algorithms)."""
    problem, alpha = inst
    cons = margin_constraints(problem, alpha)
    sol = solve_att_svm(problem, alpha)
    res = farkas_search(cons)
    assert not res.infeasible
    assert res.residual * sol.objective == pytest.approx(1.0, rel=1e-8)
    assert np.allclose(res.lam, sol.lam / sol.lam.sum(), atol=1e-7)


def test_certify_flags_wrong_solutions() -> None:
    problem = paper_family(4, 5, 6, 3)
    sol = solve_att_svm(problem)
    cons = sol.constraints
    good = certify(cons, sol.W, sol.lam, "fro")
    assert good.kkt_residual <= 1e-12
    shrunk = certify(cons, 0.99 * sol.W, 0.99 * sol.lam, "fro")
    assert shrunk.max_violation == pytest.approx(0.01, rel=1e-6)
    assert shrunk.kkt_residual >= 0.01 * (1 - 1e-6)
    wrong_dual = certify(cons, sol.W, 1.1 * sol.lam, "fro")
    assert wrong_dual.stationarity == pytest.approx(0.1, rel=1e-9)
    assert wrong_dual.duality_gap > 1e-3
    rng = np.random.default_rng(0)
    E = rng.standard_normal(sol.W.shape)
    off = certify(cons, sol.W + 1e-3 * E, sol.lam, "fro")
    assert off.stationarity > 1e-4
    neg = sol.lam.copy()
    neg[np.argmin(neg)] = -0.5 * neg.max()
    assert certify(cons, sol.W, neg, "fro").dual_sign > 0.1


def test_nuclear_certificate_and_norm_ordering() -> None:
    """Clarabel's Att-SVM⋆ certifies with the nuclear dual (||Σ λ A||_2 <= 1, <G,W> = ||W||_*);
    optimality of each program orders the norms of the two solutions."""
    problem = paper_family(3, 4, 5, 0)
    fro = solve_att_svm(problem)
    nuc = solve_att_svm_cvxpy(problem, "opt", "nuc")
    assert nuc.kkt_residual <= 1e-7 and nuc.duality_gap <= 1e-7
    assert nuc.objective <= np.sum(np.linalg.svd(fro.W, compute_uv=False)) * (1 + 1e-9)
    assert np.linalg.norm(nuc.W) >= fro.objective * (1 - 1e-9)
    # the Frobenius solution is not nuclear-optimal here: the nuclear certificate says so
    scaled = certify(fro.constraints, fro.W, nuc.lam, "nuc")
    assert scaled.duality_gap > 1e-3


def test_farkas_verifier_rejects_non_certificates() -> None:
    problem = paper_family(3, 4, 5, 0)
    cons = margin_constraints(problem, np.argmax(problem.scores, axis=1))
    K = cons.K
    assert not verify_farkas(cons, np.full(K, 1.0 / K))[0]
    assert not verify_farkas(cons, np.zeros(K))[0]
    bad = np.full(K, 1.0 / K)
    bad[0] = -bad[0]
    assert not verify_farkas(cons, bad / np.abs(bad).sum())[0]


def test_engine_with_equality_rows_matches_clarabel() -> None:
    """Equality rows (free multipliers) and zero right-hand sides, as used by W^dir."""
    from dataclasses import replace

    from attnsvm.reference.svm.frobenius import solve_constraints_cvxpy

    problem = paper_family(3, 5, 6, 11)
    cons = margin_constraints(problem, [0, 1, 2])
    eq = np.zeros(cons.K, dtype=bool)
    eq[[0, 5]] = True
    rhs = cons.rhs.copy()
    rhs[[0, 5]] = 0.0
    rhs[3] = 0.0
    cons = replace(cons, rhs=rhs, equality=eq)
    W, lam, _ = fro_min_norm(cons)
    Wc, lamc, _, _ = solve_constraints_cvxpy(cons, "fro")
    assert np.linalg.norm(W - Wc) <= 1e-6 * np.linalg.norm(Wc)
    cert = certify(cons, W, lam, "fro")
    assert cert.kkt_residual <= 1e-10 and cert.duality_gap <= 1e-10
    assert certify(cons, Wc, lamc, "fro").kkt_residual <= 1e-7
    vals = np.einsum("kd,de,ke->k", cons.a, W, cons.z)
    assert np.allclose(vals[eq], 0.0, atol=1e-10)


def test_bad_selection_is_a_problem_error() -> None:
    problem = paper_family(2, 3, 4, 0)
    for sel in ([0], [0, 3], [0, -1], [0.5, 1], "0,x"):
        with pytest.raises(ProblemError) as exc:
            solve_att_svm(problem, sel)
        assert exc.value.field == "select"


@given(instances(), st.sampled_from([1e-4, 1e-2, 1e2, 1e4]))
@settings(max_examples=15)
def test_scale_equivariance(inst, c) -> None:
    """W^mm(cX, Z) = W^mm(X, Z) / c and W^mm(X, cZ) = W^mm(X, Z) / c: the solver and its
    tolerances are scale-free."""
    problem, alpha = inst
    base = solve_att_svm(problem, alpha).W
    for scaled in (AttentionProblem(c * problem.X, problem.Y, problem.v, problem.Z),
                   AttentionProblem(problem.X, problem.Y, problem.v, c * problem.Z)):
        sol = solve_att_svm(scaled, alpha)
        assert np.linalg.norm(c * sol.W - base) <= 1e-9 * np.linalg.norm(base)
        assert sol.kkt_residual <= 1e-9


@pytest.mark.parametrize(("eps", "infeasible"), [(1e-15, True), (1e-12, True), (1e-6, False)])
def test_working_precision_threshold(eps, infeasible) -> None:
    """A token duplicated up to eps needs ||W^mm|| ~ 1/eps: beyond 1/INFEASIBLE_RTOL = 1e9 in data
    units the program is reported infeasible (with a certificate), below it solved and certified."""
    problem = paper_family(2, 3, 4, 6)
    alpha = np.array([0, 0])
    X = np.array(problem.X)
    X[0, 1] = X[0, 0] + eps * np.random.default_rng(0).standard_normal(4)
    near = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    if infeasible:
        with pytest.raises(InfeasibleSVM) as exc:
            solve_att_svm(near, alpha)
        cert = exc.value.certificate
        assert cert["relative_residual"] <= 1e-9
        R = direct_representer(near, alpha, cert["pairs"], np.asarray(cert["lambda"]))
        assert np.linalg.norm(R) <= 1e-9 * 2
    else:
        sol = solve_att_svm(near, alpha)
        assert 1e5 < sol.objective < 1e8
        assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
        assert min(direct_margins(near, alpha, sol.W).values()) >= 1 - 1e-9
