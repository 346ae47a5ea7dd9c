"""Issue 17 §1 ("never a wrong answer that looks right") and the numerics part of §2.

The contract, asserted by hypothesis over the Python API and the ``solve`` / ``train`` /
``make-problem`` commands (run in-process through ``attnsvm.properties.cli.main``):

* the API returns, or raises one of attnsvm's typed errors (``AttnsvmError``: ``ProblemError``
  naming the field, ``InfeasibleSVM``, ...), never a bare numpy/Python exception, and never
  modifies its inputs;
* a command exits 0, 2, 3 or 4 only (4: infeasible at working precision), prints exactly one
  line on stderr when it fails, never a traceback, never NaN or Infinity in its JSON, and leaves
  its input file untouched.

Regression tests pin each failure class of the issue: certificates of data scaled by 1e±80 ..
1e±150 (scale-aware, in the user's units, refused when float64 cannot represent them), ties of
tiny scores, near-infeasible programs (their own status, an exact rational check shows they are
feasible), non-finite training results, refused dtypes, duplicate .npz entries, absurd sizes and
selections on the command line, and pickling of typed errors.

Budget: the ci profile runs each hypothesis test with the counts in ``EXAMPLES`` (960 examples,
about 10 s in all); ``HYPOTHESIS_PROFILE=dev`` multiplies them by 4 and ``deep`` by 40.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import zipfile
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import attnsvm
from attnsvm.properties.cli import main
from attnsvm.properties.errors import ClaimError
from attnsvm.reference.attention.families import near_tie_family, paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.training import require_finite_result, train_W, uniform_init
from attnsvm.reference.errors import (
    AttnsvmError,
    InfeasibleAtWorkingPrecision,
    InfeasibleSVM,
    NumericalError,
    ProblemError,
)
from attnsvm.reference.related.fast_weights import ZeroNormalizerError
from attnsvm.reference.svm.certificates import SolverError, certificate_failures, certify
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.nuclear import solve_nuclear_svm
from attnsvm.reference.svm.selection import optimal_tokens, resolve_selection

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
SCALE = {"ci": 1, "dev": 4, "deep": 40}.get(PROFILE, 1)
#: hypothesis examples per test under the ci profile (times SCALE under dev / deep)
EXAMPLES = {"api": 600, "cli": 240, "scale": 60, "ties": 60}


def examples(kind: str) -> settings:
    return settings(max_examples=EXAMPLES[kind] * SCALE,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _no_constant(name: str) -> None:
    raise ValueError(f"non-JSON constant {name} in the output")


def strict_json(text: str) -> object:
    """json.loads that refuses NaN, Infinity and -Infinity."""
    return json.loads(text, parse_constant=_no_constant)


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_cli_contract(code: int, out: str, err: str, *, json_out: bool) -> None:
    assert code in (0, 2, 3, 4), (code, err)
    assert "Traceback" not in err and "Traceback" not in out
    if code != 0:
        assert len(err.strip().splitlines()) == 1, err
    else:
        assert err.strip() == "", err
    if (json_out or code in (3, 4)) and out.strip():
        strict_json(out)


def scaled(problem: AttentionProblem, s: float) -> AttentionProblem:
    return AttentionProblem(problem.X * s, problem.Y, problem.v, problem.Z * s)


# ============================================================================ §1: scale


BASE = paper_family(3, 4, 5, 0)
SCALES = [1e-150, 1e-100, 1e-80, 1e-40, 1e40, 1e80, 1e90, 1e100]


@pytest.fixture(scope="module")
def base_solutions():
    return {"fro": solve_att_svm(BASE), "nuc": solve_nuclear_svm(BASE)}


@pytest.mark.parametrize("norm", ["fro", "nuc"])
@pytest.mark.parametrize("s", SCALES)
def test_scaled_data_are_certified_in_user_units(s, norm, base_solutions) -> None:
    """W(sX, sZ) = W / s^2: objective, margins and multipliers of the scaled problem are those of
    the unscaled one in the user's units (no underflowed zeros; 1e90 used to give objective 0,
    multipliers 0 and a passing certificate; 1e-80 used to be refused by the Frobenius solver)."""
    base = base_solutions[norm]
    sol = (solve_att_svm if norm == "fro" else solve_nuclear_svm)(scaled(BASE, s))
    rel = 1e-9 if norm == "fro" else 1e-6
    assert sol.objective > 0 and np.isfinite(sol.objective)
    assert sol.objective * s * s == pytest.approx(base.objective, rel=rel)
    assert sol.kkt_residual <= 1e-6 and sol.duality_gap <= 1e-6
    # margins recomputed from the raw data, in normalized units (no under/overflow)
    Wn = (sol.W * s) * s
    alpha = sol.select
    for i in range(BASE.n):
        for t in range(BASE.T):
            if t != alpha[i]:
                m = (BASE.X[i, alpha[i]] - BASE.X[i, t]) @ Wn @ BASE.Z[i]
                assert m >= 1 - 1e-7
    # the multipliers (lam * 2**lam_exponent) reproduce W: W = Σ λ_k A_k (fro), or ||G|| <= 1
    power = 4 if norm == "fro" else 2
    k = int(round(power * np.log2(s)))
    lam = np.ldexp(sol.lam, sol.lam_exponent + k) * (s**power / 2.0**k if abs(k) < 1000 else
                                                       np.exp(power * np.log(s) - k * np.log(2)))
    cons = margin_constraints(BASE, alpha)
    G = cons.combine(lam)
    if norm == "fro":
        assert np.linalg.norm(G - Wn) <= 1e-7 * np.linalg.norm(Wn)
        assert np.sum(lam) == pytest.approx(float(np.sum(base.lam)), rel=1e-6)
    else:
        assert np.linalg.norm(G, 2) <= 1 + 1e-6
        assert np.sum(lam) == pytest.approx(base.objective, rel=1e-6)


@pytest.mark.parametrize("s", [1e90, 1e-80])
def test_cli_reports_scaled_solutions_in_user_units(tmp_path, s, base_solutions) -> None:
    f = scaled(BASE, s).save(tmp_path / "p.npz")
    code, out, err = run_cli("solve", str(f), "--json")
    assert_cli_contract(code, out, err, json_out=True)
    payload = strict_json(out)
    assert code == 0 and payload["status"] == "optimal"
    assert payload["objective"] * s * s == pytest.approx(base_solutions["fro"].objective, rel=1e-9)
    assert payload["kkt_residual"] <= 1e-9 and payload["duality_gap"] <= 1e-9
    assert all(sv * s * s > 0 for sv in payload["singular_values"][:1])


@pytest.mark.parametrize("norm", ["fro", "nuc"])
@pytest.mark.parametrize("s", [1e150, 1e-160, 1e200])
def test_unrepresentable_solutions_are_refused(tmp_path, s, norm) -> None:
    """||W^mm|| ~ 1/s^2 beyond float64's range: a typed refusal naming X, never 'optimal'."""
    solver = solve_att_svm if norm == "fro" else solve_nuclear_svm
    with pytest.raises(ProblemError) as info:
        solver(scaled(BASE, s))
    assert info.value.field == "X"
    f = scaled(BASE, s).save(tmp_path / "p.npz")
    code, out, err = run_cli("solve", str(f), "--norm", norm, "--json")
    assert code == 2 and out == "" and "X:" in err and len(err.strip().splitlines()) == 1


