"""Scaling benchmark (issue 15 §4): the certified Att-SVM solvers at up to 1e4 constraints.

Frobenius: ``attnsvm.reference.svm.frobenius.solve_att_svm(problem, "opt")`` against the
*vectorized* cvxpy primal a user would write,

    min ½||W||_F²  s.t.  cp.sum(cp.multiply(A @ W, Z), axis=1) >= 1      (A, Z: K x d),

solved with ``solver=cp.CLARABEL`` (named explicitly) at Clarabel's default tolerances; the
baseline's time is model construction + solve (Clarabel's own solve time is reported too). Its
objective is checked against ours (||W||_F², 1e-6 relative). Curves: time vs constraints
K = n(T−1) at d = 64 (up to K = 10^4, past d² = 4096: the rank-deficient regime) and d = 128,
and time vs d at K = 2000 and at K = 10^4. ``summary["baseline_stops_finishing"]`` records the
largest size the baseline finished and the smallest it did not (timeout, failure or skip, with
the reason). Nuclear (``svm.nuclear.solve_nuclear_svm``):
ours only (``bench_svm_nuc`` holds the nuclear ratios), time vs d and vs K.

Every measurement runs in a child process (forkserver) with a wall-clock cap (killed and recorded as
"timeout" past it) under ``threadpool_limits(1)``; the baseline is skipped, with the reason in
the output, at every size at least as large (K·d²) as one where it took more than
``CAPS[quick]["skip_after"]`` (60 s; 7.5 s in quick mode) or hit its cap (not after an
infeasible status, which is an answer); a curve stops after a
point where ours times out. A line is printed (stderr) before and
after every measurement, so nothing runs for minutes silently.
Run: ``python -m benchmarks.bench_svm_scale [--quick]``; ``run(quick)`` returns the dict.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import traceback
from typing import Any

#: (n, T, d) curves. Frobenius: constraints at d = 64 (T = 21, K = 20 n, past d² = 4096 from
#: n = 205 on), and at d = 128; d at K = 2000 (n = 100) and at K = 10^4 (n = 500).
FULL = {
    "fro_constraints": [(25, 21, 64), (50, 21, 64), (100, 21, 64), (200, 21, 64),
                        (300, 21, 64), (400, 21, 64), (500, 21, 64)],
    "fro_constraints_d128": [(300, 21, 128), (500, 21, 128)],
    "fro_d": [(100, 21, 24), (100, 21, 32), (100, 21, 48), (100, 21, 64), (100, 21, 96),
              (100, 21, 128), (100, 21, 256)],
    "fro_d_1e4": [(500, 21, 64), (500, 21, 96), (500, 21, 128), (500, 21, 192)],
    "nuc_d": [(20, 16, 16), (20, 16, 32), (20, 16, 64), (20, 16, 128), (20, 16, 256),
              (20, 16, 384)],
    "nuc_constraints": [(20, 16, 32), (50, 16, 32), (100, 16, 32), (200, 16, 32),
                        (400, 16, 32)],
}
QUICK = {
    # d = 20: K = 1000 and 2000 are past d² = 400 (the rank-deficient regime, scaled down)
    "fro_constraints": [(25, 21, 20), (50, 21, 20), (100, 21, 20)],
    "fro_d": [(25, 21, 16), (25, 21, 48), (25, 21, 128)],
    "nuc_d": [(20, 16, 16), (20, 16, 32), (20, 16, 64)],
    "nuc_constraints": [(50, 16, 32), (100, 16, 32)],
}
CAPS = {  # wall-clock caps per measurement (s): ours, baseline; the baseline is not run at a
    # size whose K·d² (nonzeros of its constraint matrix) reaches that of a size where it took
    # longer than "skip_after" (half its cap: its time grows at least linearly in K·d², so the
    # next size of a curve, twice as large or more, would pass the cap) or failed
    False: {"ours": 120.0, "baseline": 120.0, "skip_after": 60.0},
    True: {"ours": 20.0, "baseline": 15.0, "skip_after": 7.5},
}
OBJECTIVE_RTOL = 1e-6
TARGET_RATIO = 5.0
TARGET_SECONDS_AT_1E4 = 30.0
SEED = 0


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- child workers
def _ours_fro(n: int, T: int, d: int) -> dict[str, Any]:
    from attnsvm.reference.attention.families import make_problem
    from attnsvm.reference.svm.frobenius import solve_att_svm

    problem = make_problem("paper", n, T, d, SEED)
    t0 = time.perf_counter()
    sol = solve_att_svm(problem, "opt")
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "objective_sq": float(sol.objective) ** 2,
        "certificate": {"min_margin": float(sol.min_margin),
                        "kkt_residual": float(sol.kkt_residual),
                        "duality_gap": float(sol.duality_gap)},
        "method": sol.method, "refinement": sol.extra.get("refinement"),
        "fallbacks": sol.extra.get("fallbacks", []), "iterations": sol.extra.get("iterations"),
        "support": int(len(sol.support)), "rank": int(sol.rank),
    }


def _baseline_fro(n: int, T: int, d: int) -> dict[str, Any]:
    import cvxpy as cp
    import numpy as np

    from attnsvm.reference.attention.families import make_problem
    from attnsvm.reference.svm.constraints import margin_constraints
    from attnsvm.reference.svm.selection import resolve_selection

    problem = make_problem("paper", n, T, d, SEED)
    mc = margin_constraints(problem, resolve_selection(problem, "opt"))
    A, Z = mc.a, mc.z
    t0 = time.perf_counter()
    W = cp.Variable((d, d))
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(W)),
                      [cp.sum(cp.multiply(A @ W, Z), axis=1) >= 1])
    prob.solve(solver=cp.CLARABEL)
    seconds = time.perf_counter() - t0
    Wv = None if W.value is None else np.asarray(W.value, dtype=np.float64)
    return {
        "seconds": seconds,
        "clarabel_solve_seconds": float(prob.solver_stats.solve_time or 0.0),
        "iterations": prob.solver_stats.num_iters,
        "status": str(prob.status),
        "objective_sq": None if Wv is None else float(np.sum(Wv * Wv)),
        "min_margin": None if Wv is None else float(mc.values(Wv).min()),
    }


def _ours_nuc(n: int, T: int, d: int) -> dict[str, Any]:
    from attnsvm.reference.attention.families import make_problem
    from attnsvm.reference.svm.nuclear import solve_nuclear_svm

    problem = make_problem("paper", n, T, d, SEED)
    t0 = time.perf_counter()
    sol = solve_nuclear_svm(problem, "opt")
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "objective": float(sol.objective),
        "certificate": {"min_margin": float(sol.min_margin),
                        "kkt_residual": float(sol.kkt_residual),
                        "duality_gap": float(sol.duality_gap)},
        "method": sol.method, "rank": int(sol.rank),
        "iterations": sol.extra.get("iterations"),
        "reduced_shape": list(sol.extra.get("reduced_shape", [])),
    }


WORKERS = {"ours_fro": _ours_fro, "baseline_fro": _baseline_fro, "ours_nuc": _ours_nuc}


def _child(conn: Any, kind: str, args: tuple[int, int, int]) -> None:
    from threadpoolctl import threadpool_limits

    try:
        with threadpool_limits(1):
            conn.send({"ok": True, **WORKERS[kind](*args)})
    except BaseException as exc:  # reported, never raised: one size must not end the run
        conn.send({"ok": False, "error": f"{type(exc).__name__}: {exc}",
                   "traceback": traceback.format_exc(limit=3)})
    finally:
        conn.close()


_PRELOAD = ["numpy", "scipy.linalg", "scipy.optimize", "threadpoolctl", "cvxpy",
            "attnsvm.reference.svm.frobenius", "attnsvm.reference.svm.nuclear",
            "attnsvm.reference.attention.families", "benchmarks.bench_svm_scale"]


def _context() -> Any:
    """A forkserver context: children fork from a clean server process with the imports done
    (a plain fork of this process could inherit the threads of a solver that already ran in it,
    e.g. an earlier benchmark's Clarabel, and hang)."""
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    return ctx


def measure(kind: str, args: tuple[int, int, int], cap: float) -> dict[str, Any]:
    """Run one worker in a child process under a wall-clock cap; never raises."""
    ctx = _context()
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, kind, args), daemon=True)
    t0 = time.perf_counter()
    proc.start()
    child.close()
    out: dict[str, Any] | None = None
    if parent.poll(cap):
        try:
            out = parent.recv()
        except EOFError:
            out = None
    wall = time.perf_counter() - t0
    if proc.is_alive():
        proc.kill()
    proc.join()
    parent.close()
    if out is None:
        if wall >= cap:
            return {"ok": False, "error": f"timeout: killed after the {cap:.0f} s cap",
                    "timeout": True}
        return {"ok": False, "error": f"child died (exit code {proc.exitcode}; out of memory?)"}
    return out


