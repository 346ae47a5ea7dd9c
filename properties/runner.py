"""Run a claim: its fixed samples, then a hypothesis search over its instance strategy.

A counterexample stops the search (hypothesis then shrinks it, unless the claim opts out because
each example is a whole training run) and is returned with its spec and evidence, so it can be
saved and replayed. In ``deep`` runs and hunts, ``target()`` steers the search toward each claim's
gap. Every run is reproducible: the ``ci`` profile is derandomized, and any other run takes a seed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings, target

from attnsvm.properties.registry import Claim, get_claim
from attnsvm.properties.verdicts import Evidence, Verdict, matches, verdict_from


class _Found(Exception):
    def __init__(self, spec: Mapping[str, Any], evidence: Evidence) -> None:
        super().__init__("counterexample")
        self.spec = dict(spec)
        self.evidence = evidence


@dataclass
class ClaimReport:
    """The outcome of running one claim."""

    claim_id: str
    expected: str
    verdict: Verdict
    matches: bool
    tried: int
    counts: dict[str, int]
    worst: dict[str, Any] | None
    counterexample: dict[str, Any] | None
    seconds: float
    known_reason: str = ""
    samples: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.claim_id,
            "expected": self.expected,
            "verdict": self.verdict.value,
            "matches": self.matches,
            "tried": self.tried,
            "counts": self.counts,
            "worst": self.worst,
            "counterexample": self.counterexample,
            "seconds": self.seconds,
            "known_reason": self.known_reason,
        }


def run_claim(
    claim: Claim | str,
    profile: str = "ci",
    *,
    max_examples: int | None = None,
    search_seed: int | None = None,
    use_target: bool | None = None,
    shrink: bool | None = None,
    database: Any = None,
    on_example: Callable[[int, Evidence], None] | None = None,
) -> ClaimReport:
    """Check one claim under a hypothesis profile and return its verdict with evidence."""
    from attnsvm.properties.profiles import load_profile

    load_profile(profile)
    c = get_claim(claim) if isinstance(claim, str) else claim
    budget = c.examples_for(profile) if max_examples is None else int(max_examples)
    targeting = (profile == "deep") if use_target is None else use_target
    do_shrink = c.shrink if shrink is None else shrink
    seen: list[tuple[dict[str, Any], Evidence]] = []
    found: tuple[dict[str, Any], Evidence] | None = None
    t0 = time.perf_counter()

    def record(spec: Mapping[str, Any], ev: Evidence) -> None:
        seen.append((dict(spec), ev))
        if on_example is not None:
            on_example(len(seen), ev)

    for spec in c.samples:
        ev = c.check(spec)
        record(spec, ev)
        if ev.status == "counterexample" and found is None:
            found = (dict(spec), ev)

    if found is None and budget > 0:
        phases = [Phase.explicit, Phase.reuse, Phase.generate] + (
            [Phase.target] if targeting else []
        )
        if do_shrink:
            phases.append(Phase.shrink)
        overrides: dict[str, Any] = {
            "max_examples": budget,
            "phases": phases,
            "suppress_health_check": list(HealthCheck),
            "deadline": None,
            "print_blob": False,
        }
        if database is not None:
            overrides["database"] = database

        @settings(**overrides)
        @given(c.instances)
        def search(spec: dict[str, Any]) -> None:
            ev = c.check(spec)
            record(spec, ev)
            if targeting:
                target(ev.target_score, label=c.id)
            if ev.status == "counterexample":
                raise _Found(spec, ev)

        if search_seed is not None:
            search = seed(search_seed)(search)
        try:
            search()
        except _Found as exc:  # hypothesis re-raises the (shrunk) failing example
            found = (exc.spec, exc.evidence)

    statuses = [ev.status for _, ev in seen]
    verdict = verdict_from(statuses, c.expected)
    counts = {
        s: statuses.count(s) for s in ("ok", "counterexample", "out_of_scope", "inconclusive")
    }
    in_scope = [(s, e) for s, e in seen if e.status != "out_of_scope"]
    worst = max(in_scope, key=lambda se: se[1].target_score) if in_scope else None
    return ClaimReport(
        claim_id=c.id,
        expected=c.expected.value,
        verdict=verdict,
        matches=matches(verdict, c.expected, c.known),
        tried=len(seen),
        counts=counts,
        worst=None if worst is None else {"spec": worst[0], "evidence": worst[1].as_dict()},
        counterexample=None
        if found is None
        else {"spec": found[0], "evidence": found[1].as_dict()},
        seconds=time.perf_counter() - t0,
        known_reason=c.known_reason,
    )


def run_claim_by_id(claim_id: str, profile: str, max_examples: int | None = None) -> ClaimReport:
    """Picklable entry point for executors (process pools, Dask)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        return run_claim(claim_id, profile, max_examples=max_examples)
