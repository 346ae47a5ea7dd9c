"""Agreement of the symbolic layer's exported predicates with the numeric layer (issue: claims,
item 12). symbolic/ and reference/ never import each other; their agreement is itself a claim.
Each record compares one sympy-derived predicate (lambdified) with the independent numpy/cvxpy
computation on hypothesis-generated instances, with the tolerance as data. Tolerance keys:
``relative`` (the numbers' agreement), ``decision`` (the threshold of a 0/1 gap that says whether
the two layers decide a yes/no question differently).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from hypothesis import strategies as st

from attnsvm.properties.claims.common import (
    build_problem,
    evidence,
    problem_spec_strategy,
)
from attnsvm.properties.premises import Premise
from attnsvm.properties.registry import Claim, Source
from attnsvm.properties.verdicts import Evidence, Expected
from attnsvm.reference.attention.gradients import grad_KQ, grad_p, grad_W
from attnsvm.reference.attention.models import LinearHead, probabilities
from attnsvm.reference.attention.training import train_W, uniform_init
from attnsvm.reference.errors import InfeasibleSVM
from attnsvm.reference.svm.frobenius import solve_att_svm
from attnsvm.reference.svm.nuclear import solve_nuclear_svm
from attnsvm.reference.svm.selection import optimal_tokens
from attnsvm.symbolic.registry import get as derivation

TFSVM = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
TFSVM_ARXIV = "2308.16898"
MMTS_ARXIV = "2306.13596"
_seeds = st.integers(0, 2**31 - 1)
_losses = st.sampled_from(["logistic", "exponential", "correlation"])

# Named float64 constants (not tolerances):
_TINY = 1e-300  # floor of a denominator (far above float64's smallest normal, 2.2e-308)
_UNDERFLOW = 1e-290  # lower bounds below this are lost to float64 underflow: not compared
_EXP_ROUNDOFF = 32 * np.finfo(np.float64).eps  # round-off of exp(sum of terms), per unit size
# symbolic active_set_svm enumerates the 2^K active sets and refuses K > 14 constraints
_MAX_ENUMERATED = 14


def _pred(name: str, predicate: str):
    return derivation(name).predicates[predicate]


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), _TINY))


def _matrix(
    spec: Mapping[str, Any], rows: int, cols: int, salt: int = 0, norm: float | None = None
) -> np.ndarray:
    """A seeded Gaussian matrix with Frobenius norm ``norm`` (default spec['scale'])."""
    G = np.random.default_rng(spec["w_seed"] + salt).standard_normal((rows, cols))
    return G * ((spec["scale"] if norm is None else norm) / np.linalg.norm(G))


# ----------------------------------------------------------------------------- premises
def _family(name: str):
    return lambda inst, _tol: inst.get("family") == name


PAPER_FAMILY = Premise("paper_family", "paper family", _family("paper"))
EQUAL_SCORES_FAMILY = Premise("equal_scores_family", "equal-scores family",
                              _family("equal-scores"))
SMALL_PARAMETERS = Premise(
    "small_parameters",
    "parameters of Frobenius norm <= 3 (away from saturation, where the symbolic predicate's "
    "literal formula cancels; the bound is the tolerance 'max_norm')",
    lambda inst, tol: float(inst["scale"]) <= tol["max_norm"],
)
FEW_CONSTRAINTS = Premise(
    "few_constraints",
    f"small instances (at most {_MAX_ENUMERATED} constraints)",
    lambda inst, _tol: int(inst["n"]) * (int(inst["T"]) - 1) <= _MAX_ENUMERATED,
)
SATURATION_SCALES = Premise(
    "paper_random_w",
    "paper family; random W at the scales c of the protocol's 'scales' ({0.5, 5, 50, 500})",
    _family("paper"),
)
GENERIC_SCORES = Premise("generic_scores", "paper family (generic scores)", _family("paper"))
PUSHED_AWAY = Premise(
    "pushed_away",
    "W = a W^mm/||W^mm|| + noise with a < 0",
    lambda inst, _tol: float(inst["a"]) < 0,
)
PAPER_D1 = Premise(
    "paper_d1",
    "paper family with d = 1",
    lambda inst, _tol: inst.get("family") == "paper" and int(inst["d"]) == 1,
)
NGD_STEP = Premise(
    "paper_eta",
    "paper family, eta (the instance's scale) drawn in [0.1, 20]",
    lambda inst, _tol: inst.get("family") == "paper" and float(inst["scale"]) > 0,
)


# ----------------------------------------------------------------------------- checks
def _gradient_scale(p, q: np.ndarray, loss: str) -> float:
    """Size of the computation behind a gradient: sum_i |l'_i|/n sum_t s_it (|h_it| + |f_i|)
    ||x_it||, for effective queries q (n, d). Summation error is bounded by eps times this, so it
    is the honest denominator of a relative error when contributions cancel (>= the result)."""
    from attnsvm.reference.attention.gradients import evaluate_queries
    from attnsvm.reference.attention.losses import get_loss

    ev = evaluate_queries(p.X, p.Y, q, LinearHead(p.v), loss)
    h = p.X @ p.v
    lp = np.abs(get_loss(loss).derivative(ev.margins)) / p.n
    mags = ev.probs * (np.abs(h) + np.abs(ev.outputs)[:, None]) * np.linalg.norm(p.X, axis=-1)
    return float(np.sum(lp * mags.sum(axis=1)))


def check_gradients(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Symbolic grad_W, grad_KQ, grad_p (sympy's differentiation, lambdified) vs reference.

    Parameters have norm <= 3 (|logits| <= 3 with unit tokens): the symbolic predicate evaluates
    s o (h - s^T h) literally, which is accurate only while 1 - s_max is not tiny; the reference's
    accuracy in the saturated regime is tested separately against 600-digit arithmetic. Errors are
    relative to the size of the computation (``_gradient_scale`` times the chain-rule factor),
    which bounds the result and is what round-off scales with when contributions cancel."""
    p = build_problem(spec)
    loss = spec["loss"]
    salt = protocol["seed_offsets"]
    W = _matrix(spec, p.d, p.d)
    K, Q = (_matrix(spec, p.d, 2, k, norm=float(np.sqrt(spec["scale"])))
            for k in (salt["K"], salt["Q"]))
    pr = _matrix(spec, 1, p.d, salt["p"])[0]
    head = LinearHead(p.v)
    zmax = float(np.max(np.linalg.norm(p.Z, axis=1)))
    spec2 = lambda M: float(np.linalg.norm(M, 2))  # noqa: E731
    scale_W = _gradient_scale(p, p.Z @ W.T, loss) * zmax
    errs = {
        "W": float(np.max(np.abs(grad_W(p.X, p.Y, W, p.Z, head, loss)[0]
                                 - _pred("gradient", "grad_W")(p.X, p.Y, p.v, p.Z, W, loss))))
        / scale_W,
    }
    gK, gQ, _ = grad_KQ(p.X, p.Y, K, Q, p.Z, head, loss)
    sK, sQ = _pred("gradient", "grad_KQ")(p.X, p.Y, p.v, p.Z, K, Q, loss)
    scale_KQ = _gradient_scale(p, p.Z @ (K @ Q.T).T, loss) * zmax
    errs["K"] = float(np.max(np.abs(gK - sK))) / (scale_KQ * spec2(Q))
    errs["Q"] = float(np.max(np.abs(gQ - sQ))) / (scale_KQ * spec2(K))
    q_p = np.broadcast_to(W @ pr, (p.n, p.d))
    errs["p"] = float(np.max(np.abs(grad_p(p.X, p.Y, pr, p.v, W, loss)[0]
                                    - _pred("gradient", "grad_p")(p.X, p.Y, p.v, W, pr, loss)))
                      ) / (_gradient_scale(p, q_p, loss) * spec2(W))
    worst = max(errs.values())
    return evidence(
        "ok" if worst <= tol["relative"] else "counterexample",
        worst,
        tol["relative"],
        details=errs,
    )


