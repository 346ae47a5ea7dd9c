"""Array-namespace lookup shared by the models, losses and gradients.

The models are written once against the array API (``array_api_compat``) and run on numpy
arrays or torch tensors. ``array_api_compat.array_namespace`` is general but costs ~30 us per
call, which dominates small batched training steps; this fast path resolves the two namespaces
attnsvm uses by type and defers to ``array_namespace`` for anything else.
"""

from __future__ import annotations

from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
from array_api_compat import array_namespace


@cache
def _numpy_ns() -> ModuleType:
    # numpy >= 2 implements the array API standard itself: use it directly (the compat
    # wrappers add a Python call per operation, which dominates small batched steps)
    if hasattr(np, "__array_api_version__"):
        return np
    import array_api_compat.numpy as xp

    return xp


@cache
def _torch_ns() -> ModuleType:
    import array_api_compat.torch as xp

    return xp


def namespace(*arrays: Any) -> ModuleType:
    """The array namespace of ``arrays`` (python scalars are ignored)."""
    kinds = {type(a) for a in arrays if not isinstance(a, (int, float))}
    if kinds and all(issubclass(k, (np.ndarray, np.generic)) for k in kinds):
        return _numpy_ns()
    if kinds and all(k.__module__.startswith("torch") for k in kinds):
        return _torch_ns()
    return array_namespace(*arrays)
