"""Derivation ``fwp-linear-attention``: causal linear attention is a fast weight programmer.

Schlag, Irie, Schmidhuber, "Linear Transformers Are Secretly Fast Weight Programmers"
(arXiv 2102.11174v3, ICML 2021), Eqs. 17-19 and 20-25 (equation numbers of v3, not confirmed
against the paper's text). With feature map phi (phi > 0 so the normaliser is nonzero):

    causal linear attention  y_i = sum_{j<=i} v_j phi(k_j)^T phi(q_i)
                                   / sum_{j<=i} phi(k_j)^T phi(q_i)
    outer-product recurrence W_i = W_{i-1} + v_i phi(k_i)^T,  z_i = z_{i-1} + phi(k_i),
                             y_i = W_i phi(q_i) / (z_i^T phi(q_i))
    matrix form              Y = diag(r)^{-1} tril(Phi_q Phi_k^T) V,
                             r = rowsum(tril(Phi_q Phi_k^T))
    delta rule (Eqs. 23-24)  v_bar = W phi, v_new = beta v + (1-beta) v_bar,
                             W' = W + v_new phi^T - v_bar phi^T = W + beta (v - W phi) phi^T
                             = W - beta grad_W 1/2 ||W phi - v||^2   (one SGD step, step beta)
                             = W (I - beta phi phi^T) + beta v phi^T,
    eigenvalues of I - beta phi phi^T: 1 (d-1 times) and 1 - beta ||phi||^2;
    retrieval after the write: W' phi = v_bar + beta ||phi||^2 (v - v_bar).

``verify()`` proves these on symbolic sequences of length 3 (features and values in R^2).

Predicates (numpy float64; per-step maps lambdified from the verified expressions):

    causal_linear_attention(phi_q, phi_k, V) -> (L, dv)   matrix form; phi_* (L, m), V (L, dv)
    fwp_recurrence(phi_q, phi_k, V) -> (L, dv)            outer-product recurrence
    delta_rule_step(W, v, phi, beta) -> (dv, m)           W + beta (v - W phi) phi^T
    delta_transition(phi, beta) -> (m, m)                 I - beta phi phi^T
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from attnsvm.symbolic.core import (
    Derivation,
    Norm,
    Tex,
    all_checks,
    eq,
    frob_sq,
    symbol_matrix,
    symbol_vector,
    zero_check,
)
from attnsvm.symbolic.numerics import as_float, column


def fwp_write(W: Any, z: Any, v: Any, f: Any) -> tuple[Any, Any]:
    """(W + v f^T, z + f)."""
    return W + v * f.T, z + f


def fwp_read(W: Any, z: Any, g: Any) -> Any:
    """W g / (z^T g) for explicit matrices."""
    return W * g / (z.T * g)[0, 0]


def delta_update(W: Any, v: Any, f: Any, beta: Any) -> Any:
    """Eq. 24: W + beta (v - W f) f^T."""
    return W + beta * (v - W * f) * f.T


def _sequence(L: int = 3, m: int = 2, dv: int = 2):
    fs = [symbol_vector(f"f{i}", m, positive=True) for i in range(L)]  # phi(k_i) > 0
    gs = [symbol_vector(f"g{i}", m, positive=True) for i in range(L)]  # phi(q_i) > 0
    vs = [symbol_vector(f"v{i}", dv) for i in range(L)]
    return fs, gs, vs


def check_recurrence(L: int = 3, m: int = 2, dv: int = 2) -> tuple[bool, str]:
    """Attention form, recurrence and matrix form give the same y_i for i = 1..L."""
    fs, gs, vs = _sequence(L, m, dv)
    W, z = sp.zeros(dv, m), sp.zeros(m, 1)
    Phi_q, Phi_k, V = (sp.Matrix.hstack(*x).T for x in (gs, fs, vs))
    A = (Phi_q * Phi_k.T).lower_triangular()
    Y = sp.diag(*[1 / sum(A[i, :]) for i in range(L)]) * A * V
    out = []
    for i in range(L):
        W, z = fwp_write(W, z, vs[i], fs[i])
        y_rec = fwp_read(W, z, gs[i])
        num = sum((vs[j] * (fs[j].T * gs[i])[0, 0] for j in range(i + 1)), sp.zeros(dv, 1))
        den = sum((fs[j].T * gs[i])[0, 0] for j in range(i + 1))
        out.append(zero_check(y_rec - num / den, f"i={i + 1}: recurrence - attention"))
        out.append(zero_check(Y[i, :].T - num / den, f"i={i + 1}: matrix form - attention"))
    # without phi or normalisation: sum_j v_j (k_j . q) = (sum_j v_j k_j^T) q (associativity)
    q = symbol_vector("q", m)
    lhs = sum((vs[j] * (fs[j].T * q)[0, 0] for j in range(L)), sp.zeros(dv, 1))
    rhs = sum((vs[j] * fs[j].T for j in range(L)), sp.zeros(dv, m)) * q
    out.append(zero_check(lhs - rhs, "unnormalised: sum v_j (k_j.q) - (sum v_j k_j^T) q"))
    return all_checks(out)


def check_delta_rule(m: int = 2, dv: int = 2) -> tuple[bool, str]:
    """Eq. 23 = Eq. 24 = one SGD step on 1/2||W phi - v||^2 = transition form; overwrite."""
    W = symbol_matrix("w", dv, m)
    f, v = symbol_vector("f", m), symbol_vector("v", dv)
    beta = sp.Symbol("beta", real=True)
    v_bar = W * f
    v_new = beta * v + (1 - beta) * v_bar
    eq23 = W + v_new * f.T - v_bar * f.T
    eq24 = delta_update(W, v, f, beta)
    loss = frob_sq(W * f - v) / 2
    grad = sp.Matrix(dv, m, lambda a, b: sp.diff(loss, W[a, b]))
    sgd = W - beta * grad
    trans = W * (sp.eye(m) - beta * f * f.T) + beta * v * f.T
    nf2 = (f.T * f)[0, 0]
    return all_checks([
        zero_check(eq23 - eq24, "Eq.23 - Eq.24"),
        zero_check(sgd - eq24, "W - beta grad 1/2||W phi - v||^2 - Eq.24"),
        zero_check(trans - eq24, "W(I - beta phi phi^T) + beta v phi^T - Eq.24"),
        zero_check(eq24 * f - (v_bar + beta * nf2 * (v - v_bar)),
                   "W' phi - (v_bar + beta ||phi||^2 (v - v_bar))"),
    ])


def check_transition_spectrum(m: int = 3) -> tuple[bool, str]:
    """charpoly(I - beta phi phi^T) = (x - 1)^(m-1) (x - 1 + beta ||phi||^2)."""
    f = symbol_vector("f", m)
    beta, x = sp.symbols("beta x", real=True)
    M = sp.eye(m) - beta * f * f.T
    cp = (x * sp.eye(m) - M).det(method="berkowitz")
    target = (x - 1) ** (m - 1) * (x - 1 + beta * (f.T * f)[0, 0])
    return zero_check(cp - target, f"m={m}: charpoly - (x-1)^{m - 1}(x-1+beta||phi||^2)")


def _statement() -> list[tuple[str, sp.Basic]]:
    beta = sp.Symbol("beta")
    pk = Tex(r"\phi(k_i)", "phi(k_i)")
    Wi, Wp = Tex("W_i", "W_i"), Tex("W_{i-1}", "W_{i-1}")
    return [
        ("causal linear attention", eq(Tex("y_i", "y_i"), Tex(
            r"\frac{\sum_{j\le i} v_j\,\phi(k_j)^\top\phi(q_i)}"
            r"{\sum_{j\le i}\phi(k_j)^\top\phi(q_i)}",
            "sum_{j<=i} v_j phi(k_j)^T phi(q_i) / sum_{j<=i} phi(k_j)^T phi(q_i)"))),
        ("fast weights", eq(Wi, Wp + Tex(r"v_i\,\phi(k_i)^\top", "v_i phi(k_i)^T"))),
        ("normaliser", eq(Tex("z_i", "z_i"), Tex("z_{i-1}", "z_{i-1}") + pk)),
        ("read-out", eq(Tex("y_i", "y_i"), Tex(r"\frac{W_i\,\phi(q_i)}{z_i^\top\phi(q_i)}",
                                               "W_i phi(q_i) / (z_i^T phi(q_i))"))),
        ("delta rule (Eq. 24)", eq(Wi, Wp + beta * Tex(
            r"(v_i - W_{i-1}\phi(k_i))\,\phi(k_i)^\top", "(v_i - W_{i-1} phi(k_i)) phi(k_i)^T"))),
        ("= one SGD step", eq(Wi, Wp - beta * Tex(
            r"\nabla_W \tfrac12\|W\phi(k_i) - v_i\|^2\big|_{W_{i-1}}",
            "grad_W 1/2||W phi(k_i) - v_i||^2 at W_{i-1}"))),
        ("spectrum of I - beta phi phi^T", eq(Tex(r"\operatorname{spec}", "spec"), Tex(
            r"\{1, \dots, 1, 1 - \beta\|\phi\|^2\}", "{1, .., 1, 1 - beta ||phi||^2}"))),
        ("overwrite exact iff", eq(beta * Norm(pk) ** 2, 1)),
    ]


@cache
def _kernels():
    L, m, dv = sp.symbols("L m dv", integer=True, positive=True)
    Pq, Pk = sp.MatrixSymbol("Pq", L, m), sp.MatrixSymbol("Pk", L, m)
    W, v, f = sp.MatrixSymbol("W", dv, m), sp.MatrixSymbol("v", dv, 1), sp.MatrixSymbol("f", m, 1)
    z, g = sp.MatrixSymbol("z", m, 1), sp.MatrixSymbol("g", m, 1)
    beta = sp.Symbol("beta")
    return {
        "scores": sp.lambdify((Pq, Pk), Pq * Pk.T, "numpy"),
        "write_W": sp.lambdify((W, v, f), W + v * f.T, "numpy"),
        "write_z": sp.lambdify((z, f), z + f, "numpy"),
        "read_num": sp.lambdify((W, g), W * g, "numpy"),
        "read_den": sp.lambdify((z, g), z.T * g, "numpy"),
        "delta": sp.lambdify((W, v, f, beta), delta_update(W, v, f, beta), "numpy"),
    }


def causal_linear_attention(phi_q: Any, phi_k: Any, V: Any) -> np.ndarray:
    """diag(r)^{-1} tril(Phi_q Phi_k^T) V with r the row sums (needs positive features)."""
    A = np.tril(np.asarray(_kernels()["scores"](as_float(phi_q), as_float(phi_k))))
    return (A @ as_float(V)) / A.sum(axis=1, keepdims=True)


def fwp_recurrence(phi_q: Any, phi_k: Any, V: Any) -> np.ndarray:
    """The outer-product fast-weight recurrence, one position at a time."""
    Pq, Pk, V = as_float(phi_q), as_float(phi_k), as_float(V)
    ker = _kernels()
    W, z = np.zeros((V.shape[1], Pk.shape[1])), np.zeros((Pk.shape[1], 1))
    out = np.zeros_like(V)
    for i in range(V.shape[0]):
        f, g = column(Pk[i]), column(Pq[i])
        W = np.asarray(ker["write_W"](W, column(V[i]), f))
        z = np.asarray(ker["write_z"](z, f))
        out[i] = np.asarray(ker["read_num"](W, g))[:, 0] / float(ker["read_den"](z, g).item())
    return out


def delta_rule_step(W: Any, v: Any, phi: Any, beta: float) -> np.ndarray:
    """W + beta (v - W phi) phi^T."""
    return np.asarray(_kernels()["delta"](as_float(W), column(v), column(phi), float(beta)))


def delta_transition(phi: Any, beta: float) -> np.ndarray:
    """I - beta phi phi^T (W' = W (I - beta phi phi^T) + beta v phi^T)."""
    f = as_float(phi).ravel()
    return np.eye(f.size) - float(beta) * np.outer(f, f)


DERIVATION = Derivation(
    name="fwp-linear-attention",
    title="Causal linear attention = outer-product fast weights; delta rule = one SGD step",
    source="arXiv 2102.11174v3 Eqs. 17-19 and 23-24 (equation numbers not confirmed); DeltaNet "
    "arXiv 2406.06484 Sec. 2.2 (online-regression view)",
    summary=(
        "Associativity turns sum_j v_j (phi(k_j).phi(q)) into (sum_j v_j phi(k_j)^T) phi(q): the "
        "sum of outer products is a fast weight matrix written once per token, and the "
        "softmax-free normaliser is a running sum z_i. The delta rule replaces the value stored "
        "under phi(k) by a beta-mix of old and new, which is exactly one SGD step on "
        "1/2||W phi(k) - v||^2."
    ),
    build_statement=_statement,
    checks=(
        ("recurrence = attention = matrix form (L=3)", check_recurrence),
        ("delta rule = SGD step", check_delta_rule),
        ("transition spectrum", check_transition_spectrum),
    ),
    predicates={
        "causal_linear_attention": causal_linear_attention,
        "fwp_recurrence": fwp_recurrence,
        "delta_rule_step": delta_rule_step,
        "delta_transition": delta_transition,
    },
)
