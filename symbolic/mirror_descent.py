"""Derivation ``mirror-descent``: the p-norm mirror-descent update and its limit direction.

Julistiono, Tarzanagh, Azizan (arXiv 2410.14581, abstract): mirror descent on the
attention weights with ψ(W) = Σ_ij |W_ij|^p / p,  ∇ψ(W⁺) = ∇ψ(W) − η ∇L(W). Derived here
(entrywise, on magnitudes; signs follow the argument):

* the mirror map ∇ψ(w) = sign(w)|w|^{p−1} and its inverse (∇ψ)⁻¹(u) = sign(u)|u|^{1/(p−1)} are
  inverse to each other, and (∇ψ)⁻¹ = ∇ψ* with ψ*(u) = |u|^q / q (since q − 1 = 1/(p − 1));
* the update W⁺ = (∇ψ)⁻¹(∇ψ(W) − η G); at p = 2 it is GD, W⁺ = W − η G;
* telescoping: ∇ψ(W_k) = ∇ψ(W_0) − η Σ_{t<k} ∇L(W_t) (checked for k = 3);
* homogeneity (∇ψ)⁻¹(c u) = c^{1/(p−1)} (∇ψ)⁻¹(u), c > 0: the direction of W_k is a function of
  the direction of ∇ψ(W_k) only. When −Σ_t ∇L(W_t) grows along a fixed G = Σ_k μ_k A_k (μ >= 0,
  the support rows), the iterates' direction tends to sign(G)|G|^{1/(p−1)} = sign(G)|G|^{q−1},
  which is exactly the ℓp-AttSVM solution's Hölder form (derivation ``lp-svm-dual``): the
  stationarity condition ∇ψ(W^mm) ∝ Σ μ_k A_k of min ||W||_p^p / p s.t. the margin rows.

Predicates (numpy float64, lambdified from the verified expressions):

    md_step(W, G, eta, p) -> ndarray          (∇ψ)⁻¹(∇ψ(W) − η G), entrywise
    md_limit_direction(G, p) -> ndarray       sign(G)|G|^{1/(p−1)} / its Frobenius norm
    mirror_residual(W, G, p) -> float         1 − corr(∇ψ(W), G): 0 iff ∇ψ(W) ∝ G (G ≠ 0)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import Derivation, Tex, all_checks, eq, zero_check
from attnsvm.symbolic.lp_svm_dual import canonical, conjugate_exponent
from attnsvm.symbolic.numerics import as_float

#: r = p − 1 > 0 (p > 1), so that powers with exponent 1/(p − 1) are known to be positive
_r = sp.Symbol("r", positive=True)
_p = 1 + _r
_p_display = sp.Symbol("p", positive=True)
_w, _gr, _eta = sp.symbols("w g eta", real=True)
_u = sp.Symbol("u", positive=True)
_c = sp.Symbol("c", positive=True)


def mirror(x: sp.Expr, p: sp.Expr = _p) -> sp.Expr:
    """∇ψ(x) = sign(x)|x|^{p−1}."""
    return sp.sign(x) * sp.Abs(x) ** (p - 1)


def inverse_mirror(x: sp.Expr, p: sp.Expr = _p) -> sp.Expr:
    """(∇ψ)⁻¹(x) = sign(x)|x|^{1/(p−1)}."""
    return sp.sign(x) * sp.Abs(x) ** (1 / (p - 1))


#: the update of one entry
STEP: sp.Expr = inverse_mirror(mirror(_w) - _eta * _gr)


def check_inverse() -> tuple[bool, str]:
    """(∇ψ)⁻¹(∇ψ(w)) = w and ∇ψ((∇ψ)⁻¹(u)) = u for w, u > 0 (and both maps are odd)."""
    w = sp.Symbol("w", positive=True)
    return all_checks([
        zero_check(canonical(inverse_mirror(mirror(w)) - w), "(grad psi)^-1(grad psi(w)) - w"),
        zero_check(canonical(mirror(inverse_mirror(_u)) - _u), "grad psi((grad psi)^-1(u)) - u"),
        zero_check(inverse_mirror(mirror(-w)) + w, "odd: (grad psi)^-1(grad psi(-w)) + w"),
    ])


def check_conjugate() -> tuple[bool, str]:
    """d/du (u^q / q) = u^{q−1} = u^{1/(p−1)}: the inverse mirror map is ∇ψ*, ψ* = |u|^q/q."""
    q = conjugate_exponent(_p)
    return zero_check(canonical(sp.diff(_u**q / q, _u) - _u ** (1 / (_p - 1))),
                      "d/du u^q/q - u^(1/(p-1))")


def check_p2_is_gd() -> tuple[bool, str]:
    """At p = 2 the update is w − η g (every sign case: the maps are the identity)."""
    return zero_check(sp.simplify(STEP.subs(_r, 1) - (_w - _eta * _gr)),
                      "p = 2: step - (w - eta g)")


def check_telescoping(k: int = 3) -> tuple[bool, str]:
    """u_{t+1} = u_t − η g_t with u_t = ∇ψ(W_t) (the update in mirror coordinates) gives
    u_k = u_0 − η Σ_{t<k} g_t; and ∇ψ(W_{t+1}) = ∇ψ(W_t) − η g_t holds for the STEP entrywise
    (for u = ∇ψ(w) − η g > 0)."""
    gs = sp.symbols(f"g0:{k}", real=True)
    u = sp.Symbol("u0", real=True)
    cur = u
    for g in gs:
        cur = cur - _eta * g
    v = sp.Symbol("v", positive=True)  # v = ∇ψ(w) − η g, the new mirror coordinate
    new_w = inverse_mirror(v)
    return all_checks([
        zero_check(cur - (u - _eta * sum(gs)), f"k = {k}: u_k - (u_0 - eta sum g_t)"),
        zero_check(canonical(mirror(new_w) - v), "grad psi(W+) - (grad psi(W) - eta g)"),
    ])


def check_homogeneity() -> tuple[bool, str]:
    """(∇ψ)⁻¹(c u) = c^{1/(p−1)} (∇ψ)⁻¹(u) and the limit form: 1/(p − 1) = q − 1."""
    return all_checks([
        zero_check(canonical(inverse_mirror(_c * _u) - _c ** (1 / (_p - 1)) * inverse_mirror(_u)),
                   "(grad psi)^-1(c u) - c^(1/(p-1)) (grad psi)^-1(u)"),
        zero_check(sp.cancel(1 / (_p - 1) - (conjugate_exponent(_p) - 1)),
                   "1/(p-1) - (q-1)"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    G = Tex(r"\nabla L(W)", "grad L(W)")
    psi = Tex(r"\psi(W)", "psi(W)")
    return [
        ("potential", eq(psi, Tex(r"\tfrac{1}{p}\sum_{ij}|W_{ij}|^p", "sum_ij |W_ij|^p / p"))),
        ("mirror map", eq(Tex(r"\nabla\psi(w)", "grad psi(w)"), mirror(_w, _p_display))),
        ("update", eq(Tex(r"\nabla\psi(W^+)", "grad psi(W+)"),
                      Tex(r"\nabla\psi(W)", "grad psi(W)") - _eta * G)),
        ("entrywise", eq(Tex("w^+", "w+"), STEP.subs(_r, _p_display - 1))),
        ("telescoping", eq(Tex(r"\nabla\psi(W_k)", "grad psi(W_k)"),
                           Tex(r"\nabla\psi(W_0) - \eta\sum_{t<k}\nabla L(W_t)",
                               "grad psi(W_0) - eta sum_{t<k} grad L(W_t)"))),
        ("limit direction", eq(Tex(r"\lim_k W_k/\|W_k\|", "lim W_k/||W_k||"),
                               Tex(r"\operatorname{sign}(G)|G|^{1/(p-1)}/\|\cdot\|",
                                   "sign(G)|G|^(1/(p-1)) / ||.||"))),
    ]


@cache
def _fns() -> dict[str, Any]:
    # the predicates take r = p − 1
    return {"step": sp.lambdify((_w, _gr, _eta, _r), STEP, "numpy"),
            "inv": sp.lambdify((_w, _r), inverse_mirror(_w), "numpy"),
            "mirror": sp.lambdify((_w, _r), mirror(_w), "numpy")}


def md_step(W: Any, G: Any, eta: Any, p: Any) -> np.ndarray:
    """(∇ψ)⁻¹(∇ψ(W) − η G) entrywise (1 < p < ∞)."""
    W, G = as_float(W), as_float(G)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(_fns()["step"](W, G, float(eta), float(p) - 1.0), dtype=np.float64)
    return np.where(np.isfinite(out), out, 0.0) if np.all(np.isfinite(W)) else out


def md_limit_direction(G: Any, p: Any) -> np.ndarray:
    """sign(G)|G|^{1/(p−1)} normalized to unit Frobenius norm (0 for G = 0)."""
    D = np.asarray(_fns()["inv"](as_float(G), float(p) - 1.0), dtype=np.float64)
    n = float(np.linalg.norm(D))
    return D / n if n > 0 else D


def mirror_residual(W: Any, G: Any, p: Any) -> float:
    """1 − corr(∇ψ(W), G): zero iff the mirror image of W is a positive multiple of G."""
    M = np.asarray(_fns()["mirror"](as_float(W), float(p) - 1.0), dtype=np.float64)
    G = as_float(G)
    den = float(np.linalg.norm(M) * np.linalg.norm(G))
    return 1.0 - float(np.sum(M * G)) / den if den > 0 else float("nan")


DERIVATION = Derivation(
    name="mirror-descent",
    title="p-norm mirror descent: the update, GD at p = 2, the limit direction sign(G)|G|^(q-1)",
    source="arXiv 2410.14581 (mirror descent with psi = ||W||_p^p/p, abstract); "
    "attnsvm derivation",
    summary=(
        "The mirror map sign(w)|w|^(p-1) and sign(u)|u|^(1/(p-1)) are inverse (the latter is the "
        "gradient of the conjugate |u|^q/q); the update is GD at p = 2; in mirror coordinates the "
        "steps add up, and since the inverse map is positively homogeneous the direction of W_k "
        "tends to sign(G)|G|^(q-1) when the summed negative gradients align with G = sum mu_k "
        "A_k: the Hölder form of the l_p-AttSVM solution."
    ),
    build_statement=_statement,
    checks=(
        ("mirror maps are inverse", check_inverse),
        ("inverse map is the conjugate's gradient", check_conjugate),
        ("p = 2 is GD", check_p2_is_gd),
        ("telescoping in mirror coordinates", check_telescoping),
        ("homogeneity and the limit exponent", check_homogeneity),
    ),
    predicates={
        "md_step": md_step,
        "md_limit_direction": md_limit_direction,
        "mirror_residual": mirror_residual,
    },
)
