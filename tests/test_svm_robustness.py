"""Robustness of the certified Frobenius Att-SVM solver and of the Farkas search (TF-SVM,
arXiv 2308.16898, Sec. 2: Att-SVM and its feasibility; MMTS, arXiv 2306.13596, Sec. 4: the
relaxed p-SVM with right-hand side 0 rows).

Regressions of three review findings:
1. ``solve_att_svm`` returned an infeasible W (min margin -1/3, "duality gap" 2e-16) on rows of
   size 1e-7 next to rows of size 8: it must return a certified W or raise a typed error.
2. ``farkas_search`` missed an exact certificate (two exactly opposite rows) because it searched
   on a lossy factor of the Gram matrix at the data's scale.
3. ``fro_min_norm`` failed ("numerically borderline") or returned a wrong W on programs with
   rhs = 0 rows when some rows are the zero matrix.
Every check recomputes margins and combinations from the raw arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import attnsvm.reference.svm.frobenius as att_svm
from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import AttnsvmError, InfeasibleSVM
from attnsvm.reference.svm.certificates import (
    SolverError,
    certificate_failures,
    certify,
    farkas_search,
    verify_farkas,
)
from attnsvm.reference.svm.constraints import MarginConstraints, margin_constraints
from attnsvm.reference.svm.frobenius import fro_min_norm, solve_att_svm, solve_att_svm_cvxpy
from attnsvm.reference.svm.prompt import (
    head_support_inputs,
    prompt_constraints,
    solve_head_svm,
    solve_relaxed_prompt_svm,
    solve_vector_svm_cvxpy,
)

# ----------------------------------------------------------------------------- helpers


def bug1_problem() -> tuple[AttentionProblem, np.ndarray]:
    """Review bug 1: queries of size 2^-24 next to tokens of size 4, duplicated rows."""
    X = np.ones((3, 5, 5))
    X[0, 0, 4] = 0
    X[1, 0, 1] = -3
    X[2, 0] = [0, 1, 1, 1, 0]
    X[2, 2, 4] = 0.25
    X[2, 4, 2] = 0
    Z = np.full((3, 5), -(2.0**-24))
    Z[1, 0] = 2
    Z[2, 0] = 1
    return AttentionProblem(X, -np.ones(3), [-1.0, 0, 0, 0, 1], Z), np.array([0, 0, 2])


def bug2_problem() -> tuple[AttentionProblem, np.ndarray]:
    """Review bug 2: input 2's two rows are exact opposites (x_21 - x_20 = x_20 - x_22)."""
    X = np.array([[[0, 1, 1], [0, 1, 1], [1, 1, 1]],
                  [[1, 0, 1], [1, 1, 1], [1, 1, 1]],
                  [[0, 1, 1], [1, 1, 1], [-1, 1, 1]]], dtype=float)
    Z = np.array([[2.0**-24, 1, 0], [1, 0, 0], [0, 1, 0]])
    return AttentionProblem(X, np.ones(3), np.ones(3), Z), np.array([2, 0, 0])


def raw_rows(problem: AttentionProblem, alpha: np.ndarray) -> list[tuple[int, int]]:
    return [(i, t) for i in range(problem.n) for t in range(problem.T) if t != alpha[i]]


def raw_margins(problem: AttentionProblem, alpha: np.ndarray, W: np.ndarray) -> np.ndarray:
    """(x_{iα_i} − x_it)ᵀ W z_i, straight from the arrays, in margin_constraints order."""
    X, Z = problem.X, problem.Z
    return np.array([(X[i, alpha[i]] - X[i, t]) @ W @ Z[i] for i, t in raw_rows(problem, alpha)])


def raw_combination(problem: AttentionProblem, alpha: np.ndarray, pairs, lam) -> np.ndarray:
    """Σ λ_k (x_{iα_i} − x_it) z_iᵀ from the arrays."""
    R = np.zeros((problem.d, problem.d))
    for (i, t), lk in zip(pairs, lam, strict=True):
        R += lk * np.outer(problem.X[i, alpha[i]] - problem.X[i, t], problem.Z[i])
    return R


