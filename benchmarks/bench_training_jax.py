"""Batched normalized GD (attnsvm's fused kernel) vs JAX ``jit(vmap(train))`` (issue 15 §3).

Baseline: what a researcher would write today instead of a per-run autograd loop, JAX with
``jax.jit(jax.vmap(train))``, the 2000 steps inside ``lax.fori_loop``, float64
(``jax_enable_x64``), on one CPU: the XLA thread flags (``--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``) are set, but XLA's CPU runtime still runs more threads (its
CPU time exceeds its wall time), so the whole comparison runs with this process pinned to one
CPU (``os.sched_setaffinity``; Linux), which holds every candidate to one core. The same math:
normalized GD W <- W - eta g / ||g||_F on the logistic loss of f(X) = v^T X^T softmax(X W z)
with g from ``jax.grad``. Candidates: ``attention.training.train_W`` (which dispatches to
``attention.kernel``, compiled with numba when numba is importable) and the kernel's numpy
implementation (``kernel.normalized_gd_W(..., backend="numpy")``, the fallback without numba).
Compile times are excluded from the ratios and reported separately: JAX's ``lower().compile()``
and numba's cold compile (a fresh process with an empty ``NUMBA_CACHE_DIR``) and cached load.
All in this process, same problems and initialisations, interleaved repeats (best of 3; min and
spread of the ratios reported: the machine is shared).

Two data layouts, both as a user would vmap them: per-run data (B problems of the paper family,
``in_axes=0``) and shared data (one problem, B initialisations, ``in_axes=(None,...,0)``).

Also reported: the machine's single-thread float64 GEMM rate (numpy 1000x1000 matmul) and the
kernel's distance from the flop limit, counting the contractions of one step as written,
4 n d (d_z + T) flops per run (q = W z, logits, X^T c, grad), plus ~30 n T elementwise
operations; and the rate on the kernel's own count (its Gram form does n d (4 T + 3 n + 3)).

JAX is optional: without it the benchmark is skipped with a message (it is not a dependency).
Target: >= 2x per run at B = 100 and B = 1000 (n=6, T=8, d=10, 2000 steps, eta = 0.1), within
3x of the flop limit.
Run: ``python -m benchmarks bench_training_jax [--quick]``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from attnsvm.reference.attention import kernel
from attnsvm.reference.attention.families import paper_family, stack_problems
from attnsvm.reference.attention.losses import get_loss
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


@contextlib.contextmanager
def one_cpu() -> Iterator[int | None]:
    """This process pinned to one CPU of its affinity set for the duration (the CPU, or None
    where ``os.sched_setaffinity`` is missing: then nothing is pinned)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    cpus = os.sched_getaffinity(0)
    cpu = min(cpus)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, cpus)


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
    """Flops of one normalized-GD step of one run as written (W z, X q, X^T c, sum u z^T):
    the four contractions 4 n d (d + T) and ~30 n T elementwise operations of the log-space
    softmax and its coefficients. The flop limit is this count at the GEMM rate."""
    return 4.0 * n * d * (d + T) + 30.0 * n * T


def kernel_step_flops(n: int, T: int, d: int) -> float:
    """Flops the compiled kernel spends per run per step: in its Gram form (never forming W
    or the gradient, ``kernel_numba.gram_form_pays``) n d (4 T + 3 n + 3) for the
    contractions, else the count above; the same elementwise work."""
    if kernel.numba_kernel() is not None and kernel.numba_kernel().gram_form_pays(n, d):
        return n * d * (4.0 * T + 3.0 * n + 3.0) + 30.0 * n * T
    return step_flops(n, T, d)


def _data(runs: int, shared: bool) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    n, T, d = SHAPE["n"], SHAPE["T"], SHAPE["d"]
    if shared:
        p = paper_family(n, T, d, 0)
        data = (p.X, p.Y, p.Z, p.v)
    else:
        S = stack_problems([paper_family(n, T, d, seed) for seed in range(runs)])
        data = (S["X"], S["Y"], S["Z"], S["v"])
    return data, uniform_init((runs, d, d), seed=12345)


def _numpy_kernel(data: tuple[np.ndarray, ...], W0: np.ndarray, steps: int) -> np.ndarray:
    """The kernel's numpy implementation (what runs without numba)."""
    return kernel.normalized_gd_W(*data, W0, steps=steps, lr=LR, loss=get_loss("logistic"),
                                  backend="numpy").W


def _timed(fn: Any) -> tuple[Any, float, float]:
    """fn()'s value, wall seconds and CPU seconds of this process."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


_COMPILE_PROBE = """
import time, numpy as np
from attnsvm.reference.attention import kernel
from attnsvm.reference.attention.families import paper_family
from attnsvm.reference.attention.losses import get_loss
p = paper_family(3, 4, 5, 0)
t0 = time.perf_counter()
kernel.normalized_gd_W(p.X, p.Y, p.Z, p.v, np.zeros((2, 5, 5)), steps=1, lr=0.1,
                       loss=get_loss("logistic"), backend="numba")
