"""Sweeps: a claim's check over a grid x seeds, as a resumable phase diagram; and the same
machinery for any importable function over a list of tasks (``run_function_sweep``).

A sweep varies instance fields, protocol keys and tolerance keys of one claim (its first sample,
protocol and tolerances with the axes overridden) and, with ``seeds=K``, replaces the instance's
``seed`` field by 0..K-1 in every cell (the same seeds in every cell: paired comparisons). Each
(cell, seed) is one task, run here, in a local process pool or on a Dask cluster
(``properties.executors``).

With an output folder the sweep is resumable. Every finished task is appended, on the client, as
one JSON line to ``DIR/results.jsonl``, keyed by the claim id, the instance and the *effective*
tolerances and protocol (the claim's values with the overrides; a changed default recomputes);
tasks already there are read back, not recomputed, so an interrupted sweep (Ctrl-C, a killed
client or worker) continues where it stopped, and a sweep with more seeds computes only the new
ones. Delete ``DIR`` (or its ``results.jsonl``) to recompute. From the results, the sweep writes
(atomically, after every few finished cells and at the end, partial ones too):

- ``DIR/sweep.csv`` and ``DIR/sweep.json``: the tidy table, one row per cell (``CELL_COLUMNS``);
- ``DIR/sweep.png``: the heatmap of the fraction held with its Wilson interval (two grid axes;
  one facet per value of the further axes).

*Held* is the fraction of the decided tasks (``ok`` + ``counterexample``) that are ``ok``; tasks
out of scope (the instance misses a premise) or inconclusive are counted, not decided. The
interval is the 95% Wilson score interval of ``ok`` out of ``decided``; ``median_gap`` is the median
gap of the decided tasks, ``threshold`` the median threshold they were judged by.

A *function sweep* (``run_function_sweep``; the reproductions ``svm_rank`` and
``global_fraction`` are ones) runs ``fn(**params, seed=seed)`` per task (``function_task``),
keyed by the sweep's name, the function's path, the parameters, the seed and a version string;
``fn`` returns plain-JSON records, each with a ``status``, which ``tally`` counts per cell with
the Wilson interval. Both kinds share the task loop (``stored_results``: the executors, the
store, records passed through JSON so a read-back run equals a computed one).
"""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import math
import os
import statistics
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.properties.errors import ClaimError
from attnsvm.properties.files import atomic_write_bytes, atomic_write_text
from attnsvm.properties.registry import (
    Claim,
    evidence_of,
    get_claim,
    isolated_registry,
    load_sources,
    overridden,
)
from attnsvm.properties.verdicts import plain
from attnsvm.reference.errors import AttnsvmError, ProblemError
from attnsvm.reference.stats import wilson

KINDS = ("instance", "protocol", "tolerances")
SEED_FIELD = "seed"
LEVEL = 0.95  # the Wilson interval's level (stats.wilson's default z)
RESULTS_FILE, TABLE_CSV, TABLE_JSON, FIGURE = ("results.jsonl", "sweep.csv", "sweep.json",
                                               "sweep.png")
#: the tidy table's columns after the axes
CELL_COLUMNS = ("tasks", "done", "ok", "counterexample", "out_of_scope", "inconclusive",
                "decided", "held", "held_lo", "held_hi", "median_gap", "threshold", "seconds")
#: at most one rewrite of the table and figure per this many seconds while a sweep runs
REWRITE_EVERY_S = 10.0


# ------------------------------------------------------------------------------------ the grid
@dataclass(frozen=True)
class Axis:
    """One grid axis: ``values`` of the ``key`` of the claim's ``kind`` (instance, protocol or
    tolerances)."""

    kind: str
    key: str
    values: tuple[Any, ...]

    @property
    def name(self) -> str:
        """How the axis is written on the command line and in the table: the bare key for an
        instance field (``d``), ``protocol.KEY`` / ``tolerances.KEY`` otherwise."""
        return self.key if self.kind == "instance" else f"{self.kind}.{self.key}"

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "key": self.key,
                "values": list(self.values)}


