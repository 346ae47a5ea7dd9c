"""``attnsvm list | check | hunt | replay``: the claims registry from the command line."""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
from concurrent.futures import as_completed
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table, to_jsonable
from attnsvm.properties.files import atomic_write_text, writable_dir, writable_path
from attnsvm.properties.profiles import PROFILES
from attnsvm.properties.registry import all_claims, get_claim, load_sources
from attnsvm.properties.runner import ClaimReport, run_claim, run_claim_by_id

EXIT_MISMATCH = 1
SEED_RANGE = click.IntRange(0, 2**32 - 1)
WORKERS_RANGE = click.IntRange(1, 256)
MAX_EXAMPLES_RANGE = click.IntRange(1, 10**7)
_SCHEDULER = re.compile(r"^(?:(?:tcp|tls|ws|wss|ucx|inproc)://)?\[?[A-Za-z0-9_.:-]+\]?:\d{1,5}/?$")


def _check_scheduler(ctx: click.Context, param: click.Parameter, value: str | None
                     ) -> str | None:
    """``--scheduler``: a Dask address ``[tcp://]HOST:PORT`` (checked before any work)."""
    if value is None:
        return None
    port = value.rstrip("/").rsplit(":", 1)[-1]
    if not _SCHEDULER.match(value) or not port.isdigit() or not 0 < int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not a Dask scheduler address (expected "
                                 "HOST:PORT or tcp://HOST:PORT)")
    return value


scheduler_option = click.option("--scheduler", type=str, default=None, metavar="ADDRESS",
                                callback=_check_scheduler,
                                help="run the tasks on the Dask cluster of this scheduler "
                                "(tcp://HOST:PORT)")

claims_option = click.option(
    "--claims",
    "sources",
    multiple=True,
    metavar="PATH_OR_MODULE",
    help="also load the claims of this Python file or importable module (repeatable)",
)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@click.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the claims as one JSON document")
@click.option("--markdown", is_flag=True, help="print the claims reference (docs/claims.md)")
@claims_option
def list_cmd(as_json: bool, markdown: bool, sources: tuple[str, ...]) -> int:
    """The registered claims: id, source, expected verdict, statement.

    Example: attnsvm list --claims my_claims.py --json"""
    load_sources(sources)
    if markdown:
        from attnsvm.properties.claims_reference import claims_markdown

        click.echo(claims_markdown(all_claims().values()), nl=False)
        return 0
    rows = [
        {
            "id": c.id,
            "source": str(c.source),
            "origin": c.origin,
            "requires": [p.name for p in c.premises],
            "tolerances": c.tolerances,
            "protocol": c.protocol,
            "expected": c.expected.value,
            "statement": c.statement,
            "conditions": c.conditions,
            "known": None if c.known is None else c.known.verdict.value,
        }
        for c in all_claims().values()
    ]
    if as_json:
        emit_json({"claims": rows})
    else:
        emit_table(
            "attnsvm claims",
            ["id", "expected", "statement"],
            [(r["id"], r["expected"], r["statement"]) for r in rows],
        )
    return 0


def _fmt_worst(rep: ClaimReport) -> str:
    if rep.worst is None:
        return "-"
    ev = rep.worst["evidence"]
    return f"{ev['gap']:.3g} vs {ev['threshold']:.3g}"


@click.command("check")
@click.argument("ids", nargs=-1)
@click.option("--profile", type=click.Choice(PROFILES), default="ci", show_default=True)
@click.option("--seed", type=SEED_RANGE, default=None,
              help="search seed of the dev / deep profiles (default: drawn and printed); the "
              "same seed re-runs the same search (ci is derandomized)")
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON document")
@click.option("--output", "output", type=str, default=None, metavar="FILE",
              help="also write the full report as JSON to FILE")
@click.option("--out", "out_dir", type=str, default="counterexamples", show_default=True,
              help="where the counterexample record of a mismatching claim is saved")
@click.option("--workers", type=WORKERS_RANGE, default=None,
              help="processes (default: min(2, cores))")
