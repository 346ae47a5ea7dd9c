"""Typed errors shared by every layer.

Every error a user can cause carries the name of the offending field, so the command line can
print one line that says what is wrong and where.

Every ``AttnsvmError`` pickles (process pools send them between processes): the constructor's
arguments are recorded when the error is created and ``__reduce__`` rebuilds the error from
them, with its attributes, so subclasses whose ``__init__`` takes more than a message
(``ProblemError(field, message)``, ``InfeasibleSVM(message, certificate)``, ...) unpickle too.
"""

from __future__ import annotations

from typing import Any


def _rebuild(cls: type, args: tuple, kwargs: dict, state: dict) -> AttnsvmError:
    err = cls(*args, **kwargs)
    err.__dict__.update(state)
    return err


class AttnsvmError(Exception):
    """Base class of every error attnsvm raises on purpose."""

    def __new__(cls, *args: Any, **kwargs: Any) -> AttnsvmError:
        self = super().__new__(cls, *args)
        self._ctor = (args, kwargs)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self.__dict__.get("_ctor", (self.args, {}))
        state = {k: v for k, v in self.__dict__.items() if k != "_ctor"}
        return _rebuild, (type(self), args, kwargs, state)


class ProblemError(AttnsvmError, ValueError):
    """Invalid input data; ``field`` names the offending field (``X``, ``Y``, ``v``, ``Z``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class NumericalError(AttnsvmError, ArithmeticError):
    """A computation on valid input produced a result that float64 cannot represent (NaN,
    overflow to inf, a certificate whose quantities under- or overflow). ``field`` names the
    quantity (``W``, ``lam``, ``logits``, ...); never raised in place of a correct answer."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


class InfeasibleSVM(AttnsvmError):
    """An SVM program has no feasible point; ``certificate`` proves it (Farkas / Gordan).

    The certificate is a mapping with at least ``lambda`` (nonnegative weights summing to one),
    ``pairs`` (the constraint indices they weigh) and ``residual`` (the norm of the weighted sum of
    constraint matrices, which is zero up to round-off for a valid certificate).

    Exactness: the problem-level solvers (``solve_att_svm``, ``solve_nuclear_svm`` and their
    cvxpy cross-checks) check the certificate in exact rational arithmetic
    (``attnsvm.reference.svm.exact``). Raised as this class with ``certificate["proved"]`` True,
    the weighted sum of the constraint matrices vanishes exactly: infeasibility is *proved*.
    When the exact check fails they raise the subclass ``InfeasibleAtWorkingPrecision``, which
    says less. Constraint-level solvers (``fro_min_norm`` and the programs built on it) and
    ``prove=False`` do not check: ``proved`` is then False and the certificate holds to working
    precision (relative residual <= 1e-9).
    """

    status = "infeasible"

    def __init__(self, message: str, certificate: dict[str, Any]) -> None:
        self.certificate = certificate
        super().__init__(message)

    @property
    def proved(self) -> bool:
        """True when the certificate was verified in exact arithmetic (see the class docstring)."""
        return bool(self.certificate.get("proved", False))


class InfeasibleAtWorkingPrecision(InfeasibleSVM):
    """The program may be feasible, but only with ||W|| beyond what float64 resolves.

    The Farkas combination vanishes to relative precision ``certificate["tolerance"]`` (1e-9)
    but not exactly: any feasible W has ||W||_F >= ``certificate["norm_lower_bound"]``, i.e.
    logits ``certificate["conditioning"]`` (= 1 / relative residual) times the data's scale.
    A subclass of InfeasibleSVM, so code that treats both alike keeps working; the command line
    reports it with its own status and exit code.
    """

    status = "infeasible_at_working_precision"
