"""Derivation ``gradient``: closed-form gradients of softmax attention with a linear head.

Model (TF-SVM, arXiv 2308.16898, Sec. 2, W-ERM): f(X, z) = v^T X^T softmax(X W z), risk
L(W) = (1/n) sum_i l(Y_i f(X_i, z_i)) for a general differentiable loss l (Assumption A).

With s = softmax(X q), q = W z, a = X v (token values) and the softmax Jacobian
diag(s) - s s^T:

    df/dq = g(X, v, s) := X^T (diag(s) - s s^T) X v = X^T (s o a - s (s^T a))
    grad_W L = (1/n) sum_i l'(Y_i f_i) Y_i g(X_i, v, s_i) z_i^T   (derived in this module)
    grad_K L(K Q^T) = grad_W L . Q,   grad_Q L(K Q^T) = (grad_W L)^T . K     (chain rule)
    prompt attention (MMTS, arXiv 2306.13596, Sec. 2): f = <X v, softmax(X W p)>,
    grad_p L = (1/n) sum_i l'(Y_i f_i) Y_i W^T g(X_i, v, s_i)

Every per-input gradient is (.) z_i^T, so GD from W(0) = 0 keeps the row space in span{z_i}.

``verify()`` proves the closed form equal to sympy's differentiation of the risk on fully
symbolic instances (n = 2, T = 3, d = 2 for W; n = 1, T = 2, d = m = 2 for (K, Q); n = 2, T = 3,
d = 2 for p) with l an undefined function, and the stable loss derivatives equal to diff(l).

Predicates (numpy float64; g is lambdified from the same sympy matrix expression verified here):

    loss_derivative(u, loss="logistic") -> ndarray          l'(u); loss in LOSS_NAMES
    grad_W(X, Y, v, Z, W, loss="logistic") -> (d, d)        X (n,T,d), Y (n,), v (d,), Z (n,d)
    grad_KQ(X, Y, v, Z, K, Q, loss="logistic") -> ((d,m), (d,m))   W = K Q^T
    grad_p(X, Y, v, W, p, loss="logistic") -> (d',)         W (d,d'), p (d',); logits X_i W p
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp
from sympy.matrices.expressions.hadamard import hadamard_product

from attnsvm.symbolic.core import (
    Derivation,
    NatExp,
    Softmax,
    Tex,
    TexMatrix,
    all_checks,
    eq,
    is_identically_zero,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, column, softmax

# --------------------------------------------------------------------------- losses

_u = sp.Symbol("u", real=True)

#: Losses of Assumption A as sympy expressions in u (same names as reference/losses.py).
LOSS_EXPRESSIONS: dict[str, sp.Expr] = {
    "logistic": sp.log(1 + sp.exp(-_u)),
    "exponential": sp.exp(-_u),
    "correlation": -_u,
}
#: Their derivatives in a form that does not overflow in float64 (verified equal to diff).
LOSS_DERIVATIVES: dict[str, sp.Expr] = {
    "logistic": -1 / (1 + sp.exp(_u)),
    "exponential": -sp.exp(-_u),
    "correlation": sp.Integer(-1),
}
LOSS_NAMES = tuple(LOSS_EXPRESSIONS)


class ell(sp.Function):  # noqa: N801 - the paper's symbol
    """A general loss l; its derivative is the undefined function l' (so diff output is clean)."""

    _attnsvm_atom = True  # opaque for symbolic.core.atomize

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return ell_prime(self.args[0])

    def _latex(self, printer: Any) -> str:
        return rf"\ell\left({printer._print(self.args[0])}\right)"


class ell_prime(sp.Function):  # noqa: N801
    """l' (undefined)."""

    _attnsvm_atom = True

    def _latex(self, printer: Any) -> str:
        return rf"\ell'\left({printer._print(self.args[0])}\right)"


# --------------------------------------------------------------------------- templates
# These work on explicit sympy matrices (for the proofs) and on MatrixSymbols (for lambdify).


def softmax_jacobian_apply(s: Any, a: Any) -> Any:
    """(diag(s) - s s^T) a, written as s o a - s (s^T a)."""
    return hadamard_product(s, a) - s * (s.T * a)


