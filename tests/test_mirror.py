"""p-norm mirror descent (reference.attention.mirror, arXiv 2410.14581) against independent
implementations: a scalar loop with Python's math, torch autograd for the gradient through the
trainer, and GD / normalized GD at p = 2."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.mirror import (
    MirrorDescent,
    dual_norm,
    inverse_mirror_map,
    mirror_map,
    mirror_step,
)
from attnsvm.reference.attention.training import train_W, uniform_init
from attnsvm.reference.errors import ProblemError

NDIM = {"W": 2}


def _loop_step(W: np.ndarray, G: np.ndarray, eta: float, p: float, normalized: bool):
    """W⁺_ij = sign(u)|u|^{1/(p-1)}, u = sign(W_ij)|W_ij|^{p-1} - eta G_ij (G / ||G||_q per run),
    one entry at a time in Python floats."""
    out = np.empty_like(W)
    q = p / (p - 1)
    for b in range(W.shape[0]):
        scale = 1.0
        if normalized:
            norm = sum(abs(float(g)) ** q for g in G[b].ravel()) ** (1 / q)
            scale = 1.0 / norm if norm > 0 else 0.0
        for i in range(W.shape[1]):
            for j in range(W.shape[2]):
                w, g = float(W[b, i, j]), float(G[b, i, j]) * scale
                u = math.copysign(abs(w) ** (p - 1), w) - eta * g
                out[b, i, j] = math.copysign(abs(u) ** (1 / (p - 1)), u)
    return out


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1.05, 6.0), st.floats(0.001, 1.0), st.booleans())
def test_step_matches_a_scalar_loop(seed: int, p: float, eta: float, normalized: bool) -> None:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(3, 4, 5)) * 10.0 ** rng.uniform(-2, 2)
    W[0, 0, 0] = 0.0  # the mirror map's fixed point 0
    G = rng.normal(size=W.shape) * 10.0 ** rng.uniform(-3, 3)
    got = MirrorDescent(p, normalized=normalized)({"W": W}, {"W": G}, it=0, eta=eta,
                                                  risk=np.zeros(3), ndim=NDIM)["W"]
    np.testing.assert_allclose(got, _loop_step(W, G, eta, p, normalized), rtol=1e-11,
                               atol=1e-300)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1.05, 8.0))
def test_mirror_maps_are_inverse_and_dual_norm_is_holder(seed: int, p: float) -> None:
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(2, 3, 3)) * 10.0 ** rng.uniform(-3, 3)
    np.testing.assert_allclose(inverse_mirror_map(mirror_map(W, p), p), W, rtol=1e-12)
    q = p / (p - 1)
    n = dual_norm(W, p)[:, 0, 0]
    want = [np.linalg.norm(w.ravel(), ord=q) for w in W]
    np.testing.assert_allclose(n, want, rtol=1e-12)


def _torch_risk(p, W: torch.Tensor) -> torch.Tensor:
    """L(W) = mean_i log(1 + exp(-Y_i v^T X_i^T softmax(X_i W z_i))), written out in torch."""
    X, Y, Z, v = (torch.tensor(a) for a in (p.X, p.Y, p.Z, p.v))
    s = torch.softmax(torch.einsum("ntd,de,ne->nt", X, W, Z), dim=-1)
    f = torch.einsum("nt,ntd,d->n", s, X, v)
    return torch.nn.functional.softplus(-Y * f).mean()


@pytest.mark.parametrize("normalized", [False, True])
@pytest.mark.parametrize("pp", [1.3, 2.0, 3.5])
def test_trainer_steps_match_autograd_mirror_descent(pp: float, normalized: bool) -> None:
    """Three trainer steps against a torch loop: autograd gradient, mirror step written in torch."""
    prob = paper_family(3, 4, 5, 7)
    W0 = uniform_init((1, 5, 5), 3)
    res = train_W(prob.X, prob.Y, prob.Z, prob.v, W0, steps=3, lr=0.5,
                  checkpoints=[0, 1, 2, 3], rule=MirrorDescent(pp, normalized=normalized))
    W = torch.tensor(W0[0])
    q = pp / (pp - 1)
    for k in range(3):
        Wt = W.clone().requires_grad_(True)
        _torch_risk(prob, Wt).backward()
        g = Wt.grad
        if normalized:
            g = g / torch.linalg.vector_norm(g, ord=q)
        u = torch.sign(W) * W.abs() ** (pp - 1) - 0.5 * g
        W = torch.sign(u) * u.abs() ** (1 / (pp - 1))
        np.testing.assert_allclose(res.history["W"][0, k + 1], W.numpy(), rtol=1e-9, atol=1e-14)


def test_p2_is_gd_and_normalized_gd() -> None:
    prob = paper_family(3, 4, 5, 1)
    W0 = uniform_init((2, 5, 5), 0)
    kw = dict(steps=50, lr=0.1)
    for normalized in (False, True):
        md = train_W(prob.X, prob.Y, prob.Z, prob.v, W0, **kw,
                     rule=MirrorDescent(2.0, normalized=normalized))
        gd = train_W(prob.X, prob.Y, prob.Z, prob.v, W0, **kw, normalized=normalized)
        np.testing.assert_allclose(md.params["W"], gd.params["W"], rtol=1e-12, atol=1e-14)


def test_zero_gradient_gives_no_step_and_bad_p_is_refused() -> None:
    W = np.ones((1, 2, 2))
    np.testing.assert_array_equal(mirror_step(W, np.zeros_like(W), 0.1, 1.5, normalized=True), W)
    for p in (1.0, 0.5, float("inf"), "x"):
        with pytest.raises(ProblemError, match="^p: "):
            MirrorDescent(p)


def test_symbolic_mirror_descent_verifies_and_matches_the_rule() -> None:
    from attnsvm.symbolic.registry import get

    der = get("mirror-descent")
    result = der.verify()
    assert result.holds, [(c.name, c.detail) for c in result.checks if not c.holds]
    assert len(der.latex().splitlines()) == len(der.labelled_statement()) >= 3
    rng = np.random.default_rng(5)
    W, G = rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 3, 3))
    for p in (1.2, 2.0, 4.0):
        np.testing.assert_allclose(der.predicates["md_step"](W, G, 0.3, p),
                                   mirror_step(W, G, 0.3, p), rtol=1e-12, atol=1e-15)
    G1 = rng.normal(size=(3, 3))
    assert der.predicates["mirror_residual"](inverse_mirror_map(G1, 3.0), G1, 3.0) < 1e-12
    assert der.predicates["mirror_residual"](G1, -G1, 3.0) > 1.0
