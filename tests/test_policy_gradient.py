"""Tests of related.policy_gradient (MBR / MWER / MMI = policy gradient, arXiv 1706.02776)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from related_evidence import RECORD, evidence

from attnsvm.properties import related_checks as rc
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related import policy_gradient as pg

ALPHA = RECORD[rc.check_reinforce_mc_unbiased].tolerances["alpha"]  # false alarm per statistic
Z_CRIT = rc.z_threshold(1, ALPHA)  # (see test_random_features.py)

finite = st.floats(-5, 5, allow_nan=False, width=64)


@st.composite
def scores_rewards(draw, max_H: int = 8):
    H = draw(st.integers(2, max_H))
    s = draw(hnp.arrays(np.float64, (H,), elements=finite))
    A = draw(hnp.arrays(np.float64, (H,), elements=finite))
    return s, A


@st.composite
def sequence_policy(draw):
    """An autoregressive tabular policy or a global log-linear one, with edit-distance rewards."""
    vocab = draw(st.integers(2, 3))
    length = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    seqs = pg.enumerate_sequences(vocab, length)
    if draw(st.booleans()):
        logp, n_pref = pg.autoregressive_logp(vocab, length)
        theta = rng.standard_normal((n_pref, vocab))
    else:
        logp = pg.global_logp(rng.standard_normal((len(seqs), 3)))
        theta = rng.standard_normal(3)
    ref = seqs[int(rng.integers(len(seqs)))]
    A = -np.array([pg.edit_distance(list(s), list(ref)) for s in seqs], dtype=float)
    return logp, theta, A, seqs


# ----------------------------------------------------------------------------------------------
# closed forms wrt the scores


@given(scores_rewards())
def test_mbr_gradient_closed_form_equals_autograd(data):
    s, A = data
    np.testing.assert_allclose(pg.expected_reward_grad(s, A),
                               pg.expected_reward_grad_autograd(s, A), rtol=1e-10, atol=1e-13)


@given(scores_rewards(), st.floats(-100, 100))
def test_reinforce_any_constant_baseline_equals_mbr(data, c):
    s, A = data
    g = pg.expected_reward_grad_autograd(s, A)
    scale = 1 + abs(c) + np.abs(A).max()
    np.testing.assert_allclose(pg.reinforce_gradient(s, A), g, rtol=0, atol=1e-14 * scale * 10)
    np.testing.assert_allclose(pg.reinforce_gradient(s, A, c), g, rtol=0, atol=1e-14 * scale * 10)


@given(scores_rewards(), st.data())
def test_mmi_identity_on_scores(data, choice):
    s, _ = data
    r = choice.draw(st.integers(0, s.size - 1))
    P = pg.softmax_probs(s)
    st_ = torch.tensor(s, requires_grad=True)
    torch.log_softmax(st_, 0)[r].backward()
    np.testing.assert_allclose(pg.mmi_gradient(s, r), st_.grad.numpy(), atol=1e-14)
    if P[r] > 1e-300:
        np.testing.assert_allclose(pg.expected_01_reward_grad(s, r) / P[r], pg.mmi_gradient(s, r),
                                   rtol=1e-10, atol=1e-12)


@given(scores_rewards(), st.data())
def test_mwer_baseline_invariance(data, choice):
    s, A = data
    beam = choice.draw(st.lists(st.integers(0, s.size - 1), min_size=2, unique=True))
    g1, g2 = pg.mwer_gradients(s, np.abs(A), beam)
    np.testing.assert_allclose(g1, g2, rtol=0, atol=1e-13 * (1 + np.abs(A).max()))
    outside = np.setdiff1d(np.arange(s.size), beam)
    assert np.all(g1[outside] == 0)  # renormalised beam: no gradient outside it


# ----------------------------------------------------------------------------------------------
# parameterised sequence policies


@given(sequence_policy(), st.floats(-20, 20))
def test_sequence_mbr_equals_reinforce(policy, c):
    logp, theta, A, _ = policy
    g = pg.mbr_gradient(logp, theta, A)
    np.testing.assert_allclose(pg.reinforce_gradient_theta(logp, theta, A), g, rtol=0,
                               atol=1e-13 * (1 + np.abs(g).max()))
    np.testing.assert_allclose(pg.reinforce_gradient_theta(logp, theta, A, baseline=c), g, rtol=0,
                               atol=1e-13 * (1 + abs(c) + np.abs(A).max()))


@given(sequence_policy())
def test_sequence_mmi_identity(policy):
    logp, theta, _, seqs = policy
    lp = logp(torch.tensor(theta)).numpy()
    np.testing.assert_allclose(np.exp(lp).sum(), 1.0, rtol=1e-12)
    ref = int(np.argmax(lp))
    g_mmi, g_01, p_ref = pg.mmi_gradient_theta(logp, theta, ref)
    np.testing.assert_allclose(g_mmi, g_01, rtol=1e-10, atol=1e-12)
    assert 0 < p_ref <= 1


def test_autoregressive_policy_is_product_of_conditionals():
    logp, n_pref = pg.autoregressive_logp(2, 2)
    theta = torch.tensor(np.random.default_rng(0).standard_normal((n_pref, 2)))
    lp = logp(theta).numpy()
    c = torch.log_softmax(theta, -1).numpy()  # rows: prefix (), (0,), (1,)
    for y0 in range(2):
        for y1 in range(2):
            np.testing.assert_allclose(lp[2 * y0 + y1], c[0, y0] + c[1 + y0, y1], rtol=1e-12)


# ----------------------------------------------------------------------------------------------
# Monte Carlo REINFORCE and the baseline's effect on variance


@pytest.mark.parametrize("baseline", [None, 0.0, 3.0])
def test_sampled_reinforce_unbiased(baseline):
    e = evidence(rc.check_reinforce_mc_unbiased, {"seed": 2, "H": 5, "baseline": baseline},
                 n=100_000)
    assert e.status == "ok", e


def test_exact_variance_matches_samples_and_is_quadratic_in_baseline():
    rng = np.random.default_rng(7)
    s, A = rng.standard_normal(5), rng.standard_normal(5)
    g = pg.expected_reward_grad(s, A)
    samp = pg.reinforce_samples(s, A, 200_000, seed=9, baseline=1.0)
    v = np.sum((samp - g) ** 2, axis=1)
    z = (v.mean() - pg.reinforce_variance(s, A, 1.0)) / (v.std(ddof=1) / np.sqrt(v.size))
    assert abs(z) < Z_CRIT
    b_star = pg.optimal_baseline(s, A)
    abar = pg.expected_reward(s, A)
    var = [pg.reinforce_variance(s, A, b) for b in (b_star, abar, abar + 5, abar - 5)]
    assert var[0] <= var[1] < min(var[2], var[3])
    for b in (b_star - 0.1, b_star + 0.1):
        assert pg.reinforce_variance(s, A, b) > var[0]


# ----------------------------------------------------------------------------------------------
# misc and errors


@pytest.mark.parametrize("a,b,d", [("kitten", "sitting", 3), ("", "abc", 3), ("abc", "abc", 0),
                                   ("ab", "ba", 2)])
def test_edit_distance(a, b, d):
    assert pg.edit_distance(a, b) == d == pg.edit_distance(b, a)


def test_bad_inputs():
    with pytest.raises(ProblemError) as e:
        pg.mmi_gradient(np.zeros(3), 3)
    assert e.value.field == "ref"
    with pytest.raises(ProblemError) as e:
        pg.expected_reward_grad(np.zeros(3), np.zeros(4))
    assert e.value.field == "A"
    with pytest.raises(ProblemError) as e:
        pg.mwer_gradients(np.zeros(3), np.zeros(3), [1, 1])
    assert e.value.field == "beam"
    with pytest.raises(ProblemError) as e:
        pg.expected_reward(np.array([0.0, np.inf]), np.zeros(2))
    assert e.value.field == "s"
    with pytest.raises(ProblemError) as e:
        pg.mbr_gradient(lambda t: t, np.zeros(3), np.zeros(3))  # not log-probabilities
    assert e.value.field == "theta"


def test_related_checks_policy_verdicts():
    for fn, inst in ((rc.check_mbr_reinforce, {"H": 6, "vocab": 3, "length": 3}),
                     (rc.check_baseline_invariance, {"vocab": 3, "length": 3}),
                     (rc.check_mwer_baseline, {"H": 8, "beam": 4}),
                     (rc.check_mmi_identity, {"H": 6, "vocab": 2, "length": 4})):
        for seed in range(3):
            e = evidence(fn, {"seed": seed, **inst})
            assert e.status == "ok" and e.gap <= 1e-12, e
