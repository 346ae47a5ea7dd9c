"""Reproduction 2: feasibility and rank of W^mm (Frobenius) and W*^mm (nuclear) against d.

TF-SVM (arXiv 2308.16898): the rank lemma (rank <= n, row space in span{z_i}; number
UNVERIFIED), the over-parameterization feasibility theorem, and the official ``svm_rank.ipynb``
figure (mean rank of W^mm, solid, and W*^mm, dashed, against d for n in {5, 10, 15} at T = 5 and
T in {5, 10, 15} at n = 5). The official notebook solves with cvxpy's default solver and counts
singular values above an ABSOLUTE 1e-7 (catalog §1.3 item 2); we report certified ranks with a
relative threshold and, beside them, what that official method reports on the same instances.
"""

from __future__ import annotations

import warnings
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
    certified_nuclear,
    fisher_p,
    fmt,
    frac,
    note,
    pyplot,
    save,
    sub_seed,
    take_fallbacks,
    verdict,
)
from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.nuclear import rank_default_cvxpy
from attnsvm.reference.svm.selection import optimal_tokens

NAME = "svm_rank"
TITLE = "Feasibility and rank of the Frobenius and nuclear Att-SVM solutions against d"
STATEMENT = (
    f"{TFSVM}: (i) rank lemma (number UNVERIFIED): every solution of Att-SVM and Att-SVM* has "
    "rank <= n and row space in span{z_i}; (ii) over-parameterization (d >= max(T-1, n), "
    "wording UNVERIFIED) makes Att-SVM feasible, and small d can be infeasible; (iii) figure "
    "of official svm_rank.ipynb (caption UNVERIFIED): the nuclear-norm solution W*^mm has lower "
    "rank than the Frobenius W^mm, whose rank saturates at n once d >= n. alpha = opt (argmax "
    "score, first maximizer on ties as in the official code); cross-attention."
)

DIMS = (1, 2, 3, 4, 5, 10, 15, 20)
QUICK_DIMS = (1, 2, 3, 4, 5, 10, 20)
CONFIGS = ((5, 5), (10, 5), (15, 5), (5, 10), (5, 15))  # (n, T): n varies at T=5, T at n=5
RANK_RTOL = 1e-6
OFFICIAL_ABS_TOL = 1e-7

#: catalog §7.1 [NUM] (20 seeds, default-precision solver): mean nuclear rank, relative 1e-6
CATALOG_NUC_REL = {
    (5, 5, 5): 3.15, (5, 5, 10): 3.6, (5, 5, 15): 3.2, (5, 5, 20): 3.5,
    (10, 5, 10): 5.05, (10, 5, 15): 5.25, (10, 5, 20): 5.7,
    (15, 5, 10): 6.35, (15, 5, 15): 7.55, (15, 5, 20): 8.15,
    (5, 10, 10): 4.65, (5, 10, 20): 4.25, (5, 15, 10): 3.8, (5, 15, 20): 4.45,
}
#: catalog §7.1 / §6 item 2 [NUM]: feasible of 20 for alpha = opt
CATALOG_FEASIBLE = {
    (5, 5, 1): 0, (5, 5, 2): 5, (5, 5, 3): 19, (5, 5, 4): 20,
    (15, 5, 2): 0, (15, 5, 3): 1, (15, 5, 4): 7, (15, 5, 5): 20,
    (5, 10, 2): 4, (5, 10, 3): 15, (5, 10, 4): 20,
    (5, 15, 2): 4, (5, 15, 3): 13, (5, 15, 4): 20,
}