@scheduler_option
@click.option("--max-examples", type=click.IntRange(0, 10**7), default=None,
              help="override every claim's budget")
@click.option(
    "--instance",
    "instance_json",
    default=None,
    metavar="JSON",
    help="check exactly this instance (a JSON object) of the one claim named",
)
@claims_option
def check_cmd(
    ids: tuple[str, ...],
    profile: str,
    seed: int | None,
    as_json: bool,
    output: str | None,
    out_dir: str,
    workers: int | None,
    scheduler: str | None,
    max_examples: int | None,
    instance_json: str | None,
    sources: tuple[str, ...],
) -> int:
    """Check claims (all by default); exit 0 only if every verdict matches its expectation.
    A mismatch prints its repro and saves its counterexample record under --out.

    Example: attnsvm check tfsvm.rank-lemma --profile dev --seed 7 --output report.json"""
    out_path = None if output is None else writable_path(output, "output")
    writable_dir(out_dir, "out")
    load_sources(sources)
    claims = [get_claim(i) for i in ids] if ids else list(all_claims().values())
    instances = None
    if instance_json is not None:
        if len(claims) != 1:
            raise BadInput("--instance needs exactly one claim id")
        instances = [_parse_instance(instance_json)]
        workers = 1
    if profile != "ci" and seed is None:
        seed = secrets.randbelow(2**32)
    if seed is not None and profile != "ci":
        click.echo(f"attnsvm: {profile} profile, search seed {seed} (re-run this search with "
                   f"--seed {seed})", err=True)
    kw = {"max_examples": max_examples, "database": None,
          "search_seed": None if profile == "ci" else seed}
    reports = _run_checks(claims, profile, kw, instances, workers, scheduler, sources)
    ordered = [reports[c.id] for c in claims]
    if not as_json:
        _check_table(profile, ordered)
    mismatched = [r for r in ordered if not r.matches]
    records = {r.claim_id: _save_mismatch(r, out_dir) for r in mismatched}
    payload = {"profile": profile, "seed": seed, "all_match": not mismatched,
               "claims": [{**r.as_dict(), "record": records.get(r.claim_id)} for r in ordered]}
    if as_json:
        emit_json(payload)
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(to_jsonable(payload), indent=2) + "\n")
    if mismatched:
        for r in mismatched:
            click.echo(r.failure_message(), err=True)
            if records[r.claim_id]:
                click.echo(f"  saved: attnsvm replay {records[r.claim_id]}", err=True)
        click.echo(
            f"attnsvm: {len(mismatched)} verdict(s) differ from expectation: "
            f"{', '.join(r.claim_id for r in mismatched)}",
            err=True,
        )
        return EXIT_MISMATCH
    return 0


def _run_checks(claims: list, profile: str, kw: dict, instances: list | None,
                workers: int | None, scheduler: str | None, sources: tuple[str, ...]
                ) -> dict[str, ClaimReport]:
    """Run every claim, in this process (``--workers 1``) or through an executor; each claim's
    search seed is derived from the run's seed and the claim id, so a claim checked alone
    repeats its search."""
    reports: dict[str, ClaimReport] = {}

    def claim_kw(claim_id: str) -> dict:
        s = kw["search_seed"]
        return {**kw, "search_seed": None if s is None else claim_seed(s, claim_id)}

    with _progress() as prog:
        task = prog.add_task(f"checking ({profile})", total=len(claims))
        if workers == 1 and not scheduler:
            for c in claims:
                prog.update(task, description=f"checking {c.id} ({profile})")
                reports[c.id] = run_claim(c, profile, instances=instances, **claim_kw(c.id))
                prog.advance(task)
            return reports
        from attnsvm.properties.executors import make_executor

        with make_executor(workers, scheduler) as pool:
            futures = {pool.submit(run_claim_by_id, c.id, profile, sources=sources,
                                   **claim_kw(c.id)): c.id for c in claims}
            for fut in as_completed(futures):
                reports[futures[fut]] = fut.result()
                prog.update(task, description=f"checked {futures[fut]} ({profile})")
                prog.advance(task)
    return reports


