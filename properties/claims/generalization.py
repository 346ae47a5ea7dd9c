"""Claims on the generalization of a trained attention layer: the margin view (a Rademacher
margin bound for the token-selection classifier, and the normalized margin as a predictor of
held-out error) and benign overfitting in token selection (Magen et al., arXiv 2410.07746;
Sakamoto & Sato, arXiv 2409.17625), on the planted-signal family.

One ``Claim`` record per claim; its check is ``properties.generalization_checks.check_<name>``.
The benign-overfitting claims' instance fields (n, T, d, snr, eta, seed) are sweep axes:
``attnsvm sweep gen.benign-overfitting --set snr=0.1,0.3,1 --set eta=0.1,0.3 --set n=16,64
--seeds 3 --out DIR`` draws the phase diagram. No module here imports torch or cvxpy.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import generalization_checks as gc
from attnsvm.properties.registry import Claim, Source

_seeds = st.integers(0, 2**31 - 1)

TFSVM = "Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector Machines"
TFSVM_ARXIV = "2308.16898"
MAGEN = "Magen, Shang, Xu, Frei, Hu, Vardi, Benign Overfitting in Single-Head Attention"
MAGEN_ARXIV = "2410.07746"
SAKAMOTO = ("Sakamoto, Sato, Benign or Not-Benign Overfitting in Token Selection of Attention "
            "Mechanism")
SAKAMOTO_ARXIV = "2409.17625"

_MARGIN_PROTOCOL = {"steps": 400, "lr": 0.1, "n_test": 2000, "delta": 0.05, "levels": 30,
                    "rho_max": 16.0}
_BENIGN_PROTOCOL = {"steps": 500, "lr": 0.1, "n_test": 1000, "delta": 0.05, "levels": 30,
                    "rho_max": 16.0}
_RANKS_PROTOCOL = {"steps": 200, "lr": 0.1, "n_test": 1000, "delta": 0.05, "levels": 30,
                   "rho_max": 16.0, "snr_grid": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0],
                   "margin_quantile": 0.1}
_RANKS_TOL = {"min_rank_corr": 0.8}
_BENIGN_TOL = {"eps": 0.05, "train_errors": 0, "dim_ratio": 2}


def _ranks_instances(eta: st.SearchStrategy[float]) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"seed": _seeds, "n": st.just(200), "T": st.just(2),
                                  "d": st.just(4), "eta": eta})


def _benign_instances(snr: st.SearchStrategy[float]) -> st.SearchStrategy[dict]:
    """In-scope by construction: d >= 2n (premise high_dimensional)."""
    return st.fixed_dictionaries({
        "seed": _seeds, "n": st.integers(16, 32), "T": st.integers(3, 6),
        "d": st.integers(64, 96), "snr": snr, "eta": st.floats(0.05, 0.15)})


CLAIMS = [
    Claim(
        id="gen.margin-bound",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2 (the one-layer model; the saturated softmax "
                      "is the hard token selection whose direction Att-SVM describes) with the "
                      "margin bound stated in attnsvm.reference.attention.generalization "
                      "(Maurer's vector contraction, ALT 2016, Cor. 1, and Mohri, Rostamizadeh "
                      "& Talwalkar, Foundations of Machine Learning, 2nd ed., Thm. 3.3)"),
        statement="After normalized GD saturates on planted-signal data, the held-out error of "
                  "the trained W's hardmax classifier sign(v^T x_{t*}), t* = argmax_t "
                  "x_t^T W z, lies below the margin bound min_j [ramp_{rho_j} + 4 S / (rho_j "
                  "n) + 3 sqrt((log(2/delta) + (j+1) log 2) / (2n))] of the selection margin "
                  "m = max_{good t} x_t^T W z - max_{bad t} x_t^T W z of W / ||W||_F "
                  "(S = sqrt(sum_it ||x_it||^2 ||z_i||^2), rho_j = 16 2^-j, j < 30, delta = "
                  "0.05; judged by the Wilson lower end of the held-out error)."
                  " Instances: planted-signal family (one signal token among T - 1 noise "
                  "tokens, SNR = ||(mu, kappa)|| / (sigma sqrt d)), n in [400, 1200], "
                  "T in {2, 3}, d in [3, 6], SNR in [2.5, 8], label noise eta in [0, 0.2].",
        instances=st.fixed_dictionaries({
            "seed": _seeds, "n": st.integers(400, 1200), "T": st.integers(2, 3),
            "d": st.integers(3, 6), "snr": st.floats(2.5, 8.0), "eta": st.floats(0.0, 0.2)}),
        check=gc.check_margin_bound,
        expected="holds",
        samples=({"seed": 0, "n": 1000, "T": 2, "d": 4, "snr": 4.0, "eta": 0.0},
                 {"seed": 1, "n": 1000, "T": 2, "d": 4, "snr": 4.0, "eta": 0.1}),
        requires=("saturated",),
        tolerances={"saturated": 0.999, "slack": 0.0},
        protocol=dict(_MARGIN_PROTOCOL),
        budget={"ci": 1, "dev": 10, "deep": 100},
        build_problem=gc.build_problem,
        shrink=False,
    ),
    Claim(
        id="gen.margin-ranks-error",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2 and the Att-SVM margin 1/||W^mm|| — the "
                      "margin view of generalization (an empirical statement)"),
        statement="Across clean planted-signal instances of SNR 0.25 .. 3 (T = 2, d = 4, "
                  "n = 200, eta = 0), the normalized selection margin of the trained W (the 10% "
                  "quantile of m_i / ||W||_F over the training inputs) ranks the held-out "
                  "error: Spearman correlation <= -0.8."
                  " Instances: a seed; the SNRs come from the protocol's grid (one instance "
                  "each, seeds seed + k).",
        instances=_ranks_instances(st.just(0.0)),
        check=gc.check_margin_ranks_error,
        expected="open",
        samples=({"seed": 0, "n": 200, "T": 2, "d": 4, "eta": 0.0},),
        tolerances=dict(_RANKS_TOL),
        protocol=dict(_RANKS_PROTOCOL),
        budget={"ci": 0, "dev": 5, "deep": 50},
        shrink=False,
    ),
    Claim(
        id="gen.margin-ranks-error-noisy",
        source=Source(TFSVM, TFSVM_ARXIV, "Sec. 2 — a limit of the margin view: with label "
                      "noise the optimal token of a flipped input is a noise token, so the "
                      "training margins measure memorization as well as the signal"),
        statement="(naive) the normalized margin ranks the held-out error as in "
                  "'gen.margin-ranks-error' also with label noise eta in [0.08, 0.15]."
                  " Instances: a seed and eta; the SNRs come from the protocol's grid.",
        instances=_ranks_instances(st.floats(0.08, 0.15)),
        check=gc.check_margin_ranks_error,
        expected="fails",
        samples=({"seed": 0, "n": 200, "T": 2, "d": 4, "eta": 0.1},),
        tolerances=dict(_RANKS_TOL),
        protocol=dict(_RANKS_PROTOCOL),
        budget={"ci": 0, "dev": 5, "deep": 50},
        shrink=False,
    ),
    Claim(
        id="gen.benign-overfitting",
        source=Source(MAGEN, MAGEN_ARXIV, "abstract: the single-head softmax attention model "
                      "overfits benignly (fits noisy labels, near-optimal test performance) "
                      "under appropriate conditions, and a sufficiently large SNR (the ratio of "
                      "the norms of signal and noise tokens) is necessary and sufficient; here "
                      "on a scaled-down planted family with the attention matrix W trained and "
                      "the head fixed (the setting of Sakamoto & Sato, arXiv 2409.17625: "
                      "f(X) = nu^T X^T softmax(X W^T p), fixed head)", confirmed=True),
        statement="With label noise (eta in [0.05, 0.15]), in high dimension (d >= 2n) and "
                  "at high SNR (>= 2), normalized GD on W fits every fittable noisy training label "
                  "(0 errors among inputs with a token of the observed label's sign) while the "
                  "clean held-out error stays <= eps = 0.05 (Wilson lower end)."
                  " Instances: planted-signal family, d in [64, 96], n in [16, 32], T in "
                  "[3, 6], SNR in [2, 4]; sweepable over (snr, eta, n).",
        instances=_benign_instances(st.floats(2.0, 4.0)),
        check=gc.check_benign_overfitting,
        expected="holds",
        samples=({"seed": 0, "n": 32, "T": 4, "d": 64, "snr": 2.0, "eta": 0.15},),
        requires=(gc.HIGH_DIMENSIONAL, gc.NOISY_LABELS),
        tolerances=dict(_BENIGN_TOL),
        protocol=dict(_BENIGN_PROTOCOL),
        budget={"ci": 1, "dev": 20, "deep": 200},
        build_problem=gc.build_problem,
        shrink=False,
    ),
    Claim(
        id="gen.benign-low-snr",
        source=Source(MAGEN, MAGEN_ARXIV, "abstract: a sufficiently large SNR is necessary for "
                      "benign overfitting — a limit at low SNR (harmful overfitting)",
                      confirmed=True),
        statement="(naive) the overfitting of 'gen.benign-overfitting' stays benign at any SNR: "
                  "also at SNR <= 0.2 the fitted layer's clean held-out error stays <= 0.05."
                  " Instances: as in 'gen.benign-overfitting' with SNR in [0.02, 0.2].",
        instances=_benign_instances(st.floats(0.02, 0.2)),
        check=gc.check_benign_overfitting,
        expected="fails",
        samples=({"seed": 0, "n": 32, "T": 4, "d": 64, "snr": 0.1, "eta": 0.15},),
        requires=(gc.HIGH_DIMENSIONAL, gc.NOISY_LABELS),
        tolerances=dict(_BENIGN_TOL),
        protocol=dict(_BENIGN_PROTOCOL),
        budget={"ci": 1, "dev": 10, "deep": 100},
        build_problem=gc.build_problem,
        shrink=False,
    ),
]
