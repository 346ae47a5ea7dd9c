"""Losses of TF-SVM Assumption A (decreasing, differentiable, l' bounded and Lipschitz on bounded
sets): logistic, exponential and the correlation loss l(x) = -x (arXiv 2308.16898, Sec. 2).

Each is evaluated stably in the array namespace of its input (numpy or torch).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from attnsvm.reference.attention.backend import namespace as array_namespace
from attnsvm.reference.errors import ProblemError

Array = Any


@dataclass(frozen=True)
class Loss:
    """A scalar loss l with its derivative l' (both elementwise)."""

    name: str
    value: Callable[[Array], Array]
    derivative: Callable[[Array], Array]
    log_abs_derivative: Callable[[Array], Array]  # log |l'(x)|, finite where l' underflows


def _logistic(x: Array) -> Array:
    xp = array_namespace(x)
    return xp.logaddexp(xp.zeros_like(x), -x)


def _logistic_prime(x: Array) -> Array:
    xp = array_namespace(x)
    return -xp.exp(-xp.logaddexp(xp.zeros_like(x), x))  # -1 / (1 + e^x), no overflow


def _exponential(x: Array) -> Array:
    return array_namespace(x).exp(-x)


def _exponential_prime(x: Array) -> Array:
    return -array_namespace(x).exp(-x)


def _correlation(x: Array) -> Array:
    return -x


def _correlation_prime(x: Array) -> Array:
    return array_namespace(x).ones_like(x) * -1.0


def _logistic_log_abs_prime(x: Array) -> Array:
    xp = array_namespace(x)
    return -xp.logaddexp(xp.zeros_like(x), x)


def _exponential_log_abs_prime(x: Array) -> Array:
    return -x


def _correlation_log_abs_prime(x: Array) -> Array:
    return array_namespace(x).zeros_like(x)


LOSSES: dict[str, Loss] = {
    "logistic": Loss("logistic", _logistic, _logistic_prime, _logistic_log_abs_prime),
    "exponential": Loss(
        "exponential", _exponential, _exponential_prime, _exponential_log_abs_prime
    ),
    "correlation": Loss(
        "correlation", _correlation, _correlation_prime, _correlation_log_abs_prime
    ),
}


def get_loss(name: str | Loss) -> Loss:
    """Look a loss up by name (``logistic``, ``exponential``, ``correlation``)."""
    if isinstance(name, Loss):
        return name
    if not isinstance(name, str):
        raise ProblemError("loss", f"expected a loss name {sorted(LOSSES)} or a Loss, got "
                           f"{type(name).__name__}")
    try:
        return LOSSES[name]
    except KeyError:
        raise ProblemError("loss", f"unknown loss {name!r}; choose from {sorted(LOSSES)}") from None
