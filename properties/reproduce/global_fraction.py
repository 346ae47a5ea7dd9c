"""Reproduction 3: the share of random-init GD runs that converge to the global selection vs d.

TF-SVM (arXiv 2308.16898), abstract: "over-parameterization catalyzes global convergence"; the
paper's figure on the percentage of global vs local convergence against d is recalled from the
paper, unconfirmed (figure number and setup), and has no official notebook. Our protocol:
n = 6, T = 8, fresh paper-family data and a fresh U(+-1/sqrt(d)) init per run, normalized GD
eta = 0.1 for 2000 steps; a run is global when its final selection is opt in every input (and the
softmax is saturated). 95% Wilson intervals; a Cochran-Armitage test for the trend in log2 d.

The grid runs on the sweep machinery (``properties.sweeps.run_function_sweep``): one task per
(d, chunk of ``RUNS_PER_TASK`` runs), trained as one batch, returning one record per run; a
run's data and init do not depend on its chunk, so the numbers are those of one batch per d.
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
    extend_runs,
    fisher_p,
    frac,
    note,
    save,
    sub_seed,
    trend_p,
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
    earlier,
    tfsvm,
)
from attnsvm.properties.reproduce.evaluation import fmt
from attnsvm.properties.sweeps import FunctionTask, function_task, run_function_sweep, tally
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.training import train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.selection import optimal_tokens
from attnsvm.reference.svm.token_optimality import is_locally_optimal

NAME = "global_fraction"
TITLE = "Share of global convergence against d (n = 6, T = 8)"
STATEMENT = (
    f"{TFSVM}, abstract: over-parameterization catalyzes global convergence: it makes Att-SVM "
    "feasible and the landscape benign. A figure of the paper (number and setup "
    f"{RECALLED}; no official notebook) shows the percentage of random-init GD runs that "
    "converge to the globally optimal selection rising with d. Limit: over-parameterization at "
    "the feasibility level (d >= max(T-1, n) = 7) still leaves many local convergences (an "
    "earlier independent re-run, unpublished)."
)

DIMS = (4, 6, 8, 12, 16, 24, 32, 48, 64)
QUICK_DIMS = (4, 8, 32)
#: an earlier independent re-run of this protocol (unpublished, not paper values): global of 40
EARLIER_RUNS = 40
EARLIER_GLOBAL = {4: 10, 8: 22, 16: 28, 32: 35, 64: 39}
EARLIER_RUN = earlier(f"{EARLIER_RUNS} runs per d")
SATURATED = 1 - 1e-6
EXTEND_STEPS = 10000  # continuation of runs stuck at a non-locally-optimal selection
#: runs trained as one batch in one task (a d's runs are split into chunks of this size)
RUNS_PER_TASK = 50
#: the version of train_runs' results (part of every task's key: bump it when they change)
TASK_VERSION = "1"
#: run() takes cache= and workers= (its grid runs on properties.sweeps' machinery)
RESUMABLE = True


def settings(quick: bool) -> dict[str, Any]:
    return {
        "n": 6,
        "T": 8,
        "dims": list(QUICK_DIMS if quick else DIMS),
        "runs_per_d": 40 if quick else 200,
        "steps": 2000,
        "lr": 0.1,
        "optimizer": "normalized GD (attention.training; direction in log space, never freezes)",
        "attention": "cross (random unit z_i)",
        "init": "U(+-1/sqrt(d))",
        "global": "final argmax softmax = opt in every input and min max-prob > 1 - 1e-6",
        "ci": "95% Wilson",
    }


def _classify(p: Any, alpha: np.ndarray, sat: bool, max_prob: float, W: np.ndarray,
              run: int) -> dict[str, Any]:
    """One run: global? locally optimal? ||W^mm_opt|| (None: infeasible); and, when the softmax
    is not saturated, a record of how far the run is."""
    opt = optimal_tokens(p)
    out: dict[str, Any] = {
        "tie": not opt.unique,
        "global": bool(opt.unique and sat and np.array_equal(alpha, opt.tokens)),
    }
    try:
        out["opt_norm"] = float(solve_att_svm(p, opt.tokens).objective)
    except InfeasibleSVM:
        out["opt_norm"] = None
    try:
        sol = solve_att_svm(p, alpha)
    except InfeasibleSVM:
        sol = None
    out["local"] = bool(sol is not None and sat and is_locally_optimal(p, alpha, solution=sol))
    if not sat:
        out["unsat"] = {"run": run, "max_prob": float(max_prob),
                        "norm_W": float(np.linalg.norm(W)),
                        "norm_Wmm_alpha": None if sol is None else float(sol.objective)}
    return out


def _extend(problems: list, res: Any, stuck: list[int], lr: float) -> dict[int, dict[str, bool]]:
    """Saturated runs sitting at a selection that is NOT locally optimal are transients:
    continue them and record where they go (the protocol's number stays the 2000-step one):
    per stuck run, whether it changed selection and whether it is global after."""
    out = {}
    if stuck:
        ext = extend_runs(problems, res.params["W"], stuck, EXTEND_STEPS, lr)
        for j, b in enumerate(stuck):
            opt = optimal_tokens(problems[b])
            out[b] = {"moved": bool(not np.array_equal(ext.selected[j], res.selected[b])),
                      "global_after": bool(opt.unique
                                           and np.array_equal(ext.selected[j], opt.tokens))}
    return out


def train_runs(n: int, T: int, d: int, first: int, count: int, steps: int, lr: float,
               seed: int) -> list[dict[str, Any]]:
    """One task: the runs first..first+count-1 at dimension d, trained as one batch (train_W);
    one record per run, status ``global`` or ``not_global``. Run r's data and init are the
    same whichever chunk it is trained in: data seed (seed, "data", d, r), init row r of the
    U(+-1/sqrt(d)) stream seeded (seed, "init", d) (training is per run: batching does not
    change a run's numbers)."""
    runs = range(first, first + count)
    problems = [paper_family(n, T, d, sub_seed(seed, "data", d, r)) for r in runs]
    D = stack_problems(problems)
    W0 = uniform_init((first + count, d, d), sub_seed(seed, "init", d))[first:]
    res = train_W(D["X"], D["Y"], D["Z"], D["v"], W0, steps=steps, lr=lr)
    sat = res.min_max_prob > SATURATED
    recs = [_classify(p, res.selected[b], bool(sat[b]), res.min_max_prob[b], res.params["W"][b],
                      first + b) for b, p in enumerate(problems)]
    stuck = [b for b in range(count) if sat[b] and not recs[b]["local"]]
    ext = _extend(problems, res, stuck, lr)
    return [{**r, "run": first + b, "status": "global" if r["global"] else "not_global",
             "saturated": bool(sat[b]), "max_prob": float(res.min_max_prob[b]),
             "stuck": b in ext, "moved": ext.get(b, {}).get("moved", False),
             "global_after": ext.get(b, {}).get("global_after", r["global"])}
            for b, r in enumerate(recs)]


def _one_d(d: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The row of dimension d from its runs' records (in run order)."""
    share = tally(runs, "global")
    norms = [r["opt_norm"] for r in runs if r["opt_norm"] is not None]
    return {
        "d": d, "runs": share["n"], "global": share["k"], "fraction": share["fraction"],
        "wilson95": share["wilson95"],
        "saturated": sum(r["saturated"] for r in runs),
        "locally_optimal": sum(r["local"] for r in runs),
        "opt_feasible": len(norms), "opt_ties": sum(int(r["tie"]) for r in runs),
        "median_norm_Wmm_opt": float(np.median(norms)) if norms else None,
        "min_max_prob": min(r["max_prob"] for r in runs),
        "unsaturated": [r["unsat"] for r in runs if "unsat" in r],
        "saturated_not_locally_optimal": sum(r["stuck"] for r in runs),
        "extension_steps": EXTEND_STEPS,
        "moved_after_extension": sum(r["moved"] for r in runs),
        "global_after_extension": sum(r["global_after"] for r in runs),
    }


def tasks_of(cfg: Mapping[str, Any], seed: int) -> list[FunctionTask]:
    """One task per (d, chunk of at most RUNS_PER_TASK runs)."""
    B = cfg["runs_per_d"]
    return [
        function_task(NAME, train_runs, TASK_VERSION, {"d": d},
                      {"n": cfg["n"], "T": cfg["T"], "d": d, "first": first,
                       "count": min(RUNS_PER_TASK, B - first), "steps": cfg["steps"],
                       "lr": cfg["lr"]}, seed)
        for d in cfg["dims"] for first in range(0, B, RUNS_PER_TASK)
    ]


def run(quick: bool, seed: int, progress: Progress | None = None, *,
        cache: Path | None = None, workers: int | None = 1) -> ExperimentResult:
    """The grid d x runs as a function sweep (``properties.sweeps``): one task per (d, chunk of
    runs), trained as one batch. ``cache``: the sweep's resumable store (tasks already there
    are read back); ``workers``: the executor (1: here, in order)."""
    cfg = settings(quick)

    def told(task: FunctionTask, _line: Mapping[str, Any]) -> None:
        p = task.params
        note(progress, f"d={p['d']}: runs {p['first']}..{p['first'] + p['count'] - 1} of "
                       f"{cfg['runs_per_d']} x {cfg['steps']} steps")

    sweep = run_function_sweep(NAME, train_runs, tasks_of(cfg, seed), version=TASK_VERSION,
                               out_dir=cache, workers=workers, on_result=told)
    rows = [_one_d(cell["d"], runs) for cell, runs in sweep.cells()]
    z, p = trend_p([r["global"] for r in rows], [r["runs"] for r in rows],
                   [float(np.log2(r["d"])) for r in rows])
    data = {"per_d": rows, "trend_z": z, "trend_p_one_sided": p}
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        measured=measure(data, cfg), comparisons=COMPARISONS, seed=seed, quick=quick,
        tables=tables(data), plotter=plot,
    )


# ----------------------------------------------------------------------------- comparison
def _unsaturated_why(uns: list[dict[str, Any]]) -> str:
    norms = [u["norm_Wmm_alpha"] for u in uns if u["norm_Wmm_alpha"] is not None]
    infeasible = len(uns) - len(norms)
    text = (
        f"{len(norms)} unsaturated runs sit at feasible selections with small margins: "
        f"||W(2000)|| <= 200 (0.1 x 2000 normalized steps) against ||W^mm_alpha|| up to "
        f"{fmt(max(norms)) if norms else '-'}, so exp(-||W|| / ||W^mm_alpha||) is not yet "
        "below 1e-6 (the earlier re-run's criterion, 0.99, is looser)"
    )
    if infeasible:
        text += f"; {infeasible} sit at a selection whose Att-SVM is infeasible"
    return text


def _earlier_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"d": r["d"], "k0": EARLIER_GLOBAL[r["d"]], "share0": EARLIER_GLOBAL[r["d"]] / EARLIER_RUNS,
         "ours": frac(r["global"], r["runs"]), "ci": r["wilson95"],
         "fisher_p": fisher_p(r["global"], r["runs"], EARLIER_GLOBAL[r["d"]], EARLIER_RUNS)}
        for r in rows if r["d"] in EARLIER_GLOBAL
    ]


