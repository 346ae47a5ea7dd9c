"""Counterexample records: .npz (the problem, when the instance is one) + .json (claim id, spec,
seed, evidence, versions), written atomically; replay re-runs the check and compares the evidence
exactly. The hypothesis example database is a cache; these files are the record."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from attnsvm.properties.files import atomic_write_bytes
from attnsvm.properties.registry import evidence_of, get_claim, overridden
from attnsvm.properties.verdicts import Evidence
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError

PACKAGES = ("attnsvm", "numpy", "scipy", "torch", "sympy", "cvxpy", "clarabel", "hypothesis")


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
    record keeps the tolerances and protocol the evidence was computed with."""
    claim = get_claim(claim_id)
    out = Path(out_dir)
    name = record_name(claim_id, spec)
    record: dict[str, Any] = {
        "claim": claim_id,
        "expected": claim.expected.value,
        "spec": spec,
        "seed": search_seed,
        "evidence": evidence.as_dict(),
        "tolerances": overridden(claim, "tolerances", tolerances),
        "protocol": overridden(claim, "protocol", protocol),
        "origin": claim.origin,
        "versions": versions(),
        "problem": None,
    }
    if claim.build_problem is not None:
        problem = claim.build_problem(spec)
        npz = problem.save(out / f"{name}.npz")
        record["problem"] = npz.name
    path = out / f"{name}.json"
    atomic_write_bytes(path, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    return path


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
    try:
        record = json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ProblemError("file", f"{p} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ProblemError("file", f"{p} is not valid JSON ({exc.msg})") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integers too long
        raise ProblemError("file", f"{p} cannot be read as a record ({exc})") from None
    if not isinstance(record, dict):
        raise ProblemError("file", f"{p} holds a JSON {type(record).__name__}, not a record")
    for key, kind in (("claim", str), ("spec", dict), ("evidence", dict)):
        if not isinstance(record.get(key), kind):
            raise ProblemError("file", f"{p}: field {key!r} must be a JSON "
                               f"{'string' if kind is str else 'object'}")
    for key in ("tolerances", "protocol"):
        if record.get(key) is not None and not isinstance(record[key], dict):
            raise ProblemError("file", f"{p}: field {key!r} must be a JSON object")
    try:
        Evidence.from_dict(record["evidence"])
    except (TypeError, ValueError) as exc:
        raise ProblemError("file", f"{p}: the evidence is malformed ({exc})") from None
    record["_path"] = str(p)
    return record


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
    floating-point environment); the problem arrays must always be identical."""
    record = load_record(path)
    claim = get_claim(record["claim"])
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
        "evidence_identical": same,
        "max_relative_difference": diff,
        "problem_identical": problem_same,
        "status": evidence.status,
        "saved_evidence": record["evidence"],
        "replayed_evidence": now,
    }
