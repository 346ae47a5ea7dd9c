"""Reproduction 4: ReLU head, multi-token selection and the SVM-equivalence W^fin + R W^dir.

TF-SVM (arXiv 2308.16898), nonlinear-head section (abstract: "we propose a more general SVM
equivalence that predicts the implicit bias of 1-layer transformers with nonlinear heads/MLPs");
official ``multi_token_converge`` notebook (github.com/umich-sota/TF-as-SVM): n = 3, T = 4,
d in {4, 6, 8, 10}, head f = 1^T ReLU(V^T X^T s) with random Frobenius-normalized V, normalized
GD eta = 0.1 for 2001 iterations logged every 100, 500 accepted runs per d. Acceptance filter
(official): skip data with all labels +1; keep a run only if no softmax entry lies in
(1e-6, 1e-3] and at least one is <= 1e-6. Selected sets O_i = {t : s_it >= 1e-3}; W^dir
(multi-token SVM), W^fin and the scalar R, which the notebook fits by least squares to the final
iterate; W^1token = Att-SVM of alpha = argmax s.
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
    fisher_p,
    frac,
    note,
    save,
    sub_seed,
)
from attnsvm.properties.reproduce.compare import (
    RECALLED,
    TFSVM,
    Above,
    All,
    AtLeast,
    AtMost,
    Below,
    Cited,
    Comparison,
    Equal,
    earlier,
    notebook,
)
from attnsvm.properties.reproduce.evaluation import fmt
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.models import ReLUHead
from attnsvm.reference.attention.training import correlation, train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.multitoken import selected_sets, svm_equivalence

NAME = "nonlinear_head"
TITLE = "ReLU head: multi-token selection and the SVM-equivalence W^fin + R W^dir"
STATEMENT = (
    f"{TFSVM}, nonlinear-head section (a proposal, not a theorem for MLP heads; wording "
    f"{RECALLED}): with a nonlinear head several tokens keep softmax mass, and GD follows "
    "W^svmeq = W^fin + R W^dir: a diverging direction W^dir (the multi-token SVM separating the "
    "selected sets O_i from the rest) plus a finite part W^fin fixing the composition inside "
    "O_i. Official multi_token_converge figure: 1 - corr(W(k), .) over iterations is smallest "
    "for W^svmeq, then W^dir (legend 'W^mm'), and largest for the single-token W^mm; the "
    "prediction improves as the masked softmax mass -> 0 and as d grows. The notebook fits R "
    "to the final iterate, so the equivalence uses one scalar from GD."
)

DIMS = (4, 6, 8, 10)
QUICK_DIMS = (4, 8)
LOW, HIGH = 1e-6, 1e-3
MARKS = (0, 500, 1000, 2000)
#: an earlier independent re-run of the official protocol (unpublished, not paper values;
#: 60 accepted runs per d): 1 - corr at 2000, (mean, median); accepted of generated
EARLIER_77 = {
    4: {"svmeq": (4.5e-2, 1.3e-2), "dir": (6.0e-2, 1.8e-2), "single": (1.6e-1, 9.3e-2),
        "accepted": (60, 339)},
    10: {"svmeq": (7.5e-3, 2.4e-3), "dir": (9.2e-3, 3.4e-3), "single": (1.2e-1, 1.3e-1),
         "accepted": (60, 3453)},
}
EARLIER_RUN = earlier("60 accepted runs per d")
REFS = ("svmeq", "dir", "single")
BOOT_SIZE = 60  # the earlier re-run's sample size
CHUNK = 1000  # runs trained as one batch
EPS = float(np.finfo(np.float64).eps)
LABELS = {"svmeq": "W^svmeq = W^fin + R W^dir", "dir": "W^dir (multi-token SVM)",
          "single": "W^mm single token"}


def settings(quick: bool) -> dict[str, Any]:
    return {
        "n": 3,
        "T": 4,
        "dims": list(QUICK_DIMS if quick else DIMS),
        "target_accepted": 60 if quick else 500,
        "max_runs_per_d": 300 if quick else 32000,
        "official_accepted_per_d": 500,
        "steps": 2000,
        "log_every": 100,
        "lr": 0.1,
        "optimizer": "official: W <- W - 0.1 g/(||g||_F + eps), eps = float64 eps (a run "
        "freezes once ||g|| << eps); variant at the smallest d on the same datasets: the "
        "suite's normalized GD (gradient direction in log space, never freezes)",
        "head": "f = 1^T ReLU(V^T X^T s), V in R^{d x d} Gaussian, ||V||_F = 1, per run",
        "attention": "cross (random unit z_i)",
        "init": "U(+-1/sqrt(d))",
        "filter": f"reject all-+1 labels; reject any s in ({LOW}, {HIGH}]; reject if no s <= {LOW}",
        "selected_set_threshold": HIGH,
    }


def train_official(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, head: ReLUHead, W0: np.ndarray,
                   *, steps: int, lr: float, checkpoints: list[int]) -> tuple[Any, ...]:
    """The official optimizer of multi_token_converge: W <- W - lr g / (||g||_F + eps) with the
    true float64 gradient g and eps = float64 eps, so a run freezes once ||g|| << eps; returns
    (W final, W history, final probabilities)."""
    res = train_W(X, Y, Z, head, W0, steps=steps, lr=lr, checkpoints=checkpoints, ngd_eps=EPS)
    return res.params["W"], res.history["W"], res.probs


def _train(optimizer: str, D: Mapping[str, np.ndarray], head: ReLUHead, W0: np.ndarray,
           cfg: Mapping[str, Any], cps: list[int]) -> tuple[Any, ...]:
    if optimizer == "official":
        return train_official(D["X"], D["Y"], D["Z"], head, W0, steps=cfg["steps"],
                              lr=cfg["lr"], checkpoints=cps)
    res = train_W(D["X"], D["Y"], D["Z"], head, W0, steps=cfg["steps"], lr=cfg["lr"],
                  checkpoints=cps)
    return res.params["W"], res.history["W"], res.probs


def _chunk(d: int, cfg: Mapping[str, Any], seed: int, start: int, size: int,
           chunk: int) -> tuple[list, np.ndarray, np.ndarray]:
    """One batch of datasets (one per seed, as the official loop), heads V and inits W0."""
    problems = [paper_family(cfg["n"], cfg["T"], d, sub_seed(seed, "data", d, r))
                for r in range(start, start + size)]
    rng = np.random.default_rng(sub_seed(seed, "V", d, chunk))
    V = rng.standard_normal((size, d, d))
    V /= np.linalg.norm(V, axis=(1, 2), keepdims=True)
    W0 = uniform_init((size, d, d), sub_seed(seed, "W0", d, chunk))
    return problems, V, W0


def _accept(p: Any, s: np.ndarray, W_fin: np.ndarray, hist: np.ndarray) -> str | dict[str, Any]:
    """The official filter and the three reference directions of one run: the rejection reason,
    or the run's curves 1 - corr(W(k), .), selected-set sizes and max masked probability."""
    if np.any((s > LOW) & (s <= HIGH)):
        return "mid-probability"
    if not np.any(s <= LOW):
        return "finite"
    try:
        eq = svm_equivalence(p, W_fin, probs=s, threshold=HIGH)
        W1 = solve_att_svm(p, s.argmax(axis=1)).W
    except InfeasibleSVM:
        return "infeasible SVM"
    curves = {key: 1 - correlation(hist, ref[None])
              for key, ref in (("svmeq", eq.W_eq), ("dir", eq.direction.W), ("single", W1))}
    O = selected_sets(s, HIGH)
    mask = np.ones_like(s, dtype=bool)
    for i, o in enumerate(O):
        mask[i, o] = False
    return {"curves": curves, "sizes": [int(len(o)) for o in O],
            "multi": any(len(o) > 1 for o in O), "masked": float(s[mask].max())}


