"""Issue 17 §2-3: the command-line contract of check / hunt / replay / sweep / list / reproduce.

Every option is validated before any work starts: a bad value exits 2 with one line on stderr
(no traceback); results print as strict JSON (no NaN / Infinity); inputs are never modified and
nothing is written into the working directory; numpy RuntimeWarnings never print.

Budget: ``test_claims_cli_contract`` tries ``EXAMPLES`` (100 in ci, about 7 s) generated command
lines (argument pools of valid and invalid values, and record files with random edits);
``HYPOTHESIS_PROFILE=dev`` multiplies by 4, ``deep`` by 40. The regression tests add 40 fixed
command lines.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from attnsvm.properties.cli import main
from attnsvm.properties.files import writable_path

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
EXAMPLES = 100 * {"ci": 1, "dev": 4, "deep": 40}.get(PROFILE, 1)
SAVED = Path(__file__).parent / "counterexamples"
RECORD = "tfsvm_feasible-underparam-1dc45a49d5"
FAST = "tfsvm.feasible-underparam"


def run(capfd, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capfd.readouterr()
    return code, out, err


def assert_contract(code: int, out: str, err: str, json_out: bool = False) -> None:
    assert code in (0, 1, 2, 3, 4), (code, err)
    assert "Traceback" not in err and "Warning" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
        assert err.startswith("attnsvm: error:"), err
    if json_out and code in (0, 1) and out.strip():
        json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON"))


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run in an empty working directory with the cache in tmp_path; fail on stray files."""
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("ATTNSVM_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("COLUMNS", "200")
    yield work
    assert list(work.iterdir()) == [], "a command wrote into the working directory"


@pytest.fixture
def places(tmp_path) -> dict[str, str]:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    return {"file": str(blocker), "ro": str(ro), "fifo": str(fifo), "tmp": str(tmp_path)}


UNUSABLE = ["{file}/x", "", "/proc/x/y", "n" * 300, "{fifo}", "{tmp}/" + "d" * 256 + "/f"]
if os.geteuid() != 0:  # root writes into read-only folders; /dev is root's to replace
    UNUSABLE += ["{ro}/x", "/dev/full"]


def _argvs(out_kind: str) -> list[list[str]]:
    return [
        ["check", "tfsvm.rank-lemma", "--workers", "1", out_kind, "{p}"],
        ["hunt", FAST, "--max-examples", "1", "--out", "{p}"],
        ["sweep", FAST, "--workers", "1", out_kind, "{p}"],
        ["reproduce", "svm_rank", "--quick", "--out", "{p}"],
    ]


@pytest.mark.parametrize("path", UNUSABLE)
@pytest.mark.parametrize("argv", [*_argvs("--output"), ["check", FAST, "--out", "{p}"]],
                         ids=lambda a: a[0] if isinstance(a, list) else None)
def test_unusable_output_paths_exit_2_before_work(capfd, places, argv, path) -> None:
    p = path.format(**places)
    code, out, err = run(capfd, *[a.replace("{p}", p) for a in argv])
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert Path(places["file"]).read_text() == "x"
    assert stat.S_ISFIFO(os.stat(places["fifo"]).st_mode)


def test_dev_full_is_refused_without_being_touched() -> None:
    from attnsvm.reference.errors import ProblemError

    before = os.stat("/dev/full")
    with pytest.raises(ProblemError, match="not a regular file"):
        writable_path("/dev/full")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and os.stat("/dev/full") == before


BAD_OPTIONS = [
    ["hunt", FAST, "--seed", "-1"],
    ["hunt", FAST, "--seed", str(2**40)],
    ["hunt", FAST, "--workers", "100000"],
    ["hunt", FAST, "--workers", "0"],
    ["hunt", FAST, "--max-examples", "0"],
    ["hunt", FAST, "--max-examples", "-5"],
    ["hunt", FAST, "--scheduler", "bogus"],
    ["check", FAST, "--seed", "-3"],
    ["check", FAST, "--workers", "257"],
    ["check", FAST, "--max-examples", "99999999999"],
    ["check", FAST, "--scheduler", "bogus"],
    ["check", FAST, "--scheduler", "tcp://host:99999"],
    ["sweep", FAST, "--seeds", "0"],
    ["sweep", FAST, "--seeds", "-2"],
    ["sweep", FAST, "--workers", "-1"],
    ["sweep", FAST, "--scheduler", "bogus"],
    ["sweep", FAST, "--set", "n=abc"],
    ["sweep", FAST, "--set", "n=-1"],
    ["sweep", FAST, "--set", "n=0"],
    ["sweep", FAST, "--set", "n=1.5"],
    ["sweep", FAST, "--set", "n=true"],
    ["sweep", FAST, "--set", "n=1000000000"],
    ["sweep", FAST, "--set", "family=bogus"],
    ["sweep", FAST, "--set", "options=abc"],
    ["sweep", FAST, "--set", "tolerances.certificate_residual=NaN"],
    ["sweep", "fwp.capacity-exact", "--set", "N=x,y"],
    ["reproduce", "svm_rank", "--seed", "-1"],
    ["reproduce", "svm_rank", "--seed", "99999999999999999999"],
    ["reproduce", "bogus"],
    ["list", "--claims", "/nonexistent.py"],
    ["replay", "/nonexistent.json"],
    ["replay", ""],
]


@pytest.mark.parametrize("argv", BAD_OPTIONS, ids=" ".join)
def test_bad_options_exit_2_with_one_line(capfd, argv) -> None:
    code, out, err = run(capfd, *argv)
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1, err
    assert err.startswith("attnsvm: error:")


def test_numpy_warnings_never_print(capfd) -> None:
    code, out, err = run(capfd, "sweep", "tfsvm.softmax-saturation", "--set",
                         "R_max=1e300", "--workers", "1", "--json")
    assert code == 0 and err.strip() == "", err
    json.loads(out)
    with np.errstate(all="warn"):  # the caller's numpy settings are restored afterwards
        assert np.geterr()["over"] == "warn"
        main(["list", "--json"])
        assert np.geterr()["over"] == "warn"
    capfd.readouterr()


# ----------------------------------------------------------------------------- the fuzz test

def _mutated_record(data, folder: Path) -> str:
    for ext in (".json", ".npz"):
        shutil.copy(SAVED / f"{RECORD}{ext}", folder / f"{RECORD}{ext}")
    path = folder / f"{RECORD}.json"
    kind = data.draw(st.sampled_from(["none", "bytes", "truncate", "field", "drop", "npz",
                                      "json-junk"]))
    text = path.read_bytes()
    if kind == "bytes":
        path.write_bytes(data.draw(st.binary(max_size=64)))
    elif kind == "truncate":
        path.write_bytes(text[: data.draw(st.integers(0, len(text)))])
    elif kind in ("field", "drop"):
        rec = json.loads(text)
        key = data.draw(st.sampled_from(sorted(rec)))
        if kind == "drop":
            rec.pop(key)
        else:
            rec[key] = data.draw(st.one_of(st.none(), st.integers(), st.text(max_size=5),
                                           st.lists(st.integers(), max_size=2),
                                           st.dictionaries(st.text(max_size=3), st.integers(),
                                                           max_size=2)))
        path.write_text(json.dumps(rec))
    elif kind == "npz":
        (folder / f"{RECORD}.npz").write_bytes(data.draw(st.binary(max_size=64)))
    elif kind == "json-junk":
        path.write_text(data.draw(st.sampled_from(["[]", "1", "null", '{"claim": 1}',
                                                  "[" * 5000, '{"a": NaN}'])))
    return str(path)


SEEDS = st.sampled_from(["0", "7", "-1", "4294967296", "abc", "1e3"])
WORKERS = st.sampled_from(["1", "0", "257", "-2", "x"])
MAXEX = st.sampled_from(["1", "2", "0", "-1", "100000000000"])


@st.composite
def command_lines(draw, tmp: Path, data) -> tuple[list[str], bool]:
    cmd = draw(st.sampled_from(["check", "hunt", "replay", "sweep", "list", "reproduce"]))
    as_json = draw(st.booleans())
    out = draw(st.sampled_from([str(tmp / "out"), str(tmp / "file" / "x"), "", "/proc/x"]))
    if cmd == "check":
        argv = ["check", draw(st.sampled_from([FAST, "tfsvm.rank-lemma", "nope"])),
                "--workers", draw(WORKERS), "--out", out]
        if draw(st.booleans()):
            argv += ["--max-examples", draw(MAXEX)]
        if draw(st.booleans()):
            argv += ["--seed", draw(SEEDS), "--profile", draw(st.sampled_from(["ci", "dev"]))]
        if draw(st.booleans()):
            argv += ["--output", draw(st.sampled_from([str(tmp / "r.json"), str(tmp)]))]
        if draw(st.booleans()):
            argv += ["--instance", draw(st.sampled_from(
                ['{"family": "paper", "n": 3, "T": 3, "d": 1, "seed": 0, "options": {}}',
                 "[1]", "{", '{"n": "x"}']))]
    elif cmd == "hunt":
        argv = ["hunt", draw(st.sampled_from([FAST, "nope"])), "--max-examples",
                draw(st.sampled_from(["1", "2", "0", "-1"])), "--seed", draw(SEEDS),
                "--workers", draw(st.sampled_from(["1", "0", "300"])), "--out", out]
    elif cmd == "replay":
        argv = ["replay", _mutated_record(data, tmp)]
    elif cmd == "sweep":
        name = draw(st.sampled_from(["n", "d", "selections", "certificate_residual", "family",
                                     "nope", "seed"]))
        values = draw(st.lists(st.sampled_from(["1", "2", "3", "-1", "0", "abc", "1.5", "true",
                                                "NaN", "Infinity", "null", "1e9", '"paper"']),
                               min_size=1, max_size=2))
        argv = ["sweep", FAST, "--set", f"{name}={','.join(values)}",
                "--workers", draw(WORKERS)]
        if draw(st.booleans()):
            argv += ["--seeds", draw(st.sampled_from(["1", "2", "0", "-1"]))]
        if draw(st.booleans()):
            argv += ["--out", out]
    elif cmd == "list":
        argv = ["list"]
        if draw(st.booleans()):
            argv += ["--claims", draw(st.sampled_from(["/nonexistent.py", "os", str(tmp)]))]
    else:  # real runs take minutes: only the argument checks are fuzzed
        argv = ["reproduce", draw(st.sampled_from(["bogus", "svm_rank"])), "--quick",
                "--seed", draw(st.sampled_from(["-1", "abc", "99999999999999999999"])),
                "--out", out]
    if as_json and cmd != "reproduce":
        argv.append("--json")
    return argv, as_json


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          derandomize=PROFILE == "ci",
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_claims_cli_contract(tmp_path_factory, capfd, _isolated, data) -> None:
    """check / hunt / replay / sweep / list / reproduce: exit 0-4 only, one stderr line on 2, no
    traceback or warning, no NaN/Infinity in JSON, inputs unchanged, nothing in the cwd."""
    tmp = tmp_path_factory.mktemp("fuzz")
    (tmp / "file").write_text("x")
    argv, as_json = data.draw(command_lines(tmp, data))
    inputs = {p: p.read_bytes() for p in tmp.iterdir() if p.is_file()}
    code, out, err = run(capfd, *argv)
    assert_contract(code, out, err, json_out=as_json)
    for p, before in inputs.items():
        assert p.read_bytes() == before, f"{p} was modified"
    assert list(_isolated.iterdir()) == []


@pytest.mark.parametrize("argv", [
    ["sweep", FAST, "--set", "selections=-4", "--workers", "1", "--json"],
    ["sweep", "fwp.capacity-exact", "--set", "N=-3", "--workers", "1", "--json"],
])
def test_meaningless_grid_values_are_judged_not_crashed(argv, capsys) -> None:
    """A well-typed value a claim cannot use is the claim's to judge (out of scope, or a typed
    error with exit 2): never a traceback from the pool."""
    code = main(argv)
    out, err = capsys.readouterr()
    assert code in (0, 2), err
    if code == 0:
        assert json.loads(out)["results"]
    else:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
