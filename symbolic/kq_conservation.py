"""Derivation ``kq-conservation``: gradient flow on (K, Q) conserves D = K^T K - Q^T Q.

The balancedness invariant of two-layer factorizations (Du, Hu, Lee 2018, arXiv 1806.00900,
"layers are automatically balanced"; the number of their statement not confirmed), used by the
gradient-flow analysis of (K, Q) attention (Sheen, Chen, Wang, Zhou, arXiv 2403.08699) and by
the nuclear-norm bias of TF-SVM (arXiv 2308.16898). Proof derived in this module:

* Chain rule. For any loss L(W) of W = K Q^T with G = dL/dW: dL/dK = G Q, dL/dQ = G^T K.
* Flow. K' = -G Q, Q' = -G^T K give D' = K'^T K + K^T K' - Q'^T Q - Q^T Q'
  = -Q^T G^T K - K^T G Q + K^T G Q + Q^T G^T K = 0, whatever G (so whatever the loss and data).
* GD. One step K+ = K - eta G Q, Q+ = Q - eta G^T K changes D by exactly
  eta^2 (Q^T G^T G Q - K^T G G^T K): O(eta^2) per step, O(eta) over a time horizon N eta.
* Diagonal factors K = diag(k), Q = diag(q) (Sheen et al.'s diagonal case): with g = diag(G),
  (k_j - q_j)' = g_j (k_j - q_j) and (k_j + q_j)' = -g_j (k_j + q_j); from a balanced start
  (q_j = +-k_j) the product w_j = k_j q_j = +-k_j^2 keeps its sign: the flow stays in the
  orthant of its initial sign pattern.

``verify()`` checks each step with symbolic matrices (K, Q 2x1; K 3x2 and Q 2x2; G arbitrary),
the chain rule with a loss family L = <A, W>^3 + <B, W>^2 (A, B symbolic: a polynomial, so
the check is an exact polynomial identity).

Predicates (numpy float64, lambdified from the verified expressions, per shape):

    gd_balance_increment(K, Q, G, eta) -> array   eta^2 (Q^T G^T G Q - K^T G G^T K)
    flow_balance_rate(K, Q, G) -> array           D' under the flow, unsimplified (~ round-off)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    Tex,
    all_checks,
    eq,
    frob_inner,
    symbol_matrix,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float

#: (d, d_z, m) shapes the matrix checks run on: square and rectangular K.
SHAPES = ((2, 2, 1), (3, 2, 2))


def _defect(K: sp.Matrix, Q: sp.Matrix) -> sp.Matrix:
    return K.T * K - Q.T * Q


def _flow_rate(K: sp.Matrix, Q: sp.Matrix, G: sp.Matrix) -> sp.Matrix:
    """D' = Kd^T K + K^T Kd - Qd^T Q - Q^T Qd with Kd = -G Q, Qd = -G^T K (not simplified)."""
    Kd, Qd = -G * Q, -G.T * K
    return Kd.T * K + K.T * Kd - Qd.T * Q - Q.T * Qd


def _step_increment(K: sp.Matrix, Q: sp.Matrix, G: sp.Matrix, eta: sp.Symbol) -> sp.Matrix:
    GQ, GtK = G * Q, G.T * K
    return eta**2 * (GQ.T * GQ - GtK.T * GtK)


def _mats(d: int, dz: int, m: int) -> tuple[sp.Matrix, sp.Matrix, sp.Matrix]:
    return symbol_matrix("k", d, m), symbol_matrix("q", dz, m), symbol_matrix("g", d, dz)


def _diff_matrix(expr: sp.Expr, M: sp.Matrix) -> sp.Matrix:
    """The matrix of partial derivatives of ``expr`` in the entries of ``M``."""
    return sp.Matrix(M.shape[0], M.shape[1], [sp.diff(expr, x) for x in M])


def check_chain_rule() -> tuple[bool, str]:
    """dL/dK = G Q and dL/dQ = G^T K for L = <A, K Q^T>^3 + <B, K Q^T>^2 (K, Q 2x1)."""
    d, dz, m = SHAPES[0]
    K, Q, _ = _mats(d, dz, m)
    A, B, Wsym = (symbol_matrix(p, d, dz) for p in ("a", "b", "w"))
    L_of_W = frob_inner(A, Wsym) ** 3 + frob_inner(B, Wsym) ** 2
    sub = dict(zip(list(Wsym), list(K * Q.T), strict=True))
    G = _diff_matrix(L_of_W, Wsym).subs(sub)
    L = L_of_W.subs(sub)
    return all_checks([
        zero_check(_diff_matrix(L, K) - G * Q, f"dL/dK - G Q (K {d}x{m}, Q {dz}x{m})"),
        zero_check(_diff_matrix(L, Q) - G.T * K, f"dL/dQ - G^T K (K {d}x{m}, Q {dz}x{m})"),
    ])


def check_flow_conserves() -> tuple[bool, str]:
    """D' = 0 identically in K, Q and an arbitrary G."""
    return all_checks(zero_check(_flow_rate(*_mats(d, dz, m)), f"D' (K {d}x{m}, Q {dz}x{m})")
                      for d, dz, m in SHAPES)


