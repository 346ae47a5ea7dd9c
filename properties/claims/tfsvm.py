"""Claims of "Transformers as Support Vector Machines" (Tarzanagh, Li, Thrampoulidis, Oymak,
arXiv 2308.16898).

Each record's ``Source.where`` names the place in the paper in words; ``confirmed=True`` only where
that statement was read in the paper's own text (its abstract). Theorem and lemma numbers are not
given: they were not checked against the paper.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.claims.common import (
    SATURATED,
    build_problem,
    corr_curve,
    evidence,
    problem_spec_strategy,
    random_inits,
    require_saturated,
    svm_direction,
    train_runs,
)
from attnsvm.properties.premises import Premise, instance_problem, require
from attnsvm.properties.registry import Claim, Known, Source
from attnsvm.properties.strategies import locally_optimal_selections
from attnsvm.properties.verdicts import Evidence, Expected
from attnsvm.reference.attention.models import ReLUHead, probabilities
from attnsvm.reference.attention.regularization import regularization_path
from attnsvm.reference.attention.training import correlation, train_KQ, train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.stats import wilson
from attnsvm.reference.svm.certificates import certificate_weights, verify_farkas
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm, solve_att_svm_cvxpy
from attnsvm.reference.svm.multitoken import selected_sets, svm_equivalence
from attnsvm.reference.svm.nuclear import solve_nuclear_svm
from attnsvm.reference.svm.selection import optimal_tokens, tie_tolerance
from attnsvm.reference.svm.token_optimality import (
    is_locally_optimal,
    locally_optimal_deviation,
    single_deviations,
)

PAPER = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
ARXIV = "2308.16898"

#: ridge of the (K, Q) loss in the official code: lambda with 1 + lambda == 1 in float64 (about
#: the machine epsilon 2.22e-16), which keeps ||K||, ||Q|| bounded without changing the loss.
KQ_RIDGE = 2.22e-16
#: an escape flag (0 or 1) is judged against its midpoint.
FLAG_THRESHOLD = 0.5
#: floor of the pooled binomial variance, so a 0/0 or 1/1 split gives z = 0, not a division by 0.
VARIANCE_FLOOR = 1e-12
#: below this both softmax bounds sit at float64's underflow (the smallest normal is ~2.2e-308;
#: a mass under 1e-290 has lost its relative accuracy in the sums that produce it).
UNDERFLOW = 1e-290


# ------------------------------------------------------------------------------------ premises
@lru_cache(maxsize=256)
def _local_alpha_cached(key: str) -> tuple[int, ...] | None:
    instance = json.loads(key)
    p = instance_problem(instance)
    opt = optimal_tokens(p)
    if not opt.unique:
        return None
    if "alpha" in instance:
        return tuple(int(a) for a in instance["alpha"])
    alpha = locally_optimal_deviation(p, opt.tokens)
    return None if alpha is None else tuple(int(a) for a in alpha)


def _local_alpha(instance: Mapping[str, Any]) -> np.ndarray | None:
    """The instance's locally-optimal selection: its ``alpha``, else the first locally-optimal
    one-input deviation of opt; None when opt is not unique or no deviation is locally optimal."""
    alpha = _local_alpha_cached(json.dumps(dict(instance), sort_keys=True))
    return None if alpha is None else np.asarray(alpha, dtype=np.int64)


def _has_local_deviation(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    return _local_alpha(instance) is not None


def _equal_scores(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    p = instance_problem(instance)
    opt = optimal_tokens(p)
    g = np.asarray(p.scores, dtype=np.float64)
    others = np.where(np.arange(p.T)[None, :] == opt.tokens[:, None], np.nan, g)
    spread = np.nanmax(others, axis=1) - np.nanmin(others, axis=1)
    return opt.unique and bool(np.all(spread <= tie_tolerance(g)))


def _underparameterized(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    return int(instance["d"]) < max(int(instance["T"]) - 1, int(instance["n"]), 2)


def _tied_opt(instance: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    return not optimal_tokens(instance_problem(instance)).unique


LOCAL_DEVIATION = Premise(
    "local_deviation",
    "the optimal tokens are unique and a locally-optimal one-input deviation alpha of opt exists "
    "(the instance's 'alpha', else the first one found)",
    _has_local_deviation,
)
DISTINCT_SVMS = Premise(
    "distinct_svms",
    "the two SVM solutions differ (corr(W*^mm_alpha, W^mm_alpha) <= the tolerance "
    "'distinct_svms')",
)
EQUAL_SCORES = Premise(
    "equal_scores",
    "every non-optimal token of an input has the same score, up to the token-score tie "
    "tolerance (the equal-scores family), and the optimal tokens are unique",
    _equal_scores,
)
GENERAL_POSITION = Premise(
    "general_position",
    "the data are in general position: no sampled selection meets a duplicate token or a zero "
    "query (at d = 1 unit tokens are +-1, so duplicates occur with positive probability)",
)
UNDERPARAMETERIZED = Premise(
    "underparameterized",
    "d < max(T - 1, n, 2): d = 1 or d small against n and T",
    _underparameterized,
)
TIED_OPT = Premise(
    "tied_opt",
    "some input's optimal token is tied (exact ties, e.g. the near-tie family with gap 0: the "
    "unique-optimum hypothesis fails)",
    _tied_opt,
)
MULTI_TOKEN_RUN = Premise(
    "multi_token_run",
    "some run accepted by the official filter (no softmax entry in (low, high], the tolerances "
    "'low' and 'high') selects several tokens in an input",
)
ZERO_INIT_GLOBAL = Premise(
    "zero_init_global",
    "GD from W(0) = 0 selects the optimal token in every input (only the initialisation can "
    "then make a run non-global)",
)

#: equal-scores data on which GD from W(0) = 0 (and from every random and adversarial init the
#: check tries) saturates on a non-global selection: input 1 attends token 3, not its optimal
#: token 1 (the record under tests/counterexamples/ replays it).
EQUAL_SCORES_ZERO_INIT_CE = {"family": "equal-scores", "n": 3, "T": 4, "d": 3, "seed": 4,
                             "options": {}, "init_seed": 0}
#: equal-scores data (issue 18, found by the dev profile) on which GD from W(0) = 0 is global but
#: GD from the three PyTorch-default random inits of init_seed 0 (||W(0)||_F ~ 1.8) is not.
EQUAL_SCORES_RANDOM_INIT_CE = {"family": "equal-scores", "n": 6, "T": 7, "d": 9, "seed": 41917,
                               "options": {}, "init_seed": 0}


# ---------------------------------------------------------------- 1. NGD direction (W), local
def check_ngd_direction(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Normalized GD from random init: the final selection alpha is locally optimal, corr(W(k),
    W^mm_alpha) rises to 1, and no one-input deviation alpha' has a closer SVM direction."""
    p = build_problem(instance)
    steps, extended, lr = int(protocol["steps"]), int(protocol["extended_steps"]), protocol["lr"]
    res = train_runs(p, random_inits(p.d, 1, instance["init_seed"]), steps, lr=lr)
    require_saturated(res.min_max_prob[0], tol)
    alpha = res.selected[0]
    W_end = res.params["W"][0]
    history = res.history["W"][0]
    # A saturated selection can still be a transient (the dev profile found runs whose selection
    # after ``steps`` is not locally optimal and moves to one that is within a few thousand more
    # steps): the theorem speaks of the limit, so a non-locally-optimal selection is followed
    # further (``follow_steps``) and is a counterexample only if GD stays on it.
    moves = []
    segments = (0, *protocol["follow_steps"])
    for seg, extra in enumerate(segments):
        if extra:
            more = train_W(p.X, p.Y, p.Z, p.v, W_end[None], steps=int(extra), lr=lr)
            W_end = more.params["W"][0]
            history = np.concatenate([history, W_end[None]])
            if not np.array_equal(more.selected[0], alpha):
                moves.append({"segment": seg, "steps": int(extra),
                              "to": more.selected[0].tolist()})
            alpha = more.selected[0]
        W_mm = svm_direction(p, alpha)
        if W_mm is not None and is_locally_optimal(p, alpha, solution=solve_att_svm(p, alpha)):
            break
    else:
        stuck = not moves or moves[-1]["segment"] != len(segments) - 1
        return evidence(
            "counterexample" if stuck else "inconclusive",
            1.0,
            tol["one_minus_corr"],
            note="GD's selection is not locally optimal"
            + (" and GD stays on it" if stuck else " and still moving"),
            details={"alpha": alpha.tolist(), "feasible": W_mm is not None, "moves": moves},
        )
    curve = corr_curve(history, W_mm)
    final = float(curve[-1])
    if 1 - final > tol["one_minus_corr"]:  # continue longer before judging a stall
        more = train_W(p.X, p.Y, p.Z, p.v, W_end[None], steps=extended, lr=lr)
        later = float(correlation(more.params["W"][0], W_mm))
        W_end = more.params["W"][0]
        if 1 - later > tol["one_minus_corr"]:
            status = "counterexample" if later - final < tol["stall"] else "inconclusive"
            return evidence(
                status,
                1 - later,
                tol["one_minus_corr"],
                trend=tuple(curve),
                note=f"correlation below threshold after {(steps + extended) / steps:g}x the "
                "steps",
                details={"alpha": alpha.tolist(), f"corr_{steps}": final,
                         f"corr_{steps + extended}": later},
            )
        final = later
    rivals = []
    for a in single_deviations(p, alpha):
        W_a = svm_direction(p, a)
        if W_a is not None:
            rivals.append(float(correlation(W_end, W_a)))
    best_rival = max(rivals) if rivals else -1.0
    late = curve[len(curve) // 2 :]
    rising = bool(curve[-1] >= np.max(late) - tol["stall"])  # non-decreasing up to noise
    status = "ok" if best_rival < final and rising else "counterexample"
    note = "" if status == "ok" else (
        "a deviating selection's SVM is closer" if best_rival >= final
        else "correlation falling over the late checkpoints")
    return evidence(
        status,
        1 - final,
        tol["one_minus_corr"],
        trend=tuple(curve),
        note=note,
        details={
            "alpha": alpha.tolist(),
            "corr": final,
            "best_rival_corr": best_rival,
            "rising": rising,
            "moves": moves,
        },
    )


# ---------------------------------------------------------------- 2. (K, Q) -> nuclear SVM
def check_kq_nuclear(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """(K, Q) normalized GD (m = d, each factor normalized, official code): K Q^T aligns with the
    nuclear-norm SVM of its final selection, and better than with the Frobenius SVM."""
    p = build_problem(instance)
    d = p.d
    K0 = uniform_init((1, d, d), instance["init_seed"])
    Q0 = uniform_init((1, d, d), instance["init_seed"] + protocol["q_seed_offset"])
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=int(protocol["steps"]), lr=protocol["lr"],
                   ridge=KQ_RIDGE)
    require_saturated(res.min_max_prob[0], tol)
    alpha = res.selected[0]
    try:
        W_nuc = solve_nuclear_svm(p, alpha).W
        W_fro = solve_att_svm(p, alpha).W
    except InfeasibleSVM:
        require("feasible_selection", False, alpha=alpha.tolist())
    W = res.params["K"][0] @ res.params["Q"][0].T
    c_nuc, c_fro = float(correlation(W, W_nuc)), float(correlation(W, W_fro))
    svms = float(correlation(W_nuc, W_fro))
    details = {
        "alpha": alpha.tolist(),
        "corr_nuclear": c_nuc,
        "corr_frobenius": c_fro,
        "corr_between_svms": svms,
    }
    require("distinct_svms", not svms > tol["distinct_svms"], **details)
    ok = (1 - c_nuc <= tol["one_minus_corr"]) and c_nuc > c_fro
    return evidence(
        "ok" if ok else "counterexample", 1 - c_nuc, tol["one_minus_corr"], details=details
    )


# ---------------------------------------------------------------- 3. regularization paths
def check_regpath(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """The regularization path of ``protocol['param']`` (W or KQ) over the radii aligns with its
    own SVM (Frobenius for W, nuclear for KQ) at the largest radius."""
    param, noise = protocol["param"], tol["noise"]
    p = build_problem(instance)
    alpha = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    try:
        own = (solve_att_svm if param == "W" else solve_nuclear_svm)(p, alpha).W
        other = (solve_nuclear_svm if param == "W" else solve_att_svm)(p, alpha).W
    except InfeasibleSVM:  # the nuclear solver's own certificate; the premise used Frobenius
        require("feasible_opt", False)
    radii = [float(r) for r in protocol["radii"]]
    pts = regularization_path(p, radii, param=param, starts=int(protocol["starts"]),
                              steps=int(protocol["steps"]), seed=instance["init_seed"])
    curve = np.array([float(correlation(pt.W, own)) for pt in pts])
    cross = float(correlation(pts[-1].W, other))
    gap = 1 - curve[-1]
    details = {
        "radii": radii,
        "corr_own_svm": curve.tolist(),
        "corr_other_svm_at_Rmax": cross,
        "losses": [pt.loss for pt in pts],
    }
    if gap <= tol["one_minus_corr"]:
        return evidence("ok", gap, tol["one_minus_corr"], trend=tuple(curve), details=details)
    falling = curve[-1] < curve[-2] - noise
    return evidence(
        "counterexample" if falling else "inconclusive",
        gap,
        tol["one_minus_corr"],
        trend=tuple(curve),
        details=details,
        note="path correlation decreasing at large R"
        if falling
        else "R_max too small for the path to align",
    )


# ---------------------------------------------------------------- 4. local convergence in a cone
def _local_specs(n: tuple[int, int], T: tuple[int, int]) -> st.SearchStrategy[dict]:
    """Specs carrying a locally-optimal, non-global selection, in scope by construction."""
    return locally_optimal_selections(n, T).map(
        lambda pair: {**pair[0].as_dict(), "alpha": pair[1].tolist()})


def _cone_run(p: Any, alpha: np.ndarray, W_mm: np.ndarray, R: float,
              protocol: Mapping[str, Any]) -> Any:
    """Normalized GD from R W^mm_alpha / ||W^mm_alpha||."""
    W0 = R * W_mm / np.linalg.norm(W_mm)
    return train_runs(p, W0[None], int(protocol["steps"]), lr=protocol["lr"])


def check_local_cone(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Local theorem: for a locally-optimal alpha != opt there is a radius R such that GD started
    at R W^mm_alpha/||W^mm_alpha|| keeps selecting alpha and converges to W^mm_alpha. Radii are
    tried on the ladder ``radii``; staying but not converging is a counterexample, escaping at
    every radius of the ladder only says the ladder is too short (inconclusive)."""
    p = build_problem(instance)
    alpha = _local_alpha(instance)
    W_mm = svm_direction(p, alpha)
    escaped_at = []
    for R in protocol["radii"]:
        res = _cone_run(p, alpha, W_mm, R, protocol)
        if not np.array_equal(res.selected[0], alpha):
            escaped_at.append(R)
            continue
        curve = corr_curve(res.history["W"][0], W_mm)
        gap = 1 - float(curve[-1])
        details = {"alpha": alpha.tolist(), "radius": R, "escaped_at": escaped_at}
        return evidence("ok" if gap <= tol["one_minus_corr"] else "counterexample", gap,
                        tol["one_minus_corr"], trend=tuple(curve), details=details)
    return evidence("inconclusive", float("nan"), tol["one_minus_corr"],
                    note="GD left alpha at every radius of the ladder",
                    details={"alpha": alpha.tolist(), "escaped_at": escaped_at})


def _escape(instance: Mapping[str, Any], protocol: Mapping[str, Any]) -> tuple[np.ndarray,
                                                                                 np.ndarray]:
    """(alpha, GD's final selection) from radius ``protocol['R']`` on alpha's SVM direction."""
    p = build_problem(instance)
    alpha = _local_alpha(instance)
    res = _cone_run(p, alpha, svm_direction(p, alpha), protocol["R"], protocol)
    return alpha, res.selected[0]


def check_fixed_radius(
    instance: Mapping[str, Any], _tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: a fixed start radius (R = 100) is not enough for every instance; the radius the
    local theorem needs depends on the data."""
    alpha, final = _escape(instance, protocol)
    escaped = not np.array_equal(final, alpha)
    R = protocol["R"]
    return evidence("counterexample" if escaped else "ok", float(escaped), FLAG_THRESHOLD,
                    details={"alpha": alpha.tolist(), "final": final.tolist(), "R": R},
                    note=f"GD left the locally-optimal selection from radius {R:g}" if escaped
                    else "")


def check_small_norm_escape(
    instance: Mapping[str, Any], _tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit of the local theorem: started at small norm on a locally-optimal alpha's SVM
    direction, GD may leave alpha (the cone needs a large radius)."""
    alpha, final = _escape(instance, protocol)
    escaped = not np.array_equal(final, alpha)
    return evidence(
        "counterexample" if escaped else "ok",
        float(escaped),
        FLAG_THRESHOLD,
        details={"alpha": alpha.tolist(), "final": final.tolist()},
        note="GD left the locally-optimal selection" if escaped else "",
    )


# ---------------------------------------------------------------- 5. global convergence
def check_equal_scores_global(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Equal non-optimal scores: from W(0) = 0, from random inits and from adversarial inits,
    GD selects opt in every input and aligns with the global W^mm.

    Run with normalized GD: GD with a step eta <= 1/L and normalized GD both follow the gradient
    flow's path (checked on the saved counterexamples: corr 1.000000 between the two at equal
    norms), and NGD reaches in 2000 steps norms that plain GD, whose norm grows like log k once
    the softmax saturates, reaches only after orders of magnitude more steps."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    W_mm = svm_direction(p, opt)
    inits = [np.zeros((1, p.d, p.d)),  # the most conservative start
             random_inits(p.d, int(protocol["runs"]), instance["init_seed"])]
    for a in single_deviations(p, opt)[: int(protocol["adversarial"])]:
        W_a = svm_direction(p, a)  # adversarial: along other selections' SVMs
        if W_a is not None:
            inits.append((protocol["adversarial_radius"] * W_a / np.linalg.norm(W_a))[None])
    res = train_runs(p, np.concatenate(inits), int(protocol["steps"]), lr=protocol["lr"])
    require_saturated(np.min(res.min_max_prob), tol)
    corr = correlation(res.params["W"], W_mm[None])
    global_runs = np.all(res.selected == opt[None], axis=1)
    gap = float(np.max(1 - corr))
    ok = bool(np.all(global_runs)) and gap <= tol["one_minus_corr"]
    stuck = [i for i in range(p.n) if np.any(res.selected[:, i] != opt[i])]
    return evidence(
        "ok" if ok else "counterexample",
        gap if np.all(global_runs) else 1.0,
        tol["one_minus_corr"],
        details={
            "global_runs": int(global_runs.sum()),
            "runs": len(global_runs),
            "zero_init_global": bool(global_runs[0]),
            "min_corr": float(np.min(corr)),
            "non_global_inputs": stuck,
        },
        note="" if np.all(global_runs) else "saturated on a non-global selection",
    )


def check_equal_scores_large_init(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: on equal-scores data where GD from W(0) = 0 selects opt everywhere, GD from the
    PyTorch default init (times ``init_scale``) can still saturate on a non-global selection.
    Normalized GD, as in check_equal_scores_global (the same path as GD)."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens
    W_mm = svm_direction(p, opt)
    runs = int(protocol["runs"])
    inits = np.concatenate([
        np.zeros((1, p.d, p.d)),
        protocol["init_scale"] * random_inits(p.d, runs, instance["init_seed"]),
    ])
    res = train_runs(p, inits, int(protocol["steps"]), lr=protocol["lr"])
    require_saturated(np.min(res.min_max_prob), tol)
    global_runs = np.all(res.selected == opt[None], axis=1)
    require("zero_init_global", bool(global_runs[0]), selected=res.selected[0].tolist())
    corr = correlation(res.params["W"][1:], W_mm[None])
    escaped = not np.all(global_runs[1:])
    return evidence(
        "counterexample" if escaped else "ok",
        float(np.max(1 - corr)),
        tol["one_minus_corr"],
        details={
            "global_runs": int(global_runs[1:].sum()),
            "runs": runs,
            "init_norms": np.linalg.norm(inits[1:], axis=(1, 2)).tolist(),
            "min_corr": float(np.min(corr)),
            "selected": res.selected[1:].tolist(),
            "opt": opt.tolist(),
        },
        note="a random init ends on a non-global selection where W(0) = 0 does not"
        if escaped else "",
    )


def check_overparam_fraction(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """The fraction of random-init runs that end globally optimal rises with d (protocol's
    family, n, T): one-sided test at level alpha that p(d_large) > p(d_small), Wilson intervals
    reported."""
    from scipy.stats import norm as normal

    runs, dims = instance["runs"], instance["dims"]
    batch = int(protocol["batch"])
    fractions = []
    for d in dims:
        wins = total = 0
        for j in range(runs // batch):
            p = build_problem(
                {
                    **instance,
                    "family": protocol["family"],
                    "n": protocol["n"],
                    "T": protocol["T"],
                    "d": d,
                    "seed": instance["seed"] + protocol["seed_stride"] * d + j,
                }
            )
            opt = optimal_tokens(p).tokens
            res = train_runs(p, random_inits(d, batch, instance["seed"] + j),
                             int(protocol["steps"]), lr=protocol["lr"])
            ok = np.all(res.selected == opt[None], axis=1) & (res.min_max_prob > tol["saturated"])
            wins += int(ok.sum())
            total += batch
        fractions.append((wins, total))
    (k0, n0), (k1, n1) = fractions[0], fractions[-1]
    p0, p1 = k0 / n0, k1 / n1
    pooled = (k0 + k1) / (n0 + n1)
    se = np.sqrt(max(pooled * (1 - pooled), VARIANCE_FLOOR) * (1 / n0 + 1 / n1))
    z = (p1 - p0) / se
    pval = float(normal.sf(z))
    zc = float(normal.isf(tol["alpha"] / 2))
    details = {
        "dims": dims,
        "fractions": [k / n for k, n in fractions],
        "wilson": [wilson(k, n, zc) for k, n in fractions],
        "p_value": pval,
    }
    if pval <= tol["alpha"]:
        return evidence(
            "ok", pval, tol["alpha"], trend=tuple(k / n for k, n in fractions), details=details
        )
    status = (
        "counterexample" if p1 < p0 and float(normal.cdf(z)) <= tol["alpha"] else "inconclusive"
    )
    return evidence(
        status,
        pval,
        tol["alpha"],
        trend=tuple(k / n for k, n in fractions),
        details=details,
        note="no significant rise with d at this sample size",
    )


# ---------------------------------------------------------------- 6. feasibility
def check_feasible_overparam(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """d >= max(T-1, n), generic data: Att-SVM_alpha is feasible for every alpha (sampled)."""
    p = build_problem(instance)
    rng = np.random.default_rng(instance["seed"])
    worst = np.inf
    for _ in range(int(protocol["selections"])):
        alpha = rng.integers(0, p.T, size=p.n)
        cons = margin_constraints(p, alpha)
        require("general_position",
                not np.any(np.linalg.norm(cons.a, axis=1) * np.linalg.norm(cons.z, axis=1) == 0),
                alpha=alpha.tolist())
        try:
            sol = solve_att_svm(p, alpha)
        except InfeasibleSVM as exc:
            return evidence(
                "counterexample",
                1.0,
                0.0,
                note="infeasible despite d >= max(T-1,n)",
                details={"alpha": alpha.tolist(), "certificate": exc.certificate},
            )
        worst = min(worst, sol.min_margin)
    return evidence("ok", 1 - worst, tol["margin_slack"], details={"min_margin": worst})


def check_feasible_underparam(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: below the over-parameterization threshold some alpha is infeasible; the Farkas
    certificate (lambda >= 0, sum 1, ||sum lambda_k a_k z_k^T|| = 0) is verified independently."""
    p = build_problem(instance)
    rng = np.random.default_rng(instance["seed"])
    for _ in range(int(protocol["selections"])):
        alpha = rng.integers(0, p.T, size=p.n)
        try:
            solve_att_svm(p, alpha)
        except InfeasibleSVM as exc:
            cons = margin_constraints(p, alpha)
            cert = exc.certificate
            ok, _, _ = verify_farkas(cons, certificate_weights(cons, cert))
            verified = bool(ok)
            return evidence(
                "counterexample" if verified else "inconclusive",
                float(cert["residual"]),
                tol["certificate_residual"],
                details={"alpha": alpha.tolist(), "certificate_verified": verified},
            )
    return evidence("ok", 0.0, 0.0, note="every sampled selection was feasible")


# ---------------------------------------------------------------- 7. rank / row space
def check_rank_lemma(
    instance: Mapping[str, Any], tol: Mapping[str, Any], _protocol: Mapping[str, Any]
) -> Evidence:
    """rank(W^mm) <= n and row space in span{z_i}, for the Frobenius and nuclear solutions and
    for an independent solver (cvxpy + Clarabel), ranks with a relative threshold."""
    p = build_problem(instance)
    alpha = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    try:
        sols = {
            "fro": solve_att_svm(p, alpha),
            "nuc": solve_nuclear_svm(p, alpha),
            "fro-clarabel": solve_att_svm_cvxpy(p, alpha, "fro"),
        }
    except InfeasibleSVM:  # another solver's certificate; the premise used the Frobenius one
        require("feasible_opt", False)
    U, s, _ = np.linalg.svd(p.Z.T, full_matrices=False)
    basis = U[:, s > tol["basis_rtol"] * s[0]]
    worst_rank, worst_row = 0, 0.0
    details: dict[str, Any] = {"n": p.n}
    for name, sol in sols.items():
        sv = np.linalg.svd(sol.W, compute_uv=False)
        rank = int(np.sum(sv > tol["rank_rtol"] * sv[0]))
        row = float(np.linalg.norm(sol.W - sol.W @ basis @ basis.T) / np.linalg.norm(sol.W))
        details[name] = {"rank": rank, "rowspace_residual": row}
        worst_rank, worst_row = max(worst_rank, rank - p.n), max(worst_row, row)
    ok = worst_rank <= 0 and worst_row <= tol["rowspace"]
    return evidence("ok" if ok else "counterexample", worst_row, tol["rowspace"], details=details)


def check_nuclear_rank_le_fro(
    instance: Mapping[str, Any], tol: Mapping[str, Any], _protocol: Mapping[str, Any]
) -> Evidence:
    """Empirical (svm_rank experiment): rank(W^mm_nuc) <= rank(W^mm_fro), ranks counted with the
    relative threshold ``rank_rtol``."""
    p = build_problem(instance)
    alpha = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    try:
        r_nuc = solve_nuclear_svm(p, alpha, rel_rank_tol=tol["rank_rtol"]).rank
        r_fro = solve_att_svm(p, alpha, rank_rtol=tol["rank_rtol"]).rank
    except InfeasibleSVM:  # the nuclear solver's own certificate; the premise used Frobenius
        require("feasible_opt", False)
    return evidence(
        "ok" if r_nuc <= r_fro else "counterexample",
        r_nuc - r_fro,
        0,
        details={"rank_nuclear": r_nuc, "rank_frobenius": r_fro},
    )


# ---------------------------------------------------------------- 8. global convergence fails
def check_global_fails(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: on generic data GD can converge to a locally-optimal, non-global selection whose
    SVM direction correlates below ``corr_global`` with the global W^mm."""
    p = build_problem(instance)
    opt = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    W_glob = svm_direction(p, opt)
    runs = int(protocol["runs"])
    res = train_runs(p, random_inits(p.d, runs, instance["init_seed"]), int(protocol["steps"]),
                     lr=protocol["lr"])
    best_corr = 1.0
    found = None
    for b in range(runs):
        alpha = res.selected[b]
        if res.min_max_prob[b] < tol["saturated"] or np.array_equal(alpha, opt):
            continue
        if not is_locally_optimal(p, alpha):
            continue
        c = float(correlation(svm_direction(p, alpha), W_glob))
        if c < best_corr:
            best_corr, found = c, alpha
    status = "counterexample" if found is not None and best_corr < tol["corr_global"] else "ok"
    return evidence(
        status,
        best_corr,
        tol["corr_global"],
        score=tol["corr_global"] - best_corr,
        details={
            "alpha": None if found is None else found.tolist(),
            "opt": opt.tolist(),
            "corr_with_global": best_corr,
        },
    )


# ---------------------------------------------------------------- 9. nonlinear heads
def check_svmeq(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """ReLU head (official multi_token_converge protocol, protocol's n and T): on accepted
    multi-token runs, W^fin + R W^dir predicts the GD iterate better than the single-token W^mm
    (mean of 1 - corr over the accepted runs)."""
    d, runs = instance["d"], instance["runs"]
    low, high = tol["low"], tol["high"]
    errs_eq, errs_dir, errs_one, accepted, multi = [], [], [], 0, 0
    for j in range(runs):
        p = build_problem({**instance, "family": protocol["family"], "n": protocol["n"],
                           "T": protocol["T"], "seed": instance["seed"] + j})
        if np.all(p.Y > 0):
            continue
        V = np.random.default_rng(instance["seed"] + j).standard_normal((d, d))
        head = ReLUHead(V / np.linalg.norm(V))
        res = train_W(
            p.X, p.Y, p.Z, head, uniform_init((1, d, d), instance["seed"] + j),
            steps=int(protocol["steps"]), lr=protocol["lr"],
        )
        s = probabilities(p.X, res.params["W"][0], p.Z)
        if np.any((s > low) & (s <= high)) or not np.any(s <= low):
            continue
        sets = selected_sets(s, high)
        try:
            eq = svm_equivalence(p, res.params["W"][0], probs=s, threshold=high)
            W_one = solve_att_svm(p, s.argmax(axis=1)).W
        except InfeasibleSVM:
            continue
        accepted += 1
        if all(len(o) == 1 for o in sets):
            continue
        multi += 1
        W = res.params["W"][0]
        errs_eq.append(1 - float(correlation(W, eq.W_eq)))
        errs_dir.append(1 - float(correlation(W, eq.direction.W)))
        errs_one.append(1 - float(correlation(W, W_one)))
    require("multi_token_run", multi > 0, accepted=accepted)
    e_eq, e_one = float(np.mean(errs_eq)), float(np.mean(errs_one))
    return evidence(
        "ok" if e_eq < e_one else "counterexample",
        e_eq,
        e_one,
        details={
            "accepted": accepted,
            "multi_token": multi,
            "mean_1mcorr_svmeq": e_eq,
            "mean_1mcorr_dir": float(np.mean(errs_dir)),
            "mean_1mcorr_single": e_one,
            "median_1mcorr_svmeq": float(np.median(errs_eq)),
            "median_1mcorr_single": float(np.median(errs_one)),
        },
    )


# ---------------------------------------------------------------- 10. saturation rate
def check_saturation(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Along W = R W^mm/||W^mm||, each input's non-selected mass lies in [e/(1+e), (T-1) e],
    e = exp(-R m_i/||W^mm||) with m_i >= 1 its smallest margin (symbolic 'softmax-saturation');
    R on a geometric grid from R_min to R_max."""
    p = build_problem(instance)
    alpha = optimal_tokens(p).tokens  # unique and feasible: premise feasible_opt
    sol = solve_att_svm(p, alpha)
    nW = float(np.linalg.norm(sol.W))
    cons = margin_constraints(p, alpha)
    margins = cons.values(sol.W).reshape(p.n, p.T - 1)
    m_min = margins.min(axis=1)
    worst = -np.inf
    trend = []
    others = np.arange(p.T)[None, :] != alpha[:, None]
    eps = np.finfo(np.float64).eps
    for R in np.geomspace(protocol["R_min"], protocol["R_max"], int(protocol["num_radii"])):
        Wr = R * sol.W / nW
        s = probabilities(p.X, Wr, p.Z)
        mass = np.sum(np.where(others, s, 0.0), axis=1)  # no cancellation, unlike 1 - s_alpha
        e = np.exp(-R / nW * m_min)
        upper = (p.T - 1) * e  # margins >= 1 give (T-1) exp(-R/||W^mm||) >= this
        lower = e / (1 + e)
        keep = lower > UNDERFLOW
        if not np.any(keep):
            continue
        # exp of a computed exponent carries relative error ~ eps x (size of the terms summed
        # into that exponent): the logits x^T W z (sums of d products) and the margins
        cond = np.max(np.abs(p.X) @ np.abs(Wr) @ np.abs(p.Z).T) + R / nW * np.max(np.abs(margins))
        allowed = tol["rel"] + tol["eps_factor"] * eps * cond
        over = np.max(((mass - upper) / upper)[keep])
        under = np.max(((lower - mass) / lower)[keep])
        worst = max(worst, max(over, under) / allowed,
                    float(np.max(upper - (p.T - 1) * np.exp(-R / nW))))
        trend.append(float(np.max(mass)))
    return evidence(
        "ok" if worst <= 1.0 else "counterexample",
        worst,
        1.0,
        trend=tuple(trend),
        details={"norm_W_mm": nW},
        note="gap = largest violation of the bounds over the round-off allowed at that R",
    )


# ---------------------------------------------------------------- ties: a limit
def check_ties_split(
    instance: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: with exactly tied optimal tokens (gap 0) GD need not select a single token; the
    mass can stay split between the tied tokens."""
    p = build_problem(instance)
    res = train_runs(p, random_inits(p.d, int(protocol["runs"]), instance["init_seed"]),
                     int(protocol["steps"]), lr=protocol["lr"])
    split = float(1 - np.min(res.min_max_prob))
    return evidence(
        "counterexample" if split > tol["split"] else "ok",
        split,
        tol["split"],
        score=split - tol["split"],
        details={"min_max_prob": float(np.min(res.min_max_prob))},
    )


_seeds = st.integers(0, 2**31 - 1)
OFFICIAL = "official code github.com/umich-sota/TF-as-SVM"

#: equal-scores instances at d >= max(T - 1, n), with an init seed (the two equal-scores claims)
_EQUAL_SCORES_SPECS = problem_spec_strategy(
    "equal-scores", (2, 6), (2, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
)

CLAIMS = [
    Claim(
        id="tfsvm.ngd-direction-W",
        source=Source(
            PAPER, ARXIV,
            "local directional convergence of normalized GD on W to the max-margin direction "
            f"W^mm_alpha of a locally-optimal selection; {OFFICIAL}, local_converge experiment",
        ),
        statement="Normalized GD on W converges in direction to W^mm_alpha of its final "
        "selection alpha, which is locally optimal; corr rises over checkpoints (late "
        "checkpoints non-decreasing up to the tolerance 'stall') and no one-input deviation's SVM "
        "is closer. A selection that is not locally optimal after 'steps' is followed "
        "'follow_steps' more steps (transients) before it counts.",
        instances=problem_spec_strategy(
            "paper", (2, 6), (2, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_ngd_direction,
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 0, "options": {}, "init_seed": 0},
        ),
        requires=("saturated",),
        tolerances={"one_minus_corr": 0.05, "stall": 1e-3, "saturated": SATURATED},
        protocol={"steps": 2000, "follow_steps": (2000, 8000), "extended_steps": 8000,
                  "lr": 0.1},
        budget={"ci": 4, "dev": 30, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.kq-nuclear-bias",
        source=Source(
            PAPER, ARXIV,
            "(K, Q)-parameterized GD: the paper proves the nuclear-norm bias for the "
            "regularization path (Abstract, result (1)) and shows it for GD empirically; "
            f"{OFFICIAL}, local_converge experiment with (K, Q)",
        ),
        statement="Normalized GD on (K, Q), m = d: K Q^T aligns with the nuclear-norm SVM "
        "W*^mm_alpha of its selection, measurably better than with the Frobenius one.",
        instances=problem_spec_strategy(
            "paper", (2, 6), (3, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_kq_nuclear,
        expected=Expected.OPEN,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 1, "options": {}, "init_seed": 1},
        ),
        requires=("saturated", "feasible_selection", DISTINCT_SVMS),
        tolerances={"one_minus_corr": 0.02, "distinct_svms": 0.99, "saturated": SATURATED},
        protocol={"steps": 2000, "lr": 0.1, "q_seed_offset": 7919},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.regpath-W",
        source=Source(
            PAPER, ARXIV,
            "Abstract, result (1): with vanishing regularization, directly parameterizing by W "
            "converges in direction to the Frobenius-norm SVM (Att-SVM); the body's "
            "regularization-path theorem (its number not checked)",
            confirmed=True,
        ),
        statement="W_R / R -> W^mm / ||W^mm|| as R -> infinity (W_R = argmin_{||W||<=R} L).",
        instances=problem_spec_strategy(
            "paper", (2, 4), (3, 4), (0, 1), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_regpath,
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 4, "seed": 1, "options": {}, "init_seed": 0},
        ),
        requires=("feasible_opt",),
        tolerances={"one_minus_corr": 0.02, "noise": 2e-3},
        protocol={"param": "W", "radii": (1.0, 3.0, 10.0, 30.0, 100.0), "starts": 6,
                  "steps": 1200},
        budget={"ci": 2, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.regpath-KQ",
        source=Source(
            PAPER, ARXIV,
            "Abstract, result (1): with vanishing regularization, the (K, Q) parameterization "
            "converges in direction to an SVM solution minimizing the nuclear norm of W = KQ^T "
            "(Att-SVM*); the body's regularization-path theorem (its number not checked)",
            confirmed=True,
        ),
        statement="(K Q^T)_R / R -> W*^mm / ||W*^mm||_* (nuclear-norm SVM) as R -> infinity, "
        "with K, Q of full width m = d.",
        instances=problem_spec_strategy(
            "paper", (2, 4), (3, 4), (0, 1), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_regpath,
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 4, "seed": 1, "options": {}, "init_seed": 0},
        ),
        requires=("feasible_opt",),
        tolerances={"one_minus_corr": 0.02, "noise": 2e-3},
        protocol={"param": "KQ", "radii": (1.0, 3.0, 10.0, 30.0, 100.0), "starts": 6,
                  "steps": 1200},
        budget={"ci": 2, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone",
        source=Source(
            PAPER, ARXIV,
            "local-convergence theorem for GD on W: started in a cone around W^mm_alpha of a "
            "locally-optimal alpha, at a large enough norm, GD converges in direction to "
            "W^mm_alpha",
        ),
        statement="For a locally-optimal alpha != opt there is a radius R (tried: the ladder "
        "'radii', 100, 1e3, 1e4) such that normalized GD started at R W^mm_alpha/||W^mm_alpha|| "
        "keeps alpha and converges in direction to W^mm_alpha.",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_local_cone,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 3, "options": {}},),
        requires=(LOCAL_DEVIATION,),
        tolerances={"one_minus_corr": 0.05},
        protocol={"radii": (100.0, 1000.0, 10000.0), "steps": 2000, "lr": 0.1},
        budget={"ci": 3, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone-fixed-radius",
        source=Source(
            PAPER, ARXIV,
            "limit of the local-convergence theorem for GD on W: the initial norm it needs "
            "depends on the data, so no fixed start radius serves every instance",
        ),
        statement="(naive) starting at radius R = 100 on a locally-optimal SVM direction is "
        "always enough for GD to stay at alpha.",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_fixed_radius,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 4, "T": 8, "d": 9, "seed": 13751, "options": {}},),
        requires=(LOCAL_DEVIATION,),
        protocol={"R": 100.0, "steps": 2000, "lr": 0.1},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone-small-norm",
        source=Source(
            PAPER, ARXIV,
            "limit of the local-convergence theorem for GD on W: it needs a large enough "
            "initial norm",
        ),
        statement="(naive) GD started on a locally-optimal SVM direction stays there at any "
        "norm (tried: start norm R = 1).",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_small_norm_escape,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 3, "options": {}},),
        requires=(LOCAL_DEVIATION,),
        protocol={"R": 1.0, "steps": 2000, "lr": 0.1},
        budget={"ci": 8, "dev": 30, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.global-equal-scores",
        source=Source(
            PAPER, ARXIV,
            "global convergence of GD on W when every non-optimal token of an input has the same "
            "score (the abstract's 'local/global directional convergence of gradient descent "
            "under suitable geometric conditions'; the theorem's number, its step-size and "
            "initialisation hypotheses were not read: the stored copies of the paper show only "
            "its abstract)",
        ),
        statement="If every non-optimal token of each input has the same score, GD selects opt "
        "from any init (W(0) = 0 included) and W(k)/||W(k)|| -> W^mm/||W^mm||. Run with "
        "normalized GD, which follows GD's path.",
        instances=_EQUAL_SCORES_SPECS,
        check=check_equal_scores_global,
        expected=Expected.HOLDS,
        samples=(
            {"family": "equal-scores", "n": 4, "T": 6, "d": 7, "seed": 0, "options": {},
             "init_seed": 0},
            EQUAL_SCORES_ZERO_INIT_CE,
        ),
        requires=(EQUAL_SCORES, "feasible_opt", "saturated"),
        tolerances={"one_minus_corr": 0.02, "saturated": SATURATED},
        protocol={"steps": 2000, "runs": 3, "adversarial": 3, "adversarial_radius": 2.0,
                  "lr": 0.1},
        known=Known(
            "violated",
            "GD itself, not only normalized GD, ends on a non-global selection, from W(0) = 0 "
            "too: on this instance GD with eta = 1 <= 1/L (L <= 0.63 for unit tokens and "
            "queries and scores 0.3 / 0.9) leaves input 1's optimal token with softmax mass "
            "1e-2, 4e-4, 2e-5, < 1e-5 at 1e3, 1e4, 1e5, 1e6 steps while corr(W, W^mm) falls "
            "from 0.29 to 0.22; normalized GD follows the same path (corr 1.000000 at equal "
            "norms) and saturates there. Mechanism: the gradient of an input whose optimal "
            "token is suppressed scales with that token's mass; under the SVM direction of the "
            "other inputs (margins 1) the token trails its best rival by 1.23 > 1, so its pull "
            "decays faster than theirs. A search of the family (normalized GD) found such "
            "instances at d close to max(T-1, n): W(0) = 0 fails on 10 of 39 instances at "
            "(n, T, d) = (4, 5, 4), 8 of 28 at (6, 7, 6), 3 of 30 at (6, 7, 9), none at "
            "d >= 2 max(T-1, n).",
            instance=EQUAL_SCORES_ZERO_INIT_CE,
        ),
        budget={"ci": 3, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.global-equal-scores-large-init",
        source=Source(
            PAPER, ARXIV,
            "limit of the global-convergence result under equal non-optimal scores: where "
            "GD from W(0) = 0 is global, the PyTorch default init (the official code's "
            "nn.Linear init) need not be",
        ),
        statement="(naive) On equal-scores data where GD from W(0) = 0 selects opt in every "
        "input, so does GD from the PyTorch default random init (U(-1/sqrt(d), 1/sqrt(d)), "
        "times 'init_scale' = 1: ||W(0)||_F ~ 1.8 at d = 9). Run with normalized GD.",
        instances=_EQUAL_SCORES_SPECS,
        check=check_equal_scores_large_init,
        expected=Expected.FAILS,
        samples=(EQUAL_SCORES_RANDOM_INIT_CE,),
        requires=(EQUAL_SCORES, "feasible_opt", "saturated", ZERO_INIT_GLOBAL),
        tolerances={"one_minus_corr": 0.02, "saturated": SATURATED},
        protocol={"steps": 2000, "runs": 3, "init_scale": 1.0, "lr": 0.1},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.overparam-global-fraction",
        source=Source(
            PAPER, ARXIV,
            "Abstract, result (2): over-parameterization catalyzes global convergence; the "
            "paper's experiment on the fraction of runs reaching the global W^mm as d grows "
            "(its figure number not checked)",
            confirmed=True,
        ),
        statement="The fraction of random-init runs that select opt everywhere rises with d "
        "(paper family, n = 6, T = 8: the protocol's family, n, T).",
        instances=st.fixed_dictionaries(
            {"seed": _seeds, "runs": st.just(30), "dims": st.just([4, 32])}
        ),
        check=check_overparam_fraction,
        expected=Expected.HOLDS,
        samples=({"seed": 0, "runs": 30, "dims": [4, 32]},),
        tolerances={"alpha": 1e-3, "saturated": SATURATED},
        protocol={"family": "paper", "n": 6, "T": 8, "batch": 10, "seed_stride": 1000,
                  "steps": 1500, "lr": 0.1},
        budget={"ci": 0, "dev": 2, "deep": 10},
        shrink=False,
    ),
    Claim(
        id="tfsvm.feasible-overparam",
        source=Source(
            PAPER, ARXIV,
            "feasibility of Att-SVM_alpha for every selection alpha when d >= max(T-1, n) "
            "(over-parameterization ensures the SVM's feasibility: Abstract, result (2))",
        ),
        statement="For generic data with d >= max(T-1, n), Att-SVM_alpha is feasible for every "
        "selection alpha.",
        instances=problem_spec_strategy("paper", (1, 8), (2, 9), (0, 2), overparameterized=True,
                                        min_d=2),
        check=check_feasible_overparam,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 5, "T": 6, "d": 6, "seed": 0, "options": {}},),
        requires=("overparameterized", GENERAL_POSITION),
        tolerances={"margin_slack": 1e-8},
        protocol={"selections": 8},
        budget={"ci": 15, "dev": 100, "deep": 2000},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.feasible-underparam",
        source=Source(
            PAPER, ARXIV,
            "limit of the feasibility result: below d >= max(T-1, n) Att-SVM_alpha can be "
            "infeasible",
        ),
        statement="(naive) Att-SVM_alpha is feasible for every alpha whatever d.",
        instances=problem_spec_strategy("paper", (3, 12), (3, 6), (1, 2)),
        check=check_feasible_underparam,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 4, "T": 3, "d": 1, "seed": 0, "options": {}},),
        requires=(UNDERPARAMETERIZED,),
        tolerances={"certificate_residual": 1e-9},
        protocol={"selections": 12},
        budget={"ci": 10, "dev": 50, "deep": 500},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.rank-lemma",
        source=Source(
            PAPER, ARXIV,
            "lemma on the rank of the SVM solutions: every solution of Att-SVM and Att-SVM* has "
            "rank at most n (its row space lies in span{z_1..z_n})",
        ),
        statement="Every solution of Att-SVM and Att-SVM* has rank <= n and row space inside "
        "span{z_1..z_n}.",
        instances=problem_spec_strategy("paper", (1, 5), (2, 5), (0, 4), overparameterized=True),
        check=check_rank_lemma,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 3, "T": 4, "d": 5, "seed": 0, "options": {}},),
        requires=("feasible_opt",),
        tolerances={"rank_rtol": 1e-6, "rowspace": 1e-6, "basis_rtol": 1e-10},
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.nuclear-rank-le-fro",
        source=Source(
            PAPER, ARXIV,
            f"low-rank experiments (empirical); {OFFICIAL}, svm_rank experiment (ranks of the "
            "Frobenius and nuclear-norm SVM solutions)",
        ),
        statement="rank(W*^mm) <= rank(W^mm) (ranks with the relative threshold 'rank_rtol', "
        "1e-6).",
        instances=problem_spec_strategy("paper", (2, 6), (2, 6), (0, 4), overparameterized=True),
        check=check_nuclear_rank_le_fro,
        expected=Expected.OPEN,
        samples=({"family": "paper", "n": 4, "T": 5, "d": 6, "seed": 0, "options": {}},),
        requires=("feasible_opt",),
        tolerances={"rank_rtol": 1e-6},
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.global-convergence",
        source=Source(
            PAPER, ARXIV,
            "Abstract, result (1): the convergence can occur in locally-optimal directions "
            "rather than global ones",
            confirmed=True,
        ),
        statement="(naive) GD from random init always converges to the global W^mm (paper "
        "family, n = 6, T = 8).",
        instances=problem_spec_strategy(
            "paper", (6, 6), (8, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_global_fails,
        expected=Expected.FAILS,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 0, "options": {}, "init_seed": 0},
        ),
        requires=("feasible_opt",),
        tolerances={"corr_global": 0.9, "saturated": SATURATED},
        protocol={"runs": 8, "steps": 2000, "lr": 0.1},
        budget={"ci": 12, "dev": 40, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.svm-equivalence-nonlinear",
        source=Source(
            PAPER, ARXIV,
            "Abstract, result (3): a more general SVM equivalence predicts the implicit bias "
            f"with nonlinear heads (empirical); {OFFICIAL}, multi_token_converge protocol and "
            "filter",
            confirmed=True,
        ),
        statement="For a ReLU head, W^fin + R W^dir predicts the GD iterate better than the "
        "single-token W^mm (mean 1 - corr over accepted multi-token runs).",
        instances=st.fixed_dictionaries(
            {"seed": _seeds, "d": st.sampled_from([4, 6]), "runs": st.just(16)}
        ),
        check=check_svmeq,
        expected=Expected.OPEN,
        samples=({"seed": 0, "d": 4, "runs": 16},),
        requires=(MULTI_TOKEN_RUN,),
        tolerances={"low": 1e-6, "high": 1e-3},
        protocol={"family": "paper", "n": 3, "T": 4, "steps": 2000, "lr": 0.1},
        budget={"ci": 0, "dev": 3, "deep": 20},
        shrink=False,
    ),
    Claim(
        id="tfsvm.softmax-saturation",
        source=Source(
            PAPER, ARXIV,
            "softmax -> hardmax along the SVM direction (the mechanism behind the SVM "
            "equivalence; bounds derived in symbolic/ as 'softmax-saturation')",
        ),
        statement="Along W = R W^mm/||W^mm||, the non-selected mass of input i lies between "
        "e/(1+e) and (T-1) e with e = exp(-R m_i/||W^mm||), m_i >= 1 its smallest "
        "margin; so it is at most (T-1) exp(-R/||W^mm||) and decays at rate m_i/||W^mm||.",
        instances=problem_spec_strategy("paper", (1, 5), (2, 6), (0, 3), overparameterized=True),
        check=check_saturation,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 3, "T": 4, "d": 4, "seed": 0, "options": {}},),
        requires=("feasible_opt",),
        tolerances={"rel": 1e-12, "eps_factor": 32.0},
        protocol={"R_min": 0.1, "R_max": 1e4, "num_radii": 13},
        budget={"ci": 10, "dev": 50, "deep": 500},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.ties-single-token",
        source=Source(
            PAPER, ARXIV,
            "limit: exact ties violate the hypothesis that each input's optimal token is unique "
            "(the token-score assumption)",
        ),
        statement="(naive) GD attention always ends up selecting a single token per input.",
        instances=problem_spec_strategy(
            "near-tie",
            (1, 3),
            (2, 4),
            (0, 2),
            overparameterized=True,
            gap=0.0,
            extra={"init_seed": _seeds},
        ),
        check=check_ties_split,
        expected=Expected.FAILS,
        samples=(
            {
                "family": "near-tie",
                "n": 1,
                "T": 2,
                "d": 2,
                "seed": 0,
                "options": {"gap": 0.0},
                "init_seed": 0,
            },
        ),
        requires=(TIED_OPT,),
        tolerances={"split": 1e-3},
        protocol={"steps": 2000, "runs": 4, "lr": 0.1},
        budget={"ci": 6, "dev": 30, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
]
