"""Checks of the generalization claims: one ``check_<name>(instance, tol, protocol) -> Evidence``
per claim of ``attnsvm.properties.claims.generalization`` (where the records, ids, sources,
tolerances and protocols live), plus the premise they use.

* the margin view: the hardmax classifier of the trained W (what the saturated softmax model
  is) has a held-out error below the margin bound of ``reference.attention.generalization``, and
  the normalized selection margin ranks the held-out error across planted instances of varying
  SNR;
* benign overfitting in token selection (Magen et al., arXiv 2410.07746; Sakamoto & Sato,
  arXiv 2409.17625): with label noise, in high dimension, the trained layer fits every training
  input any attention can fit, and its clean held-out error stays small at high SNR, not at low
  SNR.

Data: the planted-signal family (``reference.attention.planted``, ``snr`` parameterization);
training: normalized GD on the logistic loss (``reference.attention.training.train_W``) from a
seeded uniform initialisation. Every threshold comes from ``tol``, every setting from
``protocol``; the reference modules are imported inside the checks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from attnsvm.properties.premises import Premise, require
from attnsvm.properties.verdicts import Evidence, Status, plain
from attnsvm.reference.stats import wilson

Instance = Mapping[str, Any]
Tol = Mapping[str, Any]
Protocol = Mapping[str, Any]

HIGH_DIMENSIONAL = Premise(
    "high_dimensional",
    "d >= dim_ratio * n (tolerance 'dim_ratio'): the noise tokens of the training inputs can be "
    "memorized by W (the high-dimensional regime of the benign-overfitting results)",
    holds=lambda inst, tol: int(inst["d"]) >= tol["dim_ratio"] * int(inst["n"]),
)
NOISY_LABELS = Premise(
    "noisy_labels",
    "at least one training label is flipped (otherwise fitting the labels is no overfitting)",
)


def _split(instance: Instance, n_test: int, seed: int | None = None) -> Any:
    from attnsvm.reference.attention.planted import planted_split

    return planted_split(int(instance["n"]), int(n_test), int(instance["T"]),
                         int(instance["d"]), int(instance["seed"] if seed is None else seed),
                         snr=float(instance["snr"]), eta=float(instance["eta"]))


def build_problem(instance: Instance) -> Any:
    """The training problem of a planted instance {n, T, d, snr, eta, seed} (saved as .npz
    beside a counterexample record)."""
    return _split(instance, 1).train


def _train(splits: list[Any], seed: int, protocol: Protocol) -> Any:
    """Normalized GD on every split's training problem at once (one batched run each)."""
    from attnsvm.reference.attention.training import train_W, uniform_init

    X = np.stack([s.train.X for s in splits])
    Y = np.stack([s.train.Y for s in splits])
    Z = np.stack([s.train.Z for s in splits])
    d = X.shape[-1]
    return train_W(X, Y, Z, splits[0].train.v, uniform_init((len(splits), d, d), seed),
                   steps=protocol["steps"], lr=protocol["lr"])


def _softmax_errors(problem: Any, W: np.ndarray, labels: np.ndarray) -> np.ndarray:
    from attnsvm.reference.attention.models import LinearHead, outputs

    f = np.asarray(outputs(problem.X, W, problem.Z, LinearHead(problem.v)))
    return np.where(f > 0, 1.0, -1.0) != labels


def _details(**kw: Any) -> dict[str, Any]:
    return {k: plain(v) for k, v in kw.items()}


