"""Derivation ``att-svm-dual``: Lagrangian, KKT conditions and dual of Att-SVM_alpha.

Att-SVM_alpha (TF-SVM, arXiv 2308.16898, Sec. 2, Eq. (Att-SVM)), written with constraint k = (i, t),
t != alpha_i, a_k = x_{i alpha_i} - x_it, z_k = z_i and A_k = a_k z_k^T:

    min_W  1/2 ||W||_F^2   s.t.  <A_k, W> = a_k^T W z_k >= 1   (k = 1..K, K = n(T-1))

Lagrangian  L(W, lam) = 1/2 ||W||^2 - sum_k lam_k (<A_k, W> - 1),  lam >= 0.
Stationarity  W = sum_k lam_k a_k z_k^T  (the representer form).
Dual  max_{lam >= 0}  sum_k lam_k - 1/2 lam^T G lam,  G_kl = <A_k, A_l> = (a_k . a_l)(z_k . z_l),
i.e. G = (A A^T) o (Z Z^T): K = n(T-1) dual variables instead of d^2 primal ones (derived in
this module).
Duality gap identity (weak duality and sufficiency of KKT in one line):
    1/2 ||W||^2 - D(lam) = 1/2 ||W - sum lam_k A_k||^2 + sum_k lam_k (<A_k, W> - 1)  >= 0
for feasible W and lam >= 0, with equality iff stationarity and complementary slackness hold.
At the optimum ||W^mm||^2 = sum_k lam_k and the max margin is 1/||W^mm||_F.

Predicates (numpy float64):

    constraint_vectors(X, Z, alpha) -> (A (K,d), Zk (K,d), pairs (K,2))   rows a_k, z_k, (i, t)
    constraint_gram(A, Zk) -> (K,K)             lambdified (A A^T) o (Zk Zk^T)
    primal_from_dual(A, Zk, lam) -> (d,d)       lambdified A^T diag(lam) Zk = sum lam_k a_k z_k^T
    dual_objective(lam, G) -> float             sum(lam) - 1/2 lam^T G lam (quadratic lambdified)
    kkt_residuals(W, lam, A, Zk) -> dict        stationarity, primal/dual violation, complementarity
    active_set_svm(A, Zk, tol=1e-9) -> (W, lam) | None
        exact enumeration of active sets with a nonsingular Gram block (K <= 14): the KKT point,
        i.e. W^mm and a dual certificate, or None when Att-SVM is infeasible (no KKT point).
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
    Inner,
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

# --------------------------------------------------------------------------- exact solver


def exact_active_set_svm(
    A: sp.Matrix, Zk: sp.Matrix
) -> tuple[sp.Matrix, sp.Matrix, tuple[int, ...]] | None:
    """Exact (rational) KKT point of Att-SVM by active-set enumeration.

    For every subset S with nonsingular G_SS, lam_S = G_SS^{-1} 1; accept if lam_S >= 0 and
    W = sum_S lam_k A_k satisfies every constraint. By Caratheodory (conic) the optimum has such
    a representation, and by the gap identity any KKT point is optimal.
    """
    K = A.shape[0]
    G = sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T)
    for size in range(1, K + 1):
        for S in combinations(range(K), size):
            GS = G.extract(list(S), list(S))
            if GS.det() == 0:
                continue
            lamS = GS.LUsolve(sp.ones(size, 1))
            if any(x < 0 for x in lamS):
                continue
            lam = sp.zeros(K, 1)
            for j, k in enumerate(S):
                lam[k] = lamS[j]
            W = A.T * sp.diag(*lam) * Zk
            if all((A[k, :] * W * Zk[k, :].T)[0, 0] >= 1 for k in range(K)):
                return W, lam, S
    return None


# --------------------------------------------------------------------------- checks


def check_kernel(d: int = 3) -> tuple[bool, str]:
    """<a z^T, b w^T>_F = (a . b)(z . w) for symbolic a, b, z, w in R^d."""
    a, b, z, w = (symbol_vector(p, d) for p in "abzw")
    lhs = frob_inner(a * z.T, b * w.T)
    rhs = (a.T * b)[0, 0] * (z.T * w)[0, 0]
    return zero_check(lhs - rhs, f"d={d}: <a z^T, b w^T> - (a.b)(z.w)")


def check_gram(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """G_kl = <A_k, A_l> equals ((A A^T) o (Z Z^T))_kl."""
    A, Zk = symbol_matrix("a", K, d), symbol_matrix("z", K, d)
    mats = [A[k, :].T * Zk[k, :] for k in range(K)]
    G = sp.Matrix(K, K, lambda k, m: frob_inner(mats[k], mats[m]))
    return zero_check(G - hadamard_product(A * A.T, Zk * Zk.T).doit(),
                      f"K={K}, d={d}: Gram of A_k - (AA^T)o(ZZ^T)")


def _lagrangian_setup(K: int = 3, d: int = 2):
    A, Zk = symbol_matrix("a", K, d), symbol_matrix("z", K, d)
    lam = symbol_vector("lam", K)
    W = symbol_matrix("w", d, d)
    mats = [A[k, :].T * Zk[k, :] for k in range(K)]
    lagr = frob_sq(W) / 2 - sum(lam[k] * (frob_inner(mats[k], W) - 1) for k in range(K))
    rep = sum((lam[k] * mats[k] for k in range(K)), sp.zeros(d, d))
    G = sp.Matrix(K, K, lambda k, m: frob_inner(mats[k], mats[m]))
    dual = sum(lam) - (lam.T * G * lam)[0, 0] / 2
    return A, Zk, lam, W, mats, lagr, rep, dual


def check_stationarity(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """Solving dL/dW = 0 (linear in W) gives W = sum_k lam_k a_k z_k^T."""
    _, _, _, W, _, lagr, rep, _ = _lagrangian_setup(K, d)
    sol = sp.solve([sp.diff(lagr, w) for w in W], list(W), dict=True)
    if len(sol) != 1:
        return False, f"stationarity system has {len(sol)} solutions"
    return zero_check(W.subs(sol[0]) - rep, f"K={K}, d={d}: argmin_W L - sum lam a z^T")


def check_dual_function(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """L(sum lam A, lam) = sum lam - 1/2 lam^T G lam (the dual objective)."""
    _, _, _, W, _, lagr, rep, dual = _lagrangian_setup(K, d)
    at_min = lagr.subs(dict(zip(list(W), list(rep), strict=True)))
    return zero_check(at_min - dual, f"K={K}, d={d}: L(W(lam), lam) - D(lam)")


def check_gap_identity(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """1/2||W||^2 - D(lam) = 1/2||W - sum lam A||^2 + sum lam_k(<A_k,W> - 1) for all W, lam."""
    _, _, lam, W, mats, _, rep, dual = _lagrangian_setup(K, d)
    rhs = frob_sq(W - rep) / 2 + sum(lam[k] * (frob_inner(mats[k], W) - 1) for k in range(K))
    return zero_check(frob_sq(W) / 2 - dual - rhs, f"K={K}, d={d}: duality gap identity")


#: Worked instances (rational): (tokens X (n,T,d), queries Z (n,d), selection alpha).
WORKED_INSTANCES: dict[str, tuple[list, list, list]] = {
    "n=1,T=3 (one inactive constraint)": (
        [[[0, 0], [1, 0], [3, 1]]], [[1, 0]], [0]),
    "n=2,T=2 (both constraints active)": (
        [[[1, 0], [0, 1]], [[1, 1], [-1, 0]]], [[1, 1], [0, 1]], [0, 0]),
}


def exact_constraint_vectors(X: list, Z: list, alpha: list) -> tuple[sp.Matrix, sp.Matrix]:
    """Rows a_k = x_{i alpha_i} - x_it and z_k = z_i, exact."""
    rows_a, rows_z = [], []
    for i, tokens in enumerate(X):
        for t, x in enumerate(tokens):
            if t != alpha[i]:
                rows_a.append([sp.Rational(p) - sp.Rational(q)
                               for p, q in zip(tokens[alpha[i]], x, strict=True)])
                rows_z.append([sp.Rational(q) for q in Z[i]])
    return sp.Matrix(rows_a), sp.Matrix(rows_z)


def check_worked_instances() -> tuple[bool, str]:
    """Exact KKT point on rational instances: feasibility, lam >= 0, slackness, zero gap."""
    out = []
    for label, (X, Z, alpha) in WORKED_INSTANCES.items():
        A, Zk = exact_constraint_vectors(X, Z, alpha)
        ok, detail = exact_kkt_report(A, Zk)
        out.append((ok, f"{label}: {detail}"))
    return all_checks(out)


def exact_kkt_report(A: sp.Matrix, Zk: sp.Matrix) -> tuple[bool, str]:
    """The exact KKT point of min 1/2 ||W||_F^2 s.t. a_k^T W z_k >= 1 (rows of A and Zk) and
    whether it is one: feasibility, lam >= 0, complementary slackness, zero duality gap and
    ||W||_F^2 = sum lam (TF-SVM Att-SVM dual); (False, why) when the active-set search finds
    none."""
    found = exact_active_set_svm(A, Zk)
    if found is None:
        return False, "no KKT point"
    W, lam, _ = found
    margins = [(A[k, :] * W * Zk[k, :].T)[0, 0] for k in range(A.shape[0])]
    G = sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T)
    dual = sum(lam) - (lam.T * G * lam)[0, 0] / 2
    ok = (all(m >= 1 for m in margins) and all(x >= 0 for x in lam)
          and all(lam[k] * (margins[k] - 1) == 0 for k in range(len(margins)))
          and frob_sq(W) / 2 == dual and frob_sq(W) == sum(lam))
    return ok, (f"lam={list(lam)}, margins={margins}, ||W||^2={frob_sq(W)} = sum lam, "
                f"primal = dual = {dual}")


# --------------------------------------------------------------------------- statement


def _statement() -> list[tuple[str, sp.Basic]]:
    k, l_, K = sp.symbols("k l K", integer=True, positive=True)
    lam, a, z = sp.IndexedBase("lambda"), sp.IndexedBase("a"), sp.IndexedBase("z")
    W = sp.Symbol("W")
    Ak = Tex(r"a_k z_k^\top", "a_k z_k^T")
    Al = Tex(r"a_l z_l^\top", "a_l z_l^T")
    margin = Tex(r"a_k^\top W z_k", "a_k^T W z_k")
    D = Tex(r"D(\lambda)", "D(lam)")
    return [
        ("primal: minimise 1/2 ||W||_F^2 subject to, for k=(i,t), t != alpha_i",
         sp.Ge(margin, 1)),
        ("constraint vector", eq(a[k], Tex(r"x_{i\alpha_i} - x_{it}", "x_{i alpha_i} - x_it"))),
        ("Lagrangian", eq(Tex(r"\mathcal{L}(W,\lambda)", "Lagrangian(W, lam)"),
                          FrobNorm(W) ** 2 / 2 - sp.Sum(lam[k] * (margin - 1), (k, 1, K)))),
        ("stationarity", eq(W, sp.Sum(lam[k] * Ak, (k, 1, K)))),
        ("kernel", eq(Inner(Ak, Al), Inner(a[k], a[l_]) * Inner(z[k], z[l_]))),
        ("dual: maximise over lambda >= 0",
         eq(D, sp.Sum(lam[k], (k, 1, K))
            - sp.Sum(lam[k] * lam[l_] * Inner(a[k], a[l_]) * Inner(z[k], z[l_]),
                     (k, 1, K), (l_, 1, K)) / 2)),
        ("KKT: dual feasibility", sp.Ge(lam[k], 0)),
        ("KKT: primal feasibility", sp.Ge(margin, 1)),
        ("KKT: complementary slackness", eq(lam[k] * (margin - 1), 0)),
        ("duality-gap identity", eq(FrobNorm(W) ** 2 / 2 - D,
                                    FrobNorm(W - sp.Sum(lam[k] * Ak, (k, 1, K))) ** 2 / 2
                                    + sp.Sum(lam[k] * (margin - 1), (k, 1, K)))),
        ("optimal value (max margin = 1/||W^mm||_F)",
         eq(FrobNorm(Tex("W^{mm}", "W^mm")) ** 2, sp.Sum(lam[k], (k, 1, K)))),
    ]


# --------------------------------------------------------------------------- predicates


@cache
def _kernels() -> dict[str, Callable[..., Any]]:
    K, d = sp.symbols("K d", integer=True, positive=True)
    A, Zk = sp.MatrixSymbol("A", K, d), sp.MatrixSymbol("Z", K, d)
    lam, G = sp.MatrixSymbol("lam", K, 1), sp.MatrixSymbol("G", K, K)
    return {
        "gram": sp.lambdify((A, Zk), hadamard_product(A * A.T, Zk * Zk.T), "numpy"),
        "primal": sp.lambdify((A, Zk, lam), A.T * sp.DiagMatrix(lam) * Zk, "numpy"),
        "quad": sp.lambdify((lam, G), lam.T * G * lam, "numpy"),
    }


def constraint_vectors(
    X: Any, Z: Any, alpha: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows a_k = x_{i alpha_i} - x_it, z_k = z_i and pairs (i, t) for t != alpha_i."""
    X, Z = as_float(X), as_float(Z)
    alpha = np.asarray(alpha, dtype=np.int64)
    rows_a, rows_z, pairs = [], [], []
    for i in range(X.shape[0]):
        for t in range(X.shape[1]):
            if t != alpha[i]:
                rows_a.append(X[i, alpha[i]] - X[i, t])
                rows_z.append(Z[i])
                pairs.append((i, t))
    return np.array(rows_a), np.array(rows_z), np.array(pairs, dtype=np.int64).reshape(-1, 2)


