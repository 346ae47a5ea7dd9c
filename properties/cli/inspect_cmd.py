"""``attnsvm inspect``: read a trained attention layer and compare each head with its SVMs.

Per head h: W_h = W_{k,h}ᵀ W_{q,h} / sqrt(d_h) in attnsvm's convention s_t = x_tᵀ W_h z (see
``attnsvm.reference.attention.torch_heads``; the key bias cancels in the softmax, the query bias
is kept in the logits and reported, the SVMs are compared with W_h), the selection
alpha = argmax attention, its saturation and optimality, Att-SVM_alpha (Frobenius) and
Att-SVM*_alpha (nuclear) with their certificates, and the correlations of W_h with both.

Exit codes: 0 success (whatever the verdicts), 2 bad input (one line on stderr: an unreadable
or refused checkpoint, missing or extra keys, shapes that do not fit the data, NaN/inf weights).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np

from attnsvm.properties.cli.common import emit_table, load_problem
from attnsvm.reference.errors import ProblemError


def _readout(path: str | None) -> np.ndarray | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ProblemError("head-vector", f"no such file: {p}")
    try:
        arr = np.load(p, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001 - numpy format errors
        raise ProblemError("head-vector", f"{p} is not a readable .npy array ({exc})") from None
    if isinstance(arr, np.lib.npyio.NpzFile):
        arr.close()
        raise ProblemError("head-vector", f"{p} is an .npz archive; pass one vector as .npy")
    return arr


def _check_figure_path(path: str | None) -> None:
    if path is None:
        return
    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ProblemError("figure", f"{path} must end in .png")
    if p.is_dir() or (p.parent != Path("") and not p.parent.is_dir()):
        raise ProblemError("figure", f"cannot write {path} (no such folder, or a folder)")


def draw_figure(path: str, problem: Any, heads: list[dict[str, Any]]) -> None:
    """Per head: the attention map softmax(X W_h z) beside the SVM's selection (the attention of
    W^mm_alpha rescaled to ||W_h||, with the selected tokens marked)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnsvm.reference.attention.models import softmax

    rows = len(heads)
    width = 2.5 + 0.5 * min(problem.T, 30) * 2
    height = 0.6 + rows * (1.0 + 0.3 * min(problem.n, 40))
    fig, axes = plt.subplots(rows, 2, figsize=(width, height), squeeze=False,
                             layout="constrained")
    for r, h in enumerate(heads):
        P = np.asarray(h["probabilities"])
        alpha = np.asarray(h["selected"])
        fro = h["svm"]["fro"]
        ax = axes[r, 0]
        im = ax.imshow(P, vmin=0, vmax=1, cmap="viridis", aspect="auto")
        ax.set_title(f"head {h['head']}: softmax(X W_h z)\nmin max prob {h['min_max_prob']:.3g}",
                     fontsize=8)
        ax = axes[r, 1]
        if fro["status"] == "optimal":
            Wm = np.asarray(fro["W"])
            Wm = Wm * (h["norm"] / max(np.linalg.norm(Wm), 1e-300))
            S = np.asarray(softmax(np.einsum("ntd,de,ne->nt", problem.X, Wm, problem.Z)))
            ax.imshow(S, vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title(f"Att-SVM selection (W^mm at ||W_h||)\ncorr {fro['corr']:.4f}",
                         fontsize=8)
        else:
            ax.imshow(np.zeros_like(P), vmin=0, vmax=1, cmap="viridis", aspect="auto")
            ax.set_title("Att-SVM infeasible for this selection", fontsize=8)
        for a in axes[r]:
            a.scatter(alpha, np.arange(problem.n), marker="x", c="red", s=20)
            a.set_xlabel("token t", fontsize=7)
            a.set_ylabel("input i", fontsize=7)
            a.set_xticks(range(0, problem.T, max(1, problem.T // 10)))
            a.set_yticks(range(0, problem.n, max(1, problem.n // 10)))
            a.tick_params(labelsize=6)
        fig.colorbar(im, ax=list(axes[r]), fraction=0.03, pad=0.02).ax.tick_params(labelsize=6)
    fig.suptitle("red x: the selection alpha (argmax attention per input)", fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command("inspect")
@click.argument("checkpoint", type=click.Path(dir_okay=False))
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--head-vector", "head_vector", default=None, metavar="U.npy",
              help="Readout u (size embed_dim): v_h = W_{v,h}^T W_{o,h}^T u replaces the data's "
                   "v for the token scores (for a plain W or (K, Q): u itself).")
@click.option("--num-heads", type=int, default=None,
              help="Number of heads of an nn.MultiheadAttention (its state_dict does not say).")
@click.option("--prefix", default="", help="Read the keys under this prefix ('attn.') of a "
              "larger state_dict.")
@click.option("--saturation", type=float, default=0.999, show_default=True,
              help="A head is saturated when every max softmax probability reaches this.")
@click.option("--aligned", type=float, default=0.99, show_default=True,
              help="corr(W_h, SVM) from which the verdict says 'aligned'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--figure", default=None, metavar="OUT.png",
              help="Draw per head the attention map beside the SVM's selection.")
def inspect(checkpoint: str, data: str, head_vector: str | None, num_heads: int | None,
            prefix: str, saturation: float, aligned: float, as_json: bool,
            figure: str | None) -> int:
    """Compare each head of a trained attention layer (CHECKPOINT) with its Att-SVMs on DATA.npz.

    CHECKPOINT: a torch.save'd state_dict (weights only; pickled objects are refused) or a
    .safetensors file of an nn.MultiheadAttention (packed or separate projections, with or
    without biases), or a mapping with W (d x d) or K, Q (d x m). Exit 0, or 2 on bad input.

    Example: attnsvm inspect attn.pt data.npz --num-heads 2 --head-vector u.npy --figure heads.png
    """
    from attnsvm.reference.attention.torch_heads import inspect_head, load_heads

    for name, value in (("saturation", saturation), ("aligned", aligned)):
        if not 0.0 < value <= 1.0:
            raise ProblemError(name, f"must lie in (0, 1], got {value!r}")
    _check_figure_path(figure)
    problem = load_problem(data)
    weights = load_heads(checkpoint, problem.d, num_heads=num_heads, readout=_readout(head_vector),
                         prefix=prefix)
    heads = [inspect_head(problem, h, saturation=saturation, aligned=aligned)
             for h in weights.heads]
    if figure is not None:
        draw_figure(figure, problem, heads)
    if as_json:
        payload = {
            "checkpoint": str(checkpoint), "kind": weights.kind, "embed_dim": weights.embed_dim,
            "num_heads": weights.num_heads,
            "value_heads": "readout" if head_vector else "data v",
            "output_offset": weights.output_offset, "dropped": list(weights.dropped),
            "heads": [{k: v for k, v in h.items() if k != "probabilities"} for h in heads],
        }
        click.echo(json.dumps(payload, allow_nan=False))
        return 0
    for h in heads:
        fro, nuc = h["svm"]["fro"], h["svm"]["nuc"]
        sv = ", ".join(f"{s:.4g}" for s in h["singular_values"][:6])
        rows = [
            ("selection alpha", ",".join(str(t) for t in h["selected"])),
            ("min max prob", h["min_max_prob"]),
            ("optimal / locally optimal", f"{h['optimal']} / {h['locally_optimal']}"),
            ("||W_h||_F, rank", f"{h['norm']:.6g}, {h['rank']}"),
            ("singular values", sv + (" ..." if len(h["singular_values"]) > 6 else "")),
            ("Att-SVM (fro)", _svm_row(fro)),
            ("Att-SVM* (nuc)", _svm_row(nuc)),
            ("verdict", h["verdict"]),
        ]
        if h["query_bias"] is not None:
            rows.insert(4, ("query bias share", h["query_bias_share"]))
        emit_table(f"{weights.kind} head {h['head']} of {weights.num_heads} ({checkpoint})",
                   ["quantity", "value"], rows)
    for note in weights.dropped:
        click.echo(f"note: dropped the {note}")
    if figure is not None:
        click.echo(f"figure: {figure}")
    return 0


def _svm_row(e: dict[str, Any]) -> str:
    if e["status"] != "optimal":
        return f"{e['status']} (Farkas certificate; see --json)"
    c = e["certificate"]
    return (f"corr {e['corr']:.6f}, ||W|| {e['objective']:.4g}, rank {e['rank']}, "
            f"min margin {c['min_margin']:.6g}, gap {c['duality_gap']:.2g}")


COMMANDS = [inspect]
