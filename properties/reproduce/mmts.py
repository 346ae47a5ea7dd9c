"""Reproduction 6: the Max-Margin Token Selection experiments (prompt attention).

MMTS (arXiv 2306.13596), model f(X) = <X v, softmax(X W p)> with keys k_it = W^T x_it. Official
notebooks (github.com/ucr-optml/max_margin_attention): ``single_input_converge`` (n = 1, T = 3,
W = diag(1, 1, 0); local vs global variant, 6 inits), ``multi_input_converge`` (n = 3, T = 7,
d = 3, equal non-optimal scores; NGD eta = 0.1 vs GD eta = 1; we build our own clustered instance
with equal non-optimal scores), ``joint_training`` (n = 3, T = 2, d = 2; joint (v, p) with equal
normalized steps) and ``diff_loss_function`` (the loss / score-scale example). Theorem numbers
are recalled from the paper, unconfirmed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.properties.reproduce import figures as fg
from attnsvm.properties.reproduce.common import (
    ExperimentResult,
    Progress,
    Table,
    note,
    save,
    sub_seed,
)
from attnsvm.properties.reproduce.compare import (
    DERIVED,
    MMTS,
    RECALLED,
    Above,
    All,
    AtLeast,
    AtMost,
    Below,
    Cited,
    Comparison,
    Equal,
    IsTrue,
    Near,
    earlier,
    mmts,
    notebook,
)
from attnsvm.properties.reproduce.evaluation import fmt
from attnsvm.reference.attention.models import prompt_outputs, prompt_probabilities
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.training import correlation, log_checkpoints, train_prompt
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.constraints import SVMSolution
from attnsvm.reference.svm.mmts_examples import (
    KEY_2D,
    official_example,
    rate_weighted_direction,
)
from attnsvm.reference.svm.prompt import solve_head_svm, solve_prompt_svm, solve_relaxed_prompt_svm
from attnsvm.reference.svm.selection import token_scores

NAME = "mmts"
TITLE = "MMTS: prompt attention converges to p^mm (locally / globally) and joint (v, p)"
STATEMENT = (
    f"{MMTS}. (a) Global / local GD convergence theorems for p (theorem numbers {RECALLED}; "
    "abstract: GD on p 'converges in direction to a max-margin solution that separates "
    "locally-optimal tokens from non-optimal ones'): GD on the prompt p converges in direction "
    "to the max-margin p^mm_alpha of a locally-optimal selection alpha; globally to p^mm of opt "
    "under a score condition such as equal non-optimal scores (official single_input_converge: "
    "in its local variant some inits converge to the locally-optimal token). (b) Official "
    "multi_input_converge: with equal non-optimal scores every init converges to p^mm, and "
    "normalized GD saturates far faster than constant-step GD. (c) Joint (v, p) training (a "
    f"regularization-path result with growth conditions on the two radii, {RECALLED}): "
    "v -> v^mm (hard-margin SVM on the selected tokens) and p -> p^relax, whose margin "
    "constraints are relaxed to >= 0 for inputs that are not support vectors of v^mm (abstract: "
    "'the SVM formulation of p is influenced by the support vector geometry of v'); the "
    "official notebook runs joint normalized GD with equal steps. (d) Official "
    "diff_loss_function: the limit direction depends on the loss only through transients "
    f"(interpretation {RECALLED})."
)

INITS = (1.0, 0.5, 0.0, -0.5, -1.0, -1.5)
LOSS_C = (2.0, 5.0, 10.0, 100.0)
CORR = 0.99  # a direction has converged: corr with the predicted SVM direction
OFFSET_TOL = 0.01  # loss example: |offset - 1/2 ln C| after 1000 steps
JOINT_OBJECTIVES = (0.9444, 0.5)  # notebook joint_training: 1/2 ||p||^2 of p^mm, p^relax
EARLIER_INITS = earlier("the same 6 inits")


def settings(quick: bool) -> dict[str, Any]:
    return {
        "single_input": {"steps": 1000, "lr": 0.1, "inits_p0": [[0.0, c, 0.0] for c in INITS],
                         "key": "diag(1, 1, 0)", "variants": {"local": 0.0, "global": 0.9}},
        "multi_input": {"n": 3, "T": 7, "d": 3, "steps": 1000, "ngd_lr": 0.1, "gd_lr": 1.0,
                        "inits_p0": [[c, 0.0, 0.0] for c in INITS], "key": "diag(1, 1, 0)",
                        "data": "ours: opt keys ~ (1.5, 0) + 0.2 N, other keys ~ one of 3 "
                        "cluster centres (-1, 1), (-1, -1), (0, -1.5) + 0.2 N; value coordinate "
                        "Y_i * (1 opt, 0.5 others), v = e_3; first seed with a feasible p-SVM"},
        "joint": {"steps": 1000 if quick else 4000, "official_steps": 1000, "lr": 0.1,
                  "lr_v_ratio": 1.0, "p0": [0.0, -1.0], "v0": [-1.0, 0.0],
                  "third_token": {"tight": [0.5, 1.0], "non-tight": [0.5, 1.5]}},
        "loss_offset": {"steps": 1000, "lr": 0.1, "C": list(LOSS_C),
                        "losses": ["correlation (l(x) = -x)", "logistic"], "p0": [0, 0, 0]},
        "optimizer": "normalized GD (log-space gradient direction: no freeze when the gradient "
        "underflows, unlike the official g/(||g|| + 1e-9))",
    }


def _support_locally_optimal(p: AttentionProblem, alpha: np.ndarray, sol: SVMSolution) -> bool:
    """MMTS local optimality: every support token of p^mm_alpha scores strictly below alpha_i."""
    g = token_scores(p)
    pairs = np.asarray(sol.support).reshape(-1, 2)
    return bool(all(g[i, alpha[i]] > g[i, t] for i, t in pairs))


# ----------------------------------------------------------------------------- (a) single input
def _single_input(cfg: Mapping[str, Any]) -> dict[str, Any]:
    p0 = np.array(cfg["inits_p0"])
    cps = np.union1d(log_checkpoints(cfg["steps"]), np.arange(0, cfg["steps"] + 1, 10))
    out: dict[str, Any] = {"checkpoints": cps.tolist()}
    for name, third in cfg["variants"].items():
        prob = official_example({"kind": "single-input", "third_score": third})
        glob = solve_prompt_svm(prob, [0], KEY_2D)
        loc = solve_prompt_svm(prob, [1], KEY_2D)
        res = train_prompt(prob.X, prob.Y, prob.v, p0, key=KEY_2D, steps=cfg["steps"],
                           lr=cfg["lr"], checkpoints=cps)
        P = res.params["p"]
        out[name] = {
            "third_score": third,
            "p_mm_global": glob.W[:, 0].tolist(),
            "p_mm_token1": loc.W[:, 0].tolist(),
            "token1_locally_optimal": _support_locally_optimal(prob, np.array([1]), loc),
            "selected": res.selected[:, 0].tolist(),
            "final_direction": (P / np.linalg.norm(P, axis=1, keepdims=True)).tolist(),
            "final_norm": np.linalg.norm(P, axis=1).tolist(),
            "corr_global": correlation(P, glob.W[:, 0][None], ndim=1).tolist(),
            "corr_token1": correlation(P, loc.W[:, 0][None], ndim=1).tolist(),
            "paths": res.history["p"][:, :, :2].tolist(),
        }
    return out


# ----------------------------------------------------------------------------- (b) multi input
def _multi_instance(seed: int) -> tuple[AttentionProblem, SVMSolution, int]:
    centres = np.array([[-1.0, 1.0], [-1.0, -1.0], [0.0, -1.5]])
    for j in range(100):
        rng = np.random.default_rng(sub_seed(seed, "multi-input", j))
        n, T = 3, 7
        Y = rng.choice([-1.0, 1.0], size=n)
        X = np.zeros((n, T, 3))
        opt = rng.integers(0, T, size=n)
        for i in range(n):
            for t in range(T):
                if t == opt[i]:
                    X[i, t, :2] = np.array([1.5, 0.0]) + 0.2 * rng.standard_normal(2)
                    X[i, t, 2] = Y[i] * 1.0
                else:
                    X[i, t, :2] = centres[rng.integers(0, 3)] + 0.2 * rng.standard_normal(2)
                    X[i, t, 2] = Y[i] * 0.5
        prob = AttentionProblem(X, Y, [0.0, 0.0, 1.0], np.zeros((n, 3)))
        try:
            return prob, solve_prompt_svm(prob, opt, KEY_2D), j
        except InfeasibleSVM:
            continue
    raise RuntimeError("no feasible multi-input instance in 100 seeds")


def _multi_input(cfg: Mapping[str, Any], seed: int) -> dict[str, Any]:
    prob, sol, attempt = _multi_instance(seed)
    pmm = sol.W[:, 0]
    opt = np.asarray(sol.select)
    p0 = np.array(cfg["inits_p0"])
    cps = log_checkpoints(cfg["steps"])
    out: dict[str, Any] = {"checkpoints": cps.tolist(), "p_mm": pmm.tolist(),
                           "instance_attempt": attempt, "opt": opt.tolist(),
                           "X": prob.X.tolist(), "Y": prob.Y.tolist()}
    for name, lr, normalized in (("ngd", cfg["ngd_lr"], True), ("gd", cfg["gd_lr"], False)):
        res = train_prompt(prob.X, prob.Y, prob.v, p0, key=KEY_2D, steps=cfg["steps"], lr=lr,
                           normalized=normalized, checkpoints=cps)
        H = res.history["p"]  # (B, C, d)
        s = prompt_probabilities(prob.X, H, KEY_2D)  # (B, C, n, T)
        p_opt = np.take_along_axis(s, opt[None, None, :, None], axis=-1)[..., 0].mean(axis=-1)
        out[name] = {
            "lr": lr,
            "corr_pmm": correlation(H, pmm[None, None], ndim=1).tolist(),
            "norm_p": np.linalg.norm(H, axis=-1).tolist(),
            "prob_opt": p_opt.tolist(),
            "global": [bool(np.array_equal(a, opt)) for a in res.selected],
        }
    return out


# ----------------------------------------------------------------------------- (c) joint (v, p)
def _joint(cfg: Mapping[str, Any]) -> dict[str, Any]:
    steps = cfg["steps"]
    cps = np.union1d(log_checkpoints(steps), [cfg["official_steps"], steps])
    out: dict[str, Any] = {"checkpoints": cps.tolist()}
    for name, third in cfg["third_token"].items():
        prob = official_example({"kind": "joint", "third_token": third, "v0": cfg["v0"]})
        res = train_prompt(prob.X, prob.Y, np.asarray(cfg["v0"]), np.array([cfg["p0"]]),
                           train_v=True, lr_v_ratio=cfg["lr_v_ratio"], steps=steps,
                           lr=cfg["lr"], checkpoints=cps)
        alpha = res.selected[0]
        head = solve_head_svm(prob, alpha)
        pmm = solve_prompt_svm(prob, alpha)
        relax = solve_relaxed_prompt_svm(prob, alpha, head=head)
        v_dir = head.W[:, 0] / np.linalg.norm(head.W[:, 0])
        pred = rate_weighted_direction(prob, alpha, v_dir, cfg["lr_v_ratio"])
        Hp, Hv = res.history["p"][0], res.history["v"][0]
        s = prompt_probabilities(prob.X, Hp)  # (C, n, T)
        f = prompt_outputs(prob.X, Hp, Hv)  # (C, n)
        out[name] = {
            "third_token": third,
            "alpha": alpha.tolist(),
            "v_mm": head.W[:, 0].tolist(),
            "head_support_inputs": relax.extra.get("head_support"),
            "p_mm": pmm.W[:, 0].tolist(),
            "p_relax": relax.W[:, 0].tolist(),
            "half_sq_norm_p_mm": float(0.5 * np.sum(pmm.W**2)),
            "half_sq_norm_p_relax": float(0.5 * np.sum(relax.W**2)),
            "p_rate_weighted": np.asarray(pred["p"]).tolist(),
            "rate_weighted_gap": float(pred["duality_gap"]),
            "corr_p_pmm": correlation(Hp, pmm.W[:, 0][None], ndim=1).tolist(),
            "corr_p_relax": correlation(Hp, relax.W[:, 0][None], ndim=1).tolist(),
            "corr_p_rate_weighted": correlation(Hp, np.asarray(pred["p"])[None], ndim=1).tolist(),
            "corr_v_vmm": correlation(Hv, head.W[:, 0][None], ndim=1).tolist(),
            "norm_v_over_norm_p": (np.linalg.norm(Hv, axis=-1)
                                   / np.maximum(np.linalg.norm(Hp, axis=-1), 1e-300)).tolist(),
            "prob_selected": np.take_along_axis(s, alpha[None, :, None], -1)[..., 0]
            .mean(axis=-1).tolist(),
            "logistic_prob": (1 / (1 + np.exp(-prob.Y[None] * f))).mean(axis=-1).tolist(),
        }
    return out


# ----------------------------------------------------------------------------- (d) loss offset
def _loss_offset(cfg: Mapping[str, Any]) -> dict[str, Any]:
    rows = []
    for C in cfg["C"]:
        prob = official_example({"kind": "loss-offset", "C": C})
        for loss in ("correlation", "logistic"):
            res = train_prompt(prob.X, prob.Y, prob.v, np.zeros((1, 3)), key=KEY_2D,
                               steps=cfg["steps"], lr=cfg["lr"], loss=loss)
            pv = res.params["p"][0]
            rows.append({
                "C": C, "loss": loss, "p": pv.tolist(), "offset": float(abs(pv[1])),
                "half_log_C": float(0.5 * np.log(C)),
                "corr_pmm": float(correlation(pv, np.array([1.0, 0.0, 0.0]), ndim=1)),
            })
    return {"rows": rows, "p_mm": [1.0, 0.0, 0.0]}


def run(quick: bool, seed: int, progress: Progress | None = None) -> ExperimentResult:
    cfg = settings(quick)
    note(progress, "single-input example (local and global variants)")
    single = _single_input(cfg["single_input"])
    note(progress, "multi-input example (NGD vs GD)")
    multi = _multi_input(cfg["multi_input"], seed)
    note(progress, "joint (v, p) training")
    joint = _joint(cfg["joint"])
    note(progress, "loss / score-scale example")
    loss = _loss_offset(cfg["loss_offset"])
    data = {"single_input": single, "multi_input": multi, "joint": joint, "loss_offset": loss}
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        measured=measure(data, cfg), comparisons=COMPARISONS, seed=seed, quick=quick,
        tables=tables(data, cfg), plotter=plot,
    )


# ----------------------------------------------------------------------------- comparison
def _single_measures(si: Mapping[str, Any]) -> dict[str, Any]:
    loc, glo = si["local"], si["global"]
    c_loc = [loc["corr_token1"][k] for k, s in enumerate(loc["selected"]) if s == 1]
    c_glo = [loc["corr_global"][k] for k, s in enumerate(loc["selected"]) if s == 0]
    gd = np.array(glo["final_direction"])[:, :2]
    pm = np.array(glo["p_mm_global"])[:2] / np.linalg.norm(glo["p_mm_global"])
    cg = glo["corr_global"]
    return {
        "went_local": [c for c, s in zip(INITS, loc["selected"], strict=True) if s == 1],
        "limits_binary": all(s in (0, 1) for s in loc["selected"]),
        "token1_local": loc["token1_locally_optimal"],
        "corr_local_runs": c_loc, "corr_global_runs": c_glo, "n_local": len(c_loc),
        "min_corr_single": min(c_loc + c_glo) if c_loc + c_glo else None,
        "glo_opt": sum(s == 0 for s in glo["selected"]), "glo_runs": len(glo["selected"]),
        "glo_token1_local": glo["token1_locally_optimal"],
        "glo_direction": [gd[:, 0].mean(), gd[:, 1].mean()],
        "glo_norm": np.mean(glo["final_norm"]), "glo_pmm": [pm[0], pm[1]],
        "glo_corr_min": min(cg), "glo_corr_max": max(cg),
    }


def _multi_measures(mi: Mapping[str, Any]) -> dict[str, Any]:
    optimizers = []
    for name, label in (("ngd", "normalized GD, eta = 0.1"), ("gd", "GD, eta = 1")):
        final = [c[-1] for c in mi[name]["corr_pmm"]]
        optimizers.append({"label": label, "n_global": sum(mi[name]["global"]),
                           "n_runs": len(mi[name]["global"]),
                           "corr_min": min(final), "corr_max": max(final)})
    last = {k: {name: float(np.mean([x[-1] for x in mi[name][k]])) for name in ("ngd", "gd")}
            for k in ("norm_p", "prob_opt")}
    return {"optimizers": optimizers,
            "norm_ngd": last["norm_p"]["ngd"], "norm_gd": last["norm_p"]["gd"],
            "prob_ngd": last["prob_opt"]["ngd"], "prob_gd": last["prob_opt"]["gd"]}


def _joint_measures(jt: Mapping[str, Any], official_steps: int) -> dict[str, Any]:
    cps = jt["checkpoints"]
    i = cps.index(official_steps)
    tight, loose = jt["tight"], jt["non-tight"]
    at = {f"{short}_{k}": loose[key][j] for short, key in (
        ("cr", "corr_p_relax"), ("cm", "corr_p_pmm"), ("cw", "corr_p_rate_weighted"))
        for k, j in (("off", i), ("last", -1))}
    return {
        "official_step": cps[i], "last_step": cps[-1],
        "obj_tight": tight["half_sq_norm_p_mm"], "obj_loose": loose["half_sq_norm_p_relax"],
        "joint_cases": [{"case": name, "cv_off": r["corr_v_vmm"][i], "cv_last": r["corr_v_vmm"][-1]}
                        for name, r in (("tight", tight), ("non-tight", loose))],
        "tight_relax_off": tight["corr_p_relax"][i],
        "tight_pmm_off": tight["corr_p_pmm"][i], "tight_pmm_last": tight["corr_p_pmm"][-1],
        **at, "rate_weighted_off": at["cw_last"] < CORR,
        "ratio_v_p": loose["norm_v_over_norm_p"][-1],
    }


def _loss_measures(rows: list[dict[str, Any]]) -> dict[str, Any]:
    corr_rows = [r for r in rows if r["loss"] == "correlation"]
    logi = {r["C"]: r["corr_pmm"] for r in rows if r["loss"] == "logistic"}
    return {"offset_err": max(abs(r["offset"] - r["half_log_C"]) for r in corr_rows),
            "offset_corr_min": min(r["corr_pmm"] for r in corr_rows),
            "c100": logi.get(100.0)}


def measure(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements the comparisons read."""
    return {**_single_measures(data["single_input"]), **_multi_measures(data["multi_input"]),
            **_joint_measures(data["joint"], cfg["joint"]["official_steps"]),
            **_loss_measures(data["loss_offset"]["rows"])}