# ----------------------------------------------------------------------------- curves
def _fro_point(n: int, T: int, d: int, caps: dict[str, float],
               baseline: str | None) -> dict[str, Any]:
    K = n * (T - 1)
    row: dict[str, Any] = {"n": n, "T": T, "d": d, "constraints": K}
    _log(f"  fro n={n} T={T} d={d} K={K}: ours (cap {caps['ours']:.0f} s) ...")
    ours = measure("ours_fro", (n, T, d), caps["ours"])
    row["ours"] = ours
    row["our_seconds"] = ours.get("seconds")
    row["certificate"] = ours.get("certificate")
    if ours["ok"]:
        c = ours["certificate"]
        _log(f"    ours {ours['seconds']:.3f} s, certified: min margin {c['min_margin']:.12f}, "
             f"KKT {c['kkt_residual']:.1e}, gap {c['duality_gap']:.1e} ({ours['method']}, "
             f"{ours['iterations']} exchanges, support {ours['support']} of K={K}, d²={d * d}"
             f"{', fallbacks ' + ','.join(ours['fallbacks']) if ours['fallbacks'] else ''})")
    else:
        _log(f"    ours FAILED: {ours['error']}")
    if baseline is not None:
        row.update(baseline_seconds=None, baseline_reason=baseline, ratio=None,
                   objective_rel_diff=None, objectives_agree=None)
        _log(f"    baseline skipped: {baseline}")
        return row
    _log(f"    cvxpy + CLARABEL, vectorized primal (cap {caps['baseline']:.0f} s) ...")
    base = measure("baseline_fro", (n, T, d), caps["baseline"])
    row["baseline"] = base
    if not base["ok"] or base.get("objective_sq") is None:
        reason = base.get("error") or f"no solution (status {base.get('status')})"
        if not ours["ok"] and "infeasible" in str(base.get("status")).lower() \
                and "Infeasible" in ours["error"]:
            reason += "; ours reports infeasibility too (no time ratio)"
        row.update(baseline_seconds=None, baseline_reason=reason, ratio=None,
                   objective_rel_diff=None, objectives_agree=None)
        _log(f"    baseline: {reason}")
        return row
    row["baseline_seconds"] = base["seconds"]
    row["baseline_reason"] = None
    if ours["ok"]:
        rel = abs(ours["objective_sq"] - base["objective_sq"]) / abs(ours["objective_sq"])
        row.update(ratio=base["seconds"] / ours["seconds"], objective_rel_diff=rel,
                   objectives_agree=bool(rel <= OBJECTIVE_RTOL))
        _log(f"    cvxpy+CLARABEL {base['seconds']:.2f} s (Clarabel solve "
             f"{base['clarabel_solve_seconds']:.2f} s, {base['status']}) -> RATIO "
             f"{row['ratio']:.1f}x; ||W||_F^2 rel. diff {rel:.1e} "
             f"({'agree' if row['objectives_agree'] else 'DISAGREE'} to {OBJECTIVE_RTOL:g})")
    else:
        row.update(ratio=None, objective_rel_diff=None, objectives_agree=None)
        _log(f"    cvxpy+CLARABEL {base['seconds']:.2f} s; no ratio (ours failed)")
    return row


