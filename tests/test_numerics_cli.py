"""``attnsvm make-problem`` / ``attnsvm train``: outputs and the exit-code contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attnsvm.properties.cli import main
from attnsvm.reference.attention.families import paper_family


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_make_problem_then_train_json(tmp_path, capsys) -> None:
    f = tmp_path / "p.npz"
    code, _, _ = _run(
        capsys, "make-problem", "--n", "3", "--T", "4", "--d", "5", "--seed", "7", "--out", str(f)
    )
    assert code == 0 and f.exists()
    code, out, _ = _run(capsys, "train", str(f), "--steps", "50", "--runs", "2", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["param"] == "W" and payload["steps"] == 50 and payload["seconds"] >= 0
    assert len(payload["runs"]) == 2
    run = payload["runs"][0]
    assert np.array(run["W"]).shape == (5, 5)
    assert abs(run["norm"] - np.linalg.norm(run["W"])) < 1e-9
    assert len(run["selected"]) == 3 and 0.25 <= run["min_max_prob"] <= 1.0
    code, out, _ = _run(capsys, "train", str(f), "--steps", "20", "--param", "KQ", "--json")
    assert code == 0 and json.loads(out)["param"] == "KQ"


def test_train_is_reproducible(tmp_path, capsys) -> None:
    f = tmp_path / "p.npz"
    paper_family(3, 4, 5, 1).save(f)
    outs = [
        json.loads(_run(capsys, "train", str(f), "--steps", "30", "--seed", "3", "--json")[1])
        for _ in range(2)
    ]
    assert outs[0]["runs"] == outs[1]["runs"]


def _write(tmp_path, **arrays) -> str:
    p = paper_family(2, 3, 4, 0)
    base = {"X": p.X, "Y": p.Y, "v": p.v, "Z": p.Z} | arrays
    base = {k: v for k, v in base.items() if v is not None}
    path = tmp_path / "bad.npz"
    np.savez(path, **base)
    return str(path)


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda t: str(t / "missing.npz"), "no such file"),
        (lambda t: _write(t, Z=None), "lacks key"),
        (lambda t: _write(t, X=np.zeros((2, 3))), "X"),
        (lambda t: _write(t, X=np.full((2, 3, 4), np.nan)), "NaN"),
        (lambda t: _write(t, Y=np.array([1.0, 2.0])), "labels"),
        (lambda t: _write(t, X=np.zeros((2, 1, 4))), "T >= 2"),
        (lambda t: _write(t, v=np.zeros(3)), "v"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, make, needle: str) -> None:
    path = make(tmp_path)
    code, out, err = _run(capsys, "train", path, "--steps", "1")
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


@pytest.mark.parametrize(
    "args",
    [
        ["train"],
        ["train", "x.npz", "--lr", "-1"],
        ["make-problem", "--n", "2", "--T", "1", "--d", "2", "--out", "q"],
        ["no-such-command"],
    ],
)
def test_usage_errors_exit_2(capsys, args) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2 and len(err.strip().splitlines()) == 1
