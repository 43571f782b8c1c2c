"""Parameter sets as data: named, unit-carrying, source-citing quantities.

A :class:`ParameterSet` holds a tree of groups (nested dicts) whose leaves are
:class:`Quantity` (value, unit, source, description). Values are SI numbers, ``None`` (a
value the sources do not give: see :meth:`ParameterSet.missing`) or model objects (an OCP
model of :mod:`ssbfv.solver.ocp`, a conductivity model of :mod:`.conductivity`).

Paths are dot-separated: ``"solid.D_s"``, ``"electrolyte.polymer.kappa"``. A path may go one
step into a model object's fields: ``"electrolyte.polymer.kappa.kappa_ref"``, ``"ocp.model.A"``.

Overrides (:meth:`ParameterSet.with_overrides`) return a new set, the original unchanged:

- a number (or ``None``) replaces the value of a numeric quantity; the unit stays, the source
  becomes ``"override"``;
- a model object or its ``to_dict()`` replaces a model-valued quantity; a plain number given
  for a conductivity model means a constant conductivity with that value [S/m];
- a model field path (``"ocp.model.A"``) replaces that field (the model re-validates);
- a :class:`Quantity` replaces the whole leaf (unit and source included);
- unit-suffixed keys are accepted as a self-documenting spelling, *without conversion*: the
  suffix must be the quantity's own SI unit written with :func:`unit_suffix`
  (``"solid.D_s_m2_per_s"``, ``"initial.c_e0_mol_per_m3"``, ``"thermal.T_K"``); conversions
  from µm or mol/L belong to the case-file layer;
- overriding ``thermal.T`` also sets the OCP model's T (unless the same call sets
  ``ocp.model`` or ``ocp.model.T``), so the OCP and the kinetics see one temperature;
- an unknown key raises ``KeyError`` listing the valid keys.

Registry: :func:`get_parameter_set` / :func:`available_parameter_sets`; one module per set
(``nvp_peo_nasicon``, ``nca_lps``), each with a ``parameter_set()`` constructor.
"""

from __future__ import annotations

import dataclasses
import importlib
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Iterator, Mapping

from ..ocp import OCP_MODELS, OcpModel, ocp_from_dict
from .conductivity import (CONDUCTIVITY_MODELS, ConstantConductivity, PolymerConductivity,
                           conductivity_from_dict)

__all__ = ["Quantity", "ParameterSet", "get_parameter_set", "available_parameter_sets",
           "model_from_dict", "unit_suffix", "ConstantConductivity", "PolymerConductivity"]

_REGISTRY: dict[str, str] = {
    "nvp_peo_nasicon": "nvp_peo_nasicon",
    "nca_lps": "nca_lps",
}


def available_parameter_sets() -> list[str]:
    """Names of the registered parameter sets."""
    return sorted(_REGISTRY)


def get_parameter_set(name: str) -> "ParameterSet":
    """A fresh instance of the named parameter set (KeyError listing the names if unknown)."""
    if name not in _REGISTRY:
        raise KeyError(f"unknown parameter set {name!r}; available: {available_parameter_sets()}")
    return importlib.import_module(f"{__name__}.{_REGISTRY[name]}").parameter_set()


def unit_suffix(unit: str) -> str:
    """Key suffix of a unit string: '^' dropped, '/' -> '_per_', ' ' -> '_', '.' -> 'p', '-' -> 'm'.

    ``"m^2/s"`` -> ``"m2_per_s"``, ``"mol/m^3"`` -> ``"mol_per_m3"``, ``"S/m"`` -> ``"S_per_m"``;
    dimensionless ``"1"`` or ``""`` -> ``""`` (no suffixed spelling).
    """
    if unit in ("", "1"):
        return ""
    return (unit.replace("^", "").replace("/", "_per_").replace(" ", "_")
            .replace(".", "p").replace("-", "m"))


def model_from_dict(d: Mapping[str, Any]):
    """Rebuild an OCP or conductivity model from its ``to_dict()``."""
    name = d.get("model")
    if name in OCP_MODELS:
        return ocp_from_dict(dict(d))
    if name in CONDUCTIVITY_MODELS:
        return conductivity_from_dict(dict(d))
    raise ValueError(f"unknown model {name!r}; available: {sorted(OCP_MODELS) + sorted(CONDUCTIVITY_MODELS)}")


