"""The fused normalized-GD kernel (attention.kernel) against the generic descent loop.

The generic path is ``descend`` over ``gradients.grad_W``; passing an identity projection to
``train_W`` keeps it (the kernel does not take projections), so both run on the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from attnsvm.reference.attention import kernel
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.losses import get_loss
from attnsvm.reference.attention.models import ReLUHead
from attnsvm.reference.attention.training import TrainResult, train_W, uniform_init

RTOL = 1e-12


def generic(*args, **kw) -> TrainResult:
    """train_W on the generic path (an identity projection disables the kernel)."""
    return train_W(*args, project=lambda p: p, **kw)


def relative_gap(a: TrainResult, b: TrainResult) -> float:
    """Largest difference of the iterate histories, relative to the largest entry (or 1)."""
    scale = max(float(np.max(np.abs(b.history["W"]))), 1.0)
    return float(np.max(np.abs(a.history["W"] - b.history["W"]), initial=0.0)) / scale


def assert_same(fast: TrainResult, ref: TrainResult, tol: float = RTOL) -> None:
    """Same checkpoints and shapes; iterates, history, risk, probabilities equal to ``tol``
    (iterates relative to their largest entry, at least 1)."""
    np.testing.assert_array_equal(fast.checkpoints, ref.checkpoints)
    scale = max(float(np.max(np.abs(ref.history["W"]))), 1.0)
    assert fast.params["W"].shape == ref.params["W"].shape
    assert fast.history["W"].shape == ref.history["W"].shape
    np.testing.assert_allclose(fast.params["W"], ref.params["W"], rtol=tol, atol=tol * scale)
    np.testing.assert_allclose(fast.history["W"], ref.history["W"], rtol=tol, atol=tol * scale)
    assert fast.risk.shape == ref.risk.shape and fast.probs.shape == ref.probs.shape
    np.testing.assert_allclose(fast.risk, ref.risk, rtol=tol, atol=tol)
    np.testing.assert_allclose(fast.probs, ref.probs, rtol=tol, atol=tol)


def sensitivity(inst: dict, ref: TrainResult) -> float:
    """How far the generic path itself moves when W0 moves by 1e-14: the largest gap in the
    iterates (relative), risk or probabilities. Normalized GD with a constant step bouncing
    around a finite minimiser of non-separable data amplifies round-off by many orders of
    magnitude; there no two implementations can agree to 1e-12."""
    X, Y, Z, v, W0 = inst["args"]
    nudge = 1e-14 * np.random.default_rng(0).standard_normal(W0.shape)
    moved = generic(X, Y, Z, v, W0 + nudge, **inst["kw"])
    return max(relative_gap(moved, ref), float(np.max(np.abs(moved.risk - ref.risk))),
               float(np.max(np.abs(moved.probs - ref.probs))))


@st.composite
def instances(draw) -> dict:
    """Shapes, data sharing, losses, scales (up to saturation), ties and checkpoints."""
    n, T, d, dz, B = (draw(st.integers(1, 5)), draw(st.integers(1, 6)), draw(st.integers(1, 5)),
                      draw(st.integers(1, 5)), draw(st.integers(1, 4)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_run = {k: draw(st.booleans()) for k in ("X", "Y", "Z", "v")}
    lead = {k: ((B,) if per_run[k] else ()) for k in per_run}
    scale = draw(st.sampled_from([1.0, 1.0, 8.0, 40.0]))  # 40: the softmax saturates
    X = scale * rng.standard_normal((*lead["X"], n, T, d))
    if draw(st.booleans()) and T > 1:  # a token repeated: tied logits and tied values
        X[..., -1, :] = X[..., 0, :]
    Y = rng.choice([-1.0, 1.0], size=(*lead["Y"], n))
    Z = rng.standard_normal((*lead["Z"], n, dz))
    v = rng.standard_normal((*lead["v"], d))
    W0 = (np.zeros((B, d, dz)) if draw(st.booleans())  # all logits tied at the start
          else uniform_init((B, d, dz), int(rng.integers(1 << 30))))
    checkpoints = draw(st.one_of(st.none(), st.lists(st.integers(-5, 260), max_size=6)))
    loss = draw(st.sampled_from(["logistic", "logistic", "exponential", "correlation"]))
    lr = draw(st.sampled_from([0.1, 0.1, 1.0]))
    return {"args": (X, Y, Z, v, W0), "kw": {"steps": 200, "lr": lr, "loss": loss,
                                             "checkpoints": checkpoints}}


@settings(max_examples=12, deadline=None)
@given(instances())
def test_kernel_equals_generic_path_at_200_steps(inst: dict) -> None:
    X, Y, Z, v, W0 = inst["args"]
    assert kernel.kernel_applies(X, Y, Z, v, W0)
    ref = generic(*inst["args"], **inst["kw"])
    assume(sensitivity(inst, ref) < 1e-12)  # round-off amplified at most ~100x by 200 steps
    assert_same(train_W(*inst["args"], **inst["kw"]), ref)


def test_paper_family_per_run_and_shared_equal_generic_path() -> None:
    S = stack_problems([paper_family(6, 8, 10, seed) for seed in range(5)])
    W0 = uniform_init((5, 10, 10), seed=3)
    for data in ((S["X"], S["Y"], S["Z"], S["v"]), (S["X"][0], S["Y"][0], S["Z"][0], S["v"][0])):
        kw = {"steps": 200, "lr": 0.1, "checkpoints": [0, 10, 100]}
        assert_same(train_W(*data, W0, **kw), generic(*data, W0, **kw))


def test_deep_saturation_takes_the_log_space_path_and_stays_exact() -> None:
    """||W|| ~ 1e4: logit gaps far beyond 745, exp(L - max) underflows for every runner-up, the
    fast path's gradient vanishes and each step is recomputed in log space; steps keep length
    eta (to the round-off of differencing 1e4-sized iterates) and equal the generic path's."""
    p = paper_family(3, 4, 5, 0)
    W0 = 1e4 * uniform_init((2, 5, 5), seed=1)
    run = kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, W0, steps=30, lr=0.5,
                                 loss=get_loss("logistic"), checkpoints=list(range(31)))
    assert run.exact_steps == 30
    steps = np.linalg.norm(np.diff(run.history, axis=1), axis=(2, 3))
    np.testing.assert_allclose(steps, 0.5, rtol=1e-10)
    ref = generic(p.X, p.Y, p.Z, p.v, W0, steps=30, lr=0.5, checkpoints=range(31))
    np.testing.assert_allclose(run.history, ref.history["W"], rtol=RTOL, atol=RTOL * 1e4)


