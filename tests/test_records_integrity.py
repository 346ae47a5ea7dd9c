"""Issue 17 §3-4: counterexample records carry digests and replay refuses tampered ones; one
record per finding (seeds merge, different findings never overwrite); .npz zip bombs are
refused before decompression; reproduce marks an interrupted folder and cleans its temporaries;
hunt keeps hypothesis's database in the cache folder, not in the working directory."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from attnsvm.properties.cli import main
from attnsvm.properties.files import TMP_SUFFIX, cache_dir
from attnsvm.properties.records import (
    DIGEST_FIELD,
    load_record,
    record_digest,
    replay,
    save_counterexample,
)
from attnsvm.properties.verdicts import Evidence
from attnsvm.reference.attention import problem as problem_mod
from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError

SAVED = Path(__file__).parent / "counterexamples"
RECORD = "tfsvm_feasible-underparam-1dc45a49d5"  # replays in milliseconds
OTHER = "tfsvm_ties-single-token-8aaf2ef88f"


@pytest.fixture
def copied(tmp_path) -> Path:
    for name in (RECORD, OTHER):
        for ext in (".json", ".npz"):
            shutil.copy(SAVED / f"{name}{ext}", tmp_path / f"{name}{ext}")
    return tmp_path / f"{RECORD}.json"


def _replay_cli(path: Path, capsys) -> tuple[int, str]:
    code = main(["replay", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("path", sorted(SAVED.glob("*.json")), ids=lambda p: p.stem)
def test_saved_records_carry_digests(path: Path) -> None:
    record = json.loads(path.read_text())
    assert record[DIGEST_FIELD] == record_digest(record)
    assert record["seeds"] == ([] if record["seed"] is None else [record["seed"]])
    assert record["problem_sha256"] and record["problem"] == f"{path.stem}.npz"


EDITS = {
    "expected": lambda r: r.update(expected="holds"),
    "seed": lambda r: r.update(seed=123),
    "versions": lambda r: r["versions"].update(numpy="0.0"),
    "evidence": lambda r: r["evidence"].update(gap=r["evidence"]["gap"] + 1.0),
    "spec": lambda r: r["spec"].update(n=5),
    "protocol": lambda r: r["protocol"].update(selections=3),
    "digest removed": lambda r: r.pop(DIGEST_FIELD),
    "problem removed": lambda r: r.pop("problem"),
    "problem null": lambda r: r.update(problem=None),
    "problem empty": lambda r: r.update(problem=""),
    "huge n": lambda r: r["spec"].update(n=10**9),
}


@pytest.mark.parametrize("edit", EDITS, ids=list(EDITS))
def test_edited_records_are_refused(copied: Path, edit: str, capsys) -> None:
    record = json.loads(copied.read_text())
    EDITS[edit](record)
    copied.write_text(json.dumps(record))
    out = replay(copied)
    assert not out["reproduced"] and out["refused"]
    code, err = _replay_cli(copied, capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1 and "refused" in err


def test_a_swapped_npz_is_refused(copied: Path, capsys) -> None:
    npz = copied.with_suffix(".npz")
    paper_family(4, 3, 1, seed=1).save(npz)  # same shape, other data
    code, err = _replay_cli(copied, capsys)
    assert code == 1 and "not the one the record was written with" in err
    npz.unlink()
    code, err = _replay_cli(copied, capsys)
    assert code == 1 and "missing" in err


def test_an_untouched_copy_replays(copied: Path, capsys) -> None:
    code, err = _replay_cli(copied, capsys)
    assert code == 0 and err == ""


def _finding():
    rec = json.loads((SAVED / f"{RECORD}.json").read_text())
    return rec["spec"], Evidence.from_dict(rec["evidence"])


def test_the_same_finding_keeps_every_seed(tmp_path) -> None:
    spec, ev = _finding()
    first = save_counterexample(tmp_path, "tfsvm.feasible-underparam", spec, ev, search_seed=3)
    npz_bytes = first.with_suffix(".npz").read_bytes()
    again = save_counterexample(tmp_path, "tfsvm.feasible-underparam", spec, ev, search_seed=8)
    assert again == first
    record = load_record(first)
    assert record["seed"] == 3 and record["seeds"] == [3, 8]
    assert first.with_suffix(".npz").read_bytes() == npz_bytes
    assert replay(first)["reproduced"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [first.name, f"{first.stem}.npz"]


def test_a_different_finding_never_overwrites(tmp_path) -> None:
    spec, ev = _finding()
    first = save_counterexample(tmp_path, "tfsvm.feasible-underparam", spec, ev, search_seed=3)
    text = first.read_text()
    other = Evidence.from_dict({**ev.as_dict(), "note": "another run"})
    second = save_counterexample(tmp_path, "tfsvm.feasible-underparam", spec, other,
                                 search_seed=4)
    assert second != first and second.name.endswith("-2.json")
    assert first.read_text() == text
    assert load_record(second)["seeds"] == [4]
    assert load_record(second)["problem"] == f"{second.stem}.npz"


def _bomb(path: Path, shape: tuple[int, ...], header_only: bool) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        base = paper_family(2, 3, 4, 0).arrays()
        for key, val in base.items():
            buf = io.BytesIO()
            if key == "X":
                if header_only:  # a header that declares a huge array, a few bytes of data
                    np.lib.format.write_array_header_1_0(
                        buf, {"descr": "<f8", "fortran_order": False, "shape": shape})
                    buf.write(b"\0" * 64)
                else:
                    np.save(buf, np.zeros(shape))
            else:
                np.save(buf, val)
            zf.writestr(f"{key}.npy", buf.getvalue())


def test_npz_declaring_gigabytes_is_refused_before_reading(tmp_path, capsys) -> None:
    path = tmp_path / "bomb.npz"
    _bomb(path, (10**6, 1000, 100), header_only=True)
    with pytest.raises(ProblemError, match="budget"):
        AttentionProblem.load(path)
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "budget" in err and len(err.strip().splitlines()) == 1


def test_a_compressed_bomb_is_refused_without_expanding(tmp_path, monkeypatch) -> None:
    path = tmp_path / "bomb.npz"
    _bomb(path, (64, 64, 64), header_only=False)  # 2 MiB of zeros, a few KiB on disk
    assert path.stat().st_size < 100_000
    monkeypatch.setattr(problem_mod, "MEMORY_BUDGET_BYTES", 2**20)
    with pytest.raises(ProblemError, match="budget"):
        AttentionProblem.load(path)


def test_reproduce_marks_an_interrupted_folder_and_cleans_up(tmp_path, monkeypatch) -> None:
    from attnsvm.properties.reproduce import report

    stale = tmp_path / f".svm_rank.json.abc123{TMP_SUFFIX}"
    stale.write_text("half")

    def interrupted(name, quick, seed, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(report, "run_experiment", interrupted)
    with pytest.raises(KeyboardInterrupt):
        report.reproduce(["svm_rank"], tmp_path, quick=True)
    assert not stale.exists()
    assert (tmp_path / report.INCOMPLETE).exists()
    assert not (tmp_path / report.MANIFEST).exists()


def test_reproduce_writes_its_manifest_last(tmp_path) -> None:
    from attnsvm.properties.reproduce import report

    (tmp_path / report.INCOMPLETE).write_text("from a killed run")
    written = report.reproduce(["regularization_path"], tmp_path, quick=True)
    manifest = json.loads((tmp_path / report.MANIFEST).read_text())
    assert manifest["complete"] and manifest["experiments"] == [w.result.name for w in written]
    assert set(manifest["files"]) == {"REPORT.md", "regularization_path.json",
                                      "regularization_path.png"}
    assert not (tmp_path / report.INCOMPLETE).exists()
    assert not list(tmp_path.glob(f".*{TMP_SUFFIX}"))


def test_hunt_keeps_its_example_database_in_the_cache(tmp_path, monkeypatch, capsys) -> None:
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("ATTNSVM_CACHE_DIR", str(cache))
    assert cache_dir() == cache
    assert main(["hunt", "tfsvm.feasible-underparam", "--max-examples", "3", "--out",
                 str(tmp_path / "cex")]) == 0
    capsys.readouterr()
    assert list(work.iterdir()) == []
    assert (cache / "hypothesis" / "hunt").is_dir()


def test_cache_dir_follows_xdg(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("ATTNSVM_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_dir() == tmp_path / "attnsvm"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "attnsvm"
