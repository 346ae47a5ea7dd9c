"""Checks of the (K, Q)-factorization claims (``attnsvm.properties.claims.factorization``): one
``check_<name>(instance, tol, protocol) -> Evidence`` per claim, plus their premises.

* rank-m program: with m < rank W*^mm, normalized GD on (K, Q) of width m vs the rank-m program
  (``svm.kq.solve_kq_svm``) and the convex Att-SVM* (``svm.nuclear``);
* conservation of D = K^T K - Q^T Q: the drift of plain GD over a fixed time horizon against the
  step size (slope 1 on a log-log scale) and the exact one-step increment;
* gradient flow to the nuclear-norm SVM (Sheen et al., arXiv 2403.08699): diagonal factors with a
  sign-aligned balanced small start (their premises), and full factors from a balanced random
  start (outside them);
* re-factorizations (K R, Q R^{-T}) of a balanced split cost more;
* agreement of the ``kq-conservation`` derivation with the reference.

Every threshold comes from ``tol``, every setting from ``protocol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.properties.claims.common import build_problem, require_saturated
from attnsvm.properties.premises import Premise, instance_problem, require
from attnsvm.properties.verdicts import Evidence, plain
from attnsvm.reference.attention import factorization as fz
from attnsvm.reference.attention.gradients import grad_W
from attnsvm.reference.attention.models import LinearHead
from attnsvm.reference.attention.training import correlation, train_KQ, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.kq import KQSearchFailed, balanced_factors, solve_kq_svm
from attnsvm.reference.svm.nuclear import solve_nuclear_svm
from attnsvm.reference.svm.selection import optimal_tokens

Instance = Mapping[str, Any]
Tol = Mapping[str, Any]
Protocol = Mapping[str, Any]

# several criteria, each divided by its own tolerance: all met <=> the largest quotient <= 1
_NORMALISED = 1.0


_judge = Evidence.measured  # gap vs threshold, measurements as JSON-able details


def _step_error(step: np.ndarray, predicted: np.ndarray, K: np.ndarray, Q: np.ndarray) -> float:
    """max |step - predicted| relative to |predicted|, floored at the round-off of forming D
    (float64 eps times ||K^T K|| + ||Q^T Q||: a difference of two D's cannot be more exact)."""
    floor = np.finfo(np.float64).eps * (np.abs(K.T @ K).max() + np.abs(Q.T @ Q).max())
    return float(np.abs(step - predicted).max() / max(float(np.abs(predicted).max()), floor))


def _trend_verdict(curve: np.ndarray, tol: Tol, **extra: Any) -> Evidence:
    """ok when 1 - curve[-1] <= ``one_minus_corr``; otherwise inconclusive while the curve still
    rises by more than ``noise`` over its last two checkpoints (not converged within the step
    budget), counterexample when it has stopped."""
    gap = 1.0 - float(curve[-1])
    details = {k: plain(v) for k, v in extra.items()}
    details["corr_curve"] = plain(curve)
    rising = len(curve) > 1 and curve[-1] > curve[-2] + tol["noise"]
    if gap <= tol["one_minus_corr"]:
        return Evidence("ok", gap, tol["one_minus_corr"], trend=tuple(curve), details=details)
    return Evidence("inconclusive" if rising else "counterexample", gap, tol["one_minus_corr"],
                    trend=tuple(curve), details=details,
                    note="still rising at the last checkpoint" if rising else "")


# ------------------------------------------------------------------------------ premises
def _opt_diagonal_svm(instance: Instance) -> fz.DiagonalSVMSolution | None:
    p = instance_problem(instance)
    opt = optimal_tokens(p)
    if not opt.unique:
        return None
    try:
        return fz.solve_diagonal_nuclear_svm(margin_constraints(p, opt.tokens))
    except InfeasibleSVM:
        return None


def _diagonal_feasible(instance: Instance, _tol: Tol) -> bool:
    return _opt_diagonal_svm(instance) is not None


DIAGONAL_FEASIBLE = Premise(
    "diagonal_feasible_opt",
    "the optimal tokens are unique and some diagonal W = diag(w) satisfies their margins "
    "(Sheen et al.'s separability, for diagonal K, Q)",
    _diagonal_feasible,
)
SELECTS_OPT = Premise("selects_opt", "the run ends at the optimal tokens (the selection its "
                      "sign-aligned start was built for)", None, "inconclusive")
DISTINCT_SVMS = Premise("distinct_svms", "the nuclear-norm and Frobenius SVMs of the run's "
                        "selection differ (their corr <= the tolerance 'distinct_svms')")
RANK_ABOVE_M = Premise("rank_above_m", "rank W*^mm_alpha > m for the run's selection alpha (the "
                       "factor width is below the convex solution's rank)")
RANK_M_REFERENCE = Premise("rank_m_reference", "the rank-m local solver's objective is not beaten "
                           "by the GD direction's own (else the reference is not the rank-m "
                           "optimum; relative tolerance 'objective_rtol')", None, "inconclusive")
FINITE_DRIFT = Premise("finite_drift", "every GD run stays finite and moves D (a drift of "
                       "exactly 0 has no slope)", None, "inconclusive")
RANK_M_FOUND = Premise("rank_m_found", "the rank-m (K, Q) program's local search reached a "
                       "feasible point", None, "inconclusive")


# --------------------------------------------------------------- 1. m < rank: rank-m program
def check_rank_m_program(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Normalized GD on (K, Q) of width m (K, Q each normalized, the official protocol): K Q^T
    aligns with the rank-m program's solution, and better than with Att-SVM*. gap = 1 - corr
    with the rank-m solution (ok also needs corr_rank_m > corr_nuclear)."""
    p = build_problem(instance)
    d, m = p.d, int(instance["m"])
    K0 = uniform_init((1, d, m), instance["init_seed"])
    Q0 = uniform_init((1, d, m), instance["init_seed"] + 1)
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=int(protocol["steps"]), lr=protocol["lr"],
                   ridge=protocol["ridge"])
    require_saturated(res.min_max_prob[0], tol)
    alpha = res.selected[0]
    try:
        nuc = solve_nuclear_svm(p, alpha)
    except InfeasibleSVM:
        require("feasible_selection", False, alpha=alpha.tolist())
    require("rank_above_m", nuc.rank > m, rank=nuc.rank, m=m)
    try:
        kq = solve_kq_svm(p, alpha, m, starts=int(protocol["starts"]), seed=instance["seed"])
    except KQSearchFailed:
        require("rank_m_found", False, alpha=alpha.tolist())
    W = res.params["K"][0] @ res.params["Q"][0].T
    c_m, c_nuc = float(correlation(W, kq.W)), float(correlation(W, nuc.W))
    # the GD direction's own objective: ||W||_* / min margin (the cost of its balanced split
    # scaled to margin 1), against the local solver's objective
    gd_margin = float(margin_constraints(p, alpha).values(W).min())
    gd_obj = float(np.linalg.svd(W, compute_uv=False).sum()) / gd_margin
    require("rank_m_reference", not gd_obj < kq.objective * (1.0 - tol["objective_rtol"]),
            gd_direction_objective=gd_obj, rank_m_objective=kq.objective, corr_rank_m=c_m,
            corr_nuclear=c_nuc)
    ev = _judge(1.0 - c_m, tol["one_minus_corr"], corr_rank_m=c_m, corr_nuclear=c_nuc,
                gd_direction_objective=gd_obj, rank_m_objective=kq.objective,
                nuclear_objective=kq.nuclear_objective,
                corr_rank_m_vs_nuclear=float(correlation(kq.W, nuc.W)), rank_nuclear=nuc.rank,
                m=m, rank_m_gap_to_lower_bound=kq.gap_to_lower_bound, alpha=alpha)
    if ev.status == "ok" and not c_m > c_nuc:
        return Evidence("counterexample", ev.gap, ev.threshold, details=ev.details,
                        note="no closer to the rank-m solution than to Att-SVM*")
    return ev


# ------------------------------------------------------------- 2. conservation drift vs eta
def check_balance_drift(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Plain GD on (K, Q) from a random start over the time horizon t = steps * eta: the drift
    ||D_t - D_0||_F against eta has log-log slope 1 (|slope - 1| <= ``slope``), and the first
    step's change of D equals eta^2 (Q^T G^T G Q - K^T G G^T K) (relative error <=
    ``roundoff``). gap = the larger criterion over its tolerance; threshold 1."""
    p = build_problem(instance)
    d, m = p.d, int(instance["m"])
    scale = float(instance["scale"])
    K0 = uniform_init((1, d, m), instance["init_seed"], scale)
    Q0 = uniform_init((1, d, m), instance["init_seed"] + 1, scale)
    D0 = fz.balance_defect(K0, Q0)
    etas = np.array([float(e) for e in protocol["etas"]])
    horizon = float(protocol["horizon"])
    drifts = []
    for eta in etas:
        run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, K0, Q0, steps=int(round(horizon / eta)),
                               lr=eta, loss=protocol["loss"])
        drifts.append(float(np.linalg.norm(fz.balance_defect(run.K, run.Q) - D0)))
    drifts_a = np.array(drifts)
    require("finite_drift", bool(np.all(np.isfinite(drifts_a)) and np.all(drifts_a > 0)))
    slope = float(np.polyfit(np.log(etas), np.log(drifts_a), 1)[0])
    G, _ = grad_W(p.X, p.Y, K0[0] @ Q0[0].T, p.Z, LinearHead(p.v), protocol["loss"])
    one = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, K0, Q0, steps=1, lr=etas[0],
                           loss=protocol["loss"])
    step = fz.balance_defect(one.K[0], one.Q[0]) - D0[0]
    predicted = fz.gd_balance_increment(K0[0], Q0[0], G, etas[0])
    rel = _step_error(step, predicted, K0[0], Q0[0])
    gap = max(abs(slope - 1.0) / tol["slope"], rel / tol["roundoff"])
    return _judge(gap, _NORMALISED, etas=etas, drifts=drifts_a, slope=slope,
                  one_step_relative_error=rel, horizon=horizon)


