"""Ratio benchmark: the certified ℓp-AttSVM solver (arXiv 2410.14581) vs cvxpy + Clarabel.

Baseline: the model a user would write, one cvxpy constraint per (i, t),
``cp.Minimize(cp.pnorm(cp.vec(W), p))``, ``prob.solve(solver=cp.CLARABEL)`` (tight tolerances, the
same as ours), timed whole including model construction
(``reference.svm.lp.solve_lp_constraints_cvxpy(per_constraint=True)``). Ours:
``reference.svm.lp.solve_lp_svm``: HiGHS LPs for p = 1 and ∞, the lifted sparse power-cone
program for Clarabel for 1 < p < ∞, each certified by its Hölder bracket; best of ``repeats``.
Both in this process, on the same paper-family instance (α = opt), BLAS limited to one thread.

Target (issue 13 §1): n = 20, T = 16, d = 32 (K = 300 rows, d² = 1024 variables) for p = 1, 1.5,
3, ∞; reported: both times, the ratio, both objectives and our certified duality gap.
Run: ``python -m benchmarks.bench_svm_lp [--quick]``; ``run(quick)`` returns the same dict.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.svm.lp import lp_norm, solve_lp_constraints_cvxpy, solve_lp_svm

TARGET = {"n": 20, "T": 16, "d": 32}
QUICK = {"n": 10, "T": 8, "d": 16}
PS = (1.0, 1.5, 3.0, float("inf"))


def case(n: int, T: int, d: int, p: float, repeats: int) -> dict[str, Any]:
    problem = paper_family(n, T, d, 0)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        sol = solve_lp_svm(problem, p)
        times.append(time.perf_counter() - t0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        W, _, _, status = solve_lp_constraints_cvxpy(sol.constraints, p, per_constraint=True)
        base = time.perf_counter() - t0
    ours = min(times)
    margins = sol.constraints.values(W)
    return {
        "n": n, "T": T, "d": d, "p": "inf" if np.isinf(p) else p, "K": sol.constraints.K,
        "ours_seconds": ours, "baseline_seconds": base, "speedup": base / ours,
        "ours_objective": float(sol.objective), "ours_duality_gap": float(sol.duality_gap),
        "ours_method": sol.method,
        "baseline_objective": float(lp_norm(W, p)), "baseline_min_margin": float(margins.min()),
        "baseline_status": status,
        "objective_rel_diff": abs(float(sol.objective) - float(lp_norm(W, p)))
        / float(sol.objective),
    }


def run(quick: bool = False) -> dict:
    size = QUICK if quick else TARGET
    with threadpool_limits(1):
        cases = [case(**size, p=p, repeats=1 if quick else 3) for p in PS]
    return {"baseline": "cvxpy per-constraint model, solver=CLARABEL", "cases": cases,
            "speedups": {c["p"]: c["speedup"] for c in cases}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    print(json.dumps(run(quick=parser.parse_args().quick), indent=2, default=float))
