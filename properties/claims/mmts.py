"""Claims of "Max-Margin Token Selection in Attention Mechanism" (Tarzanagh, Li, Zhang, Oymak,
arXiv 2306.13596v4, NeurIPS 2023): prompt attention f(X) = <X v, softmax(X W p)>, keys
k_it = W^T x_it (rows of X W). Theorem numbers are not confirmed against the paper's text; the
sources describe the results in words. The official examples (single_input_converge,
joint_training, diff_loss_function of github.com/ucr-optml/max_margin_attention) are built exactly
as the official notebooks build them; hypothesis varies their free parameters.

MMTS instances are not attention-problem specs ({family, n, T, d, seed}) but ``{"kind": ...}``
dicts (``build_instance``), so the premises here are written for them rather than taken from the
built-in attention-problem premises.

Tolerances: ``one_minus_corr`` (1 - correlation with the predicted direction), ``saturated`` (a
run has selected its tokens when every max softmax probability reaches it), ``offset`` and
``certificate``. Protocol: ``steps``, ``lr`` (0.1, the step of every official notebook), ``runs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.claims.common import evidence
from attnsvm.properties.premises import Premise, require
from attnsvm.properties.registry import Claim, Known, Source
from attnsvm.properties.verdicts import Evidence, Expected
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.training import correlation, train_prompt, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.mmts_examples import KEY_2D, official_example, rate_weighted_direction
from attnsvm.reference.svm.prompt import solve_head_svm, solve_prompt_svm, solve_relaxed_prompt_svm
from attnsvm.reference.svm.selection import token_scores

#: an equal-scores instance on which GD on p is not global (found by the dev profile)
EQUAL_SCORES_COUNTEREXAMPLE = {"kind": "random", "family": "equal-scores", "n": 2, "T": 3, "d": 4,
                               "seed": 2, "init_seed": 2}
PAPER = "Tarzanagh, Li, Zhang, Oymak, Max-Margin Token Selection in Attention Mechanism"
ARXIV = "2306.13596"
CODE = "official code github.com/ucr-optml/max_margin_attention"

# third token score of the official single_input_converge example: g_converge=False / True
LOCAL_THIRD_SCORE = 0.0
GLOBAL_THIRD_SCORE = 0.9
# the gap reported when a run has no p-SVM direction to align with (GD's selection has an
# infeasible p-SVM, or it is not the optimal selection): the correlation is taken as 0
NO_DIRECTION_GAP = 1.0


# ----------------------------------------------------------------------------- instances
def build_instance(spec: Mapping[str, Any]) -> AttentionProblem:
    """The attention problem of an MMTS spec (an official example, or a random family)."""
    if spec["kind"] == "random":
        return make_problem(spec["family"], spec["n"], spec["T"], spec["d"], spec["seed"])
    return official_example(spec)


def _prompt_locally_optimal(p: AttentionProblem, alpha: np.ndarray, sol) -> bool:
    """MMTS local optimality: every support token of p^mm_alpha scores strictly below alpha_i."""
    g = token_scores(p)
    pairs = np.asarray(sol.support).reshape(-1, 2)
    return all(g[i, alpha[i]] > g[i, t] for i, t in pairs)


def _prompt_locally_optimal(p: AttentionProblem, alpha: np.ndarray, sol) -> bool:
    """MMTS local optimality: every support token of p^mm_alpha scores strictly below alpha_i."""
    g = token_scores(p)
    pairs = np.asarray(sol.support).reshape(-1, 2)
    return all(g[i, alpha[i]] > g[i, t] for i, t in pairs)


def _opt_tokens(p: AttentionProblem) -> np.ndarray:
    return np.argmax(token_scores(p), axis=1)


# ----------------------------------------------------------------------------- premises
def _random_wide(family: str):
    def holds(inst: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
        return (inst.get("kind") == "random" and inst.get("family") == family
                and int(inst["d"]) >= int(inst["n"]) * (int(inst["T"]) - 1))

    return holds


def _opt_p_svm_feasible(inst: Mapping[str, Any], _tol: Mapping[str, Any]) -> bool:
    p = build_instance(inst)
    try:
        solve_prompt_svm(p, _opt_tokens(p))
    except InfeasibleSVM:
        return False
    return True


PAPER_WIDE = Premise(
    "paper_wide",
    "paper family with d >= n(T-1) (the shared p-SVM is then feasible generically)",
    _random_wide("paper"),
)
EQUAL_SCORES_WIDE = Premise(
    "equal_scores_wide", "equal-scores family with d >= n(T-1)", _random_wide("equal-scores")
)
OPT_P_SVM_FEASIBLE = Premise(
    "opt_p_svm_feasible", "the p-SVM of the optimal tokens is feasible", _opt_p_svm_feasible
)
SINGLE_INPUT_LOCAL = Premise(
    "single_input_local",
    "official single-input example: n=1, T=3, W=diag(1,1,0), p(0)=(0,c,0)",
    lambda inst, _tol: inst.get("kind") == "single-input"
    and inst["third_score"] == LOCAL_THIRD_SCORE,
)
SINGLE_INPUT_GLOBAL = Premise(
    "single_input_global",
    "official single-input example, third score 0.9",
    lambda inst, _tol: inst.get("kind") == "single-input"
    and inst["third_score"] == GLOBAL_THIRD_SCORE,
)
OFFICIAL_JOINT = Premise(
    "official_joint",
    "official joint example (n=3, T=2, d=2), third token varied",
    lambda inst, _tol: inst.get("kind") == "joint",
)
OFFICIAL_JOINT_KAPPA = Premise(
    "official_joint_kappa",
    "official joint example, third token varied, kappa in {1, 2, 4} (any kappa > 0 is in scope)",
    lambda inst, _tol: inst.get("kind") == "joint" and float(inst["kappa"]) > 0,
)
JOINT_SVMS_FEASIBLE = Premise(
    "joint_svms_feasible",
    "the head SVM (v^mm) and the relaxed p-SVM of the run's selection are feasible",
)
HEAD_SVM_FEASIBLE = Premise(
    "head_svm_feasible", "the head SVM (v^mm) of the run's selection is feasible"
)
CERTIFIED_PREDICTION = Premise(
    "certified_prediction",
    "the rate-weighted prediction is certified (duality gap <= the tolerance 'certificate') "
    "with a positive max-min value",
)
LOSS_OFFSET_EXAMPLE = Premise(
    "loss_offset_example",
    "official two-input example with score scale C",
    lambda inst, _tol: inst.get("kind") == "loss-offset" and float(inst["C"]) > 0,
)


# ----------------------------------------------------------------------------- checks
def check_prompt_direction(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Normalized GD on p converges in direction to p^mm of its final selection, which is
    locally optimal (MMTS local/global GD theorems)."""
    p = build_instance(spec)
    res = train_prompt(
        p.X, p.Y, p.v, uniform_init((1, p.d), spec["init_seed"]), steps=int(protocol["steps"]),
        lr=protocol["lr"],
    )
    require("saturated", not res.min_max_prob[0] < tol["saturated"],
            min_max_prob=float(res.min_max_prob[0]))
    alpha = res.selected[0]
    try:
        sol = solve_prompt_svm(p, alpha)
    except InfeasibleSVM:
        return evidence(
            "counterexample",
            NO_DIRECTION_GAP,
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


def check_global_equal(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Equal non-optimal scores: from ``runs`` random inits GD on p selects opt and aligns with
    p^mm (the premise opt_p_svm_feasible guarantees p^mm exists)."""
    p = build_instance(spec)
    opt = _opt_tokens(p)
    sol = solve_prompt_svm(p, opt)
    res = train_prompt(
        p.X, p.Y, p.v, uniform_init((int(protocol["runs"]), p.d), spec["init_seed"]),
        steps=int(protocol["steps"]), lr=protocol["lr"],
    )
    require("saturated", not np.min(res.min_max_prob) < tol["saturated"],
            min_max_prob=float(np.min(res.min_max_prob)))
    glob = np.all(res.selected == opt[None], axis=1)
    corr = correlation(res.params["p"], sol.W[:, 0][None], ndim=1)
    gap = float(np.max(1 - corr)) if np.all(glob) else NO_DIRECTION_GAP
    return evidence(
        "ok" if gap <= tol["one_minus_corr"] else "counterexample",
        gap,
        tol["one_minus_corr"],
        details={"global_runs": int(glob.sum()), "min_corr": float(np.min(corr))},
    )


def check_single_input_global(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit (official single_input_converge, local variant): from p(0) = (0, c, 0) GD can
    converge to the locally-optimal token 2 (direction (1, 0)), not the global token 1.
    The verdict is the selection; 1 - corr(p, p^mm_global) is reported against the tolerance."""
    p = build_instance(spec)
    p0 = np.array([[0.0, spec["c"], 0.0]])
    res = train_prompt(p.X, p.Y, p.v, p0, key=KEY_2D, steps=int(protocol["steps"]),
                       lr=protocol["lr"])
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
            tol["one_minus_corr"],
            score=1 - c_glob,
            details=details,
            note="GD converged to a locally-optimal, non-global token",
        )
    return evidence("ok", 1 - c_glob, tol["one_minus_corr"], score=1 - c_glob, details=details)


def check_single_input_equal(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Global variant (g_converge=True): the third token's score raised to 0.9 makes token 2
    non-locally-optimal, so every init converges to the global token."""
    return check_single_input_global(spec, tol, protocol)


def _joint_run(spec: Mapping[str, Any], protocol: Mapping[str, Any]):
    p = build_instance(spec)
    res = train_prompt(
        p.X,
        p.Y,
        np.asarray(spec["v0"]),
        np.array([spec["p0"]]),
        train_v=True,
        steps=int(protocol["steps"]),
        lr=protocol["lr"],
        lr_v_ratio=spec["kappa"],
    )
    alpha = res.selected[0]
    head = solve_head_svm(p, alpha)
    return p, res, alpha, head


def check_joint_relaxed(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit of MMTS's joint (v, p) result under its official optimizer: with equal normalized
    steps for v and p (official joint_training), p need not align with p^relax."""
    try:
        p, res, alpha, head = _joint_run(spec, protocol)
        relaxed = solve_relaxed_prompt_svm(p, alpha, head=head)
    except InfeasibleSVM:
        require("joint_svms_feasible", False)
    pv = res.params["p"][0]
    c_rel = float(correlation(pv, relaxed.W[:, 0]))
    c_v = float(correlation(res.params["v"][0], head.W[:, 0]))
    details = {
        "alpha": alpha.tolist(),
        "corr_p_relaxed": c_rel,
        "corr_v_head": c_v,
        "head_support": relaxed.extra.get("head_support"),
    }
    require("saturated", not res.min_max_prob[0] < tol["saturated"],
            min_max_prob=float(res.min_max_prob[0]), one_minus_corr=1 - c_rel, **details)
    gap = 1 - c_rel
    return evidence(
        "counterexample" if gap > tol["one_minus_corr"] else "ok",
        gap,
        tol["one_minus_corr"],
        details=details,
    )


def check_joint_rate_weighted(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """[DER] Joint NGD with ||v||/||p|| -> kappa converges to v^mm and to the rate-weighted
    max-min direction p* (``rate_weighted_direction``), which is p^relax only as kappa -> inf."""
    try:
        p, res, alpha, head = _joint_run(spec, protocol)
    except InfeasibleSVM:
        require("head_svm_feasible", False)
    v_dir = head.W[:, 0] / np.linalg.norm(head.W[:, 0])
    pred = rate_weighted_direction(p, alpha, v_dir, float(spec["kappa"]))
    pv = res.params["p"][0]
    c_pred = float(correlation(pv, pred["p"]))
    c_v = float(correlation(res.params["v"][0], v_dir))
    details = {
        "alpha": alpha.tolist(),
        "corr_p_prediction": c_pred,
        "corr_v_head": c_v,
        "prediction": pred["p"].tolist(),
        "certificate_gap": pred["duality_gap"],
        "kappa": spec["kappa"],
    }
    require("certified_prediction",
            not (pred["duality_gap"] > tol["certificate"] or pred["value"] <= 0),
            value=pred["value"], **details)
    require("saturated", not res.min_max_prob[0] < tol["saturated"],
            min_max_prob=float(res.min_max_prob[0]), one_minus_corr=1 - c_pred, **details)
    gap = max(1 - c_pred, 1 - c_v)
    return evidence(
        "ok" if gap <= tol["one_minus_corr"] else "counterexample",
        gap,
        tol["one_minus_corr"],
        details=details,
    )


def check_loss_offset(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit (official diff_loss_function, l(x) = -x): the direction converges to p^mm = (1, 0)
    but p keeps a finite offset 1/2 ln C orthogonal to it (stationarity C e^{-(p1+p2)} =
    e^{-(p1-p2)}), so p(k) - ||p(k)|| p^mm/||p^mm|| does not vanish."""
    p = build_instance(spec)
    res = train_prompt(
        p.X, p.Y, p.v, np.zeros((1, 3)), key=KEY_2D, steps=int(protocol["steps"]),
        lr=protocol["lr"], loss="correlation",
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


_JOINT_SAMPLE = {
    "kind": "joint", "third_token": [0.5, 1.5], "v0": [-1.0, 0.0], "p0": [0.0, -1.0], "kappa": 1.0,
}  # official joint_training with tight_converge=False

CLAIMS = [
    Claim(
        id="mmts.prompt-gd-direction",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where="GD on p converges in direction to the max-margin p^mm separating "
            "locally-optimal tokens (abstract; the local and global GD convergence theorems)",
        ),
        statement="Normalized GD on the prompt p converges in direction to p^mm_alpha of its "
        "final selection alpha, and alpha is locally optimal.",
        instances=_random_specs("paper"),
        check=check_prompt_direction,
        expected=Expected.HOLDS,
        samples=({"kind": "random", "family": "paper", "n": 2, "T": 3, "d": 4, "seed": 0,
                  "init_seed": 0},),
        requires=(PAPER_WIDE, "saturated"),
        tolerances={"one_minus_corr": 0.05, "saturated": 1.0 - 1e-6},
        protocol={"steps": 2000, "lr": 0.1},
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.prompt-global-equal-scores",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where="global convergence of GD on p when the non-optimal tokens score equally "
            "(exact condition and theorem number not confirmed)",
        ),
        statement="With equal non-optimal scores, GD on p selects opt in every input and aligns "
        "with p^mm.",
        instances=_random_specs("equal-scores"),
        check=check_global_equal,
        expected=Expected.HOLDS,
        samples=({"kind": "random", "family": "equal-scores", "n": 2, "T": 3, "d": 4, "seed": 0,
                  "init_seed": 0}, EQUAL_SCORES_COUNTEREXAMPLE),
        requires=(EQUAL_SCORES_WIDE, OPT_P_SVM_FEASIBLE, "saturated"),
        known=Known(
            "violated",
            "found by the dev profile: on this equal-scores instance at d = n(T - 1) = 4, GD on p "
            "(4 random inits, 2000 steps, eta 0.1) ends on a non-optimal token in every run "
            "(min corr with p^mm 0.04); the same phenomenon as tfsvm.global-equal-scores, whose "
            "W-parameterized version fails from W(0) = 0 as well (saved record "
            "tests/counterexamples/mmts_prompt-global-equal-scores-*.json)",
            EQUAL_SCORES_COUNTEREXAMPLE,
        ),
        tolerances={"one_minus_corr": 0.05, "saturated": 1.0 - 1e-6},
        protocol={"steps": 2000, "runs": 4, "lr": 0.1},
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.single-input-global",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where=f"{CODE}, single_input_converge.ipynb with g_converge=False (X = [[-0.1, 1, 1], "
            "[1, 0, 0.9], [0, 0, 0]], key = query = diag(1, 1, 0), inits p(0) = (0, c, 0)): the "
            "limit of global convergence, GD can settle on a locally-optimal token",
            confirmed=True,
        ),
        statement="(naive) GD on p converges to the globally optimal token from every init.",
        instances=st.fixed_dictionaries(
            {
                "kind": st.just("single-input"),
                "third_score": st.just(LOCAL_THIRD_SCORE),
                "c": st.floats(-2.0, 1.0, allow_nan=False),
            }
        ),
        check=check_single_input_global,
        expected=Expected.FAILS,
        samples=({"kind": "single-input", "third_score": LOCAL_THIRD_SCORE, "c": -1.0},),
        requires=(SINGLE_INPUT_LOCAL,),
        tolerances={"one_minus_corr": 0.05},
        protocol={"steps": 1000, "lr": 0.1},
        budget={"ci": 10, "dev": 40, "deep": 200},
        build_problem=build_instance,
    ),
    Claim(
        id="mmts.single-input-equal-scores",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where=f"{CODE}, single_input_converge.ipynb with g_converge=True (third token "
            "(0, 0, 0.9); inits p(0) = (0, c, 0), c in {1, 0.5, 0, -0.5, -1, -1.5})",
            confirmed=True,
        ),
        statement="With the third token's score raised to 0.9 (token 2 no longer locally "
        "optimal), GD converges to the global token from every init p(0)=(0,c,0).",
        instances=st.fixed_dictionaries(
            {
                "kind": st.just("single-input"),
                "third_score": st.just(GLOBAL_THIRD_SCORE),
                "c": st.floats(-2.0, 1.0, allow_nan=False),
            }
        ),
        check=check_single_input_equal,
        expected=Expected.HOLDS,
        samples=tuple(
            {"kind": "single-input", "third_score": GLOBAL_THIRD_SCORE, "c": c}
            for c in (1.0, 0.5, 0.0, -0.5, -1.0, -1.5)
        ),
        requires=(SINGLE_INPUT_GLOBAL,),
        tolerances={"one_minus_corr": 0.05},
        protocol={"steps": 1000, "lr": 0.1},
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
    ),
    Claim(
        id="mmts.joint-ngd-relaxed",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where="joint (v, p) regularization path -> (v^mm, p^relax) under growth conditions "
            "on the radii (theorem number not confirmed), run with the optimizer of "
            f"{CODE}, joint_training.ipynb (equal normalized steps for v and p)",
        ),
        statement="(as the official experiment suggests) joint normalized GD with equal steps "
        "aligns p with the relaxed p-SVM.",
        instances=_joint_specs(st.just(1.0)),
        check=check_joint_relaxed,
        expected=Expected.FAILS,
        samples=(_JOINT_SAMPLE,),
        requires=(OFFICIAL_JOINT, JOINT_SVMS_FEASIBLE, "saturated"),
        tolerances={"one_minus_corr": 0.01, "saturated": 1.0 - 1e-6},
        protocol={"steps": 4000, "lr": 0.1},
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.joint-ngd-rate-weighted",
        source=Source(
            paper="attnsvm derivation (rate_weighted_direction in this module), extending "
            f"{PAPER}",
            arxiv=ARXIV,
            where="the joint (v, p) regularization-path result, taken to the joint NGD limit "
            "||v||/||p|| -> kappa",
        ),
        statement="Joint normalized GD with step ratio kappa aligns v with v^mm and p with "
        "argmax_{||p||<=1} min_{i,t} kappa Y_i v^T x_{i alpha_i}/||v^mm|| + "
        "(k_{i alpha_i} - k_it)^T p (p^relax only as kappa -> inf).",
        instances=_joint_specs(st.sampled_from([1.0, 2.0, 4.0])),
        check=check_joint_rate_weighted,
        expected=Expected.HOLDS,
        samples=(_JOINT_SAMPLE,),
        requires=(OFFICIAL_JOINT_KAPPA, HEAD_SVM_FEASIBLE, CERTIFIED_PREDICTION, "saturated"),
        tolerances={"one_minus_corr": 0.01, "saturated": 1.0 - 1e-6, "certificate": 1e-6},
        protocol={"steps": 4000, "lr": 0.1},
        budget={"ci": 6, "dev": 40, "deep": 200},
        build_problem=build_instance,
        shrink=False,
    ),
    Claim(
        id="mmts.correlation-loss-offset",
        source=Source(
            paper=PAPER,
            arxiv=ARXIV,
            where=f"{CODE}, diff_loss_function.ipynb, loss l(x) = -x (X_1 = [[0, 0, 0], "
            "[1, 1, C]], X_2 = [[0, 0, 0], [1, -1, 1]], p(0) = 0, C in {1, ..., 10, 100})",
            confirmed=True,
        ),
        statement="(naive) p(k) - ||p(k)|| p^mm/||p^mm|| -> 0: the iterate approaches the "
        "max-margin ray itself.",
        instances=st.fixed_dictionaries(
            {"kind": st.just("loss-offset"), "C": st.floats(1.5, 100.0)}
        ),
        check=check_loss_offset,
        expected=Expected.FAILS,
        samples=({"kind": "loss-offset", "C": 2.0},),
        requires=(LOSS_OFFSET_EXAMPLE,),
        tolerances={"offset": 0.1},
        protocol={"steps": 1000, "lr": 0.1},
        budget={"ci": 4, "dev": 20, "deep": 100},
        build_problem=build_instance,
    ),
]
