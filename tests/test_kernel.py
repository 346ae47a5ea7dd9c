"""The fused normalized-GD kernel (attention.kernel) against the generic descent loop.

The generic path is ``descend`` over ``gradients.grad_W``; passing an identity projection to
``train_W`` keeps it (the kernel does not take projections), so both run on the same inputs.
The kernel has two implementations, numba-compiled (``kernel_numba``, the default when numba is
importable) and numpy (the fallback): both are checked, against the generic path and against
each other.
"""

from __future__ import annotations

from unittest import mock

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
HAS_NUMBA = kernel.numba_kernel() is not None
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(
    not HAS_NUMBA, reason="numba not installed"))]


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


def as_result(run: kernel.KernelRun) -> TrainResult:
    """A kernel run in ``train_W``'s result type (what ``assert_same`` compares)."""
    return TrainResult(params={"W": run.W}, checkpoints=run.checkpoints,
                       history={"W": run.history}, risk=run.risk, probs=run.probs,
                       selected=run.probs.argmax(axis=-1))


def kernel_result(inst: dict, backend: str, W0: np.ndarray | None = None) -> TrainResult:
    """``kernel.normalized_gd_W`` on an instance of ``instances`` with the given backend."""
    X, Y, Z, v, W = inst["args"]
    kw = dict(inst["kw"])
    return as_result(kernel.normalized_gd_W(X, Y, Z, v, W if W0 is None else W0,
                                            loss=get_loss(kw.pop("loss")), backend=backend,
                                            **kw))


NUMBA_W_FORM = pytest.param("numba-W-form", marks=pytest.mark.skipif(
    not HAS_NUMBA, reason="numba not installed"))