def check_solution(problem: AttentionProblem, alpha: np.ndarray, sol, kkt: float = 1e-6) -> None:
    """A returned solution is feasible from the raw arrays and its certificate holds."""
    m = raw_margins(problem, alpha, sol.W)
    assert m.min() >= 1 - 1e-9
    assert np.all(sol.lam >= 0)
    pairs = [tuple(p) for p in sol.constraints.pairs]
    assert pairs == raw_rows(problem, alpha)
    wn = float(np.linalg.norm(sol.W))
    R = raw_combination(problem, alpha, pairs, sol.lam)
    assert np.linalg.norm(sol.W - R) <= kkt * wn  # stationarity: the representer form
    assert np.max(sol.lam * (m - 1)) <= kkt * wn * wn  # complementarity
    assert abs(sol.lam.sum() - wn * wn) <= kkt * wn * wn  # strong duality (unit rhs)
    assert sol.kkt_residual <= kkt and sol.duality_gap <= kkt


def check_certificate(problem: AttentionProblem, alpha: np.ndarray, cert: dict) -> None:
    """An InfeasibleSVM certificate: λ >= 0 on the simplex, verified by verify_farkas on the
    rows rebuilt from the problem, and the combination small from the raw arrays."""
    lam = np.asarray(cert["lambda"])
    assert np.all(lam >= 0) and abs(lam.sum() - 1) <= 1e-12
    cons = margin_constraints(problem, alpha)
    full = np.zeros(cons.K)
    full[np.asarray(cert["rows"], dtype=int)] = lam
    ok, rel, why = verify_farkas(cons, full)
    assert ok, why
    scale = max(np.linalg.norm(problem.X[i, alpha[i]] - problem.X[i, t]) * np.linalg.norm(
        problem.Z[i]) for i, t in raw_rows(problem, alpha))
    R = raw_combination(problem, alpha, cert["pairs"], lam)
    assert np.linalg.norm(R) <= 1.01e-9 * scale


def assert_matches_reference(cons: MarginConstraints, W: np.ndarray, Wc: np.ndarray) -> None:
    """Ours vs a Clarabel W_c: W_c is (nearly) feasible, the objectives ½||W||² agree, and
    ||W − W_c||² <= 2 (P(W_c) − P(W)) (+ Clarabel's slack): for a feasible W_c that is what
    strong convexity allows when W is the optimum (Clarabel's W is only accurate to ~1e-6 even
    where its objective is accurate to 1e-11, so W itself is compared through this bound)."""
    assert np.all(np.isfinite(Wc))
    assert certify(cons, Wc, np.zeros(cons.K)).max_violation <= 1e-6
    P, Pc = 0.5 * float(np.sum(W * W)), 0.5 * float(np.sum(Wc * Wc))
    assert abs(P - Pc) <= 1e-8 * max(Pc, 1e-3)
    assert float(np.sum((W - Wc) ** 2)) <= 2 * max(Pc - P, 0.0) + 1e-9 * max(Pc, 1e-3)


def unit_row_reference(cons: MarginConstraints) -> float:
    """min ||W||_F by cvxpy + Clarabel on rows rescaled to unit norm (the same program: each row
    divided by its own positive norm), certified on the ORIGINAL rows before it is trusted."""
    na = np.linalg.norm(cons.a, axis=1)
    nz = np.linalg.norm(cons.z, axis=1)
    unit = MarginConstraints(a=cons.a / na[:, None], z=cons.z / nz[:, None], pairs=cons.pairs,
                             rhs=cons.rhs / (na * nz), equality=cons.equality)
    W, lam, _, status = att_svm.solve_constraints_cvxpy(unit, "fro", tight=True)
    assert np.all(np.isfinite(W)), status
    cert = certify(cons, W, lam / (na * nz), "fro")
    assert cert.min_margin >= 1 - 1e-6 and cert.kkt_residual <= 1e-5, cert.summary()
    return float(np.linalg.norm(W))


