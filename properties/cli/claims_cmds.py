"""``attnsvm list | check | hunt | replay``: the claims registry from the command line."""

from __future__ import annotations

import json
import os
from concurrent.futures import as_completed

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table, to_jsonable
from attnsvm.properties.files import atomic_write_text, writable_dir, writable_path
from attnsvm.properties.profiles import PROFILES
from attnsvm.properties.registry import all_claims, evidence_of, get_claim, load_sources
from attnsvm.properties.runner import ClaimReport, run_claim, run_claim_by_id

EXIT_MISMATCH = 1

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
@click.option("--json", "as_json", is_flag=True, help="print the report as one JSON document")
@click.option("--output", "output", type=str, default=None, metavar="FILE",
              help="also write the full report as JSON to FILE")
@click.option("--workers", type=int, default=None, help="processes (default: min(2, cores))")
@click.option("--scheduler", type=str, default=None, help="Dask scheduler address")
@click.option("--max-examples", type=int, default=None, help="override every claim's budget")
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
    as_json: bool,
    output: str | None,
    workers: int | None,
    scheduler: str | None,
    max_examples: int | None,
    instance_json: str | None,
    sources: tuple[str, ...],
) -> int:
    """Check claims (all by default); exit 0 only if every verdict matches its expectation.

    Example: attnsvm check tfsvm.rank-lemma --profile dev --output report.json"""
    out_path = None if output is None else writable_path(output, "output")
    load_sources(sources)
    claims = [get_claim(i) for i in ids] if ids else list(all_claims().values())
    if max_examples is not None and max_examples < 0:
        raise BadInput(f"--max-examples must be >= 0, got {max_examples}")
    instances = None
    if instance_json is not None:
        if len(claims) != 1:
            raise BadInput("--instance needs exactly one claim id")
        instances = [_parse_instance(instance_json)]
        workers = 1
    reports: dict[str, ClaimReport] = {}
    if workers == 1 and not scheduler:
        with _progress() as prog:
            task = prog.add_task(f"checking ({profile})", total=len(claims))
            for c in claims:
                reports[c.id] = run_claim(c, profile, max_examples=max_examples,
                                          instances=instances)
                prog.advance(task)
    else:
        from attnsvm.properties.executors import make_executor

        with make_executor(workers, scheduler) as pool, _progress() as prog:
            task = prog.add_task(f"checking ({profile})", total=len(claims))
            futures = {
                pool.submit(run_claim_by_id, c.id, profile, max_examples, sources): c.id
                for c in claims
            }
            for fut in as_completed(futures):
                reports[futures[fut]] = fut.result()
                prog.advance(task)
    ordered = [reports[c.id] for c in claims]
    if not as_json:
        _check_table(profile, ordered)
    mismatched = [r.claim_id for r in ordered if not r.matches]
    payload = {"profile": profile, "all_match": not mismatched,
               "claims": [r.as_dict() for r in ordered]}
    if as_json:
        emit_json(payload)
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(to_jsonable(payload), indent=2) + "\n")
    if mismatched:
        for r in ordered:
            if not r.matches:
                click.echo(r.failure_message(), err=True)
        click.echo(
            f"attnsvm: {len(mismatched)} verdict(s) differ from expectation: "
            f"{', '.join(mismatched)}",
            err=True,
        )
        return EXIT_MISMATCH
    return 0


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

    load_sources(sources)
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
    """Search for counterexamples to CLAIM_ID (target() on its gap), shrink and save them."""
    from attnsvm.properties.records import save_counterexample
    from attnsvm.properties.verdicts import Evidence

    load_sources(sources)
    claim = get_claim(claim_id)
    if max_examples < 1:
        raise BadInput(f"--max-examples must be >= 1, got {max_examples}")
    if workers < 1:
        raise BadInput(f"--workers must be >= 1, got {workers}")
    writable_dir(out_dir, "out")
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
    """Re-run a saved counterexample (.json or .npz) and check it reproduces exactly."""
    from attnsvm.properties.records import replay

    load_sources(sources)
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


