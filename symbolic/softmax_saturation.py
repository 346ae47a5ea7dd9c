"""Derivation ``softmax-saturation``: softmax -> hardmax at an exponential rate in the score gap.

Setting (derived in this module; the hardmax limit of softmax): s = softmax(c u), u in R^T, c > 0,
u_1 the largest score, gap Delta = u_1 - max_{j != 1} u_j >= 0, q = e^{-c Delta}. Then

    1 - s_1 = S / (1 + S),   S = sum_{j != 1} e^{-c (u_1 - u_j)},   q <= S <= (T-1) q,
    q / (1 + q)  <=  1 - s_1  <=  (T-1) q / (1 + (T-1) q)  <=  (T-1) e^{-c Delta},

both inner bounds attained (lower: the other T-2 scores -> -inf; upper: all T-1 tied at the
runner-up), and q / (1 + (T-1) q) <= q / (1 + q) is a weaker (also valid) lower bound.
Along the SVM ray W = R W^mm / ||W^mm||_F (TF-SVM, arXiv 2308.16898), the score gaps of input i
are (R / ||W^mm||) (x_{i opt} - x_it)^T W^mm z_i >= R / ||W^mm||, so the non-selected mass of
input i is at most (T - 1) exp(-R / ||W^mm||_F).

Predicates (numpy float64; bounds lambdified from the verified expressions):

    nonselected_mass(u, c=1.0) -> float                1 - max softmax(c u), computed as S/(1+S)
    score_gap(u) -> float                              u_max - second largest u
    saturation_upper_bound(gap, T, c=1.0)              (T-1) e^{-c gap}
    saturation_tight_upper_bound(gap, T, c=1.0)        (T-1) q / (1 + (T-1) q)
    saturation_lower_bound(gap, T, c=1.0)              q / (1 + q)            (T unused)
    saturation_weak_lower_bound(gap, T, c=1.0)         q / (1 + (T-1) q)
    svm_ray_mass_bound(R, wmm_norm, T)                 (T-1) exp(-R / ||W^mm||_F)
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    FrobNorm,
    Softmax,
    Tex,
    all_checks,
    eq,
    nonnegative_check,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float
from attnsvm.symbolic.numerics import nonselected_mass as _nonselected_mass

_gap, _T, _c = sp.symbols("Delta T c", nonnegative=True)
_q = sp.exp(-_c * _gap)
_R, _N = sp.symbols("R N", positive=True)

BOUNDS: dict[str, sp.Expr] = {
    "upper": (_T - 1) * _q,
    "tight_upper": (_T - 1) * _q / (1 + (_T - 1) * _q),
    "lower": _q / (1 + _q),
    "weak_lower": _q / (1 + (_T - 1) * _q),
}
RAY_BOUND: sp.Expr = (_T - 1) * sp.exp(-_R / _N)


def _mass_with_ratios(T: int = 4):
    """1 - s_1 with s = softmax(c u), and S = sum_{j>1} e^{-c(u_1 - u_j)}, for symbolic u, c."""
    u = sp.symbols(f"u1:{T + 1}", real=True)
    c = sp.Symbol("c", positive=True)
    e = [sp.exp(c * x) for x in u]
    s1 = e[0] / sp.Add(*e)
    S = sp.Add(*[sp.exp(-c * (u[0] - x)) for x in u[1:]])
    return 1 - s1, S


def check_mass_identity(T: int = 4) -> tuple[bool, str]:
    """1 - s_1 = S / (1 + S) (uses only e^{a-b} = e^a / e^b)."""
    mass, S = _mass_with_ratios(T)
    diff = sp.powsimp(sp.expand(sp.together(mass - S / (1 + S)), power_exp=True))
    diff = sp.simplify(diff)
    return zero_check(diff, f"T={T}, symbolic u, c: 1 - s_1 - S/(1+S)")


def _S_parametrised(T: int = 4):
    """S with e_2 = q (the runner-up) and e_j = q / (1 + rho_j), rho_j >= 0, for j > 2."""
    q = sp.Symbol("q", positive=True)
    rho = sp.symbols(f"rho3:{T + 1}", nonnegative=True)
    S = q + sum(q / (1 + r) for r in rho)
    return q, rho, S


def check_bounds(T: int = 4) -> tuple[bool, str]:
    """q/(1+q) <= S/(1+S) <= (T-1)q/(1+(T-1)q) <= (T-1)q, and the weak lower bound."""
    q, rho, S = _S_parametrised(T)
    mass = S / (1 + S)
    m = T - 1
    mu = sp.Symbol("mu", nonnegative=True)
    mm = sp.Symbol("m", positive=True)
    gens = [q, *rho]
    return all_checks([
        nonnegative_check(mass - q / (1 + q), gens, f"T={T}: S/(1+S) - q/(1+q)"),
        nonnegative_check(m * q / (1 + m * q) - mass, gens, f"T={T}: (T-1)q/(1+(T-1)q) - S/(1+S)"),
        nonnegative_check(mm * q - mm * q / (1 + mm * q), [mm, q],
                          "any T: (T-1)q - (T-1)q/(1+(T-1)q), m = T-1 > 0"),
        nonnegative_check(q / (1 + q) - q / (1 + (1 + mu) * q), [q, mu],
                          "any T >= 2: q/(1+q) - q/(1+(T-1)q), T-1 = 1 + mu"),
    ])


def check_attained(T: int = 4) -> tuple[bool, str]:
    """Upper bound attained at rho = 0 (ties); lower bound is the limit rho -> oo."""
    q, rho, S = _S_parametrised(T)
    mass = S / (1 + S)
    m = T - 1
    at_ties = mass.subs({r: 0 for r in rho}) - m * q / (1 + m * q)
    limit = mass
    for r in rho:
        limit = sp.limit(limit, r, sp.oo)
    return all_checks([
        zero_check(at_ties, f"T={T}: mass at ties - tight upper bound"),
        zero_check(limit - q / (1 + q), f"T={T}: lim_(rho->oo) mass - q/(1+q)"),
    ])


def check_svm_ray(d: int = 2) -> tuple[bool, str]:
    """Score gap along W = R M / N is (R/N) * margin; the bound decreases in the gap."""
    M, a, z = symbol_matrix("m", d, d), symbol_vector("a", d), symbol_vector("z", d)
    R, N = sp.symbols("R N", positive=True)
    gap_on_ray = (a.T * (R * M / N) * z)[0, 0]
    margin = (a.T * M * z)[0, 0]
    m, q = sp.Symbol("m", nonnegative=True), sp.Symbol("q", positive=True)
    neg_slope = (-sp.diff(BOUNDS["upper"], _gap)).subs(_T, 1 + m).subs(_q, q)
    return all_checks([
        zero_check(gap_on_ray - R / N * margin, f"d={d}: a^T (R M/N) z - (R/N) a^T M z"),
        nonnegative_check(neg_slope, [_c, m, q],
                          "-d/dDelta (T-1)e^{-c Delta} with T-1 = m >= 0, e^{-c Delta} = q > 0"),
        zero_check(BOUNDS["upper"].subs({_c: 1, _gap: _R / _N}) - RAY_BOUND,
                   "bound at c = 1, gap = R/||W^mm|| equals (T-1)exp(-R/||W^mm||)"),
    ])


def _statement() -> list[tuple[str, sp.Basic]]:
    s1 = Tex("s_1", "s_1")
    S = Tex(r"S", "S")
    q = sp.exp(-_c * _gap)
    mass = 1 - s1
    return [
        ("softmax of scaled scores, u_1 maximal", eq(Tex("s", "s"), Softmax(_c * Tex("u", "u")))),
        ("gap", eq(_gap, Tex(r"u_1 - \max_{j\ne 1} u_j", "u_1 - max_{j != 1} u_j"))),
        ("non-selected mass", eq(mass, S / (1 + S))),
        ("with", eq(S, Tex(r"\sum_{j\ne 1} e^{-c(u_1-u_j)}", "sum_{j != 1} exp(-c (u_1 - u_j))"))),
        ("lower bound (attained as the other scores -> -oo)", sp.Le(BOUNDS["lower"], mass)),
        ("upper bound (attained at ties)", sp.Le(mass, BOUNDS["tight_upper"])),
        ("simple upper bound", sp.Le(BOUNDS["tight_upper"], BOUNDS["upper"])),
        ("weaker lower bound", sp.Le(BOUNDS["weak_lower"], BOUNDS["lower"])),
        ("along W = R W^mm/||W^mm||_F, for every input i",
         sp.Le(1 - Tex(r"s_{i,\mathrm{opt}_i}", "s_{i,opt_i}"),
               (_T - 1) * sp.exp(-_R / FrobNorm(Tex("W^{mm}", "W^mm"))))),
        ("same q", eq(Tex("q", "q"), q)),
    ]


@cache
def _bound_fn(kind: str):
    return sp.lambdify((_gap, _T, _c), BOUNDS[kind], "numpy")


@cache
def _ray_fn():
    return sp.lambdify((_R, _N, _T), RAY_BOUND, "numpy")


def _bound(kind: str, gap: Any, T: Any, c: Any) -> np.ndarray | float:
    out = _bound_fn(kind)(as_float(gap), as_float(T), as_float(c))
    return np.asarray(out, dtype=np.float64)[()]


def saturation_upper_bound(gap: Any, T: Any, c: Any = 1.0) -> Any:
    """(T-1) e^{-c gap}."""
    return _bound("upper", gap, T, c)


def saturation_tight_upper_bound(gap: Any, T: Any, c: Any = 1.0) -> Any:
    """(T-1) q / (1 + (T-1) q), q = e^{-c gap}; attained when all non-max scores tie."""
    return _bound("tight_upper", gap, T, c)


def saturation_lower_bound(gap: Any, T: Any, c: Any = 1.0) -> Any:
    """q / (1 + q), q = e^{-c gap} (independent of T)."""
    return _bound("lower", gap, T, c)


def saturation_weak_lower_bound(gap: Any, T: Any, c: Any = 1.0) -> Any:
    """q / (1 + (T-1) q), q = e^{-c gap}."""
    return _bound("weak_lower", gap, T, c)


def svm_ray_mass_bound(R: Any, wmm_norm: Any, T: Any) -> Any:
    """(T-1) exp(-R / ||W^mm||_F): non-selected mass bound along W = R W^mm/||W^mm||."""
    out = _ray_fn()(as_float(R), as_float(wmm_norm), as_float(T))
    return np.asarray(out, dtype=np.float64)[()]


def score_gap(u: Any) -> float:
    """Largest minus second-largest entry of u (0 at a tie)."""
    top = np.sort(as_float(u).ravel())[-2:]
    return float(top[1] - top[0])


def nonselected_mass(u: Any, c: float = 1.0) -> float:
    """1 - max_t softmax(c u)_t, overflow- and cancellation-free (S / (1 + S))."""
    return _nonselected_mass(u, c)


DERIVATION = Derivation(
    name="softmax-saturation",
    title="Softmax to hardmax: exponential bounds on the non-selected mass in the score gap",
    source="attnsvm derivation (hardmax limit of softmax); arXiv 2308.16898 SVM ray "
    "(margin 1/||W^mm||)",
    summary=(
        "1 - s_max = S/(1+S) with S the sum of e^{-c(u_max - u_j)}; S lies between q = e^{-c gap} "
        "(the runner-up alone) and (T-1)q (all tied), and S/(1+S) is increasing, which gives "
        "matching bounds of exponential order e^{-c gap}. Along the max-margin ray every gap is "
        "at least R/||W^mm||, so the softmax saturates like (T-1)exp(-R/||W^mm||)."
    ),
    build_statement=_statement,
    checks=(
        ("1 - s_1 = S/(1+S)", check_mass_identity),
        ("lower/upper bounds", check_bounds),
        ("bounds attained", check_attained),
        ("SVM ray", check_svm_ray),
    ),
    predicates={
        "nonselected_mass": nonselected_mass,
        "score_gap": score_gap,
        "saturation_upper_bound": saturation_upper_bound,
        "saturation_tight_upper_bound": saturation_tight_upper_bound,
        "saturation_lower_bound": saturation_lower_bound,
        "saturation_weak_lower_bound": saturation_weak_lower_bound,
        "svm_ray_mass_bound": svm_ray_mass_bound,
    },
)
