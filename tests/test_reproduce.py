"""``attnsvm reproduce --quick`` (issue 6): one run of every experiment, assertions on its data.

The quick run happens once per module (into a temporary directory, through
``properties.reproduce.report.reproduce``, which the CLI calls); the tests then read the JSON it
wrote. They check the mathematics the figures are about (rank lemma, feasibility under
over-parameterization, direction convergence, ordering of the SVM predictions), the comparison
tables (every declared row renders, differing rows say why, sources cite the papers, the same
seed gives the same JSON and REPORT.md) and the figures' conventions (issue 16 §3: each names
its paper and experiment, writes mathematics as mathtext, keeps its legends off the data, draws
intervals for fractions and means over runs).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from attnsvm.properties.reproduce import EXPERIMENTS
from attnsvm.properties.reproduce import figures as fg
from attnsvm.properties.reproduce.compare import (
    Above,
    All,
    AtLeast,
    AtMost,
    Cited,
    Comparison,
    Equal,
    Increasing,
    IsTrue,
    Near,
    scopes,
)
from attnsvm.properties.reproduce.evaluation import evaluate, fill
from attnsvm.properties.reproduce.report import (
    dumps,
    report_markdown,
    reproduce,
    run_experiment,
)

SEED = 0
#: internal research notes users do not have; outputs cite the papers instead
NOTES = ("catalog", "claims-tfsvm", "§", "research/")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("reproduce")
    with threadpool_limits(limits=1):  # as the CLI: a fixed thread count, reproducible JSON
        written = reproduce([], out, quick=True, seed=SEED)
    data = {
        name: json.loads((out / f"{name}.json").read_text(encoding="utf-8"))
        for name in EXPERIMENTS
    }
    return {"out": out, "written": written, "json": data}


def _data(quick_run: dict, name: str) -> dict:
    return quick_run["json"][name]["data"]


# ----------------------------------------------------------------------------- comparison records
def test_rules_compare_measurements_and_literals() -> None:
    m = {"a": 2.0, "b": 1.0, "none": None, "nan": float("nan"), "xs": [1, 2, 2.0005], "t": True}
    assert AtLeast("a", "b").holds(m) and AtLeast("a", 2.0).holds(m)
    assert Above("a", "b", scale=1.5).holds(m) and not Above("a", "b", scale=2).holds(m)
    assert AtMost("b", 1).holds(m) and not Equal("a", "b").holds(m)
    assert not AtLeast("none", 0).holds(m) and AtMost("none", 0, missing=True).holds(m)
    assert not AtLeast("nan", 0).holds(m) and not Near("nan", 0, 1).holds(m)
    assert Near("a", "b", 1.0).holds(m) and not Near("a", "b", 0.5).holds(m)
    assert Increasing("xs").holds(m) and not Increasing("xs").holds({"xs": [2, 1]})
    rule = All(IsTrue("t"), Above("a", "b", scale=1.5))
    assert rule.holds(m) and rule.text() == "t and a > 1.5 x b" and rule.keys() == ("t", "a", "b")


def test_evaluate_fills_templates_and_expands_rows() -> None:
    table = (
        Comparison("x = {x:~4}", Cited("{ref}", "src"), "{xs:~ / }", AtLeast("x", 1.0),
                   "x = {x:.1e} < 1"),
        Comparison("item {k}", Cited("1", "src"), "{v}", Equal("v", 1), "v = {v}", each="items"),
        Comparison("never", Cited("-", "src"), "-", IsTrue("flag"), "-", when="flag"),
    )
    m = {"x": 0.5, "ref": "one", "xs": [0.25, 1.5], "items": [{"k": 1, "v": 1}, {"k": 2, "v": 3}],
         "flag": False}
    rows = evaluate(table, m)
    assert [r.quantity for r in rows] == ["x = 0.5000", "item 1", "item 2"]
    assert rows[0].paper == "one [src]" and rows[0].ours == "0.250 / 1.5"
    assert [r.verdict for r in rows] == ["differs", "agreed", "differs"]
    assert rows[0].why == "x = 5.0e-01 < 1" and rows[1].why == "" and rows[2].why == "v = 3"
    assert rows[0].as_dict()["rule"] == "x >= 1.0" and rows[2].as_dict()["values"] == {"v": 3}
    with pytest.raises(ValueError):
        Comparison("q", Cited("p", "s"), "o", IsTrue("t"), "")  # a row must say why it differs


def test_every_declared_row_renders(quick_run: dict) -> None:
    """Also the texts shown only when a row differs (why) or only on some data (each / when)."""
    for w in quick_run["written"]:
        r = w.result
        for c in r.comparisons:
            for m in scopes(c, r.measured):
                for text in (c.quantity, c.ours, c.why, *(p.value for p in c.paper)):
                    fill(text, m)
                assert set(c.rule.keys()) <= set(m), (r.name, c.quantity)


# ----------------------------------------------------------------------------- outputs
def test_every_experiment_writes_png_json_and_report(quick_run: dict) -> None:
    out: Path = quick_run["out"]
    assert [w.result.name for w in quick_run["written"]] == list(EXPERIMENTS)
    report = (out / "REPORT.md").read_text(encoding="utf-8")
    for name in EXPERIMENTS:
        png = (out / f"{name}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
        payload = quick_run["json"][name]
        assert payload["seed"] == SEED and payload["quick"] is True
        assert payload["statement"] and payload["settings"] and payload["versions"]["numpy"]
        assert f"`{name}`" in report
        assert payload["comparison"]
        for row in payload["comparison"]:
            assert row["verdict"] in ("agreed", "differs")
            assert row["quantity"] and row["paper"] and row["ours"] and row["rule"]
            assert isinstance(row["values"], dict) and row["values"]
            if row["verdict"] == "differs":
                assert row["why"], f"{name}: a differing row must say why: {row['quantity']}"


def test_outputs_cite_the_papers_not_internal_notes(quick_run: dict) -> None:
    out: Path = quick_run["out"]
    texts = [(out / "REPORT.md").read_text(encoding="utf-8")]
    for payload in quick_run["json"].values():
        texts.append(json.dumps({k: payload[k] for k in ("statement", "settings", "comparison",
                                                          "tables")}))
    for text in texts:
        for word in NOTES:
            assert word not in text, word
    assert "arXiv 2308.16898" in texts[0] and "arXiv 2306.13596" in texts[0]


def test_json_and_report_are_reproducible_under_the_same_seed(quick_run: dict) -> None:
    name = "regularization_path"
    text = (quick_run["out"] / f"{name}.json").read_text(encoding="utf-8")
    with threadpool_limits(limits=1):
        again = [run_experiment(name, True, SEED) for _ in range(2)]
        other = run_experiment(name, True, SEED + 1).payload()
    assert dumps(again[0].payload()) == text
    assert report_markdown(again[:1], quick=True, seed=SEED) == report_markdown(
        again[1:], quick=True, seed=SEED)
    assert other["data"] != json.loads(text)["data"]


def test_cli_reproduce_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from attnsvm.properties.cli import main

    name = "regularization_path"
    assert main(["reproduce", name, "--quick", "--out", str(tmp_path), "--seed", str(SEED),
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    [exp] = summary["experiments"]
    payload = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
    assert exp["name"] == name and exp["comparison"] == payload["comparison"]
    assert exp["agreed"] + exp["differs"] == len(payload["comparison"])
    assert (tmp_path / "REPORT.md").is_file()


def test_a_reproduction_into_its_out_folder_resumes(quick_run: dict, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """svm_rank and global_fraction run their grids on the sweep machinery and keep every task in
    OUT/sweeps: a second run into the same folder computes no task and writes the same files."""
    import shutil

    from attnsvm.properties import sweeps
    from attnsvm.properties.reproduce.report import CACHE_DIR

    names = ["svm_rank", "global_fraction"]
    out = tmp_path / "again"
    shutil.copytree(quick_run["out"], out)
    stores = sorted((out / CACHE_DIR).rglob(sweeps.RESULTS_FILE))
    assert {p.relative_to(out / CACHE_DIR).parts[0] for p in stores} == set(names)
    lines = {p: p.read_bytes() for p in stores}

    def computed(*args: object) -> None:
        raise AssertionError(f"a task was recomputed: {args}")

    monkeypatch.setattr(sweeps, "call_function", computed)
    with threadpool_limits(limits=1):
        reproduce(names, out, quick=True, seed=SEED)
    for name in names:
        assert (out / f"{name}.json").read_bytes() == (
            quick_run["out"] / f"{name}.json").read_bytes()
    assert {p: p.read_bytes() for p in stores} == lines
    for p in stores:
        doc = json.loads((p.parent / sweeps.TABLE_JSON).read_text(encoding="utf-8"))
        assert doc["computed"] == 0 and doc["reused"] == doc["tasks"] == doc["done"] > 0


def test_unknown_experiment_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from attnsvm.properties.cli import main

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


# ----------------------------------------------------------------------------- figures
PAPER_OF = {"local_convergence": "arXiv 2308.16898", "svm_rank": "arXiv 2308.16898",
            "global_fraction": "arXiv 2308.16898", "nonlinear_head": "arXiv 2308.16898",
            "regularization_path": "arXiv 2308.16898", "mmts": "arXiv 2306.13596",
            "ntp": "arXiv 2403.08081", "rates": "arXiv 2402.05738"}
#: figures that draw a fraction or a mean over runs (and so must draw intervals)
WITH_INTERVALS = ("local_convergence", "svm_rank", "global_fraction", "nonlinear_head")
#: plain-text mathematics that belongs in mathtext ($...$)
NOT_MATHTEXT = re.compile(r"\^|\+-|\b(alpha|sigma|eta|W\*)\b|W\*")


@pytest.fixture(scope="module")
def figures(quick_run: dict):
    """Each experiment's figure, drawn (constrained layout run) but not saved."""
    figs = {}
    for w in quick_run["written"]:
        fig = EXPERIMENTS[w.result.name].figure(w.result.data)
        fig.canvas.draw()
        figs[w.result.name] = fig
    yield figs
    for fig in figs.values():
        fg.pyplot().close(fig)


