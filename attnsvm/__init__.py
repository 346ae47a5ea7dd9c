"""attnsvm: theorem checking and property testing for softmax attention as a hard-margin SVM.

(Tarzanagh, Li, Thrampoulidis, Oymak, "Transformers as Support Vector Machines", arXiv 2308.16898;
Tarzanagh, Li, Zhang, Oymak, "Max-Margin Token Selection in Attention Mechanism", arXiv
2306.13596.) The public API is re-exported here lazily, so ``import attnsvm`` stays cheap and
neither torch nor cvxpy is imported until a name that needs them is used.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("attnsvm")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    if name in ("strategies", "testing"):
        return import_module(f"attnsvm.{name}")
    raise AttributeError(f"module 'attnsvm' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "strategies", "testing"])