_LOCAL_THEOREMS = mmts(f"local and global GD convergence theorems for p (numbers {RECALLED})")
_JOINT_RESULT = mmts(f"joint (v, p) regularization-path result (statement and number {RECALLED})")
COMPARISONS = (
    Comparison(
        "single-input, local variant: inits p(0) = (0, c, 0) ending at the locally-optimal "
        "token (direction (1, 0))",
        (Cited("some inits do", notebook("single_input_converge", "local variant")),
         Cited("c = -1, -1.5", EARLIER_INITS)),
        "c = {went_local}; token 1 locally optimal: {token1_local}",
        All(Equal("went_local", [-1.0, -1.5]), IsTrue("limits_binary"), IsTrue("token1_local")),
        "a different set of inits converged locally, or token 1 is not locally optimal",
    ),
    Comparison(
        "single-input, local variant: corr with the p^mm of the selected token at 1000 steps",
        (Cited("-> 1", _LOCAL_THEOREMS),
         Cited("(1.00, 0.03) / (0.999, -0.036) vs (1, 0)", EARLIER_INITS)),
        "local runs {corr_local_runs:~4/}; global runs {corr_global_runs:~4/}",
        All(AtLeast("n_local", 1), AtLeast("min_corr_single", CORR)),
        "still converging at 1000 steps (directional convergence is logarithmically slow for "
        "the global token here)",
    ),
    Comparison(
        "single-input, global variant (third score 0.9): every init selects the optimal token",
        Cited("all 6; token 1 not locally optimal",
              notebook("single_input_converge", "global variant (g_converge=True)")),
        "{glo_opt}/{glo_runs}; token 1 locally optimal: {glo_token1_local}",
        All(Equal("glo_opt", "glo_runs"), Equal("glo_token1_local", False)),
        "an init converged to token 1",
    ),
    Comparison(
        "single-input, global variant: direction after 1000 steps approaches p^mm, still "
        "converging",
        Cited("(-0.20, 0.98) vs p^mm ~ (-0.099, 0.995): still converging", EARLIER_INITS),
        "({glo_direction:~, }) (mean over inits, ||p|| ~ {glo_norm:~}) vs ({glo_pmm:~, }); corr "
        "{glo_corr_min:~4}-{glo_corr_max:~4}",
        All(AtLeast("glo_corr_min", CORR), Below("glo_corr_max", 1 - 1e-9)),
        "not in the expected slow-convergence regime",
    ),
    Comparison(
        "multi-input (our clustered instance), {label}: all 6 inits select opt and "
        f"corr(p, p^mm) >= {CORR} at 1000 steps",
        (Cited("paths converge to p^mm", notebook("multi_input_converge")),
         Cited("global convergence under equal non-optimal scores", _LOCAL_THEOREMS)),
        "global {n_global}/{n_runs}; corr {corr_min:~4}-{corr_max:~4}",
        All(Equal("n_global", "n_runs"), AtLeast("corr_min", CORR)),
        "not aligned within 1000 steps",
        each="optimizers",
    ),
    Comparison(
        "multi-input: normalized GD saturates the softmax faster than constant-step GD",
        (Cited("NGD saturates faster", notebook("multi_input_converge")),
         Cited("NGD ||p|| ~ eta k, GD ||p|| ~ log k", DERIVED)),
        "||p(1000)|| {norm_ngd:~} vs {norm_gd:~}; mean opt probability {prob_ngd:~6} vs "
        "{prob_gd:~4}",
        All(Above("norm_ngd", "norm_gd", scale=10), Above("prob_ngd", "prob_gd")),
        "GD kept pace with NGD",
    ),
    Comparison(
        "joint, objectives 1/2 ||p||^2 of p^mm (tight case) and p^relax (non-tight case)",
        Cited("{:.4f} and {:.4f}".format(*JOINT_OBJECTIVES),
              notebook("joint_training", "cvxopt solver log")),
        "{obj_tight:.4f} and {obj_loose:.4f}",
        All(Near("obj_tight", JOINT_OBJECTIVES[0], 1e-4),
            Near("obj_loose", JOINT_OBJECTIVES[1], 1e-4)),
        "our SVM objective differs from the notebook's solver output",
    ),
    Comparison(
        "joint ({case}): corr(v, v^mm) at {official_step} / {last_step} steps",
        (Cited("-> 1", _JOINT_RESULT), Cited("-> 1", notebook("joint_training"))),
        "{cv_off:~4} / {cv_last:~4}",
        AtLeast("cv_off", CORR),
        "v not yet aligned",
        each="joint_cases",
    ),
    Comparison(
        "joint (tight: p^relax = p^mm): corr(p, p^mm) at {official_step} / {last_step} steps",
        Cited("-> 1", notebook("joint_training")),
        "{tight_pmm_off:~4} / {tight_pmm_last:~4}",
        AtLeast("tight_relax_off", CORR),
        "p not aligned with p^mm within the official 1000 steps",
    ),
    Comparison(
        "joint (non-tight): corr(p, p^relax) at {official_step} / {last_step} steps "
        "(vs p^mm; vs the rate-weighted prediction)",
        (Cited("p -> p^relax, not p^mm", mmts("abstract; joint (v, p) regularization-path "
                                              f"result (statement {RECALLED})")),
         Cited("plots p^relax", notebook("joint_training"))),
        "p^relax {cr_off:~4} / {cr_last:~4}; p^mm {cm_off:~4} / {cm_last:~4}; rate-weighted "
        "{cw_off:~4} / {cw_last:~4}",
        All(AtLeast("cr_off", CORR), AtLeast("cr_last", "cm_last")),
        f"the result is about the joint regularization path with growth conditions on the two "
        f"radii ({RECALLED}); equal normalized steps keep ||v||/||p|| -> {{ratio_v_p:~}}, and then "
        "input 3's gradient weight exp(-||v|| mu_3 - ||p|| rho) does not vanish relative to the "
        "support inputs, so p tracks the rate-weighted max-min direction "
        "(reference/svm/mmts_examples.py, rate_weighted_direction, kappa = 1) and reaches "
        "p^relax only as kappa -> inf",
    ),
    Comparison(
        "joint (non-tight): corr(p, rate-weighted prediction) at the last step",
        Cited("-> 1", f"{DERIVED}, claim mmts.joint-ngd-rate-weighted"),
        "{cw_last:~4}",
        AtLeast("cw_last", CORR),
        "the derived prediction does not match either",
        when="rate_weighted_off",
    ),
    Comparison(
        "loss example, l(x) = -x: offset |p_2| after 1000 steps vs 1/2 ln C (C = 2, 5, 10, 100)",
        (Cited("equals 1/2 ln C; direction -> p^mm = (1, 0)", DERIVED),
         Cited("equals 1/2 ln C to 3 decimals", earlier("notebook diff_loss_function setup"))),
        "max |offset - 1/2 ln C| = {offset_err:~}; corr with p^mm >= {offset_corr_min:~4}",
        AtMost("offset_err", OFFSET_TOL),
        "offset differs from 1/2 ln C",
    ),
    Comparison(
        "loss example, logistic, C = 100: corr(p(1000), p^mm)",
        Cited("0.707: stuck along (1, -1), because the notebook's normalization g/(||g|| + "
              "1e-9) freezes once ||g|| < 1e-9", earlier("official optimizer")),
        "{c100:~4}",
        Near("c100", 0.707, 0.01),
        "our normalized GD takes the gradient's direction in log space, so it keeps moving after "
        "the logistic gradient underflows; the earlier re-run's 0.707 is the official "
        "optimizer's freeze, not the model's behaviour",
    ),
)


