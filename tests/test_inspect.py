"""``attnsvm inspect``: per-head W_h of a torch attention layer against its SVMs (issue 11).

The convention test: softmax(X W_h z + X c_h) equals nn.MultiheadAttention's own
need_weights=True, average_attn_weights=False output to 1e-12 in float64, for 1 and 3 heads,
packed and separate projections, with and without biases; the readout test: uᵀ(layer output)
equals Σ_h (X v_h)ᵀ softmax_h + offsets. Bad input exits 2 with one line and modifies nothing.
--hardmax: the agreement and accuracies recomputed from their definitions, null for an
infeasible selection, bad held-out files exit 2; checkpoint sequences: train_mha(save_every=k)
writes one (without changing the run), inspect reads it and its curve is recomputed per file.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from attnsvm.properties.cli import main
from attnsvm.reference.attention.families import make_problem
from attnsvm.reference.attention.models import softmax
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.attention.torch_heads import heads_from_state, read_safetensors
from attnsvm.reference.attention.training import train_W
from attnsvm.reference.errors import ProblemError

torch = pytest.importorskip("torch")

D = 6


def _problem(n: int = 4, T: int = 3, d: int = D, seed: int = 1) -> AttentionProblem:
    return make_problem("paper", n, T, d, seed)


def _mha(num_heads: int, bias: bool, seed: int = 0) -> torch.nn.MultiheadAttention:
    torch.manual_seed(seed)
    m = torch.nn.MultiheadAttention(D, num_heads, bias=bias, dtype=torch.float64)
    if bias:  # torch initialises the biases at zero: make every one matter
        with torch.no_grad():
            m.in_proj_bias.normal_()
            m.out_proj.bias.normal_()
    return m


def _module_weights(m, p: AttentionProblem) -> np.ndarray:
    """(n, H, T) attention weights of the module itself (one query per input)."""
    X = torch.tensor(p.X).transpose(0, 1)  # (T, n, d): sequence first
    Z = torch.tensor(p.Z)[None]  # (1, n, d)
    _, A = m(Z, X, X, need_weights=True, average_attn_weights=False)
    return A[:, :, 0, :].detach().numpy()


def _separate_state(m) -> dict:
    """The same layer with separate q/k/v projections (what kdim/vdim != embed_dim store)."""
    sd = m.state_dict()
    w = sd.pop("in_proj_weight")
    sd.update(q_proj_weight=w[:D].clone(), k_proj_weight=w[D:2 * D].clone(),
              v_proj_weight=w[2 * D:].clone())
    return sd


def _separate_forward(sd: dict, p: AttentionProblem, num_heads: int):
    F = torch.nn.functional
    X = torch.tensor(p.X).transpose(0, 1)
    Z = torch.tensor(p.Z)[None]
    return F.multi_head_attention_forward(
        Z, X, X, D, num_heads, None, sd.get("in_proj_bias"), None, None, False, 0.0,
        sd["out_proj.weight"], sd.get("out_proj.bias"), training=False, need_weights=True,
        use_separate_proj_weight=True, q_proj_weight=sd["q_proj_weight"],
        k_proj_weight=sd["k_proj_weight"], v_proj_weight=sd["v_proj_weight"],
        average_attn_weights=False)


@pytest.mark.parametrize("num_heads", [1, 3])
@pytest.mark.parametrize("bias", [False, True])
def test_heads_reproduce_the_modules_attention(num_heads, bias) -> None:
    p = _problem()
    m = _mha(num_heads, bias)
    A = _module_weights(m, p)
    heads = heads_from_state(m.state_dict(), D, num_heads=num_heads)
    assert heads.kind == "mha-packed" and heads.num_heads == num_heads
    for h in heads.heads:
        P = np.asarray(softmax(h.logits(p.X, p.Z)))
        assert np.max(np.abs(P - A[:, h.index])) <= 1e-12
        assert np.linalg.matrix_rank(h.W) <= D // num_heads
        assert np.allclose(h.K @ h.Q.T, h.W, rtol=0, atol=1e-14)
        if not bias:  # s_t = x_t^T W_h z exactly
            assert h.query_bias is None
            P0 = np.asarray(softmax(np.einsum("ntd,de,ne->nt", p.X, h.W, p.Z)))
            assert np.max(np.abs(P0 - A[:, h.index])) <= 1e-12
    if bias:
        assert heads.dropped and "key bias" in heads.dropped[0]


@pytest.mark.parametrize("num_heads", [1, 3])
def test_separate_projections(num_heads) -> None:
    p = _problem()
    sd = _separate_state(_mha(num_heads, True, seed=2))
    _, A = _separate_forward(sd, p, num_heads)
    heads = heads_from_state(sd, D, num_heads=num_heads)
    assert heads.kind == "mha-separate"
    for h in heads.heads:
        P = np.asarray(softmax(h.logits(p.X, p.Z)))
        assert np.max(np.abs(P - A[:, h.index, 0].detach().numpy())) <= 1e-12


@pytest.mark.parametrize("num_heads", [1, 3])
def test_value_heads_reproduce_the_readout(num_heads) -> None:
    p = _problem()
    m = _mha(num_heads, True, seed=3)
    u = np.random.default_rng(0).standard_normal(D)
    X = torch.tensor(p.X).transpose(0, 1)
    out, _ = m(torch.tensor(p.Z)[None], X, X)
    want = out[0].detach().numpy() @ u  # (n,)
    heads = heads_from_state(m.state_dict(), D, num_heads=num_heads, readout=u)
    got = np.full(p.n, heads.output_offset)
    for h in heads.heads:
        P = np.asarray(softmax(h.logits(p.X, p.Z)))
        got += np.einsum("nt,nt->n", P, p.X @ h.value) + h.value_offset
    assert np.max(np.abs(got - want)) <= 1e-12


def _saturated_W(p: AttentionProblem) -> np.ndarray:
    run = train_W(p.X, p.Y, p.Z, p.v, np.zeros((1, p.d, p.d)), steps=2000, lr=0.1)
    return run.params["W"][0]


def _no_nan(text: str) -> dict:
    def refuse(name: str) -> None:
        raise AssertionError(f"JSON holds {name}")

    return json.loads(text, parse_constant=refuse)


def test_cli_json_on_a_trained_W(tmp_path, capsys) -> None:
    p = _problem()
    p.save(tmp_path / "p.npz")
    torch.save({"W": torch.tensor(_saturated_W(p))}, tmp_path / "w.pt")
    assert main(["inspect", str(tmp_path / "w.pt"), str(tmp_path / "p.npz"), "--json"]) == 0
    out = _no_nan(capsys.readouterr().out)
    (h,) = out["heads"]
    assert out["kind"] == "W" and h["head"] == 0
    assert h["min_max_prob"] > 0.999 and h["optimal"] and h["locally_optimal"]
    assert h["svm"]["fro"]["status"] == "optimal" and h["svm"]["fro"]["corr"] > 0.99
    assert h["svm"]["nuc"]["status"] == "optimal" and isinstance(h["svm"]["nuc"]["rank"], int)
    assert h["verdict"].startswith("aligned with the Frobenius SVM")
    assert len(h["W"]) == p.d and len(h["selected"]) == p.n


def test_cli_table_and_figure_for_three_heads(tmp_path, capsys) -> None:
    p = _problem()
    p.save(tmp_path / "p.npz")
    torch.save(_mha(3, True).state_dict(), tmp_path / "mha.pt")
    np.save(tmp_path / "u.npy", np.arange(1.0, D + 1))
    fig = tmp_path / "heads.png"
    code = main(["inspect", str(tmp_path / "mha.pt"), str(tmp_path / "p.npz"), "--num-heads",
                 "3", "--head-vector", str(tmp_path / "u.npy"), "--figure", str(fig)])
    assert code == 0
    text = capsys.readouterr().out
    assert text.count("verdict") == 3 and "not saturated yet" in text
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_kq_mapping_and_readout(tmp_path, capsys) -> None:
    p = _problem()
    p.save(tmp_path / "p.npz")
    rng = np.random.default_rng(4)
    K, Q = rng.standard_normal((D, 2)), rng.standard_normal((D, 2))
    torch.save({"K": torch.tensor(K), "Q": torch.tensor(Q)}, tmp_path / "kq.pt")
    np.save(tmp_path / "u.npy", -p.v)
    assert main(["inspect", str(tmp_path / "kq.pt"), str(tmp_path / "p.npz"), "--json",
                 "--head-vector", str(tmp_path / "u.npy")]) == 0
    (h,) = _no_nan(capsys.readouterr().out)["heads"]
    assert np.allclose(h["W"], K @ Q.T) and np.allclose(h["value_head"], -p.v)


# ------------------------------------------------------------------------------ safetensors
_ST = {np.dtype("<f8"): "F64", np.dtype("<f4"): "F32", np.dtype("<f2"): "F16"}


def write_safetensors(path: Path, tensors: dict[str, np.ndarray], bf16: tuple = ()) -> None:
    """A minimal writer of the safetensors format (header size, JSON header, data)."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        if name in bf16:
            raw = (np.ascontiguousarray(arr, dtype="<f4").view("<u4") >> 16).astype("<u2")
            data, code = raw.tobytes(), "BF16"
        else:
            data, code = np.ascontiguousarray(arr).tobytes(), _ST[arr.dtype]
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def test_safetensors_checkpoint(tmp_path, capsys) -> None:
    p = _problem()
    p.save(tmp_path / "p.npz")
    m = _mha(3, True)
    sd = {k: v.numpy() for k, v in m.state_dict().items()}
    write_safetensors(tmp_path / "mha.safetensors", sd)
    torch.save(m.state_dict(), tmp_path / "mha.pt")
    outs = []
    for name in ("mha.safetensors", "mha.pt"):
        assert main(["inspect", str(tmp_path / name), str(tmp_path / "p.npz"), "--num-heads",
                     "3", "--json"]) == 0
        outs.append(_no_nan(capsys.readouterr().out)["heads"])
    assert [h["W"] for h in outs[0]] == [h["W"] for h in outs[1]]
    # float32 and bfloat16 payloads are widened exactly
    sd32 = {k: v.astype("<f4") for k, v in sd.items()}
    write_safetensors(tmp_path / "mixed.safetensors", sd32, bf16=("out_proj.bias",))
    back = read_safetensors(tmp_path / "mixed.safetensors")
    assert back["in_proj_weight"].dtype == np.float32
    assert np.array_equal(back["in_proj_weight"], sd32["in_proj_weight"])
    bits = sd32["out_proj.bias"].view("<u4") >> 16 << 16  # the writer truncates to bfloat16
    assert np.array_equal(back["out_proj.bias"], bits.view("<f4"))
    bf = torch.from_numpy(bits.view("<f4").copy()).to(torch.bfloat16)
    assert np.array_equal(back["out_proj.bias"], bf.to(torch.float32).numpy())