def claim_seed(seed: int, claim_id: str) -> int:
    """The search seed of one claim in a run with ``seed`` (independent of the other claims)."""
    return int(hashlib.sha256(f"{seed}:{claim_id}".encode()).hexdigest()[:8], 16)


def _save_mismatch(report: ClaimReport, out_dir: str) -> str | None:
    """Save a mismatching claim's counterexample as a record (as hunt does); its path or None."""
    from attnsvm.properties.records import save_counterexample
    from attnsvm.properties.verdicts import Evidence

    cex = report.counterexample
    if cex is None:
        return None
    return str(save_counterexample(out_dir, report.claim_id, cex["spec"],
                                   Evidence.from_dict(cex["evidence"]),
                                   search_seed=report.search_seed))


def _check_table(profile: str, reports: list[ClaimReport]) -> None:
    emit_table(
        f"attnsvm check — profile {profile}",
        ["claim", "expected", "verdict", "tried", "out of scope", "worst (gap vs threshold)",
         "match", "s"],
        [
            (r.claim_id, r.expected, r.verdict.value, r.tried, r.counts["out_of_scope"],
             _fmt_worst(r), "yes" if r.matches else "NO", f"{r.seconds:.1f}")
            for r in reports
        ],
        optional=(7, 4, 3, 5, 1),
    )


