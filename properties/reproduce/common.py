"""Shared pieces of the reproductions: the result record, seeds, statistics, JSON conversion.

Each experiment module (``properties.reproduce.<name>``) exposes ``run(quick, seed) ->
ExperimentResult``. A result carries the paper's statement (in our words, with sources), the
settings used, the data (JSON-able), the measurements reduced from the data, the declared
comparisons (``properties.reproduce.compare``; evaluated by ``properties.reproduce.report``), extra
tables of our numbers and a plotter. Nothing in a result depends on wall-clock time, so the same
seed gives the same JSON.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.properties.reproduce.compare import AGREED, DIFFERS, Comparison, Row
from attnsvm.properties.reproduce.evaluation import evaluate, jsonable

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Table:
    """An extra table of our numbers for REPORT.md (header + rows of strings)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "header": list(self.header),
            "rows": [list(r) for r in self.rows],
        }


@dataclass
class ExperimentResult:
    """The outcome of one reproduction (see the module docstring)."""

    name: str
    title: str
    statement: str
    settings: dict[str, Any]
    data: dict[str, Any]
    measured: dict[str, Any]
    comparisons: Sequence[Comparison]
    seed: int
    quick: bool
    tables: list[Table] = field(default_factory=list)
    plotter: Callable[[Mapping[str, Any], Path], None] | None = field(
        default=None, repr=False, compare=False
    )

    def plot(self, path: str | Path) -> None:
        """Write the experiment's figure as a PNG (matplotlib, Agg backend)."""
        if self.plotter is None:
            raise RuntimeError(f"experiment {self.name!r} has no plotter")
        self.plotter(self.data, Path(path))

    @property
    def comparison(self) -> list[Row]:
        """The declared comparisons evaluated against the measurements."""
        return evaluate(self.comparisons, self.measured)

    @property
    def agreed(self) -> int:
        return sum(c.verdict == AGREED for c in self.comparison)

    @property
    def differs(self) -> int:
        return sum(c.verdict == DIFFERS for c in self.comparison)

    def payload(self) -> dict[str, Any]:
        """The JSON object written to <out>/<name>.json (no timings: seed-reproducible)."""
        return jsonable(
            {
                "name": self.name,
                "title": self.title,
                "statement": self.statement,
                "seed": self.seed,
                "quick": self.quick,
                "settings": self.settings,
                "comparison": [c.as_dict() for c in self.comparison],
                "tables": [t.as_dict() for t in self.tables],
                "data": self.data,
                "versions": versions(),
            }
        )


# ----------------------------------------------------------------------------- small helpers
def sub_seed(seed: int, *tags: object) -> int:
    """A 32-bit seed derived from ``seed`` and tags (stable across runs and platforms)."""
    words = [int(seed)] + [zlib.crc32(str(t).encode()) for t in tags]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def note(progress: Progress | None, text: str) -> None:
    if progress is not None:
        progress(text)


def frac(k: int, n: int) -> str:
    return f"{k}/{n}" + (f" ({k / n:.2f})" if n else "")


