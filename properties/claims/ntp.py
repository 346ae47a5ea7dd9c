"""Claims of next-token prediction as a graph SVM: Li, Huang, Ildiz, Rawat, Oymak, "Mechanics of
Next Token Prediction with Self-Attention" (arXiv 2403.08081), and Thrampoulidis, "Implicit
Optimization Bias of Next-Token Prediction in Linear Models" (arXiv 2402.18551), with the
agreement of the symbolic derivation ``graph-svm-kkt``.

``confirmed=True`` only where the statement was read in the paper's own text (the abstracts);
theorem numbers and the exact Graph-SVM statement of arXiv 2403.08081 were not found in a
retrievable text and are described in words (the graph's definition was confirmed in the
authors' public code). Checks are in ``attnsvm.properties.ntp_checks``.
"""

from __future__ import annotations

from hypothesis import strategies as st

from attnsvm.properties import ntp_checks as nc
from attnsvm.properties.registry import Claim, Source

LI = "Li, Huang, Ildiz, Rawat, Oymak, Mechanics of Next Token Prediction with Self-Attention"
LI_ARXIV = "2403.08081"
TH = "Thrampoulidis, Implicit Optimization Bias of Next-Token Prediction in Linear Models"
TH_ARXIV = "2402.18551"

_seeds = st.integers(0, 2**31 - 1)


def _ntp_instances(cyclic: bool, n_low: int, n_high: int = 8, T_high: int = 4,
                   K_high: int = 6, d_high: int = 8) -> st.SearchStrategy[dict]:
    """NTP data specs with T <= K <= d (independent embeddings, distinct tokens per sequence)."""

    @st.composite
    def build(draw: st.DrawFn) -> dict:
        T = draw(st.integers(3, T_high))
        K = draw(st.integers(T, K_high))
        return {"seed": draw(_seeds), "n": draw(st.integers(n_low, n_high)), "T": T, "K": K,
                "d": draw(st.integers(K, d_high)), "cyclic": cyclic}

    return build()


_CYCLIC = {"seed": 1, "n": 6, "T": 4, "K": 6, "d": 8, "cyclic": True}
_CYCLIC_WFIN = {"seed": 0, "n": 6, "T": 4, "K": 6, "d": 8, "cyclic": True}
_ACYCLIC = {"seed": 0, "n": 6, "T": 4, "K": 6, "d": 8, "cyclic": False}
_TRAIN = {"steps": 1000, "lr": 0.1, "checkpoints": 9}

