"""Shared pieces of claim checks: instance specs, training runs, SVM directions, evidence."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.premises import instance_problem, require
from attnsvm.properties.verdicts import Evidence, Status
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.training import correlation, log_checkpoints, train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm

SATURATED = 1.0 - 1e-6  # a run has selected its tokens when every max softmax prob exceeds this


def build_problem(spec: Mapping[str, Any]) -> AttentionProblem:
    """The attention problem of a spec {family, n, T, d, seed, options} (the premises' cached
    builder, so a premise and its check share one problem)."""
    return instance_problem(spec)


def problem_spec_strategy(
    family: str,
    n: tuple[int, int],
    T: tuple[int, int],
    d: tuple[int, int] | None = None,
    *,
    overparameterized: bool = False,
    extra: dict[str, st.SearchStrategy] | None = None,
    min_d: int = 1,
    **options: Any,
) -> st.SearchStrategy[dict]:
    """Specs of one family; with ``overparameterized`` d = max(T-1, n, min_d) + k, k in ``d``."""

    def make(t: tuple[int, int, int, int, dict]) -> dict:
        nn, TT, dd, seed, rest = t
        if overparameterized:
            dd = max(TT - 1, nn, min_d) + dd
        return {
            "family": family,
            "n": nn,
            "T": TT,
            "d": dd,
            "seed": seed,
            "options": dict(options),
            **rest,
        }

    rest = st.fixed_dictionaries(extra or {})
    return st.tuples(
        st.integers(*n),
        st.integers(*T),
        st.integers(*(d or (0, 2))),
        st.integers(0, 2**31 - 1),
        rest,
    ).map(make)


def evidence(status: Status, gap: float, threshold: float, **kw: Any) -> Evidence:
    return Evidence(status=status, gap=float(gap), threshold=float(threshold), **kw)


def require_saturated(min_max_prob: float, tol: Mapping[str, Any]) -> None:
    """Inside a check: stop with the premise ``saturated`` (inconclusive) unless the smallest
    selected softmax probability reached the tolerance ``saturated``."""
    m = float(min_max_prob)
    require("saturated", not m < tol["saturated"], min_max_prob=m)


def svm_direction(
    problem: AttentionProblem, select: Sequence[int] | np.ndarray
) -> np.ndarray | None:
    """W^mm_alpha (certified Frobenius solver), or None when Att-SVM_alpha is infeasible."""
    try:
        return solve_att_svm(problem, np.asarray(select)).W
    except InfeasibleSVM:
        return None


def train_runs(
    problem: AttentionProblem, inits: np.ndarray, steps: int, lr: float = 0.1, **kw: Any
):
    """Normalized GD from a batch of initialisations, checkpoints on a log grid."""
    return train_W(
        problem.X,
        problem.Y,
        problem.Z,
        problem.v,
        inits,
        steps=steps,
        lr=lr,
        checkpoints=log_checkpoints(steps),
        **kw,
    )


def random_inits(d: int, runs: int, seed: int) -> np.ndarray:
    return uniform_init((runs, d, d), seed)


def corr_curve(history: np.ndarray, W_ref: np.ndarray) -> np.ndarray:
    """corr(W(k), W_ref) at each checkpoint, history (C, d, d)."""
    return correlation(history, W_ref[None])