def gram_eigh_factor(constraints: MarginConstraints) -> np.ndarray:
    """The historical row factor (eigendecomposition of the Gram matrix, eigenvalues below
    K·eps·λ_max dropped) that made the fast path solve a different problem in bug 1."""
    w, V = np.linalg.eigh(constraints.gram())
    keep = w > max(float(w[-1]), 0.0) * constraints.K * np.finfo(np.float64).eps
    return V[:, keep] * np.sqrt(w[keep])


# ----------------------------------------------------------------------------- bug 1


def test_bug1_returns_a_certified_solution() -> None:
    problem, alpha = bug1_problem()
    sol = solve_att_svm(problem, alpha)
    check_solution(problem, alpha, sol, kkt=1e-9)
    ref = unit_row_reference(sol.constraints)
    assert sol.objective == pytest.approx(ref, rel=1e-6)
    # the rows of size 1.3e-7 need ||W|| ~ 1e7: large, but below 1/INFEASIBLE_RTOL in data units
    assert 1e6 < sol.objective < 1e8


def test_bug1_recovers_when_the_fast_path_is_wrong(monkeypatch) -> None:
    """With the historical lossy factor the fast path's candidate fails its certificate (the
    reported W, min margin -1/3); the unit-row fallback must recover the same optimum."""
    problem, alpha = bug1_problem()
    good = solve_att_svm(problem, alpha)
    monkeypatch.setattr(att_svm, "row_factor", gram_eigh_factor)
    sol = solve_att_svm(problem, alpha)
    assert sol.extra["fallbacks"]  # the fast path's certificate failed
    check_solution(problem, alpha, sol, kkt=1e-9)
    assert np.linalg.norm(sol.W - good.W) <= 1e-9 * good.objective


def test_guard_raises_instead_of_returning_a_failed_certificate(monkeypatch) -> None:
    """When every method yields a W that misses the margins, the solver raises SolverError
    (an AttnsvmError naming the failed fields), never returns."""
    problem = paper_family(3, 4, 5, 2)
    alpha = np.argmax(problem.scores, axis=1)
    real = att_svm._ldp_candidates

    def halved(*args, **kwargs):
        items, s = real(*args, **kwargs)
        return [(lam, 0.5 * W, tag) for lam, W, tag in items], s

    monkeypatch.setattr(att_svm, "_ldp_candidates", halved)
    monkeypatch.setattr(att_svm, "solve_constraints_cvxpy",
                        lambda cons, norm="fro", tight=True: (
                            np.full((cons.a.shape[1], cons.z.shape[1]), 0.5), np.zeros(cons.K),
                            0.0, "optimal"))
    with pytest.raises(SolverError) as exc:
        solve_att_svm(problem, alpha)
    assert isinstance(exc.value, AttnsvmError)
    assert "min_margin" in str(exc.value) or "max_violation" in str(exc.value)


def test_certificate_failures_flag_the_reported_answer() -> None:
    """The shape of the reported wrong answer (a W whose min margin is -1/3 with λ consistent
    with it) fails the guard; the certified solution passes it."""
    problem, alpha = bug1_problem()
    sol = solve_att_svm(problem, alpha)
    cons = sol.constraints
    assert certificate_failures(cons, certify(cons, sol.W, sol.lam), sol.W) == []
    bad_W, bad_lam = -sol.W / 3, -sol.lam / 3
    cert = certify(cons, bad_W, bad_lam)
    assert cert.stationarity <= 1e-12  # W = Σ λ A still holds ...
    failures = certificate_failures(cons, cert, bad_W)
    assert any(f.startswith("min_margin") for f in failures)  # ... yet it is not feasible


def test_fast_path_serves_the_benchmark_instance() -> None:
    """The fallbacks run only when the fast path's certificate fails: not on paper data."""
    problem = paper_family(20, 16, 32, 0)
    sol = solve_att_svm(problem, np.argmax(problem.scores, axis=1))
    assert sol.method == "dual-nnls/bpp" and "fallbacks" not in sol.extra
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9


