"""Next-token prediction (NTP) with one self-attention layer, and NTP in linear models.

Li, Huang, Ildiz, Rawat, Oymak, "Mechanics of Next Token Prediction with Self-Attention"
(arXiv 2403.08081, AISTATS 2024). Sequence i has tokens ``tokens[i] = (k_i1, ..., k_iT)`` over a
vocabulary of K tokens with embeddings E (K, d); x_it = E[k_it], the query is the last token
z_i = x_iT, and the next token (label) is y_i. One self-attention layer with the combined
key-query matrix W attends with s_i = softmax(X_i W z_i) and predicts token y with probability
the attention mass on the positions holding y, m_iy = sum_{t: k_it = y} s_it (the authors'
public code, github.com/yixiao-huang/next-token-prediction: ``cls_choice = 'iden'``, loss
``'nll'``). The training loss is the log-loss

    L(W) = (1/n) sum_i -log m_{i y_i},

trained by normalized GD (their ``norm_grad = True``: W <- W - eta g / ||g||_F). Its gradient is
(1/n) sum_i X_i^T c_i z_i^T with dL_i/dgamma_it = s_it (1 - [k_it = y_i] / m_iy): every term is
computed in log space (``ntp_evaluation``), so the direction stays exact after the softmax
saturates. The graph of the data and the Graph-SVM are in ``attnsvm.reference.svm.graph``; the
paper's decomposition W(tau) ~ R(tau) W^svm/||W^svm|| + W^fin uses the subspace S_fin spanned
by (x_a - x_b) z^T for tokens a, b of one cyclic strongly connected component (SCC) of the
graph of query z (``finite_subspace``) and W^fin, the minimiser of the loss restricted to those
SCCs over S_fin (``finite_part``).

Thrampoulidis, "Implicit Optimization Bias of Next-Token Prediction in Linear Models" (arXiv
2402.18551): distinct contexts h_j (m, d) with sparse soft labels p_j over V tokens (support
S_j), logits W h_j (W: V x d), loss sum_j pi_j CE(p_j, softmax(W h_j)). GD's projection onto the
data subspace F = span{(e_z - e_z') h_j^T : z, z' in S_j} converges to W*, which sets
(e_z - e_z')^T W h_j = log(p_jz / p_jz') (``linear_finite_solution``), and the orthogonal part
diverges in the direction of the NTP-SVM (``attnsvm.reference.svm.graph.ntp_svm_constraints``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attnsvm.reference.attention.problem import write_npz
from attnsvm.reference.attention.training import descend
from attnsvm.reference.errors import ProblemError
from attnsvm.reference.svm.graph import is_cyclic, priority_graphs
from attnsvm.reference.validate import as_int, as_real_array

NTP_KEYS = ("tokens", "next", "E")
#: relative rank threshold of the subspace bases (singular values below it times the largest)
BASIS_RTOL = 1e-10


def _as_index_array(field: str, value: object, ndim: int) -> np.ndarray:
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged lists and the like
        raise ProblemError(field, "cannot be read as an integer array") from None
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.mod(arr, 1) == 0):
            raise ProblemError(field, "vocabulary indices must be integers")
    elif arr.dtype.kind not in "iub":
        raise ProblemError(field, f"vocabulary indices must be integers, got dtype {arr.dtype}")
    if arr.ndim != ndim:
        raise ProblemError(field, f"expected {ndim} dimensions, got shape {arr.shape}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class NTPProblem:
    """NTP training data: ``tokens`` (n, T) vocabulary indices, ``next`` (n,) the next token of
    each sequence, ``E`` (K, d) the token embeddings. Validated at construction (ProblemError
    naming the field: an index outside [0, K), an empty sequence (T = 0), no sequence, a label
    that does not occur in its own sequence — its loss could not be driven below log T);
    the arrays are read-only copies."""

    tokens: np.ndarray
    next: np.ndarray
    E: np.ndarray

    def __post_init__(self) -> None:
        E = as_real_array("E", self.E, ndim=2, copy=True)
        if E.shape[0] < 1 or E.shape[1] < 1:
            raise ProblemError("E", f"needs at least one token and one dimension, got {E.shape}")
        tokens = _as_index_array("tokens", self.tokens, 2)
        nxt = _as_index_array("next", self.next, 1)
        n, T = tokens.shape
        K = E.shape[0]
        if n == 0:
            raise ProblemError("tokens", "no sequence (n = 0)")
        if T == 0:
            raise ProblemError("tokens", "empty sequence (T = 0)")
        if nxt.shape != (n,):
            raise ProblemError("next", f"expected one next token per sequence ({n}), got "
                               f"shape {nxt.shape}")
        for field, arr in (("tokens", tokens), ("next", nxt)):
            bad = (arr < 0) | (arr >= K)
            if np.any(bad):
                pos = tuple(int(x) for x in np.argwhere(bad)[0])
                raise ProblemError(field, f"vocabulary index {int(arr[pos])} at {list(pos)} is "
                                   f"outside [0, {K - 1}] (K = {K} embeddings)")
        absent = ~np.any(tokens == nxt[:, None], axis=1)
        if np.any(absent):
            i = int(np.flatnonzero(absent)[0])
            raise ProblemError("next", f"next token {int(nxt[i])} of sequence {i} does not "
                               "occur in the sequence (the attention could not select it)")
        for name, arr in (("tokens", tokens), ("next", nxt), ("E", E)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def n(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def T(self) -> int:
        return int(self.tokens.shape[1])

    @property
    def K(self) -> int:
        return int(self.E.shape[0])

    @property
    def d(self) -> int:
        return int(self.E.shape[1])

    @property
    def last(self) -> np.ndarray:
        """The query token of each sequence (its last token), shape (n,)."""
        return self.tokens[:, -1]

    def embedded(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(X (n, T, d), Z (n, d), label mask (n, T)): tokens, queries and label positions."""
        X = self.E[self.tokens]
        return X, X[:, -1], self.tokens == self.next[:, None]

    def arrays(self) -> dict[str, np.ndarray]:
        return {"tokens": self.tokens, "next": self.next, "E": self.E}

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the data as .npz (keys tokens, next, E), atomically. Returns the path."""
        return write_npz(path, self.arrays())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NTPProblem:
        """Read NTP data from .npz (never modified); any defect is a ProblemError."""
        p = Path(path)
        if not p.is_file():
            raise ProblemError("file", f"{p} does not exist or is not a file")
        try:
            with np.load(p, allow_pickle=False) as z:
                missing = [k for k in NTP_KEYS if k not in z.files]
                if missing:
                    raise ProblemError("file", f"{p} lacks key(s) {', '.join(missing)} "
                                       f"(an NTP problem holds {', '.join(NTP_KEYS)})")
                arrays = {k: np.array(z[k]) for k in NTP_KEYS}
        except ProblemError:
            raise
        except Exception as exc:  # noqa: BLE001 - not an npz, truncated, pickled objects
            raise ProblemError("file", f"{p} is not a readable .npz ({type(exc).__name__})") \
                from None
        return cls(**arrays)


# ------------------------------------------------------------------------------ data


def random_embeddings(K: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """K unit-norm Gaussian embeddings in R^d (the authors' ``token_choice = 'random'``)."""
    E = rng.standard_normal((K, d))
    return E / np.linalg.norm(E, axis=1, keepdims=True)


def _draw(n: int, T: int, K: int, d: int, rng: np.random.Generator) -> NTPProblem:
    E = random_embeddings(K, d, rng)
    tokens = np.stack([rng.permutation(K)[:T] for _ in range(n)])
    nxt = rng.integers(0, K, size=n)
    for i in range(n):  # the authors' check_label: a label outside its sequence is replaced
        if nxt[i] not in tokens[i]:
            nxt[i] = tokens[i, rng.integers(T)]
    return NTPProblem(tokens, nxt, E)


def ntp_data(n: int, T: int, K: int, d: int, seed: int, *, cyclic: bool | None = None,
             attempts: int = 1000) -> NTPProblem:
    """Seeded NTP data as in the authors' generator (``data_utils.data_generator``): unit random
    embeddings, T distinct tokens per sequence (T <= K), a uniform label that is replaced by a
    uniform token of the sequence when absent from it. ``cyclic``: True redraws until some
    query's graph has a cycle (their ``check_asyc = False``), False until every graph is acyclic,
    None takes the first draw. ProblemError when ``attempts`` draws do not qualify."""
    n, T, K, d = (as_int(f, v, low=1) for f, v in (("n", n), ("T", T), ("K", K), ("d", d)))
    if T > K:
        raise ProblemError("T", f"sequences of {T} distinct tokens need K >= T, got K = {K}")
    rng = np.random.default_rng(as_int("seed", seed, low=0))
    for _ in range(as_int("attempts", attempts, low=1)):
        p = _draw(n, T, K, d, rng)
        if cyclic is None or is_cyclic(p) == cyclic:
            return p
    raise ProblemError("cyclic", f"no {'cyclic' if cyclic else 'acyclic'} draw in {attempts} "
                       f"attempts (n={n}, T={T}, K={K})")


def stack_ntp(problems: Iterable[NTPProblem]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X (B, n, T, d), Z (B, n, d), mask (B, n, T)) of problems of one shape, for batched runs."""
    parts = [p.embedded() for p in problems]
    if not parts:
        raise ProblemError("problems", "no problem to stack")
    shapes = {x.shape for x, _, _ in parts}
    if len(shapes) != 1:
        raise ProblemError("problems", f"problems of different shapes {sorted(shapes)}")
    return tuple(np.stack([q[j] for q in parts]) for j in range(3))  # type: ignore[return-value]


# ------------------------------------------------------------------------------ the model


def _lse(a: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """log sum_{mask} exp(a) over the last axis (-inf where the mask is empty)."""
    x = np.where(mask, a, -np.inf)
    peak = np.max(x, axis=-1, keepdims=True)
    safe = np.where(np.isfinite(peak), peak, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(x - safe), axis=-1)) + safe[..., 0]


@dataclass(frozen=True)
class NTPEvaluation:
    """Forward quantities of the attention NTP model for B runs: ``risk`` (B,), ``probs`` the
    attention (B, n, T), ``log_label_mass`` log m_{i y_i} (B, n), ``grad`` the gradient in W
    scaled by a positive factor per run (its direction is exact), ``log_scale`` the log of that
    factor (true gradient = exp(log_scale) * grad)."""

    risk: np.ndarray
    probs: np.ndarray
    log_label_mass: np.ndarray
    grad: np.ndarray
    log_scale: np.ndarray

    @property
    def true_grad(self) -> np.ndarray:
        """dL/dW (underflows to 0 far into saturation; its direction is ``grad``'s)."""
        with np.errstate(under="ignore"):
            return np.exp(self.log_scale)[:, None, None] * self.grad


def attention_logits(W: np.ndarray, X: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """gamma_it = x_it^T W z_i, shape (B, n, T) for W (B, d, d), X (B|1, n, T, d), Z (B|1, n, d)."""
    WZ = np.matmul(W[:, None], Z[..., None])  # (B, n, d, 1)
    return np.matmul(X, WZ)[..., 0]


def ntp_evaluation(W: np.ndarray, X: np.ndarray, Z: np.ndarray, mask: np.ndarray) -> NTPEvaluation:
    """Risk, attention and gradient of L(W) = (1/n) sum_i -log m_{i y_i} (arXiv 2403.08081; the
    authors' log-loss on the label's attention mass), all in log space.

    With lse_all, lse_in, lse_out the log-sum-exp of the logits over all positions, the label's
    positions and the others: -log m = log(1 + exp(lse_out - lse_in)) and the per-logit
    derivative is s_t for t off the label and -s_t (1 - m)/m = -exp(gamma_t - lse_all + lse_out
    - lse_in) on it; their logs are combined relative to the largest per run.
    """
    W = np.asarray(W, dtype=np.float64)
    B = W.shape[0]
    X = np.broadcast_to(X, (B, *X.shape[-3:]))
    Z = np.broadcast_to(Z, (B, *Z.shape[-2:]))
    mask = np.broadcast_to(mask, (B, *mask.shape[-2:]))
    g = attention_logits(W, X, Z)
    full = np.ones_like(mask, dtype=bool)
    lse_all, lse_in, lse_out = _lse(g, full), _lse(g, mask), _lse(g, ~mask)
    n = g.shape[1]
    gap = lse_out - lse_in  # log((1 - m) / m), -inf when the sequence holds only its label
    risk = np.mean(np.logaddexp(0.0, gap), axis=-1)
    log_c = g - lse_all[..., None] + np.where(mask, gap[..., None], 0.0)
    sign = np.where(mask, -1.0, 1.0)
    peak = np.max(log_c, axis=(1, 2))
    safe = np.where(np.isfinite(peak), peak, 0.0)
    c = sign * np.exp(log_c - safe[:, None, None])
    cx = np.matmul(c[:, :, None, :], X)[:, :, 0]  # (B, n, d): X_i^T c_i
    grad = np.matmul(np.swapaxes(cx, 1, 2), Z) / n
    probs = np.exp(g - lse_all[..., None])
    return NTPEvaluation(risk=risk, probs=probs, log_label_mass=lse_in - lse_all, grad=grad,
                         log_scale=np.where(np.isfinite(peak), peak, -np.inf))


@dataclass(frozen=True)
class NTPTrainResult:
    """B training runs: final ``W`` (B, d, d), ``checkpoints`` (C,), ``history`` (B, C, d, d),
    ``risk`` (B, C), final attention ``probs`` (B, n, T) and label masses (B, n)."""

    W: np.ndarray
    checkpoints: np.ndarray
    history: np.ndarray
    risk: np.ndarray
    probs: np.ndarray
    label_mass: np.ndarray


def train_ntp(X: np.ndarray, Z: np.ndarray, mask: np.ndarray, W0: np.ndarray, *, steps: int,
              lr: float, normalized: bool = True,
              checkpoints: Iterable[int] | None = None) -> NTPTrainResult:
    """(Normalized) GD on the NTP log-loss through ``attention.training.descend``; B runs batched
    (W0 (B, d, d); data with or without the leading batch axis)."""
    W0 = as_real_array("W0", W0, ndim=3)
    X4 = X if X.ndim == 4 else X[None]
    Z3 = Z if Z.ndim == 3 else Z[None]
    M3 = mask if mask.ndim == 3 else mask[None]

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], NTPEvaluation]:
        ev = ntp_evaluation(par["W"], X4, Z3, M3)
        return {"W": ev.grad if normalized else ev.true_grad}, ev

    final, cps, hist, risk, ev = descend({"W": W0}, grad_fn, steps=steps, lr=lr,
                                         normalized=normalized, checkpoints=checkpoints)
    return NTPTrainResult(W=final["W"], checkpoints=cps, history=hist["W"], risk=risk,
                          probs=ev.probs, label_mass=np.exp(ev.log_label_mass))


# ------------------------------------------------------------------------------ decomposition


def orthonormal_basis(mats: np.ndarray, rtol: float = BASIS_RTOL) -> np.ndarray:
    """An orthonormal basis (r, p, q) (Frobenius inner product) of the span of ``mats``
    (k, p, q)."""
    k = mats.shape[0]
    if k == 0:
        return np.zeros((0, *mats.shape[1:]))
    M = mats.reshape(k, -1)
    U, s, Vt = np.linalg.svd(M, full_matrices=False)
    r = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
    return Vt[:r].reshape(r, *mats.shape[1:])


def project(W: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Orthogonal projection of W (..., p, q) onto the span of an orthonormal ``basis``."""
    if basis.shape[0] == 0:
        return np.zeros_like(W)
    coef = np.einsum("...pq,rpq->...r", W, basis)
    return np.einsum("...r,rpq->...pq", coef, basis)


def finite_subspace(problem: NTPProblem) -> np.ndarray:
    """Orthonormal basis of S_fin = span{(x_a - x_b) z_k^T : a, b in one SCC of size >= 2 of the
    graph of query k} (arXiv 2403.08081, the finite component's subspace; the authors'
    ``cal_Sfin``), shape (r, d, d)."""
    E = problem.E
    mats = []
    for k, g in priority_graphs(problem).items():
        for comp in g.cyclic_components():
            root = comp[0]
            mats += [np.outer(E[c] - E[root], E[k]) for c in comp[1:]]
    return orthonormal_basis(np.array(mats).reshape(-1, problem.d, problem.d))


def reduced_sequences(problem: NTPProblem) -> tuple[np.ndarray, np.ndarray]:
    """The positions kept in the finite part's loss: for sequence i, the tokens that share the
    label's SCC of the graph of its query, when that SCC has size >= 2 (the authors'
    ``generate_reduced_ds``). Returns (keep (n, T) bool, used (n,) bool)."""
    graphs = priority_graphs(problem)
    keep = np.zeros(problem.tokens.shape, dtype=bool)
    for i in range(problem.n):
        g = graphs[int(problem.last[i])]
        lab = g.labels
        y = int(problem.next[i])
        same = lab[problem.tokens[i]] == lab[y]
        if np.sum(same & (problem.tokens[i] != y)) > 0:
            keep[i] = same
    return keep, np.any(keep, axis=1)


@dataclass(frozen=True)
class FinitePart:
    """W^fin: the minimiser over S_fin of the loss restricted to the cyclic SCCs. ``grad_norm``
    is the norm of the restricted loss's gradient in S_fin at W (the optimality certificate of a
    convex problem), ``iterations`` Newton's, ``converged`` whether grad_norm met the target."""

    W: np.ndarray
    loss: float
    grad_norm: float
    iterations: int
    converged: bool
    dim: int