def measure(data: Mapping[str, Any], cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The measurements the comparisons read."""
    rows = data["per_d"]
    first, last = rows[0], rows[-1]
    bound = max(cfg["T"] - 1, cfg["n"])
    over = [r for r in rows if r["d"] >= bound][:1]
    sat = sum(r["saturated"] for r in rows)
    stuck = sum(r["saturated_not_locally_optimal"] for r in rows)
    moved = sum(r["moved_after_extension"] for r in rows)
    return {
        "first_d": first["d"], "first_fraction": first["fraction"],
        "last_d": last["d"], "last_fraction": last["fraction"],
        "trend_p": data["trend_p_one_sided"],
        "earlier": _earlier_rows(rows),
        "overparameterized": [
            {"over_d": r["d"], "bound": bound, "n_global": r["global"], "n_runs": r["runs"],
             "nonglobal": frac(r["runs"] - r["global"], r["runs"])} for r in over],
        "saturated": sat, "total": sum(r["runs"] for r in rows),
        "saturated_share": frac(sat, sum(r["runs"] for r in rows)),
        "unsat_why": _unsaturated_why([u for r in rows for u in r["unsaturated"]]),
        "stuck": stuck, "moved": moved,
        "stuck_text": (f"{frac(stuck, sat)}; {moved}/{stuck} changed selection after "
                       f"{EXTEND_STEPS} more steps" if stuck else f"0/{sat}"),
    }


COMPARISONS = (
    Comparison(
        "share of global convergence rises with d (Cochran-Armitage, log2 d)",
        (Cited("rises with d", tfsvm(f"figure of global vs local convergence against d "
                                     f"(figure number and setup {RECALLED})")),
         Cited("over-parameterization catalyzes global convergence", tfsvm("abstract"))),
        "{first_fraction:~} at d={first_d} -> {last_fraction:~} at d={last_d}; one-sided "
        "p = {trend_p:.2g}",
        All(Below("trend_p", 0.05), Above("last_fraction", "first_fraction")),
        "no significant increase at this sample size",
    ),
    Comparison(
        "share global at d = {d} (95% Wilson CI)",
        Cited(f"{{k0}}/{EARLIER_RUNS} = {{share0:.3g}}", EARLIER_RUN),
        "{ours} [{ci[0]:.2f}, {ci[1]:.2f}]",
        AtLeast("fisher_p", 0.05),
        f"Fisher exact p = {{fisher_p:.2g}} against the earlier re-run's {EARLIER_RUNS} runs",
        each="earlier",
    ),
    Comparison(
        "non-global runs at d = {over_d} >= max(T-1, n) = {bound}",
        Cited("many: 23% and 53% of the runs at d = 10",
              earlier("30 and 15 runs at n = 6, T = 8, two data families")),
        "{nonglobal}",
        Below("n_global", "n_runs"),
        "every run global already at this d",
        each="overparameterized",
    ),
    Comparison(
        "runs whose softmax saturated (min max-prob > 1 - 1e-6) at 2000 steps",
        Cited("all (min max-softmax > 0.99)", EARLIER_RUN),
        "{saturated_share}",
        Equal("saturated", "total"),
        "{unsat_why}",
    ),
    Comparison(
        "saturated runs at a selection that is NOT locally optimal (2000 steps)",
        (Cited("none as a limit", tfsvm(f"local GD convergence theorem (statement {RECALLED})")),
         Cited("0/30", earlier("30 runs, local_converge protocol"))),
        "{stuck_text}",
        Equal("moved", "stuck"),
        "a non-locally-optimal selection persisted after the extension",
    ),
)


def tables(data: Mapping[str, Any]) -> list[Table]:
    """Extra table of our numbers per d (with the earlier re-run's counts)."""
    return [Table(
        "Global convergence against d",
        ("d", "global", "95% Wilson CI", "global after extension", "locally optimal",
         "saturated", "Att-SVM_opt feasible", f"earlier re-run ({EARLIER_RUNS} runs)"),
        tuple(
            (str(r["d"]), frac(r["global"], r["runs"]),
             f"[{r['wilson95'][0]:.2f}, {r['wilson95'][1]:.2f}]",
             frac(r["global_after_extension"], r["runs"]),
             frac(r["locally_optimal"], r["runs"]), frac(r["saturated"], r["runs"]),
             frac(r["opt_feasible"], r["runs"]),
             f"{EARLIER_GLOBAL[r['d']]}/{EARLIER_RUNS}" if r["d"] in EARLIER_GLOBAL else "-")
            for r in data["per_d"]
        ),
    )]


FIGURE_EXPERIMENT = ("global-convergence experiment: share of random-init GD runs ending at the "
                     "globally optimal selection, against d (the paper's figure on global vs "
                     "local convergence: number and setup unconfirmed; no official notebook)")


def figure(data: Mapping[str, Any]) -> Any:
    """The figure: global share against d, ours and the earlier re-run's, with 95% Wilson
    intervals; the feasibility threshold d = max(T-1, n)."""
    rows = data["per_d"]
    runs = rows[0]["runs"] if rows else 0
    cfg = settings(False)  # steps and step size are the same in quick and full runs
    fig, axes = fg.figure(1, 1, (8.5, 5.0))
    ax = axes[0, 0]
    d = np.array([r["d"] for r in rows], dtype=float)
    f, err = fg.wilson_bars([r["global"] for r in rows], [r["runs"] for r in rows])
    ax.errorbar(d, f, yerr=err, fmt="-o", capsize=3, color=fg.BLUE,
                label=f"ours ({runs} runs per $d$), 95% Wilson interval")
    cd = sorted(EARLIER_GLOBAL)
    fe, erre = fg.wilson_bars([EARLIER_GLOBAL[x] for x in cd], [EARLIER_RUNS] * len(cd))
    ax.errorbar(np.array(cd, dtype=float) * 1.04, fe, yerr=erre, fmt="s--", capsize=3,
                color=fg.GREY, mfc="white",
                label=f"earlier independent re-run ({EARLIER_RUNS} runs per $d$, unpublished), "
                      "95% Wilson interval")
    ax.axvline(7, color=fg.RED, lw=0.9, ls=":",
               label=r"$d = \max(T-1, n) = 7$ (Att-SVM feasible from here)")
    ax.set(xscale="log", xlabel="$d$ (log scale)", ylim=(0, 1.02),
           ylabel=r"share of runs ending at $\alpha = \mathrm{opt}$",
           title="global convergence vs $d$ ($n = 6$, $T = 8$)")
    fg.log_ticks(ax, {int(x) for x in d} | set(EARLIER_GLOBAL))
    fg.legend_below(ax, ncol=1)
    fg.header(
        fig, fg.TFSVM_PAPER, FIGURE_EXPERIMENT,
        shown="over-parameterization catalyzes global convergence (abstract)",
        caption=(
            f"Normalized GD, $\\eta = {cfg['lr']}$, {cfg['steps']} steps, fresh paper-family "
            "data and "
            r"$U(\pm 1/\sqrt{d})$ initialisation per run. A run counts as global when its "
            r"final selection is $\mathrm{opt}$ in every input and the softmax is saturated. "
            "Bars: 95% Wilson intervals of the share; the grey markers are shifted right a "
            rf"little. Trend in $\log_2 d$: Cochran-Armitage $z$ = {data['trend_z']:.2f}, "
            f"one-sided $p$ = {data['trend_p_one_sided']:.2g}."),
    )
    return fig


def plot(data: Mapping[str, Any], path: Path) -> None:
    save(figure(data), path)
