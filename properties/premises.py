"""Premises: named predicates a claim declares in ``requires`` and the runner evaluates.

A premise is *static* when it has a predicate ``holds(instance, tolerances) -> bool``: the runner
evaluates it before the check and, when it fails, returns the premise's standard evidence
(``out_of_scope``, or ``inconclusive`` for budget premises) without running the check. A premise
is *dynamic* when it can only be known during the check (softmax saturation after training): the
check calls ``require(name, ok, **details)``, which stops it with that same standard evidence.
A claim's ``conditions`` text is generated from its premises.

Built-in premises are defined here; a researcher defines more with ``Premise(...)`` (passed in
``requires`` directly) or registers one by name with ``register_premise``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from attnsvm.properties.errors import ClaimError
from attnsvm.properties.verdicts import Evidence, Status
from attnsvm.reference.errors import AttnsvmError


@dataclass(frozen=True)
class Premise:
    """A named premise: ``text`` says it in words; ``holds`` (optional) evaluates it on an
    instance; ``unmet`` is the status of an instance that misses it."""

    name: str
    text: str
    holds: Callable[[Mapping[str, Any], Mapping[str, Any]], bool] | None = None
    unmet: Status = "out_of_scope"

    def __post_init__(self) -> None:
        if self.unmet not in ("out_of_scope", "inconclusive"):
            raise ValueError(f"premise {self.name}: unmet must be out_of_scope or inconclusive")


class PremiseUnmet(Exception):
    """Raised by ``require`` inside a check; the runner turns it into the premise's evidence."""

    def __init__(self, name: str, details: dict[str, Any]) -> None:
        super().__init__(name)
        self.name = name
        self.details = details


def require(name: str, ok: bool, **details: Any) -> None:
    """Inside a check: stop with the standard evidence of premise ``name`` unless ``ok``."""
    if not ok:
        raise PremiseUnmet(name, details)


def unmet_evidence(premise: Premise, **details: Any) -> Evidence:
    return Evidence(status=premise.unmet, gap=float("nan"), threshold=float("nan"),
                    note=f"premise {premise.name} not met: {premise.text}",
                    details={"premise": premise.name, **details})


@lru_cache(maxsize=256)
def _problem(key: str) -> Any:
    from attnsvm.reference.attention.families import make_problem

    spec = json.loads(key)
    return make_problem(spec["family"], spec["n"], spec["T"], spec["d"], spec["seed"],
                        **dict(spec.get("options", {})))


def instance_problem(instance: Mapping[str, Any]) -> Any:
    """The AttentionProblem of an instance {family, n, T, d, seed, options} (cached; problems are
    immutable)."""
    keys = ("family", "n", "T", "d", "seed", "options")
    return _problem(json.dumps({k: instance.get(k, {}) for k in keys}, sort_keys=True))


def _unique_opt(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    from attnsvm.reference.svm.selection import optimal_tokens

    return optimal_tokens(instance_problem(instance)).unique


def _feasible_opt(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    from attnsvm.reference.errors import InfeasibleSVM
    from attnsvm.reference.svm.frobenius import solve_att_svm

    if not _unique_opt(instance, _tol):
        return False
    try:
        solve_att_svm(instance_problem(instance))
    except InfeasibleSVM:
        return False
    return True


def _overparameterized(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    return int(instance["d"]) >= max(int(instance["T"]) - 1, int(instance["n"]), 2)


_PREMISES: dict[str, Premise] = {}


def register_premise(premise: Premise) -> Premise:
    """Make ``premise`` available by name in any claim's ``requires``."""
    old = _PREMISES.get(premise.name)
    if old is not None and old != premise:
        raise AttnsvmError(f"premise {premise.name!r} is already defined")
    _PREMISES[premise.name] = premise
    return premise


def resolve_premise(ref: str | Premise) -> Premise:
    if isinstance(ref, Premise):
        return ref
    if ref not in _PREMISES:
        raise ClaimError("requires", f"unknown premise {ref!r} (known: {', '.join(_PREMISES)})")
    return _PREMISES[ref]


for _p in (
    Premise("unique_opt", "the optimal token of every input is unique (no tied scores)",
            _unique_opt),
    Premise("feasible_opt", "Att-SVM for the optimal tokens is feasible (and they are unique)",
            _feasible_opt),
    Premise("overparameterized", "d >= max(T - 1, n, 2) (TF-SVM's feasibility threshold)",
            _overparameterized),
    Premise("saturated", "softmax saturated within the step budget (every selected probability "
            ">= the tolerance 'saturated')", None, "inconclusive"),
    Premise("feasible_selection", "Att-SVM is feasible for the selection the run ends at"),
):
    register_premise(_p)
