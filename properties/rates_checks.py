"""Checks of the rate claims (Vasudeva, Deora, Thrampoulidis, arXiv 2402.05738) and of the
SignGD / Adam max-norm margin claims (Fan, Schmidt, Thrampoulidis, arXiv 2502.04664, carried over
to attention): each trains a batch of runs from random initialisations on one instance and
judges measured trends over log-spaced checkpoints (``reference.attention.rates``).

Every threshold comes from the claim's tolerances and every setting from its protocol.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np

from attnsvm.properties.claims.common import build_problem, evidence, require_saturated
from attnsvm.properties.premises import Premise, require
from attnsvm.properties.verdicts import Evidence, plain
from attnsvm.reference.attention.losses import get_loss
from attnsvm.reference.attention.optimizers import Adam, Polyak, SignGD, risk_floor
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.rates import (
    RateFit,
    fit_log_law,
    fit_power_law,
    local_exponents,
    log_opt_suboptimality,
    margin_gap,
)
from attnsvm.reference.attention.training import (
    TrainResult,
    correlation,
    log_checkpoints,
    train_W,
    uniform_init,
)
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.lp import solve_lp_svm
from attnsvm.reference.svm.selection import optimal_tokens

RATE_WINDOW = Premise(
    "rate_window",
    "enough log-spaced checkpoints (the protocol's 'min_points') lie in the fitted window before "
    "a run stops (a Polyak run stops when its step can no longer be formed in float64)",
    None,
    "inconclusive",
)
SELECTS_OPT = Premise(
    "selects_opt",
    "every run ends selecting the optimal tokens (the global-convergence setting the rates are "
    "stated for)",
    None,
    "out_of_scope",
)


def _train(p: AttentionProblem, protocol: Mapping[str, Any], init_seed: int, rule: Any = None,
           normalized: bool = True) -> tuple[TrainResult, np.ndarray]:
    """The protocol's runs from seeded uniform inits (``init_seed``), checkpoints on a log grid
    with 'per_decade' points a decade; returns (result, checkpoints)."""
    steps = int(protocol["steps"])
    cps = log_checkpoints(steps, int(protocol["per_decade"]))
    W0 = uniform_init((int(protocol["runs"]), p.d, p.d), int(init_seed))
    res = train_W(p.X, p.Y, p.Z, p.v, W0, steps=steps, lr=float(protocol["lr"]),
                  normalized=normalized, checkpoints=cps, rule=rule)
    return res, res.checkpoints


def _direction_gaps(res: TrainResult, W_mm: np.ndarray) -> np.ndarray:
    """1 - corr(W(k), W^mm), shape (runs, checkpoints)."""
    return 1.0 - correlation(res.history["W"], W_mm[None, None])


def _require_opt(res: TrainResult, opt: np.ndarray) -> None:
    require("selects_opt", bool(np.all(res.selected == opt[None])),
            selected=res.selected.tolist(), opt=opt.tolist())


def _fits(k: np.ndarray, gaps: np.ndarray, log_sub: np.ndarray, kmin: float,
          kmax: float, confidence: float) -> tuple[RateFit, RateFit]:
    gap_fit = fit_power_law(k, gaps, kmin=kmin, kmax=kmax, confidence=confidence)
    sub_fit = fit_power_law(k, log_sub, kmin=kmin, kmax=kmax, confidence=confidence,
                            log_values=True)
    return gap_fit, sub_fit


def _polynomial_verdict(gap_fit: RateFit, sub_fit: RateFit, gaps: np.ndarray,
                        tol: Mapping[str, Any], details: dict[str, Any]) -> Evidence:
    """ok: both exponents' intervals lie above the tolerance 'min_exponent'; counterexample:
    one lies below it; inconclusive: an interval straddles it."""
    floor = tol["min_exponent"]
    low = min(gap_fit.low, sub_fit.low)
    high = min(gap_fit.high, sub_fit.high)
    status = "ok" if low > floor else ("counterexample" if high < floor else "inconclusive")
    return evidence(status, floor - low, 0.0, trend=tuple(np.mean(gaps, axis=0)),
                    details=plain({**details, "gap_fit": gap_fit.as_dict(),
                                   "suboptimality_fit": sub_fit.as_dict(),
                                   "final_gap": gaps[:, -1]}),
                    note=f"1 - corr ~ k^-{gap_fit.exponent:.3g} [{gap_fit.low:.3g}, "
                    f"{gap_fit.high:.3g}], 1 - s_opt ~ k^-{sub_fit.exponent:.3g} "
                    f"[{sub_fit.low:.3g}, {sub_fit.high:.3g}]")


def _fit_window(k: np.ndarray, kmin: float, kmax: float, protocol: Mapping[str, Any]) -> None:
    inside = int(np.sum((k >= kmin) & (k <= kmax)))
    require("rate_window", inside >= int(protocol["min_points"]), points=inside,
            kmin=float(kmin), kmax=float(kmax))


def check_ngd_rate(instance: Mapping[str, Any], tol: Mapping[str, Any],
                   protocol: Mapping[str, Any]) -> Evidence:
    """Normalized GD on W: 1 - corr(W(k), W^mm) and 1 - s_opt(k) decay at least like
    k^-min_exponent (intervals over runs)."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens
    res, k = _train(p, protocol, instance["init_seed"])
    require_saturated(float(np.min(res.min_max_prob)), tol)
    _require_opt(res, opt)
    gaps = _direction_gaps(res, solve_att_svm(p).W)
    kmin, kmax = float(protocol["kmin"]), float(k[-1])
    _fit_window(k, kmin, kmax, protocol)
    log_sub = log_opt_suboptimality(p.X, p.Z, res.history["W"], opt)
    gap_fit, sub_fit = _fits(k, gaps, log_sub, kmin, kmax, tol["confidence"])
    return _polynomial_verdict(gap_fit, sub_fit, gaps, tol, {"optimizer": "ngd"})