def test_a_certificate_of_underflowed_zeros_fails() -> None:
    """The historic pass: W ~ 1e-181 whose squared norm underflows, multipliers 0. Certified on
    the normalized rows, zeros fail; the true pair passes with a positive objective."""
    big = scaled(BASE, 1e90)
    sol = solve_att_svm(big)
    cons = margin_constraints(big, sol.select)
    good = certify(cons, sol.W, sol.lam, lam_exponent=sol.lam_exponent)
    assert certificate_failures(cons, good, sol.W) == []
    assert good.objective == pytest.approx(sol.objective) and good.objective > 1e-200
    zero_lam = certify(cons, sol.W, np.zeros_like(sol.lam))
    assert certificate_failures(cons, zero_lam, sol.W)
    zero_W = certify(cons, np.zeros_like(sol.W), np.zeros_like(sol.lam))
    assert certificate_failures(cons, zero_W, np.zeros_like(sol.W))


@given(st.integers(0, 40), st.integers(-160, 160), st.integers(-160, 160),
       st.sampled_from(["fro", "nuc"]))
@examples("scale")
def test_scale_never_changes_the_answer(seed, kx, kz, norm) -> None:
    """Property: for X scaled by 10^kx and Z by 10^kz the solver either certifies the same
    optimum in the user's units (objective x 10^(kx + kz) equal to the unscaled one) or, when
    that solution is out of float64's range, refuses with ProblemError("X")."""
    p = paper_family(2, 3, 4, seed)
    solver = solve_att_svm if norm == "fro" else solve_nuclear_svm
    try:
        ref = solver(p)
    except InfeasibleSVM:
        return
    sx, sz = 10.0**kx, 10.0**kz
    try:
        sol = solver(AttentionProblem(p.X * sx, p.Y, p.v, p.Z * sz), ref.select)
    except ProblemError as exc:
        assert exc.field == "X" and abs(kx + kz) >= 295
        return
    assert (sol.objective * sx) * sz == pytest.approx(ref.objective,
                                                      rel=1e-9 if norm == "fro" else 1e-6)
    assert sol.kkt_residual <= 1e-6 and sol.min_margin >= 1 - 1e-7


