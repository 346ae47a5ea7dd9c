"""Batched normalized GD (attnsvm's fused kernel) vs JAX ``jit(vmap(train))`` (issue 15 §3).

Baseline: what a researcher would write today instead of a per-run autograd loop, JAX with
``jax.jit(jax.vmap(train))``, the 2000 steps inside ``lax.fori_loop``, float64
(``jax_enable_x64``), one thread (``--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``, set before jax is imported), the same math: normalized GD
W <- W - eta g / ||g||_F on the logistic loss of f(X) = v^T X^T softmax(X W z) with g from
``jax.grad``. Compile time is excluded from the ratio and reported separately. Candidate:
``attention.training.train_W`` (which dispatches to ``attention.kernel``). Both in this process,
same problems and initialisations, interleaved repeats (min and spread reported: the machine is
shared).

Two data layouts, both as a user would vmap them: per-run data (B problems of the paper family,
``in_axes=0``) and shared data (one problem, B initialisations, ``in_axes=(None,...,0)``).

Also reported: the machine's single-thread float64 GEMM rate (numpy 1000x1000 matmul) and the
kernel's distance from the flop limit, counting the contractions of one step, 4 n d (d_z + T)
flops per run (q = W z, logits, X^T c, grad), plus ~30 n T elementwise operations.

JAX is optional: without it the benchmark is skipped with a message (it is not a dependency).
Target: >= 2x per run at B = 100 and B = 1000 (n=6, T=8, d=10, 2000 steps, eta = 0.1).
Run: ``python -m benchmarks bench_training_jax [--quick]``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from typing import Any

import numpy as np

from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.training import train_W, uniform_init

XLA_ONE_THREAD = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
SHAPE = {"n": 6, "T": 8, "d": 10}
LR = 0.1


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def import_jax() -> Any:
    """jax with float64 on and one CPU thread (flags set before the first import)."""
    if "jax" not in sys.modules:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} {XLA_ONE_THREAD}".strip()
    else:
        _say("  warning: jax was imported before this benchmark; its thread flags may differ")
    import jax

    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    return jax


def jax_trainer(jax: Any, steps: int, lr: float, shared: bool) -> Any:
    """jit(vmap(train)) with the loop in lax.fori_loop (the baseline)."""
    jnp = jax.numpy

    def train(X, Y, Z, v, W0):
        def loss(W):
            s = jax.nn.softmax(jnp.einsum("ntd,de,ne->nt", X, W, Z), axis=-1)
            f = jnp.einsum("nt,ntd,d->n", s, X, v)
            return jnp.mean(jax.nn.softplus(-Y * f))

        def body(_, W):
            g = jax.grad(loss)(W)
            return W - lr * g / jnp.linalg.norm(g)

        return jax.lax.fori_loop(0, steps, body, W0)

    axes = (None, None, None, None, 0) if shared else 0
    return jax.jit(jax.vmap(train, in_axes=axes))


def gemm_peak(size: int = 1000, repeats: int = 5) -> float:
    """Single-thread float64 GEMM rate of this machine (best of ``repeats``), in FLOP/s."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((size, size)), rng.standard_normal((size, size))
    best = np.inf
    with threadpool_limits(1):
        a @ b
        for _ in range(repeats):
            t0 = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - t0)
    return 2.0 * size**3 / best


def step_flops(n: int, T: int, d: int) -> float:
    """Flops of one normalized-GD step of one run: the four contractions 4 n d (d + T) and
    ~30 n T elementwise operations of the log-space softmax and its coefficients."""
    return 4.0 * n * d * (d + T) + 30.0 * n * T


def _data(runs: int, shared: bool) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    n, T, d = SHAPE["n"], SHAPE["T"], SHAPE["d"]
    if shared:
        p = paper_family(n, T, d, 0)
        data = (p.X, p.Y, p.Z, p.v)
    else:
        S = stack_problems([paper_family(n, T, d, seed) for seed in range(runs)])
        data = (S["X"], S["Y"], S["Z"], S["v"])
    return data, uniform_init((runs, d, d), seed=12345)


