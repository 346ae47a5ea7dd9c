"""The logistic-regression ancestor: GD on separable data tends to the hard-margin SVM direction.

Soudry, Hoffer, Nacson, Gunasekar, Srebro, "The Implicit Bias of Gradient Descent on Separable
Data" (arXiv 1710.10345, Theorem 3): for linearly separable data, a smooth exponential-tailed loss
(logistic) and step size eta < 2 / beta (beta the smoothness constant), gradient descent gives
w(t) = w_hat log t + rho(t) with rho(t) bounded, where w_hat = argmin ||w||^2 s.t. y_n w^T x_n >= 1.
So the direction gap ||w/||w|| - w_hat/||w_hat|| || decays like 1/log t (and the loss like 1/t).

The hard-margin SVM is solved as a least-distance program through NNLS (Lawson & Hanson, "Solving
Least Squares Problems", Ch. 23): min ||w|| s.t. A w >= 1 with A = y * X, polished on its support,
and certified (margins, multipliers, complementarity, duality gap) from (w, lambda), not from a
solver status.  Non-separable data raise InfeasibleSVM with a Gordan certificate
(lambda >= 0, sum lambda = 1, A^T lambda = 0).  GD runs are batched over a leading run axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import nnls
from scipy.special import expit, log_expit

from attnsvm.reference.errors import InfeasibleSVM, ProblemError


def _check_data(X: object, y: object) -> tuple[np.ndarray, np.ndarray]:
    try:
        Xa = np.asarray(X, dtype=np.float64)
        ya = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProblemError("X", f"not numeric ({exc})") from None
    if Xa.ndim < 2 or Xa.shape[-2] == 0 or Xa.shape[-1] == 0:
        raise ProblemError("X", f"expected shape (..., n, d) with n, d >= 1, got {Xa.shape}")
    if not np.all(np.isfinite(Xa)):
        raise ProblemError("X", "contains NaN or infinity")
    if ya.shape != Xa.shape[:-1]:
        raise ProblemError("y", f"shape {ya.shape} != {Xa.shape[:-1]} (one label per row of X)")
    if not np.all(np.abs(ya) == 1.0):
        raise ProblemError("y", "labels must be +1 or -1")
    return Xa, ya


def separable_data(n: int, d: int, seed: int = 0, *, margin: float = 0.05,
                   runs: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Linearly separable data through the origin: x ~ N(0, I_d), y = sign(w*^T x).

    Points with |w*^T x| < margin (w* unit) are redrawn, so the SVM margin is at least ``margin``.
    Returns X (n, d), y (n,), or with ``runs`` a batch X (runs, n, d), y (runs, n).
    """
    if n < 2 or d < 1:
        raise ProblemError("n", f"need n >= 2 and d >= 1, got n={n}, d={d}")
    if margin < 0:
        raise ProblemError("margin", f"must be >= 0, got {margin}")
    rng = np.random.default_rng(seed)
    R = 1 if runs is None else runs
    Xs, ys = [], []
    for _ in range(R):
        w = rng.standard_normal(d)
        w /= np.linalg.norm(w)
        rows: list[np.ndarray] = []
        while len(rows) < n:
            x = rng.standard_normal((2 * n, d))
            rows.extend(x[np.abs(x @ w) >= margin])
        X = np.asarray(rows[:n])
        Xs.append(X)
        ys.append(np.sign(X @ w))
    if runs is None:
        return Xs[0], ys[0]
    return np.stack(Xs), np.stack(ys)


@dataclass(frozen=True)
class LinearSVMSolution:
    """Hard-margin SVM min 0.5||w||^2 s.t. y_n w^T x_n >= 1, with its recomputed certificate.

    ``lam`` are the multipliers (w = sum lam_n y_n x_n), ``min_margin`` = min y_n w^T x_n (>= 1),
    ``stationarity`` = ||w - A^T lam|| / ||w||, ``complementarity`` = max lam_n |margin_n - 1| /
    ||w||^2, ``duality_gap`` = |0.5||w||^2 - (sum lam - 0.5||A^T lam||^2)| / (0.5||w||^2).
    """

    w: np.ndarray
    lam: np.ndarray
    support: np.ndarray
    min_margin: float
    stationarity: float
    complementarity: float
    duality_gap: float
    method: str

    @property
    def direction(self) -> np.ndarray:
        return self.w / np.linalg.norm(self.w)

    @property
    def certified(self) -> bool:
        return (self.min_margin >= 1 - 1e-9 and bool(np.all(self.lam >= 0))
                and self.stationarity <= 1e-9 and self.complementarity <= 1e-9
                and self.duality_gap <= 1e-9)