@pytest.mark.parametrize("backend", [*BACKENDS, NUMBA_W_FORM])
def test_paper_family_per_run_and_shared_equal_generic_path(backend: str, monkeypatch) -> None:
    """The paper's family (n = 6, d = 10: the compiled kernel takes its Gram form; also forced
    into its W form), per-run and shared data, against the generic path."""
    if backend == "numba-W-form":
        from attnsvm.reference.attention import kernel_numba

        monkeypatch.setattr(kernel_numba, "gram_form_pays", lambda n, dz: False)
        backend = "numba"
    S = stack_problems([paper_family(6, 8, 10, seed) for seed in range(5)])
    W0 = uniform_init((5, 10, 10), seed=3)
    for data in ((S["X"], S["Y"], S["Z"], S["v"]), (S["X"][0], S["Y"][0], S["Z"][0], S["v"][0])):
        kw = {"steps": 200, "lr": 0.1, "checkpoints": [0, 10, 100]}
        inst = {"args": (*data, W0), "kw": {**kw, "loss": "logistic"}}
        assert_same(kernel_result(inst, backend), generic(*data, W0, **kw))


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
@settings(max_examples=25, deadline=None)
@given(instances(), st.integers(1, 70), st.booleans())
def test_numba_and_numpy_kernels_agree(inst: dict, runs: int, gram: bool) -> None:
    """Both implementations, on the same instances (B up to 70: several SIMD groups and
    padding lanes; the compiled kernel in its Gram form and in its W form), agree to 1e-12
    unless the numpy kernel itself moves by more than 1e-12 when W0 moves by 1e-14."""
    from attnsvm.reference.attention import kernel_numba

    X, Y, Z, v, W0 = inst["args"]
    W0 = np.concatenate([W0] * -(-runs // W0.shape[0]))[:runs] if W0.shape[0] < runs else W0
    B = W0.shape[0]
    grow = [a if a.ndim == core else np.resize(a, (B, *a.shape[1:]))
            for a, core in ((X, 3), (Y, 1), (Z, 2), (v, 1))]
    inst = {"args": (*grow, W0), "kw": inst["kw"]}
    ref = kernel_result(inst, "numpy")
    nudge = 1e-14 * np.random.default_rng(0).standard_normal(W0.shape)
    moved = kernel_result(inst, "numpy", W0 + nudge)
    assume(max(relative_gap(moved, ref), float(np.max(np.abs(moved.risk - ref.risk))),
               float(np.max(np.abs(moved.probs - ref.probs)))) < 1e-12)
    with mock.patch.object(kernel_numba, "gram_form_pays", lambda n, dz: gram):
        assert_same(kernel_result(inst, "numba"), ref)


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
def test_compiled_exp_within_one_ulp() -> None:
    """``kernel_numba._exp_flat`` (the fast path's vectorised exp) against numpy's exp on its
    domain [-708, 709]: within 1 ulp (relative 2.3e-16), exactly 1 at 0, 0 below -708, NaN
    for NaN."""
    from attnsvm.reference.attention import kernel_numba

    x = np.concatenate([np.linspace(-708.0, 709.0, 200_001), -np.logspace(-300, 2.8, 2000),
                        [0.0, -0.0, -750.0, np.nan]])
    out = np.empty_like(x)
    kernel_numba._exp_flat(x, out, np.empty_like(x))
    ref = np.exp(x[:-4])
    assert float(np.max(np.abs(out[:-4] - ref) / ref)) <= 1.01 * np.finfo(float).eps
    assert out[-4] == 1.0 and out[-3] == 1.0 and out[-2] == 0.0 and np.isnan(out[-1])


@pytest.mark.skipif(not HAS_NUMBA, reason="numba not installed")
@pytest.mark.parametrize("shared", [False, True])
def test_compiled_squared_norm_survives_cancellation(shared: bool) -> None:
    """The compiled kernel never forms G = sum_i u_i z_i^T: ||G||_F^2 is sum_ij K_ij u_i . u_j.
    Lanes where that Gram form cancels (here u_2 = -u_1 + 1e-9, u_3 = 0, z_1 = z_2) are
    recomputed from G itself, the others keep the Gram form: both stay within the forward-error
    bound of forming G directly, |d ||G||^2| <= 2 ||G|| n eps ||sum_i |u_i| |z_i|^T||, which
    the Gram form alone misses by orders of magnitude in the cancelling lanes."""
    from attnsvm.reference.attention import kernel_numba

    rng = np.random.default_rng(7)
    n, d, dz, R = 3, 5, 4, 16
    z = rng.standard_normal((n, dz))
    z[1] = z[0]
    u = rng.standard_normal((n, d, R))
    u[1, :, : R // 2] = -u[0, :, : R // 2] + 1e-9 * rng.standard_normal((d, R // 2))
    u[2, :, : R // 2] = 0.0
    Z = z if shared else np.ascontiguousarray(np.repeat(z[..., None], R, axis=-1))
    K = z @ z.T if shared else np.ascontiguousarray(np.repeat((z @ z.T)[..., None], R, -1))
    ss, sabs = np.empty(R), np.empty(R)
    kernel_numba._squared_norms(Z, K, u, np.empty(R), ss, sabs, np.empty((dz, d)))
    G = (u[0] + u[1])[None] * z[0][:, None, None] + u[2][None] * z[2][:, None, None]  # exact sum
    exact = np.sum(G**2, axis=(0, 1))
    scale = np.linalg.norm(np.einsum("iar,ik->kar", np.abs(u), np.abs(z)), axis=(0, 1))
    bound = 2.0 * np.sqrt(exact) * n * np.finfo(float).eps * scale + 4 * np.finfo(float).eps * exact
    gram = np.einsum("ij,iar,jar->r", z @ z.T, u, u)
    assert np.all(np.abs(gram - exact)[: R // 2] > 100 * bound[: R // 2])  # the Gram form fails
    assert np.all(np.abs(ss - exact) <= bound)


@pytest.mark.parametrize("backend", BACKENDS)
def test_tied_values_give_exactly_zero_steps(backend: str) -> None:
    """Every token of every input the same: logits and values tie exactly, the softmax is
    uniform, the gradient is exactly zero and so is every step (in every run, any B)."""
    rng = np.random.default_rng(5)
    X = np.repeat(rng.standard_normal((3, 1, 4)), 5, axis=1)  # (n, T, d), tokens repeated
    W0 = uniform_init((9, 4, 4), seed=2)
    inst = {"args": (X, np.array([1.0, -1.0, 1.0]), rng.standard_normal((3, 4)),
                     rng.standard_normal(4), W0), "kw": {"steps": 5, "lr": 0.1,
                                                         "loss": "logistic",
                                                         "checkpoints": None}}
    res = kernel_result(inst, backend)
    np.testing.assert_array_equal(res.params["W"], W0)
    np.testing.assert_array_equal(res.probs, np.full((9, 3, 5), 0.2))


def test_without_numba_the_numpy_kernel_runs(monkeypatch) -> None:
    """``backend="auto"`` falls back to numpy when numba is not importable (and for a loss
    that is not a built-in one); ``backend="numba"`` then says what is missing."""
    p = paper_family(3, 4, 5, 0)
    W0 = uniform_init((2, 5, 5), seed=1)
    loss = get_loss("logistic")
    ref = kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, W0, steps=20, lr=0.1, loss=loss,
                                 backend="numpy")
    monkeypatch.setattr(kernel, "numba_kernel", lambda: None)
    run = kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, W0, steps=20, lr=0.1, loss=loss)
    np.testing.assert_array_equal(run.history, ref.history)
    with pytest.raises(ImportError, match="numba"):
        kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, W0, steps=2, lr=0.1, loss=loss,
                               backend="numba")


@pytest.mark.parametrize("backend", BACKENDS)
def test_deep_saturation_takes_the_log_space_path_and_stays_exact(backend: str) -> None:
    """||W|| ~ 1e4: logit gaps far beyond 745, exp(L - max) underflows for every runner-up, the
    fast path's gradient vanishes and each step is recomputed in log space; steps keep length
    eta (to the round-off of differencing 1e4-sized iterates) and equal the generic path's."""
    p = paper_family(3, 4, 5, 0)
    W0 = 1e4 * uniform_init((2, 5, 5), seed=1)
    run = kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, W0, steps=30, lr=0.5,
                                 loss=get_loss("logistic"), checkpoints=list(range(31)),
                                 backend=backend)
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