print(time.perf_counter() - t0)
"""


def numba_compile_seconds(cold: bool = True) -> dict:
    """The numba kernel's first call in a fresh process: cold (empty cache directory, i.e. the
    compile; only when ``cold``) and warm (this checkout's cache, i.e. loading it). None
    without numba."""
    if kernel.numba_kernel() is None:
        return {"cold": None, "warm": None}

    def first_call(env: dict) -> float:
        out = subprocess.run([sys.executable, "-c", _COMPILE_PROBE], env=env, check=True,
                             capture_output=True, text=True)
        return float(out.stdout.split()[-1])

    compile_s = None
    if cold:
        with tempfile.TemporaryDirectory() as cache:
            compile_s = first_call({**os.environ, "NUMBA_CACHE_DIR": cache})
    first_call(dict(os.environ))  # fills this checkout's cache if it was empty
    return {"cold": compile_s, "warm": first_call(dict(os.environ))}


def compare(jax: Any, runs: int, shared: bool, steps: int, repeats: int) -> dict:
    """Time JAX, train_W (the compiled kernel at this size) and the numpy kernel on the same B
    runs (interleaved repeats, this process pinned to one CPU); agreement with JAX at 200
    steps."""
    with one_cpu() as pinned:
        out = _compare(jax, runs, shared, steps, repeats)
    out["pinned_cpu"] = pinned
    out["train_W_backend"] = train_W_backend(runs, steps)
    return out


def train_W_backend(runs: int, steps: int) -> str:
    """The kernel ``train_W`` dispatches to for B runs of ``steps`` steps ("auto")."""
    compiled = runs * steps >= kernel.NUMBA_MIN_RUN_STEPS and kernel.numba_kernel() is not None
    return "numba" if compiled else "numpy"


def _compare(jax: Any, runs: int, shared: bool, steps: int, repeats: int) -> dict:
    from threadpoolctl import threadpool_limits

    data, W0 = _data(runs, shared)
    jargs = [jax.numpy.asarray(a) for a in (*data, W0)]
    t0 = time.perf_counter()
    compiled = jax_trainer(jax, steps, LR, shared).lower(*jargs).compile()
    compile_s = time.perf_counter() - t0
    wall: dict[str, list[float]] = {"jax": [], "ours": [], "numpy": []}
    cpu: dict[str, list[float]] = {"jax": [], "ours": [], "numpy": []}
    candidates = {
        "jax": lambda: np.asarray(compiled(*jargs).block_until_ready()),
        "ours": lambda: train_W(*data, W0, steps=steps, lr=LR).params["W"],
        "numpy": lambda: _numpy_kernel(data, W0, steps),
    }
    final = {}
    with threadpool_limits(1):
        candidates["ours"]()  # numba: load (or compile) outside the timings
        for _ in range(repeats):
            for name, fn in candidates.items():
                final[name], w, c = _timed(fn)
                wall[name].append(w)
                cpu[name].append(c)
        early = min(steps, 200)
        W_jax_early = np.asarray(
            jax_trainer(jax, early, LR, shared)(*jargs).block_until_ready())
        W_early = train_W(*data, W0, steps=early, lr=LR).params["W"]
    rel = float(np.max(np.abs(W_jax_early - W_early)) / np.max(np.abs(W_early)))
    W_jax, W_ours = final["jax"], final["ours"]
    corr = np.sum(W_jax * W_ours, axis=(1, 2)) / (
        np.linalg.norm(W_jax, axis=(1, 2)) * np.linalg.norm(W_ours, axis=(1, 2)))
    numpy_gap = float(np.max(np.abs(final["numpy"] - W_ours)) / np.max(np.abs(W_ours)))

    def ratios(name: str) -> list[float]:
        r = [j / o for j, o in zip(wall["jax"], wall[name], strict=True)]
        return [min(r), statistics.median(r), max(r)]

    return {
        "runs": runs,
        "data": "shared" if shared else "per-run",
        "jax_compile_seconds": compile_s,
        "jax_seconds_per_run": min(wall["jax"]) / runs,
        "ours_seconds_per_run": min(wall["ours"]) / runs,
        "numpy_kernel_seconds_per_run": min(wall["numpy"]) / runs,
        "speedup": min(wall["jax"]) / min(wall["ours"]),
        "speedup_spread": ratios("ours"),
        "numpy_kernel_speedup": min(wall["jax"]) / min(wall["numpy"]),
        "numpy_kernel_speedup_spread": ratios("numpy"),
        "jax_seconds_all": wall["jax"],
        "ours_seconds_all": wall["ours"],
        "numpy_kernel_seconds_all": wall["numpy"],
        # CPU time of this process (all single-threaded): robust to a shared machine
        "speedup_cpu_time": min(cpu["jax"]) / min(cpu["ours"]),
        "numpy_kernel_speedup_cpu_time": min(cpu["jax"]) / min(cpu["numpy"]),
        "jax_cpu_seconds_all": cpu["jax"],
        "ours_cpu_seconds_all": cpu["ours"],
        "numpy_kernel_cpu_seconds_all": cpu["numpy"],
        "max_relative_difference_at_200_steps": rel,
        "min_corr_of_final_W_with_jax": float(np.min(corr)),
        "numba_vs_numpy_kernel_relative_difference_final_W": numpy_gap,
    }


def run(quick: bool = False) -> dict:
    if importlib.util.find_spec("jax") is None:
        msg = "jax is not installed (pip install jax jaxlib): JAX baseline skipped"
        _say(f"  {msg}")
        return {"benchmark": "fused normalized GD vs JAX jit(vmap)", "skipped": msg}
    jax = import_jax()
    steps = 2000  # the target's size; fewer steps would send B = 100 to the numpy kernel
    repeats = 1 if quick else 3
    n, T, d = SHAPE["n"], SHAPE["T"], SHAPE["d"]
    peak = gemm_peak()
    flops = step_flops(n, T, d)
    _say(f"  single-thread float64 GEMM peak: {peak / 1e9:.1f} GFLOP/s; "
         f"~{flops / 1e3:.1f} kFLOP per run per step")
    compile_s = numba_compile_seconds(cold=not quick)
    if compile_s["warm"] is None:
        _say("  numba not importable: train_W runs the numpy kernel")
    elif compile_s["cold"] is not None:
        _say(f"  numba kernel first call: {compile_s['cold']:.1f} s cold (compile), "
             f"{compile_s['warm']:.2f} s with the on-disk cache")
    else:
        _say(f"  numba kernel first call: {compile_s['warm']:.2f} s with the on-disk cache "
             "(the cold compile is timed without --quick)")
    results = []
    for shared in (False, True):
        for runs in (100, 1000):
            r = compare(jax, runs, shared, steps, repeats)
            limit = flops * steps / peak  # seconds per run at the GEMM rate
            r["achieved_gflops"] = flops * steps / r["ours_seconds_per_run"] / 1e9
            r["achieved_gflops_kernel_count"] = (kernel_step_flops(n, T, d) * steps
                                                 / r["ours_seconds_per_run"] / 1e9)
            r["flop_limit_seconds_per_run"] = limit
            r["times_flop_limit"] = r["ours_seconds_per_run"] / limit
            r["numpy_kernel_times_flop_limit"] = r["numpy_kernel_seconds_per_run"] / limit
            results.append(r)
            lo, _, hi = r["speedup_spread"]
            _say(f"  B={runs:5d} {r['data']:8s}: train_W ({r['train_W_backend']} kernel) "
                 f"{r['ours_seconds_per_run'] * 1e3:.2f} ms/run, numpy kernel "
                 f"{r['numpy_kernel_seconds_per_run'] * 1e3:.2f} ms/run, "
                 f"JAX {r['jax_seconds_per_run'] * 1e3:.2f} ms/run -> {r['speedup']:.2f}x "
                 f"(spread {lo:.2f}-{hi:.2f}x; numpy kernel {r['numpy_kernel_speedup']:.2f}x; "
                 f"CPU time {r['speedup_cpu_time']:.2f}x; JAX compile "
                 f"{r['jax_compile_seconds']:.2f} s); {r['achieved_gflops']:.2f} GFLOP/s = "
                 f"{r['times_flop_limit']:.1f}x the flop limit (kernel's own count: "
                 f"{r['achieved_gflops_kernel_count']:.2f} GFLOP/s); rel. diff vs JAX at 200 steps "
                 f"{r['max_relative_difference_at_200_steps']:.1e}")
    return {
        "benchmark": "fused normalized GD (W) vs JAX jit(vmap(train)) + lax.fori_loop",
        "shape": {**SHAPE, "steps": steps, "lr": LR, "dtype": "float64", "threads": 1},
        "jax_version": jax.__version__,
        "numba_version": _version("numba"),
        "numba_first_call_seconds": compile_s,
        "gemm_peak_gflops": peak / 1e9,
        "flops_per_run_per_step": flops,
        "kernel_flops_per_run_per_step": kernel_step_flops(n, T, d),
        "target_speedup": 2.0,
        "target_times_flop_limit": 3.0,
        "results": results,
    }


def _version(package: str) -> str | None:
    """The installed version of ``package`` (None when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(json.dumps(run(quick="--quick" in sys.argv), indent=2))
