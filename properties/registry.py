"""The claims registry: one record per claim (DESIGN.md, "Claims"; in the spirit of JAX's
``op_record`` table and PyTorch's OpInfo). Adding a claim is one ``Claim`` record in one of the
``properties.claims`` modules, plus at most one generator or one reference function.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

from attnsvm.properties.verdicts import Evidence, Expected, Verdict

CLAIM_MODULES = (
    "attnsvm.properties.claims.tfsvm",
    "attnsvm.properties.claims.mmts",
    "attnsvm.properties.claims.agreement",
    "attnsvm.properties.claims.related",
)

DEFAULT_BUDGET = {"ci": 10, "dev": 50, "deep": 1000}


@dataclass(frozen=True)
class Claim:
    """One checkable statement.

    Attributes:
        id: short stable id, e.g. ``tfsvm.ngd-direction-W``.
        source: paper, theorem/figure, version (with UNVERIFIED where the catalog says so).
        statement: the statement in words; ``latex`` a rendering (from symbolic/ where it exists).
        conditions: the premises, in words (each check returns out_of_scope when they fail).
        instances: hypothesis strategy producing JSON-able instance specs (dicts).
        check: spec -> Evidence.
        expected: holds (theorem), fails (limit: a counterexample must exist), open.
        samples: fixed specs that always run first.
        tolerances: the thresholds the check uses, as data (never edited in a test body).
        budget: examples per hypothesis profile.
        known: an accepted verdict that differs from the expectation, with ``known_reason``
            (a finding the suite reports, e.g. an inconclusive asymptotic claim).
        build_problem: spec -> AttentionProblem, when instances are attention problems (used to
            store the problem arrays of a counterexample as .npz).
    """

    id: str
    source: str
    statement: str
    conditions: str
    instances: st.SearchStrategy[dict]
    check: Callable[[Mapping[str, Any]], Evidence]
    expected: Expected
    samples: Sequence[dict] = ()
    tolerances: Mapping[str, float] = field(default_factory=dict)
    budget: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGET))
    latex: str = ""
    known: Verdict | None = None
    known_reason: str = ""
    build_problem: Callable[[Mapping[str, Any]], Any] | None = None
    shrink: bool = True

    def examples_for(self, profile: str) -> int:
        return int(self.budget.get(profile, DEFAULT_BUDGET.get(profile, 10)))


_REGISTRY: dict[str, Claim] | None = None


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id, in registration order."""
    global _REGISTRY
    if _REGISTRY is None:
        reg: dict[str, Claim] = {}
        for name in CLAIM_MODULES:
            for claim in importlib.import_module(name).CLAIMS:
                if claim.id in reg:
                    raise ValueError(f"duplicate claim id {claim.id}")
                reg[claim.id] = claim
        _REGISTRY = reg
    return _REGISTRY


def get_claim(claim_id: str) -> Claim:
    from attnsvm.reference.errors import ProblemError

    claims = all_claims()
    if claim_id not in claims:
        raise ProblemError("claim", f"unknown claim id {claim_id!r}; see `attnsvm list`")
    return claims[claim_id]
