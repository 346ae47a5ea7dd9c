"""Hypothesis strategies for your own tests (public; see ``properties/strategies.py``).

Instances are in scope by construction: ``problems()`` draws attention problems whose optimal
tokens are unique (and whose Att-SVM is feasible with ``feasible=True``), and a falsifying example
prints as the ``make_problem(...)`` call that rebuilds it outside hypothesis.
"""

from attnsvm.properties.strategies import (
    Dims,
    GeneratedProblem,
    KQDims,
    ProblemSpec,
    degenerate_problems,
    dims,
    kq_dims,
    locally_optimal_selections,
    matrices,
    overparameterized_dims,
    problem_specs,
    problems,
    raw_problems,
)

__all__ = [
    "Dims",
    "GeneratedProblem",
    "KQDims",
    "ProblemSpec",
    "degenerate_problems",
    "dims",
    "kq_dims",
    "locally_optimal_selections",
    "matrices",
    "overparameterized_dims",
    "problem_specs",
    "problems",
    "raw_problems",
]
