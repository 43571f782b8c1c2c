"""Butler–Volmer kinetics on the active/electrolyte interface (DESIGN.md §3).

    eta  = phi_s - phi_e - U_eq(chi)                                   [V]
    i0   = F k sqrt(c_s,max - c_s) sqrt(c_s) sqrt(c_e)                  [A/m^2]
    i_BV = i0 [exp(alpha_a F eta / RT) - exp(-alpha_c F eta / RT)]      [A/m^2]

i_BV > 0 is anodic: sodium leaves the solid (charging). Guards, each counted so that the
solver can report how often they act:

- concentrations are clipped to [0, c_s,max] (solid) and [0, inf) (electrolyte) inside the
  square roots;
- the exponents are clipped to +-EXP_LIMIT (exp(200) ~ 7e86), so that a wild outer
  iterate cannot overflow; a converged solution never comes near this.

For the segregated coupling the current is linearised in the potential being solved:
i(phi) ~ i* + G (phi - phi*) with G = di/deta = i0 (alpha_a f e^(alpha_a f eta) +
alpha_c f e^(-alpha_c f eta)) > 0, f = F/RT; ``robin_solid`` and ``robin_electrolyte``
turn that into the (h, value) of a Robin condition for each side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.constants import R, physical_constants

F = physical_constants["Faraday constant"][0]
EXP_LIMIT = 200.0


@dataclass
class KineticsGuards:
    """How often the guards acted (cumulative over calls)."""

    solid_clipped: int = 0
    electrolyte_clipped: int = 0
    exponent_clipped: int = 0


@dataclass(frozen=True)
class ButlerVolmer:
    """Butler–Volmer kinetics.

    k : rate constant [m^2.5 mol^-0.5 s^-1]; c_s_max : [mol/m^3]; alpha_a, alpha_c : [-];
    T : temperature [K]
    """

    k: float
    c_s_max: float
    alpha_a: float = 0.5
    alpha_c: float = 0.5
    T: float = 298.15

    def __post_init__(self):
        for name in ("k", "c_s_max", "alpha_a", "alpha_c", "T"):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f"Butler-Volmer parameter {name} must be finite and > 0 (got {v})")

    @property
    def f(self) -> float:
        """F / (R T) [1/V]."""
        return F / (R * self.T)

    def exchange_current(self, c_s, c_e, guards: KineticsGuards | None = None):
        """i0 [A/m^2] for surface concentrations c_s, c_e [mol/m^3]."""
        c_s = np.asarray(c_s, dtype=np.float64)
        c_e = np.asarray(c_e, dtype=np.float64)
        cs = np.clip(c_s, 0.0, self.c_s_max)
        ce = np.maximum(c_e, 0.0)
        if guards is not None:
            guards.solid_clipped += int(np.count_nonzero(cs != c_s))
            guards.electrolyte_clipped += int(np.count_nonzero(ce != c_e))
        return F * self.k * np.sqrt(self.c_s_max - cs) * np.sqrt(cs) * np.sqrt(ce)

    def current(self, eta, c_s, c_e, guards: KineticsGuards | None = None):
        """(i_BV [A/m^2], G = di_BV/deta [A/m^2/V]) at overpotential eta [V]."""
        eta = np.asarray(eta, dtype=np.float64)
        i0 = self.exchange_current(c_s, c_e, guards)
        a = self.alpha_a * self.f * eta
        c = -self.alpha_c * self.f * eta
        if guards is not None:
            guards.exponent_clipped += int(np.count_nonzero((np.abs(a) > EXP_LIMIT) | (np.abs(c) > EXP_LIMIT)))
        ea = np.exp(np.clip(a, -EXP_LIMIT, EXP_LIMIT))
        ec = np.exp(np.clip(c, -EXP_LIMIT, EXP_LIMIT))
        i = i0 * (ea - ec)
        G = i0 * self.f * (self.alpha_a * ea + self.alpha_c * ec)
        return i, G


def robin_solid(i_star, G, phi_s_star):
    """Robin (h, value) for the solid potential: outward flux density of the solid
    -sigma dphi_s/dn = i_BV ~ i* + G (phi_s - phi_s*) = G (phi_s - (phi_s* - i*/G))."""
    G = np.maximum(G, 1e-300)
    return G, phi_s_star - i_star / G


def robin_electrolyte(i_star, G, phi_e_star):
    """Robin (h, value) for the electrolyte potential: the outward current of the
    electrolyte is -i_BV ~ -i* + G (phi_e - phi_e*) = G (phi_e - (phi_e* + i*/G))."""
    G = np.maximum(G, 1e-300)
    return G, phi_e_star + i_star / G
