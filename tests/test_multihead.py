"""Multi-head attention (reference.attention.multihead): gradients against torch autograd, the
one-head case against the single-head code (also far into saturation), batched training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.gradients import grad_KQ, grad_W
from attnsvm.reference.attention.models import LinearHead
from attnsvm.reference.attention.multihead import (
    grad_heads,
    grad_heads_KQ,
    head_outputs,
    train_heads,
    train_heads_KQ,
)
from attnsvm.reference.attention.training import train_KQ, train_W, uniform_init
from attnsvm.reference.errors import ProblemError


def _data(seed: int, n: int, T: int, d: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    return X, Y, rng.standard_normal((n, d)), rng.standard_normal(d), rng


def _torch_risk(X, Y, W, Z, v, loss: str) -> torch.Tensor:
    """sum of heads f = sum_h v^T X^T softmax(X W_h z), mean loss, in torch (autograd)."""
    Xt, Zt, vt = (torch.tensor(a) for a in (X, Z, v))
    q = torch.einsum("...hab,...nb->...hna", W, Zt)
    s = torch.softmax(torch.einsum("...ntd,...hnd->...hnt", Xt, q), dim=-1)
    f = torch.einsum("...hnt,...ntd,d->...n", s, Xt, vt)
    m = torch.tensor(Y) * f
    ell = torch.nn.functional.softplus(-m) if loss == "logistic" else torch.exp(-m)
    return ell.mean(dim=-1).sum()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 5), T=st.integers(2, 5),
       d=st.integers(1, 4), H=st.integers(1, 3), B=st.integers(1, 2),
       loss=st.sampled_from(["logistic", "exponential"]))
def test_gradients_match_autograd(seed, n, T, d, H, B, loss) -> None:
    X, Y, Z, v, rng = _data(seed, n, T, d)
    W = rng.standard_normal((B, H, d, d))
    g, ev = grad_heads(X, Y, W, Z, v, loss)
    Wt = torch.tensor(W, requires_grad=True)
    risk = _torch_risk(X, Y, Wt, Z, v, loss)
    risk.backward()
    assert np.abs(g - Wt.grad.numpy()).max() <= 1e-10 * max(1.0, np.abs(g).max())
    assert abs(float(ev.risk.sum()) - risk.item()) <= 1e-10 * max(1.0, risk.item())
    m = 2
    K, Q = rng.standard_normal((B, H, d, m)), rng.standard_normal((B, H, d, m))
    gK, gQ, _ = grad_heads_KQ(X, Y, K, Q, Z, v, loss)
    Kt, Qt = torch.tensor(K, requires_grad=True), torch.tensor(Q, requires_grad=True)
    _torch_risk(X, Y, Kt @ Qt.transpose(-1, -2), Z, v, loss).backward()
    for ours, theirs in ((gK, Kt.grad), (gQ, Qt.grad)):
        assert np.abs(ours - theirs.numpy()).max() <= 1e-10 * max(1.0, np.abs(ours).max())


def test_one_head_is_the_single_head_model_also_saturated() -> None:
    X, Y, Z, v, rng = _data(0, 4, 5, 3)
    W = rng.standard_normal((3, 3))
    for scale in (1.0, 1e3):  # 1e3: the true gradient underflows, its direction must not
        g1, ev1 = grad_heads(X, Y, scale * W[None], Z, v, scaled=True)
        g0, ev0 = grad_W(X, Y, scale * W, Z, LinearHead(v), scaled=True)
        assert np.all(np.isfinite(g1)) and np.abs(g1).max() > 0
        np.testing.assert_allclose(g1[0] / np.linalg.norm(g1), g0 / np.linalg.norm(g0),
                                   atol=1e-12)
        np.testing.assert_allclose(ev1.outputs, ev0.outputs, atol=1e-12)
    K, Q = rng.standard_normal((3, 2)), rng.standard_normal((3, 2))
    gK1, gQ1, _ = grad_heads_KQ(X, Y, K[None], Q[None], Z, v)
    gK0, gQ0, _ = grad_KQ(X, Y, K, Q, Z, LinearHead(v))
    np.testing.assert_allclose(gK1[0], gK0, atol=1e-14)
    np.testing.assert_allclose(gQ1[0], gQ0, atol=1e-14)


def test_training_one_head_reproduces_train_W_and_train_KQ() -> None:
    X, Y, Z, v, _ = _data(1, 4, 4, 3)
    W0 = uniform_init((2, 3, 3), 0)
    mh = train_heads(X, Y, Z, v, W0[:, None], steps=60, lr=0.1)
    sh = train_W(X, Y, Z, v, W0, steps=60, lr=0.1)
    np.testing.assert_allclose(mh.W[:, 0], sh.params["W"], atol=1e-12)
    np.testing.assert_allclose(mh.risk, sh.risk, atol=1e-12)
    K0, Q0 = uniform_init((2, 3, 2), 1), uniform_init((2, 3, 2), 2)
    mk = train_heads_KQ(X, Y, Z, v, K0[:, None], Q0[:, None], steps=40, lr=0.1)
    sk = train_KQ(X, Y, Z, v, K0, Q0, steps=40, lr=0.1)
    np.testing.assert_allclose(mk.params["K"][:, 0], sk.params["K"], atol=1e-12)


def test_normalized_steps_per_head_or_joint() -> None:
    X, Y, Z, v, _ = _data(2, 4, 4, 3)
    W0 = uniform_init((1, 3, 3, 3), 3)
    per = train_heads(X, Y, Z, v, W0, steps=1, lr=0.1, per_head=True)
    joint = train_heads(X, Y, Z, v, W0, steps=1, lr=0.1, per_head=False)
    np.testing.assert_allclose(np.linalg.norm(per.W - W0, axis=(-2, -1)), 0.1, rtol=1e-12)
    assert abs(np.linalg.norm(joint.W - W0) - 0.1) <= 1e-12
    assert per.selected.shape == (1, 3, 4) and per.probs.shape == (1, 3, 4, 4)


def test_outputs_sum_heads_and_bad_shapes_name_the_field() -> None:
    X, Y, Z, v, rng = _data(3, 3, 4, 2)
    W = rng.standard_normal((2, 2, 2))
    single = [head_outputs(X, W[h:h + 1], Z, v) for h in range(2)]
    np.testing.assert_allclose(head_outputs(X, W, Z, v), single[0] + single[1], atol=1e-14)
    with pytest.raises(ProblemError, match="W"):
        grad_heads(X, Y, rng.standard_normal((2, 3, 2)), Z, v)
    with pytest.raises(ProblemError, match="Q0"):
        train_heads_KQ(X, Y, Z, v, np.ones((2, 2, 1)), np.ones((3, 2, 1)), steps=1)
