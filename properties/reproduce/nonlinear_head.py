"""Reproduction 4: ReLU head, multi-token selection and the SVM-equivalence W^fin + R W^dir.

TF-SVM (arXiv 2308.16898), nonlinear-head section ("a more general SVM equivalence that
predicts the implicit bias with nonlinear heads" [ABS]); official ``multi_token_converge``
notebook: n = 3, T = 4, d in {4, 6, 8, 10}, head f = 1^T ReLU(V^T X^T s) with random
Frobenius-normalized V, normalized GD eta = 0.1 for 2001 iterations logged every 100, 500
accepted runs per d. Acceptance filter (official): skip data with all labels +1; keep a run only
if no softmax entry lies in (1e-6, 1e-3] and at least one is <= 1e-6. Selected sets
O_i = {t : s_it >= 1e-3}; W^dir (multi-token SVM), W^fin and the scalar R fitted by least squares
to the final iterate (catalog §1.3 item 3), W^1token = Att-SVM of alpha = argmax s.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.properties.reproduce.common import (
    CATALOG,
    TFSVM,
    Comparison,
    ExperimentResult,
    Progress,
    Table,
    at_checkpoints,
    fisher_p,
    fmt,
    frac,
    note,
    pyplot,
    save,
    sub_seed,
    verdict,
)
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.models import ReLUHead
from attnsvm.reference.attention.training import correlation, train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.multitoken import selected_sets, svm_equivalence

NAME = "nonlinear_head"
TITLE = "ReLU head: multi-token selection and the SVM-equivalence W^fin + R W^dir"
STATEMENT = (
    f"{TFSVM}, nonlinear-head section (proposal, not a theorem for MLP heads; wording "
    "UNVERIFIED): with a nonlinear head several tokens keep softmax mass, and GD follows "
    "W^svmeq = W^fin + R W^dir: a diverging direction W^dir (the multi-token SVM separating the "
    "selected sets O_i from the rest) plus a finite part W^fin fixing the composition inside "
    "O_i. Official multi_token_converge figure: 1 - corr(W(k), .) over iterations is smallest "
    "for W^svmeq, then W^dir (legend 'W^mm'), and largest for the single-token W^mm; the "
    "prediction improves as the masked softmax mass -> 0 and as d grows. R is fitted to the "
    "final iterate, so the equivalence uses one scalar from GD (catalog §1.3 item 3)."
)

DIMS = (4, 6, 8, 10)
QUICK_DIMS = (4, 8)
LOW, HIGH = 1e-6, 1e-3
MARKS = (0, 500, 1000, 2000)
#: catalog §7.7 [NUM] (60 accepted runs per d): 1 - corr at 2000, (mean, median)
CATALOG_77 = {
    4: {"svmeq": (4.5e-2, 1.3e-2), "dir": (6.0e-2, 1.8e-2), "single": (1.6e-1, 9.3e-2),
        "accepted": (60, 339)},
    10: {"svmeq": (7.5e-3, 2.4e-3), "dir": (9.2e-3, 3.4e-3), "single": (1.2e-1, 1.3e-1),
         "accepted": (60, 3453)},
}
REFS = ("svmeq", "dir", "single")
BOOT_SIZE = 60  # the catalog's sample size
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
    true float64 gradient g and eps = float64 eps, so a run freezes once ||g|| << eps (catalog
    §1.3 item 5); returns (W final, W history, final probabilities)."""
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


