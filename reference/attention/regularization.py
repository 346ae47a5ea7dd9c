"""Regularization paths (TF-SVM, the regularization-path theorems for W and (K, Q)):

    W_R      in argmin_{||W||_F <= R} L(W)
    (K, Q)_R in argmin_{||K||_F^2 + ||Q||_F^2 <= 2R} L(K Q^T)   (then ||K Q^T||_* <= R).

The problems are nonconvex, so they are approximated by projected normalized GD from several
starts run as one batch (random starts plus, when given, a warm start such as the previous radius'
solution rescaled), with a step that decays from 0.1 R to 0.001 R. The best start is returned with
its loss and the losses of all starts, so a caller can see how much the starts disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from attnsvm.reference.attention.gradients import risk_W
from attnsvm.reference.attention.models import LinearHead
from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.attention.training import train_KQ, train_W
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int, as_real_array, check_memory


@dataclass(frozen=True)
class PathPoint:
    """The best point found at radius R, with its loss and the final loss of every start."""

    R: float
    W: np.ndarray  # (d, d): W_R, or K Q^T for the (K, Q) path
    loss: float
    start_losses: np.ndarray
    K: np.ndarray | None = None
    Q: np.ndarray | None = None


def _schedule(steps: int):
    def factor(k: int) -> float:
        return float(np.exp(np.log(1e-2) * k / max(steps - 1, 1)))

    return factor


def _project_ball(R: float):
    def project(par: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        W = par["W"]
        nrm = np.sqrt(np.sum(W * W, axis=(-2, -1), keepdims=True))
        return {"W": W * np.minimum(1.0, R / np.maximum(nrm, 1e-300))}

    return project


def _project_kq(R: float):
    def project(par: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        K, Q = par["K"], par["Q"]
        tot = np.sum(K * K, axis=(-2, -1), keepdims=True) + np.sum(
            Q * Q, axis=(-2, -1), keepdims=True
        )
        scale = np.sqrt(np.minimum(1.0, 2.0 * R / np.maximum(tot, 1e-300)))
        return {"K": K * scale, "Q": Q * scale}

    return project


def _check(
    R: float, starts: int, steps: int, seed: int = 0, problem: object = None
) -> tuple[int, int, int]:
    """Validate the arguments; returns (starts, steps, seed) as ints."""
    if problem is not None:
        as_problem(problem)
    R = as_float("R", R)
    if not np.isfinite(R) or R <= 0:
        raise ProblemError("R", f"radius must be positive and finite, got {R!r}")
    if as_int("starts", starts) < 1:
        raise ProblemError("starts", f"need at least one start, got {starts}")
    if as_int("steps", steps) < 1:
        raise ProblemError("steps", f"need at least one step, got {steps}")
    as_int("seed", seed, low=0)
    if problem is not None:
        d = problem.d
        check_memory("starts", 8.0 * 16 * as_int("starts", starts) * d * d,
                     f"{starts} starts of a d = {d} path")
    return as_int("starts", starts), as_int("steps", steps), as_int("seed", seed)


def regularization_path_W(
    problem: AttentionProblem,
    R: float,
    *,
    starts: int = 8,
    steps: int = 1500,
    seed: int = 0,
    warm: np.ndarray | None = None,
    loss: str = "logistic",
) -> PathPoint:
    """Approximate W_R = argmin_{||W||_F <= R} L(W) by multi-start projected normalized GD."""
    starts, steps, seed = _check(R, starts, steps, seed, problem)
    d = problem.d
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((starts, d, d))
    W0 *= R / np.linalg.norm(W0, axis=(1, 2), keepdims=True)
    if warm is not None:
        w = as_real_array("warm", warm)
        if w.shape != (d, d):
            raise ProblemError("warm", f"expected shape ({d}, {d}), got {w.shape}")
        W0[0] = w * (R / max(np.linalg.norm(w), 1e-300))
    res = train_W(
        problem.X,
        problem.Y,
        problem.Z,
        problem.v,
        W0,
        steps=steps,
        lr=0.1 * R,
        loss=loss,
        project=_project_ball(R),
        lr_schedule=_schedule(steps),
    )
    final = res.params["W"]
    losses = np.asarray(risk_W(problem.X, problem.Y, final, problem.Z, LinearHead(problem.v), loss))
    best = int(np.argmin(losses))
    return PathPoint(R=float(R), W=final[best], loss=float(losses[best]), start_losses=losses)


def regularization_path_KQ(
    problem: AttentionProblem,
    R: float,
    *,
    m: int | None = None,
    starts: int = 8,
    steps: int = 1500,
    seed: int = 0,
    warm: tuple[np.ndarray, np.ndarray] | None = None,
    loss: str = "logistic",
) -> PathPoint:
    """Approximate (K, Q)_R = argmin_{||K||^2 + ||Q||^2 <= 2R} L(K Q^T); returns W = K Q^T."""
    starts, steps, seed = _check(R, starts, steps, seed, problem)
    d = problem.d
    m = d if m is None else as_int("m", m)
    if m < 1:
        raise ProblemError("m", f"key/query width must be >= 1, got {m}")
    rng = np.random.default_rng(seed)
    K0 = rng.standard_normal((starts, d, m))
    Q0 = rng.standard_normal((starts, d, m))
    tot = np.sum(K0**2, axis=(1, 2), keepdims=True) + np.sum(Q0**2, axis=(1, 2), keepdims=True)
    K0 *= np.sqrt(2 * R / tot)
    Q0 *= np.sqrt(2 * R / tot)
    if warm is not None:
        if not isinstance(warm, (tuple, list)) or len(warm) != 2:
            raise ProblemError("warm", "expected a pair (K, Q)")
        k, q = (as_real_array("warm", a) for a in warm)
        if k.shape != (d, m) or q.shape != (d, m):
            raise ProblemError("warm", f"expected K and Q of shape ({d}, {m}), got {k.shape} "
                               f"and {q.shape}")
        s = np.sqrt(2 * R / max(np.sum(k**2) + np.sum(q**2), 1e-300))
        K0[0], Q0[0] = k * s, q * s
    res = train_KQ(
        problem.X,
        problem.Y,
        problem.Z,
        problem.v,
        K0,
        Q0,
        steps=steps,
        lr=0.1 * np.sqrt(R),
        loss=loss,
        project=_project_kq(R),
        lr_schedule=_schedule(steps),
    )
    K, Q = res.params["K"], res.params["Q"]
    W = K @ np.swapaxes(Q, -1, -2)
    losses = np.asarray(risk_W(problem.X, problem.Y, W, problem.Z, LinearHead(problem.v), loss))
    best = int(np.argmin(losses))
    return PathPoint(
        R=float(R), W=W[best], loss=float(losses[best]), start_losses=losses, K=K[best], Q=Q[best]
    )


def regularization_path(
    problem: AttentionProblem,
    radii: list[float] | np.ndarray,
    *,
    param: str = "W",
    starts: int = 8,
    steps: int = 1500,
    seed: int = 0,
    m: int | None = None,
    loss: str = "logistic",
) -> list[PathPoint]:
    """The path over increasing radii, each radius warm-started from the previous solution."""
    if not isinstance(param, str) or param not in ("W", "KQ"):
        raise ProblemError("param", f"must be 'W' or 'KQ', got {param!r:.60}")
    as_problem(problem)
    if isinstance(radii, (str, bytes)):
        raise ProblemError("radii", "expected a sequence of positive radii")
    radii = as_real_array("radii", radii, ndim=(0, 1))
    radii_sorted = sorted(float(r) for r in np.atleast_1d(radii))
    seed = as_int("seed", seed, low=0)
    if m is not None:
        m = as_int("m", m, low=1)
    points: list[PathPoint] = []
    for j, R in enumerate(radii_sorted):
        if param == "W":
            warm = points[-1].W if points else None
            points.append(
                regularization_path_W(
                    problem, R, starts=starts, steps=steps, seed=seed + j, warm=warm, loss=loss
                )
            )
        else:
            warm_kq = (points[-1].K, points[-1].Q) if points else None
            points.append(
                regularization_path_KQ(
                    problem,
                    R,
                    m=m,
                    starts=starts,
                    steps=steps,
                    seed=seed + j,
                    warm=warm_kq,
                    loss=loss,
                )
            )
    return points
