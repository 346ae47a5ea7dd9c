"""Checks of the related equivalences: one ``check_<name>(instance, tol, protocol) -> Evidence``
per claim of ``attnsvm.properties.claims.related`` (where the records, ids, sources, tolerances
and protocols live), plus the claim-specific premises they use.

A check builds its instance from ``instance`` (the hypothesis-drawn fields and ``"seed"``), runs
one reference computation and returns ``Evidence``: ``gap`` is the measured violation of the
record's *stated* property, ``threshold`` its tolerance, and the status is ``ok`` when the
statement holds on the instance, ``counterexample`` when it fails (for a limit claim, whose
statement is the naive one: the limit shows).  Every threshold comes from ``tol`` (``exact_tol``,
``alpha`` ...), every experiment setting from ``protocol`` (sample sizes, steps, seed offsets
...); the further evidence (instance summary, trend, z-scores) is in ``Evidence.details``.

Statistical checks are seeded (reproducible) z-tests with a false-alarm probability of at most
``alpha`` (the records use 4e-6) each, normal approximation: |z| < z_threshold(k, alpha) =
isf(alpha / 2k) for the max of k statistics (4.61 for one), so the ~20 statistical checks and
tests of the related equivalences together false-alarm with probability below 1e-4 per run.
Monte Carlo variance checks of positive random features are run only where ||x + y||^2 <=
``mc_norm_max`` (0.5; premise ``moderate_norm``): the estimator is log-normal and heavy-tailed
beyond.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from attnsvm.properties.premises import Premise, require
from attnsvm.properties.verdicts import Evidence, plain
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.related import fast_weights as fw
from attnsvm.reference.related import logistic as ls
from attnsvm.reference.related import policy_gradient as pg
from attnsvm.reference.related import random_features as rf

Instance = Mapping[str, Any]
Tol = Mapping[str, Any]
Protocol = Mapping[str, Any]


def z_threshold(k: int, alpha: float) -> float:
    """Two-sided Bonferroni threshold for the max |z| of k statistics: Phi^-1(1 - alpha / 2k)."""
    return float(stats.norm.isf(alpha / (2 * k)))


def _details(**extra: Any) -> dict[str, Any]:
    """JSON-able evidence details (numpy arrays and scalars as Python values)."""
    return {k: plain(v) for k, v in extra.items()}


_judge = Evidence.measured  # gap vs threshold, measurements as JSON-able details


def _phi(name: str, d_key: int, *, nu: int, m: int, seed: int) -> fw.FeatureMap:
    return fw.feature_map(name, nu=nu, d_key=d_key, m=m, seed=seed)


# --------------------------------------------------------------------------------------------
# premises (claim-specific; the built-in ones live in attnsvm.properties.premises)


def _kernel_instance(seed: int, d: int, z_norm2: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(d), rng.standard_normal(d)
    # ||x + y||^2, ||x||^2, ||y||^2 <= z_norm2, with equality for the largest of the three
    s = np.sqrt(z_norm2 / max(float(np.sum((x + y) ** 2)), float(x @ x), float(y @ y)))
    return x * s, y * s


def _kernel_norm2(instance: Instance) -> float:
    x, y = _kernel_instance(instance["seed"], instance["d"], instance["z_norm2"])
    return float(np.sum((x + y) ** 2))


NONZERO_NORMALIZER = Premise(
    "nonzero_normalizer",
    "strictly positive feature maps (ELU+1, seeded random features) or DPFP with eps > 0 (no "
    "normaliser z_i . phi(q_i) vanishes)")
OVER_CAPACITY = Premise(
    "over_capacity", "N > d_dot keys with generic values (the Gaussian keys are the features: "
    "d_dot = d_key)", lambda i, _t: i["N"] > i["d_key"])
UNDERCOMPLETE = Premise(
    "undercomplete", "Gaussian keys and values, N > d_key (0 < rank r of the feature matrix < N)")
DPFP_NU = Premise("dpfp_nu", "1 <= nu < d_key", lambda i, _t: 1 <= i["nu"] < i["d_key"])
DEGENERATE_CASE = Premise(
    "degenerate_case",
    "1-sparse keys, sign-alternating keys (nu = 1, odd d_key), or disjoint supports",
    lambda i, _t: i["case"] in ("one_sparse", "disjoint")
    or (i["case"] == "alternating" and i["nu"] == 1 and i["d_key"] % 2 == 1))
FEW_KEYS = Premise("few_keys", "2 <= N <= d_key keys, ELU+1 map",
                   lambda i, _t: 2 <= i["N"] <= i["d_key"])
MODERATE_NORM = Premise(
    "moderate_norm", "||x + y||^2 <= mc_norm_max = 0.5 (finite, moderate variance)",
    lambda i, t: _kernel_norm2(i) <= t["mc_norm_max"])
ORTHOGONAL_BLOCK = Premise("orthogonal_block", "sign-fixed orthogonal directions, m <= d",
                           lambda i, _t: i["m"] <= i["d"])
SIGN_FIX_OMITTED = Premise("sign_fix_omitted", "sign fix omitted",
                           lambda i, _t: not i["sign_fix"])
SMALL_M = Premise(
    "small_m", "m small (<= max_m = 4, where n_draws detects the O(1/m) bias), moderate scale",
    lambda i, t: i["m"] <= t["max_m"], unmet="inconclusive")
BEAM_IN_LIST = Premise("beam_in_list", "beam <= hypotheses", lambda i, _t: i["beam"] <= i["H"])


# --------------------------------------------------------------------------------------------
# fast weight programmers (2102.11174)


def check_fwp_equivalence(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Causal linear attention = fast-weight recurrence (2102.11174v3 Eqs. 17-19).

    gap = max |attention form - recurrence| / max(1, max |y|), threshold ``exact_tol``.
    Premise ``nonzero_normalizer`` (dynamic): a vanishing normaliser z_i . phi(q_i) makes both
    forms raise ZeroNormalizerError; with DPFP this happens for generic inputs (disjoint
    supports), so use eps > 0 (labml uses 1e-6).  Observed: ~1e-16 for elu1, dpfp, random maps,
    normalised and not.
    """
    seed, L, d_key, d_v = instance["seed"], instance["L"], instance["d_key"], instance["d_v"]
    phi, normalize = instance["phi"], instance["normalize"]
    nu, eps, m = protocol["nu"], protocol["eps"], protocol["m"]
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((L, d_key))
    K = rng.standard_normal((L, d_key))
    V = rng.standard_normal((L, d_v))
    f = _phi(phi, d_key, nu=nu, m=m, seed=seed)
    try:
        gap = fw.fwp_equivalence_error(Q, K, V, f, normalize=normalize, eps=eps)
    except fw.ZeroNormalizerError as exc:
        require(NONZERO_NORMALIZER.name, False, reason=str(exc))
    return _judge(gap, tol["exact_tol"], phi=phi, normalize=normalize, eps=eps, L=L,
                  d_key=d_key, d_v=d_v)


