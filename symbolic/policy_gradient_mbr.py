"""Derivation ``policy-gradient-mbr``: MBR / sMBR gradient = REINFORCE with the mean baseline.

Sequence-discriminative training (MBR, sMBR, MWER; Shannon, Interspeech 2017, arXiv 1706.02776;
Prabhavalkar et al. 2018, arXiv 1712.01818).
Hypotheses y in H with scores s(y), P = softmax(s), reward (accuracy) A(y), F = sum_y P(y) A(y):

    dF/ds(y) = P(y) (A(y) - A_bar),  A_bar = sum_y P(y) A(y)    (derived in this module)
             = ((diag P - P P^T) A)_y      (the softmax Jacobian of the ``gradient`` derivation)
    sum_y P(y) (A(y) - b) grad_s log P(y) = grad_s F   for every constant baseline b
    grad_s sum_y P(y) (A(y) - c) = grad_s F            (a constant baseline changes nothing)
    MMI: grad_s log P(y_ref) = grad_s E_P[1{y = y_ref}] / P(y_ref)
    sum_y dF/ds(y) = 0                                  (shift invariance of softmax)

``verify()`` proves these with symbolic scores and rewards over |H| = 4.

Predicates (numpy float64; the Jacobian product is lambdified):

    expected_reward(logits, A) -> float
    mbr_grad_logits(logits, A) -> (H,)                P(y)(A(y) - A_bar)
    reinforce_expected_grad(logits, A, baseline=0.0) -> (H,)   E_P[(A - b) grad log P], exactly
    reinforce_sample_grad(logits, A, samples, baseline=0.0) -> (H,)
        Monte Carlo mean of (A(y_k) - b)(e_{y_k} - P) over sampled indices y_k
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
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.gradients import explicit_softmax, softmax_jacobian_apply
from attnsvm.symbolic.numerics import as_float, column, softmax


def _setup(H: int = 4):
    s = symbol_vector("s", H)
    A = symbol_vector("A", H)
    P = explicit_softmax(s)
    F = (P.T * A)[0, 0]
    return s, A, P, F


def _grad(expr: sp.Expr, s: sp.Matrix) -> sp.Matrix:
    return sp.Matrix([sp.diff(expr, x) for x in s])


def check_mbr_gradient(H: int = 4) -> tuple[bool, str]:
    """dF/ds = P o (A - A_bar) = (diag P - P P^T) A; its entries sum to 0."""
    s, A, P, F = _setup(H)
    g = _grad(F, s)
    A_bar = (P.T * A)[0, 0]
    closed = sp.Matrix([P[y] * (A[y] - A_bar) for y in range(H)])
    return all_checks([
        zero_check(g - closed, f"|H|={H}: dF/ds - P(A - A_bar)"),
        zero_check(closed - softmax_jacobian_apply(P, A).doit(),
                   f"|H|={H}: P(A - A_bar) - (diag P - P P^T) A"),
        zero_check(sum(g), f"|H|={H}: sum_y dF/ds(y)"),
    ])


def check_baselines(H: int = 4) -> tuple[bool, str]:
    """A constant baseline c changes nothing; REINFORCE with any b has expectation grad F."""
    s, A, P, F = _setup(H)
    c, b = sp.symbols("c b", real=True)
    g = _grad(F, s)
    shifted = _grad(sum(P[y] * (A[y] - c) for y in range(H)), s)
    reinforce = sum((P[y] * (A[y] - b) * _grad(sp.log(P[y]), s) for y in range(H)),
                    sp.zeros(H, 1))
    return all_checks([
        zero_check(shifted - g, f"|H|={H}: grad sum P(A - c) - grad F"),
        zero_check(reinforce - g,
                   f"|H|={H}: sum_y P(y)(A(y) - b) grad log P(y) - grad F"),
    ])


def check_mmi(H: int = 4) -> tuple[bool, str]:
    """grad log P(ref) = grad E_P[1{y = ref}] / P(ref)."""
    s, _, P, _ = _setup(H)
    ref = 0
    indicator = sum(P[y] * (1 if y == ref else 0) for y in range(H))
    return zero_check(_grad(sp.log(P[ref]), s) - _grad(indicator, s) / P[ref],
                      f"|H|={H}: grad log P(ref) - grad E[1{{y=ref}}] / P(ref)")


def _statement() -> list[tuple[str, sp.Basic]]:
    y = sp.Symbol("y")
    P, A = sp.Function("P")(y), sp.Function("A")(y)
    A_bar = Tex(r"\bar A", "A_bar")
    F = Tex("F", "F")
    return [
        ("expected reward", eq(F, Tex(r"\sum_{y\in H} P(y) A(y)", "sum_{y in H} P(y) A(y)"))),
        ("MBR gradient w.r.t. the logits", eq(Tex(r"\partial F / \partial s(y)", "dF/ds(y)"),
                                              P * (A - A_bar))),
        ("REINFORCE with any constant baseline b (b = A_bar gives the MBR form)",
         eq(Tex(r"\mathbb{E}_{y\sim P}\big[(A(y) - b)\,\nabla_s \log P(y)\big]",
                "E_{y~P}[(A(y) - b) grad_s log P(y)]"), Tex(r"\nabla_s F", "grad_s F"))),
        ("constant baseline", eq(Tex(r"\nabla_s \sum_y P(y)(A(y) - c)",
                                     "grad_s sum_y P(y)(A(y)-c)"),
                                 Tex(r"\nabla_s F", "grad_s F"))),
        ("MMI", eq(Tex(r"\nabla_s \log P(y_{ref})", "grad_s log P(y_ref)"),
                   Tex(r"\nabla_s \mathbb{E}_P[1\{y = y_{ref}\}] / P(y_{ref})",
                       "grad_s E_P[1{y = y_ref}] / P(y_ref)"))),
    ]


@cache
def _jac_kernel():
    H = sp.Symbol("H", integer=True, positive=True)
    P, A = sp.MatrixSymbol("P", H, 1), sp.MatrixSymbol("A", H, 1)
    return sp.lambdify((P, A), softmax_jacobian_apply(P, A), "numpy")


def expected_reward(logits: Any, A: Any) -> float:
    """F = sum_y P(y) A(y), P = softmax(logits)."""
    return float(softmax(logits) @ as_float(A))


def mbr_grad_logits(logits: Any, A: Any) -> np.ndarray:
    """dF/ds = P o (A - A_bar) = (diag P - P P^T) A."""
    P = softmax(logits)
    return np.asarray(_jac_kernel()(column(P), column(A)))[:, 0]


def reinforce_expected_grad(logits: Any, A: Any, baseline: float = 0.0) -> np.ndarray:
    """sum_y P(y) (A(y) - b) (e_y - P): the exact expectation of the REINFORCE estimator."""
    P = softmax(logits)
    return np.asarray(_jac_kernel()(column(P), column(as_float(A) - baseline)))[:, 0]


def reinforce_sample_grad(
    logits: Any, A: Any, samples: Any, baseline: float = 0.0
) -> np.ndarray:
    """mean_k (A(y_k) - b)(e_{y_k} - P) over sampled hypothesis indices y_k."""
    P, A = softmax(logits), as_float(A)
    idx = np.asarray(samples, dtype=np.int64).ravel()
    onehot = np.zeros((idx.size, P.size))
    onehot[np.arange(idx.size), idx] = 1.0
    return ((A[idx] - baseline)[:, None] * (onehot - P)).mean(axis=0)


DERIVATION = Derivation(
    name="policy-gradient-mbr",
    title="MBR/sMBR gradient = REINFORCE with the expected-reward baseline; constant baselines "
    "change nothing",
    source="Shannon 2017 (arXiv 1706.02776); Prabhavalkar et al. 2018 (arXiv 1712.01818); "
    "attnsvm derivation",
    summary=(
        "With P = softmax(s), d/ds sum P A = (diag P - P P^T) A = P (A - A_bar). Since sum P = 1, "
        "any constant c added to the reward has zero gradient, and E_P[(A - b) grad log P] = "
        "grad F for every b: MBR training is REINFORCE with the exact mean baseline."
    ),
    build_statement=_statement,
    checks=(
        ("MBR gradient", check_mbr_gradient),
        ("baselines", check_baselines),
        ("MMI", check_mmi),
    ),
    predicates={
        "expected_reward": expected_reward,
        "mbr_grad_logits": mbr_grad_logits,
        "reinforce_expected_grad": reinforce_expected_grad,
        "reinforce_sample_grad": reinforce_sample_grad,
    },
)
