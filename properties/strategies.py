"""Hypothesis strategies that build in-scope instances by construction.

Instances are drawn as (family, dimensions, seed) and then built by the seeded generators of
``attention.families``, so every example is replayable from a handful of integers and no
``assume()`` is needed for the premises the families guarantee (unit-norm tokens in general
position, equal non-optimal scores, a given near-tie gap). ``raw_problems`` draws the arrays
themselves (bounded floats), for properties of the numerics that must hold on any valid input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.problem import AttentionProblem


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


class GeneratedProblem(AttentionProblem):
    """A problem built from a recipe; its repr is the call that rebuilds it outside hypothesis,
    so a falsifying example prints as ``make_problem('paper', n=3, T=4, d=5, seed=17)``."""

    def __init__(self, spec: ProblemSpec) -> None:
        built = spec.build()
        super().__init__(built.X, built.Y, built.v, built.Z)
        object.__setattr__(self, "spec", spec)

    def __repr__(self) -> str:
        s = self.spec
        opts = "".join(f", {k}={v!r}" for k, v in s.options)
        return f"make_problem({s.family!r}, n={s.n}, T={s.T}, d={s.d}, seed={s.seed}{opts})"

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:  # hypothesis' printer
        printer.text(repr(self))  # type: ignore[attr-defined]


def _in_scope(spec: ProblemSpec, unique_opt: bool, feasible: bool) -> bool:
    from attnsvm.reference.errors import InfeasibleSVM
    from attnsvm.reference.svm.frobenius import solve_att_svm
    from attnsvm.reference.svm.selection import optimal_tokens

    p = spec.build()
    if (unique_opt or feasible) and not optimal_tokens(p).unique:
        return False
    if feasible:
        try:
            solve_att_svm(p)
        except InfeasibleSVM:
            return False
    return True


@st.composite
def problems(
    draw: st.DrawFn,
    family: str = "paper",
    n: tuple[int, int] = (1, 6),
    T: tuple[int, int] = (2, 8),
    d: tuple[int, int] = (2, 10),
    *,
    overparameterized: bool = False,
    unique_opt: bool = True,
    feasible: bool = False,
    tries: int = 16,
    **options: object,
) -> GeneratedProblem:
    """Problems of one family, in scope by construction.

    By default every input has a unique optimal token (TF-SVM's Assumption on the scores, arXiv
    2308.16898 Sec. 2), so ``solve_att_svm(problem)`` has a selection; ``feasible=True`` also
    makes Att-SVM for the optimal tokens feasible; ``overparameterized=True`` draws d from
    max(T - 1, n, 2) + 0..(d[1] - d[0]) (the feasibility threshold of the paper's Theorem 1).
    In-scope recipes are found by trying ``tries`` consecutive seeds (no ``assume`` filtering
    in practice), so each drawn problem replays from its printed recipe."""
    from hypothesis import assume

    nn, TT = draw(st.integers(*n)), draw(st.integers(*T))
    if overparameterized:
        dd = max(TT - 1, nn, 2) + draw(st.integers(0, max(0, d[1] - d[0])))
    else:
        dd = draw(st.integers(max(1, d[0]), d[1]))
    seed = draw(st.integers(0, 2**32 - 1 - tries))
    opts = tuple(sorted(options.items()))
    for k in range(tries):
        spec = ProblemSpec(family, nn, TT, dd, seed + k, opts)
        if _in_scope(spec, unique_opt, feasible):
            return GeneratedProblem(spec)
    assume(False)
    raise AssertionError("unreachable")


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


@dataclass(frozen=True)
class KQDims:
    n: int
    T: int
    d: int
    m: int


def kq_dims(
    n: tuple[int, int] = (1, 5), T: tuple[int, int] = (2, 6), d: tuple[int, int] = (2, 8)
) -> st.SearchStrategy[KQDims]:
    """Dimensions with a key/query width 1 <= m <= d (m < d is the rank-constrained regime)."""
    return st.tuples(st.integers(*n), st.integers(*T), st.integers(*d)).flatmap(
        lambda t: st.builds(KQDims, st.just(t[0]), st.just(t[1]), st.just(t[2]),
                            st.integers(1, t[2]))
    )


def locally_optimal_deviation(spec: ProblemSpec) -> np.ndarray | None:
    """A one-input deviation of opt that is locally optimal (TF-SVM's definition), or None;
    deviations are tried in an order seeded by the spec."""
    from attnsvm.reference.svm.selection import optimal_tokens
    from attnsvm.reference.svm.token_optimality import locally_optimal_deviation as search

    p = spec.build()
    opt = optimal_tokens(p)
    if not opt.unique:
        return None
    return search(p, opt.tokens, np.random.default_rng(spec.seed))


@st.composite
def locally_optimal_selections(
    draw: st.DrawFn, n: tuple[int, int] = (4, 6), T: tuple[int, int] = (6, 8), tries: int = 8
) -> tuple[ProblemSpec, np.ndarray]:
    """(spec, alpha) with alpha locally optimal but not globally optimal, by construction: the
    first of ``tries`` consecutive seeds whose data admit a locally-optimal one-input deviation of
    opt (about 90% of generic instances at d >= max(T-1, n) do, measured by
    tests/test_strategies.py), so the returned spec replays exactly and a draw is rejected with
    probability ~1e-8."""
    from hypothesis import assume

    spec = draw(problem_specs("paper", overparameterized_dims(n, T, (0, 2))))
    for k in range(tries):
        candidate = ProblemSpec(spec.family, spec.n, spec.T, spec.d, spec.seed + k, spec.options)
        alpha = locally_optimal_deviation(candidate)
        if alpha is not None:
            return candidate, alpha
    assume(False)
    raise AssertionError("unreachable")


@st.composite
def degenerate_problems(draw: st.DrawFn) -> tuple[AttentionProblem, str]:
    """Problems outside general position, with the kind of degeneracy: a selected token
    duplicated (every selection of it is infeasible), collinear queries, a zero query, d = 1."""
    kind = draw(st.sampled_from(["duplicate-token", "collinear-queries", "zero-query", "d=1"]))
    seed = draw(st.integers(0, 2**31 - 1))
    n, T = draw(st.integers(2, 4)), draw(st.integers(2, 5))
    d = 1 if kind == "d=1" else draw(st.integers(2, 6))
    base = make_problem("paper", n, T, d, seed)
    X, Z = np.array(base.X), np.array(base.Z)
    if kind == "duplicate-token":
        X[0, 1] = X[0, 0]
    elif kind == "collinear-queries":
        Z[:] = Z[0]
    elif kind == "zero-query":
        Z[0] = 0.0
    return AttentionProblem(X, base.Y, base.v, Z), kind