def _capacity_instance(seed: int, N: int, d_key: int, d_v: int,
                       phi: fw.FeatureMap | None) -> tuple[np.ndarray, np.ndarray]:
    """N Gaussian keys (through ``phi``; the keys themselves when None) and N Gaussian values."""
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((N, d_key))
    F = K if phi is None else phi(K)
    V = rng.standard_normal((N, d_v))
    return F, V


def check_capacity_exact(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Naive statement: a linear memory W retrieves all N stored values exactly (W phi_i = v_i).

    The features are the Gaussian keys (d_dot = d_key).  gap = best relative error
    min_W ||Phi W^T - V|| / ||V||, threshold ``exact_tol``.  Fails (the limit) when N > rank(Phi)
    <= d_dot (premise ``over_capacity``); holds for N <= d_dot with generic keys.
    Observed: N = 2 d_dot gives ~0.7; N <= d_dot gives ~1e-15.
    """
    N = instance["N"]
    F, V = _capacity_instance(instance["seed"], N, instance["d_key"], instance["d_v"], None)
    fit = fw.best_linear_memory(F, V)
    return _judge(fit.relative_error, tol["exact_tol"], N=N, d_dot=F.shape[1], rank=fit.rank,
                  relative_error=fit.relative_error, predicted=fit.predicted_relative_error)


def check_capacity_law(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Best relative error of a linear memory ~ sqrt(1 - r/N) (r = rank Phi <= d_dot), N > r.

    For iid N(0,1) values rel^2 ~ Beta((N - r) d_v / 2, r d_v / 2) exactly
    (fw.capacity_error_interval); the check asks rel to lie in the (1 - alpha) interval.
    gap = |rel - sqrt(1 - r/N)|, threshold = the interval half-width on rel's side.  The feature
    map is ``protocol['phi']`` ('gaussian': the keys themselves; else fw.feature_map with
    ``nu``, ``m``).  Premise ``undercomplete`` (dynamic): 0 < r < N.
    Observed: rel 0.71 vs 0.707 (N = 2 d_dot).
    """
    seed, N, d_key, d_v = instance["seed"], instance["N"], instance["d_key"], instance["d_v"]
    phi, nu, m = protocol["phi"], protocol["nu"], protocol["m"]
    alpha = tol["alpha"]
    fmap = None if phi == "gaussian" else _phi(phi, d_key, nu=nu, m=m, seed=seed)
    F, V = _capacity_instance(seed, N, d_key, d_v, fmap)
    fit = fw.best_linear_memory(F, V)
    require(UNDERCOMPLETE.name, 0 < fit.rank < N, rank=fit.rank, N=N)
    lo, hi = fw.capacity_error_interval(N, fit.rank, V.shape[1], alpha)
    pred = fit.predicted_relative_error
    rel = fit.relative_error
    thr = (hi - pred) if rel >= pred else (pred - lo)
    return _judge(abs(rel - pred), thr, N=N, d_dot=F.shape[1], rank=fit.rank,
                  relative_error=rel, predicted=pred, interval=[lo, hi], alpha=alpha, phi=phi)


def check_delta_overwrite(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Delta rule overwrites exactly when beta ||phi||^2 = 1 (2102.11174 Sec. 4.2, Eq. 24).

    Instance: a memory holding values under d orthogonal keys of norm ``scale``; rewrite key 0 with
    beta = 1 / scale^2.  gap = max(||W' phi_0 - v_new||, max_j>0 ||W' phi_j - W phi_j||) / scale of
    the values; also the formula W' phi = v_bar + c (v - v_bar) at c = ``partial_c``.
    Observed: ~1e-16.
    """
    seed, d, d_v, scale = instance["seed"], instance["d"], instance["d_v"], instance["scale"]
    rng = np.random.default_rng(seed)
    Qm, _ = np.linalg.qr(rng.standard_normal((d, d)))
    keys = scale * Qm.T  # rows: orthogonal keys
    W = rng.standard_normal((d_v, d))
    v = rng.standard_normal(d_v)
    beta = 1.0 / scale**2  # c = beta ||phi||^2 = 1: the overwrite
    res = fw.delta_overwrite(W, keys[0], v, beta)
    Wn = fw.delta_rule_step(W, keys[0], v, beta)
    untouched = float(np.max(np.abs((Wn - W) @ keys[1:].T))) if d > 1 else 0.0
    half = fw.delta_overwrite(W, keys[0], v, protocol["partial_c"] / scale**2)
    formula = float(np.max(np.abs(half.retrieved - half.predicted)))
    vscale = max(1.0, float(np.max(np.abs(W @ keys.T))), float(np.max(np.abs(v))))
    gap = max(res.error, untouched, formula) / vscale
    return _judge(gap, tol["exact_tol"], c=res.c, overwrite_error=res.error,
                  untouched_change=untouched, partial_formula_error=formula,
                  partial_error=half.error, partial_predicted_error=half.predicted_error)


def check_delta_divergence(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Delta rule diverges when c = beta ||phi||^2 > 2 (2102.11174 Sec. 4.2).

    (a) A repeated key: the retrieval error obeys e_t = (1 - c)^t e_0, checked to ``exact_tol``
    relative (below ``roundoff_floor`` times the scale of the values only round-off is left);
    (b) random keys all with beta ||phi_i||^2 = c: the perturbation norm ||D_t|| never decreases
    when c > 2 (never increases when c <= 2) over ``steps``.
    gap = max(formula error of (a), worst monotonicity violation of (b)); growth = |1 - c|^steps
    in (a) > 1 iff c > 2.  Observed: holds; c = 2.5 grows ~1e7 in 40 steps.
    """
    seed, c, d = instance["seed"], instance["c"], instance["d"]
    steps, d_v = protocol["steps"], protocol["d_v"]
    phi_norm2, n_pert = protocol["phi_norm2"], protocol["perturbations"]
    rng = np.random.default_rng(seed)
    if c < 0:
        raise ProblemError("c", f"c = beta ||phi||^2 must be >= 0, got {c}")
    phi = rng.standard_normal(d)
    # ||phi||^2 = phi_norm2 (2 > 1: beta = c/2 <= 1 for c <= 2)
    phi *= np.sqrt(phi_norm2) / np.linalg.norm(phi)
    beta = c / float(phi @ phi)
    v = rng.standard_normal(d_v)
    W = rng.standard_normal((d_v, d))
    e0 = float(np.linalg.norm(W @ phi - v))
    errs = [e0]
    for _ in range(steps):
        W = fw.delta_rule_step(W, phi, v, beta)
        errs.append(float(np.linalg.norm(W @ phi - v)))
    errs_a = np.asarray(errs)
    pred = e0 * np.abs(1.0 - c) ** np.arange(steps + 1)
    floor = tol["roundoff_floor"] * (e0 + float(np.linalg.norm(v)))
    formula_gap = float(np.max(np.abs(errs_a - pred) / np.maximum(pred, floor)))
    keys = rng.standard_normal((steps, d))
    keys /= np.linalg.norm(keys, axis=1, keepdims=True)
    norms = fw.delta_perturbation_norms(keys, c, rng.standard_normal((n_pert, d)))
    ratios = norms[1:] / norms[:-1]
    mono_gap = float(np.max(1.0 - ratios)) if c > 2 else float(np.max(ratios - 1.0))
    gap = max(formula_gap, max(mono_gap, 0.0))
    return _judge(gap, tol["exact_tol"], c=c, beta=beta,
                  repeated_key_growth=float(errs_a[-1] / e0),
                  predicted_growth=float(pred[-1] / e0),
                  random_key_growth=float(norms[-1] / norms[0]), diverges=bool(c > 2),
                  steps=steps)


def check_delta_spectrum(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Spectrum of I - beta phi phi^T = {1 (d - 1 times), 1 - beta ||phi||^2}.

    gap = max |eig - predicted| / max(1, |c|), threshold ``exact_tol``; also reports
    non-expansiveness (0 <= c <= 2).
    """
    rng = np.random.default_rng(instance["seed"])
    phi = instance["scale"] * np.abs(rng.standard_normal(instance["d"]))
    sp = fw.delta_transition_spectrum(phi, instance["beta"])
    gap = float(np.max(np.abs(sp.eigenvalues - sp.predicted))) / max(1.0, abs(sp.c))
    return _judge(gap, tol["exact_tol"], c=sp.c, spectral_radius=sp.spectral_radius,
                  nonexpansive=sp.nonexpansive, nonexpansive_predicted=bool(0 <= sp.c <= 2))


def check_dpfp_dimension(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """DPFP has dimension 2 d_key nu, phi >= 0, phi(c k) = c^2 phi(k), phi(k).phi(-k) = 0.

    c is uniform in ``homogeneity_scale``.  gap = max(|dim - 2 d nu|, -min phi, relative
    homogeneity error, |phi(k).phi(-k)|), threshold ``exact_tol``.
    """
    d_key, nu = instance["d_key"], instance["nu"]
    lo, hi = protocol["homogeneity_scale"]
    rng = np.random.default_rng(instance["seed"])
    k = rng.standard_normal(d_key)
    f = fw.dpfp(k, nu)
    c = lo + rng.random() * (hi - lo)
    hom = float(np.max(np.abs(fw.dpfp(c * k, nu) - c**2 * f)) / max(1.0, c**2 * np.max(f)))
    anti = float(abs(fw.dpfp(-k, nu) @ f))
    gap = max(abs(f.size - 2 * d_key * nu), -float(f.min()), hom, anti)
    return _judge(gap, tol["exact_tol"], dim=f.size, predicted_dim=2 * d_key * nu,
                  homogeneity_error=hom, antipodal_dot=anti)


def check_dpfp_degenerate(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Naive statement: DPFP-normalised linear attention is defined for every nonzero input.

    Counterexamples: ``case='one_sparse'``: a 1-sparse key (a basis vector scaled uniformly in
    ``sparse_scale``) has phi(k) = 0, so the normaliser z_0 . phi(q_0) = 0 (field 'K');
    ``case='alternating'`` (nu = 1, odd d_key): a key with signs (+, -, +, ...) and magnitudes
    uniform in ``alternating_scale`` has phi(k) = 0 although it is dense (field 'K');
    ``case='disjoint'``: q_0 = -k_0 have nonzero but disjointly supported features,
    phi(q_0) . phi(k_0) = 0 (field 'normalizer').  The reference raises ZeroNormalizerError
    instead of returning NaN.  Also reported: the shift nu = d_key block is identically zero (why
    nu < d_key); ``generic_zero_rate``, the Monte Carlo frequency (``n_rate`` pairs) of
    phi(q) . phi(k) = 0 for independent Gaussian q, k (a zero normaliser at position 0);
    ``generic_phi_zero_rate``, that of phi(k) = 0 (2^(1 - d_key) for nu = 1 and odd d_key, 0
    otherwise).  gap = 1 if the normaliser vanished (typed error raised), else 0; threshold 0.
    Observed: the limit shows in all three cases; generic_zero_rate ~0.75 (d_key 2, nu 1),
    ~0.63 (4, 1), ~0.31 (4, 3), ~0.15 (16, 1), ~7e-4 (64, 1).
    """
    seed, case, d_key, nu = instance["seed"], instance["case"], instance["d_key"], instance["nu"]
    L, d_v, n_rate = protocol["L"], protocol["d_v"], protocol["n_rate"]
    s_lo, s_hi = protocol["sparse_scale"]
    a_lo, a_hi = protocol["alternating_scale"]
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((L, d_key))
    K = rng.standard_normal((L, d_key))
    V = rng.standard_normal((L, d_v))
    if case == "one_sparse":
        j = int(rng.integers(d_key))
        K[0] = 0.0
        K[0, j] = s_lo + rng.random() * (s_hi - s_lo)
    elif case == "disjoint":
        Q[0] = -K[0]
    elif case == "alternating":
        K[0] = (-1.0) ** np.arange(d_key) * (a_lo + rng.random(d_key) * (a_hi - a_lo))
    else:
        raise ProblemError("case", f"unknown case {case!r}; use one_sparse, disjoint or "
                           "alternating")
    zero_block = float(np.max(np.abs(fw.dpfp_block(K[1:], d_key))))
    qs, ks = rng.standard_normal((2, n_rate, d_key))
    fq, fk = fw.dpfp(qs, nu), fw.dpfp(ks, nu)
    rate = float(np.mean(np.einsum("ij,ij->i", fq, fk) == 0.0))
    phi_zero = float(np.mean(~np.any(fk, axis=1)))
    common = {"case": case, "shift_d_key_block_max": zero_block, "generic_zero_rate": rate,
              "generic_phi_zero_rate": phi_zero, "d_key": d_key, "nu": nu}
    try:
        fw.linear_attention(Q, K, V, lambda x: fw.dpfp(x, nu))
    except fw.ZeroNormalizerError as exc:
        return _judge(1.0, 0.0, error=type(exc).__name__, field=exc.field,
                      index=list(exc.index), message=str(exc), **common)
    return _judge(0.0, 0.0, error=None, **common)


def check_positive_map_crosstalk(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Naive statement: the sum rule retrieves stored values exactly (no cross-talk).

    With a strictly positive map (``protocol['phi']``: elu1, or random with ``m`` features)
    phi(k_i) . phi(k_j) > 0, so retrieval W phi(k_i) = sum_j (phi_j . phi_i) v_j mixes values for
    any N >= 2.  gap = min off-diagonal Gram entry / max diagonal (> 0), threshold
    ``crosstalk_tol``.  With orthonormal keys and the identity map the retrieval is exact
    (reported as ``orthonormal_identity_error``).
    """
    seed, N, d_key = instance["seed"], instance["N"], instance["d_key"]
    phi = protocol["phi"]
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((N, d_key))
    F = fw.feature_map(phi, d_key=d_key, m=protocol["m"], seed=seed)(K)
    G = F @ F.T
    off = G[~np.eye(N, dtype=bool)]
    V = rng.standard_normal((N, protocol["d_v"]))
    Qm, _ = np.linalg.qr(rng.standard_normal((d_key, d_key)))
    orth = float(np.max(np.abs(fw.sum_rule_retrieval(Qm.T[:N], V) - V)))
    err = float(np.max(np.abs(fw.sum_rule_retrieval(F / np.linalg.norm(F, axis=1,
                                                                        keepdims=True), V) - V)))
    return _judge(float(off.min() / np.max(np.diag(G))), tol["crosstalk_tol"], phi=phi,
                  retrieval_error=err, orthonormal_identity_error=orth)


# --------------------------------------------------------------------------------------------
# Performer (2009.14794)


def check_performer_unbiased(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """phi(x) . phi(y) is unbiased for exp(x^T y) (2009.14794 Lemma 1; trig features Sec. 2.3).

    gap = |z| of the MC mean vs exp(x^T y) over ``n_draws`` independent m-direction estimates;
    threshold z_threshold(1, alpha).  Premise ``moderate_norm``.  Holds also for orthogonal
    sign-fixed directions.
    """
    seed, m, kind, orthogonal = instance["seed"], instance["m"], instance["kind"], \
        instance["orthogonal"]
    n_draws = protocol["n_draws"]
    x, y = _kernel_instance(seed, instance["d"], instance["z_norm2"])
    zn = float(np.sum((np.asarray(x) + np.asarray(y)) ** 2))
    est = rf.kernel_estimates(x, y, m, n_draws, kind=kind, orthogonal=orthogonal, seed=seed)
    sm = rf.softmax_kernel(x, y)
    mean, se, z = rf.mean_z_score(est, sm)
    return _judge(abs(float(z)), z_threshold(1, tol["alpha"]), kind=kind, orthogonal=orthogonal,
                  m=m, n_draws=n_draws, exact=sm, mean=mean, se=se, z=z, z_norm2=zn)


def check_performer_mse(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Empirical MSE of the iid estimator = Lemma 2 of 2009.14794 (trig / positive / hyperbolic).

    gap = |z| of the mean squared error vs the formula (se from the sample of squared errors)
    over ``n_draws`` estimates (seed + ``seed_offset``); threshold z_threshold(1, alpha); premise
    ``moderate_norm``.  Observed (seed 0, m = 4, ||z||^2 = 0.21): agreement within ~1-2 se for
    all three kinds.
    """
    seed, m, kind = instance["seed"], instance["m"], instance["kind"]
    n_draws = protocol["n_draws"]
    x, y = _kernel_instance(seed, instance["d"], instance["z_norm2"])
    est = rf.kernel_estimates(x, y, m, n_draws, kind=kind, seed=seed + protocol["seed_offset"])
    sm = rf.softmax_kernel(x, y)
    formula = rf.lemma2_mse(x, y, m, kind)
    mse, se, z = rf.mean_z_score((est - sm) ** 2, formula)
    zn = float(np.sum((x + y) ** 2))
    return _judge(abs(float(z)), z_threshold(1, tol["alpha"]), kind=kind, m=m, n_draws=n_draws,
                  mse=mse, formula=formula, se=se, z=z, z_norm2=zn)


def check_orf_mse_bound(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """MSE(SM^ort+) <= Theorem 2 bound (2009.14794), sign-fixed orthogonal directions, m <= d.

    One-sided: gap = (MC MSE - bound) / se (negative when comfortably below) over ``n_draws``
    estimates (seed + ``seed_offset``); threshold z_threshold(1, alpha).  Premises
    ``moderate_norm``, ``orthogonal_block``.
    """
    seed, m = instance["seed"], instance["m"]
    n_draws = protocol["n_draws"]
    x, y = _kernel_instance(seed, instance["d"], instance["z_norm2"])
    est = rf.kernel_estimates(x, y, m, n_draws, orthogonal=True,
                              seed=seed + protocol["seed_offset"])
    sm = rf.softmax_kernel(x, y)
    bound = rf.theorem2_mse_bound(x, y, m)
    mse, se, z = rf.mean_z_score((est - sm) ** 2, bound)
    zn = float(np.sum((x + y) ** 2))
    return _judge(float(z), z_threshold(1, tol["alpha"]), z_norm2=zn, mse=mse, bound=bound,
                  iid_mse=rf.lemma2_mse(x, y, m), se=se, n_draws=n_draws)


def check_orf_signfix(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Orthogonal features from numpy's QR: unbiased with the sign fix Q sign(diag R), not without.

    Instance (``protocol['aligned']``): x = a u, y = b u with (a, b) = ``aligned_scales`` =
    (0.5, 0.2) and u = (1, ..., 1)/sqrt(d), ||x + y||^2 = 0.49; otherwise the random pair of
    ``_kernel_instance`` with ||x + y||^2 <= ``z_norm2``.  m = d directions (one block),
    ``n_draws`` estimates (seed + ``seed_offset``).  gap = |z| of the MC mean vs exp(x^T y);
    threshold z_threshold(1, alpha).  The statement (unbiased) holds with sign_fix=True and fails
    (the limit; premise ``sign_fix_omitted``) with sign_fix=False.
    Observed with numpy 2.4 / LAPACK (seed 0): unfixed, aligned: d = 4 mean 0.960 vs 1.105
    (z -78), d = 16 z -124, d = 64 mean 1.050 (z -53 with 8000 draws); unfixed, random
    instance (aligned False): d = 2 z -130, d = 4 z -18, d = 64 mean 0.9465 vs 0.9521
    (z -5.7); sign-fixed: |z| < 2 everywhere.  Cause: numpy's Q has Q[0,0] < 0 always and the
    other diagonal signs skewed (P(Q[j,j] < 0) ~ 0.87-0.97, the last one ~0.13-0.38), so direction
    j is not isotropic.  Only at d = 2 with the aligned instance do the skews cancel (z 1.7).
    So the bias is not confined to small d.
    """
    seed, d, sign_fix = instance["seed"], instance["d"], instance["sign_fix"]
    n_draws, aligned = protocol["n_draws"], protocol["aligned"]
    a, b = protocol["aligned_scales"]
    z_norm2 = protocol["z_norm2"]
    if aligned:
        u = np.ones(d) / np.sqrt(d)
        x, y = a * u, b * u
    else:
        x, y = _kernel_instance(seed, d, z_norm2)
    est = rf.kernel_estimates(x, y, d, n_draws, orthogonal=True, sign_fix=sign_fix,
                              seed=seed + protocol["seed_offset"])
    sm = rf.softmax_kernel(x, y)
    mean, se, z = rf.mean_z_score(est, sm)
    return _judge(abs(float(z)), z_threshold(1, tol["alpha"]), sign_fix=sign_fix, d=d, exact=sm,
                  mean=mean, se=se, z=z, n_draws=n_draws)


def check_row_normalized_bias(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Naive statement: the row-normalised FAVOR+ output D^-1 Q'(K'^T V) is unbiased.

    It is a ratio estimator: biased for finite m (only Q'K'^T is unbiased).  Q, K: ``scale``
    times Gaussian (L, d); V Gaussian (L, d_v).  gap = max |z| of the MC mean (``n_draws``
    outputs, seed + ``seed_offsets[0]``) vs exact softmax attention over the output entries;
    threshold z_threshold(L d_v, alpha).  The trend evidence reports the bias at m and
    ``m_factor`` m (seed + ``seed_offsets[1]``; shrinks ~1/m).  Premise ``small_m``.
    Observed (seed 0): max |z| ~ 75 at m = 4; |bias| 0.010 -> 0.0036 at m = 16.
    """
    seed, m = instance["seed"], instance["m"]
    L, d, d_v = protocol["L"], protocol["d"], protocol["d_v"]
    n_draws, scale, m_factor = protocol["n_draws"], protocol["scale"], protocol["m_factor"]
    off1, off2 = protocol["seed_offsets"]
    rng = np.random.default_rng(seed)
    Q = scale * rng.standard_normal((L, d))
    K = scale * rng.standard_normal((L, d))
    V = rng.standard_normal((L, d_v))
    exact = rf.softmax_attention(Q, K, V)
    out = rf.favor_attention_draws(Q, K, V, m, n_draws, seed=seed + off1)
    mean, se, z = rf.mean_z_score(out, exact)
    outk = rf.favor_attention_draws(Q, K, V, m_factor * m, n_draws, seed=seed + off2)
    meank = outk.mean(0)
    return _judge(float(np.max(np.abs(z))), z_threshold(z.size, tol["alpha"]),
                  m=m, n_draws=n_draws, max_abs_bias=float(np.max(np.abs(mean - exact))),
                  max_abs_bias_4m=float(np.max(np.abs(meank - exact))),
                  z=z.ravel(), exact=exact.ravel(), mean=mean.ravel())


# --------------------------------------------------------------------------------------------
# Soudry et al. (1710.10345)


def check_soudry_trend(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """GD on the logistic loss -> hard-margin SVM direction with gap O(1/log t) (1710.10345 Thm 3).

    Batched over ``runs`` separable data sets.  Theorem: w(t) = w_hat log t + rho(t), rho bounded.
    Evidence: the certified SVM (margins >= 1, KKT), the direction gap, gap * log t and
    ||w(t) - w_hat log t|| at ``checkpoints``.  gap = the largest ``offset_growth`` (increase of
    ||w(t) - w_hat log t|| over the last two checkpoints relative to the growth of
    ||w_hat log t||: ~1 if w(t) grew away from w_hat, -> 0 if rho(t) converges); threshold
    ``max_offset_growth``.  Every SVM must be certified: an uncertified one counts as a
    counterexample (gap inf), as it always has.  Whether the direction gap fell from the first
    checkpoint is reported, not required: the theorem bounds rho(t), and a run that starts
    aligned by chance (gap 3e-4 at t = 100) rises before its O(1/log t) decay.
    Observed (seed 0): offset growth <= 0.08; gap 0.05-0.24 at t = 100 -> 0.01-0.11 at
    t = 1e5; gap * log t stays within 0.1-1.4.
    """
    X, y = ls.separable_data(instance["n"], instance["d"], instance["seed"],
                             runs=protocol["runs"])
    tr = ls.soudry_trend(X, y, list(protocol["checkpoints"]))
    decreasing = bool(np.all(tr.gap[:, -1] < tr.gap[:, 0]))
    certified = all(s.certified for s in tr.svm)
    threshold = tol["max_offset_growth"]
    details = _details(t=tr.t, direction_gap=tr.gap, gap_log_t=tr.gap_log_t,
                       offset_norm=tr.offset_norm, offset_growth=tr.offset_growth,
                       normalized_margin=tr.normalized_margin[:, -1], svm_margin=tr.svm_margin,
                       final_loss=tr.loss[:, -1], gap_decreasing=decreasing,
                       svm_certified=certified,
                       svm_max_complementarity=max(s.complementarity for s in tr.svm))
    if not certified:
        return Evidence("counterexample", float("inf"), float(threshold), details=details,
                        note="an SVM solution was not certified (margins >= 1, KKT)")
    return Evidence.judge(float(np.max(tr.offset_growth)), float(threshold), details=details)


# --------------------------------------------------------------------------------------------
# policy gradient / sequence-discriminative training (torch is imported by the reference
# functions that use it, when they run)


def _policy_instance(seed: int, vocab: int, length: int):
    rng = np.random.default_rng(seed)
    logp, n_pref = pg.autoregressive_logp(vocab, length)
    theta = rng.standard_normal((n_pref, vocab))
    seqs = pg.enumerate_sequences(vocab, length)
    ref = seqs[int(rng.integers(len(seqs)))]
    A = -np.array([pg.edit_distance(list(s), list(ref)) for s in seqs], dtype=float)
    return rng, logp, theta, seqs, ref, A


def check_mbr_reinforce(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """MBR gradient = REINFORCE with the expected-reward baseline (1706.02776 Sec. 2).

    (a) scores: autograd dF/ds = P (A - A_bar) = sum_y P(y)(A(y) - A_bar) grad log P(y);
    (b) an autoregressive tabular policy over vocab**length sequences with reward
    -edit_distance(y, ref) (word-level EMBR): autograd grad E[A] = exact-enumeration REINFORCE.
    gap = max abs difference / max(1, max |grad|); threshold ``exact_tol``.
    """
    H, vocab, length = instance["H"], instance["vocab"], instance["length"]
    rng, logp, theta, _, _, A = _policy_instance(instance["seed"], vocab, length)
    s, a = rng.standard_normal(H), rng.standard_normal(H)
    g_auto = pg.expected_reward_grad_autograd(s, a)
    diffs = [np.abs(g_auto - pg.expected_reward_grad(s, a)).max(),
             np.abs(g_auto - pg.reinforce_gradient(s, a)).max()]
    g_mbr = pg.mbr_gradient(logp, theta, A)
    g_rf = pg.reinforce_gradient_theta(logp, theta, A)
    diffs.append(np.abs(g_mbr - g_rf).max() / max(1.0, float(np.abs(g_mbr).max())))
    return _judge(float(max(diffs)), tol["exact_tol"], H=H, sequences=vocab**length,
                  grad_norm=float(np.linalg.norm(g_mbr)))


def check_baseline_invariance(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """E_P[(A(y) - c) grad log P(y)] is the same for every constant c in ``baselines`` (exact
    enumeration).

    gap = max over c of max|REINFORCE_c - grad F| / max(1, |c| + max|A|) (the terms scale with
    |A - c| and cancel only in the sum); threshold ``exact_tol``.
    """
    _, logp, theta, _, _, A = _policy_instance(instance["seed"], instance["vocab"],
                                               instance["length"])
    baselines = list(protocol["baselines"])
    g = pg.mbr_gradient(logp, theta, A)
    gaps = []
    for c in baselines:
        gc = pg.reinforce_gradient_theta(logp, theta, A, baseline=c)
        gaps.append(float(np.abs(gc - g).max()) / max(1.0, abs(c) + float(np.abs(A).max())))
    return _judge(max(gaps), tol["exact_tol"], baselines=baselines, gaps=gaps)


def check_mwer_baseline(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """MWER loss sum_beam P_hat (W - W_hat) has the gradient of E_{P_hat}[W] (1712.01818).

    Word errors W uniform integers in [``word_errors``[0], ``word_errors``[1]); premise
    ``beam_in_list``.  gap = max |difference| of the two gradients wrt the scores; threshold
    ``exact_tol``.
    """
    H, beam = instance["H"], instance["beam"]
    w_lo, w_hi = protocol["word_errors"]
    rng = np.random.default_rng(instance["seed"])
    s = rng.standard_normal(H)
    W = rng.integers(w_lo, w_hi, size=H).astype(float)
    b = rng.choice(H, size=beam, replace=False)
    g1, g2 = pg.mwer_gradients(s, W, b)
    return _judge(float(np.abs(g1 - g2).max()), tol["exact_tol"], beam=b)


def check_mmi_identity(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """grad log P(ref) = (1/P(ref)) grad E_P[1{y = ref}] (MMI vs expected 0/1 reward).

    On scores (closed form) and on an autoregressive policy (autograd).  gap = max relative
    difference; threshold ``exact_tol``.  Note: MMI is thus the 0/1-reward policy gradient
    rescaled by 1/P(ref), not expected-reward maximisation itself.
    """
    H = instance["H"]
    rng, logp, theta, seqs, ref, _ = _policy_instance(instance["seed"], instance["vocab"],
                                                      instance["length"])
    s = rng.standard_normal(H)
    r = int(rng.integers(H))
    P = pg.softmax_probs(s)
    d1 = np.abs(pg.mmi_gradient(s, r) - pg.expected_01_reward_grad(s, r) / P[r]).max()
    ref_idx = int(np.flatnonzero((seqs == ref).all(1))[0])
    g_mmi, g_01, p_ref = pg.mmi_gradient_theta(logp, theta, ref_idx)
    d2 = np.abs(g_mmi - g_01).max() / max(1.0, float(np.abs(g_mmi).max()))
    return _judge(float(max(d1, d2)), tol["exact_tol"], p_ref=p_ref)


def check_reinforce_mc_unbiased(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Sampled REINFORCE (any constant baseline; None = the expected reward) is unbiased for
    grad F (MC z-test).

    ``n`` samples (seed + ``seed_offsets[0]``); gap = max |z| over the H gradient components;
    threshold z_threshold(H, alpha).  Also reports the per-sample variance with the baseline
    and with b = A_bar (seed + ``seed_offsets[1]``; typically smaller).
    """
    seed, H, baseline = instance["seed"], instance["H"], instance["baseline"]
    n = protocol["n"]
    off1, off2 = protocol["seed_offsets"]
    rng = np.random.default_rng(seed)
    s, a = rng.standard_normal(H), rng.standard_normal(H)
    g = pg.expected_reward_grad(s, a)
    samp = pg.reinforce_samples(s, a, n, seed=seed + off1, baseline=baseline)
    _, se, z = rf.mean_z_score(samp, g)
    samp_bar = pg.reinforce_samples(s, a, n, seed=seed + off2)
    return _judge(float(np.max(np.abs(z))), z_threshold(H, tol["alpha"]), n=n, baseline=baseline,
                  var_baseline=float(samp.var(0).sum()),
                  var_mean_baseline=float(samp_bar.var(0).sum()))