def check_gd_increment() -> tuple[bool, str]:
    """D(K - eta G Q, Q - eta G^T K) - D(K, Q) = eta^2 (Q^T G^T G Q - K^T G G^T K)."""
    eta = sp.Symbol("eta", positive=True)
    out = []
    for d, dz, m in SHAPES:
        K, Q, G = _mats(d, dz, m)
        diff = _defect(K - eta * G * Q, Q - eta * G.T * K) - _defect(K, Q)
        out.append(zero_check(diff - _step_increment(K, Q, G, eta),
                              f"one GD step's change of D - eta^2 (...) (K {d}x{m})"))
    return all_checks(out)


def check_diagonal_orthants() -> tuple[bool, str]:
    """Diagonal factors: (k - q)' = g (k - q), (k + q)' = -g (k + q) under k' = -g q, q' = -g k."""
    k, q, g = sp.symbols("k q g", real=True)
    kd, qd = -g * q, -g * k
    return all_checks([
        zero_check((kd - qd) - g * (k - q), "(k - q)' - g (k - q)"),
        zero_check((kd + qd) + g * (k + q), "(k + q)' + g (k + q)"),
        zero_check(2 * k * kd - 2 * q * qd, "(k^2 - q^2)'"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    G = Tex("G", "G")
    eta = sp.Symbol("eta", positive=True)
    D = Tex(r"D", "D")
    return [
        ("the invariant", eq(D, Tex(r"K^\top K - Q^\top Q", "K^T K - Q^T Q"))),
        ("gradient flow", eq(Tex(r"\dot K, \dot Q", "(K', Q')"),
                             Tex(r"(-GQ, -G^\top K)", "(-G Q, -G^T K)"))),
        ("conservation", eq(Tex(r"\dot D", "D'"), 0)),
        ("one GD step", eq(Tex(r"D_{t+1} - D_t", "D_{t+1} - D_t"),
                           eta**2 * Tex(r"(Q^\top G^\top G Q - K^\top G G^\top K)",
                                        "(Q^T G^T G Q - K^T G G^T K)"))),
        ("G", eq(G, Tex(r"\partial L / \partial (K Q^\top)", "dL/d(K Q^T)"))),
    ]


@cache
def _increment_fn(shape: tuple[int, int, int]):
    K, Q, G = _mats(*shape)
    eta = sp.Symbol("eta", positive=True)
    return sp.lambdify((list(K), list(Q), list(G), eta), _step_increment(K, Q, G, eta), "numpy")


@cache
def _rate_fn(shape: tuple[int, int, int]):
    K, Q, G = _mats(*shape)
    return sp.lambdify((list(K), list(Q), list(G)), _flow_rate(K, Q, G), "numpy")


def _shape(K: np.ndarray, Q: np.ndarray, G: np.ndarray) -> tuple[int, int, int]:
    if K.ndim != 2 or Q.ndim != 2 or G.shape != (K.shape[0], Q.shape[0]) or \
            K.shape[1] != Q.shape[1]:
        raise ValueError(f"expected K (d, m), Q (d_z, m), G (d, d_z); got {K.shape}, {Q.shape}, "
                         f"{G.shape}")
    return K.shape[0], Q.shape[0], K.shape[1]


def gd_balance_increment(K: Any, Q: Any, G: Any, eta: float) -> np.ndarray:
    """eta^2 (Q^T G^T G Q - K^T G G^T K): the exact change of D in one GD step."""
    K, Q, G = as_float(K), as_float(Q), as_float(G)
    return np.asarray(_increment_fn(_shape(K, Q, G))(K.ravel(), Q.ravel(), G.ravel(), float(eta)),
                      dtype=np.float64)


def flow_balance_rate(K: Any, Q: Any, G: Any) -> np.ndarray:
    """D' under the flow K' = -G Q, Q' = -G^T K, formed term by term (0 up to round-off)."""
    K, Q, G = as_float(K), as_float(Q), as_float(G)
    return np.asarray(_rate_fn(_shape(K, Q, G))(K.ravel(), Q.ravel(), G.ravel()),
                      dtype=np.float64)


DERIVATION = Derivation(
    name="kq-conservation",
    title="Gradient flow on (K, Q) conserves K^T K - Q^T Q; one GD step changes it by "
    "eta^2 (Q^T G^T G Q - K^T G G^T K)",
    source="Du, Hu, Lee 2018 (arXiv 1806.00900; statement number not confirmed), used for "
    "(K, Q) attention by arXiv 2403.08699 and 2308.16898; attnsvm derivation",
    summary=(
        "With G = dL/dW at W = K Q^T the chain rule gives dL/dK = G Q and dL/dQ = G^T K, so "
        "under the flow d/dt (K^T K - Q^T Q) = -Q^T G^T K - K^T G Q + K^T G Q + Q^T G^T K = 0 "
        "for every loss and data set. A GD step leaves the second-order term "
        "eta^2 (Q^T G^T G Q - K^T G G^T K), hence an O(eta) drift over a fixed time horizon. "
        "For diagonal factors k_j - q_j and k_j + q_j evolve multiplicatively, so a balanced "
        "start keeps the sign of every w_j = k_j q_j."
    ),
    build_statement=_statement,
    checks=(
        ("chain rule dL/dK = G Q, dL/dQ = G^T K", check_chain_rule),
        ("flow conserves K^T K - Q^T Q", check_flow_conserves),
        ("one GD step changes D by eta^2 (...)", check_gd_increment),
        ("diagonal factors keep their orthant", check_diagonal_orthants),
    ),
    predicates={
        "gd_balance_increment": gd_balance_increment,
        "flow_balance_rate": flow_balance_rate,
    },
)
