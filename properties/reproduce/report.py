"""Evaluate the declared comparisons and write the outputs: <out>/<name>.png, <out>/<name>.json
and <out>/REPORT.md.

``evaluate`` is the one place where a :class:`~properties.reproduce.compare.Comparison` table meets
the measurements: it fills the templates, applies the rules and records the values they read. The
JSON files and REPORT.md hold no timings, so the same seed reproduces them byte for byte
(on the same platform and package versions, which the JSON records). Timings are returned to the
caller (the ``attnsvm reproduce`` command shows them).

Completeness: ``reproduce`` first removes the temporary files a killed run left (see
``properties.files.remove_stale_temporaries``) and any old MANIFEST.json, writes the marker
``INCOMPLETE`` and only at the end, once every file is written, ``MANIFEST.json`` (the files of
the run with their sha256) and removes the marker. A folder with ``INCOMPLETE`` or without
``MANIFEST.json`` holds an interrupted run; every single file in it is complete (atomic writes).

Resuming: the experiments whose grids run on the sweep machinery (``svm_rank``,
``global_fraction``) keep every finished task in ``<out>/sweeps/<name>/results.jsonl``, keyed by
the task (function, parameters, seed, version); a second run into the same folder reads them
back and recomputes nothing, so it gives the same files. MANIFEST.json does not list the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attnsvm.properties.files import atomic_write_text, remove_stale_temporaries
from attnsvm.properties.reproduce import EXPERIMENTS
from attnsvm.properties.reproduce.common import (
    ExperimentResult,
    Progress,
    versions,
)
from attnsvm.properties.reproduce.compare import (
    AGREED,
    DIFFERS,
    NOTEBOOKS,
    RECALLED,
    Row,
    earlier,
)
from attnsvm.properties.reproduce.evaluation import jsonable

#: written last: the files of a complete run and their sha256
MANIFEST = "MANIFEST.json"
#: written first, removed last: the folder holds a run in progress or an interrupted one
INCOMPLETE = "INCOMPLETE"
#: the sweep cache inside the output folder (``reproduce(cache=True)``): one store per
#: experiment, ``sweeps/<name>/results.jsonl`` (``properties.sweeps``)
CACHE_DIR = "sweeps"


@dataclass(frozen=True)
class Written:
    """One experiment's result, where its files went, and how long it took."""

    result: ExperimentResult
    json_path: Path
    png_path: Path
    seconds: float


def dumps(payload: Any) -> str:
    """The canonical JSON text of a payload (strict JSON: no NaN)."""
    return json.dumps(jsonable(payload), indent=1, allow_nan=False) + "\n"


def unknown_names(names: Iterable[str]) -> list[str]:
    return [n for n in names if n not in EXPERIMENTS]


#: (cache folder, workers) of the experiments on the sweep machinery while ``reproduce`` runs
_SWEEP_OPTIONS: ContextVar[tuple[Path | None, int | None]] = ContextVar(
    "reproduce_sweep_options", default=(None, 1))


def run_experiment(name: str, quick: bool, seed: int, progress: Progress | None = None, *,
                   cache: Path | None = None, workers: int | None = None) -> ExperimentResult:
    """Run one registered experiment (KeyError for an unknown name). An experiment whose grid
    runs on the sweep machinery (module flag ``RESUMABLE``) keeps its tasks' results in
    ``cache/<name>`` and runs them with ``workers``; without them, those of the ``reproduce``
    call in progress (none: no cache, in this process)."""
    module = EXPERIMENTS[name]
    if not getattr(module, "RESUMABLE", False):
        return module.run(quick, seed, progress=progress)
    default_cache, default_workers = _SWEEP_OPTIONS.get()
    cache = default_cache if cache is None else Path(cache)
    return module.run(quick, seed, progress=progress,
                      workers=default_workers if workers is None else workers,
                      cache=None if cache is None else cache / name)


def write_experiment(result: ExperimentResult, out: Path) -> tuple[Path, Path]:
    """Write <out>/<name>.json and <out>/<name>.png; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / f"{result.name}.json"
    ppath = out / f"{result.name}.png"
    atomic_write_text(jpath, dumps(result.payload()))
    result.plot(ppath)
    return jpath, ppath


def _md(text: str) -> str:
    """Escape a table cell / inline text for markdown (pipes and asterisks)."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("*", "\\*")


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |",
             "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return lines


def _settings_lines(settings: dict[str, Any]) -> list[str]:
    lines = []
    for key, value in settings.items():
        shown = value if isinstance(value, str) else json.dumps(jsonable(value))
        lines.append(f"- `{key}`: {_md(shown)}")
    return lines


