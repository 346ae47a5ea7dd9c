"""Next-token prediction as a graph SVM (Li, Huang, Ildiz, Rawat, Oymak, arXiv 2403.08081) and NTP
in linear models (Thrampoulidis, arXiv 2402.18551): the priority graph, the certified Graph-SVM
against cvxpy + Clarabel, the model's gradient against autograd, the finite part, bad input and
the command line."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.properties.cli import main
from attnsvm.reference.attention import ntp
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm import graph
from attnsvm.reference.svm.certificates import certificate_failures, certify
from attnsvm.reference.svm.frobenius import solve_constraints_cvxpy
from attnsvm.symbolic.registry import get


def _hand_made() -> ntp.NTPProblem:
    """Query 3 in the first two sequences: 0 -> {1, 2, 3} and 1 -> {0, 2, 3}: SCC {0, 1} above
    {2}, {3}; query 2 in the third, (2, 0, 1, 2) with next token 0: edges 0 -> 1, 0 -> 2."""
    E = np.eye(4)
    tokens = np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 0, 1, 2]])
    return ntp.NTPProblem(tokens, np.array([0, 1, 0]), E)


def test_priority_graph_edges_sccs_and_order() -> None:
    g = graph.priority_graphs(_hand_made())
    assert sorted(g) == [2, 3]
    q3 = g[3].as_dict()
    assert q3["edges"] == [[0, 1], [0, 2], [0, 3], [1, 0], [1, 2], [1, 3]]
    assert q3["sccs"][0] == [0, 1] and sorted(q3["sccs"][1:]) == [[2], [3]] and q3["cyclic"]
    q2 = g[2].as_dict()
    assert q2["edges"] == [[0, 1], [0, 2]] and q2["sccs"][0] == [0] and not q2["cyclic"]
    assert graph.is_cyclic(_hand_made())


def test_graph_svm_rows_and_closed_form() -> None:
    """Orthonormal embeddings: for query 3, u = W e_3 has u_0 = u_1, u_0 - u_2 >= 1, u_0 - u_3 >= 1
    (by hand: u = (1/2, 1/2, -1/2, -1/2)); for query 2, v = W e_2 has v_0 - v_1 >= 1,
    v_0 - v_2 >= 1 (v = (2/3, -1/3, -1/3, 0)); ||W||^2 = 1 + 2/3."""
    sol = graph.solve_graph_svm(_hand_made())
    cons = sol.solution.constraints
    assert int(cons.equality.sum()) == 1 and int((~cons.equality).sum()) == 6
    np.testing.assert_allclose(sol.W[:, 3], [0.5, 0.5, -0.5, -0.5], atol=1e-12)
    np.testing.assert_allclose(sol.W[:, 2], [2 / 3, -1 / 3, -1 / 3, 0], atol=1e-12)
    assert sol.solution.objective == pytest.approx(np.sqrt(1 + 2 / 3), rel=1e-12)
    assert sol.solution.kkt_residual < 1e-12 and sol.solution.duality_gap < 1e-12


_specs = st.fixed_dictionaries({
    "seed": st.integers(0, 2**31 - 1), "n": st.integers(2, 8), "T": st.integers(2, 4),
    "extra_K": st.integers(0, 2), "extra_d": st.integers(0, 2),
    "cyclic": st.sampled_from([None, True])})


@settings(max_examples=5, deadline=None)
@given(_specs)
def test_graph_svm_matches_cvxpy_clarabel(spec: dict) -> None:
    K = spec["T"] + spec["extra_K"]
    p = ntp.ntp_data(spec["n"], spec["T"], K, K + spec["extra_d"], spec["seed"],
                     cyclic=spec["cyclic"] if spec["n"] >= 4 else None)
    sol = graph.solve_graph_svm(p)
    cons = sol.solution.constraints
    W, lam, _, status = solve_constraints_cvxpy(cons)
    assert not certificate_failures(cons, certify(cons, W, lam), W), status
    assert np.linalg.norm(W - sol.W) <= 1e-6 * np.linalg.norm(sol.W)
    values = cons.values(sol.W)
    assert np.max(np.abs(values[cons.equality]), initial=0.0) < 1e-9
    assert np.min(values[~cons.equality]) > 1 - 1e-9
    # every SCC equality holds for all its tokens, not only the spanning rows kept
    for k, g in sol.graphs.items():
        for comp in g.cyclic_components():
            u = p.E[comp] @ sol.W @ p.E[k]
            assert np.ptp(u) < 1e-9
    assert np.linalg.norm(ntp.project(sol.W, ntp.finite_subspace(p))) < 1e-9


def test_gradient_matches_autograd_and_survives_saturation() -> None:
    p = ntp.ntp_data(5, 4, 6, 7, seed=3)
    X, Z, M = p.embedded()
    W = np.random.default_rng(0).standard_normal((2, 7, 7))
    ev = ntp.ntp_evaluation(W, X[None], Z[None], M[None])
    Wt = torch.tensor(W, requires_grad=True)
    logits = torch.einsum("ntd,bde,ne->bnt", torch.tensor(X), Wt, torch.tensor(Z))
    logp = torch.log_softmax(logits, dim=-1)
    mass = torch.logsumexp(logp.masked_fill(~torch.tensor(M), -torch.inf), dim=-1)
    risk = (-mass).mean(dim=-1)
    risk.sum().backward()
    np.testing.assert_allclose(ev.risk, risk.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(ev.true_grad, Wt.grad.numpy(), rtol=1e-9, atol=1e-14)
    # far along the Graph-SVM of acyclic data the float64 gradient underflows, its direction not
    q = ntp.ntp_data(5, 4, 6, 7, seed=3, cyclic=False)
    Xq, Zq, Mq = q.embedded()
    Wsvm = graph.solve_graph_svm(q).W
    far = ntp.ntp_evaluation(5000 * Wsvm[None], Xq[None], Zq[None], Mq[None])
    assert np.all(far.true_grad == 0) and np.isfinite(far.log_scale).all()
    unit = far.grad[0] / np.linalg.norm(far.grad[0])
    assert np.all(np.isfinite(unit)) and float(np.sum(unit * Wsvm)) < 0  # it still pushes out


def test_cyclic_pair_caps_the_label_mass_for_every_W() -> None:
    """Sequences (a, b, q) -> a and (b, a, q) -> b share the logit difference of a and b: for any
    W one of them keeps label mass <= 1/2; the restricted loss' minimum is log 2 (at W^fin = 0,
    the equal split)."""
    E = np.random.default_rng(1).standard_normal((3, 3))
    p = ntp.NTPProblem(np.array([[0, 1, 2], [1, 0, 2]]), np.array([0, 1]), E)
    X, Z, M = p.embedded()
    W = 10 * np.random.default_rng(2).standard_normal((200, 3, 3))
    ev = ntp.ntp_evaluation(W, X[None], Z[None], M[None])
    assert np.all(np.exp(ev.log_label_mass).min(axis=1) <= 0.5 + 1e-12)
    fp = ntp.finite_part(p)
    assert fp.converged and fp.loss == pytest.approx(np.log(2), rel=1e-12)
    assert np.linalg.norm(fp.W) < 1e-12  # the symmetric split is optimal


def test_finite_part_is_the_restricted_minimiser() -> None:
    from scipy.optimize import minimize

    p = ntp.ntp_data(6, 4, 6, 8, seed=0, cyclic=True)
    fp = ntp.finite_part(p)
    basis = ntp.finite_subspace(p)
    assert fp.converged and fp.dim == basis.shape[0] > 0
    keep, _ = ntp.reduced_sequences(p)
    X, Z, M = p.embedded()

    def loss(theta: np.ndarray) -> float:
        W = np.einsum("r,rde->de", theta, basis)
        g = np.einsum("ntd,de,ne->nt", X, W, Z)
        out = 0.0
        for i in np.flatnonzero(keep.any(axis=1)):
            gi = g[i, keep[i]]
            out += np.logaddexp.reduce(gi) - g[i, M[i]][0]
        return out / p.n

    ref = minimize(loss, np.zeros(basis.shape[0]), method="Nelder-Mead",
                   options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
    assert fp.loss <= ref.fun + 1e-12
    W_ref = np.einsum("r,rde->de", ref.x, basis)
    assert np.linalg.norm(W_ref - fp.W) < 1e-4


def test_linear_ntp_finite_solution_and_svm_geometry() -> None:
    data = ntp.linear_ntp_data(m=3, d=6, V=5, support=3, seed=4)
    star = graph.solve_constraints(graph.linear_finite_constraints(data), np.zeros(0), "W*")
    F = ntp.linear_data_subspace(data)
    logits = data.H @ star.W.T
    for j in range(3):
        S = np.flatnonzero(data.support[j])
        np.testing.assert_allclose(logits[j, S] - logits[j, S[0]],
                                   np.log(data.P[j, S] / data.P[j, S[0]]), atol=1e-12)
    assert np.linalg.norm(star.W - ntp.project(star.W, F)) < 1e-12
    mm = graph.solve_constraints(graph.ntp_svm_constraints(data), np.zeros(0), "NTP-SVM")
    assert np.linalg.norm(ntp.project(mm.W, F)) < 1e-12 and mm.min_margin == pytest.approx(1)
    W, lam, _, _ = solve_constraints_cvxpy(mm.constraints)
    assert np.linalg.norm(W - mm.W) <= 1e-6 * np.linalg.norm(mm.W)


def test_symbolic_graph_svm_kkt_verifies_and_agrees() -> None:
    d = get("graph-svm-kkt")
    assert d.verify().holds and d.latex().count("\n") == len(d.labelled_statement()) - 1
    sol = graph.solve_graph_svm(_hand_made())
    c = sol.solution.constraints
    W, _ = d.predicates["kkt_solve"](c.a, c.z, c.rhs, c.equality)
    np.testing.assert_allclose(W, sol.W, atol=1e-12)


@pytest.mark.parametrize(("tokens", "nxt", "field"), [
    ([[0, 7, 1]], [0], "tokens"),
    ([[0, -1, 1]], [0], "tokens"),
    (np.zeros((2, 0), dtype=int), [0, 0], "tokens"),
    ([[0, 1, 2]], [5], "next"),
    ([[0, 1, 2]], [3], "next"),
    ([[0.5, 1, 2]], [1], "tokens"),
])
def test_bad_ntp_data_names_the_field(tokens, nxt, field) -> None:
    with pytest.raises(ProblemError) as exc:
        ntp.NTPProblem(tokens, nxt, np.eye(4))
    assert exc.value.field == field


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_round_trip_and_bad_input(tmp_path, capsys) -> None:
    f = tmp_path / "ntp.npz"
    assert main(["make-ntp-problem", "--n", "6", "--T", "4", "--K", "6", "--d", "8",
                 "--graph", "cyclic", "--seed", "1", "--out", str(f)]) == 0
    capsys.readouterr()
    assert main(["solve-graph", str(f), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "optimal" and any(g["cyclic"] for g in out["graphs"])
    assert out["min_margin"] == pytest.approx(1) and out["max_equality_residual"] < 1e-9
    assert out["rows"]["equality"] >= 1 and out["kkt_residual"] < 1e-9
    z = dict(np.load(f))
    bad = {"index": {**z, "tokens": np.where(z["tokens"] == 0, 6, z["tokens"])},
           "empty": {**z, "tokens": np.zeros((6, 0), dtype=np.int64)}}
    for name, arrays in bad.items():
        path = tmp_path / f"{name}.npz"
        np.savez(path, **arrays)
        before = _digest(path)
        assert main(["solve-graph", str(path)]) == 2
        captured = capsys.readouterr()
        err = captured.err.strip()
        assert err.startswith("attnsvm: error: tokens:") and "\n" not in err, err
        assert "Traceback" not in err and captured.out == ""
        assert _digest(path) == before
    assert main(["make-ntp-problem", "--n", "2", "--T", "5", "--K", "3", "--d", "3",
                 "--out", str(tmp_path / "no.npz")]) == 2
    assert not (tmp_path / "no.npz").exists()
