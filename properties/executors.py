"""Where sweeps, checks and hunts run: a ``concurrent.futures.Executor``,
a local process pool by default or a Dask distributed cluster given a scheduler address."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor

from attnsvm.reference.errors import ProblemError


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # torch, imported later in the worker, reads OMP_NUM_THREADS=1


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A process pool with one BLAS thread per worker, or ``distributed.Client(scheduler)``'s
    executor when a Dask scheduler address is given (needs the optional ``distributed``)."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ProblemError(
                "scheduler", "Dask's 'distributed' is not installed (pip install 'attnsvm[dask]')"
            ) from None
        return Client(scheduler).get_executor()
    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n < 1:
        raise ProblemError("workers", f"must be >= 1, got {n}")
    return ProcessPoolExecutor(
        max_workers=n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )
