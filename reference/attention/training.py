"""Batched gradient descent for every parameterization (TF-SVM Sec. 2 and its experiments; MMTS).

The official experiments use normalized GD, theta <- theta - eta * grad / ||grad||_F, applied to
each parameter separately (W; or K and Q; or p and v), with eta = 0.1. Normalized GD here uses
the gradient's direction computed in log space (``RiskEvaluation.dq_scaled``), so it keeps
moving after the float64 gradient itself underflows to zero (an saturated logistic loss or
softmax); the official code's g/(||g|| + 1e-9) freezes there instead. Plain GD is
theta <- theta - eta * grad. B independent runs (different data and/or initialisations) are one
tensor computation: every array may carry a leading batch axis, and the gradient formulas of
``attention.gradients`` broadcast over it. Iterates are kept at chosen checkpoints so that
direction curves (correlation with an SVM solution over iterations) can be drawn afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from attnsvm.reference.attention import kernel
from attnsvm.reference.attention.gradients import grad_KQ, grad_p, grad_W
from attnsvm.reference.attention.losses import Loss, get_loss
from attnsvm.reference.attention.models import (
    Head,
    LinearHead,
    QuadraticHead,
    ReLUHead,
    check_head,
    token_values,
)
from attnsvm.reference.errors import NumericalError, ProblemError
from attnsvm.reference.validate import as_float, as_int, as_real_array

Array = Any
GradFn = Callable[[dict[str, np.ndarray]], tuple[dict[str, np.ndarray], Any]]
Projection = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]

# number of trailing axes that make up one parameter (matrices: 2, vectors: 1)
_PARAM_NDIM = {"W": 2, "K": 2, "Q": 2, "p": 1, "v": 1}


class StepRule(Protocol):
    """An update rule other than (normalized) GD, e.g. mirror descent, Polyak, SignGD, Adam.

    ``rule(params, grads, it=, eta=, risk=, ndim=) -> new params``: every array carries the
    leading batch axes of the runs, ``risk`` is the current loss per run (B,), ``ndim[name]``
    the number of trailing axes of one parameter. ``scale_invariant`` is True when the rule
    only uses each run's gradient direction (then the trainer may pass the log-space scaled
    gradient, which survives saturation); False makes it pass the true gradient. A rule may
    keep state (e.g. Adam's moments): use one instance per training call.
    """

    scale_invariant: bool

    def __call__(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
                 it: int, eta: float, risk: np.ndarray,
                 ndim: Mapping[str, int]) -> dict[str, np.ndarray]: ...


def direction_only(normalized: bool, rule: StepRule | None) -> bool:
    """Whether the trainer may hand the update the log-space scaled gradient (exact direction,
    wrong magnitude): for normalized GD, or a rule that declares itself ``scale_invariant``."""
    return normalized if rule is None else bool(getattr(rule, "scale_invariant", False))


def param_ndim(name: str) -> int:
    """Trailing axes of the parameter called ``name`` (W, K, Q: 2; p, v: 1)."""
    return _PARAM_NDIM[name]


@dataclass(frozen=True)
class TrainResult:
    """Outcome of a batched training run.

    Attributes:
        params: final parameters, each with the batch axis first.
        checkpoints: iteration numbers at which iterates were recorded (0 = initialisation).
        history: parameter name -> iterates, shape (B, C, ...) for C checkpoints.
        risk: risk at each checkpoint, shape (B, C).
        probs: final softmax probabilities, shape (B, n, T).
        selected: final selection argmax_t s_it, shape (B, n).
    """

    params: dict[str, np.ndarray]
    checkpoints: np.ndarray
    history: dict[str, np.ndarray]
    risk: np.ndarray
    probs: np.ndarray
    selected: np.ndarray

    @property
    def min_max_prob(self) -> np.ndarray:
        """Per run: the smallest over inputs of the largest softmax probability, shape (B,)."""
        return self.probs.max(axis=-1).min(axis=-1)

    @property
    def finite(self) -> bool:
        """True when every final parameter and probability is finite (no NaN, no inf)."""
        return all(bool(np.all(np.isfinite(v))) for v in self.params.values()) and bool(
            np.all(np.isfinite(self.probs)))


def require_finite_result(result: TrainResult, X: np.ndarray, Z: np.ndarray | None, lr: float,
                          steps: int) -> None:
    """NumericalError naming the cause when a training result is not finite: weights or
    probabilities became NaN/inf, i.e. the logits x_itᵀ W z_i overflowed float64 (data of
    extreme size, or a step size that drives ||W|| beyond what the logits can hold)."""
    if result.finite:
        return
    bad = next((k for k, v in result.params.items() if not np.all(np.isfinite(v))), "probs")
    xmax = float(np.max(np.abs(X), initial=0.0))
    zmax = float(np.max(np.abs(Z), initial=0.0)) if Z is not None else 1.0
    raise NumericalError(
        bad, f"training produced non-finite values (NaN/inf): the logits x^T W z overflow "
        f"float64 (max|x| = {xmax:.3g}, max|z| = {zmax:.3g}, lr = {lr:.3g} over {steps} steps); "
        "rescale the data or lower --lr"
    )


def _unit(g: np.ndarray, k: int) -> np.ndarray:
    """g / ||g||_F over the last k axes, per run; 0 where g = 0. When a squared norm is at risk
    of underflow (below 1e-290) or overflow (above 1e290) the norm is taken of g / max|g|
    instead, so gradients of any finite magnitude normalize exactly (an overflowed norm used to
    turn the step into 0: training silently froze on data of size 1e150)."""
    axes = tuple(range(-k, 0))
    with np.errstate(over="ignore"):
        ss = np.sum(g * g, axis=axes, keepdims=True)
    if np.all((ss > 1e-290) & (ss < 1e290)):
        return g / np.sqrt(ss)
    peak = np.max(np.abs(g), axis=axes, keepdims=True)
    scaled = np.divide(g, peak, out=np.zeros_like(g), where=peak > 0)
    nrm = np.sqrt(np.sum(scaled * scaled, axis=axes, keepdims=True))
    out = np.divide(scaled, nrm, out=np.zeros_like(g), where=nrm > 0)
    if not np.all(np.isfinite(peak)):
        # a NaN/inf gradient is not a zero step: propagate it (TrainResult.finite reports it)
        out = np.where(np.isfinite(peak), out, np.nan)
    return out


def _validate_schedule(steps: int, lr: float) -> int:
    if isinstance(steps, (bool, np.bool_)) or not isinstance(steps, (int, float, np.number)):
        raise ProblemError("steps", f"must be an integer >= 0, got {steps!r:.60}")
    if isinstance(steps, (float, np.floating)) and not np.isfinite(steps):
        raise ProblemError("steps", f"must be an integer >= 0, got {steps!r}")
    if int(steps) != steps or steps < 0 or steps > 2**62:
        raise ProblemError("steps", f"must be an integer in [0, 2**62], got {steps!r}")
    if isinstance(lr, (bool, np.bool_)) or not isinstance(lr, (int, float, np.integer,
                                                              np.floating)):
        raise ProblemError("lr", f"must be a positive finite number, got {lr!r:.60}")
    if not np.isfinite(lr) or lr <= 0:
        raise ProblemError("lr", f"must be a positive finite number, got {lr!r}")
    return int(steps)


def _validate_options(
    checkpoints: Iterable[int] | None,
    project: Projection | None,
    lr_schedule: Callable[[int], float] | None,
) -> list[int] | None:
    """Checkpoints as a list of ints (None stays None); callables checked."""
    for name, fn in (("project", project), ("lr_schedule", lr_schedule)):
        if fn is not None and not callable(fn):
            raise ProblemError(name, f"must be callable or None, got {type(fn).__name__}")
    if checkpoints is None:
        return None
    if isinstance(checkpoints, (str, bytes)) or not isinstance(checkpoints, Iterable):
        raise ProblemError("checkpoints", "must be an iterable of integers")
    try:
        items = list(checkpoints)
    except Exception:  # noqa: BLE001 - an iterable that fails while iterating
        raise ProblemError("checkpoints", "must be an iterable of integers") from None
    return [as_int("checkpoints", c) for c in items]


def _batch(field: str, arr: np.ndarray, core: int) -> tuple[int, ...]:
    """The leading batch shape of ``arr`` whose trailing ``core`` axes form one item."""
    return tuple(arr.shape[: arr.ndim - core])


def _broadcast_batches(**batches: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*batches.values()))
    except ValueError:
        desc = ", ".join(f"{k} {v}" for k, v in batches.items())
        field = next(iter(batches))
        raise ProblemError(field, f"batch shapes do not broadcast ({desc})") from None


def _check_data(
    X: object, Y: object, Z: object | None, *, query_dim: str = "Z"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """X (..., n, T, d), Y (..., n), Z (..., n, dz) as float64 arrays (the caller's arrays
    themselves when they are float64 already), with matching n and finite entries."""
    Xa = as_real_array("X", X, ndim=(3, 4))
    n, T, d = Xa.shape[-3:]
    if n < 1 or T < 1 or d < 1:
        raise ProblemError("X", f"needs n, T, d >= 1, got shape {Xa.shape}")
    Ya = as_real_array("Y", Y, ndim=(1, 2))
    if Ya.shape[-1] != n:
        raise ProblemError("Y", f"expected (..., {n}) to match X, got shape {Ya.shape}")
    Za = None
    if Z is None and query_dim != "":
        raise ProblemError(query_dim, "the queries are required")
    if Z is not None:
        Za = as_real_array(query_dim, Z, ndim=(2, 3))
        if Za.shape[-2] != n or Za.shape[-1] < 1:
            raise ProblemError(query_dim, f"expected (..., {n}, d_z) to match X, got shape "
                               f"{Za.shape}")
    return Xa, Ya, Za


def _check_head(head: object, d: int) -> Head:
    if isinstance(head, (LinearHead, ReLUHead, QuadraticHead)):
        return check_head(head, d)
    v = as_real_array("head", head, ndim=(1, 2))
    if v.shape[-1] != d:
        raise ProblemError("head", f"expected v of shape (..., {d}) to match X, got {v.shape}")
    return LinearHead(v)


def _check_param(field: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    arr = as_real_array(field, value, ndim=(2, 3))
    if tuple(arr.shape[-2:]) != shape:
        raise ProblemError(field, f"expected (..., {shape[0]}, {shape[1]}), got shape "
                           f"{arr.shape}")
    return arr


def descend(
    params: Mapping[str, np.ndarray],
    grad_fn: GradFn,
    *,
    steps: int,
    lr: float,
    normalized: bool = True,
    checkpoints: Iterable[int] | None = None,
    project: Projection | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    lr_scale: Mapping[str, float] | None = None,
    ngd_eps: float | None = None,
    rule: StepRule | None = None,
    ndim: Mapping[str, int] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray], np.ndarray, Any]:
    """The one descent loop behind every trainer.

    ``grad_fn(params) -> (grads, evaluation)`` where ``evaluation.risk`` has shape (B,).
    Normalized GD divides each parameter's gradient by its own Frobenius norm, per run; a zero
    gradient gives a zero step (never a division by zero). ``lr_scale`` multiplies the step of
    named parameters (e.g. a faster head in joint training). ``ngd_eps`` reproduces the official
    notebooks' step g / (||g||_F + eps) on the raw gradient, which freezes once ||g|| << eps
    (an artifact of that implementation, not of normalized GD); None (the default) takes the
    exact direction. ``rule`` (a ``StepRule``) replaces the GD update altogether (``normalized``,
    ``ngd_eps`` and ``lr_scale`` then do not apply). ``ndim`` gives the number of trailing axes
    of parameters not named W, K, Q (2) or p, v (1), e.g. {"Wh": 3} for stacked heads, which are
    then normalized as one parameter. Returns (final params, checkpoints, history, risk history,
    last evaluation).
    """
    ndims = {**_PARAM_NDIM, **(dict(ndim) if ndim is not None else {})}
    unknown = sorted(set(params) - set(ndims))
    if unknown:
        raise ProblemError("ndim", f"no number of axes given for parameter(s) {unknown}")
    steps = _validate_schedule(steps, lr)
    if rule is not None and not callable(rule):
        raise ProblemError("rule", f"must be a StepRule or None, got {type(rule).__name__}")
    wanted = [0, steps] if checkpoints is None else [int(c) for c in checkpoints]
    cps = np.unique(np.clip(np.array(wanted, dtype=int), 0, steps))
    if cps.size == 0 or cps[-1] != steps:
        cps = np.append(cps, steps)
    current = {k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    history: dict[str, list[np.ndarray]] = {k: [] for k in current}
    risks: list[np.ndarray] = []
    next_cp = 0
    ev = None
    for it in range(steps + 1):
        grads, ev = grad_fn(current)
        if next_cp < len(cps) and it == cps[next_cp]:
            for k, val in current.items():
                history[k].append(val.copy())
            risks.append(np.asarray(ev.risk, dtype=np.float64).copy())
            next_cp += 1
        if it == steps:
            break
        eta = lr if lr_schedule is None else lr * lr_schedule(it)
        if rule is not None:
            current = rule(current, grads, it=it, eta=eta, risk=np.asarray(ev.risk),
                           ndim=ndims)
            if project is not None:
                current = project(current)
            continue
        for k, g in grads.items():
            if normalized and ngd_eps is not None:
                axes = tuple(range(-ndims[k], 0))
                g = g / (np.sqrt(np.sum(g * g, axis=axes, keepdims=True)) + ngd_eps)
            elif normalized:
                g = _unit(g, ndims[k])
            current[k] -= (eta if lr_scale is None else eta * lr_scale.get(k, 1.0)) * g
        if project is not None:
            current = project(current)
    hist = {k: np.stack(v, axis=1) for k, v in history.items()}
    return current, cps, hist, np.stack(risks, axis=1), ev


def _batched(x: np.ndarray, ndim: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x if x.ndim > ndim else x[None]


def _result(final: dict, cps: np.ndarray, hist: dict, risk: np.ndarray, ev: Any) -> TrainResult:
    probs = np.asarray(ev.probs)
    B = risk.shape[0]
    probs = np.broadcast_to(probs, (B, *probs.shape[-2:])) if probs.ndim == 2 else probs
    return TrainResult(
        params=final,
        checkpoints=cps,
        history=hist,
        risk=risk,
        probs=probs,
        selected=probs.argmax(axis=-1),
    )


def _as_head(head: Head | np.ndarray) -> Head:
    if isinstance(head, (LinearHead, ReLUHead, QuadraticHead)):
        return head
    return LinearHead(np.asarray(head, dtype=np.float64))


def _token_values(X: np.ndarray, head: Head) -> np.ndarray | None:
    """h = X v for a linear head (constant during training), else None."""
    if isinstance(head, LinearHead):
        return token_values(X, head.v)
    return None


def train_W(
    X: np.ndarray,
    Y: np.ndarray,
    Z: np.ndarray,
    head: Head | np.ndarray,
    W0: np.ndarray,
    *,
    steps: int = 2000,
    lr: float = 0.1,
    normalized: bool = True,
    loss: str | Loss = "logistic",
    checkpoints: Iterable[int] | None = None,
    project: Projection | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    ngd_eps: float | None = None,
    rule: StepRule | None = None,
) -> TrainResult:
    """(Normalized) GD on L(W), batched over runs: W0 has shape (B, d, d); data may be shared
    (n, T, d) or per run (B, n, T, d). ``head`` is a Head or the vector v of a linear head.
    ``ngd_eps``: the official eps-normalized step (see ``descend``).

    Inputs are validated first (ProblemError naming the field: shapes, dtypes, steps, lr, loss,
    checkpoints). A non-finite result (NaN or inf weights, e.g. logits that overflow on data of
    size 1e150 or with an absurd step size) is returned as computed; ``TrainResult.finite`` and
    ``require_finite_result`` say so. ``rule`` replaces the GD update (see ``StepRule``)."""
    X, Y, Z = _check_data(X, Y, Z)
    h = _check_head(head, X.shape[-1])
    W0 = _check_param("W0", W0, (X.shape[-1], Z.shape[-1]))
    _validate_schedule(steps, lr)
    checkpoints = _validate_options(checkpoints, project, lr_schedule)
    loss = get_loss(loss)
    if ngd_eps is not None:
        ngd_eps = as_float("ngd_eps", ngd_eps, positive=True)
    _broadcast_batches(W0=_batch("W0", W0, 2), X=_batch("X", X, 3), Y=_batch("Y", Y, 1),
                       Z=_batch("Z", Z, 2),
                       head=_batch("head", np.asarray(getattr(h, "v", np.zeros(1))), 1))
    plain_ngd = (normalized and rule is None and project is None and lr_schedule is None
                 and ngd_eps is None and isinstance(h, LinearHead))
    if plain_ngd and isinstance(h.v, np.ndarray) and kernel.kernel_applies(X, Y, Z, h.v, W0):
        # plain normalized GD with a linear head: the fused kernel (same math, same numerics)
        run = kernel.normalized_gd_W(X, Y, Z, h.v, W0, steps=int(steps), lr=float(lr),
                                     loss=loss, checkpoints=checkpoints)
        return TrainResult(params={"W": run.W}, checkpoints=run.checkpoints,
                           history={"W": run.history}, risk=run.risk, probs=run.probs,
                           selected=run.probs.argmax(axis=-1))
    values = _token_values(X, h)
    scaled = direction_only(normalized and ngd_eps is None, rule)

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        g, ev = grad_W(X, Y, par["W"], Z, h, loss, values, scaled=scaled)
        return {"W": g}, ev

    out = descend(
        {"W": _batched(W0, 2)},
        grad_fn,
        steps=steps,
        lr=lr,
        normalized=normalized,
        checkpoints=checkpoints,
        project=project,
        lr_schedule=lr_schedule,
        ngd_eps=ngd_eps,
        rule=rule,
    )
    return _result(*out)


def train_KQ(
    X: np.ndarray,
    Y: np.ndarray,
    Z: np.ndarray,
    head: Head | np.ndarray,
    K0: np.ndarray,
    Q0: np.ndarray,
    *,
    steps: int = 2000,
    lr: float = 0.1,
    normalized: bool = True,
    loss: str | Loss = "logistic",
    ridge: float = 0.0,
    checkpoints: Iterable[int] | None = None,
    project: Projection | None = None,
    lr_schedule: Callable[[int], float] | None = None,
    rule: StepRule | None = None,
) -> TrainResult:
    """(Normalized) GD on L(K Q^T) with K and Q normalized separately (official code), optional
    ridge lam (||K||^2 + ||Q||^2) (the official code uses lam = float64 eps). History holds K, Q.
    Inputs are validated as in ``train_W``; K0 (..., d, m) and Q0 (..., d_z, m). ``rule``
    replaces the GD update (see ``StepRule``)."""
    X, Y, Z = _check_data(X, Y, Z)
    h = _check_head(head, X.shape[-1])
    K0 = as_real_array("K0", K0, ndim=(2, 3))
    if K0.shape[-2] != X.shape[-1] or K0.shape[-1] < 1:
        raise ProblemError("K0", f"expected (..., {X.shape[-1]}, m), got shape {K0.shape}")
    Q0 = _check_param("Q0", Q0, (Z.shape[-1], K0.shape[-1]))
    _validate_schedule(steps, lr)
    checkpoints = _validate_options(checkpoints, project, lr_schedule)
    loss = get_loss(loss)
    ridge = as_float("ridge", ridge, nonnegative=True)
    _broadcast_batches(K0=_batch("K0", K0, 2), Q0=_batch("Q0", Q0, 2), X=_batch("X", X, 3),
                       Y=_batch("Y", Y, 1), Z=_batch("Z", Z, 2),
                       head=_batch("head", np.asarray(getattr(h, "v", np.zeros(1))), 1))
    values = _token_values(X, h)
    scaled = direction_only(normalized, rule) and not ridge

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        gK, gQ, ev = grad_KQ(X, Y, par["K"], par["Q"], Z, h, loss, values, scaled=scaled)
        if ridge:
            gK = gK + 2 * ridge * par["K"]
            gQ = gQ + 2 * ridge * par["Q"]
        return {"K": gK, "Q": gQ}, ev

    out = descend(
        {"K": _batched(K0, 2), "Q": _batched(Q0, 2)},
        grad_fn,
        steps=steps,
        lr=lr,
        normalized=normalized,
        checkpoints=checkpoints,
        project=project,
        lr_schedule=lr_schedule,
        rule=rule,
    )
    return _result(*out)


def train_prompt(
    X: np.ndarray,
    Y: np.ndarray,
    v: np.ndarray,
    p0: np.ndarray,
    *,
    key: np.ndarray | None = None,
    train_v: bool = False,
    v0: np.ndarray | None = None,
    lr_v_ratio: float = 1.0,
    steps: int = 1000,
    lr: float = 0.1,
    normalized: bool = True,
    loss: str | Loss = "logistic",
    checkpoints: Iterable[int] | None = None,
    project: Projection | None = None,
    lr_schedule: Callable[[int], float] | None = None,
) -> TrainResult:
    """(Normalized) GD on MMTS's L(p) (or jointly on (v, p) when ``train_v``), batched over runs.

    p0 has shape (B, d); the key matrix W (default identity) is fixed. With ``train_v`` the
    history also holds v, v0 (default: v) initialises it, and v's step is ``lr_v_ratio`` times
    p's (equal steps, ratio 1, is the official joint_training protocol). Inputs are validated
    as in ``train_W``: X (..., n, T, d), v (..., d), p0 (..., d_p) with key (d, d_p)."""
    X, Y, _ = _check_data(X, Y, None, query_dim="")
    d = X.shape[-1]
    v = as_real_array("v", v, ndim=(1, 2))
    if v.shape[-1] != d:
        raise ProblemError("v", f"expected (..., {d}) to match X, got shape {v.shape}")
    if key is not None:
        key = as_real_array("key", key, ndim=2)
        if key.shape[0] != d or key.shape[1] < 1:
            raise ProblemError("key", f"expected ({d}, d_p), got shape {key.shape}")
    dp = d if key is None else key.shape[1]
    p0 = as_real_array("p0", p0, ndim=(1, 2))
    if p0.shape[-1] != dp:
        raise ProblemError("p0", f"expected (..., {dp}), got shape {p0.shape}")
    if v0 is not None:
        v0 = as_real_array("v0", v0, ndim=(1, 2))
        if v0.shape[-1] != d:
            raise ProblemError("v0", f"expected (..., {d}), got shape {v0.shape}")
    lr_v_ratio = as_float("lr_v_ratio", lr_v_ratio, positive=True)
    _validate_schedule(steps, lr)
    checkpoints = _validate_options(checkpoints, project, lr_schedule)
    loss = get_loss(loss)
    _broadcast_batches(p0=_batch("p0", p0, 1), X=_batch("X", X, 3), Y=_batch("Y", Y, 1),
                       v=_batch("v", v, 1),
                       **({"v0": _batch("v0", v0, 1)} if v0 is not None else {}))
    params = {"p": _batched(p0, 1)}
    if train_v:
        start = v if v0 is None else v0
        params["v"] = np.broadcast_to(
            _batched(start, 1), params["p"].shape[:-1] + (np.shape(start)[-1],)
        ).copy()

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        head_v = par["v"] if train_v else v
        gp, gv, ev = grad_p(X, Y, par["p"], head_v, key, loss, scaled=normalized)
        return ({"p": gp, "v": gv} if train_v else {"p": gp}), ev

    out = descend(
        params,
        grad_fn,
        steps=steps,
        lr=lr,
        normalized=normalized,
        checkpoints=checkpoints,
        project=project,
        lr_schedule=lr_schedule,
        lr_scale={"v": float(lr_v_ratio)} if train_v else None,
    )
    return _result(*out)


def uniform_init(shape: tuple[int, ...], seed: int, scale: float | None = None) -> np.ndarray:
    """PyTorch's default nn.Linear initialisation U(-1/sqrt(fan_in), 1/sqrt(fan_in)), seeded.

    ``shape`` is (B, rows, cols) or (B, d); fan_in is the last dimension unless ``scale`` is given.
    """
    if isinstance(shape, (str, bytes)) or not isinstance(shape, (tuple, list)) or not shape:
        raise ProblemError("shape", f"expected a non-empty tuple of sizes, got {shape!r:.60}")
    shape = tuple(as_int("shape", k, low=1) for k in shape)
    seed = as_int("seed", seed, low=0)
    if scale is not None:
        scale = as_float("scale", scale, nonnegative=True)
        if scale > 1e300:
            raise ProblemError("scale", f"must be at most 1e300, got {scale!r}")
    bound = 1.0 / np.sqrt(shape[-1]) if scale is None else scale
    return np.random.default_rng(seed).uniform(-bound, bound, size=shape)


def log_checkpoints(steps: int, per_decade: int = 6) -> np.ndarray:
    """0 and a logarithmic grid of iterations up to ``steps`` (for direction curves)."""
    steps = as_int("steps", steps, high=2**62)
    per_decade = as_int("per_decade", per_decade, low=1, high=10_000)
    if steps <= 0:
        return np.array([0])
    grid = np.unique(
        np.round(
            np.logspace(0, np.log10(steps), per_decade * int(np.ceil(np.log10(steps + 1))) + 1)
        )
    )
    return np.unique(np.concatenate([[0], grid.astype(int), [steps]]))


def correlation(A: np.ndarray, B: np.ndarray, ndim: int | None = None) -> np.ndarray:
    """corr(A, B) = <A, B> / (||A||_F ||B||_F) (the papers' coefficient), broadcast over leading
    batch axes. ``ndim`` trailing axes make one object: 2 for matrices, 1 for vectors; by default
    1 when both inputs are vectors and 2 otherwise (pass ndim=1 for batches of vectors)."""
    A = as_real_array("A", A, finite=False)
    B = as_real_array("B", B, finite=False)
    if ndim is not None:
        ndim = as_int("ndim", ndim)
    if ndim is None:
        ndim = 1 if A.ndim == 1 and B.ndim == 1 else 2
    if ndim not in (1, 2):
        raise ProblemError("ndim", f"must be 1 or 2, got {ndim}")
    axes = (-2, -1) if ndim == 2 else (-1,)
    if A.ndim < ndim or B.ndim < ndim or A.shape[A.ndim - ndim:] != B.shape[B.ndim - ndim:]:
        raise ProblemError("B", f"shapes {A.shape} and {B.shape} do not match in their last "
                           f"{ndim} axes")
    try:
        np.broadcast_shapes(A.shape, B.shape)
    except ValueError:
        raise ProblemError("B", f"shapes {A.shape} and {B.shape} do not broadcast") from None
    num = np.sum(A * B, axis=axes)
    den = np.sqrt(np.sum(A * A, axis=axes) * np.sum(B * B, axis=axes))
    return np.divide(num, den, out=np.zeros_like(num, dtype=np.float64), where=den > 0)