def _certificate(A: np.ndarray, w: np.ndarray, lam: np.ndarray, method: str) -> LinearSVMSolution:
    marg = A @ w
    ww = float(w @ w)
    Atl = A.T @ lam
    dual = float(lam.sum() - 0.5 * Atl @ Atl)
    return LinearSVMSolution(
        w=w,
        lam=lam,
        support=np.flatnonzero(lam > 1e-12 * max(1.0, float(lam.max(initial=0.0)))),
        min_margin=float(marg.min()),
        stationarity=float(np.linalg.norm(w - Atl) / np.sqrt(ww)),
        complementarity=float(np.max(lam * np.abs(marg - 1.0)) / ww),
        duality_gap=float(abs(0.5 * ww - dual) / (0.5 * ww)),
        method=method,
    )


def hard_margin_svm(X: np.ndarray, y: np.ndarray) -> LinearSVMSolution:
    """Homogeneous hard-margin SVM (the w_hat of 1710.10345) by LDP/NNLS, polished and certified.

    LDP: min ||w|| s.t. A w >= 1 (A = y X).  With E = [A^T; 1^T] and f = e_{d+1}, u = NNLS(E, f),
    r = E u - f: r = 0 proves infeasibility (A^T u = 0, 1^T u = 1); otherwise
    w = -r[:d] / r[d] and lam = u / (1 - 1^T u).  Then the KKT system on the support
    (A_S A_S^T lam_S = 1, w = A_S^T lam_S) is re-solved for full accuracy when that stays feasible.
    """
    Xa, ya = _check_data(X, y)
    if Xa.ndim != 2:
        raise ProblemError("X", f"expected one data set (n, d), got shape {Xa.shape}")
    A = ya[:, None] * Xa
    n, d = A.shape
    E = np.vstack([A.T, np.ones((1, n))])
    f = np.zeros(d + 1)
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * (n + d + 1))
    r = E @ u - f
    scale = 1.0 + float(np.abs(A).max())
    if np.linalg.norm(r) <= 1e-10 * scale or 1.0 - u.sum() <= 1e-12:
        lam = u / u.sum() if u.sum() > 0 else u
        raise InfeasibleSVM(
            "the data are not linearly separable through the origin",
            {"lambda": lam, "pairs": np.flatnonzero(lam > 0), "residual":
             float(np.linalg.norm(A.T @ lam))},
        )
    lam = u / (1.0 - u.sum())
    w = A.T @ lam
    best = _certificate(A, w, lam, "nnls-ldp")
    S = np.flatnonzero(lam > 1e-9 * lam.max())
    G = A[S] @ A[S].T
    lam_S = np.linalg.lstsq(G, np.ones(S.size), rcond=None)[0]
    if np.all(lam_S >= 0):
        lam_p = np.zeros(n)
        lam_p[S] = lam_S
        cand = _certificate(A, A.T @ lam_p, lam_p, "nnls-ldp+kkt-polish")
        if cand.min_margin >= 1 - 1e-12 and cand.complementarity <= max(best.complementarity,
                                                                          1e-12):
            best = cand
    return best


# --------------------------------------------------------------------------------------------
# gradient descent on the logistic loss