def _texts(fig) -> list[str]:
    from matplotlib.text import Text

    return [t.get_text() for t in fig.findobj(Text) if t.get_text().strip()]


def _outside_math(text: str) -> str:
    return "".join(part for k, part in enumerate(text.split("$")) if k % 2 == 0)


def test_figures_name_their_paper_and_experiment(figures: dict) -> None:
    for name, fig in figures.items():
        top = fig.get_suptitle()
        assert PAPER_OF[name] in top, name
        assert EXPERIMENTS[name].FIGURE_EXPERIMENT[:40] in top.replace("\n", " "), name
        assert "notebook" in top, name  # the official notebook, or that there is none
        captions = [t for t in fig.texts if t.get_gid() == "caption"]
        assert captions and len(captions[0].get_text()) > 100, name
        for text in _texts(fig):
            # no figure number: none is confirmed in the papers' text
            assert not re.search(r"\bFig(ure|\.)\s*\d", text), (name, text)
            for word in NOTES:
                assert word not in text, (name, word)


def test_figures_write_mathematics_as_mathtext(figures: dict) -> None:
    for name, fig in figures.items():
        texts = _texts(fig)
        assert any("$" in t for t in texts), name
        for text in texts:
            assert text.count("$") % 2 == 0, (name, text)
            assert not NOT_MATHTEXT.search(_outside_math(text)), (name, text)


