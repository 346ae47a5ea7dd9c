"""The attnsvm pytest plugin and ``assert_claim`` (registered through the ``pytest11`` entry
point, so it is active in any test run where attnsvm is installed).

Options:
    ``--attnsvm-profile ci|dev|deep``  the hypothesis profile claims run under (default: the
        ``HYPOTHESIS_PROFILE`` environment variable, else ``ci``);
    ``--attnsvm-claims PATH_OR_MODULE``  load more claims (repeatable), as ``attnsvm --claims``.

Fixtures: ``attnsvm_profile`` (the profile name) and ``attention_problem`` (a factory of seeded
problems of the named families, ``attention_problem("paper", n=4, T=5, d=6, seed=0)``).

``assert_claim(claim_or_id)`` runs a claim (its samples, then the hypothesis search of the
profile) and fails the test with the claim's repro (the instance, gap vs threshold, and the
``attnsvm check ID --instance '<json>'`` command that re-runs it) when the verdict differs from
the expectation.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from attnsvm.properties.registry import Claim
    from attnsvm.properties.runner import ClaimReport
    from attnsvm.reference.attention.problem import AttentionProblem

PROFILES = ("ci", "dev", "deep")
_state: dict[str, str] = {}


def default_profile() -> str:
    """The profile claims run under: ``--attnsvm-profile``, else HYPOTHESIS_PROFILE, else ci."""
    return _state.get("profile") or os.environ.get("HYPOTHESIS_PROFILE") or "ci"


def assert_claim(claim: Claim | str, profile: str | None = None, **kw: Any) -> ClaimReport:
    """Run ``claim`` (a ``Claim`` record or a registered id) and fail with its repro unless the
    verdict matches the expectation; returns the report. Keyword arguments go to ``run_claim``
    (``max_examples``, ``tolerances``, ``protocol``, ``instances``)."""
    from attnsvm.properties.runner import run_claim

    report = run_claim(claim, profile or default_profile(), **kw)
    if not report.matches:
        pytest.fail(report.failure_message(), pytrace=False)
    return report


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("attnsvm", "attnsvm claims")
    group.addoption("--attnsvm-profile", choices=PROFILES, default=None,
                    help="hypothesis profile for attnsvm claims (default: $HYPOTHESIS_PROFILE "
                    "or ci)")
    group.addoption("--attnsvm-claims", action="append", default=[], metavar="PATH_OR_MODULE",
                    help="load the claims of this file or module (repeatable)")


def pytest_configure(config: pytest.Config) -> None:
    profile = config.getoption("--attnsvm-profile", default=None)
    if profile:
        _state["profile"] = profile
    sources = config.getoption("--attnsvm-claims", default=None) or []
    if sources:
        from attnsvm.properties.registry import load_sources

        load_sources(sources)


def pytest_report_header(config: pytest.Config) -> str:
    return f"attnsvm: claims run under the {default_profile()!r} profile"


@pytest.fixture
def attnsvm_profile() -> str:
    """The hypothesis profile attnsvm claims run under in this session."""
    return default_profile()


@pytest.fixture
def attention_problem() -> Callable[..., AttentionProblem]:
    """A factory of seeded problems: ``attention_problem(family="paper", n=4, T=5, d=6,
    seed=0, **options)`` (families: paper, equal-scores, near-tie)."""
    from attnsvm.reference.attention.families import make_problem

    def make(family: str = "paper", n: int = 4, T: int = 5, d: int = 6, seed: int = 0,
             **options: Any) -> AttentionProblem:
        return make_problem(family, n, T, d, seed, **options)

    return make