# ----------------------------------------------------- 3-4. gradient flow -> nuclear SVM
def _flow_curve(run: fz.FlowResult, target: np.ndarray) -> np.ndarray:
    W = run.history["K"][0] @ np.swapaxes(run.history["Q"][0], -1, -2)
    return correlation(W, target[None])


def check_flow_diagonal(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Sheen et al.'s diagonal setting: K = diag(k), Q = diag(q), exponential loss, balanced
    start k = s 1, q = s sign(w*) aligned with the l1 (diagonal nuclear-norm) SVM w* of the
    optimal tokens, jointly normalized Euler steps of the flow. The run's W aligns with w*
    (1 - corr <= ``one_minus_corr``); the diagonal Frobenius SVM is reported beside it."""
    p = build_problem(instance)
    sol = _opt_diagonal_svm(instance)  # premise diagonal_feasible_opt
    s = float(protocol["init_scale"])
    sign = np.where(sol.w < 0, -1.0, 1.0)
    run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, s * np.eye(p.d)[None],
                           (s * np.diag(sign))[None], steps=int(protocol["steps"]),
                           lr=protocol["lr"], normalized=True, diagonal=True,
                           loss=protocol["loss"], checkpoints=protocol["checkpoints"])
    require_saturated(run.min_max_prob[0], tol)
    alpha = run.probs[0].argmax(-1)
    require("selects_opt", bool(np.all(alpha == optimal_tokens(p).tokens)), alpha=alpha)
    w_fro = fz.solve_diagonal_frobenius_svm(margin_constraints(p, alpha))
    between = float(correlation(sol.w, w_fro))
    require("distinct_svms", not between > tol["distinct_svms"], corr_between_svms=between)
    curve = _flow_curve(run, sol.W)
    w = np.diagonal(run.W[0])
    cons = margin_constraints(p, alpha)
    run_obj = float(np.abs(w).sum() / (cons.a * cons.z @ w).min())  # ||w||_1 at margin 1
    return _trend_verdict(curve, tol, corr_diag_frobenius=float(correlation(w, w_fro)),
                          corr_between_svms=between, l1_svm=sol.w, l1_objective=sol.objective,
                          run_l1_objective_at_margin_1=run_obj,
                          run_direction=w / np.abs(w).sum(), duality_gap=sol.duality_gap)


def check_flow_general(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Outside the diagonal / aligned premises: full K, Q from the balanced start s (U, V)
    (U, V random orthogonal, K^T K = Q^T Q = s^2 I), exponential loss, jointly normalized Euler
    steps. K Q^T aligns with the nuclear-norm SVM of the final selection, better than with the
    Frobenius one; the balance defect stays O(step)."""
    p = build_problem(instance)
    rng = np.random.default_rng(instance["init_seed"])
    U = np.linalg.qr(rng.standard_normal((p.d, p.d)))[0]
    V = np.linalg.qr(rng.standard_normal((p.d, p.d)))[0]
    s = float(protocol["init_scale"])
    run = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, (s * U)[None], (s * V)[None],
                           steps=int(protocol["steps"]), lr=protocol["lr"], normalized=True,
                           loss=protocol["loss"], checkpoints=protocol["checkpoints"])
    require_saturated(run.min_max_prob[0], tol)
    alpha = run.probs[0].argmax(-1)
    try:
        W_nuc, W_fro = solve_nuclear_svm(p, alpha).W, solve_att_svm(p, alpha).W
    except InfeasibleSVM:
        require("feasible_selection", False, alpha=alpha.tolist())
    between = float(correlation(W_nuc, W_fro))
    require("distinct_svms", not between > tol["distinct_svms"], corr_between_svms=between)
    curve = _flow_curve(run, W_nuc)
    c_fro = float(correlation(run.W[0], W_fro))
    defect = float(np.linalg.norm(fz.balance_defect(run.K[0], run.Q[0])))
    ev = _trend_verdict(curve, tol, corr_frobenius=c_fro, corr_between_svms=between,
                        balance_defect=defect, norm_W=float(np.linalg.norm(run.W[0])),
                        alpha=alpha)
    if ev.status == "ok" and not curve[-1] > c_fro:
        return Evidence("counterexample", ev.gap, ev.threshold, trend=ev.trend,
                        details=ev.details, note="no closer to the nuclear SVM than to Frobenius")
    return ev


