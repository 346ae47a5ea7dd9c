"""attnsvm: theorem checking and property testing for softmax attention as a hard-margin SVM.

(Tarzanagh, Li, Thrampoulidis, Oymak, "Transformers as Support Vector Machines", arXiv 2308.16898;
Tarzanagh, Li, Zhang, Oymak, "Max-Margin Token Selection in Attention Mechanism", arXiv
2306.13596.) The public API is re-exported here lazily, so ``import attnsvm`` stays cheap and
neither torch nor cvxpy is imported until a name that needs them is used.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("attnsvm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(["AttentionProblem"], "attnsvm.reference.attention.problem"),
    **dict.fromkeys(["make_problem", "FAMILIES"], "attnsvm.reference.attention.families"),
    **dict.fromkeys(
        [
            "softmax",
            "probabilities",
            "outputs",
            "kq_outputs",
            "LinearHead",
            "ReLUHead",
            "QuadraticHead",
        ],
        "attnsvm.reference.attention.models",
    ),
    **dict.fromkeys(["get_loss"], "attnsvm.reference.attention.losses"),
    **dict.fromkeys(
        [
            "TrainResult",
            "train_W",
            "train_KQ",
            "train_prompt",
            "uniform_init",
            "log_checkpoints",
            "correlation",
        ],
        "attnsvm.reference.attention.training",
    ),
    **dict.fromkeys(["StepRule"], "attnsvm.reference.attention.training"),
    **dict.fromkeys(["regularization_path"], "attnsvm.reference.attention.regularization"),
    **dict.fromkeys(["SequenceProblem"], "attnsvm.reference.attention.problem"),
    **dict.fromkeys(["train_self_attention", "self_attention_path"],
                    "attnsvm.reference.attention.self_attention"),
    **dict.fromkeys(["solve_satt_svm"], "attnsvm.reference.svm.sequence"),
    **dict.fromkeys(["NTPProblem", "ntp_data", "train_ntp"], "attnsvm.reference.attention.ntp"),
    **dict.fromkeys(["priority_graphs", "solve_graph_svm"], "attnsvm.reference.svm.graph"),
    **dict.fromkeys(["solve_lp_svm"], "attnsvm.reference.svm.lp"),
    **dict.fromkeys(["MirrorDescent"], "attnsvm.reference.attention.mirror"),
    **dict.fromkeys(["Polyak", "SignGD", "Adam"], "attnsvm.reference.attention.optimizers"),
    **dict.fromkeys(["fit_power_law", "fit_log_law"], "attnsvm.reference.attention.rates"),
    **dict.fromkeys(["train_heads", "train_heads_KQ"], "attnsvm.reference.attention.multihead"),
    **dict.fromkeys(["train_kq_flow"], "attnsvm.reference.attention.factorization"),
    **dict.fromkeys(["margin_bound"], "attnsvm.reference.attention.generalization"),
    **dict.fromkeys(
        ["SVMSolution", "MarginConstraints", "margin_constraints"],
        "attnsvm.reference.svm.constraints",
    ),
    **dict.fromkeys(["solve_att_svm"], "attnsvm.reference.svm.frobenius"),
    **dict.fromkeys(["solve_nuclear_svm"], "attnsvm.reference.svm.nuclear"),
    **dict.fromkeys(["solve_kq_svm"], "attnsvm.reference.svm.kq"),
    **dict.fromkeys(
        ["solve_prompt_svm", "solve_head_svm", "solve_relaxed_prompt_svm"],
        "attnsvm.reference.svm.prompt",
    ),
    **dict.fromkeys(["certify", "verify_farkas"], "attnsvm.reference.svm.certificates"),
    **dict.fromkeys(["optimal_tokens", "token_scores"], "attnsvm.reference.svm.selection"),
    **dict.fromkeys(
        ["local_optimality", "is_locally_optimal", "enumerate_locally_optimal"],
        "attnsvm.reference.svm.token_optimality",
    ),
    **dict.fromkeys(["AttnsvmError", "ProblemError", "InfeasibleSVM"], "attnsvm.reference.errors"),
    **dict.fromkeys(
        ["Claim", "Source", "Known", "all_claims", "get_claim", "load_claims"],
        "attnsvm.properties.registry",
    ),
    **dict.fromkeys(
        ["Premise", "require", "register_premise", "instance_problem"],
        "attnsvm.properties.premises",
    ),
    **dict.fromkeys(["Evidence", "Expected", "Verdict"], "attnsvm.properties.verdicts"),
    **dict.fromkeys(["ClaimError"], "attnsvm.properties.errors"),
    **dict.fromkeys(["ClaimReport", "run_claim"], "attnsvm.properties.runner"),
    **dict.fromkeys(["assert_claim"], "attnsvm.testing"),
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in ("strategies", "testing"):
        return import_module(f"attnsvm.{name}")
    raise AttributeError(f"module 'attnsvm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "strategies", "testing"])
