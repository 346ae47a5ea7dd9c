"""Derivation ``graph-svm-kkt``: KKT system of the Graph-SVM of next-token prediction.

Li, Huang, Ildiz, Rawat, Oymak, "Mechanics of Next Token Prediction with Self-Attention"
(arXiv 2403.08081): with A_k = a_k z_k^T, a_k = x_y - x_t for a sequence with query z_k, next
token y and another token t, the Graph-SVM is

    min_W 1/2 ||W||_F^2  s.t.  <A_k, W> = 0   (k in E: y and t in one SCC of the query's graph),
                               <A_k, W> >= 1  (k in I: y above t in the SCC order).

Lagrangian L = 1/2 ||W||^2 - sum_k lam_k (<A_k, W> - b_k) with b_k = 0 on E and 1 on I.
KKT: stationarity W = sum_k lam_k A_k; lam_k >= 0 on I and free on E; primal feasibility;
complementary slackness lam_k (<A_k, W> - 1) = 0 on I (automatic on E). The dual is
max lam^T b - 1/2 lam^T G lam, G = (A A^T) o (Z Z^T), and the gap identity

    1/2 ||W||^2 - D(lam) = 1/2 ||W - sum lam_k A_k||^2 + sum_k lam_k (<A_k, W> - b_k)

shows that a KKT point is optimal (for feasible W the last sum is >= 0 and vanishes exactly under
complementary slackness, equality rows contributing 0). Worked instance (derived here): with
orthonormal embeddings, sequences (a, b, c, q) -> a and (b, a, c, q) -> b with query q
(||x_q|| = 1): the SCC {a, b} lies above c and q, u = W x_q solves min ||u||^2 s.t. u_a = u_b,
u_a - u_c >= 1, u_a - u_q >= 1, so u = (1/2, 1/2, -1/2, -1/2) and ||W^svm||^2 = 1: the two
tokens of the cycle keep equal logits (no one-hot selection inside an SCC).

Predicates (numpy float64):

    constraint_gram(A, Zk) -> (K, K)               lambdified (A A^T) o (Zk Zk^T)
    primal_from_dual(A, Zk, lam) -> (d, d)         lambdified A^T diag(lam) Zk
    kkt_solve(A, Zk, b, equality, tol=1e-9) -> (W, lam) | None
        enumeration of the active margin rows (equality rows always active, multipliers free):
        the first KKT point found (the optimum), or None when there is none (at most 14 margin
        rows).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import combinations
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.hadamard import hadamard_product

from attnsvm.symbolic.core import (
    Derivation,
    FrobNorm,
    Tex,
    all_checks,
    eq,
    frob_inner,
    frob_sq,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, column

MAX_MARGIN_ROWS = 14

# --------------------------------------------------------------------------- exact solver


def exact_kkt(A: sp.Matrix, Zk: sp.Matrix, b: list, equality: list[bool]
              ) -> tuple[sp.Matrix, sp.Matrix] | None:
    """Exact KKT point: a maximal independent set of equality rows always active (free
    multipliers), margin rows by subset; accept lam >= 0 on active margin rows and every row met
    (dependent equality rows included). Rational arithmetic."""
    K = A.shape[0]
    G = sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T)
    E: list[int] = []  # a maximal independent set of equality rows (the others are implied)
    for k in range(K):
        if equality[k] and G.extract(E + [k], E + [k]).det() != 0:
            E.append(k)
    ineq = [k for k in range(K) if not equality[k]]
    for size in range(len(ineq) + 1):
        for S in combinations(ineq, size):
            act = E + list(S)
            lam = sp.zeros(K, 1)
            if act:
                GS = G.extract(act, act)
                if GS.det() == 0:
                    continue
                sol = GS.LUsolve(sp.Matrix([b[k] for k in act]))
                if any(sol[j] < 0 for j, k in enumerate(act) if not equality[k]):
                    continue
                for j, k in enumerate(act):
                    lam[k] = sol[j]
            W = A.T * sp.diag(*lam) * Zk
            vals = [(A[k, :] * W * Zk[k, :].T)[0, 0] for k in range(K)]
            if all(vals[k] == b[k] if equality[k] else vals[k] >= b[k] for k in range(K)):
                return W, lam
    return None


# --------------------------------------------------------------------------- checks


def _setup(K: int = 3, d: int = 2):
    a = symbol_matrix("a", K, d, real=True)
    z = symbol_matrix("z", K, d, real=True)
    lam = symbol_vector("lam", K, real=True)
    b = symbol_vector("b", K, real=True)
    Wm = symbol_matrix("w", d, d, real=True)
    As = [a[k, :].T * z[k, :] for k in range(K)]
    return a, z, lam, b, Wm, As


def check_stationarity(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """d/dW of the Lagrangian vanishes exactly at W = sum lam_k A_k (equality rows included)."""
    _a, _z, lam, b, Wm, As = _setup(K, d)
    L = frob_sq(Wm) / 2 - sum(lam[k] * (frob_inner(As[k], Wm) - b[k]) for k in range(K))
    Wst = sum((lam[k] * As[k] for k in range(K)), sp.zeros(d, d))
    grad = sp.Matrix(d, d, lambda i, j: sp.diff(L, Wm[i, j]))
    return zero_check(grad.subs({Wm[i, j]: Wst[i, j] for i in range(d) for j in range(d)}),
                      "grad_W Lagrangian at W = sum lam_k A_k")


def check_gap_identity(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """1/2||W||^2 - (lam.b - 1/2 lam^T G lam)
    = 1/2||W - sum lam A||^2 + sum lam_k (<A_k, W> - b_k)."""
    _a, _z, lam, b, Wm, As = _setup(K, d)
    G = sp.Matrix(K, K, lambda k, l_: frob_inner(As[k], As[l_]))
    D = sum(lam[k] * b[k] for k in range(K)) - (lam.T * G * lam)[0, 0] / 2
    R = Wm - sum((lam[k] * As[k] for k in range(K)), sp.zeros(d, d))
    rhs = frob_sq(R) / 2 + sum(lam[k] * (frob_inner(As[k], Wm) - b[k]) for k in range(K))
    return zero_check(frob_sq(Wm) / 2 - D - rhs, "gap identity with rows of any rhs b_k")


def check_gram(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """<a_k z_k^T, a_l z_l^T> = (a_k . a_l)(z_k . z_l)."""
    a, z, _lam, _b, _W, As = _setup(K, d)
    G = sp.Matrix(K, K, lambda k, l_: frob_inner(As[k], As[l_]))
    return zero_check(G - sp.matrix_multiply_elementwise(a * a.T, z * z.T), "Gram kernel")


#: rational instances: (embeddings E, sequences (tokens), next tokens); the Graph-SVM rows are
#: built here as in the paper (edges next -> other tokens, SCCs of each query's graph).
WORKED = {
    "2-cycle above 1 token, orthonormal E": (
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]],
        [[0, 1, 2, 3], [1, 0, 2, 3]], [0, 1]),
    "acyclic chain, correlated E": (
        [[2, 0, 0], [1, 1, 0], [0, 1, 1], [0, 0, 1]],
        [[0, 1, 3], [1, 2, 3]], [0, 1]),
    "3-cycle, correlated E": (
        [[1, 0, 0, 0], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [1, 0, 0, 1]],
        [[0, 1, 3, 4], [1, 2, 3, 4], [2, 0, 3, 4]], [0, 1, 2]),
}


def _reach(adj: dict[int, set[int]], u: int) -> set[int]:
    seen, stack = {u}, [u]
    while stack:
        v = stack.pop()
        for w in adj.get(v, ()):
            if w not in seen:
                seen.add(w)
                stack.append(w)
    return seen


def exact_rows(E: list, seqs: list, nxt: list) -> tuple[sp.Matrix, sp.Matrix, list, list[bool]]:
    """Graph-SVM rows of a small instance in exact arithmetic (SCC by mutual reachability)."""
    Em = sp.Matrix(E)
    by_query: dict[int, list[int]] = {}
    for i, s in enumerate(seqs):
        by_query.setdefault(s[-1], []).append(i)
    rows_a, rows_z, b, equality = [], [], [], []
    for k, idx in by_query.items():
        adj: dict[int, set[int]] = {}
        for i in idx:
            adj.setdefault(nxt[i], set()).update(t for t in seqs[i] if t != nxt[i])
        for y, outs in sorted(adj.items()):
            for t in sorted(outs):
                same = y in _reach(adj, t)
                rows_a.append(list(Em[y, :] - Em[t, :]))
                rows_z.append(list(Em[k, :]))
                b.append(sp.Integer(0 if same else 1))
                equality.append(same)
    return sp.Matrix(rows_a), sp.Matrix(rows_z), b, equality


def check_worked_instances() -> tuple[bool, str]:
    """Exact KKT point on rational instances: rows met, lam >= 0 on margin rows, complementary
    slackness, zero gap, and the closed form u = (1/2, 1/2, -1/2, -1/2) of the orthonormal
    2-cycle."""
    out = []
    for label, (E, seqs, nxt) in WORKED.items():
        A, Zk, b, equality = exact_rows(E, seqs, nxt)
        found = exact_kkt(A, Zk, b, equality)
        if found is None:
            out.append((False, f"{label}: no KKT point"))
            continue
        W, lam = found
        K = A.shape[0]
        vals = [(A[k, :] * W * Zk[k, :].T)[0, 0] for k in range(K)]
        G = sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T)
        dual = sum(lam[k] * b[k] for k in range(K)) - (lam.T * G * lam)[0, 0] / 2
        ok = (all(vals[k] == b[k] if equality[k] else vals[k] >= b[k] for k in range(K))
              and all(lam[k] >= 0 for k in range(K) if not equality[k])
              and all(lam[k] * (vals[k] - b[k]) == 0 for k in range(K))
              and sp.simplify(frob_sq(W) / 2 - dual) == 0)
        if label.startswith("2-cycle"):
            u = W * sp.Matrix(E[3])
            half = sp.Rational(1, 2)
            ok = ok and list(u) == [half, half, -half, -half] and frob_sq(W) == 1
        out.append((ok, f"{label}: {sum(equality)} equality + {K - sum(equality)} margin rows, "
                        f"||W||^2 = {frob_sq(W)}, primal = dual = {dual}"))
    return all_checks(out)


# --------------------------------------------------------------------------- statement


def _statement() -> list[tuple[str, sp.Basic]]:
    k, K = sp.symbols("k K", integer=True, positive=True)
    lam, b = sp.IndexedBase("lambda"), sp.IndexedBase("b")
    W = sp.Symbol("W")
    Ak = Tex(r"a_k z_k^\top", "a_k z_k^T")
    margin = Tex(r"a_k^\top W z_k", "a_k^T W z_k")
    D = Tex(r"D(\lambda)", "D(lam)")
    return [
        ("constraint vector (next token y above token t for query z_k)",
         eq(Tex("a_k", "a_k"), Tex("x_y - x_t", "x_y - x_t"))),
        ("same SCC (k in E): equality", eq(margin, 0)),
        ("different SCCs (k in I): margin", sp.Ge(margin, 1)),
        ("stationarity", eq(W, sp.Sum(lam[k] * Ak, (k, 1, K)))),
        ("dual feasibility on margin rows (free on equality rows)", sp.Ge(lam[k], 0)),
        ("complementary slackness on margin rows", eq(lam[k] * (margin - 1), 0)),
        ("duality-gap identity", eq(FrobNorm(W) ** 2 / 2 - D,
                                    FrobNorm(W - sp.Sum(lam[k] * Ak, (k, 1, K))) ** 2 / 2
                                    + sp.Sum(lam[k] * (margin - b[k]), (k, 1, K)))),
    ]


# --------------------------------------------------------------------------- predicates


@cache
def _kernels() -> dict[str, Callable[..., Any]]:
    K, d = sp.symbols("K d", integer=True, positive=True)
    A, Zk = sp.MatrixSymbol("A", K, d), sp.MatrixSymbol("Z", K, d)
    lam = sp.MatrixSymbol("lam", K, 1)
    return {
        "gram": sp.lambdify((A, Zk), hadamard_product(A * A.T, Zk * Zk.T), "numpy"),
        "primal": sp.lambdify((A, Zk, lam), A.T * sp.DiagMatrix(lam) * Zk, "numpy"),
    }


def constraint_gram(A: Any, Zk: Any) -> np.ndarray:
    """G = (A A^T) o (Zk Zk^T)."""
    return np.asarray(_kernels()["gram"](as_float(A), as_float(Zk)))


def primal_from_dual(A: Any, Zk: Any, lam: Any) -> np.ndarray:
    """W = sum_k lam_k a_k z_k^T."""
    return np.asarray(_kernels()["primal"](as_float(A), as_float(Zk), column(lam)))


def kkt_solve(A: Any, Zk: Any, b: Any, equality: Any, tol: float = 1e-9
              ) -> tuple[np.ndarray, np.ndarray] | None:
    """The Graph-SVM's KKT point by enumerating active margin rows (float64 version of the exact
    procedure; equality rows always active with free multipliers, solved by least squares)."""
    A, Zk, b = as_float(A), as_float(Zk), as_float(b).ravel()
    eqm = np.asarray(equality, dtype=bool).ravel()
    ineq = np.flatnonzero(~eqm)
    if ineq.size > MAX_MARGIN_ROWS:
        raise ValueError(f"kkt_solve enumerates 2^{ineq.size} subsets (> 2^{MAX_MARGIN_ROWS})")
    G = constraint_gram(A, Zk)
    E = list(np.flatnonzero(eqm))
    K = A.shape[0]
    scale = max(1.0, float(np.max(np.abs(b), initial=0.0)))
    for size in range(ineq.size + 1):
        for S in combinations(ineq.tolist(), size):
            act = E + list(S)
            lam = np.zeros(K)
            if act:
                GS = G[np.ix_(act, act)]
                sol, *_ = np.linalg.lstsq(GS, b[act], rcond=1e-12)
                if np.max(np.abs(GS @ sol - b[act])) > tol * scale:
                    continue
                if size and np.min(sol[len(E):]) < -tol:
                    continue
                lam[act] = sol
            W = primal_from_dual(A, Zk, lam)
            vals = np.einsum("kd,de,ke->k", A, W, Zk)
            if np.all(np.abs(vals[eqm] - b[eqm]) <= tol * scale) and np.all(
                    vals[~eqm] >= b[~eqm] - tol * scale):
                return W, lam
    return None


DERIVATION = Derivation(
    name="graph-svm-kkt",
    title="Graph-SVM of next-token prediction: KKT system (equalities in an SCC, margins across)",
    source="arXiv 2403.08081 (the Graph-SVM); Lagrangian duality (attnsvm derivation)",
    summary=(
        "Rows <a_k z_k^T, W> = 0 join tokens of one strongly connected component of the query's "
        "priority graph, rows >= 1 order different components. The Lagrangian's stationarity "
        "gives W = sum lam_k a_k z_k^T with free multipliers on the equality rows and "
        "nonnegative ones on the margin rows; the gap identity (any right-hand sides b_k) shows "
        "a KKT point is optimal. Exact rational instances (a 2-cycle, an acyclic chain, a "
        "3-cycle) are solved by active-set enumeration; the orthonormal 2-cycle has the closed "
        "form W x_q = (1/2, 1/2, -1/2, -1/2): equal logits inside the cycle."
    ),
    build_statement=_statement,
    checks=(
        ("kernel <a z^T, b w^T> = (a.b)(z.w)", check_gram),
        ("stationarity with equality rows", check_stationarity),
        ("duality-gap identity (rows of any rhs)", check_gap_identity),
        ("worked rational instances", check_worked_instances),
    ),
    predicates={
        "constraint_gram": constraint_gram,
        "primal_from_dual": primal_from_dual,
        "kkt_solve": kkt_solve,
    },
)
