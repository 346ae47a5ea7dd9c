"""Comparison records: what a reproduction compares with the papers, declared as data.

Each experiment module declares ``COMPARISONS``, a tuple of :class:`Comparison` rows, and a
``measure(data, cfg)`` function that reduces its raw data to named measurements. The report writer
(``properties.reproduce.report.evaluate``) evaluates every row against those measurements and
renders it as a :class:`Row`. The texts of a row (quantity, the paper's values, ours, why) are
``str.format`` templates over the measurements; besides the usual format specs, ``{x:~}`` and
``{x:~4}`` print a number compactly (``common.fmt``, 3 or 4 digits) and ``{xs:~/}`` /
``{xs:~4 / }`` join a list of numbers with the separator after the digits. Literal braces are
written ``{{`` and ``}}``.

The rule of a row is a small record (:class:`AtLeast`, :class:`Below`, :class:`Near`, ...) over
measurement names and literal numbers; it decides agreed / differs, and its text and the values it
read are written beside the verdict. A comparison with a missing value (None) does not hold
unless the rule says ``missing=True``.

Sources: the papers are cited by arXiv id and the place in words (theorem numbers and exact
statements that could not be confirmed in the paper's text say so); the official notebooks are
public; numbers of an earlier independent re-run (not published) are labelled as such, never as
paper values.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

import numpy as np

AGREED, DIFFERS = "agreed", "differs"

# ----------------------------------------------------------------------------- sources
TFSVM = "TF-SVM (Tarzanagh, Li, Thrampoulidis, Oymak, arXiv 2308.16898)"
MMTS = "MMTS (Tarzanagh, Li, Zhang, Oymak, arXiv 2306.13596)"
#: a statement or number remembered from a paper but not found in its retrievable text
RECALLED = "recalled from the paper, unconfirmed"
#: the public repositories of the official notebooks
NOTEBOOKS = {
    "local_converge": "umich-sota/TF-as-SVM",
    "multi_token_converge": "umich-sota/TF-as-SVM",
    "svm_rank": "umich-sota/TF-as-SVM",
    "single_input_converge": "ucr-optml/max_margin_attention",
    "multi_input_converge": "ucr-optml/max_margin_attention",
    "joint_training": "ucr-optml/max_margin_attention",
    "diff_loss_function": "ucr-optml/max_margin_attention",
}


def tfsvm(where: str) -> str:
    """A place in the TF-SVM paper, e.g. ``tfsvm("abstract")``."""
    return f"TF-SVM arXiv 2308.16898, {where}"


def mmts(where: str) -> str:
    """A place in the MMTS paper."""
    return f"MMTS arXiv 2306.13596, {where}"


def notebook(name: str, where: str = "") -> str:
    """An official notebook (public), optionally a panel or cell of it."""
    text = f"official notebook {name}.ipynb (github.com/{NOTEBOOKS[name]})"
    return f"{text}, {where}" if where else text


def earlier(runs: str) -> str:
    """A number from an earlier independent re-run of the protocol (unpublished)."""
    return f"earlier independent re-run, {runs}; unpublished, not a paper value"


DERIVED = "attnsvm derivation"


@dataclass(frozen=True)
class Cited:
    """One paper-side value or statement (a template) and where it comes from."""

    value: str
    source: str


# ----------------------------------------------------------------------------- rules
class Rule(Protocol):
    def holds(self, m: Mapping[str, Any]) -> bool: ...

    def text(self) -> str: ...

    def keys(self) -> tuple[str, ...]: ...


Operand = str | float | int | bool | tuple | list | None


def _get(m: Mapping[str, Any], x: Operand) -> Any:
    """A measurement (by name) or a literal."""
    return m[x] if isinstance(x, str) else x


def _show(x: Operand) -> str:
    return x if isinstance(x, str) else repr(x)


def _names(*xs: Operand) -> tuple[str, ...]:
    return tuple(x for x in xs if isinstance(x, str))


def _missing(x: Any) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


@dataclass(frozen=True)
class _Compare:
    """``left OP scale * right``; None on either side gives ``missing`` (NaN compares false)."""

    left: str
    right: Operand
    scale: float = 1
    missing: bool = False
    op: ClassVar[str] = "?"
    fn: ClassVar[Callable[[Any, Any], bool]]

    def holds(self, m: Mapping[str, Any]) -> bool:
        a, b = _get(m, self.left), _get(m, self.right)
        if a is None or b is None:
            return self.missing
        return bool(type(self).fn(a, b if self.scale == 1 else self.scale * b))

    def text(self) -> str:
        right = _show(self.right) if self.scale == 1 else f"{self.scale!r} x {_show(self.right)}"
        return f"{self.left} {self.op} {right}"

    def keys(self) -> tuple[str, ...]:
        return _names(self.left, self.right)


class AtLeast(_Compare):
    op, fn = ">=", operator.ge


class AtMost(_Compare):
    op, fn = "<=", operator.le


class Above(_Compare):
    op, fn = ">", operator.gt


class Below(_Compare):
    op, fn = "<", operator.lt


class Equal(_Compare):
    op, fn = "==", operator.eq


@dataclass(frozen=True)
class Near:
    """``|left - right| <= tol`` (tol a number or a measurement name)."""

    left: str
    right: Operand
    tol: Operand

    def holds(self, m: Mapping[str, Any]) -> bool:
        a, b, tol = (_get(m, x) for x in (self.left, self.right, self.tol))
        if _missing(a) or b is None:
            return False
        return bool(abs(a - b) <= tol)

    def text(self) -> str:
        return f"|{self.left} - {_show(self.right)}| <= {_show(self.tol)}"

    def keys(self) -> tuple[str, ...]:
        return _names(self.left, self.right, self.tol)


@dataclass(frozen=True)
class IsTrue:
    """A yes/no measurement (for conditions that are not a comparison of numbers)."""

    name: str

    def holds(self, m: Mapping[str, Any]) -> bool:
        return bool(m[self.name])

    def text(self) -> str:
        return self.name

    def keys(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class Increasing:
    """Every step of the sequence ``name`` is above ``-slack``."""

    name: str
    slack: float = 0.0

    def holds(self, m: Mapping[str, Any]) -> bool:
        return bool(np.all(np.diff(m[self.name]) > -self.slack))

    def text(self) -> str:
        return f"{self.name} increasing (every step > {-self.slack!r})"

    def keys(self) -> tuple[str, ...]:
        return (self.name,)


@dataclass(frozen=True)
class All:
    """Every rule holds (evaluated in order)."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", tuple(rules))

    def holds(self, m: Mapping[str, Any]) -> bool:
        return all(r.holds(m) for r in self.rules)

    def text(self) -> str:
        return " and ".join(r.text() for r in self.rules)

    def keys(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(k for r in self.rules for k in r.keys()))