def _summary(d: int, runs: list[dict[str, Any]], cps: list[int], seed: int) -> dict[str, Any]:
    """Per reference direction: mean / median curves, finals, multi-token finals, bootstrap."""
    acc = len(runs)
    boot_rng = np.random.default_rng(sub_seed(seed, "bootstrap", d))
    multi = np.array([r["multi"] for r in runs], dtype=bool)
    out: dict[str, Any] = {"bootstrap60": {}}
    for key in REFS:
        c = np.array([r["curves"][key] for r in runs]).reshape(acc, len(cps))
        out[key] = {
            "mean": c.mean(axis=0).tolist() if acc else [],
            "median": np.median(c, axis=0).tolist() if acc else [],
            "final": c[:, -1].tolist(),
            "final_multi_mean": float(c[multi, -1].mean()) if multi.any() else None,
            "final_multi_median": float(np.median(c[multi, -1])) if multi.any() else None,
        }
        out["bootstrap60"][key] = _bootstrap(c[:, -1], BOOT_SIZE, boot_rng)
    return out


def _one_d(d: int, cfg: Mapping[str, Any], seed: int, progress: Progress | None,
           optimizer: str = "official", cap: int | None = None) -> dict:
    """Generate runs in chunks (as the official loop does, one dataset per seed) until
    ``target_accepted`` runs pass the filter or ``max_runs_per_d`` datasets were generated."""
    cap = cfg["max_runs_per_d"] if cap is None else cap
    cps = list(range(0, cfg["steps"] + 1, cfg["log_every"]))
    rejected = {"no negative label": 0, "mid-probability": 0, "finite": 0, "infeasible SVM": 0}
    runs: list[dict[str, Any]] = []
    generated, chunk = 0, 0
    while len(runs) < cfg["target_accepted"] and generated < cap:
        size = min(CHUNK, cap - generated)
        problems, V, W0 = _chunk(d, cfg, seed, generated, size, chunk)
        generated += size
        chunk += 1
        idx = [r for r, p in enumerate(problems) if not np.all(p.Y > 0)]
        rejected["no negative label"] += size - len(idx)
        note(progress, f"d={d} ({optimizer} optimizer): {generated} runs generated, "
             f"{len(runs)} accepted so far")
        D = stack_problems([problems[r] for r in idx])
        W_end, W_hist, probs = _train(optimizer, D, ReLUHead(V[idx]), W0[idx], cfg, cps)
        for j, r in enumerate(idx):
            rec = _accept(problems[r], probs[j], W_end[j], W_hist[j])
            if isinstance(rec, str):
                rejected[rec] += 1
            else:
                runs.append(rec)
    return {
        "d": d, "optimizer": optimizer, "generated": generated, "accepted": len(runs),
        "rejected": rejected,
        "multi_token": int(sum(r["multi"] for r in runs)), "checkpoints": cps,
        "selected_set_sizes": [r["sizes"] for r in runs],
        "max_masked_prob": [r["masked"] for r in runs],
        "final_1mcorr_svmeq": [float(r["curves"]["svmeq"][-1]) for r in runs],
        **_summary(d, runs, cps, seed),
    }


