"""The one data format of attnsvm: ``AttentionProblem(X, Y, v, Z)``.

Notation follows Tarzanagh et al., "Transformers as Support Vector Machines" (arXiv 2308.16898),
Sec. 2: input i has tokens X_i in R^{T x d} (rows x_it), a query z_i in R^d, a label
Y_i in {+1, -1}; the head v in R^d is fixed. Token scores are gamma_it = Y_i v^T x_it (their
definition of token scores). Self-attention is the special case z_i = x_ik for a fixed token
index k.

Sequence problems (``SequenceProblem(X, Y, v)``; TF-SVM's sequence-to-sequence / causal
extension, appendix): every position k of sequence i is a query z = x_ik with its own label
Y_ik, so the file holds X (n, T, d), Y (n, T), v (d,) and *no* Z. The mask (``causal``: token t
is admissible for position k iff t <= k; ``full``: every token) is chosen when the problem is
solved or trained, not stored. Both kinds share the one .npz format and its loading checks
(duplicate entries, zip-bomb headers, dtypes, shapes); ``problem_kind(path)`` tells them apart.
"""

from __future__ import annotations

import operator
import os
import tempfile
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attnsvm.reference.errors import ProblemError
from attnsvm.reference.validate import MEMORY_BUDGET_BYTES, as_real_array

KEYS = ("X", "Y", "v", "Z")
#: keys of a sequence problem (no Z: the queries are the tokens themselves)
SEQUENCE_KEYS = ("X", "Y", "v")
#: attention masks of sequence problems: admissible tokens t <= k (causal) or all (full)
MASKS = ("causal", "full")


def _as_float_array(name: str, value: object, ndim: int) -> np.ndarray:
    """A private read-only float64 copy; real floating or exactly convertible integer dtypes
    only (complex, boolean, datetime, string and object arrays are refused, see
    ``attnsvm.reference.validate``)."""
    arr = np.array(as_real_array(name, value, ndim=ndim), dtype=np.float64, copy=True)
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True, eq=False)
class _TokenArrays:
    """What every problem record shares: its named float64 arrays (``_KEYS``), the shapes n, T, d
    of its tokens X (n, T, d), and equality / hashing by those arrays' values."""

    _KEYS = ()  # the names of the arrays, set by each subclass

    @property
    def n(self) -> int:
        return int(self.X.shape[0])

    @property
    def T(self) -> int:
        return int(self.X.shape[1])

    @property
    def d(self) -> int:
        return int(self.X.shape[2])

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in self._KEYS}

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(np.array_equal(getattr(self, k), getattr(other, k)) for k in self._KEYS)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, k).tobytes() for k in self._KEYS))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n={self.n}, T={self.T}, d={self.d})"


