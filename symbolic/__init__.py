"""attnsvm symbolic layer (sympy): the derivations that state the equivalence and its conditions.

``symbolic.registry.DERIVATIONS`` maps a name to a ``symbolic.core.Derivation`` (statement, LaTeX,
``verify()``, numeric ``predicates``). This package never imports ``reference``.
"""
