"""Claims of causal and full self-attention (TF-SVM's sequence-to-sequence extension): the
regularization path and normalized GD against SAtt-SVM, causal position 0, the feasibility
threshold measured against d, n, T, its limit, and the agreement of the symbolic SAtt-SVM dual
with the reference solver.

One ``Claim`` record per claim; the checks are in ``properties.sequence_checks``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import sequence_checks as sc
from attnsvm.properties.registry import Claim, Known, Source

PAPER = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
ARXIV = "2308.16898"
WHERE = ("appendix, the extension of the SVM equivalence to sequence-to-sequence (causal and "
         "full self-attention) prediction: SAtt-SVM with every position a query and the "
         "admissible tokens t <= k under the causal mask")
_seeds = st.integers(0, 2**31 - 1)


def _specs(n: tuple[int, int], T: tuple[int, int], d: st.SearchStrategy[int],
           **extra: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"n": st.integers(*n), "T": st.integers(*T), "d": d,
                                  "seed": _seeds, **extra})


def _over(n: tuple[int, int], T: tuple[int, int], extra: tuple[int, int],
          **fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """Specs with d = n T + k (k in ``extra``): over-parameterized, SAtt-SVM_opt feasible."""
    return _specs(n, T, st.just(0), k=st.integers(*extra), **fields).map(
        lambda s: {**{key: v for key, v in s.items() if key != "k"},
                   "d": s["n"] * s["T"] + s["k"]})


CLAIMS = [
    Claim(
        id="satt.regpath-causal",
        source=Source(PAPER, ARXIV, WHERE + "; the regularization-path theorem carried over "
                      "(its number not checked)"),
        statement="The regularization path of causal self-attention, W_R in argmin_{||W||_F "
                  "<= R} L(W) with L the mean logistic loss over every position, converges in "
                  "direction to SAtt-SVM_opt (the causal program of the optimal admissible "
                  "tokens): corr(W_R, W^mm) -> 1 as R grows.",
        instances=_over((1, 2), (3, 4), (1, 4), init_seed=_seeds),
        check=sc.check_regpath,
        expected="holds",
        samples=({"n": 2, "T": 4, "d": 12, "seed": 0, "init_seed": 0},),
        requires=(sc.SEQ_FEASIBLE_OPT,),
        tolerances={"one_minus_corr": 0.01, "noise": 2e-3},
        protocol={"mask": "causal", "radii": (1.0, 10.0, 30.0), "starts": 3, "steps": 400},
        budget={"ci": 0, "dev": 10, "deep": 100},
        shrink=False,
    ),
    Claim(
        id="satt.ngd-causal",
        source=Source(PAPER, ARXIV, WHERE + "; the GD direction theorem carried over (its "
                      "number not checked)"),
        statement="Normalized GD (lr 0.1, small random start) on causal self-attention "
                  "converges in direction to SAtt-SVM of the selection it ends at (the argmax "
                  "of its final attention at every position): corr(W(t), W^mm) rises to 1.",
        instances=_over((1, 3), (3, 5), (1, 4), init_seed=_seeds),
        check=sc.check_ngd,
        expected="holds",
        samples=({"n": 2, "T": 4, "d": 12, "seed": 0, "init_seed": 0},),
        requires=("saturated", sc.SEQ_FEASIBLE_SELECTION),
        tolerances={"one_minus_corr": 0.01, "noise": 2e-3, "saturated": 1 - 1e-6},
        protocol={"mask": "causal", "steps": 1000, "lr": 0.1},
        budget={"ci": 0, "dev": 10, "deep": 100},
        shrink=False,
    ),
    Claim(
        id="satt.causal-position-zero",
        source=Source(PAPER, ARXIV, WHERE + "; position 0 has the single admissible token 0"),
        statement="Causal position 0 selects itself: for every W its attention is e_0 and its "
                  "output v^T x_i0 (exactly), its label does not change the gradient, and "
                  "SAtt-SVM has no constraint row for it (a degenerate query, not a failure).",
        instances=_specs((1, 4), (2, 6), st.integers(1, 8), w_seed=_seeds),
        check=sc.check_position_zero,
        expected="holds",
        samples=({"n": 2, "T": 4, "d": 3, "seed": 0, "w_seed": 1},),
        tolerances={"exact": 0.0, "tiny": 1e-300},
        protocol={"scales": (1e-3, 1.0, 1e3, 1e8)},
        budget={"ci": 3, "dev": 50, "deep": 500},
    ),
    Claim(
        id="satt.feasible-overparameterized",
        source=Source(PAPER, ARXIV, WHERE + "; over-parameterization ensures feasibility "
                      "(with the n T queries linearly independent)"),
        statement="With d >= nT (the nT queries linearly independent, every admissible token "
                  "a vertex: Gaussian data) SAtt-SVM_opt is feasible under the causal mask, "
                  "with a certified solution of min margin 1.",
        instances=_over((1, 3), (2, 5), (0, 3)).map(
            lambda s: {**{k: v for k, v in s.items() if k != "d"},
                       "extra_d": s["d"] - s["n"] * s["T"]}),
        check=sc.check_overparameterized,
        expected="holds",
        samples=({"n": 2, "T": 4, "seed": 0, "extra_d": 0},),
        requires=(sc.SEQ_FEASIBLE_OPT,),
        tolerances={"margin": 1e-9},
        protocol={"mask": "causal"},
        budget={"ci": 4, "dev": 40, "deep": 400},
    ),
    Claim(
        id="satt.feasibility-threshold",
        source=Source(PAPER, ARXIV, WHERE + "; feasibility with n T queries, read as needing "
                      "d of the order of n T"),
        statement="Feasibility of causal SAtt-SVM_opt on Gaussian data needs d of the order "
                  "of the number of queries nT: at d = nT/2 at most half of the instances are "
                  "feasible. (Measured: the fraction feasible for d = 1..nT and the transition "
                  "d_50.)",
        instances=_specs((1, 3), (3, 8), st.just(0)),
        check=sc.check_feasibility_threshold,
        expected="open",
        samples=({"n": 2, "T": 8, "d": 0, "seed": 0},),
        tolerances={"max_fraction": 0.5, "half": 0.5},
        protocol={"mask": "causal", "draws": 10},
        known=Known(
            "violated",
            "measured (20 Gaussian draws per point, seeds 0-19, integer d): the transition d_50 "
            "(half the instances feasible) is far below nT and grows like sqrt(nT log T): "
            "causal d_50 = 2, 3, 3, 5 for T = 4 and n = 1, 2, 4, 8 (nT = 4..32); 3, 4, 6 for "
            "T = 8, n = 1, 2, 4; 5, 8 for T = 16, n = 1, 2; d_50^2 / (nT ln T) lies in "
            "0.41-0.81 (causal) and 0.72-1.44 for the full mask (d_50 = 2..10). At fixed nT = "
            "32, d_50 = 5, 6, 8 for T = 4, 8, 16. d >= nT is sufficient "
            "(satt.feasible-overparameterized), far from necessary",
            {"n": 2, "T": 8, "d": 0, "seed": 0}),
        budget={"ci": 0, "dev": 5, "deep": 50},
        shrink=False,
    ),
    Claim(
        id="satt.ngd-underparameterized",
        source=Source(PAPER, ARXIV, WHERE + "; a limit: below the feasibility threshold"),
        statement="(naive) normalized GD on causal self-attention ends at the optimal "
                  "admissible tokens of every position, also when d is far below the number "
                  "of queries (SAtt-SVM_opt infeasible).",
        instances=_specs((3, 4), (6, 8), st.integers(2, 3), init_seed=_seeds),
        check=sc.check_underparameterized_ngd,
        expected="fails",
        samples=({"n": 4, "T": 8, "d": 2, "seed": 0, "init_seed": 0},),
        requires=(sc.SEQ_INFEASIBLE_OPT,),
        tolerances={"wrong_fraction": 0.0},
        protocol={"mask": "causal", "steps": 300, "lr": 0.1},
        budget={"ci": 1, "dev": 10, "deep": 100},
        shrink=False,
    ),
    Claim(
        id="agree.satt-svm-dual",
        source=Source(PAPER, ARXIV, WHERE + " (symbolic derivation 'satt-svm-dual')"),
        statement="The exact active-set solution of the symbolic SAtt-SVM KKT system (stacked "
                  "queries, causal admissible set) equals the reference solver's W^mm, on the "
                  "same constraint rows, and the reference (W, lambda) satisfy the symbolic KKT "
                  "residuals.",
        instances=_specs((1, 2), (2, 4), st.integers(2, 5)),
        check=sc.check_dual_agreement,
        expected="holds",
        samples=({"n": 1, "T": 4, "d": 3, "seed": 0}, {"n": 2, "T": 3, "d": 4, "seed": 1}),
        requires=(sc.SEQ_FEASIBLE_OPT, sc.FEW_ROWS),
        tolerances={"relative": 1e-7, "decision": 0.5, "tiny": 1e-300},
        protocol={"mask": "causal", "max_rows": 10},
        budget={"ci": 6, "dev": 60, "deep": 600},
    ),
]
