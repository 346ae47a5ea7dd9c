"""Claims on the (K, Q) factorization W = K Q^T beyond the full-width case m = d covered by
``claims.tfsvm`` (tfsvm.kq-nuclear-bias, tfsvm.regpath-KQ): width below the SVM's rank, the
balancedness invariant of gradient flow, the flow's nuclear-norm bias in and outside Sheen et
al.'s premises, re-factorizations, and the agreement of the ``kq-conservation`` derivation.

Sources: Tarzanagh, Li, Thrampoulidis, Oymak (arXiv 2308.16898) for the (K, Q) program and its
nuclear-norm relaxation Att-SVM*; Sheen, Chen, Wang, Zhou (arXiv 2403.08699) for gradient flow
(abstract confirmed: exponential loss, K and Q trained separately, separable data, proof for
diagonal K, Q and for weights whose singular spaces are aligned with the data at
initialisation). Checks: ``properties.factorization_checks``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import factorization_checks as fc
from attnsvm.properties.claims.common import SATURATED, build_problem, problem_spec_strategy
from attnsvm.properties.registry import Claim, Source

TFSVM = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
TFSVM_ARXIV = "2308.16898"
SHEEN = ("Sheen, Chen, Wang, Zhou, Implicit Regularization of Gradient Flow on One-Layer "
         "Softmax Attention")
SHEEN_ARXIV = "2403.08699"
DU = ("Du, Hu, Lee, Algorithmic Regularization in Learning Deep Homogeneous Models: Layers are "
      "Automatically Balanced")
DU_ARXIV = "1806.00900"
RFP = "Recht, Fazel, Parrilo, Guaranteed Minimum-Rank Solutions of Linear Matrix Equations via " \
      "Nuclear Norm Minimization"
RFP_ARXIV = "0706.4138"

_seeds = st.integers(0, 2**31 - 1)
_SHEEN_WHERE = ("abstract: gradient flow on the exponential loss with K and Q trained separately "
                "implicitly minimizes the nuclear norm of K Q^T (an SVM on the attention "
                "weights), proved for diagonal K, Q and for weights whose singular spaces are "
                "aligned with the data features at initialization")

CLAIMS = [
    Claim(
        id="factorization.rank-m-program",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2, the (K, Q) parameterization with K, Q in "
                      "R^{d x m} and its nuclear-norm relaxation Att-SVM*; m below rank W*^mm "
                      "is outside the relaxation's tightness (no statement of the paper)"),
        statement="Normalized GD on (K, Q) of width m < rank W*^mm_alpha (K, Q normalized "
        "separately, official protocol): K Q^T aligns with the rank-m program's solution "
        "min (||K||^2 + ||Q||^2)/2 s.t. the margins (local solver, several starts), closer than "
        "with the convex Att-SVM*. Both correlations are reported.",
        instances=problem_spec_strategy(
            "paper", (3, 5), (3, 5), (0, 2), overparameterized=True,
            extra={"init_seed": _seeds, "m": st.just(1)}),
        check=fc.check_rank_m_program,
        expected="open",
        samples=({"family": "paper", "n": 4, "T": 4, "d": 5, "seed": 0, "options": {},
                  "init_seed": 0, "m": 1},),
        requires=("saturated", "feasible_selection", fc.RANK_ABOVE_M, fc.RANK_M_FOUND,
                  fc.RANK_M_REFERENCE),
        tolerances={"one_minus_corr": 0.02, "objective_rtol": 1e-3, "saturated": SATURATED},
        protocol={"steps": 2000, "lr": 0.1, "ridge": 2.22e-16, "starts": 4},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="factorization.balance-drift",
        source=Source(DU, DU_ARXIV, "the balancedness theorem (gradient flow keeps "
                      "W_{h+1}^T W_{h+1} - W_h W_h^T constant; statement number not confirmed); "
                      "derived here as the 'kq-conservation' derivation"),
        statement="Plain GD on (K, Q), K, Q in R^{d x m}, any loss of K Q^T: over a fixed time "
        "horizon t = N eta the drift ||D_t - D_0||_F of D = K^T K - Q^T Q is O(eta) (log-log "
        "slope within 'slope' of 1), and one step changes D by exactly "
        "eta^2 (Q^T G^T G Q - K^T G G^T K).",
        instances=problem_spec_strategy(
            "paper", (2, 5), (2, 5), (2, 6),
            extra={"init_seed": _seeds, "m": st.integers(1, 4),
                   "scale": st.floats(0.2, 1.0)}),
        check=fc.check_balance_drift,
        expected="holds",
        samples=({"family": "paper", "n": 4, "T": 4, "d": 5, "seed": 1, "options": {},
                  "init_seed": 0, "m": 2, "scale": 0.5},),
        requires=(fc.FINITE_DRIFT,),
        tolerances={"slope": 0.1, "roundoff": 1e-8},
        protocol={"etas": (0.1, 0.05, 0.025), "horizon": 2.0, "loss": "logistic"},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="factorization.flow-nuclear-diagonal",
        source=Source(SHEEN, SHEEN_ARXIV, _SHEEN_WHERE + " (here: the diagonal case)",
                      confirmed=True),
        statement="Our reading of the paper's diagonal premises (its exact assumptions are not "
        "confirmed beyond the abstract): diagonal K = diag(k), Q = diag(q), exponential loss, "
        "small balanced start "
        "k = s 1, q = s sign(w*) aligned with the l1 SVM w* = argmin ||w||_1 s.t. the margins "
        "of diag(w) (the nuclear-norm SVM over diagonal W), small jointly normalized Euler "
        "steps of the flow: diag(k o q) aligns with w* (1 - corr <= the tolerance).",
        instances=problem_spec_strategy(
            "paper", (2, 4), (3, 4), (0, 3), overparameterized=True,
            extra={"init_seed": _seeds}),
        check=fc.check_flow_diagonal,
        expected="open",
        samples=({"family": "paper", "n": 4, "T": 3, "d": 8, "seed": 0, "options": {},
                  "init_seed": 0},),
        requires=(fc.DIAGONAL_FEASIBLE, "saturated", fc.SELECTS_OPT, fc.DISTINCT_SVMS),
        tolerances={"one_minus_corr": 0.02, "noise": 1e-3, "distinct_svms": 0.99,
                    "saturated": SATURATED},
        protocol={"steps": 2000, "lr": 0.05, "init_scale": 1e-2, "loss": "exponential",
                  "checkpoints": (200, 500, 1000, 2000)},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="factorization.flow-nuclear-general",
        source=Source(SHEEN, SHEEN_ARXIV, _SHEEN_WHERE + " (here outside those premises: "
                      "full K, Q from a random balanced start, general data)", confirmed=True),
        statement="Full K, Q in R^{d x d} from the balanced start s (U, V) (U, V random "
        "orthogonal), exponential loss, small jointly normalized Euler steps of the flow: "
        "K Q^T aligns with the nuclear-norm SVM W*^mm_alpha of its final selection, closer than "
        "with the Frobenius one.",
        instances=problem_spec_strategy(
            "paper", (2, 5), (3, 5), (0, 2), overparameterized=True,
            extra={"init_seed": _seeds}),
        check=fc.check_flow_general,
        expected="open",
        samples=({"family": "paper", "n": 4, "T": 4, "d": 5, "seed": 1, "options": {},
                  "init_seed": 0},),
        requires=("saturated", "feasible_selection", fc.DISTINCT_SVMS),
        tolerances={"one_minus_corr": 0.02, "noise": 1e-3, "distinct_svms": 0.99,
                    "saturated": SATURATED},
        protocol={"steps": 2000, "lr": 0.015, "init_scale": 1e-2, "loss": "exponential",
                  "checkpoints": (200, 500, 1000, 2000)},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="factorization.refactorization-cost",
        source=Source(RFP, RFP_ARXIV, "the variational characterization of the nuclear norm, "
                      "||W||_* = min over W = K Q^T of (||K||_F^2 + ||Q||_F^2)/2, attained at "
                      "the balanced SVD split (lemma number not confirmed)"),
        statement="For W of rank r <= m and its balanced factors (U sqrt(S), V sqrt(S)) of "
        "width m: their cost equals ||W||_*, an orthogonal R leaves it unchanged, and every "
        "random re-factorization (K R, Q R^{-T}) with R = I + sigma G costs strictly more.",
        instances=st.fixed_dictionaries({
            "seed": _seeds, "d": st.integers(2, 8), "m": st.integers(2, 8),
            "sigma": st.floats(0.05, 1.0)}).flatmap(
            lambda x: st.fixed_dictionaries({**{k: st.just(v) for k, v in x.items()},
                                             "rank": st.integers(1, min(x["d"], x["m"]))})),
        check=fc.check_refactorization,
        expected="holds",
        samples=({"seed": 0, "d": 5, "m": 5, "rank": 3, "sigma": 0.3},
                 {"seed": 1, "d": 6, "m": 3, "rank": 3, "sigma": 0.05}),
        tolerances={"roundoff": 1e-10},
        protocol={"draws": 200},
        budget={"ci": 5, "dev": 50, "deep": 500},
    ),
    Claim(
        id="factorization.agree-kq-conservation",
        source=Source(DU, DU_ARXIV, "the balancedness invariant, as the 'kq-conservation' "
                      "derivation (statement number not confirmed)"),
        statement="The kq-conservation derivation's lambdified one-step increment of "
        "K^T K - Q^T Q equals the reference's and one actual GD step's, and its flow rate D' "
        "vanishes, to relative round-off.",
        instances=problem_spec_strategy(
            "paper", (2, 4), (2, 4), (2, 4),
            extra={"init_seed": _seeds, "m": st.integers(1, 3)}),
        check=fc.check_agree_conservation,
        expected="holds",
        samples=({"family": "paper", "n": 3, "T": 3, "d": 3, "seed": 0, "options": {},
                  "init_seed": 0, "m": 2},),
        tolerances={"relative": 1e-9},
        protocol={"eta": 0.1, "loss": "logistic"},
        budget={"ci": 2, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
]