def compare(jax: Any, runs: int, shared: bool, steps: int, repeats: int) -> dict:
    """Time both on the same B runs (interleaved repeats); agreement at 200 steps."""
    from threadpoolctl import threadpool_limits

    data, W0 = _data(runs, shared)
    jargs = [jax.numpy.asarray(a) for a in (*data, W0)]
    t0 = time.perf_counter()
    compiled = jax_trainer(jax, steps, LR, shared).lower(*jargs).compile()
    compile_s = time.perf_counter() - t0
    jax_s, ours_s, jax_cpu, ours_cpu = [], [], [], []
    with threadpool_limits(1):
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            W_jax = np.asarray(compiled(*jargs).block_until_ready())
            jax_s.append(time.perf_counter() - t0)
            jax_cpu.append(time.process_time() - c0)
            t0, c0 = time.perf_counter(), time.process_time()
            W_ours = train_W(*data, W0, steps=steps, lr=LR).params["W"]
            ours_s.append(time.perf_counter() - t0)
            ours_cpu.append(time.process_time() - c0)
        early = min(steps, 200)
        W_jax_early = np.asarray(
            jax_trainer(jax, early, LR, shared)(*jargs).block_until_ready())
        W_early = train_W(*data, W0, steps=early, lr=LR).params["W"]
    rel = float(np.max(np.abs(W_jax_early - W_early)) / np.max(np.abs(W_early)))
    corr = np.sum(W_jax * W_ours, axis=(1, 2)) / (
        np.linalg.norm(W_jax, axis=(1, 2)) * np.linalg.norm(W_ours, axis=(1, 2)))
    ratios = [j / o for j, o in zip(jax_s, ours_s, strict=True)]
    return {
        "runs": runs,
        "data": "shared" if shared else "per-run",
        "jax_compile_seconds": compile_s,
        "jax_seconds_per_run": min(jax_s) / runs,
        "ours_seconds_per_run": min(ours_s) / runs,
        "speedup": min(jax_s) / min(ours_s),
        "speedup_spread": [min(ratios), statistics.median(ratios), max(ratios)],
        "jax_seconds_all": jax_s,
        "ours_seconds_all": ours_s,
        # CPU time of this process (both single-threaded): robust to a shared machine
        "speedup_cpu_time": min(jax_cpu) / min(ours_cpu),
        "jax_cpu_seconds_all": jax_cpu,
        "ours_cpu_seconds_all": ours_cpu,
        "max_relative_difference_at_200_steps": rel,
        "min_corr_of_final_W_with_jax": float(np.min(corr)),
    }


def run(quick: bool = False) -> dict:
    if importlib.util.find_spec("jax") is None:
        msg = "jax is not installed (pip install jax jaxlib): JAX baseline skipped"
        _say(f"  {msg}")
        return {"benchmark": "fused normalized GD vs JAX jit(vmap)", "skipped": msg}
    jax = import_jax()
    steps = 400 if quick else 2000
    repeats = 1 if quick else 3
    n, T, d = SHAPE["n"], SHAPE["T"], SHAPE["d"]
    peak = gemm_peak()
    flops = step_flops(n, T, d)
    _say(f"  single-thread float64 GEMM peak: {peak / 1e9:.1f} GFLOP/s; "
         f"~{flops / 1e3:.1f} kFLOP per run per step")
    results = []
    for shared in (False, True):
        for runs in (100, 1000):
            r = compare(jax, runs, shared, steps, repeats)
            limit = flops * steps / peak  # seconds per run at the GEMM rate
            r["achieved_gflops"] = flops * steps / r["ours_seconds_per_run"] / 1e9
            r["flop_limit_seconds_per_run"] = limit
            r["times_flop_limit"] = r["ours_seconds_per_run"] / limit
            results.append(r)
            lo, med, hi = r["speedup_spread"]
            _say(f"  B={runs:5d} {r['data']:8s}: ours {r['ours_seconds_per_run'] * 1e3:.2f} "
                 f"ms/run vs JAX {r['jax_seconds_per_run'] * 1e3:.2f} ms/run -> "
                 f"{r['speedup']:.1f}x (spread {lo:.1f}-{hi:.1f}x; JAX compile "
                 f"{r['jax_compile_seconds']:.2f} s); {r['achieved_gflops']:.2f} GFLOP/s = "
                 f"{r['times_flop_limit']:.1f}x the flop limit; rel. diff at 200 steps "
                 f"{r['max_relative_difference_at_200_steps']:.1e}")
    return {
        "benchmark": "fused normalized GD (W) vs JAX jit(vmap(train)) + lax.fori_loop",
        "shape": {**SHAPE, "steps": steps, "lr": LR, "dtype": "float64", "threads": 1},
        "jax_version": jax.__version__,
        "gemm_peak_gflops": peak / 1e9,
        "flops_per_run_per_step": flops,
        "target_speedup": 2.0,
        "target_times_flop_limit": 3.0,
        "results": results,
    }


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
