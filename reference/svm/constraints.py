"""Shared structure of every Att-SVM program (TF-SVM Eq. (Att-SVM) and its variants).

Att-SVM_alpha (arXiv 2308.16898, Sec. 2):  min ||W||  s.t.  (x_{i alpha_i} - x_it)^T W z_i >= 1
for every input i and every token t != alpha_i.  Constraint k is linear in W with matrix
A_k = a_k z_{i_k}^T, a_k = x_{i alpha_i} - x_it, so <A_k, A_l> = (a_k . a_l)(z_k . z_l) and the
Gram matrix of all constraints is (A A^T) o (Z Z^T), A the rows a_k and Z the rows z_{i_k}.

This module holds only the shared data: the constraint list and the certified solution record.
Solvers live in their own modules and all return ``SVMSolution``.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_real_array


@dataclass(frozen=True)
class MarginConstraints:
    """Rows of an Att-SVM: <a_k z_k^T, W> >= rhs_k (or == rhs_k where ``equality``).

    Attributes:
        a: token differences a_k, shape (K, d).
        z: the query of constraint k, shape (K, d).
        pairs: (i, t) of each constraint (input, non-selected token), shape (K, 2).
        rhs: right-hand sides, shape (K,) (1 for margin constraints, 0 for relaxed ones).
        equality: True where the row is an equality, shape (K,).
    """

    a: np.ndarray
    z: np.ndarray
    pairs: np.ndarray
    rhs: np.ndarray
    equality: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        a = as_real_array("a", self.a, ndim=2, finite=False)
        z = as_real_array("z", self.z, ndim=2, finite=False)
        rhs = as_real_array("rhs", self.rhs, ndim=1, finite=False)
        if z.shape[0] != a.shape[0] or rhs.shape[0] != a.shape[0]:
            raise ProblemError("z", f"a {a.shape}, z {z.shape} and rhs {rhs.shape} must have one "
                               "row per constraint")
        pairs = self.pairs if isinstance(self.pairs, np.ndarray) else np.asarray(self.pairs)
        if pairs.shape != (a.shape[0], 2) and pairs.size:
            raise ProblemError("pairs", f"expected shape ({a.shape[0]}, 2), got {pairs.shape}")
        for name, value, old in (("a", a, self.a), ("z", z, self.z), ("rhs", rhs, self.rhs),
                                 ("pairs", pairs, self.pairs)):
            if value is not old:
                object.__setattr__(self, name, value)
        equality = self.equality
        if not isinstance(equality, np.ndarray):
            equality = np.asarray(equality, dtype=bool)
            object.__setattr__(self, "equality", equality)
        if self.equality.shape != self.rhs.shape:
            object.__setattr__(self, "equality", np.zeros(self.rhs.shape, dtype=bool))

    @property
    def K(self) -> int:
        return int(self.a.shape[0])

    def gram(self) -> np.ndarray:
        """<A_k, A_l>_F = (a_k . a_l)(z_k . z_l): the Hadamard-product Gram matrix."""
        return (self.a @ self.a.T) * (self.z @ self.z.T)

    def combine(self, lam: np.ndarray) -> np.ndarray:
        """sum_k lam_k a_k z_k^T (the representer form of a dual vector), shape (d, d)."""
        return (self.a * np.asarray(lam)[:, None]).T @ self.z

    def values(self, W: np.ndarray) -> np.ndarray:
        """<A_k, W> = a_k^T W z_k for every constraint, shape (K,)."""
        return np.einsum("kd,de,ke->k", self.a, W, self.z)


def index_array(select: object, expected: str) -> np.ndarray:
    """A user selection as an array, its shape and range not yet checked; ProblemError('select')
    for a string (``expected`` says what was wanted, e.g. "3 token indices") or a ragged or
    otherwise unreadable sequence."""
    if isinstance(select, (str, bytes)):
        raise ProblemError("select", f"expected {expected}, got {select!r:.60}")
    try:
        return np.asarray(select)
    except Exception:  # noqa: BLE001 - ragged or otherwise unreadable sequences
        raise ProblemError("select", "token indices must be a sequence of integers") from None


def check_selection(problem: AttentionProblem, select: Sequence[int] | np.ndarray) -> np.ndarray:
    """Validate a selection alpha (one token index per input); raises ProblemError('select')."""
    problem = as_problem(problem)
    alpha = index_array(select, f"{problem.n} token indices")
    if alpha.shape != (problem.n,):
        raise ProblemError("select", f"expected {problem.n} token indices, got shape {alpha.shape}")
    if alpha.dtype.kind == "O":  # e.g. Python integers beyond int64
        try:
            vals = [operator.index(a) for a in alpha.tolist()]
        except TypeError:
            raise ProblemError("select", "token indices must be integers") from None
        if any(not 0 <= a < problem.T for a in vals):
            raise ProblemError("select", f"token indices must lie in [0, {problem.T - 1}]")
        return np.array(vals, dtype=np.int64)
    if alpha.dtype.kind not in "iuf":
        raise ProblemError("select", f"token indices must be integers, got dtype {alpha.dtype}")
    if not np.issubdtype(alpha.dtype, np.integer):
        if not np.all(np.isfinite(alpha)) or not np.all(np.equal(np.mod(alpha, 1), 0)):
            raise ProblemError("select", "token indices must be integers")
        if np.any(alpha < 0) or np.any(alpha >= problem.T):
            raise ProblemError("select", f"token indices must lie in [0, {problem.T - 1}]")
        alpha = alpha.astype(np.int64)
    if np.any(alpha < 0) or np.any(alpha >= problem.T):
        raise ProblemError("select", f"token indices must lie in [0, {problem.T - 1}]")
    return alpha.astype(np.int64)


def margin_constraints(
    problem: AttentionProblem, select: Sequence[int] | np.ndarray
) -> MarginConstraints:
    """The n(T-1) constraints of Att-SVM_alpha for selection ``select`` (one index per input)."""
    alpha = check_selection(problem, select)
    n, T, _ = problem.X.shape
    ii, tt = np.nonzero(np.arange(T)[None, :] != alpha[:, None])
    a = problem.X[ii, alpha[ii]] - problem.X[ii, tt]
    z = problem.Z[ii]
    pairs = np.stack([ii, tt], axis=1)
    return MarginConstraints(a=a, z=z, pairs=pairs, rhs=np.ones(len(ii)))


@dataclass(frozen=True)
class SVMSolution:
    """A solved Att-SVM with its optimality certificate.

    ``W`` is the primal solution, ``lam`` the dual multipliers (one per constraint row, in the
    order of ``constraints``); ``min_margin``, ``kkt_residual`` (stationarity + complementarity,
    relative) and ``duality_gap`` (relative) are recomputed from W and lam, not read from a solver.

    The multipliers are ``lam * 2**lam_exponent``. ``lam_exponent`` is 0 (``lam`` in the user's
    units) unless those multipliers are outside float64's normal range (data scaled by 1e-80 or
    1e80 give Frobenius multipliers ~1e±320): then ``lam`` holds the multipliers of the rows
    normalized by powers of two (``extra["scale_exponent"]``) and the exponent makes them exact.
    """

    W: np.ndarray
    norm: str
    select: np.ndarray
    constraints: MarginConstraints
    lam: np.ndarray
    objective: float
    min_margin: float
    kkt_residual: float
    duality_gap: float
    singular_values: np.ndarray
    rank: int
    support: np.ndarray
    seconds: float
    method: str = ""
    extra: dict = field(default_factory=dict)
    lam_exponent: int = 0
