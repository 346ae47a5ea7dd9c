"""Figure conventions shared by the reproductions (issue 16 §3).

Every figure

- names the paper and the experiment it reproduces in a header line (``header``): the paper's
  short name and arXiv id, the experiment in words and the official notebook where there is one
  (figure numbers are given only where confirmed in the paper's text; none is so far);
- ends with a caption (``header(..., caption=...)``) that says what the curves, bands and bars
  are (over how many runs, which interval);
- writes mathematics as mathtext (the symbols below: ``$W^{mm}_\\alpha$``, ``$\\|W\\|$``);
- keeps one meaning per colour across all its panels, one axis scale per quantity across panels,
  and its legends outside the axes (``legend_below`` / ``figure_legend``);
- draws an interval wherever it draws a fraction (95% Wilson, ``wilson_bars``) or a mean over
  runs (a 95% interval of the mean, ``bootstrap_ci`` or a t-interval, and the caption says
  which).

Plotting only reads an experiment's data; it never changes what is computed or written to the
JSON / REPORT.md.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.properties.files import atomic_write_bytes

# ----------------------------------------------------------------------------- notation
#: the papers, as the header line names them
TFSVM_PAPER = "TF-SVM: Tarzanagh, Li, Thrampoulidis, Oymak, Transformers as Support Vector " \
    "Machines (arXiv 2308.16898)"
MMTS_PAPER = "MMTS: Tarzanagh, Li, Zhang, Oymak, Max-Margin Token Selection in Attention " \
    "Mechanism (arXiv 2306.13596)"

#: mathtext for the objects the figures show
W_MM_A = r"$W^{mm}_\alpha$"  # Frobenius Att-SVM solution of the selection alpha
W_MM_STAR_A = r"$W^{mm}_{\star,\alpha}$"  # nuclear-norm Att-SVM* solution of alpha
W_MM = r"$W^{mm}$"  # Frobenius Att-SVM solution, alpha = opt
W_MM_STAR = r"$W^{mm}_{\star}$"  # nuclear-norm Att-SVM* solution, alpha = opt
W_MM_OPT = r"$W^{mm}_{\mathrm{opt}}$"
KQ = r"$KQ^\top$"
ALPHA_OPT = r"$\alpha = \mathrm{opt}$"
ALPHA_NOT_OPT = r"$\alpha \neq \mathrm{opt}$"

#: colours with one meaning in every figure that shows the objects (the official TF-SVM
#: notebooks: W blue, (K, Q) red; Frobenius solution solid, nuclear solution dashed)
BLUE, RED, GREEN, ORANGE, PURPLE, BROWN, PINK, GREY, OLIVE, CYAN = (
    f"C{k}" for k in (0, 3, 2, 1, 4, 5, 6, 7, 8, 9))
FROBENIUS_LS, NUCLEAR_LS, OFFICIAL_LS = "-", "--", ":"


# ----------------------------------------------------------------------------- figure life
def pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def figure(nrows: int, ncols: int, size: tuple[float, float], **kw: Any) -> tuple[Any, Any]:
    """A figure with constrained layout (legends placed outside the axes get their room) and
    an array of axes (always 2-D)."""
    plt = pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=size, layout="constrained", squeeze=False,
                             **kw)
    return fig, axes


def wrap(text: str, chars: int) -> str:
    """Wrap text at spaces, never inside a $...$ mathtext segment (a broken segment would not
    render) nor at hyphens; paragraphs separated by newlines stay separate."""
    out = []
    for para in text.split("\n"):
        parts = para.split("$")
        protected = "$".join(p.replace(" ", "\x00") if k % 2 else p
                             for k, p in enumerate(parts))
        lines = textwrap.wrap(protected, chars, break_on_hyphens=False,
                              break_long_words=False) or [""]
        out += [line.replace("\x00", " ") for line in lines]
    return "\n".join(out)


def header(fig: Any, paper: str, experiment: str, caption: str = "",
           shown: str = "") -> None:
    """Top: which experiment of which paper this figure reproduces (``experiment``: the
    experiment in words and its official notebook) and, on a further line, what it shows.
    Bottom: the caption (what the curves, bands and bars are)."""
    width = fig.get_figwidth()
    top = "\n".join(wrap(t, int(width * 13.5)) for t in (paper, experiment, shown) if t)
    fig.suptitle(top, fontsize=10.5, linespacing=1.35)
    if caption:
        fig.text(0.01, 0.0, wrap(caption, max(60, int(width * 15.5))), ha="left", va="top",
                 fontsize=8.5, color="0.15", transform=fig.transFigure, gid="caption")


def save(fig: Any, path: Path) -> None:
    """Write the PNG (bounding box grown to hold the caption under the figure) and close."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # run the constrained layout once and keep it, with the figure legends pinned where it
    # put them: the tight bounding box (caption under the figure) must not move them
    fig.canvas.draw()
    fig.set_layout_engine("none")
    inv = fig.transFigure.inverted()
    for leg in fig.legends:
        leg.set_bbox_to_anchor(leg.get_window_extent().transformed(inv),
                               transform=fig.transFigure)
        leg.set_loc("center")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", pad_inches=0.15,
                metadata={"Software": None})
    pyplot().close(fig)
    atomic_write_bytes(Path(path), buffer.getvalue())  # a killed run never leaves half a PNG


