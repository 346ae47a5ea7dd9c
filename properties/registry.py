"""The claim API and the claims registry (one record per claim, in the spirit of JAX's
``op_record`` table and PyTorch's OpInfo).

A claim is one ``Claim`` record: what it says (``statement``), where it comes from (``source``), the
premises it needs (``requires``, named predicates evaluated by the runner), how to draw instances
(``instances``, a hypothesis strategy; ``samples``, fixed instances that always run), the numbers it
is judged by (``tolerances``) and the experiment's settings (``protocol``), and the ``check``
``(instance, tolerances, protocol) -> Evidence``. No threshold or protocol number lives in a check
body: the runner hands the check read-only mappings that refuse undeclared keys, and the test
suite fails when a declared key is never read.

Claims come from the built-in modules, from installed packages through the entry-point group
``attnsvm.claims``, and from a user's own file or module (``load_claims``, ``--claims``). A
module of claims defines ``CLAIMS``, a sequence of ``Claim`` records. Ids are unique across all
sources.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from hashlib import sha256
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from attnsvm.properties.errors import ClaimError
from attnsvm.properties.premises import Premise, PremiseUnmet, resolve_premise, unmet_evidence
from attnsvm.properties.verdicts import Evidence, Expected, Verdict
from attnsvm.reference.errors import ProblemError

BUILTIN_MODULES = (
    "attnsvm.properties.claims.tfsvm",
    "attnsvm.properties.claims.mmts",
    "attnsvm.properties.claims.agreement",
    "attnsvm.properties.claims.related",
    "attnsvm.properties.claims.discussion",
    "attnsvm.properties.claims.own_model",
    "attnsvm.properties.claims.multihead",
    "attnsvm.properties.claims.factorization",
    "attnsvm.properties.claims.ntp",
    "attnsvm.properties.claims.sequence",
    "attnsvm.properties.claims.generalization",
    "attnsvm.properties.claims.rates",
    "attnsvm.properties.claims.geometry",
)
ENTRY_POINT_GROUP = "attnsvm.claims"
DEFAULT_BUDGET = {"ci": 10, "dev": 50, "deep": 1000}
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*(\.[a-z0-9][a-z0-9_-]*)+$")
_PROFILES = ("ci", "dev", "deep")


@dataclass(frozen=True)
class Source:
    """Where a claim comes from: the paper (authors, title), its arXiv id, the place in it
    (theorem / lemma / equation / figure / section) and whether that place was confirmed against
    the paper's text (``False`` marks a number or statement recalled, not yet checked)."""

    paper: str
    arxiv: str = ""
    where: str = ""
    confirmed: bool = False

    def __str__(self) -> str:
        ref = f", arXiv {self.arxiv}" if self.arxiv else ""
        loc = f", {self.where}" if self.where else ""
        return f"{self.paper}{ref}{loc}" + ("" if self.confirmed else " (unconfirmed)")


@dataclass(frozen=True)
class Known:
    """An accepted finding that differs from ``expected``: the verdict the suite reports, why, and
    the instance that shows it (like an expected failure in PyTorch's OpInfo)."""

    verdict: Verdict
    reason: str
    instance: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "verdict", Verdict(self.verdict))
        if not self.reason.strip():
            raise ClaimError("known", "an accepted finding needs its reason")


Check = Callable[[Mapping[str, Any], Mapping[str, Any], Mapping[str, Any]], Evidence]


