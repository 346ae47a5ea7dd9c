"""Batched training: equivalence with single runs, update rules, checkpoints, regularization."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attnsvm.properties.strategies import dims, problem_specs
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.gradients import grad_W, risk_W
from attnsvm.reference.attention.models import LinearHead, ReLUHead
from attnsvm.reference.attention.regularization import regularization_path, regularization_path_KQ
from attnsvm.reference.attention.training import (
    correlation,
    log_checkpoints,
    train_KQ,
    train_prompt,
    train_W,
    uniform_init,
)
from attnsvm.reference.errors import ProblemError


@settings(max_examples=10)
@given(st.integers(0, 10**6), st.booleans())
def test_batched_runs_equal_single_runs(seed: int, normalized: bool) -> None:
    probs = [paper_family(3, 4, 5, seed + b) for b in range(4)]
    S = stack_problems(probs)
    W0 = uniform_init((4, 5, 5), seed)
    batched = train_W(S["X"], S["Y"], S["Z"], S["v"], W0, steps=60, lr=0.1, normalized=normalized)
    for b, p in enumerate(probs):
        single = train_W(p.X, p.Y, p.Z, p.v, W0[b], steps=60, lr=0.1, normalized=normalized)
        np.testing.assert_allclose(
            batched.params["W"][b], single.params["W"][0], rtol=1e-12, atol=1e-12
        )
        np.testing.assert_array_equal(batched.selected[b], single.selected[0])


@given(problem_specs("paper", dims(n=(1, 4), T=(2, 6), d=(2, 6))))
def test_normalized_steps_have_length_eta_and_plain_steps_follow_the_gradient(spec) -> None:
    p = spec.build()
    W0 = uniform_init((1, p.d, p.d), spec.seed)
    res = train_W(p.X, p.Y, p.Z, p.v, W0, steps=5, lr=0.1, checkpoints=range(6))
    W = res.history["W"][0]
    steps = np.linalg.norm(np.diff(W, axis=0), axis=(1, 2))
    np.testing.assert_allclose(steps, 0.1, rtol=1e-12)
    # ||W_k - W_0|| <= k eta (symbolic derivation "normalized-gd")
    assert np.all(np.linalg.norm(W - W[0], axis=(1, 2)) <= 0.1 * np.arange(6) + 1e-12)
    plain = train_W(p.X, p.Y, p.Z, p.v, W0, steps=1, lr=0.5, normalized=False)
    g, _ = grad_W(p.X, p.Y, W0[0], p.Z, LinearHead(p.v))
    np.testing.assert_allclose(plain.params["W"][0], W0[0] - 0.5 * g, rtol=1e-13, atol=1e-15)


def test_kq_steps_normalize_each_factor_and_prompt_training_moves_p() -> None:
    p = paper_family(3, 4, 5, 1)
    K0, Q0 = uniform_init((2, 5, 3), 0), uniform_init((2, 5, 3), 1)
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=3, lr=0.2, checkpoints=range(4))
    for name in ("K", "Q"):
        np.testing.assert_allclose(
            np.linalg.norm(np.diff(res.history[name], axis=1), axis=(2, 3)), 0.2, rtol=1e-12
        )
    pr = train_prompt(
        p.X, p.Y, p.v, np.zeros((2, 5)) + 0.01, steps=4, lr=0.1, checkpoints=range(5), train_v=True
    )
    np.testing.assert_allclose(
        np.linalg.norm(np.diff(pr.history["p"], axis=1), axis=2), 0.1, rtol=1e-12
    )
    assert pr.history["v"].shape == (2, 5, 5)


def test_checkpoints_and_outputs_have_documented_shapes() -> None:
    p = paper_family(3, 4, 5, 2)
    cps = log_checkpoints(100)
    res = train_W(p.X, p.Y, p.Z, p.v, uniform_init((2, 5, 5), 0), steps=100, checkpoints=cps)
    assert res.checkpoints[0] == 0 and res.checkpoints[-1] == 100
    assert res.history["W"].shape == (2, len(res.checkpoints), 5, 5)
    assert res.risk.shape == (2, len(res.checkpoints))
    assert res.probs.shape == (2, 3, 4) and res.selected.shape == (2, 3)
    np.testing.assert_allclose(res.history["W"][:, -1], res.params["W"])
    assert np.all(res.min_max_prob <= 1.0) and np.all(res.min_max_prob >= 1.0 / 4)


def test_zero_gradient_gives_zero_step_not_nan() -> None:
    X = np.ones((2, 3, 4))  # all tokens equal: the gradient vanishes identically
    res = train_W(
        X, np.array([1.0, -1.0]), np.ones((2, 4)), np.ones(4), np.zeros((1, 4, 4)), steps=3
    )
    assert np.all(res.params["W"] == 0.0)


def test_nonlinear_head_trains() -> None:
    p = paper_family(3, 4, 4, 3)
    V = np.random.default_rng(0).standard_normal((4, 4))
    res = train_W(
        p.X, p.Y, p.Z, ReLUHead(V / np.linalg.norm(V)), uniform_init((2, 4, 4), 0), steps=50
    )
    assert np.all(np.isfinite(res.params["W"]))


@pytest.mark.parametrize(
    ("kw", "field"), [({"steps": -1}, "steps"), ({"lr": 0.0}, "lr"), ({"lr": float("nan")}, "lr")]
)
def test_bad_schedules_are_rejected(kw: dict, field: str) -> None:
    p = paper_family(2, 3, 3, 0)
    args = {"steps": 5, "lr": 0.1} | kw
    with pytest.raises(ProblemError) as info:
        train_W(p.X, p.Y, p.Z, p.v, np.zeros((3, 3)), **args)
    assert info.value.field == field


def test_regularization_path_respects_constraints_and_beats_random_points() -> None:
    p = paper_family(3, 3, 3, 4)
    pts = regularization_path(p, [1.0, 4.0], starts=4, steps=300)
    rng = np.random.default_rng(0)
    for pt in pts:
        assert np.linalg.norm(pt.W) <= pt.R * (1 + 1e-12)
        rand = rng.standard_normal((50, 3, 3))
        rand *= pt.R / np.linalg.norm(rand, axis=(1, 2), keepdims=True)
        assert pt.loss <= np.min(risk_W(p.X, p.Y, rand, p.Z, LinearHead(p.v))) + 1e-12
    kq = regularization_path_KQ(p, 2.0, starts=3, steps=300)
    assert np.sum(kq.K**2) + np.sum(kq.Q**2) <= 4.0 * (1 + 1e-12)
    np.testing.assert_allclose(kq.W, kq.K @ kq.Q.T)
    assert -1.0 <= correlation(kq.W, pts[-1].W) <= 1.0


def test_correlation_of_matrices_vectors_and_batches() -> None:
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    expected = np.sum(A * B) / np.linalg.norm(A) / np.linalg.norm(B)
    assert abs(correlation(A, B) - expected) < 1e-15
    rows = correlation(A, B, ndim=1)  # a batch of three vectors
    for i in range(3):
        e = A[i] @ B[i] / np.linalg.norm(A[i]) / np.linalg.norm(B[i])
        assert abs(rows[i] - e) < 1e-15
    assert abs(correlation(A[0], -2 * A[0]) + 1) < 1e-15
    assert correlation(np.zeros(4), A[0]) == 0.0
    with pytest.raises(ProblemError):
        correlation(A, B, ndim=3)


def test_normalized_steps_stay_exact_far_past_underflow() -> None:
    """d = 1, three tokens tied in value with the top one and one far below: the true gradient
    underflows once |W| passes ~190 (e^{-2|W|}); the log-space direction and the max-scaled
    norm keep every step at length exactly eta (found by the dev profile of
    agree.ngd-displacement)."""
    X = np.array([[[1.0], [1.0], [1.0], [-1.0]]])
    res = train_W(X, np.array([1.0]), np.array([[-1.0]]), np.array([1.0]),
                  np.full((1, 1, 1), 0.27), steps=300, lr=6.0, checkpoints=range(301))
    steps = np.abs(np.diff(res.history["W"][0].ravel()))
    np.testing.assert_allclose(steps, 6.0, rtol=1e-14)