def _is_model(v: Any) -> bool:
    return dataclasses.is_dataclass(v) and hasattr(v, "to_dict") and not isinstance(v, type)


@dataclass(frozen=True)
class Quantity:
    """A value with its unit and the source it comes from.

    value: SI number, ``None`` (missing) or a model object; unit: SI unit string ("1" for
    dimensionless); source: where the number comes from (paper, table, reference, or
    "missing: ..."); description: what it is.
    """

    value: Any
    unit: str
    source: str
    description: str = ""

    def __post_init__(self):
        v = self.value
        ok = v is None or _is_model(v) or isinstance(v, str) or (
            isinstance(v, numbers.Real) and not isinstance(v, bool))
        if not ok:
            raise TypeError(f"Quantity value must be a number, None, a string or a model object, got {type(v).__name__}")
        if isinstance(v, numbers.Real) and not isinstance(v, bool):
            object.__setattr__(self, "value", float(v))

    @property
    def is_missing(self) -> bool:
        return self.value is None

    def to_dict(self) -> dict[str, Any]:
        v = self.value.to_dict() if _is_model(self.value) else self.value
        return {"value": v, "unit": self.unit, "source": self.source, "description": self.description}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Quantity":
        v = d["value"]
        if isinstance(v, Mapping):
            v = model_from_dict(v)
        return cls(v, d["unit"], d["source"], d.get("description", ""))


def _freeze(tree: Mapping[str, Any]) -> Mapping[str, Any]:
    out = {}
    for k, v in tree.items():
        if "." in k:
            raise ValueError(f"group or parameter names must not contain '.', got {k!r}")
        if isinstance(v, Quantity):
            out[k] = v
        elif isinstance(v, Mapping):
            out[k] = _freeze(v)
        else:
            raise TypeError(f"{k!r}: leaves must be Quantity, got {type(v).__name__}")
    return MappingProxyType(out)


def _thaw(tree: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, Quantity) else _thaw(v)) for k, v in tree.items()}


def _iter_leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Quantity]]:
    for k, v in tree.items():
        p = f"{prefix}{k}"
        if isinstance(v, Quantity):
            yield p, v
        else:
            yield from _iter_leaves(v, p + ".")


