"""The selection α of Att-SVM_α: token scores, optimal tokens (ties reported, never broken) and
the parsing and validation of user selections.

TF-SVM (arXiv 2308.16898), Sec. 2: γ_it = Y_i vᵀx_it and opt_i ∈ argmax_t γ_it (Assumption A,
unique unless tied). Two scores are tied when they differ by at most
``tie_rtol * max_it |γ_it|``: relative to the score scale, so that scaling the tokens (or v) by
any positive factor changes no tie decision (an absolute floor would call every optimum of
data with scores below ~1e-8 a tie).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm.constraints import check_selection

TIE_RTOL = 1e-9


def token_scores(problem: AttentionProblem) -> np.ndarray:
    """γ_it = Y_i vᵀ x_it, shape (n, T)."""
    problem = as_problem(problem)
    return np.asarray(problem.scores, dtype=np.float64)


def tie_tolerance(scores: np.ndarray, tie_rtol: float = TIE_RTOL) -> float:
    """Absolute tolerance under which two scores count as tied: ``tie_rtol`` times the largest
    |score| (0 when every score is 0: then every token ties)."""
    return _check_tie_rtol(tie_rtol) * float(np.max(np.abs(scores), initial=0.0))


@dataclass(frozen=True)
class OptimalTokens:
    """argmax_t γ_it per input with every tie reported.

    Attributes:
        tokens: the first maximizer per input, shape (n,).
        ties: {i: (t1, t2, ...)} for every input whose maximum is attained more than once.
        gaps: γ_(1) − γ_(2) per input (best minus runner-up; 0 on ties up to round-off).
    """

    tokens: np.ndarray
    ties: dict[int, tuple[int, ...]] = field(default_factory=dict)
    gaps: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def unique(self) -> bool:
        return not self.ties


def optimal_tokens(problem: AttentionProblem, *, tie_rtol: float = TIE_RTOL) -> OptimalTokens:
    """Optimal token of each input, with ties detected (TF-SVM token-score definition)."""
    tie_rtol = _check_tie_rtol(tie_rtol)
    g = token_scores(problem)
    tol = tie_tolerance(g, tie_rtol)
    best = np.max(g, axis=1)
    ties: dict[int, tuple[int, ...]] = {}
    for i in range(problem.n):
        top = np.flatnonzero(g[i] >= best[i] - tol)
        if top.size > 1:
            ties[i] = tuple(int(t) for t in top)
    srt = np.sort(g, axis=1)
    return OptimalTokens(tokens=np.argmax(g, axis=1), ties=ties, gaps=srt[:, -1] - srt[:, -2])


#: longest selection text parsed (a guard against absurd command lines, not a limit on n)
MAX_SELECTION_CHARS = 10_000_000


def parse_selection(text: str) -> list[int]:
    """'i0,i1,...' -> [i0, i1, ...]; raises ProblemError('select')."""
    if not isinstance(text, str):
        raise ProblemError("select", f"expected a string, got {type(text).__name__}")
    if len(text) > MAX_SELECTION_CHARS:
        raise ProblemError("select", f"selection text longer than {MAX_SELECTION_CHARS} chars")
    shown = text if len(text) <= 60 else text[:57] + "..."
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise ProblemError(
            "select", f"expected 'opt' or comma-separated token indices, got {shown!r}"
        ) from None


def resolve_selection(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    tie_rtol: float = TIE_RTOL,
) -> np.ndarray:
    """A validated selection α: "opt" (refused with ProblemError when an input has tied optimal
    tokens: choose explicitly), "i0,i1,..." or a sequence of n token indices."""
    problem = as_problem(problem)
    if isinstance(select, str):
        if select.strip().lower() != "opt":
            return check_selection(problem, parse_selection(select))
        opt = optimal_tokens(problem, tie_rtol=tie_rtol)
        if not opt.unique:
            desc = "; ".join(f"input {i}: tokens {list(ts)}" for i, ts in opt.ties.items())
            raise ProblemError(
                "select", f"the optimal token is not unique ({desc}); pass an explicit selection"
            )
        return opt.tokens.astype(np.int64)
    return check_selection(problem, select)


def _check_tie_rtol(tie_rtol: object) -> float:
    if isinstance(tie_rtol, (bool, np.bool_, str, bytes, complex)):
        raise ProblemError("tie_rtol", f"must be a number in [0, 1), got {tie_rtol!r:.60}")
    try:
        value = float(tie_rtol)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ProblemError("tie_rtol",
                           f"must be a number in [0, 1), got {tie_rtol!r:.60}") from None
    if not 0.0 <= value < 1.0:
        raise ProblemError("tie_rtol", f"must be a number in [0, 1), got {value!r}")
    return value