# ----------------------------------------------------------------------------- legends
def legend_below(ax: Any, handles: Sequence[Any] | None = None, ncol: int = 2,
                 **kw: Any) -> Any:
    """The axes' legend under its x label (outside the data)."""
    kw.setdefault("fontsize", 8)
    if handles is not None:
        kw["handles"] = list(handles)
    return ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=ncol,
                     frameon=False, **kw)


def figure_legend(fig: Any, handles: Sequence[Any], ncol: int, **kw: Any) -> Any:
    """One legend for the whole figure, under all panels."""
    kw.setdefault("fontsize", 8.5)
    return fig.legend(handles=list(handles), loc="outside lower center", ncol=ncol,
                      frameon=False, **kw)


def column_legend(fig: Any, columns: Sequence[Sequence[Any]], **kw: Any) -> Any:
    """A figure legend under all panels whose columns are the given groups of entries
    (shorter groups padded with blank entries)."""
    rows = max(len(c) for c in columns)
    blank = line_handle("", "none", "none")
    flat = [h for c in columns for h in (list(c) + [blank] * (rows - len(c)))]
    return figure_legend(fig, flat, ncol=len(columns), **kw)


def line_handle(label: str, color: str = "k", ls: str = "-", marker: str | None = None,
                **kw: Any) -> Any:
    """A legend entry for a line style / colour / marker (no data)."""
    from matplotlib.lines import Line2D

    return Line2D([], [], color=color, ls=ls, marker=marker, label=label, **kw)


def patch_handle(label: str, color: str, alpha: float = 0.25) -> Any:
    """A legend entry for a shaded band."""
    from matplotlib.patches import Patch

    return Patch(facecolor=color, alpha=alpha, edgecolor="none", label=label)


# ----------------------------------------------------------------------------- intervals
def bootstrap_ci(values: Iterable[float], stat: str = "mean", reps: int = 2000,
                 level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean or the median (fixed seed: the same figure
    every time)."""
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    draws = rng.choice(x, size=(reps, x.size), replace=True)
    s = draws.mean(axis=1) if stat == "mean" else np.median(draws, axis=1)
    q = 100 * (1 - level) / 2
    lo, hi = np.percentile(s, [q, 100 - q])
    return float(lo), float(hi)


def wilson_bars(ks: Sequence[int], ns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """(fractions, yerr) with 95% Wilson intervals, for ``errorbar``."""
    from attnsvm.reference.stats import wilson

    f = np.array([k / n if n else math.nan for k, n in zip(ks, ns, strict=True)])
    ci = np.array([wilson(int(k), int(n)) for k, n in zip(ks, ns, strict=True)])
    return f, np.maximum(np.vstack([f - ci[:, 0], ci[:, 1] - f]), 0.0)


def power10(x: float) -> str:
    """Mathtext for a power of ten (``1e-06`` -> ``10^{-6}``); other numbers as ``%g``."""
    e = math.log10(x) if x > 0 else math.nan
    return f"10^{{{round(e)}}}" if math.isfinite(e) and abs(e - round(e)) < 1e-9 else f"{x:g}"


def log_iterations(checkpoints: Sequence[int]) -> np.ndarray:
    """Mask of the checkpoints drawn on a logarithmic iteration axis (k >= 1)."""
    return np.asarray(checkpoints, dtype=float) >= 1


def log_ticks(ax: Any, values: Iterable[float], axis: str = "x") -> None:
    """Ticks at the given values of a logarithmic axis, labelled as plain numbers."""
    vals = sorted({float(v) for v in values})
    labels = [f"{v:g}" for v in vals]
    from matplotlib.ticker import NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_ticks(vals, labels)
    target.set_minor_locator(NullLocator())


__all__ = [
    "ALPHA_NOT_OPT", "ALPHA_OPT", "BLUE", "BROWN", "CYAN", "FROBENIUS_LS", "GREEN", "GREY", "KQ",
    "MMTS_PAPER", "NUCLEAR_LS", "OFFICIAL_LS", "OLIVE", "ORANGE", "PINK", "PURPLE", "RED",
    "TFSVM_PAPER", "W_MM", "W_MM_A", "W_MM_OPT", "W_MM_STAR", "W_MM_STAR_A", "bootstrap_ci",
    "column_legend", "figure", "figure_legend", "header", "legend_below", "line_handle",
    "log_iterations", "log_ticks", "patch_handle", "power10", "pyplot", "save",
    "wilson_bars", "wrap",
]
