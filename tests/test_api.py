"""The public face: the installed package, the README's two examples (run from the README text),
claims from outside the package, the claim record's validation, the layering of the layers."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import strategies as st

import attnsvm
from attnsvm.properties.cli import main
from attnsvm.properties.registry import (
    Claim,
    ClaimError,
    evidence_of,
    isolated_registry,
    load_claims,
)
from attnsvm.properties.verdicts import Evidence

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.fixture(autouse=True)
def _forget_loaded_claims():
    with isolated_registry():
        yield


def readme_example(name: str) -> str:
    m = re.search(rf"<!-- example: {name} -->\s*```python\n(.*?)```\s*<!-- /example -->", README,
                  re.S)
    assert m, f"README has no example {name!r}"
    return m.group(1)


def run(*args: str, cwd: Path | str = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_readme_own_claim_example_checks(tmp_path, capsys) -> None:
    path = tmp_path / "my_claims.py"
    path.write_text(readme_example("own-claim"))
    code = main(["check", "--claims", str(path), "mine.rank-at-most-n", "--workers", "1",
                 "--output", str(tmp_path / "r.json")])
    capsys.readouterr()
    assert code == 0
    report = json.loads((tmp_path / "r.json").read_text())["claims"][0]
    assert report["id"] == "mine.rank-at-most-n" and report["verdict"] == "held"
    assert report["tried"] >= 2


def test_readme_pytest_example_passes(tmp_path) -> None:
    (tmp_path / "test_mine.py").write_text(readme_example("pytest"))
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_mine.py",
              "--attnsvm-profile", "ci", cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "2 passed" in out.stdout


def test_readme_inspect_example_runs(tmp_path, capsys) -> None:
    out = run("-c", readme_example("inspect"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    code = main(["inspect", str(tmp_path / "attn.pt"), str(tmp_path / "data.npz"), "--num-heads",
                 "2", "--head-vector", str(tmp_path / "u.npy"), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and len(report["heads"]) == 2


def test_plugin_failure_prints_the_repro(tmp_path) -> None:
    (tmp_path / "claims.py").write_text(CLAIM_FILE)
    (tmp_path / "test_fail.py").write_text(
        "from attnsvm.testing import assert_claim\n\n"
        "def test_it():\n    assert_claim('user.small-sum')\n")
    out = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "test_fail.py",
              "--attnsvm-claims", "claims.py", cwd=tmp_path)
    assert out.returncode == 1
    assert "verdict violated, expected holds" in out.stdout
    assert "attnsvm check user.small-sum --claims" in out.stdout and "--instance" in out.stdout


CLAIM_FILE = '''
from hypothesis import strategies as st
from attnsvm import Claim, Evidence, Source

def check(instance, tol, protocol):
    return Evidence.judge(instance["a"] + instance["b"], tol["bound"])

CLAIMS = [Claim(id="user.small-sum", source=Source("nobody"), statement="a + b <= 10",
                instances=st.fixed_dictionaries({"a": st.integers(0, 9), "b": st.integers(0, 9)}),
                check=check, expected="holds", samples=[{"a": 1, "b": 2}],
                tolerances={"bound": 10})]
'''


def test_repro_command_reruns_exactly_that_instance(tmp_path, capsys) -> None:
    path = tmp_path / "claims.py"
    path.write_text(CLAIM_FILE)
    out = tmp_path / "cex"
    assert main(["check", "--claims", str(path), "user.small-sum", "--workers", "1",
                 "--out", str(out)]) == 1
    err = capsys.readouterr().err
    saved = next(x for x in err.splitlines() if "saved: attnsvm replay" in x).split()[-1]
    assert main(["replay", "--claims", str(path), saved]) == 0
    capsys.readouterr()
    line = next(x for x in err.splitlines() if "re-run:" in x)
    inst = json.loads(line.split("--instance ", 1)[1].strip("'"))
    assert inst["a"] + inst["b"] > 10
    assert main(["check", "--claims", str(path), "user.small-sum", "--instance",
                 json.dumps(inst), "--output", str(tmp_path / "r.json")]) == 1
    capsys.readouterr()
    rep = json.loads((tmp_path / "r.json").read_text())["claims"][0]
    assert rep["tried"] == 1 and rep["counterexample"]["spec"] == inst


def test_dev_search_is_reproducible_from_its_printed_seed(tmp_path, capsys) -> None:
    args = ["check", "tfsvm.feasible-overparam", "--profile", "dev", "--workers", "1"]
    assert main([*args, "--output", str(tmp_path / "a.json")]) == 0
    seed = int(capsys.readouterr().err.split("search seed ")[1].split()[0])
    assert main([*args, "--seed", str(seed), "--output", str(tmp_path / "b.json")]) == 0
    capsys.readouterr()
    a, b = (json.loads((tmp_path / f).read_text())["claims"][0] for f in ("a.json", "b.json"))
    assert a["worst"] == b["worst"] and a["tried"] == b["tried"] and a["search_seed"] is not None


def test_claims_from_a_module_and_duplicates_are_refused(tmp_path, monkeypatch) -> None:
    (tmp_path / "userclaims_mod.py").write_text(CLAIM_FILE.replace("user.small-sum", "user.mod"))
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [c.id for c in load_claims("userclaims_mod")] == ["user.mod"]
    dup = tmp_path / "dup.py"
    dup.write_text(CLAIM_FILE.replace("user.small-sum", "user.mod"))
    with pytest.raises(ClaimError, match=r"duplicate claim id 'user.mod': defined in "
                       r"userclaims_mod and in .*dup\.py"):
        load_claims(dup)


def test_cli_bad_claims_sources_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("raise RuntimeError('boom')\n")
    assert main(["list", "--claims", str(tmp_path / "missing.py")]) == 2
    assert main(["list", "--claims", str(bad)]) == 2
    assert main(["list", "--claims", "no_such_module_xyz"]) == 2
    assert main(["check", "tfsvm.rank-lemma", "--instance", "{not json"]) == 2
    assert main(["check", "tfsvm.rank-lemma", "--instance", "[1]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 5 and all(x.startswith("attnsvm: error:") for x in err), err


def _claim(**kw) -> Claim:
    base = dict(id="t.x", source="s", statement="x", instances=st.just({"a": 1}),
                check=lambda i, t, p: Evidence.judge(t["g"], p["h"]), expected="holds",
                samples=[{"a": 1}], tolerances={"g": 0.0}, protocol={"h": 1.0})
    return Claim(**{**base, **kw})


@pytest.mark.parametrize(("field", "value"), [
    ("id", "NoDots"), ("statement", " "), ("instances", [1]), ("check", 3),
    ("expected", "maybe"), ("samples", []), ("tolerances", {1: 2}), ("protocol", {"g": 1}),
    ("requires", ("no-such-premise",)), ("budget", {"ci": -1}),
])
def test_malformed_claim_records_name_the_field(field, value) -> None:
    with pytest.raises(ClaimError) as exc:
        _claim(**{field: value})
    assert exc.value.field in (field, "protocol")


def test_undeclared_keys_are_refused_and_reads_recorded() -> None:
    c = _claim()
    reads: dict[str, set[str]] = {}
    assert evidence_of(c, {"a": 1}, reads=reads).status == "ok"
    assert reads == {"tolerances": {"g"}, "protocol": {"h"}}
    sneaky = _claim(check=lambda i, t, p: Evidence.judge(t["other"], 1.0))
    with pytest.raises(ClaimError, match="undeclared key 'other'"):
        evidence_of(sneaky, {"a": 1})
    with pytest.raises(ClaimError, match="not a tolerances key"):
        evidence_of(c, {"a": 1}, tolerances={"nope": 1})


def test_premises_are_evaluated_by_the_runner() -> None:
    from attnsvm.properties.premises import Premise, require

    positive = Premise("positive", "a > 0", lambda i, t: i["a"] > 0)
    budget = Premise("budget", "the run converged", unmet="inconclusive")

    def check(i, t, p):
        require("budget", i["a"] < 5, a=i["a"])
        return Evidence.judge(0.0, 1.0)

    c = _claim(requires=(positive, budget), check=check, tolerances={}, protocol={})
    assert c.conditions == "a > 0; the run converged"
    assert evidence_of(c, {"a": -1}).status == "out_of_scope"
    ev = evidence_of(c, {"a": 7})
    assert ev.status == "inconclusive" and ev.details == {"premise": "budget", "a": 7}
    assert evidence_of(c, {"a": 1}).status == "ok"
    undeclared = _claim(check=check, tolerances={}, protocol={})
    with pytest.raises(ClaimError, match="does not declare"):
        evidence_of(undeclared, {"a": 7})


def test_evidence_judge_never_decides_on_nan() -> None:
    assert Evidence.judge(float("nan"), 1.0).status == "inconclusive"
    assert Evidence.judge(2.0, 1.0).status == "counterexample"


def test_installed_names_outside_the_repository(tmp_path) -> None:
    code = ("import importlib, attnsvm\n"
            "for m in ('reference', 'properties', 'symbolic'):\n"
            "    try:\n        importlib.import_module(m)\n    except ImportError:\n"
            "        pass\n    else:\n        raise SystemExit('importable: ' + m)\n"
            "print(attnsvm.__version__)\n")
    out = run("-c", code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == attnsvm.__version__
    ver = run("-m", "attnsvm", "--version", cwd=tmp_path)
    assert ver.returncode == 0 and attnsvm.__version__ in ver.stdout


def test_public_api_resolves_every_name() -> None:
    for name in attnsvm.__all__:
        assert getattr(attnsvm, name) is not None, name


def test_list_and_help_import_neither_torch_nor_cvxpy(tmp_path) -> None:
    code = ("import sys\nfrom attnsvm.properties.cli import main\n"
            "for argv in (['--help'], ['list', '--json']):\n"
            "    assert main(argv) == 0\n"
            "bad = [m for m in ('torch', 'cvxpy') if m in sys.modules]\n"
            "raise SystemExit(f'imported {bad}' if bad else 0)\n")
    out = run("-c", code, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]


# ----------------------------------------------------------------------------------- layering
LAYERS = {"reference": ROOT / "reference", "symbolic": ROOT / "symbolic",
          "properties": ROOT / "properties"}
FORBIDDEN = {"reference": ("attnsvm.symbolic", "attnsvm.properties"),
             "symbolic": ("attnsvm.reference", "attnsvm.properties")}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names], node.level))
        elif isinstance(node, ast.Import):
            out.extend((a.name, [], 0) for a in node.names)
    return out


def _module_name(path: Path) -> str:
    layer = path.relative_to(ROOT).parts[0]
    rel = path.relative_to(ROOT / layer).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(["attnsvm", layer, *parts])


def _all_modules() -> dict[str, Path]:
    mods = {}
    for folder in LAYERS.values():
        for path in folder.rglob("*.py"):
            mods[_module_name(path)] = path
    for path in (ROOT / "attnsvm").glob("*.py"):
        mods["attnsvm" + ("" if path.stem == "__init__" else "." + path.stem)] = path
    return mods


def test_layers_import_one_way() -> None:
    for layer, banned in FORBIDDEN.items():
        for path in LAYERS[layer].rglob("*.py"):
            for mod, _, _ in _imports(path):
                assert not mod.startswith(banned), f"{path.relative_to(ROOT)} imports {mod}"


def test_no_private_names_across_modules() -> None:
    for name, path in _all_modules().items():
        for mod, names, _ in _imports(path):
            if mod.startswith("attnsvm") and mod != name:
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{name} imports {private} from {mod}"


def test_no_import_cycles() -> None:
    mods = _all_modules()
    graph = {}
    for name, path in mods.items():
        deps = set()
        for mod, names, _ in _imports(path):
            # `from pkg import submodule` depends on the submodule (a parent package runs for
            # any import below it, so it is not counted as the dependency); other names on mod
            subs = [f"{mod}.{n}" for n in names if f"{mod}.{n}" in mods]
            cands = subs if subs and len(subs) == len(names) else [mod, *subs]
            deps.update(c for c in cands if c in mods and c != name)
        graph[name] = deps
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in graph[node]:
            if state.get(dep) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*stack, node, dep]))
            if dep not in state:
                visit(dep, [*stack, node])
        state[node] = 2

    for node in graph:
        if node not in state:
            visit(node, [])


def test_packaging_lists_every_package() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    for name, path in _all_modules().items():
        if path.name == "__init__.py":
            assert f'"{name}"' in text, f"pyproject.toml does not list the package {name}"


def test_installed_packages_register_claims_through_the_entry_point(tmp_path) -> None:
    """A distribution on sys.path with an ``attnsvm.claims`` entry point adds its claims."""
    (tmp_path / "userpkg_claims.py").write_text(CLAIM_FILE.replace("user.small-sum", "pkg.sum"))
    info = tmp_path / "userpkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: userpkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[attnsvm.claims]\nmine = userpkg_claims\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "attnsvm", "list", "--json"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    listed = {c["id"]: c for c in json.loads(out.stdout)["claims"]}
    assert listed["pkg.sum"]["origin"].startswith("entry point mine")
