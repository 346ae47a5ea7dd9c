"""Attention models and gradients: numpy vs torch, closed form vs autograd, extreme norms."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.properties.strategies import dims, problem_specs
from attnsvm.reference.attention.gradients import grad_KQ, grad_p, grad_W, risk_W
from attnsvm.reference.attention.losses import LOSSES
from attnsvm.reference.attention.models import (
    LinearHead,
    QuadraticHead,
    ReLUHead,
    kq_outputs,
    outputs,
    probabilities,
    prompt_outputs,
)

LOSS_NAMES = sorted(LOSSES)
HEADS = ("linear", "relu", "quadratic")


def _head(kind: str, v, rng: np.random.Generator, d: int, torch_mode: bool):
    conv = (lambda a: torch.tensor(a)) if torch_mode else (lambda a: a)
    if kind == "linear":
        return LinearHead(conv(v))
    if kind == "relu":
        V = rng.standard_normal((d, 3))
        return ReLUHead(conv(V / np.linalg.norm(V)))
    return QuadraticHead(conv(v), 0.3)


def _tensors(*arrays):
    return [torch.tensor(np.asarray(a), dtype=torch.float64) for a in arrays]


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@given(problem_specs("paper", dims(d=(1, 6))), st.sampled_from(HEADS), st.floats(0.01, 30.0))
def test_numpy_and_torch_models_agree(spec, head_kind: str, scale: float) -> None:
    p = spec.build()
    rng = np.random.default_rng(spec.seed)
    W = rng.standard_normal((p.d, p.d)) * scale
    f_np = outputs(p.X, W, p.Z, _head(head_kind, p.v, np.random.default_rng(1), p.d, False))
    Xt, Wt, Zt = _tensors(p.X, W, p.Z)
    f_t = outputs(Xt, Wt, Zt, _head(head_kind, p.v, np.random.default_rng(1), p.d, True))
    np.testing.assert_allclose(f_np, f_t.numpy(), rtol=1e-12, atol=1e-12)
    K, Q = rng.standard_normal((p.d, 2)), rng.standard_normal((p.d, 2))
    Kt, Qt = _tensors(K, Q)
    np.testing.assert_allclose(
        kq_outputs(p.X, K, Q, p.Z, LinearHead(p.v)),
        kq_outputs(Xt, Kt, Qt, Zt, LinearHead(torch.tensor(p.v))).numpy(),
        rtol=1e-12,
        atol=1e-12,
    )
    pr = rng.standard_normal(p.d)
    np.testing.assert_allclose(
        prompt_outputs(p.X, pr, p.v),
        prompt_outputs(Xt, torch.tensor(pr), torch.tensor(p.v)).numpy(),
        rtol=1e-12,
        atol=1e-12,
    )


def test_model_matches_the_definition() -> None:
    """f = v^T X^T softmax(X W z), written out with plain loops."""
    rng = np.random.default_rng(4)
    X, W, z, v = (
        rng.standard_normal((5, 3)),
        rng.standard_normal((3, 3)),
        rng.standard_normal(3),
        rng.standard_normal(3),
    )
    logits = np.array([X[t] @ W @ z for t in range(5)])
    s = np.exp(logits) / np.exp(logits).sum()
    expected = sum(s[t] * (v @ X[t]) for t in range(5))
    got = outputs(X[None], W, z[None], LinearHead(v))[0]
    assert abs(got - expected) < 1e-13


@settings(max_examples=20)
@given(
    problem_specs("paper", dims(n=(1, 4), T=(2, 6), d=(1, 5))),
    st.sampled_from(LOSS_NAMES),
    st.sampled_from(HEADS),
    st.floats(0.1, 5.0),
)
def test_grad_W_matches_autograd(spec, loss: str, head_kind: str, scale: float) -> None:
    p = spec.build()
    W = np.random.default_rng(spec.seed + 1).standard_normal((p.d, p.d)) * scale
    g, _ = grad_W(
        p.X, p.Y, W, p.Z, _head(head_kind, p.v, np.random.default_rng(2), p.d, False), loss
    )
    Xt, Yt, Zt = _tensors(p.X, p.Y, p.Z)
    Wt = torch.tensor(W, requires_grad=True)
    risk_W(
        Xt, Yt, Wt, Zt, _head(head_kind, p.v, np.random.default_rng(2), p.d, True), loss
    ).backward()
    assert _rel(g, Wt.grad.numpy()) < 1e-10


@settings(max_examples=20)
@given(
    problem_specs("paper", dims(n=(1, 4), T=(2, 6), d=(1, 5))),
    st.sampled_from(LOSS_NAMES),
    st.integers(1, 5),
)
def test_grad_KQ_matches_autograd(spec, loss: str, m: int) -> None:
    p = spec.build()
    rng = np.random.default_rng(spec.seed)
    K, Q = rng.standard_normal((p.d, m)), rng.standard_normal((p.d, m))
    gK, gQ, _ = grad_KQ(p.X, p.Y, K, Q, p.Z, LinearHead(p.v), loss)
    Xt, Yt, Zt, vt = _tensors(p.X, p.Y, p.Z, p.v)
    Kt, Qt = torch.tensor(K, requires_grad=True), torch.tensor(Q, requires_grad=True)
    risk_W(Xt, Yt, Kt @ Qt.T, Zt, LinearHead(vt), loss).backward()
    assert _rel(gK, Kt.grad.numpy()) < 1e-10
    assert _rel(gQ, Qt.grad.numpy()) < 1e-10


@settings(max_examples=20)
@given(
    problem_specs("paper", dims(n=(1, 4), T=(2, 6), d=(1, 5))),
    st.sampled_from(LOSS_NAMES),
    st.booleans(),
)
def test_grad_p_and_v_match_autograd(spec, loss: str, with_key: bool) -> None:
    p = spec.build()
    rng = np.random.default_rng(spec.seed)
    pr = rng.standard_normal(p.d) * 2
    key = rng.standard_normal((p.d, p.d)) if with_key else None
    gp, gv, _ = grad_p(p.X, p.Y, pr, p.v, key, loss)
    Xt, Yt = _tensors(p.X, p.Y)
    pt, vt = torch.tensor(pr, requires_grad=True), torch.tensor(p.v, requires_grad=True)
    kt = None if key is None else torch.tensor(key)
    f = prompt_outputs(Xt, pt, vt, kt)
    LOSSES[loss].value(Yt * f).mean().backward()
    assert _rel(gp, pt.grad.numpy()) < 1e-10
    assert _rel(gv, vt.grad.numpy()) < 1e-10


@given(problem_specs("paper", dims()), st.floats(1.0, 1e8))
def test_softmax_is_exact_for_huge_norms(spec, norm: float) -> None:
    p = spec.build()
    W = np.random.default_rng(spec.seed).standard_normal((p.d, p.d))
    W *= norm / np.linalg.norm(W)
    s = probabilities(p.X, W, p.Z)
    assert np.all(np.isfinite(s)) and np.all(s >= 0)
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=1e-15)
    g, ev = grad_W(p.X, p.Y, W, p.Z, LinearHead(p.v))
    assert np.all(np.isfinite(g)) and np.all(np.isfinite(ev.risk))


def _mp_grad_input(x, z, v, y, W, n) -> np.ndarray:
    """One input's gradient contribution in 600-digit arithmetic (the naive formula; enough
    digits that 1 - s_max is resolved for every norm tested)."""
    mpmath.mp.dps = 600
    T, d = x.shape
    X = mpmath.matrix(x.tolist())
    logits = X * (mpmath.matrix(W.tolist()) * mpmath.matrix(z.tolist()))
    mx = max(logits)
    e = [mpmath.exp(logits[t] - mx) for t in range(T)]
    s = [ei / sum(e) for ei in e]
    h = X * mpmath.matrix(v.tolist())
    f = sum(s[t] * h[t] for t in range(T))
    lp = -1 / (1 + mpmath.exp(y * f))
    c = mpmath.matrix([s[t] * (h[t] - f) for t in range(T)])
    col = X.T * c
    G = (lp * y / n) * col * mpmath.matrix(z.tolist()).T
    return np.array(G.tolist(), dtype=float)


@pytest.mark.parametrize("norm", [30.0, 200.0, 2000.0])
def test_gradient_keeps_relative_accuracy_when_softmax_saturates(norm: float) -> None:
    """Past saturation (1 - s_max < eps) every input's contribution is still accurate to 1e-12
    relative, which the naive s o (h - s^T h) form cannot deliver (it cancels to zero)."""
    from attnsvm.reference.attention.families import paper_family

    p = paper_family(3, 5, 4, 11)
    W = np.random.default_rng(5).standard_normal((4, 4))
    W *= norm / np.linalg.norm(W)
    for i in range(p.n):
        g, ev = grad_W(p.X[i : i + 1], p.Y[i : i + 1], W, p.Z[i : i + 1], LinearHead(p.v))
        ref = _mp_grad_input(p.X[i], p.Z[i], p.v, p.Y[i], W, 1)
        if np.max(np.abs(ref)) < 1e-290:  # beyond float64's range: both must be ~0
            assert np.max(np.abs(g)) < 1e-280
            continue
        assert _rel(g, ref) < 1e-12, (i, ev.probs)


@settings(max_examples=10)
@given(problem_specs("paper", dims(n=(1, 4), T=(2, 6), d=(1, 5)), self_attention=True),
       st.sampled_from(LOSS_NAMES))
def test_self_attention_models_and_gradients(spec, loss: str) -> None:
    """Self-attention (z_i = x_i1): numpy = torch, closed-form gradient = autograd."""
    p = spec.build()
    np.testing.assert_array_equal(p.Z, p.X[:, 0])
    W = np.random.default_rng(spec.seed).standard_normal((p.d, p.d))
    Xt, Yt, Zt, vt = _tensors(p.X, p.Y, p.Z, p.v)
    np.testing.assert_allclose(outputs(p.X, W, p.Z, LinearHead(p.v)),
                               outputs(Xt, torch.tensor(W), Zt, LinearHead(vt)).numpy(),
                               rtol=1e-12, atol=1e-12)
    g, _ = grad_W(p.X, p.Y, W, p.Z, LinearHead(p.v), loss)
    Wt = torch.tensor(W, requires_grad=True)
    risk_W(Xt, Yt, Wt, Zt, LinearHead(vt), loss).backward()
    assert _rel(g, Wt.grad.numpy()) < 1e-10
