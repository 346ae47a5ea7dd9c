"""The derivation record and the small proof tools every derivation uses.

A ``Derivation`` (what a claim's ``statement`` refers to) is a named object that

* builds its statement as sympy objects (``statement()``; ``latex()`` renders it),
* verifies itself (``verify()``): every check is an identity reduced to zero, an inequality
  reduced to a rational function whose numerator and denominator are polynomials with
  coefficients of one sign in variables that are nonnegative by construction, or an exact
  computation on a symbolic / rational instance of small size (T <= 4, d <= 3, n <= 2);
* exports numeric predicates (``predicates``): float64 numpy functions, built with
  ``sympy.lambdify`` from the very expressions the checks verify wherever the statement is a
  formula, so that the numeric layer (reference/) can be compared with the symbolic one.

This package never imports reference/: the two layers check each other.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.printing.pretty.stringpict import prettyForm

# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class CheckResult:
    """One verified step: ``holds`` and a one-line description of what was reduced to what."""

    name: str
    holds: bool
    detail: str
    seconds: float = 0.0


@dataclass(frozen=True)
class VerificationResult:
    """The outcome of ``Derivation.verify()``: holds iff every check holds."""

    name: str
    holds: bool
    details: str
    checks: tuple[CheckResult, ...] = ()
    seconds: float = 0.0


Check = tuple[str, Callable[[], tuple[bool, str]]]


@dataclass(frozen=True)
class Derivation:
    """A named derivation: statement, LaTeX, symbolic verification and numeric predicates.

    Attributes:
        name: stable id used by ``attnsvm derive NAME``.
        title: one line.
        source: paper (arXiv id) and theorem / equation; "attnsvm derivation" marks our own.
        summary: a short paragraph a reader can follow (the argument, in words).
        build_statement: returns ``[(label, sympy object), ...]``.
        checks: ``[(check name, fn)]`` where ``fn() -> (holds, detail)``.
        predicates: name -> numeric function (documented in the module docstring).
    """

    name: str
    title: str
    source: str
    summary: str
    build_statement: Callable[[], Sequence[tuple[str, sp.Basic]]]
    checks: tuple[Check, ...]
    predicates: Mapping[str, Callable[..., Any]] = field(default_factory=dict)

    def labelled_statement(self) -> list[tuple[str, sp.Basic]]:
        """The statement as (label, sympy object) pairs."""
        return list(self.build_statement())

    def statement(self) -> list[sp.Basic]:
        """The statement as a list of sympy objects (equations, inequalities, expressions)."""
        return [expr for _, expr in self.labelled_statement()]

    def latex(self) -> str:
        """The statement in LaTeX, one ``\\text{label}: formula`` line per item."""
        lines = []
        for label, expr in self.labelled_statement():
            lines.append(f"\\text{{{label}}}:\\quad {sp.latex(expr)}")
        return "\n".join(lines)

    def verify(self) -> VerificationResult:
        """Run every check; an exception inside a check counts as a failed check (with its text)."""
        start = time.perf_counter()
        results: list[CheckResult] = []
        for check_name, fn in self.checks:
            t0 = time.perf_counter()
            try:
                holds, detail = fn()
            except Exception as exc:  # a crashing proof is a failed proof, reported as such
                holds, detail = False, f"error: {type(exc).__name__}: {exc}"
            results.append(
                CheckResult(check_name, bool(holds), detail, time.perf_counter() - t0)
            )
        seconds = time.perf_counter() - start
        failed = [r.name for r in results if not r.holds]
        details = (
            f"{len(results)} checks hold"
            if not failed
            else f"{len(failed)}/{len(results)} checks fail: {', '.join(failed)}"
        )
        return VerificationResult(
            self.name, not failed and bool(results), details, tuple(results), seconds
        )


# --------------------------------------------------------------------------- display helpers


_TEX: dict[str, str] = {}


class Tex(sp.Symbol):
    """A display-only scalar symbol: plain-text name for ``pretty``/``str``, verbatim LaTeX.

    ``Tex(latex, plain)``; ``plain`` defaults to ``latex``.
    """

    def __new__(cls, latex: str, plain: str | None = None) -> Tex:
        name = plain if plain is not None else latex
        _TEX[name] = latex
        return super().__new__(cls, name)

    def __getnewargs_ex__(self) -> tuple[tuple[str, str], dict[str, Any]]:
        return (_TEX.get(self.name, self.name), self.name), {}

    def _latex(self, printer: Any) -> str:
        return _TEX.get(self.name, self.name)

    def _pretty(self, printer: Any) -> Any:
        return prettyForm(self.name)

    def _sympystr(self, printer: Any) -> str:
        return self.name


class TexMatrix(sp.MatrixSymbol):
    """A display-only matrix symbol: ``TexMatrix(plain, rows, cols, latex=...)``."""

    def __new__(cls, name: Any, rows: Any, cols: Any, latex: str | None = None) -> TexMatrix:
        plain = str(name)
        if latex is not None:
            _TEX[plain] = latex
        return super().__new__(cls, plain, rows, cols)

    def _latex(self, printer: Any) -> str:
        return _TEX.get(self.name, self.name)

    def _pretty(self, printer: Any) -> Any:
        return prettyForm(self.name)

    def _sympystr(self, printer: Any) -> str:
        return self.name


class _Display(sp.Function):
    """Base of display-only functions: a subclass sets the templates ``tex`` and ``text``
    (``{0}``, ``{1}`` stand for the printed arguments); powers are handled here."""

    tex = ""
    text = ""

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        body = self.tex.format(*(printer._print(x) for x in self.args))
        return body if exp is None else f"{body}^{{{exp}}}"

    def _sympystr(self, printer: Any) -> str:
        return self.text.format(*(printer._print(x) for x in self.args))

    def _pretty(self, printer: Any) -> Any:
        return prettyForm(sp.sstr(self))


def _display(name: str, doc: str, tex: str, text: str) -> type[_Display]:
    return type(name, (_Display,), {"__doc__": f"{doc} (display only).", "tex": tex,
                                    "text": text})


Inner = _display("Inner", "Frobenius inner product <A, B>",
                 r"\left\langle {0}, {1} \right\rangle", "<{0}, {1}>")
FrobNorm = _display("FrobNorm", "||A||_F", r"\left\| {0} \right\|_F", "||{0}||_F")
Norm = _display("Norm", "||a||", r"\left\| {0} \right\|", "||{0}||")
NucNorm = _display("NucNorm", "||A||_*", r"\left\| {0} \right\|_\star", "||{0}||_*")
Softmax = _display("Softmax", "softmax(u)", r"\operatorname{{softmax}}\left({0}\right)",
                   "softmax({0})")
Rank = _display("Rank", "rank(A)", r"\operatorname{{rank}}\left({0}\right)", "rank({0})")


def plain(expr: sp.Basic) -> str:
    """One-line plain-text form of a statement item (for terminals)."""
    if isinstance(expr, sp.Equality):
        return f"{sp.sstr(expr.lhs)} = {sp.sstr(expr.rhs)}"
    return sp.sstr(expr)


def eq(lhs: Any, rhs: Any) -> sp.Eq:
    """An unevaluated equation (statements are displayed, never evaluated)."""
    return sp.Eq(lhs, rhs, evaluate=False)


# --------------------------------------------------------------------------- proof tools


def symbol_matrix(prefix: str, rows: int, cols: int, **assumptions: Any) -> sp.Matrix:
    """A rows x cols matrix of fresh real symbols ``prefix_i_j``."""
    assumptions.setdefault("real", True)
    return sp.Matrix(
        rows, cols, lambda i, j: sp.Symbol(f"{prefix}_{i}{j}", **assumptions)
    )


def symbol_vector(prefix: str, size: int, **assumptions: Any) -> sp.Matrix:
    """A size x 1 column of fresh real symbols ``prefix_i``."""
    assumptions.setdefault("real", True)
    return sp.Matrix(size, 1, lambda i, _: sp.Symbol(f"{prefix}_{i}", **assumptions))


class NatExp(sp.Function):
    """exp as an opaque function with NatExp' = NatExp.

    Proofs built on it use only the defining property exp' = exp; unlike ``sp.exp`` its products
    never merge (exp(a) exp(b) -> exp(a + b)), so the algebra stays rational in the atoms.
    """

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        return self

    def _latex(self, printer: Any, exp: str | None = None) -> str:
        body = rf"e^{{{printer._print(self.args[0])}}}"
        return body if exp is None else rf"\left({body}\right)^{{{exp}}}"


def atomize(expr: sp.Expr) -> sp.Expr:
    """Replace every applied function (NatExp(u), l'(u), ...) by a fresh symbol, outermost first.

    A rational identity in the fresh symbols holds for every value of them, hence for the
    functions they stand for; it only makes the zero test cheaper (no large arguments).
    """
    expr = sp.sympify(expr)
    for _ in range(8):  # nested applications (l'(Y f(NatExp(..)))) unwrap level by level
        apps = [a for a in expr.atoms(sp.Function) if isinstance(a, (NatExp, AppliedUndef))
                or getattr(a.func, "_attnsvm_atom", False)]
        if not apps:
            break
        mapping = {a: sp.Dummy("atom") for a in apps}
        expr = expr.xreplace(mapping)
    return expr


def is_identically_zero(expr: sp.Expr | sp.MatrixBase) -> bool:
    """True iff the rational function ``expr`` (or every entry of a matrix) is identically 0.

    Proof method: replace function applications by independent atoms (``atomize``), bring to one
    fraction and expand the numerator; zero numerator <=> identity.
    """
    if isinstance(expr, sp.MatrixBase):
        return all(is_identically_zero(e) for e in expr)
    num, _ = sp.fraction(sp.together(atomize(expr)))
    return sp.expand(num) == 0


def zero_check(expr: sp.Expr | sp.MatrixBase, what: str) -> tuple[bool, str]:
    """``(is_identically_zero(expr), message)`` with a readable message."""
    ok = is_identically_zero(expr)
    return ok, (f"{what}: difference reduces to 0" if ok else f"{what}: difference is NOT 0")


def same_sign_polynomial(expr: sp.Expr, gens: Sequence[sp.Symbol]) -> int:
    """Sign certificate of a polynomial in variables that are nonnegative by construction.

    Returns +1 if every coefficient (in ``gens``) is a number >= 0 and one is > 0, -1 for the
    mirror case, 0 if neither (no certificate). A polynomial with nonnegative coefficients is
    >= 0 on the nonnegative orthant and > 0 on the open orthant when it is not the zero poly.
    """
    poly = sp.Poly(sp.expand(expr), *gens)
    coeffs = poly.coeffs()
    if not coeffs or not all(c.is_number for c in coeffs):
        return 0
    if all(c >= 0 for c in coeffs) and any(c > 0 for c in coeffs):
        return 1
    if all(c <= 0 for c in coeffs) and any(c < 0 for c in coeffs):
        return -1
    return 0


def nonnegative_check(
    expr: sp.Expr, nonneg: Iterable[sp.Symbol], what: str, strict: bool = False
) -> tuple[bool, str]:
    """Certify ``expr >= 0`` (``> 0`` with strict) where every symbol in ``nonneg`` is >= 0 (> 0).

    ``expr`` must be a rational function of those symbols only. The certificate: after
    ``together``, numerator and denominator each have coefficients of one sign, and the signs
    agree. Strict positivity additionally needs the variables strictly positive (callers say so in
    ``what``); then a nonzero polynomial with nonnegative coefficients is > 0.
    """
    gens = list(nonneg)
    num, den = sp.fraction(sp.together(sp.sympify(expr)))
    free = (num.free_symbols | den.free_symbols) - set(gens)
    if free:
        return False, f"{what}: not a rational function of the certified variables ({free})"
    if not strict and sp.expand(num) == 0:
        return True, f"{what}: identically 0 (>= 0)"
    sn, sd = same_sign_polynomial(num, gens), same_sign_polynomial(den, gens)
    ok = sn != 0 and sd != 0 and sn == sd
    if ok:
        kind = "> 0" if strict else ">= 0"
        return True, f"{what}: {kind} (numerator and denominator have coefficients of one sign)"
    return False, f"{what}: no sign certificate (numerator sign {sn}, denominator sign {sd})"


def all_checks(results: Iterable[tuple[bool, str]]) -> tuple[bool, str]:
    """Combine several ``(holds, detail)`` pairs into one."""
    items = list(results)
    return all(ok for ok, _ in items), "; ".join(msg for _, msg in items)


def frob_inner(A: sp.MatrixBase, B: sp.MatrixBase) -> sp.Expr:
    """<A, B>_F = tr(A^T B) for explicit matrices."""
    return sum((a * b for a, b in zip(A, B, strict=True)), sp.Integer(0))


def frob_sq(A: sp.MatrixBase) -> sp.Expr:
    """||A||_F^2 for an explicit matrix."""
    return frob_inner(A, A)