def check_dual_solver(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Symbolic active-set Att-SVM (exact enumeration) vs the reference dual solver."""
    decision = tol["decision"]
    p = build_problem(spec)
    opt = optimal_tokens(p)
    A, Zk, _ = _pred("att-svm-dual", "constraint_vectors")(p.X, p.Z, opt.tokens)
    sym = _pred("att-svm-dual", "active_set_svm")(A, Zk)
    try:
        ref = solve_att_svm(p, opt.tokens)
    except InfeasibleSVM:
        return evidence(
            "ok" if sym is None else "counterexample",
            0.0 if sym is None else 1.0,
            decision,
            details={"reference": "infeasible", "symbolic": sym is not None},
        )
    if sym is None:
        return evidence("counterexample", 1.0, decision,
                        note="symbolic solver found no solution")
    kkt = _pred("att-svm-dual", "kkt_residuals")(ref.W, ref.lam, A, Zk)
    err = _rel(ref.W, sym[0])
    worst = max(err, max(abs(x) for x in kkt.values()) / max(1.0, float(np.max(np.abs(ref.W)))))
    return evidence(
        "ok" if worst <= tol["relative"] else "counterexample",
        worst,
        tol["relative"],
        details={"W_rel_error": err, "kkt": kkt},
    )


def check_saturation_bounds(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Symbolic bounds e^{-c gap}/(1+e^{-c gap}) <= 1 - s_max <= (T-1)e^{-c gap}/(1+(T-1)e^{-c gap})
    vs the reference softmax on a problem's logits at each scale c of the protocol's ``scales``."""
    p = build_problem(spec)
    W = _matrix(spec, p.d, p.d)
    worst = -np.inf
    for c in protocol["scales"]:
        s = probabilities(p.X, c * W, p.Z)
        logits = np.einsum("ntd,de,ne->nt", p.X, W, p.Z)
        # round-off allowed: exp of an exponent summed from terms of this size
        cond = c * float(np.max(np.abs(p.X) @ np.abs(W) @ np.abs(p.Z).T))
        allowed = tol["relative"] + _EXP_ROUNDOFF * cond
        for i in range(p.n):
            top = int(np.argmax(s[i]))
            mass = float(np.sum(np.delete(s[i], top)))
            gap = _pred("softmax-saturation", "score_gap")(logits[i])
            lo = float(_pred("softmax-saturation", "saturation_lower_bound")(gap, p.T, c))
            hi = float(_pred("softmax-saturation", "saturation_tight_upper_bound")(gap, p.T, c))
            if lo < _UNDERFLOW:
                continue
            worst = max(worst, max((lo - mass) / lo, (mass - hi) / hi) / allowed)
    return evidence("ok" if worst <= 1.0 else "counterexample", worst, 1.0,
                    note="gap = largest violation over the round-off allowed at that scale")


def check_descent_equal(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Equal non-optimal scores: <-grad L(W), W^mm> > 0 at random W (the symbolic descent
    condition), and the symbolic expression equals the reference gradient's inner product."""
    p = build_problem(spec)
    opt = optimal_tokens(p).tokens
    W_mm = solve_att_svm(p, opt).W  # feasible: premise feasible_opt
    W = _matrix(spec, p.d, p.d)
    sym = float(
        _pred("descent-condition", "descent_inner_product")(
            p.X, p.Y, p.v, p.Z, W, W_mm, spec["loss"]
        )
    )
    g, _ = grad_W(p.X, p.Y, W, p.Z, LinearHead(p.v), spec["loss"])
    num = float(-np.sum(g * W_mm))
    agree = abs(sym - num) <= tol["relative"] * max(abs(num), _TINY) + _TINY
    positive = num > 0 or (num == 0 and sym == 0)
    status = "ok" if (agree and positive) else "counterexample"
    return evidence(
        status, -num, 0.0, score=-num, details={"symbolic": sym, "numeric": num, "agree": agree}
    )


def check_descent_generic(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Limit: without equal non-optimal scores <-grad L(W), W^mm> can be negative."""
    p = build_problem(spec)
    W_mm = solve_att_svm(p, optimal_tokens(p).tokens).W  # premise feasible_opt
    # attention pushed away from the SVM direction: W = a W^mm/||W^mm|| + noise, a < 0
    W = spec["a"] * W_mm / np.linalg.norm(W_mm) + _matrix(spec, p.d, p.d)
    g, _ = grad_W(p.X, p.Y, W, p.Z, LinearHead(p.v), spec["loss"])
    num = float(-np.sum(g * W_mm))
    return evidence(
        "counterexample" if num < 0 else "ok",
        num,
        0.0,
        score=-num,
        details={"inner_product": num, "W": W.tolist()},
    )


def check_feasibility_d1(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """d = 1: the symbolic sign criterion and min-norm formula vs the reference solver."""
    decision = tol["decision"]
    p = build_problem(spec)
    rng = np.random.default_rng(spec["seed"])
    alpha = rng.integers(0, p.T, size=p.n)
    feas = bool(_pred("feasibility", "feasible_d1")(p.X, p.Z, alpha))
    try:
        ref = solve_att_svm(p, alpha)
    except InfeasibleSVM as exc:
        cert = exc.certificate
        return evidence(
            "ok" if not feas else "counterexample",
            float(feas),
            decision,
            details={
                "symbolic_feasible": feas,
                "reference": "infeasible",
                "residual": cert["residual"],
            },
        )
    w = _pred("feasibility", "d1_min_norm")(p.X, p.Z, alpha)
    if not feas or w is None:
        return evidence("counterexample", 1.0, decision,
                        note="reference solved an infeasible case")
    err = abs(float(ref.W[0, 0]) - w) / abs(w)
    return evidence(
        "ok" if err <= tol["relative"] else "counterexample",
        err,
        tol["relative"],
        details={"w_symbolic": w, "w_reference": float(ref.W[0, 0])},
    )


def check_variational_nuclear(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """The balanced split of the reference nuclear-norm SVM solution costs ||W||_* (symbolic
    variational formula) and reproduces W. Att-SVM* has the constraints of Att-SVM, so the
    premise feasible_opt makes it feasible."""
    p = build_problem(spec)
    sol = solve_nuclear_svm(p, optimal_tokens(p).tokens)
    K, Q = _pred("variational-nuclear-norm", "balanced_factors")(sol.W)
    cost = float(_pred("variational-nuclear-norm", "factorization_cost")(K, Q))
    err = max(abs(cost - sol.objective) / sol.objective, _rel(K @ Q.T, sol.W))
    return evidence(
        "ok" if err <= tol["relative"] else "counterexample",
        err,
        tol["relative"],
        details={"cost": cost, "objective": sol.objective},
    )


def check_ngd_displacement(
    spec: Mapping[str, Any], tol: Mapping[str, Any], protocol: Mapping[str, Any]
) -> Evidence:
    """Normalized GD iterates stay within the symbolic bound ||W_k - W_0|| <= k eta (up to the
    relative slack ``relative``)."""
    p = build_problem(spec)
    steps = int(protocol["steps"])
    res = train_W(
        p.X,
        p.Y,
        p.Z,
        p.v,
        uniform_init((1, p.d, p.d), spec["w_seed"]),
        steps=steps,
        lr=spec["scale"],
        checkpoints=range(steps + 1),
    )
    H = res.history["W"][0]
    disp = np.linalg.norm(H - H[0], axis=(1, 2))
    bound = np.array(
        [
            _pred("normalized-gd", "ngd_displacement_bound")(k, spec["scale"])
            for k in range(steps + 1)
        ],
        dtype=float,
    )
    worst = float(np.max(disp - bound * (1 + tol["relative"])))
    return evidence("ok" if worst <= 0 else "counterexample", worst, 0.0)


def _with(extra: dict[str, st.SearchStrategy], family: str = "paper", **kw: Any):
    over = kw.get("overparameterized", False)
    return problem_spec_strategy(
        family,
        kw.pop("n", (1, 4)),
        kw.pop("T", (2, 5)),
        kw.pop("d", (0, 2) if over else (1, 5)),
        extra=extra,
        **kw,
    )


_gradient_extra = {"w_seed": _seeds, "scale": st.floats(0.05, 3.0), "loss": _losses}


def _spec(family: str = "paper", n: int = 2, T: int = 3, d: int = 4, **extra: Any) -> dict:
    return {"family": family, "n": n, "T": T, "d": d, "seed": 0, "options": {}, **extra}


CLAIMS = [
    Claim(
        id="agree.gradients",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="Sec. 2, the W- and (K, Q)-parameterised risks, and the prompt model of "
            f"arXiv {MMTS_ARXIV} (Sec. 2): their closed-form gradients, symbolic derivation "
            "'gradient'",
        ),
        statement="The sympy-derived closed-form gradients in W, (K, Q) and p equal the reference "
        "gradients to 1e-10 relative to the size of the computation, for every loss.",
        instances=_with(_gradient_extra),
        check=check_gradients,
        expected=Expected.HOLDS,
        samples=(_spec(w_seed=0, scale=1.0, loss="logistic"),
                 _spec(n=3, T=4, d=3, w_seed=1, scale=3.0, loss="correlation")),
        requires=(PAPER_FAMILY, SMALL_PARAMETERS),
        tolerances={"relative": 1e-10, "max_norm": 3.0},
        protocol={"seed_offsets": {"K": 1, "Q": 2, "p": 3}},
        budget={"ci": 10, "dev": 60, "deep": 600},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.att-svm-dual",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="Sec. 2, the Att-SVM problem: its Lagrangian, KKT system and dual with kernel "
            "(a.b)(z.w) (symbolic derivation 'att-svm-dual')",
        ),
        statement="The exact active-set solution of the symbolic KKT system equals the reference "
        "dual solver's W^mm, whose (W, lambda) satisfy the symbolic KKT residuals.",
        instances=problem_spec_strategy("paper", (1, 3), (2, 4), (0, 2), overparameterized=True),
        check=check_dual_solver,
        expected=Expected.HOLDS,
        samples=(_spec(d=3),),
        requires=(FEW_CONSTRAINTS, "unique_opt"),
        tolerances={"relative": 1e-7, "decision": 0.5},
        budget={"ci": 10, "dev": 60, "deep": 600},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.saturation-bounds",
        source=Source(
            paper="attnsvm symbolic derivation 'softmax-saturation' (hardmax limit of softmax), "
            f"applied to the Att-SVM ray of {TFSVM}",
            arxiv=TFSVM_ARXIV,
            where="softmax along W = R W^mm/||W^mm||, whose score gaps are at least "
            "R/||W^mm|| (margin 1/||W^mm||)",
        ),
        statement="The reference softmax's non-selected mass lies within the symbolic bounds "
        "q/(1+q) and (T-1)q/(1+(T-1)q), q = exp(-c gap).",
        instances=_with({"w_seed": _seeds, "scale": st.floats(0.1, 3.0)}, T=(2, 8)),
        check=check_saturation_bounds,
        expected=Expected.HOLDS,
        samples=(_spec(n=3, T=5, w_seed=0, scale=1.0),),
        requires=(SATURATION_SCALES,),
        tolerances={"relative": 1e-12},
        protocol={"scales": [0.5, 5.0, 50.0, 500.0]},
        budget={"ci": 10, "dev": 60, "deep": 600},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.descent-equal-scores",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="global convergence of GD when all non-optimal tokens of an input score "
            "equally (theorem and assumption numbers not confirmed): the descent condition "
            "<-grad L(W), W^mm> > 0, symbolic derivation 'descent-condition'",
        ),
        statement="With equal non-optimal scores, <-grad L(W), W^mm> > 0 for every W, and the "
        "symbolic covariance form equals the reference gradient's inner product.",
        instances=_with(
            _gradient_extra,
            family="equal-scores",
            n=(1, 4),
            T=(2, 6),
            d=(0, 2),
            overparameterized=True,
        ),
        check=check_descent_equal,
        expected=Expected.HOLDS,
        samples=(_spec("equal-scores", w_seed=0, scale=1.0, loss="logistic"),),
        requires=(EQUAL_SCORES_FAMILY, "feasible_opt"),
        tolerances={"relative": 1e-9},
        budget={"ci": 10, "dev": 60, "deep": 600},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.descent-generic",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="the equal-score condition of its global GD convergence result: without it "
            "the descent condition fails (an exact instance of symbolic derivation "
            "'descent-condition')",
        ),
        statement="(naive) <-grad L(W), W^mm> > 0 for every W on any data.",
        instances=_with(
            {
                "w_seed": _seeds,
                "scale": st.floats(0.5, 3.0),
                "loss": _losses,
                "a": st.floats(-10.0, -3.0),
            },
            n=(1, 2),
            T=(3, 6),
            d=(0, 2),
            overparameterized=True,
        ),
        check=check_descent_generic,
        expected=Expected.FAILS,
        samples=(_spec(n=1, T=4, d=4, w_seed=0, scale=1.0, loss="logistic", a=-4.0),),
        requires=(GENERIC_SCORES, PUSHED_AWAY, "feasible_opt"),
        budget={"ci": 30, "dev": 100, "deep": 1000},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.feasibility-d1",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="feasibility of Att-SVM, worked out for d = 1 by Gordan's theorem of the "
            "alternative (symbolic derivation 'feasibility')",
        ),
        statement="For d = 1 the symbolic sign criterion decides feasibility exactly as the "
        "reference solver (with its Farkas certificate), and w^mm = 1/min b.",
        instances=problem_spec_strategy("paper", (1, 4), (2, 4), (1, 1)),
        check=check_feasibility_d1,
        expected=Expected.HOLDS,
        samples=(_spec(n=1, T=2, d=1), _spec(n=3, T=4, d=1)),
        requires=(PAPER_D1,),
        tolerances={"relative": 1e-7, "decision": 0.5},
        budget={"ci": 15, "dev": 80, "deep": 800},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.variational-nuclear-norm",
        source=Source(
            paper=TFSVM,
            arxiv=TFSVM_ARXIV,
            where="the (K, Q) parameterisation's bias to the nuclear-norm Att-SVM*, which rests "
            "on ||W||_* = min_{K Q^T = W} (||K||^2 + ||Q||^2)/2 (Srebro, Rennie, Jaakkola 2005; "
            "Recht, Fazel, Parrilo 2010): symbolic derivation 'variational-nuclear-norm'",
        ),
        statement="The balanced SVD split of the reference nuclear-norm SVM solution W* has cost "
        "(||K||^2+||Q||^2)/2 = ||W*||_* and K Q^T = W*.",
        instances=problem_spec_strategy("paper", (1, 4), (2, 4), (0, 2), overparameterized=True),
        check=check_variational_nuclear,
        expected=Expected.HOLDS,
        samples=(_spec(d=3),),
        requires=(PAPER_FAMILY, "feasible_opt"),
        tolerances={"relative": 1e-7},
        budget={"ci": 6, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.ngd-displacement",
        source=Source(
            paper=f"{TFSVM}; Tarzanagh, Li, Zhang, Oymak, Max-Margin Token Selection in "
            "Attention Mechanism",
            arxiv=MMTS_ARXIV,
            where="the optimizer of the official experiments, gradient normalized at every "
            "iteration (README of github.com/ucr-optml/max_margin_attention): symbolic "
            "derivation 'normalized-gd'",
            confirmed=True,
        ),
        statement="Reference normalized GD satisfies ||W_k - W_0||_F <= k eta at every step.",
        instances=_with({"w_seed": _seeds, "scale": st.floats(0.1, 20.0)}),
        check=check_ngd_displacement,
        expected=Expected.HOLDS,
        samples=(_spec(w_seed=0, scale=1.0),),
        requires=(NGD_STEP,),
        tolerances={"relative": 1e-12},
        protocol={"steps": 40},
        budget={"ci": 8, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
]
