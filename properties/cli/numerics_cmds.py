"""``attnsvm make-problem`` and ``attnsvm train`` (issue: foundation).

Exit codes: 0 success; 2 bad input with one line on stderr: invalid options (negative
``--seed``, ``--n``/``--T``/``--d`` below their minimum), an unreadable or invalid file, work
whose estimated peak memory exceeds the budget (``attnsvm.reference.validate.
MEMORY_BUDGET_BYTES`` = 4 GiB: ``--n 1000000000`` or ``--runs 1000000000`` are refused before
anything is allocated), an output path that cannot be written, and a training run whose result
is not finite (NaN or inf weights: the logits overflowed float64, on data of size ~1e150 or
with an absurd ``--lr``). The JSON never holds NaN or Infinity.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click
import numpy as np

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table, load_problem
from attnsvm.reference.attention.families import FAMILIES, make_problem
from attnsvm.reference.attention.training import (
    require_finite_result,
    train_KQ,
    train_W,
    uniform_init,
)
from attnsvm.reference.svm.certificates import safe_norm
from attnsvm.reference.validate import MEMORY_BUDGET_BYTES, check_memory, require_finite


def make_problem_bytes(n: int, T: int, d: int) -> int:
    """Peak memory of make-problem: X (n, T, d) and a few arrays of its size (draws, norms,
    the saved copy), Z (n, d)."""
    return 8 * (6 * n * T * d + 4 * n * d + 4 * n * T)


def train_bytes(n: int, T: int, d: int, runs: int, width: int) -> int:
    """Peak memory of train: per run the parameters, gradients and two checkpoints (d x width
    matrices, twice for (K, Q)), the softmax arrays (n x T) and the attended tokens and
    queries (n x d); plus the data."""
    return 8 * (runs * (12 * d * width + 12 * n * T + 8 * n * d) + 4 * n * T * d)


def _out_of_memory(what: str) -> BadInput:
    return BadInput(f"{what}: out of memory (the estimate was within the "
                    f"{MEMORY_BUDGET_BYTES / 2**30:.0f} GiB budget)")


def _saved(problem: Any, out: str) -> Path:
    """Where ``problem.save(out)`` wrote the problem; BadInput("--out") when it cannot."""
    try:
        return problem.save(out)
    except OSError as exc:
        raise BadInput(f"--out: cannot write {out} ({exc.strerror or exc})") from None


@click.command("make-problem")
@click.option("--n", "n", type=int, required=True, help="number of inputs")
@click.option("--T", "T", type=int, required=True, help="tokens per input (>= 2)")
@click.option("--d", "d", type=int, required=True, help="token dimension")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--family", type=click.Choice(sorted(FAMILIES)), default="paper", show_default=True)
@click.option("--gap", type=float, default=1e-3, show_default=True, help="near-tie score gap")
@click.option("--self-attention", is_flag=True, help="queries z_i = x_i1 instead of random")
@click.option("--attention", type=click.Choice(["causal", "full"]), default=None,
              help="write a sequence problem (Gaussian tokens, a label per position, no Z) and "
              "report its optimal tokens under this mask")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True)
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary")
def make_problem_cmd(
    n: int,
    T: int,
    d: int,
    seed: int,
    family: str,
    gap: float,
    self_attention: bool,
    attention: str | None,
    out: str,
    as_json: bool,
) -> int:
    """Generate a seeded problem of a named family and save it as .npz (keys X, Y, v, Z).

    Example: attnsvm make-problem --n 3 --T 4 --d 5 --seed 7 --out p.npz"""
    for name, value, low in (("--n", n, 1), ("--T", T, 2), ("--d", d, 1), ("--seed", seed, 0)):
        if value < low:
            raise BadInput(f"{name} must be >= {low}, got {value}")
    check_memory("make-problem", make_problem_bytes(n, T, d),
                 f"a problem with n = {n}, T = {T}, d = {d}")
    if attention is not None:
        return _make_sequence(n, T, d, seed, family, self_attention, attention, out, as_json)
    kwargs: dict[str, object] = {"self_attention": self_attention}
    if family == "near-tie":
        kwargs["gap"] = gap
    try:
        problem = make_problem(family, n, T, d, seed, **kwargs)
    except MemoryError:
        raise _out_of_memory("make-problem") from None
    path = _saved(problem, out)
    gamma = problem.scores
    summary = {
        "path": str(path),
        "family": family,
        "seed": seed,
        "n": n,
        "T": T,
        "d": d,
        "opt": gamma.argmax(axis=1).tolist(),
        "score_gap": float(np.min(np.sort(gamma, axis=1)[:, -1] - np.sort(gamma, axis=1)[:, -2])),
    }
    require_finite("summary", summary)
    if as_json:
        emit_json(summary)
    else:
        emit_table("problem written", ["field", "value"], list(summary.items()))
    return 0


@click.command("train")
@click.argument("file", type=str)
@click.option("--param", type=click.Choice(["W", "KQ"]), default="W", show_default=True)
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option("--lr", type=float, default=0.1, show_default=True)
@click.option("--runs", type=int, default=1, show_default=True, help="independent initialisations")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--m", "m", type=int, default=None, help="(K, Q) width (default d)")
@click.option("--plain", is_flag=True, help="plain GD instead of normalized GD")
@click.option(
    "--loss",
    type=click.Choice(["logistic", "exponential", "correlation"]),
    default="logistic",
    show_default=True,
)
@click.option("--attention", type=click.Choice(["causal", "full"]), default=None,
              help="train self-attention with this mask on a sequence file (every position a "
              "query; --param W only)")
@click.option("--json", "as_json", is_flag=True)
def train_cmd(
    file: str,
    param: str,
    steps: int,
    lr: float,
    runs: int,
    seed: int,
    m: int | None,
    plain: bool,
    loss: str,
    attention: str | None,
    as_json: bool,
) -> int:
    """Train attention on FILE.npz (normalized GD by default), batched over --runs inits.

    Example: attnsvm train p.npz --param KQ --steps 500 --runs 4 --json"""
    if steps < 0:
        raise BadInput(f"--steps must be >= 0, got {steps}")
    if not np.isfinite(lr) or lr <= 0:
        raise BadInput(f"--lr must be a positive number, got {lr}")
    if runs < 1:
        raise BadInput(f"--runs must be >= 1, got {runs}")
    if m is not None and m < 1:
        raise BadInput(f"--m must be >= 1, got {m}")
    if seed < 0:
        raise BadInput(f"--seed must be >= 0, got {seed}")
    if not Path(file).exists():
        raise BadInput(f"FILE: no such file: {file}")
    if attention is not None:
        return _train_sequence(file, attention, param, steps, lr, runs, seed, plain, loss,
                               as_json)
    problem = load_problem(file)
    d = problem.d
    width = d if (param == "W" or m is None) else m
    check_memory("train", train_bytes(problem.n, problem.T, d, runs, width),
                 f"training {runs} run(s) on n = {problem.n}, T = {problem.T}, d = {d}")
    t0 = time.perf_counter()
    try:
        res, Ws = _train(problem, param, steps, lr, runs, seed, width, plain, loss)
    except MemoryError:
        raise _out_of_memory("train") from None
    require_finite_result(res, problem.X, problem.Z, lr, steps)
    seconds = time.perf_counter() - t0
    out = {
        "param": param,
        "steps": steps,
        "lr": lr,
        "normalized": not plain,
        "loss": loss,
        "seconds": seconds,
        "runs": [
            {
                "W": Ws[b].tolist(),
                "norm": _norm(Ws[b]),
                "selected": res.selected[b].tolist(),
                "min_max_prob": float(res.min_max_prob[b]),
            }
            for b in range(runs)
        ],
    }
    require_finite("result", out, "the trained weights are not representable in float64")
    if as_json:
        emit_json(out)
    else:
        emit_table(
            f"{'normalized' if not plain else 'plain'} GD on {param}, {steps} steps, "
            f"{seconds:.3g} s",
            ["run", "||W||_F", "selected", "min max prob"],
            [(b, r["norm"], r["selected"], r["min_max_prob"]) for b, r in enumerate(out["runs"])],
        )
    return 0


def _norm(W: np.ndarray) -> float:
    """||W||_F; without overflow or underflow of the squares when numpy's would (W with entries
    ~1e300 after an absurd step size has a finite norm)."""
    with np.errstate(all="ignore"):
        value = float(np.linalg.norm(W))
        if np.isfinite(value) and value > 1e-150:
            return value
        return safe_norm(W)  # inf when the norm itself is beyond float64 (reported as an error)


def _train(
    problem, param: str, steps: int, lr: float, runs: int, seed: int, width: int, plain: bool,
    loss: str,
):
    d = problem.d
    with np.errstate(all="ignore"):  # a non-finite result is reported as an error, not warned
        if param == "W":
            res = train_W(
                problem.X,
                problem.Y,
                problem.Z,
                problem.v,
                uniform_init((runs, d, d), seed),
                steps=steps,
                lr=lr,
                normalized=not plain,
                loss=loss,
            )
            return res, res.params["W"]
        K0 = uniform_init((runs, d, width), seed)
        Q0 = uniform_init((runs, d, width), seed + 1_000_003)
        res = train_KQ(
            problem.X,
            problem.Y,
            problem.Z,
            problem.v,
            K0,
            Q0,
            steps=steps,
            lr=lr,
            normalized=not plain,
            loss=loss,
        )
        return res, res.params["K"] @ np.swapaxes(res.params["Q"], -1, -2)



def _make_sequence(n: int, T: int, d: int, seed: int, family: str, self_attention: bool,
                   attention: str, out: str, as_json: bool) -> int:
    """``make-problem --attention``: a seeded Gaussian sequence problem
    (``self_attention.gaussian_sequence_problem``), saved without Z."""
    from attnsvm.reference.attention.self_attention import gaussian_sequence_problem
    from attnsvm.reference.svm.sequence import sequence_optimal_tokens

    if family != "paper" or self_attention:
        raise BadInput("--attention writes Gaussian sequence problems: --family and "
                       "--self-attention do not apply")
    try:
        problem = gaussian_sequence_problem(n, T, d, seed)
    except MemoryError:
        raise _out_of_memory("make-problem") from None
    path = _saved(problem, out)
    opt = sequence_optimal_tokens(problem, attention)
    summary = {"path": str(path), "kind": "sequence", "attention": attention, "seed": seed,
               "n": n, "T": T, "d": d, "opt": opt.tokens.tolist(), "tied_queries": len(opt.ties),
               "degenerate_queries": len(opt.degenerate)}
    if as_json:
        emit_json(summary)
    else:
        emit_table("sequence problem written", ["field", "value"], list(summary.items()))
    return 0


def _train_sequence(file: str, attention: str, param: str, steps: int, lr: float, runs: int,
                    seed: int, plain: bool, loss: str, as_json: bool) -> int:
    """``train --attention``: batched (normalized) GD on masked self-attention
    (``self_attention.train_self_attention``); the JSON of ``train`` with ``selected`` as n
    lists of T tokens."""
    from attnsvm.reference.attention.problem import SequenceProblem
    from attnsvm.reference.attention.self_attention import (
        self_attention_memory_bytes,
        train_self_attention,
    )

    if param != "W":
        raise BadInput("--attention trains W only (--param KQ is not available)")
    problem = SequenceProblem.load(file)
    n, T, d = problem.n, problem.T, problem.d
    check_memory("train", self_attention_memory_bytes(n, T, d, runs) + 8 * runs * steps,
                 f"training {runs} run(s) of self-attention on n = {n}, T = {T}, d = {d}")
    t0 = time.perf_counter()
    try:
        with np.errstate(all="ignore"):
            res = train_self_attention(problem, uniform_init((runs, d, d), seed), attention,
                                       steps=steps, lr=lr, normalized=not plain, loss=loss)
    except MemoryError:
        raise _out_of_memory("train") from None
    require_finite_result(res, problem.X, None, lr, steps)
    seconds = time.perf_counter() - t0
    Ws = res.params["W"]
    best = res.probs.max(axis=-1).reshape(runs, n, T)
    out = {
        "param": "W", "attention": attention, "steps": steps, "lr": lr, "normalized": not plain,
        "loss": loss, "seconds": seconds,
        "runs": [{"W": Ws[b].tolist(), "norm": _norm(Ws[b]),
                  "selected": res.selected[b].reshape(n, T).tolist(),
                  "min_max_prob": float(best[b].min())} for b in range(runs)],
    }
    require_finite("result", out, "the trained weights are not representable in float64")
    if as_json:
        emit_json(out)
    else:
        emit_table(
            f"{'normalized' if not plain else 'plain'} GD on {attention} self-attention, "
            f"{steps} steps, {seconds:.3g} s", ["run", "||W||_F", "selected", "min max prob"],
            [(b, r["norm"], r["selected"], r["min_max_prob"]) for b, r in enumerate(out["runs"])])
    return 0


COMMANDS = [make_problem_cmd, train_cmd]
