"""A fused kernel for batched normalized GD on L(W) with a linear head (TF-SVM Sec. 2, W-ERM).

``training.train_W`` dispatches here when the run is plain normalized GD (no update rule, no
projection, no step-size schedule, the exact direction ``ngd_eps=None``) with a linear head
psi(u) = v^T u and data of moderate size. The result equals the generic path's
(``descend`` over ``gradients.grad_W``) to round-off; tests/test_kernel.py checks 1e-12
relative at 200 steps. How a step is computed instead:

* All B runs form one set of arrays with the token axis first and the runs last: per-input
  quantities are (T, N) with column i B + b for input i of run b. Reductions over tokens or over
  a run's inputs are then reductions across long contiguous rows and broadcasts have long inner
  loops; every buffer is allocated once (``out=``), so a step is a fixed number of numpy calls
  (~45) whatever B is.
* The token values h = X v and the signs -Y_i / n are constants, computed once.
* Shared data (X and Z without a run axis; Y and v may differ per run): the contractions
  q = W z, logits = X q, u = X^T c and grad = sum_i u_i z_i^T are GEMMs with the B runs as
  columns (4 n d (d_z + T) flops per run). Per-run data: stacked matmuls for q and grad, einsum
  over the runs axis for the two contractions with X.
* Fast path, then log-space path. With e = exp(L - max) and values measured from the top
  token's, hr = h - h_top (exactly 0 there), row i's gradient coefficients are
  |l'_i| / Z_i (e o hr - sigma_i e), sigma_i = sum_t e_t hr_t / Z_i, and f_i = h_top + sigma_i:
  the same terms as ``evaluate_queries`` (eps S = sigma), without its cancellation, scaled per
  run so that the largest |l'_i| / Z_i is 1. They lose accuracy only when exp(L - max)
  underflows for the tokens that matter; a step whose gradient's squared norm leaves
  [1e-200, 1e200] in any run is recomputed on the log-space path (``forward_exact``: the
  reference token, eps in log space, exactly as ``evaluate_queries``), so the direction stays
  exact far past the float64 underflow of the gradient (TF-SVM's saturated regime).
* The normalisation is ``training._unit``'s: g / ||g||_F, max-scaled when ||g||^2 leaves
  (1e-290, 1e290), a zero gradient giving a zero step.
* Runs are independent, so large batches are trained in chunks of ``CHUNK`` runs, which keeps
  a chunk's buffers in cache.
* Compiled (the default when numba is importable): ``attention.kernel_numba`` runs the same
  steps with no per-step Python (the numpy layout above pays ~45 numpy calls per step), on
  groups of up to ``LANES`` runs with the run axis innermost so that its loops are SIMD, data
  shared by all runs loaded once for all of them, and, when 3 n < 4 d_z, without forming W or
  the gradient (its Gram form: the queries W z_i move by the Gram matrix of the z_i); this
  module's numpy implementation is the fallback without numba, and both agree to round-off
  (tests/test_kernel.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

import numpy as np

from attnsvm.reference.attention.losses import LOSSES, Loss
from attnsvm.reference.attention.models import token_values

CHUNK = 256  # runs per chunk: its buffers stay in a core's L2 cache (measured best of 64..1024)
_TINY, _HUGE = 1e-290, 1e290  # squared norms outside this range are normalized max-scaled
_FMIN = float(np.finfo(np.float64).min)
_FAST_LO, _FAST_HI = 1e-200, 1e200  # fast-path gradients whose squared norm is in range
_PLAIN_MARGIN = 700.0  # logistic |l'| evaluated directly while every margin is below this
_SAFE_SCALE = 1e100  # kernel only when max|x| max|z| (and max|W0|) stay far from overflow


@dataclass(frozen=True)
class KernelRun:
    """What the kernel returns (``train_W`` wraps it in a ``TrainResult``)."""

    W: np.ndarray  # (B, d, dz) final iterate
    checkpoints: np.ndarray  # (C,)
    history: np.ndarray  # (B, C, d, dz)
    risk: np.ndarray  # (B, C)
    probs: np.ndarray  # (B, n, T) final softmax
    # steps recomputed on the log-space path, counted once per step and block of runs (CHUNK
    # runs for numpy, LANES compiled), summed over blocks
    exact_steps: int = 0


def checkpoint_grid(checkpoints: list[int] | None, steps: int) -> np.ndarray:
    """The iterations recorded: the requested ones clipped to [0, steps], sorted, unique, always
    ending at ``steps`` (the rule of ``training.descend``)."""
    wanted = [0, steps] if checkpoints is None else [int(c) for c in checkpoints]
    cps = np.unique(np.clip(np.array(wanted, dtype=int), 0, steps))
    if cps.size == 0 or cps[-1] != steps:
        cps = np.append(cps, steps)
    return cps


def kernel_applies(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray,
                   W0: np.ndarray) -> bool:
    """True when the fused kernel reproduces the generic path for these (validated) arrays:
    W0 carries the run axis (B, d, dz) or no batch at all, every data array is shared or has
    exactly B (or 1) runs, and the data are of moderate size (the products x^T W z cannot
    overflow differently from the generic evaluation order)."""
    B = W0.shape[0] if W0.ndim == 3 else 1
    if B == 0:
        return False
    for arr, core in ((X, 3), (Y, 1), (Z, 2), (v, 1)):
        if arr.ndim > core and arr.shape[0] not in (1, B):
            return False
    if W0.ndim == 2 and any(a.ndim > c for a, c in ((X, 3), (Y, 1), (Z, 2), (v, 1))):
        return False
    scale = float(np.max(np.abs(X), initial=0.0)) * float(np.max(np.abs(Z), initial=0.0))
    wmax = float(np.max(np.abs(W0), initial=0.0))
    vmax = float(np.max(np.abs(v), initial=0.0))
    return (scale < _SAFE_SCALE and wmax < _SAFE_SCALE and vmax < _SAFE_SCALE
            and float(np.max(np.abs(X), initial=0.0)) * vmax < _SAFE_SCALE)


def run_token_values(X: np.ndarray, v: np.ndarray, B: int) -> np.ndarray:
    """h = X v (``models.token_values``, the generic path's values) with a run axis, (B, n, T)."""
    h = token_values(X, v)
    return np.broadcast_to(h, (B, *h.shape[-2:]))


def _runs(arr: np.ndarray, core: int, B: int) -> np.ndarray:
    """``arr`` with a run axis of length B (broadcast when shared)."""
    if arr.ndim == core:
        arr = arr[None]
    return np.broadcast_to(arr, (B, *arr.shape[1:]))


def _shared(arr: np.ndarray, core: int) -> np.ndarray | None:
    """The single item of a shared array (no run axis, or a run axis of length 1), else None."""
    if arr.ndim == core:
        return arr
    return arr[0] if arr.shape[0] == 1 else None


class _Chunk:
    """Buffers and constants of one chunk of B runs; ``step`` is one normalized-GD step.

    Layout: token axis first and runs last, every per-input array is (T, N) with column
    i B + b for input i of run b; W is (d, dz, B) for shared data (the runs are GEMM columns)
    and (B, d, dz) for per-run data (stacked matmuls). Every reduction (over tokens, or
    over a run's inputs) is then a reduction across long contiguous rows, and every broadcast
    has a long inner loop: numpy's per-row overhead, which dominates (N, T) layouts with T ~ 8,
    disappears."""

    def __init__(self, X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray,
                 W: np.ndarray, loss: Loss, lr: float) -> None:
        B, d, dz = W.shape
        n, T = X.shape[-3], X.shape[-2]
        N = n * B
        self.B, self.n, self.T, self.d, self.dz, self.N = B, n, T, d, dz, N
        self.loss, self.lr = loss, lr
        Xs, Zs = _shared(X, 3), _shared(Z, 2)
        self.shared = Xs is not None and Zs is not None
        # W: (d, dz, B) for the shared GEMMs, (B, d, dz) for the per-run stacked matmuls
        self.W = (np.transpose(W, (1, 2, 0)) if self.shared else W).astype(
            np.float64, order="C", copy=True)
        if self.shared:
            # every contraction is a few GEMMs with the B runs as columns
            self.Xs = np.ascontiguousarray(Xs)  # (n, T, d)
            self.XsT = np.ascontiguousarray(Xs.transpose(0, 2, 1))  # (n, d, T)
            self.Zs, self.ZsT = np.ascontiguousarray(Zs), np.ascontiguousarray(Zs.T)
            self.qs = np.empty((d, n, B))
            self.Us = np.empty((n, d, B))
            H = self.token_values(X, v, B)
        else:
            Xb, Zb = _runs(X, 3, B), _runs(Z, 2, B)
            self.X = np.ascontiguousarray(np.transpose(Xb, (2, 3, 1, 0))).reshape(T, d, N)
            self.Zt = np.ascontiguousarray(np.transpose(Zb, (0, 2, 1)))  # (B, dz, n)
            self.Zn = np.ascontiguousarray(Zb)  # (B, n, dz)
            H = self.token_values(X, v, B)
            self.qb, self.q = np.empty((B, d, n)), np.empty((d, n, B))
            self.U, self.Ub = np.empty((d, N)), np.empty((B, d, n))
        self.H = np.ascontiguousarray(H).reshape(T, N)
        Yb = np.ascontiguousarray(_runs(Y, 1, B).T, dtype=np.float64).reshape(N)
        self.Y = Yb
        self.sign = -Yb / n  # l' < 0 (Assumption A): the gradient's sign per input
        self.logistic = loss is LOSSES["logistic"]
        # E[0]: logits, then logits - max, exp, s; E[1]: logits of the tokens whose value
        # differs from the top's (-inf elsewhere), then rho = exp(. - l_ref), rho o hr
        self.E = np.empty((2, T, N))
        self.L = np.empty((T, N))
        # fast path: F = [1 at maximisers; h there; e = exp(L - max)], then F[1] = e o hr
        self.F = np.empty((3, T, N))
        self.r3 = np.empty((3, N))  # [number of maximisers; h_top; Z = sum_t e_t]
        self.sigma, self.logZ = np.empty(N), np.empty(N)
        self.hr, self.c = np.empty((T, N)), np.empty((T, N))
        self.mask = np.empty((T, N), dtype=bool)
        self.top2 = np.empty((2, N))  # max logit; max logit among contributing tokens
        self.sums = np.empty((2, N))  # sum_t e_t; S = sum_t rho_t hr_t
        f1 = lambda: np.empty(N)  # noqa: E731 - one buffer shape, many buffers
        self.htop, self.lref, self.logeps, self.f, self.margin, self.tmp, self.tmp2 = (
            f1(), f1(), f1(), f1(), f1(), f1(), f1())
        self.G = np.empty((d, dz, B) if self.shared else (B, d, dz))
        self.G2 = np.empty(self.G.shape)
        self.ss, self.peak = np.empty(B), np.empty(B)
        self.exact_steps = 0  # steps that needed the log-space path

    @staticmethod
    def token_values(X: np.ndarray, v: np.ndarray, B: int) -> np.ndarray:
        """h = X v as (T, n, B) (``token_values``)."""
        return np.transpose(run_token_values(X, v, B), (2, 1, 0))

    # ----------------------------------------------------------------------- forward pass
    def logits(self) -> None:
        """L[t, i B + b] = x_it^T W_b z_i (run b)."""
        if self.shared:
            np.matmul(self.Zs, self.W, out=self.qs)  # q[:, i, b] = W_b z_i
            np.matmul(self.Xs, self.qs.transpose(1, 0, 2),
                      out=self.L.reshape(self.T, self.n, self.B).transpose(1, 0, 2))
        else:
            np.matmul(self.W, self.Zt, out=self.qb)  # q_i = W z_i, per run
            np.copyto(self.q, self.qb.transpose(1, 2, 0))
            np.einsum("tdc,dc->tc", self.X, self.q.reshape(self.d, self.N), out=self.L)

    def forward_exact(self) -> None:
        """Softmax and the per-token gradient coefficients (``evaluate_queries``, term for term:
        max-shifted softmax; values measured from the top token's, hr = h - h_top; the
        reference token's probability eps in log space; c = (diag(s) - s s^T) h / eps)."""
        E, L, hr, mask, top2, sums = self.E, self.L, self.hr, self.mask, self.top2, self.sums
        np.maximum.reduce(L, axis=0, out=top2[0])
        self.top_values()
        np.subtract(self.H, self.htop, out=hr)  # exactly 0 at tokens tied with the top
        np.equal(hr, 0.0, out=mask)
        np.copyto(E[0], L)
        np.copyto(E[1], L)
        np.copyto(E[1], -np.inf, where=mask)
        np.maximum.reduce(E[1], axis=0, out=top2[1])  # -inf when every value ties
        # l_ref = max over contributing tokens of (logit - max): fl(. - m) is monotone
        np.subtract(top2[1], top2[0], out=self.lref)
        # a row without contributing token has E[1] = -inf throughout: any finite shift
        np.maximum(top2[1], _FMIN, out=top2[1])
        np.subtract(E, top2[:, None, :], out=E)  # [rel <= 0 (0 at the top); others - l_ref]
        np.exp(E, out=E)  # [e; rho <= 1]
        np.multiply(E[1], hr, out=E[1])  # rho o hr
        np.add.reduce(E, axis=1, out=sums)  # [Z = sum e; S = sum rho hr]
        np.divide(E[0], sums[0], out=E[0])  # s
        np.log(sums[0], out=self.tmp)
        np.subtract(self.lref, self.tmp, out=self.logeps)  # log eps (-inf: none)
        np.exp(self.logeps, out=self.tmp)
        np.multiply(self.tmp, sums[1], out=self.tmp)
        np.add(self.htop, self.tmp, out=self.f)  # s^T h = h_top + eps S, accurately
        np.multiply(E[0], sums[1], out=self.c)
        np.subtract(E[1], self.c, out=self.c)  # (diag(s) - s s^T) h / eps
        np.multiply(self.Y, self.f, out=self.margin)

    def forward(self) -> None:
        """Logits, softmax and the margins: the fast path. With e = exp(L - max) and values
        measured from the top token's (hr = h - h_top, exactly 0 there), the attended value is
        f = h_top + sigma, sigma = sum_t e_t hr_t / Z (= eps S of ``evaluate_queries``), and
        row i's gradient coefficients are |l'_i| / Z_i (e o hr - sigma e): no cancellation,
        since hr vanishes at the top. What the log-space path adds is robustness to e
        underflowing; ``step`` checks for that and falls back to it."""
        self.logits()
        F, r3, L = self.F, self.r3, self.L
        np.maximum.reduce(L, axis=0, out=self.top2[0])
        np.equal(L, self.top2[0], out=F[0], casting="unsafe")
        np.multiply(F[0], self.H, out=F[1])
        np.subtract(L, self.top2[0], out=F[2])
        np.exp(F[2], out=F[2])
        np.add.reduce(F, axis=1, out=r3)
        if np.maximum.reduce(r3[0]) > 1.0:
            self.first_maximiser_values(r3[1], r3[0])
        np.subtract(self.H, r3[1], out=self.hr)
        np.multiply(F[2], self.hr, out=F[1])
        np.add.reduce(F[1], axis=0, out=self.sigma)
        np.divide(self.sigma, r3[2], out=self.sigma)
        np.add(r3[1], self.sigma, out=self.f)
        np.multiply(self.Y, self.f, out=self.margin)

    def coefficients(self) -> None:
        """c <- the fast path's gradient coefficients, scaled per run so that the largest
        |l'_i| / Z_i is 1 (the direction is all normalized GD uses)."""
        alpha = self.tmp2.reshape(self.n, self.B)
        if self.logistic and np.maximum.reduce(self.margin) <= _PLAIN_MARGIN:
            # |l'(m)| / Z = 1 / ((1 + e^m) Z): no underflow below the margin bound
            t = self.tmp
            np.exp(self.margin, out=t)
            np.add(t, 1.0, out=t)
            np.multiply(t, self.r3[2], out=t)
            np.divide(1.0, t, out=t)
            np.maximum.reduce(t.reshape(self.n, self.B), axis=0, out=self.peak)
            np.divide(t.reshape(self.n, self.B), self.peak, out=alpha)
        else:
            np.log(self.r3[2], out=self.logZ)
            lc = self.log_abs_derivatives().reshape(self.n, self.B)
            lc -= self.logZ.reshape(self.n, self.B)
            np.maximum.reduce(lc, axis=0, out=self.peak)
            np.maximum(self.peak, _FMIN, out=self.peak)
            np.subtract(lc, self.peak, out=alpha)
            np.exp(alpha, out=alpha)
        np.multiply(self.tmp2, self.sign, out=self.tmp2)
        np.multiply(self.tmp2, self.sigma, out=self.tmp)
        np.multiply(self.F[1], self.tmp2, out=self.c)
        np.multiply(self.F[2], self.tmp, out=self.hr)
        np.subtract(self.c, self.hr, out=self.c)

    def first_maximiser_values(self, htop: np.ndarray, count: np.ndarray) -> None:
        """htop[col] <- h of the first maximiser in the columns with tied maximal logits."""
        ties = np.flatnonzero(count > 1.0)
        first = np.argmax(self.L[:, ties] == self.top2[0, ties], axis=0)
        htop[ties] = self.H[first, ties]

    def top_values(self) -> None:
        """htop <- h of the top token (the first maximiser of the logits, argmax's choice).
        With a unique maximiser it is sum_t [L_t = max] h_t, exact (the other terms are 0);
        the rare inputs with tied maximal logits take the first one explicitly."""
        F, sums = self.E[1], self.sums
        np.equal(self.L, self.top2[0], out=self.hr, casting="unsafe")  # 1.0 at maximisers
        np.multiply(self.hr, self.H, out=F)
        np.add.reduce(self.hr, axis=0, out=sums[0])
        np.add.reduce(F, axis=0, out=self.htop)
        if np.maximum.reduce(sums[0]) > 1.0:
            self.first_maximiser_values(self.htop, sums[0])

    def log_coefficients(self) -> np.ndarray:
        """log |l'(Y_i f_i)| + log eps_i per input, shape (N,)."""
        return self.log_abs_derivatives() + self.logeps

    def log_abs_derivatives(self) -> np.ndarray:
        """log |l'(Y_i f_i)| per input, shape (N,) (a fresh array or ``tmp``)."""
        if not self.logistic:
            return self.loss.log_abs_derivative(self.margin)
        # logistic: log|l'(m)| = -(max(m, 0) + log(1 + e^{-|m|})) (= -logaddexp(0, m); the
        # log of 1 + u is exact to 1e-16 absolute, which is all a log-space factor needs)
        t, t2 = self.tmp, self.tmp2
        np.abs(self.margin, out=t)
        np.negative(t, out=t)
        np.exp(t, out=t)
        np.add(t, 1.0, out=t)
        np.log(t, out=t)
        np.maximum(self.margin, 0.0, out=t2)
        np.add(t, t2, out=t)
        np.negative(t, out=t)
        return t

    def coefficients_exact(self) -> None:
        """c_it <- the scaled gradient's coefficient of x_it z_i^T (largest input of each run
        O(1): the factor exp(-log_scale) of ``RiskEvaluation.dq_scaled``)."""
        lc = self.log_coefficients().reshape(self.n, self.B)
        np.maximum.reduce(lc, axis=0, out=self.peak)
        # peak -inf (zero gradient) -> any finite shift keeps it zero; NaN stays NaN
        np.maximum(self.peak, _FMIN, out=self.peak)
        w = self.tmp2.reshape(self.n, self.B)
        np.subtract(lc, self.peak, out=w)
        np.exp(w, out=w)
        np.multiply(self.tmp2, self.sign, out=self.tmp2)
        np.multiply(self.c, self.tmp2, out=self.c)

    def gradient(self) -> np.ndarray:
        """grad_W (times each run's positive log-space factor), shape (d, dz, B)."""
        if self.shared:
            np.matmul(self.XsT, self.c.reshape(self.T, self.n, self.B).transpose(1, 0, 2),
                      out=self.Us)  # u_i = X_i^T c_i
            np.matmul(self.ZsT, self.Us.transpose(1, 0, 2), out=self.G)  # sum_i u_i z_i^T
        else:
            np.einsum("tdc,tc->dc", self.X, self.c, out=self.U)  # u_i = X_i^T c_i
            np.copyto(self.Ub, self.U.reshape(self.d, self.n, self.B).transpose(2, 0, 1))
            np.matmul(self.Ub, self.Zn, out=self.G)  # sum_i u_i z_i^T, per run
        return self.G

    def flat(self, M: np.ndarray) -> np.ndarray:
        """W or its gradient with one axis per run and one over the d dz entries."""
        return M.reshape(-1, self.B) if self.shared else M.reshape(self.B, -1)

    def squared_norms(self) -> tuple[np.ndarray, float, float]:
        """The gradient (``flat``), its squared norm per run, and their min and max."""
        G = self.flat(self.gradient())
        np.multiply(G, G, out=self.flat(self.G2))
        np.add.reduce(self.flat(self.G2), axis=0 if self.shared else 1, out=self.ss)
        return G, float(np.minimum.reduce(self.ss)), float(np.maximum.reduce(self.ss))

    def step(self) -> None:
        """W <- W - lr grad / ||grad||_F per run (zero gradient: zero step). The fast path's
        gradient is used when every run's squared norm lies in [1e-200, 1e200]: then every
        term that underflowed is below 1e-100 relative to the result. Otherwise (a zero
        gradient, or e underflowing in every input of a run: deep saturation) the step is
        recomputed in log space (``forward_exact``)."""
        self.coefficients()
        G, lo, hi = self.squared_norms()
        if not (_FAST_LO <= lo and hi <= _FAST_HI):
            self.exact_steps += 1
            self.forward_exact()
            self.coefficients_exact()
            G, lo, hi = self.squared_norms()
        if _TINY < lo and hi < _HUGE:
            np.sqrt(self.ss, out=self.ss)
            np.divide(self.lr, self.ss, out=self.ss)
            np.multiply(G, self.ss if self.shared else self.ss[:, None], out=G)
        elif self.shared:
            G[...] = _unit_rows(G.T).T * self.lr
        else:
            G[...] = _unit_rows(G) * self.lr
        np.subtract(self.flat(self.W), G, out=self.flat(self.W))

    def params(self) -> np.ndarray:
        """The current iterates, shape (B, d, dz)."""
        return np.transpose(self.W, (2, 0, 1)) if self.shared else self.W

    def risk(self) -> np.ndarray:
        """L = (1/n) sum_i l(Y_i f_i) per run, shape (B,)."""
        return self.loss.value(self.margin).reshape(self.n, self.B).sum(axis=0) / self.n

    def probabilities(self) -> np.ndarray:
        """The current softmax s (after ``forward``), shape (B, n, T)."""
        s = self.F[2] / self.r3[2]
        return np.ascontiguousarray(np.transpose(s.reshape(self.T, self.n, self.B), (2, 1, 0)))


def _unit_rows(g: np.ndarray) -> np.ndarray:
    """Rows of g divided by their norm, max-scaled first (no underflow, no overflow); a zero
    row stays zero and a non-finite row becomes NaN (``training._unit`` per run)."""
    with np.errstate(over="ignore"):
        ss = np.sum(g * g, axis=1, keepdims=True)
    if np.all((ss > _TINY) & (ss < _HUGE)):
        return g / np.sqrt(ss)
    peak = np.max(np.abs(g), axis=1, keepdims=True)
    scaled = np.divide(g, peak, out=np.zeros_like(g), where=peak > 0)
    nrm = np.sqrt(np.sum(scaled * scaled, axis=1, keepdims=True))
    out = np.divide(scaled, nrm, out=np.zeros_like(g), where=nrm > 0)
    return np.where(np.isfinite(peak), out, np.nan)


def _train_chunk(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray, W: np.ndarray,
                 loss: Loss, lr: float, steps: int, cps: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    ch = _Chunk(X, Y, Z, v, W, loss, lr)
    hist = np.empty((ch.B, cps.size, ch.d, ch.dz))
    risk = np.empty((ch.B, cps.size))
    k = 0
    for it in range(steps + 1):
        ch.forward()
        if it == cps[k]:
            hist[:, k] = ch.params()
            risk[:, k] = ch.risk()
            k += 1
        if it == steps:
            break
        ch.step()
    return np.ascontiguousarray(ch.params()), hist, risk, ch.probabilities(), ch.exact_steps


#: "auto" compiles only batches of at least this many run-steps (B x steps): loading the
#: compiled kernel costs about 0.5 s per process (about 20 s the first time it is compiled), which
#: a smaller job would not win back. The choice depends on the job alone, never on what ran
#: before, so a run is reproduced by the same call.
NUMBA_MIN_RUN_STEPS = 200_000


def numba_kernel() -> ModuleType | None:
    """``attention.kernel_numba`` when numba is importable (imported on first use), else None."""
    try:
        from attnsvm.reference.attention import kernel_numba
    except ImportError:  # numba missing or broken: the numpy kernel computes the same
        return None
    return kernel_numba


def _lanes(arr: np.ndarray, R: int) -> np.ndarray:
    """(B, ...) -> (B / R, ..., R) float64 C-contiguous: groups of R runs, the run axis last."""
    grouped = arr.reshape(arr.shape[0] // R, R, *arr.shape[1:])
    return np.ascontiguousarray(np.moveaxis(grouped, 1, -1), dtype=np.float64)


def _unlanes(arr: np.ndarray) -> np.ndarray:
    """The inverse of ``_lanes``: (G, ..., R) -> (G R, ...)."""
    runs = np.moveaxis(arr, -1, 1)
    return runs.reshape(-1, *runs.shape[2:])


def _numba_block(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray, W0: np.ndarray,
                 lr: float, steps: int, cps: np.ndarray, loss: Loss, compiled: ModuleType
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """One group of B <= ``LANES`` runs, compiled: padded to a multiple of 8 lanes (copies of
    run 0), the run axis last, arrays of fixed dtype and layout. Data shared by every run (X,
    Y, Z and v without a run axis) are passed once, without a lane axis, so that the kernel
    loads each entry once for all lanes; otherwise every array gets the lane axis. Two
    signatures in all, compiled on first use."""
    B, d, dz = W0.shape
    n, T = X.shape[-3], X.shape[-2]
    pad = np.r_[np.arange(B), np.zeros(-B % 8, dtype=int)]  # the run of every lane
    R = pad.size
    arrays = ((X, 3), (Y, 1), (Z, 2), (v, 1))
    one = [_shared(a, core) for a, core in arrays]
    if all(a is not None for a in one):
        data = [np.ascontiguousarray(a, dtype=np.float64) for a in one[:3]]
        H = np.ascontiguousarray(run_token_values(one[0], one[3], 1)[0], dtype=np.float64)
        K = np.ascontiguousarray(data[2] @ data[2].T)
    else:
        data = [_lanes(_runs(a, core, B)[pad], R) for a, core in arrays[:3]]
        H = _lanes(run_token_values(X, v, B)[pad], R)
        Zr = _runs(Z, 2, B)[pad]
        K = _lanes(Zr @ np.swapaxes(Zr, -1, -2), R)  # Gram matrices z_i . z_j per run
    Wt = _lanes(np.transpose(W0, (0, 2, 1))[pad], R)
    hist = np.empty((1, cps.size, dz, d, R))
    margins = np.empty((1, cps.size, n, R))
    probs = np.empty((1, n, T, R))
    exact = np.zeros((1, max(steps, 1)), dtype=np.uint8)
    compiled.train_groups(data[0], H, data[1], data[2], K, Wt, compiled.gram_form_pays(n, dz),
                          compiled.LOSS_CODES[loss.name], float(lr), int(steps),
                          cps.astype(np.int64), hist, margins, probs, exact)
    W = np.transpose(_unlanes(Wt)[:B], (0, 2, 1))
    history = np.transpose(_unlanes(hist)[:B], (0, 1, 3, 2))
    risk = loss.value(_unlanes(margins)[:B]).sum(axis=-1) / n
    return W, history, risk, _unlanes(probs)[:B], int(np.count_nonzero(exact))


def normalized_gd_W(X: np.ndarray, Y: np.ndarray, Z: np.ndarray, v: np.ndarray,
                    W0: np.ndarray, *, steps: int, lr: float, loss: Loss,
                    checkpoints: list[int] | None = None, backend: str = "auto"
                    ) -> KernelRun:
    """Normalized GD W <- W - lr grad/||grad||_F on L(W) = (1/n) sum_i l(Y_i v^T X_i^T
    softmax(X_i W z_i)) for B runs at once (TF-SVM Sec. 2 with the official eta and
    normalisation), exact in the saturated regime (log-space direction). Arrays are validated
    float64 arrays for which ``kernel_applies`` holds: X (n, T, d) or (B, n, T, d), Y (n) or
    (B, n), Z (n, dz) or (B, n, dz), v (d) or (B, d), W0 (B, d, dz) or (d, dz).

    ``backend``: "auto" (the numba-compiled kernel for jobs of at least
    ``NUMBA_MIN_RUN_STEPS`` run-steps when numba is importable and the loss is a built-in one,
    else numpy), "numba" or "numpy"; both compute the same to round-off."""
    W0 = W0 if W0.ndim == 3 else W0[None]
    B = W0.shape[0]
    cps = checkpoint_grid(checkpoints, steps)
    wanted = backend == "numba" or (backend == "auto" and B * steps >= NUMBA_MIN_RUN_STEPS)
    compiled = numba_kernel() if wanted else None
    if backend == "numba" and compiled is None:
        raise ImportError("backend='numba' needs numba (pip install numba)")
    fast = compiled is not None and LOSSES.get(loss.name) is loss
    size = compiled.LANES if fast else CHUNK
    parts = []
    for lo in range(0, B, size):
        hi = min(B, lo + size)
        part = [a if a.ndim == core or a.shape[0] == 1 else a[lo:hi]
                for a, core in ((X, 3), (Y, 1), (Z, 2), (v, 1))]
        parts.append(_numba_block(*part, W0[lo:hi], lr, steps, cps, loss, compiled) if fast
                     else _train_chunk(*part, W0[lo:hi], loss, lr, steps, cps))
    W, hist, risk, probs = (np.ascontiguousarray(np.concatenate([p[j] for p in parts]))
                            for j in range(4))
    return KernelRun(W=W, checkpoints=cps, history=hist, risk=risk, probs=probs,
                     exact_steps=sum(p[4] for p in parts))
