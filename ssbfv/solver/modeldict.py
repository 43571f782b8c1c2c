"""Rebuilding small model dataclasses (OCP, conductivity) from their ``to_dict`` form."""

from __future__ import annotations

from dataclasses import fields
from typing import Any


def model_from_dict(d: dict[str, Any], registry: dict[str, type], kind: str):
    """Pick the class named by ``d["model"]`` in ``registry``, check the optional
    ``units`` entry against the class's and reject unknown keys; returns (class, kwargs)."""
    d = dict(d)
    name = d.pop("model", None)
    if name not in registry:
        raise ValueError(f"unknown {kind} model {name!r}; available: {sorted(registry)}")
    cls = registry[name]
    units = d.pop("units", None)
    if units is not None and dict(units) != cls.units:
        raise ValueError(f"{name}: units {units} differ from the model's {cls.units}")
    valid = {f.name for f in fields(cls)}
    unknown = set(d) - valid
    if unknown:
        raise ValueError(f"{name}: unknown keys {sorted(unknown)}; valid: {sorted(valid)}")
    return cls, d
