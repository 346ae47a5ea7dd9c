"""Exact (rational) verification of Farkas certificates: proved infeasibility versus
infeasibility at working precision.

A floating-point Farkas certificate (``svm.certificates.verify_farkas``) shows that
Σ_k λ_k a_k z_kᵀ vanishes to a relative precision of 1e-9: every feasible W would need
||W||_F >= λᵀ1 / ||Σ λ_k A_k||, logits ~1e9 times the data's scale. That is "infeasible at
working precision", not a proof: a token duplicated up to δ = 1e-10 gives such a certificate for
a program that is feasible with ||W^mm|| ~ 1e10. A proof needs Σ μ_k A_k = 0 exactly for some
μ >= 0 with μᵀ1 > 0 (Gordan's alternative, TF-SVM arXiv 2308.16898 Sec. 2 feasibility remark).

Every float64 is a dyadic rational, so the constraint matrices of a problem are exact rationals:
A_k = (x_{iα_i} − x_it) z_iᵀ, the difference taken exactly (not rounded as in float64).
``prove_infeasible`` looks, on the certificate's support, for (1) a row that is exactly zero,
(2) the float weights themselves cancelling exactly, (3) a nonnegative vector of the exact
null space of the support's matrices (Gaussian elimination over the rationals, within a work
budget). ``classify_infeasible`` turns an ``InfeasibleSVM`` into the proved kind (the class
itself, ``certificate["proved"] = True``) or an ``InfeasibleAtWorkingPrecision`` with the
measured conditioning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np

from attnsvm.reference.errors import InfeasibleAtWorkingPrecision, InfeasibleSVM

#: Work budget of the exact null-space search: (entries of d x d_z) x support size x rank
#: Fraction operations at most (~0.1 s); larger supports are not attempted (the certificate is
#: then reported as "infeasible at working precision", never as proved).
EXACT_WORK_LIMIT = 40_000
#: Largest support for which exact weights are written into the certificate (as "p/q" strings).
EXACT_LAMBDA_MAX = 64


def _exact_rows(
    X: np.ndarray, Z: np.ndarray, alpha: np.ndarray, pairs: Sequence[Sequence[int]]
) -> list[tuple[list[Fraction], list[Fraction]]]:
    rows = []
    for i, t in pairs:
        i, t = int(i), int(t)
        a = [Fraction(float(p)) - Fraction(float(q)) for p, q in zip(X[i, alpha[i]], X[i, t],
                                                                       strict=True)]
        z = [Fraction(float(q)) for q in Z[i]]
        rows.append((a, z))
    return rows


def _combination(rows: list, mu: Sequence[Fraction]) -> list[Fraction]:
    d, dz = len(rows[0][0]), len(rows[0][1])
    out = [Fraction(0)] * (d * dz)
    for (a, z), m in zip(rows, mu, strict=True):
        if m == 0:
            continue
        for r in range(d):
            if a[r] == 0:
                continue
            ar = m * a[r]
            base = r * dz
            for c in range(dz):
                if z[c] != 0:
                    out[base + c] += ar * z[c]
    return out


def _nullspace(cols: list[list[Fraction]]) -> list[list[Fraction]]:
    """Basis of {μ : Σ_k μ_k cols[k] = 0} by Gaussian elimination over the rationals."""
    s = len(cols)
    m = len(cols[0]) if s else 0
    # matrix M (m x s), M[r][k] = cols[k][r]; keep only nonzero rows
    M = [[cols[k][r] for k in range(s)] for r in range(m)]
    M = [row for row in M if any(x != 0 for x in row)]
    pivots: list[int] = []
    rank = 0
    for c in range(s):
        piv = next((r for r in range(rank, len(M)) if M[r][c] != 0), None)
        if piv is None:
            continue
        M[rank], M[piv] = M[piv], M[rank]
        inv = 1 / M[rank][c]
        M[rank] = [x * inv for x in M[rank]]
        for r in range(len(M)):
            if r != rank and M[r][c] != 0:
                f = M[r][c]
                M[r] = [x - f * y for x, y in zip(M[r], M[rank], strict=True)]
        pivots.append(c)
        rank += 1
        if rank == len(M):
            break
    free = [c for c in range(s) if c not in pivots]
    basis = []
    for f in free:
        v = [Fraction(0)] * s
        v[f] = Fraction(1)
        for r, c in enumerate(pivots):
            v[c] = -M[r][f]
        basis.append(v)
    return basis


def _nonnegative_in_span(
    basis: list[list[Fraction]], lam: Sequence[float]
) -> list[Fraction] | None:
    """A vector μ >= 0, μ != 0 in span(basis): a basis vector of constant sign, or the exact
    projection of the float weights onto the span when it is nonnegative."""
    for v in basis:
        if all(x >= 0 for x in v) and any(x > 0 for x in v):
            return v
        if all(x <= 0 for x in v) and any(x < 0 for x in v):
            return [-x for x in v]
    if len(basis) < 2:
        return None
    # exact least squares: μ = B (BᵀB)⁻¹ Bᵀ λ
    q = len(basis)
    lamf = [Fraction(float(x)) for x in lam]
    G = [[sum(bi * bj for bi, bj in zip(basis[i], basis[j], strict=True)) for j in range(q)]
         for i in range(q)]
    rhs = [sum(b * x for b, x in zip(basis[i], lamf, strict=True)) for i in range(q)]
    coef = _solve(G, rhs)
    if coef is None:
        return None
    mu = [sum(coef[j] * basis[j][k] for j in range(q)) for k in range(len(lamf))]
    if all(x >= 0 for x in mu) and any(x > 0 for x in mu):
        return mu
    return None


def _solve(A: list[list[Fraction]], b: list[Fraction]) -> list[Fraction] | None:
    n = len(A)
    M = [row[:] + [b[i]] for i, row in enumerate(A)]
    for c in range(n):
        piv = next((r for r in range(c, n) if M[r][c] != 0), None)
        if piv is None:
            return None
        M[c], M[piv] = M[piv], M[c]
        inv = 1 / M[c][c]
        M[c] = [x * inv for x in M[c]]
        for r in range(n):
            if r != c and M[r][c] != 0:
                f = M[r][c]
                M[r] = [x - f * y for x, y in zip(M[r], M[c], strict=True)]
    return [M[r][n] for r in range(n)]


def prove_infeasible(
    X: np.ndarray,
    Z: np.ndarray,
    alpha: np.ndarray,
    pairs: Sequence[Sequence[int]],
    lam: Sequence[float],
) -> dict[str, Any] | None:
    """An exact Gordan certificate on the support ``pairs`` of a float certificate ``lam``, or
    None when none is found within ``EXACT_WORK_LIMIT``.

    Returns {"method", "exact_lambda" (Fractions, one per pair), "exact_residual" (0)}; the
    margin rows are (x_{iα_i} − x_it)ᵀ W z_i >= 1 with exact differences.
    """
    X = np.asarray(X, dtype=np.float64)
    Z = np.asarray(Z, dtype=np.float64)
    alpha = np.asarray(alpha, dtype=np.int64)
    pairs = [(int(i), int(t)) for i, t in pairs]
    lam = [float(x) for x in lam]
    if not pairs or len(pairs) != len(lam):
        return None
    d, dz = X.shape[-1], Z.shape[-1]
    # (1) an exactly zero row demands <0, W> >= 1: exact in float64 already (x - y == 0 iff x == y)
    for k, (i, t) in enumerate(pairs):
        if np.array_equal(X[i, alpha[i]], X[i, t]) or not np.any(Z[i]):
            mu = [Fraction(0)] * len(pairs)
            mu[k] = Fraction(1)
            return {"method": "exact zero row", "exact_lambda": mu}
    if len(pairs) * d * dz > EXACT_WORK_LIMIT:
        return None
    rows = _exact_rows(X, Z, alpha, pairs)
    # (2) the float weights cancel exactly
    mu = [Fraction(x) for x in lam]
    if all(x >= 0 for x in mu) and any(x > 0 for x in mu):
        if not any(_combination(rows, mu)):
            return {"method": "exact combination", "exact_lambda": mu}
    # (3) the exact null space of the support's matrices
    s = len(pairs)
    if d * dz * s * min(d * dz, s) > EXACT_WORK_LIMIT:
        return None
    cols = []
    for a, z in rows:
        cols.append([ar * zc for ar in a for zc in z])
    basis = _nullspace(cols)
    if not basis:
        return None
    mu = _nonnegative_in_span(basis, lam)
    if mu is None or any(_combination(rows, mu)):
        return None
    return {"method": "exact null space", "exact_lambda": mu}


def _fraction_text(mu: Sequence[Fraction]) -> list[str] | None:
    total = sum(mu)
    if total <= 0 or len(mu) > EXACT_LAMBDA_MAX:
        return None
    out = [str(x / total) for x in mu]
    return out if sum(len(x) for x in out) <= 20_000 else None


def classify_infeasible(
    X: np.ndarray, Z: np.ndarray, alpha: np.ndarray, exc: InfeasibleSVM
) -> InfeasibleSVM:
    """The proved ``InfeasibleSVM`` (``certificate["proved"] = True``, the exact weights under
    ``exact_lambda``) or an ``InfeasibleAtWorkingPrecision`` whose certificate adds
    ``conditioning`` (1 / relative residual: the logit scale a feasible W would need, in units
    of the data) and ``norm_lower_bound`` (every feasible W has ||W||_F at least this, in the
    user's units; None when not measurable). An already classified error is returned as is."""
    cert = dict(exc.certificate)
    if "proved" in cert:
        return exc
    lam = np.asarray(cert.get("lambda", []), dtype=np.float64)
    pairs = cert.get("pairs", [])
    proof = None
    try:
        proof = prove_infeasible(X, Z, alpha, pairs, lam)
    except (ValueError, IndexError, ZeroDivisionError, OverflowError):  # pragma: no cover
        proof = None
    if proof is not None:
        cert["proved"] = True
        cert["proof"] = proof["method"]
        text = _fraction_text(proof["exact_lambda"])
        if text is not None:
            cert["exact_lambda"] = text
        return InfeasibleSVM(str(exc), cert)
    rel = cert.get("relative_residual")
    residual = cert.get("residual")
    weight = cert.get("rhs_weight")
    conditioning = 1.0 / rel if isinstance(rel, float) and rel > 0 and math.isfinite(rel) else None
    lower = (weight / residual if isinstance(residual, float) and residual > 0
             and isinstance(weight, float) and math.isfinite(weight / residual) else None)
    cert.update(proved=False, conditioning=conditioning, norm_lower_bound=lower)
    what = "Att-SVM⋆" if "Att-SVM⋆" in str(exc) else "Att-SVM"
    msg = f"{what} is infeasible at working precision (not proved)"
    if isinstance(rel, float):
        msg += (": a convex combination of the constraint matrices vanishes to relative "
                f"precision {rel:.2e}")
    if conditioning is not None:
        msg += f"; a feasible W would need logits ~{conditioning:.2e} x the data scale"
    if lower is not None:
        msg += f" (||W||_F >= {lower:.3e})"
    return InfeasibleAtWorkingPrecision(msg, cert)
