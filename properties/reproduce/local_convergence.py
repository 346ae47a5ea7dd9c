"""Reproduction 1: local convergence of normalized GD for W and (K, Q).

TF-SVM (arXiv 2308.16898): the local GD convergence theorem for the W-parameterization (theorem
number unconfirmed) and the empirical (K, Q) -> nuclear-norm bias; official notebook
``local_converge.ipynb`` (github.com/umich-sota/TF-as-SVM): n = 6, T = 8, d = 10,
cross-attention, unit-norm Gaussian tokens and queries, 100 runs, normalized GD with eta = 0.1 for
2000 steps, (K, Q) with m = d, each factor normalized separately and a float64-eps ridge. The
figure plots the max softmax probability and corr(W(k), W^mm_alpha) / corr(K Q^T, W*^mm_alpha),
where the notebook sets alpha to GD's own final selection (not to opt), so we also report how many
runs end at the global alpha = opt and how the others relate to W^mm_opt.
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
    at_checkpoints,
    certified_nuclear,
    curve_stats,
    extend_runs,
    fisher_p,
    frac,
    note,
    save,
    sub_seed,
    take_fallbacks,
)
from attnsvm.properties.reproduce.compare import (
    RECALLED,
    TFSVM,
    Above,
    All,
    AtLeast,
    Below,
    Cited,
    Comparison,
    Equal,
    Increasing,
    earlier,
    notebook,
    tfsvm,
)
from attnsvm.properties.reproduce.evaluation import fmt
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.models import probabilities
from attnsvm.reference.attention.training import (
    correlation,
    log_checkpoints,
    train_KQ,
    train_W,
    uniform_init,
)
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.stats import wilson
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.selection import optimal_tokens
from attnsvm.reference.svm.token_optimality import is_locally_optimal

NAME = "local_convergence"
TITLE = "Local convergence of normalized GD to W^mm_alpha (W) and W*^mm_alpha ((K, Q))"
STATEMENT = (
    f"{TFSVM}, local GD convergence theorem for the W-parameterization (theorem number "
    f"{RECALLED}) and the empirical (K, Q) -> nuclear-norm bias (abstract); official notebook "
    "local_converge.ipynb. From a random initialisation, normalized GD drives the softmax of "
    "each input onto one token (max probability -> 1) and W(k)/||W(k)|| aligns with the "
    "Frobenius Att-SVM solution W^mm_alpha of the selection alpha that GD itself ends at; K Q^T "
    "aligns with the nuclear-norm solution W*^mm_alpha. alpha is locally optimal but need not be "
    "the global opt (abstract: convergence 'can occur in locally-optimal directions'; the "
    "notebook's correlation is with W^mm_alpha of GD's final selection, not with W^mm_opt)."
)

#: an earlier independent re-run of this protocol (30 runs; unpublished, not paper values)
EARLIER_RUN = earlier("30 runs")
EARLIER_72 = {
    "corr_W_mean": (0.259, 0.737, 0.968, 0.990, 0.9958),
    "corr_W_min_2000": 0.957,
    "corr_KQ_mean": (0.421, 0.857, 0.991, 0.9966, 0.9971),
    "corr_KQ_min_2000": 0.994,
    "corr_KQ_fro": 0.85,
    "global": (23, 30),
}
MARKS = (10, 100, 500, 1000, 2000)  # the iterations EARLIER_72's curves are given at
EXTEND_STEPS = 10000  # continuation of W runs whose 2000-step selection is not locally optimal
MEAN_CORR, MIN_CORR = 0.99, 0.95  # directional convergence at 2000 steps: mean and worst run
SATURATED = 1 - 1e-6  # min max-softmax probability of a saturated run
OWN_VS_GLOBAL = 0.05  # a non-global run is this much closer to its own SVM than to the global


def settings(quick: bool) -> dict[str, Any]:
    return {
        "n": 6,
        "T": 8,
        "d": 10,
        "runs": 24 if quick else 100,
        "steps": 2000,
        "lr": 0.1,
        "optimizer": "normalized GD, each of W, K, Q normalized separately (attention.training: "
        "W's direction taken in log space, so it never freezes; (K, Q) with the eps ridge use the "
        "plain gradient as the official code does)",
        "loss": "logistic",
        "attention": "cross (random unit z_i)",
        "data": "paper family (unit Gaussian tokens/queries, unit v, random +-1 labels), "
        "fresh instance per run",
        "init": "U(+-1/sqrt(d)) (PyTorch nn.Linear default), K, Q in R^{d x d} (m = d)",
        "kq_ridge": 2.22e-16,
        "svm_solvers": "certified: Frobenius dual-NNLS (solve_att_svm), nuclear reduced SDP "
        "(solve_nuclear_svm; cvxpy + Clarabel tight if it cannot certify)",
    }


def _max_prob_curves(X: np.ndarray, W_hist: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Mean over inputs of max_t s_it at every checkpoint, shape (B, C)."""
    s = probabilities(X[:, None], W_hist, Z[:, None])  # (B, C, n, T)
    return s.max(axis=-1).mean(axis=-1)