# ----------------------------------------------------------------------------- bug 2


def test_bug2_exact_certificate_is_found() -> None:
    problem, alpha = bug2_problem()
    cons = margin_constraints(problem, alpha)
    res = farkas_search(cons)
    assert res.infeasible and res.relative_residual == 0.0
    R = raw_combination(problem, alpha, res.pairs, res.lam)
    assert np.all(R == 0.0)
    with pytest.raises(InfeasibleSVM) as exc:
        solve_att_svm(problem, alpha)
    check_certificate(problem, alpha, exc.value.certificate)
    with pytest.raises(InfeasibleSVM):
        solve_att_svm_cvxpy(problem, alpha)


@pytest.mark.parametrize("cx", [1.0, 2.0**-30, 1e-8, 1e8])
@pytest.mark.parametrize("cz", [(1.0, 1.0, 1.0), (2.0**-24, 1.0, 1e6), (1e8, 3.0, 2.0**-40)])
def test_bug2_verdict_survives_rescaling(cx, cz) -> None:
    """Scaling X, or each input's query by a positive factor, keeps the exact certificate."""
    problem, alpha = bug2_problem()
    scaled = AttentionProblem(cx * problem.X, problem.Y, problem.v,
                              problem.Z * np.asarray(cz)[:, None])
    res = farkas_search(margin_constraints(scaled, alpha))
    assert res.infeasible
    assert np.linalg.norm(raw_combination(scaled, alpha, res.pairs, res.lam)) == 0.0


@pytest.mark.parametrize("c", [2.0**-30, 1e-8, 1e8, 3.0])
def test_farkas_verdict_is_invariant_under_global_rescaling(c) -> None:
    """Scaling all tokens (or all queries) by c changes no verdict: a feasible program stays
    feasible with the same relative residual (1/(||W^mm|| max||A_k||)), a token duplicated up
    to 1e-12 stays infeasible at working precision, an exact duplicate stays infeasible."""
    problem = paper_family(3, 4, 6, 5)
    alpha = np.argmax(problem.scores, axis=1)
    near, exact = np.array(problem.X), np.array(problem.X)
    near[1, (alpha[1] + 1) % 4] = near[1, alpha[1]] + 1e-12 * np.arange(1, 7)
    exact[2, (alpha[2] + 1) % 4] = exact[2, alpha[2]]
    for X, infeasible in ((problem.X, False), (near, True), (exact, True)):
        base = farkas_search(margin_constraints(
            AttentionProblem(X, problem.Y, problem.v, problem.Z), alpha))
        assert base.infeasible == infeasible
        for Xs, Zs in ((c * X, problem.Z), (X, c * problem.Z)):
            res = farkas_search(margin_constraints(
                AttentionProblem(Xs, problem.Y, problem.v, Zs), alpha))
            assert res.infeasible == infeasible
            if not infeasible:
                assert res.relative_residual == pytest.approx(base.relative_residual, rel=1e-6)


VALS = [0.0, 1.0, -1.0, 2.0, -3.0, 0.25, 2.0**-24, -(2.0**-24), 2.0**-40, 1e-12, 3.0]
SCALES = [1.0, 2.0**-24, 2.0**-40, 2.0**20, 1e8]


