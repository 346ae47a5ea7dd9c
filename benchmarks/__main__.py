"""Run every ratio benchmark (``python -m benchmarks [--quick] [NAMES...]``); print and save JSON.

The results go to ``benchmarks/results.json`` (``--quick``: ``benchmarks/results-quick.json``;
``--out`` overrides); naming benchmarks replaces their entries there and keeps the others.
Progress and each ratio are printed to stderr as they finish.

Each module ``benchmarks/bench_*.py`` exposes ``run(quick: bool) -> dict`` and measures the suite
against the baseline a user would otherwise run, side by side in this process (DESIGN.md,
"Performance"). Ratios, not absolute times, are the result: the machines are shared and noisy.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import benchmarks

    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(names)} (default: all)")
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and caps (a smoke run, under 2 minutes)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the JSON (default benchmarks/results.json, "
                             "benchmarks/results-quick.json with --quick)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    out = args.out or Path(benchmarks.__path__[0]) / (
        "results-quick.json" if args.quick else "results.json")
    # Running some benchmarks updates their entries and keeps the others' (earlier runs).
    results: dict = {}
    if args.names and out.exists():
        try:
            results = {k: v for k, v in json.loads(out.read_text()).items() if k in names}
        except (json.JSONDecodeError, AttributeError):
            results = {}
    t_all = time.perf_counter()
    for name in args.names or names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        results[name] = module.run(quick=args.quick)
        print(f"{name} done in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        # Saved after every benchmark: an interrupted run keeps what finished.
        out.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(json.dumps(results, indent=2, default=float))
    print(f"all benchmarks done in {time.perf_counter() - t_all:.1f} s; results in {out}",
          file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
