"""Derivation ``icl-gd``: a linear self-attention layer with constructed weights makes one
gradient-descent step on the in-context least-squares loss.

von Oswald et al., "Transformers learn in-context by gradient descent" (arXiv 2212.07677),
Sec. 2, the construction of Proposition 1 with W_0 = 0.  Tokens e_i = (x_i, y_i), i = 1..N, the
query e_q = (x_q, 0); one LSA head e_q <- e_q + P W_V sum_i e_i (e_i^T W_K^T W_Q e_q) with

    W_K = W_Q = [[I_d, 0], [0, 0]],  W_V = [[0, 0], [0, -1]],  P = (eta / N) I.

Then (checked on symbolic data, N = 3, d = 2, d_y = 1): the x-part of the query is unchanged and
its y-part is -W_1 x_q with W_1 = 0 - eta grad_W 1/(2N) sum_i (W x_i - y_i)^2 |_{W=0} =
(eta / N) sum_i y_i x_i^T: the layer's prediction (the negated y-part) is one GD step's.  With the
scores passed through a softmax over the context the prediction is (eta/N) sum_i p_i y_i, not
identically W_1 x_q (a limit, also checked).

Predicates (numpy float64; lambdified from the verified matrix expressions):

    lsa_prediction(xs, ys, x_query, eta) -> (1,)   minus the y-part of the updated query token
    gd_prediction(xs, ys, x_query, eta) -> (1,)    W_1 x_q
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    NatExp,
    Tex,
    all_checks,
    eq,
    is_identically_zero,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, column

_N, _D = 3, 2


def constructed_weights(d: int, eta: Any, N: Any) -> tuple[sp.Matrix, ...]:
    """(W_K, W_Q, W_V, P) of Proposition 1 (W_0 = 0, d_y = 1)."""
    D = d + 1
    WK = sp.zeros(D, D)
    WK[:d, :d] = sp.eye(d)
    WV = sp.zeros(D, D)
    WV[d, d] = -1
    return WK, WK.copy(), WV, (eta / N) * sp.eye(D)


def lsa_query(C: Any, e_q: Any, WK: Any, WQ: Any, WV: Any, P: Any) -> Any:
    """e_q + P W_V C^T (C W_K^T W_Q e_q): the query after one LSA head; C (N, D) the context."""
    return e_q + P * WV * C.T * (C * WK.T * WQ * e_q)


def _data():
    X = symbol_matrix("x", _N, _D)
    y = symbol_vector("y", _N)
    xq = symbol_vector("q", _D)
    eta = sp.Symbol("eta", positive=True)
    C = sp.Matrix.hstack(X, y)
    e_q = sp.Matrix.vstack(xq, sp.zeros(1, 1))
    return X, y, xq, eta, C, e_q


def _gd_prediction(X: sp.Matrix, y: sp.Matrix, xq: sp.Matrix, eta: sp.Symbol) -> sp.Expr:
    W = symbol_matrix("w", 1, _D)
    loss = sum(((W * X[i, :].T)[0, 0] - y[i]) ** 2 for i in range(_N)) / (2 * _N)
    grad = sp.Matrix(1, _D, lambda a, b: sp.diff(loss, W[a, b])).subs(
        {w: 0 for w in W})
    return (-eta * grad * xq)[0, 0]


def check_lsa_equals_gd() -> tuple[bool, str]:
    """The query's y-part after the constructed LSA head is -W_1 x_q; its x-part is x_q."""
    X, y, xq, eta, C, e_q = _data()
    out = lsa_query(C, e_q, *constructed_weights(_D, eta, _N))
    return all_checks([
        zero_check(-out[_D, 0] - _gd_prediction(X, y, xq, eta),
                   "-(y-part of LSA(e_q)) - W_1 x_q"),
        zero_check(out[:_D, 0] - xq, "x-part of LSA(e_q) - x_q"),
    ])


def check_gd_closed_form() -> tuple[bool, str]:
    """W_1 = -eta grad L(0) = (eta / N) sum_i y_i x_i^T (the closed form the predicate uses)."""
    X, y, xq, eta, _, _ = _data()
    closed = (eta / _N * y.T * X * xq)[0, 0]
    return zero_check(_gd_prediction(X, y, xq, eta) - closed,
                      "W_1 x_q - (eta/N) sum_i y_i x_i^T x_q")


