"""Linear attention as a fast weight programmer (Schlag, Irie, Schmidhuber, arXiv 2102.11174v3).

Contents (equation numbers of v3):

* feature maps phi: ELU+1 (Katharopoulos et al.), DPFP with shifts 1..nu (Sec. 5.2), and a seeded
  positive random-feature map (FAVOR+, arXiv 2009.14794 Lemma 1; see related.random_features);
* causal linear attention computed two ways: the attention form
  ``y = tril(phi(Q) phi(K)^T) V / rowsum`` and the fast-weight recurrence (Eqs. 17-19)
  ``W_i = W_{i-1} + v_i phi(k_i)^T``, ``z_i = z_{i-1} + phi(k_i)``,
  ``y_i = W_i phi(q_i) / (z_i . phi(q_i))``, plus the unnormalised variant (Eqs. 10-11);
* the delta rule (Sec. 4.2, Eqs. 20-25) ``W_i = W_{i-1} + beta_i (v_i - W_{i-1} phi_i) phi_i^T``,
  ``y_i = W_i phi(q_i)``, with sum (paper) / L2 / no normalisation of phi(k), phi(q);
* capacity (Sec. 4.1): the best linear memory ``min_W sum_i ||W phi(k_i) - v_i||^2`` and the exact
  law of its relative error for isotropic Gaussian values;
* overwrite and stability of the delta rule: retrieval after one update and the spectrum of the
  transition ``I - beta phi phi^T``.

Arrays: Q, K have shape (..., L, d_key), V has shape (..., L, d_v); leading axes are a batch.
Bad inputs raise ProblemError naming the field; a vanishing normaliser raises ZeroNormalizerError
(a ProblemError and a ZeroDivisionError) instead of returning NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related.random_features import gaussian_directions, positive_features

FeatureMap = Callable[[np.ndarray], np.ndarray]
KeyNorm = Literal["none", "sum", "l2"]

#: relative size below which a normaliser counts as zero (|den| <= NORMALIZER_RTOL * sum |terms|)
NORMALIZER_RTOL = 1e-12


class ZeroNormalizerError(ProblemError, ZeroDivisionError):
    """A normaliser (z_i . phi(q_i), or the sum of a feature vector) vanishes.

    ``field`` names the input to blame (``Q``, ``K`` or ``normalizer``); ``index`` is the first
    offending position (batch indices then the sequence position).
    """

    def __init__(self, field: str, message: str, index: tuple[int, ...]) -> None:
        self.index = index
        super().__init__(field, message)


# --------------------------------------------------------------------------------------------
# validation helpers


def _as_array(x: object, field: str, min_ndim: int = 1) -> np.ndarray:
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProblemError(field, f"not a numeric array ({exc})") from None
    if a.ndim < min_ndim:
        raise ProblemError(field, f"expected at least {min_ndim} dimensions, got shape {a.shape}")
    if a.size == 0:
        raise ProblemError(field, f"empty array of shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ProblemError(field, "contains NaN or infinity")
    return a


def _check_qkv(Q: object, K: object, V: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    q = _as_array(Q, "Q", 2)
    k = _as_array(K, "K", 2)
    v = _as_array(V, "V", 2)
    if q.shape != k.shape:
        raise ProblemError("K", f"shape {k.shape} differs from the shape of Q {q.shape}")
    if v.shape[:-1] != q.shape[:-1]:
        raise ProblemError(
            "V", f"leading shape {v.shape[:-1]} differs from (batch, L) of Q {q.shape[:-1]}"
        )
    return q, k, v


def _check_beta(beta: object, unit_interval: bool) -> np.ndarray:
    try:
        b = np.asarray(beta, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProblemError("beta", f"not numeric ({exc})") from None
    if not np.all(np.isfinite(b)):
        raise ProblemError("beta", "contains NaN or infinity")
    if unit_interval and (np.any(b < 0.0) or np.any(b > 1.0)):
        raise ProblemError(
            "beta",
            f"must lie in [0, 1] (the sigmoid range of 2102.11174 Eq. 22); got min {b.min():.6g}, "
            f"max {b.max():.6g}",
        )
    return b


def _apply_phi(phi: FeatureMap, x: np.ndarray, field: str) -> np.ndarray:
    f = np.asarray(phi(x), dtype=np.float64)
    if f.shape[:-1] != x.shape[:-1]:
        raise ProblemError(field, f"feature map returned shape {f.shape} for input {x.shape}")
    if not np.all(np.isfinite(f)):
        raise ProblemError(field, "feature map returned NaN or infinity (input norm too large?)")
    return f


# --------------------------------------------------------------------------------------------
# feature maps


def elu_plus_one(x: np.ndarray) -> np.ndarray:
    """phi(x) = ELU(x) + 1 elementwise (strictly positive): x + 1 for x > 0, exp(x) otherwise."""
    a = np.asarray(x, dtype=np.float64)
    return np.where(a > 0, a + 1.0, np.exp(np.minimum(a, 0.0)))


def dpfp_dim(d_key: int, nu: int) -> int:
    """Feature dimension of DPFP: d_dot = 2 * d_key * nu (2102.11174 Sec. 5.2)."""
    _check_nu(d_key, nu)
    return 2 * d_key * nu


def _check_nu(d_key: int, nu: int) -> None:
    if isinstance(nu, bool) or not isinstance(nu, (int, np.integer)):
        raise ProblemError("nu", f"must be an integer, got {nu!r}")
    if d_key < 2:
        raise ProblemError("K", f"DPFP needs d_key >= 2 (got {d_key}): every shift is degenerate")
    if not 1 <= nu <= d_key - 1:
        raise ProblemError(
            "nu",
            f"must satisfy 1 <= nu <= d_key - 1 = {d_key - 1}, got {nu}: shift d_key gives an "
            "identically zero block and shifts above d_key repeat earlier blocks",
        )


def dpfp_block(x: np.ndarray, shift: int) -> np.ndarray:
    """One DPFP block r_i * r_{i-shift} (indices mod 2 d_key), r = ReLU([x, -x]); shape (..., 2d).

    No range check on ``shift``: the block for shift = d_key is identically zero and the block for
    2 d_key - shift is a permutation of the block for shift (edge cases of the DPFP map of
    2102.11174 Sec. 5.2).
    """
    a = np.asarray(x, dtype=np.float64)
    r = np.maximum(np.concatenate([a, -a], axis=-1), 0.0)
    return r * np.roll(r, shift, axis=-1)


def dpfp(x: np.ndarray, nu: int = 1) -> np.ndarray:
    """Deterministic parameter-free projection (2102.11174 Sec. 5.2, official ``roll(+j)`` form).

    phi(x) = concat_{j=1..nu} r(x) * roll(r(x), j) with r(x) = ReLU([x; -x]); output dimension
    2 * d_key * nu.  Valid shifts are 1 <= nu <= d_key - 1 (ProblemError('nu') otherwise).
    phi >= 0, phi(c x) = c^2 phi(x) for c > 0, and phi(x) = 0 for a 1-sparse x.
    """
    a = _as_array(x, "K", 1)
    _check_nu(a.shape[-1], nu)
    return np.concatenate([dpfp_block(a, j) for j in range(1, nu + 1)], axis=-1)


@dataclass(frozen=True)
class RandomFeatureMap:
    """Seeded positive random-feature map phi(x) = exp(W x - ||x||^2 / 2) / sqrt(m).

    FAVOR+ (arXiv 2009.14794, Lemma 1): E[phi(x) . phi(y)] = exp(x . y).  The directions W (m, d)
    are drawn once from ``seed`` so the map is a deterministic function (a fixed finite d_dot = m).
    """

    d_key: int
    m: int
    seed: int = 0
    orthogonal: bool = False
    directions: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.d_key < 1:
            raise ProblemError("d_key", f"must be >= 1, got {self.d_key}")
        if self.m < 1:
            raise ProblemError("m", f"must be >= 1, got {self.m}")
        w = gaussian_directions(self.m, self.d_key, seed=self.seed, orthogonal=self.orthogonal)
        object.__setattr__(self, "directions", w)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        a = _as_array(x, "K", 1)
        if a.shape[-1] != self.d_key:
            raise ProblemError("K", f"last axis {a.shape[-1]} != d_key {self.d_key}")
        return positive_features(a, self.directions)


def identity_map(x: np.ndarray) -> np.ndarray:
    """phi(x) = x (the unnormalised linear attention of Eqs. 10-11 uses no feature map)."""
    return np.asarray(x, dtype=np.float64)


def feature_map(name: str, *, nu: int = 1, d_key: int | None = None, m: int = 16,
                seed: int = 0) -> FeatureMap:
    """A feature map by name: 'elu1', 'dpfp' (``nu``), 'random' (needs ``d_key``), 'identity'."""
    if name == "elu1":
        return elu_plus_one
    if name == "dpfp":
        if isinstance(nu, bool) or not isinstance(nu, (int, np.integer)) or nu < 1:
            raise ProblemError("nu", f"must be a positive integer, got {nu!r}")
        return lambda x: dpfp(x, nu)
    if name == "random":
        if d_key is None:
            raise ProblemError("d_key", "the random feature map needs d_key")
        return RandomFeatureMap(d_key=d_key, m=m, seed=seed)
    if name == "identity":
        return identity_map
    raise ProblemError("phi", f"unknown feature map {name!r}; use elu1, dpfp, random or identity")


# --------------------------------------------------------------------------------------------
# causal linear attention: attention form and fast-weight recurrence


def _raise_zero_normalizer(bad: np.ndarray, fq: np.ndarray, fk: np.ndarray) -> None:
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    batch, i = idx[:-1], idx[-1]
    q_i, k_le_i = fq[batch + (i,)], fk[batch + (slice(0, i + 1),)]
    if not np.any(q_i):
        fld, why = "Q", f"phi(q_{i}) = 0 (e.g. DPFP of a 1-sparse vector)"
    elif not np.any(k_le_i):
        fld, why = "K", f"phi(k_j) = 0 for every j <= {i} (e.g. DPFP of a 1-sparse vector)"
    elif not np.any(np.abs(k_le_i) @ np.abs(q_i)):
        fld, why = "normalizer", (f"phi(q_{i}) is orthogonal to phi(k_j) for every j <= {i} "
                                  "(disjoint supports: sparse maps such as DPFP)")
    else:
        fld, why = "normalizer", "the terms cancel (sign-indefinite feature map)"
    raise ZeroNormalizerError(
        fld,
        f"attention normaliser z_{i} . phi(q_{i}) vanishes at index {idx}: {why}; use a strictly "
        "positive feature map or eps > 0",
        idx,
    )


def linear_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, phi: FeatureMap, *,
                     normalize: bool = True, eps: float = 0.0) -> np.ndarray:
    """Causal linear attention, attention form: y = tril(phi(Q) phi(K)^T) V / rowsum (+ eps).

    2102.11174 Sec. 3: softmax kernel exp(k . q) replaced by phi(k)^T phi(q).  With
    ``normalize=False`` the output is tril(phi(Q) phi(K)^T) V (Eqs. 10-11).  Shape (..., L, d_v).
    """
    q, k, v = _check_qkv(Q, K, V)
    fq, fk = _apply_phi(phi, q, "Q"), _apply_phi(phi, k, "K")
    L = q.shape[-2]
    mask = np.tril(np.ones((L, L), dtype=bool))
    A = np.where(mask, fq @ np.swapaxes(fk, -1, -2), 0.0)
    num = A @ v
    if not normalize:
        return num
    den = A.sum(axis=-1) + eps
    scale = np.where(mask, np.abs(fq) @ np.swapaxes(np.abs(fk), -1, -2), 0.0).sum(-1) + abs(eps)
    bad = np.abs(den) <= NORMALIZER_RTOL * scale
    if np.any(bad):
        _raise_zero_normalizer(bad, fq, fk)
    return num / den[..., None]


@dataclass(frozen=True)
class FastWeightResult:
    """Outputs y (..., L, d_v), final fast weights W (..., d_v, d_dot), accumulator z."""

    y: np.ndarray
    W: np.ndarray
    z: np.ndarray


def fast_weight_attention(Q: np.ndarray, K: np.ndarray, V: np.ndarray, phi: FeatureMap, *,
                          normalize: bool = True, eps: float = 0.0) -> FastWeightResult:
    """Fast-weight recurrence (2102.11174v3 Eqs. 17-19), one outer-product write per step.

    W_i = W_{i-1} + v_i phi(k_i)^T, z_i = z_{i-1} + phi(k_i),
    y_i = W_i phi(q_i) / (z_i . phi(q_i) + eps), or y_i = W_i phi(q_i) with ``normalize=False``.
    """
    q, k, v = _check_qkv(Q, K, V)
    fq, fk = _apply_phi(phi, q, "Q"), _apply_phi(phi, k, "K")
    L = q.shape[-2]
    batch = q.shape[:-2]
    W = np.zeros(batch + (v.shape[-1], fk.shape[-1]))
    z = np.zeros(batch + (fk.shape[-1],))
    zabs = np.zeros_like(z)
    y = np.empty(v.shape)
    for i in range(L):
        W = W + v[..., i, :, None] * fk[..., i, None, :]
        z = z + fk[..., i, :]
        zabs = zabs + np.abs(fk[..., i, :])
        num = np.einsum("...vm,...m->...v", W, fq[..., i, :])
        if normalize:
            den = np.einsum("...m,...m->...", z, fq[..., i, :]) + eps
            scale = np.einsum("...m,...m->...", zabs, np.abs(fq[..., i, :])) + abs(eps)
            bad = np.abs(den) <= NORMALIZER_RTOL * scale
            if np.any(bad):
                full = np.zeros(batch + (L,), dtype=bool)
                full[..., i] = bad
                _raise_zero_normalizer(full, fq, fk)
            num = num / np.asarray(den)[..., None]
        y[..., i, :] = num
    return FastWeightResult(y=y, W=W, z=z)


def fwp_equivalence_error(Q: np.ndarray, K: np.ndarray, V: np.ndarray, phi: FeatureMap, *,
                          normalize: bool = True, eps: float = 0.0) -> float:
    """max |attention form - recurrence| / max(1, max |y|): the gap of the FWP equivalence."""
    a = linear_attention(Q, K, V, phi, normalize=normalize, eps=eps)
    r = fast_weight_attention(Q, K, V, phi, normalize=normalize, eps=eps).y
    return float(np.max(np.abs(a - r)) / max(1.0, float(np.max(np.abs(a)))))


# --------------------------------------------------------------------------------------------
# delta rule


def normalize_features(f: np.ndarray, how: KeyNorm, field: str) -> np.ndarray:
    """Sum (2102.11174 Sec. 4.2, phi / sum phi), L2, or no normalisation of feature vectors."""
    if how == "none":
        return f
    if how == "sum":
        den, scale = f.sum(-1), np.abs(f).sum(-1)
    elif how == "l2":
        den = scale = np.linalg.norm(f, axis=-1)
    else:
        raise ProblemError("key_norm", f"unknown normalisation {how!r}; use none, sum or l2")
    bad = np.abs(den) <= NORMALIZER_RTOL * scale
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ZeroNormalizerError(
            field,
            f"{how} normalisation of phi({field.lower()}) divides by zero at index {idx} "
            "(phi vanishes, e.g. DPFP of a 1-sparse vector)",
            idx,
        )
    return f / den[..., None]


def delta_rule_step(W: np.ndarray, phi_k: np.ndarray, v: np.ndarray, beta: float) -> np.ndarray:
    """One delta-rule write (2102.11174v3 Eq. 24): W + beta (v - W phi_k) phi_k^T.

    Equals Eq. 23 (write v_new = beta v + (1 - beta) v_bar, remove v_bar = W phi_k) and one SGD step
    of size beta on 0.5 ||W phi_k - v||^2.  Any finite beta is accepted (pure algebra).
    """
    Wa = _as_array(W, "W", 2)
    f = _as_array(phi_k, "phi_k", 1)
    va = _as_array(v, "v", 1)
    if Wa.shape[-1] != f.shape[-1]:
        raise ProblemError("phi_k", f"length {f.shape[-1]} != columns of W {Wa.shape[-1]}")
    if Wa.shape[-2] != va.shape[-1]:
        raise ProblemError("v", f"length {va.shape[-1]} != rows of W {Wa.shape[-2]}")
    b = _check_beta(beta, unit_interval=False)
    vbar = np.einsum("...vm,...m->...v", Wa, f)
    return Wa + (b[..., None, None] if b.ndim else b) * (va - vbar)[..., :, None] * f[..., None, :]


@dataclass(frozen=True)
class DeltaRuleResult:
    """Outputs y_i = W_i phi(q_i) (..., L, d_v), final W, and (optionally) every W_i."""

    y: np.ndarray
    W: np.ndarray
    states: np.ndarray | None = None


def delta_rule(Q: np.ndarray, K: np.ndarray, V: np.ndarray, phi: FeatureMap,
               beta: float | np.ndarray, *, key_norm: KeyNorm = "sum",
               W0: np.ndarray | None = None, return_states: bool = False) -> DeltaRuleResult:
    """Delta-rule fast weight programmer (2102.11174v3 Eqs. 20-25), sequential over the L steps.

    phi(k_i), phi(q_i) are normalised by ``key_norm`` ('sum' as in the paper, 'l2', or 'none');
    beta is a scalar or per-step array (..., L) in [0, 1] (the sigmoid range; ProblemError('beta')
    otherwise); y_i = W_i phi(q_i) with no attention normalisation (Eq. 25).
    """
    q, k, v = _check_qkv(Q, K, V)
    fk = normalize_features(_apply_phi(phi, k, "K"), key_norm, "K")
    fq = normalize_features(_apply_phi(phi, q, "Q"), key_norm, "Q")
    L = q.shape[-2]
    b = _check_beta(beta, unit_interval=True)
    try:
        b = np.broadcast_to(b, q.shape[:-2] + (L,))
    except ValueError:
        raise ProblemError(
            "beta", f"shape {np.shape(beta)} does not broadcast to (batch, L) {q.shape[:-2] + (L,)}"
        ) from None
    shape_W = q.shape[:-2] + (v.shape[-1], fk.shape[-1])
    if W0 is None:
        W = np.zeros(shape_W)
    else:
        W = _as_array(W0, "W0", 2)
        if W.shape != shape_W:
            raise ProblemError("W0", f"expected shape {shape_W}, got {W.shape}")
    y = np.empty(v.shape)
    states = np.empty((L,) + shape_W) if return_states else None
    for i in range(L):
        f = fk[..., i, :]
        vbar = np.einsum("...vm,...m->...v", W, f)
        W = W + b[..., i, None, None] * (v[..., i, :] - vbar)[..., :, None] * f[..., None, :]
        y[..., i, :] = np.einsum("...vm,...m->...v", W, fq[..., i, :])
        if states is not None:
            states[i] = W
    return DeltaRuleResult(y=y, W=W, states=states)


@dataclass(frozen=True)
class OverwriteResult:
    """Retrieval W_new phi_k after one delta write.

    ``predicted`` = v_bar + c (v - v_bar) with c = beta ||phi||^2.
    """

    retrieved: np.ndarray
    predicted: np.ndarray
    target: np.ndarray
    c: float
    error: float  # ||retrieved - target||
    predicted_error: float  # |1 - c| ||v - v_bar||


def delta_overwrite(W: np.ndarray, phi_k: np.ndarray, v: np.ndarray,
                    beta: float) -> OverwriteResult:
    """Retrieval after a delta write (FWP delta rule, arXiv 2102.11174 Sec. 4.2): exact iff
    beta ||phi||^2 = 1."""
    Wn = delta_rule_step(W, phi_k, v, beta)
    f = np.asarray(phi_k, dtype=np.float64)
    va = np.asarray(v, dtype=np.float64)
    vbar = np.asarray(W, dtype=np.float64) @ f
    c = float(beta) * float(f @ f)
    got = Wn @ f
    return OverwriteResult(
        retrieved=got,
        predicted=vbar + c * (va - vbar),
        target=va,
        c=c,
        error=float(np.linalg.norm(got - va)),
        predicted_error=abs(1.0 - c) * float(np.linalg.norm(va - vbar)),
    )


@dataclass(frozen=True)
class TransitionSpectrum:
    """Eigenvalues of I - beta phi phi^T (ascending) and the predicted {1 (d-1 times), 1 - c}."""

    eigenvalues: np.ndarray
    predicted: np.ndarray
    c: float
    spectral_radius: float
    nonexpansive: bool  # spectral radius <= 1 (up to 1e-12), i.e. 0 <= c <= 2


def delta_transition_spectrum(phi_k: np.ndarray, beta: float) -> TransitionSpectrum:
    """W_i = W_{i-1}(I - beta phi phi^T) + beta v phi^T (FWP delta rule, arXiv 2102.11174
    Sec. 4.2): the spectrum."""
    f = _as_array(phi_k, "phi_k", 1)
    if f.ndim != 1:
        raise ProblemError("phi_k", f"expected a vector, got shape {f.shape}")
    b = float(_check_beta(beta, unit_interval=False))
    M = np.eye(f.size) - b * np.outer(f, f)
    eig = np.linalg.eigvalsh(M)
    c = b * float(f @ f)
    pred = np.sort(np.concatenate([np.ones(f.size - 1), [1.0 - c]]))
    rho = float(np.max(np.abs(eig)))
    return TransitionSpectrum(eig, pred, c, rho, bool(rho <= 1.0 + 1e-12))


def delta_perturbation_norms(phi_K: np.ndarray, beta: float | np.ndarray,
                             D0: np.ndarray) -> np.ndarray:
    """Frobenius norms of D_i = D_{i-1}(I - beta_i phi_i phi_i^T), i = 0..N; shape (N+1,).

    D_i is the difference of two delta-rule trajectories that share keys and values but start from
    W0 and W0 + D0, so these norms measure (in)stability.  For a unit vector u,
    ||(I - c u u^T) x||^2 = ||x||^2 + (c^2 - 2c)(u.x)^2: every step is non-expanding when
    0 <= c <= 2 and non-contracting when c > 2 (c = beta ||phi||^2).
    """
    F = _as_array(phi_K, "phi_K", 2)
    D = _as_array(D0, "D0", 2)
    if D.shape[-1] != F.shape[-1]:
        raise ProblemError("D0", f"columns {D.shape[-1]} != feature dimension {F.shape[-1]}")
    try:
        b = np.broadcast_to(_check_beta(beta, unit_interval=False), (F.shape[0],))
    except ValueError as exc:
        if isinstance(exc, ProblemError):
            raise
        raise ProblemError("beta", f"shape {np.shape(beta)} does not match {F.shape[0]} keys"
                           ) from None
    norms = [float(np.linalg.norm(D))]
    for i in range(F.shape[0]):
        D = D - b[i] * np.outer(D @ F[i], F[i])
        norms.append(float(np.linalg.norm(D)))
    return np.asarray(norms)


# --------------------------------------------------------------------------------------------
# capacity


def sum_rule_retrieval(phi_K: np.ndarray, V: np.ndarray) -> np.ndarray:
    """Retrieval W phi(k_i) with the sum-rule memory W = sum_j v_j phi(k_j)^T: rows (N, d_v).

    W phi(k_i) = sum_j (phi(k_j) . phi(k_i)) v_j, exact iff the Gram matrix is the identity
    (cross-talk, 2102.11174 Sec. 4.1).
    """
    F = _as_array(phi_K, "phi_K", 2)
    Va = _as_array(V, "V", 2)
    if Va.shape[0] != F.shape[0]:
        raise ProblemError("V", f"{Va.shape[0]} values for {F.shape[0]} keys")
    return (F @ F.T) @ Va


@dataclass(frozen=True)
class MemoryFit:
    """Best linear memory W = argmin sum_i ||W phi_i - v_i||^2 (min-norm least squares)."""

    W: np.ndarray
    relative_error: float  # ||Phi W^T - V||_F / ||V||_F
    rank: int
    singular_values: np.ndarray
    predicted_relative_error: float  # sqrt(1 - rank / N)


def best_linear_memory(phi_K: np.ndarray, V: np.ndarray, rtol: float = 1e-6) -> MemoryFit:
    """min_W sum_i ||W phi(k_i) - v_i||^2 by SVD, rank judged by sigma_k > rtol * sigma_1.

    No linear memory stores N > rank generic pairs exactly (2102.11174 Sec. 4.1, Smolensky 1990).
    """
    F = _as_array(phi_K, "phi_K", 2)
    Va = _as_array(V, "V", 2)
    if F.ndim != 2 or Va.ndim != 2:
        raise ProblemError("phi_K", "expected matrices phi_K (N, d_dot) and V (N, d_v)")
    if Va.shape[0] != F.shape[0]:
        raise ProblemError("V", f"{Va.shape[0]} values for {F.shape[0]} keys")
    U, s, Vt = np.linalg.svd(F, full_matrices=False)
    r = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    coef = (U[:, :r].T @ Va) / s[:r, None]  # (r, d_v)
    Wt = Vt[:r].T @ coef  # (d_dot, d_v)
    resid = Va - F @ Wt
    vnorm = float(np.linalg.norm(Va))
    if vnorm == 0.0:
        raise ProblemError("V", "all values are zero: the relative error is undefined")
    N = F.shape[0]
    return MemoryFit(
        W=Wt.T,
        relative_error=float(np.linalg.norm(resid)) / vnorm,
        rank=r,
        singular_values=s,
        predicted_relative_error=float(np.sqrt(max(0.0, 1.0 - r / N))),
    )


def capacity_error_interval(N: int, rank: int, d_v: int,
                            alpha: float = 1e-4) -> tuple[float, float]:
    """Two-sided (1 - alpha) interval of the best relative error for iid N(0, 1) values.

    With V independent of the keys, ||P_perp V||^2 ~ chi2((N - r) d_v) and ||P V||^2 ~ chi2(r d_v)
    independently, so rel^2 ~ Beta((N - r) d_v / 2, r d_v / 2) exactly (E rel^2 = 1 - r/N).
    """
    if not 0 < rank < N:
        raise ProblemError("N", f"needs 0 < rank < N, got rank {rank}, N {N}")
    a, b = (N - rank) * d_v / 2.0, rank * d_v / 2.0
    lo, hi = stats.beta.ppf([alpha / 2, 1 - alpha / 2], a, b)
    return float(np.sqrt(lo)), float(np.sqrt(hi))