@given(st.data())
@settings(max_examples=20)
def test_planted_opposite_rows_are_certified(data) -> None:
    """Badly scaled data with two rows planted exactly opposite (up to positive factors, in one
    input or across two inputs with parallel queries): infeasible, certificate found."""
    n = data.draw(st.integers(2, 3))
    T = data.draw(st.integers(3, 5))
    d = data.draw(st.integers(1, 4))
    X = np.array(data.draw(arrays(np.float64, (n, T, d), elements=st.sampled_from(VALS))))
    Z = np.array(data.draw(arrays(np.float64, (n, d), elements=st.sampled_from(VALS))))
    if not np.any(Z[0]):
        Z[0, 0] = 1.0
    alpha = np.array(data.draw(st.lists(st.integers(0, T - 1), min_size=n, max_size=n)))
    r = data.draw(st.sampled_from(SCALES))
    t0 = (alpha[0] + 1) % T
    if data.draw(st.booleans()):  # within input 0: a_(0,t1) = −r a_(0,t0)
        X[0, alpha[0]] = 0.0
        if not np.any(X[0, t0]):
            X[0, t0, 0] = 1.0
        t1 = (alpha[0] + 2) % T
        X[0, t1] = -r * X[0, t0]  # a_(0,t) = −x_0t
    else:  # input 1 with a parallel query: a_(1,t) = −r a_(0,t0), z_1 = s z_0
        if not np.any(X[0, alpha[0]] - X[0, t0]):
            X[0, t0, 0] = X[0, alpha[0], 0] + 1.0
        X[1, alpha[1]] = 0.0
        X[1, (alpha[1] + 1) % T] = r * (X[0, alpha[0]] - X[0, t0])
        Z[1] = data.draw(st.sampled_from(SCALES)) * Z[0]
    problem = AttentionProblem(X, np.ones(n), np.ones(d), Z)
    res = farkas_search(margin_constraints(problem, alpha))
    assert res.infeasible
    with pytest.raises(InfeasibleSVM) as exc:
        solve_att_svm(problem, alpha)
    check_certificate(problem, alpha, exc.value.certificate)


# ----------------------------------------------------------------------------- bug 3


def rows(a, z, rhs, eq=None) -> MarginConstraints:
    a = np.asarray(a, dtype=float)
    K = a.shape[0]
    return MarginConstraints(a=a, z=np.asarray(z, dtype=float), pairs=np.zeros((K, 2), int),
                             rhs=np.asarray(rhs, dtype=float),
                             equality=np.zeros(K, bool) if eq is None else np.asarray(eq, bool))


def test_bug3_zero_rows_with_zero_rhs() -> None:
    """The reported failure: zero-matrix equality rows (rhs 0) beside >= 1 rows raised
    'numerically borderline'; the optimum equals Clarabel's on the nonzero rows."""
    a = [[0, -1, 1, -1, 1], [1, -1, 0, -1, 0], [-1, 1, 0, 0, -1], [1, 1, 0, 1, 1],
         [1, 0, 0, 0, 0], [-1, 1, 0, 0, 1], [-1, 0, 1, -1, 0], [1, 0, -1, 0, 1]]
    z = [[0, 1], [-1, 0], [0, 0], [0, 0], [-1, 0], [0, -1], [1, -1], [1, 0]]
    rhs = [1, 0, 0, 0, 0, 1, 1, 0]
    eq = [0, 1, 1, 1, 0, 0, 0, 1]
    cons = rows(a, z, rhs, eq)
    W, lam, _ = fro_min_norm(cons)
    cert = certify(cons, W, lam)
    assert cert.kkt_residual <= 1e-9 and cert.duality_gap <= 1e-9
    assert lam[2] == 0 and lam[3] == 0  # zero rows carry no multiplier
    vals = np.einsum("kd,de,ke->k", cons.a, W, cons.z)
    assert np.all(vals[[0, 5, 6]] >= 1 - 1e-9) and vals[4] >= -1e-9
    assert np.allclose(vals[[1, 7]], 0.0, atol=1e-9)
    Wc, _, _, status = att_svm.solve_constraints_cvxpy(cons, "fro")
    assert status == "optimal"
    assert_matches_reference(cons, W, Wc)


def test_bug3_zero_rows_inequalities_are_not_a_wrong_answer() -> None:
    """Reported alongside: zero-matrix >= 0 rows made the old fast path return min margin 0.73."""
    a = [[0, 0, 0, -1, 1], [-1, -1, 1, 0, 0], [1, -1, 0, 0, 1], [1, -1, 0, -1, -1],
         [-1, 1, 1, 1, 0], [1, 0, 1, -1, 1]]
    z = [[0, -1], [1, -1], [0, 0], [0, -1], [1, 1], [-1, 1]]
    cons = rows(a, z, [1, 1, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0])
    W, lam, _ = fro_min_norm(cons)
    cert = certify(cons, W, lam)
    assert cert.min_margin >= 1 - 1e-9 and cert.kkt_residual <= 1e-9
    Wc, _, _, status = att_svm.solve_constraints_cvxpy(cons, "fro")
    assert status == "optimal"
    assert_matches_reference(cons, W, Wc)


