"""Checks of the discussion's open questions: one ``check_<name>(instance, tol, protocol) ->
Evidence`` per claim of ``attnsvm.properties.claims.discussion`` (where the records, ids,
sources, tolerances and protocols live), plus the claim-specific premises they use.

* modern Hopfield networks (Ramsauer et al., arXiv 2008.02217): the update is attention, the
  energy never increases along it, one update retrieves a well-separated pattern within the
  exponential bound, and at small beta Delta the fixed point is a metastable average;
* in-context learning by one GD step (von Oswald et al., arXiv 2212.07677): the constructed
  linear self-attention layer predicts exactly what one GD step predicts; with softmax it does not;
  a layer trained on regression tasks predicts like GD with the best step, and its weights match
  the construction up to the layer's symmetries;
* limits of one softmax-attention layer: the convex-hull bound (and a target outside the hull
  that GD cannot fit; likewise a permutation-equivariant sequence-to-sequence target, against the
  universal approximation of Yun et al., arXiv 1912.10077, which needs depth), the dispersion
  bound and the 1/2 log T law of the logit scale that a sharp selection needs;
* agreement of the symbolic derivations ``hopfield-energy``, ``icl-gd``, ``attention-limits``
  with these reference computations.

Every threshold comes from ``tol``, every experiment setting from ``protocol``; the symbolic
layer is imported inside the agreement checks (sympy is not loaded by ``attnsvm list``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.properties.premises import Premise
from attnsvm.properties.verdicts import Evidence, plain
from attnsvm.reference.attention import limits as lm
from attnsvm.reference.related import hopfield as hf
from attnsvm.reference.related import icl
from attnsvm.reference.related.random_features import softmax_attention

Instance = Mapping[str, Any]
Tol = Mapping[str, Any]
Protocol = Mapping[str, Any]

# A check that combines several criteria divides each by its own tolerance (from ``tol``) and
# judges the largest quotient against this structural threshold: every criterion met <=> <= 1.
_NORMALISED = 1.0


_judge = Evidence.measured  # gap vs threshold, measurements as JSON-able details


def _unit_columns(rng: np.random.Generator, d: int, N: int) -> np.ndarray:
    G = rng.standard_normal((d, N))
    return G / np.linalg.norm(G, axis=0, keepdims=True)


# --------------------------------------------------------------------------------------------
# Hopfield instances and premises


def _hopfield_patterns(instance: Instance) -> np.ndarray:
    """N patterns of norm M (the instance's ``M``) in R^d, seeded."""
    rng = np.random.default_rng(instance["seed"])
    return float(instance["M"]) * _unit_columns(rng, instance["d"], instance["N"])


def _retrieval_query(instance: Instance) -> tuple[np.ndarray, np.ndarray, float]:
    """(X, xi, beta): xi = x_0 + r u with u a seeded unit direction and r = ``radius`` / (beta N M)
    (inside the paper's sphere S_0 for radius <= 1)."""
    X = _hopfield_patterns(instance)
    beta, N, M = float(instance["beta"]), X.shape[1], float(instance["M"])
    u = np.random.default_rng(instance["seed"] + 1).standard_normal(X.shape[0])
    r = float(instance["radius"]) / (beta * N * M)
    return X, X[:, 0] + r * u / np.linalg.norm(u), beta


def _well_separated(instance: Instance, _tol: Tol) -> bool:
    X = _hopfield_patterns(instance)
    beta = float(instance["beta"])
    return hf.separation(X, 0) >= hf.paper_separation_condition(X, 0, beta)


def _small_beta_delta(instance: Instance, tol: Tol) -> bool:
    X = _hopfield_patterns(instance)
    beta = float(instance["beta"])
    return beta * max(hf.separation(X, i) for i in range(X.shape[1])) <= tol["max_beta_delta"]


WELL_SEPARATED = Premise(
    "well_separated",
    "pattern x_0 well separated: Delta_0 >= 2/(beta N) + 1/beta log(2 (N-1) N beta M^2) (the "
    "paper's condition), and the query xi in the sphere ||xi - x_0|| <= 1/(beta N M)",
    _well_separated)
SMALL_BETA_DELTA = Premise(
    "small_beta_delta",
    "beta max_i Delta_i <= max_beta_delta (= 1: the patterns are not separated at this "
    "temperature); the iteration starts at the stored pattern x_0 itself",
    _small_beta_delta)


# --------------------------------------------------------------------------------------------
# Hopfield checks (2008.02217)


def check_hopfield_attention(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """xi_new = X softmax(beta X^T xi) equals softmax attention with query beta xi and keys =
    values = the patterns (reference ``softmax_attention``) and an explicit sum over patterns.

    gap = max abs difference / max(1, M); threshold ``exact_tol``."""
    X = _hopfield_patterns(instance)
    rng = np.random.default_rng(instance["seed"] + 2)
    xi = rng.standard_normal(X.shape[0]) * float(instance["M"])
    beta = float(instance["beta"])
    ours = hf.update(X, xi, beta)
    att = softmax_attention((beta * xi)[None, :], X.T, X.T)[0]
    w = np.exp(beta * (X.T @ xi) - np.max(beta * (X.T @ xi)))
    explicit = sum(w[t] * X[:, t] for t in range(X.shape[1])) / np.sum(w)
    scale = max(1.0, float(instance["M"]))
    gap = max(float(np.max(np.abs(ours - att))), float(np.max(np.abs(ours - explicit)))) / scale
    return _judge(gap, tol["exact_tol"], beta=beta, N=X.shape[1], d=X.shape[0])


def check_hopfield_energy_descent(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """E never increases along the update; in fact E(xi_new) <= E(xi) - 1/2 ||xi_new - xi||^2
    (concave-convex procedure).  ``steps`` updates from a seeded Gaussian state.

    gap = max_t (E_{t+1} - E_t + 1/2 ||xi_{t+1} - xi_t||^2) / (1 + max_t |terms of E_t|): the
    sufficient-decrease violation relative to the size of the energy's terms; threshold
    ``roundoff``.  Details: the largest plain increase max_t (E_{t+1} - E_t) too."""
    X = _hopfield_patterns(instance)
    rng = np.random.default_rng(instance["seed"] + 2)
    xi = rng.standard_normal(X.shape[0]) * float(instance["M"]) * float(instance["start"])
    beta = float(instance["beta"])
    tr = hf.iterate(X, xi, beta, protocol["steps"])
    dE = np.diff(tr.energies)
    step2 = 0.5 * np.sum(np.diff(tr.states, axis=0) ** 2, axis=1)
    M = float(instance["M"])
    size = 1.0 + max(float(np.max(np.abs(X.T @ s))) + 0.5 * float(s @ s) for s in tr.states) \
        + 0.5 * M * M + abs(np.log(X.shape[1]) / beta)
    gap = float(np.max(dE + step2)) / size
    return _judge(gap, tol["roundoff"], max_increase=float(np.max(dE)),
                  energy_first=float(tr.energies[0]), energy_last=float(tr.energies[-1]),
                  total_decrease=float(tr.energies[0] - tr.energies[-1]), size=size)


def check_hopfield_retrieval(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """One update from xi near x_0 lands within 2 M (N-1) exp(-beta (Delta_0 - 2 M ||xi - x_0||))
    of x_0 (hence within the paper's bound, which has max{||xi - x_0||, ||x_0* - x_0||} in place
    of ||xi - x_0||, and within 2 e (N-1) M exp(-beta Delta_0) as ||xi - x_0|| <= 1/(2 beta M)).

    x_0* (the fixed point near x_0) is ``fixed_point_steps`` updates from x_0.  gap = retrieval
    error - our bound; threshold ``roundoff`` * M (the error is computed to about eps M)."""
    X, xi, beta = _retrieval_query(instance)
    M, N = hf.max_norm(X), X.shape[1]
    delta = hf.separation(X, 0)
    err = float(np.linalg.norm(hf.update(X, xi, beta) - X[:, 0]))
    bound = hf.retrieval_bound(X, xi, 0, beta)
    star = hf.iterate(X, X[:, 0], beta, protocol["fixed_point_steps"]).states[-1]
    r = max(float(np.linalg.norm(xi - X[:, 0])), float(np.linalg.norm(star - X[:, 0])))
    paper = 2.0 * (N - 1) * np.exp(-beta * (delta - 2.0 * r * M)) * M
    e_form = 2.0 * np.e * (N - 1) * M * np.exp(-beta * delta)
    return _judge(err - min(bound, paper, e_form), tol["roundoff"] * M, error=err, bound=bound,
                  paper_bound=paper, e_bound=e_form, separation=delta, beta_delta=beta * delta,
                  condition=hf.paper_separation_condition(X, 0, beta),
                  xi_distance=float(np.linalg.norm(xi - X[:, 0])),
                  fixed_point_distance=float(np.linalg.norm(star - X[:, 0])))


def check_hopfield_metastable(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """(naive) iterating the update from a stored pattern x_0 stays at x_0 (within
    ``retrieval_tol`` M).  At small beta Delta the iteration converges to a metastable / global
    average of several patterns instead.

    ``fixed_point_steps`` updates from x_0; gap = ||xi* - x_0|| / M; threshold ``retrieval_tol``.
    Details: the effective number of patterns 1/sum p^2 at xi*, the distance of xi* to the mean
    pattern, and the fixed-point residual ||f(xi*) - xi*||."""
    X = _hopfield_patterns(instance)
    beta, M = float(instance["beta"]), float(instance["M"])
    star = hf.iterate(X, X[:, 0], beta, protocol["fixed_point_steps"]).states[-1]
    p = hf.probabilities(X, star, beta)
    return _judge(float(np.linalg.norm(star - X[:, 0])) / M, tol["retrieval_tol"],
                  effective_patterns=hf.effective_patterns(p), N=X.shape[1],
                  distance_to_mean=float(np.linalg.norm(star - X.mean(axis=1))) / M,
                  fixed_point_residual=float(np.linalg.norm(hf.update(X, star, beta) - star)),
                  beta_max_delta=beta * max(hf.separation(X, i) for i in range(X.shape[1])))


# --------------------------------------------------------------------------------------------
# in-context learning (2212.07677)


def _regression(instance: Instance, n_queries: int):
    rng = np.random.default_rng(instance["seed"])
    d, N = instance["d"], instance["N"]
    xs = rng.standard_normal((N, d))
    w = rng.standard_normal(d)
    ys = xs @ w
    queries = rng.standard_normal((n_queries, d))
    return xs, ys, queries




def check_icl_gd(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """LSA with the constructed weights predicts W_1 x_q, W_1 = one GD step from 0 with step eta.

    ``n_queries`` seeded queries; gap = max |LSA - GD| / (1 + eta/N sum_i |y_i| |x_i^T x_q|);
    threshold ``exact_tol``."""
    xs, ys, queries = _regression(instance, protocol["n_queries"])
    eta, N, d = float(instance["eta"]), instance["N"], instance["d"]
    w = icl.constructed_weights(d, 1, eta, N)
    W1 = icl.gd_step(xs, ys, eta)
    gaps = []
    for q in queries:
        lsa = icl.lsa_prediction(xs, ys, q, w)
        size = 1.0 + eta / N * float(np.sum(np.abs(ys) * np.abs(xs @ q)))
        gaps.append(float(np.max(np.abs(lsa - W1 @ q))) / size)
    return _judge(max(gaps), tol["exact_tol"], n_queries=len(queries), eta=eta)


def check_icl_softmax(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """(naive) with softmax scores the constructed layer still predicts one GD step.

    The best scalar c (least squares over ``n_queries`` queries) is fitted to c * softmax-LSA vs
    GD; gap = ||c yhat_softmax - yhat_GD|| / ||yhat_GD||; threshold ``relative``."""
    xs, ys, queries = _regression(instance, protocol["n_queries"])
    eta, N, d = float(instance["eta"]), instance["N"], instance["d"]
    w = icl.constructed_weights(d, 1, eta, N)
    W1 = icl.gd_step(xs, ys, eta)
    sm = np.array([icl.lsa_prediction(xs, ys, q, w, softmax=True)[0] for q in queries])
    gd = queries @ W1[0]
    c = float(sm @ gd / (sm @ sm)) if float(sm @ sm) > 0 else 0.0
    gap = float(np.linalg.norm(c * sm - gd) / np.linalg.norm(gd))
    return _judge(gap, tol["relative"], best_scale=c,
                  unscaled=float(np.linalg.norm(sm - gd) / np.linalg.norm(gd)))


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def check_icl_trained(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """A trained LSA layer matches one GD step with the best step eta*, and its weights match the
    construction's up to the layer's symmetries.

    ``icl.train_lsa`` (``steps`` Adam steps, step ``lr`` with cosine decay, ``batch`` fresh tasks
    per step, init N(0, ``init_scale``²)); eta* = ``best_gd_eta`` and the comparison on
    ``n_eval`` held-out tasks of another seed. Criteria, each divided by its tolerance:
    1 - cos(predictions of the layer, of GD at eta*) over the tasks and 1 - the mean over tasks
    of cos(d yhat / d x_q of the layer, of GD) (``one_minus_cos``); the relative Frobenius
    distance of the invariant M (``effective_weights``) to eta*/N I (``weight_rel``); the even,
    non-GD terms' size relative to ||M||_F (``nuisance``). gap = the largest quotient;
    threshold 1."""
    d, N = int(instance["d"]), int(instance["N"])
    trained = icl.train_lsa(d, N, steps=protocol["steps"], batch=protocol["batch"],
                            lr=protocol["lr"], seed=int(instance["seed"]),
                            init_scale=protocol["init_scale"])
    rng = np.random.default_rng(int(instance["seed"]) + 1)
    xs, ys, xq, yq = icl.regression_tasks(rng, int(protocol["n_eval"]), N, d)
    eta = icl.best_gd_eta(xs, ys, xq, yq)
    w = trained.weights
    pred_lsa, pred_gd = icl.lsa_predictions(w, xs, ys, xq), icl.gd_predictions(xs, ys, xq, eta)
    sens_lsa, sens_gd = icl.lsa_sensitivities(w, xs, ys), icl.gd_sensitivities(xs, ys, eta)
    cos_pred = _cosine(pred_lsa, pred_gd)
    cos_sens = float(np.mean(np.sum(sens_lsa * sens_gd, axis=1)
                             / (np.linalg.norm(sens_lsa, axis=1)
                                * np.linalg.norm(sens_gd, axis=1))))
    eff = icl.effective_weights(w, d)
    target = eta / N * np.eye(d)
    weight_rel = float(np.linalg.norm(eff.M - target) / np.linalg.norm(target))
    nuisance = eff.nuisance / float(np.linalg.norm(eff.M))
    gap = max((1.0 - cos_pred) / tol["one_minus_cos"], (1.0 - cos_sens) / tol["one_minus_cos"],
              weight_rel / tol["weight_rel"], nuisance / tol["nuisance"])
    return Evidence.judge(
        gap, _NORMALISED,
        details={k: plain(v) for k, v in dict(
            cos_predictions=cos_pred, cos_sensitivities=cos_sens, eta_best=eta,
            eta_layer=float(np.trace(eff.M)) / d * N, weight_rel=weight_rel,
            nuisance=nuisance, mse_layer=float(np.mean((pred_lsa - yq) ** 2)),
            mse_gd=float(np.mean((pred_gd - yq) ** 2)),
            loss_first=float(trained.losses[0]), loss_last=float(trained.losses[-1])).items()},
        note=f"cos(predictions) {cos_pred:.5f}, cos(sensitivities) {cos_sens:.5f}, eta* "
             f"{eta:.4f} vs the layer's {float(np.trace(eff.M)) / d * N:.4f}, "
             f"||M - eta*/N I|| / ||eta*/N I|| {weight_rel:.4f}, nuisance {nuisance:.4f}")


# --------------------------------------------------------------------------------------------
# limits of one layer


def _hull_instance(instance: Instance):
    rng = np.random.default_rng(instance["seed"])
    n, T, d = instance["n"], instance["T"], instance["d"]
    X = rng.standard_normal((n, T, d)) * float(instance["token_scale"])
    Z = rng.standard_normal((n, d))
    v = rng.standard_normal(d)
    return rng, X, Z, v / np.linalg.norm(v)




def check_hull_bound(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """min_t h_it <= f_i(W) <= max_t h_it for any W (h = X v).

    W = 10^log10_norm G / ||G||_F (G seeded Gaussian); gap = max violation / max(1, max |h|);
    threshold ``roundoff``."""
    rng, X, Z, v = _hull_instance(instance)
    G = rng.standard_normal((instance["d"], instance["d"]))
    W = 10.0 ** float(instance["log10_norm"]) * G / np.linalg.norm(G)
    viol = lm.hull_violation(X, W, Z, v)
    h = lm.head_scores(X, v)
    return _judge(float(np.max(viol)) / max(1.0, float(np.max(np.abs(h)))), tol["roundoff"],
                  norm_W=float(np.linalg.norm(W)),
                  max_prob=float(np.max(lm.probabilities(X, W, Z))))


def check_hull_fit(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """(naive) GD on W fits any labeling (mean squared loss <= ``fit_tol``).

    Targets outside the hull by ``margin``: the loss is at least margin^2 / 2 for every W.
    ``steps`` GD steps with step ``lr``; gap = final loss; threshold ``fit_tol``.  Details: the
    lower bound and whether the run respects it."""
    _, X, Z, v = _hull_instance(instance)
    lo, hi = lm.hull_interval(X, v)
    y = hi + float(instance["margin"])
    fit = lm.fit_squared(X, Z, v, y, steps=protocol["steps"], lr=protocol["lr"])
    bound = lm.hull_loss_lower_bound(X, v, y)
    return _judge(float(fit.losses[-1]), tol["fit_tol"], lower_bound=bound,
                  initial_loss=float(fit.losses[0]), final_loss=float(fit.losses[-1]),
                  respects_bound=bool(np.min(fit.losses) >= bound))




def check_one_layer_universal(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """(naive) one softmax self-attention layer with a linear head, f(X)_k = v^T X^T
    softmax(X W x_k), fits any continuous permutation-equivariant sequence-to-sequence target
    on a finite input set (mean squared loss <= ``fit_tol``).

    Target g(X)_k = max_t v^T x_t + margin for every token k (continuous, permutation
    equivariant, outside every token's hull): the loss is at least margin^2 / 2 for every W.
    The n T (input, token) pairs are fitted jointly by ``steps`` full-batch GD steps with step
    ``lr`` from W = 0; gap = final loss; threshold ``fit_tol``.  Details: the lower bound."""
    _, X, _, v = _hull_instance(instance)
    n, T, d = X.shape
    Xk = np.repeat(X, T, axis=0)  # pair (i, k): the tokens of input i, query x_ik
    Zk = X.reshape(n * T, d)
    _, hi = lm.hull_interval(Xk, v)
    y = hi + float(instance["margin"])
    fit = lm.fit_squared(Xk, Zk, v, y, steps=protocol["steps"], lr=protocol["lr"])
    bound = lm.hull_loss_lower_bound(Xk, v, y)
    return _judge(float(fit.losses[-1]), tol["fit_tol"], lower_bound=bound,
                  initial_loss=float(fit.losses[0]), final_loss=float(fit.losses[-1]),
                  respects_bound=bool(np.min(fit.losses) >= bound), pairs=n * T)


def check_dispersion_bound(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """max_t softmax(u)_t <= e^{2B} / (e^{2B} + T - 1) for |u_t| <= B, tight at the extremal u.

    gap = max s - bound; threshold ``roundoff``.  Details: the slack bound - max s (0 up to
    round-off for the extremal configuration)."""
    T, B = int(instance["T"]), float(instance["B"])
    if instance["config"] == "extremal":
        u = np.full(T, -B)
        u[0] = B
    else:
        u = np.random.default_rng(instance["seed"]).uniform(-B, B, T)
    smax = 1.0 - lm.nonselected_mass(u, 1.0)
    bound = lm.dispersion_bound(B, T)
    return _judge(smax - bound, tol["roundoff"], max_prob=smax, bound=bound,
                  slack=bound - smax)


def check_dispersion_log_law(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """A selection max_t s_t >= 1 - delta needs ||W||_2 >= 1/2 log((T-1)(1-delta)/delta) with unit
    tokens and query, and the extremal sequence needs exactly that: the scale grows like 1/2 log T.

    For T on ``T_grid``: c*(T) = the least c selecting with 1 - ``delta`` (bisection,
    ``iterations``) for (a) the extremal sequence with W = c e_1 e_1^T, (b) seeded random unit
    tokens with query z = x_1 and W = c I.  Criteria, each divided by its tolerance: (a) relative
    error of c* against the bound (``bisection_rel``); (b) violation of c* >= bound (relative,
    ``bisection_rel``); the fitted slope of c*_extremal against log T minus 1/2 (``slope_tol``).
    gap = the largest quotient; threshold 1."""
    delta = float(protocol["delta"])
    grid = [int(t) for t in protocol["T_grid"]]
    rng = np.random.default_rng(instance["seed"])
    ext, rnd, bnd = [], [], []
    for T in grid:
        u = np.full(T, -1.0)
        u[0] = 1.0
        ext.append(lm.selection_scale(u, delta, iterations=protocol["iterations"]))
        Xr = rng.standard_normal((T, instance["d"]))
        Xr /= np.linalg.norm(Xr, axis=1, keepdims=True)
        rnd.append(lm.selection_scale(Xr @ Xr[0], delta, iterations=protocol["iterations"]))
        bnd.append(lm.min_logit_bound(T, delta))
    ext, rnd, bnd = np.array(ext), np.array(rnd), np.array(bnd)
    logT = np.log(np.array(grid, dtype=float))
    slope = float(np.polyfit(logT, ext, 1)[0])
    slope_log_t_minus_1 = float(np.polyfit(np.log(np.array(grid, dtype=float) - 1.0), ext, 1)[0])
    slope_random = float(np.polyfit(logT, rnd, 1)[0])
    rel = float(np.max(np.abs(ext / bnd - 1.0)))
    viol = float(np.max(np.maximum(0.0, (bnd - rnd) / bnd)))
    gap = max(rel / tol["bisection_rel"], viol / tol["bisection_rel"],
              abs(slope - 0.5) / tol["slope_tol"])
    return _judge(gap, _NORMALISED, T=grid, bound=bnd, c_extremal=ext, c_random=rnd,
                  slope_extremal=slope, slope_extremal_log_t_minus_1=slope_log_t_minus_1,
                  slope_random=slope_random, max_rel_error=rel,
                  random_margin=float(np.min(rnd - bnd)))


# --------------------------------------------------------------------------------------------
# agreement of the symbolic derivations


def _pred(name: str, predicate: str):
    from attnsvm.symbolic.registry import get

    return get(name).predicates[predicate]


def _rel(a: Any, b: Any) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def check_agree_hopfield(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Symbolic energy, update and CCCP decrease (lambdified from ``hopfield-energy``) vs the
    reference; also the symbolic retrieval bound vs ``retrieval_bound`` at a query inside the
    paper's sphere around x_0.  gap = the largest
    relative difference; threshold ``relative``."""
    X = _hopfield_patterns(instance)
    rng = np.random.default_rng(instance["seed"] + 2)
    xi = rng.standard_normal(X.shape[0]) * float(instance["M"])
    beta = float(instance["beta"])
    new = hf.update(X, xi, beta)
    # the bound at a query inside the sphere ||xi - x_0|| <= 1/(beta N M) (finite exponent)
    u = rng.standard_normal(X.shape[0])
    near = X[:, 0] + u / (np.linalg.norm(u) * beta * X.shape[1] * float(instance["M"]))
    gaps = [
        _rel(_pred("hopfield-energy", "update")(X, xi, beta), new),
        _rel(_pred("hopfield-energy", "energy")(X, xi, beta), hf.energy(X, xi, beta)),
        _rel(_pred("hopfield-energy", "cccp_gap")(X, xi, beta),
             hf.energy(X, xi, beta) - hf.energy(X, new, beta)
             - 0.5 * float(np.sum((new - xi) ** 2))),
        _rel(_pred("hopfield-energy", "retrieval_bound")(X, near, 0, beta),
             hf.retrieval_bound(X, near, 0, beta)),
    ]
    return _judge(max(gaps), tol["relative"], gaps=gaps)


def check_agree_icl(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """The symbolic construction's prediction (lambdified from ``icl-gd``) vs the reference LSA
    layer and the reference GD step.  gap = the largest relative difference; threshold
    ``relative``."""
    xs, ys, queries = _regression(instance, protocol["n_queries"])
    eta, N, d = float(instance["eta"]), instance["N"], instance["d"]
    w = icl.constructed_weights(d, 1, eta, N)
    W1 = icl.gd_step(xs, ys, eta)
    sym = _pred("icl-gd", "lsa_prediction")
    gaps = []
    for q in queries:
        s = sym(xs, ys, q, eta)
        gaps += [_rel(s, icl.lsa_prediction(xs, ys, q, w)), _rel(s, W1 @ q)]
    return _judge(max(gaps), tol["relative"], n_queries=len(queries))


def check_agree_limits(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """The symbolic convex-combination output and dispersion bound (``attention-limits``) vs the
    reference ``attention_outputs`` and ``dispersion_bound``.  gap = the largest relative
    difference; threshold ``relative``."""
    rng, X, Z, v = _hull_instance(instance)
    G = rng.standard_normal((instance["d"], instance["d"]))
    W = 10.0 ** float(instance["log10_norm"]) * G / np.linalg.norm(G)
    f_ref = lm.attention_outputs(X, W, Z, v)
    f_sym = [_pred("attention-limits", "head_output")(X[i], W, Z[i], v) for i in range(len(X))]
    B = float(instance["B"])
    gaps = [_rel(f_sym, f_ref),
            _rel(_pred("attention-limits", "dispersion_bound")(B, instance["T"]),
                 lm.dispersion_bound(B, instance["T"]))]
    return _judge(max(gaps), tol["relative"], gaps=gaps)
