"""Policy gradient = sequence-discriminative training, on small enumerable output spaces.

Shannon, "Optimizing expected word error rate via sampling for speech recognition" (arXiv
1706.02776, Sec. 2): MBR training is REINFORCE on a globally normalised policy.  For
P(y) = softmax(s)(y) over a hypothesis set H and rewards A(y):

1. MBR / expected reward:  dF/ds(y) = P(y) (A(y) - A_bar),  F = sum_y P(y) A(y), A_bar = F,
   i.e. grad F = E_P[(A(y) - A_bar) grad log P(y)] (REINFORCE with the expected-reward baseline);
2. baseline invariance: E_P[(A(y) - c) grad log P(y)] = grad F for every constant c, and the
   MWER loss sum_{y in beam} P_hat(y)(W(y) - W_hat) (Prabhavalkar et al. 1712.01818) has the
   gradient of the expected W over the renormalised beam;
3. MMI: grad log P(y_ref) = (1 / P(y_ref)) grad E_P[1{y = y_ref}].

Gradients are computed in closed form (wrt the scores s), by exact enumeration, by torch autograd
(float64, for any parameterisation theta -> log P over H), and by seeded Monte Carlo samples.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from attnsvm.reference.attention.models import softmax
from attnsvm.reference.errors import ProblemError

# torch is imported inside the functions that use it: importing this module (as the claims
# registry does) must not load torch.
if TYPE_CHECKING:
    import torch

LogProbFn = Callable[["torch.Tensor"], "torch.Tensor"]


def _scores(s: object, field: str = "s") -> np.ndarray:
    try:
        a = np.asarray(s, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ProblemError(field, f"not numeric ({exc})") from None
    if a.ndim != 1 or a.size < 2:
        raise ProblemError(field, f"expected a vector over >= 2 hypotheses, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ProblemError(field, "contains NaN or infinity")
    return a


def _rewards(A: object, H: int) -> np.ndarray:
    a = _scores(A, "A")
    if a.shape != (H,):
        raise ProblemError("A", f"expected {H} rewards (one per hypothesis), got shape {a.shape}")
    return a


def _ref(ref: int, H: int) -> int:
    if isinstance(ref, bool) or not isinstance(ref, (int, np.integer)) or not 0 <= ref < H:
        raise ProblemError("ref", f"must be a hypothesis index in [0, {H - 1}], got {ref!r}")
    return int(ref)


def softmax_probs(s: np.ndarray) -> np.ndarray:
    """P = softmax(s) in log-sum-exp form (the attention models' softmax, validated scores)."""
    return softmax(_scores(s))


# --------------------------------------------------------------------------------------------
# closed forms wrt the scores


def expected_reward(s: np.ndarray, A: np.ndarray) -> float:
    """F = sum_y P(y) A(y) (MBR / sMBR / MWER objective; A is an accuracy or -loss)."""
    P = softmax_probs(s)
    return float(P @ _rewards(A, P.size))


def expected_reward_grad(s: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dF/ds = P (A - A_bar) (1706.02776 Sec. 2; the sMBR 'posteriors' of Kaldi)."""
    P = softmax_probs(s)
    a = _rewards(A, P.size)
    return P * (a - P @ a)


def expected_reward_grad_autograd(s: np.ndarray, A: np.ndarray) -> np.ndarray:
    """dF/ds by torch autograd (float64): the 'numeric MBR gradient'."""
    import torch

    st = torch.tensor(_scores(s), dtype=torch.float64, requires_grad=True)
    at = torch.tensor(_rewards(A, st.numel()), dtype=torch.float64)
    (torch.softmax(st, 0) @ at).backward()
    return st.grad.numpy().copy()


def reinforce_gradient(s: np.ndarray, A: np.ndarray, baseline: float | None = None) -> np.ndarray:
    """E_P[(A(y) - b) grad_s log P(y)] by exact enumeration; b = A_bar when ``baseline`` is None.

    grad_s log P(y) = e_y - P, so the sum is sum_y P(y)(A(y) - b)(e_y - P).
    """
    P = softmax_probs(s)
    a = _rewards(A, P.size)
    b = float(P @ a) if baseline is None else float(baseline)
    if not np.isfinite(b):
        raise ProblemError("baseline", "must be finite")
    score = np.eye(P.size) - P[None, :]  # row y: grad log P(y)
    return (P * (a - b)) @ score


def reinforce_samples(s: np.ndarray, A: np.ndarray, n: int, *, seed: int = 0,
                      baseline: float | None = None) -> np.ndarray:
    """n seeded single-sample REINFORCE terms (A(y_k) - b)(e_{y_k} - P), y_k ~ P; shape (n, H)."""
    P = softmax_probs(s)
    a = _rewards(A, P.size)
    if n < 1:
        raise ProblemError("n", f"must be >= 1, got {n}")
    b = float(P @ a) if baseline is None else float(baseline)
    ys = np.random.default_rng(seed).choice(P.size, size=n, p=P)
    return (a[ys] - b)[:, None] * (np.eye(P.size)[ys] - P[None, :])


def reinforce_variance(s: np.ndarray, A: np.ndarray, baseline: float | None = None) -> float:
    """Exact total variance E||g_1 - grad F||^2 of the one-sample REINFORCE estimator.

    g_1 = (A(y) - b)(e_y - P), y ~ P; computed by enumeration (b = A_bar when None).
    """
    P = softmax_probs(s)
    a = _rewards(A, P.size)
    b = float(P @ a) if baseline is None else float(baseline)
    score = np.eye(P.size) - P[None, :]
    sq = np.sum(score**2, axis=1)
    g = P * (a - P @ a)
    return float(P @ ((a - b) ** 2 * sq) - g @ g)


def optimal_baseline(s: np.ndarray, A: np.ndarray) -> float:
    """The variance-minimising constant baseline sum P A ||e_y - P||^2 / sum P ||e_y - P||^2.

    Close to, but in general not equal to, A_bar (derived in this module: the variance is a
    quadratic in the baseline whose minimiser weights A by P ||e_y - P||^2).
    """
    P = softmax_probs(s)
    a = _rewards(A, P.size)
    sq = np.sum((np.eye(P.size) - P[None, :]) ** 2, axis=1)
    return float((P * sq) @ a / (P @ sq))


def mmi_gradient(s: np.ndarray, ref: int) -> np.ndarray:
    """grad_s log P(ref) = e_ref - P (MMI: numerator minus denominator occupancy)."""
    P = softmax_probs(s)
    r = _ref(ref, P.size)
    return np.eye(P.size)[r] - P


def expected_01_reward_grad(s: np.ndarray, ref: int) -> np.ndarray:
    """grad_s E_P[1{y = ref}] = P(ref)(e_ref - P) (expected sentence accuracy)."""
    P = softmax_probs(s)
    r = _ref(ref, P.size)
    return P[r] * (np.eye(P.size)[r] - P)


# --------------------------------------------------------------------------------------------
# parameterised policies on enumerable sequence spaces


def enumerate_sequences(vocab: int, length: int) -> np.ndarray:
    """All vocab**length sequences, shape (H, length), in lexicographic order."""
    if vocab < 2 or length < 1 or vocab**length > 100_000:
        raise ProblemError("vocab", f"need vocab >= 2, length >= 1, vocab**length <= 1e5; got "
                           f"{vocab}, {length}")
    return np.asarray(list(itertools.product(range(vocab), repeat=length)), dtype=np.int64)


def autoregressive_logp(vocab: int, length: int) -> tuple[LogProbFn, int]:
    """A locally normalised tabular policy: theta[prefix] are the logits of the next token.

    Returns (theta -> log P over all sequences (H,), number of prefixes); theta has shape
    (n_prefixes, vocab) with n_prefixes = sum_{l < length} vocab**l.
    """
    import torch

    seqs = enumerate_sequences(vocab, length)
    offsets = np.cumsum([0] + [vocab**t for t in range(length)])
    idx = np.zeros((seqs.shape[0], length), dtype=np.int64)
    for t in range(length):
        code = np.zeros(seqs.shape[0], dtype=np.int64)
        for u in range(t):
            code = code * vocab + seqs[:, u]
        idx[:, t] = offsets[t] + code
    idx_t = torch.as_tensor(idx)
    tok_t = torch.as_tensor(seqs)

    def logp(theta: torch.Tensor) -> torch.Tensor:
        lp = torch.log_softmax(theta, dim=-1)  # (n_prefixes, vocab)
        return lp[idx_t, tok_t].sum(-1)

    return logp, int(offsets[-1])


def global_logp(features: np.ndarray) -> LogProbFn:
    """Globally normalised log-linear policy log P(y) = theta . f(y) - logsumexp (lattice-style)."""
    import torch

    F = torch.as_tensor(np.asarray(features, dtype=np.float64))
    if F.ndim != 2:
        raise ProblemError("features", f"expected (H, p), got shape {tuple(F.shape)}")

    def logp(theta: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(F @ theta, dim=0)

    return logp


def _logp(logp_fn: LogProbFn, theta: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    import torch

    th = torch.tensor(np.asarray(theta, dtype=np.float64), requires_grad=True)
    lp = logp_fn(th)
    if lp.ndim != 1:
        raise ProblemError("theta", "the log-probability function must return a vector over H")
    total = float(torch.logsumexp(lp.detach(), 0))
    if abs(total) > 1e-9:
        raise ProblemError("theta", f"log-probabilities do not normalise (logsumexp = {total:.3g})")
    return th, lp


def mbr_gradient(logp_fn: LogProbFn, theta: np.ndarray, A: np.ndarray) -> np.ndarray:
    """grad_theta sum_y P_theta(y) A(y) by autograd through the exact enumeration."""
    import torch

    th, lp = _logp(logp_fn, theta)
    a = torch.as_tensor(_rewards(A, lp.numel()))
    (torch.exp(lp) @ a).backward()
    return th.grad.numpy().copy()


def reinforce_gradient_theta(logp_fn: LogProbFn, theta: np.ndarray, A: np.ndarray,
                             baseline: float | None = None) -> np.ndarray:
    """sum_y P(y)(A(y) - b) grad_theta log P(y): the surrogate sum_y sg[P(y)(A(y) - b)] log P(y)."""
    import torch

    th, lp = _logp(logp_fn, theta)
    a = torch.as_tensor(_rewards(A, lp.numel()))
    P = torch.exp(lp.detach())
    b = (P @ a) if baseline is None else torch.tensor(float(baseline), dtype=torch.float64)
    ((P * (a - b)) @ lp).backward()
    return th.grad.numpy().copy()


def mmi_gradient_theta(logp_fn: LogProbFn, theta: np.ndarray, ref: int) -> tuple[np.ndarray, ...]:
    """(grad log P(ref), (1/P(ref)) grad E_P[1{y = ref}], P(ref)) by autograd."""
    import torch

    th, lp = _logp(logp_fn, theta)
    r = _ref(ref, lp.numel())
    lp[r].backward()
    g_mmi = th.grad.numpy().copy()
    th2, lp2 = _logp(logp_fn, theta)
    p_ref = torch.exp(lp2[r])
    p_ref.backward()
    p = float(p_ref.detach())
    return g_mmi, th2.grad.numpy() / p, p


# --------------------------------------------------------------------------------------------
# N-best / MWER


def edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance (word errors) between two token sequences."""
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, yv in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != yv)))
        prev = cur
    return prev[-1]


def mwer_gradients(s: np.ndarray, W: np.ndarray, beam: Sequence[int]) -> tuple[np.ndarray, ...]:
    """Gradients wrt s of the MWER loss sum_{beam} P_hat (W - W_hat) and of E_{P_hat}[W].

    P_hat = softmax over the beam only; W_hat = plain mean of W over the beam (1712.01818 Eq. 9).
    Both gradients are equal (baseline invariance); returns (mwer_grad, expected_grad).
    """
    import torch

    st = _scores(s)
    w = _rewards(W, st.size)
    bm = np.asarray(beam, dtype=np.int64)
    if bm.ndim != 1 or bm.size < 2 or np.unique(bm).size != bm.size or np.any(bm < 0) \
            or np.any(bm >= st.size):
        raise ProblemError("beam", "expected >= 2 distinct hypothesis indices")
    out = []
    for with_baseline in (True, False):
        t = torch.tensor(st, requires_grad=True)
        wt = torch.as_tensor(w[bm])
        ph = torch.softmax(t[torch.as_tensor(bm)], 0)
        loss = ph @ (wt - wt.mean()) if with_baseline else ph @ wt
        loss.backward()
        out.append(t.grad.numpy().copy())
    return out[0], out[1]
