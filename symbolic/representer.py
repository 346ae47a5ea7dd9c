"""Derivation ``representer``: W^mm = sum lam_k a_k z_k^T, rank <= n, row space in span{z_i}.

TF-SVM (arXiv 2308.16898), rank lemma for Att-SVM (recalled; lemma number not confirmed): any
solution of Att-SVM or Att-SVM* has rank <= n and its row space lies in span{z_1..z_n}.  Proof
(derived in this module):

* Stationarity of the Lagrangian (``att-svm-dual``) gives W^mm = sum_k lam_k a_k z_k^T, and
  grouping the constraints by input, W^mm = sum_i u_i z_i^T with u_i = sum_{t != alpha_i}
  lam_it a_it. So W^mm w = 0 for every w orthogonal to all z_i and rank W^mm <= rank{z_i} <= n.
* Without duality: with P the orthogonal projector onto span{z_i}, W P satisfies the same
  constraints (W P z_i = W z_i) and ||W||_F^2 = ||W P||_F^2 + ||W (I - P)||_F^2, so the (unique)
  Frobenius minimiser has W (I - P) = 0. (The nuclear-norm version uses ||W P||_* <= ||W||_*.)

Predicates (numpy float64):

    row_space_residual(W, Z) -> float      ||W (I - P_Z)||_F / ||W||_F, P_Z onto span of Z's rows
                                            (lambdified W - W Z^T (Z Z^T)^+ Z)
    relative_rank(W, rel=1e-6) -> (int, ndarray)   #{sigma_k > rel sigma_1} and the singular values
    rank_bound(Z, rel=1e-6) -> int          relative rank of the queries: rank(W^mm) <= rank_bound
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.att_svm_dual import exact_active_set_svm, exact_constraint_vectors
from attnsvm.symbolic.core import (
    Derivation,
    FrobNorm,
    Rank,
    Tex,
    all_checks,
    eq,
    frob_inner,
    frob_sq,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float


def _representer(n: int, T: int, d: int):
    """Symbolic a_it, z_i, lam_it (t = 1..T-1 non-selected) and W = sum lam a z^T."""
    a = [[symbol_vector(f"a{i}{t}", d) for t in range(T - 1)] for i in range(n)]
    z = [symbol_vector(f"z{i}", d) for i in range(n)]
    lam = [[sp.Symbol(f"lam{i}{t}", nonnegative=True) for t in range(T - 1)] for i in range(n)]
    W = sp.zeros(d, d)
    for i in range(n):
        for t in range(T - 1):
            W += lam[i][t] * a[i][t] * z[i].T
    return a, z, lam, W


def check_grouping(n: int = 2, T: int = 3, d: int = 3) -> tuple[bool, str]:
    """sum_k lam_k a_k z_k^T = sum_i u_i z_i^T with u_i = sum_t lam_it a_it."""
    a, z, lam, W = _representer(n, T, d)
    grouped = sp.zeros(d, d)
    for i in range(n):
        u = sum((lam[i][t] * a[i][t] for t in range(T - 1)), sp.zeros(d, 1))
        grouped += u * z[i].T
    return zero_check(W - grouped, f"n={n}, T={T}, d={d}: representer grouped by input")


def check_row_space(n: int = 2, T: int = 3, d: int = 3) -> tuple[bool, str]:
    """W w = 0 for w = z_1 x z_2, orthogonal to both queries (d = 3, n = 2)."""
    _, z, _, W = _representer(n, T, d)
    w = z[0].cross(z[1])
    return zero_check(W * w, f"n={n}, T={T}, d={d}: W (z_1 x z_2)")


def check_rank(T: int = 3, d: int = 3) -> tuple[bool, str]:
    """rank W <= n: det W = 0 for n = 2 < d = 3; every 2x2 minor of W is 0 for n = 1."""
    _, _, _, W2 = _representer(2, T, d)
    ok2, msg2 = zero_check(W2.det(method="berkowitz"), f"n=2, T={T}, d={d}: det W")
    _, _, _, W1 = _representer(1, T, d)
    minors = [W1.extract([r1, r2], [c1, c2]).det()
              for r1 in range(d) for r2 in range(r1 + 1, d)
              for c1 in range(d) for c2 in range(c1 + 1, d)]
    ok1, msg1 = zero_check(sp.Matrix(minors), f"n=1, T={T}, d={d}: all 2x2 minors")
    return all_checks([(ok2, msg2), (ok1, msg1)])


def check_projection(d: int = 3) -> tuple[bool, str]:
    """n = 1: W P z = W z and ||W||^2 = ||W P||^2 + ||W (I - P)||^2, P = z z^T / z^T z."""
    W, z, a = symbol_matrix("w", d, d), symbol_vector("z", d), symbol_vector("a", d)
    P = z * z.T / (z.T * z)[0, 0]
    I = sp.eye(d)
    same = (a.T * W * P * z)[0, 0] - (a.T * W * z)[0, 0]
    pyth = frob_sq(W) - frob_sq(W * P) - frob_sq(W * (I - P))
    cross = frob_inner(W * P, W * (I - P))
    return all_checks([
        zero_check(same, f"d={d}: a^T W P z - a^T W z (constraints unchanged)"),
        zero_check(pyth, f"d={d}: Pythagoras ||W||^2 = ||WP||^2 + ||W(I-P)||^2"),
        zero_check(cross, f"d={d}: <WP, W(I-P)> = 0"),
    ])


def check_rank_attained() -> tuple[bool, str]:
    """Exact instance (n = 2, T = 2, d = 2, independent queries): rank W^mm = n = 2."""
    X = [[[1, 0], [0, 1]], [[1, 1], [-1, 0]]]
    Z = [[1, 1], [0, 1]]
    A, Zk = exact_constraint_vectors(X, Z, [0, 0])
    found = exact_active_set_svm(A, Zk)
    if found is None:
        return False, "instance unexpectedly infeasible"
    W = found[0]
    r = W.rank()
    return r == 2, f"W^mm = {W.tolist()}, rank {r} (n = 2): the bound rank <= n is tight"


def _statement() -> list[tuple[str, sp.Basic]]:
    k, i, K, n = sp.symbols("k i K n", integer=True, positive=True)
    lam = sp.IndexedBase("lambda")
    u = sp.IndexedBase("u")
    W = Tex("W^{mm}", "W^mm")
    return [
        ("representer form", eq(W, sp.Sum(lam[k] * Tex(r"a_k z_k^\top", "a_k z_k^T"),
                                          (k, 1, K)))),
        ("grouped by input", eq(W, sp.Sum(Tex(r"u_i z_i^\top", "u_i z_i^T"), (i, 1, n)))),
        ("with", eq(u[i], Tex(r"\sum_{t \ne \alpha_i} \lambda_{it} a_{it}",
                              "sum_{t != alpha_i} lam_it a_it"))),
        ("rank bound", sp.Le(Rank(W), n)),
        ("row space: for every w orthogonal to z_1..z_n",
         eq(Tex(r"W^{mm} w", "W^mm w"), 0)),
        ("projection argument", eq(FrobNorm(sp.Symbol("W")) ** 2, FrobNorm(Tex("WP", "W P")) ** 2
                                   + FrobNorm(Tex("W(I-P)", "W (I - P)")) ** 2)),
    ]


@cache
def _residual_kernel():
    d, n = sp.symbols("d n", integer=True, positive=True)
    W, Z, M = sp.MatrixSymbol("W", d, d), sp.MatrixSymbol("Z", n, d), sp.MatrixSymbol("M", n, n)
    return sp.lambdify((W, Z, M), W - W * Z.T * M * Z, "numpy")


def row_space_residual(W: Any, Z: Any) -> float:
    """||W (I - P_Z)||_F / ||W||_F (0 for W = 0); P_Z projects onto the span of Z's rows."""
    W, Z = as_float(W), np.atleast_2d(as_float(Z))
    norm = np.linalg.norm(W)
    if norm == 0.0:
        return 0.0
    R = _residual_kernel()(W, Z, np.linalg.pinv(Z @ Z.T))
    return float(np.linalg.norm(R) / norm)