def _fro_curve(name: str, sizes: list[tuple[int, int, int]], caps: dict[str, float],
               too_big: dict[str, Any]) -> list[dict[str, Any]]:
    """One curve; ``too_big`` ({"size": K·d², "reason"}) is shared by the curves."""
    _log(f" curve {name}")
    rows: list[dict[str, Any]] = []
    for i, (n, T, d) in enumerate(sizes):
        size = n * (T - 1) * d * d
        skip = too_big["reason"] if size >= too_big["size"] else None
        row = _fro_point(n, T, d, caps, skip)
        rows.append(row)
        bs = row.get("baseline_seconds")
        slow = bool(row.get("baseline", {}).get("timeout")) or (
            bs is not None and bs > caps["skip_after"])
        if skip is None and slow and size < too_big["size"]:
            prev = f"took {bs:.0f} s" if bs is not None else f"failed ({row['baseline_reason']})"
            too_big.update(size=size, reason=(
                f"baseline {prev} at K={row['constraints']}, d={d} (> {caps['skip_after']:.0f} s "
                "or failed): not run where K*d^2 is at least as large"))
        if not row["ours"]["ok"] and row["ours"].get("timeout"):
            for m, t, e in sizes[i + 1:]:
                rows.append({"n": m, "T": t, "d": e, "constraints": m * (t - 1),
                             "skipped": "ours timed out at a smaller size"})
            _log(f"   (rest of {name} skipped: ours timed out)")
            break
    return rows