def _parse_instance(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--instance is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(value, dict):
        raise BadInput(f"--instance must be a JSON object, got {type(value).__name__}")
    return value


def _hunt_one(claim_id: str, max_examples: int, seed: int, db_dir: str | None,
              sources: tuple[str, ...] = ()) -> dict:
    from hypothesis.database import DirectoryBasedExampleDatabase

    from attnsvm.properties.registry import isolated_registry

    db = DirectoryBasedExampleDatabase(db_dir) if db_dir else None
    with isolated_registry():  # a Dask worker outlives one command
        load_sources(sources)
        rep = run_claim(claim_id, "deep", max_examples=max_examples, search_seed=seed,
                        use_target=True, shrink=True, database=db)
    return {"seed": seed, "report": rep.as_dict()}


@click.command("hunt")
@click.argument("claim_id")
@click.option("--max-examples", type=MAX_EXAMPLES_RANGE, default=200, show_default=True)
@click.option("--out", "out_dir", type=str, default="counterexamples", show_default=True,
              help="where the counterexample records are saved")
@click.option("--seed", type=SEED_RANGE, default=0, show_default=True)
@click.option(
    "--workers",
    type=WORKERS_RANGE,
    default=1,
    show_default=True,
    help="independent searches (seeds seed..seed+workers-1) in a process pool",
)
@scheduler_option
@click.option("--json", "as_json", is_flag=True)
@claims_option
def hunt_cmd(
    claim_id: str,
    max_examples: int,
    out_dir: str,
    seed: int,
    workers: int,
    scheduler: str | None,
    as_json: bool,
    sources: tuple[str, ...],
) -> int:
    """Search for counterexamples to CLAIM_ID (target() on its gap), shrink and save them.
    Hypothesis's example database lives in the cache folder (see attnsvm.properties.files.
    cache_dir: $ATTNSVM_CACHE_DIR, else $XDG_CACHE_HOME/attnsvm, else ~/.cache/attnsvm).

    Example: attnsvm hunt tfsvm.global-convergence --max-examples 50 --out counterexamples/"""
    from hypothesis.database import DirectoryBasedExampleDatabase

    from attnsvm.properties.files import hypothesis_db_dir
    from attnsvm.properties.records import save_counterexample
    from attnsvm.properties.verdicts import Evidence

    writable_dir(out_dir, "out")
    load_sources(sources)
    claim = get_claim(claim_id)
    db_path = hypothesis_db_dir("hunt")
    db_dir = None if db_path is None else str(db_path)
    results = []
    if workers == 1 and not scheduler:
        with _progress() as prog:
            task = prog.add_task(f"hunting {claim_id}", total=max_examples)
            rep = run_claim(
                claim,
                "deep",
                max_examples=max_examples,
                search_seed=seed,
                use_target=True,
                shrink=True,
                database=None if db_dir is None else DirectoryBasedExampleDatabase(db_dir),
                on_example=lambda k, ev: prog.update(task, completed=min(k, max_examples)),
            )
            results.append({"seed": seed, "report": rep.as_dict()})
    else:
        from attnsvm.properties.executors import make_executor

        per = max(1, max_examples // workers)
        with make_executor(workers, scheduler) as pool, _progress() as prog:
            task = prog.add_task(f"hunting {claim_id}", total=workers)
            futs = [pool.submit(_hunt_one, claim_id, per, seed + j, db_dir, sources)
                    for j in range(workers)]
            for fut in as_completed(futs):
                results.append(fut.result())
                prog.advance(task)
    saved = []
    for res in sorted(results, key=lambda r: r["seed"]):
        cex = res["report"]["counterexample"]
        if cex is not None:
            path = save_counterexample(
                out_dir,
                claim_id,
                cex["spec"],
                Evidence.from_dict(cex["evidence"]),
                search_seed=res["seed"],
            )
            saved.append(str(path))
    tried = sum(r["report"]["tried"] for r in results)
    summary = {
        "claim": claim_id,
        "expected": claim.expected.value,
        "tried": tried,
        "counterexamples": saved,
        "verdicts": [r["report"]["verdict"] for r in results],
    }
    if as_json:
        emit_json(summary)
    else:
        msg = (
            f"{len(saved)} counterexample(s) saved: {', '.join(saved)}"
            if saved
            else f"no counterexample in {tried} examples"
        )
        click.echo(f"{claim_id}: {msg}")
    return 0


@click.command("replay")
@click.argument("file")
@click.option("--json", "as_json", is_flag=True)
@claims_option
def replay_cmd(file: str, as_json: bool, sources: tuple[str, ...]) -> int:
    """Re-run a saved counterexample record (the .json written by hunt or check, or its .npz)
    and check that it reproduces exactly.

    Example: attnsvm replay counterexamples/tfsvm_global-convergence-930f1a29d3.json"""
    from attnsvm.properties.records import replay

    load_sources(sources)
    out = replay(file)
    if out.get("refused"):
        if as_json:
            emit_json(out)
        click.echo(f"attnsvm: replay refused: {' '.join(out['refused'].split())}", err=True)
        return EXIT_MISMATCH
    if as_json:
        emit_json(out)
    else:
        emit_table(
            f"replay of {file}",
            ["field", "value"],
            [
                (k, out[k])
                for k in (
                    "claim",
                    "reproduced",
                    "evidence_identical",
                    "max_relative_difference",
                    "problem_identical",
                    "status",
                )
            ],
        )
    return 0 if out["reproduced"] else EXIT_MISMATCH


def _parse_axis(text: str) -> tuple[str, list]:
    """'d=4,8,16' -> ('d', [4, 8, 16]); values parsed as JSON scalars where possible."""
    if "=" not in text:
        raise BadInput(f"--set expects NAME=V1,V2,..., got {text!r}")
    name, values = text.split("=", 1)
    out = []
    for raw in values.split(","):
        try:
            out.append(json.loads(raw))
        except json.JSONDecodeError:
            out.append(raw)
    if not name or not out:
        raise BadInput(f"--set expects NAME=V1,V2,..., got {text!r}")
    return name, out


def _type_error(name: str, ref: Any, value: Any, kind: str) -> str | None:
    """Why ``value`` cannot replace the default ``ref`` of a field (None when it can): same JSON
    type (an integer is accepted for a float), finite numbers, and no negative integer where
    the instance's default is a non-negative integer (sizes, counts, seeds)."""
    def is_int(x: Any) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if isinstance(ref, bool):
        ok = isinstance(value, bool)
        want = "true or false"
    elif is_int(ref):
        ok = is_int(value)
        want = "an integer"
    elif isinstance(ref, float):
        ok = is_int(value) or isinstance(value, float)
        want = "a number"
        if ok and isinstance(value, float) and math.isnan(value):
            return f"{name}=NaN is not a number"
    elif isinstance(ref, str):
        ok, want = isinstance(value, str), "a string"
    elif isinstance(ref, dict):
        if not isinstance(value, dict):
            ok, want = False, "a JSON object"
        else:
            for k, v in value.items():
                if k in ref:
                    why = _type_error(f"{name}.{k}", ref[k], v, kind)
                    if why:
                        return why
            return None
    elif isinstance(ref, (list, tuple)):
        ok, want = isinstance(value, list) and len(value) == len(ref), \
            f"a JSON list of {len(ref)} values"
        if ok:
            for i, (r, v) in enumerate(zip(ref, value, strict=True)):
                why = _type_error(f"{name}[{i}]", r, v, kind)
                if why:
                    return why
            return None
    else:
        return None
    if not ok:
        return f"{name}={json.dumps(value)}: must be {want} (its default is {json.dumps(ref)})"
    return None


def _check_axis_values(claim: Any, grid: list) -> None:
    """Every --set value has the type of the field it replaces (ProblemError('set'))."""
    from attnsvm.reference.errors import ProblemError

    parts = {"instance": claim.samples[0], "protocol": claim.protocol,
             "tolerances": claim.tolerances}
    for axis in grid:
        ref = parts[axis.kind][axis.key]
        for value in axis.values:
            why = _type_error(axis.name, ref, value, axis.kind)
            if why:
                raise ProblemError("set", why)


def _check_cells(claim: Any, tasks: list) -> None:
    """Build the problem of every cell's first task (claims that build one) before any pool
    starts, so an invalid value (n=0, a size over the memory budget, an unknown family) is
    refused here with one line instead of failing in the workers."""
    from attnsvm.reference.errors import ProblemError

    if claim.build_problem is None:
        return
    seen: set[int] = set()
    for task in tasks:
        if task.cell in seen:
            continue
        seen.add(task.cell)
        try:
            claim.build_problem(task.instance)
        except ProblemError as exc:
            raise BadInput(f"--set: {exc}") from None
        except (TypeError, ValueError, KeyError) as exc:
            raise BadInput(f"--set: the instance {json.dumps(to_jsonable(task.instance))} "
                           f"cannot be built ({type(exc).__name__}: {exc})") from None


def _sweep_progress(claim_id: str, total: int, cells: int) -> tuple[Progress, Any]:
    """The sweep's progress line (stderr): tasks done / total, cells done / total, the running
    estimate of the fraction held with its Wilson interval, time elapsed and left."""
    prog = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                    transient=True)
    task = prog.add_task(f"sweeping {claim_id}", total=total)

    def update(res: Any, cells_done: int) -> None:
        ok, decided, lo, hi = res.estimate()
        est = f"held {ok / decided:.2f} [{lo:.2f}, {hi:.2f}]" if decided else "held -"
        prog.update(task, completed=res.done,
                    description=f"{claim_id}: cells {cells_done}/{cells}, {est}")

    return prog, update


@click.command("sweep")
@click.argument("claim_id")
@click.option("--set", "axes", multiple=True, metavar="NAME=V1,V2,...",
              help="a grid axis over an instance field, a protocol key or a tolerance key "
              "(prefix protocol. / tolerances. / instance. when ambiguous); repeatable")
@click.option("--seeds", type=click.IntRange(1, 10**7), default=None, metavar="K",
              help="K tasks per cell: the instance's 'seed' field takes 0..K-1 (the same seeds "
              "in every cell); refused for claims whose instances have no 'seed'")
@click.option("--out", "out_dir", type=str, default=None, metavar="DIR",
              help="keep every result in DIR/results.jsonl (a rerun reads them back and "
              "computes only what is missing) and write DIR/sweep.csv, sweep.json, sweep.png")
@click.option("--workers", type=WORKERS_RANGE, default=None,
              help="processes (default: min(2, cores); 1 runs here)")
@scheduler_option
@click.option("--json", "as_json", is_flag=True, help="print the results as one JSON document")
@click.option("--output", "output", type=str, default=None, metavar="FILE",
              help="also write the results as JSON to FILE")
@claims_option
def sweep_cmd(claim_id: str, axes: tuple[str, ...], seeds: int | None, out_dir: str | None,
              workers: int | None, scheduler: str | None, as_json: bool, output: str | None,
              sources: tuple[str, ...]) -> int:
    """Evaluate CLAIM_ID's check on a grid (its first sample, protocol and tolerances with the
    axes overridden) x seeds; with --out, a resumable phase diagram (table + heatmap).

    Example: attnsvm sweep tfsvm.feasible-underparam --set n=4,8,16 --set d=1,2,3 --seeds 200
    --out sweeps/underparam"""
    from attnsvm.properties.sweeps import check_seeds, plan, resolve_axis, run_sweep
    from attnsvm.reference.errors import ProblemError

    out_path = None if output is None else writable_path(output, "output")
    if out_dir is not None:
        writable_dir(out_dir, "out")
    load_sources(sources)
    claim = get_claim(claim_id)
    try:
        grid = [resolve_axis(claim, name, values) for name, values in map(_parse_axis, axes)]
        check_seeds(claim, grid, seeds)
        _check_axis_values(claim, grid)
    except ProblemError as exc:  # name the option: --set, --seeds
        raise BadInput(f"--{exc.field}: {str(exc)[len(exc.field) + 2:]}") from None
    cells, tasks = plan(claim, grid, seeds)
    _check_cells(claim, tasks)

    def retried(lost: list[int], breaks: int) -> None:
        click.echo(f"attnsvm: a worker died; resubmitting {len(lost)} task(s) in a new pool "
                   f"(pool restart {breaks})", err=True)

    prog, update = _sweep_progress(claim_id, len(tasks), len(cells))
    try:
        with prog:
            res = run_sweep(claim, grid, seeds, out_dir=out_dir, workers=workers,
                            scheduler=scheduler, sources=sources, on_progress=update,
                            on_retry=retried)
    except KeyboardInterrupt:
        if out_dir is not None:
            click.echo(f"attnsvm: sweep interrupted; the results so far are in {out_dir} "
                       "(run the same command again to continue)", err=True)
        raise
    payload = res.document()
    if as_json:
        emit_json(payload)
    else:
        _sweep_table(res)
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(to_jsonable(payload), indent=2) + "\n")
    if out_dir is not None:
        click.echo(f"attnsvm: {res.computed} task(s) computed, {res.reused} read back; wrote "
                   f"{', '.join(res.files)}", err=True)
    return 0