def test_dispatch_only_for_plain_normalized_gd_with_a_linear_head(monkeypatch) -> None:
    calls = []
    real = kernel.normalized_gd_W
    monkeypatch.setattr(kernel, "normalized_gd_W", lambda *a, **k: calls.append(1) or real(*a, **k))
    p = paper_family(3, 4, 5, 0)
    W0 = uniform_init((2, 5, 5), seed=1)
    train_W(p.X, p.Y, p.Z, p.v, W0, steps=3)
    assert len(calls) == 1
    for kw in ({"normalized": False}, {"ngd_eps": 1e-9}, {"lr_schedule": lambda it: 1.0},
               {"project": lambda q: q}):
        train_W(p.X, p.Y, p.Z, p.v, W0, steps=3, **kw)
    train_W(p.X, p.Y, p.Z, ReLUHead(np.ones((5, 2))), W0, steps=3)
    big = 1e150 * p.X  # logits that may overflow: the generic evaluation order decides
    assert not kernel.kernel_applies(big, p.Y, p.Z, p.v, W0)
    train_W(big, p.Y, p.Z, p.v, W0, steps=3)
    assert len(calls) == 1


@pytest.mark.parametrize("steps", [0, 1])
def test_no_or_one_step_and_zero_gradient(steps: int) -> None:
    """T = 1: the softmax is constant, the gradient is exactly zero and so is every step."""
    X = np.ones((2, 1, 3))
    res = train_W(X, np.ones(2), np.ones((2, 3)), np.ones(3), np.ones((2, 3, 3)), steps=steps)
    np.testing.assert_array_equal(res.params["W"], np.ones((2, 3, 3)))
    assert_same(res, generic(X, np.ones(2), np.ones((2, 3)), np.ones(3), np.ones((2, 3, 3)),
                             steps=steps))
