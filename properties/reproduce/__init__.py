"""Reproductions of the papers' experiments (issue 6): one module per experiment, each exposing
``run(quick: bool, seed: int) -> ExperimentResult`` (see ``properties.reproduce.common``) and
declaring its comparisons with the papers as a ``COMPARISONS`` table
(``properties.reproduce.compare``); ``properties.reproduce.report`` evaluates the tables and writes
the figures, the JSON data and REPORT.md.

TF-SVM = "Transformers as Support Vector Machines" (arXiv 2308.16898); MMTS = "Max-Margin Token
Selection in Attention Mechanism" (arXiv 2306.13596). Settings follow the official notebooks
(github.com/umich-sota/TF-as-SVM, github.com/ucr-optml/max_margin_attention); where a paper gives
no protocol, the module says which one it uses.
"""

from __future__ import annotations

from types import ModuleType

from attnsvm.properties.reproduce import (
    global_fraction,
    local_convergence,
    mmts,
    nonlinear_head,
    ntp,
    rates,
    regularization_path,
    svm_rank,
)

#: name -> module, in report order
EXPERIMENTS: dict[str, ModuleType] = {
    "local_convergence": local_convergence,
    "svm_rank": svm_rank,
    "global_fraction": global_fraction,
    "nonlinear_head": nonlinear_head,
    "regularization_path": regularization_path,
    "mmts": mmts,
    "ntp": ntp,
    "rates": rates,
}

__all__ = ["EXPERIMENTS"]
