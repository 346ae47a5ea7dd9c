"""Derivation ``descent-condition``: <-grad L(W), W^mm> and when it is positive for every W.

With the closed-form gradient (``gradient``), s_i = softmax(X_i W z_i), token scores
gamma_it = Y_i v^T x_it and h_it = x_it^T M z_i for a direction M (derived in this module):

    <grad L(W), M> = (1/n) sum_i l'(Y_i f_i) Cov_{s_i}(gamma_i, h_i),
    Cov_s(gamma, h) = sum_t s_t gamma_t h_t - (sum_t s_t gamma_t)(sum_t s_t h_t)
                    = 1/2 sum_{t,tau} s_t s_tau (gamma_t - gamma_tau)(h_t - h_tau)   (sum s = 1).

Score condition of TF-SVM's global GD convergence result (arXiv 2308.16898; theorem and
assumption numbers not confirmed): in every input all non-optimal tokens have equal score,
gamma_it = gamma_i,opt - delta_i (delta_i > 0) for t != opt_i. Then only pairs (opt, t) survive:

    Cov_{s_i} = delta_i s_i,opt sum_{t != opt} s_it (h_i,opt - h_it)
              >= delta_i s_i,opt (1 - s_i,opt)

for any M with margins h_i,opt - h_it >= 1 (W^mm in particular). With l' < 0 (Assumption A):

    <-grad L(W), W^mm> >= -(1/n) sum_i l'(Y_i f_i) delta_i s_i,opt (1 - s_i,opt) > 0 for every W,

so -grad L(W) is never orthogonal to, or pointing away from, W^mm. Without the condition this
fails: ``verify()`` exhibits an exact instance (n = 1, T = 3, d = 2, W^mm certified by KKT) and a W
with <-grad L(W), W^mm> < 0.

Predicates (numpy float64; the covariance is lambdified from the verified expression):

    descent_inner_product(X, Y, v, Z, W, M, loss="logistic") -> float   <-grad L(W), M>
    descent_lower_bound(X, Y, v, Z, W, loss="logistic") -> float
        -(1/n) sum_i l'(Y_i f_i) delta_i s_i,opt (1 - s_i,opt); valid (<= the inner product for
        every M with opt-margins >= 1) when equal_nonoptimal_scores holds
    equal_nonoptimal_scores(X, Y, v, rtol=1e-9) -> bool      the score condition (unique opt too)
    weighted_covariance(s, gamma, h) -> float                Cov_s(gamma, h)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.hadamard import hadamard_product

from attnsvm.symbolic.att_svm_dual import exact_active_set_svm, exact_constraint_vectors
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
from attnsvm.symbolic.gradients import attention_gradient_term, loss_derivative
from attnsvm.symbolic.numerics import as_float, column, softmax


def covariance_template(s: Any, gamma: Any, h: Any) -> Any:
    """s^T (gamma o h) - (s^T gamma)(s^T h) (works on explicit matrices and MatrixSymbols)."""
    return s.T * hadamard_product(gamma, h) - (s.T * gamma) * (s.T * h)


def check_inner_is_covariance(T: int = 3, d: int = 2) -> tuple[bool, str]:
    """<g(X,v,s) z^T, M> = Cov_s(X v, X M z) for symbolic X, v, z, s, M."""
    X, v, z, s = symbol_matrix("x", T, d), symbol_vector("v", d), symbol_vector("z", d), \
        symbol_vector("s", T)
    M = symbol_matrix("m", d, d)
    lhs = frob_inner(attention_gradient_term(X, v, z, s), M)
    rhs = covariance_template(s, X * v, X * M * z).doit()[0, 0]
    return zero_check(lhs - rhs, f"T={T}, d={d}: <g z^T, M> - Cov_s(Xv, XMz)")


def _simplex(T: int):
    s = list(sp.symbols(f"s1:{T}", positive=True))
    return s + [1 - sum(s)]


def check_pairwise(T: int = 4) -> tuple[bool, str]:
    """Cov_s(gamma, h) = 1/2 sum s_t s_tau (gamma_t - gamma_tau)(h_t - h_tau) on the simplex."""
    s = _simplex(T)
    g, h = sp.symbols(f"g1:{T + 1}", real=True), sp.symbols(f"h1:{T + 1}", real=True)
    cov = sum(s[t] * g[t] * h[t] for t in range(T)) - sum(
        s[t] * g[t] for t in range(T)) * sum(s[t] * h[t] for t in range(T))
    pair = sum(s[t] * s[u] * (g[t] - g[u]) * (h[t] - h[u]) for t in range(T) for u in range(T)) / 2
    return zero_check(cov - pair, f"T={T}: Cov_s - pairwise form (sum s = 1)")


def check_equal_scores(T: int = 4) -> tuple[bool, str]:
    """Equal non-optimal scores: Cov = delta s_1 sum_{t>1} s_t (h_1 - h_t) >= delta s_1 (1 - s_1).

    The reduction uses sum s = 1 (s_T = 1 - others); the inequality is then certified with
    s_1..s_T as independent positive variables, writing 1 - s_1 as sum_{t>1} s_t.
    """
    s = _simplex(T)
    g1, delta = sp.Symbol("g1", real=True), sp.Symbol("delta", positive=True)
    gamma = [g1] + [g1 - delta] * (T - 1)
    h1 = sp.Symbol("h1", real=True)
    xi = sp.symbols(f"xi2:{T + 1}", nonnegative=True)
    h = [h1] + [h1 - 1 - x for x in xi]  # margins h_1 - h_t = 1 + xi_t >= 1
    cov = sum(s[t] * gamma[t] * h[t] for t in range(T)) - sum(
        s[t] * gamma[t] for t in range(T)) * sum(s[t] * h[t] for t in range(T))
    reduced = delta * s[0] * sum(s[t] * (h[0] - h[t]) for t in range(1, T))
    free = list(sp.symbols(f"p1:{T + 1}", positive=True))  # independent positive weights
    red_free = delta * free[0] * sum(free[t] * (1 + xi[t - 1]) for t in range(1, T))
    lower_free = delta * free[0] * sum(free[1:])  # = delta s_1 (1 - s_1) on the simplex
    return all_checks([
        zero_check(cov - reduced, f"T={T}: Cov under equal non-optimal scores (sum s = 1)"),
        zero_check(reduced.subs({x: 0 for x in xi}) - delta * s[0] * (1 - s[0]),
                   f"T={T}: at unit margins the reduced form is delta s_1 (1 - s_1)"),
        zero_check(red_free.subs(dict(zip(free, s, strict=True))) - reduced,
                   f"T={T}: reduced form in independent weights p_t (p = s on the simplex)"),
        zero_check(lower_free.subs(dict(zip(free, s, strict=True))) - delta * s[0] * (1 - s[0]),
                   f"T={T}: delta p_1 sum_(t>1) p_t = delta s_1 (1 - s_1) on the simplex"),
        nonnegative_check(red_free - lower_free, [delta, *free, *xi],
                          f"T={T}: reduced Cov - delta s_1 sum_(t>1) s_t (margins 1 + xi)"),
        nonnegative_check(lower_free, [delta, *free],
                          f"T={T}: delta s_1 (1 - s_1) > 0 (delta, s_t > 0)", strict=True),
    ])


#: Exact counterexample without the score condition (n = 1, T = 3, d = 2, Y = +1, z = e_1).
COUNTEREXAMPLE = {
    "X": [[0, 0], [1, 0], [3, 1]],
    "v": [-1, sp.Rational(5, 2)],  # scores gamma = (0, -1, -1/2): opt = token 0
    "z": [1, 0],
    "W": [[sp.log(9), 0], [-2 * sp.log(9), 0]],  # logits (0, log 9, log 9): s = (1, 9, 9)/19
}


def check_counterexample() -> tuple[bool, str]:
    """Without equal non-optimal scores, <-grad L(W), W^mm> < 0 for some W (l' < 0)."""
    X = sp.Matrix(COUNTEREXAMPLE["X"])
    v, z = sp.Matrix(COUNTEREXAMPLE["v"]), sp.Matrix(COUNTEREXAMPLE["z"])
    W = sp.Matrix(COUNTEREXAMPLE["W"])
    A, Zk = exact_constraint_vectors([COUNTEREXAMPLE["X"]], [COUNTEREXAMPLE["z"]], [0])
    found = exact_active_set_svm(A, Zk)
    if found is None:
        return False, "counterexample instance is infeasible"
    Wmm = found[0]
    logits = X * W * z
    e = [sp.exp(x) for x in logits]
    s = sp.Matrix([x / sum(e) for x in e])
    gamma = X * v
    cov = sp.simplify(covariance_template(s, gamma, X * Wmm * z).doit()[0, 0])
    # <-grad L, W^mm> = -l'(Y f) * Y * cov with Y = +1 and l' < 0: same sign as cov.
    ok = cov < 0 and max(gamma[1:]) < gamma[0]
    return ok, (f"scores {list(gamma)}, W^mm = {Wmm.tolist()}, s = {list(s)}, "
                f"Cov_s(gamma, X W^mm z) = {cov} < 0, so <-grad L(W), W^mm> = -l' Cov < 0")


def _statement() -> list[tuple[str, sp.Basic]]:
    gW = Tex(r"\nabla L(W)", "grad L(W)")
    Wmm = Tex("W^{mm}", "W^mm")
    cov = Tex(r"\operatorname{Cov}_{s_i}(\gamma_i, h_i)", "Cov_{s_i}(gamma_i, h_i)")
    return [
        ("inner product", eq(Inner(-gW, Wmm),
                             -Tex(r"\frac{1}{n}\sum_i \ell'(Y_i f_i)", "(1/n) sum_i l'(Y_i f_i)")
                             * cov)),
        ("with h_it = x_it^T W^mm z_i and gamma_it = Y_i v^T x_it",
         eq(cov, Tex(r"\tfrac12\sum_{t,\tau} s_{it}s_{i\tau}(\gamma_{it}-\gamma_{i\tau})"
                     r"(h_{it}-h_{i\tau})",
                     "1/2 sum_{t,tau} s_it s_itau (gamma_it - gamma_itau)(h_it - h_itau)"))),
        ("score condition (equal non-optimal scores)",
         eq(Tex(r"\gamma_{it}", "gamma_it"),
            Tex(r"\gamma_{i,\mathrm{opt}_i} - \delta_i,\ t \ne \mathrm{opt}_i,\ \delta_i > 0",
                "gamma_{i,opt_i} - delta_i for t != opt_i, delta_i > 0"))),
        ("then, for every W", sp.Ge(
            Inner(-gW, Wmm),
            -Tex(r"\frac{1}{n}\sum_i \ell'(Y_i f_i)\,\delta_i\, s_{i,\mathrm{opt}_i}"
                 r"(1 - s_{i,\mathrm{opt}_i})",
                 "(1/n) sum_i l'(Y_i f_i) delta_i s_{i,opt_i} (1 - s_{i,opt_i})"))),
        ("which is positive since l' < 0", sp.Gt(Inner(-gW, Wmm), 0)),
    ]


@cache
def _cov_kernel():
    T = sp.Symbol("T", integer=True, positive=True)
    s, g, h = (sp.MatrixSymbol(name, T, 1) for name in ("s", "g", "h"))
    return sp.lambdify((s, g, h), covariance_template(s, g, h), "numpy")


def weighted_covariance(s: Any, gamma: Any, h: Any) -> float:
    """Cov_s(gamma, h) = s^T(gamma o h) - (s^T gamma)(s^T h)."""
    return float(np.asarray(_cov_kernel()(column(s), column(gamma), column(h))).item())


def _inputs(X: Any, Y: Any, v: Any, Z: Any, W: Any, loss: str):
    X, Y, v, Z, W = (as_float(a) for a in (X, Y, v, Z, W))
    for i in range(X.shape[0]):
        s = softmax(X[i] @ (W @ Z[i]))
        gamma = Y[i] * (X[i] @ v)
        lp = float(loss_derivative(Y[i] * float(s @ (X[i] @ v)), loss))
        yield X[i], Z[i], s, gamma, lp


def descent_inner_product(
    X: Any, Y: Any, v: Any, Z: Any, W: Any, M: Any, loss: str = "logistic"
) -> float:
    """<-grad L(W), M> = -(1/n) sum_i l'(Y_i f_i) Cov_{s_i}(gamma_i, X_i M z_i)."""
    M = as_float(M)
    items = list(_inputs(X, Y, v, Z, W, loss))
    total = sum(lp * weighted_covariance(s, gamma, Xi @ M @ zi)
                for Xi, zi, s, gamma, lp in items)
    return -total / len(items)


def descent_lower_bound(X: Any, Y: Any, v: Any, Z: Any, W: Any, loss: str = "logistic") -> float:
    """-(1/n) sum_i l'(Y_i f_i) delta_i s_i,opt (1 - s_i,opt), delta_i = gamma_opt - 2nd score."""
    items = list(_inputs(X, Y, v, Z, W, loss))
    total = 0.0
    for _, _, s, gamma, lp in items:
        order = np.argsort(gamma)
        opt, delta = order[-1], gamma[order[-1]] - gamma[order[-2]]
        total += lp * delta * s[opt] * (1.0 - s[opt])
    return -total / len(items)


def equal_nonoptimal_scores(X: Any, Y: Any, v: Any, rtol: float = 1e-9) -> bool:
    """True iff every input has a unique optimal token and all other scores are equal (to rtol)."""
    X, Y, v = as_float(X), as_float(Y), as_float(v)
    gamma = Y[:, None] * (X @ v)
    for g in gamma:
        order = np.sort(g)
        scale = max(1.0, float(np.max(np.abs(g))))
        if order[-1] - order[-2] <= rtol * scale:
            return False
        if order[-2] - order[0] > rtol * scale:
            return False
    return True


DERIVATION = Derivation(
    name="descent-condition",
    title="<-grad L(W), W^mm> as a softmax covariance; positive for every W under equal "
    "non-optimal scores",
    source="arXiv 2308.16898, global GD convergence under the equal-non-optimal-score condition "
    "(theorem and assumption numbers not confirmed); attnsvm derivation",
    summary=(
        "The gradient pairs with any direction M as -(1/n) sum l'_i Cov_{s_i}(gamma_i, h_i), "
        "h_it = x_it^T M z_i. If all non-optimal scores of an input are equal, only the pairs "
        "(opt, t) contribute, each with the sign of the margin h_opt - h_t >= 1, so the pairing "
        "with W^mm is positive for every W. An exact instance shows it can be negative otherwise."
    ),
    build_statement=_statement,
    checks=(
        ("<grad, M> = covariance", check_inner_is_covariance),
        ("pairwise covariance", check_pairwise),
        ("equal non-optimal scores => positive", check_equal_scores),
        ("counterexample without the condition", check_counterexample),
    ),
    predicates={
        "descent_inner_product": descent_inner_product,
        "descent_lower_bound": descent_lower_bound,
        "equal_nonoptimal_scores": equal_nonoptimal_scores,
        "weighted_covariance": weighted_covariance,
    },
)
