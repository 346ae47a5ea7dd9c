"""The token-priority graph of NTP data, its strongly connected components, and the Graph-SVM.

Li, Huang, Ildiz, Rawat, Oymak, "Mechanics of Next Token Prediction with Self-Attention" (arXiv
2403.08081). For every query token k (the last token of a sequence) the token-priority graph
G^(k) has the vocabulary as nodes and an edge y_i -> t from the next token y_i of each sequence i
with last token k to every other token t of that sequence: y_i has priority over t. (Confirmed
in the authors' public code, github.com/yixiao-huang/next-token-prediction, ``Tarjan.initialize``
and ``W_svm_solver_cvxpy``: edges label -> other tokens of the sequence, one graph per last
token.) Its strongly connected components (SCCs; ``scipy.sparse.csgraph.connected_components``
with ``connection='strong'``) are ordered by the condensation, a DAG. The Graph-SVM is

    W^svm = argmin ||W||_F  s.t.  (x_{y_i} - x_t)^T W z_i = 0   when y_i, t share an SCC of G^(k_i),
                                  (x_{y_i} - x_t)^T W z_i >= 1  otherwise (y_i above t),

for every sequence i and token t != y_i of it (z_i = x_{k_i}). Each row is a rank-one matrix
a z^T, so the program is a ``MarginConstraints`` with ``equality`` rows, solved and certified by
``svm.frobenius.fro_min_norm`` (KKT residuals and duality gap recomputed from W and the
multipliers; the equality rows' multipliers are free). Rows are de-duplicated by (query, y, t)
and, inside an SCC, the equalities are replaced by those of a spanning tree of the SCC's edges:
the same feasible set (an SCC is connected) without linearly dependent rows.

Thrampoulidis, "Implicit Optimization Bias of Next-Token Prediction in Linear Models" (arXiv
2402.18551): the NTP-SVM of a linear model with contexts h_j and supports S_j is the same kind
of program: (e_z - e_v)^T W h_j >= 1 for z in S_j, v not in S_j and (e_z - e_z')^T W h_j = 0
for z, z' in S_j (``ntp_svm_constraints``); the finite part W* solves the equalities
(e_z - e_z')^T W h_j = log(p_jz / p_jz') with minimum norm, i.e. inside the data subspace F
(``linear_finite_constraints``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm.certificates import make_solution
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution
from attnsvm.reference.svm.frobenius import fro_min_norm


class NTPData(Protocol):
    """What the graph needs of NTP data (``attention.ntp.NTPProblem`` provides it)."""

    tokens: np.ndarray
    next: np.ndarray
    E: np.ndarray


class SoftLabelData(Protocol):
    """What the linear NTP-SVM needs (``attention.ntp.LinearNTP`` provides it)."""

    H: np.ndarray
    P: np.ndarray


@dataclass(frozen=True)
class PriorityGraph:
    """G^(k) for one query token k: ``adjacency`` (K, K) bool (edge a -> b: a above b),
    ``labels`` (K,) the SCC of each token (scipy's numbering), ``order`` the SCCs in a
    topological order of the condensation (highest priority first), ``nodes`` the tokens that
    occur in a sequence with this query, and ``edges`` {(a, b): (i, t)} (first witness)."""

    query: int
    adjacency: np.ndarray
    labels: np.ndarray
    order: tuple[int, ...]
    nodes: np.ndarray
    edges: dict[tuple[int, int], tuple[int, int]]

    def components(self) -> list[list[int]]:
        """The SCCs restricted to the tokens that occur, in priority order, each sorted."""
        present = set(self.nodes.tolist())
        out = []
        for c in self.order:
            comp = sorted(int(v) for v in np.flatnonzero(self.labels == c) if v in present)
            if comp:
                out.append(comp)
        return out

    def cyclic_components(self) -> list[list[int]]:
        """The SCCs with more than one token (those carry a cycle)."""
        return [c for c in self.components() if len(c) > 1]

    def as_dict(self) -> dict[str, Any]:
        return {"query": self.query,
                "edges": sorted([int(a), int(b)] for a, b in self.edges),
                "sccs": self.components(),
                "cyclic": bool(self.cyclic_components())}


def _topological(adj: np.ndarray, labels: np.ndarray, m: int) -> tuple[int, ...]:
    """SCC ids in a topological order of the condensation (Kahn, smallest id first on ties)."""
    cond = np.zeros((m, m), dtype=bool)
    a, b = np.nonzero(adj)
    cond[labels[a], labels[b]] = True
    np.fill_diagonal(cond, False)
    indeg = cond.sum(axis=0)
    ready = sorted(int(c) for c in np.flatnonzero(indeg == 0))
    out = []
    while ready:
        c = ready.pop(0)
        out.append(c)
        for nb in np.flatnonzero(cond[c]):
            indeg[nb] -= 1
            if indeg[nb] == 0:
                ready.append(int(nb))
                ready.sort()
    return tuple(out)


def priority_graphs(data: NTPData) -> dict[int, PriorityGraph]:
    """G^(k) for every query token k that ends some sequence (arXiv 2403.08081, the
    token-priority graph), with its SCCs."""
    tokens = np.asarray(data.tokens)
    nxt = np.asarray(data.next)
    K = int(np.asarray(data.E).shape[0])
    last = tokens[:, -1]
    out = {}
    for k in sorted({int(v) for v in last}):
        adj = np.zeros((K, K), dtype=bool)
        edges: dict[tuple[int, int], tuple[int, int]] = {}
        rows = np.flatnonzero(last == k)
        for i in rows:
            y = int(nxt[i])
            for t, tok in enumerate(tokens[i]):
                if int(tok) != y:
                    adj[y, int(tok)] = True
                    edges.setdefault((y, int(tok)), (int(i), t))
        m, labels = connected_components(csr_matrix(adj), directed=True, connection="strong")
        nodes = np.unique(tokens[rows])
        out[k] = PriorityGraph(k, adj, labels, _topological(adj, labels, m), nodes, edges)
    return out


def is_cyclic(data: NTPData) -> bool:
    """Whether some query's priority graph has an SCC of more than one token."""
    return any(g.cyclic_components() for g in priority_graphs(data).values())


def _spanning_rows(g: PriorityGraph) -> list[tuple[int, int]]:
    """Edges (a, b) of a spanning tree of each cyclic SCC (breadth-first over its edges in
    both directions)."""
    out = []
    for comp in g.cyclic_components():
        members = set(comp)
        nbrs: dict[int, list[tuple[int, int]]] = {v: [] for v in comp}
        for a, b in sorted(g.edges):
            if a in members and b in members:
                nbrs[a].append((a, b))
                nbrs[b].append((a, b))
        seen, queue = {comp[0]}, [comp[0]]
        while queue:
            v = queue.pop(0)
            for a, b in nbrs[v]:
                w = b if a == v else a
                if w not in seen:
                    seen.add(w)
                    queue.append(w)
                    out.append((a, b))
    return out


def graph_svm_constraints(data: NTPData,
                          graphs: dict[int, PriorityGraph] | None = None) -> MarginConstraints:
    """The Graph-SVM's rows (arXiv 2403.08081): ``pairs`` are the (sequence, position) that
    witness each row; equality rows (rhs 0) inside an SCC, margin rows (rhs 1) across."""
    E = np.asarray(data.E, dtype=np.float64)
    graphs = priority_graphs(data) if graphs is None else graphs
    a_rows, z_rows, pairs, rhs, eq = [], [], [], [], []
    for k, g in graphs.items():
        for a, b in _spanning_rows(g):
            a_rows.append(E[a] - E[b])
            z_rows.append(E[k])
            pairs.append(g.edges[(a, b)])
            rhs.append(0.0)
            eq.append(True)
        for (a, b), witness in sorted(g.edges.items()):
            if g.labels[a] != g.labels[b]:
                a_rows.append(E[a] - E[b])
                z_rows.append(E[k])
                pairs.append(witness)
                rhs.append(1.0)
                eq.append(False)
    d = E.shape[1]
    return MarginConstraints(a=np.array(a_rows).reshape(-1, d), z=np.array(z_rows).reshape(-1, d),
                             pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
                             rhs=np.array(rhs), equality=np.array(eq, dtype=bool))


@dataclass(frozen=True)
class GraphSVM:
    """A solved Graph-SVM: the certified ``solution`` (``SVMSolution``: W, multipliers, minimum
    margin, KKT residual, duality gap) and the ``graphs`` it was built from."""

    solution: SVMSolution
    graphs: dict[int, PriorityGraph]

    @property
    def W(self) -> np.ndarray:
        return self.solution.W

    def payload(self) -> dict[str, Any]:
        """JSON-able summary (graphs, SCCs, W and its certificate)."""
        s = self.solution
        eq = np.asarray(s.constraints.equality, dtype=bool)
        cons = s.constraints
        values = np.einsum("kd,de,ke->k", cons.a, s.W, cons.z)
        return {
            "status": "optimal",
            "graphs": [g.as_dict() for g in self.graphs.values()],
            "rows": {"margin": int((~eq).sum()), "equality": int(eq.sum())},
            "W": s.W.tolist(),
            "objective": float(s.objective),
            "min_margin": float(s.min_margin) if np.any(~eq) else None,
            "max_equality_residual": float(np.max(np.abs(values[eq]), initial=0.0)),
            "kkt_residual": float(s.kkt_residual),
            "duality_gap": float(s.duality_gap),
            "rank": int(s.rank),
            "method": s.method,
            "seconds": float(s.seconds),
        }


def solve_constraints(cons: MarginConstraints, select: np.ndarray, what: str) -> SVMSolution:
    """fro_min_norm on ``cons`` (certified, equality rows included) packed as an SVMSolution."""
    t0 = time.perf_counter()
    W, lam, info = fro_min_norm(cons, what=what)
    return make_solution(cons, W, lam, "fro", select, time.perf_counter() - t0,
                         str(info.get("method", "fro_min_norm")))


def solve_graph_svm(data: NTPData) -> GraphSVM:
    """The certified Graph-SVM of NTP data (raises ``InfeasibleSVM`` with a verified Farkas
    certificate when no W meets the rows; e.g. embeddings that are linearly dependent)."""
    graphs = priority_graphs(data)
    cons = graph_svm_constraints(data, graphs)
    if cons.K == 0:
        raise ProblemError("tokens", "no constraint: every sequence holds only its next token")
    sol = solve_constraints(cons, np.asarray(data.next), "Graph-SVM")
    return GraphSVM(solution=sol, graphs=graphs)


# ------------------------------------------------------------------------------ linear NTP


def _supports(data: SoftLabelData) -> list[np.ndarray]:
    return [np.flatnonzero(row > 0) for row in np.asarray(data.P)]


def ntp_svm_constraints(data: SoftLabelData) -> MarginConstraints:
    """NTP-SVM rows of arXiv 2402.18551 (W: V x d): for context j, (e_z - e_v)^T W h_j >= 1 for
    z in S_j, v not in S_j, and (e_z - e_{z0})^T W h_j = 0 for z in S_j (z0 its first token)."""
    H = np.asarray(data.H, dtype=np.float64)
    V = np.asarray(data.P).shape[1]
    I = np.eye(V)
    a_rows, z_rows, pairs, rhs, eq = [], [], [], [], []
    for j, S in enumerate(_supports(data)):
        out = np.setdiff1d(np.arange(V), S)
        for z in S[1:]:
            a_rows.append(I[z] - I[S[0]])
            z_rows.append(H[j])
            pairs.append((j, z))
            rhs.append(0.0)
            eq.append(True)
        for z in S:
            for v in out:
                a_rows.append(I[z] - I[v])
                z_rows.append(H[j])
                pairs.append((j, v))
                rhs.append(1.0)
                eq.append(False)
    return MarginConstraints(a=np.array(a_rows).reshape(-1, V),
                             z=np.array(z_rows).reshape(-1, H.shape[1]),
                             pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
                             rhs=np.array(rhs), equality=np.array(eq, dtype=bool))


def linear_finite_constraints(data: SoftLabelData) -> MarginConstraints:
    """The equalities (e_z - e_{z0})^T W h_j = log(p_jz / p_jz0), z in S_j (arXiv 2402.18551):
    their minimum-norm solution is W*, the limit of GD's projection onto the data subspace F."""
    H = np.asarray(data.H, dtype=np.float64)
    P = np.asarray(data.P, dtype=np.float64)
    V = P.shape[1]
    I = np.eye(V)
    a_rows, z_rows, pairs, rhs = [], [], [], []
    for j, S in enumerate(_supports(data)):
        for z in S[1:]:
            a_rows.append(I[z] - I[S[0]])
            z_rows.append(H[j])
            pairs.append((j, z))
            rhs.append(float(np.log(P[j, z] / P[j, S[0]])))
    K = len(rhs)
    return MarginConstraints(a=np.array(a_rows).reshape(-1, V),
                             z=np.array(z_rows).reshape(-1, H.shape[1]),
                             pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
                             rhs=np.array(rhs), equality=np.ones(K, dtype=bool))