def test_safetensors_library_files_read_alike(tmp_path) -> None:
    st = pytest.importorskip("safetensors.torch")
    m = _mha(2, True)
    st.save_file(m.state_dict(), str(tmp_path / "lib.safetensors"))
    back = read_safetensors(tmp_path / "lib.safetensors")
    for k, v in m.state_dict().items():
        assert np.array_equal(back[k], v.numpy()), k


# ------------------------------------------------------------------------------- bad input
def _digest(*paths: Path) -> list[str]:
    return [hashlib.sha256(q.read_bytes()).hexdigest() for q in paths]


def _bad_payloads(tmp_path: Path) -> dict[str, tuple[Path, list[str]]]:
    m = _mha(3, True)
    sd = m.state_dict()
    cases: dict[str, tuple[object, list[str]]] = {
        "missing key": ({k: v for k, v in sd.items() if k != "out_proj.weight"},
                        ["--num-heads", "3"]),
        "extra key": ({**sd, "other.weight": torch.zeros(2)}, ["--num-heads", "3"]),
        "wrong d": (torch.nn.MultiheadAttention(4, 2).state_dict(), ["--num-heads", "2"]),
        "nan": ({**sd, "in_proj_weight": sd["in_proj_weight"] * math.nan}, ["--num-heads", "3"]),
        "inf": ({"W": torch.full((D, D), math.inf)}, []),
        "non-tensor value": ({"W": [[1.0] * D] * D}, []),
        "non-mapping payload": (torch.zeros(D, D), []),
        "no num-heads": (sd, []),
        "heads do not divide d": (sd, ["--num-heads", "4"]),
        "add_bias_kv": ({**sd, "bias_k": torch.zeros(1, 1, D)}, ["--num-heads", "3"]),
        "W beside K": ({"W": torch.zeros(D, D), "K": torch.zeros(D, 2)}, []),
        "K without Q": ({"K": torch.zeros(D, 2)}, []),
        "K, Q widths differ": ({"K": torch.zeros(D, 2), "Q": torch.zeros(D, 3)}, []),
        "complex": ({"W": torch.zeros(D, D, dtype=torch.complex128)}, []),
        "unknown keys": ({"foo": torch.zeros(2)}, []),
    }
    out = {}
    for i, (name, (payload, extra)) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.pt"
        torch.save(payload, path)
        out[name] = (path, extra)
    pickled = tmp_path / "pickled.pt"
    torch.save({"W": torch.zeros(D, D), "obj": _Opaque()}, pickled)
    out["arbitrary pickle"] = (pickled, [])
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    out["junk file"] = (junk, [])
    st = tmp_path / "bad.safetensors"
    st.write_bytes(struct.pack("<Q", 10**6) + b"{}")
    out["truncated safetensors"] = (st, [])
    st2 = tmp_path / "bad2.safetensors"
    write_safetensors(st2, {"W": np.zeros((D, D))})
    raw = bytearray(st2.read_bytes())
    st2.write_bytes(bytes(raw[:-8]))
    out["short safetensors data"] = (st2, [])
    np.save(tmp_path / "u_bad.npy", np.zeros(D + 1))
    out["head-vector size"] = (tmp_path / "bad0.pt", ["--head-vector",
                                                       str(tmp_path / "u_bad.npy")])
    return out


