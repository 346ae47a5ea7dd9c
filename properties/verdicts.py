"""Evidence and verdicts (docs/design.md, "Verdicts").

A claim's ``check`` turns one instance into ``Evidence``: the measured gap, the threshold it is
judged against, the trend over checkpoints for asymptotic claims, and a status:

    ok              the claim's statement holds on this instance
    counterexample  the statement fails on this instance (for a limit claim: the limit shows)
    out_of_scope    the instance does not satisfy the claim's premises
    inconclusive    the budget was too small to decide (e.g. softmax not yet saturated)

The runner aggregates the statuses of all instances tried into one ``Verdict``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Literal

import numpy as np

Status = Literal["ok", "counterexample", "out_of_scope", "inconclusive"]
STATUSES: tuple[Status, ...] = ("ok", "counterexample", "out_of_scope", "inconclusive")


class Verdict(str, Enum):
    HELD = "held"
    VIOLATED = "violated"
    LIMIT_CONFIRMED = "limit confirmed"
    OUT_OF_SCOPE = "out of scope"
    INCONCLUSIVE = "inconclusive"


class Expected(str, Enum):
    HOLDS = "holds"  # a theorem: no counterexample may exist
    FAILS = "fails"  # a limit: a counterexample must exist
    OPEN = "open"  # an empirical or open statement: any verdict is informative


@dataclass(frozen=True)
class Evidence:
    """What one instance showed.

    ``score`` orders instances by how close they come to a counterexample (hypothesis'
    ``target()`` maximises it); by default it is gap - threshold for "gap must stay below".
    """

    status: Status
    gap: float
    threshold: float
    score: float | None = None
    trend: tuple[float, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown evidence status {self.status!r}")

    @classmethod
    def judge(cls, gap: float, threshold: float, **kw: Any) -> Evidence:
        """``ok`` when ``gap <= threshold``, else ``counterexample`` (``inconclusive`` when the
        gap is not a finite number: a NaN never decides a verdict)."""
        gap, threshold = float(gap), float(threshold)
        if not math.isfinite(gap):
            status: Status = "inconclusive"
            kw.setdefault("note", "the measured gap is not finite")
        else:
            status = "ok" if gap <= threshold else "counterexample"
        return cls(status=status, gap=gap, threshold=threshold, **kw)

    @classmethod
    def measured(cls, gap: float, threshold: float, *, trend: Iterable[float] = (),
                 **details: Any) -> Evidence:
        """``judge`` with the named measurements kept as JSON-able details (``plain``) and an
        optional trend (e.g. a curve over checkpoints)."""
        return cls.judge(gap, threshold, trend=tuple(float(x) for x in trend),
                         details={k: plain(v) for k, v in details.items()})

    @property
    def target_score(self) -> float:
        s = self.gap - self.threshold if self.score is None else self.score
        return float(s) if math.isfinite(s) else (1e300 if s > 0 else -1e300)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["trend"] = list(self.trend)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Evidence:
        return cls(**{**d, "trend": tuple(d.get("trend", ()))})


def plain(obj: Any) -> Any:
    """Plain Python values for evidence details and results (numpy arrays and scalars converted,
    lists, tuples and mappings recursively); non-finite floats are kept (the CLI nulls them)."""
    if isinstance(obj, np.ndarray):
        return plain(obj.tolist())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


def verdict_from(statuses: list[Status], expected: Expected) -> Verdict:
    """Aggregate instance statuses into a verdict.

    Any counterexample decides: a limit claim is confirmed, a theorem is violated (an open claim
    reports the counterexample as a violation of its statement). Otherwise the claim held if at
    least one in-scope instance was decided; it is inconclusive if every in-scope instance was;
    out of scope if none was in scope.
    """
    if "counterexample" in statuses:
        return Verdict.LIMIT_CONFIRMED if expected is Expected.FAILS else Verdict.VIOLATED
    if "ok" in statuses:
        return Verdict.HELD
    if "inconclusive" in statuses:
        return Verdict.INCONCLUSIVE
    return Verdict.OUT_OF_SCOPE


def matches(verdict: Verdict, expected: Expected, known: Verdict | None = None) -> bool:
    """Whether a verdict is what the registry expects (``known`` records an accepted finding,
    like an expected failure in PyTorch's OpInfo, with its instance)."""
    if known is not None:
        return verdict is known
    if expected is Expected.HOLDS:
        return verdict is Verdict.HELD
    if expected is Expected.FAILS:
        return verdict is Verdict.LIMIT_CONFIRMED
    return True