def settings(quick: bool) -> dict[str, Any]:
    return {
        "configs_n_T": [list(c) for c in CONFIGS],
        "dims": list(QUICK_DIMS if quick else DIMS),
        "instances_per_config": 10 if quick else 100,
        "official_method_instances_per_config": 2 if quick else 20,
        "alpha": "opt (first argmax of Y_i v^T x_it)",
        "attention": "cross (random unit z_i)",
        "data": "paper family (unit Gaussian tokens/queries)",
        "certified": "solve_att_svm (Frobenius) and solve_nuclear_svm (nuclear; cvxpy + "
        "Clarabel at tight tolerances, also certified, where it refuses), rank = "
        f"#{{sigma_k > {RANK_RTOL} sigma_1}}",
        "official_method": "cvxpy prob.solve() with the DEFAULT solver, "
        f"np.linalg.matrix_rank(W, tol={OFFICIAL_ABS_TOL}) (absolute); figure only, no verdicts",
    }


def official_fro_rank(problem: AttentionProblem, alpha: np.ndarray) -> dict[str, Any]:
    """What the official notebook reports for the Frobenius program: ``cp.norm(W, 'fro')``
    solved by cvxpy's DEFAULT solver, rank with the absolute 1e-7 threshold. Figure only."""
    import cvxpy as cp

    mc = margin_constraints(problem, alpha)
    W = cp.Variable((problem.d, problem.d))
    vals = cp.sum(cp.multiply(mc.a @ W, mc.z), axis=1)
    prob = cp.Problem(cp.Minimize(cp.norm(W, "fro")), [vals >= 1])
    prob.solve()
    out: dict[str, Any] = {"status": str(prob.status), "solver": prob.solver_stats.solver_name}
    if W.value is None:
        return {**out, "rank_abs_1e-7": None}
    sv = np.linalg.svd(np.asarray(W.value, dtype=np.float64), compute_uv=False)
    return {**out, "rank_abs_1e-7": int(np.sum(sv > OFFICIAL_ABS_TOL))}


def _row_space_residual(W: np.ndarray, Z: np.ndarray) -> float:
    U, s, _ = np.linalg.svd(Z.T, full_matrices=False)
    basis = U[:, s > 1e-10 * s[0]]
    return float(np.linalg.norm(W - W @ basis @ basis.T) / max(np.linalg.norm(W), 1e-300))


def _config(n: int, T: int, d: int, count: int, official: int, seed: int) -> dict[str, Any]:
    fro_r, nuc_r, resid, gap_hi, gap_lo, ties = [], [], [], [], [], 0
    off_nuc, off_nuc_rel, off_fro, cert_nuc_sub, cert_fro_sub = [], [], [], [], []
    solvers: dict[str, int] = {}
    statuses: dict[str, int] = {}
    feasible = 0
    for j in range(count):
        p = paper_family(n, T, d, sub_seed(seed, "rank", n, T, d, j))
        opt = optimal_tokens(p)
        ties += int(not opt.unique)
        alpha = opt.tokens
        try:
            fro = solve_att_svm(p, alpha)
        except InfeasibleSVM:
            continue
        feasible += 1
        nuc = certified_nuclear(p, alpha)
        fro_r.append(fro.rank)
        nuc_r.append(nuc.rank)
        resid.append(max(_row_space_residual(fro.W, p.Z), _row_space_residual(nuc.W, p.Z)))
        sv = np.asarray(nuc.singular_values) / nuc.singular_values[0]
        gap_lo.append(float(sv[nuc.rank - 1]))
        gap_hi.append(float(sv[nuc.rank]) if nuc.rank < len(sv) else 0.0)
        if len(off_nuc) < official:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                o_nuc = rank_default_cvxpy(p, alpha)
                o_fro = official_fro_rank(p, alpha)
            for o in (o_nuc, o_fro):
                solvers[o["solver"]] = solvers.get(o["solver"], 0) + 1
                statuses[o["status"]] = statuses.get(o["status"], 0) + 1
            off_nuc.append(o_nuc["rank_abs_1e-7"])
            off_nuc_rel.append(o_nuc["rank_rel_1e-6"])
            off_fro.append(o_fro["rank_abs_1e-7"])
            cert_nuc_sub.append(nuc.rank)
            cert_fro_sub.append(fro.rank)

    def mean(xs: list) -> float | None:
        xs = [x for x in xs if x is not None]
        return float(np.mean(xs)) if xs else None

    return {
        "n": n, "T": T, "d": d, "instances": count, "feasible": feasible, "opt_ties": ties,
        "rank_fro": fro_r, "rank_nuc": nuc_r,
        "mean_rank_fro": mean(fro_r), "mean_rank_nuc": mean(nuc_r),
        "sd_rank_nuc": float(np.std(nuc_r)) if nuc_r else None,
        "max_rank_nuc": max(nuc_r) if nuc_r else None,
        "max_rank_fro": max(fro_r) if fro_r else None,
        "fro_rank_is_min_n_d": int(sum(r == min(n, d) for r in fro_r)),
        "max_row_space_residual": max(resid) if resid else None,
        "nuc_sigma_r_over_sigma1_min": min(gap_lo) if gap_lo else None,
        "nuc_sigma_r1_over_sigma1_max": max(gap_hi) if gap_hi else None,
        "official": {
            "instances": len(off_nuc),
            "rank_nuc_abs_1e-7": off_nuc, "rank_nuc_rel_1e-6": off_nuc_rel,
            "rank_fro_abs_1e-7": off_fro,
            "certified_rank_nuc": cert_nuc_sub, "certified_rank_fro": cert_fro_sub,
            "mean_rank_nuc_abs": mean(off_nuc), "mean_rank_nuc_rel": mean(off_nuc_rel),
            "mean_rank_fro_abs": mean(off_fro),
            "solvers": dict(sorted(solvers.items())), "statuses": dict(sorted(statuses.items())),
        },
    }


