"""``attnsvm solve``: the certified Att-SVM_α (Frobenius) or Att-SVM⋆_α (nuclear) of an npz problem.

TF-SVM (arXiv 2308.16898), Sec. 2: W^mm_α = argmin ||W|| s.t. (x_{iα_i} − x_it)ᵀ W z_i >= 1.
``locally_optimal`` applies the TF-SVM definition (every support token scores strictly below the
selected one) to the support of the program that was solved (Frobenius or nuclear).

Exit codes:

* 0 — ``"status": "optimal"``: the solution and its certificate (computed on the data
  normalized by powers of two when they are of extreme magnitude, reported in the user's units).
* 2 — bad input, one line on stderr: an unreadable or invalid file, a bad ``--select`` (also a
  tied optimal token with ``--select opt``), a problem whose solve would exceed the memory
  budget (``MEMORY_BUDGET_BYTES``, 4 GiB), data whose solution float64 cannot represent, or a
  solver that produced no certified answer. Never a NaN or Infinity in the JSON.
* 3 — ``"status": "infeasible"``: infeasibility *proved*: the Farkas/Gordan certificate
  (printed as JSON on stdout) vanishes in exact rational arithmetic (``certificate.proved`` is
  true, ``certificate.proof`` names the check, ``certificate.exact_lambda`` gives exact weights
  when short).
* 4 — ``"status": "infeasible_at_working_precision"``: a certificate vanishes to relative
  precision 1e-9 but not exactly, so the program may be feasible with ||W|| beyond ~1e9 times
  the data's scale (a selected token duplicated up to round-off). The JSON certificate adds
  ``conditioning`` (1 / relative residual: the logit scale a feasible W would need) and
  ``norm_lower_bound`` (every feasible W has ||W||_F at least this), next to ``residual`` and
  ``relative_residual``.

For both infeasible statuses the JSON object is printed on stdout with or without ``--json``,
and one line goes to stderr.
"""

from __future__ import annotations

from typing import Any

import click
import numpy as np

from attnsvm.properties.cli.common import (
    emit_json,
    emit_table,
    load_problem,
    report_infeasible,
)
from attnsvm.reference.errors import InfeasibleSVM, ProblemError
from attnsvm.reference.svm.constraints import SVMSolution
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.svm.token_optimality import is_locally_optimal
from attnsvm.reference.validate import MEMORY_BUDGET_BYTES, check_memory, require_finite


def solve_memory_bytes(problem: Any, norm: str) -> int:
    """A generous estimate of the peak memory of a solve: K = n(T-1) margin rows, a few K x K
    Gram-sized arrays (pivoting, factorizations), explicit rows K x d^2 for the fallbacks, and
    the interior point's (p + r)^2 blocks for the nuclear norm."""
    n, T, d = problem.n, problem.T, problem.d
    K = n * (T - 1)
    explicit = min(K * d * d, 8_000_000)  # certificates.EXPLICIT_MAX_ENTRIES caps these
    words = 5 * K * K + 4 * explicit + 4 * n * T * d
    if norm == "nuc":
        words += 16 * (2 * d) ** 2 + 4 * K * K
    return 8 * words


def solve_solution(problem: Any, select: str, norm: str) -> SVMSolution:
    """Dispatch to the structured Frobenius solver or the nuclear-norm solver."""
    alpha = resolve_selection(problem, select)
    if norm == "fro":
        from attnsvm.reference.svm.frobenius import solve_att_svm

        return solve_att_svm(problem, alpha)
    from attnsvm.reference.svm.nuclear import solve_nuclear_svm

    return solve_nuclear_svm(problem, alpha)


def solution_payload(problem: Any, sol: SVMSolution) -> dict[str, Any]:
    """The JSON object of issue 3 for an optimal solution."""
    return {
        "status": "optimal",
        "norm": sol.norm,
        "select": [int(t) for t in sol.select],
        "W": sol.W.tolist(),
        "objective": float(sol.objective),
        "singular_values": [float(s) for s in sol.singular_values],
        "rank": int(sol.rank),
        "min_margin": float(sol.min_margin),
        "kkt_residual": float(sol.kkt_residual),
        "duality_gap": float(sol.duality_gap),
        "support": [[int(i), int(t)] for i, t in sol.support],
        "locally_optimal": bool(is_locally_optimal(problem, sol.select, solution=sol)),
        "seconds": float(sol.seconds),
    }


@click.command("solve")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--norm", type=click.Choice(["fro", "nuc"]), default="fro", show_default=True,
              help="Frobenius Att-SVM (W) or nuclear-norm Att-SVM⋆ ((K, Q)).")
@click.option("--select", default="opt", show_default=True,
              help="'opt' (argmax score; ties are refused) or token indices 'i0,i1,...'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def solve(file: str, norm: str, select: str, as_json: bool) -> int:
    """Solve Att-SVM_α for FILE.npz and print W, its certificate and the support tokens.

    Exit 0 optimal, 2 bad input, 3 infeasible (proved exactly), 4 infeasible at working
    precision (may be feasible with a huge ||W||).

    Example: attnsvm solve p.npz --norm nuc --select 0,2,1 --json"""
    problem = load_problem(file)
    check_memory("problem", solve_memory_bytes(problem, norm),
                 f"solving Att-SVM ({norm}) with n(T-1) = {problem.n * (problem.T - 1)} rows")
    try:
        with np.errstate(all="ignore"):  # every result is certified; warnings are noise here
            sol = solve_solution(problem, select, norm)
    except InfeasibleSVM as exc:
        return report_infeasible(exc)
    except MemoryError:
        raise ProblemError("problem", "out of memory while solving (the estimate was below "
                           f"the {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB budget)") from None
    with np.errstate(all="ignore"):
        payload = solution_payload(problem, sol)
    require_finite("solution", payload, "the solution is not representable in float64")
    if as_json:
        emit_json(payload)
        return 0
    sv = payload["singular_values"]
    shown = ", ".join(f"{s:.4g}" for s in sv[:8]) + (" ..." if len(sv) > 8 else "")
    rows = [
        ("status", payload["status"]),
        ("norm", norm),
        ("select", ",".join(str(t) for t in payload["select"])),
        ("objective ||W||", payload["objective"]),
        ("rank (rel. 1e-6)", payload["rank"]),
        ("singular values", shown),
        ("min margin", payload["min_margin"]),
        ("KKT residual", payload["kkt_residual"]),
        ("duality gap (rel.)", payload["duality_gap"]),
        ("support tokens", len(payload["support"])),
        ("locally optimal", payload["locally_optimal"]),
        ("solver", sol.method),
        ("seconds", payload["seconds"]),
    ]
    emit_table(f"Att-SVM ({norm}) for {file}", ["quantity", "value"], rows)
    return 0


COMMANDS = [solve]