def _one_d(d: int, cfg: Mapping[str, Any], seed: int, progress: Progress | None,
           optimizer: str = "official", cap: int | None = None) -> dict:
    """Generate runs in chunks (as the official loop does, one dataset per seed) until
    ``target_accepted`` runs pass the filter or ``max_runs_per_d`` datasets were generated."""
    n, T, steps = cfg["n"], cfg["T"], cfg["steps"]
    target = cfg["target_accepted"]
    cap = cfg["max_runs_per_d"] if cap is None else cap
    cps = list(range(0, steps + 1, cfg["log_every"]))
    rejected = {"no negative label": 0, "mid-probability": 0, "finite": 0, "infeasible SVM": 0}
    curves: dict[str, list[np.ndarray]] = {k: [] for k in REFS}
    multi, masked, final_eq, sizes = [], [], [], []
    generated, chunk = 0, 0
    while len(multi) < target and generated < cap:
        size = min(CHUNK, cap - generated)
        problems = [paper_family(n, T, d, sub_seed(seed, "data", d, r))
                    for r in range(generated, generated + size)]
        rng = np.random.default_rng(sub_seed(seed, "V", d, chunk))
        V = rng.standard_normal((size, d, d))
        V /= np.linalg.norm(V, axis=(1, 2), keepdims=True)
        W0 = uniform_init((size, d, d), sub_seed(seed, "W0", d, chunk))
        generated += size
        chunk += 1
        idx = [r for r, p in enumerate(problems) if not np.all(p.Y > 0)]
        rejected["no negative label"] += size - len(idx)
        note(progress, f"d={d} ({optimizer} optimizer): {generated} runs generated, "
             f"{len(multi)} accepted so far")
        D = stack_problems([problems[r] for r in idx])
        W_end, W_hist, probs = _train(optimizer, D, ReLUHead(V[idx]), W0[idx], cfg, cps)
        for j, r in enumerate(idx):
            s = probs[j]
            if np.any((s > LOW) & (s <= HIGH)):
                rejected["mid-probability"] += 1
                continue
            if not np.any(s <= LOW):
                rejected["finite"] += 1
                continue
            p, W_fin = problems[r], W_end[j]
            try:
                eq = svm_equivalence(p, W_fin, probs=s, threshold=HIGH)
                W1 = solve_att_svm(p, s.argmax(axis=1)).W
            except InfeasibleSVM:
                rejected["infeasible SVM"] += 1
                continue
            hist = W_hist[j]
            for key, ref in (("svmeq", eq.W_eq), ("dir", eq.direction.W), ("single", W1)):
                curves[key].append(1 - correlation(hist, ref[None]))
            O = selected_sets(s, HIGH)
            sizes.append([int(len(o)) for o in O])
            multi.append(any(len(o) > 1 for o in O))
            mask = np.ones_like(s, dtype=bool)
            for i, o in enumerate(O):
                mask[i, o] = False
            masked.append(float(s[mask].max()))
            final_eq.append(float(curves["svmeq"][-1][-1]))
    acc = len(multi)
    boot_rng = np.random.default_rng(sub_seed(seed, "bootstrap", d))
    multi_arr = np.array(multi, dtype=bool)
    out: dict[str, Any] = {
        "d": d, "optimizer": optimizer, "generated": generated, "accepted": acc,
        "rejected": rejected,
        "multi_token": int(multi_arr.sum()), "checkpoints": cps,
        "selected_set_sizes": sizes, "max_masked_prob": masked,
        "final_1mcorr_svmeq": final_eq,
    }
    for key in REFS:
        c = np.array(curves[key]).reshape(acc, len(cps))
        out[key] = {
            "mean": c.mean(axis=0).tolist() if acc else [],
            "median": np.median(c, axis=0).tolist() if acc else [],
            "final": c[:, -1].tolist(),
            "final_multi_mean": float(c[multi_arr, -1].mean()) if multi_arr.any() else None,
            "final_multi_median": float(np.median(c[multi_arr, -1])) if multi_arr.any() else None,
        }
        out.setdefault("bootstrap60", {})[key] = _bootstrap(c[:, -1], BOOT_SIZE, boot_rng)
    return out


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
    comparison, tables = _compare(rows, cfg, variant)
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        comparison=comparison, seed=seed, quick=quick, tables=tables, plotter=plot,
    )


def _final(r: Mapping[str, Any], key: str) -> tuple[float, float]:
    f = np.array(r[key]["final"])
    return (float(f.mean()), float(np.median(f))) if f.size else (np.nan, np.nan)