def _check_spec(claim_id: str, spec: dict, tolerances: dict, protocol: dict,
                sources: tuple[str, ...] = ()) -> dict:
    from threadpoolctl import threadpool_limits

    load_sources(sources)
    with threadpool_limits(1):
        ev = evidence_of(get_claim(claim_id), spec, tolerances=tolerances, protocol=protocol)
    return {"spec": spec, "tolerances": tolerances, "protocol": protocol,
            "evidence": ev.as_dict()}


def _axis_kind(claim, name: str) -> tuple[str, str]:
    """Which part of the claim an axis varies: ``instance``, ``protocol`` or ``tolerances``
    (``protocol.KEY`` / ``tolerances.KEY`` / ``instance.KEY`` name it explicitly)."""
    parts = {"instance": claim.samples[0], "protocol": claim.protocol,
             "tolerances": claim.tolerances}
    kind, _, key = name.partition(".")
    if key and kind in parts:
        if key not in parts[kind]:
            raise BadInput(f"--set {name}: {key!r} is not a {kind} key of {claim.id}")
        return kind, key
    found = [k for k, fields in parts.items() if name in fields]
    if not found:
        known = "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in parts.items())
        raise BadInput(f"--set {name}: not a field of {claim.id} ({known})")
    if len(found) > 1:
        raise BadInput(f"--set {name}: ambiguous ({' and '.join(found)}); write e.g. "
                       f"{found[1]}.{name}")
    return found[0], name


@click.command("sweep")
@click.argument("claim_id")
@click.option("--set", "axes", multiple=True,
              help="NAME=V1,V2,... a grid axis over an instance field, a protocol key or a "
              "tolerance key (prefix protocol. / tolerances. / instance. when ambiguous)")
@click.option("--workers", type=int, default=None, help="processes (default: min(2, cores))")
@click.option("--scheduler", type=str, default=None, help="Dask scheduler address")
@click.option("--json", "as_json", is_flag=True, help="print the results as one JSON document")
@click.option("--output", "output", type=str, default=None, metavar="FILE",
              help="also write the results as JSON to FILE")
@claims_option
def sweep_cmd(claim_id: str, axes: tuple[str, ...], workers: int | None, scheduler: str | None,
              as_json: bool, output: str | None, sources: tuple[str, ...]) -> int:
    """Evaluate CLAIM_ID's check on a grid (its first sample, protocol and tolerances with the
    axes overridden), e.g. `attnsvm sweep tfsvm.global-convergence --set d=8,16 --set seed=0,1`."""
    import itertools

    from attnsvm.properties.executors import make_executor

    out_path = None if output is None else writable_path(output, "output")
    load_sources(sources)
    claim = get_claim(claim_id)
    grid = [(_axis_kind(claim, name), values) for name, values in map(_parse_axis, axes)]
    cells = []
    for combo in itertools.product(*[values for _, values in grid]):
        parts: dict[str, dict] = {"instance": dict(claim.samples[0]), "protocol": {},
                                  "tolerances": {}}
        for ((kind, key), _), value in zip(grid, combo, strict=True):
            parts[kind][key] = value
        cells.append(parts)
    results = []
    with make_executor(workers, scheduler) as pool, _progress() as prog:
        task = prog.add_task(f"sweeping {claim_id}", total=len(cells))
        futs = [pool.submit(_check_spec, claim_id, c["instance"], c["tolerances"],
                            c["protocol"], sources) for c in cells]
        for fut in futs:
            results.append(fut.result())
            prog.advance(task)
    payload = {"claim": claim_id, "results": results}
    if as_json:
        emit_json(payload)
    else:
        names = [f"{kind}.{key}" if kind != "instance" else key for (kind, key), _ in grid]
        part_of = {"instance": "spec", "protocol": "protocol", "tolerances": "tolerances"}
        emit_table(
            f"attnsvm sweep {claim_id}",
            [*names, "status", "gap", "threshold", "note"],
            [(*(r[part_of[kind]][key] for (kind, key), _ in grid), r["evidence"]["status"],
              r["evidence"]["gap"], r["evidence"]["threshold"], r["evidence"]["note"])
             for r in results],
        )
    if out_path is not None:
        atomic_write_text(out_path, json.dumps(to_jsonable(payload), indent=2) + "\n")
    return 0


COMMANDS = [list_cmd, check_cmd, hunt_cmd, replay_cmd, sweep_cmd]
