"""Counterexample records: .npz (the problem, when the instance is one) + .json (claim id, spec,
seed, evidence, versions), written atomically; replay re-runs the check and compares the evidence
exactly. The hypothesis example database is a cache; these files are the record.

Integrity (issue 17 §4). A record carries two digests: ``problem_sha256``, the sha256 of its
.npz file's bytes (None when the claim builds no problem), and ``record_sha256``, the sha256 of
the canonical JSON (``canonical_json``: sorted keys, no spaces, ASCII) of every other field.
``replay`` verifies both before it runs anything and refuses (``reproduced`` False, exit 1, with
the reason in ``refused``) a record whose fields were edited, whose .npz was swapped, or whose
``problem`` field was removed / emptied while the .npz of its name lies beside it. Records
written before digests existed are refused too; ``reseal_record`` re-saves one (same fields and
evidence, digests added) after replaying it.

One record per finding. The record's name is derived from the claim id and the spec; when a
record of that name exists with the same claim, spec, tolerances, protocol and evidence, the new
search seed is added to its ``seeds`` list (the first ``seed`` stays); a record with different
content is never overwritten: the new one gets the next free name ``<name>-2``, ``<name>-3``,
... The read-modify-write holds an exclusive lock on the folder (``fcntl.flock``), so two
hunts writing into one folder at the same time keep both seeds.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from attnsvm.properties.files import atomic_write_bytes
from attnsvm.properties.registry import evidence_of, get_claim, overridden
from attnsvm.properties.verdicts import Evidence
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import MEMORY_BUDGET_BYTES

PACKAGES = ("attnsvm", "numpy", "scipy", "torch", "sympy", "cvxpy", "clarabel", "hypothesis")
#: the fields the record digest does not cover (itself) and the private fields load adds
DIGEST_FIELD = "record_sha256"
PROBLEM_DIGEST_FIELD = "problem_sha256"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def record_name(claim_id: str, spec: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return f"{claim_id.replace('.', '_')}-{digest}"


def canonical_json(value: Any) -> str:
    """The canonical JSON text the record digest is computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=True)


