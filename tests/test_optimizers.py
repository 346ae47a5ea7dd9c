"""Update rules (reference.attention.optimizers) against independent implementations: a plain
loop over runs, torch autograd for the gradient and torch.optim.Adam for Adam, to 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.losses import get_loss
from attnsvm.reference.attention.optimizers import Adam, Polyak, SignGD, risk_floor
from attnsvm.reference.attention.training import train_KQ, train_W, uniform_init
from attnsvm.reference.errors import ProblemError

NDIM = {"W": 2, "K": 2, "Q": 2}


def _torch_risk(p, W: torch.Tensor) -> torch.Tensor:
    """L(W) = mean_i log(1 + exp(-Y_i v^T X_i^T softmax(X_i W z_i))), written out in torch."""
    X, Y, Z, v = (torch.tensor(a) for a in (p.X, p.Y, p.Z, p.v))
    s = torch.softmax(torch.einsum("ntd,de,ne->nt", X, W, Z), dim=-1)
    f = torch.einsum("nt,ntd,d->n", s, X, v)
    return torch.nn.functional.softplus(-Y * f).mean()


def _torch_grad(p, W: np.ndarray) -> tuple[float, np.ndarray]:
    Wt = torch.tensor(W, requires_grad=True)
    L = _torch_risk(p, Wt)
    L.backward()
    return float(L.detach()), Wt.grad.numpy()


def _loop_polyak(params, grads, risk, floor, c):
    """Per run: eta_b = (L_b - L*_b) / sum_k ||g_kb||^2, p - c eta_b g (a plain loop)."""
    out = {k: np.array(v, copy=True) for k, v in params.items()}
    for b in range(len(risk)):
        sq = sum(float(np.sum(g[b] ** 2)) for g in grads.values())
        eta = (risk[b] - floor[b]) / sq
        for k, g in grads.items():
            out[k][b] = params[k][b] - c * eta * g[b]
    return out


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 3.0))
def test_polyak_matches_a_plain_loop_over_runs_on_w_and_kq(seed: int, c: float) -> None:
    rng = np.random.default_rng(seed)
    B = 3
    params = {"K": rng.normal(size=(B, 4, 3)), "Q": rng.normal(size=(B, 5, 3))}
    grads = {k: rng.normal(size=v.shape) * 10.0 ** rng.uniform(-3, 3) for k, v in params.items()}
    floor = rng.uniform(0.1, 0.5, size=B)
    risk = floor + rng.uniform(0.01, 1.0, size=B)
    got = Polyak(floor)(params, grads, it=0, eta=c, risk=risk, ndim=NDIM)
    want = _loop_polyak(params, grads, risk, floor, c)
    for k in params:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-12)


def test_polyak_freezes_a_run_whose_step_cannot_be_formed() -> None:
    rng = np.random.default_rng(0)
    W = rng.normal(size=(3, 4, 4))
    g = rng.normal(size=(3, 4, 4))
    g[1] = 0.0  # underflowed gradient
    risk = np.array([1.0, 1.0, 0.5 + 1e-15])  # run 2: L - L* below the round-off of L
    rule = Polyak(0.5)
    out = rule({"W": W}, {"W": g}, it=7, eta=1.0, risk=risk, ndim=NDIM)
    np.testing.assert_array_equal(rule.frozen_at, [-1, 7, 7])
    np.testing.assert_array_equal(out["W"][1:], W[1:])
    assert np.all(np.isfinite(out["W"])) and not np.allclose(out["W"][0], W[0])
    # a frozen run stays frozen even if a later step could be formed; the first freeze is kept
    out2 = rule(out, {"W": rng.normal(size=(3, 4, 4))}, it=8, eta=1.0,
                risk=np.array([1.0, 1.0, 1.0]), ndim=NDIM)
    np.testing.assert_array_equal(rule.frozen_at, [-1, 7, 7])
    np.testing.assert_array_equal(out2["W"][1:], W[1:])


def test_polyak_step_of_tiny_gradients_does_not_underflow() -> None:
    g = np.full((1, 2, 2), 1e-200)  # ||g||^2 = 4e-400 underflows float64
    out = Polyak(0.0)({"W": np.zeros((1, 2, 2))}, {"W": g}, it=0, eta=1.0,
                      risk=np.array([1e-199]), ndim=NDIM)
    # (L - L*) / ||g||^2 g = 1e-199 / (4e-400) * 1e-200 = 2.5 per entry
    np.testing.assert_allclose(out["W"], -2.5, rtol=1e-12)


@pytest.mark.parametrize("rule_name", ["polyak", "sign", "sign-steepest", "adam"])
def test_train_w_rules_follow_torch_autograd(rule_name: str) -> None:
    """Five steps of train_W(rule=...) against the same rule written with torch autograd's
    gradient (torch.optim.Adam for Adam)."""
    p = paper_family(3, 4, 5, 2)
    W0 = uniform_init((1, 5, 5), 3)
    steps, lr = 5, 0.05
    floor = float(risk_floor(p.scores.max(axis=1), get_loss("logistic").value))
    rule = {"polyak": Polyak(floor), "sign": SignGD(), "sign-steepest": SignGD(False),
            "adam": Adam(0.8, 0.95, 1e-10)}[rule_name]
    res = train_W(p.X, p.Y, p.Z, p.v, W0, steps=steps, lr=lr, rule=rule)
    W = W0[0].copy()
    if rule_name == "adam":
        Wt = torch.tensor(W, requires_grad=True)
        opt = torch.optim.Adam([Wt], lr=lr, betas=(0.8, 0.95), eps=1e-10)
        for _ in range(steps):
            opt.zero_grad()
            _torch_risk(p, Wt).backward()
            opt.step()
        W = Wt.detach().numpy()
    else:
        for _ in range(steps):
            L, g = _torch_grad(p, W)
            if rule_name == "polyak":
                W = W - lr * (L - floor) / np.sum(g * g) * g
            elif rule_name == "sign":
                W = W - lr * np.sign(g)
            else:
                W = W - lr * np.abs(g).sum() * np.sign(g)
    np.testing.assert_allclose(res.params["W"][0], W, rtol=1e-12, atol=1e-12)


def test_train_kq_adam_matches_torch_optim_adam_and_batches_like_single_runs() -> None:
    p = paper_family(3, 4, 5, 4)
    K0, Q0 = uniform_init((2, 5, 3), 0), uniform_init((2, 5, 3), 1)
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=6, lr=0.03, rule=Adam())
    for b in range(2):
        K = torch.tensor(K0[b], requires_grad=True)
        Q = torch.tensor(Q0[b], requires_grad=True)
        opt = torch.optim.Adam([K, Q], lr=0.03)
        for _ in range(6):
            opt.zero_grad()
            _torch_risk(p, K @ Q.T).backward()
            opt.step()
        np.testing.assert_allclose(res.params["K"][b], K.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)
        np.testing.assert_allclose(res.params["Q"][b], Q.detach().numpy(), rtol=1e-12,
                                   atol=1e-12)


def test_train_kq_polyak_uses_the_joint_gradient_norm() -> None:
    p = paper_family(2, 3, 4, 5)
    K0, Q0 = uniform_init((1, 4, 2), 2), uniform_init((1, 4, 2), 3)
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=1, lr=0.5, rule=Polyak(0.0))
    K = torch.tensor(K0[0], requires_grad=True)
    Q = torch.tensor(Q0[0], requires_grad=True)
    L = _torch_risk(p, K @ Q.T)
    L.backward()
    sq = float(torch.sum(K.grad ** 2) + torch.sum(Q.grad ** 2))
    eta = 0.5 * float(L.detach()) / sq
    np.testing.assert_allclose(res.params["K"][0], K0[0] - eta * K.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(res.params["Q"][0], Q0[0] - eta * Q.grad.numpy(), rtol=1e-12)


def test_signgd_survives_saturation_through_the_scaled_gradient() -> None:
    """Far into saturation the true gradient underflows to 0; normalized SignGD (scale
    invariant) still moves by eta per entry, the steepest form (true gradient) does not."""
    p = paper_family(3, 4, 5, 6)
    W0 = 1e4 * uniform_init((1, 5, 5), 1)
    assert np.all(_torch_grad(p, W0[0])[1] == 0)
    moved = train_W(p.X, p.Y, p.Z, p.v, W0, steps=1, lr=0.1, rule=SignGD())
    still = train_W(p.X, p.Y, p.Z, p.v, W0, steps=1, lr=0.1, rule=SignGD(False))
    assert np.max(np.abs(moved.params["W"] - W0)) == pytest.approx(0.1)
    np.testing.assert_array_equal(still.params["W"], W0)


def test_adam_zero_gradient_with_zero_eps_is_a_zero_step_and_bad_settings_are_refused() -> None:
    out = Adam(eps=0.0)({"W": np.ones((1, 2, 2))}, {"W": np.zeros((1, 2, 2))}, it=0, eta=1.0,
                        risk=np.zeros(1), ndim=NDIM)
    np.testing.assert_array_equal(out["W"], 1.0)
    for kw, field in (({"beta1": 1.0}, "beta1"), ({"beta2": -0.1}, "beta2"),
                      ({"eps": -1.0}, "eps")):
        with pytest.raises(ProblemError) as exc:
            Adam(**kw)
        assert exc.value.field == field
    with pytest.raises(ProblemError):
        Polyak(float("nan"))
    with pytest.raises(ProblemError):
        SignGD("yes")  # type: ignore[arg-type]