def _restricted(theta: np.ndarray, J: np.ndarray, keep: np.ndarray, lab: np.ndarray,
                n: int) -> tuple[float, np.ndarray, np.ndarray]:
    """Loss, gradient and Hessian in theta of (1/n) sum_i -log s_{i y_i} over kept positions,
    logits gamma_it = J_it . theta (J (n, T, r))."""
    g = np.einsum("ntr,r->nt", J, theta)
    lse_k = _lse(g, keep)
    lse_y = _lse(g, lab & keep)
    used = np.isfinite(lse_k)
    loss = float(np.sum(lse_k[used] - lse_y[used]) / n)
    s = np.where(keep, np.exp(g - np.where(used, lse_k, 0.0)[:, None]), 0.0)
    py = np.where(lab & keep, np.exp(g - np.where(used, lse_y, 0.0)[:, None]), 0.0)
    Js = np.einsum("nt,ntr->nr", s, J)
    grad = (np.einsum("nr->r", Js) - np.einsum("nt,ntr->r", py, J)) / n
    H = (np.einsum("nt,ntr,nts->rs", s, J, J) - np.einsum("nr,ns->rs", Js, Js)) / n
    return loss, grad, H


def finite_part(problem: NTPProblem, *, gtol: float = 1e-12, max_iter: int = 200) -> FinitePart:
    """W^fin (arXiv 2403.08081, the finite component): Newton's method with backtracking on the
    convex restricted loss in the coordinates of ``finite_subspace`` (the loss -log s_y is convex
    in the logits when each sequence holds its label once; the authors train this model from
    W = 0 by GD instead). ``converged`` is False when the gradient did not fall below ``gtol``
    (e.g. the restricted loss has no finite minimiser)."""
    basis = finite_subspace(problem)
    r = basis.shape[0]
    X, Z, lab = problem.embedded()
    keep, _ = reduced_sequences(problem)
    if r == 0 or not np.any(keep):
        return FinitePart(np.zeros((problem.d, problem.d)), 0.0, 0.0, 0, True, r)
    J = np.einsum("ntd,rde,ne->ntr", X, basis, Z, optimize=True)
    theta = np.zeros(r)
    n = problem.n
    loss, grad, H = _restricted(theta, J, keep, lab, n)
    it = 0
    while it < max_iter and np.linalg.norm(grad) > gtol:
        it += 1
        try:
            step = -np.linalg.solve(H + 1e-14 * np.eye(r), grad)
        except np.linalg.LinAlgError:
            step = -grad
        t = 1.0
        while t > 1e-12:
            cand = _restricted(theta + t * step, J, keep, lab, n)
            if cand[0] <= loss + 1e-4 * t * float(grad @ step):
                break
            t *= 0.5
        if t <= 1e-12:
            break
        theta = theta + t * step
        loss, grad, H = cand
    gn = float(np.linalg.norm(grad))
    return FinitePart(W=np.einsum("r,rde->de", theta, basis), loss=loss, grad_norm=gn,
                      iterations=it, converged=gn <= gtol, dim=r)


