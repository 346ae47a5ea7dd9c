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

from collections.abc import Callable
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
    if norm == "lp":  # the dense rows vec(a_k z_k^T) (dual method, cvxpy fallback)
        words += 4 * K * d * d
    return 8 * words


def solve_solution(problem: Any, select: str, norm: str, p: float | None = None) -> SVMSolution:
    """Dispatch to the structured Frobenius solver, the nuclear-norm solver or the ℓp-AttSVM
    solver (``norm="lp"`` with exponent ``p``, arXiv 2410.14581)."""
    alpha = resolve_selection(problem, select)
    if norm == "lp":
        from attnsvm.reference.svm.lp import solve_lp_svm

        return solve_lp_svm(problem, p, alpha)
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
        **({"p": sol.extra["p"]} if sol.norm == "lp" else {}),
    }


def certified_payload(solve: Callable[[], SVMSolution],
                      payload: Callable[[SVMSolution], dict[str, Any]]
                      ) -> tuple[SVMSolution, dict[str, Any]] | int:
    """``solve()`` and its JSON payload, or the exit code of a proved or working-precision
    infeasibility (``report_infeasible``). Floating-point warnings are silenced (every result
    is certified); running out of memory is a ``ProblemError``; a payload that is not finite
    is refused."""
    try:
        with np.errstate(all="ignore"):
            sol = solve()
    except InfeasibleSVM as exc:
        return report_infeasible(exc)
    except MemoryError:
        raise ProblemError("problem", "out of memory while solving (the estimate was below "
                           f"the {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB budget)") from None
    with np.errstate(all="ignore"):
        body = payload(sol)
    require_finite("solution", body, "the solution is not representable in float64")
    return sol, body


@click.command("solve")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--norm", type=click.Choice(["fro", "nuc", "lp"]), default="fro", show_default=True,
              help="Frobenius Att-SVM (W), nuclear-norm Att-SVM⋆ ((K, Q)) or the entrywise "
              "ℓp-AttSVM of mirror descent (needs --p).")
@click.option("--p", "p_text", default=None, metavar="P",
              help="Exponent of --norm lp: a number >= 1 or 'inf' (JSON adds \"p\").")
@click.option("--select", default="opt", show_default=True,
              help="'opt' (argmax score; ties are refused) or token indices 'i0,i1,...'.")
