"""The documentation ships with the code: the claims reference is generated from the registry and
not stale, and nothing shipped cites the team's internal notes instead of the papers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from attnsvm.properties.claims_reference import claims_markdown
from attnsvm.properties.registry import BUILTIN_MODULES, all_claims

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
           *sorted((ROOT / "docs").glob("*.md")),
           *(p for d in ("attnsvm", "reference", "symbolic", "properties")
             for p in sorted((ROOT / d).rglob("*.py")))]
NOTES = re.compile(r"(?i:catalog|research/|unverified)|DESIGN\.md")


def test_claims_reference_is_current() -> None:
    builtin = [c for c in all_claims().values() if c.origin in BUILTIN_MODULES]
    expected = claims_markdown(builtin)
    current = (ROOT / "docs" / "claims.md").read_text()
    assert current == expected, "docs/claims.md is stale: attnsvm list --markdown > docs/claims.md"


@pytest.mark.parametrize("path", SHIPPED, ids=[str(p.relative_to(ROOT)) for p in SHIPPED])
def test_shipped_text_cites_papers_not_internal_notes(path: Path) -> None:
    hits = [f"{i}: {line.strip()}" for i, line in enumerate(path.read_text().splitlines(), 1)
            if NOTES.search(line)]
    assert not hits, f"{path.relative_to(ROOT)} cites internal notes:\n" + "\n".join(hits[:10])
