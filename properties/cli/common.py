"""Shared command-line plumbing: error mapping, JSON/table output, problem loading."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import (
    AttnsvmError,
    InfeasibleAtWorkingPrecision,
    InfeasibleSVM,
    ProblemError,
)

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3
EXIT_INFEASIBLE_WORKING_PRECISION = 4

stderr_console = Console(stderr=True)


class BadInput(click.ClickException):
    """Raised by commands for invalid arguments; printed as one line, exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


@contextlib.contextmanager
def quiet_numerics() -> Iterator[None]:
    """numpy's floating-point RuntimeWarnings (overflow in exp, invalid value, ...) are not shown:
    a command's output is its result, or one error line. Only the reporting is silenced
    (``np.errstate`` and the warning filters decide whether a message is printed, never a
    value), so results do not change. Worker processes started meanwhile inherit the filter
    through ``PYTHONWARNINGS``."""
    key = "PYTHONWARNINGS"
    old = os.environ.get(key)
    os.environ[key] = ",".join(x for x in (old, "ignore::RuntimeWarning") if x)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


def run_group(group: click.Group, argv: list[str] | None) -> int:
    """Run a click group with attnsvm's exit-code contract and never show a traceback for input."""
    try:
        with quiet_numerics():
            rv = group.main(args=argv, prog_name="attnsvm", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.Abort:
        click.echo("attnsvm: aborted", err=True)
        code = 130
    except click.ClickException as exc:  # usage errors, BadInput
        click.echo(f"attnsvm: error: {_one_line(exc.format_message())}", err=True)
        code = EXIT_BAD_INPUT
    except InfeasibleSVM as exc:
        code = report_infeasible(exc)
    except ProblemError as exc:
        click.echo(f"attnsvm: error: {_one_line(str(exc))}", err=True)
        code = EXIT_BAD_INPUT
    except AttnsvmError as exc:
        click.echo(f"attnsvm: error: {_one_line(str(exc))}", err=True)
        code = EXIT_BAD_INPUT
    else:
        code = rv if isinstance(rv, int) else EXIT_OK
    if argv is None:
        sys.exit(code)
    return code


def infeasible_payload(exc: InfeasibleSVM) -> dict[str, Any]:
    """{"status": ..., "certificate": ...} for an infeasible program (no NaN/Infinity)."""
    return {"status": exc.status, "certificate": to_jsonable(dict(exc.certificate))}


def report_infeasible(exc: InfeasibleSVM) -> int:
    """Print the certificate JSON (stdout) and one line (stderr); returns the exit code."""
    click.echo(json.dumps(infeasible_payload(exc), allow_nan=False))
    if isinstance(exc, InfeasibleAtWorkingPrecision):
        cert = exc.certificate
        res = cert.get("residual")
        extra = f"; certificate residual {res:.3e}" if isinstance(res, float) else ""
        click.echo(f"attnsvm: infeasible at working precision: {_one_line(str(exc))}{extra}",
                   err=True)
        return EXIT_INFEASIBLE_WORKING_PRECISION
    click.echo(f"attnsvm: infeasible: {_one_line(str(exc))}", err=True)
    return EXIT_INFEASIBLE


def load_problem(path: str) -> AttentionProblem:
    """Load an .npz problem; any defect becomes a ProblemError (exit 2)."""
    return AttentionProblem.load(path)


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types, recursively (numpy scalars and arrays converted); a non-finite float
    becomes None, so no command ever prints NaN or Infinity."""
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.floating, float)) and not isinstance(obj, bool):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def emit_json(payload: Mapping[str, Any]) -> None:
    """One strict JSON document on stdout."""
    click.echo(json.dumps(to_jsonable(payload), allow_nan=False))


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
               optional: Sequence[int] = ()) -> None:
    """Print a rich table on stdout at the terminal's width (``COLUMNS`` when piped, else 80).
    The first column (the key, e.g. a claim id) is never truncated; when the table does not fit,
    the ``optional`` columns are dropped in the order given, then the others wrap."""
    cells = [[fmt(x) for x in row] for row in rows]
    console = Console()
    keep = list(range(len(columns)))

    def natural_width() -> int:
        widths = [max([len(str(columns[i])), *(len(r[i]) for r in cells)]) for i in keep]
        return sum(widths) + 3 * len(keep) + 1

    for i in optional:
        if natural_width() <= console.width:
            break
        keep.remove(i)
    table = Table(title=title)
    for i in keep:
        if i == 0:
            key_width = max([len(str(columns[0])), *(len(r[0]) for r in cells)])
            table.add_column(columns[i], no_wrap=True, min_width=key_width)
        else:
            table.add_column(columns[i], overflow="fold")
    for row in cells:
        table.add_row(*(row[i] for i in keep))
    console.print(table)


def fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    return str(x)