def value_gradient(X: Any, v: Any, s: Any) -> Any:
    """g = d f / d q = X^T (diag(s) - s s^T) X v for f = v^T X^T softmax(X q)."""
    return X.T * softmax_jacobian_apply(s, X * v)


def attention_gradient_term(X: Any, v: Any, z: Any, s: Any) -> Any:
    """d f / d W = g(X, v, s) z^T, one input's W-gradient of f before the l'(Y f) Y factor."""
    return value_gradient(X, v, s) * z.T


# --------------------------------------------------------------------------- symbolic models


def explicit_softmax(u: sp.MatrixBase) -> sp.Matrix:
    """softmax of an explicit column, exp(u_t) / sum exp(u), with exp as ``NatExp`` (exp' = exp)."""
    e = [NatExp(x) for x in u]
    total = sp.Add(*e)
    return sp.Matrix([x / total for x in e])


def symbolic_risk_and_closed_form(
    W: sp.Matrix, Xs: list[sp.Matrix], Ys: list[sp.Symbol], v: sp.Matrix, zs: list[sp.Matrix],
    term: Any = attention_gradient_term,
) -> tuple[sp.Expr, sp.Matrix]:
    """L(W) = (1/n) sum_i l(Y_i f_i) and the closed form (1/n) sum_i l'(Y_i f_i) Y_i term_i."""
    n = len(Xs)
    risk = sp.Integer(0)
    closed = sp.zeros(*W.shape)
    for X, Y, z in zip(Xs, Ys, zs, strict=True):
        s = explicit_softmax(X * W * z)
        f = (s.T * X * v)[0, 0]
        risk += ell(Y * f)
        closed += ell_prime(Y * f) * Y * term(X, v, z, s)
    return risk / n, closed / n


def _gradient_matches(risk: sp.Expr, wrt: sp.Matrix, closed: sp.Matrix) -> bool:
    diffs = sp.Matrix(wrt.shape[0], wrt.shape[1], lambda j, k: sp.diff(risk, wrt[j, k]))
    return is_identically_zero(diffs - closed)


def check_grad_W(term: Any = attention_gradient_term, n: int = 2, T: int = 3, d: int = 2):
    """Closed-form grad_W (built with ``term``) equals sympy's diff of the risk."""
    W = symbol_matrix("w", d, d)
    Xs = [symbol_matrix(f"x{i}", T, d) for i in range(n)]
    zs = [symbol_vector(f"z{i}", d) for i in range(n)]
    Ys = list(sp.symbols(f"Y:{n}", real=True))
    v = symbol_vector("v", d)
    risk, closed = symbolic_risk_and_closed_form(W, Xs, Ys, v, zs, term)
    ok = _gradient_matches(risk, W, closed)
    return ok, f"n={n}, T={T}, d={d}, symbolic X, z, v, Y, W and undefined l: " + (
        "closed form == diff(L, W)" if ok else "closed form != diff(L, W)"
    )


def check_grad_KQ(n: int = 1, T: int = 2, d: int = 2, m: int = 2):
    """grad_K = grad_W(KQ^T) Q and grad_Q = grad_W(KQ^T)^T K, against diff of L(K Q^T)."""
    K, Q = symbol_matrix("k", d, m), symbol_matrix("q", d, m)
    Xs = [symbol_matrix(f"x{i}", T, d) for i in range(n)]
    zs = [symbol_vector(f"z{i}", d) for i in range(n)]
    Ys = list(sp.symbols(f"Y:{n}", real=True))
    v = symbol_vector("v", d)
    risk, gW = symbolic_risk_and_closed_form(K * Q.T, Xs, Ys, v, zs)
    ok_k = _gradient_matches(risk, K, gW * Q)
    ok_q = _gradient_matches(risk, Q, gW.T * K)
    return ok_k and ok_q, (
        f"n={n}, T={T}, d={d}, m={m}: grad_K == grad_W Q: {ok_k}; grad_Q == grad_W^T K: {ok_q}"
    )


