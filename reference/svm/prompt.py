"""Prompt-attention SVMs of Max-Margin Token Selection (MMTS, arXiv 2306.13596, Sec. 2-4).

Model convention (MMTS abstract and Sec. 2): f(X) = <X v, softmax(X W p)>, so the attention
logit of token t is x_tᵀ W p = k_tᵀ p with the *key* k_t = Wᵀ x_t (the keys are the rows of
X W, exactly what the official ``p_svm_solver`` builds with ``X @ W``). The issue text writes
k_it = W x_it, which is the same thing for symmetric W and in particular for the default
W = I; we follow the model's f, i.e. keys = rows of X @ W. The query Z of the problem is unused.

* p-SVM (MMTS Eq. (ATT-SVM)): p^mm_α = argmin ||p|| s.t. (k_{iα_i} − k_it)ᵀ p >= 1, t != α_i.
* head SVM (MMTS Sec. 4, joint training): v^mm = argmin ||v|| s.t. Y_i vᵀ x_{iα_i} >= 1
  (hard-margin SVM on the selected tokens, no intercept).
* relaxed p-SVM (MMTS Sec. 4): as the p-SVM, but with right-hand side 0 instead of 1 for every
  input i that is *not* a support vector of v^mm (Y_i v^mmᵀ x_{iα_i} > 1).

All are the vector case of the generic machinery: rows <a_k zᵀ, P> with z ≡ [1] and P = p[:, None]
(d x 1), so the solutions are ``SVMSolution`` with W of shape (d, 1) and p = W[:, 0].
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import AttnsvmError, ProblemError
from attnsvm.reference.svm.certificates import (
    INFEASIBLE_RTOL,
    SUPPORT_RTOL,
    make_solution,
    require_feasible,
)
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution
from attnsvm.reference.svm.frobenius import fro_min_norm, solve_constraints_cvxpy
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.validate import as_float, as_real_array


def prompt_keys(problem: AttentionProblem, W: np.ndarray | None = None) -> np.ndarray:
    """Keys k_it = Wᵀ x_it as an array (n, T, d') = X @ W (W defaults to the identity)."""
    if W is None:
        return np.array(problem.X)
    Wa = as_real_array("W", W, finite=False)
    if Wa.ndim != 2 or Wa.shape[0] != problem.d or not np.all(np.isfinite(Wa)):
        raise ProblemError("W", f"expected a finite ({problem.d}, d') matrix, got shape {Wa.shape}")
    return problem.X @ Wa


def prompt_constraints(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    W: np.ndarray | None = None,
    *,
    rhs_per_input: np.ndarray | None = None,
) -> MarginConstraints:
    """Rows (k_{iα_i} − k_it)ᵀ p >= rhs_i for t != α_i (rhs_i = 1 unless ``rhs_per_input``)."""
    alpha = resolve_selection(problem, select)
    keys = prompt_keys(problem, W)
    n, T, _ = keys.shape
    ii, tt = np.nonzero(np.arange(T)[None, :] != alpha[:, None])
    a = keys[ii, alpha[ii]] - keys[ii, tt]
    rhs = np.ones(len(ii)) if rhs_per_input is None else np.asarray(rhs_per_input, float)[ii]
    return MarginConstraints(a=a, z=np.ones((len(ii), 1)), pairs=np.stack([ii, tt], axis=1),
                             rhs=rhs)


def _vector_solution(
    cons: MarginConstraints,
    alpha: np.ndarray,
    what: str,
    support_rtol: float,
    infeasible_rtol: float,
    extra: dict[str, Any] | None = None,
) -> SVMSolution:
    support_rtol = as_float("support_rtol", support_rtol, positive=True)
    infeasible_rtol = as_float("infeasible_rtol", infeasible_rtol, positive=True)
    t0 = time.perf_counter()
    P, lam, info = fro_min_norm(cons, infeasible_rtol=infeasible_rtol, what=what,
                                context={"select": alpha.tolist(), "program": what})
    seconds = time.perf_counter() - t0
    info.update(extra or {})
    return make_solution(cons, P, lam, "fro", alpha, seconds, f"dual-nnls/{info['method']}",
                         support_rtol=support_rtol, extra=info)


def solve_prompt_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    W: np.ndarray | None = None,
    *,
    support_rtol: float = SUPPORT_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """p^mm_α (MMTS ATT-SVM), certified; ``solution.W[:, 0]`` is p. Raises InfeasibleSVM."""
    alpha = resolve_selection(problem, select)
    cons = prompt_constraints(problem, alpha, W)
    return _vector_solution(cons, alpha, "p-SVM", support_rtol, infeasible_rtol)


def head_constraints(
    problem: AttentionProblem, select: str | Sequence[int] | np.ndarray = "opt"
) -> MarginConstraints:
    """Rows Y_i vᵀ x_{iα_i} >= 1 (one per input), pairs (i, α_i)."""
    alpha = resolve_selection(problem, select)
    idx = np.arange(problem.n)
    a = problem.Y[:, None] * problem.X[idx, alpha]
    return MarginConstraints(a=a, z=np.ones((problem.n, 1)),
                             pairs=np.stack([idx, alpha], axis=1), rhs=np.ones(problem.n))


def solve_head_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    support_rtol: float = SUPPORT_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """v^mm: hard-margin SVM without intercept on the selected tokens; ``W[:, 0]`` is v^mm."""
    alpha = resolve_selection(problem, select)
    cons = head_constraints(problem, alpha)
    return _vector_solution(cons, alpha, "head SVM", support_rtol, infeasible_rtol)


def head_support_inputs(head: SVMSolution) -> np.ndarray:
    """Inputs that are support vectors of v^mm (active margin), sorted."""
    return np.sort(np.asarray(head.support).reshape(-1, 2)[:, 0]).astype(np.int64)


def solve_relaxed_prompt_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    W: np.ndarray | None = None,
    *,
    head: SVMSolution | None = None,
    support_rtol: float = SUPPORT_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """The relaxed p-SVM of joint (v, p) training (MMTS Sec. 4): margin 1 for inputs that are
    support vectors of v^mm, margin 0 for the others. ``extra["head_support"]`` lists the former.
    """
    alpha = resolve_selection(problem, select)
    if head is not None and not isinstance(head, SVMSolution):
        raise ProblemError("head", f"expected the SVMSolution of solve_head_svm, got "
                           f"{type(head).__name__}")
    if head is None:
        head = solve_head_svm(problem, alpha, support_rtol=support_rtol)
    sup = head_support_inputs(head)
    rhs_i = np.zeros(problem.n)
    rhs_i[sup] = 1.0
    cons = prompt_constraints(problem, alpha, W, rhs_per_input=rhs_i)
    return _vector_solution(cons, alpha, "relaxed p-SVM", support_rtol, infeasible_rtol,
                            extra={"head_support": sup.tolist()})


def solve_vector_svm_cvxpy(
    cons: MarginConstraints, select: np.ndarray, *, support_rtol: float = SUPPORT_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
) -> SVMSolution:
    """Cross-check of any of the programs above (pass its constraints) by cvxpy + Clarabel."""
    require_feasible(cons, rtol=infeasible_rtol, context={"select": np.asarray(select).tolist()})
    P, lam, seconds, status = solve_constraints_cvxpy(cons, "fro")
    if not np.all(np.isfinite(P)):
        raise AttnsvmError(f"Clarabel returned no solution (status {status})")
    return make_solution(cons, P, lam, "fro", np.asarray(select), seconds, "cvxpy/CLARABEL",
                         support_rtol=support_rtol, extra={"solver_status": status})
