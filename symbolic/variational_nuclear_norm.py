"""Derivation ``variational-nuclear-norm``: ||W||_* = min_{K Q^T = W} (||K||_F^2 + ||Q||_F^2) / 2.

Standard (Srebro, Rennie, Jaakkola 2005; Recht, Fazel, Parrilo 2010, arXiv 0706.4138), the
reason the (K, Q)-parameterisation of TF-SVM (arXiv 2308.16898) is biased to the nuclear-norm SVM
Att-SVM* and the W-parameterisation to the Frobenius Att-SVM (proof derived in this module):

* Lower bound. Let W = U Sigma V^T be an SVD (U, V orthogonal). For any K Q^T = W,
  ||W||_* = tr(U^T W V) = <K^T U, Q^T V> <= (||K^T U||^2 + ||Q^T V||^2)/2 = (||K||^2 + ||Q||^2)/2,
  using <A, B> = (||A||^2 + ||B||^2)/2 - ||A - B||^2/2 (AM-GM) and orthogonal invariance.
* Attained at the balanced split K = U Sigma^{1/2}, Q = V Sigma^{1/2}; any other split
  K G, Q G^{-T} with G = diag(g) costs sum_i sigma_i (g_i - 1/g_i)^2 / 2 more.
* Hence min_{KQ^T=W} lam (||K||^2 + ||Q||^2) = 2 lam ||W||_*: ridge on (K, Q) is a nuclear-norm
  penalty on W (a Frobenius one for the W-parameterisation), so the regularisation paths and
  their max-margin limits differ: Att-SVM* for (K, Q), Att-SVM for W. Needs an inner dimension
  m >= rank W (otherwise the factored problem is rank-constrained).
* For 2x2 matrices ||W||_*^2 = ||W||_F^2 + 2 |det W| (a closed form to test numerics with).

``verify()`` proves each step with symbolic 2x2 K, Q, W and orthogonal U, V in the rational
parametrisation ((1-t^2)/(1+t^2), 2t/(1+t^2)) (rotations and reflections), and checks the exact
SVD of the rational matrix [[3, 0], [4, 5]] (singular values 3 sqrt 5, sqrt 5).

Predicates (numpy float64):

    nuclear_norm_2x2(W) -> float            lambdified sqrt(||W||_F^2 + 2 |det W|)
    factorization_cost(K, Q) -> float       lambdified (||K||_F^2 + ||Q||_F^2) / 2
    balanced_factors(W) -> (K, Q)           U Sigma^{1/2}, V Sigma^{1/2} (numpy SVD)
    variational_nuclear_norm(W) -> float    factorization_cost(*balanced_factors(W))
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    FrobNorm,
    NucNorm,
    Tex,
    all_checks,
    eq,
    frob_inner,
    frob_sq,
    symbol_matrix,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float

#: The concrete rational instance: W^T W = [[25, 20], [20, 25]], eigenvalues 45 and 5.
RATIONAL_W = [[3, 0], [4, 5]]


def orthogonal_2x2(t: sp.Symbol, reflection: bool = False) -> sp.Matrix:
    """Rotation (or reflection) with rational entries: cos = (1-t^2)/(1+t^2), sin = 2t/(1+t^2)."""
    c, s = (1 - t**2) / (1 + t**2), 2 * t / (1 + t**2)
    if reflection:
        return sp.Matrix([[c, s], [s, -c]])
    return sp.Matrix([[c, -s], [s, c]])


def check_orthogonal_parametrisation() -> tuple[bool, str]:
    t = sp.Symbol("t", real=True)
    return all_checks(
        zero_check(U.T * U - sp.eye(2), f"U^T U = I ({kind})")
        for kind, U in (("rotation", orthogonal_2x2(t)), ("reflection", orthogonal_2x2(t, True)))
    )


def check_amgm() -> tuple[bool, str]:
    """<A, B> = (||A||^2 + ||B||^2)/2 - ||A - B||^2/2 for symbolic 2x2 A, B."""
    A, B = symbol_matrix("a", 2, 2), symbol_matrix("b", 2, 2)
    return zero_check(frob_inner(A, B) - (frob_sq(A) + frob_sq(B)) / 2 + frob_sq(A - B) / 2,
                      "<A,B> - (||A||^2+||B||^2)/2 + ||A-B||^2/2")


def check_trace_identity() -> tuple[bool, str]:
    """tr(U^T K Q^T V) = <K^T U, Q^T V> and ||K^T U||_F = ||K||_F for orthogonal U."""
    K, Q = symbol_matrix("k", 2, 2), symbol_matrix("q", 2, 2)
    t, u = sp.symbols("t u", real=True)
    out = []
    for refl in (False, True):
        U, V = orthogonal_2x2(t, refl), orthogonal_2x2(u)
        out.append(zero_check((U.T * K * Q.T * V).trace() - frob_inner(K.T * U, Q.T * V),
                              f"tr(U^T K Q^T V) - <K^T U, Q^T V> (reflection={refl})"))
        out.append(zero_check(frob_sq(K.T * U) - frob_sq(K), f"||K^T U||^2 - ||K||^2 "
                                                              f"(reflection={refl})"))
    return all_checks(out)


def _svd_instance(reflection: bool = False):
    t, u = sp.symbols("t u", real=True)
    s1, s2 = sp.symbols("sigma1 sigma2", nonnegative=True)
    U, V = orthogonal_2x2(t, reflection), orthogonal_2x2(u)
    return U, V, s1, s2, U * sp.diag(s1, s2) * V.T


def check_nuclear_trace() -> tuple[bool, str]:
    """tr(U^T W V) = sigma_1 + sigma_2 = ||W||_* for W = U diag(sigma) V^T."""
    out = []
    for refl in (False, True):
        U, V, s1, s2, W = _svd_instance(refl)
        out.append(zero_check((U.T * W * V).trace() - (s1 + s2),
                              f"tr(U^T W V) - (sigma1 + sigma2) (reflection={refl})"))
    return all_checks(out)


def check_balanced_split() -> tuple[bool, str]:
    """K = U Sigma^{1/2}, Q = V Sigma^{1/2}: K Q^T = W and cost = sigma_1 + sigma_2."""
    U, V, s1, s2, W = _svd_instance()
    root = sp.diag(sp.sqrt(s1), sp.sqrt(s2))
    K, Q = U * root, V * root
    return all_checks([
        zero_check(K * Q.T - W, "K Q^T - W"),
        zero_check((frob_sq(K) + frob_sq(Q)) / 2 - (s1 + s2), "(||K||^2+||Q||^2)/2 - ||W||_*"),
    ])


def check_unbalanced_excess() -> tuple[bool, str]:
    """Split K G, Q G^{-T}, G = diag(g1, g2): excess cost = sum sigma_i (g_i - 1/g_i)^2 / 2 >= 0."""
    U, V, s1, s2, W = _svd_instance()
    g1, g2 = sp.symbols("g1 g2", positive=True)
    root = sp.diag(sp.sqrt(s1), sp.sqrt(s2))
    G = sp.diag(g1, g2)
    K, Q = U * root * G, V * root * G.inv().T
    excess = (frob_sq(K) + frob_sq(Q)) / 2 - (s1 + s2)
    closed = s1 * (g1 - 1 / g1) ** 2 / 2 + s2 * (g2 - 1 / g2) ** 2 / 2
    return all_checks([
        zero_check(K * Q.T - W, "K G (Q G^{-T})^T - W"),
        zero_check(excess - closed, "excess cost - sum sigma_i (g_i - 1/g_i)^2 / 2"),
        (bool(closed.is_nonnegative),
         "excess >= 0: sympy's assumptions (sigma_i >= 0 times real squares)"),
    ])


def check_closed_form_2x2() -> tuple[bool, str]:
    """(sigma_1 + sigma_2)^2 = ||W||_F^2 + 2 |det W| (det W = +-sigma_1 sigma_2)."""
    out = []
    for refl in (False, True):
        _, _, s1, s2, W = _svd_instance(refl)
        sign = -1 if refl else 1
        out.append(zero_check(W.det() - sign * s1 * s2, f"det W - ({sign}) s1 s2"))
        out.append(zero_check((s1 + s2) ** 2 - frob_sq(W) - 2 * s1 * s2,
                              f"(s1+s2)^2 - ||W||^2 - 2|det W| (reflection={refl})"))
    return all_checks(out)


def check_rational_instance() -> tuple[bool, str]:
    """Exact SVD of [[3,0],[4,5]]: ||W||_* = 4 sqrt 5 = balanced cost = sqrt(||W||^2 + 2|det|)."""
    W = sp.Matrix(RATIONAL_W)
    U, S, V = W.singular_value_decomposition()
    nuc = sp.nsimplify(sum(S[i, i] for i in range(S.shape[0])))
    root = S.applyfunc(sp.sqrt)
    K, Q = U * root, V * root
    cost = sp.radsimp(sp.simplify((frob_sq(K) + frob_sq(Q)) / 2))
    closed = sp.sqrt(frob_sq(W) + 2 * abs(W.det()))
    ok = (sp.simplify(K * Q.T - W) == sp.zeros(2, 2) and sp.simplify(cost - nuc) == 0
          and sp.simplify(closed - nuc) == 0 and sp.simplify(nuc - 4 * sp.sqrt(5)) == 0)
    return ok, (f"W = {RATIONAL_W}: singular values {list(S.diagonal())}, ||W||_* = {nuc}, "
                f"balanced cost = {cost}, sqrt(||W||_F^2 + 2|det W|) = {sp.simplify(closed)}")


def _statement() -> list[tuple[str, sp.Basic]]:
    W, K, Q = sp.symbols("W K Q")
    lam = sp.Symbol("lambda", positive=True)
    return [
        ("variational form", eq(NucNorm(W), Tex(r"\min_{KQ^\top = W}", "min_{K Q^T = W}")
                                * (FrobNorm(K) ** 2 + FrobNorm(Q) ** 2) / 2)),
        ("lower bound, any factorisation", sp.Le(NucNorm(Tex(r"KQ^\top", "K Q^T")),
                                                 FrobNorm(K) * FrobNorm(Q))),
        ("AM-GM", sp.Le(FrobNorm(K) * FrobNorm(Q), (FrobNorm(K) ** 2 + FrobNorm(Q) ** 2) / 2)),
        ("attained at the balanced SVD split", eq(Tex("(K, Q)", "(K, Q)"),
                                                  Tex(r"(U\Sigma^{1/2}, V\Sigma^{1/2})",
                                                      "(U Sigma^(1/2), V Sigma^(1/2))"))),
        ("ridge on (K,Q) is a nuclear-norm penalty on W",
         eq(Tex(r"\min_{KQ^\top=W}", "min_{K Q^T = W}") * lam
            * (FrobNorm(K) ** 2 + FrobNorm(Q) ** 2), 2 * lam * NucNorm(W))),
        ("2x2 closed form", eq(NucNorm(W) ** 2, FrobNorm(W) ** 2
                               + 2 * sp.Abs(Tex(r"\det W", "det W")))),
    ]


@cache
def _cost_fn(shape_k: tuple[int, int], shape_q: tuple[int, int]):
    K, Q = symbol_matrix("k", *shape_k), symbol_matrix("q", *shape_q)
    return sp.lambdify((K, Q), (frob_sq(K) + frob_sq(Q)) / 2, "numpy")


@cache
def _nuc2_fn():
    W = symbol_matrix("w", 2, 2)
    return sp.lambdify((W,), sp.sqrt(frob_sq(W) + 2 * sp.Abs(W.det())), "numpy")


def factorization_cost(K: Any, Q: Any) -> float:
    """(||K||_F^2 + ||Q||_F^2) / 2."""
    K, Q = as_float(K), as_float(Q)
    return float(_cost_fn(K.shape, Q.shape)(K.ravel(), Q.ravel()))


def nuclear_norm_2x2(W: Any) -> float:
    """sqrt(||W||_F^2 + 2|det W|) = ||W||_* for a 2x2 matrix."""
    W = as_float(W)
    if W.shape != (2, 2):
        raise ValueError(f"nuclear_norm_2x2 needs a 2x2 matrix, got shape {W.shape}")
    return float(_nuc2_fn()(W.ravel()))


def balanced_factors(W: Any) -> tuple[np.ndarray, np.ndarray]:
    """K = U Sigma^{1/2}, Q = V Sigma^{1/2} (inner dimension min(d1, d2)), K Q^T = W."""
    U, sv, Vt = np.linalg.svd(as_float(W), full_matrices=False)
    root = np.sqrt(sv)
    return U * root, Vt.T * root


def variational_nuclear_norm(W: Any) -> float:
    """The minimum of (||K||^2 + ||Q||^2)/2 over K Q^T = W, attained at the balanced split."""
    return factorization_cost(*balanced_factors(W))


DERIVATION = Derivation(
    name="variational-nuclear-norm",
    title="||W||_* = min over K Q^T = W of (||K||_F^2 + ||Q||_F^2)/2, attained at the balanced "
    "SVD split",
    source="Srebro, Rennie, Jaakkola 2005 / Recht, Fazel, Parrilo 2010 (arXiv 0706.4138; lemma "
    "number not confirmed); used by arXiv 2308.16898 for the (K,Q) -> Att-SVM* bias; "
    "attnsvm derivation",
    summary=(
        "||W||_* = tr(U^T K Q^T V) = <K^T U, Q^T V> <= (||K^T U||^2 + ||Q^T V||^2)/2 = "
        "(||K||^2 + ||Q||^2)/2, with equality for K = U Sigma^{1/2}, Q = V Sigma^{1/2}. So ridge "
        "on (K, Q) equals twice a nuclear-norm ridge on W = K Q^T: the (K, Q) regularisation path "
        "is biased to the nuclear-norm SVM, the W path (Frobenius ridge) to the Frobenius SVM."
    ),
    build_statement=_statement,
    checks=(
        ("orthogonal parametrisation", check_orthogonal_parametrisation),
        ("AM-GM for inner products", check_amgm),
        ("trace identity and orthogonal invariance", check_trace_identity),
        ("||W||_* = tr(U^T W V)", check_nuclear_trace),
        ("balanced split attains", check_balanced_split),
        ("unbalanced splits cost more", check_unbalanced_excess),
        ("2x2 closed form", check_closed_form_2x2),
        ("rational instance [[3,0],[4,5]]", check_rational_instance),
    ),
    predicates={
        "nuclear_norm_2x2": nuclear_norm_2x2,
        "factorization_cost": factorization_cost,
        "balanced_factors": balanced_factors,
        "variational_nuclear_norm": variational_nuclear_norm,
    },
)