def constraint_gram(A: Any, Zk: Any) -> np.ndarray:
    """G = (A A^T) o (Zk Zk^T), the Gram matrix of the constraint matrices a_k z_k^T."""
    return np.asarray(_kernels()["gram"](as_float(A), as_float(Zk)))


def primal_from_dual(A: Any, Zk: Any, lam: Any) -> np.ndarray:
    """W = sum_k lam_k a_k z_k^T = A^T diag(lam) Zk, shape (d, d)."""
    return np.asarray(_kernels()["primal"](as_float(A), as_float(Zk), column(lam)))


def dual_objective(lam: Any, G: Any) -> float:
    """D(lam) = sum(lam) - 1/2 lam^T G lam."""
    lam_c = column(lam)
    return float(np.sum(lam_c) - 0.5 * np.asarray(_kernels()["quad"](lam_c, as_float(G))).item())


def kkt_residuals(W: Any, lam: Any, A: Any, Zk: Any) -> dict[str, float]:
    """KKT residuals of (W, lam): all four are 0 exactly at the Att-SVM optimum.

    stationarity = ||W - sum lam_k a_k z_k^T||_F, primal_violation = max(0, max_k 1 - margin_k),
    dual_violation = max(0, -min lam), complementarity = max_k |lam_k (margin_k - 1)|.
    """
    W, lam_v, A, Zk = as_float(W), as_float(lam).ravel(), as_float(A), as_float(Zk)
    margins = np.einsum("kd,de,ke->k", A, W, Zk)
    return {
        "stationarity": float(np.linalg.norm(W - primal_from_dual(A, Zk, lam_v))),
        "primal_violation": float(max(0.0, np.max(1.0 - margins))),
        "dual_violation": float(max(0.0, -np.min(lam_v))),
        "complementarity": float(np.max(np.abs(lam_v * (margins - 1.0)))),
    }