def _analyse_run(p: Any, alpha: np.ndarray, hist: np.ndarray, norm: str,
                 run: int) -> dict[str, Any] | None:
    """One run: its SVM (Frobenius or nuclear), locality, globality and correlation curve; None
    when Att-SVM_alpha is infeasible. Local optimality uses the support tokens of the program of
    the parameterization (Frobenius for W, nuclear for (K, Q)); for (K, Q) the Frobenius-support
    verdict is kept beside it."""
    solve = solve_att_svm if norm == "fro" else certified_nuclear
    opt = optimal_tokens(p)
    try:
        sol = solve(p, alpha)
        fro = sol if norm == "fro" else solve_att_svm(p, alpha)
    except InfeasibleSVM:
        return None
    curve = correlation(hist, sol.W[None])
    rec: dict[str, Any] = {"curve": curve, "final": float(curve[-1])}
    if norm == "nuc":
        rec["curve_fro"] = correlation(hist, fro.W[None])
        sv = np.linalg.svd(hist[-1], compute_uv=False)
        rec["svals"] = (sv / sv[0]).tolist()
    rec["local"] = bool(is_locally_optimal(p, alpha, solution=sol))
    rec["local_fro"] = bool(is_locally_optimal(p, alpha, solution=fro))
    rec["global"] = bool(opt.unique and np.array_equal(alpha, opt.tokens))
    rec["corr_global"] = rec["final"] if rec["global"] else None
    if not rec["global"] and opt.unique:
        W_glob = solve(p, opt.tokens).W
        rec["nonglobal"] = {
            "run": run,
            "alpha": alpha.tolist(),
            "opt": opt.tokens.tolist(),
            "inputs_differing": int(np.sum(alpha != opt.tokens)),
            "corr_iterate_global": float(correlation(hist[-1], W_glob)),
            "corr_svm_alpha_global": float(correlation(sol.W, W_glob)),
            "corr_iterate_alpha": rec["final"],
        }
        rec["corr_global"] = rec["nonglobal"]["corr_iterate_global"]
    return rec


def _analyse(problems, res, W_hist, norm: str) -> dict[str, Any]:
    """Per run: alpha, its SVM, locality, globality, correlation curves (see _analyse_run)."""
    recs = [_analyse_run(p, res.selected[b], W_hist[b], norm, b) for b, p in enumerate(problems)]
    ok = [r for r in recs if r is not None]
    out = {
        "feasible": [r is not None for r in recs],
        "globally_optimal": [r is not None and r["global"] for r in recs],
        "locally_optimal": [r is not None and r["local"] for r in recs],
        "final_corr": [r["final"] for r in ok],
        "final_corr_global": [r["corr_global"] for r in ok],
        "corr_curve": curve_stats(np.array([r["curve"] for r in ok])),
        "nonglobal": [r["nonglobal"] for r in ok if "nonglobal" in r],
    }
    if norm == "nuc":
        out["corr_curve_frobenius"] = curve_stats(np.array([r["curve_fro"] for r in ok]))
        out["final_corr_frobenius"] = [float(r["curve_fro"][-1]) for r in ok]
        out["locally_optimal_frobenius_support"] = [r is not None and r["local_fro"]
                                                     for r in recs]
        out["normalized_singular_values_mean"] = np.mean(
            np.array([r["svals"] for r in ok]), axis=0).tolist()
    return out