def test_figure_legends_lie_outside_every_axes(figures: dict) -> None:
    for name, fig in figures.items():
        legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
        assert legends, name
        for leg in legends:
            lb = leg.get_window_extent()
            for ax in fig.axes:  # insets included
                ab = ax.get_window_extent()
                w = min(lb.x1, ab.x1) - max(lb.x0, ab.x0)
                h = min(lb.y1, ab.y1) - max(lb.y0, ab.y0)
                assert w <= 0 or h <= 0, (name, [t.get_text() for t in leg.get_texts()])


def test_figures_draw_intervals_for_fractions_and_means(figures: dict) -> None:
    from matplotlib.collections import PolyCollection
    from matplotlib.container import ErrorbarContainer

    for name in WITH_INTERVALS:
        fig = figures[name]
        bars = [c for ax in fig.axes for c in ax.containers if isinstance(c, ErrorbarContainer)]
        bands = [c for ax in fig.axes for c in ax.collections if isinstance(c, PolyCollection)]
        assert bars or bands, name
    # every drawn fraction of global_fraction and svm_rank (c) carries its Wilson interval
    for name, ax_index in (("global_fraction", 0), ("svm_rank", 2)):
        ax = figures[name].axes[ax_index]
        assert all(isinstance(c, ErrorbarContainer) for c in ax.containers) and ax.containers


def test_regularization_path_line_style_means_the_same_svm_in_both_panels(
        figures: dict, quick_run: dict) -> None:
    """Solid = correlation with the Frobenius W^mm, dashed = with the nuclear W^mm_*, in both
    panels (the W path's own SVM is W^mm, the (K, Q) path's is W^mm_*)."""
    it = _data(quick_run, "regularization_path")["instances"][0]
    a, b = figures["regularization_path"].axes[:2]
    for ax, param, fro_key in ((a, "W", "corr_own"), (b, "KQ", "corr_other")):
        nuc_key = "corr_other" if fro_key == "corr_own" else "corr_own"
        solid = [ln for ln in ax.get_lines() if ln.get_linestyle() == "-"]
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"]
        assert np.allclose(solid[0].get_ydata(), it[param][fro_key])
        assert np.allclose(dashed[0].get_ydata(), it[param][nuc_key])
        assert len({ln.get_color() for ln in ax.get_lines()}) == 1  # colour = the path


def test_figure_axes_share_their_scale_across_panels(figures: dict) -> None:
    """The same quantity on the same scale in every panel that shows it."""
    svm = figures["svm_rank"].axes[:3]
    assert {ax.get_xscale() for ax in svm} == {"log"}
    assert len({tuple(ax.get_xlim()) for ax in svm[:2]}) == 1
    nl = figures["nonlinear_head"].axes
    assert len({tuple(ax.get_ylim()) for ax in nl}) == 1 and {ax.get_yscale() for ax in nl} == {
        "log"}
    mm = figures["mmts"].axes
    single = [ax for ax in mm if ax.get_title().startswith(("(a)", "(b)"))]
    assert len(single) == 2 and single[0].get_xlim() == single[1].get_xlim()
    assert all(ax.get_aspect() == 1.0 for ax in single)