def _bootstrap(x: np.ndarray, size: int, rng: np.random.Generator, reps: int = 2000) -> dict:
    """95% ranges of the mean and the median of ``size``-run samples drawn from ``x``."""
    if x.size == 0:
        return {"mean": [None, None], "median": [None, None]}
    draws = rng.choice(x, size=(reps, size), replace=True)
    means, medians = draws.mean(axis=1), np.median(draws, axis=1)
    return {
        "mean": np.percentile(means, [2.5, 97.5]).tolist(),
        "median": np.percentile(medians, [2.5, 97.5]).tolist(),
    }


def run(quick: bool, seed: int, progress: Progress | None = None) -> ExperimentResult:
    cfg = settings(quick)
    rows = [_one_d(d, cfg, seed, progress) for d in cfg["dims"]]
    first = rows[0]
    variant = _one_d(first["d"], cfg, seed, progress, optimizer="suite",
                     cap=first["generated"])  # the same datasets, V and inits
    data = {"per_d": rows, "suite_optimizer_variant": variant}
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        measured=measure(data, cfg), comparisons=COMPARISONS, seed=seed, quick=quick,
        tables=tables(data), plotter=plot,
    )


# ----------------------------------------------------------------------------- comparison
def _final(r: Mapping[str, Any], key: str) -> tuple[float, float]:
    f = np.array(r[key]["final"])
    return (float(f.mean()), float(np.median(f))) if f.size else (np.nan, np.nan)


