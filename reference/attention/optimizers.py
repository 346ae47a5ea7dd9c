"""Update rules other than (normalized) GD, batched over runs: the Polyak step, SignGD and Adam.

Each is a ``training.StepRule``: pass one instance to ``train_W(rule=...)`` or
``train_KQ(rule=...)`` (a rule keeps state, so one instance per training call).

- ``Polyak``: W <- W - c (L(W) - L*) / ||grad L(W)||^2 grad L(W), per run (Vasudeva, Deora,
  Thrampoulidis, arXiv 2402.05738, the Polyak step-size; L* = inf L, 0 by default; c is the
  trainer's ``lr``). With a fixed linear decoder the infimum is L* = (1/n) sum_i l(gamma_i,opt) > 0
  (``risk_floor``), so L* = 0 would make the step length L/||grad L|| diverge as the gradient
  vanishes. The rule needs the true gradient (``scale_invariant = False``), and both L - L* and
  the gradient decay like exp(-margin): past saturation the float64 gradient underflows to 0 and
  L - L* is lost to round-off in L. The step cannot be formed there; the rule then stops that run
  (a zero step) and records the iteration in ``frozen_at`` instead of stepping on noise.
- ``SignGD``: W <- W - eta sign(grad L) (normalized steepest descent for the entrywise max-norm;
  scale invariant, so it survives saturation through the trainer's scaled gradient), or with
  ``normalized=False`` the unnormalized steepest descent W <- W - eta ||grad L||_1 sign(grad L)
  (true gradient). Fan, Schmidt, Thrampoulidis (arXiv 2502.04664) prove that SignGD and Adam on
  separable linear multiclass data converge to the max-norm (entrywise l-infinity) margin.
- ``Adam``: Kingma & Ba's Adam with bias correction, m <- b1 m + (1 - b1) g,
  v <- b2 v + (1 - b2) g^2, W <- W - eta m_hat / (sqrt(v_hat) + eps) (the form of
  torch.optim.Adam). Uses the true gradient: once |g| << eps far into saturation the step is
  eta g / eps, i.e. GD with step eta/eps, which then stalls as g underflows.

Every array carries the runs' leading batch axes; each parameter's trailing ``ndim[name]`` axes
make one parameter of one run.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float

__all__ = ["Adam", "Polyak", "SignGD", "risk_floor"]


def _axes(name: str, ndim: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(range(-int(ndim[name]), 0))


def _batch_norm(grads: Mapping[str, np.ndarray], ndim: Mapping[str, int]) -> np.ndarray:
    """||g||_F over every parameter of a run (all trailing axes of all parameters), computed
    from g / max|g| so that neither g^2 underflows nor overflows; shape: the batch axes."""
    peak = None
    for k, g in grads.items():
        p = np.max(np.abs(g), axis=_axes(k, ndim))
        peak = p if peak is None else np.maximum(peak, p)
    safe = np.where(peak > 0, peak, 1.0)
    total = 0.0
    for k, g in grads.items():
        scaled = g / safe.reshape(safe.shape + (1,) * int(ndim[k]))
        total = total + np.sum(scaled * scaled, axis=_axes(k, ndim))
    return np.where(peak > 0, peak * np.sqrt(total), 0.0)


def _expand(x: np.ndarray, k: int) -> np.ndarray:
    """Per-run values (batch shape) broadcast against a parameter with k trailing axes."""
    return np.asarray(x).reshape(np.shape(x) + (1,) * k)


def risk_floor(gamma_opt: np.ndarray, loss_value) -> np.ndarray:
    """L* = inf_W L(W) = (1/n) sum_i l(gamma_i,opt) for a fixed linear decoder: Y_i f_i =
    sum_t s_it gamma_it <= max_t gamma_it (a convex combination), approached as softmax
    saturates on the optimal tokens. ``gamma_opt`` (..., n) are the optimal scores."""
    g = np.asarray(gamma_opt, dtype=np.float64)
    return np.sum(loss_value(g), axis=-1) / g.shape[-1]


class Polyak:
    """The Polyak step eta_k = c (L(W_k) - L*) / ||grad L(W_k)||^2, per run (c = the trainer's
    ``lr``; arXiv 2402.05738 analyses c = 1 with its L*).

    ``floor`` is L* (a scalar or one value per run). ``resolution``: the step is not formed when
    L - L* <= resolution * |L| (the excess is then below the round-off of L itself: float64 L is
    accurate to ~n ulp) or the gradient is exactly 0 (underflow); such a run takes a zero step
    from then on and ``frozen_at`` records the first iteration (-1: never frozen).
    """

    scale_invariant = False

    def __init__(self, floor: float | np.ndarray = 0.0, *, resolution: float = 1e-12) -> None:
        f = np.asarray(floor, dtype=np.float64)
        if not np.all(np.isfinite(f)):
            raise ProblemError("floor", "L* must be finite")
        self.floor = f
        self.resolution = as_float("resolution", resolution, positive=True)
        self.frozen_at: np.ndarray | None = None

    def __call__(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
                 it: int, eta: float, risk: np.ndarray,
                 ndim: Mapping[str, int]) -> dict[str, np.ndarray]:
        risk = np.asarray(risk, dtype=np.float64)
        excess = risk - self.floor
        gnorm = _batch_norm(grads, ndim)
        live = (excess > self.resolution * np.abs(risk)) & (gnorm > 0) & np.isfinite(gnorm)
        if self.frozen_at is None:
            self.frozen_at = np.full(np.shape(live), -1, dtype=int)
        self.frozen_at = np.where(~live & (self.frozen_at < 0), it, self.frozen_at)
        live = live & (self.frozen_at < 0)  # a frozen run stays frozen (its state is unchanged)
        safe = np.where(live, gnorm, 1.0)
        # eta_k g = c (L - L*) / ||g|| * g / ||g||: no squared norm is formed (no underflow)
        length = np.where(live, eta * excess / safe, 0.0)
        out = {}
        for k, g in grads.items():
            unit = g / _expand(safe, int(ndim[k]))
            out[k] = params[k] - _expand(length, int(ndim[k])) * np.where(
                _expand(live, int(ndim[k])), unit, 0.0)
        return out


class SignGD:
    """SignGD, W <- W - eta sign(grad L) (``normalized``), or the unnormalized steepest descent
    for the entrywise max-norm, W <- W - eta ||grad L||_1 sign(grad L), per parameter and run."""

    def __init__(self, normalized: bool = True) -> None:
        if not isinstance(normalized, (bool, np.bool_)):
            raise ProblemError("normalized", f"must be True or False, got {normalized!r:.40}")
        self.normalized = bool(normalized)
        self.scale_invariant = self.normalized

    def __call__(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
                 it: int, eta: float, risk: np.ndarray,
                 ndim: Mapping[str, int]) -> dict[str, np.ndarray]:
        out = {}
        for k, g in grads.items():
            step = np.sign(g)
            if not self.normalized:
                step = step * np.sum(np.abs(g), axis=_axes(k, ndim), keepdims=True)
            out[k] = params[k] - eta * step
        return out


class Adam:
    """Adam with bias correction (Kingma & Ba, Algorithm 1; torch.optim.Adam's update form):
    m_t = b1 m + (1 - b1) g, v_t = b2 v + (1 - b2) g^2, W -= eta m_t/(1 - b1^t) /
    (sqrt(v_t/(1 - b2^t)) + eps). A zero denominator (eps = 0 and g = 0 so far) is a zero step.
    The moments are state: use one instance per training call."""

    scale_invariant = False

    def __init__(self, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8) -> None:
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            b = as_float(name, b, nonnegative=True)
            if b >= 1:
                raise ProblemError(name, f"must be in [0, 1), got {b!r}")
        self.beta1, self.beta2 = float(beta1), float(beta2)
        self.eps = as_float("eps", eps, nonnegative=True)
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def __call__(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
                 it: int, eta: float, risk: np.ndarray,
                 ndim: Mapping[str, int]) -> dict[str, np.ndarray]:
        self.t += 1
        c1 = 1.0 - self.beta1 ** self.t
        c2 = 1.0 - self.beta2 ** self.t
        out = {}
        for k, g in grads.items():
            m = self.beta1 * self.m.get(k, np.zeros_like(g)) + (1.0 - self.beta1) * g
            v = self.beta2 * self.v.get(k, np.zeros_like(g)) + (1.0 - self.beta2) * g * g
            self.m[k], self.v[k] = m, v
            den = np.sqrt(v / c2) + self.eps
            step = np.divide(m / c1, den, out=np.zeros_like(m), where=den > 0)
            out[k] = params[k] - eta * step
        return out