def check_polyak_rate(instance: Mapping[str, Any], tol: Mapping[str, Any],
                      protocol: Mapping[str, Any]) -> Evidence:
    """The Polyak step (L* = the risk's infimum) on W: as check_ngd_rate, fitted over the
    checkpoints before the first run stops (its step no longer formable in float64)."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens
    floor = float(risk_floor(p.scores[np.arange(p.n), opt], get_loss("logistic").value))
    rule = Polyak(floor, resolution=tol["resolution"])
    res, k = _train(p, protocol, instance["init_seed"], rule=rule)
    require_saturated(float(np.min(res.min_max_prob)), tol)
    _require_opt(res, opt)
    frozen = rule.frozen_at if rule.frozen_at is not None else np.array([-1])
    stop = np.where(frozen >= 0, frozen, k[-1])
    kmin, kmax = float(protocol["kmin"]), float(np.min(stop))
    _fit_window(k, kmin, kmax, protocol)
    gaps = _direction_gaps(res, solve_att_svm(p).W)
    log_sub = log_opt_suboptimality(p.X, p.Z, res.history["W"], opt)
    gap_fit, sub_fit = _fits(k, gaps, log_sub, kmin, kmax, tol["confidence"])
    at_stop = gaps[:, np.searchsorted(k, kmax)]
    return _polynomial_verdict(gap_fit, sub_fit, gaps, tol, {
        "optimizer": "polyak", "risk_floor": floor, "frozen_at": frozen,
        "gap_at_stop": at_stop})


@lru_cache(maxsize=4)
def _gd_runs(key: str) -> tuple[TrainResult, np.ndarray]:
    """Constant-step GD runs of an instance and settings (a JSON key), shared by the two GD
    claims (direction and suboptimality) so that one training serves both."""
    spec = json.loads(key)
    return _train(build_problem(spec["instance"]), spec, spec["instance"]["init_seed"],
                  normalized=False)


def check_gd_logarithmic(instance: Mapping[str, Any], tol: Mapping[str, Any],
                         protocol: Mapping[str, Any]) -> Evidence:
    """Constant-step GD on W: the local power-law exponent of the protocol's 'quantity'
    (``direction``: 1 - corr(W(k), W^mm); ``suboptimality``: 1 - s_opt(k)) falls from the early
    half of [kmin, steps] (in log k) to the late half, the signature of a log law
    (d log gap / d log k = -a / log k); a power law keeps it constant, a faster decay raises it."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens
    settings = {key: protocol[key] for key in ("steps", "lr", "runs", "per_decade")}
    res, k = _gd_runs(json.dumps({"instance": dict(instance), **settings}, sort_keys=True))
    _require_opt(res, opt)
    direction = protocol["quantity"] == "direction"
    if direction:
        values = _direction_gaps(res, solve_att_svm(p).W)
    else:
        values = log_opt_suboptimality(p.X, p.Z, res.history["W"], opt)
    kmin = float(protocol["kmin"])
    _fit_window(k, kmin, float(k[-1]), protocol)
    early, late = local_exponents(k, values, windows=2, kmin=kmin, confidence=tol["confidence"],
                                  log_values=not direction)
    law = fit_log_law(k, values, kmin=kmin, confidence=tol["confidence"],
                      log_values=not direction)
    drop = early.low - late.high
    status = "ok" if drop > 0 else ("counterexample" if late.low >= early.high else
                                    "inconclusive")
    final = values[:, -1] if direction else np.exp(values[:, -1])
    return evidence(status, -drop, 0.0, trend=tuple(np.mean(values, axis=0)),
                    details=plain({"quantity": protocol["quantity"], "early": early.as_dict(),
                                   "late": late.as_dict(), "log_law": law.as_dict(),
                                   "final": final}),
                    note=f"{protocol['quantity']}: local exponent {early.exponent:.3g} "
                    f"[{early.low:.3g}, {early.high:.3g}] -> {late.exponent:.3g} "
                    f"[{late.low:.3g}, {late.high:.3g}]; log law (log k)^-{law.exponent:.3g}")