def _intro(quick: bool, seed: int) -> list[str]:
    repos = sorted(set(NOTEBOOKS.values()))
    return [
        "# attnsvm: reproduction of the papers' experiments",
        "",
        "TF-SVM = Tarzanagh, Li, Thrampoulidis, Oymak, *Transformers as Support Vector "
        "Machines* (arXiv 2308.16898); MMTS = Tarzanagh, Li, Zhang, Oymak, *Max-Margin Token "
        "Selection in Attention Mechanism* (arXiv 2306.13596). Each comparison row gives the "
        "paper side with its source in brackets: a place in a paper (arXiv id, and the section, "
        f"theorem or figure in words; \"{RECALLED}\" where the statement or number could not be "
        "checked in the paper's text), an abstract, an official notebook (github.com/"
        + ", github.com/".join(repos) + f"), or \"{earlier('N runs')}\". The rule column is "
        "the test that decides *agreed* / *differs*; the JSON stores the values it read beside "
        "each row. A row that differs says why.",
        "",
        f"- mode: {'quick' if quick else 'full'}; seed: {seed}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in versions().items()),
        "",
    ]


def _experiment_section(r: ExperimentResult, rows: Sequence[Row]) -> list[str]:
    lines = ["", f"## {_md(r.title)}", "", f"`{r.name}`", "",
             "**The paper's statement.** " + _md(r.statement), "", "**Settings.**", ""]
    lines += _settings_lines(r.settings)
    lines += ["", f"![{r.name}]({r.name}.png)", "", "**Comparison.**", ""]
    lines += _table(("quantity", "paper (source)", "ours", "rule", "verdict", "why it differs"),
                    [(c.quantity, c.paper, c.ours, c.rule, c.verdict, c.why) for c in rows])
    for t in r.tables:
        lines += ["", f"**{_md(t.title)}**", ""]
        lines += _table(t.header, t.rows)
    fallbacks = r.data.get("nuclear_fallbacks") or []
    if fallbacks:
        lines += ["", f"**Solver note.** svm.nuclear.solve_nuclear_svm could not "
                  f"certify {len(fallbacks)} instance(s); the tight cvxpy + Clarabel solver "
                  "(also certified) was used there (data: `nuclear_fallbacks`)."]
    return lines


def report_markdown(results: Sequence[ExperimentResult], *, quick: bool, seed: int) -> str:
    """REPORT.md: per experiment the paper's statement, settings, figure, comparison, numbers."""
    rows = [r.comparison for r in results]
    lines = _intro(quick, seed)
    lines += _table(
        ("experiment", "agreed", "differs", "figure", "data"),
        [(f"{r.title} (`{r.name}`)", str(sum(c.verdict == AGREED for c in rs)),
          str(sum(c.verdict == DIFFERS for c in rs)), f"{r.name}.png", f"{r.name}.json")
         for r, rs in zip(results, rows, strict=True)],
    )
    for r, rs in zip(results, rows, strict=True):
        lines += _experiment_section(r, rs)
    return "\n".join(lines) + "\n"


def reproduce(
    names: Sequence[str],
    out: str | Path,
    *,
    quick: bool = False,
    seed: int = 0,
    progress: Callable[[str, str], None] | None = None,
    cache: str | Path | None | bool = True,
    workers: int | None = 1,
) -> list[Written]:
    """Run the named experiments (all when empty) in registry order, write their files and
    REPORT.md into ``out``. ``progress(name, stage)`` is called as work proceeds.

    ``cache``: where the experiments that run on the sweep machinery keep their tasks' results
    (``True``: ``out/CACHE_DIR``; a path; ``None`` or ``False``: no cache, recompute). A rerun
    into the same folder (after an interrupt, or with more experiments) reads finished tasks
    back instead of recomputing them; delete the cache folder to recompute. ``workers``: their
    executor (1: in this process, in order)."""
    chosen = [n for n in EXPERIMENTS if not names or n in names]
    bad = unknown_names(names)
    if bad:
        raise KeyError(bad)
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(outdir)
    (outdir / MANIFEST).unlink(missing_ok=True)
    atomic_write_text(outdir / INCOMPLETE, "attnsvm reproduce is writing this folder, or was "
                      "interrupted; MANIFEST.json lists the files once the run is complete\n")
    cache_dir = outdir / CACHE_DIR if cache is True else (Path(cache) if cache else None)
    written: list[Written] = []
    for name in chosen:
        stage = None if progress is None else (lambda s, _n=name: progress(_n, s))
        t0 = time.perf_counter()
        token = _SWEEP_OPTIONS.set((cache_dir, workers))
        try:
            result = run_experiment(name, quick, seed, stage)
        finally:
            _SWEEP_OPTIONS.reset(token)
        if progress is not None:
            progress(name, "writing figure and data")
        jpath, ppath = write_experiment(result, outdir)
        written.append(Written(result, jpath, ppath, time.perf_counter() - t0))
    atomic_write_text(outdir / "REPORT.md",
                      report_markdown([w.result for w in written], quick=quick, seed=seed))
    files = sorted([p.name for w in written for p in (w.json_path, w.png_path)] + ["REPORT.md"])
    manifest = {"complete": True, "quick": quick, "seed": seed,
                "experiments": [w.result.name for w in written],
                "files": {f: hashlib.sha256((outdir / f).read_bytes()).hexdigest()
                          for f in files}}
    atomic_write_text(outdir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    (outdir / INCOMPLETE).unlink(missing_ok=True)
    return written
