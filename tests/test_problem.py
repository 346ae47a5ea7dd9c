"""AttentionProblem: validation, immutability, .npz round trip; instance families."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import given

from attnsvm.properties.strategies import dims, problem_specs, raw_problems
from attnsvm.reference.attention.families import (
    equal_scores_family,
    make_problem,
    near_tie_family,
    paper_family,
)
from attnsvm.reference.attention.problem import AttentionProblem
from attnsvm.reference.errors import ProblemError


def _valid(n: int = 2, T: int = 3, d: int = 4) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "X": rng.standard_normal((n, T, d)),
        "Y": np.array([1.0, -1.0][:n] * n)[:n],
        "v": rng.standard_normal(d),
        "Z": rng.standard_normal((n, d)),
    }


@given(raw_problems())
def test_npz_round_trip_is_exact(tmp_path_factory, problem: AttentionProblem) -> None:
    path = problem.save(tmp_path_factory.mktemp("rt") / "p.npz")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = AttentionProblem.load(path)
    assert loaded == problem
    for key in ("X", "Y", "v", "Z"):
        assert getattr(loaded, key).dtype == np.float64
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest  # never modified


def test_inputs_are_copied_and_frozen() -> None:
    arrays = _valid()
    before = {k: v.copy() for k, v in arrays.items()}
    problem = AttentionProblem(**arrays)
    arrays["X"][0, 0, 0] = 99.0  # the caller's later edits do not reach the problem
    assert problem.X[0, 0, 0] == before["X"][0, 0, 0]
    with pytest.raises(ValueError):
        problem.X[0, 0, 0] = 1.0
    for k in ("Y", "v", "Z"):
        np.testing.assert_array_equal(arrays[k], before[k])


@pytest.mark.parametrize(
    ("field", "mutate"),
    [
        (
            "X",
            lambda a: a.update(
                X=np.where(np.arange(a["X"].size).reshape(a["X"].shape) == 3, np.nan, a["X"])
            ),
        ),
        ("Z", lambda a: a.update(Z=a["Z"] * np.inf)),
        ("v", lambda a: a.update(v=np.array([np.nan] * a["v"].size))),
        ("Y", lambda a: a.update(Y=np.array([1.0, 0.5]))),
        ("Y", lambda a: a.update(Y=np.array([1.0, -1.0, 1.0]))),
        ("X", lambda a: a.update(X=a["X"][:, :1, :])),
        ("X", lambda a: a.update(X=a["X"][0])),
        ("v", lambda a: a.update(v=a["v"][:-1])),
        ("Z", lambda a: a.update(Z=a["Z"][:, :-1])),
        ("X", lambda a: a.update(X="not an array")),
    ],
)
def test_bad_input_names_the_field(field: str, mutate) -> None:
    arrays = _valid()
    mutate(arrays)
    with pytest.raises(ProblemError) as info:
        AttentionProblem(**arrays)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}:")


def test_load_errors(tmp_path) -> None:
    with pytest.raises(ProblemError, match="no such file"):
        AttentionProblem.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"definitely not a zip archive")
    with pytest.raises(ProblemError, match="not a readable"):
        AttentionProblem.load(bad)
    partial = tmp_path / "partial.npz"
    a = _valid()
    np.savez(partial, X=a["X"], Y=a["Y"])
    with pytest.raises(ProblemError, match="lacks key"):
        AttentionProblem.load(partial)


def test_self_attention_takes_the_query_from_a_token() -> None:
    a = _valid()
    p = AttentionProblem.self_attention(a["X"], a["Y"], a["v"], index=2)
    np.testing.assert_array_equal(p.Z, a["X"][:, 2])
    with pytest.raises(ProblemError) as info:
        AttentionProblem.self_attention(a["X"], a["Y"], a["v"], index=7)
    assert info.value.field == "index"


@given(problem_specs("paper", dims()))
def test_families_are_deterministic(spec) -> None:
    assert spec.build() == spec.build()


@given(problem_specs("paper", dims()))
def test_paper_family_is_unit_norm_with_pm1_labels(spec) -> None:
    p = spec.build()
    np.testing.assert_allclose(np.linalg.norm(p.X, axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(p.Z, axis=-1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(np.linalg.norm(p.v), 1.0, rtol=1e-14)
    assert set(np.unique(p.Y)) <= {-1.0, 1.0}


@given(problem_specs("equal-scores", dims(d=(1, 8))))
def test_equal_scores_family_has_equal_non_optimal_scores(spec) -> None:
    gamma = spec.build().scores
    top = gamma.max(axis=1, keepdims=True)
    others = np.where(np.isclose(gamma, top, rtol=0, atol=1e-12), np.nan, gamma)
    np.testing.assert_allclose(np.nanmax(others, axis=1), np.nanmin(others, axis=1), atol=1e-12)
    assert np.all((np.isclose(gamma, top, atol=1e-12)).sum(axis=1) == 1)  # unique optimum


@given(problem_specs("near-tie", dims(), gap=1e-4))
def test_near_tie_family_has_the_requested_gap(spec) -> None:
    g = np.sort(spec.build().scores, axis=1)
    np.testing.assert_allclose(g[:, -1] - g[:, -2], 1e-4, atol=1e-12)


def test_family_argument_errors() -> None:
    with pytest.raises(ProblemError) as info:
        make_problem("nope", 2, 3, 4, 0)
    assert info.value.field == "family"
    with pytest.raises(ProblemError):
        near_tie_family(2, 3, 4, 0, gap=-1.0)
    with pytest.raises(ProblemError):
        equal_scores_family(2, 3, 4, 0, opt_score=0.2, other_score=0.3)
    with pytest.raises(ProblemError) as info:
        paper_family(2, 1, 4, 0)
    assert info.value.field == "T"
