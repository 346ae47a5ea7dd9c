"""``attnsvm derive``: state, render and verify the symbolic derivations (symbolic/registry.py).

    attnsvm derive --list                 names, titles and sources
    attnsvm derive NAME [--latex]         the statement (plain text, or LaTeX)
    attnsvm derive NAME --verify          run its symbolic verification: exit 0 iff it holds, else 1
    attnsvm derive --all [--verify]       every derivation
    --json                                one JSON object on stdout

An unknown NAME, or a missing/contradictory selection, exits 2 with one line on stderr. sympy is
imported only when the command runs, so other commands start fast.
"""

from __future__ import annotations

from typing import Any

import click

from attnsvm.properties.cli.common import EXIT_MISMATCH, BadInput, emit_json, emit_table


def _registry() -> Any:
    from attnsvm.symbolic import registry

    return registry


def _statement_payload(derivation: Any, latex: bool) -> dict[str, Any]:
    import sympy as sp

    from attnsvm.symbolic.core import plain

    items = derivation.labelled_statement()
    return {
        "name": derivation.name,
        "title": derivation.title,
        "source": derivation.source,
        "summary": derivation.summary,
        "statement": [
            {"label": label, "text": plain(expr), **({"latex": sp.latex(expr)} if latex else {})}
            for label, expr in items
        ],
        "predicates": sorted(derivation.predicates),
    }


def _verification_payload(derivation: Any) -> dict[str, Any]:
    result = derivation.verify()
    return {
        "name": derivation.name,
        "holds": result.holds,
        "details": result.details,
        "seconds": round(result.seconds, 3),
        "checks": [
            {"name": c.name, "holds": c.holds, "detail": c.detail, "seconds": round(c.seconds, 3)}
            for c in result.checks
        ],
    }


def _print_statement(payload: dict[str, Any], latex: bool) -> None:
    click.echo(f"{payload['name']}: {payload['title']}")
    click.echo(f"source: {payload['source']}")
    click.echo(payload["summary"])
    for item in payload["statement"]:
        body = item["latex"] if latex else item["text"]
        click.echo(f"  {item['label']}: {body}")
    click.echo(f"predicates: {', '.join(payload['predicates']) or '-'}")


def _print_verification(payload: dict[str, Any]) -> None:
    rows = [(c["name"], "holds" if c["holds"] else "FAILS", c["seconds"], c["detail"])
            for c in payload["checks"]]
    verdict = "holds" if payload["holds"] else "DOES NOT HOLD"
    emit_table(f"{payload['name']}: {verdict} ({payload['details']})",
               ("check", "verdict", "s", "detail"), rows)


@click.command("derive")
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the derivations.")
@click.option("--all", "all_", is_flag=True, help="Apply to every derivation.")
@click.option("--latex", is_flag=True, help="Print the statement in LaTeX.")
@click.option("--verify", is_flag=True, help="Run the symbolic verification (exit 1 if it fails).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
def derive(
    name: str | None, list_: bool, all_: bool, latex: bool, verify: bool, as_json: bool
) -> int:
    """State, render (--latex) or verify (--verify) the symbolic derivations.

    Example: attnsvm derive gradient --verify"""
    registry = _registry()
    if list_:
        if name or all_ or verify or latex:
            raise BadInput("--list takes no NAME and no --all/--verify/--latex")
        rows = [(d.name, d.title, d.source) for d in registry.DERIVATIONS.values()]
        if as_json:
            emit_json({"derivations": [dict(zip(("name", "title", "source"), r, strict=True))
                                       for r in rows]})
        else:
            emit_table("derivations", ("name", "title", "source"), rows)
        return 0
    if name and all_:
        raise BadInput("give either NAME or --all, not both")
    if not name and not all_:
        raise BadInput("give a derivation NAME, --all or --list (see attnsvm derive --list)")
    if name:
        try:
            selected = [registry.get(name)]
        except KeyError as exc:
            raise BadInput(str(exc.args[0])) from None
    else:
        selected = list(registry.DERIVATIONS.values())

    if verify:
        payloads = [_verification_payload(d) for d in selected]
        holds = all(p["holds"] for p in payloads)
        if as_json:
            emit_json({"holds": holds, "derivations": payloads})
        else:
            for p in payloads:
                _print_verification(p)
            if len(payloads) > 1:
                failed = [p["name"] for p in payloads if not p["holds"]]
                click.echo(f"{len(payloads) - len(failed)}/{len(payloads)} derivations hold"
                           + (f"; failing: {', '.join(failed)}" if failed else ""))
        if not holds:
            raise click.exceptions.Exit(EXIT_MISMATCH)
        return 0

    payloads = [_statement_payload(d, latex) for d in selected]
    if as_json:
        emit_json({"derivations": payloads})
    else:
        for i, p in enumerate(payloads):
            if i:
                click.echo("")
            _print_statement(p, latex)
    return 0


COMMANDS = [derive]