class _Opaque:
    """A class torch.load(weights_only=True) must refuse to unpickle."""


def test_every_bad_input_exits_2_with_one_line_and_modifies_nothing(tmp_path, capsys) -> None:
    p = _problem()
    data = tmp_path / "p.npz"
    p.save(data)
    cases = _bad_payloads(tmp_path)
    cases["head-vector size"] = (tmp_path / "good.pt", cases["head-vector size"][1])
    torch.save({"W": torch.zeros(D, D)}, tmp_path / "good.pt")
    for name, (path, extra) in cases.items():
        before = _digest(path, data)
        code = main(["inspect", str(path), str(data), *extra, "--json"])
        io = capsys.readouterr()
        err = io.err.strip()
        assert code == 2, (name, io.out, err)
        assert err.startswith("attnsvm: error:") and "\n" not in err, (name, err)
        assert io.out == "", name
        assert _digest(path, data) == before, name
    err_of = {}
    for name in ("arbitrary pickle", "no num-heads", "missing key", "extra key", "nan"):
        path, extra = cases[name]
        main(["inspect", str(path), str(data), *extra])
        err_of[name] = capsys.readouterr().err
    assert "unpickling of arbitrary objects" in err_of["arbitrary pickle"]
    assert "--num-heads" in err_of["no num-heads"]
    assert "out_proj.weight" in err_of["missing key"]
    assert "other.weight" in err_of["extra key"]
    assert "NaN or inf" in err_of["nan"]


