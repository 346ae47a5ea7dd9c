"""Tests of the discussion's reference code: related.hopfield (2008.02217), related.icl
(2212.07677) and attention.limits (convex hull, dispersion, log T law), and of their symbolic
derivations."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention import limits as lm
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related import hopfield as hf
from attnsvm.reference.related import icl
from attnsvm.symbolic.registry import get as derivation


def _patterns(seed: int, d: int, N: int, M: float = 1.0) -> np.ndarray:
    G = np.random.default_rng(seed).standard_normal((d, N))
    return M * G / np.linalg.norm(G, axis=0)


# ----------------------------------------------------------------------------------- Hopfield


def test_update_is_the_energy_gradient_step() -> None:
    X = _patterns(0, 6, 5)
    xi, beta = np.random.default_rng(1).standard_normal(6), 1.7
    h = 1e-6
    lse = lambda v: hf.lse(beta, X.T @ v)  # noqa: E731
    grad = np.array([(lse(xi + h * e) - lse(xi - h * e)) / (2 * h) for e in np.eye(6)])
    np.testing.assert_allclose(hf.update(X, xi, beta), grad, atol=1e-8)


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 1000), st.floats(0.05, 60.0), st.floats(0.0, 4.0))
def test_energy_sufficient_decrease(seed: int, beta: float, start: float) -> None:
    X = _patterns(seed, 5, 7, 1.5)
    xi = start * np.random.default_rng(seed + 1).standard_normal(5)
    tr = hf.iterate(X, xi, beta, 10)
    step2 = 0.5 * np.sum(np.diff(tr.states, axis=0) ** 2, axis=1)
    assert np.all(np.diff(tr.energies) + step2 <= 1e-11)


def test_energy_is_bounded_below_by_zero_at_patterns() -> None:
    # E(x_i) >= 0 with the constants of Eq. 2 (lse <= max + log N / beta)
    X = _patterns(2, 4, 6)
    for i in range(6):
        assert hf.energy(X, X[:, i], 3.0) >= -1e-12


def test_retrieval_bound_holds_and_shrinks_with_beta() -> None:
    X = _patterns(0, 32, 6)
    errs, bounds = [], []
    for beta in (5.0, 20.0, 80.0):
        xi = X[:, 0] + 0.5 / (beta * 6) * np.eye(32)[0]
        errs.append(np.linalg.norm(hf.update(X, xi, beta) - X[:, 0]))
        bounds.append(hf.retrieval_bound(X, xi, 0, beta))
    assert all(e <= b + 1e-15 for e, b in zip(errs, bounds, strict=True))
    assert bounds[0] > bounds[1] > bounds[2]


def test_small_beta_converges_to_the_mean() -> None:
    X = _patterns(0, 16, 8)
    star = hf.iterate(X, X[:, 0], 0.05, 100).states[-1]
    assert np.linalg.norm(star - X.mean(axis=1)) < 0.01
    assert hf.effective_patterns(hf.probabilities(X, star, 0.05)) > 7.5


def test_separation_and_errors() -> None:
    X = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert hf.separation(X, 0) == pytest.approx(1.0)
    with pytest.raises(ProblemError):
        hf.update(X, [1.0, 2.0, 3.0], 1.0)
    with pytest.raises(ProblemError):
        hf.update(X, [1.0, 2.0], 0.0)
    with pytest.raises(ProblemError):
        hf.separation(X[:, :1], 0)


# ---------------------------------------------------------------------------------------- ICL


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 1000), st.integers(1, 8), st.integers(1, 30), st.floats(0.01, 3.0))
def test_lsa_equals_one_gd_step(seed: int, d: int, N: int, eta: float) -> None:
    rng = np.random.default_rng(seed)
    xs, q = rng.standard_normal((N, d)), rng.standard_normal(d)
    ys = xs @ rng.standard_normal(d) + 0.1 * rng.standard_normal(N)
    w = icl.constructed_weights(d, 1, eta, N)
    np.testing.assert_allclose(icl.lsa_prediction(xs, ys, q, w), icl.gd_step(xs, ys, eta) @ q,
                               atol=1e-12 * (1 + eta * np.abs(ys).sum() * np.abs(xs @ q).max()))


def test_lsa_keeps_the_context_inputs_and_query_input() -> None:
    rng = np.random.default_rng(0)
    xs, ys, q = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3)
    E = icl.tokens(xs, ys, q)
    out = icl.lsa_layer(E, icl.constructed_weights(3, 1, 0.5, 5), 5)
    np.testing.assert_array_equal(out[:, :3], E[:, :3])


def test_softmax_variant_is_not_the_gd_step() -> None:
    rng = np.random.default_rng(0)
    xs, ys = rng.standard_normal((20, 4)), rng.standard_normal(20)
    w = icl.constructed_weights(4, 1, 0.5, 20)
    qs = rng.standard_normal((6, 4))
    sm = np.array([icl.lsa_prediction(xs, ys, q, w, softmax=True)[0] for q in qs])
    gd = qs @ icl.gd_step(xs, ys, 0.5)[0]
    c = sm @ gd / (sm @ sm)
    assert np.linalg.norm(c * sm - gd) > 0.05 * np.linalg.norm(gd)


def test_gd_step_from_w0() -> None:
    xs, ys = np.eye(2), np.array([1.0, 2.0])
    np.testing.assert_allclose(icl.gd_step(xs, ys, 1.0, W0=[[1.0, 2.0]]), [[1.0, 2.0]])
    with pytest.raises(ProblemError):
        icl.tokens(xs, ys, [1.0, 2.0, 3.0])


# ------------------------------------------------------------------------------------- limits


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 1000), st.floats(-3.0, 5.0))
def test_output_stays_in_the_hull(seed: int, log10_norm: float) -> None:
    rng = np.random.default_rng(seed)
    X, Z, v = rng.standard_normal((3, 7, 4)), rng.standard_normal((3, 4)), rng.standard_normal(4)
    W = 10.0**log10_norm * rng.standard_normal((4, 4))
    assert np.max(lm.hull_violation(X, W, Z, v)) <= 1e-12 * max(1.0, np.abs(X @ v).max())


def test_fit_respects_the_hull_lower_bound() -> None:
    rng = np.random.default_rng(0)
    X, Z, v = rng.standard_normal((3, 4, 3)), rng.standard_normal((3, 3)), rng.standard_normal(3)
    _, hi = lm.hull_interval(X, v)
    fit = lm.fit_squared(X, Z, v, hi + 0.3, steps=100, lr=1.0)
    assert fit.losses[-1] < fit.losses[0]
    assert np.min(fit.losses) >= lm.hull_loss_lower_bound(X, v, hi + 0.3) == pytest.approx(0.045)


def test_fit_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(1)
    X, Z, v = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 2)), rng.standard_normal(2)
    y = rng.standard_normal(2)
    W = rng.standard_normal((2, 2))
    lr = 1e-7
    step = lm.fit_squared(X, Z, v, y, steps=1, lr=lr, W0=W)
    grad = (W - step.W) / lr

    def loss(M: np.ndarray) -> float:
        return 0.5 * float(np.mean((lm.attention_outputs(X, M, Z, v) - y) ** 2))

    h = 1e-6
    fd = np.array([[(loss(W + h * E) - loss(W - h * E)) / (2 * h)
                    for E in (np.outer(a, b) for b in np.eye(2))] for a in np.eye(2)])
    np.testing.assert_allclose(grad, fd, atol=1e-6)


@pytest.mark.parametrize("T", [2, 10, 1000])
def test_dispersion_bound_is_tight_and_the_log_law_inverts_it(T: int) -> None:
    B = 1.3
    u = np.full(T, -B)
    u[0] = B
    assert 1 - lm.nonselected_mass(u, 1.0) == pytest.approx(lm.dispersion_bound(B, T), rel=1e-14)
    Bs = lm.min_logit_bound(T, 0.05) if T > 1 else None
    assert lm.dispersion_bound(Bs, T) == pytest.approx(0.95, rel=1e-12)
    u1 = np.full(T, -1.0)
    u1[0] = 1.0
    assert lm.selection_scale(u1, 0.05, iterations=80) == pytest.approx(Bs, rel=1e-12)


def test_selection_scale_tied_top_is_infinite() -> None:
    assert lm.selection_scale(np.array([1.0, 1.0, 0.0]), 0.1, iterations=10) == float("inf")


# ---------------------------------------------------------------------------------- symbolic


@pytest.mark.parametrize("name", ["hopfield-energy", "icl-gd", "attention-limits"])
def test_derivations_verify(name: str) -> None:
    result = derivation(name).verify()
    assert result.holds, result.details