def record_digest(record: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of every field but ``record_sha256`` (and private ``_``
    fields)."""
    body = {k: v for k, v in record.items() if k != DIGEST_FIELD and not k.startswith("_")}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seal(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with its ``record_sha256`` (re)computed (other fields unchanged)."""
    body = {k: v for k, v in record.items() if k != DIGEST_FIELD and not k.startswith("_")}
    return {**body, DIGEST_FIELD: record_digest(body)}


def write_record(path: str | os.PathLike[str], record: dict[str, Any]) -> Path:
    """Seal ``record`` and write it atomically as ``path`` (the record's JSON form)."""
    p = Path(path)
    atomic_write_bytes(p, (json.dumps(seal(record), indent=2, sort_keys=True) + "\n").encode())
    return p


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive advisory lock on ``folder`` (no lock file is left behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _same_finding(old: dict[str, Any], new: dict[str, Any]) -> bool:
    keys = ("claim", "spec", "evidence", "tolerances", "protocol")
    return all(canonical_json(old.get(k)) == canonical_json(new.get(k)) for k in keys)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def save_counterexample(
    out_dir: str | os.PathLike[str],
    claim_id: str,
    spec: dict[str, Any],
    evidence: Evidence,
    search_seed: int | None = None,
    tolerances: dict[str, Any] | None = None,
    protocol: dict[str, Any] | None = None,
) -> Path:
    """Write <name>.json (+ <name>.npz with the problem arrays when the claim builds one); the
    record keeps the tolerances and protocol the evidence was computed with, and its digests.
    The same finding saved again adds its seed to the existing record's ``seeds``; a different
    record of the same name is never overwritten (see the module docstring). Returns the path
    of the record that holds the finding."""
    claim = get_claim(claim_id)
    out = Path(out_dir)
    base = record_name(claim_id, spec)
    record: dict[str, Any] = {
        "claim": claim_id,
        "expected": claim.expected.value,
        "spec": spec,
        "seed": search_seed,
        "seeds": [] if search_seed is None else [search_seed],
        "evidence": json.loads(json.dumps(evidence.as_dict())),
        "tolerances": overridden(claim, "tolerances", tolerances),
        "protocol": overridden(claim, "protocol", protocol),
        "origin": claim.origin,
        "versions": versions(),
        "problem": None,
        PROBLEM_DIGEST_FIELD: None,
    }
    with _folder_lock(out):
        for k in range(1, 1000):
            name = base if k == 1 else f"{base}-{k}"
            path = out / f"{name}.json"
            if not path.exists():
                break
            old = _read_json(path)
            if old is not None and _same_finding(old, record):
                seeds = list(old.get("seeds") or ([] if old.get("seed") is None
                                                   else [old["seed"]]))
                if search_seed is not None and search_seed not in seeds:
                    seeds.append(search_seed)
                    write_record(path, {**old, "seeds": seeds})
                return path
        else:
            raise ProblemError("out", f"{out} holds 999 different records named {base}-*")
        if claim.build_problem is not None:
            problem = claim.build_problem(spec)
            npz = problem.save(out / f"{name}.npz")
            record["problem"] = npz.name
            record[PROBLEM_DIGEST_FIELD] = file_digest(npz)
        return write_record(path, record)


def reseal_record(path: str | os.PathLike[str]) -> Path:
    """Re-save a record written before digests existed: its fields unchanged (the evidence
    included), ``seeds`` added from ``seed``, the effective tolerances / protocol and the
    claim's origin added when absent, and both digests computed. The caller replays the record
    before and after (the evidence must not change)."""
    p = Path(path)
    record = _parse(p)
    record.pop("_path", None)
    claim = get_claim(record["claim"])
    record.setdefault("seeds", [] if record.get("seed") is None else [record["seed"]])
    for kind in ("tolerances", "protocol"):
        if record.get(kind) is None:
            record[kind] = overridden(claim, kind, None)
    record.setdefault("origin", claim.origin)
    npz = p.parent / record["problem"] if record.get("problem") else None
    record[PROBLEM_DIGEST_FIELD] = None if npz is None else file_digest(npz)
    return write_record(p, record)


def _parse(p: Path) -> dict[str, Any]:
    """Read and validate a record file's JSON (every defect a ProblemError('file'))."""
    try:
        record = json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ProblemError("file", f"{p} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ProblemError("file", f"{p} is not valid JSON ({exc.msg})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        raise ProblemError("file", f"{p} cannot be read as a record ({exc})") from None
    except OSError as exc:
        raise ProblemError("file", f"{p} cannot be read ({exc.strerror or exc})") from None
    if not isinstance(record, dict):
        raise ProblemError("file", f"{p} holds a JSON {type(record).__name__}, not a record")
    for key, kind in (("claim", str), ("spec", dict), ("evidence", dict)):
        if not isinstance(record.get(key), kind):
            raise ProblemError("file", f"{p}: field {key!r} must be a JSON "
                               f"{'string' if kind is str else 'object'}")
    for key in ("tolerances", "protocol"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise ProblemError("file", f"{p}: field {key!r} must be a JSON object")
    for key in ("problem", PROBLEM_DIGEST_FIELD, DIGEST_FIELD):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise ProblemError("file", f"{p}: field {key!r} must be a JSON string or null")
    seeds = record.get("seeds")
    if seeds is not None and not (isinstance(seeds, list) and all(
            isinstance(x, int) and not isinstance(x, bool) for x in seeds)):
        raise ProblemError("file", f"{p}: field 'seeds' must be a list of integers")
    problem = record.get("problem")
    if problem and (Path(problem).name != problem or not problem.endswith(".npz")):
        raise ProblemError("file", f"{p}: field 'problem' must name an .npz file beside the "
                           f"record, got {problem!r}")
    try:
        Evidence.from_dict(record["evidence"])
    except (TypeError, ValueError) as exc:
        raise ProblemError("file", f"{p}: the evidence is malformed ({exc})") from None
    return record


def load_record(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and validate a counterexample record (its .json, or the .npz beside it); every defect
    is a ProblemError('file') naming what is wrong."""
    p = Path(path)
    if p.suffix == ".npz":
        if not p.with_suffix(".json").is_file():
            raise ProblemError("file", f"{p} is a problem file, not a counterexample record; "
                               "replay takes the .json record that hunt or check write beside "
                               "its .npz")
        p = p.with_suffix(".json")
    if not p.is_file():
        raise ProblemError("file", f"no such counterexample record: {p}")
    if p.stat().st_size > MEMORY_BUDGET_BYTES:
        raise ProblemError("file", f"{p} is larger than the memory budget "
                           f"({MEMORY_BUDGET_BYTES / 2**30:.0f} GiB)")
    record = _parse(p)
    record["_path"] = str(p)
    return record


def integrity_problem(record: dict[str, Any]) -> str | None:
    """Why a loaded record cannot be trusted (edited fields, swapped or missing .npz), or None.
    Checked before anything of the record is run."""
    p = Path(record["_path"])
    if DIGEST_FIELD not in record:
        return (f"{p.name} carries no digest (written before records were sealed, or its "
                f"{DIGEST_FIELD!r} field was removed); it cannot be verified")
    if record[DIGEST_FIELD] != record_digest(record):
        return (f"{p.name} was edited after it was written: its content does not match its "
                f"{DIGEST_FIELD}")
    claim = get_claim(record["claim"])
    problem = record.get("problem")
    beside = p.with_suffix(".npz")
    if not problem:
        if claim.build_problem is not None and beside.exists():
            return (f"{p.name} names no problem file but {beside.name} lies beside it "
                    "(its 'problem' field was removed or emptied)")
        if record.get(PROBLEM_DIGEST_FIELD):
            return f"{p.name} has a problem digest but names no problem file"
        return None
    npz = p.parent / problem
    if not npz.is_file():
        return f"the problem file {problem} of {p.name} is missing"
    if npz.stat().st_size > MEMORY_BUDGET_BYTES:
        return f"the problem file {problem} is larger than the memory budget"
    if record.get(PROBLEM_DIGEST_FIELD) != file_digest(npz):
        return f"the problem file {problem} is not the one the record was written with (sha256)"
    return None


#: replays on another floating-point environment (CPU SIMD paths of exp/log differ by an ulp)
#: may not be bit-identical; numbers within this relative difference, with the same status,
#: still count as reproduced, and the report says which of the two happened.
REPLAY_RTOL = 1e-6


def _max_relative_difference(a: Any, b: Any) -> float:
    """Largest relative difference between two JSON trees of the same shape (inf if the shapes
    or any non-numeric leaf differ)."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return 0.0 if a == b else float("inf")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        if a == b or (a != a and b != b):  # equal, or both NaN
            return 0.0
        return abs(a - b) / max(abs(a), abs(b), 1e-300)
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return float("inf")
        return max((_max_relative_difference(a[k], b[k]) for k in a), default=0.0)
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return float("inf")
        return max((_max_relative_difference(x, y) for x, y in zip(a, b, strict=True)),
                   default=0.0)
    return 0.0 if a == b else float("inf")


def replay(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Re-run a saved counterexample; report whether problem and evidence reproduce.

    ``evidence_identical``: bit for bit (the contract on the machine that recorded it).
    ``reproduced``: identical, or the same status with every number within REPLAY_RTOL (another
    floating-point environment); the problem arrays must always be identical. ``refused``: why
    the record's integrity check failed (then nothing was run and ``reproduced`` is False)."""
    record = load_record(path)
    claim = get_claim(record["claim"])
    refused = integrity_problem(record)
    if refused is not None:
        return {
            "claim": record["claim"], "reproduced": False, "refused": refused,
            "evidence_identical": None, "max_relative_difference": None,
            "problem_identical": None, "status": None,
            "saved_evidence": record["evidence"], "replayed_evidence": None,
        }
    problem_same = None
    if record.get("problem") and claim.build_problem is not None:
        saved = AttentionProblem.load(Path(record["_path"]).parent / record["problem"])
        problem_same = saved == claim.build_problem(record["spec"])
    evidence = evidence_of(claim, record["spec"], tolerances=record.get("tolerances"),
                           protocol=record.get("protocol"))
    now = json.loads(json.dumps(evidence.as_dict()))
    same = now == record["evidence"]
    diff = 0.0 if same else _max_relative_difference(now, record["evidence"])
    close = now.get("status") == record["evidence"].get("status") and diff <= REPLAY_RTOL
    return {
        "claim": record["claim"],
        "reproduced": bool((same or close) and problem_same is not False),
        "refused": None,
        "evidence_identical": same,
        "max_relative_difference": diff,
        "problem_identical": problem_same,
        "status": evidence.status,
        "saved_evidence": record["evidence"],
        "replayed_evidence": now,
    }
