"""Hyperparameter specifications and their domain checks.

Every method declares its hyperparameters as a tuple of :class:`Param`: name,
default, domain. :func:`resolve` turns user keywords into a complete, validated
dict, raising :class:`ValueError` that names the parameter, the value and what
is allowed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Param:
    """One hyperparameter.

    ``domain`` is one of ``"nonneg"`` (x >= 0), ``"pos"`` (x > 0),
    ``"unit_open"`` (0 <= x < 1), ``"ge1"`` (x >= 1), ``"int_ge1"`` (integer >= 1),
    ``"pos_or_none"`` (x > 0, or None for a documented automatic value).
    """

    name: str
    default: Any
    domain: str
    doc: str = ""

    def allowed(self) -> str:
        return {
            "nonneg": "a finite real number >= 0",
            "pos": "a finite real number > 0",
            "unit_open": "a real number in [0, 1)",
            "ge1": "a finite real number >= 1",
            "int_ge1": "an integer >= 1",
            "pos_or_none": "a finite real number > 0, or None (automatic)",
        }[self.domain]

    def check(self, value, method: str):
        def bad():
            return ValueError(
                f"{method}: hyperparameter {self.name}={value!r} is out of its domain; "
                f"allowed: {self.allowed()}"
            )

        if self.domain == "pos_or_none" and value is None:
            return None
        if isinstance(value, bool):
            raise bad()
        if self.domain == "int_ge1":
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) and not (hasattr(value, "__index__")):
                raise bad()
            value = int(value)
            if value < 1:
                raise bad()
            return value
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise bad() from None
        if not math.isfinite(v):
            raise bad()
        ok = {
            "nonneg": v >= 0.0,
            "pos": v > 0.0,
            "unit_open": 0.0 <= v < 1.0,
            "ge1": v >= 1.0,
            "pos_or_none": v > 0.0,
        }[self.domain]
        if not ok:
            raise bad()
        return v


def resolve(method: str, params: tuple[Param, ...], aliases: dict[str, str], kwargs: dict) -> dict:
    """Validated, complete hyperparameter dict from user keywords."""
    names = [p.name for p in params]
    given: dict[str, Any] = {}
    for key, value in kwargs.items():
        canon = aliases.get(key, key)
        if canon not in names:
            allowed = ", ".join(names + [f"{a} (alias of {c})" for a, c in aliases.items()])
            raise ValueError(
                f"{method}: unknown hyperparameter {key!r}={value!r}; allowed keywords: {allowed}"
            )
        if canon in given:
            raise ValueError(f"{method}: hyperparameter {canon!r} given twice (via alias {key!r})")
        given[canon] = value
    out = {}
    for p in params:
        out[p.name] = p.check(given.get(p.name, p.default), method)
    return out