# --------------------------------------------------------------------------- the margin view
def check_margin_bound(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """The held-out error of the trained W's hardmax classifier lies below the margin bound.

    ``steps`` normalized-GD steps with step ``lr``; premise ``saturated`` (every training input's
    top probability >= ``saturated``). The bound (``generalization.margin_bound``, confidence
    1 - ``delta``, ``levels`` grid margins from ``rho_max`` down) is computed from the training
    sample alone; the error
    on ``n_test`` held-out inputs of the same distribution (noisy labels) is judged by its 95%
    Wilson lower end: gap = lower end - bound, threshold ``slack``. Details: the point error,
    the softmax model's held-out error, the bound's terms, the normalized margin."""
    from attnsvm.reference.attention import generalization as gz

    split = _split(instance, protocol["n_test"])
    run = _train([split], int(instance["seed"]), protocol)
    W = run.params["W"][0]
    p, q = split.train, split.test
    mb = gz.margin_bound(p.X, p.Y, W, p.Z, p.v, delta=protocol["delta"],
                         levels=protocol["levels"], rho_max=protocol["rho_max"])
    hard = gz.hardmax_errors(q.X, q.Y, W, q.Z, q.v)
    soft = _softmax_errors(q, W, q.Y)
    k, m = int(hard.sum()), len(hard)
    lo, hi = wilson(k, m)
    seen = _details(min_max_prob=float(run.min_max_prob[0]), test_error=k / m,
                    test_error_wilson=[lo, hi], softmax_test_error=float(soft.mean()),
                    bound=mb.bound, rho=mb.rho, ramp_loss=mb.ramp_loss,
                    complexity=mb.complexity, confidence=mb.confidence,
                    normalized_margin=mb.normalized_margin,
                    train_margin_error=mb.train_margin_error, norm_W=float(np.linalg.norm(W)))
    require("saturated", float(run.min_max_prob[0]) >= tol["saturated"], **seen)
    return Evidence.judge(lo - mb.bound, tol["slack"], details=seen,
                          note=f"held-out error {k / m:.4f} (Wilson [{lo:.4f}, {hi:.4f}]) vs "
                               f"margin bound {mb.bound:.4f} (rho {mb.rho:.3g}: ramp "
                               f"{mb.ramp_loss:.3f} + complexity {mb.complexity:.3f} + "
                               f"confidence {mb.confidence:.3f})")


def _quantile_margin(m: np.ndarray, q: float) -> float:
    """The q-quantile of the normalized margins (an order statistic: +-inf stay +-inf)."""
    return float(np.quantile(m, q, method="inverted_cdf"))


def check_margin_ranks_error(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Across planted instances with the SNRs of ``snr_grid`` (instance seed + k for the k-th),
    the normalized margin (the ``margin_quantile``-quantile over the training inputs of
    m_i / ||W||_F) ranks the held-out error of the trained hardmax classifier: Spearman's rank
    correlation <= -``min_rank_corr``.

    ``steps`` normalized-GD steps with step ``lr`` for all instances in one batched run;
    ``n_test`` held-out inputs each. gap = Spearman correlation; threshold -``min_rank_corr``.
    Details: per instance the SNR, margin, held-out error and margin bound (``delta``,
    ``levels``, ``rho_max``), and the Spearman correlation of the bound with the error."""
    from attnsvm.reference.attention import generalization as gz

    grid = [float(s) for s in protocol["snr_grid"]]
    seed = int(instance["seed"])
    splits = [_split({**instance, "snr": s}, protocol["n_test"], seed=seed + k)
              for k, s in enumerate(grid)]
    run = _train(splits, seed, protocol)
    margins, errors, bounds = [], [], []
    for b, sp in enumerate(splits):
        W = run.params["W"][b]
        p, q = sp.train, sp.test
        m = gz.selection_margins(p.X, p.Y, W, p.Z, p.v) / float(np.linalg.norm(W))
        margins.append(_quantile_margin(m, float(protocol["margin_quantile"])))
        errors.append(float(np.mean(gz.hardmax_errors(q.X, q.Y, W, q.Z, q.v))))
        bounds.append(gz.margin_bound(p.X, p.Y, W, p.Z, p.v, delta=protocol["delta"],
                                      levels=protocol["levels"], rho_max=protocol["rho_max"]).bound)
    rho = gz.spearman(np.array(margins), np.array(errors))
    rho_bound = gz.spearman(np.array(bounds), np.array(errors))
    return Evidence.judge(rho, -float(tol["min_rank_corr"]),
                          details=_details(snr=grid, margin=margins, test_error=errors,
                                           bound=bounds, spearman_margin=rho,
                                           spearman_bound=rho_bound),
                          note=f"Spearman(margin, held-out error) = {rho:.3f}, "
                               f"Spearman(bound, error) = {rho_bound:.3f} over {len(grid)} "
                               "instances")


# -------------------------------------------------------------------------- benign overfitting
def check_benign_overfitting(instance: Instance, tol: Tol, protocol: Protocol) -> Evidence:
    """Benign overfitting in token selection: the trained layer fits the noisy training labels
    (at most ``train_errors`` errors among the fittable inputs, those with a token whose read-out
    has the observed label's sign: no attention fits the others, TF-SVM's convex-hull bound) and
    its clean held-out error stays small (95% Wilson lower end <= ``eps``).

    ``steps`` normalized-GD steps with step ``lr``; ``n_test`` held-out inputs. gap = the
    Wilson lower end of the clean held-out error, threshold ``eps``; the instance is a
    counterexample also when the fit fails. Details: the regime (benign, harmful: fits but does
    not generalize, not interpolating), the training accuracy on the noisy labels, the clean and
    noisy held-out errors, where attention goes (signal token on clean inputs, noise tokens on
    flipped ones), and the margin bound (``delta``, ``levels``, ``rho_max``), vacuous here."""
    from attnsvm.reference.attention import generalization as gz

    split = _split(instance, protocol["n_test"])
    flipped = split.flipped_train
    require(NOISY_LABELS.name, bool(flipped.any()), flipped=0)
    run = _train([split], int(instance["seed"]), protocol)
    W = run.params["W"][0]
    p, q = split.train, split.test
    fittable = gz.good_tokens(p.X, p.Y, p.v).any(axis=1)
    train_wrong = _softmax_errors(p, W, p.Y)
    fit_errors = int(np.sum(train_wrong & fittable))
    clean_wrong = _softmax_errors(q, W, split.clean_test)
    k, m = int(clean_wrong.sum()), len(clean_wrong)
    lo, hi = wilson(k, m)
    sel = run.selected[0]
    on_signal = sel == split.signal_train
    fits = fit_errors <= tol["train_errors"]
    generalizes = lo <= tol["eps"]
    regime = ("benign" if fits and generalizes else "harmful" if fits
              else "not interpolating")
    mb = gz.margin_bound(p.X, p.Y, W, p.Z, p.v, delta=protocol["delta"],
                         levels=protocol["levels"], rho_max=protocol["rho_max"])
    status: Status = "ok" if fits and generalizes else "counterexample"
    return Evidence(
        status=status, gap=lo, threshold=float(tol["eps"]),
        score=max(lo - float(tol["eps"]), float(fit_errors - tol["train_errors"])),
        details=_details(
            regime=regime, train_accuracy=float(1.0 - train_wrong.mean()),
            fit_errors=fit_errors, unfittable=int(np.sum(~fittable)),
            flipped=int(flipped.sum()), clean_test_error=k / m,
            clean_test_error_wilson=[lo, hi],
            noisy_test_error=float(_softmax_errors(q, W, q.Y).mean()),
            signal_selected_clean=float(on_signal[~flipped].mean()) if (~flipped).any()
            else None,
            noise_selected_flipped=float((~on_signal[flipped]).mean()),
            min_max_prob=float(run.min_max_prob[0]), margin_bound=mb.bound),
        note=f"{regime}: training accuracy {1.0 - train_wrong.mean():.3f} ({fit_errors} errors "
             f"on fittable inputs, {int(np.sum(~fittable))} unfittable), clean held-out error "
             f"{k / m:.4f} (Wilson [{lo:.4f}, {hi:.4f}]) vs eps {tol['eps']:g}")
