"""``attnsvm reproduce``: rerun the papers' experiments and report, figure by figure, where the
suite agrees (issue 6; TF-SVM arXiv 2308.16898 and MMTS arXiv 2306.13596).

Writes <out>/<name>.png, <out>/<name>.json, <out>/REPORT.md and, last, <out>/MANIFEST.json
(an interrupted run leaves <out>/INCOMPLETE instead); progress goes to stderr. The experiments
whose grids run on the sweep machinery keep their finished tasks in <out>/sweeps (or --cache):
rerunning into the same folder resumes an interrupted run and recomputes nothing.
Exit 0 when the experiments ran (a "differs" row is a finding, not a failure), 2 on an unknown
experiment name or an unusable --out / --seed (checked before any work), 130 on Ctrl-C.
"""

from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from threadpoolctl import threadpool_limits

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table


@click.command("reproduce")
@click.argument("names", nargs=-1)
@click.option("--quick", is_flag=True, help="Fewer runs and smaller grids (about 2 minutes).")
@click.option("--out", "out", type=str, default="attnsvm-reproduce",
              show_default=True, help="Output directory.")
@click.option("--seed", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True)
@click.option("--cache", "cache", type=str, default=None,
              help="Where finished tasks of svm_rank and global_fraction are kept, so that a "
              "rerun resumes instead of recomputing [default: OUT/sweeps].")
@click.option("--no-cache", "no_cache", is_flag=True,
              help="Keep no task results: recompute every task.")
@click.option("--workers", type=click.IntRange(1, None), default=1, show_default=True,
              help="Processes for the tasks of svm_rank and global_fraction (1: this process).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON summary on stdout.")
def reproduce_cmd(names: tuple[str, ...], quick: bool, out: str, seed: int, cache: str | None,
                  no_cache: bool, workers: int, as_json: bool) -> int:
    """Reproduce the experiments NAMES (default: all) and write figures, data and REPORT.md.

    Experiments: local_convergence, svm_rank, global_fraction, nonlinear_head,
    regularization_path, mmts.

    Example: attnsvm reproduce svm_rank --quick --out reproduce-out/
    """
    from attnsvm.properties.files import writable_dir
    from attnsvm.properties.reproduce import EXPERIMENTS
    from attnsvm.properties.reproduce.report import reproduce, unknown_names

    bad = unknown_names(names)
    if bad:
        raise BadInput(
            f"unknown experiment {', '.join(bad)}; choose from {', '.join(EXPERIMENTS)}"
        )
    writable_dir(out, "out")
    if cache is not None and no_cache:
        raise BadInput("--cache and --no-cache: choose one")
    if cache is not None:
        writable_dir(cache, "cache")
    chosen = [n for n in EXPERIMENTS if not names or n in names]
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("reproduce", total=len(chosen))
        done: list[str] = []

        def progress(name: str, stage: str) -> None:
            if done and done[-1] != name:
                bar.advance(task)
            if not done or done[-1] != name:
                done.append(name)
            bar.update(task, description=f"{name}: {stage}")

        # one BLAS thread: the batched arrays are small (more threads only oversubscribe a
        # shared machine), and a fixed thread count keeps the JSON bitwise reproducible
        with threadpool_limits(limits=1):
            written = reproduce(list(names), out, quick=quick, seed=seed, progress=progress,
                                cache=False if no_cache else (cache or True), workers=workers)
        bar.update(task, completed=len(chosen))
    report = f"{out}/REPORT.md"
    if as_json:
        emit_json({
            "out": out, "report": report, "seed": seed, "quick": quick,
            "seconds": sum(w.seconds for w in written),
            "experiments": [
                {"name": w.result.name, "title": w.result.title, "agreed": w.result.agreed,
                 "differs": w.result.differs, "seconds": w.seconds, "json": str(w.json_path),
                 "png": str(w.png_path),
                 "comparison": [c.as_dict() for c in w.result.comparison]}
                for w in written
            ],
        })
        return 0
    emit_table(
        f"attnsvm reproduce ({'quick' if quick else 'full'}, seed {seed}) -> {report}",
        ["experiment", "agreed", "differs", "seconds", "figure"],
        [(w.result.name, w.result.agreed, w.result.differs, f"{w.seconds:.1f}", str(w.png_path))
         for w in written],
    )
    return 0


COMMANDS = [reproduce_cmd]