# --------------------------------------------------------------- 5. re-factorizations
def check_refactorization(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Random W (d x d of rank r <= m), balanced (K, Q) of width m: its cost equals ||W||_*
    (relative ``roundoff``), every random re-factorization (K R, Q R^{-T}), R = I + sigma G,
    costs more, and an orthogonal R costs the same. gap = the worst criterion over its
    tolerance; threshold 1."""
    rng = np.random.default_rng(instance["seed"])
    d, m, r = int(instance["d"]), int(instance["m"]), int(instance["rank"])
    W = rng.standard_normal((d, r)) @ rng.standard_normal((r, d))
    K, Q = balanced_factors(W, m)
    nuc = float(np.linalg.svd(W, compute_uv=False).sum())
    base = float(fz.factorization_cost(K, Q))
    draws = int(protocol["draws"])
    R = np.eye(m) + float(instance["sigma"]) * rng.standard_normal((draws, m, m))
    costs = fz.refactorization_cost(K[None], Q[None], R)
    excess = (costs - base) / nuc
    O = np.linalg.qr(rng.standard_normal((m, m)))[0]
    orth = abs(float(fz.refactorization_cost(K, Q, O)) - base) / nuc
    gap = max(abs(base - nuc) / nuc, orth) / tol["roundoff"]
    ev = _judge(gap, _NORMALISED, nuclear=nuc, balanced_cost=base,
                min_relative_excess=float(excess.min()),
                median_relative_excess=float(np.median(excess)), orthogonal_relative_change=orth)
    if not excess.min() > 0:
        return Evidence("counterexample", ev.gap, ev.threshold, details=ev.details,
                        note="a re-factorization costs no more than the balanced split")
    return ev


# ------------------------------------------------------- 6. agreement with the derivation
def _pred(name: str) -> Any:
    from attnsvm.symbolic.registry import get

    return get("kq-conservation").predicates[name]


def check_agree_conservation(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """The derivation's lambdified one-step increment vs the reference's (``factorization.
    gd_balance_increment``) and vs one actual GD step of ``train_kq_flow``; the lambdified flow
    rate D' vs 0. gap = the largest relative difference; threshold ``relative``."""
    p = build_problem(instance)
    d, m = p.d, int(instance["m"])
    K0 = uniform_init((1, d, m), instance["init_seed"])
    Q0 = uniform_init((1, d, m), instance["init_seed"] + 1)
    eta = float(protocol["eta"])
    G, _ = grad_W(p.X, p.Y, K0[0] @ Q0[0].T, p.Z, LinearHead(p.v), protocol["loss"])
    sym = _pred("gd_balance_increment")(K0[0], Q0[0], G, eta)
    ref = fz.gd_balance_increment(K0[0], Q0[0], G, eta)
    one = fz.train_kq_flow(p.X, p.Y, p.Z, p.v, K0, Q0, steps=1, lr=eta, loss=protocol["loss"])
    actual = fz.balance_defect(one.K[0], one.Q[0]) - fz.balance_defect(K0[0], Q0[0])
    rate = _pred("flow_balance_rate")(K0[0], Q0[0], G)
    terms = np.abs(Q0[0].T @ G.T @ K0[0]).max()  # the size of the four terms that cancel in D'
    gaps = [_step_error(sym, ref, K0[0], Q0[0]), _step_error(sym, actual, K0[0], Q0[0]),
            float(np.abs(rate).max() / max(float(terms), np.finfo(np.float64).tiny))]
    return _judge(max(gaps), tol["relative"], gaps=gaps)
