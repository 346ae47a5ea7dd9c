"""Checks of the causal / full self-attention claims (TF-SVM's sequence-to-sequence extension,
``properties.claims.sequence``): regularization path and normalized GD against SAtt-SVM,
the degenerate causal position 0, the feasibility threshold, and the agreement of the symbolic
SAtt-SVM dual with the reference solver.

Instances are plain dicts {n, T, d, seed, ...}: a Gaussian sequence problem
(``reference.attention.self_attention.gaussian_sequence_problem``). Every threshold comes from
``tol``, every setting from ``protocol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.properties.premises import Premise, require
from attnsvm.properties.verdicts import Evidence
from attnsvm.reference.attention.self_attention import (
    evaluate_self_attention,
    gaussian_sequence_problem,
    self_attention_path,
    train_self_attention,
)
from attnsvm.reference.attention.training import correlation, log_checkpoints, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.sequence import (
    sequence_constraints,
    sequence_optimal_tokens,
    solve_satt_svm,
)

SEQ_FEASIBLE_OPT = Premise(
    "satt_feasible_opt", "the optimal admissible token of every query is unique and SAtt-SVM for "
    "them is feasible")
SEQ_INFEASIBLE_OPT = Premise(
    "satt_infeasible_opt", "SAtt-SVM for the optimal admissible tokens is infeasible (a verified "
    "Farkas certificate)")
SEQ_FEASIBLE_SELECTION = Premise(
    "satt_feasible_selection", "SAtt-SVM is feasible for the selection the run ends at")
FEW_ROWS = Premise(
    "satt_few_rows", "SAtt-SVM has at most the symbolic enumeration's number of rows")


def sequence_problem(spec: Mapping[str, Any]) -> Any:
    """The Gaussian sequence problem of a spec {n, T, d, seed}."""
    return gaussian_sequence_problem(spec["n"], spec["T"], spec["d"], spec["seed"])


def _evidence(ok: bool, gap: float, threshold: float, **kw: Any) -> Evidence:
    if not np.isfinite(gap):
        return Evidence.judge(gap, threshold, **kw)
    return Evidence(status="ok" if ok else "counterexample", gap=float(gap),
                    threshold=float(threshold), **kw)


def _opt_svm(p: Any, mask: str) -> Any:
    """SAtt-SVM_opt (certified), or the premise satt_feasible_opt unmet."""
    opt = sequence_optimal_tokens(p, mask)
    require("satt_feasible_opt", opt.unique, ties=len(opt.ties))
    try:
        return solve_satt_svm(p, mask, opt.tokens)
    except InfeasibleSVM:
        require("satt_feasible_opt", False, infeasible=True)
        raise  # pragma: no cover - require raised


def _direction_evidence(curve: np.ndarray, tol: Mapping[str, Any], details: dict[str, Any],
                        what: str) -> Evidence:
    """ok when 1 − corr at the end is within ``one_minus_corr``; a counterexample when it is not
    and the curve falls at the end (beyond ``noise``); inconclusive otherwise."""
    gap, noise = float(1.0 - curve[-1]), tol["noise"]
    if gap <= tol["one_minus_corr"]:
        return Evidence("ok", gap, tol["one_minus_corr"], trend=tuple(float(c) for c in curve),
                        details=details)
    falling = bool(curve[-1] < curve[-2] - noise)
    return Evidence("counterexample" if falling else "inconclusive", gap, tol["one_minus_corr"],
                    trend=tuple(float(c) for c in curve), details=details,
                    note=f"{what} correlation decreasing at the end" if falling
                    else f"{what} not aligned within the budget")


def check_regpath(instance: Mapping[str, Any], tol: Mapping[str, Any],
                  protocol: Mapping[str, Any]) -> Evidence:
    """W_R / R of masked self-attention aligns with SAtt-SVM_opt as R grows."""
    mask = protocol["mask"]
    p = sequence_problem(instance)
    svm = _opt_svm(p, mask)
    pts = self_attention_path(p, protocol["radii"], mask, starts=int(protocol["starts"]),
                              steps=int(protocol["steps"]), seed=instance["init_seed"])
    curve = np.array([float(correlation(pt.W, svm.W)) for pt in pts])
    details = {"radii": [pt.R for pt in pts], "corr_svm": curve.tolist(),
               "losses": [pt.loss for pt in pts], "rows": svm.constraints.K,
               "degenerate_queries": svm.extra["degenerate_queries"]}
    return _direction_evidence(curve, tol, details, "path")


def check_ngd(instance: Mapping[str, Any], tol: Mapping[str, Any],
              protocol: Mapping[str, Any]) -> Evidence:
    """Normalized GD of masked self-attention converges in direction to SAtt-SVM of the
    selection it ends at (argmax of its final softmax per query)."""
    mask = protocol["mask"]
    p = sequence_problem(instance)
    steps = int(protocol["steps"])
    W0 = uniform_init((1, p.d, p.d), instance["init_seed"])
    res = train_self_attention(p, W0, mask, steps=steps, lr=protocol["lr"],
                               checkpoints=log_checkpoints(steps))
    m = float(res.min_max_prob[0])
    require("saturated", m >= tol["saturated"], min_max_prob=m)
    sel = res.selected[0].reshape(p.n, p.T)
    try:
        svm = solve_satt_svm(p, mask, sel)
    except InfeasibleSVM:
        require("satt_feasible_selection", False, selection=sel.tolist())
        raise  # pragma: no cover
    hist = res.history["W"][0]
    tail = hist[1:]  # the initialisation is not on the path
    curve = np.asarray(correlation(tail, svm.W[None]))
    opt = sequence_optimal_tokens(p, mask).tokens
    details = {"checkpoints": res.checkpoints[1:].tolist(), "corr_svm": curve.tolist(),
               "selection": sel.tolist(), "selection_is_opt": bool(np.array_equal(sel, opt)),
               "min_max_prob": m, "norm_W": float(np.linalg.norm(hist[-1]))}
    return _direction_evidence(curve, tol, details, "GD")


def check_position_zero(instance: Mapping[str, Any], tol: Mapping[str, Any],
                        protocol: Mapping[str, Any]) -> Evidence:
    """Causal position 0 selects itself: s_i0 = e_0 and f_i0 = vᵀx_i0 for W of any scale, the
    gradient does not depend on Y_i0, and SAtt-SVM has no row for it."""
    p = sequence_problem(instance)
    rng = np.random.default_rng(instance["w_seed"])
    scales = np.asarray(protocol["scales"], dtype=np.float64)
    W = rng.standard_normal((scales.size, p.d, p.d)) * scales[:, None, None]
    ev = evaluate_self_attention(p.X, p.Y, p.v, W, "causal")
    flipped = p.Y.copy()
    flipped[:, 0] *= -1.0
    ev2 = evaluate_self_attention(p.X, flipped, p.v, W, "causal")
    e0 = np.zeros(p.T)
    e0[0] = 1.0
    prob_err = float(np.max(np.abs(ev.probs[..., 0, :] - e0)))
    out_err = float(np.max(np.abs(ev.outputs[..., 0] - p.X[:, 0] @ p.v)))
    grad_err = float(np.max(np.abs(ev.grad - ev2.grad))
                     / max(float(np.max(np.abs(ev.grad))), tol["tiny"]))
    cons = sequence_constraints(p, sequence_optimal_tokens(p, "causal").tokens, "causal")
    rows0 = int(np.sum(cons.pairs[:, 0] % p.T == 0))
    gap = max(prob_err, out_err, grad_err, float(rows0))
    return _evidence(gap <= tol["exact"], gap, tol["exact"],
                     details={"prob_error": prob_err, "output_error": out_err,
                              "grad_dependence_on_Y0": grad_err, "rows_at_position_0": rows0,
                              "rows": cons.K})


def _feasible(n: int, T: int, d: int, seed: int, mask: str) -> bool:
    try:
        solve_satt_svm(gaussian_sequence_problem(n, T, d, seed), mask, prove=False)
    except InfeasibleSVM:
        return False
    return True


def feasible_fraction(n: int, T: int, d: int, seeds: range, mask: str) -> float:
    """Fraction of the Gaussian instances (one per seed) whose SAtt-SVM_opt is feasible (ties
    of the optimal token have probability 0 and are not expected)."""
    return float(np.mean([_feasible(n, T, d, s, mask) for s in seeds]))


def check_feasibility_threshold(instance: Mapping[str, Any], tol: Mapping[str, Any],
                                protocol: Mapping[str, Any]) -> Evidence:
    """The statement "feasibility needs d of the order of nT": at d = nT/2 at most
    ``max_fraction`` of the instances are feasible. Measures the fraction feasible on d = 1..nT
    and the transition d_50 (the smallest d with at least half feasible)."""
    n, T, mask = instance["n"], instance["T"], protocol["mask"]
    draws = range(instance["seed"], instance["seed"] + int(protocol["draws"]))
    nT = n * T
    probe = max(1, nT // 2)
    fractions: dict[int, float] = {}
    for d in range(1, nT + 1):
        fractions[d] = feasible_fraction(n, T, d, draws, mask)
        if fractions[d] == 1.0 and d >= probe:
            break
    half = [d for d, f in fractions.items() if f >= tol["half"]]
    d50 = half[0] if half else None
    rows = n * T * (T - 1) // 2 if mask == "causal" else n * T * (T - 1)
    at_probe = fractions.get(probe, 1.0)
    details = {"nT": nT, "rows": rows, "d_probe": probe, "fraction_at_probe": at_probe,
               "d50": d50, "fractions": {str(k): v for k, v in fractions.items()},
               "d50_squared_over_nT": None if d50 is None else d50 * d50 / nT,
               "d50_squared_over_rows": None if d50 is None else d50 * d50 / rows,
               "d50_squared_over_nT_lnT": None if d50 is None else d50 * d50 / (nT * np.log(T))}
    return _evidence(at_probe <= tol["max_fraction"], at_probe, tol["max_fraction"],
                     details=details)


def check_overparameterized(instance: Mapping[str, Any], tol: Mapping[str, Any],
                            protocol: Mapping[str, Any]) -> Evidence:
    """With d >= nT (the n T queries linearly independent, every token a vertex of its
    admissible set) SAtt-SVM_opt is feasible; the certified solution's min margin is 1."""
    mask = protocol["mask"]
    spec = {**instance, "d": instance["n"] * instance["T"] + instance["extra_d"]}
    p = sequence_problem(spec)
    opt = sequence_optimal_tokens(p, mask)
    require("satt_feasible_opt", opt.unique, ties=len(opt.ties))
    try:
        sol = solve_satt_svm(p, mask, opt.tokens)
    except InfeasibleSVM as exc:
        return Evidence("counterexample", 1.0, tol["margin"], details={
            "d": p.d, "nT": p.n * p.T, "certificate": str(exc)})
    gap = abs(sol.min_margin - 1.0)
    return _evidence(gap <= tol["margin"], gap, tol["margin"],
                     details={"d": p.d, "nT": p.n * p.T, "objective": sol.objective,
                              "rank": sol.rank, "duality_gap": sol.duality_gap})


