"""Read a trained attention layer's weights into per-head matrices W_h in attnsvm's convention.

attnsvm scores token t of an input with query z as s_t = x_tᵀ W z (TF-SVM, arXiv 2308.16898,
Sec. 2). A ``torch.nn.MultiheadAttention`` with embed_dim E = d and H heads of width
d_h = E / H computes, for head h (rows h·d_h .. (h+1)·d_h of each projection),

    q = W_{q,h} z + b_{q,h},   k_t = W_{k,h} x_t + b_{k,h},   s_t = qᵀ k_t / sqrt(d_h),

so s_t = x_tᵀ W_h z + x_tᵀ c_h + (terms constant in t), with

    W_h = W_{k,h}ᵀ W_{q,h} / sqrt(d_h)        (d x d, rank <= d_h)
    c_h = W_{k,h}ᵀ b_{q,h} / sqrt(d_h)        (the query bias's logit term, a d-vector).

The softmax over t ignores the terms constant in t: the key bias b_k cancels exactly (it is
dropped). The query bias does not cancel: its term x_tᵀ c_h is kept in the logits (so the
attention maps equal the module's own), and reported; the SVM comparison is of W_h, the bilinear
part (Att-SVM has no bias), so ``AttentionHead.query_bias_share`` says how much of the logit
spread the bias carries on the data.

Value heads: the layer's output for query z is Σ_h W_{o,h} W_{v,h} Xᵀ softmax_h (+ biases), with
W_{o,h} = out_proj.weight[:, h-block] (E x d_h). With a readout u (a vector of size E, the
model's linear head on the attention output), uᵀ output = Σ_h (X v_h)ᵀ softmax_h + const, where
v_h = W_{v,h}ᵀ W_{o,h}ᵀ u is head h's effective value head (TF-SVM's v) and the constant is
Σ_h uᵀ W_{o,h} b_{v,h} + uᵀ b_o (softmax weights sum to one).

Accepted state dicts (``heads_from_state``):

* ``nn.MultiheadAttention``: packed ``in_proj_weight`` (3E x E), or separate ``q_proj_weight``,
  ``k_proj_weight``, ``v_proj_weight`` (E x E each); ``out_proj.weight`` (E x E); optional
  ``in_proj_bias`` (3E) and ``out_proj.bias`` (E). ``bias_k`` / ``bias_v`` (add_bias_kv, a
  learned extra key/value token) are refused. The state dict does not record the number of
  heads: it is passed in.
* a plain mapping with ``W`` (d x d), or ``K`` and ``Q`` (d x m each, W = K Qᵀ, the
  project's (K, Q) parameterization): one head; a readout u is then the value head itself.

Checkpoints (``read_checkpoint``): a state dict saved with ``torch.save`` (read with
``torch.load(..., weights_only=True)``: a file that needs unpickling of arbitrary objects is
refused), or a ``.safetensors`` file (read here from the format's specification: an 8-byte
little-endian header length, a JSON header, raw little-endian data; no code runs).

Checkpoint sequences (``checkpoint_sequence``): a folder of such files named ``step-<k>.pt``
(or ``.pth``, ``.safetensors``), k the number of optimizer steps taken, e.g. ``step-000100.pt``;
other files in the folder are ignored. ``train_mha(..., save_every=k, save_dir=...)`` writes one.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import as_int, as_real_array

MHA_PACKED = ("in_proj_weight", "out_proj.weight")
MHA_SEPARATE = ("q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight")
MHA_OPTIONAL = ("in_proj_bias", "out_proj.bias")
MHA_REFUSED = {"bias_k": "add_bias_kv=True (a learned extra key token)",
               "bias_v": "add_bias_kv=True (a learned extra value token)"}

#: safetensors dtype codes -> numpy dtypes (little-endian); BF16 is widened to float32 below.
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "U16": "<u2", "U32": "<u4", "U64": "<u8"}
#: a header longer than this is not a plausible safetensors file (the format caps it at 100 MB)
_ST_MAX_HEADER = 100_000_000
#: the file names of a checkpoint sequence: step-<k>.pt / .pth / .safetensors
STEP_FILE = re.compile(r"^step-(\d+)\.(pt|pth|safetensors)$")


@dataclass(frozen=True)
class AttentionHead:
    """One head: s_t = x_tᵀ W z + x_tᵀ query_bias (see the module docstring).

    Attributes:
        index: the head's number h.
        W: W_h (d x d).
        query_bias: c_h (d,), the query bias's logit term, or None (no in_proj_bias, or a plain
            W / (K, Q) mapping).
        value: v_h (d,) for the readout u, or None when no readout was given.
        value_offset: uᵀ W_{o,h} b_{v,h} (0 without a value bias or readout).
        K, Q: W_{k,h}ᵀ / d_h^(1/4) and W_{q,h}ᵀ / d_h^(1/4) (d x d_h), so that W = K Qᵀ.
    """

    index: int
    W: np.ndarray
    query_bias: np.ndarray | None = None
    value: np.ndarray | None = None
    value_offset: float = 0.0
    K: np.ndarray | None = None
    Q: np.ndarray | None = None

    def logits(self, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """s_it = x_itᵀ W z_i (+ x_itᵀ c_h), shape (n, T)."""
        s = np.einsum("ntd,de,ne->nt", X, self.W, Z)
        if self.query_bias is not None:
            s = s + X @ self.query_bias
        return s

    def query_bias_share(self, X: np.ndarray, Z: np.ndarray) -> float:
        """max_i spread_t(x_itᵀ c_h) / max_i spread_t(s_it): the share of the logit spread over
        tokens carried by the query bias (0 without one)."""
        if self.query_bias is None:
            return 0.0
        b = X @ self.query_bias
        s = self.logits(X, Z)
        spread_b = float(np.max(np.ptp(b, axis=1)))
        spread_s = float(np.max(np.ptp(s, axis=1)))
        return spread_b / spread_s if spread_s > 0 else (0.0 if spread_b == 0 else math.inf)


@dataclass(frozen=True)
class AttentionWeights:
    """The heads of one checkpoint. ``kind``: ``mha-packed``, ``mha-separate``, ``W`` or
    ``KQ``; ``output_offset``: uᵀ b_o (0 without a readout or out_proj.bias);
    ``dropped``: what was read and deliberately not used (the key bias)."""

    kind: str
    heads: tuple[AttentionHead, ...]
    embed_dim: int
    output_offset: float = 0.0
    dropped: tuple[str, ...] = ()

    @property
    def num_heads(self) -> int:
        return len(self.heads)


# ------------------------------------------------------------------------------- reading files
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw mapping of a checkpoint: ``.safetensors`` (name -> numpy array) or a
    ``torch.save`` file (whatever ``torch.load(weights_only=True)`` returns, checked to be a
    mapping). ProblemError("checkpoint") for unreadable files, refused pickles, and payloads
    that are not a mapping."""
    p = Path(path)
    if not p.is_file():
        raise ProblemError("checkpoint", f"no such file: {p}")
    if p.suffix == ".safetensors":
        return read_safetensors(p)
    import torch

    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = " ".join(str(exc).split())[:160]
        raise ProblemError(
            "checkpoint", f"{p} needs unpickling of arbitrary objects, which attnsvm refuses "
            f"(torch.load weights_only=True failed: {first}); save model.state_dict() or use "
            ".safetensors") from None
    except Exception as exc:  # noqa: BLE001 - zip/format/legacy errors of torch.load
        raise ProblemError("checkpoint", f"{p} is not a readable torch checkpoint "
                           f"({type(exc).__name__}: {' '.join(str(exc).split())[:120]})") from None
    if not isinstance(payload, Mapping):
        raise ProblemError("checkpoint", f"{p} holds a {type(payload).__name__}, not a state_dict "
                           "(a mapping of parameter names to tensors)")
    return dict(payload)


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """A .safetensors file as name -> float-convertible numpy array (the format's spec: u64
    little-endian header size N, N bytes of JSON {name: {dtype, shape, data_offsets}} with an
    optional ``__metadata__``, then the data). ProblemError("checkpoint") for any defect."""
    p = Path(path)
    raw = p.read_bytes()

    def bad(msg: str) -> ProblemError:
        return ProblemError("checkpoint", f"{p} is not a valid .safetensors file ({msg})")

    if len(raw) < 8:
        raise bad("shorter than its 8-byte header size")
    n = int.from_bytes(raw[:8], "little")
    if n > min(_ST_MAX_HEADER, len(raw) - 8):
        raise bad(f"header size {n} exceeds the file")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise bad(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise bad("header is not a JSON object")
    data = memoryview(raw)[8 + n:]
    out: dict[str, np.ndarray] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
            raise bad(f"entry {name!r} lacks dtype/shape/data_offsets")
        dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
        if (not isinstance(shape, list) or not all(isinstance(k, int) and k >= 0 for k in shape)
                or not isinstance(offsets, list) or len(offsets) != 2
                or not all(isinstance(k, int) for k in offsets)):
            raise bad(f"entry {name!r} has a malformed shape or data_offsets")
        begin, end = offsets
        if not 0 <= begin <= end <= len(data):
            raise bad(f"entry {name!r} points outside the data")
        count = math.prod(shape)
        chunk = data[begin:end]
        if dtype == "BF16":
            if end - begin != 2 * count:
                raise bad(f"entry {name!r} has {end - begin} bytes for {count} BF16 values")
            bits = np.frombuffer(chunk, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32).reshape(shape)
        elif dtype in _ST_DTYPES:
            dt = np.dtype(_ST_DTYPES[dtype])
            if end - begin != dt.itemsize * count:
                raise bad(f"entry {name!r} has {end - begin} bytes for {count} {dtype} values")
            arr = np.frombuffer(chunk, dtype=dt).reshape(shape)
        else:
            raise ProblemError(name, f"dtype {dtype} is not a real number type attnsvm reads")
        out[name] = np.array(arr, dtype=arr.dtype.newbyteorder("="))
    return out


def load_heads(path: str | Path, d: int, *, num_heads: int | None = None,
               readout: object = None, prefix: str = "") -> AttentionWeights:
    """``heads_from_state(read_checkpoint(path), ...)``; ``prefix`` selects the keys of one
    submodule of a larger state dict (``"attn."``) and strips it."""
    state = read_checkpoint(path)
    if prefix:
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        if not state:
            raise ProblemError("prefix", f"no key of {path} starts with {prefix!r}")
    return heads_from_state(state, d, num_heads=num_heads, readout=readout)


def checkpoint_sequence(path: str | Path) -> list[tuple[int, Path]] | None:
    """The (step, file) pairs of a checkpoint folder, sorted by step, or None when ``path`` is
    not a folder (one checkpoint). ProblemError("checkpoint") for a folder without
    ``step-<k>.pt`` / ``.pth`` / ``.safetensors`` files or with two files for one step."""
    p = Path(path)
    if not p.is_dir():
        return None
    found: dict[int, Path] = {}
    for f in sorted(p.iterdir()):
        m = STEP_FILE.match(f.name)
        if m is None or not f.is_file():
            continue
        k = int(m.group(1))
        if k in found:
            raise ProblemError("checkpoint", f"{p} holds two checkpoints of step {k}: "
                               f"{found[k].name} and {f.name}")
        found[k] = f
    if not found:
        raise ProblemError("checkpoint", f"{p} is a folder without step-<k>.pt (or .pth, "
                           ".safetensors) checkpoint files")
    return sorted(found.items())


def save_state(state: Mapping[str, Any], folder: str | Path, step: int) -> Path:
    """Write a state dict as ``folder/step-<step:06d>.pt`` (the sequence convention of
    ``checkpoint_sequence``); tensors are cloned, numpy arrays converted."""
    import torch

    out = Path(folder) / f"step-{int(step):06d}.pt"
    torch.save({k: (v.detach().clone() if isinstance(v, torch.Tensor) else torch.tensor(v))
                for k, v in state.items()}, out)
    return out


# ------------------------------------------------------------------------------ interpreting
def _tensor(name: str, value: object, shape: tuple[int, ...]) -> np.ndarray:
    """A float64 copy of a weight, refusing non-tensors, wrong shapes, NaN and inf."""
    if not (isinstance(value, np.ndarray) or type(value).__module__.split(".")[0] == "torch"):
        raise ProblemError(name, f"holds a {type(value).__name__}, not a tensor (a state_dict "
                           "maps parameter names to tensors)")
    if type(value).__module__.split(".")[0] == "torch":
        import torch

        if not isinstance(value, torch.Tensor):
            raise ProblemError(name, f"holds a {type(value).__name__}, not a tensor")
        if value.is_complex() or value.dtype == torch.bool:
            raise ProblemError(name, f"dtype {value.dtype} is not a real number type")
        value = value.detach().cpu().to(torch.float64).numpy()
    arr = as_real_array(name, value, finite=False, copy=True)
    if arr.shape != shape:
        raise ProblemError(name, f"expected shape {shape} (from the data's d and the number of "
                           f"heads), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ProblemError(name, "holds NaN or inf")
    return arr


def _readout(readout: object, d: int) -> np.ndarray | None:
    if readout is None:
        return None
    return _tensor("head-vector", np.asarray(readout) if not isinstance(readout, np.ndarray)
                   else readout, (d,))


def heads_from_state(state: Mapping[str, Any], d: int, *, num_heads: int | None = None,
                     readout: object = None) -> AttentionWeights:
    """Per-head W_h (and value heads for a readout u of size d) from a state dict; see the
    module docstring for the accepted layouts and the convention. Every defect (missing or
    extra keys, shapes that do not fit d, NaN/inf, non-tensors) is a ProblemError naming the
    key; nothing passed in is modified."""
    if not isinstance(state, Mapping):
        raise ProblemError("checkpoint", f"expected a state_dict mapping, got "
                           f"{type(state).__name__}")
    d = as_int("d", d, low=1)
    keys = set(state)
    u = _readout(readout, d)
    if keys & {"W", "K", "Q"}:
        return _plain(state, keys, d, u)
    refused = sorted(keys & set(MHA_REFUSED))
    if refused:
        raise ProblemError(refused[0], f"{MHA_REFUSED[refused[0]]} is not supported: the heads "
                           "would attend to a token that is not in the data")
    packed = "in_proj_weight" in keys
    layout = MHA_PACKED if packed else MHA_SEPARATE
    if not packed and not keys & set(MHA_SEPARATE):
        raise ProblemError("checkpoint", f"keys {sorted(keys)[:8]} are neither an "
                           "nn.MultiheadAttention state_dict (in_proj_weight or q/k/v_proj_weight,"
                           " out_proj.weight) nor a mapping with W or K, Q")
    missing = [k for k in layout if k not in keys]
    if missing:
        raise ProblemError(missing[0], f"missing from the nn.MultiheadAttention state_dict "
                           f"(keys present: {', '.join(sorted(keys))})")
    extra = sorted(keys - set(layout) - set(MHA_OPTIONAL))
    if extra:
        raise ProblemError(extra[0], "unexpected key in an nn.MultiheadAttention state_dict "
                           f"({'packed' if packed else 'separate'} projections take "
                           f"{', '.join(layout + MHA_OPTIONAL)})")
    if num_heads is None:
        raise ProblemError("num-heads", "an nn.MultiheadAttention state_dict does not record its "
                           "number of heads; pass it (--num-heads)")
    H = as_int("num-heads", num_heads, low=1)
    if d % H:
        raise ProblemError("num-heads", f"{H} heads do not divide embed_dim = d = {d}")
    if packed:
        w = _tensor("in_proj_weight", state["in_proj_weight"], (3 * d, d))
        Wq, Wk, Wv = w[:d], w[d:2 * d], w[2 * d:]
    else:
        Wq = _tensor("q_proj_weight", state["q_proj_weight"], (d, d))
        Wk = _tensor("k_proj_weight", state["k_proj_weight"], (d, d))
        Wv = _tensor("v_proj_weight", state["v_proj_weight"], (d, d))
    Wo = _tensor("out_proj.weight", state["out_proj.weight"], (d, d))
    bq = bv = None
    dropped: list[str] = []
    if "in_proj_bias" in keys:
        b = _tensor("in_proj_bias", state["in_proj_bias"], (3 * d,))
        bq, bv = b[:d], b[2 * d:]
        if np.any(b[d:2 * d]):
            dropped.append("key bias (in_proj_bias[E:2E]): constant over tokens, cancels in "
                           "the softmax")
    bo = _tensor("out_proj.bias", state["out_proj.bias"], (d,)) if "out_proj.bias" in keys \
        else None
    dh = d // H
    root = dh ** 0.25
    heads = []
    for h in range(H):
        rows = slice(h * dh, (h + 1) * dh)
        Kh, Qh = Wk[rows].T / root, Wq[rows].T / root
        W = Wk[rows].T @ Wq[rows] / math.sqrt(dh)
        c = None if bq is None else Wk[rows].T @ bq[rows] / math.sqrt(dh)
        value, offset = None, 0.0
        if u is not None:
            g = Wo[:, rows].T @ u  # W_{o,h}^T u, (d_h,)
            value = Wv[rows].T @ g
            offset = float(g @ bv[rows]) if bv is not None else 0.0
        heads.append(AttentionHead(h, W, c, value, offset, Kh, Qh))
    out_offset = float(u @ bo) if (u is not None and bo is not None) else 0.0
    return AttentionWeights("mha-packed" if packed else "mha-separate", tuple(heads), d,
                            out_offset, tuple(dropped))


def _plain(state: Mapping[str, Any], keys: set[str], d: int,
           u: np.ndarray | None) -> AttentionWeights:
    if "W" in keys:
        extra = sorted(keys - {"W"})
        if extra:
            raise ProblemError(extra[0], "unexpected key beside W (a plain mapping holds W, or "
                               "K and Q)")
        W = _tensor("W", state["W"], (d, d))
        return AttentionWeights("W", (AttentionHead(0, W, None, u),), d)
    for k in ("K", "Q"):
        if k not in keys:
            raise ProblemError(k, "missing: a (K, Q) mapping needs both K and Q (d x m)")
    extra = sorted(keys - {"K", "Q"})
    if extra:
        raise ProblemError(extra[0], "unexpected key beside K and Q")
    m = _shape_of(state["K"], "K")
    if len(m) != 2:
        raise ProblemError("K", f"expected a d x m matrix, got shape {m}")
    K = _tensor("K", state["K"], (d, m[1]))
    Q = _tensor("Q", state["Q"], (d, m[1]))
    return AttentionWeights("KQ", (AttentionHead(0, K @ Q.T, None, u, 0.0, K, Q),), d)


def _shape_of(value: object, name: str) -> tuple[int, ...]:
    shape = getattr(value, "shape", None)
    if shape is None:
        raise ProblemError(name, f"holds a {type(value).__name__}, not a tensor")
    return tuple(int(k) for k in shape)


# --------------------------------------------------------------------------------- inspecting
def _finite_or_none(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _jsonable(obj: Any) -> Any:
    """numpy -> plain JSON types, every NaN/inf float -> None."""
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer, int)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return _finite_or_none(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _svm_entry(problem: Any, alpha: np.ndarray, W: np.ndarray, norm: str) -> tuple[dict, Any]:
    """{status, corr, objective, rank, singular_values, certificate...} of Att-SVM_alpha (fro)
    or Att-SVM*_alpha (nuc), and the solution (None when infeasible)."""
    from attnsvm.reference.attention.training import correlation
    from attnsvm.reference.errors import InfeasibleSVM

    if norm == "fro":
        from attnsvm.reference.svm.frobenius import solve_att_svm as solve
    else:
        from attnsvm.reference.svm.nuclear import solve_nuclear_svm as solve
    try:
        sol = solve(problem, alpha)
    except InfeasibleSVM as exc:
        return {"status": exc.status, "corr": None, "objective": None, "rank": None,
                "certificate": _jsonable(dict(exc.certificate))}, None
    return {
        "status": "optimal", "corr": float(correlation(W, sol.W)),
        "objective": float(sol.objective), "rank": int(sol.rank),
        "singular_values": [float(s) for s in sol.singular_values],
        "certificate": {"min_margin": float(sol.min_margin),
                        "kkt_residual": float(sol.kkt_residual),
                        "duality_gap": float(sol.duality_gap),
                        "support": [[int(i), int(t)] for i, t in sol.support]},
        "W": sol.W.tolist(),
    }, sol


def verdict_sentence(entry: Mapping[str, Any], *, saturation: float, aligned: float) -> str:
    """The one-sentence reading of an ``inspect_head`` entry (see there)."""
    fro, nuc = entry["svm"]["fro"], entry["svm"]["nuc"]
    corr = f"corr with W^mm {_fmt(fro['corr'])}, with W*^mm {_fmt(nuc['corr'])}"
    if not entry["min_max_prob"] >= saturation:
        return (f"not saturated yet: the smallest max probability is "
                f"{entry['min_max_prob']:.4g} < {saturation:g} ({corr})")
    if fro["status"] != "optimal":
        return ("selection infeasible: Att-SVM_alpha has no solution (Farkas certificate in "
                "svm.fro.certificate)")
    if not entry["locally_optimal"]:
        return f"selection not locally optimal ({corr})"
    kind = "globally optimal" if entry["optimal"] else "locally optimal"
    hits = [name for name, e in (("Frobenius", fro), ("nuclear", nuc))
            if e["corr"] is not None and e["corr"] >= aligned]
    if len(hits) == 2:
        first = "Frobenius" if fro["corr"] >= nuc["corr"] else "nuclear"
        other = "nuclear" if first == "Frobenius" else "Frobenius"
        text = f"aligned with the {first} SVM (and the {other} SVM: the two nearly coincide)"
    elif hits:
        text = f"aligned with the {hits[0]} SVM"
    else:
        text = f"not aligned with either SVM (below {aligned:g})"
    out = f"{text}; selection {kind}; {corr}"
    share = entry.get("query_bias_share")
    if share:
        out += f"; the query bias carries {share:.3g} of the logit spread"
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.6f}"


def inspect_head(problem: Any, head: AttentionHead, *, saturation: float = 0.999,
                 aligned: float = 0.99) -> dict[str, Any]:
    """Compare one trained head with its SVMs on ``problem`` (an AttentionProblem).

    The head's value head v_h (when the checkpoint was read with a readout) replaces the data's
    v for the token scores. Reported (JSON-able, no NaN/inf): the selection alpha (argmax
    attention per input, logits including the query bias), the saturation min_i max_t s_it,
    whether alpha is optimal (attains max_t gamma_it, ties allowed) and locally optimal
    (TF-SVM's definition, ``svm.token_optimality``), Att-SVM_alpha (Frobenius) and
    Att-SVM*_alpha (nuclear) with their certificates (or the Farkas certificate),
    corr(W_h, W^mm_alpha), corr(W_h, W*^mm_alpha), the rank and singular values of W_h
    (relative threshold 1e-6) and a verdict sentence (``verdict_sentence``)."""
    from attnsvm.reference.attention.models import softmax
    from attnsvm.reference.attention.problem import AttentionProblem
    from attnsvm.reference.svm.certificates import singular_values_and_rank
    from attnsvm.reference.svm.selection import tie_tolerance
    from attnsvm.reference.svm.token_optimality import is_locally_optimal

    v = problem.v if head.value is None else head.value
    prob = AttentionProblem(problem.X, problem.Y, v, problem.Z)
    logits = head.logits(prob.X, prob.Z)
    P = np.asarray(softmax(logits))
    alpha = np.argmax(P, axis=1).astype(np.int64)
    g = prob.scores
    tol = tie_tolerance(g)
    optimal = bool(np.all(g[np.arange(prob.n), alpha] >= g.max(axis=1) - tol))
    fro, fro_sol = _svm_entry(prob, alpha, head.W, "fro")
    nuc, _ = _svm_entry(prob, alpha, head.W, "nuc")
    local = bool(fro_sol is not None and is_locally_optimal(prob, alpha, solution=fro_sol))
    sv, rank = singular_values_and_rank(head.W)
    entry: dict[str, Any] = {
        "head": head.index,
        "W": head.W.tolist(),
        "selected": alpha.tolist(),
        "min_max_prob": float(P.max(axis=1).min()),
        "optimal": optimal,
        "locally_optimal": local,
        "svm": {"fro": fro, "nuc": nuc},
        "rank": int(rank),
        "singular_values": [float(s) for s in sv],
        "norm": float(np.linalg.norm(head.W)),
        "value_head": None if head.value is None else head.value.tolist(),
        "value_offset": float(head.value_offset),
        "query_bias": None if head.query_bias is None else head.query_bias.tolist(),
        "query_bias_share": head.query_bias_share(prob.X, prob.Z),
        "probabilities": P.tolist(),
    }
    entry["verdict"] = verdict_sentence(entry, saturation=saturation, aligned=aligned)
    return _jsonable(entry)


def _labels(f: np.ndarray) -> np.ndarray:
    """+1 where the output is > 0, else -1 (as in ``properties.claims.own_model``)."""
    return np.where(f > 0, 1.0, -1.0)


def hardmax_agreement(head: AttentionHead, W_mm: np.ndarray | None, heldout: Any,
                      v: np.ndarray) -> dict[str, Any]:
    """The trained softmax head against its hardmax replacement on ``heldout`` (an
    AttentionProblem of the same d).

    softmax model: f(X) = Σ_t softmax_t(X W_h z + X c_h) vᵀx_t (the head's own attention,
    query bias included); hardmax model: f_h(X) = vᵀ x_{t*(X)}, t*(X) = argmax_t x_tᵀ W_mm z
    (first index on ties). Both score tokens with ``v`` (the head's value head, or the training
    data's v) and leave the value and output biases out (the head alone, TF-SVM's model).
    Labels: +1 where f > 0, else -1. Returned (JSON-able): n, the agreement count and rate with
    its 95% Wilson interval, and each model's correct count, accuracy and Wilson interval
    against heldout.Y; the hardmax entries are None when W_mm is None (Att-SVM_alpha
    infeasible)."""
    from attnsvm.reference.attention.models import softmax
    from attnsvm.reference.stats import wilson

    X, Y, Z = heldout.X, heldout.Y, heldout.Z
    n = heldout.n
    tok = X @ v  # (n, T): v^T x_t
    P = np.asarray(softmax(head.logits(X, Z)))
    soft = _labels(np.einsum("nt,nt->n", P, tok))
    c_soft = int(np.sum(soft == Y))
    out: dict[str, Any] = {
        "n": n, "acc_softmax": c_soft / n, "correct_softmax": c_soft,
        "acc_softmax_wilson": list(wilson(c_soft, n)),
        "agree": None, "agreement": None, "agreement_wilson": None,
        "acc_hardmax": None, "correct_hardmax": None, "acc_hardmax_wilson": None,
    }
    if W_mm is None:
        return out
    t_star = np.argmax(np.einsum("ntd,de,ne->nt", X, np.asarray(W_mm), Z), axis=1)
    hard = _labels(tok[np.arange(n), t_star])
    agree = int(np.sum(hard == soft))
    c_hard = int(np.sum(hard == Y))
    out.update(agree=agree, agreement=agree / n, agreement_wilson=list(wilson(agree, n)),
               acc_hardmax=c_hard / n, correct_hardmax=c_hard,
               acc_hardmax_wilson=list(wilson(c_hard, n)))
    return _jsonable(out)


def alignment_curve(problem: Any, sequence: list[tuple[int, AttentionWeights]],
                    entries: list[Mapping[str, Any]]) -> list[list[dict[str, Any]]]:
    """Per head h, per checkpoint (step k, weights): {step, corr_fro, corr_nuc, norm,
    min_max_prob} with corr_fro = corr(W_h(k), W^mm_alpha), corr_nuc = corr(W_h(k),
    W*^mm_alpha), alpha and both SVMs those of ``entries`` (``inspect_head`` of the last
    checkpoint); min_max_prob is the saturation of head h at step k on ``problem``. A
    correlation is None when its SVM is infeasible or W_h(k) = 0."""
    from attnsvm.reference.attention.models import softmax
    from attnsvm.reference.attention.training import correlation

    curves: list[list[dict[str, Any]]] = []
    for h, entry in enumerate(entries):
        targets = {}
        for norm in ("fro", "nuc"):
            e = entry["svm"][norm]
            targets[norm] = np.asarray(e["W"]) if e["status"] == "optimal" else None
        rows = []
        for step, weights in sequence:
            head = weights.heads[h]
            P = np.asarray(softmax(head.logits(problem.X, problem.Z)))
            row: dict[str, Any] = {"step": int(step)}
            for norm, T in targets.items():
                row[f"corr_{norm}"] = None if T is None else float(correlation(head.W, T))
            row["norm"] = float(np.linalg.norm(head.W))
            row["min_max_prob"] = float(P.max(axis=1).min())
            rows.append(row)
        curves.append(_jsonable(rows))
    return curves


# ------------------------------------------------------------------------------- training
def train_mha(problem: Any, num_heads: int, *, optimizer: str, steps: int, lr: float,
              seed: int, save_every: int | None = None,
              save_dir: str | Path | None = None) -> dict[str, Any]:
    """Train a genuine ``torch.nn.MultiheadAttention`` (float64, no biases, torch's default
    init under ``torch.manual_seed(seed)``) on ``problem`` with the linear readout u = v:
    f_i = vᵀ MHA(z_i; X_i, X_i), logistic loss mean log(1 + exp(-Y_i f_i)). The value path
    (W_v, W_o) stays at its initialisation, so head h's value head v_h = W_{v,h}ᵀ W_{o,h}ᵀ v is
    fixed, as TF-SVM's v is; the query and key projections train by ``optimizer``: ``sgd``
    (plain), ``ngd`` (normalized: each of the q and k blocks steps by lr·g/||g||_F) or ``adam``
    (torch.optim.Adam). Returns the state_dict (name -> float64 numpy array) and the loss curve.

    With ``save_every=k`` (and ``save_dir``, an existing folder) the state dict is also written
    as a checkpoint sequence for ``attnsvm inspect``: ``save_dir/step-000000.pt`` (the
    initialisation), then after every k optimizer steps and after the last one; the written
    paths are returned under ``"checkpoints"``. Saving does not change the run."""
    import torch

    if optimizer not in ("sgd", "ngd", "adam"):
        raise ProblemError("optimizer", f"expected sgd, ngd or adam, got {optimizer!r}")
    every = None if save_every is None else as_int("save_every", save_every, low=1)
    if every is not None:
        if save_dir is None or not Path(save_dir).is_dir():
            raise ProblemError("save_dir", f"save_every needs an existing folder, got {save_dir!r}")
    saved: list[Path] = []
    d = problem.d
    torch.manual_seed(int(seed))
    m = torch.nn.MultiheadAttention(d, int(num_heads), bias=False, dtype=torch.float64)
    m.out_proj.weight.requires_grad_(False)
    mask = torch.ones(3 * d, 1, dtype=torch.float64)
    mask[2 * d:] = 0.0  # the value rows keep their initial W_v
    X = torch.tensor(np.asarray(problem.X)).transpose(0, 1)
    Z = torch.tensor(np.asarray(problem.Z))[None]
    Y = torch.tensor(np.asarray(problem.Y))
    u = torch.tensor(np.asarray(problem.v))
    w = m.in_proj_weight
    opt = torch.optim.Adam([w], lr=lr) if optimizer == "adam" else None
    losses = []
    steps = int(steps)
    if every is not None:
        saved.append(save_state(m.state_dict(), save_dir, 0))
    for done in range(steps):  # `done` optimizer steps taken so far
        if every is not None and done and done % every == 0:
            saved.append(save_state(m.state_dict(), save_dir, done))
        out, _ = m(Z, X, X, need_weights=False)
        loss = torch.nn.functional.softplus(-Y * (out[0] @ u)).mean()
        losses.append(loss.item())
        if w.grad is not None:
            w.grad = None
        loss.backward()
        g = w.grad * mask
        if opt is not None:
            w.grad = g
            opt.step()
            continue
        with torch.no_grad():
            if optimizer == "sgd":
                w -= lr * g
            else:
                for rows in (slice(0, d), slice(d, 2 * d)):
                    nrm = torch.linalg.norm(g[rows])
                    if nrm > 0:
                        w[rows] -= lr * g[rows] / nrm
    if every is not None and steps > 0:
        saved.append(save_state(m.state_dict(), save_dir, steps))
    state = {k: v.detach().numpy().copy() for k, v in m.state_dict().items()}
    run: dict[str, Any] = {"state": state, "losses": losses}
    if every is not None:
        run["checkpoints"] = saved
    return run