# ------------------------------------------------------------------------------ linear NTP


@dataclass(frozen=True)
class LinearNTP:
    """NTP in a linear model (arXiv 2402.18551): contexts ``H`` (m, d), soft labels ``P`` (m, V)
    (rows sum to one; support S_j = {z : P_jz > 0}) and context weights ``pi`` (m,)."""

    H: np.ndarray
    P: np.ndarray
    pi: np.ndarray

    def __post_init__(self) -> None:
        H = as_real_array("H", self.H, ndim=2, copy=True)
        P = as_real_array("P", self.P, ndim=2, copy=True)
        pi = as_real_array("pi", self.pi, ndim=1, copy=True)
        if P.shape[0] != H.shape[0] or pi.shape != (H.shape[0],):
            raise ProblemError("P", f"H {H.shape}, P {P.shape}, pi {pi.shape}: one row each")
        if np.any(P < 0) or not np.allclose(P.sum(axis=1), 1.0, atol=1e-12):
            raise ProblemError("P", "soft labels must be nonnegative rows summing to one")
        if np.any(pi <= 0):
            raise ProblemError("pi", "context weights must be positive")
        for name, arr in (("H", H), ("P", P), ("pi", pi)):
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def support(self) -> np.ndarray:
        return self.P > 0

    @property
    def entropy(self) -> float:
        """The loss's lower bound sum_j pi_j H(p_j) (reached only in the limit)."""
        logs = np.log(np.where(self.P > 0, self.P, 1.0))
        return float(-np.sum(self.pi[:, None] * self.P * logs))


