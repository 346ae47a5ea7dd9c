"""``attnsvm derive``: list, statement, LaTeX, verification exit codes, bad input (exit 2)."""

from __future__ import annotations

import json

import pytest
import sympy as sp

from attnsvm.properties.cli import main
from attnsvm.symbolic import registry
from attnsvm.symbolic.core import Derivation


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["derive", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_list_json_names_every_derivation(capsys) -> None:
    code, out, err = run(capsys, "--list", "--json")
    assert code == 0 and err == ""
    listed = [d["name"] for d in json.loads(out)["derivations"]]
    assert listed == list(registry.DERIVATIONS)
    assert len(listed) >= 10


def test_list_table(capsys) -> None:
    code, out, _ = run(capsys, "--list")
    assert code == 0
    assert "att-svm-dual" in out and "fwp-linear-attention" in out


def test_statement_plain_and_latex(capsys) -> None:
    code, out, _ = run(capsys, "softmax-saturation")
    assert code == 0
    assert out.startswith("softmax-saturation:")
    assert "exp(-Delta*c)" in out and "\\frac" not in out
    code, out, _ = run(capsys, "softmax-saturation", "--latex")
    assert code == 0
    assert "\\frac{e^{- \\Delta c}}{1 + e^{- \\Delta c}}" in out


def test_statement_json_has_latex_for_every_item(capsys) -> None:
    code, out, _ = run(capsys, "att-svm-dual", "--latex", "--json")
    assert code == 0
    (payload,) = json.loads(out)["derivations"]
    d = registry.get("att-svm-dual")
    assert [item["label"] for item in payload["statement"]] == [
        label for label, _ in d.labelled_statement()]
    assert [item["latex"] for item in payload["statement"]] == [
        sp.latex(expr) for expr in d.statement()]
    assert "active_set_svm" in payload["predicates"]


def test_verify_one_exits_zero_with_checks(capsys) -> None:
    code, out, _ = run(capsys, "normalized-gd", "--verify", "--json")
    assert code == 0
    payload = json.loads(out)
    assert payload["holds"] is True
    (d,) = payload["derivations"]
    assert d["name"] == "normalized-gd" and all(c["holds"] for c in d["checks"])


def test_verify_all_exits_zero(capsys) -> None:
    code, out, _ = run(capsys, "--all", "--verify")
    assert code == 0
    n = len(registry.DERIVATIONS)
    assert f"{n}/{n} derivations hold" in out


@pytest.fixture
def failing_derivation(monkeypatch):
    def crash() -> tuple[bool, str]:
        raise RuntimeError("broken proof")

    fake = Derivation("always-fails", "a false claim", "nowhere", "-",
                      lambda: [("claim", sp.Eq(sp.Symbol("x"), sp.Symbol("y"), evaluate=False))],
                      (("identity", lambda: (False, "x - y is not 0")), ("crash", crash)))
    monkeypatch.setitem(registry.DERIVATIONS, fake.name, fake)
    return fake


def test_verify_failure_exits_one(capsys, failing_derivation) -> None:
    code, out, _ = run(capsys, failing_derivation.name, "--verify", "--json")
    assert code == 1
    payload = json.loads(out)
    assert payload["holds"] is False
    details = [c["detail"] for c in payload["derivations"][0]["checks"]]
    assert details[0] == "x - y is not 0" and "RuntimeError: broken proof" in details[1]
    code, out, _ = run(capsys, failing_derivation.name, "--verify")
    assert code == 1 and "DOES NOT HOLD" in out


@pytest.mark.parametrize("argv", [
    ("no-such-derivation",),
    ("no-such-derivation", "--verify"),
    (),
    ("gradient", "--all"),
    ("--list", "gradient"),
    ("--list", "--verify"),
])
def test_bad_input_exits_two_with_one_line(capsys, argv) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("attnsvm: error:")
    assert "Traceback" not in err


def test_unknown_name_lists_the_known_ones(capsys) -> None:
    code, _, err = run(capsys, "gradients")
    assert code == 2
    assert "unknown derivation 'gradients'" in err and "gradient," in err
