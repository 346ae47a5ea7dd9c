"""SAtt-SVM (causal / full self-attention, TF-SVM's sequence-to-sequence extension): the sequence
npz format, the solvers against cvxpy + Clarabel (vectorized, and a per-constraint model for the
causal program), position 0, infeasibility, the self-attention gradient against torch autograd,
training, and the CLI (solve / train / make-problem --attention, bad input)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.properties.cli import main
from attnsvm.reference.attention.problem import (
    AttentionProblem,
    SequenceProblem,
    admissible,
    problem_kind,
)
from attnsvm.reference.attention.self_attention import (
    evaluate_self_attention,
    gaussian_sequence_problem,
    train_self_attention,
)
from attnsvm.reference.attention.training import correlation
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.sequence import (
    resolve_sequence_selection,
    satt_svm_per_constraint_cvxpy,
    sequence_constraints,
    sequence_optimal_tokens,
    solve_satt_svm,
    solve_satt_svm_cvxpy,
)

FIELDS = {"status", "norm", "select", "W", "objective", "singular_values", "rank", "min_margin",
          "kkt_residual", "duality_gap", "support", "locally_optimal", "seconds"}
_masks = st.sampled_from(["causal", "full"])


def _feasible_problem(n: int, T: int, extra: int, seed: int) -> SequenceProblem:
    return gaussian_sequence_problem(n, T, n * T + extra, seed)


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------------- format
def test_sequence_format_round_trip_and_kinds(tmp_path) -> None:
    p = gaussian_sequence_problem(2, 3, 4, 0)
    f = p.save(tmp_path / "s")
    assert f.suffix == ".npz" and problem_kind(f) == "sequence"
    assert SequenceProblem.load(f) == p
    with np.load(f) as data:
        assert sorted(data.files) == ["X", "Y", "v"]
    with pytest.raises(ProblemError, match="sequence problem"):
        AttentionProblem.load(f)
    cross = AttentionProblem(p.X, p.Y[:, 0], p.v, p.X[:, 0])
    g = cross.save(tmp_path / "c.npz")
    assert problem_kind(g) == "cross-attention"
    with pytest.raises(ProblemError, match="holds Z"):
        SequenceProblem.load(g)


@pytest.mark.parametrize(
    ("kw", "field", "match"),
    [
        ({"Y": np.ones((2, 2))}, "Y", "one label per position"),
        ({"Y": np.ones(2)}, "Y", "dimensions|ndim|shape"),
        ({"Y": np.full((2, 3), 0.5)}, "Y", "labels"),
        ({"X": np.zeros((2, 0, 4)), "Y": np.ones((2, 0))}, "X", "empty sequence"),
        ({"X": np.zeros((2, 1, 4)), "Y": np.ones((2, 1))}, "X", "T >= 2"),
        ({"v": np.ones(3)}, "v", "shape"),
    ],
)
def test_sequence_problem_refuses_bad_input(kw, field, match) -> None:
    base = {"X": np.ones((2, 3, 4)), "Y": np.ones((2, 3)), "v": np.ones(4)}
    with pytest.raises(ProblemError, match=match) as info:
        SequenceProblem(**{**base, **kw})
    assert info.value.field == field


def test_selection_validation_and_position_zero() -> None:
    p = gaussian_sequence_problem(2, 4, 5, 1)
    opt = sequence_optimal_tokens(p, "causal")
    assert np.all(opt.tokens[:, 0] == 0) and len(opt.degenerate) == 2
    cons = sequence_constraints(p, opt.tokens, "causal")
    assert cons.K == 2 * 4 * 3 // 2 and not np.any(cons.pairs[:, 0] % 4 == 0)
    bad = opt.tokens.copy()
    bad[0, 1] = 3  # token 3 is not admissible for position 1 under the causal mask
    with pytest.raises(ProblemError, match="not admissible"):
        resolve_sequence_selection(p, "causal", bad)
    assert resolve_sequence_selection(p, "full", bad).shape == (2, 4)
    with pytest.raises(ProblemError, match="token indices"):
        resolve_sequence_selection(p, "causal", "0,1")
    with pytest.raises(ProblemError, match="mask"):
        solve_satt_svm(p, "upper")
    tied = SequenceProblem(np.ones((1, 3, 2)), np.ones((1, 3)), np.ones(2))
    with pytest.raises(ProblemError, match="not unique"):
        resolve_sequence_selection(tied, "causal")


# ------------------------------------------------------------------------------- solvers
@settings(max_examples=3, deadline=None)
@given(n=st.integers(1, 2), T=st.integers(2, 4), extra=st.integers(0, 3),
       seed=st.integers(0, 2**31 - 1), mask=_masks)
def test_satt_svm_matches_cvxpy_models(n, T, extra, seed, mask) -> None:
    p = _feasible_problem(n, T, extra, seed)
    ours = solve_satt_svm(p, mask)
    assert ours.min_margin == pytest.approx(1.0, abs=1e-9) and ours.duality_gap < 1e-9
    vec = solve_satt_svm_cvxpy(p, mask)
    assert ours.objective == pytest.approx(vec.objective, rel=1e-6)
    per = satt_svm_per_constraint_cvxpy(p, mask, ours.select)
    assert per["rows"] == ours.constraints.K
    assert ours.objective == pytest.approx(per["objective"], rel=1e-5)
    assert float(correlation(ours.W, per["W"])) > 1 - 1e-6


@settings(max_examples=2, deadline=None)
@given(n=st.integers(1, 2), T=st.integers(2, 3), seed=st.integers(0, 2**31 - 1))
def test_satt_svm_nuclear_matches_cvxpy(n, T, seed) -> None:
    p = _feasible_problem(n, T, 1, seed)
    ours = solve_satt_svm(p, "causal", norm="nuc")
    ref = satt_svm_per_constraint_cvxpy(p, "causal", ours.select, norm="nuc")
    assert ours.duality_gap < 1e-7
    assert ours.objective == pytest.approx(ref["objective"], rel=1e-5)
    assert ours.objective >= solve_satt_svm(p, "causal").objective - 1e-9  # ||W||_* >= ||W||_F


def test_full_mask_is_stacked_cross_attention() -> None:
    p = gaussian_sequence_problem(2, 3, 7, 3)
    seq = solve_satt_svm(p, "full")
    stacked = solve_att_svm(p.stacked(), seq.select.reshape(-1))
    np.testing.assert_allclose(seq.W, stacked.W, rtol=1e-9, atol=1e-12)


def test_infeasible_causal_program_is_proved() -> None:
    p = gaussian_sequence_problem(4, 6, 2, 0)
    with pytest.raises(InfeasibleSVM) as info:
        solve_satt_svm(p, "causal")
    cert = info.value.certificate
    assert cert["proved"] is True
    assert all(0 < k < 6 and t <= k for _, k, t in cert["positions"])


def test_repeated_token_is_proved_or_working_precision() -> None:
    from attnsvm.reference.errors import InfeasibleAtWorkingPrecision

    X = np.random.default_rng(0).standard_normal((1, 3, 4))
    X[0, 2] = X[0, 0]  # position 2 attends to a copy of its selected token 0
    p = SequenceProblem(X, np.ones((1, 3)), np.ones(4))
    with pytest.raises(InfeasibleSVM) as info:
        solve_satt_svm(p, "causal", [[0, 0, 0]])
    assert info.value.certificate["proved"] is True
    assert info.value.certificate["positions"] == [[0, 2, 2]]
    X[0, 2, 0] += 1e-13
    with pytest.raises(InfeasibleAtWorkingPrecision):
        solve_satt_svm(SequenceProblem(X, np.ones((1, 3)), np.ones(4)), "causal", [[0, 0, 0]])


# ------------------------------------------------------------------------------- gradient
@settings(max_examples=5, deadline=None)
@given(n=st.integers(1, 3), T=st.integers(1, 5), d=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1), mask=_masks, scale=st.sampled_from([0.1, 1.0, 5.0]),
       loss=st.sampled_from(["logistic", "exponential", "correlation"]))
def test_gradient_matches_torch_autograd(n, T, d, seed, mask, scale, loss) -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Y = rng.choice([-1.0, 1.0], (n, T))
    v = rng.standard_normal(d)
    W = scale * rng.standard_normal((d, d))
    ev = evaluate_self_attention(X, Y, v, W, mask, loss)
    Xt, Wt = torch.tensor(X), torch.tensor(W, requires_grad=True)
    logits = (Xt @ Wt.T) @ Xt.transpose(-1, -2)
    logits = torch.where(torch.tensor(admissible(T, mask)), logits,
                         torch.tensor(-float("inf"), dtype=torch.float64))
    f = (torch.softmax(logits, -1) @ (Xt @ torch.tensor(v))[..., None])[..., 0]
    m = torch.tensor(Y) * f
    ell = {"logistic": lambda x: torch.nn.functional.softplus(-x),
           "exponential": lambda x: torch.exp(-x), "correlation": lambda x: -x}[loss]
    risk = ell(m).mean()
    risk.backward()
    assert float(ev.risk) == pytest.approx(float(risk.detach()), rel=1e-12, abs=1e-15)
    np.testing.assert_allclose(ev.grad, Wt.grad.numpy(), rtol=1e-9, atol=1e-13)
    scaled = evaluate_self_attention(X, Y, v, W, mask, loss, scaled=True)
    np.testing.assert_allclose(scaled.grad * np.exp(scaled.log_scale), ev.grad, rtol=1e-9,
                               atol=1e-300)


def test_gradient_direction_survives_saturation() -> None:
    p = gaussian_sequence_problem(2, 4, 12, 0)
    sol = solve_satt_svm(p, "causal")
    W = 2e4 * sol.W / np.linalg.norm(sol.W)
    true = evaluate_self_attention(p.X, p.Y, p.v, W, "causal")
    scaled = evaluate_self_attention(p.X, p.Y, p.v, W, "causal", scaled=True)
    assert np.all(true.grad == 0.0)  # underflowed
    assert np.all(np.isfinite(scaled.grad)) and np.linalg.norm(scaled.grad) > 0


def test_training_converges_to_its_satt_svm() -> None:
    p = gaussian_sequence_problem(2, 4, 8, 2)
    res = train_self_attention(p, np.zeros((1, 8, 8)), "causal", steps=800)
    assert res.probs.shape == (1, 8, 4) and res.min_max_prob[0] > 1 - 1e-4
    sol = solve_satt_svm(p, "causal", res.selected[0].reshape(2, 4))
    assert float(correlation(res.params["W"][0], sol.W)) > 0.99


# ------------------------------------------------------------------------------- CLI
def test_cli_solve_train_make_problem(tmp_path, capsys) -> None:
    f = tmp_path / "s.npz"
    code, out, err = _run(capsys, "make-problem", "--n", "2", "--T", "4", "--d", "10",
                          "--attention", "causal", "--out", str(f), "--json")
    assert code == 0 and json.loads(out)["degenerate_queries"] == 2
    code, out, err = _run(capsys, "solve", str(f), "--attention", "causal", "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert FIELDS <= set(payload) and payload["attention"] == "causal"
    p = SequenceProblem.load(f)
    ref = solve_satt_svm(p, "causal")
    assert payload["objective"] == pytest.approx(ref.objective, rel=1e-12)
    assert payload["select"] == ref.select.tolist() and payload["degenerate_queries"] == 2
    assert all(len(row) == 3 and row[2] <= row[1] for row in payload["support"])
    code, out, _ = _run(capsys, "solve", str(f), "--attention", "full", "--norm", "nuc",
                        "--json")
    assert code == 0 and json.loads(out)["norm"] == "nuc"
    code, out, _ = _run(capsys, "train", str(f), "--attention", "causal", "--steps", "50",
                        "--runs", "2", "--json")
    runs = json.loads(out)["runs"]
    assert code == 0 and len(runs) == 2 and np.shape(runs[0]["selected"]) == (2, 4)


def test_cli_infeasible_sequence_exit_3(tmp_path, capsys) -> None:
    f = gaussian_sequence_problem(4, 6, 2, 0).save(tmp_path / "inf.npz")
    code, out, err = _run(capsys, "solve", str(f), "--attention", "causal")
    assert code == 3 and json.loads(out)["status"] == "infeasible"
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("arrays", "args", "match"),
    [
        ({"Y": np.ones((2, 2))}, ("--attention", "causal"), "one label per position"),
        ({"X": np.zeros((2, 0, 3)), "Y": np.ones((2, 0))}, ("--attention", "full"), "empty"),
        ({}, ("--attention", "diagonal"), "diagonal"),
        ({}, (), "--attention causal"),
        ({}, ("--attention", "causal", "--select", "0,0"), "token indices"),
        ({"Z": np.ones((2, 3))}, ("--attention", "causal"), "holds Z"),
    ],
)
def test_cli_bad_sequence_input_exit_2(tmp_path, capsys, arrays, args, match) -> None:
    base = {"X": np.random.default_rng(0).standard_normal((2, 3, 3)), "Y": np.ones((2, 3)),
            "v": np.ones(3)}
    f = tmp_path / "bad.npz"
    np.savez(f, **{**base, **arrays})
    before = f.read_bytes()
    code, out, err = _run(capsys, "solve", str(f), *args)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and match in err and "Traceback" not in err
    assert f.read_bytes() == before
    if "--select" not in args:  # the same file or mask refused by train
        code, _, err = _run(capsys, "train", str(f), *args, "--steps", "1")
        assert code == 2 and len(err.strip().splitlines()) == 1 and f.read_bytes() == before


# ------------------------------------------------------------------------------- symbolic
def test_satt_svm_dual_derivation_verifies_and_matches_reference_rows() -> None:
    from attnsvm.symbolic.registry import get

    d = get("satt-svm-dual")
    result = d.verify()
    assert result.holds, [(c.name, c.detail) for c in result.checks if not c.holds]
    assert len(d.latex().splitlines()) == len(d.labelled_statement())
    p = gaussian_sequence_problem(2, 4, 3, 5)
    for mask in ("causal", "full"):
        alpha = sequence_optimal_tokens(p, mask).tokens
        A, Zk, rows = d.predicates["sequence_constraint_vectors"](p.X, alpha, mask)
        cons = sequence_constraints(p, alpha, mask)
        np.testing.assert_array_equal(A, cons.a)
        np.testing.assert_array_equal(Zk, cons.z)
        np.testing.assert_array_equal(rows[:, 0] * 4 + rows[:, 1], cons.pairs[:, 0])