def _slashed(vals: Mapping[str, tuple[float, float]]) -> str:
    """'mean / mean / mean; median / median / median' over REFS."""
    return "; ".join(" / ".join(fmt(vals[k][j]) for k in REFS) for j in (0, 1))


def _earlier_row(r: Mapping[str, Any]) -> dict[str, Any]:
    """Our run at a d of the earlier re-run: its values inside our 60-run bootstrap ranges?"""
    cat = EARLIER_77[r["d"]]
    outside = []
    for k in REFS:
        for j, stat in enumerate(("mean", "median")):
            lo, hi = r["bootstrap60"][k][stat]
            if not lo <= cat[k][j] <= hi:
                outside.append(f"{stat} {k} {fmt(cat[k][j])} vs [{fmt(lo)}, {fmt(hi)}]")
    k0, n0 = cat["accepted"]
    return {
        "d": r["d"], "earlier_text": _slashed(cat), "accepted": r["accepted"],
        "ours_text": _slashed({k: _final(r, k) for k in REFS}),
        "inside": 2 * len(REFS) - len(outside), "total": 2 * len(REFS),
        "outside": "; ".join(outside),
        "k0": k0, "n0": n0, "rate0": k0 / n0, "accept_share": frac(r["accepted"], r["generated"]),
        "p_accept": fisher_p(r["accepted"], r["generated"], k0, n0),
    }


