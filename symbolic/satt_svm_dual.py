"""Derivation ``satt-svm-dual``: SAtt-SVM (causal / full self-attention) as Att-SVM with the
queries stacked, its dual and KKT system, and the causal admissible set.

SAtt-SVM_alpha (TF-SVM, arXiv 2308.16898, appendix, the sequence-to-sequence extension): every
position k of sequence i is a query z_q = x_ik (q = i T + k) and

    min_W 1/2 ||W||_F^2  s.t.  (x_{i alpha_ik} - x_it)^T W x_ik >= 1
                               for t in adm(k) = {t <= k} (causal) or [T] (full), t != alpha_ik.

Row r = (i, k, t) is <a_r z_r^T, W> with a_r = x_{i alpha_ik} - x_it and z_r = x_ik, so the
derivation of ``att-svm-dual`` applies verbatim to the stacked rows: W = sum_r lam_r a_r z_r^T,
dual sum lam - 1/2 lam^T G lam with G = (A A^T) o (Z Z^T), Z the stacked queries; here the
queries are tokens, so G_rs = (a_r . a_s)(x_{i k} . x_{j l}) is a polynomial in the tokens
alone. Under the causal mask position k has k admissible rivals: n T (T-1)/2 rows in all and
none for position 0 (alpha_i0 = 0 is forced: a degenerate query). The full mask gives the
n T (T-1) rows of cross-attention Att-SVM on the stacked problem (inputs X_i repeated T times,
queries x_ik).

Predicates (numpy float64):

    sequence_constraint_vectors(X, alpha, mask) -> (A (K,d), Zk (K,d), rows (K,3))  (i, k, t)
    constraint_gram, primal_from_dual, dual_objective, kkt_residuals, active_set_svm
        those of ``att-svm-dual`` applied to the stacked rows
"""

from __future__ import annotations

from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.att_svm_dual import (
    active_set_svm,
    constraint_gram,
    dual_objective,
    exact_kkt_report,
    kkt_residuals,
    primal_from_dual,
)
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
from attnsvm.symbolic.numerics import as_float

MASKS = ("causal", "full")


def admissible_rivals(T: int, k: int, mask: str) -> list[int]:
    """The tokens position k may attend to: t <= k (causal) or every t (full)."""
    if mask not in MASKS:
        raise ValueError(f"unknown mask {mask!r}; choose from {MASKS}")
    return list(range(k + 1)) if mask == "causal" else list(range(T))


def _rows(T: int, alpha: Any, n: int, mask: str) -> list[tuple[int, int, int]]:
    return [(i, k, t) for i in range(n) for k in range(T)
            for t in admissible_rivals(T, k, mask) if t != int(alpha[i][k])]