def _train(problems: list, cfg: Mapping[str, Any], seed: int,
           progress: Progress | None) -> tuple[Any, Any, np.ndarray, dict]:
    """Both parameterizations, all runs as one batch: (resW, resKQ, checkpoints, stacked data)."""
    B, d, steps = cfg["runs"], cfg["d"], cfg["steps"]
    D = stack_problems(problems)
    cps = np.union1d(log_checkpoints(steps), np.array(MARKS))
    note(progress, f"training W ({B} runs x {steps} steps)")
    resW = train_W(
        D["X"], D["Y"], D["Z"], D["v"], uniform_init((B, d, d), sub_seed(seed, "W0")),
        steps=steps, lr=cfg["lr"], checkpoints=cps,
    )
    note(progress, f"training (K, Q) ({B} runs x {steps} steps)")
    resKQ = train_KQ(
        D["X"], D["Y"], D["Z"], D["v"],
        uniform_init((B, d, d), sub_seed(seed, "K0")),
        uniform_init((B, d, d), sub_seed(seed, "Q0")),
        steps=steps, lr=cfg["lr"], ridge=cfg["kq_ridge"], checkpoints=cps,
    )
    return resW, resKQ, cps, D


def _extend(problems: list, resW: Any, w: dict[str, Any], lr: float,
            progress: Progress | None) -> dict[str, Any]:
    """Continue the W runs stuck at non-locally-optimal selections; record which ones move."""
    stuck = [b for b in range(len(problems)) if w["feasible"][b] and not w["locally_optimal"][b]]
    out: dict[str, Any] = {"steps": EXTEND_STEPS, "runs": stuck, "moved": []}
    if stuck:
        note(progress, f"continuing {len(stuck)} runs stuck at non-locally-optimal selections")
        ext = extend_runs(problems, resW.params["W"], stuck, EXTEND_STEPS, lr)
        out["moved"] = [bool(not np.array_equal(ext.selected[j], resW.selected[b]))
                        for j, b in enumerate(stuck)]
    return out


def run(quick: bool, seed: int, progress: Progress | None = None) -> ExperimentResult:
    cfg = settings(quick)
    take_fallbacks()
    problems = [paper_family(cfg["n"], cfg["T"], cfg["d"], sub_seed(seed, "data", r))
                for r in range(cfg["runs"])]
    resW, resKQ, _, D = _train(problems, cfg, seed, progress)
    W_hist = resW.history["W"]
    KQ_hist = resKQ.history["K"] @ np.swapaxes(resKQ.history["Q"], -1, -2)
    note(progress, "solving Att-SVM (Frobenius) for each W run")
    w = _analyse(problems, resW, W_hist, "fro")
    note(progress, "solving Att-SVM* (nuclear) for each (K, Q) run")
    kq = _analyse(problems, resKQ, KQ_hist, "nuc")
    w["extension"] = _extend(problems, resW, w, cfg["lr"], progress)
    data = {
        "checkpoints": resW.checkpoints.tolist(),
        "max_prob_W": curve_stats(_max_prob_curves(D["X"], W_hist, D["Z"])),
        "max_prob_KQ": curve_stats(_max_prob_curves(D["X"], KQ_hist, D["Z"])),
        "min_max_prob_final_W": float(resW.min_max_prob.min()),
        "min_max_prob_final_KQ": float(resKQ.min_max_prob.min()),
        "W": w,
        "KQ": kq,
        "nuclear_fallbacks": take_fallbacks(),
    }
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        measured=measure(data, cfg), comparisons=COMPARISONS, seed=seed, quick=quick,
        tables=tables(data, cfg), plotter=plot,
    )


# ----------------------------------------------------------------------------- comparison
def _corr_measures(curve: Mapping[str, Any], finals: list, idx: list[int]) -> tuple:
    """(mean correlation at the marks, mean at the last mark, min over runs at the end)."""
    mean = [curve["mean"][i] for i in idx]
    return mean, (mean[-1] if mean else None), (curve["min"][-1] if finals else float("nan"))


def _nonglobal_measures(nonglobal: list[dict[str, Any]]) -> dict[str, Any]:
    ng = [r["corr_iterate_global"] for r in nonglobal]
    gaps = [r["corr_iterate_alpha"] - r["corr_iterate_global"] for r in nonglobal]
    return {
        "own_minus_global": min(gaps) if ng else None,
        "nonglobal_text": (f"{fmt(min(ng))}-{fmt(max(ng))} ({len(ng)} runs); own minus global "
                           f">= {fmt(min(gaps))}" if ng else "no non-global run"),
        "nonglobal_why": ("no non-global run in this sample" if not ng else
                          "a non-global run is about as close to the global W^mm as to its own"),
    }


