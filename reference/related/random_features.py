"""Random-feature softmax kernel and attention (Performer / FAVOR+, Choromanski et al., 2009.14794).

Kernel SM(x, y) = exp(x^T y) (the 1/sqrt(d) factor is absorbed into x, y).  Feature maps, with
directions w_1..w_m ~ N(0, I_d) and z = x + y:

* positive (Lemma 1): phi(x) = exp(W x - ||x||^2/2) / sqrt(m); phi(x).phi(y) = L mean exp(w.z)
* hyperbolic (Lemma 1): phi(x) = exp(-||x||^2/2) [exp(W x), exp(-W x)] / sqrt(2m);
  phi(x).phi(y) = L mean cosh(w.z)
* trigonometric: phi(x) = exp(||x||^2/2) [sin(W x), cos(W x)] / sqrt(m)
  with L = exp(-(||x||^2 + ||y||^2)/2).  All three are unbiased for SM(x, y) (iid or orthogonal
  isotropic directions); Lemma 2 gives their MSE for iid directions, Theorem 2 bounds the MSE of
  orthogonal ones (m <= d).

Orthogonal random features: each block of d directions is Q from the QR factorisation of a d x d
Gaussian matrix, with the sign fix Q diag(sign(diag R)) (which makes Q Haar distributed),
rescaled by independent chi_d norms so that each direction is marginally N(0, I).
``sign_fix=False`` keeps the raw LAPACK factor, as the official google-research code does; it
is not isotropic and biases the estimate (properties.related_checks.check_orf_signfix).

The row-normalised attention D^{-1} Q'(K'^T V) is a ratio estimator and is biased (only the kernel
entries Q' K'^T are unbiased).  Every random draw takes a seed.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from attnsvm.reference.errors import ProblemError

Kind = Literal["positive", "hyperbolic", "trig"]
KINDS: tuple[str, ...] = ("positive", "hyperbolic", "trig")


def _vec(x: object, field: str) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProblemError(field, f"not numeric ({exc})") from None
    if a.ndim < 1 or a.size == 0:
        raise ProblemError(field, f"expected a non-empty array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ProblemError(field, "contains NaN or infinity")
    return a


def _check_positive_int(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ProblemError(field, f"must be a positive integer, got {value!r}")
    return int(value)


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ProblemError("kind", f"unknown feature kind {kind!r}; use one of {KINDS}")


# --------------------------------------------------------------------------------------------
# directions


def orthogonal_blocks(n: int, d: int, rng: np.random.Generator, *,
                      sign_fix: bool = True) -> np.ndarray:
    """n independent d x d orthogonal matrices from numpy's (LAPACK Householder) QR; (n, d, d).

    Returned with the directions as ROWS (row j = column j of Q, as in google-research's
    ``q = transpose(qr(G)[0])``).  With ``sign_fix`` Q is multiplied by sign(diag R), giving a Haar
    matrix; without it numpy's Q has Q[0, 0] < 0 always (and other diagonal signs skewed).
    """
    G = rng.standard_normal((n, d, d))
    Q, R = np.linalg.qr(G)
    if sign_fix:
        s = np.sign(np.diagonal(R, axis1=-2, axis2=-1))
        s = np.where(s == 0, 1.0, s)
        Q = Q * s[:, None, :]
    return np.swapaxes(Q, -1, -2)


def gaussian_directions(m: int, d: int, *, seed: int | np.random.Generator = 0,
                        orthogonal: bool = False, sign_fix: bool = True,
                        n_draws: int | None = None) -> np.ndarray:
    """m random directions in R^d, each marginally N(0, I_d): shape (m, d) or (n_draws, m, d).

    iid Gaussian rows, or (``orthogonal``) blocks of d exactly orthogonal rows rescaled by chi_d
    norms (2009.14794 Sec. 2.4); blocks are independent when m > d.
    """
    m = _check_positive_int(m, "m")
    d = _check_positive_int(d, "d")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    R = 1 if n_draws is None else _check_positive_int(n_draws, "n_draws")
    if not orthogonal:
        W = rng.standard_normal((R, m, d))
    else:
        nb = -(-m // d)
        blocks = orthogonal_blocks(R * nb, d, rng, sign_fix=sign_fix).reshape(R, nb * d, d)
        norms = np.linalg.norm(rng.standard_normal((R, nb * d, d)), axis=-1)
        W = (blocks * norms[..., None])[:, :m, :]
    return W[0] if n_draws is None else W


# --------------------------------------------------------------------------------------------
# feature maps


def _proj(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    # X (..., L, d) or (d,), W (..., m, d) -> (..., L, m) or (..., m)
    if X.shape[-1] != W.shape[-1]:
        raise ProblemError(
            "W", f"direction dimension {W.shape[-1]} != input dimension {X.shape[-1]}")
    if X.ndim == 1:
        return W @ X
    return X @ np.swapaxes(W, -1, -2)


def positive_features(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """phi+(x) = exp(W x - ||x||^2 / 2) / sqrt(m) (2009.14794 Lemma 1, SM^+)."""
    X, W = _vec(X, "X"), _vec(W, "W")
    sq = 0.5 * np.sum(X * X, axis=-1)
    p = _proj(X, W)
    return np.exp(p - (sq if X.ndim == 1 else sq[..., None])) / np.sqrt(W.shape[-2])


def hyperbolic_features(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """phi_hyp+(x) = exp(-||x||^2/2) [exp(W x), exp(-W x)] / sqrt(2m) (Lemma 1, SM^hyp+)."""
    X, W = _vec(X, "X"), _vec(W, "W")
    sq = 0.5 * np.sum(X * X, axis=-1)
    p = _proj(X, W)
    s = sq if X.ndim == 1 else sq[..., None]
    return np.concatenate([np.exp(p - s), np.exp(-p - s)], axis=-1) / np.sqrt(2 * W.shape[-2])


def trig_features(X: np.ndarray, W: np.ndarray) -> np.ndarray:
    """phi_trig(x) = exp(||x||^2/2) [sin(W x), cos(W x)] / sqrt(m) (2009.14794 Sec. 2.3)."""
    X, W = _vec(X, "X"), _vec(W, "W")
    sq = 0.5 * np.sum(X * X, axis=-1)
    p = _proj(X, W)
    h = np.exp(sq if X.ndim == 1 else sq[..., None])
    return h * np.concatenate([np.sin(p), np.cos(p)], axis=-1) / np.sqrt(W.shape[-2])


FEATURES = {"positive": positive_features, "hyperbolic": hyperbolic_features,
            "trig": trig_features}


def features(X: np.ndarray, W: np.ndarray, kind: Kind = "positive") -> np.ndarray:
    """Feature map by kind ('positive', 'hyperbolic', 'trig')."""
    _check_kind(kind)
    return FEATURES[kind](X, W)


# --------------------------------------------------------------------------------------------
# kernel estimates and their MSE


def softmax_kernel(x: np.ndarray, y: np.ndarray) -> float:
    """SM(x, y) = exp(x^T y)."""
    return float(np.exp(_vec(x, "x") @ _vec(y, "y")))


def kernel_estimates(x: np.ndarray, y: np.ndarray, m: int, n_draws: int, *,
                     kind: Kind = "positive", orthogonal: bool = False, sign_fix: bool = True,
                     seed: int = 0, chunk: int = 20000) -> np.ndarray:
    """n_draws independent estimates phi(x) . phi(y) of SM(x, y), each from m fresh directions."""
    xa, ya = _vec(x, "x"), _vec(y, "y")
    if xa.ndim != 1 or xa.shape != ya.shape:
        raise ProblemError("y", f"x, y must be vectors of one length, got {xa.shape}, {ya.shape}")
    _check_kind(kind)
    n_draws = _check_positive_int(n_draws, "n_draws")
    rng = np.random.default_rng(seed)
    out = np.empty(n_draws)
    for start in range(0, n_draws, chunk):
        R = min(chunk, n_draws - start)
        W = gaussian_directions(m, xa.size, seed=rng, orthogonal=orthogonal, sign_fix=sign_fix,
                                n_draws=R)
        out[start:start + R] = np.sum(features(xa, W, kind) * features(ya, W, kind), axis=-1)
    return out


def lemma2_mse(x: np.ndarray, y: np.ndarray, m: int, kind: Kind = "positive") -> float:
    """MSE of the m-direction iid estimator (2009.14794 Lemma 2).

    trig: exp(||x+y||^2) SM^-2 (1 - exp(-||x-y||^2))^2 / (2m);
    positive: exp(||x+y||^2) SM^2 (1 - exp(-||x+y||^2)) / m;
    hyperbolic: (1 - exp(-||x+y||^2)) / 2 * MSE(positive).
    """
    xa, ya = _vec(x, "x"), _vec(y, "y")
    m = _check_positive_int(m, "m")
    _check_kind(kind)
    sm = float(np.exp(xa @ ya))
    zp = float(np.sum((xa + ya) ** 2))
    zm = float(np.sum((xa - ya) ** 2))
    pos = np.exp(zp) * sm**2 * (-np.expm1(-zp)) / m
    if kind == "positive":
        return float(pos)
    if kind == "hyperbolic":
        return float(0.5 * (-np.expm1(-zp)) * pos)
    return float(np.exp(zp) / sm**2 * np.expm1(-zm) ** 2 / (2 * m))


def theorem2_mse_bound(x: np.ndarray, y: np.ndarray, m: int) -> float:
    """Upper bound on the MSE of orthogonal positive features, m <= d (2009.14794 Theorem 2).

    MSE(SM^ort+) <= MSE(SM^+) - 2(m - 1) / (m (d + 2)) (SM(x, y) - exp(-(||x||^2 + ||y||^2)/2))^2.
    """
    xa, ya = _vec(x, "x"), _vec(y, "y")
    d = xa.size
    if m > d:
        raise ProblemError("m", f"Theorem 2 needs m <= d = {d}, got {m}")
    sm = float(np.exp(xa @ ya))
    lam = float(np.exp(-0.5 * (xa @ xa + ya @ ya)))
    return lemma2_mse(xa, ya, m, "positive") - 2 * (m - 1) / (m * (d + 2)) * (sm - lam) ** 2


# --------------------------------------------------------------------------------------------
# attention


def _check_qkv(Q: np.ndarray, K: np.ndarray, V: np.ndarray) -> tuple[np.ndarray, ...]:
    q, k, v = _vec(Q, "Q"), _vec(K, "K"), _vec(V, "V")
    if q.ndim != 2 or k.ndim != 2 or v.ndim != 2:
        raise ProblemError("Q", "expected matrices Q (L, d), K (L, d), V (L, d_v)")
    if k.shape[1] != q.shape[1]:
        raise ProblemError("K", f"key dimension {k.shape[1]} != query dimension {q.shape[1]}")
    if v.shape[0] != k.shape[0]:
        raise ProblemError("V", f"{v.shape[0]} values for {k.shape[0]} keys")
    return q, k, v


def softmax_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, *,
                      causal: bool = False) -> np.ndarray:
    """Exact softmax attention softmax(Q K^T) V in log-sum-exp form (no 1/sqrt(d) factor)."""
    q, k, v = _check_qkv(Q, K, V)
    S = q @ k.T
    if causal:
        if q.shape[0] != k.shape[0]:
            raise ProblemError("K", "causal attention needs as many keys as queries")
        S = np.where(np.tril(np.ones(S.shape, dtype=bool)), S, -np.inf)
    S = S - S.max(axis=-1, keepdims=True)
    P = np.exp(S)
    return (P / P.sum(axis=-1, keepdims=True)) @ v


def favor_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, W: np.ndarray, *,
                    kind: Kind = "positive", causal: bool = False) -> np.ndarray:
    """FAVOR+ estimate D^{-1} (Q' ((K')^T V)), D = diag(Q' ((K')^T 1)) (2009.14794 Sec. 2.2).

    W are the directions, shape (m, d) or (n_draws, m, d) (then the output has a leading draw
    axis).  Causal: prefix sums over keys.  A ratio estimator: biased for finite m.
    """
    q, k, v = _check_qkv(Q, K, V)
    W = _vec(W, "W")
    fq, fk = features(q, W, kind), features(k, W, kind)  # (..., L, M)
    A = fq @ np.swapaxes(fk, -1, -2)
    if causal:
        A = np.where(np.tril(np.ones(A.shape[-2:], dtype=bool)), A, 0.0)
    den = A.sum(axis=-1)
    if np.any(den == 0):
        raise ProblemError("W", "a row normaliser of the estimated attention is zero")
    return (A @ v) / den[..., None]


def attention_kernel_estimates(Q: np.ndarray, K: np.ndarray, m: int, n_draws: int, *,
                               kind: Kind = "positive", orthogonal: bool = False,
                               sign_fix: bool = True, seed: int = 0) -> np.ndarray:
    """Unnormalised estimates Q' K'^T of exp(Q K^T), shape (n_draws, L_q, L_k) (unbiased)."""
    q, k, _ = _check_qkv(Q, K, np.zeros((np.shape(K)[0], 1)))
    W = gaussian_directions(m, q.shape[1], seed=seed, orthogonal=orthogonal, sign_fix=sign_fix,
                            n_draws=n_draws)
    return features(q, W, kind) @ np.swapaxes(features(k, W, kind), -1, -2)


def favor_attention_draws(Q: np.ndarray, K: np.ndarray, V: np.ndarray, m: int, n_draws: int, *,
                          kind: Kind = "positive", orthogonal: bool = False,
                          sign_fix: bool = True, causal: bool = False, seed: int = 0,
                          chunk: int = 20000) -> np.ndarray:
    """n_draws independent FAVOR+ outputs, shape (n_draws, L, d_v)."""
    q, k, v = _check_qkv(Q, K, V)
    n_draws = _check_positive_int(n_draws, "n_draws")
    rng = np.random.default_rng(seed)
    out = np.empty((n_draws,) + (q.shape[0], v.shape[1]))
    for start in range(0, n_draws, chunk):
        R = min(chunk, n_draws - start)
        W = gaussian_directions(m, q.shape[1], seed=rng, orthogonal=orthogonal,
                                sign_fix=sign_fix, n_draws=R)
        out[start:start + R] = favor_attention(q, k, v, W, kind=kind, causal=causal)
    return out


# --------------------------------------------------------------------------------------------
# statistics


def mean_z_score(samples: np.ndarray, target: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """(mean, standard error, z = (mean - target) / se) along axis 0 of ``samples``."""
    s = np.asarray(samples, dtype=np.float64)
    n = s.shape[0]
    mean = s.mean(axis=0)
    se = s.std(axis=0, ddof=1) / np.sqrt(n)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (mean - target) / se, np.where(mean == target, 0.0, np.inf))
    return mean, se, z
