"""Claims of "Max-Margin Token Selection in Attention Mechanism" (Tarzanagh, Li, Zhang, Oymak,
arXiv 2306.13596v4, NeurIPS 2023): prompt attention f(X) = <X v, softmax(X W p)>, keys
k_it = W^T x_it (rows of X W). Theorem numbers UNVERIFIED (catalog claims-tfsvm.md, MMTS-...).
The official examples (single_input_converge, joint_training, diff_loss_function) are built
exactly as the official notebooks describe them; hypothesis varies their free parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.claims.common import SATURATED, evidence, out_of_scope
from attnsvm.properties.registry import Claim
from attnsvm.properties.verdicts import Evidence, Expected
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.training import correlation, train_prompt, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.prompt import solve_head_svm, solve_prompt_svm, solve_relaxed_prompt_svm
from attnsvm.reference.svm.selection import token_scores

SRC = (
    "Tarzanagh, Li, Zhang, Oymak, Max-Margin Token Selection in Attention Mechanism, "
    "arXiv 2306.13596v4"
)

TOL: dict[str, dict[str, float]] = {
    "prompt-direction": {"one_minus_corr": 0.05, "steps": 2000},
    "single-input": {"steps": 1000},
    "joint": {"one_minus_corr": 0.01, "steps": 4000},
    "offset": {"offset": 0.1, "steps": 1000},
}

KEY_2D = np.diag([1.0, 1.0, 0.0])  # official examples: keys are the first two coordinates


# ----------------------------------------------------------------------------- instances
def build_instance(spec: Mapping[str, Any]) -> AttentionProblem:
    """The attention problem of an MMTS spec (official examples or a random family)."""
    kind = spec["kind"]
    if kind == "random":
        return make_problem(spec["family"], spec["n"], spec["T"], spec["d"], spec["seed"])
    if kind == "single-input":
        third = spec["third_score"]
        X = np.array([[[-0.1, 1.0, 1.0], [1.0, 0.0, 0.9], [0.0, 0.0, third]]])
        return AttentionProblem(X, [1.0], [0.0, 0.0, 1.0], np.zeros((1, 3)))
    if kind == "joint":
        third = spec["third_token"]
        X = np.array([[[0, 0], [1, 1]], [[0, 0], [1, -1]], [[0, 0], third]], dtype=float)
        return AttentionProblem(X, [1.0, -1.0, 1.0], spec["v0"], np.zeros((3, 2)))
    if kind == "loss-offset":
        C = spec["C"]
        X = np.array([[[0, 0, 0], [1, 1, C]], [[0, 0, 0], [1, -1, 1]]], dtype=float)
        return AttentionProblem(X, [1.0, 1.0], [0.0, 0.0, 1.0], np.zeros((2, 3)))
    raise ValueError(f"unknown MMTS instance kind {kind!r}")


def _key(spec: Mapping[str, Any]) -> np.ndarray | None:
    return KEY_2D if spec["kind"] in ("single-input", "loss-offset") else None


def _prompt_locally_optimal(p: AttentionProblem, alpha: np.ndarray, sol) -> bool:
    """MMTS local optimality: every support token of p^mm_alpha scores strictly below alpha_i."""
    g = token_scores(p)
    pairs = np.asarray(sol.support).reshape(-1, 2)
    return all(g[i, alpha[i]] > g[i, t] for i, t in pairs)


# ----------------------------------------------------------------------------- checks
def check_prompt_direction(spec: Mapping[str, Any]) -> Evidence:
    """Normalized GD on p converges in direction to p^mm of its final selection, which is
    locally optimal (MMTS local/global GD theorems)."""
    tol = TOL["prompt-direction"]
    p = build_instance(spec)
    res = train_prompt(
        p.X, p.Y, p.v, uniform_init((1, p.d), spec["init_seed"]), steps=int(tol["steps"])
    )
    if res.min_max_prob[0] < SATURATED:
        return evidence(
            "inconclusive", float("nan"), tol["one_minus_corr"], note="softmax not saturated"
        )
    alpha = res.selected[0]
    try:
        sol = solve_prompt_svm(p, alpha)
    except InfeasibleSVM:
        return evidence(
            "counterexample",
            1.0,
            tol["one_minus_corr"],
            note="GD's selection has an infeasible p-SVM",
            details={"alpha": alpha.tolist()},
        )
    c = float(correlation(res.params["p"][0], sol.W[:, 0]))
    local = _prompt_locally_optimal(p, alpha, sol)
    ok = local and 1 - c <= tol["one_minus_corr"]
    return evidence(
        "ok" if ok else "counterexample",
        1 - c,
        tol["one_minus_corr"],
        details={"alpha": alpha.tolist(), "corr": c, "locally_optimal": local},
    )


def check_single_input_global(spec: Mapping[str, Any]) -> Evidence:
    """Limit (official single_input_converge, local variant): from p(0) = (0, c, 0) GD can
    converge to the locally-optimal token 2 (direction (1, 0)), not the global token 1."""
    p = build_instance(spec)
    p0 = np.array([[0.0, spec["c"], 0.0]])
    res = train_prompt(p.X, p.Y, p.v, p0, key=KEY_2D, steps=int(TOL["single-input"]["steps"]))
    sel = int(res.selected[0][0])
    glob = solve_prompt_svm(p, [0], KEY_2D).W[:, 0]
    c_glob = float(correlation(res.params["p"][0], glob))
    details = {"selected": sel, "corr_global": c_glob, "p": res.params["p"][0].tolist()}
    if sel != 0:
        loc = solve_prompt_svm(p, [sel], KEY_2D)
        details["corr_local"] = float(correlation(res.params["p"][0], loc.W[:, 0]))
        details["local_is_locally_optimal"] = _prompt_locally_optimal(p, np.array([sel]), loc)
        return evidence(
            "counterexample",
            1 - c_glob,
            0.05,
            score=1 - c_glob,
            details=details,
            note="GD converged to a locally-optimal, non-global token",
        )
    return evidence("ok", 1 - c_glob, 0.05, score=1 - c_glob, details=details)


def check_single_input_equal(spec: Mapping[str, Any]) -> Evidence:
    """Global variant (g_converge=True): the third token's score raised to 0.9 makes token 2
    non-locally-optimal, so every init converges to the global token."""
    ev = check_single_input_global(spec)
    return ev


def rate_weighted_direction(
    p: AttentionProblem, alpha: np.ndarray, v_dir: np.ndarray, kappa: float
) -> dict[str, Any]:
    """[DER] Limit direction of joint NGD when ||v|| / ||p|| -> kappa:

        p* = argmax_{||p|| <= 1} min_{i, t != alpha_i} kappa mu_i + (k_{i alpha_i} - k_it)^T p,

    mu_i = Y_i v_dir^T x_{i alpha_i} (v_dir = v^mm/||v^mm||): input i's p-gradient carries the
    weight exp(-||v|| mu_i - ||p|| rho_it), so the slowest-decaying exponent wins. kappa -> inf
    recovers MMTS's relaxed SVM (inputs with mu_i > min mu drop out). Solved with cvxpy +
    Clarabel and certified by the minimax dual min_{lambda in simplex} lambda^T c + ||A^T lambda||.
    """
    import cvxpy as cp

    keys = p.X
    rows, offs = [], []
    mu = p.Y * (keys[np.arange(p.n), alpha] @ v_dir)
    for i in range(p.n):
        for t in range(p.T):
            if t != alpha[i]:
                rows.append(keys[i, alpha[i]] - keys[i, t])
                offs.append(kappa * mu[i])
    A, c = np.array(rows), np.array(offs)
    x, tt = cp.Variable(p.d), cp.Variable()
    cons = [c + A @ x >= tt, cp.norm(x, 2) <= 1]
    cp.Problem(cp.Maximize(tt), cons).solve(solver=cp.CLARABEL)
    lam = np.clip(np.asarray(cons[0].dual_value, dtype=float).ravel(), 0, None)
    lam = lam / lam.sum()
    xs = np.asarray(x.value, dtype=float)
    lower = float(
        np.min(c + A @ xs) if np.linalg.norm(xs) <= 1 else np.min(c + A @ xs) / np.linalg.norm(xs)
    )
    upper = float(lam @ c + np.linalg.norm(A.T @ lam))
    return {"p": xs, "value": lower, "duality_gap": upper - lower, "mu": mu.tolist()}


def _joint_run(spec: Mapping[str, Any]):
    p = build_instance(spec)
    res = train_prompt(
        p.X,
        p.Y,
        np.asarray(spec["v0"]),
        np.array([spec["p0"]]),
        train_v=True,
        steps=int(TOL["joint"]["steps"]),
        lr_v_ratio=spec.get("kappa", 1.0),
    )
    alpha = res.selected[0]
    head = solve_head_svm(p, alpha)
    return p, res, alpha, head


def check_joint_relaxed(spec: Mapping[str, Any]) -> Evidence:
    """Limit of MMTS's joint (v, p) result under its official optimizer: with equal normalized
    steps for v and p (official joint_training), p need not align with p^relax."""
    tol = TOL["joint"]
    try:
        p, res, alpha, head = _joint_run(spec)
        relaxed = solve_relaxed_prompt_svm(p, alpha, head=head)
    except InfeasibleSVM:
        return out_of_scope("an SVM of the joint problem is infeasible")
    pv = res.params["p"][0]
    c_rel = float(correlation(pv, relaxed.W[:, 0]))
    c_v = float(correlation(res.params["v"][0], head.W[:, 0]))
    details = {
        "alpha": alpha.tolist(),
        "corr_p_relaxed": c_rel,
        "corr_v_head": c_v,
        "head_support": relaxed.extra.get("head_support"),
    }
    if res.min_max_prob[0] < SATURATED:
        return evidence("inconclusive", 1 - c_rel, tol["one_minus_corr"], details=details)
    gap = 1 - c_rel
    return evidence(
        "counterexample" if gap > tol["one_minus_corr"] else "ok",
        gap,
        tol["one_minus_corr"],
        details=details,
    )


def check_joint_rate_weighted(spec: Mapping[str, Any]) -> Evidence:
    """[DER] Joint NGD with ||v||/||p|| -> kappa converges to v^mm and to the rate-weighted
    max-min direction p* (``rate_weighted_direction``), which is p^relax only as kappa -> inf."""
    tol = TOL["joint"]
    try:
        p, res, alpha, head = _joint_run(spec)
    except InfeasibleSVM:
        return out_of_scope("head SVM infeasible")
    v_dir = head.W[:, 0] / np.linalg.norm(head.W[:, 0])
    pred = rate_weighted_direction(p, alpha, v_dir, float(spec.get("kappa", 1.0)))
    pv = res.params["p"][0]
    c_pred = float(correlation(pv, pred["p"]))
    c_v = float(correlation(res.params["v"][0], v_dir))
    details = {
        "alpha": alpha.tolist(),
        "corr_p_prediction": c_pred,
        "corr_v_head": c_v,
        "prediction": pred["p"].tolist(),
        "certificate_gap": pred["duality_gap"],
        "kappa": spec.get("kappa", 1.0),
    }
    if pred["duality_gap"] > 1e-6 or pred["value"] <= 0:
        return out_of_scope("prediction not certified or non-positive max-min value", **details)
    if res.min_max_prob[0] < SATURATED:
        return evidence("inconclusive", 1 - c_pred, tol["one_minus_corr"], details=details)
    gap = max(1 - c_pred, 1 - c_v)
    return evidence(
        "ok" if gap <= tol["one_minus_corr"] else "counterexample",
        gap,
        tol["one_minus_corr"],
        details=details,
    )


def check_loss_offset(spec: Mapping[str, Any]) -> Evidence:
    """Limit (official diff_loss_function, l(x) = -x): the direction converges to p^mm = (1, 0)
    but p keeps a finite offset 1/2 ln C orthogonal to it (stationarity C e^{-(p1+p2)} =
    e^{-(p1-p2)}), so p(k) - ||p(k)|| p^mm/||p^mm|| does not vanish."""
    tol = TOL["offset"]
    p = build_instance(spec)
    res = train_prompt(
        p.X, p.Y, p.v, np.zeros((1, 3)), key=KEY_2D, steps=int(tol["steps"]), loss="correlation"
    )
    pv = res.params["p"][0]
    offset = float(abs(pv[1]))
    predicted = 0.5 * np.log(spec["C"])
    details = {
        "p": pv.tolist(),
        "offset": offset,
        "half_log_C": predicted,
        "corr_pmm": float(correlation(pv, np.array([1.0, 0.0, 0.0]))),
    }
    return evidence(
        "counterexample" if offset > tol["offset"] else "ok",
        offset,
        tol["offset"],
        score=offset - tol["offset"],
        details=details,
    )


def _joint_specs(kappa: st.SearchStrategy[float]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries(
        {
            "kind": st.just("joint"),
            "third_token": st.tuples(st.floats(0.2, 0.8), st.floats(1.1, 1.9)).map(list),
            "v0": st.just([-1.0, 0.0]),
            "p0": st.just([0.0, -1.0]),
            "kappa": kappa,
        }
    )


def _random_specs(family: str) -> st.SearchStrategy[dict]:
    def make(t: tuple[int, int, int, int, int]) -> dict:
        n, T, k, seed, init = t
        return {
            "kind": "random",
            "family": family,
            "n": n,
            "T": T,
            "d": n * (T - 1) + k,
            "seed": seed,
            "init_seed": init,
        }

    return st.tuples(
        st.integers(1, 3),
        st.integers(2, 4),
        st.integers(0, 2),
        st.integers(0, 2**31 - 1),
        st.integers(0, 2**31 - 1),
    ).map(make)


CLAIMS = [
    Claim(
        id="mmts.prompt-gd-direction",
        source=f"{SRC}; GD on p converges to a locally-optimal p^mm (MMTS-T1/T2, UNVERIFIED)",
        statement="Normalized GD on the prompt p converges in direction to p^mm_alpha of its "
        "final selection alpha, and alpha is locally optimal.",
        conditions="paper family with d >= n(T-1) (the shared p-SVM is then feasible "
        "generically); softmax saturated",
        instances=_random_specs("paper"),
        check=check_prompt_direction,
        expected=Expected.HOLDS,
        tolerances=TOL["prompt-direction"],
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.prompt-global-equal-scores",
        source=f"{SRC}; global convergence under equal non-optimal scores (MMTS-T1, UNVERIFIED "
        "exact condition)",
        statement="With equal non-optimal scores, GD on p selects opt in every input and aligns "
        "with p^mm.",
        conditions="equal-scores family with d >= n(T-1)",
        instances=_random_specs("equal-scores"),
        check=lambda s: _global_equal(s),
        expected=Expected.HOLDS,
        tolerances=TOL["prompt-direction"],
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.single-input-global",
        source=f"{SRC}; official single_input_converge (g_converge=False), MMTS-T2 limit",
        statement="(naive) GD on p converges to the globally optimal token from every init.",
        conditions="official single-input example: n=1, T=3, W=diag(1,1,0), p(0)=(0,c,0)",
        instances=st.fixed_dictionaries(
            {
                "kind": st.just("single-input"),
                "third_score": st.just(0.0),
                "c": st.floats(-2.0, 1.0, allow_nan=False),
            }
        ),
        check=check_single_input_global,
        expected=Expected.FAILS,
        tolerances={},
        budget={"ci": 10, "dev": 40, "deep": 200},
        build_problem=build_instance,
    ),
    Claim(
        id="mmts.single-input-equal-scores",
        source=f"{SRC}; official single_input_converge (g_converge=True)",
        statement="With the third token's score raised to 0.9 (token 2 no longer locally "
        "optimal), GD converges to the global token from every init p(0)=(0,c,0).",
        conditions="official single-input example, third score 0.9",
        instances=st.fixed_dictionaries(
            {
                "kind": st.just("single-input"),
                "third_score": st.just(0.9),
                "c": st.floats(-2.0, 1.0, allow_nan=False),
            }
        ),
        check=check_single_input_equal,
        expected=Expected.HOLDS,
        samples=tuple(
            {"kind": "single-input", "third_score": 0.9, "c": c}
            for c in (1.0, 0.5, 0.0, -0.5, -1.0, -1.5)
        ),
        tolerances={},
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
    ),
    Claim(
        id="mmts.joint-ngd-relaxed",
        source=f"{SRC}; joint (v, p) -> (v^mm, p^relax) (MMTS-T5, a regularization-path result "
        "with growth conditions on r, R, UNVERIFIED) run with the official joint_training "
        "optimizer (equal normalized steps for v and p)",
        statement="(as the official experiment suggests) joint normalized GD with equal steps "
        "aligns p with the relaxed p-SVM.",
        conditions="official joint example (n=3, T=2, d=2), third token varied",
        instances=_joint_specs(st.just(1.0)),
        check=check_joint_relaxed,
        expected=Expected.FAILS,
        tolerances=TOL["joint"],
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.joint-ngd-rate-weighted",
        source="attnsvm derivation [DER] extending MMTS-T5: the joint NGD limit when "
        "||v||/||p|| -> kappa",
        statement="Joint normalized GD with step ratio kappa aligns v with v^mm and p with "
        "argmax_{||p||<=1} min_{i,t} kappa Y_i v^T x_{i alpha_i}/||v^mm|| + "
        "(k_{i alpha_i} - k_it)^T p (p^relax only as kappa -> inf).",
        conditions="official joint example, third token varied, kappa in {1, 2, 4}",
        instances=_joint_specs(st.sampled_from([1.0, 2.0, 4.0])),
        check=check_joint_rate_weighted,
        expected=Expected.HOLDS,
        samples=(
            {
                "kind": "joint",
                "third_token": [0.5, 1.5],
                "v0": [-1.0, 0.0],
                "p0": [0.0, -1.0],
                "kappa": 1.0,
            },
        ),
        tolerances=TOL["joint"],
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.correlation-loss-offset",
        source=f"{SRC}; official diff_loss_function (MMTS-T4), loss l(x) = -x",
        statement="(naive) p(k) - ||p(k)|| p^mm/||p^mm|| -> 0: the iterate approaches the "
        "max-margin ray itself.",
        conditions="official two-input example with score scale C",
        instances=st.fixed_dictionaries(
            {"kind": st.just("loss-offset"), "C": st.floats(1.5, 100.0)}
        ),
        check=check_loss_offset,
        expected=Expected.FAILS,
        tolerances=TOL["offset"],
        budget={"ci": 4, "dev": 20, "deep": 100},
        build_problem=build_instance,
    ),
]


def _global_equal(spec: Mapping[str, Any]) -> Evidence:
    """Equal non-optimal scores: from 4 random inits GD on p selects opt and aligns with p^mm."""
    tol = TOL["prompt-direction"]
    p = build_instance(spec)
    g = token_scores(p)
    opt = np.argmax(g, axis=1)
    try:
        sol = solve_prompt_svm(p, opt)
    except InfeasibleSVM:
        return out_of_scope("p-SVM infeasible for opt")
    res = train_prompt(
        p.X, p.Y, p.v, uniform_init((4, p.d), spec["init_seed"]), steps=int(tol["steps"])
    )
    if np.min(res.min_max_prob) < SATURATED:
        return evidence(
            "inconclusive", float("nan"), tol["one_minus_corr"], note="softmax not saturated"
        )
    glob = np.all(res.selected == opt[None], axis=1)
    corr = correlation(res.params["p"], sol.W[:, 0][None], ndim=1)
    gap = float(np.max(1 - corr)) if np.all(glob) else 1.0
    return evidence(
        "ok" if gap <= tol["one_minus_corr"] else "counterexample",
        gap,
        tol["one_minus_corr"],
        details={"global_runs": int(glob.sum()), "min_corr": float(np.min(corr))},
    )