def _compare(rows: list[dict[str, Any]], cfg: Mapping[str, Any],
             variant: Mapping[str, Any]) -> tuple[list, list]:
    from scipy.stats import spearmanr

    out: list[Comparison] = []
    ok_rows = [r for r in rows if r["accepted"]]
    bad = []
    for r in ok_rows:
        (me, md), (de, dd), (se, sd) = (_final(r, k) for k in REFS)
        if not (me <= de < se and md <= dd < sd):
            bad.append(r["d"])
    out.append(Comparison(
        "ordering of 1 - corr at 2000 steps: W^svmeq <= W^dir < W^1token (mean and median)",
        "svmeq best, single token worst [SRC multi_token_converge figure; catalog §7.7]",
        "holds for d = " + ", ".join(str(r["d"]) for r in ok_rows if r["d"] not in bad)
        + (f"; fails for d = {bad}" if bad else ""),
        verdict(not bad and bool(ok_rows)),
        "" if not bad else "ordering reversed in some d (few accepted runs?)",
    ))
    for r in rows:
        cat = CATALOG_77.get(r["d"])
        if cat is None or not r["accepted"]:
            continue
        vals = {k: _final(r, k) for k in REFS}
        inside, total, outside = 0, 0, []
        for k in REFS:
            for j, stat in enumerate(("mean", "median")):
                lo, hi = r["bootstrap60"][k][stat]
                total += 1
                if lo <= cat[k][j] <= hi:
                    inside += 1
                else:
                    outside.append(f"{stat} {k} {fmt(cat[k][j])} vs [{fmt(lo)}, {fmt(hi)}]")
        out.append(Comparison(
            f"1 - corr at 2000, d = {r['d']}: svmeq / dir / single (mean; median)",
            " / ".join(fmt(cat[k][0]) for k in REFS) + "; "
            + " / ".join(fmt(cat[k][1]) for k in REFS) + f" [{CATALOG} §7.7, NUM, 60 runs]",
            " / ".join(fmt(vals[k][0]) for k in REFS) + "; "
            + " / ".join(fmt(vals[k][1]) for k in REFS)
            + f" ({r['accepted']} runs); {inside}/{total} catalog values inside our 95% "
            "bootstrap range for a 60-run sample",
            verdict(inside == total),
            "" if inside == total else (
                "outside the 95% range of 60-run statistics drawn from our accepted runs: "
                + "; ".join(outside) + ". The errors are heavy-tailed and depend on the "
                "optimizer (see the optimizer-sensitivity row); head, init, filter, programs "
                "and optimizer follow the official notebook, so we attribute the rest to the "
                "catalog's 60-run sample, not to a protocol difference (unverified)"
            ),
        ))
        k0, n0 = cat["accepted"]
        pv = fisher_p(r["accepted"], r["generated"], k0, n0)
        out.append(Comparison(
            f"acceptance rate of the official filter, d = {r['d']}",
            f"{k0}/{n0} = {k0 / n0:.3f} [{CATALOG} §7.7, NUM]",
            frac(r["accepted"], r["generated"]),
            verdict(pv >= 0.05),
            "" if pv >= 0.05 else f"Fisher exact p = {pv:.2g}",
        ))
    if len(ok_rows) >= 2:
        a, b = ok_rows[0], ok_rows[-1]
        ma, mb = _final(a, "svmeq")[1], _final(b, "svmeq")[1]
        out.append(Comparison(
            "prediction improves with d: median 1 - corr(W, W^svmeq) at 2000",
            "decreases with d [SRC figure; catalog §7.7: 1.3e-2 (d=4) -> 2.4e-3 (d=10)]",
            f"{fmt(ma)} (d={a['d']}) -> {fmt(mb)} (d={b['d']})",
            verdict(mb < ma),
            "" if mb < ma else "no improvement between the smallest and largest d",
        ))
    xs = np.concatenate([np.array(r["max_masked_prob"]) for r in rows]) if rows else np.array([])
    ys = np.concatenate([np.array(r["final_1mcorr_svmeq"]) for r in rows]) if rows else xs
    if xs.size >= 10:
        rho, pv = spearmanr(xs, ys)
        ok = bool(rho > 0 and pv < 0.05)
        out.append(Comparison(
            "1 - corr(W, W^svmeq) shrinks with the max masked probability (Spearman, all d)",
            "positive association [SRC figure, scatter panel]",
            f"rho = {rho:.2f}, p = {pv:.2g} ({xs.size} runs)",
            verdict(ok),
            "" if ok else "no significant positive association in the accepted runs",
        ))
    acc = [r["accepted"] for r in rows]
    enough = min(acc) >= cfg["official_accepted_per_d"] if acc else False
    out.append(Comparison(
        "accepted runs per d",
        f"{cfg['official_accepted_per_d']} per d [SRC multi_token_converge]",
        ", ".join(f"d={r['d']}: {r['accepted']}/{r['generated']}" for r in rows),
        verdict(enough),
        "" if enough else (
            f"budget: at most {cfg['max_runs_per_d']} datasets per d are generated (the filter "
            "keeps ~2-20% of runs, 1.7% at d = 10 in the catalog); the yield is reported instead"
        ),
    ))
    base = rows[0]
    if variant["accepted"] and base["accepted"]:
        vb = {k: _final(base, k)[1] for k in REFS}
        vv = {k: _final(variant, k)[1] for k in REFS}
        ordered = vv["svmeq"] <= vv["dir"] < vv["single"]
        out.append(Comparison(
            f"optimizer sensitivity, d = {base['d']}, same datasets: acceptance and median "
            "1 - corr svmeq / dir / single with the suite's non-freezing NGD",
            f"official optimizer (this run): {frac(base['accepted'], base['generated'])}; "
            + " / ".join(fmt(vb[k]) for k in REFS),
            f"{frac(variant['accepted'], variant['generated'])}; "
            + " / ".join(fmt(vv[k]) for k in REFS),
            verdict(ordered),
            "" if ordered else "the ordering changes with the optimizer",
        ))
    table = Table(
        "1 - corr(W(k), .) on accepted runs (mean / median)",
        ("d", "accepted", "multi-token", "iteration", *(LABELS[k] for k in REFS)),
        tuple(
            (str(r["d"]), str(r["accepted"]), str(r["multi_token"]), str(r["checkpoints"][i]),
             *(f"{fmt(r[k]['mean'][i])} / {fmt(r[k]['median'][i])}" for k in REFS))
            for r in rows if r["accepted"]
            for i in at_checkpoints(r["checkpoints"], MARKS)
        ),
    )
    multi_t = Table(
        "Multi-token accepted runs only: 1 - corr at 2000 (mean / median)",
        ("d", "runs", *(LABELS[k] for k in REFS)),
        tuple(
            (str(r["d"]), str(r["multi_token"]),
             *(f"{fmt(r[k]['final_multi_mean'])} / {fmt(r[k]['final_multi_median'])}"
               for k in REFS))
            for r in rows
        ),
    )
    rej = Table(
        "Official filter",
        ("d", "generated", "accepted", "no negative label", "mid-probability", "finite",
         "infeasible SVM"),
        tuple(
            (str(r["d"]), str(r["generated"]), str(r["accepted"]),
             *(str(r["rejected"][k]) for k in ("no negative label", "mid-probability", "finite",
                                                "infeasible SVM")))
            for r in rows
        ),
    )
    return out, [table, multi_t, rej]


