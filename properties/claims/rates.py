"""Claims on convergence rates (Vasudeva, Deora, Thrampoulidis, "Implicit Bias and Fast
Convergence Rates for Self-attention", arXiv 2402.05738) and on the max-norm bias of SignGD and
Adam (Fan, Schmidt, Thrampoulidis, "Implicit Bias of SignGD and Adam on Multiclass Separable
Data", arXiv 2502.04664, a linear-model result here carried over to attention as an open claim).

Quantities (``reference.attention.rates``): the direction gap 1 - corr(W(k), W^mm) with W^mm the
Frobenius Att-SVM solution (``svm.frobenius.solve_att_svm``); the suboptimality 1 - s_opt(k) with
s_opt the smallest over inputs of the softmax probability on the optimal token; the max-norm
margin gap 1 - gamma_inf(W) / gamma*_inf with the entrywise l-infinity SVM of
``svm.lp.solve_lp_svm(p=inf)``. Exponents are fitted over log-spaced checkpoints, one fit per
run, with a Student t interval over the runs.

The paper's theorems state finite-time rates for normalized GD and the Polyak step; their exact
exponents could not be read here (Source confirmed=False where a rate is concerned), so no
claim compares a fitted exponent with a theorem's exponent: the claims test the measured form of
the decay (polynomial against logarithmic), and report the exponents with their intervals.
``rates.polyak-zero-floor`` records that the Polyak step with the optimal value taken as 0
(eta = L / ||grad L||^2) fails with a fixed linear decoder, whose risk has a positive infimum.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import rates_checks as rc
from attnsvm.properties.claims.common import SATURATED, build_problem, problem_spec_strategy
from attnsvm.properties.registry import Claim, Source

PAPER = ("Vasudeva, Deora, Thrampoulidis, Implicit Bias and Fast Convergence Rates for "
         "Self-attention")
ARXIV = "2402.05738"
SIGN = "Fan, Schmidt, Thrampoulidis, Implicit Bias of SignGD and Adam on Multiclass Separable Data"
SIGN_ARXIV = "2502.04664"

_seeds = st.integers(0, 2**31 - 1)
#: equal-scores data (the global-convergence setting), d >= max(T - 1, n, 3)
_SPECS = problem_spec_strategy("equal-scores", (2, 5), (2, 6), (0, 2), overparameterized=True,
                               min_d=3, extra={"init_seed": _seeds})
_SAMPLE = {"family": "equal-scores", "n": 4, "T": 5, "d": 7, "seed": 0, "options": {},
           "init_seed": 1}
_RATE_TOL = {"min_exponent": 0.5, "confidence": 0.95, "saturated": SATURATED}

CLAIMS = [
    Claim(
        id="rates.ngd-polynomial",
        source=Source(PAPER, ARXIV, "Abstract: normalized GD gives finite-time convergence "
                      "rates of W_t to W_mm and a rate of sparsification of the attention map "
                      "(confirmed); the theorem's exponent is not checked here", confirmed=True),
        statement="Normalized GD on W (step 'lr'): the direction gap 1 - corr(W(k), W^mm) and "
        "the suboptimality 1 - s_opt(k) (s_opt = min over inputs of the softmax probability on "
        "the optimal token) decay at least polynomially: the exponent of each fitted over "
        "log-spaced checkpoints k >= 'kmin' has its confidence interval (t over 'runs' runs) above "
        "'min_exponent'. Equal-scores data, d >= max(T - 1, n, 3).",
        instances=_SPECS,
        check=rc.check_ngd_rate,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", "saturated", rc.SELECTS_OPT, rc.RATE_WINDOW),
        tolerances=dict(_RATE_TOL),
        protocol={"steps": 2000, "lr": 0.1, "runs": 4, "per_decade": 6, "kmin": 10,
                  "min_points": 6},
        budget={"ci": 1, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.polyak-polynomial",
        source=Source(PAPER, ARXIV, "Abstract: the Polyak step-size gives finite-time "
                      "convergence rates of W_t to W_mm (confirmed); the step is taken here as "
                      "eta_k = (L(W_k) - L*)/||grad L(W_k)||^2 with L* = inf L = (1/n) sum_i "
                      "l(gamma_i,opt), the form of the Polyak step for a loss whose infimum is "
                      "not 0 (the paper's exact form and exponent were not read)",
                      confirmed=False),
        statement="The Polyak step on W: 1 - corr(W(k), W^mm) and 1 - s_opt(k) decay at "
        "least polynomially (fitted exponents' intervals above 'min_exponent'), fitted over the "
        "checkpoints before the first run stops: once L - L* is below the round-off of L "
        "('resolution' times L) or the float64 gradient underflows, the step cannot be formed "
        "and the run is frozen (reported, not stepped on noise).",
        instances=_SPECS,
        check=rc.check_polyak_rate,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", "saturated", rc.SELECTS_OPT, rc.RATE_WINDOW),
        tolerances={**_RATE_TOL, "resolution": 1e-12},
        protocol={"steps": 200, "lr": 1.0, "runs": 4, "per_decade": 12, "kmin": 1,
                  "min_points": 6},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.polyak-zero-floor",
        source=Source(PAPER, ARXIV, "the Polyak step-size eta_t = L(W_t) / ||grad L(W_t)||^2, "
                      "i.e. with the optimal value taken as 0 (the form of the step named in "
                      "the issue; whether the paper subtracts inf L was not read)",
                      confirmed=False),
        statement="The Polyak step with L* = 0, eta_k = L(W_k)/||grad L(W_k)||^2, converges in "
        "direction to W^mm: every run ends within 'one_minus_corr' of it. (A limit: with a "
        "fixed linear decoder inf L = (1/n) sum_i l(gamma_i,opt) > 0, so the step length L / "
        "||grad L|| diverges as the gradient vanishes.)",
        instances=_SPECS,
        check=rc.check_polyak_zero_floor,
        expected="fails",
        samples=(_SAMPLE,),
        requires=("feasible_opt",),
        tolerances={"one_minus_corr": 0.05, "resolution": 1e-12},
        protocol={"steps": 50, "lr": 1.0, "runs": 4, "per_decade": 6},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.gd-logarithmic",
        source=Source(PAPER, ARXIV, "Abstract: adaptive step sizes accelerate parameter "
                      "convergence over standard GD (confirmed); the 1/log k form of "
                      "constant-step GD's direction convergence is the linear logistic "
                      "regression rate (Soudry et al., arXiv 1710.10345) the paper relates to",
                      confirmed=False),
        statement="Constant-step GD on W: 1 - corr(W(k), W^mm) decays only logarithmically: "
        "its local power-law exponent over the late half of [kmin, steps] (in log k) lies below "
        "its exponent over the early half (intervals over runs), as a law C (log k)^-a makes it "
        "(d log gap / d log k = -a / log k); a power law keeps it constant.",
        instances=_SPECS,
        check=rc.check_gd_logarithmic,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", rc.SELECTS_OPT, rc.RATE_WINDOW),
        tolerances={"confidence": 0.95},
        protocol={"quantity": "direction", "steps": 6000, "lr": 1.0, "runs": 4,
                  "per_decade": 6, "kmin": 100, "min_points": 8},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.gd-suboptimality-logarithmic",
        source=Source(PAPER, ARXIV, "Abstract: the sparsification rate of the attention map is "
                      "quantified and adaptive step sizes accelerate convergence over standard "
                      "GD (confirmed); that GD's sparsification is only logarithmic is the "
                      "statement tested, not a quoted theorem", confirmed=False),
        statement="Constant-step GD on W: the suboptimality 1 - s_opt(k) decays only "
        "logarithmically: its local power-law exponent over the late half of [kmin, steps] (in "
        "log k) lies below its exponent over the early half (intervals over runs). (GD's ||W|| "
        "grows like log k and 1 - s_opt like exp(-c ||W||), which would make it a power of k.)",
        instances=_SPECS,
        check=rc.check_gd_logarithmic,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", rc.SELECTS_OPT, rc.RATE_WINDOW),
        tolerances={"confidence": 0.95},
        protocol={"quantity": "suboptimality", "steps": 6000, "lr": 1.0, "runs": 4,
                  "per_decade": 6, "kmin": 100, "min_points": 8},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.signgd-linf-margin",
        source=Source(SIGN, SIGN_ARXIV, "Abstract: the iterates of SignGD and Adam converge to "
                      "solutions that maximize the margin with respect to the classifier "
                      "matrix's max-norm (linear multiclass separable data); here carried over "
                      "to the attention W as an open claim", confirmed=True),
        statement="SignGD on W (W <- W - lr sign(grad L), constant step) approaches the "
        "entrywise max-norm Att-SVM: the max-norm margin gap 1 - gamma_inf(W(k)) / gamma*_inf "
        "ends below 'linf_gap' and below the Frobenius margin gap of the same iterate.",
        instances=_SPECS,
        check=rc.check_linf_margin,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", rc.SELECTS_OPT),
        tolerances={"linf_gap": 0.1, "stall": 1e-3, "confidence": 0.95},
        protocol={"optimizer": "sign", "sign_normalized": True, "steps": 2000, "lr": 0.01,
                  "runs": 2, "per_decade": 6, "kmin": 10, "decade": 10.0},
        budget={"ci": 1, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="rates.adam-linf-margin",
        source=Source(SIGN, SIGN_ARXIV, "Abstract: the iterates of SignGD and Adam converge to "
                      "solutions that maximize the margin with respect to the classifier "
                      "matrix's max-norm (linear multiclass separable data); here carried over "
                      "to the attention W with Adam's default settings as an open claim",
                      confirmed=True),
        statement="Adam on W (beta1, beta2, eps; bias-corrected; constant step 'lr') "
        "approaches the entrywise max-norm Att-SVM within 'steps': the max-norm margin gap "
        "ends below 'linf_gap' and below the Frobenius margin gap; a counterexample is a gap "
        "above 'linf_gap' that fell by less than 'stall' over the last decade of k.",
        instances=_SPECS,
        check=rc.check_linf_margin,
        expected="open",
        samples=(_SAMPLE,),
        requires=("feasible_opt", rc.SELECTS_OPT),
        tolerances={"linf_gap": 0.1, "stall": 1e-2, "confidence": 0.95},
        protocol={"optimizer": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                  "steps": 2000, "lr": 0.01, "runs": 2, "per_decade": 6, "kmin": 10,
                  "decade": 10.0},
        budget={"ci": 0, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
]
