"""Reproduction: convergence rates of W(k) -> W^mm per optimizer (log-log gap curves).

Vasudeva, Deora, Thrampoulidis, "Implicit Bias and Fast Convergence Rates for Self-attention"
(arXiv 2402.05738), abstract: normalized GD and the Polyak step-size give finite-time rates of
W_t -> W_mm and of the sparsification of the attention map, and accelerate parameter convergence
over standard GD (the theorems' exponents were not read here: no exponent is compared with a
theorem's). Fan, Schmidt, Thrampoulidis (arXiv 2502.04664), abstract: SignGD and Adam converge to
the max-norm margin on linear multiclass separable data; here measured on attention.

Protocol (ours; no official notebook): equal-scores data (the global-convergence setting),
n = 4, T = 5, d = 7, random uniform inits, logistic loss; per optimizer the direction gap
1 - corr(W(k), W^mm), the suboptimality 1 - s_opt(k) (s_opt = min over inputs of the softmax
probability on the optimal token) and, for SignGD / Adam, the max-norm margin gap; exponents fitted
over log-spaced checkpoints, one fit per run, 95% t-interval over the runs
(``reference.attention.rates``).
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
    RECALLED,
    Above,
    All,
    AtMost,
    Cited,
    Comparison,
    IsTrue,
)
from attnsvm.properties.reproduce.evaluation import fmt
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.losses import get_loss
from attnsvm.reference.attention.optimizers import Adam, Polyak, SignGD, risk_floor
from attnsvm.reference.attention.rates import (
    fit_log_law,
    fit_power_law,
    local_exponents,
    log_opt_suboptimality,
    margin_gap,
)
from attnsvm.reference.attention.training import (
    correlation,
    log_checkpoints,
    train_W,
    uniform_init,
)
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.lp import solve_lp_svm
from attnsvm.reference.svm.selection import optimal_tokens

NAME = "rates"
TITLE = "Convergence rates of W(k) -> W^mm: GD, normalized GD, Polyak, SignGD, Adam"
PAPER = ("Vasudeva, Deora, Thrampoulidis, Implicit Bias and Fast Convergence Rates for "
         "Self-attention (arXiv 2402.05738)")
SIGN_PAPER = "Fan, Schmidt, Thrampoulidis (arXiv 2502.04664)"
STATEMENT = (
    f"{PAPER}, abstract: normalized GD and the Polyak step-size converge to W_mm at finite-time "
    "rates and accelerate parameter convergence over standard GD; the theorems' exponents are "
    f"{RECALLED} and not compared. {SIGN_PAPER}, abstract: SignGD and Adam converge to the "
    "max-norm margin (linear multiclass data), here measured on the attention W."
)

MIN_EXPONENT = 0.5  # a decay counts as polynomial when its exponent interval lies above this
LINF_GAP = 0.1  # SignGD / Adam: the max-norm margin gap must end below this
OPTIMIZERS = ("gd", "ngd", "polyak", "signgd", "adam")
LABELS = {"gd": "GD (constant step)", "ngd": "normalized GD", "polyak": "Polyak step",
          "signgd": "SignGD", "adam": "Adam"}


def settings(quick: bool) -> dict[str, Any]:
    long = 2000 if quick else 20_000
    return {
        "family": "equal-scores", "n": 4, "T": 5, "d": 7,
        "instances": 1 if quick else 3,
        "runs": 4 if quick else 8,
        "optimizers": {
            "gd": {"steps": 3000 if quick else 30_000, "lr": 1.0},
            "ngd": {"steps": long, "lr": 0.1},
            "polyak": {"steps": 200, "lr": 1.0, "floor": "L* = (1/n) sum_i l(gamma_i,opt)",
                       "resolution": 1e-12},
            "signgd": {"steps": long, "lr": 0.01},
            "adam": {"steps": long, "lr": 0.01, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
        },
        "per_decade": 12,
        "kmin": 10,
        "kmin_polyak": 1,
        "gd_window_kmin": 100,
        "confidence": 0.95,
        "loss": "logistic",
        "init": "uniform U(-1/sqrt(d), 1/sqrt(d)) per run",
    }


def _rule(name: str, cfg: Mapping[str, Any], floor: float) -> Any:
    o = cfg["optimizers"][name]
    if name == "polyak":
        return Polyak(floor, resolution=o["resolution"])
    if name == "signgd":
        return SignGD()
    if name == "adam":
        return Adam(o["beta1"], o["beta2"], o["eps"])
    return None


def _run_optimizer(p: Any, name: str, cfg: Mapping[str, Any], W0: np.ndarray,
                   svms: Mapping[str, Any]) -> dict[str, Any]:
    o = cfg["optimizers"][name]
    opt = svms["opt"]
    floor = float(risk_floor(p.scores[np.arange(p.n), opt], get_loss("logistic").value))
    rule = _rule(name, cfg, floor)
    cps = log_checkpoints(o["steps"], cfg["per_decade"])
    res = train_W(p.X, p.Y, p.Z, p.v, W0, steps=o["steps"], lr=o["lr"],
                  normalized=name != "gd", checkpoints=cps, rule=rule)
    k = res.checkpoints
    H = res.history["W"]
    gaps = 1.0 - correlation(H, svms["fro"].W[None, None])
    frozen = getattr(rule, "frozen_at", None)
    stop = int(k[-1]) if frozen is None or np.all(frozen < 0) else int(
        np.min(np.where(frozen >= 0, frozen, k[-1])))
    kmin = cfg["kmin_polyak"] if name == "polyak" else cfg["kmin"]
    fit = fit_power_law(k, gaps, kmin=kmin, kmax=stop, confidence=cfg["confidence"])
    log_sub = log_opt_suboptimality(p.X, p.Z, H, opt)
    sub = fit_power_law(k, log_sub, kmin=kmin, kmax=stop, confidence=cfg["confidence"],
                        log_values=True)
    rec: dict[str, Any] = {
        "checkpoints": k.tolist(), "gap": gaps.tolist(), "log_suboptimality": log_sub.tolist(),
        "stop": stop, "frozen_at": None if frozen is None else frozen.tolist(),
        "fit": fit.as_dict(), "suboptimality_fit": sub.as_dict(),
        "selects_opt": bool(np.all(res.selected == opt[None])),
    }
    if name == "gd":
        early, late = local_exponents(k, gaps, windows=2, kmin=cfg["gd_window_kmin"],
                                      confidence=cfg["confidence"])
        rec["local"] = [early.as_dict(), late.as_dict()]
        rec["sub_local"] = [w.as_dict() for w in local_exponents(
            k, log_sub, windows=2, kmin=cfg["gd_window_kmin"], confidence=cfg["confidence"],
            log_values=True)]
        rec["log_law"] = fit_log_law(k, gaps, kmin=cfg["gd_window_kmin"],
                                     confidence=cfg["confidence"]).as_dict()
    if name in ("signgd", "adam"):
        a, z = svms["fro"].constraints.a, svms["fro"].constraints.z
        rec["linf_gap"] = margin_gap(a, z, H, np.inf, svms["linf_norm"]).tolist()
        rec["fro_margin_gap"] = margin_gap(a, z, H, 2, svms["fro_norm"]).tolist()
        rec["linf_fit"] = fit_power_law(k, np.clip(rec["linf_gap"], 0.0, None), kmin=kmin,
                                        confidence=cfg["confidence"]).as_dict()
    return rec


def _instances(cfg: Mapping[str, Any], seed: int, limit: int = 50) -> list[tuple[int, Any]]:
    found = []
    for j in range(limit):
        s = sub_seed(seed, "instance", j)
        p = make_problem(cfg["family"], cfg["n"], cfg["T"], cfg["d"], s)
        if not optimal_tokens(p).unique:
            continue
        try:
            solve_att_svm(p)
        except InfeasibleSVM:
            continue
        found.append((s, p))
        if len(found) == cfg["instances"]:
            break
    return found


def run(quick: bool, seed: int, progress: Progress | None = None) -> ExperimentResult:
    cfg = settings(quick)
    items = []
    for j, (s, p) in enumerate(_instances(cfg, seed)):
        fro, inf = solve_att_svm(p), solve_lp_svm(p, float("inf"))
        svms = {"fro": fro, "opt": optimal_tokens(p).tokens,
                "fro_norm": float(np.linalg.norm(fro.W)),
                "linf_norm": float(np.max(np.abs(inf.W)))}
        W0 = uniform_init((cfg["runs"], p.d, p.d), sub_seed(seed, "init", j))
        item: dict[str, Any] = {"data_seed": s, "corr_fro_linf": float(correlation(fro.W,
                                                                                  inf.W))}
        for name in OPTIMIZERS:
            note(progress, f"instance {j + 1}: {LABELS[name]}")
            item[name] = _run_optimizer(p, name, cfg, W0, svms)
        items.append(item)
    data = {"instances": items}
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        measured=measure(data), comparisons=COMPARISONS, seed=seed, quick=quick,
        tables=tables(data), plotter=plot,
    )


# ----------------------------------------------------------------------------- comparison
def _interval(f: Mapping[str, Any]) -> str:
    return f"{fmt(f['exponent'])} [{fmt(f['low'])}, {fmt(f['high'])}]"


def measure(data: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements the comparisons read (worst case over instances)."""
    items = data["instances"]
    m: dict[str, Any] = {"found": len(items)}
    if not items:
        return m
    for name in ("ngd", "polyak"):
        lows = [min(it[name]["fit"]["low"], it[name]["suboptimality_fit"]["low"])
                for it in items]
        m[f"{name}_low"] = min(lows)
        m[f"{name}_text"] = "; ".join(
            f"1-corr {_interval(it[name]['fit'])}, 1-s_opt "
            f"{_interval(it[name]['suboptimality_fit'])}" for it in items)
        m[f"{name}_opt"] = all(it[name]["selects_opt"] for it in items)
    m["polyak_stops"] = [it["polyak"]["stop"] for it in items]
    m["gd_falls"] = all(it["gd"]["local"][1]["high"] < it["gd"]["local"][0]["low"]
                        for it in items)
    m["gd_text"] = "; ".join(
        f"{_interval(it['gd']['local'][0])} -> {_interval(it['gd']['local'][1])}, "
        f"log law a = {_interval(it['gd']['log_law'])}" for it in items)
    m["gd_sub_falls"] = all(it["gd"]["sub_local"][1]["high"] < it["gd"]["sub_local"][0]["low"]
                            for it in items)
    m["gd_sub_text"] = "; ".join(
        f"{_interval(it['gd']['sub_local'][0])} -> {_interval(it['gd']['sub_local'][1])}"
        for it in items)
    m["gd_slower"] = all(it["gd"]["fit"]["high"] < it["ngd"]["fit"]["low"] for it in items)
    m["gd_vs_ngd_text"] = "; ".join(
        f"GD {_interval(it['gd']['fit'])} vs NGD {_interval(it['ngd']['fit'])}" for it in items)
    for name in ("signgd", "adam"):
        worst = max(float(np.max(np.asarray(it[name]["linf_gap"])[:, -1])) for it in items)
        closer = all(bool(np.all(np.asarray(it[name]["linf_gap"])[:, -1]
                                 < np.asarray(it[name]["fro_margin_gap"])[:, -1]))
                     for it in items)
        m[f"{name}_linf"] = worst
        m[f"{name}_closer"] = closer
        m[f"{name}_fro"] = max(float(np.max(np.asarray(it[name]["fro_margin_gap"])[:, -1]))
                               for it in items)
    return m


