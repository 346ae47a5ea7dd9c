"""Derivation ``normalized-gd``: normalized GD moves eta per step, so ||W_k - W_0|| <= k eta.

The official TF-SVM / MMTS experiments (arXiv 2308.16898, 2306.13596; the README of the official
TF-SVM code) use W_{j+1} = W_j - eta G_j / ||G_j||_F. Derived in this module:

* every step has Frobenius norm exactly eta (eta ||G|| / (||G|| + eps) < eta for the
  eps-regularised variant used by the MMTS notebooks);
* with unit directions e_j = G_j / ||G_j||:
      (k eta)^2 - ||W_k - W_0||_F^2 = eta^2 sum_{j<l} ||e_j - e_l||_F^2 >= 0,
  so ||W_k - W_0||_F <= k eta, with equality iff all normalized gradients coincide;
* by the triangle inequality (Cauchy-Schwarz via Lagrange's identity) ||W_k|| <= ||W_0|| + k eta:
  the norm grows at most linearly, against ~log k for constant-step GD (Soudry et al. 2018,
  arXiv 1710.10345).

Predicates (numpy float64, lambdified):

    ngd_step_norm(grad_norm, eta, eps=0.0) -> float     eta ||G|| / (||G|| + eps)
    ngd_step(W, G, eta, eps=0.0) -> ndarray             W - eta G / (||G||_F + eps)
    ngd_displacement_bound(k, eta) -> float             k eta
    ngd_norm_bound(w0_norm, k, eta) -> float            ||W_0|| + k eta
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    FrobNorm,
    Tex,
    all_checks,
    eq,
    frob_inner,
    frob_sq,
    nonnegative_check,
    symbol_matrix,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float

_k, _eta, _eps, _gn, _w0 = sp.symbols("k eta epsilon g W0", nonnegative=True)
STEP_NORM: sp.Expr = _eta * _gn / (_gn + _eps)
DISPLACEMENT_BOUND: sp.Expr = _k * _eta
NORM_BOUND: sp.Expr = _w0 + _k * _eta


def _unit(G: sp.Matrix) -> sp.Matrix:
    return G / sp.sqrt(frob_sq(G))


def check_step_norm() -> tuple[bool, str]:
    """||eta G/||G|| ||_F = eta, and eta ||G||/(||G|| + eps) <= eta."""
    G = symbol_matrix("g", 2, 2)
    eta = sp.Symbol("eta", positive=True)
    return all_checks([
        zero_check(frob_sq(eta * _unit(G)) - eta**2, "||eta G/||G|| ||^2 - eta^2 (2x2 G)"),
        nonnegative_check(_eta - STEP_NORM, [_eta, _gn, _eps],
                          "eta - eta ||G||/(||G|| + eps) (regularised normalisation)"),
    ])


def check_displacement(k: int = 3) -> tuple[bool, str]:
    """(k eta)^2 - ||sum_j eta e_j||^2 = eta^2 sum_{j<l} ||e_j - e_l||^2 for unit e_j (2x2)."""
    eta = sp.Symbol("eta", positive=True)
    es = [_unit(symbol_matrix(f"g{j}", 2, 2)) for j in range(k)]
    total = sum(es, sp.zeros(2, 2)) * eta
    pair = sum(frob_sq(es[j] - es[m]) for j in range(k) for m in range(j + 1, k))
    ident = (k * eta) ** 2 - frob_sq(total) - eta**2 * pair
    ok_id, msg_id = zero_check(
        ident, f"k={k}: (k eta)^2 - ||W_k - W_0||^2 - eta^2 sum ||e_j-e_l||^2"
    )
    # the right side is eta^2 times a sum of squared real entries, whatever the e_j are
    us = [symbol_matrix(f"u{j}", 2, 2) for j in range(k)]
    generic = eta**2 * sum(frob_sq(us[j] - us[m]) for j in range(k) for m in range(j + 1, k))
    nonneg = generic.is_nonnegative
    return all_checks([(ok_id, msg_id),
                       (bool(nonneg), "eta^2 sum_{j<l} ||e_j - e_l||^2 >= 0 (real squares)")])


def check_triangle() -> tuple[bool, str]:
    """Lagrange: ||A||^2 ||B||^2 - <A,B>^2 = sum_{a<b} (A_a B_b - A_b B_a)^2 >= 0.

    So <A,B> <= ||A|| ||B|| and (||A|| + ||B||)^2 >= ||A + B||^2 (triangle inequality).
    """
    A, B = symbol_matrix("a", 2, 2), symbol_matrix("b", 2, 2)
    a, b = list(A), list(B)
    lag = sum((a[i] * b[j] - a[j] * b[i]) ** 2 for i in range(4) for j in range(i + 1, 4))
    nA, nB = sp.Symbol("nA", nonnegative=True), sp.Symbol("nB", nonnegative=True)
    s = sp.Symbol("s", real=True)  # s = <A, B> <= nA nB
    slack = sp.Symbol("slack", nonnegative=True)
    tri = ((nA + nB) ** 2 - (nA**2 + 2 * s + nB**2)).subs(s, nA * nB - slack)
    return all_checks([
        zero_check(frob_sq(A) * frob_sq(B) - frob_inner(A, B) ** 2 - lag, "Lagrange identity"),
        nonnegative_check(tri, [nA, nB, slack],
                          "(||A||+||B||)^2 - ||A+B||^2 with <A,B> = ||A|| ||B|| - slack"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    W0, Wk, W = Tex("W_0", "W_0"), Tex("W_k", "W_k"), Tex("W_{j+1}", "W_{j+1}")
    G = Tex(r"\nabla L(W_j)", "grad L(W_j)")
    return [
        ("normalized GD", eq(W, Tex("W_j", "W_j") - _eta * G / FrobNorm(G))),
        ("displacement identity (e_j = G_j/||G_j||)",
         eq((_k * _eta) ** 2 - FrobNorm(Wk - W0) ** 2,
            _eta**2 * Tex(r"\sum_{j<l}\|e_j - e_l\|_F^2", "sum_{j<l} ||e_j - e_l||_F^2"))),
        ("hence", sp.Le(FrobNorm(Wk - W0), DISPLACEMENT_BOUND)),
        ("and", sp.Le(FrobNorm(Wk), FrobNorm(W0) + DISPLACEMENT_BOUND)),
        ("eps-normalised step", sp.Le(STEP_NORM, _eta)),
    ]


@cache
def _fns():
    return {
        "step": sp.lambdify((_gn, _eta, _eps), STEP_NORM, "numpy"),
        "disp": sp.lambdify((_k, _eta), DISPLACEMENT_BOUND, "numpy"),
        "norm": sp.lambdify((_w0, _k, _eta), NORM_BOUND, "numpy"),
    }


def ngd_step_norm(grad_norm: Any, eta: Any, eps: Any = 0.0) -> float:
    """eta ||G|| / (||G|| + eps): the Frobenius length of one (eps-)normalized GD step."""
    return float(_fns()["step"](float(grad_norm), float(eta), float(eps)))


def ngd_step(W: Any, G: Any, eta: float, eps: float = 0.0) -> np.ndarray:
    """W - eta G / (||G||_F + eps)."""
    W, G = as_float(W), as_float(G)
    gn = float(np.linalg.norm(G))
    if gn == 0.0:
        return W.copy()
    return W - G * (ngd_step_norm(gn, eta, eps) / gn)


def ngd_displacement_bound(k: Any, eta: Any) -> float:
    """k eta >= ||W_k - W_0||_F."""
    return float(_fns()["disp"](float(k), float(eta)))


def ngd_norm_bound(w0_norm: Any, k: Any, eta: Any) -> float:
    """||W_0|| + k eta >= ||W_k||_F."""
    return float(_fns()["norm"](float(w0_norm), float(k), float(eta)))


DERIVATION = Derivation(
    name="normalized-gd",
    title="Normalized GD: ||W_k - W_0|| <= k eta, so the norm grows at most linearly",
    source="optimizer of the official experiments of arXiv 2308.16898 / 2306.13596 (README); "
    "attnsvm derivation",
    summary=(
        "Each normalized step has length eta, and (k eta)^2 - ||sum eta e_j||^2 = "
        "eta^2 sum_{j<l} ||e_j - e_l||^2 >= 0 for unit directions e_j; equality iff all normalized "
        "gradients agree. The eps-regularised step eta ||G||/(||G|| + eps) is shorter still."
    ),
    build_statement=_statement,
    checks=(
        ("step length eta", check_step_norm),
        ("displacement identity", check_displacement),
        ("triangle inequality", check_triangle),
    ),
    predicates={
        "ngd_step_norm": ngd_step_norm,
        "ngd_step": ngd_step,
        "ngd_displacement_bound": ngd_displacement_bound,
        "ngd_norm_bound": ngd_norm_bound,
    },
)