def run(quick: bool, seed: int, progress: Progress | None = None) -> ExperimentResult:
    cfg = settings(quick)
    take_fallbacks()
    rows = []
    for n, T in CONFIGS:
        for d in cfg["dims"]:
            note(progress, f"n={n} T={T} d={d}")
            rows.append(
                _config(n, T, d, cfg["instances_per_config"],
                        cfg["official_method_instances_per_config"], seed)
            )
    data = {"configs": rows, "nuclear_fallbacks": take_fallbacks()}
    comparison, tables = _compare(rows, cfg)
    return ExperimentResult(
        name=NAME, title=TITLE, statement=STATEMENT, settings=cfg, data=data,
        comparison=comparison, seed=seed, quick=quick, tables=tables, plotter=plot,
    )


def _compare(rows: list[dict[str, Any]], cfg: Mapping[str, Any]) -> tuple[list, list]:
    count = cfg["instances_per_config"]
    by = {(r["n"], r["T"], r["d"]): r for r in rows}
    out: list[Comparison] = []
    d1 = [r for r in rows if r["d"] == 1]
    f1 = sum(r["feasible"] for r in d1)
    out.append(Comparison(
        "feasible instances at d = 1 (all configs)",
        "0 [catalog §6 item 2, NUM: 0/20 for every (n, T)]",
        frac(f1, count * len(d1)),
        verdict(f1 == 0),
        "" if f1 == 0 else "feasible Att-SVM at d = 1",
    ))
    for key, k0 in CATALOG_FEASIBLE.items():
        if key not in by or key[2] == 1:
            continue
        r = by[key]
        pv = fisher_p(r["feasible"], count, k0, 20)
        out.append(Comparison(
            f"feasible fraction, n={key[0]} T={key[1]} d={key[2]}",
            f"{k0}/20 [{CATALOG} §7.1, NUM]",
            frac(r["feasible"], count),
            verdict(pv >= 0.05),
            "" if pv >= 0.05 else f"Fisher exact p = {pv:.2g}",
        ))
    worst = max((r["max_rank_nuc"] - r["n"] for r in rows if r["max_rank_nuc"] is not None),
                default=0)
    worst_f = max((r["max_rank_fro"] - r["n"] for r in rows if r["max_rank_fro"] is not None),
                  default=0)
    out.append(Comparison(
        "certified rank <= n for every solved instance (Frobenius and nuclear)",
        "rank <= n [rank lemma, TF-SVM (number UNVERIFIED); catalog TFSVM-L1]",
        f"max rank - n = {max(worst, worst_f)} (nuclear {worst}, Frobenius {worst_f})",
        verdict(max(worst, worst_f) <= 0),
        "" if max(worst, worst_f) <= 0 else "a certified solution of rank > n",
    ))
    res = max((r["max_row_space_residual"] for r in rows
               if r["max_row_space_residual"] is not None), default=0.0)
    out.append(Comparison(
        "row space in span{z_i}: max ||W (I - P_Z)|| / ||W||",
        "0 [rank lemma]",
        fmt(res),
        verdict(res <= 1e-6),
        "" if res <= 1e-6 else "row-space residual above 1e-6",
    ))
    feas = [r for r in rows if r["feasible"]]
    eq = sum(r["fro_rank_is_min_n_d"] for r in feas)
    tot = sum(r["feasible"] for r in feas)
    le = all(r["max_rank_fro"] <= min(r["n"], r["d"]) for r in feas)
    out.append(Comparison(
        "rank W^mm = min(n, d) (share of feasible instances)",
        "saturates at min(n, d) [svm_rank figure; catalog §7.1 NUM: rank(W^mm) = min(n, d), "
        "4.9 at n=T=d=5]",
        frac(eq, tot) + ("; always <= min(n, d)" if le else "; EXCEEDS min(n, d)"),
        verdict(le and eq >= 0.9 * tot),
        "" if le and eq >= 0.9 * tot else "rank below min(n, d) in more than 10% of instances",
    ))
    lower = [r for r in feas if r["d"] >= 5]
    below = [r for r in lower if r["mean_rank_nuc"] < r["mean_rank_fro"]]
    out.append(Comparison(
        "mean rank W*^mm < mean rank W^mm (configs with d >= 5)",
        "nuclear lower [svm_rank figure, caption UNVERIFIED]",
        f"{len(below)}/{len(lower)} configs",
        verdict(len(below) == len(lower)),
        "" if len(below) == len(lower) else "nuclear rank not lower in some config",
    ))
    gap = max((r["nuc_sigma_r1_over_sigma1_max"] for r in feas), default=0.0)
    low = min((r["nuc_sigma_r_over_sigma1_min"] for r in feas), default=1.0)
    for key, cat in CATALOG_NUC_REL.items():
        if key not in by or by[key]["mean_rank_nuc"] is None:
            continue
        r = by[key]
        o = r["official"]["mean_rank_nuc_rel"]
        ours = r["mean_rank_nuc"]
        ok = abs(ours - cat) <= 3 * (r["sd_rank_nuc"] or 0.5) / np.sqrt(20) + 0.25
        out.append(Comparison(
            f"mean rank W*^mm (relative 1e-6), n={key[0]} T={key[1]} d={key[2]}",
            f"{cat} [{CATALOG} §7.1, NUM, 20 seeds, default-precision solve]",
            f"{fmt(ours)} certified (default solve + relative 1e-6 here: {fmt(o)})",
            verdict(ok),
            "" if ok else (
                "the catalog used default-precision solves, whose residual singular values "
                "(1e-6..1e-5 of sigma_1) cross a relative 1e-6 threshold (the default solve on "
                "our instances gives the number in parentheses); certified solutions have "
                f"sigma_(r+1)/sigma_1 <= {gap:.1e} and sigma_r/sigma_1 >= {low:.1e}"
            ),
        ))
    over = [(r["n"], r["T"], r["d"], x) for r in feas
            for x in r["official"]["rank_nuc_abs_1e-7"] if x is not None and x > r["n"]]
    n_off = sum(r["official"]["instances"] for r in feas)
    infl = [
        (x - c) for r in feas
        for x, c in zip(r["official"]["rank_nuc_abs_1e-7"], r["official"]["certified_rank_nuc"],
                        strict=True)
        if x is not None
    ]
    out.append(Comparison(
        "official method (default solver, absolute 1e-7) reports nuclear rank > n",
        "happens [catalog §1.3 item 2: mean 5.35 > n = 5 at n=5, T=10, d=10], an artifact",
        f"{len(over)}/{n_off} solves (e.g. {over[0][:3]} rank {over[0][3]})" if over
        else f"0/{n_off} solves",
        verdict(bool(over)),
        "" if over else "no solve in this sample crossed n (few official-method solves)",
    ))
    out.append(Comparison(
        "official method vs certified nuclear rank (same instances)",
        "the official figure's dashed curve (absolute 1e-7 threshold)",
        f"official exceeds certified by {fmt(float(np.mean(infl)) if infl else None)} on average "
        f"(max {max(infl) if infl else '-'})",
        verdict(not infl or np.mean(infl) <= 0.5),
        "" if not infl or np.mean(infl) <= 0.5 else (
            "the default solver (SCS for this SDP) stops at ~1e-4..1e-6 accuracy; its residual "
            "singular values exceed the absolute 1e-7 threshold and inflate the rank"
        ),
    ))
    table = Table(
        "Feasible instances and mean ranks (certified | official method on a subset)",
        ("n", "T", "d", "feasible", "rank W^mm", "rank W*^mm", "max rank W*^mm",
         "official W^mm (abs 1e-7)", "official W*^mm (abs 1e-7)"),
        tuple(
            (str(r["n"]), str(r["T"]), str(r["d"]), frac(r["feasible"], r["instances"]),
             fmt(r["mean_rank_fro"]), fmt(r["mean_rank_nuc"]), str(r["max_rank_nuc"] or "-"),
             fmt(r["official"]["mean_rank_fro_abs"]), fmt(r["official"]["mean_rank_nuc_abs"]))
            for r in rows
        ),
    )
    return out, [table]


