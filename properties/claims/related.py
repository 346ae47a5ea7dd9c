"""Claims of the related equivalences (issue: related equivalences; catalog claims-related.md):
linear attention as fast weight programmers (Schlag, Irie, Schmidhuber, arXiv 2102.11174v3),
random-feature softmax attention (Choromanski et al., arXiv 2009.14794), the separable
logistic-regression implicit bias (Soudry et al., arXiv 1710.10345), and policy gradient vs
sequence-discriminative training. Each record wraps one check of ``properties.related_checks``
(one reference computation each); hypothesis draws its seed and free parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import strategies as st

from attnsvm.properties.registry import Claim
from attnsvm.properties.related_checks import ALL_CHECKS
from attnsvm.properties.verdicts import Evidence, Expected

_seeds = st.integers(0, 2**31 - 1)
FWP = "Schlag, Irie, Schmidhuber, Linear Transformers Are Secretly Fast Weight Programmers, " \
      "arXiv 2102.11174v3"
PERF = "Choromanski et al., Rethinking Attention with Performers, arXiv 2009.14794"
SOUDRY = "Soudry et al., The Implicit Bias of Gradient Descent on Separable Data, arXiv 1710.10345"
PG = "policy gradient vs sequence-discriminative training (HN 37367951 comment; MBR/sMBR, MMI)"


def wrap(name: str) -> Callable[[Mapping[str, Any]], Evidence]:
    """Turn related_checks.check_<name>(seed, **params) into a claim check on a spec dict."""
    fn = ALL_CHECKS[name]

    def check(spec: Mapping[str, Any]) -> Evidence:
        params = {k: v for k, v in spec.items() if k != "seed"}
        out = fn(spec["seed"], **params)
        details = {k: v for k, v in out.items()
                   if k not in ("gap", "threshold", "holds", "expected", "verdict", "in_scope")}
        if not out.get("in_scope", True):
            return Evidence("out_of_scope", float(out["gap"]), float(out["threshold"]),
                            details=details, note="premises not met")
        return Evidence("ok" if out["holds"] else "counterexample", float(out["gap"]),
                        float(out["threshold"]), details=details)

    check.__doc__ = fn.__doc__
    check.__name__ = f"check_{name}"
    return check


def spec(**fields: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.fixed_dictionaries({"seed": _seeds, **fields})


def claim(cid: str, name: str, source: str, statement: str, conditions: str,
          instances: st.SearchStrategy[dict], expected: Expected, ci: int = 6,
          **kw: Any) -> Claim:
    return Claim(id=cid, source=source, statement=statement, conditions=conditions,
                 instances=instances, check=wrap(name), expected=expected,
                 budget={"ci": ci, "dev": 5 * ci, "deep": 50 * ci}, **kw)


HOLDS, FAILS = Expected.HOLDS, Expected.FAILS

CLAIMS = [
    claim("fwp.linear-attention", "fwp_equivalence", f"{FWP}, Eqs. 17-19",
          "Causal linear attention with feature map phi equals the outer-product fast-weight "
          "recurrence W_i = W_{i-1} + v_i phi(k_i)^T with sum normalization, to 1e-12.",
          "strictly positive feature maps (ELU+1, seeded random features) or DPFP with eps > 0",
          spec(L=st.integers(1, 30), d_key=st.integers(2, 8), d_v=st.integers(1, 4),
               phi=st.sampled_from(["elu1", "random"]), normalize=st.booleans()), HOLDS, ci=10),
    claim("fwp.capacity-exact", "capacity_exact", f"{FWP}, Sec. 4.1 (capacity)",
          "(naive) a linear memory retrieves every one of N stored values exactly, even when N "
          "exceeds the feature dimension d_dot.",
          "N > d_dot keys with generic values",
          st.integers(2, 8).flatmap(lambda dk: spec(N=st.integers(dk + 1, 40), d_key=st.just(dk),
                                                   d_v=st.integers(1, 6))), FAILS),
    claim("fwp.capacity-law", "capacity_law", f"{FWP}, Sec. 4.1 + attnsvm derivation",
          "With N > r generic keys (r = rank of the feature matrix), the best linear memory's "
          "relative retrieval error follows sqrt(1 - r/N) (exact Beta law for Gaussian values).",
          "Gaussian keys and values, N > d_key",
          st.integers(2, 10).flatmap(lambda dk: spec(N=st.integers(dk + 2, 64),
                                                    d_key=st.just(dk), d_v=st.integers(4, 32))),
          HOLDS),
    claim("fwp.delta-overwrite", "delta_overwrite", f"{FWP}, Sec. 4.2, Eq. 24",
          "The delta rule replaces the value stored under a key exactly when "
          "beta ||phi(k)||^2 = 1.", "any key and value",
          spec(d=st.integers(2, 10), d_v=st.integers(1, 5), scale=st.floats(0.2, 3.0)), HOLDS),
    claim("fwp.delta-divergence", "delta_divergence", f"{FWP}, Sec. 4.2 (transition I - beta "
          "phi phi^T)", "The delta-rule recursion is expansive when c = beta ||phi||^2 > 2 and "
          "non-expansive for c <= 2.", "c drawn on both sides of 2",
          spec(c=st.floats(0.1, 4.0), d=st.integers(2, 8)), HOLDS),
    claim("fwp.delta-spectrum", "delta_spectrum", f"{FWP}, Sec. 4.2",
          "The spectrum of I - beta phi phi^T is {1 (d-1 times), 1 - beta ||phi||^2}.",
          "any phi, beta", spec(d=st.integers(1, 10), beta=st.floats(0.0, 3.0),
                                scale=st.floats(0.1, 3.0)), HOLDS),
    claim("fwp.dpfp-dimension", "dpfp_dimension", f"{FWP}, Sec. 5.2 (DPFP)",
          "DPFP maps d_key inputs to 2 d_key nu nonnegative, degree-2 homogeneous features, "
          "with phi(k).phi(-k) = 0.", "1 <= nu < d_key",
          st.integers(2, 16).flatmap(lambda dk: spec(d_key=st.just(dk),
                                                    nu=st.integers(1, dk - 1))), HOLDS),
    claim("fwp.dpfp-degenerate", "dpfp_degenerate", f"{FWP}, Sec. 5.2 (DPFP) — a limit",
          "(naive) DPFP-normalized linear attention is defined for every nonzero input.",
          "1-sparse keys, sign-alternating keys, or disjoint supports",
          spec(case=st.sampled_from(["one_sparse", "alternating", "disjoint"]),
               d_key=st.sampled_from([3, 5, 7]), nu=st.just(1)), FAILS),
    claim("fwp.positive-map-crosstalk", "positive_map_crosstalk", f"{FWP}, Sec. 4.1",
          "(naive) the sum rule retrieves stored values exactly with a strictly positive map.",
          "2 <= N <= d_key keys, ELU+1 map",
          st.integers(2, 8).flatmap(lambda n: spec(N=st.just(n), d_key=st.integers(n, 10))),
          FAILS),
    claim("performer.unbiased", "performer_unbiased", f"{PERF}, Lemma 1",
          "Positive, hyperbolic, trigonometric and (sign-fixed) orthogonal random features give "
          "unbiased estimates of exp(x^T y) (z-test, false alarm < 4e-6 per example).",
          "||x + y||^2 <= 0.5 (finite, moderate variance)",
          spec(d=st.integers(2, 8), m=st.integers(1, 8),
               kind=st.sampled_from(["positive", "hyperbolic", "trig"]),
               orthogonal=st.booleans(), z_norm2=st.floats(0.05, 0.5)), HOLDS),
    claim("performer.lemma2-mse", "performer_mse", f"{PERF}, Lemma 2",
          "The iid estimators' MSE equals Lemma 2's formulas (trig, positive, hyperbolic).",
          "||x + y||^2 <= 0.5", spec(d=st.integers(2, 6), m=st.integers(1, 6),
                                     kind=st.sampled_from(["positive", "hyperbolic", "trig"]),
                                     z_norm2=st.floats(0.05, 0.5)), HOLDS, ci=4),
    claim("performer.orf-theorem2", "orf_mse_bound", f"{PERF}, Theorem 2",
          "Orthogonal positive features have MSE at most Theorem 2's bound (m <= d).",
          "sign-fixed orthogonal directions, m <= d",
          st.integers(2, 6).flatmap(lambda d: spec(d=st.just(d), m=st.integers(2, d),
                                                  z_norm2=st.floats(0.1, 0.5))), HOLDS, ci=3),
    claim("performer.orf-without-sign-fix", "orf_signfix", f"{PERF}, orthogonal features via "
          "QR — a limit", "(naive) orthogonal features from numpy's QR without the sign fix "
          "Q sign(diag R) give unbiased kernel estimates.",
          "sign fix omitted", spec(d=st.integers(2, 8), sign_fix=st.just(False)), FAILS),
    claim("performer.row-normalized-bias", "row_normalized_bias", f"{PERF}, FAVOR+ — a limit",
          "(naive) the row-normalized FAVOR+ attention output is unbiased.",
          "m small (4), moderate scale", spec(m=st.integers(2, 4)), FAILS, ci=3),
    claim("soudry.logistic-direction", "soudry_trend", f"{SOUDRY}, Theorem 3",
          "GD on the logistic loss over separable data converges in direction to the hard-margin "
          "SVM, the angle gap shrinking like 1/log t (residual w - w_hat log t bounded).",
          "separable Gaussian data with a margin", spec(n=st.integers(10, 30),
                                                        d=st.integers(2, 6)), HOLDS, ci=2),
    claim("pg.mbr-equals-reinforce", "mbr_reinforce", PG,
          "The MBR/expected-reward gradient w.r.t. the logits equals REINFORCE with the "
          "expected reward as baseline, P(y)(R(y) - E[R]) (exact enumeration).",
          "small discrete output spaces", spec(H=st.integers(2, 8), vocab=st.integers(2, 4),
                                               length=st.integers(1, 3)), HOLDS, ci=10),
    claim("pg.baseline-invariance", "baseline_invariance", PG,
          "A constant baseline does not change the expected REINFORCE gradient.",
          "small discrete output spaces", spec(vocab=st.integers(2, 4), length=st.integers(1, 3)),
          HOLDS, ci=10),
    claim("pg.reinforce-mc-unbiased", "reinforce_mc_unbiased", PG,
          "Sampled REINFORCE with any constant baseline is unbiased (z-test).",
          "small output spaces", spec(H=st.integers(2, 6), baseline=st.floats(-3.0, 3.0)),
          HOLDS, ci=4),
    claim("pg.mmi-identity", "mmi_identity", PG,
          "The MMI gradient equals 1/P(ref) times the gradient of the expected 0/1 reward.",
          "small discrete output spaces", spec(H=st.integers(2, 8), vocab=st.integers(2, 3),
                                               length=st.integers(1, 4)), HOLDS, ci=10),
    claim("pg.mwer-baseline", "mwer_baseline", PG,
          "N-best MWER with the mean-risk baseline equals the renormalized expected-risk "
          "gradient.", "beam <= hypotheses", spec(H=st.integers(3, 8), beam=st.integers(2, 3)),
          HOLDS, ci=10),
]
