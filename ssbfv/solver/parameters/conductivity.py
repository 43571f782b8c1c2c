"""Electrolyte conductivity models kappa(c) [S/m] of c [mol/m^3], with a floor on c.

- ``ConstantConductivity(kappa0)``: kappa = kappa0 (NaSICON, Table II of the 3D paper).
- ``PolymerConductivity(kappa_ref, c_peak)``: Eq. 9 of the 3D paper with the normalisation of
  DESIGN.md §2, kappa(c) = kappa_ref (c / c_peak) exp(1 - c / c_peak); kappa(c_peak) = kappa_ref
  is the maximum, kappa -> 0 as c -> 0.

The c -> 0 guard (DESIGN.md §2): every model evaluates at c' = max(c, c_floor) (``floor``),
with c_floor a tiny positive concentration (default 1e-6 mol/m^3). So kappa(c) >= kappa(c_floor)
> 0 for the polymer (the Laplacian never becomes singular), ``kappa_over_c`` = kappa(c')/c' is
finite (it enters the diffusion part kappa_d / c of the electrolyte current), and ``dkappa_dc``
is the derivative of the floored function (0 where the floor acts). ``n_floored(c)`` counts the
values where the floor acts, for the solver's reports.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..modeldict import model_from_dict

C_FLOOR_DEFAULT = 1e-6  # mol/m^3

__all__ = ["C_FLOOR_DEFAULT", "ConstantConductivity", "PolymerConductivity", "CONDUCTIVITY_MODELS",
           "conductivity_from_dict"]


@dataclass(frozen=True)
class _Conductivity:
    name: ClassVar[str] = ""
    units: ClassVar[dict[str, str]] = {}

    def floor(self, c) -> np.ndarray:
        """c' = max(c, c_floor) [mol/m^3] (the concentration every method evaluates at)."""
        return np.maximum(np.asarray(c, dtype=np.float64), self.c_floor)

    def n_floored(self, c) -> int:
        """How many entries of c lie below c_floor (where the floor acts)."""
        return int(np.count_nonzero(np.asarray(c) < self.c_floor))

    def kappa_over_c(self, c) -> np.ndarray:
        """kappa(c') / c' [S m^2 / mol], finite for every c."""
        cf = self.floor(c)
        return self.kappa(cf) / cf

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"model": self.name}
        d.update({f.name: getattr(self, f.name) for f in fields(self)})
        d["units"] = dict(self.units)
        return d

    def __post_init__(self):
        if not self.c_floor > 0:
            raise ValueError(f"c_floor must be > 0 mol/m^3, got {self.c_floor!r}")


@dataclass(frozen=True)
class ConstantConductivity(_Conductivity):
    """kappa = kappa0 [S/m], independent of c."""

    kappa0: float
    c_floor: float = C_FLOOR_DEFAULT
    name: ClassVar[str] = "constant"
    units: ClassVar[dict[str, str]] = {"kappa0": "S/m", "c_floor": "mol/m^3"}

    def __post_init__(self):
        super().__post_init__()
        if not self.kappa0 > 0:
            raise ValueError(f"kappa0 must be > 0 S/m, got {self.kappa0!r}")

    def kappa(self, c) -> np.ndarray:
        return np.full(np.shape(c), float(self.kappa0))

    def dkappa_dc(self, c) -> np.ndarray:
        return np.zeros(np.shape(c))


@dataclass(frozen=True)
class PolymerConductivity(_Conductivity):
    """kappa(c) = kappa_ref (c'/c_peak) exp(1 - c'/c_peak), c' = max(c, c_floor).

    kappa_ref [S/m] is the peak conductivity, reached at c = c_peak [mol/m^3].
    """

    kappa_ref: float
    c_peak: float
    c_floor: float = C_FLOOR_DEFAULT
    name: ClassVar[str] = "polymer_peak"
    units: ClassVar[dict[str, str]] = {"kappa_ref": "S/m", "c_peak": "mol/m^3", "c_floor": "mol/m^3"}

    def __post_init__(self):
        super().__post_init__()
        if not (self.kappa_ref > 0 and self.c_peak > 0):
            raise ValueError(f"kappa_ref and c_peak must be > 0, got {self.kappa_ref!r}, {self.c_peak!r}")

    def kappa(self, c) -> np.ndarray:
        x = self.floor(c) / self.c_peak
        return self.kappa_ref * x * np.exp(1.0 - x)

    def dkappa_dc(self, c) -> np.ndarray:
        """d kappa / dc [S m^2/mol] of the floored function: 0 where c < c_floor."""
        c = np.asarray(c, dtype=np.float64)
        x = self.floor(c) / self.c_peak
        d = self.kappa_ref / self.c_peak * (1.0 - x) * np.exp(1.0 - x)
        return np.where(c < self.c_floor, 0.0, d)

    def kappa_over_c(self, c) -> np.ndarray:
        x = self.floor(c) / self.c_peak
        return self.kappa_ref / self.c_peak * np.exp(1.0 - x)


CONDUCTIVITY_MODELS = {m.name: m for m in (ConstantConductivity, PolymerConductivity)}


def conductivity_from_dict(d: dict[str, Any]):
    """Inverse of ``to_dict`` of the conductivity models."""
    cls, d = model_from_dict(d, CONDUCTIVITY_MODELS, "conductivity")
    return cls(**d)
