"""Test configuration: one BLAS thread and the hypothesis profiles of DESIGN.md.

Profiles: ``ci`` (derandomized, no database; the default and what CI runs), ``dev`` (random, with
the example database), ``deep`` (thousands of examples). Select with HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)

import torch  # noqa: E402

torch.set_num_threads(1)

from attnsvm.properties.profiles import load_profile  # noqa: E402

load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
