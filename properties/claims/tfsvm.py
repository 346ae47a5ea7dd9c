"""Claims of "Transformers as Support Vector Machines" (Tarzanagh, Li, Thrampoulidis, Oymak,
arXiv 2308.16898v3). Theorem numbers are UNVERIFIED recollections (catalog claims-tfsvm.md);
sources cite the catalog ids (TFSVM-...) and the official experiment where one exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.claims.common import (
    SATURATED,
    build_problem,
    corr_curve,
    evidence,
    out_of_scope,
    problem_spec_strategy,
    random_inits,
    svm_direction,
    train_runs,
    unique_opt,
)
from attnsvm.properties.registry import Claim
from attnsvm.properties.stats import wilson
from attnsvm.properties.strategies import locally_optimal_selections
from attnsvm.properties.verdicts import Evidence, Expected
from attnsvm.reference.attention.models import ReLUHead, probabilities
from attnsvm.reference.attention.regularization import regularization_path
from attnsvm.reference.attention.training import correlation, train_KQ, train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.certificates import certificate_weights, verify_farkas
from attnsvm.reference.svm.constraints import margin_constraints
from attnsvm.reference.svm.frobenius import solve_att_svm, solve_att_svm_cvxpy
from attnsvm.reference.svm.multitoken import selected_sets, svm_equivalence
from attnsvm.reference.svm.nuclear import solve_nuclear_svm
from attnsvm.reference.svm.token_optimality import (
    is_locally_optimal,
    locally_optimal_deviation,
    single_deviations,
)

# ----------------------------------------------------------------------------- tolerances (data)
TOL: dict[str, dict[str, float]] = {
    "ngd-direction": {
        "one_minus_corr": 0.05,
        "steps": 2000,
        "extended_steps": 8000,
        "follow_steps": (2000, 8000),
        "stall": 1e-3,
    },
    "kq-nuclear": {"one_minus_corr": 0.02, "steps": 2000, "distinct_svms": 0.99},
    "regpath": {"one_minus_corr": 0.02, "R_max": 100.0, "noise": 2e-3},
    "local-cone": {"R": 100.0, "radii": (100.0, 1000.0, 10000.0), "steps": 2000,
                   "one_minus_corr": 0.05},
    "escape": {"R": 1.0, "steps": 2000},
    "equal-scores": {"one_minus_corr": 0.02, "steps": 2000},
    "overparam": {"alpha": 1e-3},
    "rank": {"rank_rtol": 1e-6, "rowspace": 1e-6},
    "global-fails": {"corr_global": 0.9},
    "saturation": {"rel": 1e-12, "eps_factor": 32.0},
    "ties": {"split": 1e-3, "steps": 2000},
    "svmeq": {"low": 1e-6, "high": 1e-3, "steps": 2000},
}


def _spec_problem(spec: Mapping[str, Any]):
    return build_problem(spec)


# ---------------------------------------------------------------- 1. NGD direction (W), local
def check_ngd_direction(spec: Mapping[str, Any]) -> Evidence:
    """Normalized GD from random init: the final selection alpha is locally optimal, corr(W(k),
    W^mm_alpha) rises to 1, and no one-input deviation alpha' has a closer SVM direction."""
    tol = TOL["ngd-direction"]
    p = build_problem(spec)
    res = train_runs(p, random_inits(p.d, 1, spec["init_seed"]), int(tol["steps"]))
    if res.min_max_prob[0] < SATURATED:
        return evidence(
            "inconclusive",
            float("nan"),
            tol["one_minus_corr"],
            note="softmax not saturated after the step budget",
            details={"min_max_prob": float(res.min_max_prob[0])},
        )
    alpha = res.selected[0]
    W_end = res.params["W"][0]
    history = res.history["W"][0]
    # A saturated selection can still be a transient (the dev profile found runs whose 2000-step
    # selection is not locally optimal and moves to one that is within 2000 more steps): the
    # theorem speaks of the limit, so a non-locally-optimal selection is followed further and
    # is a counterexample only if GD stays on it.
    moves = []
    segments = (0, *tol["follow_steps"])
    for seg, extra in enumerate(segments):
        if extra:
            more = train_W(p.X, p.Y, p.Z, p.v, W_end[None], steps=int(extra))
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
    if 1 - final > tol["one_minus_corr"]:  # continue 4x longer before judging a stall
        more = train_W(p.X, p.Y, p.Z, p.v, W_end[None], steps=int(tol["extended_steps"]))
        later = float(correlation(more.params["W"][0], W_mm))
        W_end = more.params["W"][0]
        if 1 - later > tol["one_minus_corr"]:
            status = "counterexample" if later - final < tol["stall"] else "inconclusive"
            return evidence(
                status,
                1 - later,
                tol["one_minus_corr"],
                trend=tuple(curve),
                note="correlation below threshold after 5x the steps",
                details={"alpha": alpha.tolist(), "corr_2000": final, "corr_10000": later},
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
def check_kq_nuclear(spec: Mapping[str, Any]) -> Evidence:
    """(K, Q) normalized GD (m = d, each factor normalized, official code): K Q^T aligns with the
    nuclear-norm SVM of its final selection, and better than with the Frobenius SVM."""
    tol = TOL["kq-nuclear"]
    p = build_problem(spec)
    d = p.d
    K0 = uniform_init((1, d, d), spec["init_seed"])
    Q0 = uniform_init((1, d, d), spec["init_seed"] + 7919)
    res = train_KQ(p.X, p.Y, p.Z, p.v, K0, Q0, steps=int(tol["steps"]), ridge=2.22e-16)
    if res.min_max_prob[0] < SATURATED:
        return evidence(
            "inconclusive",
            float("nan"),
            tol["one_minus_corr"],
            note="softmax not saturated",
            details={"min_max_prob": float(res.min_max_prob[0])},
        )
    alpha = res.selected[0]
    try:
        W_nuc = solve_nuclear_svm(p, alpha).W
        W_fro = solve_att_svm(p, alpha).W
    except InfeasibleSVM:
        return out_of_scope("Att-SVM infeasible for GD's selection", alpha=alpha.tolist())
    W = res.params["K"][0] @ res.params["Q"][0].T
    c_nuc, c_fro = float(correlation(W, W_nuc)), float(correlation(W, W_fro))
    svms = float(correlation(W_nuc, W_fro))
    details = {
        "alpha": alpha.tolist(),
        "corr_nuclear": c_nuc,
        "corr_frobenius": c_fro,
        "corr_between_svms": svms,
    }
    if svms > tol["distinct_svms"]:
        return out_of_scope("the two SVM solutions nearly coincide", **details)
    ok = (1 - c_nuc <= tol["one_minus_corr"]) and c_nuc > c_fro
    return evidence(
        "ok" if ok else "counterexample", 1 - c_nuc, tol["one_minus_corr"], details=details
    )


# ---------------------------------------------------------------- 3. regularization paths
def _check_regpath(spec: Mapping[str, Any], param: str) -> Evidence:
    tol = TOL["regpath"]
    p = build_problem(spec)
    alpha = unique_opt(p)
    if alpha is None:
        return out_of_scope("optimal token not unique")
    try:
        own = (solve_att_svm if param == "W" else solve_nuclear_svm)(p, alpha).W
        other = (solve_nuclear_svm if param == "W" else solve_att_svm)(p, alpha).W
    except InfeasibleSVM:
        return out_of_scope("Att-SVM infeasible for the optimal selection")
    radii = [1.0, 3.0, 10.0, 30.0, tol["R_max"]]
    pts = regularization_path(p, radii, param=param, starts=6, steps=1200, seed=spec["init_seed"])
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
    falling = curve[-1] < curve[-2] - tol["noise"]
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
def _local_alpha(spec: Mapping[str, Any]):
    """The problem, opt and the spec's locally-optimal selection (searched if not given)."""
    p = build_problem(spec)
    opt = unique_opt(p)
    if opt is None:
        return p, None, None
    if "alpha" in spec:
        return p, opt, np.asarray(spec["alpha"], dtype=np.int64)
    return p, opt, locally_optimal_deviation(p, opt)


def _local_specs(n: tuple[int, int], T: tuple[int, int]) -> st.SearchStrategy[dict]:
    """Specs carrying a locally-optimal, non-global selection, in scope by construction."""
    return locally_optimal_selections(n, T).map(
        lambda pair: {**pair[0].as_dict(), "alpha": pair[1].tolist()})


def _cone_run(spec: Mapping[str, Any], R: float, steps: int):
    p, opt, alpha = _local_alpha(spec)
    if alpha is None:
        return p, None, None, None
    W_mm = svm_direction(p, alpha)
    W0 = R * W_mm / np.linalg.norm(W_mm)
    res = train_runs(p, W0[None], steps)
    return p, alpha, W_mm, res


def check_local_cone(spec: Mapping[str, Any]) -> Evidence:
    """Local theorem (TFSVM-T6): for a locally-optimal alpha != opt there is a radius R such that
    GD started at R W^mm_alpha/||W^mm_alpha|| keeps selecting alpha and converges to W^mm_alpha.
    Radii are tried on the ladder ``radii``; staying but not converging is a counterexample,
    escaping at every radius of the ladder only says the ladder is too short (inconclusive)."""
    tol = TOL["local-cone"]
    escaped_at = []
    for R in tol["radii"]:
        p, alpha, W_mm, res = _cone_run(spec, R, int(tol["steps"]))
        if alpha is None:
            return out_of_scope("no locally-optimal one-input deviation of opt")
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


def check_fixed_radius(spec: Mapping[str, Any]) -> Evidence:
    """Limit (the catalog's protocol, R = 100 'in my instances'): a fixed start radius is not
    enough for every instance; the radius the local theorem needs depends on the data."""
    tol = TOL["local-cone"]
    p, alpha, W_mm, res = _cone_run(spec, tol["R"], int(tol["steps"]))
    if alpha is None:
        return out_of_scope("no locally-optimal one-input deviation of opt")
    escaped = not np.array_equal(res.selected[0], alpha)
    return evidence("counterexample" if escaped else "ok", float(escaped), 0.5,
                    details={"alpha": alpha.tolist(), "final": res.selected[0].tolist(),
                             "R": tol["R"]},
                    note="GD left the locally-optimal selection from radius 100" if escaped
                    else "")


def check_small_norm_escape(spec: Mapping[str, Any]) -> Evidence:
    """Limit of the local theorem: started at small norm on a locally-optimal alpha's SVM
    direction, GD may leave alpha (the cone needs a large radius)."""
    tol = TOL["escape"]
    p, alpha, W_mm, res = _cone_run(spec, tol["R"], int(tol["steps"]))
    if alpha is None:
        return out_of_scope("no locally-optimal one-input deviation of opt")
    escaped = not np.array_equal(res.selected[0], alpha)
    return evidence(
        "counterexample" if escaped else "ok",
        float(escaped),
        0.5,
        details={"alpha": alpha.tolist(), "final": res.selected[0].tolist()},
        note="GD left the locally-optimal selection" if escaped else "",
    )


# ---------------------------------------------------------------- 5. global convergence
def check_equal_scores_global(spec: Mapping[str, Any]) -> Evidence:
    """Equal non-optimal scores: from random and adversarial inits, GD selects opt in every input
    and aligns with the global W^mm."""
    tol = TOL["equal-scores"]
    p = build_problem(spec)
    opt = unique_opt(p)
    W_mm = svm_direction(p, opt)
    if W_mm is None:
        return out_of_scope("Att-SVM infeasible for opt")
    inits = [random_inits(p.d, 3, spec["init_seed"])]
    for a in single_deviations(p, opt)[:3]:  # adversarial: along other selections' SVMs
        W_a = svm_direction(p, a)
        if W_a is not None:
            inits.append((2.0 * W_a / np.linalg.norm(W_a))[None])
    res = train_runs(p, np.concatenate(inits), int(tol["steps"]))
    if np.min(res.min_max_prob) < SATURATED:
        return evidence(
            "inconclusive", float("nan"), tol["one_minus_corr"], note="softmax not saturated"
        )
    corr = correlation(res.params["W"], W_mm[None])
    global_runs = np.all(res.selected == opt[None], axis=1)
    gap = float(np.max(1 - corr))
    ok = bool(np.all(global_runs)) and gap <= tol["one_minus_corr"]
    return evidence(
        "ok" if ok else "counterexample",
        gap if np.all(global_runs) else 1.0,
        tol["one_minus_corr"],
        details={
            "global_runs": int(global_runs.sum()),
            "runs": len(global_runs),
            "min_corr": float(np.min(corr)),
        },
    )


def check_overparam_fraction(spec: Mapping[str, Any]) -> Evidence:
    """The fraction of random-init runs that end globally optimal rises with d (n = 6, T = 8):
    one-sided test at level alpha that p(d_large) > p(d_small), Wilson intervals reported."""
    from scipy.stats import norm as normal

    tol = TOL["overparam"]
    runs, dims = spec["runs"], spec["dims"]
    fractions = []
    for d in dims:
        wins = total = 0
        for j in range(runs // 10):
            p = build_problem(
                {
                    **spec,
                    "family": "paper",
                    "n": 6,
                    "T": 8,
                    "d": d,
                    "seed": spec["seed"] + 1000 * d + j,
                }
            )
            opt = unique_opt(p)
            res = train_runs(p, random_inits(d, 10, spec["seed"] + j), 1500)
            ok = np.all(res.selected == opt[None], axis=1) & (res.min_max_prob > SATURATED)
            wins += int(ok.sum())
            total += 10
        fractions.append((wins, total))
    (k0, n0), (k1, n1) = fractions[0], fractions[-1]
    p0, p1 = k0 / n0, k1 / n1
    pooled = (k0 + k1) / (n0 + n1)
    se = np.sqrt(max(pooled * (1 - pooled), 1e-12) * (1 / n0 + 1 / n1))
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
def check_feasible_overparam(spec: Mapping[str, Any]) -> Evidence:
    """d >= max(T-1, n), generic data: Att-SVM_alpha is feasible for every alpha (sampled)."""
    p = build_problem(spec)
    rng = np.random.default_rng(spec["seed"])
    worst = np.inf
    for _ in range(8):
        alpha = rng.integers(0, p.T, size=p.n)
        cons = margin_constraints(p, alpha)
        if np.any(np.linalg.norm(cons.a, axis=1) * np.linalg.norm(cons.z, axis=1) == 0):
            return out_of_scope("a duplicate token or zero query: not in general position",
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
    return evidence("ok", 1 - worst, 1e-8, details={"min_margin": worst})


def check_feasible_underparam(spec: Mapping[str, Any]) -> Evidence:
    """Limit: below the over-parameterization threshold some alpha is infeasible; the Farkas
    certificate (lambda >= 0, sum 1, ||sum lambda_k a_k z_k^T|| = 0) is verified independently."""
    p = build_problem(spec)
    rng = np.random.default_rng(spec["seed"])
    for _ in range(12):
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
                1e-9,
                details={"alpha": alpha.tolist(), "certificate_verified": verified},
            )
    return evidence("ok", 0.0, 0.0, note="every sampled selection was feasible")


# ---------------------------------------------------------------- 7. rank / row space
def check_rank_lemma(spec: Mapping[str, Any]) -> Evidence:
    """rank(W^mm) <= n and row space in span{z_i}, for the Frobenius and nuclear solutions and
    for an independent solver (cvxpy + Clarabel), ranks with a relative threshold."""
    tol = TOL["rank"]
    p = build_problem(spec)
    alpha = unique_opt(p)
    if alpha is None:
        return out_of_scope("optimal token not unique")
    try:
        sols = {
            "fro": solve_att_svm(p, alpha),
            "nuc": solve_nuclear_svm(p, alpha),
            "fro-clarabel": solve_att_svm_cvxpy(p, alpha, "fro"),
        }
    except InfeasibleSVM:
        return out_of_scope("infeasible")
    U, s, _ = np.linalg.svd(p.Z.T, full_matrices=False)
    basis = U[:, s > 1e-10 * s[0]]
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


def check_nuclear_rank_le_fro(spec: Mapping[str, Any]) -> Evidence:
    """Empirical (svm_rank figure): rank(W^mm_nuc) <= rank(W^mm_fro), relative threshold."""
    p = build_problem(spec)
    alpha = unique_opt(p)
    if alpha is None:
        return out_of_scope("optimal token not unique")
    try:
        r_nuc = solve_nuclear_svm(p, alpha).rank
        r_fro = solve_att_svm(p, alpha).rank
    except InfeasibleSVM:
        return out_of_scope("infeasible")
    return evidence(
        "ok" if r_nuc <= r_fro else "counterexample",
        r_nuc - r_fro,
        0,
        details={"rank_nuclear": r_nuc, "rank_frobenius": r_fro},
    )


# ---------------------------------------------------------------- 8. global convergence fails
def check_global_fails(spec: Mapping[str, Any]) -> Evidence:
    """Limit: on generic data GD can converge to a locally-optimal, non-global selection whose
    SVM direction correlates below 0.9 with the global W^mm."""
    tol = TOL["global-fails"]
    p = build_problem(spec)
    opt = unique_opt(p)
    W_glob = svm_direction(p, opt) if opt is not None else None
    if W_glob is None:
        return out_of_scope("opt not unique or infeasible")
    res = train_runs(p, random_inits(p.d, 8, spec["init_seed"]), 2000)
    best_corr = 1.0
    found = None
    for b in range(8):
        alpha = res.selected[b]
        if res.min_max_prob[b] < SATURATED or np.array_equal(alpha, opt):
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
def check_svmeq(spec: Mapping[str, Any]) -> Evidence:
    """ReLU head (official multi_token_converge protocol, n=3, T=4): on accepted multi-token
    runs, W^fin + R W^dir predicts the GD iterate better than the single-token W^mm (mean of
    1 - corr over the accepted runs)."""
    tol = TOL["svmeq"]
    d, runs = spec["d"], spec["runs"]
    errs_eq, errs_dir, errs_one, accepted, multi = [], [], [], 0, 0
    for j in range(runs):
        p = build_problem({**spec, "family": "paper", "n": 3, "T": 4, "seed": spec["seed"] + j})
        if np.all(p.Y > 0):
            continue
        V = np.random.default_rng(spec["seed"] + j).standard_normal((d, d))
        head = ReLUHead(V / np.linalg.norm(V))
        res = train_W(
            p.X, p.Y, p.Z, head, uniform_init((1, d, d), spec["seed"] + j), steps=int(tol["steps"])
        )
        s = probabilities(p.X, res.params["W"][0], p.Z)
        if np.any((s > tol["low"]) & (s <= tol["high"])) or not np.any(s <= tol["low"]):
            continue
        sets = selected_sets(s, tol["high"])
        try:
            eq = svm_equivalence(p, res.params["W"][0], probs=s, threshold=tol["high"])
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
    if multi == 0:
        return out_of_scope("no accepted multi-token run", accepted=accepted)
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


# ---------------------------------------------------------------- 11. saturation rate
def check_saturation(spec: Mapping[str, Any]) -> Evidence:
    """Along W = R W^mm/||W^mm||, each input's non-selected mass lies in [e/(1+e), (T-1) e],
    e = exp(-R m_i/||W^mm||) with m_i >= 1 its smallest margin (symbolic 'softmax-saturation')."""
    tol = TOL["saturation"]
    p = build_problem(spec)
    alpha = unique_opt(p)
    if alpha is None:
        return out_of_scope("optimal token not unique")
    try:
        sol = solve_att_svm(p, alpha)
    except InfeasibleSVM:
        return out_of_scope("infeasible")
    nW = float(np.linalg.norm(sol.W))
    cons = margin_constraints(p, alpha)
    margins = cons.values(sol.W).reshape(p.n, p.T - 1)
    m_min = margins.min(axis=1)
    worst = -np.inf
    trend = []
    others = np.arange(p.T)[None, :] != alpha[:, None]
    eps = np.finfo(np.float64).eps
    for R in np.geomspace(0.1, 1e4, 13):
        Wr = R * sol.W / nW
        s = probabilities(p.X, Wr, p.Z)
        mass = np.sum(np.where(others, s, 0.0), axis=1)  # no cancellation, unlike 1 - s_alpha
        e = np.exp(-R / nW * m_min)
        upper = (p.T - 1) * e  # margins >= 1 give (T-1) exp(-R/||W^mm||) >= this
        lower = e / (1 + e)
        keep = lower > 1e-290  # below that both sides are at the underflow threshold
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
def check_ties_split(spec: Mapping[str, Any]) -> Evidence:
    """Limit: with exactly tied optimal tokens (gap 0) GD need not select a single token; the
    mass can stay split between the tied tokens."""
    tol = TOL["ties"]
    p = build_problem(spec)
    res = train_runs(p, random_inits(p.d, 4, spec["init_seed"]), int(tol["steps"]))
    split = float(1 - np.min(res.min_max_prob))
    return evidence(
        "counterexample" if split > tol["split"] else "ok",
        split,
        tol["split"],
        score=split - tol["split"],
        details={"min_max_prob": float(np.min(res.min_max_prob))},
    )


def _init(spec_strategy: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    return spec_strategy


_seeds = st.integers(0, 2**31 - 1)
SRC = "Tarzanagh et al., Transformers as Support Vector Machines, arXiv 2308.16898v3"

CLAIMS = [
    Claim(
        id="tfsvm.ngd-direction-W",
        source=f"{SRC}; local GD convergence (TFSVM-T6, UNVERIFIED Thm number); official "
        "local_converge experiment",
        statement="Normalized GD on W converges in direction to W^mm_alpha of its final "
        "selection alpha, which is locally optimal; corr rises over checkpoints (late "
        "checkpoints non-decreasing up to 1e-3) and no one-input deviation's SVM is closer.",
        conditions="paper family, softmax saturated (else inconclusive); a selection that is not "
        "locally optimal at 2000 steps is followed 2000 + 8000 more steps (transients)",
        instances=problem_spec_strategy(
            "paper", (2, 6), (2, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_ngd_direction,
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 0, "options": {}, "init_seed": 0},
        ),
        tolerances=TOL["ngd-direction"],
        budget={"ci": 4, "dev": 30, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.kq-nuclear-bias",
        source=f"{SRC}; (K,Q) GD bias (TFSVM-O1, empirical in the paper); local_converge (KQ)",
        statement="Normalized GD on (K, Q), m = d: K Q^T aligns with the nuclear-norm SVM "
        "W*^mm_alpha of its selection, measurably better than with the Frobenius one.",
        conditions="paper family; softmax saturated; the two SVM solutions differ (corr < 0.99)",
        instances=problem_spec_strategy(
            "paper", (2, 6), (3, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_kq_nuclear,
        expected=Expected.OPEN,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 1, "options": {}, "init_seed": 1},
        ),
        tolerances=TOL["kq-nuclear"],
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.regpath-W",
        source=f"{SRC}; regularization path -> Att-SVM (TFSVM-T2, UNVERIFIED 'Theorem 2')",
        statement="W_R / R -> W^mm / ||W^mm|| as R -> infinity (W_R = argmin_{||W||<=R} L).",
        conditions="unique optimal tokens; Att-SVM feasible",
        instances=problem_spec_strategy(
            "paper", (2, 4), (3, 4), (0, 1), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=lambda s: _check_regpath(s, "W"),
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 4, "seed": 1, "options": {}, "init_seed": 0},
        ),
        tolerances=TOL["regpath"],
        budget={"ci": 2, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.regpath-KQ",
        source=f"{SRC}; (K,Q) regularization path -> Att-SVM* (TFSVM-T2)",
        statement="(K Q^T)_R / R -> W*^mm / ||W*^mm||_* (nuclear-norm SVM) as R -> infinity.",
        conditions="unique optimal tokens; Att-SVM feasible; m = d",
        instances=problem_spec_strategy(
            "paper", (2, 4), (3, 4), (0, 1), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=lambda s: _check_regpath(s, "KQ"),
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 4, "seed": 1, "options": {}, "init_seed": 0},
        ),
        tolerances=TOL["regpath"],
        budget={"ci": 2, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone",
        source=f"{SRC}; local GD convergence in a cone (TFSVM-T6, D5)",
        statement="For a locally-optimal alpha != opt there is a radius R (tried: 100, 1e3, 1e4) "
        "such that normalized GD started at R W^mm_alpha/||W^mm_alpha|| keeps alpha and "
        "converges in direction to W^mm_alpha.",
        conditions="a locally-optimal one-input deviation of opt exists",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_local_cone,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 3, "options": {}},),
        tolerances=TOL["local-cone"],
        budget={"ci": 3, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone-fixed-radius",
        source=f"{SRC}; limit of the catalog's protocol (claims-tfsvm.md §7.6, §8.8: 'R >= 100 "
        "(my instances)')",
        statement="(naive) starting at radius R = 100 on a locally-optimal SVM direction is "
        "always enough for GD to stay at alpha.",
        conditions="a locally-optimal one-input deviation of opt exists; start radius 100",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_fixed_radius,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 4, "T": 8, "d": 9, "seed": 13751, "options": {}},),
        tolerances=TOL["local-cone"],
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.local-cone-small-norm",
        source=f"{SRC}; limit of the local theorem (catalog §6.4, §7.6)",
        statement="(naive) GD started on a locally-optimal SVM direction stays there at any norm.",
        conditions="a locally-optimal one-input deviation of opt exists; start norm R = 1",
        instances=_local_specs((4, 6), (6, 8)),
        check=check_small_norm_escape,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 3, "options": {}},),
        tolerances=TOL["escape"],
        budget={"ci": 8, "dev": 30, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.global-equal-scores",
        source=f"{SRC}; global convergence under equal non-optimal scores (TFSVM-T4)",
        statement="If every non-optimal token of each input has the same score, GD selects opt "
        "from any init and W(k)/||W(k)|| -> W^mm/||W^mm||.",
        conditions="equal-scores family (premise by construction)",
        instances=problem_spec_strategy(
            "equal-scores",
            (2, 6),
            (2, 8),
            (0, 3),
            overparameterized=True,
            extra={"init_seed": _seeds},
        ),
        check=check_equal_scores_global,
        expected=Expected.HOLDS,
        tolerances=TOL["equal-scores"],
        budget={"ci": 3, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.overparam-global-fraction",
        source=f"{SRC}; over-parameterization catalyzes global convergence (TFSVM-T5; figure "
        "setup UNVERIFIED)",
        statement="The fraction of random-init runs that select opt everywhere rises with d.",
        conditions="paper family, n = 6, T = 8",
        instances=st.fixed_dictionaries(
            {"seed": _seeds, "runs": st.just(30), "dims": st.just([4, 32])}
        ),
        check=check_overparam_fraction,
        expected=Expected.HOLDS,
        samples=({"seed": 0, "runs": 30, "dims": [4, 32]},),
        tolerances=TOL["overparam"],
        budget={"ci": 0, "dev": 2, "deep": 10},
        shrink=False,
    ),
    Claim(
        id="tfsvm.feasible-overparam",
        source=f"{SRC}; feasibility for every alpha when d >= max(T-1, n) (TFSVM-T1)",
        statement="For generic data with d >= max(T-1, n), Att-SVM_alpha is feasible for every "
        "selection alpha.",
        conditions="paper family with d >= max(T-1, n, 2) (at d = 1 unit tokens are +-1: "
        "duplicates occur with positive probability, so the data are not in general position)",
        instances=problem_spec_strategy("paper", (1, 8), (2, 9), (0, 2), overparameterized=True,
                                        min_d=2),
        check=check_feasible_overparam,
        expected=Expected.HOLDS,
        tolerances={},
        budget={"ci": 15, "dev": 100, "deep": 2000},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.feasible-underparam",
        source=f"{SRC}; limit: infeasibility below the threshold (catalog §6.2)",
        statement="(naive) Att-SVM_alpha is feasible for every alpha whatever d.",
        conditions="d = 1 or d small against n and T",
        instances=problem_spec_strategy("paper", (3, 12), (3, 6), (1, 2)),
        check=check_feasible_underparam,
        expected=Expected.FAILS,
        samples=({"family": "paper", "n": 4, "T": 3, "d": 1, "seed": 0, "options": {}},),
        tolerances={},
        budget={"ci": 10, "dev": 50, "deep": 500},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.rank-lemma",
        source=f"{SRC}; rank <= n and row space in span{{z_i}} (TFSVM-L1)",
        statement="Every solution of Att-SVM and Att-SVM* has rank <= n and row space inside "
        "span{z_1..z_n}.",
        conditions="unique optimal tokens; feasible",
        instances=problem_spec_strategy("paper", (1, 5), (2, 5), (0, 4), overparameterized=True),
        check=check_rank_lemma,
        expected=Expected.HOLDS,
        tolerances=TOL["rank"],
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.nuclear-rank-le-fro",
        source=f"{SRC}; svm_rank figure (empirical)",
        statement="rank(W*^mm) <= rank(W^mm) (relative threshold 1e-6).",
        conditions="unique optimal tokens; feasible",
        instances=problem_spec_strategy("paper", (2, 6), (2, 6), (0, 4), overparameterized=True),
        check=check_nuclear_rank_le_fro,
        expected=Expected.OPEN,
        tolerances=TOL["rank"],
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.global-convergence",
        source=f"{SRC}; limit: local, not global (catalog §6.1, §7.2)",
        statement="(naive) GD from random init always converges to the global W^mm.",
        conditions="paper family n = 6, T = 8, d = 10; opt unique and feasible",
        instances=problem_spec_strategy(
            "paper", (6, 6), (8, 8), (0, 3), overparameterized=True, extra={"init_seed": _seeds}
        ),
        check=check_global_fails,
        expected=Expected.FAILS,
        samples=(
            {"family": "paper", "n": 6, "T": 8, "d": 10, "seed": 0, "options": {}, "init_seed": 0},
        ),
        tolerances=TOL["global-fails"],
        budget={"ci": 12, "dev": 40, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="tfsvm.svm-equivalence-nonlinear",
        source=f"{SRC}; SVM-equivalence for nonlinear heads (TFSVM-O2, empirical; official "
        "multi_token_converge protocol and filter)",
        statement="For a ReLU head, W^fin + R W^dir predicts the GD iterate better than the "
        "single-token W^mm (mean 1 - corr over accepted multi-token runs).",
        conditions="runs accepted by the official filter (no softmax entry in (1e-6, 1e-3])",
        instances=st.fixed_dictionaries(
            {"seed": _seeds, "d": st.sampled_from([4, 6]), "runs": st.just(16)}
        ),
        check=check_svmeq,
        expected=Expected.OPEN,
        samples=({"seed": 0, "d": 4, "runs": 16},),
        tolerances=TOL["svmeq"],
        budget={"ci": 0, "dev": 3, "deep": 20},
        shrink=False,
    ),
    Claim(
        id="tfsvm.softmax-saturation",
        source=f"{SRC}; softmax -> hardmax along the SVM direction (symbolic derivation "
        "'softmax-saturation')",
        statement="Along W = R W^mm/||W^mm||, the non-selected mass of input i lies between "
        "e/(1+e) and (T-1) e with e = exp(-R m_i/||W^mm||), m_i >= 1 its smallest "
        "margin; so it is at most (T-1) exp(-R/||W^mm||) and decays at rate m_i/||W^mm||.",
        conditions="unique optimal tokens; feasible",
        instances=problem_spec_strategy("paper", (1, 5), (2, 6), (0, 3), overparameterized=True),
        check=check_saturation,
        expected=Expected.HOLDS,
        tolerances=TOL["saturation"],
        budget={"ci": 10, "dev": 50, "deep": 500},
        build_problem=build_problem,
    ),
    Claim(
        id="tfsvm.ties-single-token",
        source=f"{SRC}; limit: ties violate the unique-optimum hypothesis (catalog §6.5)",
        statement="(naive) GD attention always ends up selecting a single token per input.",
        conditions="near-tie family with gap 0 (exact ties), equal labels' scores",
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
        tolerances=TOL["ties"],
        budget={"ci": 6, "dev": 30, "deep": 300},
        build_problem=build_problem,
        shrink=False,
    ),
]