def linear_ntp_data(m: int, d: int, V: int, support: int, seed: int) -> LinearNTP:
    """m Gaussian contexts in R^d, supports of ``support`` random tokens of V, Dirichlet(1)
    probabilities on them, uniform context weights (seeded)."""
    m, d, V = (as_int(f, v, low=1) for f, v in (("m", m), ("d", d), ("V", V)))
    support = as_int("support", support, low=1, high=V)
    rng = np.random.default_rng(as_int("seed", seed, low=0))
    H = rng.standard_normal((m, d))
    P = np.zeros((m, V))
    for j in range(m):
        S = rng.permutation(V)[:support]
        P[j, S] = rng.dirichlet(np.ones(support))
    return LinearNTP(H, P, np.full(m, 1.0 / m))


@dataclass(frozen=True)
class LinearEvaluation:
    risk: np.ndarray  # (B,)
    grad: np.ndarray  # (B, V, d)


def linear_ntp_evaluation(W: np.ndarray, data: LinearNTP) -> LinearEvaluation:
    """Loss sum_j pi_j sum_z p_jz (lse(W h_j) - (W h_j)_z) and its gradient
    sum_j pi_j (softmax(W h_j) - p_j) h_j^T (arXiv 2402.18551, the NTP objective)."""
    logits = np.einsum("bvd,md->bmv", W, data.H)
    peak = logits.max(axis=-1, keepdims=True)
    lse = np.log(np.sum(np.exp(logits - peak), axis=-1, keepdims=True)) + peak
    logp = logits - lse
    risk = -np.einsum("m,mv,bmv->b", data.pi, data.P, np.where(data.P > 0, logp, 0.0))
    grad = np.einsum("m,bmv,md->bvd", data.pi, np.exp(logp) - data.P, data.H)
    return LinearEvaluation(risk=risk, grad=grad)