def fisher_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided Fisher exact test that two proportions k1/n1 and k2/n2 are equal."""
    from scipy.stats import fisher_exact

    if n1 == 0 or n2 == 0:
        return 1.0
    return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)


def trend_p(ks: Sequence[int], ns: Sequence[int], scores: Sequence[float]) -> tuple[float, float]:
    """Cochran-Armitage test for an increasing trend of proportions k_j/n_j in ``scores``:
    returns (z, one-sided p-value for an increase)."""
    from scipy.stats import norm

    k, n, x = (np.asarray(a, dtype=np.float64) for a in (ks, ns, scores))
    N, K = n.sum(), k.sum()
    if N == 0 or K in (0, N):
        return 0.0, 1.0
    pbar = K / N
    t = np.sum(x * (k - n * pbar))
    var = pbar * (1 - pbar) * (np.sum(n * x * x) - np.sum(n * x) ** 2 / N)
    if var <= 0:
        return 0.0, 1.0
    z = float(t / math.sqrt(var))
    return z, float(norm.sf(z))


def curve_stats(curves: np.ndarray) -> dict[str, list[float]]:
    """mean / std / min / median over runs (axis 0) of per-checkpoint curves (R, C)."""
    c = np.asarray(curves, dtype=np.float64)
    if c.size == 0:
        return {"mean": [], "std": [], "min": [], "median": []}
    return {
        "mean": c.mean(axis=0).tolist(),
        "std": c.std(axis=0).tolist(),
        "min": c.min(axis=0).tolist(),
        "median": np.median(c, axis=0).tolist(),
    }


def at_checkpoints(checkpoints: Sequence[int], wanted: Iterable[int]) -> list[int]:
    """Indices of the wanted iterations in a checkpoint list (those present)."""
    cps = [int(c) for c in checkpoints]
    return [cps.index(int(w)) for w in wanted if int(w) in cps]


def versions() -> dict[str, str]:
    """Versions of the packages whose numerics the results depend on."""
    import platform
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ("attnsvm", "numpy", "scipy", "cvxpy", "clarabel", "scs", "matplotlib"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def pyplot():
    """matplotlib.pyplot on the Agg backend (no display needed); see
    ``properties.reproduce.figures`` for the figure conventions."""
    from attnsvm.properties.reproduce.figures import pyplot as _pyplot

    return _pyplot()


def save(fig: Any, path: Path) -> None:
    """Write a figure as a PNG and close it (``properties.reproduce.figures.save``)."""
    from attnsvm.properties.reproduce.figures import save as _save

    _save(fig, path)


def extend_runs(problems: Sequence[Any], W: np.ndarray, idx: Sequence[int], steps: int,
                lr: float = 0.1) -> Any:
    """Continue normalized GD (W-parameterization, linear head) for the runs ``idx`` from their
    final iterates W[idx], as one batch; returns the TrainResult of the continuation."""
    from attnsvm.reference.attention.families import stack_problems
    from attnsvm.reference.attention.training import train_W

    D = stack_problems([problems[i] for i in idx])
    return train_W(D["X"], D["Y"], D["Z"], D["v"], W[list(idx)], steps=steps, lr=lr)


#: instances where svm.nuclear.solve_nuclear_svm refused (NuclearSolverError) and the
#: cvxpy + Clarabel reference solver (also certified) was used instead; reset per experiment run
NUCLEAR_FALLBACKS: list[dict[str, Any]] = []


def certified_nuclear(problem: Any, alpha: Any) -> Any:
    """Att-SVM* (nuclear) by the structured solver, falling back to the tight cvxpy + Clarabel
    solver when the former cannot certify its duality gap (NuclearSolverError; seen on 1 of
    ~3000 svm_rank instances: gap 1.9e-7 > 1e-7). Both results are certified by
    attnsvm.reference.svm.certificates; InfeasibleSVM propagates."""
    from attnsvm.reference.svm.nuclear import (
        NuclearSolverError,
        solve_nuclear_svm,
        solve_nuclear_svm_cvxpy,
    )

    try:
        return solve_nuclear_svm(problem, alpha)
    except NuclearSolverError as exc:
        sol = solve_nuclear_svm_cvxpy(problem, alpha)
        NUCLEAR_FALLBACKS.append({
            "n": problem.n, "T": problem.T, "d": problem.d,
            "alpha": np.asarray(alpha).tolist(), "error": str(exc),
            "fallback_duality_gap": float(sol.duality_gap),
        })
        return sol


def take_fallbacks() -> list[dict[str, Any]]:
    """Return and clear the recorded nuclear-solver fallbacks."""
    out = list(NUCLEAR_FALLBACKS)
    NUCLEAR_FALLBACKS.clear()
    return out
