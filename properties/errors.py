"""Errors of the claims layer."""

from __future__ import annotations

from attnsvm.reference.errors import AttnsvmError


class ClaimError(AttnsvmError, ValueError):
    """A malformed claim record or claims source; ``field`` names the offending field (the CLI
    prints it as one line and exits 2)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")