def test_bad_data_and_options_exit_2(tmp_path, capsys) -> None:
    torch.save({"W": torch.zeros(D, D)}, tmp_path / "w.pt")
    _problem().save(tmp_path / "p.npz")
    w, data = str(tmp_path / "w.pt"), str(tmp_path / "p.npz")
    for argv in (["inspect", w, str(tmp_path / "missing.npz")],
                 ["inspect", w, data, "--saturation", "1.5"],
                 ["inspect", w, data, "--figure", str(tmp_path / "x.pdf")],
                 ["inspect", w, data, "--figure", str(tmp_path / "no" / "x.png")],
                 ["inspect", w, data, "--head-vector", str(tmp_path / "none.npy")],
                 ["inspect", w, data, "--prefix", "attn."]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("attnsvm: error:") and "\n" not in err, (argv, err)


def test_prefix_selects_a_submodule(tmp_path, capsys) -> None:
    p = _problem()
    p.save(tmp_path / "p.npz")
    sd = {f"attn.{k}": v for k, v in _mha(1, False).state_dict().items()}
    sd["readout.weight"] = torch.zeros(1, D)
    torch.save(sd, tmp_path / "model.pt")
    assert main(["inspect", str(tmp_path / "model.pt"), str(tmp_path / "p.npz"), "--prefix",
                 "attn.", "--num-heads", "1", "--json"]) == 0
    assert len(_no_nan(capsys.readouterr().out)["heads"]) == 1


def test_help_shows_an_example(capsys) -> None:
    assert main(["inspect", "--help"]) == 0
    out = capsys.readouterr().out
    assert sum(line.strip().startswith("Example:") for line in out.splitlines()) == 1


def test_reading_never_modifies_the_callers_state() -> None:
    m = _mha(3, True)
    sd = m.state_dict()
    copy = {k: v.clone() for k, v in sd.items()}
    heads_from_state(sd, D, num_heads=3, readout=np.ones(D))
    assert all(torch.equal(sd[k], copy[k]) for k in sd)
    with pytest.raises(ProblemError, match="num-heads"):
        heads_from_state(sd, D)


# ------------------------------------------------------------- --hardmax on held-out inputs
def _planted(n_test: int = 120):
    from attnsvm.reference.attention.planted import planted_split

    return planted_split(12, n_test, 4, D, 0)


def test_hardmax_agreement_on_heldout(tmp_path, capsys) -> None:
    from attnsvm.reference.stats import wilson

    split = _planted()
    p, q = split.train, split.test
    p.save(tmp_path / "p.npz")
    q.save(tmp_path / "q.npz")
    W = _saturated_W(p)
    torch.save({"W": torch.tensor(W)}, tmp_path / "w.pt")
    argv = ["inspect", str(tmp_path / "w.pt"), str(tmp_path / "p.npz"),
            "--hardmax", str(tmp_path / "q.npz")]
    assert main([*argv, "--json"]) == 0
    out = _no_nan(capsys.readouterr().out)
    (h,) = out["heads"]
    hm = h["hardmax"]
    assert out["heldout"] == str(tmp_path / "q.npz") and h["curve"] is None
    # recompute both models from the definitions
    W_mm = np.asarray(h["svm"]["fro"]["W"])
    tok = q.X @ p.v
    soft = np.where(np.einsum("nt,nt->n", np.asarray(softmax(
        np.einsum("ntd,de,ne->nt", q.X, W, q.Z))), tok) > 0, 1.0, -1.0)
    t_star = np.argmax(np.einsum("ntd,de,ne->nt", q.X, W_mm, q.Z), axis=1)
    hard = np.where(tok[np.arange(q.n), t_star] > 0, 1.0, -1.0)
    agree = int(np.sum(soft == hard))
    assert hm["n"] == q.n and hm["agree"] == agree and hm["agreement"] == agree / q.n
    assert hm["agreement_wilson"] == list(wilson(agree, q.n))
    assert hm["correct_softmax"] == int(np.sum(soft == q.Y))
    assert hm["correct_hardmax"] == int(np.sum(hard == q.Y))
    assert hm["acc_hardmax_wilson"] == list(wilson(hm["correct_hardmax"], q.n))
    assert hm["agreement"] >= 0.9  # a saturated, aligned head: the replacement holds
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"{agree}/{q.n}" in text and "95% Wilson" in text and "held-out acc" in text


def _infeasible(tmp_path: Path) -> tuple[Path, Path]:
    """A problem whose input 0 repeats its token 0 and W = 0: every selection is token 0,
    which cannot beat its copy, so Att-SVM_alpha and Att-SVM*_alpha are infeasible."""
    p = _problem()
    X = np.array(p.X)
    X[0, 1] = X[0, 0]
    AttentionProblem(X, p.Y, p.v, p.Z).save(tmp_path / "dup.npz")
    torch.save({"W": torch.zeros(D, D)}, tmp_path / "zero.pt")
    return tmp_path / "zero.pt", tmp_path / "dup.npz"


def test_hardmax_of_an_infeasible_selection_is_null(tmp_path, capsys) -> None:
    ckpt, data = _infeasible(tmp_path)
    _problem(n=30, seed=5).save(tmp_path / "q.npz")
    assert main(["inspect", str(ckpt), str(data), "--hardmax", str(tmp_path / "q.npz"),
                 "--json"]) == 0
    (h,) = _no_nan(capsys.readouterr().out)["heads"]
    hm = h["hardmax"]
    assert h["svm"]["fro"]["status"] != "optimal"
    assert hm["agree"] is None and hm["agreement_wilson"] is None and hm["acc_hardmax"] is None
    assert hm["n"] == 30 and 0.0 <= hm["acc_softmax"] <= 1.0
    assert main(["inspect", str(ckpt), str(data), "--hardmax", str(tmp_path / "q.npz")]) == 0
    assert "n/a (Att-SVM_alpha infeasible)" in capsys.readouterr().out


def test_bad_heldout_exits_2_with_one_line(tmp_path, capsys) -> None:
    torch.save({"W": torch.zeros(D, D)}, tmp_path / "w.pt")
    _problem().save(tmp_path / "p.npz")
    _problem(d=D - 1).save(tmp_path / "small.npz")
    p = _problem()
    np.savez(tmp_path / "nokey.npz", X=p.X, Y=p.Y, Z=p.Z)
    np.savez(tmp_path / "badY.npz", X=p.X, Y=np.full(p.n, 0.5), v=p.v, Z=p.Z)
    np.savez(tmp_path / "nan.npz", X=p.X * math.nan, Y=p.Y, v=p.v, Z=p.Z)
    (tmp_path / "junk.npz").write_bytes(b"junk")
    for name in ("missing.npz", "small.npz", "nokey.npz", "badY.npz", "nan.npz", "junk.npz"):
        before = _digest(tmp_path / name) if (tmp_path / name).exists() else None
        code = main(["inspect", str(tmp_path / "w.pt"), str(tmp_path / "p.npz"), "--hardmax",
                     str(tmp_path / name), "--json"])
        io = capsys.readouterr()
        err = io.err.strip()
        assert code == 2 and io.out == "", name
        assert err.startswith("attnsvm: error: hardmax:") and "\n" not in err, (name, err)
        assert name in err, err
        if before is not None:
            assert _digest(tmp_path / name) == before
    main(["inspect", str(tmp_path / "w.pt"), str(tmp_path / "p.npz"), "--hardmax",
          str(tmp_path / "small.npz")])
    assert "d = 5" in capsys.readouterr().err


# ------------------------------------------------------------------- a checkpoint sequence
def test_train_mha_writes_a_sequence_that_inspect_reads(tmp_path, capsys) -> None:
    from attnsvm.reference.attention.torch_heads import train_mha
    from attnsvm.reference.attention.training import correlation

    p = _planted().train
    p.save(tmp_path / "p.npz")
    np.save(tmp_path / "u.npy", p.v)
    folder = tmp_path / "ckpts"
    folder.mkdir()
    kw = {"optimizer": "ngd", "steps": 50, "lr": 0.1, "seed": 0}
    run = train_mha(p, 2, save_every=20, save_dir=folder, **kw)
    names = [f.name for f in run["checkpoints"]]
    assert names == ["step-000000.pt", "step-000020.pt", "step-000040.pt", "step-000050.pt"]
    assert sorted(f.name for f in folder.iterdir()) == names
    plain = train_mha(p, 2, **kw)  # saving does not change the run
    assert all(np.array_equal(plain["state"][k], run["state"][k]) for k in run["state"])
    assert plain["losses"] == run["losses"]
    fig = tmp_path / "seq.png"
    assert main(["inspect", str(folder), str(tmp_path / "p.npz"), "--num-heads", "2",
                 "--head-vector", str(tmp_path / "u.npy"), "--json", "--figure", str(fig)]) == 0
    out = _no_nan(capsys.readouterr().out)
    assert out["sequence"]["steps"] == [0, 20, 40, 50]
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    last = heads_from_state(run["state"], D, num_heads=2, readout=p.v)
    for h, want in zip(out["heads"], last.heads, strict=True):
        assert np.allclose(h["W"], want.W, rtol=0, atol=1e-15)  # the last step is inspected
        curve = h["curve"]
        assert [c["step"] for c in curve] == [0, 20, 40, 50]
        assert curve[-1]["corr_fro"] == h["svm"]["fro"]["corr"]
        assert curve[-1]["corr_nuc"] == h["svm"]["nuc"]["corr"]
        for c, f in zip(curve, run["checkpoints"], strict=True):
            Wk = heads_from_state(torch.load(f, weights_only=True), D,
                                  num_heads=2).heads[h["head"]].W
            assert c["corr_fro"] == float(correlation(Wk, np.asarray(h["svm"]["fro"]["W"])))
            assert c["corr_nuc"] == float(correlation(Wk, np.asarray(h["svm"]["nuc"]["W"])))
            assert c["norm"] == float(np.linalg.norm(Wk))
    assert main(["inspect", str(folder), str(tmp_path / "p.npz"), "--num-heads", "2"]) == 0
    text = capsys.readouterr().out
    assert "step 50" in text and text.count("alignment over the checkpoints") == 2


def test_a_plain_torch_loop_sequence_and_null_curves(tmp_path, capsys) -> None:
    """The tutorial's convention written by hand (W checkpoints, any zero padding, other files
    ignored); an infeasible selection gives null correlations, never NaN."""
    ckpt, data = _infeasible(tmp_path)
    folder = tmp_path / "run"
    folder.mkdir()
    for k in (0, 5, 10):
        torch.save({"W": torch.full((D, D), float(k))}, folder / f"step-{k}.pt")
    torch.save({"W": torch.zeros(D, D)}, folder / "step-000012.pt")
    (folder / "notes.txt").write_text("ignored")
    assert main(["inspect", str(folder), str(data), "--json"]) == 0
    out = _no_nan(capsys.readouterr().out)
    assert out["sequence"]["steps"] == [0, 5, 10, 12]
    assert all(c["corr_fro"] is None and c["corr_nuc"] is None
               for c in out["heads"][0]["curve"])


def test_bad_sequences_exit_2(tmp_path, capsys) -> None:
    _problem().save(tmp_path / "p.npz")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model.pt").write_bytes(b"")
    dup = tmp_path / "dup"
    dup.mkdir()
    for name in ("step-1.pt", "step-001.pt"):
        torch.save({"W": torch.zeros(D, D)}, dup / name)
    bad = tmp_path / "bad"
    bad.mkdir()
    torch.save({"W": torch.zeros(D, D)}, bad / "step-0.pt")
    torch.save({"W": torch.zeros(D + 1, D + 1)}, bad / "step-10.pt")
    want = {empty: "without step-<k>.pt", dup: "two checkpoints of step 1",
            bad: "step-10.pt", tmp_path / "none": "no such file or folder"}
    for folder, words in want.items():
        code = main(["inspect", str(folder), str(tmp_path / "p.npz"), "--json"])
        io = capsys.readouterr()
        err = io.err.strip()
        assert code == 2 and io.out == "", folder
        assert err.startswith("attnsvm: error:") and "\n" not in err and words in err, err
