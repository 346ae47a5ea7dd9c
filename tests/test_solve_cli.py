"""``attnsvm solve``: JSON fields of issue 3, exit codes 0 / 2 / 3, certificates in the output."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from attnsvm.properties.cli import main
from attnsvm.reference.attention.families import near_tie_family, paper_family
from attnsvm.reference.attention.problem import AttentionProblem

FIELDS = {"status", "norm", "select", "W", "objective", "singular_values", "rank", "min_margin",
          "kkt_residual", "duality_gap", "support", "locally_optimal", "seconds"}


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_solve_json_fields_and_values(tmp_path, capsys) -> None:
    problem = paper_family(3, 4, 5, 0)
    f = problem.save(tmp_path / "p.npz")
    code, out, err = _run(capsys, "solve", str(f), "--json")
    assert code == 0 and err == ""
    payload = json.loads(out)
    assert set(payload) == FIELDS
    assert payload["status"] == "optimal" and payload["norm"] == "fro"
    alpha = np.argmax(problem.scores, axis=1)
    assert payload["select"] == alpha.tolist()
    W = np.array(payload["W"])
    assert W.shape == (5, 5)
    assert payload["objective"] == pytest.approx(np.linalg.norm(W), rel=1e-12)
    margins = {(i, t): (problem.X[i, alpha[i]] - problem.X[i, t]) @ W @ problem.Z[i]
               for i in range(3) for t in range(4) if t != alpha[i]}
    assert min(margins.values()) >= 1 - 1e-9
    assert payload["min_margin"] == pytest.approx(min(margins.values()), abs=1e-12)
    assert {tuple(p) for p in payload["support"]} == {
        p for p, m in margins.items() if m <= 1 + 1e-6}
    sv = np.linalg.svd(W, compute_uv=False)
    assert np.allclose(payload["singular_values"], sv, atol=1e-12)
    assert payload["rank"] == int(np.sum(sv > 1e-6 * sv[0])) <= 3
    assert payload["kkt_residual"] <= 1e-9 and payload["duality_gap"] <= 1e-9
    assert payload["locally_optimal"] is True and payload["seconds"] >= 0


def test_solve_explicit_selection_and_table(tmp_path, capsys) -> None:
    f = paper_family(2, 3, 4, 1).save(tmp_path / "p.npz")
    code, out, _ = _run(capsys, "solve", str(f), "--select", "2,1", "--json")
    assert code == 0 and json.loads(out)["select"] == [2, 1]
    code, out, _ = _run(capsys, "solve", str(f), "--select", "2,1")
    assert code == 0 and "Att-SVM (fro)" in out and "KKT residual" in out


def test_infeasible_exits_3_with_verified_certificate(tmp_path, capsys) -> None:
    problem = paper_family(2, 4, 5, 3)
    X = np.array(problem.X)
    X[1, 2] = X[1, 0]
    bad = AttentionProblem(X, problem.Y, problem.v, problem.Z)
    f = bad.save(tmp_path / "dup.npz")
    code, out, err = _run(capsys, "solve", str(f), "--select", "1,0", "--json")
    assert code == 3 and "infeasible" in err
    payload = json.loads(out)
    assert payload["status"] == "infeasible"
    cert = payload["certificate"]
    lam = np.array(cert["lambda"])
    assert np.all(lam >= 0) and abs(lam.sum() - 1) <= 1e-12
    alpha = [1, 0]
    R = sum(lk * np.outer(X[i, alpha[i]] - X[i, t], problem.Z[i])
            for lk, (i, t) in zip(lam, cert["pairs"], strict=True))
    assert np.linalg.norm(R) <= 1e-12 and cert["residual"] <= 1e-12


def test_d1_several_inputs_infeasible(tmp_path, capsys) -> None:
    X = np.array([[[1.0], [0.0]], [[0.0], [1.0]]])
    f = AttentionProblem(X, [1.0, 1.0], [1.0], [[1.0], [1.0]]).save(tmp_path / "d1.npz")
    code, out, _ = _run(capsys, "solve", str(f), "--select", "0,0", "--json")
    assert code == 3
    assert json.loads(out)["certificate"]["lambda"] == pytest.approx([0.5, 0.5], abs=1e-12)
    code, out, _ = _run(capsys, "solve", str(f), "--select", "0,1", "--json")
    assert code == 0 and json.loads(out)["W"][0] == pytest.approx([1.0], rel=1e-12)


def test_tied_optimal_token_is_bad_input(tmp_path, capsys) -> None:
    f = near_tie_family(2, 4, 5, 0, gap=0.0).save(tmp_path / "tie.npz")
    code, out, err = _run(capsys, "solve", str(f), "--json")
    assert code == 2 and out == ""
    assert "not unique" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--select", "0,a"),
        ("--select", "0"),
        ("--select", "0,9"),
        ("--select", "0,-1"),
        ("--norm", "l1"),
    ],
)
def test_bad_arguments_exit_2(tmp_path, capsys, args) -> None:
    f = paper_family(2, 3, 4, 0).save(tmp_path / "p.npz")
    code, out, err = _run(capsys, "solve", str(f), *args)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_bad_files_exit_2(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "solve", str(tmp_path / "missing.npz"))
    assert code == 2 and "no such file" in err
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    code, _, err = _run(capsys, "solve", str(junk))
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_solve_nuclear_json(tmp_path, capsys) -> None:
    if importlib.util.find_spec("attnsvm.reference.svm.nuclear") is None:
        pytest.skip("attnsvm.reference.svm.nuclear not available yet")
    problem = paper_family(3, 4, 5, 0)
    f = problem.save(tmp_path / "p.npz")
    code, out, _ = _run(capsys, "solve", str(f), "--norm", "nuc", "--json")
    assert code == 0
    nuc = json.loads(out)
    assert set(nuc) == FIELDS and nuc["norm"] == "nuc"
    _, out, _ = _run(capsys, "solve", str(f), "--json")
    fro = json.loads(out)
    Wn, Wf = np.array(nuc["W"]), np.array(fro["W"])
    assert nuc["objective"] == pytest.approx(np.linalg.svd(Wn, compute_uv=False).sum(), rel=1e-9)
    assert nuc["objective"] <= np.linalg.svd(Wf, compute_uv=False).sum() * (1 + 1e-9)
    assert nuc["rank"] <= 3 and nuc["min_margin"] >= 1 - 1e-7
    assert nuc["kkt_residual"] <= 1e-6 and nuc["duality_gap"] <= 1e-6
