"""Derivation ``feasibility``: when Att-SVM_alpha is feasible, and when it provably is not.

Constraint k = (i, t) of Att-SVM_alpha (TF-SVM, arXiv 2308.16898) is <A_k, W> >= 1 with
A_k = a_k z_k^T, a_k = x_{i alpha_i} - x_it. Derived in this module:

* Independence => feasible. If the A_k are linearly independent, G = (<A_k, A_l>) is
  nonsingular and W = sum lam_k A_k with lam = G^{-1} 1 has every margin exactly 1.
* Over-parameterisation (TF-SVM's feasibility result for d >= max(T-1, n), recalled; theorem
  number and wording not confirmed): vec(a z^T) = z (x) a, so the constraint matrix of
  input-major columns factors as [z_i (x) a_it] = (Z (x) I_d) blockdiag(A_1, .., A_n) with
  A_i = [a_i1 .. a_i,T-1]. At d = n = T-1 its determinant is +-det(Z)^d prod_i det(A_i):
  nonzero for queries and token differences in general position, for every alpha. (For larger d
  the same factorisation gives full column rank.)
* Gordan / Farkas: if lam >= 0, lam != 0 and sum lam_k A_k = 0, then for every W,
  0 = <W, sum lam_k A_k> = sum lam_k <A_k, W> >= sum lam_k > 0 is impossible: infeasible.
  Conversely (Gordan's theorem) infeasibility implies such a lam; checked exhaustively in d = 1.
* d = 1: constraints b_k w >= 1 with scalars b_k = (x_{i alpha_i} - x_it) z_i. Feasible iff all
  b_k > 0 (w^mm = 1 / min b_k) or all b_k < 0 (w^mm = -1 / min |b_k|). A zero b_k or two signs
  make it infeasible, with certificate e_k, or (|b_l|, b_k) on a pair b_k > 0 > b_l.

Predicates (numpy float64):

    d1_scalars(X, Z, alpha) -> (K,)         b_k for d = 1 (X (n,T,1), Z (n,1))
    feasible_d1(X, Z, alpha) -> bool         all b_k > 0 or all b_k < 0
    d1_min_norm(X, Z, alpha) -> float | None  w^mm (None when infeasible)
    d1_certificate(X, Z, alpha) -> (K,) | None   lam >= 0, sum lam = 1, sum lam_k b_k = 0
    certificate_residual(X, Z, alpha, lam) -> float   ||sum lam_k a_k z_k^T||_F / sum lam (any d)
    constraints_independent(X, Z, alpha, rel=1e-9) -> bool   rank [z_k (x) a_k] = K (relative)
    independence_witness(X, Z, alpha) -> (d,d)    W = sum lam_k A_k, lam = G^{-1} 1: margins 1
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.att_svm_dual import (
    constraint_gram,
    constraint_vectors,
    exact_constraint_vectors,
    primal_from_dual,
)
from attnsvm.symbolic.core import (
    Derivation,
    Inner,
    Tex,
    all_checks,
    eq,
    frob_inner,
    nonnegative_check,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float


def check_independence_feasible(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """Margins of W = sum lam_k A_k are G lam (symbolic), so lam = G^{-1} 1 gives margins 1.

    Plus an exact rational instance (n = 1, T = 4, d = 3) where G^{-1} 1 is computed.
    """
    A, Zk = symbol_matrix("a", K, d), symbol_matrix("z", K, d)
    lam = symbol_vector("lam", K)
    mats = [A[k, :].T * Zk[k, :] for k in range(K)]
    G = sp.Matrix(K, K, lambda k, m: frob_inner(mats[k], mats[m]))
    W = sum((lam[k] * mats[k] for k in range(K)), sp.zeros(d, d))
    margins = sp.Matrix([frob_inner(W, mats[m]) for m in range(K)])
    out = [zero_check(margins - G * lam, f"K={K}, d={d}: margins of sum lam A_k minus G lam")]
    X = [[[1, 0, 0], [0, 2, 1], [-1, 1, 3], [2, -1, 1]]]
    A_e, Z_e = exact_constraint_vectors(X, [[1, 2, -1]], [0])
    G_e = sp.matrix_multiply_elementwise(A_e * A_e.T, Z_e * Z_e.T)
    lam_e = G_e.LUsolve(sp.ones(3, 1))
    W_e = A_e.T * sp.diag(*lam_e) * Z_e
    m_e = [(A_e[k, :] * W_e * Z_e[k, :].T)[0, 0] for k in range(3)]
    out.append((m_e == [1, 1, 1], f"rational n=1, T=4, d=3: lam = G^-1 1 = {list(lam_e)}, "
                                  f"margins {m_e}"))
    return all_checks(out)


def check_kronecker_factorisation(n: int = 2, T: int = 3, d: int = 2) -> tuple[bool, str]:
    """[z_i (x) a_it] = (Z (x) I) blockdiag(A_i) and, at d = n = T-1, its determinant."""
    zs = [symbol_vector(f"z{i}", d) for i in range(n)]
    As = [symbol_matrix(f"a{i}", d, T - 1) for i in range(n)]
    cols = [sp.kronecker_product(zs[i], As[i][:, t]) for i in range(n) for t in range(T - 1)]
    M = sp.Matrix.hstack(*cols)
    Zm = sp.Matrix.hstack(*zs)
    fact = sp.kronecker_product(Zm, sp.eye(d)) * sp.diag(*As)
    out = [zero_check(M - fact, f"n={n}, T={T}, d={d}: [z (x) a] - (Z (x) I) blockdiag(A_i)")]
    if d == n == T - 1:
        det_M = M.det(method="berkowitz")
        target = Zm.det() ** d * sp.Mul(*[Ai.det() for Ai in As])
        ok_p, _ = zero_check(det_M - target, "")
        ok_m, _ = zero_check(det_M + target, "")
        out.append((ok_p or ok_m, f"det [z (x) a] = {'+' if ok_p else '-'}det(Z)^{d} "
                                  "prod det(A_i): nonzero in general position"))
    # vec convention: vec(a z^T) (column-major) = z (x) a
    a, z = symbol_vector("a", d), symbol_vector("z", d)
    vec = (a * z.T).T.reshape(d * d, 1)  # column-major vec via transpose + row-major reshape
    out.append(zero_check(vec - sp.kronecker_product(z, a), "vec(a z^T) - z (x) a"))
    return all_checks(out)


def check_gordan_direction(K: int = 3, d: int = 2) -> tuple[bool, str]:
    """sum lam_k <A_k, W> = <W, sum lam_k A_k> (so a vanishing combination forbids feasibility)."""
    A, Zk, W = symbol_matrix("a", K, d), symbol_matrix("z", K, d), symbol_matrix("w", d, d)
    lam = symbol_vector("lam", K, nonnegative=True)
    mats = [A[k, :].T * Zk[k, :] for k in range(K)]
    lhs = sum(lam[k] * frob_inner(mats[k], W) for k in range(K))
    rhs = frob_inner(W, sum((lam[k] * mats[k] for k in range(K)), sp.zeros(d, d)))
    return zero_check(lhs - rhs, f"K={K}, d={d}: sum lam <A_k, W> - <W, sum lam A_k>")


def check_d1() -> tuple[bool, str]:
    """d = 1: b_k w >= 1. Same signs: w = 1/min b works and is minimal; mixed signs: certificate."""
    beta = sp.Symbol("beta", positive=True)
    eps = sp.symbols("eps2 eps3", nonnegative=True)
    b = [beta, beta + eps[0], beta + eps[1]]  # all positive, beta = min
    w = 1 / beta
    out = [nonnegative_check(bk * w - 1, [beta, *eps], f"b_{k} w - 1 with w = 1/min b")
           for k, bk in enumerate(b)]
    out.append(zero_check(b[0] * w - 1, "the smallest b is active: |w| >= 1/min b is forced"))
    # all negative: mirror
    bn = [-x for x in b]
    out += [nonnegative_check(bk * (-w) - 1, [beta, *eps], f"negative case: b_{k} (-1/min|b|) - 1")
            for k, bk in enumerate(bn)]
    # mixed signs: b_k = beta_p > 0 > b_l = -beta_m, certificate lam = (beta_m, beta_p) >= 0
    bp, bm = sp.symbols("beta_p beta_m", positive=True)
    out.append(zero_check(bm * bp + bp * (-bm), "mixed signs: |b_l| b_k + b_k b_l = 0"))
    # Gordan's alternative, exhaustively over sign patterns of (b_1, b_2) in {-2, 0, 3}^2:
    # sympy decides {w : b_1 w >= 1, b_2 w >= 1} != {} and {mu in [0,1] : mu b_1 + (1-mu) b_2 = 0}
    w, mu = sp.Symbol("w", real=True), sp.Symbol("mu", real=True)
    table_ok, rows = True, []
    for b1 in (-2, 0, 3):
        for b2 in (-2, 0, 3):
            region = sp.Intersection(sp.solveset(b1 * w >= 1, w, sp.S.Reals),
                                     sp.solveset(b2 * w >= 1, w, sp.S.Reals))
            certs = sp.solveset(mu * b1 + (1 - mu) * b2, mu, sp.Interval(0, 1))
            feasible, has_cert = region != sp.S.EmptySet, certs != sp.S.EmptySet
            table_ok &= feasible != has_cert and feasible == (b1 * b2 > 0)
            rows.append(f"({b1},{b2}):{'F' if feasible else 'C'}")
    out.append((table_ok, "Gordan alternative, K=2, b in {-2,0,3}^2 (F feasible, C certificate): "
                + " ".join(rows)))
    return all_checks(out)


#: Rational d = 1 instances: (X (n,T,1), Z (n,1), alpha, feasible?).
D1_INSTANCES = {
    "conflicting signs": ([[[2], [0]], [[0], [1]]], [[1], [1]], [0, 0], False),
    "same signs": ([[[2], [0]], [[3], [1]]], [[1], [1]], [0, 0], True),
}


def check_d1_instances() -> tuple[bool, str]:
    out = []
    for label, (X, Z, alpha, expected) in D1_INSTANCES.items():
        b = [sp.Rational(X[i][alpha[i]][0] - X[i][t][0]) * Z[i][0]
             for i in range(len(X)) for t in range(len(X[i])) if t != alpha[i]]
        pos, neg = [x for x in b if x > 0], [x for x in b if x < 0]
        feasible = len(pos) == len(b) or len(neg) == len(b)
        if feasible:
            w = 1 / min(pos) if pos else -1 / min(-x for x in neg)
            ok = all(x * w >= 1 for x in b) and feasible == expected
            out.append((ok, f"{label}: b = {b}, w^mm = {w}"))
        else:
            lam = [0] * len(b)
            k, m = b.index(pos[0]), b.index(neg[0])
            lam[k], lam[m] = -neg[0], pos[0]
            ok = sum(lk * bk for lk, bk in zip(lam, b, strict=True)) == 0 and not expected
            out.append((ok, f"{label}: b = {b}, certificate lam = {lam}, sum lam b = 0"))
    return all_checks(out)


def _statement() -> list[tuple[str, sp.Basic]]:
    k, K = sp.symbols("k K", integer=True, positive=True)
    lam = sp.IndexedBase("lambda")
    W = sp.Symbol("W")
    Ak = Tex(r"a_k z_k^\top", "a_k z_k^T")
    return [
        ("feasible point when the A_k are independent (lambda = G^{-1} 1)",
         eq(Inner(sp.Sum(lam[k] * Ak, (k, 1, K)), Tex(r"a_l z_l^\top", "a_l z_l^T")), 1)),
        ("factorisation", eq(Tex(r"[z_i \otimes a_{it}]", "[z_i (x) a_it]"),
                             Tex(r"(Z \otimes I_d)\,\operatorname{blockdiag}(A_1,\dots,A_n)",
                                 "(Z (x) I_d) blockdiag(A_1..A_n)"))),
        ("infeasible if some lambda >= 0, lambda != 0 has",
         eq(sp.Sum(lam[k] * Ak, (k, 1, K)), 0)),
        ("because", eq(sp.Sum(lam[k] * Inner(Ak, W), (k, 1, K)),
                       Inner(W, sp.Sum(lam[k] * Ak, (k, 1, K))))),
        ("d = 1: constraints", sp.Ge(Tex(r"b_k w", "b_k w"), 1)),
        ("d = 1: feasible iff", eq(Tex(r"\operatorname{sign} b_k", "sign b_k"),
                                   Tex(r"\text{constant and nonzero}", "constant, nonzero"))),
        ("d = 1: minimum norm", eq(Tex("|w^{mm}|", "|w^mm|"),
                                   1 / Tex(r"\min_k |b_k|", "min_k |b_k|"))),
    ]


def d1_scalars(X: Any, Z: Any, alpha: Any) -> np.ndarray:
    """b_k = (x_{i alpha_i} - x_it) z_i for d = 1."""
    A, Zk, _ = constraint_vectors(X, Z, alpha)
    if A.shape[1] != 1:
        raise ValueError(f"d1 predicates need d = 1, got d = {A.shape[1]}")
    return A[:, 0] * Zk[:, 0]


def feasible_d1(X: Any, Z: Any, alpha: Any) -> bool:
    """Att-SVM_alpha with d = 1 is feasible iff every b_k > 0 or every b_k < 0."""
    b = d1_scalars(X, Z, alpha)
    return bool(np.all(b > 0) or np.all(b < 0))


def d1_min_norm(X: Any, Z: Any, alpha: Any) -> float | None:
    """w^mm = 1/min b (all positive), -1/min|b| (all negative), None when infeasible."""
    b = d1_scalars(X, Z, alpha)
    if np.all(b > 0):
        return float(1.0 / np.min(b))
    if np.all(b < 0):
        return float(-1.0 / np.min(np.abs(b)))
    return None


def d1_certificate(X: Any, Z: Any, alpha: Any) -> np.ndarray | None:
    """Gordan certificate for d = 1 (lam >= 0, sum 1, sum lam_k b_k = 0), None when feasible."""
    b = d1_scalars(X, Z, alpha)
    lam = np.zeros_like(b)
    zero = np.flatnonzero(b == 0)
    if zero.size:
        lam[zero[0]] = 1.0
        return lam
    pos, neg = np.flatnonzero(b > 0), np.flatnonzero(b < 0)
    if pos.size and neg.size:
        k, m = pos[0], neg[0]
        lam[k], lam[m] = -b[m], b[k]
        return lam / lam.sum()
    return None


def certificate_residual(X: Any, Z: Any, alpha: Any, lam: Any) -> float:
    """||sum lam_k a_k z_k^T||_F / sum lam (0 for a valid Gordan certificate)."""
    A, Zk, _ = constraint_vectors(X, Z, alpha)
    lam = as_float(lam).ravel()
    if np.any(lam < 0) or lam.sum() <= 0:
        raise ValueError("a certificate needs lam >= 0 with a positive sum")
    return float(np.linalg.norm(primal_from_dual(A, Zk, lam)) / lam.sum())


def constraints_independent(X: Any, Z: Any, alpha: Any, rel: float = 1e-9) -> bool:
    """The K = n(T-1) matrices a_k z_k^T are linearly independent (relative rank K)."""
    A, Zk, _ = constraint_vectors(X, Z, alpha)
    M = np.stack([np.kron(z, a) for a, z in zip(A, Zk, strict=True)], axis=1)
    sv = np.linalg.svd(M, compute_uv=False)
    return bool(sv.size == A.shape[0] and sv[0] > 0 and sv[-1] > rel * sv[0])


def independence_witness(X: Any, Z: Any, alpha: Any) -> np.ndarray:
    """W = sum lam_k a_k z_k^T with lam = G^{-1} 1: every margin equals 1 (needs independence)."""
    A, Zk, _ = constraint_vectors(X, Z, alpha)
    lam = np.linalg.solve(constraint_gram(A, Zk), np.ones(A.shape[0]))
    return primal_from_dual(A, Zk, lam)


DERIVATION = Derivation(
    name="feasibility",
    title="Att-SVM feasibility: independent constraints => feasible for every alpha; "
    "Gordan certificates; d = 1 worked out",
    source="arXiv 2308.16898, over-parameterisation => feasibility (d >= max(T-1, n); theorem "
    "number not confirmed); Gordan's alternative; attnsvm derivation",
    summary=(
        "If the constraint matrices a_k z_k^T are independent, lam = G^{-1} 1 yields a point with "
        "all margins 1; [z_i (x) a_it] = (Z (x) I) blockdiag(A_i) makes them independent when "
        "queries and token differences are in general position and d >= max(T-1, n). A "
        "nonnegative combination of constraint matrices that vanishes rules feasibility out. In "
        "d = 1 everything reduces to the signs of b_k = (x_alpha - x_t) z."
    ),
    build_statement=_statement,
    checks=(
        ("independence => margins 1", check_independence_feasible),
        ("Kronecker factorisation / determinant", check_kronecker_factorisation),
        ("vanishing combination => infeasible", check_gordan_direction),
        ("d = 1 characterisation", check_d1),
        ("d = 1 rational instances", check_d1_instances),
    ),
    predicates={
        "d1_scalars": d1_scalars,
        "feasible_d1": feasible_d1,
        "d1_min_norm": d1_min_norm,
        "d1_certificate": d1_certificate,
        "certificate_residual": certificate_residual,
        "constraints_independent": constraints_independent,
        "independence_witness": independence_witness,
    },
)
