"""One CLI convention: --json prints one JSON document, files go to --output, tables fit the
terminal without truncating the claim id, every --help shows an example, records keep the umask."""

from __future__ import annotations

import json
import os
import stat

import pytest

from attnsvm.properties.cli import cli, main


def test_check_and_sweep_json_print_one_document(capsys) -> None:
    assert main(["check", "tfsvm.feasible-underparam", "--workers", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["all_match"] and report["claims"][0]["id"] == "tfsvm.feasible-underparam"
    assert main(["sweep", "tfsvm.feasible-underparam", "--set", "seed=0,1", "--workers", "1",
                 "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["results"]) == 2


@pytest.mark.parametrize("columns", [60, 80, 200])
def test_tables_fit_the_terminal_and_keep_the_claim_id(columns, monkeypatch, capsys) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    ids = ["tfsvm.overparam-global-fraction", "tfsvm.feasible-underparam"]
    assert main(["check", *ids, "--workers", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= columns
    for claim_id in ids:
        assert any(claim_id in line for line in lines), (claim_id, lines)


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_help_shows_an_example(name, capsys) -> None:
    assert main([name, "--help"]) == 0
    assert "Example:" in capsys.readouterr().out


def test_replay_of_a_problem_file_says_what_it_expected(tmp_path, capsys) -> None:
    problem = tmp_path / "p.npz"
    assert main(["make-problem", "--n", "2", "--T", "3", "--d", "4", "--out", str(problem)]) == 0
    capsys.readouterr()
    assert main(["replay", str(problem)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is a problem file, not a counterexample record" in err and "\n" not in err


def test_records_are_written_with_the_users_umask(tmp_path, capsys) -> None:
    old = os.umask(0o022)
    try:
        assert main(["hunt", "tfsvm.feasible-underparam", "--max-examples", "3", "--out",
                     str(tmp_path), "--json"]) == 0
    finally:
        os.umask(old)
    saved = json.loads(capsys.readouterr().out)["counterexamples"]
    for path in saved:
        for f in (path, path.replace(".json", ".npz")):
            assert stat.S_IMODE(os.stat(f).st_mode) == 0o644, f


def test_unusable_output_paths_are_refused_before_any_work(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["check", "tfsvm.rank-lemma", "--output", str(blocker / "r.json")]) == 2
    assert main(["check", "tfsvm.rank-lemma", "--output", str(tmp_path)]) == 2
    assert main(["hunt", "tfsvm.rank-lemma", "--out", str(blocker)]) == 2
    assert main(["sweep", "tfsvm.rank-lemma", "--output", ""]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(x.startswith("attnsvm: error:") for x in err), err
    assert blocker.read_text() == "x"
