"""Sweeps as resumable phase diagrams (properties/sweeps.py, `attnsvm sweep`): the tidy table, the
Wilson intervals, resuming from DIR (after a rerun, an interrupt, a cut line), seeds, a local
worker that dies, the JSON document and the heatmap."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from attnsvm.properties.cli import main
from attnsvm.properties.registry import get_claim, isolated_registry, load_claims
from attnsvm.properties.sweeps import (
    CELL_COLUMNS,
    FIGURE,
    RESULTS_FILE,
    TABLE_CSV,
    TABLE_JSON,
    ResultStore,
    evaluate_task,
    function_task,
    run_function_sweep,
    run_sweep,
)
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.stats import wilson

TOY_ID = "toy.sweepable"


def toy_claims_file(directory: Path, *, sleep: float = 0.0, die_seed: int = -1,
                    claim_id: str = TOY_ID) -> Path:
    """A claims file with one cheap claim whose gap is a fixed function of (seed, x) and whose
    check, when the seed is ``die_seed``, SIGKILLs its own worker the first time (a marker file
    beside the claims file records it): a worker dying mid-task."""
    path = directory / "toy_claims.py"
    marker = directory / "died.marker"
    path.write_text(textwrap.dedent(f'''
        import os, signal, time
        from pathlib import Path
        from hypothesis import strategies as st
        from attnsvm.properties.registry import Claim, Source
        from attnsvm.properties.verdicts import Evidence

        def check(instance, tol, protocol):
            time.sleep(protocol["sleep"])
            if instance["seed"] == protocol["die_seed"] and not Path({str(marker)!r}).exists():
                Path({str(marker)!r}).write_text(str(os.getpid()))
                os.kill(os.getpid(), signal.SIGKILL)
            if instance["x"] < 0:
                return Evidence("out_of_scope", float("nan"), float("nan"), note="x < 0")
            gap = ((instance["seed"] * 7919 + instance["x"] * 104729) % 1000) / 1000
            return Evidence.judge(gap, tol["threshold"])

        CLAIMS = [Claim(
            id={claim_id!r}, source=Source("a toy for the sweep tests"),
            statement="The toy gap stays below the threshold.",
            instances=st.fixed_dictionaries({{"seed": st.integers(0, 10**6),
                                              "x": st.integers(0, 5)}}),
            check=check, expected="open", samples=({{"seed": 0, "x": 1}},),
            tolerances={{"threshold": 0.5}},
            protocol={{"sleep": {sleep!r}, "die_seed": {die_seed!r}}},
            budget={{"ci": 3, "dev": 3, "deep": 6}},
        )]
    '''))
    return path


def toy_gap(seed: int, x: int) -> float:
    return ((seed * 7919 + x * 104729) % 1000) / 1000


@pytest.fixture
def toy(tmp_path):
    path = toy_claims_file(tmp_path)
    with isolated_registry():
        load_claims(path)
        yield path


def strip_seconds(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def test_table_counts_wilson_and_median_gap(toy) -> None:
    res = run_sweep(TOY_ID, {"x": [-1, 1, 2], "threshold": [0.5, 0.9]}, seeds=25,
                    workers=1, sources=[str(toy)])
    rows = res.rows
    assert len(rows) == 6 and all(r["tasks"] == r["done"] == 25 for r in rows)
    for row in rows:
        x = row["x"]
        thr = [a for a in res.axes if a.key == "threshold"][0]
        # the tolerance axis is a column named after its key (not a stats column)
        assert thr.name == "tolerances.threshold"
        t = row["tolerances.threshold"]
        if x < 0:
            assert row["out_of_scope"] == 25 and row["decided"] == 0
            assert row["held"] is None and row["median_gap"] is None
            continue
        gaps = [toy_gap(s, x) for s in range(25)]
        ok = sum(g <= t for g in gaps)
        assert (row["ok"], row["counterexample"], row["decided"]) == (ok, 25 - ok, 25)
        assert row["held"] == ok / 25
        assert (row["held_lo"], row["held_hi"]) == wilson(ok, 25)
        assert row["median_gap"] == sorted(gaps)[12]
        assert row["threshold"] == t
    assert list(rows[0]) == ["x", "tolerances.threshold", *CELL_COLUMNS]
    # the seeds replace the instance's seed field: 0..K-1, the same in every cell
    assert [r["seed"] for r in res.results()[:25]] == list(range(25))
    assert res.results()[3]["spec"] == {"seed": 3, "x": -1}


def test_resume_reads_back_and_computes_only_what_is_missing(toy, tmp_path) -> None:
    out = tmp_path / "sweep"
    first = run_sweep(TOY_ID, {"x": [1, 2]}, seeds=5, out_dir=out, workers=1,
                      sources=[str(toy)])
    assert (first.computed, first.reused) == (10, 0)
    again = run_sweep(TOY_ID, {"x": [1, 2]}, seeds=5, out_dir=out, workers=1,
                      sources=[str(toy)])
    assert (again.computed, again.reused) == (0, 10)
    assert again.results() == first.results()
    more = run_sweep(TOY_ID, {"x": [1, 2, 3]}, seeds=8, out_dir=out, workers=1,
                     sources=[str(toy)])
    assert (more.computed, more.reused) == (24 - 10, 10)
    fresh = run_sweep(TOY_ID, {"x": [1, 2, 3]}, seeds=8, workers=1, sources=[str(toy)])
    assert more.results() == fresh.results()
    assert strip_seconds(more.rows) == strip_seconds(fresh.rows)
    # a changed protocol is another key: recomputed, not read back
    other = run_sweep(TOY_ID, {"protocol.sleep": [0.0001]}, seeds=2, out_dir=out, workers=1,
                      sources=[str(toy)])
    assert other.computed == 2
    # a line cut short (the client killed mid-write) is ignored: that task alone is redone
    results = out / RESULTS_FILE
    lines = results.read_text().splitlines(keepends=True)
    results.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])
    redo = run_sweep(TOY_ID, {"protocol.sleep": [0.0001]}, seeds=2, out_dir=out, workers=1,
                     sources=[str(toy)])
    assert (redo.computed, redo.reused) == (1, 1)
    assert all(json.loads(line) for line in results.read_text().splitlines() if
               line.startswith("{") and line.endswith("}"))
    assert not [p.name for p in out.iterdir() if p.name.startswith(f".{TABLE_CSV}")]


def test_second_sweep_into_the_same_folder_is_refused(toy, tmp_path) -> None:
    with ResultStore(tmp_path / "s"), pytest.raises(ProblemError, match="another sweep"):
        run_sweep(TOY_ID, {"x": [1]}, out_dir=tmp_path / "s", workers=1, sources=[str(toy)])


def test_cli_outputs_table_json_and_figure(toy, tmp_path, capsys) -> None:
    out, doc_file = tmp_path / "phase", tmp_path / "doc.json"
    code = main(["sweep", TOY_ID, "--claims", str(toy), "--set", "x=-1,1,2",
                 "--set", "tolerances.threshold=0.3,0.7", "--set", "protocol.die_seed=-1,-2",
                 "--seeds", "6", "--workers", "1", "--out", str(out), "--json",
                 "--output", str(doc_file)])
    captured = capsys.readouterr()
    assert code == 0
    doc = json.loads(captured.out)  # one JSON document on stdout
    assert doc == json.loads(doc_file.read_text())
    assert doc["complete"] and doc["tasks"] == doc["done"] == 3 * 2 * 2 * 6
    assert len(doc["cells"]) == 12 and len(doc["results"]) == 72
    table = json.loads((out / TABLE_JSON).read_text())
    assert "results" not in table and strip_seconds(table["cells"]) == strip_seconds(doc["cells"])
    csv_lines = (out / TABLE_CSV).read_text().splitlines()
    assert csv_lines[0].split(",") == doc["columns"] and len(csv_lines) == 13
    png = (out / FIGURE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    from matplotlib.image import imread

    h, w, _ = imread(out / FIGURE).shape
    assert w > h > 300  # facets side by side
    assert "computed" in captured.err and str(out / FIGURE) in captured.err


@pytest.mark.parametrize("axes", [[], ["--set", "x=1,2"]])
def test_figure_with_fewer_than_two_axes(toy, tmp_path, capsys, axes) -> None:
    out = tmp_path / "f"
    assert main(["sweep", TOY_ID, "--claims", str(toy), *axes, "--seeds", "3",
                 "--workers", "1", "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out / FIGURE).read_bytes()[:4] == b"\x89PNG"


def test_seeds_need_a_seed_field(capsys) -> None:
    assert main(["sweep", "mmts.single-input-global", "--seeds", "3"]) == 2
    assert main(["sweep", "tfsvm.feasible-underparam", "--seeds", "3",
                 "--set", "seed=1,2"]) == 2
    assert main(["sweep", "tfsvm.feasible-underparam", "--seeds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and "no 'seed' field" in err[0] and "--seeds" in err[0]


def test_sweep_without_seeds_keeps_one_row_per_task(capsys) -> None:
    code = main(["sweep", "tfsvm.feasible-underparam", "--set", "d=1,2", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0 and "status" in out and "counterexample" in out


def test_interrupted_sweep_continues_where_it_stopped(tmp_path) -> None:
    """SIGINT to a running `attnsvm sweep --out DIR`: exit 130, the finished tasks are in DIR
    and the partial table is written; the same command then computes only the rest."""
    toy = toy_claims_file(tmp_path, sleep=0.05)
    out = tmp_path / "run"
    args = ["sweep", TOY_ID, "--claims", str(toy), "--set", "x=1,2", "--seeds", "20",
            "--workers", "1", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "attnsvm", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = out / RESULTS_FILE
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if results.is_file() and results.read_text().count("\n") >= 5:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    done = results.read_text().count("\n")
    assert 5 <= done < 40
    partial = json.loads((out / TABLE_JSON).read_text())
    assert not partial["complete"] and partial["done"] == done
    with isolated_registry():
        load_claims(toy)
        claim = get_claim(TOY_ID)
        res = run_sweep(claim, {"x": [1, 2]}, seeds=20, out_dir=out, workers=1,
                        sources=[str(toy)])
        assert (res.computed, res.reused) == (40 - done, done) and res.complete
        for r in res.results():
            expect = evaluate_task(TOY_ID, r["spec"], {}, {}, (str(toy),))["evidence"]
            assert r["evidence"] == expect


def test_a_local_worker_that_dies_costs_its_task_a_retry(tmp_path, capsys) -> None:
    toy = toy_claims_file(tmp_path, die_seed=3)
    with isolated_registry():
        code = main(["sweep", TOY_ID, "--claims", str(toy), "--set", "x=1,2", "--seeds", "6",
                     "--workers", "2", "--json"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert (tmp_path / "died.marker").exists()
        assert "a worker died" in captured.err
        doc = json.loads(captured.out)
        assert doc["complete"] and len(doc["results"]) == 12
        assert [r["evidence"]["gap"] for r in doc["results"]] == [
            toy_gap(s, x) for x in (1, 2) for s in range(6)]


# ------------------------------------------------------------------- sweeps of a plain function
def toy_runs(x: int, seed: int) -> list[dict]:
    """A toy task for function sweeps: two records whose status is a fixed function of
    (x, seed, k)."""
    return [{"k": k, "status": "ok" if (seed * 7 + x * 3 + k) % 4 else "no"} for k in range(2)]


def _toy_tasks(version: str) -> list:
    return [function_task("toy", toy_runs, version, {"x": x}, {"x": x}, s)
            for x in (1, 2) for s in range(5)]


def test_function_sweep_tallies_and_resumes(tmp_path: Path) -> None:
    first = run_function_sweep("toy", toy_runs, _toy_tasks("1"), version="1", out_dir=tmp_path,
                               workers=1)
    assert (first.computed, first.reused) == (10, 0)
    rows = first.rows("ok")
    for row, x in zip(rows, (1, 2), strict=True):
        statuses = [r["status"] for s in range(5) for r in toy_runs(x, s)]
        ok = statuses.count("ok")
        assert (row["x"], row["k"], row["n"]) == (x, ok, 10)
        assert row["statuses"] == {"no": 10 - ok, "ok": ok} and row["fraction"] == ok / 10
        assert row["wilson95"] == list(wilson(ok, 10))
    # a store cut short mid-line: the complete lines are read back, the rest recomputed
    results = tmp_path / RESULTS_FILE
    lines = results.read_text().splitlines()
    results.write_text("\n".join(lines[:7]) + "\n" + lines[7][:30])
    again = run_function_sweep("toy", toy_runs, _toy_tasks("1"), version="1", out_dir=tmp_path,
                               workers=1)
    assert (again.computed, again.reused) == (3, 7) and again.rows("ok") == rows
    assert [again.records(t) for t in again.tasks] == [first.records(t) for t in first.tasks]
    doc = json.loads((tmp_path / TABLE_JSON).read_text())
    assert (doc["done"], doc["computed"], doc["reused"]) == (10, 3, 7)
    # the version is part of the key: a new one recomputes every task
    bumped = run_function_sweep("toy", toy_runs, _toy_tasks("2"), version="2", out_dir=tmp_path,
                                workers=1)
    assert (bumped.computed, bumped.reused) == (10, 0)
