"""Attention models of TF-SVM (arXiv 2308.16898, Sec. 2) and MMTS (arXiv 2306.13596, Eq. (1)).

One implementation serves numpy and torch: every function takes its array namespace from its
inputs (``array_api_compat``), so the same code runs on numpy arrays (fast batched training) and
on torch tensors (autograd cross-checks). All functions broadcast over leading batch dimensions:

    X (..., n, T, d)  tokens        Z (..., n, d)  queries       W (..., d, d)
    logits_it = x_it^T W z_i        s_i = softmax(X_i W z_i)     f_i = psi(X_i^T s_i)

with psi the prediction head: linear psi(u) = v^T u (TF-SVM's model f = v^T X^T softmax(X W z)),
the ReLU value head psi(u) = 1^T ReLU(V^T u) and the lambda-quadratic head
psi(u) = v^T u - lambda ||u||^2 of TF-SVM's nonlinear-head section. Prompt attention (MMTS)
is f = <X v, softmax(X W p)>: the same model with every query replaced by the shared p.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from attnsvm.reference.attention.backend import namespace
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_real_array

Array = Any


def _arr(field: str, x: Any, min_ndim: int) -> Any:
    """A torch tensor as is, anything else as a float64 numpy array (the caller's own array when
    it is float64 already); ProblemError(field) on a bad dtype or too few axes."""
    if type(x).__module__.split(".")[0] != "torch":
        x = as_real_array(field, x, finite=False)
    if x.ndim < min_ndim:
        raise ProblemError(field, f"expected at least {min_ndim} dimensions, got shape "
                           f"{tuple(x.shape)}")
    return x


def _same(field: str, got: int, want: int, what: str) -> None:
    if got != want:
        raise ProblemError(field, f"{what}: expected {want}, got {got}")


def _check_batches(**arrays: tuple[Any, int]) -> None:
    shapes = [tuple(a.shape[: a.ndim - core]) for a, core in arrays.values()]
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        desc = ", ".join(f"{k} {tuple(a.shape)}" for k, (a, _) in arrays.items())
        raise ProblemError(next(iter(arrays)), f"batch shapes do not broadcast ({desc})") from None


def _check_model_inputs(X: Any, W: Any, Z: Any) -> tuple[Any, Any, Any]:
    X = _arr("X", X, 3)
    W = _arr("W", W, 2)
    Z = _arr("Z", Z, 2)
    _same("W", W.shape[-2], X.shape[-1], "rows of W must equal the token dimension d")
    _same("Z", Z.shape[-1], W.shape[-1], "the query dimension must equal the columns of W")
    _same("Z", Z.shape[-2], X.shape[-3], "one query per input")
    _check_batches(X=(X, 3), W=(W, 2), Z=(Z, 2))
    return X, W, Z


def row_sums(x: Array) -> Array:
    """Sums over the last axis with keepdims, as a product with a ones vector (a small-axis
    reduction is several times slower than a matmul in numpy)."""
    xp = namespace(x)
    return xp.matmul(x, xp.ones((x.shape[-1], 1), dtype=x.dtype))


@dataclass(frozen=True)
class SoftmaxParts:
    """A softmax in max-shifted form and its by-products: ``rel`` = logits - max (<= 0),
    ``Z`` = sum exp(rel) in [1, T], ``top`` the argmax (keepdims), ``probs`` = exp(rel) / Z."""

    probs: Array
    rel: Array
    Z: Array
    top: Array


def softmax_parts(logits: Array) -> SoftmaxParts:
    """Softmax over the last axis in max-shifted (log-sum-exp) form. Exact and overflow-free
    for logits up to ~1e300: every exponent is <= 0."""
    xp = namespace(logits)
    top = xp.argmax(logits, axis=-1, keepdims=True)
    rel = logits - xp.take_along_axis(logits, top, axis=-1)
    e = xp.exp(rel)
    Z = row_sums(e)
    return SoftmaxParts(probs=e / Z, rel=rel, Z=Z, top=top)


def softmax(logits: Array) -> Array:
    """Softmax over the last axis in max-shifted (log-sum-exp) form (see softmax_parts)."""
    logits = _arr("logits", logits, 1)
    if logits.shape[-1] < 1:
        raise ProblemError("logits", "the last axis is empty")
    return softmax_parts(logits).probs


def queries(W: Array, Z: Array) -> Array:
    """Effective queries q_i = W z_i, shape (..., n, d)."""
    xp = namespace(W, Z)
    return xp.matmul(Z, xp.matrix_transpose(W))


def attention_logits(X: Array, q: Array) -> Array:
    """logits_it = x_it^T q_i for per-input queries q (..., n, d) -> (..., n, T)."""
    xp = namespace(X, q)
    return xp.matmul(X, q[..., None])[..., 0]


def attend(X: Array, s: Array) -> Array:
    """The attended token u_i = X_i^T s_i, shape (..., n, d)."""
    xp = namespace(X, s)
    return xp.matmul(s[..., None, :], X)[..., 0, :]


class Head(Protocol):
    """A prediction head psi: R^d -> R applied to the attended token u = X^T s."""

    def value(self, u: Array) -> Array:  # (..., n, d) -> (..., n)
        ...

    def grad(self, u: Array) -> Array:  # (..., n, d) -> (..., n, d): nabla psi(u)
        ...


@dataclass(frozen=True)
class LinearHead:
    """psi(u) = v^T u (TF-SVM's linear head; v may carry batch dims (..., d))."""

    v: Array

    def value(self, u: Array) -> Array:
        xp = namespace(u, self.v)
        return xp.sum(u * self.v[..., None, :], axis=-1)

    def grad(self, u: Array) -> Array:
        xp = namespace(u, self.v)
        return xp.broadcast_to(self.v[..., None, :], u.shape) * 1.0


def token_values(X: np.ndarray, v: np.ndarray) -> np.ndarray:
    """h_it = v^T x_it of a linear head, shape (..., n, T), by one matmul (X (..., n, T, d),
    v (d) or (B, d)). Every trainer takes its values from here, so values tied in one are tied in
    all (exactly tied tokens give an exactly zero gradient)."""
    return np.matmul(X, np.asarray(v)[..., None, :, None])[..., 0]


@dataclass(frozen=True)
class ReLUHead:
    """psi(u) = 1^T ReLU(V^T u) with V of shape (d, h) (official ``multi_token_converge`` head)."""

    V: Array

    def value(self, u: Array) -> Array:
        xp = namespace(u, self.V)
        return xp.sum(xp.maximum(xp.matmul(u, self.V), 0.0), axis=-1)

    def grad(self, u: Array) -> Array:
        xp = namespace(u, self.V)
        active = xp.astype(xp.matmul(u, self.V) > 0, u.dtype)
        return xp.matmul(active, xp.matrix_transpose(self.V))


@dataclass(frozen=True)
class QuadraticHead:
    """psi(u) = v^T u - lam ||u||^2 (TF-SVM's lambda-head; several tokens stay selected)."""

    v: Array
    lam: float

    def value(self, u: Array) -> Array:
        xp = namespace(u, self.v)
        return xp.sum(u * self.v[..., None, :], axis=-1) - self.lam * xp.sum(u * u, axis=-1)

    def grad(self, u: Array) -> Array:
        return self.v[..., None, :] - 2.0 * self.lam * u


def probabilities(X: Array, W: Array, Z: Array) -> Array:
    """Softmax attention s_i = softmax(X_i W z_i), shape (..., n, T)."""
    X, W, Z = _check_model_inputs(X, W, Z)
    return softmax(attention_logits(X, queries(W, Z)))


def outputs(X: Array, W: Array, Z: Array, head: Head) -> Array:
    """Model outputs f_i = psi(X_i^T softmax(X_i W z_i)), shape (..., n) (TF-SVM Eq. (1))."""
    X, W, Z = _check_model_inputs(X, W, Z)
    head = check_head(head, X.shape[-1])
    return head.value(attend(X, probabilities(X, W, Z)))


def kq_outputs(X: Array, K: Array, Q: Array, Z: Array, head: Head) -> Array:
    """Outputs of the (K, Q) parameterization, W = K Q^T with K, Q in R^{d x m}."""
    K = _arr("K", K, 2)
    Q = _arr("Q", Q, 2)
    _same("Q", Q.shape[-1], K.shape[-1], "K and Q must have the same width m")
    _check_batches(K=(K, 2), Q=(Q, 2))
    xp = namespace(K, Q)
    return outputs(X, xp.matmul(K, xp.matrix_transpose(Q)), Z, head)


def prompt_queries(p: Array, n: int, key: Array | None = None) -> Array:
    """The shared query W p of prompt attention, broadcast to every input: (..., n, d)."""
    xp = namespace(p)
    q = p if key is None else xp.matmul(key, p[..., None])[..., 0]
    return xp.broadcast_to(q[..., None, :], (*q.shape[:-1], n, q.shape[-1]))


def prompt_probabilities(X: Array, p: Array, key: Array | None = None) -> Array:
    """MMTS attention softmax(X W p) with a shared prompt p (..., d) and fixed key matrix W."""
    return softmax(attention_logits(X, prompt_queries(p, X.shape[-3], key)))


def prompt_outputs(X: Array, p: Array, v: Array, key: Array | None = None) -> Array:
    """MMTS prompt attention f(X) = <X v, softmax(X W p)> (arXiv 2306.13596, Eq. (1))."""
    return LinearHead(v).value(attend(X, prompt_probabilities(X, p, key)))


def check_head(head: Any, d: int) -> Head:
    """A head for tokens of dimension d: a LinearHead, ReLUHead or QuadraticHead whose weights
    match d, or the vector v of a linear head; ProblemError("head") otherwise."""
    if isinstance(head, LinearHead):
        v = _arr("head", head.v, 1)
        _same("head", v.shape[-1], d, "v must have the token dimension d")
        return head if v is head.v else LinearHead(v)
    if isinstance(head, ReLUHead):
        V = _arr("head", head.V, 2)
        _same("head", V.shape[-2], d, "V must have d rows")
        return head if V is head.V else ReLUHead(V)
    if isinstance(head, QuadraticHead):
        v = _arr("head", head.v, 1)
        _same("head", v.shape[-1], d, "v must have the token dimension d")
        lam = head.lam
        if isinstance(lam, (bool, complex, str, bytes)) or lam is None:
            raise ProblemError("head", f"lam must be a finite real number, got {lam!r:.60}")
        try:
            ok = bool(np.all(np.isfinite(np.asarray(lam, dtype=np.float64))))
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ProblemError("head", f"lam must be a finite real number, got {lam!r:.60}")
        return head if v is head.v else QuadraticHead(v, lam)
    if isinstance(head, (str, bytes)) or head is None:
        raise ProblemError("head", f"expected a Head or the vector v, got {head!r:.60}")
    v = _arr("head", head, 1)
    _same("head", v.shape[-1], d, "v must have the token dimension d")
    return LinearHead(v)
