"""Tests of the generalization reference code (attention.generalization: selection margins and
the margin bound; attention.planted: the SNR parameterization) and of the trained-LSA part of
related.icl (von Oswald et al., arXiv 2212.07677, Sec. 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention import generalization as gz
from attnsvm.reference.attention.planted import planted_split, signal_strength
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related import icl


def _random_problem(seed: int, n: int, T: int, d: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, d))
    Y = rng.choice([-1.0, 1.0], size=n)
    Z = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    W = rng.standard_normal((d, d))
    return X, Y, W, Z, v


# ------------------------------------------------------------------------- selection margins
@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 12), st.integers(2, 6), st.integers(1, 5),
       st.floats(0.01, 100.0))
def test_margin_decides_the_hardmax_error_and_is_homogeneous(seed, n, T, d, c) -> None:
    """The hardmax classifier errs iff m <= 0 (no good token beats every bad one), and
    m(cW) = c m(W) for c > 0 (only W / ||W|| matters)."""
    X, Y, W, Z, v = _random_problem(seed, n, T, d)
    m = gz.selection_margins(X, Y, W, Z, v)
    err = gz.hardmax_errors(X, Y, W, Z, v)
    assert np.array_equal(err, m <= 0)
    mc = gz.selection_margins(X, Y, c * W, Z, v)
    finite = np.isfinite(m)
    np.testing.assert_allclose(mc[finite], c * m[finite], rtol=1e-12, atol=1e-12)
    assert np.array_equal(mc[~finite], m[~finite])


def test_margin_is_infinite_when_every_or_no_token_is_good() -> None:
    X = np.array([[[1.0, 0.0], [2.0, 1.0]], [[-1.0, 0.0], [-2.0, 1.0]]])
    Y = np.array([1.0, 1.0])
    v = np.array([1.0, 0.0])
    m = gz.selection_margins(X, Y, np.eye(2), np.ones((2, 2)), v)
    assert m[0] == np.inf and m[1] == -np.inf


def test_margin_bound_terms_follow_the_stated_formula() -> None:
    X, Y, W, Z, v = _random_problem(3, 40, 3, 4)
    mb = gz.margin_bound(X, Y, W, Z, v, delta=0.1, levels=12, rho_max=8.0)
    n = len(Y)
    m = gz.selection_margins(X, Y, W / np.linalg.norm(W), Z, v)
    S = math.sqrt(sum(float(X[i, t] @ X[i, t]) * float(Z[i] @ Z[i])
                      for i in range(n) for t in range(3)))
    values = []
    for j in range(12):
        rho = 8.0 * 2.0 ** (-j)
        ramp = np.mean(np.clip(1 - m / rho, 0, 1))
        values.append(ramp + 4 * S / (rho * n)
                      + 3 * math.sqrt((math.log(2 / 0.1) + (j + 1) * math.log(2)) / (2 * n)))
    assert mb.bound == pytest.approx(min(values), rel=1e-12)
    assert mb.bound == pytest.approx(mb.ramp_loss + mb.complexity + mb.confidence, rel=1e-12)
    assert mb.rho in mb.grid and len(mb.grid) == 12
    assert mb.train_margin_error == pytest.approx(float(np.mean(m <= 0)))
    # the bound only depends on W's direction
    assert gz.margin_bound(X, Y, 7.0 * W, Z, v, delta=0.1, levels=12, rho_max=8.0).bound == \
        pytest.approx(mb.bound, rel=1e-12)


def test_margin_bound_rejects_bad_input() -> None:
    X, Y, W, Z, v = _random_problem(0, 5, 2, 3)
    with pytest.raises(ProblemError) as e:
        gz.margin_bound(X, Y, 0 * W, Z, v, delta=0.05, levels=3, rho_max=1.0)
    assert e.value.field == "W"
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(ProblemError) as e:
            gz.margin_bound(X, Y, W, Z, v, delta=bad, levels=3, rho_max=1.0)
        assert e.value.field == "delta"
    with pytest.raises(ProblemError) as e:
        gz.margin_bound(X, Y, W, Z, v, delta=0.05, levels=0, rho_max=1.0)
    assert e.value.field == "levels"
    with pytest.raises(ProblemError) as e:
        gz.margin_bound(X, Y, W, Z, v, delta=0.05, levels=3, rho_max=0.0)
    assert e.value.field == "rho_max"


def test_spearman_by_the_rank_formula_with_and_without_ties() -> None:
    a = np.array([0.3, 0.1, 0.5, 0.2, 0.9])
    b = np.array([1.0, 3.0, 0.5, 2.0, 0.1])
    ra, rb = np.array([3, 1, 4, 2, 5]), np.array([3, 5, 2, 4, 1])
    n = 5
    assert gz.spearman(a, b) == pytest.approx(1 - 6 * np.sum((ra - rb) ** 2) / (n * (n * n - 1)))
    assert gz.spearman(a, -a) == pytest.approx(-1.0)
    t = np.array([0.0, 0.0, 1.0, 2.0])
    r = np.array([1.5, 1.5, 3.0, 4.0]) - 2.5
    s = np.array([4.0, 3.0, 2.0, 1.0]) - 2.5
    assert gz.spearman(t, -np.arange(4.0)) == pytest.approx(r @ s / np.sqrt((r @ r) * (s @ s)))
    assert math.isnan(gz.spearman(a, np.ones(5)))
    with pytest.raises(ProblemError):
        gz.spearman(a, b[:3])


# ------------------------------------------------------------------------- the planted family
def test_snr_parameterization_and_clean_labels() -> None:
    sigma, d = 0.3, 16
    mu = signal_strength(2.0, d, sigma)
    assert math.hypot(mu, mu) / (sigma * math.sqrt(d)) == pytest.approx(2.0)
    sp = planted_split(30, 20, 4, d, 5, snr=2.0, eta=0.25, sigma=sigma)
    rows = np.arange(30)
    sig = sp.train.X[rows, sp.signal_train]
    np.testing.assert_allclose(sig[:, 1], mu)
    np.testing.assert_allclose(np.abs(sig[:, 0]), mu)
    # the signal's sign is the clean label; the observed label is it flipped where flipped
    np.testing.assert_array_equal(np.sign(sig[:, 0]), sp.clean_train)
    np.testing.assert_array_equal(sp.clean_train * np.where(sp.flipped_train, -1, 1),
                                  sp.train.Y)
    again = planted_split(30, 20, 4, d, 5, snr=2.0, eta=0.25, sigma=sigma)
    np.testing.assert_array_equal(again.test.X, sp.test.X)
    with pytest.raises(ProblemError) as e:
        planted_split(3, 3, 2, 4, 0, snr=-1.0)
    assert e.value.field == "snr"


# ---------------------------------------------------------------------------- the trained LSA
def _weights(seed: int, d: int) -> icl.LSAWeights:
    rng = np.random.default_rng(seed)
    return icl.LSAWeights(*(rng.standard_normal((d + 1, d + 1)) for _ in range(4)))


def test_batched_lsa_agrees_with_the_layer_and_gd() -> None:
    rng = np.random.default_rng(0)
    d, N = 4, 7
    xs, ys, xq, yq = icl.regression_tasks(rng, 6, N, d)
    w = _weights(1, d)
    ref = [icl.lsa_prediction(xs[b], ys[b], xq[b], w)[0] for b in range(6)]
    np.testing.assert_allclose(icl.lsa_predictions(w, xs, ys, xq), ref, rtol=1e-12,
                               atol=1e-12)
    # the layer is linear in x_q: the sensitivity is the finite difference, exactly
    sens = icl.lsa_sensitivities(w, xs, ys)
    for k in range(d):
        e = np.zeros(d)
        e[k] = 1.0
        diff = icl.lsa_predictions(w, xs, ys, xq + e) - icl.lsa_predictions(w, xs, ys, xq)
        np.testing.assert_allclose(diff, sens[:, k], rtol=1e-10, atol=1e-10)
    eta = 0.7
    gd = [icl.gd_step(xs[b], ys[b], eta)[0] @ xq[b] for b in range(6)]
    np.testing.assert_allclose(icl.gd_predictions(xs, ys, xq, eta), gd, rtol=1e-12)
    # the construction's layer is GD, and its invariants are eta/N I with no even terms
    c = icl.constructed_weights(d, 1, eta, N)
    np.testing.assert_allclose(icl.lsa_predictions(c, xs, ys, xq), gd, rtol=1e-12)
    eff = icl.effective_weights(c, d)
    np.testing.assert_allclose(eff.M, eta / N * np.eye(d), atol=1e-15)
    assert eff.nuisance == 0.0


def test_best_gd_eta_minimises_the_one_step_error() -> None:
    xs, ys, xq, yq = icl.regression_tasks(np.random.default_rng(2), 500, 10, 5)
    eta = icl.best_gd_eta(xs, ys, xq, yq)

    def mse(e: float) -> float:
        return float(np.mean((icl.gd_predictions(xs, ys, xq, e) - yq) ** 2))

    assert mse(eta) < mse(eta * 1.01) and mse(eta) < mse(eta * 0.99)


@settings(max_examples=10, deadline=None)
@given(st.integers(0, 1000), st.floats(0.1, 10.0))
def test_lsa_symmetries_leave_predictions_and_invariants(seed: int, c: float) -> None:
    """W_K -> A W_K, W_Q -> A^{-T} W_Q; P -> P B^{-1}, W_V -> B W_V; and the scale trade between
    K and PV change neither the predictions nor the invariant M (module docstring)."""
    d = 3
    rng = np.random.default_rng(seed)
    w = _weights(seed + 1, d)
    A = rng.standard_normal((d + 1, d + 1)) + 3 * np.eye(d + 1)
    B = rng.standard_normal((d + 1, d + 1)) + 3 * np.eye(d + 1)
    u = icl.LSAWeights(c * A @ w.WK, np.linalg.inv(A).T @ w.WQ, B @ w.WV,
                       w.P @ np.linalg.inv(B) / c)
    xs, ys, xq, _ = icl.regression_tasks(rng, 5, 6, d)
    np.testing.assert_allclose(icl.lsa_predictions(u, xs, ys, xq),
                               icl.lsa_predictions(w, xs, ys, xq), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(icl.effective_weights(u, d).M, icl.effective_weights(w, d).M,
                               rtol=1e-8, atol=1e-8)


def test_lsa_gradient_matches_autograd() -> None:
    torch = pytest.importorskip("torch")
    d, N, B = 3, 5, 4
    w = _weights(4, d)
    xs, ys, xq, yq = icl.regression_tasks(np.random.default_rng(5), B, N, d)
    loss, grads = icl.lsa_loss_and_grads(w, xs, ys, xq, yq)
    T = {k: torch.tensor(getattr(w, k), requires_grad=True) for k in ("WK", "WQ", "WV", "P")}
    preds = []
    for b in range(B):
        E = torch.tensor(icl.tokens(xs[b], ys[b], xq[b]))
        C = E[:N]
        S = (C @ T["WK"].T) @ (E @ T["WQ"].T).T
        out = E + (S.T @ C) @ (T["P"] @ T["WV"]).T
        preds.append(-out[-1, d])
    ref = torch.mean((torch.stack(preds) - torch.tensor(yq)) ** 2)
    ref.backward()
    assert loss == pytest.approx(float(ref.detach()), rel=1e-12)
    for k, t in T.items():
        np.testing.assert_allclose(grads[k], t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_train_lsa_is_seeded_and_learns() -> None:
    a = icl.train_lsa(3, 8, steps=40, batch=64, lr=0.05, seed=3, init_scale=0.1)
    b = icl.train_lsa(3, 8, steps=40, batch=64, lr=0.05, seed=3, init_scale=0.1)
    np.testing.assert_array_equal(a.weights.WK, b.weights.WK)
    assert a.losses.shape == (40,)
    assert np.mean(a.losses[-10:]) < np.mean(a.losses[:10])
    with pytest.raises(ProblemError) as e:
        icl.train_lsa(3, 8, steps=0, batch=64, lr=0.05, seed=3, init_scale=0.1)
    assert e.value.field == "steps"
