"""Geometry of the P2D cell: layer thicknesses, volume fractions, tortuosity factors, particle size.

All lengths in m. The tortuosity factor tau is the one of DESIGN.md §8,
tau = eps k_bulk / k_eff, so that an effective transport property is k_eff = k eps / tau.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["P2DGeometry"]


def _check_positive(name: str, v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"P2D geometry: {name} must be a number, got {v!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise ValueError(f"P2D geometry: {name} must be finite and > 0, got {v!r}")
    return v


def _check_fraction(name: str, v) -> float:
    try:
        v = float(v)
    except (TypeError, ValueError):
        raise ValueError(f"P2D geometry: {name} must be a number in (0, 1], got {v!r}") from None
    if not (math.isfinite(v) and 0.0 < v <= 1.0):
        raise ValueError(f"P2D geometry: {name} must lie in (0, 1], got {v!r}")
    return v


@dataclass(frozen=True)
class P2DGeometry:
    """The 1D cell of the P2D model.

    L_sep : separator thickness [m] (>= 0; 0 = no separator, the cathode touches the anode)
    L_cat : composite cathode thickness [m] (> 0)
    eps_AM : active-material volume fraction of the cathode, in (0, 1]
    tau_AM : tortuosity factor of the active (electron-conducting) phase, > 0
    eps_e_cat, tau_e_cat : electrolyte volume fraction in (0, 1] and tortuosity factor of the
        cathode's electrolyte phase
    particle_diameter : D [m] of the representative sphere (D50 or D_SCA = 6 V_AM / S_AM-SE);
        radius R = D/2, specific interface area a = 6 eps_AM / D [1/m]
    eps_e_sep, tau_e_sep : separator electrolyte fraction and tortuosity (default 1, 1: a
        dense NaSICON slab)

    eps_AM + eps_e_cat must not exceed 1 (the remainder, if any, is inert: binder, pores).
    """

    L_sep: float
    L_cat: float
    eps_AM: float
    tau_AM: float
    eps_e_cat: float
    tau_e_cat: float
    particle_diameter: float
    eps_e_sep: float = 1.0
    tau_e_sep: float = 1.0

    def __post_init__(self):
        try:
            L_sep = float(self.L_sep)
        except (TypeError, ValueError):
            raise ValueError(f"P2D geometry: L_sep must be a number, got {self.L_sep!r}") from None
        if not (math.isfinite(L_sep) and L_sep >= 0.0):
            raise ValueError(f"P2D geometry: L_sep (separator thickness) must be >= 0, got {self.L_sep!r}")
        object.__setattr__(self, "L_sep", L_sep)
        for name in ("L_cat", "tau_AM", "tau_e_cat", "particle_diameter", "tau_e_sep"):
            object.__setattr__(self, name, _check_positive(name, getattr(self, name)))
        for name in ("eps_AM", "eps_e_cat", "eps_e_sep"):
            object.__setattr__(self, name, _check_fraction(name, getattr(self, name)))
        if self.eps_AM + self.eps_e_cat > 1.0 + 1e-9:
            raise ValueError(f"P2D geometry: eps_AM + eps_e_cat = {self.eps_AM + self.eps_e_cat:.6g} exceeds 1")

    @property
    def radius(self) -> float:
        """Particle radius R = D/2 [m]."""
        return 0.5 * self.particle_diameter

    @property
    def specific_area(self) -> float:
        """a = 6 eps_AM / D [1/m], active/electrolyte interface area per cathode volume."""
        return 6.0 * self.eps_AM / self.particle_diameter

    @property
    def L(self) -> float:
        """Total thickness L_sep + L_cat [m]."""
        return self.L_sep + self.L_cat

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("L_sep", "L_cat", "eps_AM", "tau_AM", "eps_e_cat", "tau_e_cat",
                                             "particle_diameter", "eps_e_sep", "tau_e_sep")}
