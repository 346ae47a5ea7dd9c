"""Run every ratio benchmark (``python -m benchmarks [--quick] [NAMES...]``) and print JSON.

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


def main(argv: list[str] | None = None) -> int:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    import benchmarks

    names = sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                   if m.name.startswith("bench_"))
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("names", nargs="*", help=f"any of {', '.join(names)} (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in names]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = {}
    for name in args.names or names:
        module = importlib.import_module(f"benchmarks.{name}")
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results[name] = module.run(quick=args.quick)
    print(json.dumps(results, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