def tables(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[Table]:
    """Extra tables of our numbers: joint training, loss example."""
    jt = data["joint"]
    i = jt["checkpoints"].index(cfg["joint"]["official_steps"])

    def pair(r: Mapping[str, Any], key: str) -> str:
        return f"{fmt(r[key][i], 4)} / {fmt(r[key][-1], 4)}"

    joint = Table(
        "Joint (v, p) training: correlations at the official 1000 steps / last step",
        ("case", "alpha", "head support inputs", "v vs v^mm", "p vs p^mm", "p vs p^relax",
         "p vs rate-weighted", "||v||/||p||"),
        tuple(
            (name, str(jt[name]["alpha"]), str(jt[name]["head_support_inputs"]),
             *(pair(jt[name], k) for k in ("corr_v_vmm", "corr_p_pmm", "corr_p_relax",
                                           "corr_p_rate_weighted")),
             fmt(jt[name]["norm_v_over_norm_p"][-1]))
            for name in ("tight", "non-tight")
        ),
    )
    loss = Table(
        "Loss / score-scale example after 1000 steps",
        ("C", "loss", "p", "|p_2|", "1/2 ln C", "corr with p^mm"),
        tuple(
            (fmt(r["C"]), r["loss"], "(" + ", ".join(fmt(x) for x in r["p"][:2]) + ")",
             fmt(r["offset"], 4), fmt(r["half_log_C"], 4), fmt(r["corr_pmm"], 4))
            for r in data["loss_offset"]["rows"]
        ),
    )
    return [joint, loss]


# ----------------------------------------------------------------------------- figure
FIGURE_EXPERIMENT = ("prompt-attention experiments: GD on the prompt p (official notebooks "
                     "single_input_converge, multi_input_converge), joint (v, p) training "
                     "(joint_training) and the loss example (diff_loss_function), "
                     "github.com/ucr-optml/max_margin_attention")
#: one meaning per colour in the whole figure
C_OPT, C_TOKEN1 = fg.BLUE, fg.RED  # the globally optimal token / p^mm of opt; token 1
C_RELAX, C_RATE, C_V = fg.GREEN, fg.PURPLE, fg.ORANGE  # p^relax, rate-weighted p, v
C_CORR_LOSS, C_LOGISTIC = fg.BROWN, fg.CYAN  # the two losses of the loss example
C_PROB = "0.45"  # softmax / logistic probabilities (grey)
PATH_BOX = (-15.0, 105.0)  # both single-input panels: the same square box (equal aspect)
ZOOM = (-2.5, 2.5)  # the insets: where the paths start and split


def _ray(ax: Any, vec: Any, color: str, ls: str, label: str | None) -> None:
    u = np.array(vec, dtype=float)[:2]
    u = u / np.linalg.norm(u)
    ax.plot([0, 200 * u[0]], [0, 200 * u[1]], color=color, ls=ls, lw=1.3, label=label)


def _paths(ax: Any, r: Mapping[str, Any], labels: bool) -> None:
    for k, _ in enumerate(INITS):
        P = np.array(r["paths"][k])
        color = C_OPT if r["selected"][k] == 0 else C_TOKEN1
        ax.plot(P[:, 0], P[:, 1], color=color, lw=1.1, alpha=0.85)
        ax.plot(P[0, 0], P[0, 1], "o", color=color, ms=3.5)
    _ray(ax, r["p_mm_global"], C_OPT, "--",
         r"$p^{mm}$ of the optimal token (direction)" if labels else None)
    _ray(ax, r["p_mm_token1"], C_TOKEN1, "--",
         r"$p^{mm}$ of token 1 (direction)" if labels else None)


def _plot_single(ax: Any, r: Mapping[str, Any], name: str) -> None:
    _paths(ax, r, labels=True)
    ax.set(xlim=PATH_BOX, ylim=PATH_BOX, aspect="equal", xlabel="$p_1$", ylabel="$p_2$",
           title=f"({'a' if name == 'local' else 'b'}) single input, {name} variant "
                 f"(third score {r['third_score']})")
    ins = ax.inset_axes([0.5, 0.3, 0.45, 0.45])
    _paths(ins, r, labels=False)
    ins.set(xlim=ZOOM, ylim=ZOOM, aspect="equal")
    ins.tick_params(labelsize=7)
    ins.set_title(r"start: $p(0) = (0, c)$", fontsize=7.5)
    ax.indicate_inset_zoom(ins, edgecolor="0.5")
    handles = [fg.line_handle(r"GD path ending at the optimal token", C_OPT),
               fg.line_handle(r"GD path ending at token 1", C_TOKEN1)]
    handles += ax.get_legend_handles_labels()[0]
    fg.legend_below(ax, handles, ncol=2, fontsize=7.5)


def _plot_multi(ax: Any, mi: Mapping[str, Any]) -> None:
    keep = fg.log_iterations(mi["checkpoints"])
    cps = np.array(mi["checkpoints"], dtype=float)[keep]
    for name, style in (("ngd", "-"), ("gd", "--")):
        for k in range(len(INITS)):
            color = C_OPT if mi[name]["global"][k] else C_TOKEN1
            ax.plot(cps, np.array(mi[name]["corr_pmm"][k])[keep], style, color=color, lw=1,
                    alpha=0.85)
    ax.set(xscale="log", xlabel="iteration $k$", ylim=(-1.05, 1.05),
           ylabel=r"$\mathrm{corr}(p(k), p^{mm})$",
           title=r"(c) multi-input ($n = 3$, $T = 7$), inits $p(0) = (c, 0, 0)$")
    ng, gd = mi["ngd"], mi["gd"]
    handles = [fg.line_handle(f"normalized GD, $\\eta = {ng['lr']:g}$", "0.3", "-"),
               fg.line_handle(f"GD, $\\eta = {gd['lr']:g}$", "0.3", "--"),
               fg.line_handle(r"run ending at $\mathrm{opt}$ in every input", C_OPT)]
    if not (all(ng["global"]) and all(gd["global"])):
        handles.append(fg.line_handle(r"run ending elsewhere", C_TOKEN1))
    fg.legend_below(ax, handles, ncol=2, fontsize=7.5)


#: (key, label, colour, line style, width): wide to narrow, so that curves that coincide
#: (tight case: p^relax = p^mm) stay visible
JOINT_CURVES = (("corr_p_pmm", r"$\mathrm{corr}(p, p^{mm})$", C_OPT, "-", 3.0),
                ("corr_p_relax", r"$\mathrm{corr}(p, p^{relax})$", C_RELAX, "--", 2.0),
                ("corr_p_rate_weighted", r"$\mathrm{corr}(p, \mathrm{rate\text{-}weighted})$",
                 C_RATE, ":", 1.6),
                ("corr_v_vmm", r"$\mathrm{corr}(v, v^{mm})$", C_V, "-", 1.4),
                ("prob_selected", "softmax probability of the selected token", C_PROB, ":",
                 1.2),
                ("logistic_prob", "logistic probability of the output", C_PROB, "-.", 1.2))


def _plot_joint(ax: Any, cps: np.ndarray, keep: np.ndarray, r: Mapping[str, Any], name: str,
                letter: str) -> None:
    for key, label, color, ls, lw in JOINT_CURVES:
        ax.plot(cps, np.array(r[key])[keep], color=color, ls=ls, lw=lw, label=label)
    ax.set(xscale="log", xlabel="iteration $k$", ylim=(-0.45, 1.05),
           title=f"({letter}) joint $(v, p)$, {name} (third token "
                 f"${tuple(r['third_token'])}$)".replace("(0.5, ", "(0.5,\\ "))
    ax.set_ylabel("correlation; probability (mean over inputs)")
    fg.legend_below(ax, ncol=2, fontsize=7.5)


def _plot_loss(ax: Any, rows: list[Mapping[str, Any]]) -> None:
    for loss, mk, color, label in (("correlation", "o", C_CORR_LOSS, r"$\ell(x) = -x$"),
                                   ("logistic", "s", C_LOGISTIC,
                                    r"$\ell(x) = \log(1 + e^{-x})$")):
        rs = [r for r in rows if r["loss"] == loss]
        ax.plot([r["C"] for r in rs], [r["offset"] for r in rs], mk + "-", color=color,
                label=f"{label}: $|p_2|$ after 1000 steps")
    C = np.array(LOSS_C)
    ax.plot(C, 0.5 * np.log(C), "k--", lw=1, zorder=3, label=r"$\frac{1}{2} \ln C$")
    ax.set(xscale="log", yscale="log", xlabel="score scale $C$", ylabel="offset $|p_2|$",
           title="(f) loss example: offset after 1000 steps")
    fg.log_ticks(ax, LOSS_C)
    fg.legend_below(ax, ncol=1, fontsize=7.5)


def figure(data: Mapping[str, Any]) -> Any:
    """The figure: (a), (b) single-input GD paths (local / global variant), (c) multi-input
    correlation, (d), (e) joint (v, p), (f) loss example. Blue = the optimal token and p^mm,
    red = token 1, in every panel."""
    fig, axes = fg.figure(2, 3, (16.5, 12.5))
    for ax, name in ((axes[0, 0], "local"), (axes[0, 1], "global")):
        _plot_single(ax, data["single_input"][name], name)
    _plot_multi(axes[0, 2], data["multi_input"])
    jt = data["joint"]
    keep = fg.log_iterations(jt["checkpoints"])
    cps = np.array(jt["checkpoints"], dtype=float)[keep]
    for ax, name, letter in ((axes[1, 0], "tight", "d"), (axes[1, 1], "non-tight", "e")):
        _plot_joint(ax, cps, keep, jt[name], name, letter)
    axes[1, 1].sharey(axes[1, 0])
    _plot_loss(axes[1, 2], data["loss_offset"]["rows"])
    cfg = settings(False)["single_input"]
    fg.header(
        fig, fg.MMTS_PAPER, FIGURE_EXPERIMENT,
        shown=r"GD on $p$ converges in direction to $p^{mm}$ of a locally optimal selection; "
              r"joint training: $v \to v^{mm}$, $p \to p^{relax}$",
        caption=(
            "Model $f(X) = \\langle Xv, \\mathrm{softmax}(XWp)\\rangle$. (a), (b): "
            f"{len(INITS)} GD paths (normalized GD, $\\eta = {cfg['lr']}$, {cfg['steps']} "
            "steps) from $p(0) = (0, c)$, $c \\in \\{" + ", ".join(f"{c:g}" for c in INITS)
            + "\\}$, in the plane of the first two coordinates, coloured by the token they "
            "end at; dashed rays: the max-margin directions; both panels use the same box, "
            "insets zoom on the start. (c): one curve per init. (d), (e): one run each, "
            "correlations with the SVM directions and softmax / logistic probabilities "
            "(means over the inputs). (f): one run per $(C, \\ell)$. Single runs, no "
            "averages over runs, hence no intervals."),
    )
    return fig


def plot(data: Mapping[str, Any], path: Path) -> None:
    save(figure(data), path)


__all__ = ["COMPARISONS", "figure", "measure", "plot", "run", "settings"]
