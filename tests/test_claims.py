"""Every claim in the registry under the ci profile, through the attnsvm pytest plugin's
``assert_claim`` (limits must find their counterexample within the budget), plus the registry's
machinery: declared keys, verdict aggregation, records, replay, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from attnsvm.properties.cli import main
from attnsvm.properties.records import replay, save_counterexample, write_record
from attnsvm.properties.registry import (
    BUILTIN_MODULES,
    Claim,
    Source,
    all_claims,
    evidence_of,
    get_claim,
)
from attnsvm.properties.runner import run_claim
from attnsvm.properties.verdicts import Evidence, Expected, Verdict, matches, verdict_from
from attnsvm.testing import assert_claim

CLAIM_IDS = list(all_claims())
SAVED = sorted((Path(__file__).parent / "counterexamples").glob("*.json"))


@pytest.mark.parametrize("claim_id", CLAIM_IDS)
def test_claim_verdict_matches_expectation(claim_id: str) -> None:
    """Through the plugin's assert_claim; the same run records which tolerance and protocol keys
    the checks read: a declared key no check reads is dead data (an undeclared one raises)."""
    reads: dict[str, set[str]] = {}
    report = assert_claim(claim_id, reads=reads)
    assert report.tried >= 1
    claim = get_claim(claim_id)
    assert reads["tolerances"] == set(claim.tolerances), (claim_id, reads)
    assert reads["protocol"] == set(claim.protocol), (claim_id, reads)


def test_every_claim_record_is_complete() -> None:
    for claim in all_claims().values():
        assert isinstance(claim, Claim) and isinstance(claim.source, Source)
        assert claim.source.arxiv or claim.origin not in BUILTIN_MODULES, claim.id
        assert claim.statement and claim.conditions and claim.samples, claim.id
        assert isinstance(claim.expected, Expected)
        assert claim.examples_for("deep") >= claim.examples_for("ci") >= 0


def test_builtin_sources_cite_papers_not_notes() -> None:
    for claim in all_claims().values():
        text = str(claim.source) + claim.statement + claim.conditions
        assert "catalog" not in text.lower() and "claims-" not in text, claim.id


@pytest.mark.parametrize(
    ("statuses", "expected", "verdict"),
    [
        (["ok", "ok"], Expected.HOLDS, Verdict.HELD),
        (["ok", "counterexample"], Expected.HOLDS, Verdict.VIOLATED),
        (["ok", "counterexample"], Expected.FAILS, Verdict.LIMIT_CONFIRMED),
        (["ok"], Expected.FAILS, Verdict.HELD),
        (["inconclusive", "out_of_scope"], Expected.HOLDS, Verdict.INCONCLUSIVE),
        (["out_of_scope"], Expected.HOLDS, Verdict.OUT_OF_SCOPE),
        (["inconclusive", "ok"], Expected.OPEN, Verdict.HELD),
    ],
)
def test_verdict_aggregation(statuses, expected, verdict) -> None:
    assert verdict_from(statuses, expected) is verdict


def test_expectation_matching() -> None:
    assert matches(Verdict.HELD, Expected.HOLDS)
    assert not matches(Verdict.INCONCLUSIVE, Expected.HOLDS)
    assert not matches(Verdict.HELD, Expected.FAILS)
    assert matches(Verdict.VIOLATED, Expected.OPEN)
    assert matches(Verdict.INCONCLUSIVE, Expected.HOLDS, known=Verdict.INCONCLUSIVE)
    assert not matches(Verdict.HELD, Expected.HOLDS, known=Verdict.INCONCLUSIVE)


def test_counterexample_round_trip(tmp_path) -> None:
    report = run_claim("tfsvm.feasible-underparam", "ci")
    cex = report.counterexample
    assert cex is not None
    path = save_counterexample(
        tmp_path, "tfsvm.feasible-underparam", cex["spec"], Evidence.from_dict(cex["evidence"])
    )
    record = json.loads(path.read_text())
    assert record["claim"] == "tfsvm.feasible-underparam" and "numpy" in record["versions"]
    assert (tmp_path / record["problem"]).exists()
    assert not list(tmp_path.glob(".*"))  # atomic writes leave no temporaries
    out = replay(path)
    assert out["reproduced"] and out["evidence_identical"] and out["problem_identical"]


def test_replay_detects_tampering(tmp_path) -> None:
    report = run_claim("tfsvm.feasible-underparam", "ci")
    cex = report.counterexample
    path = save_counterexample(
        tmp_path, "tfsvm.feasible-underparam", cex["spec"], Evidence.from_dict(cex["evidence"])
    )
    record = json.loads(path.read_text())
    record["evidence"]["gap"] = record["evidence"]["gap"] + 1.0
    path.write_text(json.dumps(record))
    assert not replay(path)["reproduced"]


@pytest.mark.parametrize("path", SAVED, ids=[p.stem for p in SAVED])
def test_saved_counterexamples_replay(path: Path) -> None:
    """Bit for bit on the machine that recorded them; elsewhere (other SIMD paths for exp/log)
    the same status with every number within REPLAY_RTOL, and identical problem arrays."""
    out = replay(path)
    assert out["reproduced"] and out["problem_identical"] is not False, out
    assert out["status"] == "counterexample"


def test_cli_list_check_hunt_replay(tmp_path, capsys) -> None:
    assert main(["list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["claims"]
    assert {c["id"] for c in listed} == set(CLAIM_IDS)
    report = tmp_path / "report.json"
    code = main(
        [
            "check",
            "tfsvm.feasible-overparam",
            "tfsvm.feasible-underparam",
            "--workers",
            "1",
            "--output",
            str(report),
        ]
    )
    capsys.readouterr()
    assert code == 0
    payload = json.loads(report.read_text())
    assert payload["all_match"] and len(payload["claims"]) == 2
    code = main(
        [
            "hunt",
            "tfsvm.feasible-underparam",
            "--max-examples",
            "5",
            "--out",
            str(tmp_path / "cex"),
            "--json",
        ]
    )
    hunt = json.loads(capsys.readouterr().out)
    assert code == 0 and hunt["counterexamples"]
    assert main(["replay", hunt["counterexamples"][0]]) == 0
    capsys.readouterr()


def test_cli_bad_claim_ids_exit_2(capsys) -> None:
    assert main(["check", "no.such-claim"]) == 2
    assert main(["hunt", "no.such-claim"]) == 2
    assert main(["replay", "/nonexistent/record.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("Traceback" not in line for line in err)


def test_get_claim_returns_the_record() -> None:
    claim = get_claim("tfsvm.rank-lemma")
    assert claim.expected is Expected.HOLDS


def test_cli_sweep_grid(tmp_path, capsys) -> None:
    out = tmp_path / "sweep.json"
    code = main(["sweep", "tfsvm.feasible-underparam", "--set", "seed=0,1", "--set", "d=1,2",
                 "--workers", "1", "--output", str(out)])
    capsys.readouterr()
    assert code == 0
    results = json.loads(out.read_text())["results"]
    assert [(r["spec"]["seed"], r["spec"]["d"]) for r in results] == [(0, 1), (0, 2), (1, 1),
                                                                       (1, 2)]
    direct = evidence_of(get_claim("tfsvm.feasible-underparam"), results[0]["spec"])
    assert results[0]["evidence"] == json.loads(json.dumps(direct.as_dict()))
    assert main(["sweep", "tfsvm.feasible-underparam", "--set", "nope=1"]) == 2
    assert main(["sweep", "tfsvm.feasible-underparam", "--set", "seed"]) == 2
    assert main(["sweep", "tfsvm.feasible-underparam", "--set", "protocol.seed=1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3


def test_cli_sweep_over_protocol_and_tolerance_keys(tmp_path, capsys) -> None:
    """Every claim is sweepable over its protocol and tolerances, not only its instance."""
    claim = get_claim("fwp.linear-attention")
    (tol_key, tol_value), = list(claim.tolerances.items())[:1]
    out = tmp_path / "sweep.json"
    code = main(["sweep", claim.id, "--set", f"tolerances.{tol_key}={tol_value},-1",
                 "--workers", "1", "--output", str(out)])
    capsys.readouterr()
    assert code == 0
    results = json.loads(out.read_text())["results"]
    assert [r["tolerances"][tol_key] for r in results] == [tol_value, -1]
    assert [r["evidence"]["status"] for r in results] == ["ok", "counterexample"]


def test_replay_tolerates_last_bit_differences_but_not_more(tmp_path) -> None:
    report = run_claim("tfsvm.feasible-underparam", "ci")
    cex = report.counterexample
    path = save_counterexample(tmp_path, "tfsvm.feasible-underparam", cex["spec"],
                               Evidence.from_dict(cex["evidence"]))
    record = json.loads(path.read_text())
    record["evidence"]["threshold"] *= 1 + 1e-12  # another machine's last bits
    write_record(path, record)
    out = replay(path)
    assert out["reproduced"] and not out["evidence_identical"]
    assert 0 < out["max_relative_difference"] <= 1e-9
    record["evidence"]["status"] = "ok"
    write_record(path, record)
    assert not replay(path)["reproduced"]
