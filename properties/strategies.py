"""Hypothesis strategies that build in-scope instances by construction.

Instances are drawn as (family, dimensions, seed) and then built by the seeded generators of
``reference.families``, so every example is replayable from a handful of integers and no
``assume()`` is needed for the premises the families guarantee (unit-norm tokens in general
position, equal non-optimal scores, a given near-tie gap). ``raw_problems`` draws the arrays
themselves (bounded floats), for properties of the numerics that must hold on any valid input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from reference.families import make_problem
from reference.problem import AttentionProblem


@dataclass(frozen=True)
class Dims:
    n: int
    T: int
    d: int


@dataclass(frozen=True)
class ProblemSpec:
    """A replayable recipe for a problem: family, dimensions, seed and family options."""

    family: str
    n: int
    T: int
    d: int
    seed: int
    options: tuple[tuple[str, object], ...] = ()

    def build(self) -> AttentionProblem:
        return make_problem(self.family, self.n, self.T, self.d, self.seed, **dict(self.options))

    def as_dict(self) -> dict:
        return {
            "family": self.family,
            "n": self.n,
            "T": self.T,
            "d": self.d,
            "seed": self.seed,
            "options": dict(self.options),
        }


def dims(
    n: tuple[int, int] = (1, 6), T: tuple[int, int] = (2, 8), d: tuple[int, int] = (1, 10)
) -> st.SearchStrategy[Dims]:
    """Dimensions (n, T, d) in the given inclusive ranges."""
    return st.builds(Dims, st.integers(*n), st.integers(*T), st.integers(*d))


def overparameterized_dims(
    n: tuple[int, int] = (1, 6), T: tuple[int, int] = (2, 8), extra: tuple[int, int] = (0, 4)
) -> st.SearchStrategy[Dims]:
    """Dimensions with d >= max(T - 1, n) by construction (TF-SVM's feasibility premise)."""
    return st.tuples(st.integers(*n), st.integers(*T), st.integers(*extra)).map(
        lambda t: Dims(t[0], t[1], max(t[1] - 1, t[0]) + t[2])
    )


def problem_specs(
    family: str = "paper",
    dims_strategy: st.SearchStrategy[Dims] | None = None,
    seeds: st.SearchStrategy[int] | None = None,
    **options: object,
) -> st.SearchStrategy[ProblemSpec]:
    """Replayable problem recipes of one family."""
    ds = dims() if dims_strategy is None else dims_strategy
    ss = st.integers(0, 2**32 - 1) if seeds is None else seeds
    opts = tuple(sorted(options.items()))
    return st.builds(lambda dm, s: ProblemSpec(family, dm.n, dm.T, dm.d, s, opts), ds, ss)


def problems(
    family: str = "paper", dims_strategy: st.SearchStrategy[Dims] | None = None, **options: object
) -> st.SearchStrategy[AttentionProblem]:
    """Problems of one family, built from a drawn recipe."""
    return problem_specs(family, dims_strategy, **options).map(lambda spec: spec.build())


_finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def raw_problems(
    draw: st.DrawFn, max_n: int = 4, max_T: int = 6, max_d: int = 5
) -> AttentionProblem:
    """Arbitrary valid problems: bounded float arrays, labels +-1 (not necessarily generic)."""
    n = draw(st.integers(1, max_n))
    T = draw(st.integers(2, max_T))
    d = draw(st.integers(1, max_d))
    X = draw(hnp.arrays(np.float64, (n, T, d), elements=_finite))
    Y = draw(hnp.arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0])))
    v = draw(hnp.arrays(np.float64, (d,), elements=_finite))
    Z = draw(hnp.arrays(np.float64, (n, d), elements=_finite))
    return AttentionProblem(X, Y, v, Z)


def matrices(
    d: int, scale: st.SearchStrategy[float] | None = None
) -> st.SearchStrategy[np.ndarray]:
    """A d x d matrix: a seeded Gaussian direction times a drawn norm (default up to 1e8)."""
    norms = st.floats(1e-3, 1e8) if scale is None else scale
    return st.builds(lambda seed, r: _scaled_gaussian(seed, d, r), st.integers(0, 2**32 - 1), norms)


def _scaled_gaussian(seed: int, d: int, r: float) -> np.ndarray:
    W = np.random.default_rng(seed).standard_normal((d, d))
    return W * (r / np.linalg.norm(W))