class AttentionProblem(_TokenArrays):
    """Validated, immutable attention-classification data.

    Attributes:
        X: tokens, shape (n, T, d).
        Y: labels in {+1, -1}, shape (n,).
        v: linear prediction head, shape (d,).
        Z: queries, shape (n, d) (cross-attention); ``Z[i] = X[i, k]`` for self-attention.

    The arrays are private read-only float64 copies: nothing the caller passed is modified and
    nothing the caller does later changes the problem.
    """

    X: np.ndarray
    Y: np.ndarray
    v: np.ndarray
    Z: np.ndarray

    def __init__(self, X: object, Y: object, v: object, Z: object) -> None:
        Xa = _as_float_array("X", X, 3)
        Ya = _as_float_array("Y", Y, 1)
        va = _as_float_array("v", v, 1)
        Za = _as_float_array("Z", Z, 2)
        n, T, d = Xa.shape
        if n < 1 or d < 1:
            raise ProblemError(
                "X", f"needs n >= 1 inputs and d >= 1 features, got shape {Xa.shape}"
            )
        if T < 2:
            raise ProblemError("X", f"needs T >= 2 tokens per input, got T = {T}")
        if Ya.shape != (n,):
            raise ProblemError("Y", f"expected shape ({n},) to match X, got {Ya.shape}")
        if not np.all(np.abs(Ya) == 1.0):
            bad = Ya[np.abs(Ya) != 1.0][0]
            raise ProblemError("Y", f"labels must be +1 or -1, found {bad!r}")
        if va.shape != (d,):
            raise ProblemError("v", f"expected shape ({d},) to match X, got {va.shape}")
        if Za.shape != (n, d):
            raise ProblemError("Z", f"expected shape ({n}, {d}) to match X, got {Za.shape}")
        object.__setattr__(self, "X", Xa)
        object.__setattr__(self, "Y", Ya)
        object.__setattr__(self, "v", va)
        object.__setattr__(self, "Z", Za)

    # ------------------------------------------------------------------ constructors
    @classmethod
    def self_attention(cls, X: object, Y: object, v: object, index: int = 0) -> AttentionProblem:
        """Self-attention data: the query of input i is its token ``index`` (z_i = x_{i,index})."""
        Xa = _as_float_array("X", X, 3)
        T = Xa.shape[1]
        if isinstance(index, (bool, np.bool_)):
            raise ProblemError("index", f"must be an integer, got {index!r}")
        try:
            index = operator.index(index)
        except TypeError:
            raise ProblemError("index", f"must be an integer, got {index!r}") from None
        if not -T <= index < T:
            raise ProblemError("index", f"token index {index} out of range for T = {T}")
        return cls(Xa, Y, v, Xa[:, index, :])

    _KEYS = KEYS

    @property
    def scores(self) -> np.ndarray:
        """Token scores gamma_it = Y_i v^T x_it, shape (n, T) (TF-SVM, token-score definition)."""
        return self.Y[:, None] * (self.X @ self.v)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the problem as .npz (keys X, Y, v, Z; float64), atomically. Returns the path."""
        return write_npz(path, self.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AttentionProblem:
        """Read a problem from .npz; the file is opened read-only and never modified.

        An archive that holds one key twice (two zip entries ``X.npy``, or ``X`` and ``X.npy``)
        is ambiguous and refused, as are missing keys and unreadable files (ProblemError
        "file"). Before any array is decompressed, the .npy headers inside the archive are read
        and the declared shapes x dtypes checked against ``MEMORY_BUDGET_BYTES`` (4 GiB, see
        ``load_memory_estimate``): a zip bomb is refused without being expanded."""
        arrays = read_npz(path, KEYS, kind="cross-attention")
        return cls(**arrays)


def read_npz(path: str | os.PathLike[str], keys: tuple[str, ...], *,
             kind: str) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz file, opened read-only after the archive checks (duplicate
    entries and declared sizes, before anything is decompressed); ProblemError("file") for a
    missing file or key, an unreadable archive, or a file of the other kind (a sequence file
    read as a cross-attention problem, or the reverse: the message says which option to use)."""
    p = Path(path)
    if not p.is_file():
        raise ProblemError("file", f"no such file: {p}")
    _refuse_duplicate_entries(p)
    _refuse_over_budget(p)
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                hint = ""
                if missing == ["Z"] and "Y" in data.files and data["Y"].ndim == 2:
                    hint = ("; it is a sequence problem (Y of shape (n, T), no Z): pass "
                            "--attention causal|full (SequenceProblem.load)")
                raise ProblemError(
                    "file", f"{p} lacks key(s) {', '.join(missing)} (needs "
                    f"{', '.join(keys)}){hint}"
                )
            extra = [k for k in KEYS if k not in keys and k in data.files]
            if extra:
                raise ProblemError(
                    "file", f"{p} holds {', '.join(extra)}: a cross-attention problem, not a "
                    f"{kind} problem (drop --attention, or AttentionProblem.load)")
            arrays = {k: np.array(data[k]) for k in keys}
    except ProblemError:
        raise
    except Exception as exc:  # zipfile / format errors from numpy
        raise ProblemError("file", f"{p} is not a readable .npz file ({exc})") from None
    return arrays