def logistic_loss(w: np.ndarray, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean logistic loss (1/n) sum log(1 + exp(-y_n w^T x_n)), batched over leading axes."""
    Xa, ya = _check_data(X, y)
    marg = ya * np.einsum("...nd,...d->...n", Xa, np.asarray(w, dtype=np.float64))
    return -log_expit(marg).mean(axis=-1)


def logistic_step_size(X: np.ndarray, y: np.ndarray, fraction: float = 1.0) -> np.ndarray:
    """fraction / beta with beta = sigma_max(X)^2 / (4n), the smoothness of the mean logistic loss.

    Theorem 3 of 1710.10345 needs eta < 2 / beta, i.e. ``fraction`` < 2.
    """
    Xa, _ = _check_data(X, y)
    if not 0 < fraction < 2:
        raise ProblemError("fraction", f"step fraction must lie in (0, 2), got {fraction}")
    smax = np.linalg.norm(Xa, ord=2, axis=(-2, -1))
    return fraction * 4.0 * Xa.shape[-2] / smax**2


@dataclass(frozen=True)
class GDPath:
    """Checkpoints t (K,), iterates w (..., K, d), mean losses (..., K), step sizes eta (...)."""

    t: np.ndarray
    w: np.ndarray
    loss: np.ndarray
    eta: np.ndarray


def logistic_gd(X: np.ndarray, y: np.ndarray, checkpoints: list[int] | np.ndarray, *,
                eta: float | np.ndarray | None = None, w0: np.ndarray | None = None) -> GDPath:
    """Full-batch GD on the mean logistic loss, recorded at the given step counts.

    Batched: X (R, n, d), y (R, n) runs R independent problems in one tensor computation.
    Default step eta = 1 / beta (``logistic_step_size``), within Soudry's eta < 2 / beta.
    """
    Xa, ya = _check_data(X, y)
    cps = np.asarray(sorted(int(c) for c in checkpoints))
    if cps.size == 0 or cps[0] < 0:
        raise ProblemError("checkpoints", "need at least one nonnegative step count")
    A = ya[..., None] * Xa
    n = A.shape[-2]
    batch = A.shape[:-2]
    eta_a = logistic_step_size(Xa, ya) if eta is None else np.asarray(eta, dtype=np.float64)
    if np.any(eta_a <= 0) or not np.all(np.isfinite(eta_a)):
        raise ProblemError("eta", "step size must be positive and finite")
    eta_a = np.broadcast_to(eta_a, batch)
    w = np.zeros(batch + (A.shape[-1],)) if w0 is None else np.array(w0, dtype=np.float64)
    if w.shape != batch + (A.shape[-1],):
        raise ProblemError("w0", f"expected shape {batch + (A.shape[-1],)}, got {w.shape}")
    ws, losses = [], []
    step = 0
    coef = (eta_a / n)[..., None]
    for c in cps:
        while step < c:
            marg = np.einsum("...nd,...d->...n", A, w)
            w = w + coef * np.einsum("...n,...nd->...d", expit(-marg), A)
            step += 1
        ws.append(w.copy())
        losses.append(-log_expit(np.einsum("...nd,...d->...n", A, w)).mean(-1))
    return GDPath(t=cps, w=np.stack(ws, axis=-2), loss=np.stack(losses, axis=-1), eta=eta_a)


def direction_gap(w: np.ndarray, w_ref: np.ndarray) -> np.ndarray:
    """|| w/||w|| - w_ref/||w_ref|| || along the last axis (batched)."""
    wa = np.asarray(w, dtype=np.float64)
    r = np.asarray(w_ref, dtype=np.float64)
    nw = np.linalg.norm(wa, axis=-1, keepdims=True)
    if np.any(nw == 0):
        raise ProblemError("w", "zero iterate: the direction is undefined")
    return np.linalg.norm(wa / nw - r / np.linalg.norm(r, axis=-1, keepdims=True), axis=-1)


@dataclass(frozen=True)
class SoudryTrend:
    """GD vs the SVM at checkpoints t (K,); arrays have shape (..., K) for a batch of runs.

    ``gap`` = direction gap, ``gap_log_t`` = gap * log t (bounded if gap = O(1/log t)),
    ``offset_norm`` = ||w(t) - w_hat log t|| (bounded: w(t) = w_hat log t + rho(t)),
    ``offset_growth`` = its increase over the last two checkpoints divided by the growth of
    ||w_hat log t|| over them (-> 0 when rho converges; about 1 if w(t) missed w_hat),
    ``normalized_margin`` = min_n y_n w^T x_n / ||w|| vs ``svm_margin`` = 1 / ||w_hat||.
    """

    t: np.ndarray
    gap: np.ndarray
    gap_log_t: np.ndarray
    offset_norm: np.ndarray
    offset_growth: np.ndarray
    normalized_margin: np.ndarray
    svm_margin: np.ndarray
    loss: np.ndarray
    svm: list[LinearSVMSolution]


def soudry_trend(X: np.ndarray, y: np.ndarray, checkpoints: list[int] | np.ndarray, *,
                 eta: float | np.ndarray | None = None) -> SoudryTrend:
    """Run GD and compare with the certified SVM direction (1710.10345 Theorem 3).

    X (n, d) or a batch (R, n, d); the GD runs are batched, the SVMs are solved one per run.
    """
    Xa, ya = _check_data(X, y)
    if Xa.ndim not in (2, 3):
        raise ProblemError("X", f"expected (n, d) or (R, n, d), got shape {Xa.shape}")
    Xb, yb = (Xa[None], ya[None]) if Xa.ndim == 2 else (Xa, ya)
    svms = [hard_margin_svm(Xb[r], yb[r]) for r in range(Xb.shape[0])]
    w_hat = np.stack([s.w for s in svms])  # (R, d)
    path = logistic_gd(Xb, yb, checkpoints, eta=None if eta is None else eta)
    t = path.t.astype(float)
    if t.size < 2 or np.any(t < 2):
        raise ProblemError("checkpoints", "need at least two checkpoints, all >= 2 (log t > 0)")
    gap = direction_gap(path.w, w_hat[:, None, :])
    A = yb[..., None] * Xb
    nmarg = np.einsum("rkd,rnd->rkn", path.w, A).min(-1) / np.linalg.norm(path.w, axis=-1)
    offset = np.linalg.norm(path.w - np.log(t)[None, :, None] * w_hat[:, None, :], axis=-1)
    growth = (offset[:, -1] - offset[:, -2]) / (
        np.linalg.norm(w_hat, axis=-1) * (np.log(t[-1]) - np.log(t[-2])))
    out = SoudryTrend(
        t=path.t,
        gap=gap,
        gap_log_t=gap * np.log(t),
        offset_norm=offset,
        offset_growth=growth,
        normalized_margin=nmarg,
        svm_margin=1.0 / np.linalg.norm(w_hat, axis=-1),
        loss=path.loss,
        svm=svms,
    )
    if Xa.ndim == 2:
        out = SoudryTrend(**{k: (v[0] if isinstance(v, np.ndarray) else v)
                             for k, v in out.__dict__.items() if k not in ("t",)}, t=path.t)
    return out