def check_grad_p(n: int = 2, T: int = 3, d: int = 2):
    """Prompt attention f_i = <X_i v, softmax(X_i W p)>: diff(L, p) == mean l' Y W^T g."""
    W = symbol_matrix("w", d, d)
    p = symbol_vector("p", d)
    Xs = [symbol_matrix(f"x{i}", T, d) for i in range(n)]
    Ys = list(sp.symbols(f"Y:{n}", real=True))
    v = symbol_vector("v", d)
    risk = sp.Integer(0)
    closed = sp.zeros(d, 1)
    for X, Y in zip(Xs, Ys, strict=True):
        s = explicit_softmax(X * W * p)
        f = (s.T * X * v)[0, 0]
        risk += ell(Y * f)
        closed += ell_prime(Y * f) * Y * W.T * value_gradient(X, v, s)
    ok = _gradient_matches(risk / n, p, closed / n)
    return ok, f"n={n}, T={T}, d={d}: diff(L, p) " + ("==" if ok else "!=") + " mean l' Y W^T g"


def check_loss_derivatives():
    """The overflow-free derivative forms equal diff(l) for each named loss."""
    return all_checks(
        zero_check(
            sp.simplify(LOSS_DERIVATIVES[k] - sp.diff(LOSS_EXPRESSIONS[k], _u)), f"l' {k}"
        )
        for k in LOSS_NAMES
    )


def check_row_space(T: int = 3, d: int = 2):
    """Each input's gradient annihilates w with w . z = 0 (row space inside span{z})."""
    X, v, z, s = (symbol_matrix("x", T, d), symbol_vector("v", d), symbol_vector("z", d),
                  symbol_vector("s", T))
    w = sp.Matrix([-z[1], z[0]])  # w . z = 0 in d = 2
    return zero_check(attention_gradient_term(X, v, z, s) * w, "grad_W term times w, w . z = 0")


# --------------------------------------------------------------------------- statement


def _statement() -> list[tuple[str, sp.Basic]]:
    T, d, m = sp.symbols("T d m", integer=True, positive=True)
    X = sp.MatrixSymbol("X_i", T, d)
    W = sp.MatrixSymbol("W", d, d)
    v = sp.MatrixSymbol("v", d, 1)
    z = sp.MatrixSymbol("z_i", d, 1)
    s = sp.MatrixSymbol("s_i", T, 1)
    p = sp.MatrixSymbol("p", d, 1)
    K, Q = sp.MatrixSymbol("K", d, m), sp.MatrixSymbol("Q", d, m)
    gW = TexMatrix("grad_W L", d, d, latex=r"\nabla_W L")
    coef = Tex(r"\ell'(Y_i f_i)\,Y_i", "l'(Y_i f_i) Y_i")
    mean_coef = Tex(r"\frac{1}{n}\sum_{i=1}^{n}\ell'(Y_i f_i)\,Y_i", "(1/n) sum_i l'(Y_i f_i) Y_i")
    jac = TexMatrix("diag(s_i)", T, T, latex=r"\operatorname{diag}(s_i)") - s * s.T
    g = X.T * jac * X * v
    return [
        ("softmax probabilities", eq(s, Softmax(X * W * z))),
        ("per-input gradient",
         eq(Tex(r"\nabla_W\,\ell(Y_i f_i)", "grad_W l(Y_i f_i)"), coef * g * z.T)),
        ("risk gradient", eq(gW, mean_coef * g * z.T)),
        ("(K,Q) chain rule", eq(Tex(r"\nabla_K L(KQ^\top)", "grad_K L(K Q^T)"), gW * Q)),
        ("(K,Q) chain rule", eq(Tex(r"\nabla_Q L(KQ^\top)", "grad_Q L(K Q^T)"), gW.T * K)),
        ("prompt probabilities", eq(s, Softmax(X * W * p))),
        ("prompt attention", eq(Tex(r"\nabla_p L", "grad_p L"), mean_coef * W.T * g)),
    ]


# --------------------------------------------------------------------------- predicates


@cache
def _g_kernel():
    T, d = sp.symbols("T d", integer=True, positive=True)
    X = sp.MatrixSymbol("X", T, d)
    v = sp.MatrixSymbol("v", d, 1)
    s = sp.MatrixSymbol("s", T, 1)
    return sp.lambdify((X, v, s), value_gradient(X, v, s), "numpy")


@cache
def _loss_prime_fn(loss: str):
    return sp.lambdify(_u, LOSS_DERIVATIVES[loss], "numpy")


