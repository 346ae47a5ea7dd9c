"""Claims of the optimizer's geometry: p-norm mirror descent on W and the ℓp-AttSVM
(Julistiono, Tarzanagh, Azizan, "Optimizing Attention with Mirror Descent: Generalized
Max-Margin Token Selection", arXiv 2410.14581), with the agreement of the symbolic derivations
'lp-svm-dual' and 'mirror-descent' with the reference.

``Source.confirmed=True`` only where the statement was read in the paper's own text (its
abstract: MD with potential the p-th power of the ℓp-norm converges in direction to a
generalized hard-margin SVM with an ℓp-norm objective). Theorem numbers and the exact step-size
condition were not checked against the paper and are not given.

One ``Claim`` record per claim; its check is ``properties.geometry_checks.check_<name>``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import geometry_checks as gc
from attnsvm.properties.claims.common import SATURATED, build_problem, problem_spec_strategy
from attnsvm.properties.registry import Claim, Source
from attnsvm.properties.verdicts import Expected

PAPER = ("Julistiono, Tarzanagh, Azizan, Optimizing Attention with Mirror Descent: Generalized "
         "Max-Margin Token Selection")
ARXIV = "2410.14581"
ABSTRACT = ("abstract: mirror descent with potential psi(W) = ||W||_p^p / p converges in "
            "direction to the generalized hard-margin SVM with an l_p-norm objective (the "
            "l_p-AttSVM)")

_seeds = st.integers(0, 2**31 - 1)
_ps = st.sampled_from([1.25, 1.5, 1.75, 2.5, 3.0])


def _md_specs(p: st.SearchStrategy = _ps) -> st.SearchStrategy[dict]:
    return problem_spec_strategy("paper", (2, 5), (2, 5), (0, 2), overparameterized=True,
                                 extra={"init_seed": _seeds, "p": p})


CLAIMS = [
    Claim(
        id="md.lp-direction-normalized",
        source=Source(PAPER, ARXIV, ABSTRACT + "; here with the step divided by the gradient's "
                      "dual norm ||grad L||_q (this suite's normalization, the analogue of "
                      "normalized GD)", confirmed=True),
        statement="Normalized p-norm mirror descent on W (grad psi(W+) = grad psi(W) - eta "
        "grad L / ||grad L||_q) converges in direction to the l_p-AttSVM W^mm_{p,alpha} of the "
        "selection alpha it ends at: corr(W_k, W^mm_{p,alpha}) reaches 1 - 0.02, does not fall "
        "over the late checkpoints, the l_p distance of the directions shrinks, and the iterate "
        "is closer to the l_p SVM than to the l_2 one when the two differ."
        " Instances: paper-family data at d >= max(T-1, n), p in {1.25, 1.5, 1.75, 2.5, 3}, "
        "PyTorch-default initialisation.",
        instances=_md_specs(),
        check=gc.check_md_direction_normalized,
        expected=Expected.OPEN,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 0, "options": {}, "init_seed": 0,
             "p": 1.25},
            {"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 1, "options": {}, "init_seed": 1,
             "p": 3.0},
        ),
        requires=("saturated", "feasible_selection"),
        tolerances={"one_minus_corr": 0.02, "stall": 1e-3, "distinct": 0.995,
                    "saturated": 1.0 - 1e-4},
        protocol={"steps": 1500, "lr": 0.1},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="md.lp-direction-constant",
        source=Source(PAPER, ARXIV, ABSTRACT + "; the update grad psi(W+) = grad psi(W) - eta "
                      "grad L(W) with a constant step eta is this suite's reading of the paper's "
                      "algorithm (its step-size conditions were not checked)", confirmed=True),
        statement="Constant-step p-norm mirror descent on W moves in direction toward the "
        "l_p-AttSVM of its final selection: judged as a trend over log-spaced checkpoints "
        "(corr(W_k, W^mm_{p,alpha}) not falling late, the l_p distance of the directions "
        "shrinking) plus a final gap 1 - corr <= 0.05 after the protocol's steps and closer to "
        "the l_p SVM than to the l_2 one (when they differ); constant steps align at a "
        "logarithmic rate, so a final gap or an l_2 lead with the trends holding is "
        "inconclusive (budget), and only a failed trend is a counterexample."
        " Instances: paper-family data at d >= max(T-1, n), p in {1.25, ..., 3}.",
        instances=_md_specs(),
        check=gc.check_md_direction_constant,
        expected=Expected.HOLDS,
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 1, "options": {}, "init_seed": 1,
             "p": 3.0},
        ),
        requires=("saturated", "feasible_selection"),
        tolerances={"one_minus_corr": 0.05, "stall": 1e-3, "distinct": 0.995, "saturated": 0.98},
        protocol={"steps": 1000, "lr": 20.0},
        budget={"ci": 0, "dev": 6, "deep": 60},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="md.p2-recovers-gd",
        source=Source(PAPER, ARXIV, "mirror descent with psi = ||W||_2^2 / 2 is GD, so its "
                      "l_2-AttSVM is TF-SVM's Att-SVM (arXiv 2308.16898 Sec. 2); "
                      + ABSTRACT, confirmed=True),
        statement="At p = 2 both mirror-descent step rules reproduce the trainer's GD and "
        "normalized GD iterates to 1e-12 (relative) over 100 steps, and normalized MD ends "
        "within 1 - corr <= 0.02 of the Frobenius W^mm of its selection (today's normalized-GD "
        "claim)."
        " Instances: paper-family data at d >= max(T-1, n), 2 runs.",
        instances=problem_spec_strategy("paper", (2, 5), (2, 5), (0, 2), overparameterized=True,
                                        extra={"init_seed": _seeds}),
        check=gc.check_md_p2_is_gd,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 2, "options": {},
                  "init_seed": 2},),
        requires=("saturated", "feasible_selection"),
        tolerances={"exact": 1e-12, "one_minus_corr": 0.02, "saturated": SATURATED},
        protocol={"exact_steps": 100, "steps": 1000, "lr": 0.1, "runs": 2},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="md.sparsity-p-to-1",
        source=Source(PAPER, ARXIV, "sparser attention weights / token selection with mirror "
                      "descent as p decreases toward 1 (numerical experiments)"),
        statement="As p decreases to 1 the l_p-AttSVM of the optimal selection gets sparser: its "
        "participation ratio ||W||_1^2 / (D ||W||_2^2) does not increase along p = 2, 1.5, 1.25, "
        "1.1, 1; the p = 1 LP vertex has at most n(T-1) nonzero entries; and normalized MD at "
        "p = 1.1 ends sparser than normalized GD from the same init."
        " Instances: paper-family data at d >= max(T-1, n).",
        instances=problem_spec_strategy("paper", (2, 5), (2, 5), (0, 2), overparameterized=True,
                                        extra={"init_seed": _seeds}),
        check=gc.check_sparsity,
        expected=Expected.OPEN,
        samples=({"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 0, "options": {},
                  "init_seed": 0},),
        requires=("unique_opt", "feasible_selection"),
        tolerances={"monotone": 1e-6, "zero_rtol": 1e-9},
        protocol={"p_grid": [1.0, 1.1, 1.25, 1.5, 2.0], "steps": 500, "lr": 0.1},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="agree.lp-svm-dual",
        source=Source(PAPER, ARXIV, "the l_p-AttSVM (abstract) and its Hölder dual (symbolic "
                      "derivation 'lp-svm-dual')", confirmed=True),
        statement="The symbolic Hölder dual agrees with the reference l_p-AttSVM solver: "
        "1^T lam / ||G||_q equals ||W^mm||_p to 1e-8, the primal recovered from the dual point, "
        "OPT sign(G)|G|^(q-1), equals W^mm to 1e-4 (p <= 2), and the one-row closed form equals "
        "the solver's solution (norm to 1e-8, entries to 1e-4 for p <= 2); the solver runs its "
        "Clarabel power-cone method, whose W does not come from the Hölder formula."
        " Instances: paper-family data at d >= max(T-1, n), p in (1, 8].",
        instances=problem_spec_strategy("paper", (1, 3), (2, 4), (0, 2), overparameterized=True,
                                        extra={"p": st.floats(1.1, 8.0)}),
        check=gc.check_agree_lp_dual,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 3, "T": 4, "d": 5, "seed": 0, "options": {},
                  "p": 1.5},),
        requires=("unique_opt", "feasible_opt"),
        tolerances={"gap": 1e-8, "primal": 1e-4},
        protocol={"primal_max_p": 2.0, "method": "power-cone"},
        budget={"ci": 4, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
    Claim(
        id="agree.mirror-descent",
        source=Source(PAPER, ARXIV, "the mirror-descent update with psi = ||W||_p^p / p and its "
                      "limit direction (symbolic derivation 'mirror-descent')", confirmed=True),
        statement="The symbolic mirror-descent step equals the reference StepRule to 1e-12 "
        "(relative) on W, G of any magnitude, and the reference l_p-AttSVM meets the symbolic "
        "limit condition grad psi(W^mm) = c sum_k lam_k A_k, c > 0, to 1e-4 (1 - corr of the "
        "mirror image for p >= 2, entries of the limit direction sign(G)|G|^(1/(p-1)) for p < 2)."
        " Instances: paper-family data at d >= max(T-1, n), p in (1, 8], eta in (0, 1].",
        instances=problem_spec_strategy("paper", (1, 3), (2, 4), (0, 2), overparameterized=True,
                                        extra={"p": st.floats(1.1, 8.0),
                                               "eta": st.floats(1e-3, 1.0)}),
        check=gc.check_agree_mirror,
        expected=Expected.HOLDS,
        samples=({"family": "paper", "n": 3, "T": 4, "d": 5, "seed": 0, "options": {},
                  "p": 1.5, "eta": 0.1},),
        requires=("unique_opt", "feasible_opt"),
        tolerances={"relative": 1e-12, "limit": 1e-4},
        protocol={"batch": 4, "mirror_min_p": 2.0, "method": "power-cone"},
        budget={"ci": 4, "dev": 40, "deep": 400},
        build_problem=build_problem,
    ),
]
