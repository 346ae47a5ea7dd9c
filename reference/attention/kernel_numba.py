"""The fused normalized-GD kernel of ``attention.kernel`` compiled with numba (TF-SVM Sec. 2).

Same math as ``kernel._Chunk`` term for term, every step in compiled code:

* fast path: max-shifted softmax e = exp(L - max), values measured from the top token's,
  hr = h - h_top (exactly 0 at tokens tied with the top, so tied values give an exactly zero
  gradient), sigma = sum_t e_t hr_t / Z, f = h_top + sigma, coefficients
  alpha_i (e o hr - sigma_i e) with alpha_i = |l'_i| / Z_i scaled so the run's largest is 1;
* a run whose fast-path gradient has a squared norm outside [1e-200, 1e200] is recomputed on
  the log-space path (reference token, eps in log space: ``_Chunk.forward_exact``);
* the step is ``training._unit``'s g / ||g||_F (max-scaled when ||g||^2 leaves
  (1e-290, 1e290)), a zero gradient giving a zero step.

W and the gradient G = sum_i u_i z_i^T (u_i = X_i^T c_i) are never formed: the logits need
only the queries q_i = W z_i, and a step moves them by q_i <- q_i - f sum_j K_ij u_j with the
Gram matrix K_ij = z_i . z_j and f = lr / ||G||_F, where ||G||_F^2 = sum_ij K_ij u_i . u_j.
The steps f u_i are summed into A_i, and W = W_0 - sum_i A_i z_i^T is formed only at the
checkpoints and at the end. That replaces the d_z-sized contractions q = W z and G (and the
update of W) by n-sized ones: 2 n d (2 T + (3 n + 3) / 2) flops per run per step instead of
4 n d (T + d_z). Where the Gram form of ||G||^2 cancels (below ``_GRAM_TRUST`` of its
round-off scale, e.g. near a stationary point), G itself is formed for that run, so the norm
is as accurate as the generic path's; q and A accumulate the same terms as W does there.

Layout: runs are processed in groups of at most ``LANES`` (the caller picks the group width
R) with the run axis innermost (X (n, T, d, R), W^T (dz, d, R), ...), so every operation is
elementwise across the runs and the loops over them compile to SIMD code without reassociating
any sum (of fastmath only ``contract`` is on, so that a*b + c is one fused multiply-add: IEEE
semantics otherwise, tied logits and tied values stay exactly tied, and a run's result does not
depend on its lane); contractions add four terms per pass (a quarter of the accumulator's
loads and stores). Data shared by every run of a group (X, H, Y, Z without the lane axis:
``_at4``, ``_at3``, ``_at2`` drop the lane index) are loaded once for all lanes. The fast
path's exponentials use ``_exp_flat``, a vectorisable exp (Cody-Waite reduction, degree-13
Taylor polynomial, 2^k from its exponent bits: within 1 ulp of numpy's exp, exactly 1 at
0; 0 below -708, where exp is below 1e-307); the log-space path, per-run branches and the
max-scaled normalisation run per run with ``math``. Only the order of the sums, the fused
multiply-adds and the last bits of exp differ from the numpy kernel (round-off).
``error_model="numpy"``: a division by zero gives inf or NaN as in numpy instead of raising.

The token values h = X v are computed by the caller with the generic path's matmul
(``kernel.token_values``). Arrays passed in are always float64 and C-contiguous, with or
without the lane axis (two compiled signatures per function, cached on disk in __pycache__).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, types
from numba.extending import overload

LANES = 64  # runs per group: lane loops long enough to vectorise, a group's X in L2
_TINY, _HUGE = 1e-290, 1e290
_FAST_LO, _FAST_HI = 1e-200, 1e200
_FMIN = float(np.finfo(np.float64).min)
_PLAIN_MARGIN = 700.0
LOSS_CODES = {"logistic": 0, "exponential": 1, "correlation": 2}
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 = _LN2_HI + _LN2_LO, k _LN2_HI exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_EXP_LO, _EXP_HI = -708.0, 709.0
_ROUND = 6755399441055744.0  # 1.5 * 2^52: adding and subtracting it rounds to an integer
_INV_FACT = tuple(1.0 / math.factorial(j) for j in range(14))
#: fused multiply-adds allowed (LLVM's ``contract``, nothing else of fastmath): each a*b + c
#: is rounded once; no sum is reassociated, so the result does not depend on the lane.
_FMA = {"contract"}
#: the Gram form of ||G||^2 is used when it is at least this fraction of its round-off scale
#: sum_ij |K_ij u_i . u_j|: its relative error is then below ~(n^2 + d) 1e-13
_GRAM_TRUST = 1e-3


def _at4(A, i, j, k, r):  # noqa: ARG001 - typed and compiled by its overload below
    """A[i, j, k, r] for a lane-resolved array, A[i, j, k] for a shared one (numba only)."""
    raise NotImplementedError


def _at3(A, i, j, r):  # noqa: ARG001
    """A[i, j, r] for a lane-resolved array, A[i, j] for a shared one (numba only)."""
    raise NotImplementedError


def _at2(A, i, r):  # noqa: ARG001
    """A[i, r] for a lane-resolved array, A[i] for a shared one (numba only)."""
    raise NotImplementedError


def _of_group(A, g, lane_ndim):  # noqa: ARG001
    """Group g's part A[g] of a lane-resolved array (``lane_ndim`` + 1 axes), else the shared
    array itself (numba only)."""
    raise NotImplementedError


@overload(_at4)
def _at4_typed(A, i, j, k, r):
    return (lambda A, i, j, k, r: A[i, j, k, r]) if A.ndim == 4 else (
        lambda A, i, j, k, r: A[i, j, k])


@overload(_at3)
def _at3_typed(A, i, j, r):
    return (lambda A, i, j, r: A[i, j, r]) if A.ndim == 3 else (lambda A, i, j, r: A[i, j])


@overload(_at2)
def _at2_typed(A, i, r):
    return (lambda A, i, r: A[i, r]) if A.ndim == 2 else (lambda A, i, r: A[i])


@overload(_of_group, prefer_literal=True)
def _of_group_typed(A, g, lane_ndim):
    if not isinstance(lane_ndim, types.IntegerLiteral):
        return None
    if A.ndim == lane_ndim.literal_value + 1:
        return lambda A, g, lane_ndim: A[g]
    return lambda A, g, lane_ndim: A


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _exp_flat(x, out, scale):
    """out = exp(x) for 1-d arrays with x <= 709 (the callers': L - max <= 0, margins <= 700;
    long loops, so that they vectorise; within 1 ulp of numpy's exp): k = round(x / ln 2),
    y = x - k ln 2 (two parts), exp(y) by its Taylor polynomial of degree 13 (|y| <= ln 2 / 2:
    truncation < 1e-17), times 2^k built from its exponent bits in ``scale`` (scratch of x's
    size); 0 below -708 (and at -inf), NaN for NaN."""
    bits = scale.view(np.int64)
    for r in range(x.shape[0]):
        xv = x[r]
        xr = xv if xv > _EXP_LO else _EXP_LO
        xr = xr if xr < _EXP_HI else _EXP_HI
        k = (xr * _LOG2E + _ROUND) - _ROUND  # nearest integer (round half to even)
        y = (xr - k * _LN2_HI) - k * _LN2_LO
        p = _INV_FACT[13]
        p = p * y + _INV_FACT[12]
        p = p * y + _INV_FACT[11]
        p = p * y + _INV_FACT[10]
        p = p * y + _INV_FACT[9]
        p = p * y + _INV_FACT[8]
        p = p * y + _INV_FACT[7]
        p = p * y + _INV_FACT[6]
        p = p * y + _INV_FACT[5]
        p = p * y + _INV_FACT[4]
        p = p * y + _INV_FACT[3]
        p = p * y + _INV_FACT[2]
        p = p * y + 1.0
        p = p * y + 1.0
        out[r] = p
        bits[r] = (np.int64(k) + 1023) << 52  # the float64 2^k, |k| <= 1022
    for r in range(x.shape[0]):
        xv = x[r]
        out[r] = 0.0 if xv < _EXP_LO else out[r] * scale[r] + (xv - xv)  # NaN stays NaN


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _log_abs_derivative(m: float, code: int) -> float:
    """log |l'(m)|: logistic -(max(m, 0) + log(1 + e^{-|m|})), exponential -m, correlation 0."""
    if code == 0:
        return -(math.log(math.exp(-abs(m)) + 1.0) + max(m, 0.0))
    if code == 1:
        return -m
    return 0.0


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _queries(Z, Wt, q):
    """q_i = W z_i for every input and lane (q (n, d, R), W^T (dz, d, R))."""
    n, dz, d, R = q.shape[0], Wt.shape[0], Wt.shape[1], Wt.shape[2]
    q[:] = 0.0
    for i in range(n):
        for k in range(0, dz - 3, 4):  # four terms per pass: a quarter of the loads/stores
            for a in range(d):
                for r in range(R):
                    q[i, a, r] += (Wt[k, a, r] * _at3(Z, i, k, r)
                                   + Wt[k + 1, a, r] * _at3(Z, i, k + 1, r)
                                   + Wt[k + 2, a, r] * _at3(Z, i, k + 2, r)
                                   + Wt[k + 3, a, r] * _at3(Z, i, k + 3, r))
        for k in range(dz - dz % 4, dz):
            for a in range(d):
                for r in range(R):
                    q[i, a, r] += Wt[k, a, r] * _at3(Z, i, k, r)


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _forward(X, H, Y, q, L, e, hr, Zs, sigma, margin, m, ht, xb, sc):
    """Fast path for one group (lane axis last): logits L_i = X_i q_i, e = exp(L - max),
    hr = h - h_top (first maximiser), Z = sum e, sigma, margins Y (h_top + sigma)."""
    n, T, d, R = X.shape[0], X.shape[1], X.shape[2], q.shape[2]
    for i in range(n):
        for t in range(T):
            for r in range(R):
                L[i, t, r] = 0.0
            for a in range(0, d - 3, 4):
                for r in range(R):
                    L[i, t, r] += (_at4(X, i, t, a, r) * q[i, a, r]
                                   + _at4(X, i, t, a + 1, r) * q[i, a + 1, r]
                                   + _at4(X, i, t, a + 2, r) * q[i, a + 2, r]
                                   + _at4(X, i, t, a + 3, r) * q[i, a + 3, r])
            for a in range(d - d % 4, d):
                for r in range(R):
                    L[i, t, r] += _at4(X, i, t, a, r) * q[i, a, r]
        for r in range(R):
            m[i, r] = L[i, 0, r]
            ht[i, r] = _at3(H, i, 0, r)
        for t in range(1, T):
            for r in range(R):  # operands loaded first: the choices compile to selects
                lv, hv, mv, hc = L[i, t, r], _at3(H, i, t, r), m[i, r], ht[i, r]
                m[i, r] = max(lv, mv)
                ht[i, r] = hc if lv <= mv else hv  # ties keep the first maximiser
        for t in range(T):
            for r in range(R):
                xb[i, t, r] = L[i, t, r] - m[i, r]
    _exp_flat(xb.reshape(-1), e.reshape(-1), sc)
    for i in range(n):
        for r in range(R):
            Zs[i, r] = 0.0
            sigma[i, r] = 0.0
        for t in range(T):
            for r in range(R):
                hv = _at3(H, i, t, r) - ht[i, r]
                hr[i, t, r] = hv
                Zs[i, r] += e[i, t, r]
                sigma[i, r] += e[i, t, r] * hv
        for r in range(R):
            sigma[i, r] = sigma[i, r] / Zs[i, r]
            margin[i, r] = _at2(Y, i, r) * (ht[i, r] + sigma[i, r])


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _alpha_lane(margin, Zs, code, alpha, r):
    """Run r's |l'_i| / Z_i over its largest (``_Chunk.coefficients``' two branches)."""
    n = margin.shape[0]
    mmax = margin[0, r]
    for i in range(1, n):
        mmax = max(mmax, margin[i, r])
    if code == 0 and mmax <= _PLAIN_MARGIN:
        peak = 0.0
        for i in range(n):
            alpha[i, r] = 1.0 / ((math.exp(margin[i, r]) + 1.0) * Zs[i, r])
            peak = max(peak, alpha[i, r])
        for i in range(n):
            alpha[i, r] = alpha[i, r] / peak
        return
    peak = -np.inf
    for i in range(n):
        alpha[i, r] = _log_abs_derivative(margin[i, r], code) - math.log(Zs[i, r])
        peak = max(peak, alpha[i, r])
    peak = max(peak, _FMIN)
    for i in range(n):
        alpha[i, r] = math.exp(alpha[i, r] - peak)


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _coefficients(Y, e, hr, Zs, sigma, margin, s, code, alpha, c, sc):
    """c <- alpha_i (e o hr - sigma_i e), alpha_i = -Y_i/n |l'_i| / Z_i over its run's peak:
    the logistic loss's plain branch vectorised when every lane takes it, else per lane."""
    n, T, R = e.shape
    plain = code == 0
    if plain:
        for r in range(R):
            s[r] = margin[0, r]
        for i in range(1, n):
            for r in range(R):
                s[r] = max(s[r], margin[i, r])
        for r in range(R):
            plain = plain and s[r] <= _PLAIN_MARGIN
    if plain:
        _exp_flat(margin.reshape(-1), alpha.reshape(-1), sc)
        for r in range(R):
            s[r] = 0.0
        for i in range(n):
            for r in range(R):
                alpha[i, r] = 1.0 / ((alpha[i, r] + 1.0) * Zs[i, r])
                s[r] = max(s[r], alpha[i, r])
        for i in range(n):
            for r in range(R):
                alpha[i, r] = alpha[i, r] / s[r]
    else:
        for r in range(R):
            _alpha_lane(margin, Zs, code, alpha, r)
    for i in range(n):
        for r in range(R):
            alpha[i, r] = alpha[i, r] * (-_at2(Y, i, r) / n)
            s[r] = alpha[i, r] * sigma[i, r]
        for t in range(T):
            for r in range(R):
                c[i, t, r] = e[i, t, r] * hr[i, t, r] * alpha[i, r] - e[i, t, r] * s[r]


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _exact_lane(H, Y, L, e, hr, margin, code, alpha, c, logeps, r):
    """Run r's coefficients on the log-space path (``_Chunk.forward_exact`` and
    ``coefficients_exact``): reference token = the largest logit among tokens whose value
    differs from the top's, eps in log space, c = (diag(s) - s s^T) h / eps scaled by
    exp(lc_i - peak) (-Y_i / n), lc_i = log|l'_i| + log eps_i."""
    n, T = L.shape[0], L.shape[1]
    for i in range(n):
        mx = L[i, 0, r]
        top = 0
        for t in range(1, T):
            if L[i, t, r] > mx:
                mx = L[i, t, r]
                top = t
        h_top = _at3(H, i, top, r)
        m1 = -np.inf
        for t in range(T):
            hv = _at3(H, i, t, r) - h_top
            hr[i, t, r] = hv
            if hv != 0.0 and L[i, t, r] > m1:
                m1 = L[i, t, r]
        m1c = max(m1, _FMIN)
        z = 0.0
        S = 0.0
        for t in range(T):
            et = math.exp(L[i, t, r] - mx)
            e[i, t, r] = et
            z += et
            if hr[i, t, r] != 0.0:
                S += math.exp(L[i, t, r] - m1c) * hr[i, t, r]
        le = (m1 - mx) - math.log(z)
        logeps[i] = le
        margin[i, r] = _at2(Y, i, r) * (h_top + math.exp(le) * S)
        for t in range(T):
            rho = math.exp(L[i, t, r] - m1c) * hr[i, t, r] if hr[i, t, r] != 0.0 else 0.0
            c[i, t, r] = rho - (e[i, t, r] / z) * S
    peak = -np.inf
    for i in range(n):
        alpha[i, r] = _log_abs_derivative(margin[i, r], code) + logeps[i]
        peak = max(peak, alpha[i, r])
    peak = max(peak, _FMIN)
    for i in range(n):
        f = math.exp(alpha[i, r] - peak) * (-_at2(Y, i, r) / n)
        for t in range(T):
            c[i, t, r] = c[i, t, r] * f


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _token_gradients(X, c, u):
    """u_i = X_i^T c_i per lane (u (n, d, R)): the gradient is G = sum_i u_i z_i^T."""
    n, T, d, R = X.shape[0], X.shape[1], X.shape[2], c.shape[2]
    u[:] = 0.0
    for i in range(n):
        for t in range(0, T - 3, 4):  # four tokens per pass
            for a in range(d):
                for r in range(R):
                    u[i, a, r] += (_at4(X, i, t, a, r) * c[i, t, r]
                                   + _at4(X, i, t + 1, a, r) * c[i, t + 1, r]
                                   + _at4(X, i, t + 2, a, r) * c[i, t + 2, r]
                                   + _at4(X, i, t + 3, a, r) * c[i, t + 3, r])
        for t in range(T - T % 4, T):
            for a in range(d):
                for r in range(R):
                    u[i, a, r] += _at4(X, i, t, a, r) * c[i, t, r]


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _lane_gradient(Z, u, Gr, r):
    """Run r's gradient G^T[k, a] = sum_i z_ik u_ia into Gr (dz, d); returns ||G||_F^2."""
    n, dz, d = u.shape[0], Gr.shape[0], Gr.shape[1]
    Gr[:] = 0.0
    for i in range(n):
        for k in range(dz):
            zik = _at3(Z, i, k, r)
            for a in range(d):
                Gr[k, a] += u[i, a, r] * zik
    ss = 0.0
    for k in range(dz):
        for a in range(d):
            ss += Gr[k, a] * Gr[k, a]
    return ss


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _squared_norms(Z, K, u, P, ss, sabs, Gr):
    """||G||_F^2 per lane in its Gram form sum_ij K_ij u_i . u_j (K_ij = z_i . z_j: no G
    needed); where cancellation leaves it below ``_GRAM_TRUST`` of its round-off scale
    sum_ij |K_ij u_i . u_j| (or NaN), the sum of squares of G itself (``_lane_gradient``)."""
    n, d, R = u.shape
    ss[:] = 0.0
    sabs[:] = 0.0
    for i in range(n):
        for j in range(i, n):
            w = 1.0 if i == j else 2.0
            P[:] = 0.0
            for a in range(0, d - 3, 4):
                for r in range(R):
                    P[r] += (u[i, a, r] * u[j, a, r] + u[i, a + 1, r] * u[j, a + 1, r]
                             + u[i, a + 2, r] * u[j, a + 2, r]
                             + u[i, a + 3, r] * u[j, a + 3, r])
            for a in range(d - d % 4, d):
                for r in range(R):
                    P[r] += u[i, a, r] * u[j, a, r]
            for r in range(R):
                term = w * _at3(K, i, j, r) * P[r]
                ss[r] += term
                sabs[r] += abs(term)
    for r in range(R):
        if not ss[r] >= _GRAM_TRUST * sabs[r]:
            ss[r] = _lane_gradient(Z, u, Gr, r)


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _max_scale(G):
    """``training._unit``'s max-scaling of one run's gradient G (dz, d): (max|G|,
    ||G / max|G|||_F); max|G| is NaN when G is not finite, and both are 0 when G = 0."""
    peak = 0.0
    for k in range(G.shape[0]):
        for a in range(G.shape[1]):
            g = abs(G[k, a])
            if not math.isfinite(g):
                return np.nan, np.nan
            peak = max(peak, g)
    if peak == 0.0:
        return 0.0, 0.0
    nrm = 0.0
    for k in range(G.shape[0]):
        for a in range(G.shape[1]):
            nrm += (G[k, a] / peak) ** 2
    return peak, math.sqrt(nrm)


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _plain_factors(ss, f, lr, other):
    """f = lr / ||G||_F per lane where ||G||^2 = ss is in (1e-290, 1e290), else ``other``;
    True when every lane is in range."""
    plain = True
    for r in range(ss.shape[0]):
        ok = _TINY < ss[r] < _HUGE
        plain = plain and ok
        f[r] = lr / math.sqrt(ss[r]) if ok else other
    return plain


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _unit_lane(Z, u, Gr, lr, r):
    """Run r's u_i scaled to the step lr G / ||G||_F when ||G||^2 is out of (1e-290, 1e290)
    (``training._unit``'s max-scaling: (G / max|G|) / ||G / max|G|||; a zero gradient gives a
    zero step, a non-finite one NaN)."""
    n, d = u.shape[0], u.shape[1]
    _lane_gradient(Z, u, Gr, r)
    peak, nrm = _max_scale(Gr)
    if not peak > 0.0:
        fill = 0.0 if peak == 0.0 else np.nan
        for i in range(n):
            for a in range(d):
                u[i, a, r] = fill
        return
    scale = lr / nrm
    for i in range(n):
        for a in range(d):
            u[i, a, r] = (u[i, a, r] / peak) * scale


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _step(Z, K, u, A, q, ss, f, Gr, lr):
    """One normalized step W <- W - lr G / ||G||_F without forming W or G: the scaled
    u_i (f u_i, f = lr / ||G||) are added to A_i (W = W_0 - sum_i A_i z_i^T) and the queries
    follow, q_i <- q_i - sum_j K_ij f u_j (= W z_i after the step, K_ij = z_i . z_j)."""
    n, d, R = u.shape
    plain = _plain_factors(ss, f, lr, 1.0)
    for j in range(n):
        for a in range(d):
            for r in range(R):
                u[j, a, r] *= f[r]
    if not plain:
        for r in range(R):
            if not (_TINY < ss[r] < _HUGE):
                _unit_lane(Z, u, Gr, lr, r)
    for j in range(n):
        for a in range(d):
            for r in range(R):
                A[j, a, r] += u[j, a, r]
    for i in range(n):
        for j in range(0, n - 3, 4):  # four inputs per pass
            for a in range(d):
                for r in range(R):
                    q[i, a, r] -= (_at3(K, i, j, r) * u[j, a, r]
                                   + _at3(K, i, j + 1, r) * u[j + 1, a, r]
                                   + _at3(K, i, j + 2, r) * u[j + 2, a, r]
                                   + _at3(K, i, j + 3, r) * u[j + 3, a, r])
        for j in range(n - n % 4, n):
            for a in range(d):
                for r in range(R):
                    q[i, a, r] -= _at3(K, i, j, r) * u[j, a, r]


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _full_gradient(Z, u, G, ss):
    """The W form: G^T[k, a] = sum_i z_ik u_ia per lane and ss = ||G||_F^2."""
    n, dz, d, R = u.shape[0], G.shape[0], G.shape[1], G.shape[2]
    G[:] = 0.0
    for i in range(0, n - 3, 4):  # four inputs per pass
        for k in range(dz):
            for a in range(d):
                for r in range(R):
                    G[k, a, r] += (u[i, a, r] * _at3(Z, i, k, r)
                                   + u[i + 1, a, r] * _at3(Z, i + 1, k, r)
                                   + u[i + 2, a, r] * _at3(Z, i + 2, k, r)
                                   + u[i + 3, a, r] * _at3(Z, i + 3, k, r))
    for i in range(n - n % 4, n):
        for k in range(dz):
            for a in range(d):
                for r in range(R):
                    G[k, a, r] += u[i, a, r] * _at3(Z, i, k, r)
    ss[:] = 0.0
    for k in range(dz):
        for a in range(d):
            for r in range(R):
                ss[r] += G[k, a, r] * G[k, a, r]


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _descend_lane(Wt, G, lr, r):
    """The W form, run r: Wt <- Wt - lr G / ||G||_F with ``training._unit``'s max-scaling
    (0 -> 0, non-finite -> NaN)."""
    peak, nrm = _max_scale(G[:, :, r])
    if peak == 0.0:
        return
    for k in range(G.shape[0]):
        for a in range(G.shape[1]):
            Wt[k, a, r] = (Wt[k, a, r] - (G[k, a, r] / peak) / nrm * lr) if peak > 0.0 else np.nan


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _descend(Wt, G, ss, f, lr):
    """The W form: Wt <- Wt - lr G / ||G||_F per lane (vectorised where ||G||^2 is in
    range)."""
    dz, d, R = G.shape
    plain = _plain_factors(ss, f, lr, 0.0)
    for k in range(dz):
        for a in range(d):
            for r in range(R):
                Wt[k, a, r] -= G[k, a, r] * f[r]
    if not plain:
        for r in range(R):
            if not (_TINY < ss[r] < _HUGE):
                _descend_lane(Wt, G, lr, r)


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _weights(Z, W0, A, out):
    """W^T = W_0^T - sum_j z_j A_j^T per lane (out (dz, d, R))."""
    n, dz, d, R = A.shape[0], W0.shape[0], W0.shape[1], W0.shape[2]
    out[:] = W0
    for j in range(n):
        for k in range(dz):
            for a in range(d):
                for r in range(R):
                    out[k, a, r] -= _at3(Z, j, k, r) * A[j, a, r]


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def _norms(X, Z, K, c, u, G, P, ss, sabs, Gr, gram):
    """u_i = X_i^T c_i and ss = ||G||_F^2 per lane, in the Gram form or (with G) the W form."""
    _token_gradients(X, c, u)
    if gram:
        _squared_norms(Z, K, u, P, ss, sabs, Gr)
    else:
        _full_gradient(Z, u, G, ss)


def gram_form_pays(n: int, dz: int) -> bool:
    """Whether the Gram form's n-sized contractions (n(n+1) d + 2 n^2 d + 2 n d flops per run
    per step) cost less than the W form's d_z-sized ones (4 n d d_z + 4 d d_z): 3 n < 4 d_z."""
    return 3 * n < 4 * dz


@njit(cache=True, nogil=True, fastmath=_FMA, error_model="numpy")
def train_groups(X, H, Y, Z, K, Wt, gram, code, lr, steps, cps, hist, margins, probs,
                 exact):
    """Normalized GD for every group g of R runs (lane axis last): X (Gn, n, T, d, R),
    H (Gn, n, T, R), Y (Gn, n, R), Z (Gn, n, dz, R), K (Gn, n, n, R) = Z Z^T per lane, or
    each of them shared by all runs (X (n, T, d), H (n, T), Y (n), Z (n, dz), K (n, n));
    Wt (Gn, dz, d, R) = W^T, replaced by the final iterate; ``gram``: the Gram form (W and G
    never formed, ``gram_form_pays``) or the W form (W updated, q = W z recomputed, K
    unused). Records at the iterations
    ``cps`` the iterates hist (Gn, C, dz, d, R) and the margins (Gn, C, n, R); probs
    (Gn, n, T, R) is the final softmax; exact[g, it] is 1 when step it of some run of group
    g took the log-space path."""
    Gn, dz, d, R = Wt.shape
    n, T = probs.shape[1], probs.shape[2]
    q, u, A, W0 = np.empty((n, d, R)), np.empty((n, d, R)), np.empty((n, d, R)), \
        np.empty((dz, d, R))
    L, e, hr, c, xb = (np.empty((n, T, R)), np.empty((n, T, R)), np.empty((n, T, R)),
                       np.empty((n, T, R)), np.empty((n, T, R)))
    Zs, sigma, margin, alpha, m, ht = (np.empty((n, R)), np.empty((n, R)), np.empty((n, R)),
                                       np.empty((n, R)), np.empty((n, R)), np.empty((n, R)))
    s, ss, sabs, f, P = np.empty(R), np.empty(R), np.empty(R), np.empty(R), np.empty(R)
    logeps, Gr, G = np.empty(n), np.empty((dz, d)), np.empty((dz, d, R))
    sc = np.empty(n * T * R)  # exp's scratch
    for g in range(Gn):
        Xg, Hg, Yg = _of_group(X, g, 4), _of_group(H, g, 3), _of_group(Y, g, 2)
        Zg, Kg, Wg = _of_group(Z, g, 3), _of_group(K, g, 3), Wt[g]
        W0[:] = Wg
        _queries(Zg, W0, q)
        A[:] = 0.0
        k = 0
        for it in range(steps + 1):
            _forward(Xg, Hg, Yg, q, L, e, hr, Zs, sigma, margin, m, ht, xb, sc)
            if it == cps[k]:
                if gram:
                    _weights(Zg, W0, A, hist[g, k])
                else:
                    hist[g, k] = Wg
                margins[g, k] = margin
                k += 1
            if it == steps:
                break
            _coefficients(Yg, e, hr, Zs, sigma, margin, s, code, alpha, c, sc)
            _norms(Xg, Zg, Kg, c, u, G, P, ss, sabs, Gr, gram)
            redo = False
            for r in range(R):
                if not (_FAST_LO <= ss[r] <= _FAST_HI):
                    redo = True
                    exact[g, it] = 1
                    _exact_lane(Hg, Yg, L, e, hr, margin, code, alpha, c, logeps, r)
            if redo:  # the other lanes' coefficients are unchanged: the same gradient
                _norms(Xg, Zg, Kg, c, u, G, P, ss, sabs, Gr, gram)
            if gram:
                _step(Zg, Kg, u, A, q, ss, f, Gr, lr)
            else:
                _descend(Wg, G, ss, f, lr)
                _queries(Zg, Wg, q)
        if gram:
            _weights(Zg, W0, A, Wg)
        for i in range(n):
            for t in range(T):
                for r in range(R):
                    probs[g, i, t, r] = e[i, t, r] / Zs[i, r]
