"""``attnsvm make-problem`` and ``attnsvm train`` (issue: foundation)."""

from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np

from attnsvm.properties.cli.common import BadInput, emit_json, emit_table, load_problem
from attnsvm.reference.attention.families import FAMILIES, make_problem
from attnsvm.reference.attention.training import train_KQ, train_W, uniform_init


@click.command("make-problem")
@click.option("--n", "n", type=int, required=True, help="number of inputs")
@click.option("--T", "T", type=int, required=True, help="tokens per input (>= 2)")
@click.option("--d", "d", type=int, required=True, help="token dimension")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--family", type=click.Choice(sorted(FAMILIES)), default="paper", show_default=True)
@click.option("--gap", type=float, default=1e-3, show_default=True, help="near-tie score gap")
@click.option("--self-attention", is_flag=True, help="queries z_i = x_i1 instead of random")
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
    out: str,
    as_json: bool,
) -> int:
    """Generate a seeded problem of a named family and save it as .npz (keys X, Y, v, Z)."""
    kwargs: dict[str, object] = {"self_attention": self_attention}
    if family == "near-tie":
        kwargs["gap"] = gap
    problem = make_problem(family, n, T, d, seed, **kwargs)
    path = problem.save(out)
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
    as_json: bool,
) -> int:
    """Train attention on FILE.npz (normalized GD by default), batched over --runs inits."""
    if steps < 0:
        raise BadInput(f"--steps must be >= 0, got {steps}")
    if not np.isfinite(lr) or lr <= 0:
        raise BadInput(f"--lr must be a positive number, got {lr}")
    if runs < 1:
        raise BadInput(f"--runs must be >= 1, got {runs}")
    if m is not None and m < 1:
        raise BadInput(f"--m must be >= 1, got {m}")
    if not Path(file).exists():
        raise BadInput(f"FILE: no such file: {file}")
    problem = load_problem(file)
    d = problem.d
    t0 = time.perf_counter()
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
        Ws = res.params["W"]
    else:
        width = d if m is None else m
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
        Ws = res.params["K"] @ np.swapaxes(res.params["Q"], -1, -2)
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
                "norm": float(np.linalg.norm(Ws[b])),
                "selected": res.selected[b].tolist(),
                "min_max_prob": float(res.min_max_prob[b]),
            }
            for b in range(runs)
        ],
    }
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


COMMANDS = [make_problem_cmd, train_cmd]
