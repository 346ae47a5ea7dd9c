"""Small float64 helpers shared by the numeric predicates of symbolic/ (numpy only).

They exist so that each predicate can feed a lambdified sympy expression with the quantities it
is a formula of (softmax probabilities, column vectors) without importing reference/.
"""

from __future__ import annotations

import numpy as np


def as_float(x: object) -> np.ndarray:
    """float64 copy of an array-like."""
    return np.array(x, dtype=np.float64)


def column(x: object) -> np.ndarray:
    """A (k, 1) float64 column from a length-k vector."""
    return as_float(x).reshape(-1, 1)


def softmax(u: object, axis: int = -1) -> np.ndarray:
    """Softmax in log-sum-exp form (the maximum subtracted first): exact for huge scores."""
    a = as_float(u)
    shifted = a - np.max(a, axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / np.sum(e, axis=axis, keepdims=True)


def nonselected_mass(u: object, c: float = 1.0) -> float:
    """1 - max_t softmax(c u)_t computed as S / (1 + S), S = sum_{t != argmax} e^{c(u_t - u_max)}.

    Every exponent is <= 0, so nothing overflows, and the small mass is not lost to cancellation
    in ``1 - s_max``.
    """
    a = c * as_float(u).ravel()
    k = int(np.argmax(a))
    rest = np.delete(a, k) - a[k]
    S = float(np.sum(np.exp(rest)))
    return S / (1.0 + S)
