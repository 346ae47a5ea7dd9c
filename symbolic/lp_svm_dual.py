"""Derivation ``lp-svm-dual``: the Hölder dual of the ℓp-AttSVM and its primal recovery.

ℓp-AttSVM (Julistiono, Tarzanagh, Azizan, arXiv 2410.14581, abstract; p = 2 is TF-SVM's
Att-SVM, arXiv 2308.16898 Sec. 2):  min ||vec(W)||_p  s.t.  <A_k, W> >= 1,  A_k = a_k z_kᵀ.
Derived in this module, with q = p / (p − 1) the dual exponent:

* weak duality: for λ >= 0 and feasible W,  1ᵀλ <= Σ λ_k <A_k, W> = <G, W> <= ||G||_q ||W||_p,
  G = Σ λ_k A_k (linearity, then Hölder), so  max {1ᵀλ : ||G||_q <= 1, λ >= 0} <= OPT;
* Hölder's equality case: w_j = sign(g_j) |g_j|^{q−1} has <g, w> = ||g||_q^q = ||g||_q ||w||_p
  (because (q − 1) p = q and 1/p + 1/q = 1), so at a dual optimum with ||G||_q = 1 the primal
  optimum is W* = OPT · sign(G) ∘ |G|^{q−1};
* the one-row program in closed form: for <M, W> >= 1,  W* = sign(M)|M|^{q−1} / ||M||_q^q,
  OPT = 1 / ||M||_q, and λ = 1 / ||M||_q is dual optimal (zero gap), verified with symbolic p;
* Young's inequality |ab| <= |a|^p/p + |b|^q/q (Hölder's engine) at p = q = 2 and p = 3, q = 3/2.

Predicates (numpy float64, lambdified from the verified expressions):

    dual_exponent(p) -> float                   q = p / (p − 1)
    holder_primal(G, p, opt) -> ndarray         opt · sign(G) |G|^{q−1}
    single_row_solution(M, p) -> (W, opt)       the closed form of the one-row program
    holder_lower_bound(lam, G, p) -> float      1ᵀλ / ||G||_q
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    Inner,
    Tex,
    all_checks,
    eq,
    frob_inner,
    nonnegative_check,
    symbol_matrix,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float

_p = sp.Symbol("p", positive=True)
_g = sp.Symbol("g", positive=True)  # a magnitude |g_j|
_opt = sp.Symbol("OPT", positive=True)


def conjugate_exponent(p: sp.Expr) -> sp.Expr:
    """q = p / (p − 1) as an expression in p."""
    return p / (p - 1)


Q_EXPR: sp.Expr = conjugate_exponent(_p)
#: the magnitude of one entry of the recovered primal, opt · |g|^{q−1}
PRIMAL_ENTRY: sp.Expr = _opt * _g ** (Q_EXPR - 1)


def canonical(expr: sp.Expr) -> sp.Expr:
    """Nested powers denested ((x^a)^b = x^{ab}, (xy)^a = x^a y^a: every base here is a positive
    symbol or a sum of powers of positive symbols, so ``force`` is valid), products of powers of
    one base merged, and every exponent brought to one cancelled fraction
    (p(p/(p−1) − 1) -> p/(p−1)), so that equal powers are recognised as equal."""
    expr = sp.sympify(expr)
    for _ in range(3):
        expr = sp.expand_power_base(sp.powdenest(expr, force=True), force=True)
        expr = sp.powsimp(expr, force=True, combine="exp")
        expr = expr.replace(lambda e: e.is_Pow,
                            lambda e: sp.Pow(e.base, sp.cancel(sp.together(e.exp))))
        expr = expr.replace(lambda e: isinstance(e, sp.sign) and e.args[0].is_positive,
                            lambda e: sp.Integer(1))  # sign of a power of a positive symbol
    return expr


def _zero(expr: sp.Expr, what: str) -> tuple[bool, str]:
    return zero_check(canonical(expr), what)


def check_conjugate_exponents() -> tuple[bool, str]:
    """1/p + 1/q = 1, (p − 1)(q − 1) = 1 and (q − 1) p = q for q = p/(p − 1)."""
    q = Q_EXPR
    return all_checks([
        zero_check(sp.cancel(1 / _p + 1 / q - 1), "1/p + 1/q - 1"),
        zero_check(sp.cancel((_p - 1) * (q - 1) - 1), "(p-1)(q-1) - 1"),
        zero_check(sp.cancel((q - 1) * _p - q), "(q-1) p - q"),
    ])


def check_weak_duality_linearity() -> tuple[bool, str]:
    """Σ λ_k <A_k, W> = <Σ λ_k A_k, W> (2x2 W, three rows A_k = a_k z_kᵀ)."""
    W = symbol_matrix("w", 2, 2)
    rows = [symbol_matrix(f"a{k}", 2, 1) * symbol_matrix(f"z{k}", 2, 1).T for k in range(3)]
    lam = sp.symbols("lambda0:3", nonnegative=True)
    G = sum((lam[k] * rows[k] for k in range(3)), sp.zeros(2, 2))
    lhs = sum(lam[k] * frob_inner(rows[k], W) for k in range(3))
    return zero_check(lhs - frob_inner(G, W), "sum_k lam_k <A_k, W> - <G, W>")


def check_holder_equality(size: int = 3) -> tuple[bool, str]:
    """For w_j = |g_j|^{q−1} (signs matching g): <g, w> = ||g||_q^q and ||w||_p^p = ||g||_q^q,
    hence <g, w> = ||g||_q ||w||_p (exponents 1/q + 1/p = 1)."""
    gs = sp.symbols(f"g0:{size}", positive=True)
    q = Q_EXPR
    w = [g ** (q - 1) for g in gs]
    S = sum(g**q for g in gs)
    inner = sum(g * wj for g, wj in zip(gs, w, strict=True))
    wp = sum(wj**_p for wj in w)
    holder = S ** (1 / q) * wp ** (1 / _p)
    return all_checks([
        _zero(inner - S, "<g, w> - ||g||_q^q"),
        _zero(wp - S, "||w||_p^p - ||g||_q^q"),
        _zero(holder - S,
              "||g||_q ||w||_p - ||g||_q^q (so <g, w> = ||g||_q ||w||_p)"),
    ])


def check_single_row(size: int = 2) -> tuple[bool, str]:
    """One row <M, W> >= 1 (M entries positive WLOG by signs): W* = M^{q−1} / S, S = ||M||_q^q,
    has margin 1, ||W*||_p = S^{-1/q} = 1/||M||_q, and λ = 1/||M||_q has ||λ M||_q = 1 and
    value 1/||M||_q (zero duality gap), for symbolic p."""
    ms = sp.symbols(f"m0:{size}", positive=True)
    q = Q_EXPR
    S = sum(m**q for m in ms)
    W = [m ** (q - 1) / S for m in ms]
    margin = sum(m * w for m, w in zip(ms, W, strict=True))
    wp_p = sum(w**_p for w in W)  # ||W*||_p^p
    opt = S ** (-1 / q)
    lam = opt
    dual_norm_q = sum((lam * m) ** q for m in ms)  # ||λ M||_q^q
    return all_checks([
        _zero(margin - 1, "<M, W*> - 1"),
        _zero(wp_p * S ** _p - S,
              "||W*||_p^p S^p - S (so ||W*||_p = S^(1/p - 1) = S^(-1/q))"),
        _zero(dual_norm_q - 1, "||lam M||_q^q - 1"),
        _zero(canonical(sp.cancel(1 / _p - 1 + 1 / q)), "exponent 1/p - 1 + 1/q"),
    ])


def check_young() -> tuple[bool, str]:
    """|ab| <= |a|^p/p + |b|^q/q at p = 2 (a²/2 + b²/2 − ab = (a − b)²/2) and at p = 3, q = 3/2
    with b = c² (a³/3 + 2c³/3 − a c² >= 0 on a, c >= 0, by the factor (a − c)² (a + 2c))."""
    a, b, c = sp.symbols("a b c", nonnegative=True)
    p2 = a**2 / 2 + b**2 / 2 - a * b
    p3 = a**3 / 3 + sp.Rational(2, 3) * c**3 - a * c**2
    return all_checks([
        zero_check(p2 - (a - b) ** 2 / 2, "p = 2: Young gap - (a-b)^2/2"),
        zero_check(p3 - (a - c) ** 2 * (a + 2 * c) / 3, "p = 3: Young gap - (a-c)^2 (a+2c)/3"),
        nonnegative_check((a + 2 * c) / 3, [a, c], "(a + 2c)/3 >= 0 (times a square)"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    W, G = Tex("W", "W"), Tex("G", "G")
    lam1 = Tex(r"\mathbf{1}^\top\lambda", "1^T lam")
    q = sp.Symbol("q", positive=True)
    return [
        ("l_p-AttSVM", eq(Tex(r"\mathrm{OPT}", "OPT"),
                          Tex(r"\min\{\|W\|_p : \langle A_k, W\rangle \ge 1\}",
                              "min{||W||_p : <A_k, W> >= 1}"))),
        ("dual exponent", eq(1 / _p + 1 / q, 1)),
        ("dual (Hölder)", eq(Tex(r"\mathrm{OPT}", "OPT"),
                             Tex(r"\max\{\mathbf{1}^\top\lambda : \|\sum_k \lambda_k A_k\|_q \le 1,"
                                 r"\ \lambda \ge 0\}",
                                 "max{1^T lam : ||sum_k lam_k A_k||_q <= 1, lam >= 0}"))),
        ("weak duality", sp.Le(lam1, Inner(G, W))),
        ("Hölder", sp.Le(Inner(G, W), Tex(r"\|G\|_q", "||G||_q") * Tex(r"\|W\|_p", "||W||_p"))),
        ("primal recovery (||G||_q = 1)", eq(Tex("W^*_{ij}", "W*_ij"),
                                              _opt * Tex(r"\operatorname{sign}(G_{ij})",
                                                         "sign(G_ij)")
                                              * Tex("|G_{ij}|", "|G_ij|") ** (q - 1))),
    ]


@cache
def _fns() -> dict[str, Any]:
    return {"q": sp.lambdify(_p, Q_EXPR, "numpy"),
            "entry": sp.lambdify((_g, _p, _opt), PRIMAL_ENTRY, "numpy")}


def dual_exponent(p: Any) -> float:
    """q = p / (p − 1) (∞ for p = 1, 1 for p = ∞)."""
    p = float(p)
    if p == 1.0:
        return float("inf")
    if np.isinf(p):
        return 1.0
    return float(_fns()["q"](p))


def holder_primal(G: Any, p: Any, opt: Any) -> np.ndarray:
    """opt · sign(G) |G|^{q−1}: the ℓp-AttSVM solution recovered from a dual point with
    ||G||_q = 1 (1 < p < ∞)."""
    G = as_float(G)
    return np.sign(G) * _fns()["entry"](np.abs(G), float(p), float(opt))


def single_row_solution(M: Any, p: Any) -> tuple[np.ndarray, float]:
    """(W*, OPT) of min ||W||_p s.t. <M, W> >= 1: sign(M)|M|^{q−1} / ||M||_q^q and 1/||M||_q."""
    M = as_float(M)
    q = dual_exponent(p)
    S = float(np.sum(np.abs(M) ** q))
    opt = S ** (-1.0 / q)
    return holder_primal(M * opt, p, opt), opt


def holder_lower_bound(lam: Any, G: Any, p: Any) -> float:
    """1ᵀλ / ||G||_q: the weak-duality bound on OPT from any λ >= 0."""
    q = dual_exponent(p)
    return float(np.sum(as_float(lam)) / np.linalg.norm(as_float(G).ravel(), ord=q))


DERIVATION = Derivation(
    name="lp-svm-dual",
    title="ℓp-AttSVM: Hölder dual (exponent q = p/(p−1)), primal recovery and the one-row case",
    source="arXiv 2410.14581 (ℓp-AttSVM, abstract); attnsvm derivation",
    summary=(
        "For lam >= 0 and feasible W, 1^T lam <= <G, W> <= ||G||_q ||W||_p with G = sum lam_k A_k, "
        "so max{1^T lam : ||G||_q <= 1} bounds OPT from below; Hölder's equality case "
        "w = sign(g)|g|^(q-1) ((q-1)p = q, 1/p + 1/q = 1) recovers the primal optimum "
        "OPT sign(G)|G|^(q-1) from a dual optimum, and the one-row program has the closed form "
        "W* = sign(M)|M|^(q-1)/||M||_q^q with zero gap."
    ),
    build_statement=_statement,
    checks=(
        ("conjugate exponents", check_conjugate_exponents),
        ("weak duality (linearity)", check_weak_duality_linearity),
        ("Hölder equality case", check_holder_equality),
        ("one-row closed form, zero gap", check_single_row),
        ("Young's inequality (p = 2, 3)", check_young),
    ),
    predicates={
        "dual_exponent": dual_exponent,
        "holder_primal": holder_primal,
        "single_row_solution": single_row_solution,
        "holder_lower_bound": holder_lower_bound,
    },
)
