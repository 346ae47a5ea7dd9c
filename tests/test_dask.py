"""`check`, `sweep` and `hunt` on a Dask cluster (a ``distributed.LocalCluster`` of 2 worker
processes, 1 thread each): the results equal the local process pool's, bit for bit (every field
but wall-clock seconds), and a worker that dies mid-task costs that task a retry, not the sweep."""

from __future__ import annotations

import json
import logging
import os

import pytest

pytest.importorskip(
    "distributed", reason="Dask's 'distributed' is not installed (pip install 'attnsvm[dask]')")

from test_sweeps import TOY_ID, toy_claims_file, toy_gap  # noqa: E402

from attnsvm.properties.cli import main  # noqa: E402
from attnsvm.properties.registry import isolated_registry  # noqa: E402


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Two worker processes started in a scratch folder (their working directory: the hunt's
    example database lands there, not in the repository)."""
    from distributed import Client, LocalCluster

    home = tmp_path_factory.mktemp("dask-workers")
    cwd = os.getcwd()
    os.chdir(home)
    try:
        lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None, silence_logs=logging.ERROR)
    finally:
        os.chdir(cwd)
    client = Client(lc)
    try:
        yield lc.scheduler_address, client
    finally:
        client.close()
        lc.close()


def without_seconds(obj):
    if isinstance(obj, dict):
        return {k: without_seconds(v) for k, v in obj.items() if k != "seconds"}
    if isinstance(obj, list):
        return [without_seconds(v) for v in obj]
    return obj


def run_json(capsys, args: list[str]) -> dict:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_check_on_dask_equals_the_local_pool(cluster, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    ids = ["tfsvm.feasible-underparam", "fwp.linear-attention"]
    on_dask = run_json(capsys, ["check", *ids, "--scheduler", cluster[0]])
    local = run_json(capsys, ["check", *ids, "--workers", "2"])
    assert on_dask["all_match"] and [c["id"] for c in on_dask["claims"]] == ids
    assert without_seconds(on_dask) == without_seconds(local)


def test_sweep_on_dask_equals_the_local_pool(cluster, tmp_path, capsys) -> None:
    args = ["sweep", "tfsvm.feasible-underparam", "--set", "n=4,8", "--set", "d=1,2,4",
            "--seeds", "3"]
    on_dask = run_json(capsys, [*args, "--scheduler", cluster[0], "--out", str(tmp_path / "a")])
    local = run_json(capsys, [*args, "--workers", "2", "--out", str(tmp_path / "b")])
    assert on_dask["complete"] and on_dask["computed"] == 18
    assert without_seconds(on_dask) == without_seconds(local)
    # resumable on the cluster too: a rerun reads every task back
    again = run_json(capsys, [*args, "--scheduler", cluster[0], "--out", str(tmp_path / "a")])
    assert (again["computed"], again["reused"]) == (0, 18)
    assert again["results"] == on_dask["results"]


def test_hunt_on_dask_equals_the_local_pool(cluster, tmp_path, monkeypatch, capsys) -> None:
    """Independent seeds per task; the records are written on the client, atomically."""
    toy = toy_claims_file(tmp_path, claim_id="toy.huntable")  # workers keep what a hunt loads
    monkeypatch.chdir(tmp_path)
    with isolated_registry():
        args = ["hunt", "toy.huntable", "--claims", str(toy), "--max-examples", "6",
                "--workers", "2", "--seed", "5"]
        on_dask = run_json(capsys, [*args, "--scheduler", cluster[0], "--out", "a"])
        local = run_json(capsys, [*args, "--out", "b"])
    assert on_dask["tried"] == local["tried"] and on_dask["verdicts"] == local["verdicts"]
    names = sorted(os.path.basename(p) for p in on_dask["counterexamples"])
    assert names and names == sorted(os.path.basename(p) for p in local["counterexamples"])
    for name in names:
        a, b = (json.loads((tmp_path / d / name).read_text()) for d in ("a", "b"))
        assert a == b and a["seed"] in (5, 6)
    leftovers = [p.name for d in ("a", "b") for p in (tmp_path / d).iterdir()
                 if p.name.startswith(".")]
    assert not leftovers  # atomic writes leave no temporary files


def test_a_dask_worker_that_dies_costs_its_task_a_retry(cluster, tmp_path, capsys) -> None:
    toy = toy_claims_file(tmp_path, die_seed=2)
    with isolated_registry():
        doc = run_json(capsys, ["sweep", TOY_ID, "--claims", str(toy), "--set", "x=1,2",
                                "--seeds", "4", "--scheduler", cluster[0],
                                "--out", str(tmp_path / "s")])
    assert (tmp_path / "died.marker").exists()  # a worker was killed mid-task
    assert doc["complete"] and len(doc["results"]) == 8
    assert [r["evidence"]["gap"] for r in doc["results"]] == [
        toy_gap(s, x) for x in (1, 2) for s in range(4)]
    cluster[1].wait_for_workers(2, timeout=60)  # the nanny restarts the worker