@dataclass(frozen=True)
class Claim:
    """One checkable statement (see the module docstring).

    Attributes:
        id: short stable id, ``<area>.<name>`` in lowercase, e.g. ``tfsvm.ngd-direction-W``.
        source: a ``Source`` (a plain string is read as ``Source(paper=...)``).
        statement: the statement in words; ``latex`` a rendering (from symbolic/ where it exists).
        instances: hypothesis strategy of JSON-able instances (dicts), in scope by construction.
        check: ``(instance, tolerances, protocol) -> Evidence``.
        expected: ``holds`` (a theorem), ``fails`` (a limit: a counterexample must exist),
            ``open`` (empirical: any verdict informs).
        samples: fixed instances that always run first (at least one: every claim is sweepable).
        requires: premise names (or ``Premise`` records), evaluated by the runner; ``conditions``
            is generated from them.
        tolerances: the thresholds the check judges by.
        protocol: the experiment's settings (steps, radii, runs, budgets).
        known: an accepted finding (``Known``) that differs from ``expected``.
        budget: hypothesis examples per profile (ci / dev / deep).
        build_problem: instance -> AttentionProblem, when instances are attention problems (saved
            as .npz beside a counterexample record).
        shrink: whether hypothesis shrinks a counterexample (off when one example is a long run).
        origin: where the record was loaded from (set by the registry).
    """

    id: str
    source: Source
    statement: str
    instances: st.SearchStrategy[Any]
    check: Check
    expected: Expected
    samples: Sequence[Mapping[str, Any]]
    requires: Sequence[str | Premise] = ()
    tolerances: Mapping[str, Any] = field(default_factory=dict)
    protocol: Mapping[str, Any] = field(default_factory=dict)
    known: Known | None = None
    budget: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_BUDGET))
    latex: str = ""
    build_problem: Callable[[Mapping[str, Any]], Any] | None = None
    shrink: bool = True
    origin: str = ""

    def __post_init__(self) -> None:
        def bad(name: str, msg: str) -> ClaimError:
            return ClaimError(name, f"claim {self.id!r}: {msg}")

        if not isinstance(self.id, str) or not _ID.match(self.id.lower()):
            raise ClaimError("id", f"{self.id!r} is not of the form 'area.name' (lowercase, "
                             "digits, '-', '_')")
        if isinstance(self.source, str):
            object.__setattr__(self, "source", Source(paper=self.source))
        if not isinstance(self.source, Source) or not self.source.paper.strip():
            raise bad("source", "needs a Source (paper, arxiv, where, confirmed)")
        if not isinstance(self.statement, str) or not self.statement.strip():
            raise bad("statement", "is empty")
        if not isinstance(self.instances, st.SearchStrategy):
            raise bad("instances", "must be a hypothesis SearchStrategy")
        if not callable(self.check):
            raise bad("check", "must be callable as check(instance, tolerances, protocol)")
        try:
            object.__setattr__(self, "expected", Expected(self.expected))
        except ValueError:
            raise bad("expected", f"must be one of holds, fails, open; got {self.expected!r}"
                      ) from None
        samples = tuple(dict(s) for s in self.samples)
        if not samples:
            raise bad("samples", "needs at least one fixed instance (every claim is sweepable)")
        object.__setattr__(self, "samples", samples)
        object.__setattr__(self, "requires", tuple(resolve_premise(r) for r in self.requires))
        for name in ("tolerances", "protocol"):
            value = getattr(self, name)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise bad(name, "must be a mapping with string keys")
            object.__setattr__(self, name, dict(value))
        clash = set(self.tolerances) & set(self.protocol)
        if clash:
            raise bad("protocol", f"keys {sorted(clash)} are also tolerances; name them apart")
        budget = {**DEFAULT_BUDGET, **dict(self.budget)}
        if any(not isinstance(budget[p], int) or budget[p] < 0 for p in _PROFILES):
            raise bad("budget", f"examples per profile must be integers >= 0, got {budget}")
        object.__setattr__(self, "budget", budget)
        if self.known is not None and not isinstance(self.known, Known):
            raise bad("known", "must be a Known(verdict, reason, instance)")

    @property
    def premises(self) -> tuple[Premise, ...]:
        return tuple(self.requires)  # resolved in __post_init__

    @property
    def conditions(self) -> str:
        """The premises in words (generated from ``requires``)."""
        return "; ".join(p.text for p in self.premises) or "none"

    def examples_for(self, profile: str) -> int:
        return int(self.budget.get(profile, DEFAULT_BUDGET.get(profile, 10)))


# ------------------------------------------------------------------------------------ registry
_claims: dict[str, Claim] = {}
_loaded: set[str] = set()
_builtins_loaded = False


def _register(claims: Sequence[Claim], origin: str) -> list[Claim]:
    """Add claims under ``origin``; a duplicate id is refused, naming both sources."""
    out = []
    for claim in claims:
        if not isinstance(claim, Claim):
            raise ClaimError("claims", f"{origin}: CLAIMS holds {type(claim).__name__}, not Claim")
        if claim.id in _claims and _claims[claim.id].origin != origin:
            raise ClaimError(
                "claims",
                f"duplicate claim id {claim.id!r}: defined in {_claims[claim.id].origin} and in "
                f"{origin}",
            )
        rec = claim if claim.origin else _with_origin(claim, origin)
        _claims[rec.id] = rec
        out.append(rec)
    return out


def _with_origin(claim: Claim, origin: str) -> Claim:
    object.__setattr__(claim, "origin", origin)
    return claim


def _claims_of(obj: Any, origin: str) -> Sequence[Claim]:
    """CLAIMS of a module, or the object itself (a Claim, a sequence, or a callable)."""
    if isinstance(obj, Claim):
        return [obj]
    if callable(obj) and not hasattr(obj, "CLAIMS"):
        obj = obj()
    if hasattr(obj, "CLAIMS"):
        obj = obj.CLAIMS
    if isinstance(obj, Claim):
        return [obj]
    if not isinstance(obj, Sequence) or isinstance(obj, (str, bytes)):
        raise ClaimError("claims", f"{origin} defines no CLAIMS sequence of Claim records")
    return list(obj)


def _ensure_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    for name in BUILTIN_MODULES:
        _register(_claims_of(importlib.import_module(name), name), name)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        origin = f"entry point {ep.name} ({ep.value})"
        _register(_claims_of(ep.load(), origin), origin)