def problem_kind(path: str | os.PathLike[str]) -> str:
    """"cross-attention" (the file holds Z) or "sequence" (no Z, Y of shape (n, T)), read from
    the archive's member names only; ProblemError("file") when the file does not exist."""
    p = Path(path)
    if not p.is_file():
        raise ProblemError("file", f"no such file: {p}")
    try:
        with zipfile.ZipFile(p) as zf:
            names = {n[:-4] if n.endswith(".npy") else n for n in zf.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return "cross-attention"  # not a zip archive: the loader reports it
    return "cross-attention" if "Z" in names else "sequence"


def check_mask(mask: object) -> str:
    """The mask name, validated against ``MASKS``; ProblemError("mask") otherwise."""
    if not isinstance(mask, str) or mask not in MASKS:
        raise ProblemError("mask", f"unknown attention mask {mask!r:.60}; choose from "
                           f"{', '.join(MASKS)}")
    return mask


def admissible(T: int, mask: str) -> np.ndarray:
    """M[k, t] = token t is admissible for the query at position k: t <= k (``causal``), every t
    (``full``); boolean, shape (T, T)."""
    check_mask(mask)
    if mask == "full":
        return np.ones((T, T), dtype=bool)
    return np.tril(np.ones((T, T), dtype=bool))


@dataclass(frozen=True, eq=False)
class SequenceProblem(_TokenArrays):
    """Validated, immutable sequence (self-attention) data: TF-SVM's sequence-to-sequence
    model f_k(X) = vᵀXᵀ softmax(mask_k ∘ X W x_k), one label per position.

    Attributes:
        X: tokens, shape (n, T, d); the query of position k is x_ik itself.
        Y: labels in {+1, -1} per position, shape (n, T).
        v: linear prediction head, shape (d,).

    Same guarantees as ``AttentionProblem`` (private read-only float64 copies, typed
    ``ProblemError`` naming the field). An empty sequence (T = 0) or T = 1 (no token to choose
    between) is refused: T >= 2 positions.
    """

    X: np.ndarray
    Y: np.ndarray
    v: np.ndarray

    def __init__(self, X: object, Y: object, v: object) -> None:
        Xa = _as_float_array("X", X, 3)
        Ya = _as_float_array("Y", Y, 2)
        va = _as_float_array("v", v, 1)
        n, T, d = Xa.shape
        if n < 1 or d < 1:
            raise ProblemError(
                "X", f"needs n >= 1 sequences and d >= 1 features, got shape {Xa.shape}")
        if T < 2:
            what = "an empty sequence" if T == 0 else "a single position"
            raise ProblemError("X", f"needs T >= 2 positions per sequence, got T = {T} ({what})")
        if Ya.shape != (n, T):
            raise ProblemError("Y", f"expected shape ({n}, {T}) (one label per position) to "
                               f"match X, got {Ya.shape}")
        if not np.all(np.abs(Ya) == 1.0):
            bad = Ya[np.abs(Ya) != 1.0][0]
            raise ProblemError("Y", f"labels must be +1 or -1, found {bad!r}")
        if va.shape != (d,):
            raise ProblemError("v", f"expected shape ({d},) to match X, got {va.shape}")
        object.__setattr__(self, "X", Xa)
        object.__setattr__(self, "Y", Ya)
        object.__setattr__(self, "v", va)

    _KEYS = SEQUENCE_KEYS

    @property
    def scores(self) -> np.ndarray:
        """gamma_ikt = Y_ik vᵀ x_it (score of token t for the query at position k), (n, T, T)."""
        return self.Y[:, :, None] * (self.X @ self.v)[:, None, :]

    def stacked(self) -> AttentionProblem:
        """The full-mask problem as cross-attention with the queries stacked: input q = i T + k
        has tokens X_i, query z_q = x_ik and label Y_ik (n T inputs)."""
        n, T, d = self.X.shape
        return AttentionProblem(np.repeat(self.X, T, axis=0), self.Y.reshape(-1), self.v,
                                self.X.reshape(n * T, d))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the problem as .npz (keys X, Y, v; float64), atomically. Returns the path."""
        return write_npz(path, self.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SequenceProblem:
        """Read a sequence problem from .npz (keys X, Y, v; a file holding Z is refused), with
        the checks of ``AttentionProblem.load``; the file is never modified."""
        return cls(**read_npz(path, SEQUENCE_KEYS, kind="sequence"))


def as_sequence_problem(problem: object, field: str = "problem") -> SequenceProblem:
    """``problem`` itself when it is a SequenceProblem; ProblemError(field) otherwise."""
    if not isinstance(problem, SequenceProblem):
        raise ProblemError(
            field, f"expected a SequenceProblem, got {type(problem).__name__} (build one with "
            "SequenceProblem(X, Y, v))")
    return problem


def write_npz(path: str | os.PathLike[str], arrays: dict[str, np.ndarray]) -> Path:
    """Write ``arrays`` as .npz (".npz" appended when missing), atomically (a temporary file in
    the target folder, then a rename), with the user's umask. Returns the path."""
    target = Path(path)
    if target.suffix != ".npz":
        target = target.with_name(target.name + ".npz")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the user's umask, not mkstemp's 0600
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _refuse_duplicate_entries(path: Path) -> None:
    """ProblemError("file") when the zip archive names one key more than once (numpy would
    silently read one of the copies)."""
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return  # not a zip archive: np.load reports it
    keys = Counter(name[:-4] if name.endswith(".npy") else name for name in names)
    dup = sorted(k for k, c in keys.items() if c > 1)
    if dup:
        raise ProblemError(
            "file", f"{path} holds duplicate entries for key(s) {', '.join(dup)} (ambiguous .npz)"
        )


def load_memory_estimate(shapes: dict[str, tuple[tuple[int, ...], np.dtype]]) -> int:
    """Peak bytes ``AttentionProblem.load`` needs for arrays of these declared shapes and dtypes:
    per key the array as stored, its copy and its float64 copy (``3 x count x max(itemsize, 8)``
    bytes, an upper bound)."""
    total = 0
    for shape, dtype in shapes.values():
        count = 1
        for dim in shape:
            count *= int(dim)
        total += 3 * count * max(int(dtype.itemsize), 8)
    return total


def _npz_headers(zf: zipfile.ZipFile, path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Declared (shape, dtype) of the archive's KEYS members, read from their .npy headers only
    (at most the first few kilobytes of each member are decompressed)."""
    from numpy.lib import format as npformat

    out = {}
    members = {n[:-4] if n.endswith(".npy") else n: n for n in zf.namelist()}
    for key in KEYS:  # SEQUENCE_KEYS is a subset
        name = members.get(key)
        if name is None:
            continue
        with zf.open(name) as fh:
            version = npformat.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = npformat.read_array_header_1_0(fh)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = npformat.read_array_header_2_0(fh)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        out[key] = (tuple(shape), np.dtype(dtype))
    return out


def _refuse_over_budget(path: Path) -> None:
    """ProblemError("file") when the arrays the archive declares would need more memory than
    ``MEMORY_BUDGET_BYTES``, or a member expands to more than that (zip bomb); checked before any
    array data is decompressed. Files that are not zip archives are left to np.load."""
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
            if declared > MEMORY_BUDGET_BYTES:
                raise ProblemError(
                    "file", f"{path} declares {declared / 2**30:.1f} GiB of uncompressed data, "
                    f"over the budget of {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB "
                    "(attnsvm.reference.validate.MEMORY_BUDGET_BYTES)")
            try:
                shapes = _npz_headers(zf, path)
            except Exception as exc:  # noqa: BLE001 - malformed headers, truncated members
                raise ProblemError("file", f"{path} is not a readable .npz file ({exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # not a zip archive: np.load reports it
    need = load_memory_estimate(shapes)
    if need > MEMORY_BUDGET_BYTES:
        dims = ", ".join(f"{k} {'x'.join(map(str, s)) or 'scalar'} {d}"
                         for k, (s, d) in shapes.items())
        raise ProblemError(
            "file", f"{path} declares arrays ({dims}) that need about {need / 2**30:.1f} GiB "
            f"of memory to load, over the budget of {MEMORY_BUDGET_BYTES / 2**30:.0f} GiB "
            "(attnsvm.reference.validate.MEMORY_BUDGET_BYTES)")


def as_problem(problem: object, field: str = "problem") -> AttentionProblem:
    """``problem`` itself when it is an AttentionProblem; ProblemError(field) otherwise (the
    public solvers take the validated data format only)."""
    if not isinstance(problem, AttentionProblem):
        raise ProblemError(
            field, f"expected an AttentionProblem, got {type(problem).__name__} (build one with "
            "AttentionProblem(X, Y, v, Z))"
        )
    return problem