# ----------------------------------------------------------------------------- records
@dataclass(frozen=True)
class Comparison:
    """One declared comparison: a quantity, what the paper says (with sources), our measurement,
    the rule that decides agreed / differs, and the explanation shown when it differs.

    ``each`` names a list of dicts in the measurements: the row is then evaluated once per item
    (the item's keys added to the measurements). ``when`` names a yes/no measurement: the row is
    left out when it is false.
    """

    quantity: str
    paper: tuple[Cited, ...] | Cited
    ours: str
    rule: Rule
    why: str
    each: str | None = None
    when: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.paper, Cited):
            object.__setattr__(self, "paper", (self.paper,))
        if not self.why:
            raise ValueError(f"comparison {self.quantity!r} must say why when it differs")


@dataclass(frozen=True)
class Row:
    """An evaluated comparison, as written to the JSON and REPORT.md (``values``: the JSON-able
    measurements the rule read)."""

    quantity: str
    paper: str
    ours: str
    verdict: str
    why: str
    rule: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in (AGREED, DIFFERS):
            raise ValueError(f"verdict must be {AGREED!r} or {DIFFERS!r}, got {self.verdict!r}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "quantity": self.quantity,
            "paper": self.paper,
            "ours": self.ours,
            "verdict": self.verdict,
            "why": self.why,
            "rule": self.rule,
            "values": dict(self.values),
        }


def scopes(c: Comparison, measured: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    """The measurement scopes a comparison is evaluated in (none, one, or one per item)."""
    if c.when is not None and not measured[c.when]:
        return []
    if c.each is None:
        return [measured]
    return [{**measured, **item} for item in measured[c.each]]