def resolve_axis(claim: Claim, name: str, values: Sequence[Any]) -> Axis:
    """The axis ``name`` of ``claim``: an instance field (of its first sample), a protocol key
    or a tolerance key; ``instance.KEY`` / ``protocol.KEY`` / ``tolerances.KEY`` name the part
    explicitly (needed when a key is in two parts). Raises ProblemError('set')."""
    parts = {"instance": claim.samples[0], "protocol": claim.protocol,
             "tolerances": claim.tolerances}
    if not values:
        raise ProblemError("set", f"axis {name!r} has no values")
    kind, _, key = name.partition(".")
    if key and kind in parts:
        if key not in parts[kind]:
            raise ProblemError("set", f"axis {name!r}: {key!r} is not a {kind} key of "
                               f"{claim.id} ({kind}: {', '.join(parts[kind]) or '-'})")
        return Axis(kind, key, tuple(values))
    found = [k for k, fields in parts.items() if name in fields]
    if not found:
        known = "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in parts.items())
        raise ProblemError("set", f"axis {name!r} is not a field of {claim.id} ({known})")
    if len(found) > 1:
        raise ProblemError("set", f"axis {name!r} is ambiguous ({' and '.join(found)}); "
                           f"write e.g. {found[1]}.{name}")
    return Axis(found[0], name, tuple(values))


@dataclass(frozen=True)
class Task:
    """One (cell, seed): the instance and the overrides it runs with, and its result key."""

    cell: int
    seed: int | None
    instance: dict[str, Any]
    tolerances: dict[str, Any]
    protocol: dict[str, Any]
    key: str


