"""Seeded instance families (TF-SVM, Sec. 5 / official ``local_converge`` data; TF-SVM Thm. on
equal non-optimal scores; near ties as the edge of the unique-optimal-token hypothesis).

Every generator is a pure function of its arguments: the same seed gives the same bytes.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int, check_memory

FAMILIES: dict[str, Callable[..., AttentionProblem]] = {}


def _register(
    name: str,
) -> Callable[[Callable[..., AttentionProblem]], Callable[..., AttentionProblem]]:
    def deco(fn: Callable[..., AttentionProblem]) -> Callable[..., AttentionProblem]:
        FAMILIES[name] = fn
        return fn

    return deco


def _check_dims(n: int, T: int, d: int, seed: object = 0) -> tuple[int, int, int, int]:
    """(n, T, d, seed) as Python ints; ProblemError naming the field when one is not an integer
    of the right range, or when the arrays would exceed ``MEMORY_BUDGET_BYTES``."""
    out = []
    for name, value, low in (("n", n, 1), ("T", T, 2), ("d", d, 1)):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
            raise ProblemError(name, f"must be an integer >= {low}, got {value!r:.60}")
        if isinstance(value, (float, np.floating)) and not np.isfinite(value):
            raise ProblemError(name, f"must be an integer >= {low}, got {value!r}")
        if int(value) != value or value < low:
            raise ProblemError(name, f"must be an integer >= {low}, got {value!r}")
        out.append(int(value))
    n, T, d = out
    check_memory("n", 8.0 * 6 * n * T * d, f"a problem with n = {n}, T = {T}, d = {d}")
    return n, T, d, as_int("seed", seed, low=0)


def _unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _finish(
    X: np.ndarray, Y: np.ndarray, v: np.ndarray, rng: np.random.Generator, self_attention: bool
) -> AttentionProblem:
    if self_attention:
        return AttentionProblem.self_attention(X, Y, v, index=0)
    Z = _unit_rows(rng.standard_normal((X.shape[0], X.shape[2])))
    return AttentionProblem(X, Y, v, Z)


@_register("paper")
def paper_family(
    n: int, T: int, d: int, seed: int, *, self_attention: bool = False
) -> AttentionProblem:
    """The papers' data: unit-norm Gaussian tokens and queries, unit-norm random v, +-1 labels.

    Cross-attention draws z_i as a random unit vector; self-attention takes z_i = x_i1 (the
    official code's ``attn_idx=0``). Degenerate by construction at d = 1: unit tokens are +-1, so
    tied scores and duplicate tokens (infeasible selections) are common there.
    """
    n, T, d, seed = _check_dims(n, T, d, seed)
    rng = np.random.default_rng(seed)
    X = _unit_rows(rng.standard_normal((n, T, d)))
    v = _unit_rows(rng.standard_normal(d))
    Y = rng.choice(np.array([-1.0, 1.0]), size=n)
    return _finish(X, Y, v, rng, self_attention)


@_register("equal-scores")
def equal_scores_family(
    n: int,
    T: int,
    d: int,
    seed: int,
    *,
    opt_score: float = 0.9,
    other_score: float = 0.3,
    self_attention: bool = False,
) -> AttentionProblem:
    """Every non-optimal token of input i has the same score (TF-SVM global-convergence premise).

    Token x_it = Y_i s_t v + u_it with u_it orthogonal to v and |x_it| = 1, where s_t is
    ``opt_score`` for one random position and ``other_score`` elsewhere; so gamma_it = s_t exactly.
    At d <= 2 the unit vectors orthogonal to v are +-u, so tokens of equal score often coincide
    (duplicate tokens make every selection of one of them infeasible); use d >= 3 for generic data.
    """
    n, T, d, seed = _check_dims(n, T, d, seed)
    opt_score = as_float("opt_score", opt_score)
    other_score = as_float("other_score", other_score)
    if not (-1.0 <= other_score < opt_score <= 1.0):
        raise ProblemError("other_score", "need -1 <= other_score < opt_score <= 1")
    rng = np.random.default_rng(seed)
    v = _unit_rows(rng.standard_normal(d))
    Y = rng.choice(np.array([-1.0, 1.0]), size=n)
    s = np.full((n, T), float(other_score))
    s[np.arange(n), rng.integers(0, T, size=n)] = opt_score
    u = rng.standard_normal((n, T, d))
    u -= (u @ v)[..., None] * v
    norms = np.linalg.norm(u, axis=-1, keepdims=True)
    u = np.divide(u, norms, out=np.zeros_like(u), where=norms > 1e-12)
    X = (Y[:, None] * s)[..., None] * v + np.sqrt(1.0 - s**2)[..., None] * u
    return _finish(X, Y, v, rng, self_attention)


@_register("near-tie")
def near_tie_family(
    n: int, T: int, d: int, seed: int, *, gap: float = 1e-3, self_attention: bool = False
) -> AttentionProblem:
    """Paper data with the runner-up score moved to exactly ``gap`` below the optimal score (and
    any other token within the gap moved down to that level).

    gap = 0 gives an exact tie (the unique-optimal-token hypothesis fails); small gaps stress it.
    """
    n, T, d, seed = _check_dims(n, T, d, seed)
    gap = as_float("gap", gap, nonnegative=True)
    base = paper_family(n, T, d, seed, self_attention=False)
    X = np.array(base.X)
    gamma = base.scores
    rows = np.arange(n)
    best = np.argmax(gamma, axis=1)
    ceiling = gamma[rows, best] - gap
    target = np.minimum(gamma, ceiling[:, None])  # nobody else within the gap of the optimum
    others = np.where(np.arange(T)[None, :] == best[:, None], -np.inf, target)
    target[rows, np.argmax(others, axis=1)] = ceiling  # the runner-up sits exactly gap below
    target[rows, best] = gamma[rows, best]
    X += (base.Y[:, None] * (target - gamma))[..., None] * base.v  # move scores along v (|v| = 1)
    if self_attention:
        return AttentionProblem.self_attention(X, base.Y, base.v, index=0)
    return AttentionProblem(X, base.Y, base.v, base.Z)


def make_problem(
    family: str, n: int, T: int, d: int, seed: int, **kwargs: object
) -> AttentionProblem:
    """Build a problem of a named family (``paper``, ``equal-scores``, ``near-tie``)."""
    try:
        builder = FAMILIES[family]
    except (KeyError, TypeError):
        raise ProblemError(
            "family", f"unknown family {family!r}; choose from {sorted(FAMILIES)}"
        ) from None
    try:
        inspect.signature(builder).bind(n, T, d, seed, **kwargs)
    except TypeError as exc:  # an unknown keyword for this family
        raise ProblemError("options", f"family {family!r}: {exc}") from None
    return builder(n, T, d, seed, **kwargs)


def stack_problems(problems: Sequence[AttentionProblem]) -> dict[str, np.ndarray]:
    """Stack same-shape problems into batched arrays X (B,n,T,d), Y (B,n), v (B,d), Z (B,n,d)."""
    if not problems:
        raise ProblemError("problems", "need at least one problem")
    shape = problems[0].X.shape
    for p in problems:
        if p.X.shape != shape:
            raise ProblemError("problems", f"shapes differ: {p.X.shape} vs {shape}")
    return {k: np.stack([getattr(p, k) for p in problems]) for k in ("X", "Y", "v", "Z")}