_ABSTRACT = "arXiv 2402.05738, abstract"
COMPARISONS = (
    Comparison(
        "normalized GD: exponents of 1 - corr(W(k), W^mm) and 1 - s_opt(k)",
        Cited("finite-time rates (exponent not read)", _ABSTRACT),
        "{ngd_text}",
        All(IsTrue("ngd_opt"), Above("ngd_low", MIN_EXPONENT)),
        f"an exponent's interval reaches below {MIN_EXPONENT} (not a clear polynomial decay) or "
        "a run ended on another selection",
        when="found",
    ),
    Comparison(
        "Polyak step: exponents before the step stops being formable (stop at k = "
        "{polyak_stops})",
        Cited("finite-time rates (exponent not read)", _ABSTRACT),
        "{polyak_text}",
        All(IsTrue("polyak_opt"), Above("polyak_low", MIN_EXPONENT)),
        f"an exponent's interval reaches below {MIN_EXPONENT}, or a run ended elsewhere",
        when="found",
    ),
    Comparison(
        "constant-step GD: local exponent early -> late half of k >= 100 (log law: it falls)",
        Cited("slower than NGD / Polyak (a 1/log k law is the linear-model rate)",
              f"{_ABSTRACT}; the 1/log k form {RECALLED}"),
        "{gd_text}",
        IsTrue("gd_falls"),
        "the late exponent is not below the early one: no log-law signature in this window",
        when="found",
    ),
    Comparison(
        "constant-step GD: local exponent of 1 - s_opt, early -> late half of k >= 100",
        Cited("slower than NGD / Polyak; only logarithmic is the statement tested",
              f"{_ABSTRACT}; the log form {RECALLED}"),
        "{gd_sub_text}",
        IsTrue("gd_sub_falls"),
        "the exponent does not fall: GD's ||W|| grows like log k and 1 - s_opt like "
        "exp(-c ||W||), so the suboptimality decays like a power of k, not logarithmically",
        when="found",
    ),
    Comparison(
        "GD's exponent below normalized GD's",
        Cited("adaptive steps accelerate convergence over GD", _ABSTRACT),
        "{gd_vs_ngd_text}",
        IsTrue("gd_slower"),
        "GD's exponent interval reaches normalized GD's",
        when="found",
    ),
    Comparison(
        "SignGD: max-norm margin gap at the end (Frobenius margin gap)",
        Cited("-> 0 (linear multiclass data)", f"{SIGN_PAPER}, abstract"),
        "{signgd_linf:~} ({signgd_fro:~})",
        All(AtMost("signgd_linf", LINF_GAP), IsTrue("signgd_closer")),
        f"the max-norm margin gap ends above {LINF_GAP} or above the Frobenius margin gap",
        when="found",
    ),
    Comparison(
        "Adam (default betas): max-norm margin gap at the end (Frobenius margin gap)",
        Cited("-> 0 (linear multiclass data)", f"{SIGN_PAPER}, abstract"),
        "{adam_linf:~} ({adam_fro:~})",
        All(AtMost("adam_linf", LINF_GAP), IsTrue("adam_closer")),
        "Adam with beta2 = 0.999 slows down as the gradients decay exponentially (its second "
        "moment remembers the larger past gradients): within the budget it has not approached "
        "the max-norm SVM",
        when="found",
    ),
)


