"""Claims of the discussion's open questions: modern Hopfield networks as attention (Ramsauer et
al., arXiv 2008.02217), in-context learning as one gradient-descent step (von Oswald et al., arXiv
2212.07677: the construction, and a trained layer), and the limits of one softmax-attention layer
(convex hull, what one layer cannot approximate, dispersion, log T law), with the agreement of
their symbolic derivations.

One ``Claim`` record per claim; its check is ``properties.discussion_checks.check_<name>``.
No module here imports torch or cvxpy; sympy is imported by the agreement checks when they run.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import discussion_checks as dc
from attnsvm.properties.registry import Claim, Source

_seeds = st.integers(0, 2**31 - 1)


def _instance(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"seed": _seeds, **fields})


HOPFIELD = ("Ramsauer, Schäfl, Lehner, Seidl, Widrich, Adler, Gruber, Holzleitner, Pavlović, "
            "Sandve, Greiff, Kreil, Kopp, Klambauer, Brandstetter, Hochreiter, Hopfield Networks "
            "is All You Need")
HOPFIELD_ARXIV = "2008.02217"
ICL = ("von Oswald, Niklasson, Randazzo, Sacramento, Mordvintsev, Zhmoginov, Vladymyrov, "
       "Transformers learn in-context by gradient descent")
ICL_ARXIV = "2212.07677"
TFSVM = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
TFSVM_ARXIV = "2308.16898"
YUN = ("Yun, Bhojanapalli, Rawat, Reddi, Kumar, Are Transformers universal approximators of "
       "sequence-to-sequence functions?")
YUN_ARXIV = "1912.10077"

_hopfield_fields = {"d": st.integers(2, 32), "N": st.integers(2, 12),
                    "beta": st.floats(0.05, 50.0), "M": st.floats(0.2, 3.0)}

CLAIMS = [
    # ------------------------------------------------------------------------------ Hopfield
    Claim(
        id="hopfield.update-is-attention",
        source=Source(HOPFIELD, HOPFIELD_ARXIV, "Eq. 3 (the update rule) and Sec. 3 (its "
                      "equivalence to transformer attention with keys = values = the stored "
                      "patterns)"),
        statement="The update xi <- X softmax(beta X^T xi) equals softmax attention with query "
                  "beta xi and keys = values = the patterns, to 1e-12."
                  " Instances: any finite patterns X (d, N), state xi and inverse temperature "
                  "beta > 0.",
        instances=_instance(**_hopfield_fields),
        check=dc.check_hopfield_attention,
        expected="holds",
        samples=({"seed": 0, "d": 8, "N": 5, "beta": 2.0, "M": 1.0},),
        tolerances={"exact_tol": 1e-12},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="hopfield.energy-descent",
        source=Source(HOPFIELD, HOPFIELD_ARXIV, "Eq. 2 (the energy) and the global convergence "
                      "theorem of the update via the concave-convex procedure (Yuille & "
                      "Rangarajan): E(xi^{t+1}) <= E(xi^t)"),
        statement="Along the update the energy E = -lse(beta, X^T xi) + 1/2 xi^T xi + const never "
                  "increases; in fact E(xi') <= E(xi) - 1/2 ||xi' - xi||^2 (to round-off)."
                  " Instances: any finite patterns X (d, N), state xi and inverse temperature "
                  "beta > 0.",
        instances=_instance(**_hopfield_fields, start=st.floats(0.0, 5.0)),
        check=dc.check_hopfield_energy_descent,
        expected="holds",
        samples=({"seed": 0, "d": 8, "N": 6, "beta": 1.0, "M": 1.0, "start": 2.0},
                 {"seed": 1, "d": 4, "N": 12, "beta": 40.0, "M": 2.0, "start": 0.5}),
        tolerances={"roundoff": 1e-12},
        protocol={"steps": 30},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="hopfield.one-step-retrieval",
        source=Source(HOPFIELD, HOPFIELD_ARXIV, "the theorems on retrieval with one update and "
                      "exponentially small retrieval error, ||f(xi) - x_i|| <= 2 (N-1) "
                      "exp(-beta (Delta_i - 2 max{||xi - x_i||, ||x_i* - x_i||} M)) M, for a "
                      "pattern separated by Delta_i >= 2/(beta N) + 1/beta log(2 (N-1) N beta "
                      "M^2) and xi in the sphere ||xi - x_i|| <= 1/(beta N M) (Sec. 2 / "
                      "appendix)"),
        statement="For a well-separated pattern x_0 and xi within 1/(beta N M) of it, one update "
                  "lands within 2 M (N-1) exp(-beta (Delta_0 - 2 M ||xi - x_0||)) of x_0 "
                  "(hence within the paper's bound and within 2 e (N-1) M exp(-beta Delta_0)).",
        instances=_instance(d=st.integers(16, 64), N=st.integers(2, 10),
                            beta=st.floats(20.0, 100.0), M=st.floats(0.5, 2.0),
                            radius=st.floats(0.0, 1.0)),
        check=dc.check_hopfield_retrieval,
        expected="holds",
        samples=({"seed": 0, "d": 32, "N": 8, "beta": 40.0, "M": 1.0, "radius": 1.0},
                 {"seed": 3, "d": 16, "N": 4, "beta": 20.0, "M": 1.5, "radius": 0.5}),
        requires=(dc.WELL_SEPARATED,),
        tolerances={"roundoff": 1e-14},
        protocol={"fixed_point_steps": 50},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="hopfield.metastable-small-beta",
        source=Source(HOPFIELD, HOPFIELD_ARXIV, "the three kinds of fixed points (global "
                      "average, metastable states averaging a subset of patterns, single "
                      "patterns; abstract and Sec. 2) — a limit of retrieval at small beta "
                      "Delta"),
        statement="(naive) iterating the update from a stored pattern stays at that pattern "
                  "(within 0.1 M), whatever beta.",
        instances=_instance(d=st.integers(8, 32), N=st.integers(3, 12),
                            beta=st.floats(0.05, 1.0), M=st.just(1.0)),
        check=dc.check_hopfield_metastable,
        expected="fails",
        samples=({"seed": 0, "d": 16, "N": 8, "beta": 0.5, "M": 1.0},),
        requires=(dc.SMALL_BETA_DELTA,),
        tolerances={"retrieval_tol": 0.1, "max_beta_delta": 1.0},
        protocol={"fixed_point_steps": 200},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    # ----------------------------------------------------------------------------------- ICL
    Claim(
        id="icl.lsa-equals-gd",
        source=Source(ICL, ICL_ARXIV, "Sec. 2, Proposition 1 (one linear self-attention layer "
                      "with the constructed W_K, W_Q, W_V, P performs one GD step on the "
                      "in-context squared loss), here with W_0 = 0"),
        statement="A linear self-attention layer with W_K = W_Q = [[I, 0], [0, 0]], "
                  "W_V = [[0, 0], [0, -1]], P = eta/N I predicts, for the query (x_q, 0), the "
                  "output W_1 x_q of one GD step from W = 0 with step eta on "
                  "1/(2N) sum_i (W x_i - y_i)^2, to 1e-12."
                  " Instances: a linear regression task y_i = w^T x_i in context (Gaussian x_i, "
                  "w), the weights of the paper's construction with W_0 = 0.",
        instances=_instance(d=st.integers(1, 12), N=st.integers(1, 40),
                            eta=st.floats(0.01, 2.0)),
        check=dc.check_icl_gd,
        expected="holds",
        samples=({"seed": 0, "d": 5, "N": 20, "eta": 0.5},),
        tolerances={"exact_tol": 1e-12},
        protocol={"n_queries": 8},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="icl.softmax-breaks-gd",
        source=Source(ICL, ICL_ARXIV, "Sec. 2 (the construction relies on linear, "
                      "unnormalised attention) — a limit with softmax attention"),
        statement="(naive) the same construction with softmax attention still predicts one GD "
                  "step (up to a scalar rescaling, within 1%)."
                  " Instances: the same construction with the scores e_i^T W_K^T W_Q e_q passed "
                  "through a softmax over the context (any rescaling of the output allowed).",
        instances=_instance(d=st.integers(2, 12), N=st.integers(4, 40),
                            eta=st.floats(0.01, 2.0)),
        check=dc.check_icl_softmax,
        expected="fails",
        samples=({"seed": 0, "d": 5, "N": 20, "eta": 0.5},),
        tolerances={"relative": 0.01},
        protocol={"n_queries": 8},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="icl.trained-lsa-matches-gd",
        source=Source(ICL, ICL_ARXIV, "Sec. 3 (a single linear self-attention layer trained on "
                      "random linear-regression tasks, d = 10, N = 10, x ~ U(-1, 1)^d, "
                      "w ~ N(0, I), compared with one GD step at the best learning rate: "
                      "prediction differences, cosine of the models' input sensitivities; the "
                      "trained weights resemble the construction up to its symmetries; Fig. 2)"),
        statement="An LSA layer (W_K, W_Q, W_V, P trained by Adam on fresh regression tasks; "
                  "CPU scale: d = 10, N = 10, 150 steps of 1024 tasks) predicts like one GD step "
                  "from 0 with the best step eta*: cosine of the predictions over held-out "
                  "tasks and mean cosine of the input sensitivities d yhat / d x_q >= 0.99; and "
                  "its weights match the construction up to the layer's symmetries: the "
                  "invariant M = -(PV_yy K_xx + PV_yx K_yx^T) is within 10% (Frobenius) of "
                  "eta*/N I, and the non-GD terms are below 15% of ||M||."
                  " Instances: d in [2, 10], N in [5, 20], a seed (training and held-out tasks "
                  "from it).",
        instances=_instance(d=st.integers(2, 10), N=st.integers(5, 20)),
        check=dc.check_icl_trained,
        expected="open",
        samples=({"seed": 0, "d": 10, "N": 10},),
        tolerances={"one_minus_cos": 0.01, "weight_rel": 0.1, "nuisance": 0.15},
        protocol={"steps": 150, "batch": 1024, "lr": 0.05, "init_scale": 0.1,
                  "n_eval": 10000},
        budget={"ci": 0, "dev": 3, "deep": 20},
        shrink=False,
    ),
    # -------------------------------------------------------------------------------- limits
    Claim(
        id="limits.convex-hull",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2, the one-layer model f(X) = v^T X^T "
                      "softmax(X W z): the output is a convex combination of the token scores "
                      "(the bound itself is elementary)"),
        statement="For any W, a one-layer softmax attention with a linear head outputs f(X) in "
                  "[min_t v^T x_t, max_t v^T x_t] (hypothesis hunts for violations)."
                  " Instances: any tokens, queries, unit head v and any W (log10 ||W||_F drawn in"
                  " [-3, 4], saturated softmax included).",
        instances=_instance(n=st.integers(1, 6), T=st.integers(2, 12), d=st.integers(1, 8),
                            token_scale=st.floats(0.1, 10.0), log10_norm=st.floats(-3.0, 4.0)),
        check=dc.check_hull_bound,
        expected="holds",
        samples=({"seed": 0, "n": 4, "T": 6, "d": 4, "token_scale": 1.0, "log10_norm": 0.0},
                 {"seed": 1, "n": 3, "T": 10, "d": 3, "token_scale": 5.0, "log10_norm": 4.0}),
        tolerances={"roundoff": 1e-12},
        budget={"ci": 20, "dev": 100, "deep": 2000},
    ),
    Claim(
        id="limits.hull-unfittable",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2, the one-layer model — a limit: labels outside "
                      "the convex hull of the token scores cannot be fitted"),
        statement="(naive) gradient descent on W fits any real labeling with a one-layer softmax "
                  "attention and a fixed linear head (mean squared loss <= 1e-3)."
                  " Instances: every target y_i = max_t v^T x_it + margin lies outside the hull "
                  "(margin > 0), fitted by full-batch GD on the mean squared loss from W = 0.",
        instances=_instance(n=st.integers(1, 6), T=st.integers(2, 8), d=st.integers(2, 6),
                            token_scale=st.floats(0.5, 2.0), margin=st.floats(0.1, 1.0)),
        check=dc.check_hull_fit,
        expected="fails",
        samples=({"seed": 0, "n": 4, "T": 5, "d": 4, "token_scale": 1.0, "margin": 0.5},),
        tolerances={"fit_tol": 1e-3},
        protocol={"steps": 300, "lr": 1.0},
        budget={"ci": 4, "dev": 20, "deep": 200},
    ),
    Claim(
        id="limits.one-layer-not-universal",
        source=Source(YUN, YUN_ARXIV, "abstract: Transformers (stacks of self-attention and "
                      "token-wise feed-forward layers) approximate any continuous permutation-"
                      "equivariant sequence-to-sequence function with compact support, the "
                      "self-attention layers computing a contextual mapping; the construction "
                      "uses hardmax attention and depth — a limit for one softmax layer with a "
                      "linear head (the convex-hull bound of TF-SVM's one-layer model)",
                      confirmed=True),
        statement="(naive) one softmax self-attention layer with a linear head, f(X)_k = "
                  "v^T X^T softmax(X W x_k), fits any continuous permutation-equivariant "
                  "sequence-to-sequence target on a finite input set: GD on W brings the mean "
                  "squared loss to <= 1e-3."
                  " Instances: n inputs of T Gaussian tokens, target g(X)_k = max_t v^T x_t + "
                  "margin (margin > 0) for every token k.",
        instances=_instance(n=st.integers(1, 5), T=st.integers(2, 6), d=st.integers(2, 6),
                            token_scale=st.floats(0.5, 2.0), margin=st.floats(0.1, 1.0)),
        check=dc.check_one_layer_universal,
        expected="fails",
        samples=({"seed": 0, "n": 3, "T": 4, "d": 4, "token_scale": 1.0, "margin": 0.5},),
        tolerances={"fit_tol": 1e-3},
        protocol={"steps": 300, "lr": 1.0},
        budget={"ci": 2, "dev": 20, "deep": 200},
    ),
    Claim(
        id="limits.dispersion-bound",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2 (softmax of bounded logits; saturation "
                      "needs ||W|| -> infinity) — the dispersion bound itself is elementary"),
        statement="With logits |u_t| <= B, max_t softmax(u)_t <= e^{2B} / (e^{2B} + T - 1), with "
                  "equality for (B, -B, ..., -B)."
                  " Instances: logits with |u_t| <= B (uniform in [-B, B], or the extremal (B, "
                  "-B, ..., -B)).",
        instances=_instance(T=st.integers(2, 10_000), B=st.floats(0.0, 20.0),
                            config=st.sampled_from(["random", "extremal"])),
        check=dc.check_dispersion_bound,
        expected="holds",
        samples=({"seed": 0, "T": 100, "B": 2.0, "config": "extremal"},
                 {"seed": 1, "T": 10_000, "B": 5.0, "config": "random"}),
        tolerances={"roundoff": 1e-12},
        budget={"ci": 20, "dev": 100, "deep": 2000},
    ),
    Claim(
        id="limits.dispersion-log-t",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2 (selection needs a growing ||W||) — the "
                      "1/2 log T law follows from the dispersion bound"),
        statement="Selecting one of T unit tokens with probability >= 1 - delta needs "
                  "||W||_2 >= 1/2 log((T-1)(1-delta)/delta); the extremal sequence needs exactly "
                  "that, so the scale grows like 1/2 log T (fitted slope 1/2 within 0.01 over "
                  "T = 10 .. 1e4)."
                  " Instances: unit tokens and unit query, so |logit| <= ||W||_2; the extremal "
                  "sequence (e_1, -e_1, ..., -e_1) and seeded random unit tokens, T on the "
                  "protocol's grid up to 1e4.",
        instances=_instance(d=st.integers(2, 64)),
        check=dc.check_dispersion_log_law,
        expected="holds",
        samples=({"seed": 0, "d": 16},),
        tolerances={"bisection_rel": 1e-9, "slope_tol": 0.01},
        protocol={"delta": 0.01, "T_grid": [10, 100, 1000, 10_000], "iterations": 80},
        budget={"ci": 4, "dev": 20, "deep": 200},
    ),
    # ----------------------------------------------------------------------------- agreement
    Claim(
        id="agree.hopfield-energy",
        source=Source(HOPFIELD, HOPFIELD_ARXIV, "Eqs. 2-3 and the CCCP descent (symbolic "
                      "derivation 'hopfield-energy')"),
        statement="The symbolic energy, update, CCCP decrease and retrieval bound agree with the "
                  "reference Hopfield computations to 1e-10."
                  " Instances: any finite patterns X (d, N), state xi and inverse temperature "
                  "beta > 0.",
        instances=_instance(**_hopfield_fields),
        check=dc.check_agree_hopfield,
        expected="holds",
        samples=({"seed": 0, "d": 8, "N": 5, "beta": 2.0, "M": 1.0},),
        tolerances={"relative": 1e-10},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="agree.icl-gd",
        source=Source(ICL, ICL_ARXIV, "Sec. 2, Proposition 1 (symbolic derivation 'icl-gd')"),
        statement="The symbolic LSA construction's prediction agrees with the reference LSA layer "
                  "and the reference GD step to 1e-10."
                  " Instances: a linear regression task y_i = w^T x_i in context (Gaussian x_i, "
                  "w), the weights of the paper's construction with W_0 = 0.",
        instances=_instance(d=st.integers(1, 12), N=st.integers(1, 40),
                            eta=st.floats(0.01, 2.0)),
        check=dc.check_agree_icl,
        expected="holds",
        samples=({"seed": 0, "d": 5, "N": 20, "eta": 0.5},),
        tolerances={"relative": 1e-10},
        protocol={"n_queries": 4},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="agree.attention-limits",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2, the one-layer model (symbolic derivation "
                      "'attention-limits')"),
        statement="The symbolic one-layer output and dispersion bound agree with the reference "
                  "to 1e-10."
                  " Instances: any tokens, queries, unit head v and any W (log10 ||W||_F drawn in"
                  " [-3, 4], saturated softmax included).",
        instances=_instance(n=st.integers(1, 6), T=st.integers(2, 12), d=st.integers(1, 8),
                            token_scale=st.floats(0.1, 10.0), log10_norm=st.floats(-3.0, 2.0),
                            B=st.floats(0.0, 50.0)),
        check=dc.check_agree_limits,
        expected="holds",
        samples=({"seed": 0, "n": 4, "T": 6, "d": 4, "token_scale": 1.0, "log10_norm": 0.0,
                  "B": 2.0},),
        tolerances={"relative": 1e-10},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
]