@given(st.integers(0, 2**31 - 1), st.integers(1, 8), st.floats(0, 1))
def test_all_zero_rhs_gives_zero(seed, K, eq_share) -> None:
    """Rows that demand nothing (>= 0, >= negative, = 0, zero matrices): W = 0, λ = 0."""
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((K, 3))
    a[rng.random(K) < 0.3] = 0.0
    eq = rng.random(K) < eq_share
    rhs = np.where(eq, 0.0, -rng.random(K) * (rng.random(K) < 0.5))
    W, lam, info = fro_min_norm(rows(a, rng.standard_normal((K, 2)), rhs, eq))
    assert np.all(W == 0) and np.all(lam == 0) and info["method"] == "zero"


def test_zero_row_demanding_a_margin_is_infeasible() -> None:
    cons = rows([[1, 0], [0, 0], [0, 1]], [[1, 0], [1, 1], [0, 1]], [1, 1, 0])
    with pytest.raises(InfeasibleSVM) as exc:
        fro_min_norm(cons)
    assert exc.value.certificate["rows"] == [1] and exc.value.certificate["residual"] == 0.0
    eq_cons = rows([[1, 0], [0, 0]], [[1, 0], [1, 1]], [1, -2], [False, True])
    with pytest.raises(InfeasibleSVM):
        fro_min_norm(eq_cons)


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_mixed_rhs_rows_match_clarabel(seed) -> None:
    """Random rows with entries in {-1, 0, 1} (zero rows, duplicates), rhs in {0, 1}, some
    rhs-0 rows equalities: certified and equal to Clarabel, or a verified Farkas certificate;
    never a SolverError on these well-scaled programs."""
    rng = np.random.default_rng(seed)
    K, d = int(rng.integers(1, 12)), int(rng.integers(1, 5))
    dz = 1 if rng.random() < 0.5 else int(rng.integers(1, 3))
    a = rng.integers(-1, 2, (K, d)).astype(float)
    z = np.ones((K, 1)) if dz == 1 else rng.integers(-1, 2, (K, dz)).astype(float)
    rhs = rng.choice([0.0, 1.0], K, p=[0.6, 0.4])
    eq = (rng.random(K) < 0.3) & (rhs == 0)
    cons = rows(a, z, rhs, eq)
    try:
        W, lam, _ = fro_min_norm(cons)
    except InfeasibleSVM as exc:
        full = np.zeros(K)
        full[exc.certificate["rows"]] = exc.certificate["lambda"]
        assert verify_farkas(cons, full)[0]
        return
    cert = certify(cons, W, lam)
    assert cert.max_violation <= 1e-9 and cert.kkt_residual <= 1e-9 and cert.duality_gap <= 1e-9
    Wc, _, _, status = att_svm.solve_constraints_cvxpy(cons, "fro")
    assert status == "optimal"
    assert_matches_reference(cons, W, Wc)