def _linf_rule(protocol: Mapping[str, Any]) -> Any:
    if protocol["optimizer"] == "adam":
        return Adam(protocol["beta1"], protocol["beta2"], protocol["eps"])
    return SignGD(bool(protocol["sign_normalized"]))


def check_linf_margin(instance: Mapping[str, Any], tol: Mapping[str, Any],
                      protocol: Mapping[str, Any]) -> Evidence:
    """SignGD or Adam on W: the max-norm margin gap 1 - gamma_inf(W(k)) / gamma*_inf falls
    below the tolerance 'linf_gap' and below the Frobenius margin gap of the same iterate (the
    iterate is nearer the l-infinity SVM than the Frobenius one); a counterexample when it
    ends above 'linf_gap' and its last-decade decrease is below 'stall'."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens
    res, k = _train(p, protocol, instance["init_seed"], rule=_linf_rule(protocol))
    _require_opt(res, opt)
    fro, inf = solve_att_svm(p), solve_lp_svm(p, float("inf"))
    a, z = fro.constraints.a, fro.constraints.z
    H = res.history["W"]
    g_inf = margin_gap(a, z, H, np.inf, float(np.max(np.abs(inf.W))))
    g_fro = margin_gap(a, z, H, 2, float(np.linalg.norm(fro.W)))
    final_inf, final_fro = g_inf[:, -1], g_fro[:, -1]
    decade = int(np.searchsorted(k, k[-1] / protocol["decade"]))
    decrease = float(np.min(g_inf[:, decade] - final_inf))
    worst = float(np.max(final_inf))
    closer = bool(np.all(final_inf < final_fro))
    reached, stalled = worst <= tol["linf_gap"], decrease < tol["stall"]
    if reached and closer:
        status = "ok"
    elif not reached and stalled:
        status = "counterexample"
    else:
        status = "inconclusive"
    kmin = float(protocol["kmin"])
    fit = fit_power_law(k, np.clip(g_inf, 0.0, None), kmin=kmin, confidence=tol["confidence"])
    return evidence(status, worst, tol["linf_gap"], trend=tuple(np.mean(g_inf, axis=0)),
                    details=plain({"optimizer": protocol["optimizer"], "linf_gap": final_inf,
                                   "fro_gap": final_fro, "last_decade_decrease": decrease,
                                   "corr_fro": correlation(H[:, -1], fro.W[None]),
                                   "linf_fit": fit.as_dict()}),
                    note=f"max-norm margin gap {worst:.3g} (Frobenius margin gap "
                    f"{float(np.max(final_fro)):.3g}); last-decade decrease {decrease:.3g}; "
                    f"gap ~ k^-{fit.exponent:.3g} [{fit.low:.3g}, {fit.high:.3g}]")


def check_polyak_zero_floor(instance: Mapping[str, Any], tol: Mapping[str, Any],
                            protocol: Mapping[str, Any]) -> Evidence:
    """The Polyak step with L* = 0, eta_k = L(W_k) / ||grad L(W_k)||^2, on W: every run must end
    within 'one_minus_corr' of W^mm's direction. With a fixed linear decoder inf L > 0, so the
    step length L / ||grad L|| diverges as the gradient vanishes: the runs jump to huge norms
    and stop (their step no longer formable) wherever that jump points."""
    p = build_problem(instance)
    rule = Polyak(0.0, resolution=tol["resolution"])
    res, k = _train(p, protocol, instance["init_seed"], rule=rule)
    gaps = _direction_gaps(res, solve_att_svm(p).W)
    worst = float(np.max(gaps[:, -1]))
    norms = np.linalg.norm(res.params["W"], axis=(-2, -1))
    frozen = rule.frozen_at if rule.frozen_at is not None else np.array([-1])
    return evidence("counterexample" if worst > tol["one_minus_corr"] else "ok", worst,
                    tol["one_minus_corr"], trend=tuple(np.mean(gaps, axis=0)),
                    details=plain({"final_gap": gaps[:, -1], "final_norm": norms,
                                   "frozen_at": frozen,
                                   "risk_floor": float(risk_floor(
                                       p.scores.max(axis=1), get_loss("logistic").value))}),
                    note=f"worst final 1 - corr {worst:.3g}; final ||W|| up to "
                    f"{float(np.max(norms)):.3g}; frozen at {frozen.tolist()}")