def measure(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements the comparisons read."""
    B, idx = cfg["runs"], at_checkpoints(data["checkpoints"], MARKS)
    w, kq = data["W"], data["KQ"]
    sat_w, sat_kq = data["min_max_prob_final_W"], data["min_max_prob_final_KQ"]
    corr_w, corr_w_end, corr_w_min = _corr_measures(w["corr_curve"], w["final_corr"], idx)
    corr_kq, corr_kq_end, corr_kq_min = _corr_measures(kq["corr_curve"], kq["final_corr"], idx)
    kf = kq["final_corr_frobenius"]
    k_global = int(np.sum(w["globally_optimal"]))
    stuck, moved = len(w["extension"]["runs"]), int(np.sum(w["extension"]["moved"]))
    return {
        "not_saturated_W": 1 - sat_w, "not_saturated_KQ": 1 - sat_kq,
        "min_max_prob": min(sat_w, sat_kq),
        "corr_W": corr_w, "corr_W_end": corr_w_end, "corr_W_min": corr_w_min,
        "corr_KQ": corr_kq, "corr_KQ_end": corr_kq_end, "corr_KQ_min": corr_kq_min,
        "corr_KQ_fro": float(np.mean(kf)) if kf else np.nan,
        "locally_optimal": frac(int(np.sum(w["locally_optimal"])), B),
        "stuck": stuck, "moved": moved,
        "extension_text": (f"; the other {stuck} changed selection in {moved} cases within "
                           f"{EXTEND_STEPS} more steps (transients)" if stuck else ""),
        "global": frac(k_global, B), "wilson95": wilson(k_global, B),
        "p_global": fisher_p(k_global, B, *EARLIER_72["global"]),
        **_nonglobal_measures(w["nonglobal"]),
    }


_SLASH = "/".join
COMPARISONS = (
    Comparison(
        "max softmax probability at 2000 steps (min over runs and inputs), W / (K,Q)",
        (Cited("-> 1", notebook("local_converge", "panel (a)")),
         Cited("1 - 7e-16 (mean)", EARLIER_RUN)),
        "{not_saturated_W:.1e} / {not_saturated_KQ:.1e} below 1",
        Above("min_max_prob", SATURATED),
        "some runs not saturated",
    ),
    Comparison(
        "mean corr(W(k), W^mm_alpha) at k = 10/100/500/1000/2000 (min at 2000)",
        (Cited("-> 1", notebook("local_converge", "panel (b)")),
         Cited(_SLASH(fmt(v) for v in EARLIER_72["corr_W_mean"])
               + f" (min {EARLIER_72['corr_W_min_2000']})", EARLIER_RUN)),
        "{corr_W:~/} (min {corr_W_min:~})",
        All(AtLeast("corr_W_end", MEAN_CORR), AtLeast("corr_W_min", MIN_CORR)),
        f"mean < {MEAN_CORR} or some run < {MIN_CORR} at 2000 steps",
    ),
    Comparison(
        "mean corr(W(k), W^mm_alpha) rises over iterations",
        Cited("rises to 1", notebook("local_converge", "panel (b)")),
        "{corr_W:~/}",
        Increasing("corr_W", slack=1e-3),
        "mean curve decreases somewhere",
    ),
    Comparison(
        "mean corr(K Q^T(k), W*^mm_alpha) at k = 10/100/500/1000/2000 (min at 2000)",
        (Cited("-> 1 (empirical)", notebook("local_converge", "panel (b)")),
         Cited(_SLASH(fmt(v) for v in EARLIER_72["corr_KQ_mean"])
               + f" (min {EARLIER_72['corr_KQ_min_2000']})", EARLIER_RUN)),
        "{corr_KQ:~/} (min {corr_KQ_min:~})",
        All(AtLeast("corr_KQ_end", MEAN_CORR), AtLeast("corr_KQ_min", MIN_CORR)),
        f"mean < {MEAN_CORR} or some run < {MIN_CORR} at 2000 steps",
    ),
    Comparison(
        "mean corr(K Q^T, Frobenius W^mm_alpha) at 2000 (must be below the nuclear one)",
        (Cited("(K, Q) -> the nuclear-norm SVM, W -> the Frobenius one", tfsvm("abstract")),
         Cited(f"{EARLIER_72['corr_KQ_fro']} (< nuclear)", EARLIER_RUN)),
        "{corr_KQ_fro:~}",
        Below("corr_KQ_fro", "corr_KQ_end"),
        "(K, Q) is not closer to the nuclear solution",
    ),
    Comparison(
        "W runs whose 2000-step selection alpha is locally optimal",
        (Cited("limits are locally optimal",
               tfsvm(f"local GD convergence theorem for W (statement and number {RECALLED})")),
         Cited("30/30", EARLIER_RUN)),
        "{locally_optimal}{extension_text}",
        Equal("moved", "stuck"),
        "a non-locally-optimal selection persisted after the extension (see data.W.extension)",
    ),
    Comparison(
        "W runs ending at the global alpha = opt (95% Wilson CI)",
        (Cited("not measured (the figure correlates with W^mm_alpha of GD's own selection)",
               notebook("local_converge")),
         Cited("{}/{}".format(*EARLIER_72["global"]), EARLIER_RUN)),
        "{global} [{wilson95[0]:.2f}, {wilson95[1]:.2f}]",
        AtLeast("p_global", 0.05),
        "Fisher exact p = {p_global:.3g} against the earlier re-run's count",
    ),
    Comparison(
        "non-global W runs: corr(W(2000), global W^mm) (range), against corr with their own "
        "W^mm_alpha",
        Cited("0.68-0.84 (7 runs), i.e. clearly below the ~1 of their own SVM", EARLIER_RUN),
        "{nonglobal_text}",
        Above("own_minus_global", OWN_VS_GLOBAL),
        "{nonglobal_why}",
    ),
)


def tables(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> list[Table]:
    """Extra tables of our numbers: correlation curves at the marks, selections."""
    B, cps = cfg["runs"], data["checkpoints"]
    w, kq = data["W"], data["KQ"]
    curves = Table(
        "Correlation with the SVM of GD's own selection (mean / min over runs)",
        ("iteration", "W vs W^mm_alpha", "(K,Q) vs W*^mm_alpha", "(K,Q) vs W^mm_alpha",
         "max prob W", "max prob (K,Q)"),
        tuple(
            (str(cps[i]),
             f"{fmt(w['corr_curve']['mean'][i])} / {fmt(w['corr_curve']['min'][i])}",
             f"{fmt(kq['corr_curve']['mean'][i])} / {fmt(kq['corr_curve']['min'][i])}",
             fmt(kq["corr_curve_frobenius"]["mean"][i]),
             fmt(data["max_prob_W"]["mean"][i], 6), fmt(data["max_prob_KQ"]["mean"][i], 6))
            for i in at_checkpoints(cps, MARKS)
        ),
    )
    selections = Table(
        "Selections",
        ("parameterization", "locally optimal (own SVM's support)", "global", "feasible"),
        tuple(
            (label, *(frac(int(np.sum(r[k])), B)
                      for k in ("locally_optimal", "globally_optimal", "feasible")))
            for label, r in (("W", w), ("(K,Q)", kq))
        ),
    )
    return [curves, selections]


FIGURE_EXPERIMENT = ("local-convergence experiment: normalized GD on W and on (K, Q) from random "
                     "initialisations (official notebook local_converge.ipynb, "
                     "github.com/umich-sota/TF-as-SVM)")


def _band(ax: Any, x: np.ndarray, curve: Mapping[str, Any], keep: np.ndarray, runs: int,
          color: str, ls: str, label: str) -> None:
    """Mean over ``runs`` runs (line), mean +- 1 s.d. (light band: the spread over runs) and
    the 95% t-interval of the mean (dark band), both clipped at 1."""
    from scipy.stats import t

    m, s = np.array(curve["mean"])[keep], np.array(curve["std"])[keep]
    ax.plot(x, m, color=color, ls=ls, label=label)
    ax.fill_between(x, m - s, np.minimum(m + s, 1), color=color, alpha=0.12, lw=0)
    if runs > 1:  # curve_stats' std is the population one (ddof = 0)
        half = t.ppf(0.975, runs - 1) * s * np.sqrt(runs / (runs - 1)) / np.sqrt(runs)
        ax.fill_between(x, m - half, np.minimum(m + half, 1), color=color, alpha=0.35, lw=0)


def figure(data: Mapping[str, Any]) -> Any:
    """The figure: (a) softmax saturation, (b) correlation with the SVM of GD's own selection,
    (c) own SVM against the global one for every W run. Colour = parameterization (W blue,
    (K, Q) red, as in the official notebook); line style = SVM (Frobenius solid, nuclear
    dashed)."""
    keep = fg.log_iterations(data["checkpoints"])
    cps = np.asarray(data["checkpoints"], dtype=float)[keep]
    w, kq = data["W"], data["KQ"]
    runs, ok_w, ok_kq = len(w["feasible"]), len(w["final_corr"]), len(kq["final_corr"])
    cfg = settings(False)  # n, T, d and the step size are the same in quick runs
    fig, axes = fg.figure(1, 3, (15, 4.6))
    ax = axes[0, 0]
    for key, label, color in (("max_prob_W", "W", fg.BLUE), ("max_prob_KQ", "(K, Q)", fg.RED)):
        _band(ax, cps, data[key], keep, runs, color, "-", f"{label}: mean over runs")
    ax.set(xscale="log", xlabel="iteration $k$", ylim=(0, 1.03),
           ylabel=r"$\mathrm{max}_t\, s_{it}$ (mean over inputs $i$)",
           title="(a) softmax saturation")
    fg.legend_below(ax, [*ax.get_legend_handles_labels()[0],
                         fg.patch_handle("mean ± 1 s.d. over runs", "0.5", 0.15),
                         fg.patch_handle("95% interval of the mean", "0.5", 0.45)], ncol=2)
    ax = axes[0, 1]
    for curve, count, label, color, ls in (
        (w["corr_curve"], ok_w, rf"W vs {fg.W_MM_A} (Frobenius)", fg.BLUE, fg.FROBENIUS_LS),
        (kq["corr_curve"], ok_kq, rf"{fg.KQ} vs {fg.W_MM_STAR_A} (nuclear)", fg.RED,
         fg.NUCLEAR_LS),
        (kq["corr_curve_frobenius"], ok_kq, rf"{fg.KQ} vs {fg.W_MM_A} (Frobenius)", fg.RED,
         fg.FROBENIUS_LS),
    ):
        _band(ax, cps, curve, keep, count, color, ls, label)
    ax.set(xscale="log", xlabel="iteration $k$", ylim=(-0.2, 1.03),
           ylabel=r"$\mathrm{corr}(\cdot,\ \mathrm{SVM})$ (mean over runs)",
           title="(b) direction vs SVM of GD's own selection " + r"$\alpha$")
    fg.legend_below(ax, ncol=1)
    ax = axes[0, 2]
    own = np.array(w["final_corr"], dtype=float)
    glob_c = np.array([np.nan if c is None else c for c in w["final_corr_global"]], dtype=float)
    glob = np.array(w["globally_optimal"])[np.array(w["feasible"])]
    ax.plot([0, 1], [0, 1], color="0.6", lw=0.8, ls=":", label="equal correlation")
    ax.scatter(glob_c[glob], own[glob], s=22, color=fg.BLUE,
               label=f"W run ending at {fg.ALPHA_OPT} ({int(glob.sum())})")
    ax.scatter(glob_c[~glob], own[~glob], s=26, facecolors="none", edgecolors=fg.BLUE,
               label=f"W run ending at {fg.ALPHA_NOT_OPT} ({int((~glob).sum())})")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.02, 1.04),
           xlabel=rf"$\mathrm{{corr}}(W(k_{{\max}}),\ ${fg.W_MM_OPT}$)$ (global SVM)",
           ylabel=rf"$\mathrm{{corr}}(W(k_{{\max}}),\ ${fg.W_MM_A}$)$ (own SVM)",
           title="(c) own vs global SVM, W runs")
    fg.legend_below(ax, ncol=1)
    fg.header(
        fig, fg.TFSVM_PAPER, FIGURE_EXPERIMENT,
        shown=rf"normalized GD drives W towards {fg.W_MM_A} and {fg.KQ} towards "
              rf"{fg.W_MM_STAR_A}, $\alpha$ = the selection GD ends at",
        caption=(
            f"{runs} runs (fresh data and initialisation each; $n = {cfg['n']}$, "
            f"$T = {cfg['T']}$, $d = {cfg['d']}$), normalized GD with $\\eta = {cfg['lr']}$, "
            f"$k_{{\\max}} = {int(cps[-1])}$. (a), (b): line = mean over runs, light band = "
            "mean ± 1 standard deviation over runs (the spread), dark band = 95% t-interval "
            "of the mean (both clipped at 1); (b) over the "
            f"{ok_w} W and {ok_kq} (K, Q) runs with a feasible Att-SVM. Blue = W, red = "
            "(K, Q); solid = correlation with the Frobenius SVM, dashed = with the "
            "nuclear-norm SVM. (c) one point per W run: filled = GD ended at the globally "
            "optimal selection, open = at another (locally optimal) one, which is close to "
            "its own SVM (vertical axis) but not to the global one (horizontal axis)."),
    )
    return fig


def plot(data: Mapping[str, Any], path: Path) -> None:
    save(figure(data), path)
