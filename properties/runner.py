"""Run a claim: its fixed samples, then a hypothesis search over its instance strategy.

A counterexample stops the search (hypothesis then shrinks it, unless the claim opts out because
each example is a whole training run) and is returned with its spec and evidence, so it can be
saved and replayed. In ``deep`` runs and hunts, ``target()`` steers the search toward each claim's
gap. Every run is reproducible: the ``ci`` profile is derandomized, and any other run takes a seed.
"""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings, target

from attnsvm.properties.registry import Claim, evidence_of, get_claim, load_sources
from attnsvm.properties.verdicts import STATUSES, Evidence, Verdict, matches, verdict_from


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
    origin: str = ""
    search_seed: int | None = None

    @property
    def repro(self) -> str:
        """A command that re-runs exactly the deciding (or worst) instance."""
        case = self.counterexample or self.worst
        if case is None:
            return f"attnsvm check {self.claim_id}"
        return repro_command(self.claim_id, case["spec"], self.origin)

    def failure_message(self) -> str:
        """What a mismatch prints: verdict vs expectation, the instance, gap vs threshold, and
        the command that re-runs it."""
        case = self.counterexample or self.worst
        lines = [f"{self.claim_id}: verdict {self.verdict.value}, expected {self.expected}"
                 f" ({self.tried} instances: {self.counts})"]
        if case is not None:
            ev = case["evidence"]
            lines.append(f"  instance: {json.dumps(case['spec'], sort_keys=True)}")
            lines.append(f"  gap {ev['gap']:.6g} vs threshold {ev['threshold']:.6g}"
                         + (f" ({ev['note']})" if ev.get("note") else ""))
        lines.append(f"  re-run: {self.repro}")
        return "\n".join(lines)

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
            "repro": self.repro,
            "search_seed": self.search_seed,
        }


def repro_command(claim_id: str, spec: Mapping[str, Any], origin: str = "") -> str:
    """``attnsvm check ID --instance '<json>'`` (with ``--claims`` for a claim from outside)."""
    from attnsvm.properties.registry import BUILTIN_MODULES

    extra = "" if not origin or origin in BUILTIN_MODULES or origin.startswith("entry point") \
        else f" --claims {shlex.quote(origin)}"
    inst = shlex.quote(json.dumps(dict(spec), sort_keys=True))
    return f"attnsvm check {claim_id}{extra} --instance {inst}"


Seen = list[tuple[dict[str, Any], Evidence]]


PROFILE_DATABASE = "profile"  #: run_claim's default: the example database of the profile


def _search_settings(budget: int, targeting: bool, shrink: bool, database: Any) -> settings:
    """The hypothesis settings of one search (the profile supplies the rest)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    phases += [Phase.target] if targeting else []
    phases += [Phase.shrink] if shrink else []
    overrides: dict[str, Any] = {
        "max_examples": budget,
        "phases": phases,
        "suppress_health_check": list(HealthCheck),
        "deadline": None,
        "print_blob": False,
    }
    if database != PROFILE_DATABASE:
        overrides["database"] = database
    return settings(**overrides)


def _search(claim: Claim, evaluate: Callable[[Mapping[str, Any]], Evidence],
            config: settings, targeting: bool, search_seed: int | None
            ) -> tuple[dict[str, Any], Evidence] | None:
    """Hypothesis over the claim's instances; the first counterexample (shrunk) or None."""

    @config
    @given(claim.instances)
    def search(spec: dict[str, Any]) -> None:
        ev = evaluate(spec)
        if targeting:
            target(ev.target_score, label=claim.id)
        if ev.status == "counterexample":
            raise _Found(spec, ev)

    if search_seed is not None:
        search = seed(search_seed)(search)
    try:
        search()
    except _Found as exc:  # hypothesis re-raises the (shrunk) failing example
        return exc.spec, exc.evidence
    return None