def _sweep_table(res: Any) -> None:
    """One row per task when every cell has one, else the tidy table (one row per cell)."""
    names = [a.name for a in res.axes]
    if res.seeds is None:
        part_of = {"instance": "spec", "protocol": "protocol", "tolerances": "tolerances"}
        emit_table(
            f"attnsvm sweep {res.claim.id}",
            [*names, "status", "gap", "threshold", "note"],
            [(*(r[part_of[a.kind]][a.key] for a in res.axes), r["evidence"]["status"],
              r["evidence"]["gap"], r["evidence"]["threshold"], r["evidence"]["note"])
             for r in res.results()],
            optional=(len(names) + 3,),
        )
        return

    def held(row: dict) -> str:
        if row["held"] is None:
            return "-"
        return f"{row['held']:.3f} [{row['held_lo']:.3f}, {row['held_hi']:.3f}]"

    from attnsvm.properties.sweeps import column_names

    cols = list(column_names(res.axes).values())
    k = len(names)
    emit_table(
        f"attnsvm sweep {res.claim.id} — {res.seeds} seeds per cell",
        [*names, "ok", "counterex.", "out of scope", "inconcl.", "held [95% Wilson]",
         "median gap"],
        [(*(row[c] for c in cols), row["ok"], row["counterexample"], row["out_of_scope"],
          row["inconclusive"], held(row),
          "-" if row["median_gap"] is None else f"{row['median_gap']:.3g}")
         for row in res.rows],
        optional=(k + 3, k + 2, k + 5),
    )


COMMANDS = [list_cmd, check_cmd, hunt_cmd, replay_cmd, sweep_cmd]