# ============================================================================ §1: small scores


@pytest.mark.parametrize("s", [1e-9, 1e-12, 1e-40, 1e-80, 2.0**-24])
def test_tiny_scores_keep_their_unique_optimum(tmp_path, s) -> None:
    """The tie tolerance is relative to the score scale: scaling X changes no tie decision
    (scores below ~1e-8 used to tie everywhere, so --select opt refused unique optima)."""
    small = AttentionProblem(BASE.X * s, BASE.Y, BASE.v, BASE.Z)
    opt, ref = optimal_tokens(small), optimal_tokens(BASE)
    assert opt.unique and np.array_equal(opt.tokens, ref.tokens)
    assert np.array_equal(resolve_selection(small, "opt"), ref.tokens)
    f = scaled(BASE, s).save(tmp_path / "p.npz")
    for norm in ("fro", "nuc"):
        code, out, err = run_cli("solve", str(f), "--norm", norm, "--json")
        assert code == 0, err
        assert strict_json(out)["select"] == ref.tokens.tolist()
    tie = near_tie_family(2, 4, 5, 0, gap=0.0)
    assert not optimal_tokens(AttentionProblem(tie.X * s, tie.Y, tie.v, tie.Z)).unique


@given(st.integers(0, 100), st.integers(-950, 950),
       st.sampled_from([0.0, 1e-12, 1e-9, 1e-6, 1e-3]))
@examples("ties")
def test_tie_decisions_are_scale_invariant(seed, k, gap) -> None:
    """Property: scaling the tokens by 2^k (exact) leaves every tie decision as it was."""
    p = near_tie_family(3, 4, 3, seed, gap=gap)
    q = AttentionProblem(np.ldexp(p.X, k), p.Y, p.v, p.Z)
    a, b = optimal_tokens(p), optimal_tokens(q)
    assert a.ties == b.ties and np.array_equal(a.tokens, b.tokens)


# ============================================================================ §1: near-infeasible


def _exact_feasible_point(problem: AttentionProblem, alpha: np.ndarray) -> np.ndarray:
    """W = Σ μ_k A_k with G μ = 1 solved in exact rational arithmetic: every margin is exactly
    1, so the program is feasible (a proof, when G is nonsingular). Returns W in float64."""
    n, T, d = problem.X.shape
    F = np.vectorize(Fraction, otypes=[object])
    X, Z = F(problem.X), F(problem.Z)
    rows = [np.outer(X[i, alpha[i]] - X[i, t], Z[i]).reshape(-1)
            for i in range(n) for t in range(T) if t != alpha[i]]
    K = len(rows)
    M = [[sum(a * b for a, b in zip(rows[k], rows[m], strict=True)) for m in range(K)]
         + [Fraction(1)] for k in range(K)]
    for c in range(K):  # Gauss-Jordan over Q
        piv = next(r for r in range(c, K) if M[r][c] != 0)
        M[c], M[piv] = M[piv], M[c]
        M[c] = [x / M[c][c] for x in M[c]]
        for r in range(K):
            if r != c and M[r][c] != 0:
                M[r] = [x - M[r][c] * y for x, y in zip(M[r], M[c], strict=True)]
    mu = [M[k][K] for k in range(K)]
    W = [sum(mu[k] * rows[k][j] for k in range(K)) for j in range(d * d)]
    assert all(sum(a * w for a, w in zip(rows[k], W, strict=True)) == 1 for k in range(K))
    return np.array([float(w) for w in W]).reshape(d, d)