def train_linear_ntp(data: LinearNTP, W0: np.ndarray, *, steps: int, lr: float,
                     checkpoints: Iterable[int] | None = None) -> tuple[np.ndarray, np.ndarray,
                                                                        np.ndarray, np.ndarray]:
    """Plain GD (the setting of arXiv 2402.18551) through ``descend``; W0 (B, V, d). Returns
    (final W, checkpoints, history (B, C, V, d), risk (B, C))."""
    W0 = as_real_array("W0", W0, ndim=3)

    def grad_fn(par: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], Any]:
        ev = linear_ntp_evaluation(par["W"], data)
        return {"W": ev.grad}, ev

    final, cps, hist, risk, _ = descend({"W": W0}, grad_fn, steps=steps, lr=lr,
                                        normalized=False, checkpoints=checkpoints)
    return final["W"], cps, hist["W"], risk


def linear_data_subspace(data: LinearNTP) -> np.ndarray:
    """Orthonormal basis (r, V, d) of F = span{(e_z - e_z') h_j^T : z, z' in S_j} (arXiv
    2402.18551, the data subspace defined by the sparsity patterns)."""
    V = data.P.shape[1]
    I = np.eye(V)
    mats = []
    for j in range(data.H.shape[0]):
        S = np.flatnonzero(data.support[j])
        mats += [np.outer(I[z] - I[S[0]], data.H[j]) for z in S[1:]]
    return orthonormal_basis(np.array(mats).reshape(-1, V, data.H.shape[1]))
