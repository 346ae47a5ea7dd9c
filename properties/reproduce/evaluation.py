"""Evaluation of declared comparisons: the compact number format, strict-JSON values, the text
templates filled with measurements, and the rules applied (one writer for every experiment)."""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from attnsvm.properties.reproduce.compare import AGREED, DIFFERS, Comparison, Row, scopes


def fmt(x: float | None, digits: int = 3) -> str:
    """Compact number formatting for tables ('-' for missing / non-finite)."""
    if x is None:
        return "-"
    x = float(x)
    if not math.isfinite(x):
        return "-"
    if x != 0 and (abs(x) < 1e-3 or abs(x) >= 1e5):
        return f"{x:.{max(digits - 1, 1)}e}"
    return f"{x:.{digits}g}" if abs(x) >= 1 else f"{x:.{digits}f}"


def jsonable(obj: Any) -> Any:
    """Plain JSON types, recursively; non-finite floats become None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if obj is None or isinstance(obj, str):
        return obj
    return str(obj)


class _Formatter(string.Formatter):
    """str.format plus the compact-number specs ``~`` / ``~4`` and list joins ``~/`` / ``~4 / ``."""

    def format_field(self, value: Any, format_spec: str) -> str:
        spec = re.fullmatch(r"~(\d*)(.*)", format_spec, flags=re.S)
        if spec is None:
            return super().format_field(value, format_spec)
        digits = int(spec[1]) if spec[1] else 3
        if spec[2]:
            return spec[2].join(fmt(v, digits) for v in value)
        return fmt(value, digits)


_FORMATTER = _Formatter()


def fill(template: str, measured: Mapping[str, Any]) -> str:
    """A comparison text with the measurements filled in (see properties.reproduce.compare)."""
    return _FORMATTER.vformat(template, (), measured)


def evaluate_one(c: Comparison, m: Mapping[str, Any]) -> Row:
    """One comparison in one measurement scope."""
    ok = c.rule.holds(m)
    return Row(
        quantity=fill(c.quantity, m),
        paper="; ".join(f"{fill(p.value, m)} [{p.source}]" for p in c.paper),
        ours=fill(c.ours, m),
        verdict=AGREED if ok else DIFFERS,
        why="" if ok else fill(c.why, m),
        rule=c.rule.text(),
        values=jsonable({k: m[k] for k in c.rule.keys()}),
    )


def evaluate(comparisons: Iterable[Comparison], measured: Mapping[str, Any]) -> list[Row]:
    """Every declared comparison evaluated (rows with ``each`` once per item, ``when`` rows only
    when their condition holds), in declaration order."""
    return [evaluate_one(c, m) for c in comparisons for m in scopes(c, measured)]
