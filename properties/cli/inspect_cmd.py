"""``attnsvm inspect``: read a trained attention layer and compare each head with its SVMs.

Per head h: W_h = W_{k,h}ᵀ W_{q,h} / sqrt(d_h) in attnsvm's convention s_t = x_tᵀ W_h z (see
``attnsvm.reference.attention.torch_heads``; the key bias cancels in the softmax, the query bias
is kept in the logits and reported, the SVMs are compared with W_h), the selection
alpha = argmax attention, its saturation and optimality, Att-SVM_alpha (Frobenius) and
Att-SVM*_alpha (nuclear) with their certificates, and the correlations of W_h with both.

``--hardmax HELDOUT.npz``: per head, the agreement of the hardmax model
f_h(X) = vᵀ x_{t*(X)}, t*(X) = argmax_t x_tᵀ W^mm_alpha z, with the trained softmax head on the
held-out inputs (count / total, 95% Wilson interval) and both models' accuracies against
HELDOUT's labels (``torch_heads.hardmax_agreement``).

A checkpoint sequence: CHECKPOINT a folder of ``step-<k>.pt`` (``.pth``, ``.safetensors``)
files. The last step is inspected as a single checkpoint would be; alpha and both SVMs are
taken from it, and per head the curve corr(W_h(k), W^mm_alpha), corr(W_h(k), W*^mm_alpha) over
the steps k is reported (``"curve"`` in --json, a third panel in --figure).

Exit codes: 0 success (whatever the verdicts), 2 bad input (one line on stderr: an unreadable
or refused checkpoint, missing or extra keys, shapes that do not fit the data, NaN/inf weights,
an unreadable HELDOUT or one of another d).
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
    W^mm_alpha rescaled to ||W_h||, with the selected tokens marked) and, for a checkpoint
    sequence (a ``"curve"`` in the entries), the correlations with both SVMs over the steps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from attnsvm.reference.attention.models import softmax

    rows = len(heads)
    curves = any(h.get("curve") for h in heads)
    width = 2.5 + 0.5 * min(problem.T, 30) * 2 + (3.0 if curves else 0.0)
    height = 0.6 + rows * (1.0 + 0.3 * min(problem.n, 40))
    fig, axes = plt.subplots(rows, 3 if curves else 2, figsize=(width, height), squeeze=False,
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
        for a in axes[r, :2]:
            a.scatter(alpha, np.arange(problem.n), marker="x", c="red", s=20)
            a.set_xlabel("token t", fontsize=7)
            a.set_ylabel("input i", fontsize=7)
            a.set_xticks(range(0, problem.T, max(1, problem.T // 10)))
            a.set_yticks(range(0, problem.n, max(1, problem.n // 10)))
            a.tick_params(labelsize=6)
        fig.colorbar(im, ax=list(axes[r, :2]), fraction=0.03, pad=0.02).ax.tick_params(
            labelsize=6)
        if curves:
            _draw_curve(axes[r, 2], h.get("curve") or [])
    fig.suptitle("red x: the selection alpha (argmax attention per input)", fontsize=7)
    fig.savefig(path, dpi=120)
    plt.close(fig)


@click.command("inspect")
@click.argument("checkpoint", type=click.Path())
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--head-vector", "head_vector", default=None, metavar="U.npy",
              help="Readout u (size embed_dim): v_h = W_{v,h}^T W_{o,h}^T u replaces the data's "
                   "v for the token scores (for a plain W or (K, Q): u itself).")
@click.option("--num-heads", type=int, default=None,
              help="Number of heads of an nn.MultiheadAttention (its state_dict does not say).")
@click.option("--prefix", default="", help="Read the keys under this prefix ('attn.') of a "
              "larger state_dict.")
@click.option("--hardmax", "hardmax", default=None, metavar="HELDOUT.npz",
              help="Held-out inputs (same d): per head, the agreement of the hardmax model "
                   "v^T x_{t*}, t* = argmax_t x_t^T W^mm_alpha z, with the trained softmax head "
                   "(95% Wilson interval) and both models' accuracies on its labels.")
@click.option("--saturation", type=float, default=0.999, show_default=True,
              help="A head is saturated when every max softmax probability reaches this.")
@click.option("--aligned", type=float, default=0.99, show_default=True,
              help="corr(W_h, SVM) from which the verdict says 'aligned'.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object on stdout.")
@click.option("--figure", default=None, metavar="OUT.png",
              help="Draw per head the attention map beside the SVM's selection (and, for a "
                   "checkpoint folder, the correlation curve).")
def inspect(checkpoint: str, data: str, head_vector: str | None, num_heads: int | None,
            prefix: str, hardmax: str | None, saturation: float, aligned: float, as_json: bool,
            figure: str | None) -> int:
    """Compare each head of a trained attention layer (CHECKPOINT) with its Att-SVMs on DATA.npz.

    CHECKPOINT: a torch.save'd state_dict (weights only; pickled objects are refused) or a
    .safetensors file of an nn.MultiheadAttention (packed or separate projections, with or
    without biases), or a mapping with W (d x d) or K, Q (d x m); or a folder of such files
    named step-<k>.pt (k the training step, e.g. step-000100.pt): the last step is inspected,
    and corr(W_h(k), W^mm_alpha), corr(W_h(k), W*^mm_alpha) are reported per step (alpha and
    the SVMs of the last step). Exit 0, or 2 on bad input.

    Example: attnsvm inspect attn.pt data.npz --num-heads 2 --head-vector u.npy --figure heads.png
    """
    from attnsvm.reference.attention.torch_heads import (
        alignment_curve,
        hardmax_agreement,
        inspect_head,
    )

    for name, value in (("saturation", saturation), ("aligned", aligned)):
        if not 0.0 < value <= 1.0:
            raise ProblemError(name, f"must lie in (0, 1], got {value!r}")
    _check_figure_path(figure)
    if not Path(checkpoint).exists():
        raise ProblemError("checkpoint", f"no such file or folder: {checkpoint}")
    problem = load_problem(data)
    heldout = None if hardmax is None else _read_heldout(hardmax, problem.d)
    files, sequence, weights = _load_all(checkpoint, problem.d, num_heads=num_heads,
                                  readout=_readout(head_vector), prefix=prefix)
    heads = [inspect_head(problem, h, saturation=saturation, aligned=aligned)
             for h in weights.heads]
    curves = alignment_curve(problem, sequence, heads) if sequence is not None else None
    for i, (entry, head) in enumerate(zip(heads, weights.heads, strict=True)):
        entry["curve"] = None if curves is None else curves[i]
        entry["hardmax"] = None
        if heldout is not None:
            fro = entry["svm"]["fro"]
            W_mm = np.asarray(fro["W"]) if fro["status"] == "optimal" else None
            v = problem.v if head.value is None else head.value
            entry["hardmax"] = hardmax_agreement(head, W_mm, heldout, v)
    if figure is not None:
        draw_figure(figure, problem, heads)
    if as_json:
        payload = {
            "checkpoint": str(checkpoint), "kind": weights.kind, "embed_dim": weights.embed_dim,
            "num_heads": weights.num_heads,
            "value_heads": "readout" if head_vector else "data v",
            "output_offset": weights.output_offset, "dropped": list(weights.dropped),
            "sequence": None if sequence is None else {
                "steps": [k for k, _ in sequence], "files": [str(f) for _, f in files]},
            "heldout": hardmax,
            "heads": [{k: v for k, v in h.items() if k != "probabilities"} for h in heads],
        }
        click.echo(json.dumps(payload, allow_nan=False))
        return 0
    where = checkpoint if sequence is None else f"{checkpoint}, step {sequence[-1][0]}"
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
            *(_hardmax_rows(h["hardmax"]) if h["hardmax"] is not None else []),
            ("verdict", h["verdict"]),
        ]
        if h["query_bias"] is not None:
            rows.insert(4, ("query bias share", h["query_bias_share"]))
        emit_table(f"{weights.kind} head {h['head']} of {weights.num_heads} ({where})",
                   ["quantity", "value"], rows)
        if h["curve"] is not None:
            emit_table(f"head {h['head']}: alignment over the checkpoints (alpha and SVMs of "
                       "the last)", ["step", "corr W^mm", "corr W*^mm", "||W_h||", "min max p"],
                       _curve_rows(h["curve"]))
    for note in weights.dropped:
        click.echo(f"note: dropped the {note}")
    if figure is not None:
        click.echo(f"figure: {figure}")
    return 0


def _draw_curve(ax: Any, curve: list[dict[str, Any]]) -> None:
    steps = [c["step"] for c in curve]
    for key, label in (("corr_fro", "corr(W_h(k), W^mm)"), ("corr_nuc", "corr(W_h(k), W*^mm)")):
        ys = [np.nan if c[key] is None else c[key] for c in curve]
        ax.plot(steps, ys, marker=".", label=label)
    ax.set_xlabel("step k", fontsize=7)
    ax.set_ylabel("correlation", fontsize=7)
    ax.set_title("alignment over the checkpoints\n(alpha, SVMs of the last one)", fontsize=8)
    ax.axhline(1.0, color="grey", lw=0.5)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6)


def _read_heldout(path: str, d: int) -> Any:
    """HELDOUT.npz as an AttentionProblem of dimension d; any defect is one ProblemError
    naming --hardmax and the file."""
    try:
        heldout = load_problem(path)
    except ProblemError as exc:
        raise ProblemError("hardmax", f"{path}: {exc}") from None
    if heldout.d != d:
        raise ProblemError("hardmax", f"{path} has tokens of dimension d = {heldout.d}, the "
                           f"data has d = {d}")
    return heldout


def _load_all(checkpoint: str, d: int, **kw: Any) -> tuple[Any, Any, Any]:
    """(the folder's [(step, file)] or None, the sequence [(step, weights)] or None, the
    weights of the (last) checkpoint)."""
    from attnsvm.reference.attention.torch_heads import checkpoint_sequence, load_heads

    files = checkpoint_sequence(checkpoint)
    if files is None:
        return None, None, load_heads(checkpoint, d, **kw)
    seq = []
    for step, f in files:
        try:
            seq.append((step, load_heads(f, d, **kw)))
        except ProblemError as exc:
            raise ProblemError(exc.field, f"{f.name}: {str(exc).split(': ', 1)[-1]}") from None
    return files, seq, seq[-1][1]


def _hardmax_rows(hm: dict[str, Any]) -> list[tuple[str, str]]:
    soft = f"{hm['acc_softmax']:.4g} ({hm['correct_softmax']}/{hm['n']})"
    if hm["agree"] is None:
        return [("hardmax agreement", "n/a (Att-SVM_alpha infeasible)"),
                ("held-out acc softmax / hardmax", f"{soft} / n/a")]
    lo, hi = hm["agreement_wilson"]
    return [("hardmax agreement", f"{hm['agree']}/{hm['n']} = {hm['agreement']:.4g} "
             f"(95% Wilson [{lo:.4g}, {hi:.4g}])"),
            ("held-out acc softmax / hardmax",
             f"{soft} / {hm['acc_hardmax']:.4g} ({hm['correct_hardmax']}/{hm['n']})")]


def _curve_rows(curve: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    def f(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.6f}"

    return [(c["step"], f(c["corr_fro"]), f(c["corr_nuc"]), f"{c['norm']:.4g}",
             f"{c['min_max_prob']:.4g}") for c in curve]


def _svm_row(e: dict[str, Any]) -> str:
    if e["status"] != "optimal":
        return f"{e['status']} (Farkas certificate; see --json)"
    c = e["certificate"]
    return (f"corr {e['corr']:.6f}, ||W|| {e['objective']:.4g}, rank {e['rank']}, "
            f"min margin {c['min_margin']:.6g}, gap {c['duality_gap']:.2g}")


COMMANDS = [inspect]
