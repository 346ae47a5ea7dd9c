"""Typed errors shared by every layer.

Every error a user can cause carries the name of the offending field, so the command line can
print one line that says what is wrong and where.
"""

from __future__ import annotations

from typing import Any


class AttnsvmError(Exception):
    """Base class of every error attnsvm raises on purpose."""


class ProblemError(AttnsvmError, ValueError):
    """Invalid input data; ``field`` names the offending field (``X``, ``Y``, ``v``, ``Z``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class InfeasibleSVM(AttnsvmError):
    """An SVM program has no feasible point; ``certificate`` proves it (Farkas / Gordan).

    The certificate is a mapping with at least ``lambda`` (nonnegative weights summing to one),
    ``pairs`` (the constraint indices they weigh) and ``residual`` (the norm of the weighted sum of
    constraint matrices, which is zero up to round-off for a valid certificate).
    """

    def __init__(self, message: str, certificate: dict[str, Any]) -> None:
        self.certificate = certificate
        super().__init__(message)