def loss_derivative(u: Any, loss: str = "logistic") -> np.ndarray:
    """l'(u) elementwise for a named loss (LOSS_NAMES); overflow-free in float64."""
    if loss not in LOSS_DERIVATIVES:
        raise ValueError(f"unknown loss {loss!r}; choose from {LOSS_NAMES}")
    arr = as_float(u)
    with np.errstate(over="ignore"):
        out = _loss_prime_fn(loss)(arr)
    return np.broadcast_to(as_float(out), arr.shape).copy()


def _per_input(X: np.ndarray, Y: np.ndarray, v: np.ndarray, queries: np.ndarray, loss: str):
    """For each input: (l'(Y_i f_i) Y_i, g_i) with s_i = softmax(X_i q_i)."""
    kernel = _g_kernel()
    vc = column(v)
    for i in range(X.shape[0]):
        s = softmax(X[i] @ queries[i])
        f = float(s @ X[i] @ vc[:, 0])
        weight = float(loss_derivative(Y[i] * f, loss)) * Y[i]
        yield weight, np.asarray(kernel(X[i], vc, column(s)))[:, 0]


def grad_W(X: Any, Y: Any, v: Any, Z: Any, W: Any, loss: str = "logistic") -> np.ndarray:
    """grad_W L(W) = (1/n) sum_i l'(Y_i f_i) Y_i g_i z_i^T (TF-SVM W-ERM), shape (d, d)."""
    X, Y, Z, W = as_float(X), as_float(Y), as_float(Z), as_float(W)
    queries = Z @ W.T  # q_i = W z_i
    out = np.zeros_like(W)
    for (weight, g), z in zip(_per_input(X, Y, v, queries, loss), Z, strict=True):
        out += weight * np.outer(g, z)
    return out / X.shape[0]


def grad_KQ(
    X: Any, Y: Any, v: Any, Z: Any, K: Any, Q: Any, loss: str = "logistic"
) -> tuple[np.ndarray, np.ndarray]:
    """(grad_K, grad_Q) of L(K Q^T) = (grad_W L . Q, grad_W L^T . K), each shape (d, m)."""
    K, Q = as_float(K), as_float(Q)
    gW = grad_W(X, Y, v, Z, K @ Q.T, loss)
    return gW @ Q, gW.T @ K


def grad_p(X: Any, Y: Any, v: Any, W: Any, p: Any, loss: str = "logistic") -> np.ndarray:
    """grad_p L for prompt attention f_i = <X_i v, softmax(X_i W p)> (MMTS), shape p.shape."""
    X, Y, W, p = as_float(X), as_float(Y), as_float(W), as_float(p)
    q = W @ p
    queries = np.broadcast_to(q, (X.shape[0], q.shape[0]))
    out = np.zeros_like(p)
    for weight, g in _per_input(X, Y, v, queries, loss):
        out += weight * (W.T @ g)
    return out / X.shape[0]


DERIVATION = Derivation(
    name="gradient",
    title="Closed-form gradients of softmax attention with a linear head (W, (K,Q), prompt p)",
    source="arXiv 2308.16898 Sec. 2 (W-ERM, KQ-ERM); arXiv 2306.13596 Sec. 2 (prompt attention); "
    "closed forms: attnsvm derivation",
    summary=(
        "f = v^T X^T s with s = softmax(X q) has df/dq = X^T (diag s - s s^T) X v, the softmax "
        "Jacobian applied to the token values; q = W z gives the rank-one factor z^T, q = W p the "
        "factor W^T, and W = K Q^T the chain rule grad_K = grad_W Q, grad_Q = grad_W^T K. Every "
        "W-gradient is a sum of (.) z_i^T, so its row space lies in span{z_i}."
    ),
    build_statement=_statement,
    checks=(
        ("loss derivatives", check_loss_derivatives),
        ("grad_W == diff", check_grad_W),
        ("(K,Q) chain rule == diff", check_grad_KQ),
        ("grad_p == diff", check_grad_p),
        ("row space of the gradient", check_row_space),
    ),
    predicates={
        "loss_derivative": loss_derivative,
        "grad_W": grad_W,
        "grad_KQ": grad_KQ,
        "grad_p": grad_p,
    },
)
