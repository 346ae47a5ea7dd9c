"""The official MMTS examples (arXiv 2306.13596; notebooks in
github.com/ucr-optml/max_margin_attention) as attention problems, and the rate-weighted limit
direction of joint (v, p) normalized GD.

Used by the MMTS claims and by ``attnsvm reproduce mmts``, so both see the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError

KEY_2D = np.diag([1.0, 1.0, 0.0])  # official examples: keys are the first two coordinates


def official_example(spec: Mapping[str, Any]) -> AttentionProblem:
    """The attention problem of an official example: ``{"kind": "single-input", "third_score"}``,
    ``{"kind": "joint", "third_token", "v0"}`` or ``{"kind": "loss-offset", "C"}``."""
    kind = spec["kind"]
    if kind == "single-input":
        third = spec["third_score"]
        X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, third]]])
        return AttentionProblem(X, [1.0], [0.0, 0.0, 1.0], np.zeros((1, 3)))
    if kind == "joint":
        third = spec["third_token"]
        X = np.array([[[0, 0], [1, 1]], [[0, 0], [1, -1]], [[0, 0], third]], dtype=float)
        return AttentionProblem(X, [1.0, -1.0, 1.0], spec["v0"], np.zeros((3, 2)))
    if kind == "loss-offset":
        C = spec["C"]
        X = np.array([[[0, 0, 0], [1, 1, C]], [[0, 0, 0], [1, -1, 1]]], dtype=float)
        return AttentionProblem(X, [1.0, 1.0], [0.0, 0.0, 1.0], np.zeros((2, 3)))
    raise ProblemError("kind", f"unknown MMTS example kind {kind!r}")


def rate_weighted_direction(
    p: AttentionProblem, alpha: np.ndarray, v_dir: np.ndarray, kappa: float
) -> dict[str, Any]:
    """Limit direction of joint NGD when ||v|| / ||p|| -> kappa (attnsvm derivation):

        p* = argmax_{||p|| <= 1} min_{i, t != alpha_i} kappa mu_i + (k_{i alpha_i} - k_it)^T p,

    mu_i = Y_i v_dir^T x_{i alpha_i} (v_dir = v^mm/||v^mm||): input i's p-gradient carries the
    weight exp(-||v|| mu_i - ||p|| rho_it), so the slowest-decaying exponent wins. kappa -> inf
    recovers MMTS's relaxed SVM (inputs with mu_i > min mu drop out). Solved with cvxpy +
    Clarabel and certified by the minimax dual min_{lambda in simplex} lambda^T c + ||A^T lambda||.
    """
    import cvxpy as cp

    keys = p.X
    rows, offs = [], []
    mu = p.Y * (keys[np.arange(p.n), alpha] @ v_dir)
    for i in range(p.n):
        for t in range(p.T):
            if t != alpha[i]:
                rows.append(keys[i, alpha[i]] - keys[i, t])
                offs.append(kappa * mu[i])
    A, c = np.array(rows), np.array(offs)
    x, tt = cp.Variable(p.d), cp.Variable()
    cons = [c + A @ x >= tt, cp.norm(x, 2) <= 1]
    cp.Problem(cp.Maximize(tt), cons).solve(solver=cp.CLARABEL)
    lam = np.clip(np.asarray(cons[0].dual_value, dtype=float).ravel(), 0, None)
    lam = lam / lam.sum()
    xs = np.asarray(x.value, dtype=float)
    lower = float(
        np.min(c + A @ xs) if np.linalg.norm(xs) <= 1 else np.min(c + A @ xs) / np.linalg.norm(xs)
    )
    upper = float(lam @ c + np.linalg.norm(A.T @ lam))
    return {"p": xs, "value": lower, "duality_gap": upper - lower, "mu": mu.tolist()}