def _nuc_curve(name: str, sizes: list[tuple[int, int, int]], cap: float) -> list[dict[str, Any]]:
    _log(f" curve {name}")
    rows: list[dict[str, Any]] = []
    for i, (n, T, d) in enumerate(sizes):
        K = n * (T - 1)
        _log(f"  nuc n={n} T={T} d={d} K={K}: ours (cap {cap:.0f} s) ...")
        ours = measure("ours_nuc", (n, T, d), cap)
        rows.append({"n": n, "T": T, "d": d, "constraints": K, "our_seconds": ours.get("seconds"),
                     "certificate": ours.get("certificate"), "ours": ours})
        if ours["ok"]:
            c = ours["certificate"]
            _log(f"    ours {ours['seconds']:.2f} s, certified: min margin "
                 f"{c['min_margin']:.10f}, KKT {c['kkt_residual']:.1e}, gap "
                 f"{c['duality_gap']:.1e}, rank {ours['rank']}, reduced "
                 f"{ours['reduced_shape']}, {ours['iterations']} iterations")
        else:
            _log(f"    ours FAILED: {ours['error']}")
            if ours.get("timeout"):
                for m, t, e in sizes[i + 1:]:
                    rows.append({"n": m, "T": t, "d": e, "constraints": m * (t - 1),
                                 "skipped": "ours timed out at a smaller size"})
                _log(f"   (rest of {name} skipped: ours timed out)")
                break
    return rows


def _summary(fro: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    both = [r for rows in fro.values() for r in rows if r.get("ratio") is not None]
    # "largest": most nonzeros in the constraint matrix (K·d²), then most constraints
    largest = max(both, key=lambda r: (r["constraints"] * r["d"] ** 2, r["constraints"]),
                  default=None)
    at_1e4 = [r for rows in fro.values() for r in rows
              if r["constraints"] >= 10_000 and "ours" in r]
    certified = [r for r in at_1e4 if r["ours"]["ok"]]
    best = min((r["our_seconds"] for r in certified), default=None)
    finished = [r for rows in fro.values() for r in rows if r.get("baseline_seconds") is not None]
    not_finished = [r for rows in fro.values() for r in rows
                    if "ours" in r and r.get("baseline_seconds") is None]
    size = lambda r: (r["constraints"] * r["d"] ** 2, r["constraints"])  # noqa: E731
    last = max(finished, key=size, default=None)
    first = min(not_finished, key=size, default=None)
    return {
        "baseline_stops_finishing": {
            "largest_finished": None if last is None else {
                k: last[k] for k in ("n", "T", "d", "constraints", "baseline_seconds")},
            "smallest_not_finished": None if first is None else {
                k: first[k] for k in ("n", "T", "d", "constraints", "baseline_reason")},
        },
        "largest_both_finish": None if largest is None else {
            k: largest[k] for k in ("n", "T", "d", "constraints", "our_seconds",
                                    "baseline_seconds", "ratio", "objectives_agree")},
        "ratio_target": TARGET_RATIO,
        "ratio_target_met": None if largest is None else bool(largest["ratio"] >= TARGET_RATIO),
        "sizes_at_1e4_constraints": [
            {"n": r["n"], "T": r["T"], "d": r["d"], "our_seconds": r["our_seconds"],
             "error": r["ours"].get("error")} for r in at_1e4],
        "certified_1e4_within_30s": None if not at_1e4 else bool(
            best is not None and best <= TARGET_SECONDS_AT_1E4),
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Run the curves; returns {"benchmark", "quick", "frobenius", "nuclear", "summary"}."""
    grid, caps = (QUICK if quick else FULL), CAPS[quick]
    t0 = time.perf_counter()
    too_big: dict[str, Any] = {"size": float("inf"), "reason": None}
    fro = {name: _fro_curve(name, sizes, caps, too_big)
           for name, sizes in grid.items() if name.startswith("fro")}
    nuc = {name: _nuc_curve(name, sizes, caps["ours"])
           for name, sizes in grid.items() if name.startswith("nuc")}
    summary = _summary(fro)
    summary["wall_seconds"] = time.perf_counter() - t0
    return {
        "benchmark": "certified Att-SVM at scale vs vectorized cvxpy + CLARABEL (defaults)",
        "quick": quick, "seed": SEED, "family": "paper", "blas_threads": 1, "caps_s": caps,
        "frobenius": fro, "nuclear": nuc, "summary": summary,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    print(json.dumps(run(quick=args.quick), indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