def load_claims(source: str | Path) -> list[Claim]:
    """Load the claims of a Python file (``path/to/claims.py``) or an importable module
    (``mypkg.claims``) into the registry and return them; loading the same source twice is a
    no-op. Raises ClaimError('claims') for a missing source or a duplicate id."""
    _ensure_builtins()
    text = str(source)
    path = Path(text)
    key = str(path.resolve()) if path.suffix == ".py" or path.exists() else text
    if key in _loaded:
        return [c for c in _claims.values() if c.origin == key]
    if path.suffix == ".py" or path.exists():
        if not path.is_file():
            raise ClaimError("claims", f"no such claims file: {text}")
        mod_name = "attnsvm_user_claims_" + sha256(key.encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        if spec is None or spec.loader is None:
            raise ClaimError("claims", f"{text} is not a Python file")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)
        except ClaimError:
            raise
        except Exception as exc:
            del sys.modules[mod_name]
            raise ClaimError("claims", f"{text} failed to load: {type(exc).__name__}: {exc}"
                             ) from exc
    else:
        try:
            module = importlib.import_module(text)
        except ImportError as exc:
            raise ClaimError("claims", f"cannot import claims module {text!r} ({exc})") from None
    claims = _register(_claims_of(module, key), key)
    _loaded.add(key)
    return claims


def load_sources(sources: Sequence[str]) -> None:
    """Load every ``--claims`` source (used by the CLI and, in each worker, by the executors)."""
    for s in sources:
        load_claims(s)


def all_claims() -> dict[str, Claim]:
    """Every registered claim, by id, in registration order (built-ins, entry points, loaded)."""
    _ensure_builtins()
    return dict(_claims)


def get_claim(claim_id: str) -> Claim:
    claims = all_claims()
    if claim_id not in claims:
        raise ProblemError("claim", f"unknown claim id {claim_id!r}; see `attnsvm list`")
    return claims[claim_id]


# ------------------------------------------------------------------ tolerances and protocol
class DeclaredKeys(Mapping[str, Any]):
    """A read-only mapping that refuses undeclared keys (ClaimError naming the claim and the key)
    and records which keys were read, so a test can find declared keys no check uses."""

    def __init__(self, claim_id: str, kind: str, values: Mapping[str, Any]) -> None:
        self._id, self._kind, self._values = claim_id, kind, dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        if key not in self._values:
            raise ClaimError(
                self._kind, f"claim {self._id!r} asked for undeclared key {key!r} (declared: "
                f"{', '.join(sorted(self._values)) or 'none'})"
            )
        self.read.add(key)
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"{self._kind}({self._values!r})"


def overridden(claim: Claim, kind: str, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """The claim's ``tolerances`` or ``protocol`` with overrides of declared keys only."""
    base = dict(getattr(claim, kind))
    for key, value in (overrides or {}).items():
        if key not in base:
            raise ClaimError(kind, f"{key!r} is not a {kind} key of {claim.id} "
                             f"({', '.join(sorted(base)) or 'none declared'})")
        base[key] = value
    return base


def evidence_of(claim: Claim, instance: Mapping[str, Any], *,
                tolerances: Mapping[str, Any] | None = None,
                protocol: Mapping[str, Any] | None = None,
                reads: dict[str, set[str]] | None = None) -> Evidence:
    """Evaluate one instance: the static premises first (the runner's out-of-scope or
    inconclusive evidence when one fails), then the check with guarded tolerances and protocol.
    ``reads`` (optional) collects the keys read, per kind."""
    tol = DeclaredKeys(claim.id, "tolerances", overridden(claim, "tolerances", tolerances))
    pro = DeclaredKeys(claim.id, "protocol", overridden(claim, "protocol", protocol))
    try:
        for premise in claim.premises:
            if premise.holds is not None and not premise.holds(instance, tol):
                return unmet_evidence(premise)
        try:
            ev = claim.check(instance, tol, pro)
        except PremiseUnmet as exc:
            declared = {p.name: p for p in claim.premises}
            if exc.name not in declared:
                raise ClaimError("requires", f"claim {claim.id!r} checked premise {exc.name!r} "
                                 f"but does not declare it in requires") from None
            return unmet_evidence(declared[exc.name], **exc.details)
    finally:
        if reads is not None:
            reads.setdefault("tolerances", set()).update(tol.read)
            reads.setdefault("protocol", set()).update(pro.read)
    if not isinstance(ev, Evidence):
        raise ClaimError("check", f"claim {claim.id!r} returned {type(ev).__name__}, "
                         "not Evidence")
    return ev


@contextmanager
def isolated_registry() -> Iterator[None]:
    """Claims loaded inside the block are forgotten after it (for tests that load claim files)."""
    _ensure_builtins()
    saved, loaded = dict(_claims), set(_loaded)
    try:
        yield
    finally:
        _claims.clear()
        _claims.update(saved)
        _loaded.clear()
        _loaded.update(loaded)
