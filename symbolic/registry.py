"""The registry of derivations: ``DERIVATIONS`` (name -> Derivation, in reading order), ``get``.

Adding a derivation is one module exposing ``DERIVATION`` plus one line in ``_MODULES``.
"""

from __future__ import annotations

import importlib

from attnsvm.symbolic.core import Derivation

_MODULES = (
    "attnsvm.symbolic.att_svm_dual",
    "attnsvm.symbolic.representer",
    "attnsvm.symbolic.gradients",
    "attnsvm.symbolic.softmax_saturation",
    "attnsvm.symbolic.descent_condition",
    "attnsvm.symbolic.variational_nuclear_norm",
    "attnsvm.symbolic.feasibility",
    "attnsvm.symbolic.normalized_gd",
    "attnsvm.symbolic.fwp_linear_attention",
    "attnsvm.symbolic.policy_gradient_mbr",
    "attnsvm.symbolic.hopfield_energy",
    "attnsvm.symbolic.icl_gd",
    "attnsvm.symbolic.attention_limits",
    "attnsvm.symbolic.graph_svm_kkt",
    "attnsvm.symbolic.satt_svm_dual",
    "attnsvm.symbolic.kq_conservation",
    "attnsvm.symbolic.lp_svm_dual",
    "attnsvm.symbolic.mirror_descent",
)


def _collect() -> dict[str, Derivation]:
    table: dict[str, Derivation] = {}
    for module in _MODULES:
        derivation = importlib.import_module(module).DERIVATION
        if derivation.name in table:
            raise RuntimeError(f"duplicate derivation name {derivation.name!r} in {module}")
        table[derivation.name] = derivation
    return table


DERIVATIONS: dict[str, Derivation] = _collect()


def names() -> list[str]:
    """Registered derivation names, in reading order."""
    return list(DERIVATIONS)


def get(name: str) -> Derivation:
    """The derivation called ``name``; KeyError (listing the known names) otherwise."""
    try:
        return DERIVATIONS[name]
    except KeyError:
        raise KeyError(f"unknown derivation {name!r}; known: {', '.join(DERIVATIONS)}") from None