@click.option("--attention", type=click.Choice(["causal", "full"]), default=None,
              help="Solve the SAtt-SVM of a sequence file (Y of shape (n, T), no Z) under "
              "this mask; the default is cross-attention (a file with Z).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def solve(file: str, norm: str, select: str, p_text: str | None, attention: str | None,
          as_json: bool) -> int:
    """Solve Att-SVM_α for FILE.npz and print W, its certificate and the support tokens.

    Exit 0 optimal, 2 bad input, 3 infeasible (proved exactly), 4 infeasible at working
    precision (may be feasible with a huge ||W||).

    Example: attnsvm solve p.npz --norm nuc --select 0,2,1 --json"""
    p = _exponent(norm, p_text)
    if attention is not None:
        return solve_sequence(file, attention, norm, select, as_json)
    problem = load_problem(file)
    check_memory("problem", solve_memory_bytes(problem, norm),
                 f"solving Att-SVM ({norm}) with n(T-1) = {problem.n * (problem.T - 1)} rows")
    out = certified_payload(lambda: solve_solution(problem, select, norm, p),
                            lambda sol: solution_payload(problem, sol))
    if isinstance(out, int):
        return out
    sol, payload = out
    if as_json:
        emit_json(payload)
        return 0
    sv = payload["singular_values"]
    shown = ", ".join(f"{s:.4g}" for s in sv[:8]) + (" ..." if len(sv) > 8 else "")
    rows = [
        ("status", payload["status"]),
        ("norm", norm if p is None else f"lp (p = {p:g})"),
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



def solve_sequence(file: str, attention: str, norm: str, select: str, as_json: bool) -> int:
    """``solve --attention causal|full``: the certified SAtt-SVM_α of a sequence file (TF-SVM's
    sequence-to-sequence extension, ``reference.svm.sequence``), with the JSON of the
    cross-attention solve (``select`` as n lists of T tokens, ``support`` as (i, k, t)) plus
    ``attention`` and ``degenerate_queries`` (causal position 0: no constraint). Same exit
    codes."""
    from attnsvm.reference.attention.problem import SequenceProblem
    from attnsvm.reference.svm.sequence import solve_satt_svm

    if norm not in ("fro", "nuc"):
        raise ProblemError("norm", f"--norm {norm} is not available with --attention (fro, nuc)")
    problem = SequenceProblem.load(file)
    rows = problem.n * problem.T * (problem.T - 1)
    check_memory("problem", solve_memory_bytes(
        _Shape(problem.n * problem.T, problem.T, problem.d), norm),
        f"solving SAtt-SVM ({norm}) with up to n T (T-1) = {rows} rows")
    out = certified_payload(lambda: solve_satt_svm(problem, attention, select, norm),
                            lambda sol: solution_payload_sequence(problem, sol, attention))
    if isinstance(out, int):
        return out
    sol, payload = out
    if as_json:
        emit_json(payload)
        return 0
    emit_table(f"SAtt-SVM ({attention}, {norm}) for {file}", ["quantity", "value"], [
        ("status", payload["status"]), ("attention", attention), ("norm", norm),
        ("objective ||W||", payload["objective"]), ("rank (rel. 1e-6)", payload["rank"]),
        ("min margin", payload["min_margin"]), ("KKT residual", payload["kkt_residual"]),
        ("duality gap (rel.)", payload["duality_gap"]),
        ("constraint rows", sol.constraints.K),
        ("degenerate queries", payload["degenerate_queries"]),
        ("support rows", len(payload["support"])),
        ("locally optimal", payload["locally_optimal"]), ("solver", sol.method),
        ("seconds", payload["seconds"]),
    ])
    return 0


def _exponent(norm: str, p_text: str | None) -> float | None:
    """The validated --p of --norm lp (ProblemError('p') for a bad value, for --p without
    --norm lp, and for --norm lp without --p)."""
    if norm != "lp":
        if p_text is not None:
            raise ProblemError("p", f"--p applies to --norm lp only (got --norm {norm})")
        return None
    if p_text is None:
        raise ProblemError("p", "--norm lp needs --p P (a number >= 1 or 'inf')")
    from attnsvm.reference.svm.lp import check_p

    return check_p(p_text)


class _Shape:
    """The sizes ``solve_memory_bytes`` reads (n inputs, T tokens, d), for the stacked queries
    of a sequence problem (n T queries over T tokens) without building them."""

    def __init__(self, n: int, T: int, d: int) -> None:
        self.n, self.T, self.d = n, T, d


def solution_payload_sequence(problem: Any, sol: SVMSolution, attention: str) -> dict[str, Any]:
    """The JSON object of ``solve`` for a sequence problem (see ``solve_sequence``)."""
    from attnsvm.reference.svm.sequence import query_positions, sequence_locally_optimal

    return {
        "status": "optimal",
        "attention": attention,
        "norm": sol.norm,
        "select": np.asarray(sol.select, dtype=np.int64).reshape(problem.n, problem.T).tolist(),
        "W": sol.W.tolist(),
        "objective": float(sol.objective),
        "singular_values": [float(s) for s in sol.singular_values],
        "rank": int(sol.rank),
        "min_margin": float(sol.min_margin),
        "kkt_residual": float(sol.kkt_residual),
        "duality_gap": float(sol.duality_gap),
        "support": query_positions(np.asarray(sol.support), problem.T).tolist(),
        "degenerate_queries": int(sol.extra.get("degenerate_queries", 0)),
        "locally_optimal": bool(sequence_locally_optimal(problem, sol)),
        "seconds": float(sol.seconds),
    }


COMMANDS = [solve]