def tables(data: Mapping[str, Any]) -> list[Table]:
    """Fitted exponents per optimizer and instance."""
    rows = []
    for j, it in enumerate(data["instances"]):
        for name in OPTIMIZERS:
            r = it[name]
            rows.append((str(j + 1), LABELS[name], f"{r['fit']['kmin']}-{r['fit']['kmax']}",
                         _interval(r["fit"]), _interval(r["suboptimality_fit"]),
                         fmt(float(np.mean(np.asarray(r["gap"])[:, -1]))),
                         _interval(r["linf_fit"]) if "linf_fit" in r else "-"))
    return [Table("Fitted exponents a (gap ~ k^-a), 95% t-interval over runs",
                  ("instance", "optimizer", "k range", "1 - corr(W, W^mm)", "1 - s_opt",
                   "final 1 - corr", "max-norm margin gap"), tuple(rows))]


# ----------------------------------------------------------------------------- figure
FIGURE_EXPERIMENT = ("rates experiment: direction gap $1 - \\mathrm{corr}(W(k), W^{mm})$ against "
                     "the iteration k per optimizer, log-log (no official notebook; our "
                     "protocol)")


def _plain_log_axes(ax: Any, steps: float) -> None:
    """Log iteration axis labelled 1, 10, 100, ... without minor tick labels."""
    from matplotlib.ticker import NullFormatter

    ticks = [10**j for j in range(1 + int(np.log10(max(steps, 1))))]
    ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def _panel(ax: Any, rec: Mapping[str, Any], title: str) -> None:
    k = np.asarray(rec["checkpoints"], dtype=float)
    mask = k >= 1
    gaps = np.asarray(rec["gap"])
    for g in gaps:
        ax.plot(k[mask], np.clip(g[mask], 1e-300, None), color=fg.BLUE, lw=0.7, alpha=0.35)
    ax.plot(k[mask], np.exp(np.mean(np.log(np.clip(gaps[:, mask], 1e-300, None)), axis=0)),
            color=fg.BLUE, lw=2)
    f = rec["fit"]
    what = r"$1 - \mathrm{corr}$"
    if "linf_gap" in rec:  # SignGD / Adam: their target is the max-norm SVM
        lg = np.asarray(rec["linf_gap"])
        ax.plot(k[mask], np.clip(np.mean(lg[:, mask], axis=0), 1e-300, None), color=fg.GREEN,
                lw=2)
        f, what = rec["linf_fit"], "max-norm margin gap"
    kk = np.geomspace(f["kmin"], f["kmax"], 50)
    ax.plot(kk, np.exp(f["intercept"]) * kk ** -f["exponent"], color="k", ls="--", lw=1.3)
    if rec.get("frozen_at") is not None and rec["stop"] < k[-1]:
        ax.axvline(rec["stop"], color=fg.GREY, ls=":", lw=1.2)
    ax.set(xscale="log", yscale="log", xlabel="iteration $k$",
           title=f"{title}\n{what}: $a$ = {f['exponent']:.2f} [{f['low']:.2f}, "
                 f"{f['high']:.2f}]")
    _plain_log_axes(ax, k[-1])