def active_set_svm(
    A: Any, Zk: Any, tol: float = 1e-9
) -> tuple[np.ndarray, np.ndarray] | None:
    """Att-SVM by enumerating active sets (float64 version of the exact procedure).

    Returns (W^mm, lam) for the first subset S (by size) with well-conditioned G_SS,
    lam_S = G_SS^{-1} 1 >= -tol and every margin >= 1 - tol; None when no subset qualifies (the
    problem is then infeasible, up to tol). Exponential in K: meant for K <= 14.
    """
    A, Zk = as_float(A), as_float(Zk)
    K = A.shape[0]
    if K > 14:
        raise ValueError(f"active_set_svm enumerates 2^K subsets; K = {K} > 14")
    G = constraint_gram(A, Zk)
    for size in range(1, K + 1):
        for S in combinations(range(K), size):
            idx = list(S)
            GS = G[np.ix_(idx, idx)]
            if np.linalg.cond(GS) > 1e12:
                continue
            lamS = np.linalg.solve(GS, np.ones(size))
            if np.min(lamS) < -tol:
                continue
            lam = np.zeros(K)
            lam[idx] = np.maximum(lamS, 0.0)
            W = primal_from_dual(A, Zk, lam)
            margins = np.einsum("kd,de,ke->k", A, W, Zk)
            if np.min(margins) >= 1.0 - tol:
                return W, lam
    return None


