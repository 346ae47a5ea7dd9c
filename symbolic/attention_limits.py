"""Derivation ``attention-limits``: what one softmax-attention layer with a linear head cannot do.

attnsvm derivation (elementary; the bounds are the standard convexity and softmax-dispersion
arguments, stated here for one layer f(X) = v^T X^T softmax(X W z)):

    convex hull   f(X) = sum_t p_t h_t, h_t = v^T x_t, p in the simplex, so
                  min_t h_t <= f(X) <= max_t h_t for every W: with h_t = h_min + delta_t,
                  f - h_min = sum_t E_t delta_t / sum_t E_t >= 0 (E_t = e^{logit_t} > 0);
    dispersion    |u_t| <= B  =>  max_t softmax(u)_t <= e^{2B} / (e^{2B} + T - 1): with
                  K = e^{2B}, e^{B - u_1} = 1 + alpha, e^{u_t + B} = 1 + beta_t (alpha, beta >= 0),
                  bound - s_1 = K (sum_t beta_t + alpha sum_t (1 + beta_t)) / (...) >= 0;
    log T law     the bound reaches 1 - delta exactly at B = 1/2 log((T - 1)(1 - delta)/delta).

``verify()`` certifies these on T = 3 (hull) and T = 4 (dispersion) with sign certificates.

Predicates (numpy float64, lambdified from the verified expressions):

    head_output(X, W, z, v) -> float      sum_t softmax(X W z)_t v^T x_t; X (T, d)
    dispersion_bound(B, T) -> float       e^{2B} / (e^{2B} + T - 1)
    min_logit_bound(T, delta) -> float    1/2 log((T - 1)(1 - delta) / delta)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    Softmax,
    Tex,
    all_checks,
    eq,
    nonnegative_check,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, softmax


def check_convex_hull(T: int = 3) -> tuple[bool, str]:
    """f - h_min >= 0 and h_max - f >= 0 for f = sum_t E_t h_t / sum_t E_t, E_t > 0."""
    Es = sp.symbols(f"E0:{T}", positive=True)
    ds = sp.symbols(f"d0:{T}", nonnegative=True)
    h0 = sp.Symbol("h0", real=True)
    S = sum(Es)
    f_lo = sum(Es[t] * (h0 + ds[t]) for t in range(T)) / S  # h_t = h_min + delta_t
    f_hi = sum(Es[t] * (h0 - ds[t]) for t in range(T)) / S  # h_t = h_max - delta_t
    return all_checks([
        nonnegative_check(sp.simplify(f_lo - h0), [*Es, *ds], "f - min_t h_t"),
        nonnegative_check(sp.simplify(h0 - f_hi), [*Es, *ds], "max_t h_t - f"),
    ])


def check_dispersion(T: int = 4) -> tuple[bool, str]:
    """e^{2B}/(e^{2B} + T - 1) - s_1 >= 0 for |u_t| <= B (substitution of the module docstring)."""
    K = sp.Symbol("K", positive=True)
    alpha = sp.Symbol("alpha", nonnegative=True)
    betas = sp.symbols(f"b1:{T}", nonnegative=True)
    top = K / (1 + alpha)  # e^{u_1 + B}
    others = [1 + b for b in betas]  # e^{u_t + B}
    s1 = top / (top + sum(others))
    bound = K / (K + T - 1)
    return nonnegative_check(sp.together(bound - s1), [K, alpha, *betas],
                             f"T={T}: e^(2B)/(e^(2B)+T-1) - max_t s_t")


def check_log_law() -> tuple[bool, str]:
    """The bound equals 1 - delta at e^{2B} = (T - 1)(1 - delta)/delta; the extremal logits
    (B, -B, ..., -B) attain the bound."""
    T, delta, B = sp.symbols("T delta B", positive=True)
    K = (T - 1) * (1 - delta) / delta
    Kb = sp.Symbol("Kb", positive=True)  # e^{2B}
    extremal = (Kb / sp.sqrt(Kb)) / (Kb / sp.sqrt(Kb) + (T - 1) / sp.sqrt(Kb))
    return all_checks([
        zero_check(K / (K + T - 1) - (1 - delta), "bound at B* - (1 - delta)"),
        zero_check(sp.simplify(extremal - Kb / (Kb + T - 1)), "s_1(B, -B, .., -B) - bound"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    f, h = Tex("f(X)", "f(X)"), Tex("h_t", "h_t")
    B, T, delta = sp.symbols("B T delta")
    return [
        ("one layer", eq(f, Tex(r"v^\top X^\top", "v^T X^T") * Softmax(Tex("X W z", "X W z")))),
        ("convex hull", sp.And(sp.LessThan(Tex(r"\min_t h_t", "min_t h_t"), f, evaluate=False),
                               sp.LessThan(f, Tex(r"\max_t h_t", "max_t h_t"), evaluate=False))),
        ("dispersion (|u_t| <= B)", sp.LessThan(Tex(r"\max_t s_t", "max_t s_t"),
                                               sp.exp(2 * B) / (sp.exp(2 * B) + T - 1),
                                               evaluate=False)),
        ("selection 1 - delta needs", sp.GreaterThan(
            B, sp.log((T - 1) * (1 - delta) / delta) / 2, evaluate=False)),
        ("head score", eq(h, Tex(r"v^\top x_t", "v^T x_t"))),
    ]


@cache
def _kernels():
    B, T, delta = sp.symbols("B T delta", positive=True)
    p, h = sp.MatrixSymbol("p", 1, sp.Symbol("n")), sp.MatrixSymbol("h", sp.Symbol("n"), 1)
    return {
        "combine": sp.lambdify((p, h), p * h, "numpy"),
        "bound": sp.lambdify((B, T), sp.exp(2 * B) / (sp.exp(2 * B) + T - 1), "numpy"),
        "min_B": sp.lambdify((T, delta), sp.log((T - 1) * (1 - delta) / delta) / 2, "numpy"),
    }


def head_output(X: Any, W: Any, z: Any, v: Any) -> float:
    """sum_t softmax(X W z)_t v^T x_t for one input X (T, d)."""
    X = as_float(X)
    p = softmax(X @ (as_float(W) @ as_float(z).ravel()))
    h = X @ as_float(v).ravel()
    return float(np.asarray(_kernels()["combine"](p[None, :], h[:, None])).item())


def dispersion_bound(B: float, T: int) -> float:
    """e^{2B} / (e^{2B} + T - 1) (in the overflow-free form 1 / (1 + (T-1) e^{-2B}) for B > 300)."""
    if float(B) > 300.0:  # e^{2B} overflows float64 beyond ~355
        return float(1.0 / (1.0 + (T - 1) * np.exp(-2.0 * float(B))))
    return float(_kernels()["bound"](float(B), float(T)))


def min_logit_bound(T: int, delta: float) -> float:
    """1/2 log((T - 1)(1 - delta) / delta)."""
    return float(_kernels()["min_B"](float(T), float(delta)))


DERIVATION = Derivation(
    name="attention-limits",
    title="One softmax-attention layer: convex-hull bound, dispersion bound, 1/2 log T law",
    source="attnsvm derivation (elementary convexity / softmax dispersion bounds for one layer)",
    summary=(
        "A softmax output is a convex combination, so a linear head reads a value between the "
        "smallest and largest head score of the tokens, whatever the attention weights. With "
        "logits bounded by B, the top probability is largest when the selected logit is B and "
        "every other -B, which gives e^{2B}/(e^{2B} + T - 1); selecting with 1 - delta thus needs "
        "B of at least 1/2 log((T - 1)(1 - delta)/delta)."
    ),
    build_statement=_statement,
    checks=(
        ("convex hull (T=3)", check_convex_hull),
        ("dispersion bound (T=4)", check_dispersion),
        ("log T law and tightness", check_log_law),
    ),
    predicates={
        "head_output": head_output,
        "dispersion_bound": dispersion_bound,
        "min_logit_bound": min_logit_bound,
    },
)