def _report(claim: Claim, seen: Seen, found: tuple[dict[str, Any], Evidence] | None,
            seconds: float) -> ClaimReport:
    """Aggregate the evidence of every instance tried into the claim's report."""
    statuses = [ev.status for _, ev in seen]
    verdict = verdict_from(statuses, claim.expected)
    in_scope = [(s, e) for s, e in seen if e.status != "out_of_scope"]
    worst = max(in_scope, key=lambda se: se[1].target_score) if in_scope else None

    def case(pair: tuple[dict[str, Any], Evidence] | None) -> dict[str, Any] | None:
        return None if pair is None else {"spec": pair[0], "evidence": pair[1].as_dict()}

    known = claim.known
    return ClaimReport(
        claim_id=claim.id,
        expected=claim.expected.value,
        verdict=verdict,
        matches=matches(verdict, claim.expected, None if known is None else known.verdict),
        tried=len(seen),
        counts={s: statuses.count(s) for s in STATUSES},
        worst=case(worst),
        counterexample=case(found),
        seconds=seconds,
        known_reason="" if known is None else known.reason,
        origin=claim.origin,
    )


def run_claim(
    claim: Claim | str,
    profile: str = "ci",
    *,
    max_examples: int | None = None,
    search_seed: int | None = None,
    use_target: bool | None = None,
    shrink: bool | None = None,
    database: Any = PROFILE_DATABASE,
    on_example: Callable[[int, Evidence], None] | None = None,
    tolerances: Mapping[str, Any] | None = None,
    protocol: Mapping[str, Any] | None = None,
    instances: list[Mapping[str, Any]] | None = None,
    reads: dict[str, set[str]] | None = None,
) -> ClaimReport:
    """Check one claim under a hypothesis profile and return its verdict with evidence.

    The samples run first; unless one is a counterexample, hypothesis then searches the claim's
    instances (``max_examples`` overrides the profile's budget). ``tolerances`` / ``protocol``
    override declared keys; ``instances`` replaces samples and search by exactly these
    instances (a repro). ``database``: the profile's example database by default, None for
    none, or a hypothesis database. ``reads`` (optional) collects the tolerance and protocol keys
    the checks read."""
    from attnsvm.properties.profiles import load_profile

    load_profile(profile)
    c = get_claim(claim) if isinstance(claim, str) else claim
    budget = c.examples_for(profile) if max_examples is None else int(max_examples)
    targeting = (profile == "deep") if use_target is None else use_target
    seen: Seen = []
    t0 = time.perf_counter()

    def evaluate(spec: Mapping[str, Any]) -> Evidence:
        ev = evidence_of(c, spec, tolerances=tolerances, protocol=protocol, reads=reads)
        seen.append((dict(spec), ev))
        if on_example is not None:
            on_example(len(seen), ev)
        return ev

    fixed = c.samples if instances is None else instances
    found = None
    for spec in fixed:
        ev = evaluate(spec)
        if found is None and ev.status == "counterexample":
            found = (dict(spec), ev)
    if found is None and instances is None and budget > 0:
        config = _search_settings(budget, targeting, c.shrink if shrink is None else shrink,
                                  database)
        found = _search(c, evaluate, config, targeting, search_seed)
    report = _report(c, seen, found, time.perf_counter() - t0)
    report.search_seed = search_seed
    return report


def run_claim_by_id(claim_id: str, profile: str, max_examples: int | None = None,
                    sources: tuple[str, ...] = (), **kw: Any) -> ClaimReport:
    """Picklable entry point for executors (process pools, Dask): loads the ``--claims`` sources
    in the worker, then runs the claim with BLAS pinned to one thread."""
    from threadpoolctl import threadpool_limits

    from attnsvm.properties.registry import isolated_registry

    # a Dask worker outlives one command: load the claim files for this task only
    with isolated_registry(), threadpool_limits(1):
        load_sources(sources)
        return run_claim(claim_id, profile, max_examples=max_examples, **kw)