@pytest.mark.parametrize(("seed", "delta"), [(0, 1e-10), (1, 1e-10), (2, 1e-12), (0, 1e-9)])
def test_near_infeasible_is_not_reported_as_proved(tmp_path, seed, delta) -> None:
    """A selected token duplicated up to delta: the program is feasible (exact rational check)
    with ||W^mm|| ~ 1/delta; the solvers say 'infeasible at working precision' (a subclass of
    InfeasibleSVM with the conditioning and a norm bound), the command exits 4."""
    p = paper_family(3, 4, 5, seed)
    alpha = np.argmax(p.scores, axis=1)
    X = np.array(p.X)
    t = (alpha[1] + 1) % 4
    X[1, t] = X[1, alpha[1]] + delta * np.arange(1, 6)
    q = AttentionProblem(X, p.Y, p.v, p.Z)
    W = _exact_feasible_point(q, alpha)  # feasible, by an exact proof
    for solver in (solve_att_svm, solve_nuclear_svm):
        with pytest.raises(InfeasibleAtWorkingPrecision) as info:
            solver(q, alpha)
        cert = info.value.certificate
        assert cert["proved"] is False and isinstance(info.value, InfeasibleSVM)
        assert cert["conditioning"] >= 1e8 and cert["residual"] > 0
        assert 0 < cert["norm_lower_bound"] <= np.linalg.norm(W) * (1 + 1e-6)
    f = q.save(tmp_path / "near.npz")
    code, out, err = run_cli("solve", str(f), "--select", ",".join(map(str, alpha)), "--json")
    assert_cli_contract(code, out, err, json_out=True)
    payload = strict_json(out)
    assert code == 4 and payload["status"] == "infeasible_at_working_precision"
    assert payload["certificate"]["conditioning"] >= 1e8
    assert "working precision" in err and "residual" in err


def test_proved_infeasibility_keeps_exit_3(tmp_path) -> None:
    """Exact duplicates (a zero row) and exactly opposite rows are proved in exact arithmetic."""
    p = paper_family(3, 4, 5, 0)
    X = np.array(p.X)
    X[1, 1] = X[1, 0]
    f = AttentionProblem(X, p.Y, p.v, p.Z).save(tmp_path / "dup.npz")
    for norm in ("fro", "nuc"):
        code, out, err = run_cli("solve", str(f), "--select", "0,0,0", "--norm", norm, "--json")
        assert_cli_contract(code, out, err, json_out=True)
        cert = strict_json(out)["certificate"]
        assert code == 3 and cert["proved"] is True and cert["proof"] == "exact zero row"
    d1 = AttentionProblem([[[1.0], [0.0]], [[0.0], [1.0]]], [1.0, 1.0], [1.0], [[1.0], [2.0]])
    with pytest.raises(InfeasibleSVM) as info:
        solve_att_svm(d1, [0, 0])
    assert type(info.value) is InfeasibleSVM and info.value.proved
    assert [Fraction(x) for x in info.value.certificate["exact_lambda"]] == [Fraction(2, 3),
                                                                              Fraction(1, 3)]


# ============================================================================ §1: training


def test_non_finite_training_is_an_error(tmp_path) -> None:
    """X, Z x 1e150: the logits overflow, the weights become NaN: exit 2 naming the cause, not
    NaN weights with exit 0. --lr 1e300: no "Infinity" in the JSON."""
    big = scaled(BASE, 1e150)
    with np.errstate(all="ignore"):
        res = train_W(big.X, big.Y, big.Z, big.v, uniform_init((1, 5, 5), 0), steps=3)
    assert not res.finite
    with pytest.raises(NumericalError):
        require_finite_result(res, big.X, big.Z, 0.1, 3)
    f = big.save(tmp_path / "big.npz")
    code, out, err = run_cli("train", str(f), "--steps", "3", "--json")
    assert code == 2 and out == "" and "non-finite" in err
    assert len(err.strip().splitlines()) == 1
    # (K, Q): the gradients' squared norms overflow; the step used to become 0 (a frozen run
    # reported as trained). Now it moves, and ends finite (exit 0) or non-finite (exit 2).
    code, out, err = run_cli("train", str(f), "--steps", "3", "--param", "KQ", "--json")
    assert_cli_contract(code, out, err, json_out=True)
    if code == 0:
        W_end = np.array(strict_json(out)["runs"][0]["W"])
        _, out0, _ = run_cli("train", str(f), "--steps", "0", "--param", "KQ", "--json")
        assert not np.array_equal(W_end, np.array(strict_json(out0)["runs"][0]["W"]))
    else:
        assert "non-finite" in err
    g = BASE.save(tmp_path / "p.npz")
    code, out, err = run_cli("train", str(g), "--steps", "20", "--lr", "1e300", "--json")
    assert_cli_contract(code, out, err, json_out=True)
    if code == 0:
        assert all(np.isfinite(r["norm"]) for r in strict_json(out)["runs"])