def task_key(claim: Claim, instance: Mapping[str, Any], tolerances: Mapping[str, Any],
             protocol: Mapping[str, Any]) -> str:
    """The key a task's result is kept under: claim id, instance, effective tolerances and
    protocol (the claim's own values with the overrides)."""
    ident = {"claim": claim.id, "instance": dict(instance),
             "tolerances": overridden(claim, "tolerances", tolerances),
             "protocol": overridden(claim, "protocol", protocol)}
    text = json.dumps(plain(ident), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def check_seeds(claim: Claim, axes: Sequence[Axis], seeds: int | None) -> None:
    """``seeds`` needs an instance ``seed`` field and no ``seed`` axis (ProblemError('seeds'))."""
    if seeds is None:
        return
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise ProblemError("seeds", f"must be an integer >= 1, got {seeds!r}")
    fields = claim.samples[0]
    if SEED_FIELD not in fields:
        raise ProblemError(
            "seeds", f"the instances of {claim.id} have no {SEED_FIELD!r} field (fields: "
            f"{', '.join(fields) or '-'}); vary a field or protocol key with --set instead")
    if any(a.kind == "instance" and a.key == SEED_FIELD for a in axes):
        raise ProblemError("seeds", f"both --seeds and an axis over {SEED_FIELD!r}; use one")


def plan(claim: Claim, axes: Sequence[Axis], seeds: int | None = None
         ) -> tuple[list[dict[str, Any]], list[Task]]:
    """The cells (axis name -> value, in grid order: the last axis varies fastest) and the
    tasks (cell-major, seeds 0..seeds-1 within a cell; one task per cell without seeds)."""
    check_seeds(claim, axes, seeds)
    cells, tasks = [], []
    for c, combo in enumerate(itertools.product(*[a.values for a in axes])):
        parts: dict[str, dict[str, Any]] = {"instance": dict(claim.samples[0]), "protocol": {},
                                            "tolerances": {}}
        for axis, value in zip(axes, combo, strict=True):
            parts[axis.kind][axis.key] = value
        cells.append({a.name: v for a, v in zip(axes, combo, strict=True)})
        for s in (range(seeds) if seeds is not None else [None]):
            inst = dict(parts["instance"]) if s is None else {**parts["instance"], SEED_FIELD: s}
            tasks.append(Task(c, s, inst, parts["tolerances"], parts["protocol"],
                              task_key(claim, inst, parts["tolerances"], parts["protocol"])))
    return cells, tasks


# ------------------------------------------------------------------------ one task, in a worker
def evaluate_task(claim_id: str, instance: dict[str, Any], tolerances: dict[str, Any],
                  protocol: dict[str, Any], sources: tuple[str, ...] = ()) -> dict[str, Any]:
    """The evidence of one instance (picklable entry point for process pools and Dask: BLAS
    pinned to one thread), as plain JSON. The ``--claims`` sources are loaded afresh for the
    task and forgotten after it: a Dask worker outlives the sweep, and the next sweep may bring
    an edited file, or another file with the same claim ids."""
    from threadpoolctl import threadpool_limits

    with isolated_registry() if sources else _nothing():
        load_sources(sources)
        claim = get_claim(claim_id)
        t0 = time.perf_counter()
        with threadpool_limits(1):
            try:
                ev = evidence_of(claim, instance, tolerances=tolerances, protocol=protocol)
            except AttnsvmError:
                raise
            except Exception as exc:  # an unusable grid value: a typed, picklable error
                raise ClaimError(
                    "set", f"{claim_id} failed on instance {json.dumps(instance, sort_keys=True)}"
                    f" with protocol {json.dumps(protocol, sort_keys=True)}: "
                    f"{type(exc).__name__}: {exc}") from None
        seconds = time.perf_counter() - t0
    return {"evidence": json.loads(json.dumps(plain(ev.as_dict()))), "seconds": seconds}


# --------------------------------------------------------------------------- the results store
class ResultStore:
    """``DIR/results.jsonl``: one JSON line per finished task, appended by the client. A line
    cut short (the client killed mid-write) is ignored when read back, and so is a line without
    a ``key`` and the ``payload`` field (``evidence`` for claim sweeps, ``records`` for function
    sweeps). Lines are written with sorted keys, or (``sort_keys=False``) in the record's own
    key order, which reading back keeps. A lock file refuses a second sweep writing to the same
    folder at the same time."""

    def __init__(self, directory: str | os.PathLike[str], payload: str = "evidence",
                 sort_keys: bool = True) -> None:
        self.directory = Path(directory)
        self.path = self.directory / RESULTS_FILE
        self.payload = payload
        self.sort_keys = sort_keys
        self._fh: Any = None
        self._lock: Any = None

    def load(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        if not self.path.is_file():
            return out
        with self.path.open("rb") as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue  # a line cut short by an interrupted write
                if isinstance(rec, dict) and "key" in rec and self.payload in rec:
                    out[rec["key"]] = rec
        return out

    def __enter__(self) -> ResultStore:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock = (self.directory / ".sweep.lock").open("a")
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            pass
        else:
            try:
                fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                self._lock.close()
                raise ProblemError("out", f"another sweep is writing to {self.directory}") \
                    from None
        if self.path.is_file() and self.path.stat().st_size:
            with self.path.open("rb") as fh:  # end a line cut short, so appends start clean
                fh.seek(-1, os.SEEK_END)
                cut = fh.read(1) != b"\n"
            if cut:
                with self.path.open("ab") as fh:
                    fh.write(b"\n")
        self._fh = self.path.open("a", encoding="utf-8")
        return self

    def append(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, sort_keys=self.sort_keys) + "\n")
        self._fh.flush()

    def __exit__(self, *exc: Any) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._lock is not None:
            self._lock.close()


# ------------------------------------------------------------------------------- the summary
def _median(values: Iterable[float]) -> float | None:
    vals = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    return float(statistics.median(vals)) if vals else None


def cell_rows(axes: Sequence[Axis], cells: Sequence[Mapping[str, Any]], tasks: Sequence[Task],
              records: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tidy table: per cell the axis values, then ``CELL_COLUMNS`` (``held`` and
    ``median_gap`` are None where no task is decided)."""
    names = column_names(axes)
    by_cell: dict[int, list[Task]] = {}
    for t in tasks:
        by_cell.setdefault(t.cell, []).append(t)
    rows = []
    for c, values in enumerate(cells):
        recs = [records[t.key] for t in by_cell.get(c, []) if t.key in records]
        evs = [r["evidence"] for r in recs]
        count = {s: sum(e["status"] == s for e in evs)
                 for s in ("ok", "counterexample", "out_of_scope", "inconclusive")}
        decided = count["ok"] + count["counterexample"]
        lo, hi = wilson(count["ok"], decided)
        dec = [e for e in evs if e["status"] in ("ok", "counterexample")]
        rows.append({
            **{names[a.name]: values[a.name] for a in axes},
            "tasks": len(by_cell.get(c, [])),
            "done": len(recs),
            **count,
            "decided": decided,
            "held": count["ok"] / decided if decided else None,
            "held_lo": lo if decided else None,
            "held_hi": hi if decided else None,
            "median_gap": _median(e["gap"] for e in dec),
            "threshold": _median(e["threshold"] for e in dec),
            "seconds": float(sum(r.get("seconds", 0.0) for r in recs)),
        })
    return rows


def column_names(axes: Sequence[Axis]) -> dict[str, str]:
    """Each axis' column in the table: its name, or ``kind.key`` if that is a stats column."""
    return {a.name: (f"{a.kind}.{a.key}" if a.name in CELL_COLUMNS else a.name) for a in axes}


# ------------------------------------------------------------------------------- the sweep
@dataclass
class SweepResult:
    """A sweep's outcome: the grid, the tidy table (``rows``) and every task's evidence."""

    claim: Claim
    axes: list[Axis]
    seeds: int | None
    cells: list[dict[str, Any]]
    tasks: list[Task]
    records: dict[str, dict[str, Any]]
    computed: int = 0
    reused: int = 0
    out_dir: Path | None = None
    files: list[str] = field(default_factory=list)
    _ok: int = 0
    _decided: int = 0

    def add(self, record: dict[str, Any]) -> None:
        """Keep one task's result (and the running tallies of the estimate)."""
        if record["key"] in self.records:
            return
        self.records[record["key"]] = record
        status = record["evidence"]["status"]
        self._ok += status == "ok"
        self._decided += status in ("ok", "counterexample")

    def estimate(self) -> tuple[int, int, float, float]:
        """(ok, decided, Wilson low, high) over every result so far: the running estimate."""
        return (self._ok, self._decided, *wilson(self._ok, self._decided))

    @property
    def rows(self) -> list[dict[str, Any]]:
        return cell_rows(self.axes, self.cells, self.tasks, self.records)

    @property
    def done(self) -> int:
        return sum(t.key in self.records for t in self.tasks)

    @property
    def complete(self) -> bool:
        return self.done == len(self.tasks)

    def results(self) -> list[dict[str, Any]]:
        """Per task, in grid order: cell, seed, the instance (``spec``), the overrides and the
        evidence (tasks not yet done are left out)."""
        return [{"cell": t.cell, "seed": t.seed, "spec": t.instance,
                 "tolerances": t.tolerances, "protocol": t.protocol,
                 "evidence": self.records[t.key]["evidence"]}
                for t in self.tasks if t.key in self.records]

    def document(self, with_results: bool = True) -> dict[str, Any]:
        """The JSON document (``DIR/sweep.json`` is this without ``results``)."""
        c = self.claim
        doc: dict[str, Any] = {
            "claim": c.id, "expected": c.expected.value, "statement": c.statement,
            "axes": [a.as_dict() for a in self.axes], "seeds": self.seeds,
            "columns": [*column_names(self.axes).values(), *CELL_COLUMNS],
            "level": LEVEL, "tolerances": c.tolerances, "protocol": c.protocol,
            "tasks": len(self.tasks), "done": self.done, "complete": self.complete,
            "computed": self.computed, "reused": self.reused,
            "cells": self.rows,
        }
        if with_results:
            doc["results"] = self.results()
        return plain(doc)


Progress = Callable[[SweepResult, int], None]


def run_sweep(
    claim: Claim | str,
    axes: Mapping[str, Sequence[Any]] | Sequence[Axis] = (),
    seeds: int | None = None,
    *,
    out_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    sources: Sequence[str] = (),
    retries: int = 2,
    on_progress: Progress | None = None,
    on_retry: Callable[[list[int], int], None] | None = None,
    figure: bool = True,
) -> SweepResult:
    """Run ``claim`` over the grid ``axes`` (name -> values, or ``Axis`` records) x ``seeds``.

    Without ``out_dir`` every task is computed and nothing is written. With it, tasks already in
    ``out_dir/results.jsonl`` are read back, new results are appended as they arrive, and the
    table (CSV, JSON) and the heatmap are rewritten atomically as cells finish, at the end, and
    when the sweep stops early (an interrupt, a task's error): rerunning the same call resumes.
    ``on_progress(result, cells_done)`` is called after every task."""
    c = get_claim(claim) if isinstance(claim, str) else claim
    load_sources(sources)
    if isinstance(axes, Mapping):
        axes = [resolve_axis(c, name, values) for name, values in axes.items()]
    axes = list(axes)
    cells, tasks = plan(c, axes, seeds)
    res = SweepResult(c, axes, seeds, cells, tasks, {},
                      out_dir=None if out_dir is None else Path(out_dir))
    store = ResultStore(out_dir) if out_dir is not None else None
    with store if store is not None else _nothing():
        if store is not None:
            stored = store.load()
            for t in tasks:
                if t.key in stored:
                    res.add(stored[t.key])
        res.reused = len(res.records)
        todo: dict[str, Task] = {}
        for t in tasks:
            if t.key not in res.records:
                todo.setdefault(t.key, t)  # a cell listed twice runs once
        order = list(todo.values())
        remaining: dict[int, int] = {}
        cells_of: dict[str, list[int]] = {}
        for t in tasks:
            if t.key not in res.records:
                remaining[t.cell] = remaining.get(t.cell, 0) + 1
                cells_of.setdefault(t.key, []).append(t.cell)
        cells_done = len(cells) - len(remaining)
        last_write = time.monotonic()
        if on_progress is not None:
            on_progress(res, cells_done)
        calls = [(c.id, t.instance, t.tolerances, t.protocol, tuple(sources)) for t in order]

        def record(i: int, out: dict[str, Any]) -> dict[str, Any]:
            t = order[i]
            return {"key": t.key, "claim": c.id, "spec": t.instance,
                    "tolerances": overridden(c, "tolerances", t.tolerances),
                    "protocol": overridden(c, "protocol", t.protocol),
                    "evidence": out["evidence"], "seconds": out["seconds"]}

        try:
            with closing(stored_results(evaluate_task, calls, record, store, workers=workers,
                                        scheduler=scheduler, retries=retries,
                                        on_retry=on_retry)) as results:
                for i, rec in results:
                    t = order[i]
                    res.add(rec)
                    res.computed += 1
                    finished = 0
                    for cell in cells_of[t.key]:
                        remaining[cell] -= 1
                        finished += remaining[cell] == 0
                    cells_done += finished
                    if on_progress is not None:
                        on_progress(res, cells_done)
                    if (store is not None and finished
                            and time.monotonic() - last_write >= REWRITE_EVERY_S):
                        write_outputs(res, figure=figure)
                        last_write = time.monotonic()
        finally:
            if store is not None:
                write_outputs(res, figure=figure)
    return res


def stored_results(fn: Callable[..., Any], calls: Sequence[tuple[Any, ...]],
                   record: Callable[[int, Any], dict[str, Any]], store: ResultStore | None, *,
                   workers: int | None = None, scheduler: str | None = None, retries: int = 2,
                   on_retry: Callable[[list[int], int], None] | None = None,
                   sort_keys: bool = True) -> Iterator[tuple[int, dict[str, Any]]]:
    """The one task loop of every sweep: run ``fn(*calls[i])`` (``properties.executors.run_tasks``:
    here, in a process pool or on Dask), turn each result into its plain-JSON record
    (``record(i, result)``, which carries the task's ``key``), append it to ``store`` as it
    arrives and yield ``(i, record)``. The record is passed through JSON as the store writes it
    (``sort_keys``: the store's), so a computed record equals, key order included, the one a
    later run reads back. No calls (everything read back): no pool is started."""
    from attnsvm.properties.executors import run_tasks

    if not calls:
        return
    for i, out in run_tasks(fn, calls, workers=workers, scheduler=scheduler, retries=retries,
                            on_retry=on_retry):
        rec = json.loads(json.dumps(plain(record(i, out)), sort_keys=sort_keys))
        if store is not None:
            store.append(rec)
        yield i, rec


@contextmanager
def _nothing() -> Any:
    yield None


@contextmanager
def _pinned() -> Any:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        yield None


# ---------------------------------------------------------------- sweeps of a plain function
@dataclass(frozen=True)
class FunctionTask:
    """One task of a function sweep: ``fn(**params, seed=seed)``, the cell it counts towards (a
    dict of the cell's values) and the key its records are kept under."""

    cell: dict[str, Any]
    params: dict[str, Any]
    seed: int | None
    key: str


def function_path(fn: Callable[..., Any]) -> str:
    """``module:qualname`` of an importable function (how workers find it)."""
    path = f"{fn.__module__}:{fn.__qualname__}"
    if "<" in path:
        raise ValueError(f"{path}: a sweep runs module-level functions only")
    return path


def resolve_function(path: str) -> Callable[..., Any]:
    import importlib

    module, _, name = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def function_task_key(name: str, fn: str, params: Mapping[str, Any], seed: int | None,
                      version: str) -> str:
    """The key of a function task: the sweep's name, the function's path, the parameters, the
    seed and the version (bump it when the function's results change)."""
    ident = {"sweep": name, "function": fn, "params": dict(params), "seed": seed,
             "version": version}
    text = json.dumps(plain(ident), sort_keys=True, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def function_task(name: str, fn: Callable[..., Any], version: str, cell: Mapping[str, Any],
                  params: Mapping[str, Any], seed: int | None = None) -> FunctionTask:
    """The task ``fn(**params, seed=seed)`` of the sweep ``name``, counted in ``cell``."""
    return FunctionTask(dict(cell), dict(params), seed,
                        function_task_key(name, function_path(fn), params, seed, version))


def call_function(path: str, params: dict[str, Any], seed: int | None,
                  pin: bool = True) -> dict[str, Any]:
    """Worker entry point of a function task (picklable; BLAS pinned to one thread unless
    ``pin`` is False: the caller pinned it already): the function's records (a dict is one
    record, a list several; each a plain-JSON dict with a ``status``) and the seconds it took."""
    from threadpoolctl import threadpool_limits

    fn = resolve_function(path)
    t0 = time.perf_counter()
    with threadpool_limits(1) if pin else _nothing():
        out = fn(**params, seed=seed)
    records = [out] if isinstance(out, Mapping) else list(out)
    for r in records:
        if not isinstance(r, Mapping) or "status" not in r:
            raise TypeError(f"{path} must return records with a 'status', got {r!r:.80}")
    return {"records": plain(records), "seconds": time.perf_counter() - t0}


@dataclass
class FunctionSweep:
    """A function sweep's outcome: its tasks and, per task key, the stored line (``records``,
    ``seconds``, the task's identity)."""

    name: str
    function: str
    version: str
    tasks: list[FunctionTask]
    stored: dict[str, dict[str, Any]]
    computed: int = 0
    reused: int = 0
    out_dir: Path | None = None

    def records(self, task: FunctionTask) -> list[dict[str, Any]]:
        """The records of one (finished) task."""
        return self.stored[task.key]["records"]

    def cells(self) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
        """Per cell (in the order of its first task): the cell and its tasks' records, in task
        order."""
        out: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        for t in self.tasks:
            entry = out.setdefault(json.dumps(plain(t.cell), sort_keys=True), (t.cell, []))
            if t.key in self.stored:
                entry[1].extend(self.records(t))
        return list(out.values())

    def rows(self, success: str) -> list[dict[str, Any]]:
        """The tidy table: per cell its values and the ``tally`` of ``success``."""
        return [{**cell, **tally(recs, success)} for cell, recs in self.cells()]


def status_counts(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """How many records have each ``status`` (sorted by status)."""
    out: dict[str, int] = {}
    for r in records:
        out[r["status"]] = out.get(r["status"], 0) + 1
    return dict(sorted(out.items()))


def tally(records: Sequence[Mapping[str, Any]], success: str) -> dict[str, Any]:
    """How many records have ``status == success`` of how many, the count of every status, the
    fraction and its 95% Wilson interval (None without records)."""
    statuses = status_counts(records)
    k, n = statuses.get(success, 0), len(records)
    lo, hi = wilson(k, n)
    return {"success": success, "k": k, "n": n, "statuses": statuses,
            "fraction": k / n if n else None, "wilson95": [lo, hi] if n else None}


def run_function_sweep(
    name: str,
    fn: Callable[..., Any],
    tasks: Sequence[FunctionTask],
    *,
    version: str,
    out_dir: str | os.PathLike[str] | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    on_result: Callable[[FunctionTask, dict[str, Any]], None] | None = None,
) -> FunctionSweep:
    """Run the tasks (``function_task``) of ``fn`` through the sweep machinery: the executors
    (``workers``, ``scheduler``; ``workers=1``: here, in order) and, with ``out_dir``, the
    resumable store ``out_dir/results.jsonl`` (tasks whose key is there are read back, not
    recomputed; new lines are appended as tasks finish; ``out_dir/sweep.json`` gets the tally of
    ``status`` per cell). ``on_result(task, line)`` is told every computed task."""
    path = function_path(fn)
    res = FunctionSweep(name, path, version, list(tasks), {},
                        out_dir=None if out_dir is None else Path(out_dir))
    # the records' own key order: a read-back run gives the same JSON text as a computed one
    store = (ResultStore(out_dir, payload="records", sort_keys=False)
             if out_dir is not None else None)
    with store if store is not None else _nothing():
        if store is not None:
            lines = store.load()
            res.stored = {t.key: lines[t.key] for t in res.tasks if t.key in lines}
        res.reused = len(res.stored)
        todo: dict[str, FunctionTask] = {}
        for t in res.tasks:
            if t.key not in res.stored:
                todo.setdefault(t.key, t)
        order = list(todo.values())

        def record(i: int, out: dict[str, Any]) -> dict[str, Any]:
            t = order[i]
            return {"key": t.key, "sweep": name, "function": path, "version": version,
                    "cell": t.cell, "params": t.params, "seed": t.seed,
                    "records": out["records"], "seconds": out["seconds"]}

        here = workers == 1 and not scheduler  # in this process: pin BLAS once, not per task
        calls = [(path, t.params, t.seed, not here) for t in order]
        try:
            with closing(stored_results(call_function, calls, record, store, workers=workers,
                                        scheduler=scheduler, retries=retries,
                                        sort_keys=False)) as results, \
                    _pinned() if here and calls else _nothing():
                for i, line in results:
                    res.stored[order[i].key] = line
                    res.computed += 1
                    if on_result is not None:
                        on_result(order[i], line)
        finally:
            if store is not None:
                write_function_table(res)
    return res


def write_function_table(res: FunctionSweep) -> None:
    """``sweep.json`` of a function sweep: per cell the count of every ``status``."""
    if res.out_dir is None:
        return
    doc = {"sweep": res.name, "function": res.function, "version": res.version,
           "tasks": len(res.tasks), "done": len(res.stored), "computed": res.computed,
           "reused": res.reused,
           "cells": [{"cell": cell, "records": len(recs), "statuses": status_counts(recs)}
                     for cell, recs in res.cells()]}
    atomic_write_text(res.out_dir / TABLE_JSON, json.dumps(plain(doc), indent=2) + "\n")


# ------------------------------------------------------------------------------ the outputs
def table_csv(res: SweepResult) -> str:
    names = column_names(res.axes)
    header = [*names.values(), *CELL_COLUMNS]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for row in res.rows:
        w.writerow(["" if row[h] is None else (repr(row[h]) if isinstance(row[h], float)
                                               else row[h]) for h in header])
    return buf.getvalue()


def write_outputs(res: SweepResult, figure: bool = True) -> list[str]:
    """Rewrite ``sweep.csv``, ``sweep.json`` (and ``sweep.png``) in the output folder,
    atomically; returns their paths."""
    if res.out_dir is None:
        return []
    d = res.out_dir
    atomic_write_text(d / TABLE_CSV, table_csv(res))
    atomic_write_text(d / TABLE_JSON,
                      json.dumps(res.document(with_results=False), indent=2) + "\n")
    files = [str(d / RESULTS_FILE), str(d / TABLE_CSV), str(d / TABLE_JSON)]
    if figure:
        atomic_write_bytes(d / FIGURE, heatmap_png(res))
        files.append(str(d / FIGURE))
    res.files = files
    return files


def _label(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _fixed_text(res: SweepResult) -> str:
    """What every cell shares: the instance fields, protocol and tolerances not on an axis."""
    on_axis = {(a.kind, a.key) for a in res.axes}
    c = res.claim
    parts = []
    for kind, values in (("instance", c.samples[0]), ("protocol", c.protocol),
                         ("tolerances", c.tolerances)):
        kv = [f"{k} = {_label(v)}" for k, v in values.items()
              if (kind, k) not in on_axis and not (kind == "instance" and k == SEED_FIELD
                                                   and res.seeds is not None)
              and v not in ({}, [], "")]
        if kv:
            parts.append(f"{kind}: " + ", ".join(kv))
    return "fixed — " + "; ".join(parts) if parts else ""


def heatmap_png(res: SweepResult, dpi: int = 150) -> bytes:
    """The phase diagram as PNG bytes: the fraction held per cell (colour) with its 95% Wilson
    interval and the number of decided tasks written in the cell; the first axis on y, the
    second on x, one facet per combination of the further axes (matplotlib, Agg canvas). The
    header says the claim, its statement, what every cell shares and how to read a cell."""
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    axes, rows = res.axes, res.rows
    names = column_names(axes)
    y_axis = axes[0] if axes else None
    x_axis = axes[1] if len(axes) > 1 else None
    facet_axes = axes[2:]
    ys = list(y_axis.values) if y_axis else [None]
    xs = list(x_axis.values) if x_axis else [None]
    facets = list(itertools.product(*[a.values for a in facet_axes]))
    by_values = {tuple(r[names[a.name]] for a in axes): r for r in rows}

    # layout, in inches
    ncols = min(len(facets), 3)
    nrows = math.ceil(len(facets) / ncols)
    cw, ch = 1.05, 0.78  # per cell
    pw, ph = max(2.4, cw * len(xs)), max(1.0, ch * len(ys))  # per facet
    left, right, gap_x, gap_y, bottom = 0.95, 1.35, 0.75, 0.85 if facet_axes else 0.0, 0.7
    width = left + ncols * pw + (ncols - 1) * gap_x + right
    chars = int(width * 13)  # characters of 8-point text per line
    seeds = (f"{res.seeds} seeds per cell (instance seed 0..{res.seeds - 1})"
             if res.seeds is not None else "one instance per cell")
    legend = (f"cell: fraction held = ok / decided, [{int(LEVEL * 100)}% Wilson interval], "
              f"n = decided tasks (ok + counterexample); {seeds}; grey: no task decided "
              "(out of scope or inconclusive)")
    statement = f"{res.claim.statement} (expected: {res.claim.expected.value})"
    lines = [textwrap.fill(statement, chars), textwrap.fill(_fixed_text(res), chars),
             textwrap.fill(legend, chars)]
    sub = "\n".join(t for t in lines if t)
    head = 0.55 + 0.15 * (sub.count("\n") + 1) + (0.3 if facet_axes else 0.15)
    height = head + nrows * ph + (nrows - 1) * gap_y + bottom
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.text(0.5, 1 - 0.12 / height,
             res.claim.id + ("" if res.complete
                             else f" — partial: {res.done}/{len(res.tasks)} tasks"),
             ha="center", va="top", fontsize=12, weight="bold")
    fig.text(0.5, 1 - 0.45 / height, sub, ha="center", va="top", fontsize=8, color="#333333",
             linespacing=1.35)
    cmap, norm = _cmap(), Normalize(0.0, 1.0)
    image = None
    for f, fvals in enumerate(facets):
        r, k = divmod(f, ncols)
        x0 = left + k * (pw + gap_x)
        y0 = height - head - (r + 1) * ph - r * gap_y
        ax = fig.add_axes((x0 / width, y0 / height, pw / width, ph / height))
        data = np.full((len(ys), len(xs)), np.nan)
        cell_rows_here = {}
        for iy, yv in enumerate(ys):
            for ix, xv in enumerate(xs):
                row = by_values.get((yv, xv)[: min(len(axes), 2)] + tuple(fvals))
                cell_rows_here[iy, ix] = row
                if row is not None and row["held"] is not None:
                    data[iy, ix] = row["held"]
        image = ax.imshow(np.ma.masked_invalid(data), cmap=cmap, norm=norm, origin="lower",
                          aspect="auto", interpolation="nearest")
        ax.set_facecolor("#e6e6e6")
        for (iy, ix), row in cell_rows_here.items():
            _annotate(ax, ix, iy, row, cmap, norm)
        ax.set_xticks(range(len(xs)), [_label(v) for v in xs] if x_axis else [""])
        ax.set_yticks(range(len(ys)), [_label(v) for v in ys] if y_axis else [""])
        ax.set_xticks(np.arange(len(xs) + 1) - 0.5, minor=True)
        ax.set_yticks(np.arange(len(ys) + 1) - 0.5, minor=True)
        ax.grid(which="minor", color="white", linewidth=2)
        ax.tick_params(which="both", length=0)
        ax.set_xlabel(x_axis.name if x_axis else "")
        ax.set_ylabel(y_axis.name if y_axis else "")
        for side in ax.spines.values():
            side.set_visible(False)
        if facet_axes:
            ax.set_title(", ".join(f"{a.name} = {_label(v)}"
                                   for a, v in zip(facet_axes, fvals, strict=True)), fontsize=10)
    if image is not None:
        top = height - head
        cax = fig.add_axes(((width - right + 0.3) / width, (top - min(ph, 3.0)) / height,
                            0.16 / width, min(ph, 3.0) / height))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("fraction held (ok / decided)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def _cmap() -> Any:
    from matplotlib import colormaps

    return colormaps["viridis"]


def _annotate(ax: Any, ix: int, iy: int, row: Mapping[str, Any] | None, cmap: Any,
              norm: Any) -> None:
    """The cell's text: held [lo, hi] and n, or why nothing is decided there."""
    if row is None:
        return
    if row["held"] is None:
        why = []
        for k, word in (("out_of_scope", "out of scope"), ("inconclusive", "inconclusive")):
            if row[k]:
                why.append(f"{row[k]} {word}")
        text = "\n".join(why) if why else ("not run" if not row["done"] else "-")
        if row["done"] < row["tasks"]:
            text += f"\n{row['done']}/{row['tasks']} done"
        ax.text(ix, iy, text, ha="center", va="center", fontsize=7, color="#444444")
        return
    r, g, b, _ = cmap(norm(row["held"]))
    color = "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"
    extra = f"n = {row['decided']}"
    if row["done"] < row["tasks"]:
        extra += f" ({row['done']}/{row['tasks']} done)"
    ax.text(ix, iy + 0.12, f"{row['held']:.2f}", ha="center", va="center", fontsize=10,
            weight="bold", color=color)
    ax.text(ix, iy - 0.08, f"[{row['held_lo']:.2f}, {row['held_hi']:.2f}]", ha="center",
            va="center", fontsize=7.5, color=color)
    ax.text(ix, iy - 0.27, extra, ha="center", va="center", fontsize=6.5, color=color)