def check_underparameterized_ngd(instance: Mapping[str, Any], tol: Mapping[str, Any],
                                 protocol: Mapping[str, Any]) -> Evidence:
    """(naive) normalized GD ends at the optimal tokens of every query, also below the
    feasibility threshold. A counterexample: SAtt-SVM_opt infeasible and GD's argmax differs
    from opt at some query (it must: argmax = opt everywhere would make opt feasible)."""
    mask = protocol["mask"]
    p = sequence_problem(instance)
    opt = sequence_optimal_tokens(p, mask)
    try:
        solve_satt_svm(p, mask, opt.tokens, prove=False)
        require("satt_infeasible_opt", False)
    except InfeasibleSVM:
        pass
    steps = int(protocol["steps"])
    res = train_self_attention(p, uniform_init((1, p.d, p.d), instance["init_seed"]), mask,
                               steps=steps, lr=protocol["lr"])
    sel = res.selected[0].reshape(p.n, p.T)
    wrong = float(np.mean(sel != opt.tokens))
    own: dict[str, Any] = {}
    try:
        sol = solve_satt_svm(p, mask, sel, prove=False)
        own = {"own_selection_feasible": True,
               "corr_own_svm": float(correlation(res.params["W"][0], sol.W))}
    except InfeasibleSVM:
        own = {"own_selection_feasible": False}
    return _evidence(wrong <= tol["wrong_fraction"], wrong, tol["wrong_fraction"],
                     details={"fraction_not_opt": wrong, "d": p.d, "nT": p.n * p.T,
                              "min_max_prob": float(res.min_max_prob[0]), **own})