DERIVATION = Derivation(
    name="att-svm-dual",
    title="Att-SVM: Lagrangian, KKT conditions and the dual with kernel (a.b)(z.w)",
    source="arXiv 2308.16898 Sec. 2 (Att-SVM); Lagrangian duality (attnsvm derivation)",
    summary=(
        "Constraint k of Att-SVM is <a_k z_k^T, W> >= 1. Minimising the Lagrangian over W gives "
        "W = sum lam_k a_k z_k^T; substituting gives the dual sum lam - 1/2 lam^T G lam with "
        "G_kl = (a_k.a_l)(z_k.z_l). The gap identity 1/2||W||^2 - D(lam) = 1/2||W - sum lam A||^2 "
        "+ sum lam_k(<A_k,W>-1) proves weak duality and that KKT points are optimal; at the "
        "optimum ||W^mm||^2 = sum lam."
    ),
    build_statement=_statement,
    checks=(
        ("kernel <a z^T, b w^T> = (a.b)(z.w)", check_kernel),
        ("Gram = (AA^T) o (ZZ^T)", check_gram),
        ("stationarity", check_stationarity),
        ("dual function", check_dual_function),
        ("duality-gap identity", check_gap_identity),
        ("worked rational instances", check_worked_instances),
    ),
    predicates={
        "constraint_vectors": constraint_vectors,
        "constraint_gram": constraint_gram,
        "primal_from_dual": primal_from_dual,
        "dual_objective": dual_objective,
        "kkt_residuals": kkt_residuals,
        "active_set_svm": active_set_svm,
    },
)
