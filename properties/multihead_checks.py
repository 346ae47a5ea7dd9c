"""Checks of the multi-head claims (``attnsvm.properties.claims.multihead``): one
``check_<name>(instance, tol, protocol) -> Evidence`` per claim.

The model is ``reference.attention.multihead``: f(X) = sum_h v^T X^T softmax(X W_h z), trained
by normalized GD on all heads at once (every head normalized separately). Every threshold comes
from ``tol``, every setting from ``protocol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.properties.claims.common import build_problem, require_saturated, svm_direction
from attnsvm.properties.premises import Premise, require
from attnsvm.properties.verdicts import Evidence
from attnsvm.reference.attention.multihead import train_heads
from attnsvm.reference.attention.training import correlation, train_W, uniform_init
from attnsvm.reference.svm.selection import optimal_tokens

Instance = Mapping[str, Any]
Tol = Mapping[str, Any]
Protocol = Mapping[str, Any]


def _underparameterized(instance: Instance, _tol: Tol) -> bool:
    return int(instance["d"]) < max(int(instance["T"]) - 1, int(instance["n"]))


UNDERPARAMETERIZED = Premise("underparameterized_heads", "d < max(T - 1, n) (below TF-SVM's "
                             "over-parameterization threshold)", _underparameterized)


_judge = Evidence.measured  # gap vs threshold, measurements as JSON-able details


def _heads_run(instance: Instance, protocol: Protocol, runs: int):
    p = build_problem(instance)
    W0 = uniform_init((runs, int(instance["H"]), p.d, p.d), instance["init_seed"])
    res = train_heads(p.X, p.Y, p.Z, p.v, W0, steps=int(protocol["steps"]), lr=protocol["lr"])
    return p, res


def _head_correlations(p: Any, W: np.ndarray, selected: np.ndarray) -> list[float]:
    """corr(W_h, W^mm_{alpha_h}) for every head h of one run (premise feasible_selection)."""
    out = []
    for h in range(W.shape[0]):
        target = svm_direction(p, selected[h])
        require("feasible_selection", target is not None, head=h, alpha=selected[h].tolist())
        out.append(float(correlation(W[h], target)))
    return out


def check_head_own_svm(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Each head's W_h aligns with the Frobenius Att-SVM of its own final selection alpha_h.
    gap = 1 - min_h corr(W_h, W^mm_{alpha_h}); threshold ``one_minus_corr``."""
    p, res = _heads_run(instance, protocol, 1)
    require_saturated(res.min_max_prob[0], tol)
    sel = res.selected[0]
    corrs = _head_correlations(p, res.W[0], sel)
    distinct = len({tuple(s) for s in sel.tolist()})
    return _judge(1.0 - min(corrs), tol["one_minus_corr"], corr_per_head=corrs,
                  selections=sel, distinct_selections=distinct,
                  all_opt=bool(np.all(sel == optimal_tokens(p).tokens[None])))


def check_heads_collapse(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Over ``runs`` initialisations: the fraction of runs whose heads all end at one selection
    (collapse) and at the optimal tokens; for the runs collapsed on opt, every head's corr with
    the single-head W^mm_opt and the single-head GD run's corr with it from the same seeds.
    gap = 1 - (fraction collapsed, on opt when ``require_opt``); threshold
    ``one_minus_fraction``."""
    runs = int(protocol["runs"])
    p, res = _heads_run(instance, protocol, runs)
    require_saturated(res.min_max_prob.min(), tol)
    opt = optimal_tokens(p).tokens
    sel = res.selected  # (runs, H, n)
    collapsed = np.all(sel == sel[:, :1], axis=(1, 2))
    on_opt = collapsed & np.all(sel == opt[None, None], axis=(1, 2))
    W_opt = svm_direction(p, opt)
    require("feasible_opt", W_opt is not None)
    head_corr = correlation(res.W[on_opt], W_opt) if on_opt.any() else np.zeros((0,))
    single = train_W(p.X, p.Y, p.Z, p.v, uniform_init((runs, p.d, p.d), instance["init_seed"]),
                     steps=int(protocol["steps"]), lr=protocol["lr"])
    single_opt = np.all(single.selected == opt[None], axis=1)
    split_sizes = [len({tuple(s) for s in run.tolist()}) for run in sel]
    counted = on_opt if protocol["require_opt"] else collapsed
    return _judge(
        1.0 - float(counted.mean()), tol["one_minus_fraction"],
        fraction_collapsed=float(collapsed.mean()), fraction_collapsed_on_opt=float(on_opt.mean()),
        distinct_selections_per_run=split_sizes,
        min_corr_collapsed_heads_with_single_head_svm=(
            float(head_corr.min()) if head_corr.size else None),
        single_head_fraction_opt=float(single_opt.mean()),
        single_head_min_corr=float(correlation(single.params["W"], W_opt).min()),
    )