# ============================================================================ §2: inputs


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("X", BASE.X + 0j),
        ("X", BASE.X > 0),
        ("Y", BASE.Y.astype("datetime64[s]")),
        ("v", BASE.v.astype(str)),
        ("Z", BASE.Z.astype(object)),
        ("Z", BASE.Z.astype(bytes)),
        ("Y", np.array([2**60 + 1, 1, -1])),
    ],
)
def test_bad_dtypes_are_refused(field, value) -> None:
    arrays = dict(BASE.arrays(), **{field: value})
    with pytest.raises(ProblemError) as info:
        AttentionProblem(**arrays)
    assert info.value.field == field


def test_real_dtypes_convert_exactly() -> None:
    ints = AttentionProblem(np.ones((1, 2, 2), dtype=np.int32), np.array([1, -1])[:1],
                            np.array([1, 0], dtype=np.uint8), np.ones((1, 2), dtype=np.int64))
    assert ints.X.dtype == np.float64 and ints.Y.tolist() == [1.0]
    f32 = BASE.X.astype(np.float32)
    assert np.array_equal(AttentionProblem(f32, BASE.Y, BASE.v, BASE.Z).X, f32.astype(float))
    ld = np.longdouble(1) + np.longdouble(2) ** -60
    if ld != 1:  # longdouble wider than float64 here: values float64 cannot hold are refused
        with pytest.raises(ProblemError):
            AttentionProblem(BASE.X * ld, BASE.Y, BASE.v, BASE.Z)