@dataclass(frozen=True, eq=False)
class ParameterSet:
    """A named, immutable tree of :class:`Quantity` (see the module docstring for paths).

    name, description; ``tree``: groups -> (subgroups ->) name -> Quantity; ``references``:
    full citations of the sources that the quantities' ``source`` strings abbreviate.
    """

    name: str
    description: str
    tree: Mapping[str, Any]
    references: tuple[str, ...] = field(default=())

    def __post_init__(self):
        object.__setattr__(self, "tree", _freeze(self.tree))
        object.__setattr__(self, "references", tuple(self.references))

    # -- access ---------------------------------------------------------------------------
    def paths(self) -> list[str]:
        """Paths of all quantities (leaves)."""
        return [p for p, _ in _iter_leaves(self.tree)]

    def items(self) -> Iterator[tuple[str, Quantity]]:
        return _iter_leaves(self.tree)

    def valid_keys(self) -> list[str]:
        """Every key that :meth:`get` and :meth:`with_overrides` accept (suffixed spellings aside)."""
        keys = []
        for p, q in _iter_leaves(self.tree):
            keys.append(p)
            if _is_model(q.value):
                keys += [f"{p}.{f.name}" for f in dataclasses.fields(q.value)]
        return keys

    def _resolve(self, key: str) -> tuple[str, str | None]:
        """(leaf path, model field or None) for a key; KeyError listing valid keys."""
        leaves = dict(_iter_leaves(self.tree))
        if key in leaves:
            return key, None
        head, _, last = key.rpartition(".")
        if head in leaves and _is_model(leaves[head].value):
            if last in {f.name for f in dataclasses.fields(leaves[head].value)}:
                return head, last
        for p, q in leaves.items():
            s = unit_suffix(q.unit)
            if s and key == f"{p}_{s}":
                return p, None
        raise KeyError(f"unknown parameter {key!r} in set {self.name!r}; valid keys: {self.valid_keys()}")

    def quantity(self, path: str) -> Quantity:
        """The Quantity at a leaf path."""
        p, fld = self._resolve(path)
        if fld is not None:
            raise KeyError(f"{path!r} is a model field, not a quantity; use get()")
        return dict(_iter_leaves(self.tree))[p]

    def get(self, path: str) -> Any:
        """The value at a path (a leaf value, or a model object's field)."""
        p, fld = self._resolve(path)
        v = dict(_iter_leaves(self.tree))[p].value
        return v if fld is None else getattr(v, fld)

    def __contains__(self, path: str) -> bool:
        try:
            self._resolve(path)
            return True
        except KeyError:
            return False

    def missing(self) -> list[str]:
        """Paths whose value is None (not given by the sources)."""
        return [p for p, q in _iter_leaves(self.tree) if q.value is None]

    # -- overrides ------------------------------------------------------------------------
    def with_overrides(self, overrides: Mapping[str, Any], source: str = "override") -> "ParameterSet":
        """A new set with the given values replaced (rules in the module docstring)."""
        tree = _thaw(self.tree)
        resolved = [(self._resolve(k), k, v) for k, v in overrides.items()]
        touched = set()
        for (p, fld), key, v in resolved:
            parts = p.split(".")
            node = tree
            for part in parts[:-1]:
                node = node[part]
            old: Quantity = node[parts[-1]]
            node[parts[-1]] = _replace(old, fld, v, key, source)
            touched.add(p if fld is None else f"{p}.{fld}")
        if "thermal.T" in touched and "ocp.model" in dict(_iter_leaves(self.tree)) \
                and not touched & {"ocp.model", "ocp.model.T"}:
            q = tree["ocp"]["model"]
            T = tree["thermal"]["T"].value
            if isinstance(q.value, OcpModel) and T is not None:
                tree["ocp"]["model"] = Quantity(dataclasses.replace(q.value, T=T), q.unit,
                                                f"{q.source}; T from thermal.T ({source})", q.description)
        return ParameterSet(self.name, self.description, tree, self.references)

    # -- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, description, references, parameters (nested Quantity dicts)."""
        def conv(t):
            return {k: (v.to_dict() if isinstance(v, Quantity) else conv(v)) for k, v in t.items()}
        return {"name": self.name, "description": self.description,
                "references": list(self.references), "parameters": conv(self.tree)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ParameterSet":
        """Inverse of :meth:`to_dict`."""
        def conv(t):
            return {k: (Quantity.from_dict(v) if {"value", "unit", "source"} <= set(v) else conv(v))
                    for k, v in t.items()}
        return cls(d["name"], d.get("description", ""), conv(d["parameters"]), tuple(d.get("references", ())))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ParameterSet) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"ParameterSet({self.name!r}, {len(self.paths())} quantities, {len(self.missing())} missing)"


def _replace(old: Quantity, fld: str | None, v: Any, key: str, source: str) -> Quantity:
    if isinstance(v, Quantity):
        if fld is not None:
            raise TypeError(f"{key}: a Quantity cannot replace a model field")
        return v
    if fld is not None:
        return Quantity(dataclasses.replace(old.value, **{fld: v}), old.unit,
                        f"{old.source}; {fld} = {v!r} ({source})", old.description)
    if _is_model(old.value) or isinstance(v, Mapping) or _is_model(v):
        if isinstance(v, Mapping):
            v = model_from_dict(v)
        elif isinstance(v, numbers.Real) and not isinstance(v, bool) and hasattr(old.value, "kappa"):
            v = ConstantConductivity(float(v), c_floor=old.value.c_floor)
        elif not _is_model(v):
            raise TypeError(f"{key}: expected a model object or its dict, got {type(v).__name__}")
        return Quantity(v, old.unit, source, old.description)
    number = isinstance(v, numbers.Real) and not isinstance(v, bool)
    if not (v is None or number or (isinstance(v, str) and isinstance(old.value, str))):
        raise TypeError(f"{key}: expected a number or None, got {type(v).__name__}")
    return Quantity(v, old.unit, source, old.description)
