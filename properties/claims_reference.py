"""The claims reference docs/claims.md, rendered from the registry: `attnsvm list --markdown`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from attnsvm.properties.registry import Claim

HEADER = """# Claims reference

Generated from the registry by `attnsvm list --markdown` (a test fails when this file is stale).
Each claim is one record: its statement, the premises the runner evaluates, its source (the paper,
arXiv id and place; *unconfirmed* marks a theorem number or value not yet checked against the
paper's text), the expected verdict (`holds`: a theorem; `fails`: a limit, a counterexample must
exist; `open`: empirical), the tolerances it is judged by and the protocol it runs.
"""


def _value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, str) else v


def _mapping(m: dict[str, Any]) -> str:
    return ", ".join(f"`{k}` = {_value(v)}" for k, v in m.items()) or "none"


def claim_markdown(c: Claim) -> str:
    """One claim's section."""
    s = c.source
    source = f"{s.paper}" + (f", arXiv [{s.arxiv}](https://arxiv.org/abs/{s.arxiv})"
                             if s.arxiv else "")
    source += (f", {s.where}" if s.where else "") + ("" if s.confirmed else " *(unconfirmed)*")
    lines = [
        f"## `{c.id}`",
        "",
        c.statement,
        "",
        f"- **expected:** {c.expected.value}"
        + ("" if c.known is None else f"; accepted finding: {c.known.verdict.value} "
           f"({c.known.reason})"),
        f"- **source:** {source}",
        "- **premises:** " + ("; ".join(f"`{p.name}` ({p.text})" for p in c.premises) or "none"),
        f"- **tolerances:** {_mapping(c.tolerances)}",
        f"- **protocol:** {_mapping(c.protocol)}",
        f"- **budget (examples per profile):** {_mapping(dict(c.budget))}",
        f"- **samples:** {len(c.samples)} fixed instance(s), e.g. `{json.dumps(c.samples[0])}`",
    ]
    return "\n".join(lines) + "\n"


def claims_markdown(claims: Iterable[Claim]) -> str:
    """The whole reference: a header, an index by area, then one section per claim."""
    claims = list(claims)
    areas: dict[str, list[Claim]] = {}
    for c in claims:
        areas.setdefault(c.id.split(".", 1)[0], []).append(c)
    index = [f"- **{a}** ({len(cs)}): " + ", ".join(f"`{c.id}`" for c in cs)
             for a, cs in areas.items()]
    body = "\n".join(claim_markdown(c) for c in claims)
    return f"{HEADER}\n{len(claims)} claims.\n\n" + "\n".join(index) + "\n\n" + body
