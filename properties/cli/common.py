"""Shared command-line plumbing: error mapping, JSON/table output, problem loading."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import AttnsvmError, InfeasibleSVM, ProblemError

EXIT_OK, EXIT_MISMATCH, EXIT_BAD_INPUT, EXIT_INFEASIBLE = 0, 1, 2, 3

stderr_console = Console(stderr=True)


class BadInput(click.ClickException):
    """Raised by commands for invalid arguments; printed as one line, exit code 2."""

    exit_code = EXIT_BAD_INPUT


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def run_group(group: click.Group, argv: list[str] | None) -> int:
    """Run a click group with attnsvm's exit-code contract and never show a traceback for input."""
    try:
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
        click.echo(
            json.dumps({"status": "infeasible", "certificate": to_jsonable(exc.certificate)})
        )
        click.echo(f"attnsvm: infeasible: {_one_line(str(exc))}", err=True)
        code = EXIT_INFEASIBLE
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


def load_problem(path: str) -> AttentionProblem:
    """Load an .npz problem; any defect becomes a ProblemError (exit 2)."""
    return AttentionProblem.load(path)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays (recursively) into plain JSON types."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    return obj


def emit_json(payload: Mapping[str, Any]) -> None:
    click.echo(json.dumps(to_jsonable(payload)))


def emit_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a rich table on stdout."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(fmt(x) for x in row))
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)


def fmt(x: Any) -> str:
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.6g}"
    return str(x)
