"""ℓp-AttSVM (arXiv 2410.14581): the certified solver against cvxpy + Clarabel, its Hölder
certificate, p = 2 against the Frobenius solver, infeasibility, and ``solve --norm lp``."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.properties.cli import main
from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.lp import (
    GAP_REFUSE,
    check_p,
    dual_exponent,
    holder_certificate,
    lp_min_norm,
    solve_lp_constraints_cvxpy,
    solve_lp_svm,
)

PS = [1.0, 1.3, 1.5, 3.0, 7.0, float("inf")]


def _np_norm(W: np.ndarray, p: float) -> float:
    """Independent of the module's scaled norm: numpy's vector norm."""
    return float(np.linalg.norm(np.asarray(W).ravel(), ord=p))


def _problem(n: int, T: int, k: int, seed: int) -> AttentionProblem:
    return paper_family(n, T, max(T - 1, n) + k, seed)


def _cvxpy_objective(cons, p: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W, _, _, status = solve_lp_constraints_cvxpy(cons, p)
    assert np.all(np.isfinite(W)), status
    values = cons.values(W)
    mu = float(values.min())
    return _np_norm(W, p) / mu  # W / mu is feasible whatever Clarabel's accuracy


@settings(max_examples=5, deadline=None, derandomize=True)
@given(n=st.integers(2, 3), T=st.integers(2, 4), k=st.integers(0, 2), seed=st.integers(0, 10**6),
       p=st.sampled_from(PS))
def test_lp_solver_matches_cvxpy_clarabel_and_certifies(n, T, k, seed, p) -> None:
    problem = _problem(n, T, k, seed)
    sol = solve_lp_svm(problem, p)
    cons = sol.constraints
    W, lam = np.asarray(sol.W), np.asarray(sol.lam)
    q = dual_exponent(p)
    # the Hölder bracket, recomputed here with numpy's norms
    assert np.all(lam >= 0)
    G = cons.combine(lam)
    assert _np_norm(G, q) <= 1 + 1e-9
    assert float(cons.values(W).min()) >= 1 - 1e-9
    upper, lower = _np_norm(W, p), float(lam.sum())
    assert upper == pytest.approx(sol.objective, rel=1e-12)
    assert lower <= upper * (1 + 1e-12)
    assert (upper - lower) / upper <= GAP_REFUSE
    assert sol.duality_gap <= GAP_REFUSE and sol.norm == "lp" and sol.extra["p"] in (p, "inf")
    # the independent model: cvxpy + CLARABEL on the same rows
    ref = _cvxpy_objective(cons, p)
    assert ref >= lower * (1 - 1e-9)  # weak duality binds every feasible point
    assert abs(upper - ref) / ref <= 1e-6


def test_p2_is_the_frobenius_solution() -> None:
    problem = paper_family(4, 5, 6, 3)
    fro = solve_att_svm(problem)
    sol = solve_lp_svm(problem, 2)
    assert np.max(np.abs(sol.W - fro.W)) <= 1e-8 * np.max(np.abs(fro.W))
    assert sol.objective == pytest.approx(fro.objective, rel=1e-12)
    # the Hölder point is the Frobenius multipliers over ||W||_F
    assert np.allclose(sol.lam * fro.objective, fro.lam, rtol=1e-10, atol=1e-14)
    conic = solve_lp_svm(problem, 2, method="conic")
    assert abs(conic.objective - fro.objective) / fro.objective <= 1e-8
    assert np.linalg.norm(conic.W - fro.W) / np.linalg.norm(fro.W) <= 1e-5


def test_per_constraint_model_agrees_with_vectorized() -> None:
    problem = paper_family(3, 3, 4, 1)
    cons = margin_constraints(problem, np.argmax(problem.scores, axis=1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        W1, lam1, _, _ = solve_lp_constraints_cvxpy(cons, 1.5, per_constraint=True)
        W2, lam2, _, _ = solve_lp_constraints_cvxpy(cons, 1.5)
    assert _np_norm(W1, 1.5) == pytest.approx(_np_norm(W2, 1.5), rel=1e-7)
    assert float(lam1.sum()) == pytest.approx(float(lam2.sum()), rel=1e-6)


def test_certificate_rejects_a_suboptimal_pair() -> None:
    problem = paper_family(3, 4, 5, 0)
    sol = solve_lp_svm(problem, 1.5)
    cert = holder_certificate(sol.constraints, 2 * np.asarray(sol.W), sol.lam, 1.5)
    assert cert.duality_gap == pytest.approx(0.5, rel=1e-6)
    cert = holder_certificate(sol.constraints, sol.W, 0.5 * sol.lam, 1.5)
    assert cert.lower_bound == pytest.approx(sol.objective, rel=1e-6)  # λ/||G||_q: scale-free
    neg = np.array(sol.lam)
    neg[0] = -1.0
    assert holder_certificate(sol.constraints, sol.W, neg, 1.5).dual_sign > 0


def test_power_of_two_scaling_is_exact() -> None:
    problem = paper_family(3, 4, 5, 2)
    tiny = AttentionProblem(np.ldexp(problem.X, -80), problem.Y, problem.v,
                            np.ldexp(problem.Z, -80))
    for p in (1.0, 1.5):
        a, b = solve_lp_svm(problem, p), solve_lp_svm(tiny, p)
        assert b.objective == pytest.approx(a.objective * 2.0**160, rel=1e-7)


def test_infeasible_selection_has_a_farkas_certificate() -> None:
    problem = paper_family(3, 4, 5, 0)
    X = np.array(problem.X)
    alpha = np.argmax(problem.scores, axis=1)
    other = (alpha[0] + 1) % problem.T
    X[0, other] = X[0, alpha[0]]  # a duplicated selected token: a zero constraint row
    bad = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    for p in (1.0, 2.5, float("inf")):
        with pytest.raises(InfeasibleSVM) as info:
            solve_lp_svm(bad, p, alpha)
        assert info.value.certificate["proved"] is True


@pytest.mark.parametrize("p", [0.5, -1, "one", float("nan"), True, "-inf"])
def test_bad_exponents_are_refused(p) -> None:
    with pytest.raises(ProblemError, match="^p: "):
        check_p(p)


def test_methods_are_validated() -> None:
    cons = margin_constraints(paper_family(2, 3, 3, 0), [0, 0])
    with pytest.raises(ProblemError, match="method"):
        lp_min_norm(cons, 1.5, method="lp")
    with pytest.raises(ProblemError, match="method"):
        lp_min_norm(cons, 1.0, method="conic")


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_cli_norm_lp(tmp_path, capsys) -> None:
    problem = paper_family(3, 4, 5, 0)
    f = problem.save(tmp_path / "p.npz")
    code, out, err = _run(capsys, "solve", str(f), "--norm", "lp", "--p", "1.5", "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert payload["norm"] == "lp" and payload["p"] == 1.5
    assert payload["objective"] == pytest.approx(_np_norm(np.array(payload["W"]), 1.5), rel=1e-12)
    assert payload["duality_gap"] <= GAP_REFUSE and payload["min_margin"] >= 1 - 1e-9
    code, out, _ = _run(capsys, "solve", str(f), "--norm", "lp", "--p", "inf", "--json")
    assert code == 0 and json.loads(out)["p"] == "inf"
    code, out, _ = _run(capsys, "solve", str(f), "--json")
    assert code == 0 and "p" not in json.loads(out)
    for args in (["--p", "2"], ["--norm", "lp"], ["--norm", "lp", "--p", "0.9"],
                 ["--norm", "nuc", "--p", "2"]):
        code, out, err = _run(capsys, "solve", str(f), *args)
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, args


def test_symbolic_lp_svm_dual_verifies_and_its_closed_form_is_the_solver() -> None:
    """Derivation 'lp-svm-dual': every check holds, its statement renders, and the one-row
    closed form sign(M)|M|^(q-1)/||M||_q^q equals the certified solver's solution."""
    from attnsvm.symbolic.lp_svm_dual import canonical
    from attnsvm.symbolic.registry import get

    der = get("lp-svm-dual")
    result = der.verify()
    assert result.holds, [(c.name, c.detail) for c in result.checks if not c.holds]
    assert len(der.latex().splitlines()) == len(der.labelled_statement()) >= 3
    import sympy as sp

    g, p = sp.Symbol("g", positive=True), sp.Symbol("p", positive=True)
    assert canonical((g ** (p / (p - 1) - 1)) ** p - g ** (p / (p - 1))) == 0
    assert canonical(g ** (p / (p - 1)) - g**p) != 0  # the canonical form does not equate all
    problem = paper_family(1, 2, 3, 4)
    for pp in (1.5, 3.0):
        sol = solve_lp_svm(problem, pp)
        M = sol.constraints.combine(np.ones(1))
        W, opt = der.predicates["single_row_solution"](M, pp)
        assert opt == pytest.approx(sol.objective, rel=1e-8)
        assert np.max(np.abs(W - sol.W)) <= 1e-4 * np.max(np.abs(W))


@pytest.mark.parametrize("p", [1.5, 3.0])
def test_dual_newton_and_power_cone_agree(p: float) -> None:
    problem = paper_family(4, 4, 5, 6)
    dual = solve_lp_svm(problem, p, method="conic")
    cone = solve_lp_svm(problem, p, method="power-cone")
    assert dual.method == "lp/dual-lbfgs-newton" and cone.method == "lp/clarabel-power-cone"
    assert dual.duality_gap <= 1e-8 and cone.duality_gap <= 1e-8
    assert dual.objective == pytest.approx(cone.objective, rel=1e-8)
    assert np.max(np.abs(dual.W - cone.W)) <= 1e-4 * np.max(np.abs(dual.W))