def _ordering(ok_rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    bad = []
    for r in ok_rows:
        (me, md), (de, dd), (se, sd) = (_final(r, k) for k in REFS)
        if not (me <= de < se and md <= dd < sd):
            bad.append(r["d"])
    return {"n_bad": len(bad), "n_ok_rows": len(ok_rows),
            "ordering_text": "holds for d = " + ", ".join(
                str(r["d"]) for r in ok_rows if r["d"] not in bad)
            + (f"; fails for d = {bad}" if bad else "")}


def _scatter(rows: list[Mapping[str, Any]]) -> dict[str, Any]:
    from scipy.stats import spearmanr

    xs = np.concatenate([np.array(r["max_masked_prob"]) for r in rows]) if rows else np.array([])
    ys = np.concatenate([np.array(r["final_1mcorr_svmeq"]) for r in rows]) if rows else xs
    if xs.size < 10:
        return {"has_scatter": False}
    rho, pv = spearmanr(xs, ys)
    return {"has_scatter": True, "rho": rho, "p_rho": pv, "n_scatter": xs.size}


def _variant(base: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, Any]:
    if not (variant["accepted"] and base["accepted"]):
        return {"has_variant": False}
    vb = {k: _final(base, k)[1] for k in REFS}
    vv = {k: _final(variant, k)[1] for k in REFS}
    return {"has_variant": True, "base_d": base["d"],
            "base_accept": frac(base["accepted"], base["generated"]),
            "base_medians": [vb[k] for k in REFS],
            "variant_accept": frac(variant["accepted"], variant["generated"]),
            "v_svmeq": vv["svmeq"], "v_dir": vv["dir"], "v_single": vv["single"]}


def measure(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements the comparisons read."""
    rows = data["per_d"]
    ok_rows = [r for r in rows if r["accepted"]]
    acc = [r["accepted"] for r in rows]
    out = {
        **_ordering(ok_rows),
        "earlier": [_earlier_row(r) for r in rows if r["d"] in EARLIER_77 and r["accepted"]],
        "two_dims": len(ok_rows) >= 2,
        "min_accepted": min(acc) if acc else None,
        "official_per_d": cfg["official_accepted_per_d"], "max_runs": cfg["max_runs_per_d"],
        "accepted_text": ", ".join(f"d={r['d']}: {r['accepted']}/{r['generated']}"
                                   for r in rows),
        **_scatter(rows), **_variant(rows[0], data["suite_optimizer_variant"]),
    }
    if out["two_dims"]:
        a, b = ok_rows[0], ok_rows[-1]
        out.update(d_first=a["d"], d_last=b["d"], median_first=_final(a, "svmeq")[1],
                   median_last=_final(b, "svmeq")[1])
    return out


COMPARISONS = (
    Comparison(
        "ordering of 1 - corr at 2000 steps: W^svmeq <= W^dir < W^1token (mean and median)",
        (Cited("svmeq best, single token worst", notebook("multi_token_converge", "figure")),
         Cited("the same ordering at d = 4 and 10", EARLIER_RUN)),
        "{ordering_text}",
        All(Equal("n_bad", 0), AtLeast("n_ok_rows", 1)),
        "ordering reversed in some d (few accepted runs?)",
    ),
    Comparison(
        "1 - corr at 2000, d = {d}: svmeq / dir / single (mean; median)",
        Cited("{earlier_text}", EARLIER_RUN),
        "{ours_text} ({accepted} runs); {inside}/{total} earlier values inside our 95% "
        "bootstrap range for a 60-run sample",
        Equal("inside", "total"),
        "outside the 95% range of 60-run statistics drawn from our accepted runs: {outside}. The "
        "errors are heavy-tailed and depend on the optimizer (see the optimizer-sensitivity "
        "row); head, init, filter, programs and optimizer follow the official notebook, so we "
        "attribute the rest to the earlier re-run's 60-run sample, not to a protocol difference "
        "(not tested further)",
        each="earlier",
    ),
    Comparison(
        "acceptance rate of the official filter, d = {d}",
        Cited("{k0}/{n0} = {rate0:.3f}", EARLIER_RUN),
        "{accept_share}",
        AtLeast("p_accept", 0.05),
        "Fisher exact p = {p_accept:.2g}",
        each="earlier",
    ),
    Comparison(
        "prediction improves with d: median 1 - corr(W, W^svmeq) at 2000",
        (Cited("decreases with d", notebook("multi_token_converge", "figure")),
         Cited("1.3e-2 (d=4) -> 2.4e-3 (d=10)", EARLIER_RUN)),
        "{median_first:~} (d={d_first}) -> {median_last:~} (d={d_last})",
        Below("median_last", "median_first"),
        "no improvement between the smallest and largest d",
        when="two_dims",
    ),
    Comparison(
        "1 - corr(W, W^svmeq) shrinks with the max masked probability (Spearman, all d)",
        Cited("positive association", notebook("multi_token_converge", "scatter panel")),
        "rho = {rho:.2f}, p = {p_rho:.2g} ({n_scatter} runs)",
        All(Above("rho", 0), Below("p_rho", 0.05)),
        "no significant positive association in the accepted runs",
        when="has_scatter",
    ),
    Comparison(
        "accepted runs per d",
        Cited("{official_per_d} per d", notebook("multi_token_converge")),
        "{accepted_text}",
        AtLeast("min_accepted", "official_per_d"),
        "budget: at most {max_runs} datasets per d are generated (the filter keeps ~2-20% of "
        "runs, 1.7% at d = 10 in the earlier re-run); the yield is reported instead",
    ),
    Comparison(
        "optimizer sensitivity, d = {base_d}, same datasets: acceptance and median 1 - corr "
        "svmeq / dir / single with the suite's non-freezing NGD",
        Cited("{base_accept}; {base_medians:~ / }",
              notebook("multi_token_converge", "its optimizer, run here on the same datasets")),
        "{variant_accept}; {v_svmeq:~} / {v_dir:~} / {v_single:~}",
        All(AtMost("v_svmeq", "v_dir"), Below("v_dir", "v_single")),
        "the ordering changes with the optimizer",
        when="has_variant",
    ),
)


def tables(data: Mapping[str, Any]) -> list[Table]:
    """Extra tables of our numbers: curves at the marks, multi-token runs, the filter."""
    rows = data["per_d"]
    curves = Table(
        "1 - corr(W(k), .) on accepted runs (mean / median)",
        ("d", "accepted", "multi-token", "iteration", *(LABELS[k] for k in REFS)),
        tuple(
            (str(r["d"]), str(r["accepted"]), str(r["multi_token"]), str(r["checkpoints"][i]),
             *(f"{fmt(r[k]['mean'][i])} / {fmt(r[k]['median'][i])}" for k in REFS))
            for r in rows if r["accepted"]
            for i in at_checkpoints(r["checkpoints"], MARKS)
        ),
    )
    multi = Table(
        "Multi-token accepted runs only: 1 - corr at 2000 (mean / median)",
        ("d", "runs", *(LABELS[k] for k in REFS)),
        tuple(
            (str(r["d"]), str(r["multi_token"]),
             *(f"{fmt(r[k]['final_multi_mean'])} / {fmt(r[k]['final_multi_median'])}"
               for k in REFS))
            for r in rows
        ),
    )
    reasons = ("no negative label", "mid-probability", "finite", "infeasible SVM")
    rejected = Table(
        "Official filter",
        ("d", "generated", "accepted", *reasons),
        tuple((str(r["d"]), str(r["generated"]), str(r["accepted"]),
               *(str(r["rejected"][k]) for k in reasons)) for r in rows),
    )
    return [curves, multi, rejected]


FIGURE_EXPERIMENT = ("nonlinear-head experiment: ReLU head, multi-token selection and the SVM "
                     "equivalence (official notebook multi_token_converge.ipynb, "
                     "github.com/umich-sota/TF-as-SVM)")
#: the figure's mathtext names and colours of the three reference directions
MATH_LABELS = {"svmeq": r"$W^{svmeq} = W^{fin} + R\, W^{dir}$",
               "dir": r"$W^{dir}$ (multi-token SVM)",
               "single": r"$W^{mm}$ (single-token SVM of $\mathrm{argmax}_t\, s_{it}$)"}
COLORS = {"svmeq": fg.BLUE, "dir": fg.ORANGE, "single": fg.GREEN}
D_MARKERS = ("o", "^", "s", "D", "v", "P")
FLOOR = 1e-12  # 1 - corr is drawn at least at this value (log axis)


def _final_bars(ax: Any, r: Mapping[str, Any], last: float, step: float) -> None:
    """At the last iteration: 95% bootstrap intervals of the mean (filled marker) and of the
    median (open marker) over the accepted runs, shifted right of the curves' end."""
    for c, key in enumerate(REFS):
        fin = np.maximum(np.array(r[key]["final"], dtype=float), FLOOR)
        for j, (stat, centre) in enumerate((("mean", fin.mean()), ("median", np.median(fin)))):
            lo, hi = fg.bootstrap_ci(fin, stat)
            x = last + step * (0.35 + 0.3 * c + 0.12 * j)
            ax.errorbar([x], [centre], yerr=[[centre - lo], [hi - centre]], color=COLORS[key],
                        marker="o", ms=3.5, mfc=COLORS[key] if j == 0 else "white",
                        capsize=2, lw=1)


def figure(data: Mapping[str, Any]) -> Any:
    """The figure: 1 - corr(W(k), .) over iterations for each d (one y scale for all), and the
    prediction error against the masked softmax mass. Colour = reference direction."""
    rows = [r for r in data["per_d"] if r["accepted"]]
    panels = len(rows) + 1
    nrows = 1 if panels <= 3 else 2
    ncols = -(-panels // nrows)
    fig, grid = fg.figure(nrows, ncols, (4.8 * ncols, 4.4 * nrows + 0.6))
    flat = list(grid.flat)
    for ax in flat[panels:]:
        ax.set_axis_off()
    axes = flat[:panels]
    for ax, r in zip(axes[:-1], rows, strict=False):
        cps = np.array(r["checkpoints"], dtype=float)
        for key in REFS:
            ax.plot(cps, np.maximum(r[key]["mean"], FLOOR), color=COLORS[key], lw=1.4)
            ax.plot(cps, np.maximum(r[key]["median"], FLOOR), color=COLORS[key], ls="--",
                    lw=1.0)
        step = float(cps[1] - cps[0]) if len(cps) > 1 else 1.0
        _final_bars(ax, r, float(cps[-1]), step)
        ax.set(yscale="log", xlabel="iteration $k$",
               ylabel=r"$1 - \mathrm{corr}(W(k), \cdot)$ over accepted runs",
               title=f"$d = {r['d']}$: {r['accepted']} runs accepted of {r['generated']}")
    for ax in axes[1:]:  # one scale for 1 - corr in every panel
        ax.sharey(axes[0])
    ax = axes[-1]
    for j, r in enumerate(rows):
        ax.scatter(np.maximum(r["max_masked_prob"], 1e-300),
                   np.maximum(r["final_1mcorr_svmeq"], FLOOR), s=14,
                   marker=D_MARKERS[j % len(D_MARKERS)], facecolors="none",
                   edgecolors=COLORS["svmeq"], lw=0.9)
    ax.set(xscale="log", yscale="log", xlabel="largest masked softmax probability of the run",
           ylabel=r"$1 - \mathrm{corr}(W(k_{\max}), W^{svmeq})$",
           title="prediction error vs masked mass (one point per run)")
    refs = [fg.line_handle(MATH_LABELS[k], COLORS[k]) for k in REFS]
    stats = [fg.line_handle("mean over runs", "0.3", "-"),
             fg.line_handle("median over runs", "0.3", "--")]
    bars = [fg.line_handle(r"95% interval at $k_{\max}$: mean", "0.3", "none", "o"),
            fg.line_handle(r"95% interval at $k_{\max}$: median", "0.3", "none", "o",
                           mfc="white")]
    marks = [fg.line_handle(f"last panel: $d = {r['d']}$", COLORS["svmeq"], "none",
                            D_MARKERS[j % len(D_MARKERS)], mfc="none")
             for j, r in enumerate(rows)]
    fg.column_legend(fig, [refs, stats, bars, marks])
    cfg = settings(False)  # n, T, steps, step size and filter are the same in quick runs
    fg.header(
        fig, fg.TFSVM_PAPER, FIGURE_EXPERIMENT,
        shown=r"with a ReLU head GD follows $W^{svmeq}$ better than $W^{dir}$, and both far "
              r"better than the single-token $W^{mm}$",
        caption=(
            f"$n = {cfg['n']}$, $T = {cfg['T']}$; head "
            r"$f = \mathbf{1}^\top \mathrm{ReLU}(V^\top X^\top s)$ with a random "
            r"$\|V\|_F = 1$ per run; official normalized GD, $\eta = $" f"{cfg['lr']}, "
            f"{cfg['steps']} iterations, logged every {cfg['log_every']}. Accepted runs: the "
            f"official filter (no softmax entry in $({fg.power10(LOW)}, {fg.power10(HIGH)}]$, "
            rf"at least one $\leq {fg.power10(LOW)}$). Lines: mean (solid) and median "
            "(dashed) over the accepted runs; "
            "the data keep per-run values at the last iteration only, so the 95% percentile "
            "bootstrap intervals of the mean (filled) and the median (open) are drawn there, "
            r"just right of $k_{\max}$. Values below $10^{-12}$ are drawn at $10^{-12}$."),
    )
    return fig


def plot(data: Mapping[str, Any], path: Path) -> None:
    save(figure(data), path)
