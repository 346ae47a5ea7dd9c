"""Tests of related.fast_weights (linear attention = fast weight programmers, 2102.11174)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from related_evidence import RECORD, evidence

from attnsvm.properties import related_checks as rc
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related import fast_weights as fw

ALPHA = RECORD[rc.check_capacity_law].tolerances["alpha"]  # false alarm per statistic

# ----------------------------------------------------------------------------------------------
# strategies

finite = st.floats(-3.0, 3.0, allow_nan=False, allow_infinity=False, width=64)


@st.composite
def qkv(draw, max_L: int = 12, max_d: int = 6, max_dv: int = 4, batch: bool = False):
    """Sequences (Q, K, V) with arbitrary finite entries (hypothesis arrays, zeros included)."""
    L = draw(st.integers(1, max_L))
    d = draw(st.integers(1, max_d))
    dv = draw(st.integers(1, max_dv))
    lead = (draw(st.integers(1, 3)),) if batch else ()
    Q = draw(hnp.arrays(np.float64, lead + (L, d), elements=finite))
    K = draw(hnp.arrays(np.float64, lead + (L, d), elements=finite))
    V = draw(hnp.arrays(np.float64, lead + (L, dv), elements=finite))
    return Q, K, V


@st.composite
def gaussian_qkv(draw, min_d: int = 1, max_d: int = 6, max_L: int = 15):
    """Generic (Gaussian, seeded) sequences: no exact zeros, so DPFP features are nonzero a.s."""
    seed = draw(st.integers(0, 2**32 - 1))
    L = draw(st.integers(1, max_L))
    d = draw(st.integers(min_d, max_d))
    dv = draw(st.integers(1, 4))
    rng = np.random.default_rng(seed)
    return rng.standard_normal((L, d)), rng.standard_normal((L, d)), rng.standard_normal((L, dv))


def naive_linear_attention(Q, K, V, phi, normalize=True):
    """Independent double loop: y_i = sum_{j<=i} (phi(k_j).phi(q_i)) v_j / sum_j (...)."""
    L = Q.shape[0]
    out = np.zeros((L, V.shape[1]))
    for i in range(L):
        fq = phi(Q[i])
        w = np.array([float(phi(K[j]) @ fq) for j in range(i + 1)])
        out[i] = w @ V[: i + 1]
        if normalize:
            out[i] /= w.sum()
    return out


# ----------------------------------------------------------------------------------------------
# equivalence: attention form = fast-weight recurrence


@given(qkv(), st.booleans())
def test_fwp_equivalence_elu(data, normalize):
    Q, K, V = data
    assert fw.fwp_equivalence_error(Q, K, V, fw.elu_plus_one, normalize=normalize) <= 1e-12


@given(qkv(batch=True))
def test_fwp_equivalence_batched(data):
    Q, K, V = data
    a = fw.linear_attention(Q, K, V, fw.elu_plus_one)
    r = fw.fast_weight_attention(Q, K, V, fw.elu_plus_one)
    assert np.max(np.abs(a - r.y)) <= 1e-12 * max(1.0, np.max(np.abs(a)))
    for b in range(Q.shape[0]):  # the batch axis is independent runs
        np.testing.assert_allclose(a[b], fw.linear_attention(Q[b], K[b], V[b], fw.elu_plus_one),
                                   rtol=0, atol=1e-14)


def _outcome(fn):
    try:
        return fn()
    except fw.ZeroNormalizerError as exc:
        return (exc.field, exc.index)


@given(gaussian_qkv(min_d=2), st.data())
def test_fwp_equivalence_dpfp(data, choice):
    """DPFP is sparse: a normaliser can vanish for generic inputs; then both forms raise alike."""
    Q, K, V = data
    nu = choice.draw(st.integers(1, Q.shape[1] - 1))
    phi = fw.feature_map("dpfp", nu=nu)
    assert fw.fwp_equivalence_error(Q, K, V, phi, normalize=False) <= 1e-12
    assert fw.fwp_equivalence_error(Q, K, V, phi, eps=1e-6) <= 1e-12
    a = _outcome(lambda: fw.linear_attention(Q, K, V, phi))
    r = _outcome(lambda: fw.fast_weight_attention(Q, K, V, phi).y)
    if isinstance(a, tuple) or isinstance(r, tuple):
        assert isinstance(a, tuple) and isinstance(r, tuple) and a == r
    else:
        assert np.max(np.abs(a - r)) <= 1e-12 * max(1.0, np.max(np.abs(a)))


def test_dpfp_disjoint_supports_give_zero_normalizer():
    """Generic (not 1-sparse) inputs: q_0 = -k_0 gives phi(q_0) . phi(k_0) = 0."""
    rng = np.random.default_rng(8)
    Q, K, V = rng.standard_normal((3, 4, 5))
    Q[0] = -K[0]
    phi = fw.feature_map("dpfp", nu=2)
    assert np.any(phi(Q[0])) and np.any(phi(K[0])) and phi(Q[0]) @ phi(K[0]) == 0
    for fn in (fw.linear_attention, fw.fast_weight_attention):
        with pytest.raises(fw.ZeroNormalizerError) as exc:
            fn(Q, K, V, phi)
        assert exc.value.field == "normalizer" and exc.value.index == (0,)


@given(gaussian_qkv(), st.integers(1, 24), st.integers(0, 1000))
def test_fwp_equivalence_random_map(data, m, seed):
    Q, K, V = data
    phi = fw.feature_map("random", d_key=Q.shape[1], m=m, seed=seed)
    assert fw.fwp_equivalence_error(Q, K, V, phi) <= 1e-12
    assert fw.fwp_equivalence_error(Q, K, V, phi, normalize=False) <= 1e-12


@settings(max_examples=15)
@given(gaussian_qkv(max_L=8), st.booleans())
def test_linear_attention_matches_double_loop(data, normalize):
    Q, K, V = data
    got = fw.linear_attention(Q, K, V, fw.elu_plus_one, normalize=normalize)
    want = naive_linear_attention(Q, K, V, fw.elu_plus_one, normalize)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@given(gaussian_qkv())
def test_recurrence_final_state(data):
    """W_L = sum_i v_i phi(k_i)^T = V^T phi(K), z_L = sum_i phi(k_i) (Eqs. 17-18)."""
    Q, K, V = data
    r = fw.fast_weight_attention(Q, K, V, fw.elu_plus_one)
    F = fw.elu_plus_one(K)
    np.testing.assert_allclose(r.W, V.T @ F, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.z, F.sum(0), rtol=1e-12)


@given(gaussian_qkv())
def test_unnormalized_identity_map_is_associativity(data):
    """Eqs. 10-11: y_i = (sum_j v_j k_j^T) q_i = sum_j (k_j . q_i) v_j."""
    Q, K, V = data
    y = fw.linear_attention(Q, K, V, fw.identity_map, normalize=False)
    np.testing.assert_allclose(y, naive_linear_attention(Q, K, V, fw.identity_map, False),
                               rtol=1e-10, atol=1e-10)


def test_random_feature_map_is_deterministic():
    x = np.random.default_rng(1).standard_normal((5, 4))
    a = fw.feature_map("random", d_key=4, m=8, seed=3)(x)
    b = fw.feature_map("random", d_key=4, m=8, seed=3)(x)
    c = fw.feature_map("random", d_key=4, m=8, seed=4)(x)
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert a.shape == (5, 8) and np.all(a > 0)


# ----------------------------------------------------------------------------------------------
# DPFP


@given(st.integers(2, 12), st.data())
def test_dpfp_properties(d, data):
    nu = data.draw(st.integers(1, d - 1))
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    k = rng.standard_normal((3, d))
    f = fw.dpfp(k, nu)
    assert f.shape == (3, 2 * d * nu) == (3, fw.dpfp_dim(d, nu))
    assert np.all(f >= 0)
    c = 0.1 + 3 * rng.random()
    np.testing.assert_allclose(fw.dpfp(c * k, nu), c**2 * f, rtol=1e-12, atol=1e-15)
    fm = fw.dpfp(-k, nu)
    np.testing.assert_allclose(np.sort(fm, axis=-1), np.sort(f, axis=-1), rtol=0, atol=0)
    assert np.all(np.einsum("ij,ij->i", f, fm) == 0.0)
    # sum-normalised DPFP is scale invariant (rows with phi = 0 exist: see the next tests)
    ok = f.sum(-1) > 0
    if np.any(ok):
        np.testing.assert_allclose(fw.normalize_features(fw.dpfp(c * k[ok], nu), "sum", "K"),
                                   fw.normalize_features(f[ok], "sum", "K"), rtol=1e-12)


@given(st.integers(1, 6), st.floats(0.1, 10), st.integers(0, 2**32 - 1), st.booleans())
def test_dpfp_nu1_odd_dimension_alternating_signs_is_zero(half, scale, seed, flip):
    """Finding: with nu = 1 and odd d_key, every key with alternating signs (+,-,+,...) has
    phi(k) = 0 (the active entries of ReLU([k; -k]) are never cyclically adjacent), so for a
    symmetric key distribution P(phi(k) = 0) = 2^(1 - d_key), far beyond 1-sparse keys."""
    d = 2 * half + 1
    rng = np.random.default_rng(seed)
    signs = (-1.0) ** np.arange(d) * (-1 if flip else 1)
    k = signs * scale * (0.1 + rng.random(d))
    assert np.all(fw.dpfp(k, 1) == 0.0)
    if d >= 3:
        assert np.any(fw.dpfp(k, 2) > 0)  # the shift-2 block sees it


@given(st.integers(2, 10), st.integers(0, 2**32 - 1))
def test_dpfp_shift_edge_cases(d, seed):
    """Shift d_key is identically zero; shift 2d - j repeats shift j (so nu must be < d_key)."""
    k = np.random.default_rng(seed).standard_normal((4, d))
    assert np.all(fw.dpfp_block(k, d) == 0.0)
    for j in range(1, d):
        np.testing.assert_array_equal(np.sort(fw.dpfp_block(k, 2 * d - j), -1),
                                      np.sort(fw.dpfp_block(k, j), -1))


@pytest.mark.parametrize("d,nu", [(4, 0), (4, 4), (4, 5), (1, 1), (4, 1.5), (4, True)])
def test_dpfp_bad_nu(d, nu):
    with pytest.raises(ProblemError) as exc:
        fw.dpfp(np.ones(d), nu)
    assert exc.value.field in ("nu", "K")


@given(st.integers(2, 8), st.integers(0, 7), st.floats(0.1, 10))
def test_dpfp_one_sparse_is_zero(d, j, scale):
    k = np.zeros(d)
    k[j % d] = scale
    assert np.all(fw.dpfp(k, d - 1) == 0.0)


# ----------------------------------------------------------------------------------------------
# typed errors


def _one_sparse_case(d=4, L=4, where="K"):
    rng = np.random.default_rng(0)
    Q, K, V = rng.standard_normal((L, d)), rng.standard_normal((L, d)), rng.standard_normal((L, 2))
    target = K if where == "K" else Q
    target[0] = 0.0
    target[0, 1] = 2.0
    return Q, K, V


@pytest.mark.parametrize("form", ["attention", "recurrence"])
@pytest.mark.parametrize("where", ["K", "Q"])
def test_zero_normalizer_is_a_typed_error(form, where):
    Q, K, V = _one_sparse_case(where=where)
    phi = fw.feature_map("dpfp", nu=2)
    fn = fw.linear_attention if form == "attention" else fw.fast_weight_attention
    with pytest.raises(fw.ZeroNormalizerError) as exc:
        fn(Q, K, V, phi)
    assert isinstance(exc.value, ProblemError) and isinstance(exc.value, ZeroDivisionError)
    assert exc.value.field == where and exc.value.index == (0,)
    # the unnormalised form and an eps are defined (finite, no NaN)
    assert np.all(np.isfinite(fn(Q, K, V, phi, normalize=False) if form == "attention"
                              else fn(Q, K, V, phi, normalize=False).y))
    y = fn(Q, K, V, phi, eps=1e-6)
    assert np.all(np.isfinite(y if form == "attention" else y.y))


def test_sum_normalisation_of_zero_features_is_a_typed_error():
    Q, K, V = _one_sparse_case()
    with pytest.raises(fw.ZeroNormalizerError) as exc:
        fw.delta_rule(Q, K, V, fw.feature_map("dpfp"), 0.5, key_norm="sum")
    assert exc.value.field == "K"


@pytest.mark.parametrize(
    "shapes,field",
    [(((3, 4), (3, 5), (3, 2)), "K"), (((3, 4), (3, 4), (2, 2)), "V"),
     (((4,), (4,), (4,)), "Q"), (((2, 3, 4), (3, 3, 4), (2, 3, 1)), "K")],
)
def test_shape_errors(shapes, field):
    Q, K, V = (np.ones(s) for s in shapes)
    for fn in (fw.linear_attention, fw.fast_weight_attention):
        with pytest.raises(ProblemError) as exc:
            fn(Q, K, V, fw.elu_plus_one)
        assert exc.value.field == field


def test_nan_input_is_rejected():
    Q = np.ones((3, 2))
    Q[1, 1] = np.nan
    with pytest.raises(ProblemError) as exc:
        fw.linear_attention(Q, np.ones((3, 2)), np.ones((3, 1)), fw.elu_plus_one)
    assert exc.value.field == "Q"


@pytest.mark.parametrize("beta", [-0.1, 1.5, np.nan, [0.5, 0.5]])
def test_delta_rule_beta_range(beta):
    Q, K, V = (np.random.default_rng(2).standard_normal((4, 3)) for _ in range(3))
    with pytest.raises(ProblemError) as exc:
        fw.delta_rule(Q, K, V, fw.elu_plus_one, beta)
    assert exc.value.field == "beta"


def test_unknown_feature_map_and_norm():
    with pytest.raises(ProblemError) as exc:
        fw.feature_map("relu")
    assert exc.value.field == "phi"
    Q = np.ones((2, 2))
    with pytest.raises(ProblemError) as exc:
        fw.delta_rule(Q, Q, Q, fw.elu_plus_one, 0.5, key_norm="l1")
    assert exc.value.field == "key_norm"


# ----------------------------------------------------------------------------------------------
# delta rule


vec_pair = st.integers(1, 6).flatmap(
    lambda m: st.tuples(hnp.arrays(np.float64, (m,), elements=finite),
                        hnp.arrays(np.float64, (3, m), elements=finite)))


@given(vec_pair, hnp.arrays(np.float64, (3,), elements=finite), st.floats(-2, 2))
def test_delta_step_equals_eq23_and_sgd(pair, v, beta):
    phi, W = pair
    new = fw.delta_rule_step(W, phi, v, beta)
    vbar = W @ phi
    vnew = beta * v + (1 - beta) * vbar  # Eq. 22
    eq23 = W + np.outer(vnew, phi) - np.outer(vbar, phi)
    np.testing.assert_allclose(new, eq23, rtol=1e-12, atol=1e-11)
    Wt = torch.tensor(W, requires_grad=True)
    (0.5 * torch.sum((Wt @ torch.tensor(phi) - torch.tensor(v)) ** 2)).backward()
    np.testing.assert_allclose(new, W - beta * Wt.grad.numpy(), rtol=1e-12, atol=1e-11)


@given(gaussian_qkv(max_L=10), st.floats(0, 1), st.sampled_from(["sum", "l2", "none"]))
def test_delta_rule_sequence_is_iterated_steps(data, beta, key_norm):
    Q, K, V = data
    res = fw.delta_rule(Q, K, V, fw.elu_plus_one, beta, key_norm=key_norm, return_states=True)
    fk = fw.normalize_features(fw.elu_plus_one(K), key_norm, "K")
    fq = fw.normalize_features(fw.elu_plus_one(Q), key_norm, "Q")
    W = np.zeros((V.shape[1], K.shape[1]))
    for i in range(Q.shape[0]):
        W = fw.delta_rule_step(W, fk[i], V[i], beta)
        np.testing.assert_allclose(res.states[i], W, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(res.y[i], W @ fq[i], rtol=1e-12, atol=1e-12)


@given(vec_pair, hnp.arrays(np.float64, (3,), elements=finite), st.floats(0.01, 2))
def test_overwrite_formula(pair, v, beta):
    phi, W = pair
    r = fw.delta_overwrite(W, phi, v, beta)
    scale = 1 + np.abs(W).sum() * np.abs(phi).sum() + np.abs(v).sum()
    np.testing.assert_allclose(r.retrieved, r.predicted, rtol=0, atol=1e-11 * scale * (1 + r.c))


@given(st.integers(2, 8), st.floats(0.2, 5), st.integers(0, 2**32 - 1))
def test_exact_overwrite_when_beta_phi2_is_one(d, scale, seed):
    rng = np.random.default_rng(seed)
    Qm, _ = np.linalg.qr(rng.standard_normal((d, d)))
    keys = scale * Qm.T
    W, v = rng.standard_normal((3, d)), rng.standard_normal(3)
    beta = 1 / scale**2
    Wn = fw.delta_rule_step(W, keys[0], v, beta)
    np.testing.assert_allclose(Wn @ keys[0], v, rtol=0, atol=1e-12 * (1 + scale**2) * 10)
    np.testing.assert_allclose(Wn @ keys[1:].T, W @ keys[1:].T, rtol=0, atol=1e-12 * scale * 10)


def test_sum_rule_adds_instead_of_overwriting():
    rng = np.random.default_rng(5)
    k = rng.standard_normal(6)
    k /= np.linalg.norm(k)
    W, v = rng.standard_normal((2, 6)), rng.standard_normal(2)
    Ws = W + np.outer(v, k)  # sum rule, Eq. 17
    np.testing.assert_allclose(Ws @ k, W @ k + v, atol=1e-14)
    assert np.linalg.norm(Ws @ k - v) > 0.1
    np.testing.assert_allclose(fw.delta_rule_step(W, k, v, 1.0) @ k, v, atol=1e-14)


@given(hnp.arrays(np.float64, st.integers(1, 8), elements=finite), st.floats(-1, 3))
def test_transition_spectrum(phi, beta):
    sp = fw.delta_transition_spectrum(phi, beta)
    np.testing.assert_allclose(sp.eigenvalues, sp.predicted, rtol=0,
                               atol=1e-12 * (1 + abs(sp.c)) * 10)
    if min(abs(sp.c), abs(sp.c - 2)) > 1e-9:  # away from the boundary of [0, 2]
        assert sp.nonexpansive == (0 < sp.c < 2)


@given(st.integers(2, 16), st.integers(0, 2**32 - 1), st.floats(0, 1))
def test_sum_normalised_nonnegative_keys_spectrum_in_unit_interval(d, seed, beta):
    f = fw.normalize_features(np.abs(np.random.default_rng(seed).standard_normal(d)), "sum", "K")
    sp = fw.delta_transition_spectrum(f, beta)
    assert 0 <= sp.c <= 1
    assert sp.eigenvalues.min() >= -1e-12 and sp.eigenvalues.max() <= 1 + 1e-12


@given(st.integers(2, 6), st.integers(1, 20), st.floats(0, 2), st.floats(2.001, 4),
       st.integers(0, 2**32 - 1))
def test_perturbation_monotone(d, N, c_stable, c_unstable, seed):
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((N, d))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    D0 = rng.standard_normal((2, d))
    stable = fw.delta_perturbation_norms(keys, c_stable, D0)
    unstable = fw.delta_perturbation_norms(keys, c_unstable, D0)
    assert np.all(np.diff(stable) <= 1e-12 * stable[:-1])
    assert np.all(np.diff(unstable) >= -1e-12 * unstable[:-1])


@given(gaussian_qkv(max_L=10), st.floats(0, 1), st.integers(0, 2**32 - 1))
def test_perturbation_is_difference_of_trajectories(data, beta, seed):
    Q, K, V = data
    rng = np.random.default_rng(seed)
    W0 = rng.standard_normal((V.shape[1], K.shape[1]))
    D0 = rng.standard_normal(W0.shape)
    a = fw.delta_rule(Q, K, V, fw.elu_plus_one, beta, key_norm="l2", W0=W0).W
    b = fw.delta_rule(Q, K, V, fw.elu_plus_one, beta, key_norm="l2", W0=W0 + D0).W
    keys = fw.normalize_features(fw.elu_plus_one(K), "l2", "K")
    norms = fw.delta_perturbation_norms(keys, beta, D0)
    np.testing.assert_allclose(np.linalg.norm(b - a), norms[-1], rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# capacity


@given(st.integers(2, 12), st.integers(0, 2**32 - 1), st.data())
def test_capacity_exact_below_dimension(d, seed, data):
    N = data.draw(st.integers(1, d))
    rng = np.random.default_rng(seed)
    fit = fw.best_linear_memory(rng.standard_normal((N, d)), rng.standard_normal((N, 3)))
    assert fit.rank == N and fit.relative_error <= 1e-10


@given(st.integers(2, 12), st.integers(0, 2**32 - 1), st.data())
def test_capacity_error_within_exact_law(d, seed, data):
    """rel^2 ~ Beta((N-r) d_v/2, r d_v/2): rel in the 1 - 1.6e-7 interval (25 examples: 4e-6)."""
    N = data.draw(st.integers(d + 1, 4 * d))
    dv = data.draw(st.integers(1, 8))
    rng = np.random.default_rng(seed)
    fit = fw.best_linear_memory(rng.standard_normal((N, d)), rng.standard_normal((N, dv)))
    lo, hi = fw.capacity_error_interval(N, fit.rank, dv, alpha=ALPHA / 25)
    assert fit.rank == d and lo <= fit.relative_error <= hi


def test_capacity_mean_square_error_law():
    """E rel^2 = 1 - r/N exactly: z-test over 400 seeded memories (false alarm 4e-6)."""
    N, d, dv = 24, 8, 2
    rng = np.random.default_rng(11)
    F = fw.elu_plus_one(rng.standard_normal((N, d)))  # fixed keys through a feature map
    rel2 = np.array([fw.best_linear_memory(F, rng.standard_normal((N, dv))).relative_error ** 2
                     for _ in range(400)])
    z = (rel2.mean() - (1 - d / N)) / (rel2.std(ddof=1) / np.sqrt(rel2.size))
    assert abs(z) < rc.z_threshold(1, ALPHA)


def test_sum_rule_crosstalk_and_orthonormal_keys():
    rng = np.random.default_rng(4)
    V = rng.standard_normal((4, 3))
    Qm, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    np.testing.assert_allclose(fw.sum_rule_retrieval(Qm.T[:4], V), V, atol=1e-14)
    F = fw.elu_plus_one(rng.standard_normal((4, 6)))
    assert np.min(F @ F.T) > 0  # strictly positive maps are never orthogonal


# ----------------------------------------------------------------------------------------------
# evidence functions


@pytest.mark.parametrize("phi,nu,normalize", [("elu1", 1, True), ("dpfp", 2, True),
                                              ("random", 1, False), ("random", 1, True)])
def test_check_fwp_equivalence_held(phi, nu, normalize):
    e = evidence(rc.check_fwp_equivalence, {"seed": 3, "L": 20, "d_key": 6, "d_v": 3, "phi": phi,
                                            "normalize": normalize},
                 nu=nu, eps=1e-6 if phi == "dpfp" else 0.0)
    assert e.status == "ok" and e.gap <= 1e-12


def test_check_fwp_equivalence_zero_normalizer_is_out_of_scope():
    """DPFP without eps: generic inputs have disjointly supported features (premise unmet)."""
    e = evidence(rc.check_fwp_equivalence, {"seed": 3, "L": 20, "d_key": 6, "d_v": 3,
                                            "phi": "dpfp", "normalize": True}, nu=2, eps=0.0)
    assert e.status == "out_of_scope" and e.details["premise"] == "nonzero_normalizer"
    assert "vanishes" in e.details["reason"]  # the ZeroNormalizerError's message


def test_related_checks_fwp_verdicts():
    # the limit (statement fails: "counterexample") above capacity, exact retrieval below it
    cap = {"seed": 0, "N": 32, "d_key": 16, "d_v": 8}
    assert evidence(rc.check_capacity_exact, cap).status == "counterexample"
    below = {**cap, "N": 12}
    assert evidence(rc.check_capacity_exact, below).status == "out_of_scope"  # over_capacity
    assert evidence(rc.check_capacity_exact, below, premises=False).status == "ok"
    law = {"seed": 0, "N": 32, "d_key": 16, "d_v": 32}
    for inst, proto in (({}, {}), ({"N": 64}, {"phi": "elu1"}),
                        ({"d_key": 4, "N": 40}, {"phi": "dpfp", "nu": 2})):
        assert evidence(rc.check_capacity_law, {**law, **inst}, **proto).status == "ok"
    assert evidence(rc.check_delta_overwrite,
                    {"seed": 0, "d": 8, "d_v": 4, "scale": 1.7}).status == "ok"
    for c in (0.0, 1.0, 1.5, 2.0, 2.5, 4.0):
        e = evidence(rc.check_delta_divergence, {"seed": 0, "c": c, "d": 6})
        assert e.status == "ok" and e.details["diverges"] == (c > 2)
        assert (e.details["repeated_key_growth"] > 1e3) == (c > 2)
    assert evidence(rc.check_delta_spectrum,
                    {"seed": 0, "d": 8, "beta": 1.0, "scale": 1.0}).status == "ok"
    assert evidence(rc.check_dpfp_dimension, {"seed": 0, "d_key": 16, "nu": 3}).status == "ok"
    dpfp = {"seed": 0, "case": "one_sparse", "d_key": 6, "nu": 2}
    e = evidence(rc.check_dpfp_degenerate, dpfp)
    assert e.status == "counterexample" and e.details["field"] == "K"
    e = evidence(rc.check_dpfp_degenerate, {**dpfp, "case": "alternating", "d_key": 5, "nu": 1})
    assert e.status == "counterexample" and e.details["field"] == "K"
    assert abs(e.details["generic_phi_zero_rate"] - 2 ** -4) < 4.5 * np.sqrt(2**-4 / 20_000)
    e = evidence(rc.check_dpfp_degenerate, {**dpfp, "case": "disjoint"})
    assert e.status == "counterexample" and e.details["field"] == "normalizer"
    assert e.details["shift_d_key_block_max"] == 0.0 and e.details["generic_zero_rate"] > 0.05
    assert evidence(rc.check_dpfp_degenerate,
                    {**dpfp, "case": "alternating"}).status == "out_of_scope"  # nu = 2, even d
    assert evidence(rc.check_positive_map_crosstalk,
                    {"seed": 0, "N": 4, "d_key": 8}).status == "counterexample"
