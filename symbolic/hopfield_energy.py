"""Derivation ``hopfield-energy``: the modern Hopfield update is attention, it decreases the energy
(concave-convex procedure), and one update retrieves a separated pattern up to an exponential
error.

Ramsauer et al., "Hopfield Networks is All You Need" (arXiv 2008.02217), the energy (Eq. 2)
E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + 1/beta log N + 1/2 M^2 and the update (Eq. 3)
xi' = X softmax(beta X^T xi).  The argument, checked on symbolic patterns (N = 3, d = 2):

    grad lse(beta, X^T xi) = X softmax(beta X^T xi) = xi'                       (update = grad)
    E(xi) - E(xi') - 1/2 ||xi - xi'||^2 = lse(xi') - lse(xi) - grad lse(xi)^T (xi' - xi)  (CCCP)
    lse(xi') - lse(xi) = 1/beta log sum_t p_t e^{beta u_t},  grad lse(xi)^T (xi' - xi) = sum p_t u_t
        (p = softmax(beta X^T xi), u_t = x_t^T (xi' - xi))
    sum_t p_t e^{y_t} >= e^{sum_t p_t y_t}   (from e^z >= 1 + z: sum_t p_t (1 + y_t - ybar) = 1)
  so E(xi') <= E(xi) - 1/2 ||xi' - xi||^2: the energy never increases.

    f(xi) - x_i = sum_{j != i} p_j (x_j - x_i),   1 - p_i <= sum_{j != i} e^{beta (a_j - a_i)}
  (a = X^T xi) and (x_j - x_i)^T xi <= -Delta_i + 2 M ||xi - x_i|| give
    ||f(xi) - x_i|| <= 2 M (N - 1) exp(-beta (Delta_i - 2 M ||xi - x_i||)).

Predicates (numpy float64; the scalar formulas lambdified from the verified expressions):

    energy(X, xi, beta) -> float                 E(xi); X (d, N) patterns as columns
    update(X, xi, beta) -> (d,)                  X softmax(beta X^T xi)
    cccp_gap(X, xi, beta) -> float               lse(xi') - lse(xi) - xi'^T (xi' - xi) (>= 0)
    retrieval_bound(X, xi, i, beta) -> float     2 M (N-1) exp(-beta (Delta_i - 2 M ||xi - x_i||))
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    NatExp,
    Norm,
    Softmax,
    Tex,
    all_checks,
    eq,
    nonnegative_check,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, softmax

_N, _D = 3, 2


def _lse(beta: sp.Symbol, X: sp.Matrix, xi: sp.Matrix) -> sp.Expr:
    return sp.log(sum(NatExp(beta * (X[:, t].T * xi)[0, 0]) for t in range(X.shape[1]))) / beta


def check_gradient() -> tuple[bool, str]:
    """d lse / d xi = X softmax(beta X^T xi) (sympy differentiation, exp' = exp)."""
    X, xi = symbol_matrix("x", _D, _N), symbol_vector("xi", _D)
    beta = sp.Symbol("beta", positive=True)
    L = _lse(beta, X, xi)
    grad = sp.Matrix([sp.diff(L, xi[k]) for k in range(_D)])
    e = [NatExp(beta * (X[:, t].T * xi)[0, 0]) for t in range(_N)]
    upd = sum((X[:, t] * e[t] for t in range(_N)), sp.zeros(_D, 1)) / sum(e)
    return zero_check(grad - upd, "grad lse - X softmax(beta X^T xi)")


def check_cccp_identity() -> tuple[bool, str]:
    """E(xi) - E(xi') - 1/2||xi - xi'||^2 = L' - L - xi'^T (xi' - xi) when xi' = grad lse(xi)."""
    xi, xn = symbol_vector("xi", _D), symbol_vector("xn", _D)
    L, Ln, beta, N, M = sp.symbols("L Ln beta N M", positive=True)
    E = lambda lse, s: -lse + (s.T * s)[0, 0] / 2 + sp.log(N) / beta + M**2 / 2  # noqa: E731
    d = xi - xn
    lhs = E(L, xi) - E(Ln, xn) - (d.T * d)[0, 0] / 2
    rhs = Ln - L - (xn.T * (xn - xi))[0, 0]
    return zero_check(lhs - rhs, "E(xi) - E(xi') - 1/2||xi - xi'||^2 - (L' - L - xi'^T(xi'-xi))")


def check_jensen_terms() -> tuple[bool, str]:
    """exp(beta (lse' - lse)) = sum p_t e^{beta u_t}; grad lse^T (xi' - xi) = sum p_t u_t;
    sum p_t (1 + y_t - ybar) = 1."""
    Es = sp.symbols(f"E0:{_N}", positive=True)  # e^{beta a_t}
    Fs = sp.symbols(f"F0:{_N}", positive=True)  # e^{beta a'_t}
    S = sum(Es)
    p = [e / S for e in Es]
    ratio = sum(Fs) / S - sum(p[t] * (Fs[t] / Es[t]) for t in range(_N))
    X, xi, xn = symbol_matrix("x", _D, _N), symbol_vector("xi", _D), symbol_vector("xn", _D)
    grad = sum((X[:, t] * p[t] for t in range(_N)), sp.zeros(_D, 1))
    u = [(X[:, t].T * (xn - xi))[0, 0] for t in range(_N)]
    lin = (grad.T * (xn - xi))[0, 0] - sum(p[t] * u[t] for t in range(_N))
    ys = sp.symbols(f"y0:{_N}", real=True)
    ybar = sum(p[t] * ys[t] for t in range(_N))
    tangent = sum(p[t] * (1 + ys[t] - ybar) for t in range(_N)) - 1
    return all_checks([
        zero_check(ratio, "sum F / sum E - sum p_t (F_t / E_t)"),
        zero_check(lin, "grad lse^T (xi' - xi) - sum p_t u_t"),
        zero_check(tangent, "sum p_t (1 + y_t - ybar) - 1"),
    ])


def check_tangent_line() -> tuple[bool, str]:
    """g(z) = e^z - 1 - z >= 0: g(0) = 0, g'(z) = 0 only at z = 0, g'' = e^z > 0 (convex)."""
    z = sp.Symbol("z", real=True)
    g = sp.exp(z) - 1 - z
    crit = sp.solve(sp.diff(g, z), z)
    ok = g.subs(z, 0) == 0 and crit == [0] and bool(sp.diff(g, z, 2).is_positive)
    return ok, ("e^z - 1 - z: value 0 at its only critical point z = 0, second derivative e^z > 0"
                if ok else "tangent-line inequality: could not certify")


def check_retrieval() -> tuple[bool, str]:
    """f(xi) - x_0 = sum_{j != 0} p_j (x_j - x_0) and 1 - p_0 <= sum_{j != 0} E_j / E_0."""
    X = symbol_matrix("x", _D, _N)
    Es = sp.symbols(f"E0:{_N}", positive=True)
    S = sum(Es)
    f = sum((X[:, t] * Es[t] for t in range(_N)), sp.zeros(_D, 1)) / S
    resid = f - X[:, 0] - sum(((X[:, j] - X[:, 0]) * Es[j] / S for j in range(1, _N)),
                               sp.zeros(_D, 1))
    slack = sum(Es[j] for j in range(1, _N)) / Es[0] - (1 - Es[0] / S)
    return all_checks([
        zero_check(resid, "f(xi) - x_0 - sum_{j != 0} p_j (x_j - x_0)"),
        nonnegative_check(slack, Es, "sum_{j != 0} E_j / E_0 - (1 - p_0) (E_t > 0)"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    beta = sp.Symbol("beta")
    xi, xin = Tex(r"\xi", "xi"), Tex(r"\xi'", "xi'")
    E = sp.Function("E")
    return [
        ("update (Eq. 3) = attention", eq(xin, Tex("X", "X") * Softmax(
            beta * Tex(r"X^\top \xi", "X^T xi")))),
        ("energy (Eq. 2)", eq(E(xi), -Tex(r"\operatorname{lse}(\beta, X^\top\xi)",
                                          "lse(beta, X^T xi)") + Norm(xi) ** 2 / 2
                              + Tex(r"\beta^{-1}\log N + \tfrac12 M^2",
                                    "1/beta log N + 1/2 M^2"))),
        ("CCCP descent", sp.LessThan(E(xin), E(xi) - Norm(xin - xi) ** 2 / 2,
                                     evaluate=False)),
        ("one-update retrieval", sp.LessThan(
            Norm(Tex(r"f(\xi) - x_i", "f(xi) - x_i")),
            Tex(r"2M(N-1)\,e^{-\beta(\Delta_i - 2M\|\xi - x_i\|)}",
                "2 M (N-1) exp(-beta (Delta_i - 2 M ||xi - x_i||))"), evaluate=False)),
    ]


@cache
def _kernels():
    L, Ln, beta, N, M, s2, n2, ns = sp.symbols("L Ln beta N M s2 n2 ns", real=True)
    D, r = sp.symbols("Delta r", real=True)
    return {
        "energy": sp.lambdify((L, s2, beta, N, M), -L + s2 / 2 + sp.log(N) / beta + M**2 / 2,
                              "numpy"),
        "cccp": sp.lambdify((Ln, L, n2, ns), Ln - L - (n2 - ns), "numpy"),
        "bound": sp.lambdify((M, N, beta, D, r), 2 * M * (N - 1) * sp.exp(-beta * (D - 2 * M * r)),
                             "numpy"),
    }


def _lse_num(beta: float, a: np.ndarray) -> float:
    m = float(np.max(a))
    return m + float(np.log(np.sum(np.exp(beta * (a - m))))) / beta


def update(X: Any, xi: Any, beta: float) -> np.ndarray:
    """X softmax(beta X^T xi)."""
    X, v = as_float(X), as_float(xi).ravel()
    return X @ softmax(float(beta) * (X.T @ v))


def energy(X: Any, xi: Any, beta: float) -> float:
    """E(xi) of Eq. 2."""
    X, v, b = as_float(X), as_float(xi).ravel(), float(beta)
    M = float(np.max(np.linalg.norm(X, axis=0)))
    return float(_kernels()["energy"](_lse_num(b, X.T @ v), float(v @ v), b, X.shape[1], M))


def cccp_gap(X: Any, xi: Any, beta: float) -> float:
    """lse(xi') - lse(xi) - xi'^T (xi' - xi) = E(xi) - E(xi') - 1/2||xi' - xi||^2 (>= 0)."""
    X, v, b = as_float(X), as_float(xi).ravel(), float(beta)
    n = update(X, v, b)
    return float(_kernels()["cccp"](_lse_num(b, X.T @ n), _lse_num(b, X.T @ v), float(n @ n),
                                    float(n @ v)))


def retrieval_bound(X: Any, xi: Any, i: int, beta: float) -> float:
    """2 M (N - 1) exp(-beta (Delta_i - 2 M ||xi - x_i||))."""
    X, v = as_float(X), as_float(xi).ravel()
    g = X.T @ X[:, i]
    delta = float(g[i] - np.max(np.delete(g, i)))
    M = float(np.max(np.linalg.norm(X, axis=0)))
    r = float(np.linalg.norm(v - X[:, i]))
    return float(_kernels()["bound"](M, X.shape[1], float(beta), delta, r))


DERIVATION = Derivation(
    name="hopfield-energy",
    title="Modern Hopfield update = attention; CCCP energy descent; one-update retrieval bound",
    source="arXiv 2008.02217 Eqs. 2-3 (energy, update), the convergence theorem via the "
    "concave-convex procedure, and the one-update retrieval-error theorem (numbering not "
    "confirmed against the paper's text)",
    summary=(
        "The update is the gradient of lse, i.e. softmax attention with keys = values = the "
        "patterns. The energy is convex (1/2||xi||^2) plus concave (-lse); the update minimises "
        "the convex part plus the linearised concave part, and the convexity of lse (Jensen, from "
        "e^z >= 1 + z) gives E(xi') <= E(xi) - 1/2||xi' - xi||^2. Writing f(xi) - x_i as a "
        "p-weighted sum of x_j - x_i bounds the retrieval error by 2M (1 - p_i), and 1 - p_i is "
        "exponentially small in beta times the separation."
    ),
    build_statement=_statement,
    checks=(
        ("grad lse = X softmax (N=3, d=2)", check_gradient),
        ("CCCP identity", check_cccp_identity),
        ("Jensen terms", check_jensen_terms),
        ("e^z >= 1 + z", check_tangent_line),
        ("retrieval decomposition and 1 - p_i bound", check_retrieval),
    ),
    predicates={
        "energy": energy,
        "update": update,
        "cccp_gap": cccp_gap,
        "retrieval_bound": retrieval_bound,
    },
)
