"""``attnsvm reproduce --quick`` (issue 6): one run of every experiment, assertions on its data.

The quick run happens once per module (into a temporary directory); the tests then read the JSON
it wrote. They check the mathematics the figures are about (rank lemma, feasibility under
over-parameterization, direction convergence, ordering of the SVM predictions), not pictures.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest

from attnsvm.properties.cli import main
from attnsvm.properties.reproduce import EXPERIMENTS
from attnsvm.properties.reproduce.report import dumps, run_experiment

SEED = 0


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reproduce")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["reproduce", "--quick", "--out", str(out), "--seed", str(SEED), "--json"])
    assert code == 0
    summary = json.loads(buf.getvalue())
    data = {
        name: json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        for name in EXPERIMENTS
    }
    return {"out": out, "summary": summary, "json": data}


def _data(quick_run: dict, name: str) -> dict:
    return quick_run["json"][name]["data"]


# ----------------------------------------------------------------------------- outputs
def test_every_experiment_writes_png_json_and_report(quick_run: dict) -> None:
    out: Path = quick_run["out"]
    assert [e["name"] for e in quick_run["summary"]["experiments"]] == list(EXPERIMENTS)
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    for name in EXPERIMENTS:
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        payload = quick_run["json"][name]
        assert payload["seed"] == SEED and payload["quick"] is True
        assert payload["statement"] and payload["settings"] and payload["versions"]["numpy"]
        assert f"`{name}`" in report
        for row in payload["comparison"]:
            assert row["verdict"] in ("agreed", "differs")
            if row["verdict"] == "differs":
                assert row["why"], f"{name}: a differing row must say why: {row['quantity']}"


def test_json_is_reproducible_under_the_same_seed(quick_run: dict) -> None:
    name = "regularization_path"
    text = (quick_run["out"] / f"{name}.json").read_text(encoding="utf-8")
    assert dumps(run_experiment(name, True, SEED).payload()) == text
    other = run_experiment(name, True, SEED + 1).payload()
    assert other["data"] != json.loads(text)["data"]


def test_unknown_experiment_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["reproduce", "local_convergence", "no_such_experiment"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no_such_experiment" in err


# ----------------------------------------------------------------------------- 1. local conv.
def test_local_convergence_correlations_high_and_rising(quick_run: dict) -> None:
    d = _data(quick_run, "local_convergence")
    cps = d["checkpoints"]
    idx = [cps.index(k) for k in (10, 100, 500, 1000, 2000)]
    for key in ("W", "KQ"):
        mean = np.array(d[key]["corr_curve"]["mean"])[idx]
        assert np.all(np.diff(mean) > 0), (key, mean)
        assert mean[-1] >= 0.99 and d[key]["corr_curve"]["min"][-1] >= 0.95
        assert all(d[key]["feasible"])
    # (K, Q) is biased to the nuclear-norm solution, not the Frobenius one
    assert np.mean(d["KQ"]["final_corr"]) > np.mean(d["KQ"]["final_corr_frobenius"]) + 0.05
    assert min(d["min_max_prob_final_W"], d["min_max_prob_final_KQ"]) > 1 - 1e-6
    # every limit is locally optimal; a non-locally-optimal 2000-step selection must move on
    w = d["W"]
    stuck = [b for b, (f, lo) in enumerate(zip(w["feasible"], w["locally_optimal"], strict=True))
             if f and not lo]
    assert w["extension"]["runs"] == stuck and all(w["extension"]["moved"])
    # runs that end away from opt align with their own SVM, not with the global one
    for r in w["nonglobal"]:
        assert r["inputs_differing"] >= 1
        assert r["corr_iterate_global"] < r["corr_iterate_alpha"] - 0.05


# ----------------------------------------------------------------------------- 2. svm rank
def test_svm_rank_lemma_and_feasibility(quick_run: dict) -> None:
    rows = _data(quick_run, "svm_rank")["configs"]
    eq = tot = 0
    for r in rows:
        n, T, dim = r["n"], r["T"], r["d"]
        assert len(r["rank_nuc"]) == len(r["rank_fro"]) == r["feasible"]
        assert all(k <= n for k in r["rank_nuc"]), r
        assert all(k <= min(n, dim) for k in r["rank_fro"]), r
        eq += sum(k == min(n, dim) for k in r["rank_fro"])
        tot += r["feasible"]
        if r["feasible"]:
            assert r["max_row_space_residual"] <= 1e-6
            # certified nuclear solutions: the discarded singular values are numerically zero,
            # at least a decade below the relative rank threshold 1e-6
            assert r["nuc_sigma_r1_over_sigma1_max"] < 1e-7
            off = r["official"]
            assert off["instances"] >= 1 and len(off["rank_nuc_abs_1e-7"]) == off["instances"]
        if dim >= max(T - 1, n):  # over-parameterized: feasible (generic data)
            assert r["feasible"] == r["instances"], r
        if dim >= 5 and r["feasible"]:
            assert r["mean_rank_nuc"] < r["mean_rank_fro"], r
    assert eq >= 0.9 * tot


# ----------------------------------------------------------------------------- 3. global share
def test_global_share_rises_with_d_with_intervals(quick_run: dict) -> None:
    d = _data(quick_run, "global_fraction")
    rows = d["per_d"]
    for r in rows:
        lo, hi = r["wilson95"]
        assert 0 <= lo <= r["fraction"] <= hi <= 1 and hi - lo > 0
        assert r["global"] <= r["saturated"] <= r["runs"]
    assert rows[-1]["fraction"] > rows[0]["fraction"]
    assert d["trend_z"] > 0 and d["trend_p_one_sided"] < 0.05


# ----------------------------------------------------------------------------- 4. ReLU head
def test_nonlinear_head_svm_equivalence_ordering(quick_run: dict) -> None:
    rows = _data(quick_run, "nonlinear_head")["per_d"]
    first = rows[0]
    assert first["accepted"] >= 20
    for r in rows:
        assert 0 < r["accepted"] < r["generated"]
        assert r["accepted"] + sum(r["rejected"].values()) == r["generated"]
        # the official filter: every masked probability of an accepted run is <= 1e-6
        assert max(r["max_masked_prob"]) <= 1e-6
    final = {k: np.array(first[k]["final"]) for k in ("svmeq", "dir", "single")}
    assert np.mean(final["svmeq"]) <= np.mean(final["dir"]) < np.mean(final["single"])
    assert np.median(final["svmeq"]) <= np.median(final["dir"]) < np.median(final["single"])
    # W^fin is orthogonal to W^dir and fitted to the final iterate: W^svmeq is never worse
    assert np.all(final["svmeq"] <= final["dir"] + 1e-9)


# ----------------------------------------------------------------------------- 5. reg. path
def test_regularization_paths_reach_their_own_svm(quick_run: dict) -> None:
    d = _data(quick_run, "regularization_path")
    assert d["instances"]
    for it in d["instances"]:
        assert it["corr_svms"] < 0.99
        for key in ("W", "KQ"):
            own, other = it[key]["corr_own"], it[key]["corr_other"]
            assert own[-1] >= 0.98 and own[-1] > own[0] and own[-1] > other[-1]
        assert abs(it["KQ"]["norm_nuc_over_R"][-1] - 1) < 1e-3
        assert all(x <= 1 + 1e-9 for x in it["W"]["norm_fro_over_R"])


# ----------------------------------------------------------------------------- 6. MMTS
def test_mmts_local_global_joint_and_loss(quick_run: dict) -> None:
    d = _data(quick_run, "mmts")
    loc, glo = d["single_input"]["local"], d["single_input"]["global"]
    assert loc["token1_locally_optimal"] and not glo["token1_locally_optimal"]
    assert 1 in loc["selected"] and 0 in loc["selected"]  # both limits occur
    assert all(s == 0 for s in glo["selected"])
    for k, s in enumerate(loc["selected"]):
        assert (loc["corr_token1"] if s == 1 else loc["corr_global"])[k] > 0.99
    multi = d["multi_input"]
    assert all(multi["ngd"]["global"]) and min(c[-1] for c in multi["ngd"]["corr_pmm"]) > 0.99
    for case in ("tight", "non-tight"):
        r = d["joint"][case]
        assert r["corr_v_vmm"][-1] > 0.99 and r["corr_p_rate_weighted"][-1] > 0.99
    assert d["joint"]["tight"]["corr_p_pmm"][-1] > 0.99
    for r in d["loss_offset"]["rows"]:
        if r["loss"] == "correlation":
            assert abs(r["offset"] - r["half_log_C"]) < 1e-2