CLAIMS = [
    Claim(
        id="ntp.graph-svm-direction",
        source=Source(LI, LI_ARXIV, "abstract (GD discovers the SCCs of the token-priority "
                      "graph; the weights decompose into a directional component, hard "
                      "retrieval, and a finite component) and the Graph-SVM convergence theorem "
                      "(number and exact conditions not confirmed)"),
        statement="Normalized GD on the NTP log-loss of one self-attention layer (query = last "
                  "token) from a small random W: W(tau) minus its projection onto S_fin aligns "
                  "with the Graph-SVM solution (1 - corr <= direction_gap at 1000 steps of 0.1; "
                  "above it but still falling is a budget shortfall). Instances: random unit "
                  "embeddings, K <= d, T <= K distinct tokens per sequence, labels in their "
                  "sequences, cyclic or acyclic graphs.",
        instances=st.one_of(_ntp_instances(True, 4), _ntp_instances(False, 2)),
        check=nc.check_graph_svm_direction,
        expected="holds",
        samples=(_CYCLIC, _ACYCLIC),
        requires=(nc.INDEPENDENT_EMBEDDINGS, nc.STILL_CONVERGING),
        tolerances={"direction_gap": 0.05, "stall_factor": 0.9},
        protocol=_TRAIN,
        budget={"ci": 1, "dev": 20, "deep": 200},
    ),
    Claim(
        id="ntp.finite-part",
        source=Source(LI, LI_ARXIV, "abstract (the finite component corresponds to soft "
                      "composition; formalises the implicit-bias formula conjectured by "
                      "Tarzanagh et al. 2023) and the decomposition theorem W = R W^svm + "
                      "W^fin (number not confirmed)"),
        statement="On cyclic data, GD's projection onto S_fin = span{(x_a - x_b) z_k^T : a, b "
                  "in one SCC of query k's graph} settles at W^fin, the minimiser over S_fin of "
                  "the loss restricted to the SCCs: ||Pi_fin W(tau) - W^fin|| <= "
                  "finite_over_lr x lr (normalized GD with a fixed step oscillates by ~lr/2; "
                  "above it but still falling is a budget shortfall).",
        instances=_ntp_instances(True, 4),
        check=nc.check_finite_part,
        expected="holds",
        samples=(_CYCLIC_WFIN, _CYCLIC),
        requires=(nc.INDEPENDENT_EMBEDDINGS, nc.FINITE_PART_CONVERGED, nc.STILL_CONVERGING),
        tolerances={"finite_over_lr": 1.0, "newton_gtol": 1e-10, "stall_factor": 0.9},
        protocol=_TRAIN,
        budget={"ci": 1, "dev": 20, "deep": 200},
    ),
    Claim(
        id="ntp.cyclic-one-hot",
        source=Source(LI, LI_ARXIV, "abstract (soft composition: a convex combination of the "
                      "high-priority tokens) — a limit of the one-hot token-selection picture "
                      "of TF-SVM (arXiv 2308.16898)", confirmed=True),
        statement="(naive) GD's attention puts mass -> 1 on the next token of every sequence "
                  "(one-hot selection, the TF-SVM picture). On cyclic data, for every W some "
                  "sequence's label mass is at most exp(-n L_fin / n_reduced) (L_fin the "
                  "restricted loss' minimum over S_fin): a counterexample when that bound is "
                  "below 1 - one_hot_tol (GD's run shown beside it).",
        instances=_ntp_instances(True, 4),
        check=nc.check_cyclic_one_hot,
        expected="fails",
        samples=(_CYCLIC,),
        requires=(nc.INDEPENDENT_EMBEDDINGS, nc.FINITE_PART_CONVERGED),
        tolerances={"one_hot_tol": 1e-3, "newton_gtol": 1e-10},
        protocol=_TRAIN,
        budget={"ci": 2, "dev": 20, "deep": 200},
    ),
    Claim(
        id="ntp.acyclic-tf-svm",
        source=Source(LI, LI_ARXIV, "the acyclic case (every SCC a single token: the "
                      "Graph-SVM has no equality constraint and attention selects one token; "
                      "stated in words, place not confirmed)"),
        statement="On acyclic data the Graph-SVM has no equality row and equals TF-SVM's "
                  "Att-SVM_alpha (arXiv 2308.16898) of X_i with query x_iT and alpha_i the "
                  "label's position (relative difference <= svm_rtol), and GD's attention on the "
                  "label exceeds 1 - one_hot_tol after 1000 normalized steps of 0.1.",
        instances=_ntp_instances(False, 2),
        check=nc.check_acyclic_tf_svm,
        expected="holds",
        samples=(_ACYCLIC,),
        requires=(nc.INDEPENDENT_EMBEDDINGS, nc.STILL_CONVERGING),
        tolerances={"svm_rtol": 1e-7, "one_hot_tol": 1e-3, "stall_factor": 0.9},
        protocol=_TRAIN,
        budget={"ci": 2, "dev": 20, "deep": 200},
    ),
    Claim(
        id="ntp.linear-decomposition",
        source=Source(TH, TH_ARXIV, "abstract: within the data subspace defined by the "
                      "sparsity patterns GD equates the logits' differences of in-support tokens "
                      "to their log-odds; in the orthogonal subspace the parameters diverge in "
                      "the direction that maximizes the NTP margin", confirmed=True),
        statement="GD (step 1/L, L the loss' smoothness) from W = 0 on linear NTP (contexts "
                  "h_j, sparse soft labels p_j): "
                  "||Pi_F W_t - W*|| / ||W*|| <= finite_rtol, with W* the minimum-norm solution "
                  "of (e_z - e_z')^T W h_j = log(p_jz / p_jz'), and 1 - corr(W_t - Pi_F W_t, "
                  "W^mm) <= direction_gap, W^mm the NTP-SVM (equalities on the support, margins "
                  ">= 1 against the rest); both improving over the run. Instances: d >= m "
                  "Gaussian contexts, Dirichlet probabilities on random supports.",
        instances=st.fixed_dictionaries({
            "seed": _seeds, "m": st.integers(2, 5), "d": st.integers(5, 8),
            "V": st.integers(4, 7), "support": st.integers(2, 3)}),
        check=nc.check_linear_decomposition,
        expected="holds",
        samples=({"seed": 0, "m": 4, "d": 8, "V": 6, "support": 3},),
        requires=(nc.NTP_SEPARABLE, nc.LINEAR_CONVERGING),
        tolerances={"finite_rtol": 0.01, "direction_gap": 0.02, "stall_factor": 0.9},
        protocol={"steps": 10000, "step_over_smoothness": 1.0, "checkpoints": 8},
        budget={"ci": 1, "dev": 10, "deep": 100},
    ),
    Claim(
        id="agree.graph-svm-kkt",
        source=Source(LI, LI_ARXIV, "the Graph-SVM (equalities inside an SCC, margins across; "
                      "symbolic derivation graph-svm-kkt)"),
        statement="The symbolic derivation's active-set KKT solution of the Graph-SVM equals "
                  "the certified reference solution (svm.graph.solve_graph_svm) to agree_rtol.",
        instances=st.one_of(_ntp_instances(True, 4, 5, 3, 4, 5),
                            _ntp_instances(False, 2, 4, 3, 4, 5)),
        check=nc.check_graph_svm_kkt_agreement,
        expected="holds",
        samples=({"seed": 3, "n": 4, "T": 3, "K": 4, "d": 4, "cyclic": True},
                 {"seed": 2, "n": 3, "T": 3, "K": 4, "d": 5, "cyclic": False}),
        requires=(nc.INDEPENDENT_EMBEDDINGS, nc.SMALL_GRAPH_SVM),
        tolerances={"agree_rtol": 1e-8},
        protocol={"max_rows": 14},
        budget={"ci": 3, "dev": 30, "deep": 300},
    ),
]