def check_dual_agreement(instance: Mapping[str, Any], tol: Mapping[str, Any],
                         protocol: Mapping[str, Any]) -> Evidence:
    """The symbolic SAtt-SVM dual (stacked queries, causal admissible set; exact active-set
    KKT point) against the reference solver: same rows, same W^mm, symbolic KKT residuals of
    the reference (W, λ) at round-off."""
    from attnsvm.symbolic.registry import get as derivation

    pred = derivation("satt-svm-dual").predicates
    mask, decision = protocol["mask"], tol["decision"]
    p = sequence_problem(instance)
    opt = sequence_optimal_tokens(p, mask)
    require("satt_feasible_opt", opt.unique)
    A, Zk, triples = pred["sequence_constraint_vectors"](p.X, opt.tokens, mask)
    require("satt_few_rows", A.shape[0] <= int(protocol["max_rows"]), rows=int(A.shape[0]))
    cons = sequence_constraints(p, opt.tokens, mask)
    ours = np.stack([cons.pairs[:, 0] // p.T, cons.pairs[:, 0] % p.T, cons.pairs[:, 1]], 1)
    same_rows = bool(np.array_equal(np.asarray(triples), ours)
                     and np.allclose(A, cons.a, rtol=0, atol=0)
                     and np.allclose(Zk, cons.z, rtol=0, atol=0))
    sym = pred["active_set_svm"](A, Zk)
    try:
        ref = solve_satt_svm(p, mask, opt.tokens)
    except InfeasibleSVM:
        agree = sym is None and same_rows
        return _evidence(agree, 0.0 if agree else 1.0, decision,
                         details={"reference": "infeasible", "symbolic_found": sym is not None,
                                  "same_rows": same_rows})
    if sym is None or not same_rows:
        return Evidence("counterexample", 1.0, tol["relative"],
                        details={"symbolic_found": sym is not None, "same_rows": same_rows})
    kkt = pred["kkt_residuals"](ref.W, ref.lam, A, Zk)
    scale = max(1.0, float(np.max(np.abs(ref.W))))
    err = float(np.max(np.abs(ref.W - sym[0])) / max(float(np.max(np.abs(sym[0]))), tol["tiny"]))
    worst = max(err, max(abs(x) for x in kkt.values()) / scale)
    return _evidence(worst <= tol["relative"], worst, tol["relative"],
                     details={"W_rel_error": err, "kkt": kkt, "rows": int(A.shape[0])})