def plot(data: Mapping[str, Any], path: Path) -> None:
    plt = pyplot()
    rows = data["configs"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
    groups = (
        ("n varies (T = 5)", [(5, 5), (10, 5), (15, 5)], "n"),
        ("T varies (n = 5)", [(5, 5), (5, 10), (5, 15)], "T"),
    )
    for ax, (title, keys, lab) in zip(axes[:2], groups, strict=True):
        for c, (n, T) in enumerate(keys):
            rs = [r for r in rows if r["n"] == n and r["T"] == T and r["feasible"]]
            ds = [r["d"] for r in rs]
            val = n if lab == "n" else T
            ax.plot(ds, [r["mean_rank_fro"] for r in rs], "-o", color=f"C{c}", ms=4,
                    label=f"{lab}={val} W^mm (certified)")
            ax.plot(ds, [r["mean_rank_nuc"] for r in rs], "--s", color=f"C{c}", ms=4,
                    label=f"{lab}={val} W*^mm (certified)")
            off = [(r["d"], r["official"]["mean_rank_nuc_abs"]) for r in rs
                   if r["official"]["mean_rank_nuc_abs"] is not None]
            if off:
                ax.plot(*zip(*off, strict=True), ":x", color=f"C{c}", ms=6,
                        label=f"{lab}={val} W*^mm (official: default solver, abs 1e-7)")
        ax.set(xlabel="d", ylabel="mean rank", title=f"rank vs d, {title}")
        ax.legend(fontsize=6.5)
    ax = axes[2]
    for c, (n, T) in enumerate(CONFIGS):
        rs = [r for r in rows if r["n"] == n and r["T"] == T]
        ax.plot([r["d"] for r in rs], [r["feasible"] / r["instances"] for r in rs], "-o",
                color=f"C{c}", ms=4, label=f"n={n}, T={T}")
    ax.set(xlabel="d", ylabel="feasible fraction (alpha = opt)", title="feasibility vs d",
           xscale="log")
    ax.legend(fontsize=8)
    save(fig, path)
