"""Claims of the related equivalences: linear attention as fast weight programmers (Schlag, Irie,
Schmidhuber, arXiv 2102.11174v3), random-feature softmax attention (Choromanski et al., arXiv
2009.14794), the implicit bias of gradient descent on separable logistic regression (Soudry et
al., arXiv 1710.10345), and policy gradient vs sequence-discriminative training (MBR / MWER /
MMI; Shannon, arXiv 1706.02776; Prabhavalkar et al., arXiv 1712.01818).

One ``Claim`` record per claim; its check is ``properties.related_checks.check_<name>(instance,
tol, protocol)`` (one reference computation each), its premises are defined there too.
Hypothesis draws the seed and the free parameters of each instance. No module here imports torch
at import time: the policy-gradient reference imports it inside the functions that use it.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import related_checks as rc
from attnsvm.properties.registry import Claim, Source

_seeds = st.integers(0, 2**31 - 1)


def _instance(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    """Instances {seed, **fields} (the seed first, as the saved instances have it)."""
    return st.fixed_dictionaries({"seed": _seeds, **fields})


FWP = "Schlag, Irie, Schmidhuber, Linear Transformers Are Secretly Fast Weight Programmers"
FWP_ARXIV = "2102.11174"
PERF = "Choromanski et al., Rethinking Attention with Performers"
PERF_ARXIV = "2009.14794"
SOUDRY = ("Soudry, Hoffer, Nacson, Gunasekar, Srebro, The Implicit Bias of Gradient Descent on "
          "Separable Data")
SHANNON = "Shannon, Optimizing expected word error rate via sampling for speech recognition"
MWER = ("Prabhavalkar, Sainath, Wu, Nguyen, Chen, Chiu, Kannan, Minimum Word Error Rate Training "
        "for Attention-based Sequence-to-Sequence Models")

CLAIMS = [
    # ---------------------------------------------------------------------------------- FWP
    Claim(
        id="fwp.linear-attention",
        source=Source(FWP, FWP_ARXIV, "Eqs. 17-19 (v3): causal linear attention as the "
                      "outer-product fast-weight recurrence, with sum normalisation"),
        statement="Causal linear attention with feature map phi equals the outer-product "
                  "fast-weight recurrence W_i = W_{i-1} + v_i phi(k_i)^T with sum normalization, "
                  "to 1e-12.",
        instances=_instance(L=st.integers(1, 30), d_key=st.integers(2, 8), d_v=st.integers(1, 4),
                            phi=st.sampled_from(["elu1", "random"]), normalize=st.booleans()),
        check=rc.check_fwp_equivalence,
        expected="holds",
        samples=({"seed": 0, "L": 20, "d_key": 6, "d_v": 3, "phi": "elu1", "normalize": True},),
        requires=(rc.NONZERO_NORMALIZER,),
        tolerances={"exact_tol": 1e-12},
        protocol={"nu": 1, "eps": 0.0, "m": 16},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="fwp.capacity-exact",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.1 (capacity limitation of linear attention) — a "
                      "limit"),
        statement="(naive) a linear memory retrieves every one of N stored values exactly, even "
                  "when N exceeds the feature dimension d_dot.",
        instances=st.integers(2, 8).flatmap(
            lambda dk: _instance(N=st.integers(dk + 1, 40), d_key=st.just(dk),
                                 d_v=st.integers(1, 6))),
        check=rc.check_capacity_exact,
        expected="fails",
        samples=({"seed": 0, "N": 32, "d_key": 16, "d_v": 8},),
        requires=(rc.OVER_CAPACITY,),
        tolerances={"exact_tol": 1e-8},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.capacity-law",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.1 (capacity limitation); the quantitative law "
                      "sqrt(1 - r/N) and its exact Beta distribution are derived here from least "
                      "squares, not stated in the paper"),
        statement="With N > r generic keys (r = rank of the feature matrix), the best linear "
                  "memory's relative retrieval error follows sqrt(1 - r/N) (exact Beta law for "
                  "Gaussian values).",
        instances=st.integers(2, 10).flatmap(
            lambda dk: _instance(N=st.integers(dk + 2, 64), d_key=st.just(dk),
                                 d_v=st.integers(4, 32))),
        check=rc.check_capacity_law,
        expected="holds",
        samples=({"seed": 0, "N": 32, "d_key": 16, "d_v": 32},),
        requires=(rc.UNDERCOMPLETE,),
        tolerances={"alpha": 4e-6},
        protocol={"phi": "gaussian", "nu": 1, "m": 16},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.delta-overwrite",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.2, Eq. 24 (the delta update rule)"),
        statement="The delta rule replaces the value stored under a key exactly when "
                  "beta ||phi(k)||^2 = 1 (for any key and value).",
        instances=_instance(d=st.integers(2, 10), d_v=st.integers(1, 5),
                            scale=st.floats(0.2, 3.0)),
        check=rc.check_delta_overwrite,
        expected="holds",
        samples=({"seed": 0, "d": 8, "d_v": 4, "scale": 1.7},),
        tolerances={"exact_tol": 1e-12},
        protocol={"partial_c": 0.5},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.delta-divergence",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.2 (delta rule; its transition matrix "
                      "I - beta phi phi^T)"),
        statement="The delta-rule recursion is expansive when c = beta ||phi||^2 > 2 and "
                  "non-expansive for c <= 2 (c is drawn on both sides of 2).",
        instances=_instance(c=st.floats(0.1, 4.0), d=st.integers(2, 8)),
        check=rc.check_delta_divergence,
        expected="holds",
        samples=({"seed": 0, "c": 2.5, "d": 6},),
        tolerances={"exact_tol": 1e-9, "roundoff_floor": 1e-4},
        protocol={"steps": 40, "d_v": 2, "perturbations": 3, "phi_norm2": 2.0},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.delta-spectrum",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.2 (delta rule; spectrum of its transition "
                      "I - beta phi phi^T)"),
        statement="The spectrum of I - beta phi phi^T is {1 (d-1 times), 1 - beta ||phi||^2} "
                  "(for any phi, beta).",
        instances=_instance(d=st.integers(1, 10), beta=st.floats(0.0, 3.0),
                            scale=st.floats(0.1, 3.0)),
        check=rc.check_delta_spectrum,
        expected="holds",
        samples=({"seed": 0, "d": 8, "beta": 1.0, "scale": 1.0},),
        tolerances={"exact_tol": 1e-12},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.dpfp-dimension",
        source=Source(FWP, FWP_ARXIV, "Sec. 5.2 (DPFP, the deterministic parameter-free "
                      "projection)"),
        statement="DPFP maps d_key inputs to 2 d_key nu nonnegative, degree-2 homogeneous "
                  "features, with phi(k).phi(-k) = 0.",
        instances=st.integers(2, 16).flatmap(
            lambda dk: _instance(d_key=st.just(dk), nu=st.integers(1, dk - 1))),
        check=rc.check_dpfp_dimension,
        expected="holds",
        samples=({"seed": 0, "d_key": 16, "nu": 3},),
        requires=(rc.DPFP_NU,),
        tolerances={"exact_tol": 1e-12},
        protocol={"homogeneity_scale": [1.0, 4.0]},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.dpfp-degenerate",
        source=Source(FWP, FWP_ARXIV, "Sec. 5.2 (DPFP) — a limit"),
        statement="(naive) DPFP-normalized linear attention is defined for every nonzero input.",
        instances=_instance(case=st.sampled_from(["one_sparse", "alternating", "disjoint"]),
                            d_key=st.sampled_from([3, 5, 7]), nu=st.just(1)),
        check=rc.check_dpfp_degenerate,
        expected="fails",
        samples=({"seed": 0, "case": "one_sparse", "d_key": 6, "nu": 2},),
        requires=(rc.DEGENERATE_CASE,),
        protocol={"L": 5, "d_v": 2, "n_rate": 20_000, "sparse_scale": [1.0, 2.0],
                  "alternating_scale": [0.5, 1.5]},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="fwp.positive-map-crosstalk",
        source=Source(FWP, FWP_ARXIV, "Sec. 4.1 (capacity: sum-rule retrieval with "
                      "non-orthogonal feature vectors) — a limit"),
        statement="(naive) the sum rule retrieves stored values exactly with a strictly "
                  "positive map.",
        instances=st.integers(2, 8).flatmap(
            lambda n: _instance(N=st.just(n), d_key=st.integers(n, 10))),
        check=rc.check_positive_map_crosstalk,
        expected="fails",
        samples=({"seed": 0, "N": 4, "d_key": 8},),
        requires=(rc.FEW_KEYS,),
        tolerances={"crosstalk_tol": 0.0},
        protocol={"phi": "elu1", "m": 16, "d_v": 3},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    # ---------------------------------------------------------------------------- Performer
    Claim(
        id="performer.unbiased",
        source=Source(PERF, PERF_ARXIV, "Lemma 1 (positive and hyperbolic random features); "
                      "trigonometric features (Sec. 2.3); orthogonal random features (ORFs)"),
        statement="Positive, hyperbolic, trigonometric and (sign-fixed) orthogonal random "
                  "features give unbiased estimates of exp(x^T y) (z-test, false alarm < 4e-6 "
                  "per example).",
        instances=_instance(d=st.integers(2, 8), m=st.integers(1, 8),
                            kind=st.sampled_from(["positive", "hyperbolic", "trig"]),
                            orthogonal=st.booleans(), z_norm2=st.floats(0.05, 0.5)),
        check=rc.check_performer_unbiased,
        expected="holds",
        samples=({"seed": 0, "d": 4, "m": 4, "kind": "positive", "orthogonal": False,
                  "z_norm2": 0.3},),
        requires=(rc.MODERATE_NORM,),
        tolerances={"alpha": 4e-6, "mc_norm_max": 0.5},
        protocol={"n_draws": 100_000},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="performer.lemma2-mse",
        source=Source(PERF, PERF_ARXIV, "Lemma 2 (MSE of the trigonometric, positive and "
                      "hyperbolic estimators)"),
        statement="The iid estimators' MSE equals Lemma 2's formulas (trig, positive, "
                  "hyperbolic).",
        instances=_instance(d=st.integers(2, 6), m=st.integers(1, 6),
                            kind=st.sampled_from(["positive", "hyperbolic", "trig"]),
                            z_norm2=st.floats(0.05, 0.5)),
        check=rc.check_performer_mse,
        expected="holds",
        samples=({"seed": 0, "d": 4, "m": 4, "kind": "positive", "z_norm2": 0.21},),
        requires=(rc.MODERATE_NORM,),
        tolerances={"alpha": 4e-6, "mc_norm_max": 0.5},
        protocol={"n_draws": 200_000, "seed_offset": 1},
        budget={"ci": 4, "dev": 20, "deep": 200},
    ),
    Claim(
        id="performer.orf-theorem2",
        source=Source(PERF, PERF_ARXIV, "Theorem 2 (MSE bound of orthogonal positive random "
                      "features)"),
        statement="Orthogonal positive features have MSE at most Theorem 2's bound (m <= d).",
        instances=st.integers(2, 6).flatmap(
            lambda d: _instance(d=st.just(d), m=st.integers(2, d), z_norm2=st.floats(0.1, 0.5))),
        check=rc.check_orf_mse_bound,
        expected="holds",
        samples=({"seed": 0, "d": 4, "m": 4, "z_norm2": 0.21},),
        requires=(rc.MODERATE_NORM, rc.ORTHOGONAL_BLOCK),
        tolerances={"alpha": 4e-6, "mc_norm_max": 0.5},
        protocol={"n_draws": 200_000, "seed_offset": 2},
        budget={"ci": 3, "dev": 15, "deep": 150},
    ),
    Claim(
        id="performer.orf-without-sign-fix",
        source=Source(PERF, PERF_ARXIV, "orthogonal random features (ORFs) drawn by a QR "
                      "decomposition — a limit of QR without the sign fix"),
        statement="(naive) orthogonal features from numpy's QR without the sign fix "
                  "Q sign(diag R) give unbiased kernel estimates.",
        instances=_instance(d=st.integers(2, 8), sign_fix=st.just(False)),
        check=rc.check_orf_signfix,
        expected="fails",
        samples=({"seed": 0, "d": 4, "sign_fix": False},),
        requires=(rc.SIGN_FIX_OMITTED,),
        tolerances={"alpha": 4e-6},
        protocol={"n_draws": 40_000, "aligned": True, "aligned_scales": [0.5, 0.2],
                  "z_norm2": 0.49, "seed_offset": 3},
        budget={"ci": 6, "dev": 30, "deep": 300},
    ),
    Claim(
        id="performer.row-normalized-bias",
        source=Source(PERF, PERF_ARXIV, "FAVOR+ (row-normalized attention D^-1 Q'(K'^T V); "
                      "Lemma 1's unbiasedness is for the kernel, not the ratio) — a limit"),
        statement="(naive) the row-normalized FAVOR+ attention output is unbiased.",
        instances=_instance(m=st.integers(2, 4)),
        check=rc.check_row_normalized_bias,
        expected="fails",
        samples=({"seed": 0, "m": 4},),
        requires=(rc.SMALL_M,),
        tolerances={"alpha": 4e-6, "max_m": 4},
        protocol={"L": 4, "d": 4, "d_v": 1, "n_draws": 100_000, "scale": 0.35, "m_factor": 4,
                  "seed_offsets": [4, 5]},
        budget={"ci": 3, "dev": 15, "deep": 150},
    ),
    # ------------------------------------------------------------------------------- Soudry
    Claim(
        id="soudry.logistic-direction",
        source=Source(SOUDRY, "1710.10345", "Theorem 3 (w(t) = w_hat log t + rho(t) with rho(t) "
                      "bounded, so the direction gap to the hard-margin SVM is O(1/log t))"),
        statement="GD on the logistic loss over separable data (Gaussian, with a margin) "
                  "converges in direction to the hard-margin SVM, the angle gap shrinking like "
                  "1/log t (residual w - w_hat log t bounded).",
        instances=_instance(n=st.integers(10, 30), d=st.integers(2, 6)),
        check=rc.check_soudry_trend,
        expected="holds",
        samples=({"seed": 0, "n": 30, "d": 5},),
        tolerances={"max_offset_growth": 0.25},
        protocol={"runs": 8, "checkpoints": [100, 1_000, 10_000, 100_000]},
        budget={"ci": 2, "dev": 10, "deep": 100},
    ),
    # ---------------------------------------------------------------------- policy gradient
    Claim(
        id="pg.mbr-equals-reinforce",
        source=Source(SHANNON, "1706.02776", "Sec. 2 (the gradient of the expected word error "
                      "rate, MBR, is an expectation: REINFORCE with the expected reward as "
                      "baseline)"),
        statement="The MBR/expected-reward gradient w.r.t. the logits equals REINFORCE with the "
                  "expected reward as baseline, P(y)(R(y) - E[R]) (exact enumeration over small "
                  "discrete output spaces).",
        instances=_instance(H=st.integers(2, 8), vocab=st.integers(2, 4),
                            length=st.integers(1, 3)),
        check=rc.check_mbr_reinforce,
        expected="holds",
        samples=({"seed": 0, "H": 6, "vocab": 3, "length": 3},),
        tolerances={"exact_tol": 1e-12},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="pg.baseline-invariance",
        source=Source(SHANNON, "1706.02776", "Sec. 2 (REINFORCE form of the expected-WER "
                      "gradient; a constant baseline leaves its expectation unchanged)"),
        statement="A constant baseline does not change the expected REINFORCE gradient (exact "
                  "enumeration over small discrete output spaces).",
        instances=_instance(vocab=st.integers(2, 4), length=st.integers(1, 3)),
        check=rc.check_baseline_invariance,
        expected="holds",
        samples=({"seed": 0, "vocab": 3, "length": 3},),
        tolerances={"exact_tol": 1e-12},
        protocol={"baselines": [-5.0, 0.0, 2.5, 100.0]},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="pg.reinforce-mc-unbiased",
        source=Source(SHANNON, "1706.02776", "Sec. 2 (the expected-WER gradient approximated by "
                      "Monte Carlo sampling of hypotheses)"),
        statement="Sampled REINFORCE with any constant baseline is unbiased (z-test, small "
                  "output spaces).",
        instances=_instance(H=st.integers(2, 6), baseline=st.floats(-3.0, 3.0)),
        check=rc.check_reinforce_mc_unbiased,
        expected="holds",
        samples=({"seed": 0, "H": 5, "baseline": 1.5},),
        tolerances={"alpha": 4e-6},
        protocol={"n": 100_000, "seed_offsets": [6, 7]},
        budget={"ci": 4, "dev": 20, "deep": 200},
    ),
    Claim(
        id="pg.mmi-identity",
        source=Source(SHANNON, "1706.02776", "Sec. 2 (sequence-discriminative criteria as "
                      "expected rewards); MMI (Bahl, Brown, de Souza, Mercer, ICASSP 1986) is "
                      "log P(ref), and the identity with the expected 0/1 reward's gradient is "
                      "derived here"),
        statement="The MMI gradient equals 1/P(ref) times the gradient of the expected 0/1 "
                  "reward (small discrete output spaces).",
        instances=_instance(H=st.integers(2, 8), vocab=st.integers(2, 3),
                            length=st.integers(1, 4)),
        check=rc.check_mmi_identity,
        expected="holds",
        samples=({"seed": 0, "H": 6, "vocab": 2, "length": 4},),
        tolerances={"exact_tol": 1e-12},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
    Claim(
        id="pg.mwer-baseline",
        source=Source(MWER, "1712.01818", "N-best MWER loss: the expected word errors over the "
                      "renormalized N-best list, with their mean subtracted (Eq. 9)"),
        statement="N-best MWER with the mean-risk baseline equals the renormalized "
                  "expected-risk gradient.",
        instances=_instance(H=st.integers(3, 8), beam=st.integers(2, 3)),
        check=rc.check_mwer_baseline,
        expected="holds",
        samples=({"seed": 0, "H": 8, "beam": 4},),
        requires=(rc.BEAM_IN_LIST,),
        tolerances={"exact_tol": 1e-12},
        protocol={"word_errors": [0, 5]},
        budget={"ci": 10, "dev": 50, "deep": 500},
    ),
]