@given(st.integers(0, 2**31 - 1))
@settings(max_examples=15)
def test_relaxed_prompt_svm_with_duplicate_tokens_matches_clarabel(seed) -> None:
    """MMTS Sec. 4 relaxed p-SVM on random data where inputs that are not support vectors of
    v^mm repeat their selected token (rhs-0 rows that are the zero matrix)."""
    rng = np.random.default_rng(seed)
    n, T, d = int(rng.integers(2, 6)), int(rng.integers(2, 5)), int(rng.integers(2, 5))
    X = rng.standard_normal((n, T, d))
    Y = rng.choice([-1.0, 1.0], n)
    alpha = rng.integers(0, T, n)
    problem = AttentionProblem(X, Y, rng.standard_normal(d), np.zeros((n, d)))
    try:
        head = solve_head_svm(problem, alpha)
    except InfeasibleSVM:
        return
    support = set(head_support_inputs(head).tolist())
    for i in range(n):
        if i not in support and rng.random() < 0.7:
            X[i, (alpha[i] + 1) % T] = X[i, alpha[i]]
    problem = AttentionProblem(X, Y, problem.v, problem.Z)
    zero_rows = sum(not np.any(X[i, alpha[i]] - X[i, t]) for i, t in raw_rows(problem, alpha))
    event(f"zero-matrix rows: {min(zero_rows, 2)}{'+' if zero_rows > 1 else ''}")
    try:
        sol = solve_relaxed_prompt_svm(problem, alpha, head=head)
    except InfeasibleSVM as exc:
        event("infeasible")
        cons = prompt_constraints(
            problem, alpha, rhs_per_input=np.isin(np.arange(n), list(support)).astype(float))
        full = np.zeros(cons.K)
        full[exc.certificate["rows"]] = exc.certificate["lambda"]
        assert verify_farkas(cons, full)[0]
        return
    p = sol.W[:, 0]
    for i in range(n):
        diffs = X[i, alpha[i]] - np.delete(X[i], alpha[i], axis=0)
        assert np.min(diffs @ p) >= (1.0 if i in support else 0.0) - 1e-9
    assert sol.kkt_residual <= 1e-9 and sol.duality_gap <= 1e-9
    ref = solve_vector_svm_cvxpy(sol.constraints, alpha)
    assert_matches_reference(sol.constraints, sol.W, ref.W)


# ----------------------------------------------------------------------------- the guard


ENTRY_SCALES = [1.0, 1.0, 1.0, 2.0**-24, 2.0**-40, 0.0]


@st.composite
def badly_scaled(draw):
    """Tokens and queries with entries like 2^-24 and 2^-40 (from a small set of values, or
    Gaussian entries each scaled by 1, 2^-24, 2^-40 or 0), duplicated or opposite tokens,
    per-input query scales from 2^-40 to 1e8."""
    n = draw(st.integers(1, 3))
    T = draw(st.integers(2, 4))
    d = draw(st.integers(1, 6))
    if draw(st.booleans()):
        X = np.array(draw(arrays(np.float64, (n, T, d), elements=st.sampled_from(VALS))))
        Z = np.array(draw(arrays(np.float64, (n, d), elements=st.sampled_from(VALS))))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
        X = rng.standard_normal((n, T, d)) * rng.choice(ENTRY_SCALES, (n, T, d))
        Z = rng.standard_normal((n, d)) * rng.choice(ENTRY_SCALES, (n, d))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, n - 1))
        s, t = draw(st.integers(0, T - 1)), draw(st.integers(0, T - 1))
        X[i, t] = draw(st.sampled_from([1.0, -1.0, 2.0**-24])) * X[i, s]
    Z = Z * np.array([draw(st.sampled_from(SCALES)) for _ in range(n)])[:, None]
    alpha = np.array(draw(st.lists(st.integers(0, T - 1), min_size=n, max_size=n)))
    return AttentionProblem(X, np.ones(n), np.ones(d), Z), alpha


@given(badly_scaled())
def test_solution_certified_or_typed_error(inst) -> None:
    """solve_att_svm returns a W whose margins (from the raw arrays) are >= 1 − 1e-9 with a
    small KKT residual, or raises InfeasibleSVM with a certificate that verifies, or raises
    SolverError; nothing else."""
    problem, alpha = inst
    try:
        sol = solve_att_svm(problem, alpha)
    except InfeasibleSVM as exc:
        event("infeasible")
        check_certificate(problem, alpha, exc.certificate)
        return
    except SolverError:
        event("solver error")
        return
    event("solved" + (" by a fallback" if sol.extra.get("fallbacks") else ""))
    check_solution(problem, alpha, sol, kkt=1e-6)
