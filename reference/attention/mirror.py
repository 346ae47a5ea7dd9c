"""p-norm mirror descent on the attention weights, as a ``StepRule`` of the batched trainer.

Julistiono, Tarzanagh, Azizan, "Optimizing Attention with Mirror Descent: Generalized Max-Margin
Token Selection" (arXiv 2410.14581), abstract: mirror descent with the potential

    ψ(W) = ||W||_p^p / p = Σ_ij |W_ij|^p / p,        ∇ψ(W) = sign(W) ∘ |W|^{p−1},

takes the step  ∇ψ(W⁺) = ∇ψ(W) − η ∇L(W),  i.e. elementwise, with the inverse mirror map
(∇ψ)⁻¹(u) = sign(u) ∘ |u|^{1/(p−1)} (= ∇ψ*, ψ* = ||·||_q^q / q, 1/p + 1/q = 1):

    u = sign(W) ∘ |W|^{p−1} − η G,        W⁺ = sign(u) ∘ |u|^{1/(p−1)},

and converges in direction to the ℓp-AttSVM of its selection (``svm.lp``). p = 2 is GD.

Two step rules (``MirrorDescent``):

* ``normalized=False``: the update above with the true gradient G = ∇L(W) (constant step η);
* ``normalized=True``: G = ∇L(W) / ||∇L(W)||_q, the gradient divided by its dual norm, per run.
  This is the p-norm analogue of normalized GD (at p = 2 it *is* normalized GD,
  W⁺ = W − η ∇L / ||∇L||_F) and only uses each run's gradient direction, so the trainer passes
  the log-space scaled gradient that survives softmax saturation (``scale_invariant``). This
  normalization is this suite's (whether and how the paper normalizes its step was not
  confirmed against its text), chosen so that the mirror iterate ∇ψ(W_k) moves by exactly η
  per step in the dual norm.

Both are batched: every array carries the runs' leading axes; the mirror map acts entrywise and
the norm over each parameter's trailing ``ndim`` axes. |W|^{p−1} and |u|^{1/(p−1)} are computed
as exp((p−1) log|W|) and exp(log|u| / (p−1)) so that entries of any magnitude stay exact
(0 maps to 0).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_float

__all__ = ["MirrorDescent", "mirror_map", "inverse_mirror_map", "mirror_step", "dual_norm"]


def _check_p(p: object) -> float:
    value = as_float("p", p)
    if not 1.0 < value < np.inf:
        raise ProblemError("p", f"mirror descent needs 1 < p < inf, got {value!r}")
    return value


def _signed_power(x: np.ndarray, e: float) -> np.ndarray:
    """sign(x) |x|^e entrywise (0 at x = 0), through logs so no power over/underflows early."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        mag = np.where(a > 0, np.exp(e * np.log(np.where(a > 0, a, 1.0))), 0.0)
    return np.sign(x) * mag


def mirror_map(W: np.ndarray, p: float) -> np.ndarray:
    """∇ψ(W) = sign(W) |W|^{p−1} for ψ = ||W||_p^p / p."""
    return _signed_power(W, _check_p(p) - 1.0)


def inverse_mirror_map(U: np.ndarray, p: float) -> np.ndarray:
    """(∇ψ)⁻¹(U) = sign(U) |U|^{1/(p−1)} (= ∇ψ*(U), ψ* = ||U||_q^q / q)."""
    return _signed_power(U, 1.0 / (_check_p(p) - 1.0))


def dual_norm(G: np.ndarray, p: float, ndim: int = 2) -> np.ndarray:
    """||G||_q over the trailing ``ndim`` axes (q = p / (p − 1)), keepdims, scaled by max|G| so
    the q-th powers neither over- nor underflow."""
    q = _check_p(p) / (_check_p(p) - 1.0)
    G = np.asarray(G, dtype=np.float64)
    axes = tuple(range(-ndim, 0))
    m = np.max(np.abs(G), axis=axes, keepdims=True)
    safe = np.where(m > 0, m, 1.0)
    return m * np.sum(np.abs(G / safe) ** q, axis=axes, keepdims=True) ** (1.0 / q)


def mirror_step(W: np.ndarray, G: np.ndarray, eta: float, p: float, *, normalized: bool = False,
                ndim: int = 2) -> np.ndarray:
    """One p-norm mirror-descent step W⁺ = (∇ψ)⁻¹(∇ψ(W) − η G), G divided by ||G||_q (per run,
    over the last ``ndim`` axes; a zero gradient gives no step) when ``normalized``."""
    p = _check_p(p)
    G = np.asarray(G, dtype=np.float64)
    if normalized:
        n = dual_norm(G, p, ndim)
        G = np.divide(G, n, out=np.zeros_like(G), where=n > 0)
    return inverse_mirror_map(mirror_map(W, p) - eta * G, p)


class MirrorDescent:
    """``StepRule`` for ``train_W(..., rule=MirrorDescent(p, normalized=...))`` (see module).

    Applies the mirror step to every parameter it is given (W for ``train_W``; K and Q each for
    ``train_KQ``). ``scale_invariant`` equals ``normalized``.
    """

    def __init__(self, p: float, *, normalized: bool = True) -> None:
        self.p = _check_p(p)
        if not isinstance(normalized, (bool, np.bool_)):
            raise ProblemError("normalized", f"must be True or False, got {normalized!r:.60}")
        self.normalized = bool(normalized)
        self.scale_invariant = self.normalized

    def __call__(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], *,
                 it: int, eta: float, risk: np.ndarray,
                 ndim: Mapping[str, int]) -> dict[str, np.ndarray]:
        return {k: mirror_step(v, grads[k], eta, self.p, normalized=self.normalized,
                               ndim=ndim[k]) if k in grads else v
                for k, v in params.items()}

    def __repr__(self) -> str:
        return f"MirrorDescent(p={self.p:g}, normalized={self.normalized})"
