"""Modern (continuous) Hopfield networks as attention (Ramsauer et al., arXiv 2008.02217).

Patterns are the columns of X (d, N); a state (query) is xi in R^d; beta > 0 is the inverse
temperature; M = max_t ||x_t||.

* energy        E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + 1/beta log N + 1/2 M^2, with
                lse(beta, a) = 1/beta log sum_t exp(beta a_t)   (the paper's Eq. 2)
* update        xi_new = X softmax(beta X^T xi)                 (the paper's Eq. 3): softmax
                attention with the query xi, keys = values = the patterns, scale beta;
* separation    Delta_i = x_i^T x_i - max_{j != i} x_i^T x_j;
* retrieval     with p = softmax(beta X^T xi), f(xi) - x_i = sum_{j != i} p_j (x_j - x_i), so
                ||f(xi) - x_i|| <= (1 - p_i) max_j ||x_j - x_i|| <= 2 M (1 - p_i) and
                1 - p_i <= sum_{j != i} exp(beta (x_j - x_i)^T xi)
                        <= (N - 1) exp(-beta (Delta_i - 2 M ||xi - x_i||))
                (Cauchy-Schwarz: (x_j - x_i)^T (xi - x_i) <= 2 M ||xi - x_i||).  This is the
                paper's one-update retrieval bound with ||xi - x_i|| in place of its
                max{||xi - x_i||, ||x_i* - x_i||} (so at least as tight); for
                ||xi - x_i|| <= 1/(2 beta M) it gives 2 e (N - 1) M exp(-beta Delta_i).

The concave-convex procedure: E = (convex 1/2||xi||^2) + (concave -lse); the update minimises the
convex part plus the linearised concave part, whence E(xi_new) <= E(xi) - 1/2 ||xi_new - xi||^2
(symbolic derivation ``hopfield-energy``).

Bad inputs raise ProblemError naming the field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsvm.reference.errors import ProblemError


def _patterns(X: object) -> np.ndarray:
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ProblemError("X", f"expected patterns as the columns of a (d, N) matrix, "
                                f"got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ProblemError("X", "patterns must be finite")
    return a


def _state(X: np.ndarray, xi: object) -> np.ndarray:
    v = np.asarray(xi, dtype=np.float64).ravel()
    if v.size != X.shape[0]:
        raise ProblemError("xi", f"state of size {v.size} for patterns of dimension {X.shape[0]}")
    return v


def _beta(beta: float) -> float:
    b = float(beta)
    if not np.isfinite(b) or b <= 0:
        raise ProblemError("beta", f"must be a positive number, got {beta!r}")
    return b


def lse(beta: float, a: np.ndarray) -> float:
    """1/beta log sum_t exp(beta a_t), in max-shifted form."""
    b = _beta(beta)
    a = np.asarray(a, dtype=np.float64).ravel()
    m = float(np.max(a))
    return m + float(np.log(np.sum(np.exp(b * (a - m))))) / b


def probabilities(X: object, xi: object, beta: float) -> np.ndarray:
    """p = softmax(beta X^T xi) (max-shifted)."""
    X = _patterns(X)
    u = _beta(beta) * (X.T @ _state(X, xi))
    e = np.exp(u - u.max())
    return e / e.sum()


def update(X: object, xi: object, beta: float) -> np.ndarray:
    """One Hopfield update xi_new = X softmax(beta X^T xi) (Eq. 3)."""
    X = _patterns(X)
    return X @ probabilities(X, xi, beta)


def energy(X: object, xi: object, beta: float) -> float:
    """E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + 1/beta log N + 1/2 M^2 (Eq. 2)."""
    X = _patterns(X)
    v = _state(X, xi)
    b = _beta(beta)
    M = float(np.max(np.linalg.norm(X, axis=0)))
    return -lse(b, X.T @ v) + 0.5 * float(v @ v) + np.log(X.shape[1]) / b + 0.5 * M * M


@dataclass(frozen=True)
class Trajectory:
    """States xi_0..xi_k (k + 1, d) and their energies (k + 1,)."""

    states: np.ndarray
    energies: np.ndarray


def iterate(X: object, xi: object, beta: float, steps: int) -> Trajectory:
    """``steps`` Hopfield updates from xi, with the energy at every state."""
    X = _patterns(X)
    v = _state(X, xi)
    if int(steps) != steps or steps < 0:
        raise ProblemError("steps", f"must be an integer >= 0, got {steps!r}")
    states = [v]
    for _ in range(int(steps)):
        states.append(update(X, states[-1], beta))
    S = np.array(states)
    return Trajectory(S, np.array([energy(X, s, beta) for s in S]))


def separation(X: object, i: int) -> float:
    """Delta_i = x_i^T x_i - max_{j != i} x_i^T x_j (needs N >= 2)."""
    X = _patterns(X)
    if X.shape[1] < 2:
        raise ProblemError("X", "the separation needs at least two patterns")
    g = X.T @ X[:, i]
    return float(g[i] - np.max(np.delete(g, i)))


def max_norm(X: object) -> float:
    """M = max_t ||x_t||."""
    return float(np.max(np.linalg.norm(_patterns(X), axis=0)))


def retrieval_bound(X: object, xi: object, i: int, beta: float) -> float:
    """2 M (N - 1) exp(-beta (Delta_i - 2 M ||xi - x_i||)): bounds ||f(xi) - x_i||."""
    X = _patterns(X)
    v = _state(X, xi)
    M = max_norm(X)
    r = float(np.linalg.norm(v - X[:, i]))
    return 2.0 * M * (X.shape[1] - 1) * float(np.exp(-_beta(beta) * (separation(X, i)
                                                                    - 2.0 * M * r)))


def paper_separation_condition(X: object, i: int, beta: float) -> float:
    """The paper's well-separation threshold 2/(beta N) + 1/beta log(2 (N-1) N beta M^2): the
    pattern x_i is well separated when Delta_i is at least this."""
    X = _patterns(X)
    b, N, M = _beta(beta), X.shape[1], max_norm(X)
    return 2.0 / (b * N) + np.log(2.0 * (N - 1) * N * b * M * M) / b


def effective_patterns(p: np.ndarray) -> float:
    """1 / sum_t p_t^2: ~1 near a single pattern, ~N for the global average."""
    p = np.asarray(p, dtype=np.float64)
    return float(1.0 / np.sum(p * p))