@pytest.mark.parametrize("second", ["X.npy", "X"])
def test_npz_with_duplicate_entries_is_refused(tmp_path, second) -> None:
    path = tmp_path / "dup.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for key, val in BASE.arrays().items():
            buf = io.BytesIO()
            np.save(buf, val)
            zf.writestr(f"{key}.npy", buf.getvalue())
        buf = io.BytesIO()
        np.save(buf, BASE.X * 2)
        with pytest.warns(UserWarning) if second == "X.npy" else contextlib.nullcontext():
            zf.writestr(second, buf.getvalue())
    with pytest.raises(ProblemError, match="duplicate"):
        AttentionProblem.load(path)
    code, out, err = run_cli("solve", str(path))
    assert code == 2 and "duplicate" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "{f}", "--seed", "-1"],
        ["train", "{f}", "--runs", "1000000000"],
        ["make-problem", "--n", "1000000000", "--T", "3", "--d", "3", "--out", "{out}"],
        ["make-problem", "--n", "2", "--T", "3", "--d", "3", "--seed", "-5", "--out", "{out}"],
        ["solve", "{f2}", "--select", "99999999999999999999999,0"],
        ["solve", "{f2}", "--select", "0,-99999999999999999999999"],
        ["make-problem", "--n", "2", "--T", "3", "--d", "3", "--out", "{blocked}/p.npz"],
    ],
)
def test_absurd_command_lines_exit_2_with_one_line(tmp_path, argv) -> None:
    f = BASE.save(tmp_path / "p.npz")
    f2 = paper_family(2, 3, 4, 0).save(tmp_path / "p2.npz")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    argv = [a.format(f=f, f2=f2, out=tmp_path / "q.npz", blocked=blocked) for a in argv]
    code, out, err = run_cli(*argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err
    if "1000000000" in argv:
        assert "budget" in err and "GiB" in err


def _raise_problem_error() -> None:
    raise ProblemError("X", "from a worker")


ERRORS = [
    ProblemError("X", "bad"),
    NumericalError("W", "overflow"),
    InfeasibleSVM("infeasible", {"lambda": [1.0], "pairs": [[0, 1]], "proved": True}),
    InfeasibleAtWorkingPrecision("near", {"lambda": [1.0], "proved": False, "conditioning": 1e9}),
    ZeroNormalizerError("Q", "zero", (0, 3)),
    SolverError("no certificate"),
    ClaimError("id", "unknown"),
]


@pytest.mark.parametrize("err", ERRORS, ids=lambda e: type(e).__name__)
def test_typed_errors_pickle(err) -> None:
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is type(err) and str(back) == str(err)
    assert {k: v for k, v in vars(back).items() if k != "_ctor"} == {
        k: v for k, v in vars(err).items() if k != "_ctor"}


def test_typed_errors_cross_a_process_pool() -> None:
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(ProblemError) as info:
        pool.submit(_raise_problem_error).result()
    assert info.value.field == "X"


# ============================================================================ contract: API

MUTATIONS = ("complex", "bool", "str", "object", "nan", "empty", "extra-axis", "flat", "junk",
             "none", "huge", "list", "scalar", "float32", "tiny")


def _mutate(a: np.ndarray, how: str):
    a = np.asarray(a, dtype=float)
    return {
        "complex": lambda: a + 1j,
        "bool": lambda: a > 0,
        "str": lambda: a.astype(str),
        "object": lambda: a.astype(object),
        "nan": lambda: np.full(a.shape, np.nan),
        "empty": lambda: a[..., :0],
        "extra-axis": lambda: a[None],
        "flat": lambda: a.reshape(-1),
        "junk": lambda: "junk",
        "none": lambda: None,
        "huge": lambda: a * 1e300,
        "list": lambda: a.tolist(),
        "scalar": lambda: 3.0,
        "float32": lambda: a.astype(np.float32),
        "tiny": lambda: a * 1e-300,
    }[how]()


BAD_INTS = [-1, 0, 1, 2, 10**30, 2.5, "3", None, True, np.int64(3), float("nan"), 3.0]
BAD_FLOATS = [0.0, -1.0, 1e-3, float("nan"), float("inf"), "x", None, 1e308, 1, True, 1e-320]


@st.composite
def api_calls(draw):
    """(name, function, args, kwargs) for a public entry point, arguments valid or mutated."""
    n, T, d = draw(st.integers(1, 3)), draw(st.integers(2, 3)), draw(st.integers(1, 3))
    p = paper_family(n, T, d, draw(st.integers(0, 5)))

    def arr(a):
        if draw(st.integers(0, 9)) < 3:
            return _mutate(a, draw(st.sampled_from(MUTATIONS)))
        return np.array(a)

    def num(valid, bad):
        return draw(st.sampled_from(bad)) if draw(st.integers(0, 9)) < 3 else valid

    def select():
        return draw(st.sampled_from([
            "opt", list(np.argmax(p.scores, axis=1)), [0] * (n + 1), [T] * n, [10**30] * n,
            [1.5] * n, "a,b", np.ones(n, bool), None, 3, "99999999999999999999999," * (n - 1) + "0",
            [draw(st.integers(0, T - 1)) for _ in range(n)],
        ]))

    W0 = uniform_init((2, d, d), 0)
    X, Y, v, Z = p.X, p.Y, p.v, p.Z
    name = draw(st.sampled_from([
        "AttentionProblem", "make_problem", "softmax", "probabilities", "outputs", "kq_outputs",
        "get_loss", "train_W", "train_KQ", "train_prompt", "uniform_init", "log_checkpoints",
        "correlation", "regularization_path", "margin_constraints", "solve_att_svm",
        "solve_nuclear_svm", "solve_prompt_svm", "solve_head_svm", "solve_relaxed_prompt_svm",
        "local_optimality", "is_locally_optimal", "solve_kq_svm", "enumerate_locally_optimal",
        "optimal_tokens", "token_scores", "certify", "verify_farkas",
    ]))
    fn = getattr(attnsvm, name)
    steps = num(2, BAD_INTS)
    lr = num(0.1, BAD_FLOATS)
    if name == "AttentionProblem":
        return name, fn, (arr(X), arr(Y), arr(v), arr(Z)), {}
    if name == "make_problem":
        fam = draw(st.sampled_from(["paper", "equal-scores", "near-tie", "nope", 3]))
        kw = draw(st.sampled_from([{}, {"gap": num(1e-3, BAD_FLOATS)}, {"bogus": 1},
                                   {"self_attention": True}]))
        return name, fn, (fam, num(n, BAD_INTS), num(T, BAD_INTS), num(d, BAD_INTS),
                          num(0, BAD_INTS)), kw
    if name == "softmax":
        return name, fn, (arr(X[..., 0]),), {}
    if name in ("probabilities",):
        return name, fn, (arr(X), arr(W0[0]), arr(Z)), {}
    if name == "outputs":
        return name, fn, (arr(X), arr(W0[0]), arr(Z), arr(v)), {}
    if name == "kq_outputs":
        return name, fn, (arr(X), arr(W0[0]), arr(W0[1]), arr(Z), attnsvm.LinearHead(arr(v))), {}
    if name == "get_loss":
        return name, fn, (draw(st.sampled_from(["logistic", "nope", 3, None, ["x"]])),), {}
    if name == "train_W":
        return name, fn, (arr(X), arr(Y), arr(Z), arr(v), arr(W0)), {
            "steps": steps, "lr": lr, "loss": num("logistic", ["nope", 3, None]),
            "checkpoints": num(None, [[0, 1], "ab", [1.5], 3, [-1]]),
            "ngd_eps": num(None, BAD_FLOATS)}
    if name == "train_KQ":
        return name, fn, (arr(X), arr(Y), arr(Z), arr(v), arr(W0), arr(W0)), {
            "steps": steps, "lr": lr, "ridge": num(0.0, BAD_FLOATS)}
    if name == "train_prompt":
        return name, fn, (arr(X), arr(Y), arr(v), arr(W0[:, 0])), {
            "key": num(None, [np.eye(d), np.eye(d + 1), "k"]), "train_v": draw(st.booleans()),
            "v0": num(None, [v, v[:0], "v"]), "lr_v_ratio": num(1.0, BAD_FLOATS),
            "steps": steps, "lr": lr}
    if name == "uniform_init":
        return name, fn, (num((2, d, d), [(), (0, 2), (-1,), "ab", (2.5,), None]),
                          num(0, BAD_INTS), num(None, BAD_FLOATS)), {}
    if name == "log_checkpoints":
        return name, fn, (num(100, BAD_INTS), num(6, BAD_INTS)), {}
    if name == "correlation":
        return name, fn, (arr(W0[0]), arr(W0[1]), num(None, BAD_INTS)), {}
    if name == "regularization_path":
        return name, fn, (p, num([0.5, 1.0], [[-1.0], "ab", [np.nan], [], None, [[1.0]]])), {
            "param": num("W", ["KQ", "x", 3]), "starts": num(2, BAD_INTS),
            "steps": num(2, BAD_INTS), "seed": num(0, BAD_INTS), "m": num(None, BAD_INTS)}
    if name == "solve_kq_svm":
        return name, fn, (p, select(), num(None, BAD_INTS)), {
            "starts": num(1, BAD_INTS), "seed": num(0, BAD_INTS)}
    if name == "enumerate_locally_optimal":
        return name, fn, (num(p, ["p", X]),), {"max_leaves": num(1000, BAD_INTS),
                                                "tie_rtol": num(1e-9, BAD_FLOATS)}
    if name in ("optimal_tokens", "token_scores"):
        return name, fn, (num(p, ["p", X, None]),), {}
    if name in ("certify", "verify_farkas"):
        cons = margin_constraints(p, np.argmax(p.scores, axis=1))
        if name == "certify":
            return name, fn, (cons, arr(W0[0]), arr(np.ones(cons.K)),
                              num("fro", ["nuc", "x", 3])), {}
        return name, fn, (cons, arr(np.ones(cons.K) / cons.K)), {"rtol": num(1e-9, BAD_FLOATS)}
    return name, fn, (num(p, ["p", X, None]), select()), {}


def _snapshot(obj):
    if isinstance(obj, np.ndarray):
        return ("nd", obj.dtype.str, obj.shape, obj.tobytes())
    if isinstance(obj, (list, tuple)):
        return (type(obj).__name__, [_snapshot(x) for x in obj])
    if isinstance(obj, dict):
        return {k: _snapshot(v) for k, v in obj.items()}
    if isinstance(obj, AttentionProblem):
        return _snapshot(obj.arrays())
    return repr(obj)


@given(api_calls())
@examples("api")
def test_api_returns_or_raises_a_typed_error(call) -> None:
    """Every public entry point: a result, or an AttnsvmError (ProblemError naming a field for
    bad input); never an untyped exception, never a modified input."""
    name, fn, args, kwargs = call
    before = _snapshot((args, kwargs))
    try:
        with np.errstate(all="ignore"):
            fn(*args, **kwargs)
    except ProblemError as exc:
        assert exc.field and str(exc).startswith(f"{exc.field}:"), (name, exc)
    except AttnsvmError:
        pass
    assert _snapshot((args, kwargs)) == before, name


# ============================================================================ contract: CLI


@st.composite
def cli_calls(draw, tmp: str):
    """(argv, input path or None, json flag): a solve / train / make-problem command line on a
    problem file that may be scaled, near-duplicated, of a refused dtype, a duplicate-entry zip
    or junk."""
    command = draw(st.sampled_from(["solve", "train", "make-problem"]))
    as_json = draw(st.booleans())
    if command == "make-problem":
        argv = ["make-problem", "--out", f"{tmp}/out.npz",
                "--n", str(draw(st.sampled_from([1, 2, 3, 0, -1, 1000000000]))),
                "--T", str(draw(st.integers(0, 4))), "--d", str(draw(st.integers(0, 4))),
                "--seed", str(draw(st.integers(-2, 3))),
                "--family", draw(st.sampled_from(["paper", "near-tie", "equal-scores"])),
                "--gap", draw(st.sampled_from(["1e-3", "0", "nan", "-1", "inf", "1e-300"]))]
        return argv + (["--json"] if as_json else []), None, as_json
    p = paper_family(draw(st.integers(1, 3)), draw(st.integers(2, 4)), draw(st.integers(1, 4)),
                     draw(st.integers(0, 9)))
    arrays = {k: np.array(v) for k, v in p.arrays().items()}
    kind = draw(st.sampled_from(["plain", "scaled", "near-dup", "complex", "bool", "int",
                                 "float32", "dup-zip", "junk"]))
    if kind == "scaled":
        s = 10.0 ** draw(st.integers(-200, 200))
        arrays["X"] = arrays["X"] * s
        arrays["Z"] = arrays["Z"] * s
    elif kind == "near-dup":
        i = draw(st.integers(0, arrays["X"].shape[0] - 1))
        t0, t1 = draw(st.integers(0, 1)), arrays["X"].shape[1] - 1
        arrays["X"][i, t1] = arrays["X"][i, t0] + 10.0 ** -draw(st.integers(6, 17))
    elif kind == "complex":
        arrays["X"] = arrays["X"] + 0j
    elif kind == "bool":
        arrays["X"] = arrays["X"] > 0
    elif kind == "int":
        arrays["Y"] = arrays["Y"].astype(np.int64)
    elif kind == "float32":
        arrays["Z"] = arrays["Z"].astype(np.float32)
    path = f"{tmp}/in.npz"
    if kind == "junk":
        with open(path, "wb") as fh:
            fh.write(b"not a zip")
    elif kind == "dup-zip":
        with zipfile.ZipFile(path, "w") as zf:
            for key in ("X", "Y", "v", "Z", "X"):
                buf = io.BytesIO()
                np.save(buf, arrays[key])
                with warnings_ignored():
                    zf.writestr(f"{key}.npy", buf.getvalue())
    else:
        np.savez(path, **arrays)
    if command == "solve":
        argv = ["solve", path, "--norm", draw(st.sampled_from(["fro", "nuc"]))]
        sel = draw(st.sampled_from(["opt", "0", "0,1", "1,0,2", "99999999999999999999999,0",
                                    "a,b", "", "0,0,0", "-1,0"]))
        argv += ["--select", sel]
    else:
        argv = ["train", path, "--steps", str(draw(st.integers(0, 20))),
                "--param", draw(st.sampled_from(["W", "KQ"])),
                "--lr", draw(st.sampled_from(["0.1", "1e300", "1e-300", "nan", "-1", "inf"])),
                "--seed", str(draw(st.integers(-2, 3))),
                "--runs", draw(st.sampled_from(["1", "2", "0", "1000000000"]))]
        if draw(st.booleans()):
            argv += ["--loss", draw(st.sampled_from(["exponential", "correlation"]))]
    return argv + (["--json"] if as_json else []), path, as_json


def _read(path: str) -> bytes:
    with open(path, "rb") as fh:
        return fh.read()


@contextlib.contextmanager
def warnings_ignored():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@given(st.data())
@examples("cli")
def test_cli_contract(tmp_path_factory, data) -> None:
    """solve / train / make-problem: exit 0/2/3/4 only, one stderr line when failing, no
    traceback, no NaN/Infinity in the JSON, the input file unchanged."""
    tmp = str(tmp_path_factory.mktemp("cli"))
    argv, path, as_json = data.draw(cli_calls(tmp))
    before = _read(path) if path else None
    code, out, err = run_cli(*argv)
    assert_cli_contract(code, out, err, json_out=as_json)
    if path:
        assert _read(path) == before
