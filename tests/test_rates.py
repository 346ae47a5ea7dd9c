"""Rate fits and rate quantities (reference.attention.rates) on curves of known form."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import softmax

from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.rates import (
    fit_log_law,
    fit_power_law,
    local_exponents,
    log_opt_suboptimality,
    margin_gap,
)
from attnsvm.reference.attention.training import log_checkpoints
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.lp import solve_lp_svm
from attnsvm.reference.svm.selection import optimal_tokens

K = log_checkpoints(10_000)[1:]  # k >= 1


@settings(max_examples=20, deadline=None)
@given(st.floats(0.2, 3.0), st.floats(-2.0, 2.0))
def test_power_law_fit_recovers_an_exact_exponent(a: float, c: float) -> None:
    exact = fit_power_law(K, np.exp(c) * K ** -a, kmin=10)
    assert exact.exponent == pytest.approx(a, rel=1e-10)
    assert exact.intercept == pytest.approx(c, abs=1e-9)
    assert exact.kmin >= 10 and exact.kmax == 10_000


def test_power_law_interval_over_runs_covers_the_exponent_at_its_level() -> None:
    """95% t-intervals over 6 noisy runs: coverage over 40 fixed seeds (deterministic)."""
    covered = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a = rng.uniform(0.2, 3.0)
        slopes = a + 0.05 * rng.standard_normal((6, 1))  # runs differ in their exponent
        runs = np.exp(rng.normal()) * K[None, :] ** -slopes * np.exp(
            0.02 * rng.standard_normal((6, K.size)))
        fit = fit_power_law(K, runs, kmin=10)
        assert len(fit.per_run) == 6 and fit.high - fit.low < 0.3
        covered += fit.low < a < fit.high
    assert covered >= 32  # P(fewer | 95% coverage) < 1e-3


@settings(max_examples=10, deadline=None)
@given(st.floats(0.5, 3.0))
def test_log_law_fit_and_local_exponents_tell_the_two_laws_apart(a: float) -> None:
    log_curve = np.log(K.clip(3)) ** -a
    fit = fit_log_law(K, log_curve, kmin=3)
    assert fit.exponent == pytest.approx(a, rel=1e-9)
    early, late = local_exponents(K, log_curve, windows=2, kmin=10)
    assert late.exponent < early.exponent  # -a / log k falls
    e2, l2 = local_exponents(K, K ** -a, windows=2, kmin=10)
    assert e2.exponent == pytest.approx(a, rel=1e-9) and l2.exponent == pytest.approx(a, rel=1e-9)


def test_fits_use_log_values_and_refuse_too_few_points() -> None:
    fit = fit_power_law(K, -1.5 * np.log(K.clip(1)), kmin=2, log_values=True)
    assert fit.exponent == pytest.approx(1.5, rel=1e-10)
    with pytest.raises(ProblemError) as exc:
        fit_power_law(K, np.zeros_like(K, dtype=float))  # no positive gap
    assert exc.value.field == "gap"
    with pytest.raises(ProblemError):
        fit_power_law(K, np.ones(3))
    with pytest.raises(ProblemError):
        fit_power_law(K, K ** -1.0, confidence=1.0)


def test_log_suboptimality_matches_softmax_and_stays_finite_when_saturated() -> None:
    p = make_problem("paper", 3, 4, 5, 0)
    opt = optimal_tokens(p).tokens
    rng = np.random.default_rng(1)
    W = rng.standard_normal((2, 5, 5))
    s = softmax(np.einsum("ntd,bde,ne->bnt", p.X, W, p.Z), axis=-1)
    direct = np.max(1.0 - s[:, np.arange(p.n), opt], axis=-1)
    np.testing.assert_allclose(np.exp(log_opt_suboptimality(p.X, p.Z, W, opt)), direct,
                               rtol=1e-10)
    big = 1e4 * solve_att_svm(p).W  # every margin >= 1e4: 1 - s_opt ~ e^-1e4 underflows
    val = float(log_opt_suboptimality(p.X, p.Z, big, opt))
    assert np.isfinite(val) and val < -9000


def test_margin_gap_is_zero_at_the_svm_solutions_and_positive_elsewhere() -> None:
    p = make_problem("equal-scores", 4, 5, 7, 0)
    fro, inf = solve_att_svm(p), solve_lp_svm(p, float("inf"))
    a, z = fro.constraints.a, fro.constraints.z
    n2, ninf = np.linalg.norm(fro.W), np.max(np.abs(inf.W))
    assert abs(float(margin_gap(a, z, 3.7 * fro.W, 2, n2))) < 1e-9
    assert abs(float(margin_gap(a, z, 0.2 * inf.W, np.inf, ninf))) < 1e-9
    assert float(margin_gap(a, z, fro.W, np.inf, ninf)) > 1e-3  # the two SVMs differ here
    assert float(margin_gap(a, z, inf.W, 2, n2)) > 1e-3
    assert float(margin_gap(a, z, -fro.W, 2, n2)) > 1.0  # wrong sign: negative margin
