"""Ratio benchmark: the causal SAtt-SVM solver vs the per-constraint cvxpy + Clarabel model.

Baseline: ``svm.sequence.satt_svm_per_constraint_cvxpy``, one cvxpy constraint
(x_{iα_ik} − x_it)ᵀ W x_ik >= 1 per sequence i, position k and admissible token t <= k,
``cp.Minimize(½ ||W||_F²)``, ``prob.solve(solver=cp.CLARABEL)`` at Clarabel's default
tolerances; its wall time includes model construction, as a user experiences it. Ours:
``svm.sequence.solve_satt_svm`` (certified dual NNLS over the n T (T−1)/2 multipliers),
median of several runs. Same Gaussian instance (``self_attention.gaussian_sequence_problem``)
and selection (the optimal admissible tokens), one process. Agreement is checked against an
untimed tight-tolerance (1e-11) Clarabel solve of the vectorized model of the same rows.

Configuration of issue 12: n = 20, T = 16, d = 32, causal mask (2400 rows).
Run: ``python -m benchmarks.bench_svm_sequence [--quick]``; ``run(quick)`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import numpy as np

from attnsvm.reference.attention.self_attention import gaussian_sequence_problem
from attnsvm.reference.svm.frobenius import solve_constraints_cvxpy
from attnsvm.reference.svm.sequence import (
    satt_svm_per_constraint_cvxpy,
    sequence_optimal_tokens,
    solve_satt_svm,
)

CONFIGS = [{"n": 20, "T": 16, "d": 32}]
QUICK_CONFIGS = [{"n": 6, "T": 6, "d": 12}]


def bench_one(n: int, T: int, d: int, seed: int = 0, repeats: int = 5,
              mask: str = "causal") -> dict[str, Any]:
    problem = gaussian_sequence_problem(n, T, d, seed)
    alpha = sequence_optimal_tokens(problem, mask).tokens
    solve_satt_svm(problem, mask, alpha)  # warm-up (imports, BLAS threads)
    times, sol = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        sol = solve_satt_svm(problem, mask, alpha)
        times.append(time.perf_counter() - t0)
    assert sol is not None
    ours = statistics.median(times)
    base = satt_svm_per_constraint_cvxpy(problem, mask, alpha)
    W_ref, *_ = solve_constraints_cvxpy(sol.constraints, "fro", tight=True)
    rel_base = float(np.linalg.norm(sol.W - base["W"]) / np.linalg.norm(base["W"]))
    rel_ref = float(np.linalg.norm(sol.W - W_ref) / np.linalg.norm(W_ref))
    ratio = base["seconds"] / ours
    print(f"  SAtt-SVM {mask} n={n} T={T} d={d} ({sol.constraints.K} rows): ours "
          f"{ours * 1e3:.1f} ms, per-constraint cvxpy+Clarabel {base['seconds']:.2f} s -> "
          f"ratio {ratio:.0f}x; rel. diff W vs tight Clarabel {rel_ref:.1e}", file=sys.stderr,
          flush=True)
    return {
        "n": n, "T": T, "d": d, "mask": mask, "K": sol.constraints.K, "seed": seed,
        "ours_seconds": ours, "baseline_seconds": base["seconds"], "ratio": ratio,
        "baseline_status": base["status"], "rel_diff_W_baseline": rel_base,
        "rel_diff_W_tight_clarabel": rel_ref, "same_W": bool(rel_ref <= 1e-6),
        "kkt_residual": sol.kkt_residual, "duality_gap": sol.duality_gap,
        "min_margin": sol.min_margin, "method": sol.method,
        "degenerate_queries": sol.extra["degenerate_queries"],
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the benchmark; returns {"benchmark", "results": [...], "ok"}."""
    results = [bench_one(**cfg) for cfg in (QUICK_CONFIGS if quick else CONFIGS)]
    return {"benchmark": "svm_sequence", "quick": quick, "results": results,
            "ok": all(r["same_W"] for r in results)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    out = run(quick=parser.parse_args(argv).quick)
    print(json.dumps(out))
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
