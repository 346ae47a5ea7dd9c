"""``attnsvm solve``: the certified Att-SVM_α (Frobenius) or Att-SVM⋆_α (nuclear) of an npz problem.

TF-SVM (arXiv 2308.16898), Sec. 2: W^mm_α = argmin ||W|| s.t. (x_{iα_i} − x_it)ᵀ W z_i >= 1.
Exit 0 with the solution and its certificate, 2 on bad input (including a tied optimal token
with ``--select opt``), 3 with a Farkas certificate when the program is infeasible.
``locally_optimal`` applies the TF-SVM definition (every support token scores strictly below the
selected one) to the support of the program that was solved (Frobenius or nuclear).
"""

from __future__ import annotations

from typing import Any

import click

from attnsvm.properties.cli.common import emit_json, emit_table, load_problem
from attnsvm.reference.svm.constraints import SVMSolution
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.svm.token_optimality import is_locally_optimal


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
def solve(file: str, norm: str, select: str, as_json: bool) -> None:
    """Solve Att-SVM_α for FILE.npz and print W, its certificate and the support tokens."""
    problem = load_problem(file)
    sol = solve_solution(problem, select, norm)
    payload = solution_payload(problem, sol)
    if as_json:
        emit_json(payload)
        return
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


COMMANDS = [solve]
