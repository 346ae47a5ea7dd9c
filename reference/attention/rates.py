"""Convergence-rate measurements over log-spaced checkpoints (Vasudeva, Deora, Thrampoulidis,
arXiv 2402.05738: finite-time rates of W(k) -> W^mm for normalized GD and the Polyak step, and
the sparsification rate of the attention map).

Measured quantities, per run and checkpoint k:
- the direction gap 1 - corr(W(k), W^mm) (``training.correlation``);
- the suboptimality 1 - s_opt(k), with s_opt the *smallest over inputs* of the softmax
  probability on the optimal token: 1 - s_opt = max_i sum_{t != opt_i} s_it, formed in log space
  (``log_opt_suboptimality``) so that it neither rounds to 0 nor underflows when saturated;
- the normalized p-norm margin gap 1 - min_k <a_k z_k^T, W> / (||W||_p * gamma*_p) with gamma*_p =
  1/||W^mm_p||_p the optimum (``margin_gap``), which is well defined when the p-norm SVM has many
  solutions (the entrywise max-norm SVM often has).

Fits, over the checkpoints k >= ``kmin`` with a positive finite gap:
- power law gap ~ C k^{-a}: least squares of log gap on log k (``fit_power_law``);
- log law gap ~ C (log k)^{-a}: least squares of log gap on log log k (``fit_log_law``), the
  form of constant-step GD's 1/log k direction convergence (Soudry et al. for linear logistic
  regression; TF-SVM / 2402.05738 for attention);
- the interval: with several independent runs (a (B, C) array) each run is fitted alone and the
  interval is Student's t over the B exponents (runs are independent; consecutive checkpoints of
  one run are not, so a regression interval over one run's checkpoints is only indicative); with
  one run it is the regression's t-interval (scipy.stats.linregress' standard error).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import logsumexp

from attnsvm.reference.attention.models import attention_logits, queries
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float, as_int

__all__ = [
    "RateFit",
    "fit_log_law",
    "fit_power_law",
    "local_exponents",
    "log_opt_suboptimality",
    "margin_gap",
]


@dataclass(frozen=True)
class RateFit:
    """A fitted decay exponent with its confidence interval.

    Attributes:
        law: "power" (gap ~ C k^-a) or "log" (gap ~ C (log k)^-a).
        exponent: a (mean over runs when several).
        low, high: the two-sided ``confidence`` interval of a.
        per_run: each run's exponent.
        intercept: mean fitted log C.
        points: checkpoints used per run (the smallest over runs).
        kmin, kmax: the range of k fitted.
    """

    law: str
    exponent: float
    low: float
    high: float
    per_run: tuple[float, ...]
    intercept: float
    points: int
    kmin: int
    kmax: int
    confidence: float

    def as_dict(self) -> dict:
        return {"law": self.law, "exponent": self.exponent, "low": self.low, "high": self.high,
                "per_run": list(self.per_run), "intercept": self.intercept,
                "points": self.points, "kmin": self.kmin, "kmax": self.kmax,
                "confidence": self.confidence}


def _curves(k: object, gap: object, log_values: bool) -> tuple[np.ndarray, np.ndarray]:
    """k (C,) and log gaps (B, C) as float arrays (NaN where a gap is not positive/finite)."""
    kk = np.asarray(k, dtype=np.float64)
    g = np.asarray(gap, dtype=np.float64)
    if kk.ndim != 1:
        raise ProblemError("k", f"expected one checkpoint per column, got shape {kk.shape}")
    g = g[None] if g.ndim == 1 else g
    if g.ndim != 2 or g.shape[1] != kk.size:
        raise ProblemError("gap", f"expected ({kk.size},) or (B, {kk.size}), got {g.shape}")
    if log_values:
        lg = np.where(np.isfinite(g), g, np.nan)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            lg = np.where((g > 0) & np.isfinite(g), np.log(np.where(g > 0, g, 1.0)), np.nan)
    return kk, lg


def _fit(x: np.ndarray, kk: np.ndarray, lg: np.ndarray, keep: np.ndarray, law: str,
         confidence: float) -> RateFit:
    slopes, icepts, npts = [], [], []
    se1 = None
    for row in lg:
        ok = keep & np.isfinite(row)
        if int(ok.sum()) < 3:
            raise ProblemError("gap", f"a run has {int(ok.sum())} usable checkpoints (need 3: "
                               "positive finite gaps at k >= kmin)")
        res = stats.linregress(x[ok], row[ok])
        slopes.append(-float(res.slope))
        icepts.append(float(res.intercept))
        npts.append(int(ok.sum()))
        se1 = float(res.stderr)
    a = np.array(slopes)
    q = 0.5 + confidence / 2
    if a.size >= 2:
        half = float(stats.t.ppf(q, a.size - 1) * np.std(a, ddof=1) / np.sqrt(a.size))
    else:
        half = float(stats.t.ppf(q, npts[0] - 2) * se1)
    used = kk[keep]
    return RateFit(law, float(a.mean()), float(a.mean() - half), float(a.mean() + half),
                   tuple(float(s) for s in a), float(np.mean(icepts)), min(npts),
                   int(used.min()), int(used.max()), confidence)


def _window(kk: np.ndarray, kmin: float, kmax: float | None) -> np.ndarray:
    return (kk >= kmin) & (kk <= (np.inf if kmax is None else kmax))


def fit_power_law(k: object, gap: object, *, kmin: float = 1, kmax: float | None = None,
                  confidence: float = 0.95, log_values: bool = False) -> RateFit:
    """Exponent a of gap ~ C k^-a over checkpoints kmin <= k <= kmax (``log_values``: ``gap``
    holds log gaps already). gap: (C,) or (B, C) for B independent runs."""
    confidence = _confidence(confidence)
    kk, lg = _curves(k, gap, log_values)
    keep = _window(kk, max(as_float("kmin", kmin, positive=True), 1.0), kmax)
    return _fit(np.log(np.where(kk > 0, kk, 1.0)), kk, lg, keep, "power", confidence)


def fit_log_law(k: object, gap: object, *, kmin: float = 3, kmax: float | None = None,
                confidence: float = 0.95, log_values: bool = False) -> RateFit:
    """Exponent a of gap ~ C (log k)^-a over checkpoints max(kmin, 3) <= k <= kmax."""
    confidence = _confidence(confidence)
    kk, lg = _curves(k, gap, log_values)
    keep = _window(kk, max(as_float("kmin", kmin, positive=True), 3.0), kmax)
    x = np.log(np.log(np.where(kk >= 3, kk, 3.0)))
    return _fit(x, kk, lg, keep, "log", confidence)


def local_exponents(k: object, gap: object, *, windows: int = 2, kmin: float = 1,
                    kmax: float | None = None, confidence: float = 0.95,
                    log_values: bool = False) -> list[RateFit]:
    """Power-law exponents over ``windows`` consecutive equal spans of log k in [kmin, kmax]: a
    power law keeps them equal, a log law (d log gap / d log k = -a / log k) makes them fall."""
    windows = as_int("windows", windows, low=1, high=100)
    kk = np.asarray(k, dtype=np.float64)
    lo = max(as_float("kmin", kmin, positive=True), 1.0)
    hi = float(kk.max() if kmax is None else kmax)
    edges = np.exp(np.linspace(np.log(lo), np.log(hi), windows + 1))
    return [fit_power_law(k, gap, kmin=a, kmax=b, confidence=confidence, log_values=log_values)
            for a, b in zip(edges[:-1], edges[1:], strict=True)]


def _confidence(c: object) -> float:
    c = as_float("confidence", c, positive=True)
    if c >= 1:
        raise ProblemError("confidence", f"must be in (0, 1), got {c!r}")
    return c


def log_opt_suboptimality(X: np.ndarray, Z: np.ndarray, W: np.ndarray,
                          opt: np.ndarray) -> np.ndarray:
    """log(1 - s_opt) with s_opt = min_i s_{i, opt_i}: log max_i sum_{t != opt_i} s_it, from the
    logits in log space (exact far into saturation). X (n, T, d), Z (n, dz), W (..., d, dz),
    opt (n,); returns shape (...)."""
    logits = np.asarray(attention_logits(X, queries(np.asarray(W, dtype=np.float64), Z)))
    n, T = logits.shape[-2:]
    opt = np.asarray(opt, dtype=int)
    mask = np.arange(T)[None, :] == opt[:, None]  # (n, T)
    rest = logsumexp(np.where(mask, -np.inf, logits), axis=-1)
    return np.max(rest - logsumexp(logits, axis=-1), axis=-1)


def margin_gap(a: np.ndarray, z: np.ndarray, W: np.ndarray, p: float,
               optimum_norm: float) -> np.ndarray:
    """1 - gamma_p(W) / gamma*_p, gamma_p(W) = min_k a_k^T W z_k / ||vec W||_p the normalized
    margin of W for the constraints a_k^T W z_k >= 1, gamma*_p = 1 / ``optimum_norm`` (the norm of
    the p-norm SVM solution). 0 at an optimal direction, > 0 elsewhere, > 1 when W violates a
    constraint's sign. W (..., d, dz)."""
    W = np.asarray(W, dtype=np.float64)
    m = np.einsum("kd,...de,ke->...k", np.asarray(a), W, np.asarray(z)).min(axis=-1)
    flat = W.reshape(W.shape[:-2] + (-1,))
    nrm = np.linalg.norm(flat, ord=p, axis=-1)
    ratio = np.divide(m, nrm, out=np.full_like(m, -np.inf), where=nrm > 0)
    return 1.0 - ratio * float(optimum_norm)
