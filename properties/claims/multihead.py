"""Claims on multi-head attention f(X) = sum_h v^T X^T softmax(X W_h z) (a sum of H heads).

Deora, Ghaderi, Taheri, Thrampoulidis, "On the Optimization and Generalization of Multi-head
Attention" (arXiv 2310.12680) prove finite-time convergence and generalization of GD on
single-layer multi-head attention under a realizability condition (abstract, confirmed); they
prove no implicit-bias (SVM) statement. The claims below carry TF-SVM's (arXiv 2308.16898)
directional convergence over to the sum of heads; they are open (no paper proves them).
Checks: ``properties.multihead_checks``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import multihead_checks as mc
from attnsvm.properties.claims.common import SATURATED, build_problem, problem_spec_strategy
from attnsvm.properties.registry import Claim, Source

MHA = "Deora, Ghaderi, Taheri, Thrampoulidis, On the Optimization and Generalization of " \
      "Multi-head Attention"
MHA_ARXIV = "2310.12680"
_seeds = st.integers(0, 2**31 - 1)
_WHERE = ("abstract: convergence and generalization guarantees for GD on single-layer "
          "multi-head self-attention under realizability; no implicit-bias statement, so the "
          "per-head SVM limit here is TF-SVM's (arXiv 2308.16898) carried over to a sum of heads")

CLAIMS = [
    Claim(
        id="multihead.head-own-svm",
        source=Source(MHA, MHA_ARXIV, _WHERE, confirmed=True),
        statement="Normalized GD on H heads W_h (each head normalized separately) from PyTorch's "
        "default init: every head's W_h aligns in direction with the Frobenius Att-SVM "
        "W^mm_{alpha_h} of its own final selection alpha_h (1 - min_h corr <= the tolerance).",
        instances=problem_spec_strategy(
            "paper", (2, 5), (2, 6), (3, 8),
            extra={"init_seed": _seeds, "H": st.integers(2, 3)}),
        check=mc.check_head_own_svm,
        expected="open",
        samples=(
            {"family": "paper", "n": 3, "T": 6, "d": 4, "seed": 3, "options": {},
             "init_seed": 1, "H": 2},
        ),
        requires=("saturated", "feasible_selection"),
        tolerances={"one_minus_corr": 0.01, "saturated": SATURATED},
        protocol={"steps": 2000, "lr": 0.1},
        budget={"ci": 0, "dev": 20, "deep": 200},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="multihead.heads-collapse",
        source=Source(MHA, MHA_ARXIV, _WHERE, confirmed=True),
        statement="Over-parameterized (d >= max(T - 1, n)): in every run the H heads collapse "
        "onto one selection, the optimal tokens, so the multi-head limit is H copies of the "
        "single-head SVM direction W^mm_opt (details: fraction collapsed, per-head corr with "
        "W^mm_opt, the single-head runs from the same seeds).",
        instances=problem_spec_strategy(
            "paper", (2, 5), (2, 6), (0, 2), overparameterized=True,
            extra={"init_seed": _seeds, "H": st.integers(2, 3)}),
        check=mc.check_heads_collapse,
        expected="open",
        samples=(
            {"family": "paper", "n": 4, "T": 4, "d": 6, "seed": 0, "options": {},
             "init_seed": 0, "H": 2},
        ),
        requires=("overparameterized", "feasible_opt", "saturated"),
        tolerances={"one_minus_fraction": 0.0, "saturated": SATURATED},
        protocol={"steps": 1500, "lr": 0.1, "runs": 6, "require_opt": True},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
    Claim(
        id="multihead.heads-collapse-underparam",
        source=Source(MHA, MHA_ARXIV, _WHERE, confirmed=True),
        statement="(naive) Below the over-parameterization threshold (d < max(T - 1, n)) the "
        "H heads still collapse onto one common selection in every run (details: fraction "
        "collapsed, distinct selections per run, the single-head runs from the same seeds).",
        instances=problem_spec_strategy(
            "paper", (3, 6), (4, 7), (2, 4),
            extra={"init_seed": _seeds, "H": st.integers(2, 3)}),
        check=mc.check_heads_collapse,
        expected="fails",
        samples=(
            {"family": "paper", "n": 3, "T": 6, "d": 4, "seed": 3, "options": {},
             "init_seed": 3, "H": 2},
        ),
        requires=(mc.UNDERPARAMETERIZED, "feasible_opt", "saturated"),
        tolerances={"one_minus_fraction": 0.0, "saturated": SATURATED},
        protocol={"steps": 1500, "lr": 0.1, "runs": 6, "require_opt": False},
        budget={"ci": 0, "dev": 10, "deep": 100},
        build_problem=build_problem,
        shrink=False,
    ),
]
