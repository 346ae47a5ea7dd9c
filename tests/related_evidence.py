"""Shared by the related-equivalence tests: a related check on an instance under its record."""

from __future__ import annotations

from attnsvm.properties.claims.related import CLAIMS
from attnsvm.properties.registry import evidence_of

RECORD = {c.check: c for c in CLAIMS}  # check function -> its claim record


def evidence(check, instance, *, premises=True, **protocol):
    """``check`` (a related_checks function) on ``instance`` under its record's tolerances and
    protocol (``protocol`` overrides declared keys): through the runner's path (static premises
    first, undeclared keys refused) or, with ``premises=False``, called directly."""
    claim = RECORD[check]
    if premises:
        return evidence_of(claim, instance, protocol=protocol)
    return check(instance, claim.tolerances, {**claim.protocol, **protocol})
