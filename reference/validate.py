"""Input validation shared by the public entry points: every defect becomes a ``ProblemError``
naming the field (never a numpy/Python exception from deep inside a computation).

Arrays are accepted in real floating dtypes (float16/32/64, and longdouble when its values are
float64 numbers) or integer dtypes whose values float64 holds exactly (|v| <= 2**53, or larger
integers that happen to be representable); complex, boolean, datetime, string, bytes, void and
object arrays are refused: converting them would drop information (an imaginary part) or
invent it. Conversion to float64 is exact, so values that are valid stay bit for bit what the
caller passed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from attnsvm.reference.errors import NumericalError, ProblemError

_KIND_NAMES = {
    "b": "boolean",
    "c": "complex",
    "M": "datetime",
    "m": "timedelta",
    "U": "string",
    "S": "bytes",
    "O": "object",
    "V": "structured/void",
}
_EXACT_INT = 2**53
#: The command line refuses work whose estimated peak memory exceeds this (4 GiB): exit 2 with
#: one line naming the estimate and the budget, instead of a MemoryError (or the OOM killer).
MEMORY_BUDGET_BYTES = 4 * 2**30


def _dtype_refusal(field: str, dtype: np.dtype) -> ProblemError:
    kind = _KIND_NAMES.get(dtype.kind, f"dtype {dtype}")
    extra = " (the imaginary part would be dropped)" if dtype.kind == "c" else ""
    return ProblemError(
        field, f"{kind} values are not accepted (dtype {dtype}){extra}; pass real numbers "
        "(a float or integer array)"
    )


def _is_torch(value: object) -> bool:
    return type(value).__module__.split(".")[0] == "torch"


def as_real_array(
    field: str,
    value: object,
    *,
    ndim: int | Iterable[int] | None = None,
    finite: bool = True,
    copy: bool = False,
) -> np.ndarray:
    """``value`` as a float64 numpy array, refusing what cannot be converted exactly.

    ``ndim``: the accepted number(s) of dimensions. ``finite``: refuse NaN and inf. The result is
    the caller's array itself when it is float64 already and ``copy`` is False (never modified).
    """
    if _is_torch(value):
        try:
            value = value.detach().cpu().numpy()  # type: ignore[attr-defined]
        except Exception as exc:  # noqa: BLE001 - any tensor that numpy cannot view
            raise ProblemError(field, f"cannot be read as an array ({exc})") from None
    try:
        arr = np.asarray(value)
    except Exception as exc:  # noqa: BLE001 - ragged lists, objects that refuse __array__, ...
        raise ProblemError(field, f"cannot be read as a float64 array ({_short(exc)})") from None
    kind = arr.dtype.kind
    if kind not in "fiu":
        raise _dtype_refusal(field, arr.dtype)
    if kind == "f":
        if arr.dtype.itemsize > 8:
            with np.errstate(over="ignore", invalid="ignore"):
                out = arr.astype(np.float64)
                same = (out.astype(arr.dtype) == arr) | ~np.isfinite(arr)
            if not np.all(same):
                raise ProblemError(
                    field, f"values of dtype {arr.dtype} that float64 cannot hold exactly"
                )
        else:
            out = np.array(arr, dtype=np.float64, copy=copy or arr.dtype != np.float64)
    else:
        out = arr.astype(np.float64)
        big = (arr > _EXACT_INT) | (arr < -_EXACT_INT) if arr.size else np.zeros(0, bool)
        if np.any(big):
            for original, converted in zip(arr[big].tolist(), out[big].tolist(), strict=True):
                if int(converted) != original:
                    raise ProblemError(
                        field, f"integer {original} has no exact float64 value (|v| > 2**53)"
                    )
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if out.ndim not in allowed:
            want = " or ".join(str(k) for k in allowed)
            raise ProblemError(field, f"expected {want} dimensions, got shape {out.shape}")
    if finite and not np.all(np.isfinite(out)):
        raise ProblemError(field, "contains NaN or inf")
    return out


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 160 else text[:157] + "..."


def as_int(field: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """An integer (Python int, numpy integer, or a float with an integral value) within
    [low, high]; bools are refused."""
    if isinstance(value, (bool, np.bool_)):
        raise ProblemError(field, f"must be an integer, got {value!r}")
    try:
        out = operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        if isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value):
            out = int(value)
        else:
            raise ProblemError(field, f"must be an integer, got {_brief(value)}") from None
    if low is not None and out < low:
        raise ProblemError(field, f"must be >= {low}, got {out}")
    if high is not None and out > high:
        raise ProblemError(field, f"must be <= {high}, got {out}")
    return int(out)


def as_float(
    field: str, value: object, *, positive: bool = False, nonnegative: bool = False
) -> float:
    """A finite real number (optionally > 0 or >= 0); bools, complex and strings are refused."""
    if isinstance(value, (bool, np.bool_, str, bytes, complex, np.complexfloating)):
        raise ProblemError(field, f"must be a real number, got {_brief(value)}")
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise ProblemError(field, f"must be a real number, got {_brief(value)}") from None
    if not math.isfinite(out):
        raise ProblemError(field, f"must be finite, got {out!r}")
    if positive and not out > 0:
        raise ProblemError(field, f"must be > 0, got {out!r}")
    if nonnegative and not out >= 0:
        raise ProblemError(field, f"must be >= 0, got {out!r}")
    return out


def _brief(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def require_finite(field: str, value: Any, cause: str = "") -> None:
    """Raise ``NumericalError(field)`` when ``value`` (an array, a number, or a nest of mappings
    and sequences of them) holds NaN or inf; ``cause`` says why that can happen."""
    bad = _first_non_finite(value)
    if bad is not None:
        where, x = bad
        at = f" at {where}" if where else ""
        raise NumericalError(field, f"non-finite value {x!r}{at}" + (f": {cause}" if cause else ""))


def _first_non_finite(value: Any, where: str = "") -> tuple[str, float] | None:
    if isinstance(value, (bool, np.bool_, int, str)) or value is None:
        return None
    if isinstance(value, (float, np.floating)):
        return None if math.isfinite(value) else (where, float(value))
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "fc" and not np.all(np.isfinite(value)):
            idx = np.argwhere(~np.isfinite(value))[0]
            return f"{where}{list(idx.tolist())}", value[tuple(idx)].item()
        return None
    if isinstance(value, Mapping):
        for k, v in value.items():
            bad = _first_non_finite(v, f"{where}.{k}" if where else str(k))
            if bad is not None:
                return bad
        return None
    if isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            bad = _first_non_finite(v, f"{where}[{i}]")
            if bad is not None:
                return bad
    return None


def is_finite_tree(value: Any) -> bool:
    """True when ``value`` (see ``require_finite``) holds no NaN or inf."""
    return _first_non_finite(value) is None


def check_memory(field: str, nbytes: float, what: str, budget: int = MEMORY_BUDGET_BYTES) -> None:
    """ProblemError(field) when ``nbytes`` (an estimate of the peak memory of ``what``) exceeds
    ``budget`` (``MEMORY_BUDGET_BYTES`` by default)."""
    if not nbytes <= budget:
        raise ProblemError(
            field, f"{what} needs about {_gib(nbytes)} of memory, over the budget of "
            f"{_gib(budget)} (attnsvm.reference.validate.MEMORY_BUDGET_BYTES)"
        )


def _gib(nbytes: float) -> str:
    if nbytes >= 2**60:
        return f"{nbytes / 2**60:.3g} EiB"
    return f"{nbytes / 2**30:.3g} GiB"
