"""The ``attnsvm`` command line (docs/design.md, "Command line").

Exit codes: 0 success, 1 a check did not match its expectation, 2 bad input (one line on stderr,
no traceback), 3 an SVM is proved infeasible (its certificate is printed as JSON on stdout), 4 an
SVM is infeasible at working precision (a certificate that vanishes to 1e-9 but not exactly; the
program may be feasible with a huge ||W||).
Each command lives in a small module of this package; ``COMMAND_MODULES`` lists them.
"""

from __future__ import annotations

import importlib

import click

from attnsvm.properties.cli.common import run_group

COMMAND_MODULES = (
    "attnsvm.properties.cli.derive_cmd",
    "attnsvm.properties.cli.numerics_cmds",
    "attnsvm.properties.cli.solve_cmd",
    "attnsvm.properties.cli.claims_cmds",
    "attnsvm.properties.cli.reproduce_cmd",
    "attnsvm.properties.cli.inspect_cmd",
    "attnsvm.properties.cli.ntp_cmd",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="attnsvm")
def cli() -> None:
    """attnsvm: check the softmax-attention / hard-margin SVM equivalence and hunt its limits."""


for _name in COMMAND_MODULES:
    for _command in importlib.import_module(_name).COMMANDS:
        cli.add_command(_command)


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point; returns (and exits with) the process exit code."""
    return run_group(cli, argv)
