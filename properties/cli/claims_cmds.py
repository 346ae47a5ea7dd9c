"""``attnsvm list | check | hunt | replay``: the claims registry from the command line."""

from __future__ import annotations

import json
import os
from concurrent.futures import as_completed
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table, to_jsonable
from attnsvm.properties.profiles import PROFILES
from attnsvm.properties.registry import all_claims, get_claim
from attnsvm.properties.runner import ClaimReport, run_claim, run_claim_by_id

EXIT_MISMATCH = 1


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )


@click.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_cmd(as_json: bool) -> int:
    """The catalog of claims: id, source, expected verdict, statement."""
    rows = [
        {
            "id": c.id,
            "source": c.source,
            "expected": c.expected.value,
            "statement": c.statement,
            "conditions": c.conditions,
            "known": None if c.known is None else c.known.value,
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
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="write the full report as JSON to this file",
)
@click.option("--workers", type=int, default=None, help="processes (default: min(2, cores))")
@click.option("--scheduler", type=str, default=None, help="Dask scheduler address")
@click.option("--max-examples", type=int, default=None, help="override every claim's budget")
def check_cmd(
    ids: tuple[str, ...],
    profile: str,
    json_file: str | None,
    workers: int | None,
    scheduler: str | None,
    max_examples: int | None,
) -> int:
    """Check claims (all by default); exit 0 only if every verdict matches its expectation."""
    claims = [get_claim(i) for i in ids] if ids else list(all_claims().values())
    if max_examples is not None and max_examples < 0:
        raise BadInput(f"--max-examples must be >= 0, got {max_examples}")
    reports: dict[str, ClaimReport] = {}
    if workers == 1 and not scheduler:
        with _progress() as prog:
            task = prog.add_task(f"checking ({profile})", total=len(claims))
            for c in claims:
                reports[c.id] = run_claim(c, profile, max_examples=max_examples)
                prog.advance(task)
    else:
        from attnsvm.properties.executors import make_executor

        with make_executor(workers, scheduler) as pool, _progress() as prog:
            task = prog.add_task(f"checking ({profile})", total=len(claims))
            futures = {
                pool.submit(run_claim_by_id, c.id, profile, max_examples): c.id for c in claims
            }
            for fut in as_completed(futures):
                reports[futures[fut]] = fut.result()
                prog.advance(task)
    ordered = [reports[c.id] for c in claims]
    emit_table(
        f"attnsvm check — profile {profile}",
        [
            "claim",
            "expected",
            "verdict",
            "tried",
            "out of scope",
            "worst (gap vs threshold)",
            "match",
            "s",
        ],
        [
            (
                r.claim_id,
                r.expected,
                r.verdict.value,
                r.tried,
                r.counts["out_of_scope"],
                _fmt_worst(r),
                "yes" if r.matches else "NO",
                f"{r.seconds:.1f}",
            )
            for r in ordered
        ],
    )
    mismatched = [r.claim_id for r in ordered if not r.matches]
    if json_file:
        payload = {
            "profile": profile,
            "all_match": not mismatched,
            "claims": [r.as_dict() for r in ordered],
        }
        Path(json_file).write_text(json.dumps(to_jsonable(payload), indent=2) + "\n")
    if mismatched:
        click.echo(
            f"attnsvm: {len(mismatched)} verdict(s) differ from expectation: "
            f"{', '.join(mismatched)}",
            err=True,
        )
        return EXIT_MISMATCH
    return 0


def _hunt_one(claim_id: str, max_examples: int, seed: int, db_dir: str | None) -> dict:
    from hypothesis.database import DirectoryBasedExampleDatabase

    db = DirectoryBasedExampleDatabase(db_dir) if db_dir else None
    rep = run_claim(
        claim_id,
        "deep",
        max_examples=max_examples,
        search_seed=seed,
        use_target=True,
        shrink=True,
        database=db,
    )
    return {"seed": seed, "report": rep.as_dict()}


@click.command("hunt")
@click.argument("claim_id")
@click.option("--max-examples", type=int, default=200, show_default=True)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    default="counterexamples",
    show_default=True,
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="independent searches (seeds seed..seed+workers-1) in a process pool",
)
@click.option("--scheduler", type=str, default=None, help="Dask scheduler address")
@click.option("--json", "as_json", is_flag=True)
def hunt_cmd(
    claim_id: str,
    max_examples: int,
    out_dir: str,
    seed: int,
    workers: int,
    scheduler: str | None,
    as_json: bool,
) -> int:
    """Search for counterexamples to CLAIM_ID (target() on its gap), shrink and save them."""
    from attnsvm.properties.records import save_counterexample
    from attnsvm.properties.verdicts import Evidence

    claim = get_claim(claim_id)
    if max_examples < 1:
        raise BadInput(f"--max-examples must be >= 1, got {max_examples}")
    if workers < 1:
        raise BadInput(f"--workers must be >= 1, got {workers}")
    db_dir = os.path.join(".hypothesis", "hunt")
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
                on_example=lambda k, ev: prog.update(task, completed=min(k, max_examples)),
            )
            results.append({"seed": seed, "report": rep.as_dict()})
    else:
        from attnsvm.properties.executors import make_executor

        per = max(1, max_examples // workers)
        with make_executor(workers, scheduler) as pool, _progress() as prog:
            task = prog.add_task(f"hunting {claim_id}", total=workers)
            futs = [pool.submit(_hunt_one, claim_id, per, seed + j, db_dir) for j in range(workers)]
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
def replay_cmd(file: str, as_json: bool) -> int:
    """Re-run a saved counterexample (.json or .npz) and check it reproduces exactly."""
    from attnsvm.properties.records import replay

    out = replay(file)
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


def _check_spec(claim_id: str, spec: dict) -> dict:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ev = get_claim(claim_id).check(spec)
    return {"spec": spec, "evidence": ev.as_dict()}


@click.command("sweep")
@click.argument("claim_id")
@click.option("--set", "axes", multiple=True, help="NAME=V1,V2,... (a grid axis over spec fields)")
@click.option("--workers", type=int, default=None, help="processes (default: min(2, cores))")
@click.option("--scheduler", type=str, default=None, help="Dask scheduler address")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), default=None)
def sweep_cmd(claim_id: str, axes: tuple[str, ...], workers: int | None, scheduler: str | None,
              json_file: str | None) -> int:
    """Evaluate CLAIM_ID's check on a grid of specs (its first sample with fields overridden),
    e.g. `attnsvm sweep tfsvm.global-convergence --set d=8,16,32 --set seed=0,1,2`."""
    import itertools

    from attnsvm.properties.executors import make_executor

    claim = get_claim(claim_id)
    if not claim.samples:
        raise BadInput(f"{claim_id} has no sample spec to sweep from")
    base = dict(claim.samples[0])
    grid = [_parse_axis(a) for a in axes]
    for name, _ in grid:
        if name not in base:
            raise BadInput(f"--set {name}: not a field of {claim_id}'s spec ({', '.join(base)})")
    specs = [dict(base, **dict(zip([g[0] for g in grid], combo, strict=True)))
             for combo in itertools.product(*[g[1] for g in grid])]
    results = []
    with make_executor(workers, scheduler) as pool, _progress() as prog:
        task = prog.add_task(f"sweeping {claim_id}", total=len(specs))
        futs = [pool.submit(_check_spec, claim_id, spec) for spec in specs]
        for fut in futs:
            results.append(fut.result())
            prog.advance(task)
    names = [g[0] for g in grid]
    emit_table(
        f"attnsvm sweep {claim_id}",
        [*names, "status", "gap", "threshold", "note"],
        [(*(r["spec"][k] for k in names), r["evidence"]["status"], r["evidence"]["gap"],
          r["evidence"]["threshold"], r["evidence"]["note"]) for r in results],
    )
    if json_file:
        Path(json_file).write_text(json.dumps(to_jsonable({"claim": claim_id, "results": results}),
                                              indent=2) + "\n")
    return 0


COMMANDS = [list_cmd, check_cmd, hunt_cmd, replay_cmd, sweep_cmd]