def check_softmax_differs() -> tuple[bool, str]:
    """With softmax scores the prediction (eta/N) sum_i p_i y_i is not identically W_1 x_q."""
    X, y, xq, eta, C, e_q = _data()
    WK, WQ, WV, P = constructed_weights(_D, eta, _N)
    scores = C * WK.T * WQ * e_q
    e = [NatExp(scores[i, 0]) for i in range(_N)]
    p = sp.Matrix([ei / sum(e) for ei in e])
    out = e_q + P * WV * C.T * p
    differs = not is_identically_zero(-out[_D, 0] - _gd_prediction(X, y, xq, eta))
    return differs, ("softmax-scored prediction - W_1 x_q: NOT identically 0 (the identity is "
                     "specific to linear attention)" if differs else
                     "softmax-scored prediction unexpectedly equals the GD step")


def _statement() -> list[tuple[str, sp.Basic]]:
    eta, N = sp.symbols("eta N")
    return [
        ("LSA head", eq(Tex("e_q'", "e_q'"), Tex("e_q", "e_q") + Tex(
            r"P W_V \sum_i e_i\, e_i^\top W_K^\top W_Q e_q",
            "P W_V sum_i e_i e_i^T W_K^T W_Q e_q"))),
        ("construction (Prop. 1, W_0 = 0)", eq(Tex("(W_K, W_Q, W_V, P)", "(W_K, W_Q, W_V, P)"),
                                               Tex(r"\left(\begin{smallmatrix}I&0\\0&0"
                                                   r"\end{smallmatrix}\right)^{\times 2}, "
                                                   r"\left(\begin{smallmatrix}0&0\\0&-1"
                                                   r"\end{smallmatrix}\right), \tfrac{\eta}{N}I",
                                                   "([[I,0],[0,0]] twice, [[0,0],[0,-1]], "
                                                   "eta/N I)"))),
        ("prediction = one GD step", eq(Tex(r"-[e_q']_y", "-[e_q']_y"), eta / N * Tex(
            r"\sum_i y_i x_i^\top x_q", "sum_i y_i x_i^T x_q"))),
    ]


@cache
def _kernels():
    N, D = sp.symbols("N D", integer=True, positive=True)
    C, e_q = sp.MatrixSymbol("C", N, D), sp.MatrixSymbol("e", D, 1)
    WK, WQ, WV, P = (sp.MatrixSymbol(n, D, D) for n in ("WK", "WQ", "WV", "P"))
    X, y, xq = sp.MatrixSymbol("X", N, D - 1), sp.MatrixSymbol("y", N, 1), sp.MatrixSymbol(
        "q", D - 1, 1)
    eta, n = sp.symbols("eta n")
    return {
        "lsa": sp.lambdify((C, e_q, WK, WQ, WV, P), lsa_query(C, e_q, WK, WQ, WV, P), "numpy"),
        "gd": sp.lambdify((X, y, xq, eta, n), eta / n * y.T * X * xq, "numpy"),
    }


def lsa_prediction(xs: Any, ys: Any, x_query: Any, eta: float) -> np.ndarray:
    """Minus the y-part of the query after the constructed LSA head."""
    X, y, q = as_float(xs), column(ys), as_float(x_query).ravel()
    N, d = X.shape
    weights = [np.array(M, dtype=float) for M in constructed_weights(d, float(eta), N)]
    C = np.hstack([X, y])
    e_q = column(np.concatenate([q, [0.0]]))
    out = np.asarray(_kernels()["lsa"](C, e_q, *weights))
    return -out[d:, 0]


def gd_prediction(xs: Any, ys: Any, x_query: Any, eta: float) -> np.ndarray:
    """W_1 x_q = (eta / N) sum_i y_i x_i^T x_q."""
    X = as_float(xs)
    return np.asarray(_kernels()["gd"](X, column(ys), column(x_query), float(eta),
                                       X.shape[0])).ravel()


DERIVATION = Derivation(
    name="icl-gd",
    title="Linear self-attention with constructed weights = one GD step on in-context least "
    "squares",
    source="arXiv 2212.07677 Sec. 2, Proposition 1 (the construction with W_0 = 0; numbering "
    "not confirmed against the paper's text)",
    summary=(
        "With W_K = W_Q projecting onto the inputs and W_V reading out -y, the head's update of "
        "the query is -(eta/N) sum_i y_i x_i^T x_q: minus the prediction of W_1 = -eta grad L(0) "
        "for the in-context loss L(W) = 1/(2N) sum_i (W x_i - y_i)^2. The identity uses the "
        "bilinearity of the unnormalised scores; a softmax breaks it."
    ),
    build_statement=_statement,
    checks=(
        ("LSA = GD step (N=3, d=2)", check_lsa_equals_gd),
        ("GD step closed form", check_gd_closed_form),
        ("softmax scores break it", check_softmax_differs),
    ),
    predicates={"lsa_prediction": lsa_prediction, "gd_prediction": gd_prediction},
)
