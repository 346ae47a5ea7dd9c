"""Att-SVM⋆: the nuclear-norm attention SVM, solved exactly and certified.

Tarzanagh, Li, Thrampoulidis, Oymak, "Transformers as Support Vector Machines" (arXiv 2308.16898),
Sec. 2, Eq. (Att-SVM⋆):

    W^mm_⋆,α  ∈  argmin_W ‖W‖_⋆   s.t.   (x_{iα_i} − x_it)ᵀ W z_i ≥ 1   for all i, t ≠ α_i.

Constraint k is ⟨A_k, W⟩ ≥ 1 with A_k = a_k z_kᵀ (rows of
``attnsvm.reference.svm.constraints.margin_constraints``).
The Lagrange dual is

    max 1ᵀλ   s.t.   ‖Σ_k λ_k a_k z_kᵀ‖₂ ≤ 1,  λ ≥ 0,

and a pair (W, λ) with W feasible and ‖G‖₂ ≤ 1 (G = Σ λ_k A_k) brackets the optimum:
1ᵀλ ≤ OPT ≤ ‖W‖_⋆. Every solution this module returns carries that bracket, recomputed from W
and λ in the original d×d coordinates, never read from a solver status. (Multipliers follow
``attnsvm.reference.svm.certificates``' "nuc" convention.)

Method (``solve_nuclear_svm``).

0. Scaling: tokens and queries are rescaled by powers of two (exact), and data whose solution
   norm provably exceeds 1e300 are refused (ProblemError).
1. Reduction (the row-space lemma, TF-SVM Lemma on rank ≤ n): with P_Z, P_A the orthogonal
   projectors onto span{z_i} and span{a_k}, W ↦ P_A W P_Z keeps every margin and does not increase
   ‖W‖_⋆. So W = U M Vᵀ with V (d×r, r ≤ n) and U (d×p) orthonormal bases of span{z_i} and
   span{a_k}, and the problem becomes min ‖M‖_⋆ s.t. ãₖᵀ M c_k ≥ 1 with ã_k = Uᵀa_k, c_k = Vᵀz_k
   (the identity basis is kept when a basis would not represent some row exactly). Rows are then
   normalized (ã_k, c_k unit, right-hand side b_k = 1/(‖ã_k‖‖c_k‖)) and identical rows merged.
2. The small SDP (N = p + r):
   min tr X  s.t.  ⟨A'_k, X⟩ ≥ b_k,  X ⪰ 0,  with A'_k = u_k v_kᵀ + v_k u_kᵀ, u_k = [ã_k; 0],
   v_k = [0; c_k]; then M = 2 X₁₂ and tr X = ‖M‖_⋆ at the optimum. Its dual is exactly the dual
   above: S = I − Σ λ_k A'_k = [[I, −G], [−Gᵀ, I]] ⪰ 0 ⇔ ‖G‖₂ ≤ 1.
3. A primal–dual interior-point method (HKM direction, Mehrotra predictor–corrector, infeasible
   start; Helmberg–Rendl–Vanderbei–Wolkowicz 1996, Todd–Toh–Tütüncü 1998) that exploits the rank-2
   constraint matrices: the K×K Schur complement is four Hadamard products of K×K matrices, so an
   iteration costs O(K²(p + r) + K³/3 + N³) instead of the (N²/2)³ of a generic conic KKT system.
4. Fallback: if the interior-point result does not certify, Clarabel is called directly on the
   same reduced SDP (hand-built PSD-triangle cone, tight tolerances). Infeasibility is proved by
   a Farkas certificate checked by ``svm.certificates.verify_farkas`` on the original rows
   (feasibility does not depend on the norm, so the test and its working-precision threshold are
   the Frobenius solver's); the search runs only when a solve fails or W is huge.
5. Polish: rows left below margin 1 (possible when row sizes differ by orders of magnitude) are
   repaired by a least-norm correction when that is cheaper than scaling; then W is divided by
   its min margin μ (``extra["primal_scale"]``) and λ by ‖G‖₂ (``extra["dual_scale"]``). The
   record is built and certified by ``svm.certificates.make_solution``; ``extra`` adds
   the bracket of ``nuclear_bounds``. A candidate whose certified relative gap exceeds 1e-7 is
   never returned: NuclearSolverError says so (this happens only on numerically borderline data,
   where ‖W^mm‖·max_k‖a_k z_kᵀ‖ is beyond ~1e6).

The rank is judged with a relative threshold (σ_k > rel_rank_tol·σ_1) and the singular values are
reported (an absolute 1e-7 threshold, as in the official ``svm_rank.ipynb``, inflates the rank
of solver output whose small singular values sit at the solver's accuracy).
``rank_default_cvxpy`` reproduces that artifact on purpose and must not be used for verdicts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.linalg as sla

from attnsvm.reference.attention.problem import AttentionProblem, as_problem
from attnsvm.reference.errors import AttnsvmError, InfeasibleSVM, ProblemError
from attnsvm.reference.svm.certificates import (
    INFEASIBLE_RTOL,
    RANK_RTOL,
    SUPPORT_RTOL,
    certify,
    ldexp,
    make_solution,
    scale_exponents,
    scaled_constraints,
)
from attnsvm.reference.svm.constraints import MarginConstraints, SVMSolution, margin_constraints
from attnsvm.reference.svm.exact import classify_infeasible
from attnsvm.reference.svm.selection import resolve_selection
from attnsvm.reference.validate import as_float

__all__ = [
    "NuclearSolverError",
    "nuclear_bounds",
    "rank_default_cvxpy",
    "reduced_bases",
    "solve_nuclear_constraints",
    "solve_nuclear_svm",
    "solve_nuclear_svm_cvxpy",
]

#: accept the first solution whose certified relative duality gap is at most this
GAP_ACCEPT = 1e-8
#: refuse (NuclearSolverError) when no candidate certifies to this relative duality gap
GAP_REFUSE = 1e-7
#: refuse (ProblemError) data whose solution norm provably exceeds 10**MAX_LOG10_NORM
MAX_LOG10_NORM = 300


# ----------------------------------------------------------------------------- reduction
def _orth_basis(rows: np.ndarray, rel_tol: float = 1e-12) -> np.ndarray:
    """Orthonormal basis (d×r) of the span of ``rows`` (m×d), relative singular-value cut."""
    _, s, vt = np.linalg.svd(rows, full_matrices=False)
    if s.size == 0 or s[0] == 0.0:
        return np.zeros((rows.shape[1], 0))
    r = int(np.sum(s > rel_tol * s[0]))
    return vt[:r].T.copy()


def _projection_loss(rows: np.ndarray, B: np.ndarray) -> float:
    """max_k ‖x_k − B Bᵀ x_k‖ / ‖x_k‖ over the nonzero rows x_k (0 when none)."""
    norms = np.linalg.norm(rows, axis=1)
    keep = norms > 0
    if not np.any(keep):
        return 0.0
    r = rows[keep]
    return float(np.max(np.linalg.norm(r - (r @ B) @ B.T, axis=1) / norms[keep]))


def reduced_bases(constraints: MarginConstraints) -> tuple[np.ndarray, np.ndarray]:
    """(U, V): orthonormal bases of span{a_k} (d×p) and span{z_k} (d×r).

    Row-space lemma (arXiv 2308.16898, Sec. 2, rank lemma): some optimal W has W = U M Vᵀ, and
    every optimal W of Att-SVM⋆ has row space ⊆ span{z_k} (so rank ≤ r ≤ n).
    """
    return _orth_basis(constraints.a), _orth_basis(constraints.z)


# ----------------------------------------------------------------------------- certificate
def nuclear_bounds(
    constraints: MarginConstraints, W: np.ndarray, lam: np.ndarray
) -> dict[str, Any]:
    """The optimality bracket of a candidate (W, λ) for Att-SVM⋆, recomputed from scratch.

    Weak duality (arXiv 2308.16898, Att-SVM⋆ and its dual): for any λ ≥ 0 and any W with
    min margin μ > 0,  1ᵀλ / max(1, ‖G‖₂) ≤ OPT ≤ ‖W‖_⋆ / min(1, μ),  G = Σ λ_k a_k z_kᵀ.
    Also returns the singular values of G (complementarity puts the singular vectors of W in
    {σ_j(G) = 1}, so ``rank_bound_from_dual`` = #{σ_j(G) ≥ 1 − 1e-6} bounds rank W from above)
    and the row-space residual ‖W(I − P_Z)‖_F / ‖W‖_F of the TF-SVM rank lemma.
    """
    ea, ez = scale_exponents(constraints)
    if ea or ez:
        # extreme magnitudes: the bracket of the rows normalized by powers of two (exact), with
        # the bounds mapped back; relative quantities are the same in both units
        e = ea + ez
        out = nuclear_bounds(scaled_constraints(constraints, ea, ez),
                             ldexp(np.asarray(W, dtype=np.float64), e),
                             ldexp(np.asarray(lam, dtype=np.float64), e))
        out["lower_bound"] = ldexp(out["lower_bound"], -e)
        out["upper_bound"] = ldexp(out["upper_bound"], -e)
        return out
    W = np.asarray(W, dtype=np.float64)
    lam = np.clip(np.asarray(lam, dtype=np.float64), 0.0, None)
    m = constraints.values(W)
    mu = float(m.min()) if m.size else np.inf
    nuc = float(np.linalg.svd(W, compute_uv=False).sum())
    gsv = np.linalg.svd(constraints.combine(lam), compute_uv=False)
    gnorm = float(gsv[0]) if gsv.size else 0.0
    lower = float(lam.sum()) / max(1.0, gnorm)
    upper = nuc / min(1.0, mu) if mu > 0 else np.inf
    gap = (upper - lower) / max(upper, 1e-300) if np.isfinite(upper) else np.inf
    V = _orth_basis(constraints.z)
    wn = float(np.linalg.norm(W))
    return {
        "lower_bound": lower,
        "upper_bound": upper,
        "bracket_gap": float(max(gap, 0.0)),
        "dual_norm": gnorm,
        "dual_singular_values": gsv,
        "rank_bound_from_dual": int(np.sum(gsv >= max(gnorm, 1.0) * (1.0 - 1e-6))),
        "row_space_residual": float(np.linalg.norm(W - (W @ V) @ V.T)) / max(wn, 1e-300),
    }


# ----------------------------------------------------------------------------- interior point
class _ReducedSDP:
    """min tr X s.t. 2 ãₖᵀ X₁₂ c_k − xl_k = b_k, X ⪰ 0, xl ≥ 0 (and its dual) on reduced data."""

    def __init__(self, at: np.ndarray, ct: np.ndarray) -> None:
        self.at = at  # K×p
        self.ct = ct  # K×r
        self.K, self.p = at.shape
        self.r = ct.shape[1]
        self.N = self.p + self.r

    def aop(self, B: np.ndarray) -> np.ndarray:
        """⟨A'_k, B⟩ = ãₖᵀ B₁₂ c_k + c_kᵀ B₂₁ ã_k for any square B."""
        p = self.p
        return np.sum((self.at @ (B[:p, p:] + B[p:, :p].T)) * self.ct, axis=1)

    def gmat(self, y: np.ndarray) -> np.ndarray:
        """G(y) = Σ y_k ã_k c_kᵀ (p×r)."""
        return self.at.T @ (y[:, None] * self.ct)

    def atop(self, y: np.ndarray) -> np.ndarray:
        """Σ y_k A'_k = [[0, G], [Gᵀ, 0]]."""
        G = self.gmat(y)
        out = np.zeros((self.N, self.N))
        out[: self.p, self.p :] = G
        out[self.p :, : self.p] = G.T
        return out

    def schur(self, X: np.ndarray, Sinv: np.ndarray) -> np.ndarray:
        """H_kl = ⟨A'_k, X A'_l S⁻¹⟩ (HKM), as four Hadamard products of K×K matrices."""
        p, at, ct = self.p, self.at, self.ct
        B = at @ X[:p, p:] @ ct.T
        E = at @ Sinv[:p, p:] @ ct.T
        H = B.T * E + B * E.T
        H += (ct @ X[p:, p:] @ ct.T) * (at @ Sinv[:p, :p] @ at.T)
        H += (at @ X[:p, :p] @ at.T) * (ct @ Sinv[p:, p:] @ ct.T)
        return H


class _Newton:
    """One HKM Newton system: the factored Schur complement and the direction for any target."""

    def __init__(
        self,
        sdp: _ReducedSDP,
        X: np.ndarray,
        xl: np.ndarray,
        sl: np.ndarray,
        Sinv: np.ndarray,
        Rd: np.ndarray,
        Rdl: np.ndarray,
        rp: np.ndarray,
    ) -> None:
        self.sdp, self.X, self.xl, self.sl, self.Sinv, self.Rd, self.Rdl = (
            sdp, X, xl, sl, Sinv, Rd, Rdl
        )
        K = sdp.K
        H = sdp.schur(X, Sinv)
        H[np.diag_indices(K)] += xl / sl
        self.H = H
        try:
            self._chol = sla.cho_factor(H, lower=True, check_finite=False)
            self._lu = None
        except np.linalg.LinAlgError:
            reg = 1e-14 * float(np.max(np.abs(np.diag(H))))
            self._chol = None
            self._lu = sla.lu_factor(H + reg * np.eye(K), check_finite=False)
        self.base = rp + sdp.aop(X @ Rd @ Sinv) - (xl / sl) * Rdl

    def _solve_once(self, h: np.ndarray) -> np.ndarray:
        if self._chol is not None:
            return sla.cho_solve(self._chol, h, check_finite=False)
        return sla.lu_solve(self._lu, h, check_finite=False)

    def _solve(self, h: np.ndarray) -> np.ndarray:
        """Solve H dy = h with two steps of iterative refinement (H is ill-conditioned late)."""
        dy = self._solve_once(h)
        for _ in range(2):
            dy = dy + self._solve_once(h - self.H @ dy)
        return dy

    def direction(self, Rc: np.ndarray, Rcl: np.ndarray) -> tuple[np.ndarray, ...]:
        """(dX, dxl, dy, dS, dsl) for complementarity targets Rc (SDP) and Rcl (LP block)."""
        sdp = self.sdp
        dy = self._solve(self.base - sdp.aop(Rc) + Rcl)
        dS = self.Rd - sdp.atop(dy)
        dX = Rc - self.X @ dS @ self.Sinv
        dX = 0.5 * (dX + dX.T)
        dsl = self.Rdl + dy
        dxl = Rcl - (self.xl / self.sl) * dsl
        return dX, dxl, dy, dS, dsl


def _max_step(X: np.ndarray, dX: np.ndarray) -> float:
    """Largest α with X + α dX ⪰ 0 (X ≻ 0), via the Cholesky factor of X."""
    try:
        L = np.linalg.cholesky(X)
    except np.linalg.LinAlgError:
        return 0.0
    Li = sla.solve_triangular(L, np.eye(X.shape[0]), lower=True)
    ev = np.linalg.eigvalsh(Li @ dX @ Li.T)
    lo = ev[0]
    return np.inf if lo >= 0 else -1.0 / lo


def _max_step_vec(x: np.ndarray, dx: np.ndarray) -> float:
    neg = dx < 0
    return float(np.min(-x[neg] / dx[neg])) if np.any(neg) else np.inf


def _hkm_ipm(
    at: np.ndarray,
    ct: np.ndarray,
    b: np.ndarray | None = None,
    *,
    tol: float = 1e-11,
    max_iter: int = 100,
    log: list[dict[str, float]] | None = None,
) -> dict[str, Any]:
    """Mehrotra predictor–corrector, HKM direction, on the reduced SDP with margins ≥ b (> 0).

    Returns the best iterate (by the max of relative gap, primal and dual infeasibility) as
    M = 2 X₁₂ (p×r) and λ = y, with the iteration count and final residuals; ``log`` (a list)
    receives one record of residuals and step lengths per iteration, for diagnostics.
    """
    sdp = _ReducedSDP(at, ct)
    K, N = sdp.K, sdp.N
    eyeN = np.eye(N)
    b = np.ones(K) if b is None else np.asarray(b, dtype=np.float64)
    X = eyeN.copy()
    xl = np.ones(K)
    y = np.zeros(K)
    S = eyeN.copy()
    sl = np.ones(K)
    best: dict[str, Any] | None = None
    it = 0
    for it in range(max_iter + 1):
        rp = b - sdp.aop(X) + xl
        Rd = eyeN - S - sdp.atop(y)
        Rdl = y - sl
        mu = (np.sum(X * S) + xl @ sl) / (N + K)
        pobj, dobj = float(np.trace(X)), float(b @ y)
        relgap = abs(pobj - dobj) / (1.0 + abs(pobj) + abs(dobj))
        pinf = float(np.linalg.norm(rp)) / (1.0 + float(np.linalg.norm(b)))
        dinf = (float(np.linalg.norm(Rd)) + float(np.linalg.norm(Rdl))) / (1.0 + np.sqrt(N))
        err = max(relgap, pinf, dinf)
        if log is not None:
            log.append({"it": it, "relgap": relgap, "pinf": pinf, "dinf": dinf, "mu": mu})
        if best is None or err < best["err"]:
            best = {"X": X.copy(), "y": y.copy(), "err": err, "iterations": it,
                    "relgap": relgap, "pinf": pinf, "dinf": dinf}
        if err < tol or it == max_iter:
            break
        if best["err"] < 1e-6 and err > 1e3 * best["err"]:
            break  # diverging after reaching good accuracy: keep the best iterate
        try:
            Ls = np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            break
        Lsi = sla.solve_triangular(Ls, eyeN, lower=True)
        Sinv = Lsi.T @ Lsi
        newton = _Newton(sdp, X, xl, sl, Sinv, Rd, Rdl, rp)
        direction = newton.direction
        # predictor (σ = 0)
        dX, dxl, dy, dS, dsl = direction(-X, -xl)
        ap = min(1.0, _max_step(X, dX), _max_step_vec(xl, dxl))
        ad = min(1.0, _max_step(S, dS), _max_step_vec(sl, dsl))
        mu_aff = (np.sum((X + ap * dX) * (S + ad * dS)) + (xl + ap * dxl) @ (sl + ad * dsl)) / (
            N + K
        )
        expon = max(1.0, 3.0 * min(ap, ad) ** 2)
        sigma = min(1.0, max(0.0, mu_aff / mu) ** expon)
        # corrector
        Rc = sigma * mu * Sinv - X - dX @ dS @ Sinv
        Rcl = sigma * mu / sl - xl - dxl * dsl / sl
        dX, dxl, dy, dS, dsl = direction(Rc, Rcl)
        gamma = 0.9 + 0.09 * min(ap, ad)
        ap = min(1.0, gamma * min(_max_step(X, dX), _max_step_vec(xl, dxl)))
        ad = min(1.0, gamma * min(_max_step(S, dS), _max_step_vec(sl, dsl)))
        X = X + ap * dX
        X = 0.5 * (X + X.T)
        xl = xl + ap * dxl
        y = y + ad * dy
        S = S + ad * dS
        S = 0.5 * (S + S.T)
        sl = sl + ad * dsl
        if log is not None:
            log[-1].update(ap=ap, ad=ad, sigma=sigma)
        if max(ap, ad) < 1e-10:
            break
    assert best is not None
    Xb = best["X"]
    return {
        "M": 2.0 * Xb[: sdp.p, sdp.p :],
        "lam": np.clip(best["y"], 0.0, None),
        "iterations": best["iterations"],
        "ipm_error": best["err"],
        "relgap": best["relgap"],
        "pinf": best["pinf"],
        "dinf": best["dinf"],
    }


# ----------------------------------------------------------------------------- Clarabel direct
def _clarabel_reduced(
    at: np.ndarray, ct: np.ndarray, rhs: np.ndarray | None = None, *, tol: float = 1e-10
) -> dict[str, Any]:
    """The reduced SDP handed to Clarabel directly (no cvxpy), in its dual (λ) form.

    Clarabel form min qᵀx s.t. Ax + s = b, s ∈ cone, with x = λ (K), q = −rhs (default −1):
    nonnegative cone −λ + s = 0, and PSD-triangle cone s = svec(I − Σ λ_k A'_k) (upper triangle,
    column-major, off-diagonals scaled by √2). Clarabel's PSD dual variable is svec(X), so
    M = 2 X₁₂ comes back with the multipliers.
    """
    import clarabel
    import scipy.sparse as sp

    K, p = at.shape
    r = ct.shape[1]
    N = p + r
    nt = N * (N + 1) // 2
    # svec index of upper-triangle entry (i, j), i <= j, column-major
    ii, jj = np.meshgrid(np.arange(p), p + np.arange(r), indexing="ij")  # (p, r)
    idx = (jj * (jj + 1) // 2 + ii).ravel()
    vals = (np.sqrt(2.0) * at[:, :, None] * ct[:, None, :]).reshape(K, -1)  # (K, p*r)
    A_psd = sp.csc_matrix(
        (vals.ravel(), (np.tile(idx, K), np.repeat(np.arange(K), p * r))), shape=(nt, K)
    )
    A = sp.vstack([-sp.identity(K, format="csc"), A_psd], format="csc")
    diag_idx = np.arange(N) * (np.arange(N) + 1) // 2 + np.arange(N)
    b = np.zeros(K + nt)
    b[K + diag_idx] = 1.0
    q = -(np.ones(K) if rhs is None else np.asarray(rhs, dtype=np.float64))
    P = sp.csc_matrix((K, K))
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.tol_gap_abs = tol
    settings.tol_gap_rel = tol
    settings.tol_feas = tol
    settings.tol_ktratio = 1e-8
    settings.max_iter = 200
    cones = [clarabel.NonnegativeConeT(K), clarabel.PSDTriangleConeT(N)]
    sol = clarabel.DefaultSolver(P, q, A, b, cones, settings).solve()
    z = np.asarray(sol.z)[K:]
    M = 2.0 * z[idx].reshape(p, r) / np.sqrt(2.0)
    return {
        "M": M,
        "lam": np.clip(np.asarray(sol.x), 0.0, None),
        "iterations": int(sol.iterations),
        "status": str(sol.status),
    }


# ----------------------------------------------------------------------------- driver
class NuclearSolverError(AttnsvmError, RuntimeError):
    """Neither the interior-point method nor Clarabel produced a certified solution."""


def _gordan_explicit(constraints: MarginConstraints) -> np.ndarray | None:
    """min ‖Σ λ_k Â_k‖_F over the simplex, Â_k = A_k/‖A_k‖ as explicit vectors (no Gram matrix,
    whose entries square the conditioning), by Lawson–Hanson NNLS on [vec Â_k; 1] (the
    least-distance form); returns λ for the ORIGINAL rows (λ_k ∝ λ̂_k/‖A_k‖) or None.

    Works in the reduced coordinates ã_k = Uᵀa_k, c_k = Vᵀz_k when they are exact.
    """
    from scipy.optimize import nnls

    U, V = reduced_bases(constraints)
    if _projection_loss(constraints.a, U) > 1e-12:
        U = np.eye(constraints.a.shape[1])
    if _projection_loss(constraints.z, V) > 1e-12:
        V = np.eye(constraints.z.shape[1])
    if U.shape[1] * V.shape[1] > 4096:
        return None
    at = constraints.a @ U
    ct = constraints.z @ V
    na = np.linalg.norm(at, axis=1)
    nc = np.linalg.norm(ct, axis=1)
    if not np.all(na * nc > 0):
        return None
    K = constraints.K
    E = np.einsum("kp,kr->prk", at / na[:, None], ct / nc[:, None]).reshape(-1, K)
    E = np.vstack([E, np.ones((1, K))])
    f = np.zeros(E.shape[0])
    f[-1] = 1.0
    u, _ = nnls(E, f, maxiter=50 * K)
    if not u.sum() > 0:
        return None
    return (u / u.sum()) / (na * nc)


def _require_feasible(
    constraints: MarginConstraints, rtol: float, context: dict[str, Any]
) -> None:
    """Raise InfeasibleSVM with a Farkas certificate verified on the ORIGINAL rows, if one exists.

    A Gordan certificate (λ ≥ 0, Σλ = 1, Σλ_k a_k z_kᵀ = 0) survives positive rescaling of the
    rows while least-distance searches do not (on rows of size 1e-40 next to rows of size 1 they
    stop at residuals that are "zero" at the small scale, and a Gram-matrix factorization loses
    what is below √eps), so the candidates are: (1) an exact zero row, (2) ``_gordan_explicit``
    (unit rows, explicit vectors), (3) ``svm.certificates.farkas_search`` on tokens and
    queries normalized to max norm 1, (4) the same on unit rows when row sizes differ by > 1e6.
    Each candidate is mapped back and checked by ``verify_farkas`` on the given rows, so the
    decision rule (threshold ``rtol``) is the shared one.
    """
    from attnsvm.reference.svm.certificates import FarkasResult, farkas_search, verify_farkas

    norms = np.linalg.norm(constraints.a, axis=1) * np.linalg.norm(constraints.z, axis=1)

    def raise_if_verified(lam: np.ndarray, how: str) -> None:
        lam = np.clip(lam, 0.0, None)
        if not lam.sum() > 0:
            return
        lam = lam / lam.sum()
        ok, rel, _ = verify_farkas(constraints, lam, rtol=rtol)
        if ok:
            res = FarkasResult(
                lam, constraints.pairs, float(np.linalg.norm(constraints.combine(lam))), rel,
                float(lam @ constraints.rhs), rtol, True,
            )
            raise InfeasibleSVM(
                "Att-SVM⋆ is infeasible: a convex combination of the constraint matrices "
                f"a_k z_k^T vanishes (relative residual {rel:.2e}; {how})",
                res.as_certificate(**context),
            )

    zero = np.flatnonzero(norms == 0.0)
    if zero.size:
        raise_if_verified(np.eye(constraints.K)[zero[0]], "a constraint matrix is 0")
    lam = _gordan_explicit(constraints)
    if lam is not None:
        raise_if_verified(lam, "explicit unit rows")
    sa = float(np.max(np.linalg.norm(constraints.a, axis=1), initial=0.0))
    sc = float(np.max(np.linalg.norm(constraints.z, axis=1), initial=0.0))
    uniform = MarginConstraints(
        a=constraints.a / (sa if sa > 0 else 1.0), z=constraints.z / (sc if sc > 0 else 1.0),
        pairs=constraints.pairs, rhs=constraints.rhs, equality=constraints.equality,
    )
    res = farkas_search(uniform, rtol=rtol)
    if res.infeasible:
        raise_if_verified(res.lam, "normalized data")
    if np.all(norms > 0) and norms.max() > 1e6 * norms.min():
        ua = constraints.a / np.linalg.norm(constraints.a, axis=1, keepdims=True)
        uz = constraints.z / np.linalg.norm(constraints.z, axis=1, keepdims=True)
        unit = MarginConstraints(a=ua, z=uz, pairs=constraints.pairs, rhs=constraints.rhs,
                                 equality=constraints.equality)
        res = farkas_search(unit, rtol=rtol)
        if res.infeasible:
            raise_if_verified(res.lam / norms, "unit-normalized rows")


def _restore_margins(constraints: MarginConstraints, W: np.ndarray) -> tuple[np.ndarray, float]:
    """Repair margins below 1 by a least-norm correction, when that beats plain scaling.

    An interior-point solution is accurate in absolute terms; when the rows differ in size by
    orders of magnitude, the large rows (tiny right-hand side after normalization) can end below
    margin 1 relative to their own size. Two repairs make every margin ≥ 1: scaling W by 1/μ
    (``_polished``), or W + ΔW with ΔW = Σ_{k∈S} μ_k A_k the least-Frobenius-norm matrix with
    ⟨A_k, ΔW⟩ = 1 − m_k on the violated set S (a least-squares solve on the Gram matrix of S,
    repeated up to three times as S changes; ‖ΔW‖_⋆ ≤ √rank ‖ΔW‖_F is tiny next to ‖W‖_⋆ when a
    few rows are slightly off). The one with the smaller nuclear norm after the final scaling
    is returned, with ‖ΔW‖_F / ‖W‖_F (0 when nothing was repaired or scaling won).
    """
    m = constraints.values(W)
    if m.min() >= 1.0 - 1e-12 or not np.all(np.isfinite(m)):
        return W, 0.0
    W1 = W.copy()
    for _ in range(3):
        m1 = constraints.values(W1)
        S = np.flatnonzero(m1 < 1.0)
        if S.size == 0:
            break
        sub = MarginConstraints(a=constraints.a[S], z=constraints.z[S],
                                pairs=constraints.pairs[S], rhs=np.ones(S.size))
        mu, *_ = np.linalg.lstsq(sub.gram(), 1.0 - m1[S], rcond=1e-13)
        W1 = W1 + sub.combine(mu)
    mu0, mu1 = float(m.min()), float(constraints.values(W1).min())
    if not (mu1 > 0 and np.all(np.isfinite(W1))):
        return W, 0.0
    nuc0 = float(np.linalg.svd(W, compute_uv=False).sum()) / mu0 if mu0 > 0 else np.inf
    nuc1 = float(np.linalg.svd(W1, compute_uv=False).sum()) / min(1.0, mu1)
    if nuc1 < nuc0:
        return W1, float(np.linalg.norm(W1 - W)) / max(float(np.linalg.norm(W)), 1e-300)
    return W, 0.0


def _polished(
    constraints: MarginConstraints, W: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """W / μ (min margin exactly 1) and λ / ‖Σλ_k A_k‖₂ (dual feasible): both only improve."""
    mu = float(constraints.values(W).min())
    if mu > 0:
        W = W / mu
    g = float(np.linalg.norm(constraints.combine(lam), 2))
    if g > 0:
        lam = lam / g
    return W, lam, mu, g


def _pow2_scale(x: np.ndarray) -> float:
    """A power of two near max|x| (exact rescaling; keeps squared norms from under/overflow)."""
    m = float(np.max(np.abs(x), initial=0.0))
    return float(2.0 ** np.round(np.log2(m))) if m > 0 and np.isfinite(m) else 1.0


def _rescaled(
    constraints: MarginConstraints,
) -> tuple[MarginConstraints, tuple[float, float]]:
    """Rows with a/s_a, z/s_c (powers of two) and (s_a, s_c): W = W_s/(s_a s_c), λ likewise."""
    sa, sc = _pow2_scale(constraints.a), _pow2_scale(constraints.z)
    scaled = MarginConstraints(a=constraints.a / sa, z=constraints.z / sc,
                               pairs=constraints.pairs, rhs=constraints.rhs,
                               equality=constraints.equality)
    return scaled, (sa, sc)


def solve_nuclear_constraints(
    constraints: MarginConstraints,
    *,
    select: np.ndarray | None = None,
    rel_rank_tol: float = RANK_RTOL,
    support_rtol: float = SUPPORT_RTOL,
    infeasible_rtol: float = INFEASIBLE_RTOL,
    method: str = "auto",
) -> SVMSolution:
    """Att-SVM⋆ on explicit margin rows ⟨a_k z_kᵀ, W⟩ ≥ 1 (arXiv 2308.16898, Eq. Att-SVM⋆).

    ``method``: ``"auto"`` (interior point, then Clarabel if it does not certify), ``"ipm"`` or
    ``"clarabel"``. Raises InfeasibleSVM with a Farkas certificate verified by
    ``svm.certificates.verify_farkas`` (the same test and threshold as the Frobenius
    solver), and NuclearSolverError when no candidate certifies to a relative gap of 1e-7.
    Tokens and queries are first rescaled by powers of two (exact), so data of any magnitude
    that float64 can hold are handled; the returned W and λ are in the original units.
    """
    if method not in ("auto", "ipm", "clarabel"):
        raise ProblemError("method", f"expected auto, ipm or clarabel, got {method!r}")
    if constraints.K == 0:
        raise ProblemError("constraints", "Att-SVM⋆ needs at least one margin row")
    if np.any(constraints.equality) or not np.all(constraints.rhs == 1.0):
        raise ProblemError("constraints", "the Att-SVM⋆ solver handles margin rows >= 1 only")
    context = {"select": [] if select is None else np.asarray(select).tolist(), "norm": "nuc"}
    t0 = time.perf_counter()
    scaled, (sa, sc) = _rescaled(constraints)
    top = float(np.max(np.linalg.norm(scaled.a, axis=1) * np.linalg.norm(scaled.z, axis=1)))
    if top > 0:
        # every feasible W has ‖W‖₂ ≥ 1 / max_k ‖a_k‖‖z_k‖ (and the optimum is of that order
        # up to the conditioning): keep it inside what float64 can hold
        log_rows = float(np.log10(top) + np.log10(sa) + np.log10(sc))
        if abs(log_rows) > MAX_LOG10_NORM:
            raise ProblemError(
                "X",
                f"max_k ||a_k|| ||z_k|| = 1e{log_rows:.0f} (token differences times queries): "
                f"the Att-SVM⋆ solution norm would be out of float64 range; rescale the data",
            )
    factor = sa * sc
    try:
        name, W, lam, out, cert, smax, shape, tried = _solve_scaled(
            scaled, method, rel_rank_tol, infeasible_rtol, context
        )
    except InfeasibleSVM as exc:
        cert = dict(exc.certificate)
        cert["residual"] = float(cert["residual"]) * factor
        raise type(exc)(str(exc), cert) from None
    seconds = time.perf_counter() - t0
    W, lam = W / factor, lam / factor
    extra = {
        **nuclear_bounds(constraints, W, lam),
        "primal_scale": out["primal_scale"],
        "dual_scale": out["dual_scale"],
        "iterations": out["iterations"],
        "margin_correction": out["correction"],
        "reduced_shape": shape,
        "tried": tried,
    }
    return make_solution(
        constraints,
        W,
        lam,
        "nuc",
        np.asarray(select if select is not None else np.zeros(0, dtype=np.int64)),
        seconds,
        "reduced-sdp/" + ("hkm-ipm" if name == "ipm" else "clarabel"),
        support_rtol=support_rtol,
        rank_rtol=rel_rank_tol,
        extra=extra,
    )


def _solve_scaled(
    constraints: MarginConstraints,
    method: str,
    rel_rank_tol: float,
    infeasible_rtol: float,
    context: dict[str, Any],
) -> tuple[Any, ...]:
    """The solve proper on rescaled rows: (name, W, λ, info, certificate, smax, shape, tried)."""
    U, V = reduced_bases(constraints)
    # The reduction must be exact for every row, tiny rows included (a basis cut at a relative
    # singular value drops a row of relative size 1e-14 entirely): otherwise keep the identity.
    if _projection_loss(constraints.a, U) > 1e-12:
        U = np.eye(constraints.a.shape[1])
    if _projection_loss(constraints.z, V) > 1e-12:
        V = np.eye(constraints.z.shape[1])
    at = constraints.a @ U
    ct = constraints.z @ V
    # Row-normalize: ⟨â_k ĉ_kᵀ, M̂⟩ ≥ b̂_k with â, ĉ unit vectors, b_k = 1/(‖ã_k‖‖c_k‖) and
    # b̂ = b / max b; then M = max(b)·M̂ and λ_k = ŷ_k/(‖ã_k‖‖c_k‖) (rows of very different
    # sizes otherwise ruin the conditioning of the Schur complement).
    na = np.linalg.norm(at, axis=1)
    nc = np.linalg.norm(ct, axis=1)
    row_norms = na * nc
    smax = float(row_norms.max()) if row_norms.size else 0.0
    if smax == 0.0 or np.any(row_norms <= 1e-14 * smax):
        _require_feasible(constraints, infeasible_rtol, context)
    if not np.all(row_norms > 0):  # pragma: no cover - a zero row always has a certificate
        raise NuclearSolverError("Att-SVM⋆: a zero constraint row without a Farkas certificate")
    ah = at / na[:, None]
    ch = ct / nc[:, None]
    b = 1.0 / row_norms
    bmax = float(b.max())
    bh = b / bmax
    # Identical rows (repeated tokens) make the Schur complement singular: solve with one copy.
    _, first, inverse = np.unique(
        np.hstack([ah, ch, bh[:, None]]), axis=0, return_index=True, return_inverse=True
    )
    inverse = inverse.reshape(-1)
    candidates: list[tuple[str, np.ndarray, np.ndarray, dict[str, Any], Any]] = []

    def attempt(name: str) -> Any:
        solver = _hkm_ipm if name == "ipm" else _clarabel_reduced
        out = solver(ah[first], ch[first], bh[first])
        W = U @ (bmax * out["M"]) @ V.T
        counts = np.bincount(inverse, minlength=first.size)
        yk = out["lam"][inverse] / counts[inverse]  # a merged multiplier, split evenly
        lam = yk / row_norms  # Σ ŷ_k â_k ĉ_kᵀ = Σ (ŷ_k/‖A_k‖) A_k
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(lam))):
            return None
        W, out["correction"] = _restore_margins(constraints, W)
        W, lam, mu, g = _polished(constraints, W, lam)
        out["primal_scale"], out["dual_scale"] = mu, g
        cert = certify(constraints, W, lam, "nuc", rank_rtol=rel_rank_tol)
        candidates.append((name, W, lam, out, cert))
        return cert

    def certified(cert: Any, limit: float) -> bool:
        return cert is not None and cert.min_margin > 0 and cert.duality_gap <= limit

    order = {"auto": ["ipm", "clarabel"], "ipm": ["ipm"], "clarabel": ["clarabel"]}[method]
    feasibility_checked = False
    for name in order:
        cert = attempt(name)
        if certified(cert, GAP_ACCEPT):
            break
        if not feasibility_checked:  # a failed solve: is the program infeasible?
            feasibility_checked = True
            _require_feasible(constraints, infeasible_rtol, context)
    if not candidates:
        raise NuclearSolverError(f"Att-SVM⋆: no finite solution from {order}")
    name, W, lam, out, cert = min(candidates, key=lambda c: c[4].duality_gap)
    if not certified(cert, GAP_REFUSE):
        raise NuclearSolverError(
            f"Att-SVM⋆ not certified: best relative duality gap {cert.duality_gap:.3e} "
            f"(min margin {cert.min_margin:.3e}) after {[c[0] for c in candidates]}"
        )
    # Same working-precision feasibility rule as the Frobenius solver: ||W^mm||_F <= ||W||_*,
    # so only a huge nuclear solution needs the Farkas search to agree that it is feasible.
    if not feasibility_checked and cert.objective * smax * infeasible_rtol >= 1.0:
        _require_feasible(constraints, infeasible_rtol, context)
    shape = (int(U.shape[1]), int(V.shape[1]))
    return name, W, lam, out, cert, smax, shape, [c[0] for c in candidates]


def solve_nuclear_svm(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    rel_rank_tol: float = RANK_RTOL,
    prove: bool = True,
) -> SVMSolution:
    """W^mm_⋆,α = argmin ‖W‖_⋆ s.t. (x_{iα_i} − x_it)ᵀ W z_i ≥ 1 (arXiv 2308.16898, Att-SVM⋆).

    ``select``: n token indices, ``"i0,i1,..."`` or ``"opt"`` (argmax γ_it; ties are refused with
    ProblemError, see attnsvm.reference.svm.token_optimality). The result is certified by
    svm.certificates (relative duality gap ≤ 1e-8 normally, 1e-7 at worst; min margin 1 up
    to round-off); rank with the relative threshold ``rel_rank_tol``; ``extra`` holds the dual
    bracket, σ(G), the dual rank bound and the row-space residual. Raises InfeasibleSVM
    (proved in exact arithmetic) or InfeasibleAtWorkingPrecision, as ``solve_att_svm`` does
    (``prove=False`` skips the exact check).
    """
    problem = as_problem(problem)
    alpha = resolve_selection(problem, select)
    rel_rank_tol = as_float("rel_rank_tol", rel_rank_tol, positive=True)
    try:
        return solve_nuclear_constraints(
            margin_constraints(problem, alpha), select=alpha, rel_rank_tol=rel_rank_tol
        )
    except InfeasibleSVM as exc:
        if not prove:
            raise
        raise classify_infeasible(problem.X, problem.Z, alpha, exc) from None


# ----------------------------------------------------------------------------- cvxpy references
def _cvxpy_model(constraints: MarginConstraints, d: int) -> tuple[Any, Any, Any]:
    import cvxpy as cp

    W = cp.Variable((d, d))
    vals = cp.sum(cp.multiply(constraints.a @ W, constraints.z), axis=1)
    con = vals >= 1
    prob = cp.Problem(cp.Minimize(cp.normNuc(W)), [con])
    return prob, W, con


def solve_nuclear_svm_cvxpy(
    problem: AttentionProblem,
    select: str | Sequence[int] | np.ndarray = "opt",
    *,
    rel_rank_tol: float = RANK_RTOL,
    tol: float = 1e-10,
) -> SVMSolution:
    """Att-SVM⋆ through cvxpy with ``solver=cp.CLARABEL`` at tight tolerances (the reference).

    The raw cvxpy value is kept in ``extra["raw_objective"]`` and the unpolished min margin in
    ``extra["primal_scale"]``; W and λ are then polished (W/μ, λ/‖G‖₂) and certified exactly like
    ``solve_nuclear_svm``; the solver status is not trusted. Raises InfeasibleSVM (Farkas).
    """
    import cvxpy as cp

    problem = as_problem(problem)
    alpha = resolve_selection(problem, select)
    mc = margin_constraints(problem, alpha)
    try:
        _require_feasible(mc, INFEASIBLE_RTOL, {"select": alpha.tolist(), "norm": "nuc"})
    except InfeasibleSVM as exc:
        raise classify_infeasible(problem.X, problem.Z, alpha, exc) from None
    t0 = time.perf_counter()
    prob, W, con = _cvxpy_model(mc, problem.d)
    try:
        prob.solve(
            solver=cp.CLARABEL, tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500
        )
    except cp.error.SolverError as exc:
        raise NuclearSolverError(f"cvxpy+Clarabel failed: {exc}") from None
    seconds = time.perf_counter() - t0
    if W.value is None or con.dual_value is None:
        raise NuclearSolverError(f"cvxpy+Clarabel returned no solution ({prob.status})")
    lam0 = np.clip(np.asarray(con.dual_value, dtype=np.float64), 0.0, None)
    Wv, lam, mu, g = _polished(mc, np.asarray(W.value, dtype=np.float64), lam0)
    return make_solution(
        mc,
        Wv,
        lam,
        "nuc",
        alpha,
        seconds,
        "cvxpy/CLARABEL",
        rank_rtol=rel_rank_tol,
        extra={
            **nuclear_bounds(mc, Wv, lam),
            "raw_objective": float(prob.value),
            "solver_status": str(prob.status),
            "solve_time": float(prob.solver_stats.solve_time or 0.0),
            "primal_scale": mu,
            "dual_scale": g,
        },
    )


def rank_default_cvxpy(
    problem: AttentionProblem, select: str | Sequence[int] | np.ndarray
) -> dict[str, Any]:
    """What the official ``svm_rank.ipynb`` protocol reports: ``cp.normNuc`` solved with cvxpy's
    DEFAULT solver, then ``matrix_rank(W, tol=1e-7)``, an ABSOLUTE threshold (the protocol
    behind the rank figure of arXiv 2308.16898).

    For reproducing the paper's figure only; the suite must not base verdicts on it. Returns the
    solver used, the raw singular values, ``rank_abs_1e-7`` and, for comparison, the relative
    rank ``rank_rel_1e-6`` of the same W.
    """
    alpha = resolve_selection(problem, select)
    mc = margin_constraints(problem, alpha)
    prob, W, _ = _cvxpy_model(mc, problem.d)
    prob.solve()
    out: dict[str, Any] = {"status": str(prob.status), "solver": prob.solver_stats.solver_name}
    if W.value is None:
        return {**out, "rank_abs_1e-7": None, "rank_rel_1e-6": None,
                "singular_values": np.zeros(0)}
    Wv = np.asarray(W.value, dtype=np.float64)
    sv = np.linalg.svd(Wv, compute_uv=False)
    return {
        **out,
        "objective": float(prob.value),
        "singular_values": sv,
        "rank_abs_1e-7": int(np.sum(sv > 1e-7)),
        "rank_rel_1e-6": int(np.sum(sv > 1e-6 * sv[0])) if sv[0] > 0 else 0,
        "min_margin": float(mc.values(Wv).min()),
    }