def relative_rank(W: Any, rel: float = 1e-6) -> tuple[int, np.ndarray]:
    """Number of singular values > rel * sigma_1 (a relative threshold, never an absolute one) and
    the singular values."""
    sv = np.linalg.svd(as_float(W), compute_uv=False)
    if sv.size == 0 or sv[0] == 0.0:
        return 0, sv
    return int(np.sum(sv > rel * sv[0])), sv


def rank_bound(Z: Any, rel: float = 1e-6) -> int:
    """rank{z_i} (relative threshold): rank(W^mm) <= rank{z_i} <= n."""
    return relative_rank(np.atleast_2d(as_float(Z)), rel)[0]


DERIVATION = Derivation(
    name="representer",
    title="Representer form W^mm = sum lam_k a_k z_k^T: rank <= n, row space inside span{z_i}",
    source="arXiv 2308.16898, rank lemma for Att-SVM / Att-SVM* (lemma number not confirmed); "
    "attnsvm derivation",
    summary=(
        "W^mm = sum_k lam_k a_k z_k^T = sum_i u_i z_i^T, so W^mm kills every w orthogonal to the "
        "queries and rank W^mm <= rank{z_i} <= n. Independently of duality, projecting W onto "
        "span{z_i} from the right keeps every constraint and does not increase ||W||_F."
    ),
    build_statement=_statement,
    checks=(
        ("grouping by input", check_grouping),
        ("row space in span{z}", check_row_space),
        ("rank <= n", check_rank),
        ("projection keeps constraints, lowers norm", check_projection),
        ("rank n attained", check_rank_attained),
    ),
    predicates={
        "row_space_residual": row_space_residual,
        "relative_rank": relative_rank,
        "rank_bound": rank_bound,
    },
)