def sequence_constraint_vectors(
    X: Any, alpha: Any, mask: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows a = x_{i alpha_ik} - x_it, z = x_ik and their (i, k, t), in the order i, k, t."""
    X = as_float(X)
    alpha = np.asarray(alpha, dtype=np.int64)
    n, T, d = X.shape
    rows = _rows(T, alpha, n, mask)
    A = np.array([X[i, alpha[i, k]] - X[i, t] for i, k, t in rows]).reshape(-1, d)
    Zk = np.array([X[i, k] for i, k, _ in rows]).reshape(-1, d)
    return A, Zk, np.array(rows, dtype=np.int64).reshape(-1, 3)


def _symbolic_sequence(n: int, T: int, d: int) -> list[list[sp.Matrix]]:
    return [[symbol_vector(f"x{i}{k}_", d) for k in range(T)] for i in range(n)]


def _exact_rows(tokens: list[list[sp.Matrix]], alpha: list[list[int]], mask: str
                ) -> tuple[sp.Matrix, sp.Matrix, list[tuple[int, int, int]]]:
    n, T = len(tokens), len(tokens[0])
    rows = _rows(T, alpha, n, mask)
    A = sp.Matrix([list((tokens[i][alpha[i][k]] - tokens[i][t]).T) for i, k, t in rows])
    Zk = sp.Matrix([list(tokens[i][k].T) for i, k, _ in rows])
    return A, Zk, rows


# --------------------------------------------------------------------------- checks


def check_stacked_gram(T: int = 3, d: int = 2) -> tuple[bool, str]:
    """<a_r z_r^T, a_s z_s^T> = ((A A^T) o (Z Z^T))_rs with the stacked queries z_r = x_ik."""
    X = _symbolic_sequence(1, T, d)
    alpha = [[0] + [1] * (T - 1)]
    A, Zk, rows = _exact_rows(X, alpha, "causal")
    mats = [A[r, :].T * Zk[r, :] for r in range(len(rows))]
    G = sp.Matrix(len(rows), len(rows), lambda r, s: frob_inner(mats[r], mats[s]))
    return zero_check(G - sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T),
                      f"T={T}, d={d}, causal: Gram of the stacked rows - (AA^T)o(ZZ^T)")


def check_causal_rows(n: int = 2, T: int = 4) -> tuple[bool, str]:
    """The causal admissible set gives n T (T-1)/2 rows, none at position 0; the full mask
    n T (T-1) (for every selection)."""
    out = []
    for alpha in ([[0] * T] * n, [[min(k, 1) for k in range(T)]] * n):
        causal = _rows(T, alpha, n, "causal")
        full = _rows(T, alpha, n, "full")
        out.append((len(causal) == n * T * (T - 1) // 2 and all(k > 0 for _, k, _ in causal)
                    and len(full) == n * T * (T - 1),
                    f"alpha={alpha[0]}: {len(causal)} causal rows (none at k=0), "
                    f"{len(full)} full rows"))
    return all_checks(out)


def check_full_is_stacked(T: int = 3, d: int = 2) -> tuple[bool, str]:
    """Full-mask rows = cross-attention Att-SVM rows of the stacked problem (input q = (i, k):
    tokens X_i, query x_ik, selection alpha_ik), row for row."""
    X = _symbolic_sequence(1, T, d)
    alpha = [[k % T for k in range(T)]]
    A, Zk, rows = _exact_rows(X, alpha, "full")
    cross_a, cross_z = [], []
    for k in range(T):  # stacked input q = k: Att-SVM rows t != alpha_q over all T tokens
        for t in range(T):
            if t != alpha[0][k]:
                cross_a.append(list((X[0][alpha[0][k]] - X[0][t]).T))
                cross_z.append(list(X[0][k].T))
    return zero_check((A - sp.Matrix(cross_a)).col_join(Zk - sp.Matrix(cross_z)),
                      f"T={T}, d={d}: full-mask rows - stacked Att-SVM rows")


def check_dual_stacked(T: int = 3, d: int = 2) -> tuple[bool, str]:
    """On the stacked causal rows of a symbolic sequence: argmin_W of the Lagrangian is
    sum lam_r a_r z_r^T and the dual function is sum lam - 1/2 lam^T G lam."""
    X = _symbolic_sequence(1, T, d)
    A, Zk, rows = _exact_rows(X, [[0] * T], "causal")
    K = len(rows)
    lam = symbol_vector("lam", K)
    W = symbol_matrix("w", d, d)
    mats = [A[r, :].T * Zk[r, :] for r in range(K)]
    lagr = frob_sq(W) / 2 - sum(lam[r] * (frob_inner(mats[r], W) - 1) for r in range(K))
    rep = sum((lam[r] * mats[r] for r in range(K)), sp.zeros(d, d))
    sol = sp.solve([sp.diff(lagr, w) for w in W], list(W), dict=True)
    if len(sol) != 1:
        return False, f"stationarity system has {len(sol)} solutions"
    G = sp.matrix_multiply_elementwise(A * A.T, Zk * Zk.T)
    dual = sum(lam) - (lam.T * G * lam)[0, 0] / 2
    at_min = lagr.subs(dict(zip(list(W), list(rep), strict=True)))
    return all_checks([
        zero_check(W.subs(sol[0]) - rep, f"T={T}, d={d}: argmin_W L - sum lam a z^T"),
        zero_check(at_min - dual, f"T={T}, d={d}: L(W(lam), lam) - D(lam)"),
    ])


#: Worked rational causal sequences: (tokens X (n, T, d), selection alpha (n, T)).
WORKED_SEQUENCES: dict[str, tuple[list, list]] = {
    "n=1,T=3,d=2 causal": ([[[1, 0], [0, 1], [1, 1]]], [[0, 0, 2]]),
    "n=1,T=3,d=3 causal": ([[[1, 0, 0], [0, 2, 0], [1, 0, 1]]], [[0, 1, 1]]),
}


def check_worked_sequences() -> tuple[bool, str]:
    """Exact KKT point of the causal program on rational sequences: feasibility, lam >= 0,
    complementary slackness, zero duality gap, ||W||^2 = sum lam."""
    out = []
    for label, (X, alpha) in WORKED_SEQUENCES.items():
        tokens = [[sp.Matrix([sp.Rational(c) for c in x]) for x in seq] for seq in X]
        A, Zk, rows = _exact_rows(tokens, alpha, "causal")
        ok, detail = exact_kkt_report(A, Zk)
        out.append((ok, f"{label}: rows {rows}, {detail}"))
    return all_checks(out)


# --------------------------------------------------------------------------- statement


def _statement() -> list[tuple[str, sp.Basic]]:
    r, s, K = sp.symbols("r s K", integer=True, positive=True)
    lam, a, z = sp.IndexedBase("lambda"), sp.IndexedBase("a"), sp.IndexedBase("z")
    W = sp.Symbol("W")
    margin = Tex(r"a_r^\top W z_r", "a_r^T W z_r")
    Ar = Tex(r"a_r z_r^\top", "a_r z_r^T")
    D = Tex(r"D(\lambda)", "D(lam)")
    return [
        ("primal: minimise 1/2 ||W||_F^2 over rows r=(i,k,t), t admissible for k, t != alpha_ik",
         sp.Ge(margin, 1)),
        ("row vectors", eq(a[r], Tex(r"x_{i\alpha_{ik}} - x_{it}", "x_{i alpha_ik} - x_it"))),
        ("stacked query", eq(z[r], Tex(r"x_{ik}", "x_ik"))),
        ("causal admissible set", eq(Tex(r"\mathrm{adm}(k)", "adm(k)"),
                                     Tex(r"\{0, \dots, k\}", "{0, ..., k}"))),
        ("rows (causal)", eq(K, Tex(r"n T (T-1)/2", "n T (T-1)/2"))),
        ("stationarity", eq(W, sp.Sum(lam[r] * Ar, (r, 1, K)))),
        ("dual: maximise over lambda >= 0",
         eq(D, sp.Sum(lam[r], (r, 1, K))
            - sp.Sum(lam[r] * lam[s] * Inner(a[r], a[s]) * Inner(z[r], z[s]),
                     (r, 1, K), (s, 1, K)) / 2)),
        ("optimal value", eq(FrobNorm(Tex("W^{mm}", "W^mm")) ** 2, sp.Sum(lam[r], (r, 1, K)))),
    ]


DERIVATION = Derivation(
    name="satt-svm-dual",
    title="SAtt-SVM (causal / full self-attention): the Att-SVM dual with stacked queries",
    source="arXiv 2308.16898 appendix (sequence-to-sequence extension); Lagrangian duality "
           "(attnsvm derivation)",
    summary=(
        "Every position k is a query z = x_ik; row (i, k, t), t admissible (t <= k causal) and "
        "t != alpha_ik, is <a z^T, W> >= 1 with a = x_{i alpha_ik} - x_it. With the n T queries "
        "stacked the Att-SVM Lagrangian, dual and Gram (AA^T) o (ZZ^T) carry over; the causal "
        "mask leaves n T (T-1)/2 rows and none for position 0; the full mask is Att-SVM of the "
        "stacked cross-attention problem."
    ),
    build_statement=_statement,
    checks=(
        ("Gram of the stacked rows = (AA^T) o (ZZ^T)", check_stacked_gram),
        ("causal admissible set: row count, no row at position 0", check_causal_rows),
        ("full mask = stacked Att-SVM", check_full_is_stacked),
        ("stationarity and dual function on stacked rows", check_dual_stacked),
        ("worked rational causal sequences", check_worked_sequences),
    ),
    predicates={
        "sequence_constraint_vectors": sequence_constraint_vectors,
        "constraint_gram": constraint_gram,
        "primal_from_dual": primal_from_dual,
        "dual_objective": dual_objective,
        "kkt_residuals": kkt_residuals,
        "active_set_svm": active_set_svm,
    },
)