def figure(data: Mapping[str, Any]) -> Any:
    """One log-log panel per optimizer (first instance): runs thin, geometric mean thick (blue),
    the fitted C k^-a dashed over its window; SignGD / Adam also show the max-norm margin gap
    (green); the Polyak panel marks where its step stopped being formable (dotted)."""
    items = data["instances"]
    fig, axes = fg.figure(2, 3, (13.0, 8.2))
    flat = axes.ravel()
    if items:
        it = items[0]
        for ax, name in zip(flat, OPTIMIZERS, strict=False):
            _panel(ax, it[name], LABELS[name])
        ax = flat[5]
        styles = (("-", None), ("--", None), ("-.", None), (":", None), ("-", "x"))
        for name, (ls, mk) in zip(OPTIMIZERS, styles, strict=True):
            rec = it[name]
            k = np.asarray(rec["checkpoints"], dtype=float)
            mask = k >= 1
            ls_mean = np.mean(np.asarray(rec["log_suboptimality"])[:, mask], axis=0)
            ax.plot(k[mask], ls_mean / np.log(10), color=fg.PURPLE, ls=ls, lw=1.6, marker=mk,
                    markevery=4, ms=4, label=LABELS[name])
        ax.set(xscale="log", xlabel="iteration $k$",
               ylabel=r"$\log_{10}(1 - s_{\mathrm{opt}}(k))$",
               title="suboptimality (all optimizers)\n"
                     r"$1 - s_{\mathrm{opt}}(k)$, mean of $\log_{10}$ over runs")
        _plain_log_axes(ax, max(it[n]["checkpoints"][-1] for n in OPTIMIZERS))
        fg.legend_below(ax, ncol=2)
    for ax in flat[:3]:
        ax.set_ylabel(r"$1 - \mathrm{corr}(W(k), W^{mm})$")
    for ax in flat[3:5]:
        ax.set_ylabel(r"$1 - \mathrm{corr}$ (blue), max-norm margin gap (green)")
    fg.figure_legend(fig, [
        fg.line_handle(r"$1 - \mathrm{corr}(W(k), W^{mm})$: runs (thin), geometric mean "
                       "(thick)", fg.BLUE),
        fg.line_handle(r"fitted $C k^{-a}$ over the fit window", "k", "--"),
        fg.line_handle(r"max-norm margin gap $1 - \gamma_\infty(W)/\gamma^\star_\infty$ (mean)",
                       fg.GREEN),
        fg.line_handle("Polyak: first iteration whose step cannot be formed in float64", fg.GREY,
                       ":"),
    ], ncol=2)
    cfg = settings(False)
    runs = len(items[0]["gd"]["gap"]) if items else 0
    fg.header(
        fig, PAPER, FIGURE_EXPERIMENT,
        shown="normalized GD and the Polyak step decay polynomially, constant-step GD's "
              "direction gap only logarithmically; SignGD approaches the max-norm SVM",
        caption=(f"Equal-scores data, $n = {cfg['n']}$, $T = {cfg['T']}$, $d = {cfg['d']}$, "
                 f"{runs} runs from random uniform initialisations (first instance). "
                 "$a$: exponent of $1 - \\mathrm{corr}$ fitted by least squares of log gap on "
                 "log k per run (for SignGD and Adam: of the max-norm margin gap, their "
                 "target); the bracket is the 95% t-interval over the runs. $s_{opt}$ is "
                 "the smallest over inputs of the softmax probability on the optimal token."),
    )
    return fig


def plot(data: Mapping[str, Any], path: Path) -> None:
    save(figure(data), path)