def plot(data: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    rows = [r for r in data["per_d"] if r["accepted"]]
    fig, axes = plt.subplots(1, len(rows) + 1, figsize=(4.2 * (len(rows) + 1), 4.0),
                             squeeze=False)
    axes = axes[0]
    for ax, r in zip(axes[:-1], rows, strict=False):
        cps = np.array(r["checkpoints"])
        for c, key in enumerate(REFS):
            ax.plot(cps, np.maximum(r[key]["mean"], 1e-12), color=f"C{c}", label=LABELS[key])
            ax.plot(cps, np.maximum(r[key]["median"], 1e-12), color=f"C{c}", ls="--", lw=0.8)
        ax.set(yscale="log", xlabel="iteration", ylabel="1 - corr (solid mean, dashed median)",
               title=f"d = {r['d']} ({r['accepted']} accepted of {r['generated']})")
        ax.legend(fontsize=7)
    ax = axes[-1]
    for c, r in enumerate(rows):
        ax.scatter(np.maximum(r["max_masked_prob"], 1e-300),
                   np.maximum(r["final_1mcorr_svmeq"], 1e-16), s=8, color=f"C{c}",
                   label=f"d = {r['d']}")
    ax.set(xscale="log", yscale="log", xlabel="max masked softmax probability",
           ylabel="final 1 - corr(W, W^svmeq)", title="prediction vs masked mass")
    ax.legend(fontsize=7)
    save(fig, path)
