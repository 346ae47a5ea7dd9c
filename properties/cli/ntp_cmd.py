"""``attnsvm make-ntp-problem`` and ``attnsvm solve-graph``: next-token-prediction data and its
certified Graph-SVM (Li, Huang, Ildiz, Rawat, Oymak, arXiv 2403.08081).

The data file is an .npz with ``tokens`` (n, T) vocabulary indices, ``next`` (n,) the next token
of each sequence and ``E`` (K, d) the embeddings. ``solve-graph`` prints the token-priority graph
of every query token (edges next -> other tokens of the sequence), its strongly connected
components in priority order, and the Graph-SVM's W with its certificate (minimum margin on the
rows across SCCs, largest residual of the equalities inside SCCs, KKT residual, duality gap).

Exit codes: 0 success; 2 bad input, one line on stderr, before any work and with nothing
written: an unreadable file, a missing key, a vocabulary index outside [0, K), an empty sequence
(T = 0), a next token absent from its sequence, non-finite embeddings, bad options; 3 the
Graph-SVM is proved infeasible (linearly dependent embeddings can make the SCC order
unrealisable; the Farkas certificate is printed as JSON).
"""

from __future__ import annotations

from typing import Any

import click
import numpy as np

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table
from attnsvm.reference.attention.ntp import NTPProblem, ntp_data
from attnsvm.reference.svm.graph import solve_graph_svm
from attnsvm.reference.validate import require_finite


@click.command("make-ntp-problem")
@click.option("--n", "n", type=int, required=True, help="number of sequences")
@click.option("--T", "T", type=int, required=True, help="tokens per sequence (distinct, <= K)")
@click.option("--K", "K", type=int, required=True, help="vocabulary size")
@click.option("--d", "d", type=int, required=True, help="embedding dimension")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--graph", "kind", type=click.Choice(["any", "cyclic", "acyclic"]), default="any",
              show_default=True, help="redraw until some query's graph has a cycle, or none has")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def make_ntp_problem(n: int, T: int, K: int, d: int, seed: int, kind: str, out: str,
                     as_json: bool) -> int:
    """Write seeded NTP data (the generator of the authors' code) to an .npz.

    Example: attnsvm make-ntp-problem --n 6 --T 4 --K 6 --d 8 --graph cyclic --out ntp.npz"""
    if seed < 0:
        raise BadInput(f"--seed must be >= 0, got {seed}")
    cyclic = {"any": None, "cyclic": True, "acyclic": False}[kind]
    p = ntp_data(n, T, K, d, seed, cyclic=cyclic)
    path = p.save(out)
    summary = {"path": str(path), "n": p.n, "T": p.T, "K": p.K, "d": p.d, "seed": seed,
               "graph": kind}
    if as_json:
        emit_json(summary)
    else:
        emit_table(f"NTP data written to {path}", ["quantity", "value"],
                   [(k, v) for k, v in summary.items() if k != "path"])
    return 0


def _scc_text(g: dict[str, Any]) -> str:
    return " > ".join("{" + ",".join(str(t) for t in c) + "}" for c in g["sccs"])


@click.command("solve-graph")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def solve_graph(file: str, as_json: bool) -> int:
    """Token-priority graphs, SCCs and the certified Graph-SVM of NTP data in FILE.npz.

    Exit 0 optimal, 2 bad input, 3 infeasible (proved).

    Example: attnsvm solve-graph ntp.npz --json"""
    problem = NTPProblem.load(file)
    with np.errstate(all="ignore"):
        payload = solve_graph_svm(problem).payload()
    require_finite("solution", payload, "the Graph-SVM solution is not representable in float64")
    if as_json:
        emit_json(payload)
        return 0
    rows = [(f"query {g['query']}: SCCs (priority order)", _scc_text(g))
            for g in payload["graphs"]]
    rows += [
        ("rows (margin / equality)", f"{payload['rows']['margin']} / "
                                     f"{payload['rows']['equality']}"),
        ("objective ||W||_F", payload["objective"]),
        ("min margin", payload["min_margin"]),
        ("max equality residual", payload["max_equality_residual"]),
        ("KKT residual", payload["kkt_residual"]),
        ("duality gap (rel.)", payload["duality_gap"]),
        ("rank", payload["rank"]),
        ("solver", payload["method"]),
    ]
    emit_table(f"Graph-SVM for {file}", ["quantity", "value"], rows)
    return 0


COMMANDS = [make_ntp_problem, solve_graph]
