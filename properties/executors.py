"""Where sweeps, checks and hunts run: a ``concurrent.futures.Executor``, a local process pool by
default or a Dask distributed cluster given a scheduler address.

``make_executor`` gives the executor; ``run_tasks`` runs a list of calls through one and yields
their results as they complete, surviving lost workers: on a Dask cluster the scheduler
reschedules the task of a worker that died (``distributed.scheduler.allowed-failures`` times);
in the local pool, a worker that dies breaks the pool, so ``run_tasks`` starts a new pool and
resubmits the tasks that were in flight, each at most ``retries`` times.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from attnsvm.reference.errors import AttnsvmError, ProblemError

#: tasks a local pool holds in flight per worker (bounded, so an interrupt or a lost worker
#: costs at most these, and results arrive in submission order, roughly)
LOCAL_WINDOW_PER_WORKER = 2


class WorkerLost(AttnsvmError):
    """A task whose worker died more often than its retries allow."""


def _init_worker() -> None:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # torch, imported later in the worker, reads OMP_NUM_THREADS=1
    # Ctrl-C is the client's to handle (one line, exit 130, workers stopped): a worker that
    # caught it too would print its own traceback
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor(Executor):
    """A ``concurrent.futures`` executor on a Dask cluster that owns its ``distributed.Client``
    (closed on shutdown). Tasks are submitted impure (``pure=False``): every call runs."""

    def __init__(self, address: str) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise ProblemError(
                "scheduler", "Dask's 'distributed' is not installed (pip install 'attnsvm[dask]')"
            ) from None
        try:
            self.client = Client(address)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ProblemError("scheduler", f"cannot reach a Dask scheduler at {address!r} "
                               f"({type(exc).__name__}: {exc})") from None
        self._executor = self.client.get_executor(pure=False)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        return self._executor.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self.client.close()


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A process pool with one BLAS thread per worker (``spawn``ed, ``workers`` processes,
    default min(2, cores)), or a ``DaskExecutor`` on the scheduler at ``scheduler`` (needs the
    optional ``distributed``; the cluster decides how many tasks run at once)."""
    if scheduler:
        return DaskExecutor(scheduler)
    n = workers if workers is not None else min(2, os.cpu_count() or 1)
    if n < 1:
        raise ProblemError("workers", f"must be >= 1, got {n}")
    return ProcessPoolExecutor(
        max_workers=n, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker
    )


def abort(pool: Executor) -> None:
    """Stop an executor now: cancel what has not started and, for a local pool, terminate the
    workers (an interrupted sweep must not wait for its running tasks)."""
    procs = []
    if isinstance(pool, ProcessPoolExecutor):  # its workers (a private attribute, guarded)
        procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        if proc.is_alive():
            proc.terminate()


def run_tasks(
    fn: Callable[..., Any],
    calls: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    on_retry: Callable[[list[int], int], None] | None = None,
) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(*calls[i]))`` for every call, in completion order.

    ``workers == 1`` without a scheduler runs the calls here, in order. A local pool keeps
    ``LOCAL_WINDOW_PER_WORKER`` tasks per worker in flight; when a worker dies, the pool is
    replaced and the tasks in flight are resubmitted (``on_retry(indices, pool_breaks)`` is told);
    a task lost more than ``retries`` times raises ``WorkerLost``. On a Dask cluster every call is
    submitted at once and the scheduler retries the task of a dead worker (``KilledWorker`` after
    its ``allowed-failures`` becomes ``WorkerLost``). An exception raised by ``fn`` propagates.
    Closing the generator early (or an interrupt) cancels what is left and stops the workers."""
    if not scheduler and workers == 1:
        for i, args in enumerate(calls):
            yield i, fn(*args)
        return
    local = not scheduler
    pool = make_executor(workers, scheduler)
    killed: tuple[type[BaseException], ...] = ()
    if not local:
        from distributed import KilledWorker

        killed = (KilledWorker,)
    n_workers = getattr(pool, "_max_workers", 1)
    window = LOCAL_WINDOW_PER_WORKER * n_workers if local else len(calls)
    pending = deque(range(len(calls)))
    attempts = [0] * len(calls)
    inflight: dict[Future, int] = {}
    breaks = 0
    finished = False
    try:
        while pending or inflight:
            lost = []
            while pending and len(inflight) < window:
                i = pending.popleft()
                try:
                    inflight[pool.submit(fn, *calls[i])] = i
                except BrokenProcessPool:  # it broke since the last results came in
                    lost.append(i)
                    break
            done = set() if lost else wait(list(inflight), return_when=FIRST_COMPLETED)[0]
            for fut in sorted(done, key=inflight.__getitem__):
                i = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    lost.append(i)
                    continue
                except killed as exc:
                    raise WorkerLost(f"task {i}: its Dask worker died more often than the "
                                     f"scheduler's allowed-failures ({exc})") from None
                yield i, result
            if lost:  # a worker died: the pool is broken and every task in flight is lost
                lost += list(inflight.values())
                inflight.clear()
                breaks += 1
                for i in lost:
                    attempts[i] += 1
                    if attempts[i] > retries:
                        raise WorkerLost(f"task {i}: its worker died {attempts[i]} times "
                                         f"(retries: {retries})")
                if on_retry is not None:
                    on_retry(sorted(lost), breaks)
                pool.shutdown(wait=False, cancel_futures=True)
                pool = make_executor(workers, scheduler)
                pending.extendleft(sorted(lost, reverse=True))
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:
            abort(pool)
