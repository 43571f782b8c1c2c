"""Bulk electrolyte descriptions for the P2D model (one per region: separator, cathode).

A :class:`P2DElectrolyte` is one material's *bulk* properties: conductivity kappa(c) [S/m],
Na+ (Li+) diffusion coefficient D_e [m^2/s] and transference number t+ [-]. The P2D model turns
them into effective properties with the region's eps_e / tau_e (k_eff = k eps_e / tau_e for
kappa, the diffusion-potential coefficient kappa_D = 2 R T kappa (1 - t+) / F and D_e alike).

Mixed electrolytes (polymer + ceramic filler in the cathode of the 3D paper): the P2D model
takes *one* material's bulk properties for the whole electrolyte phase of a region and the
eps_e, tau_e of that phase (tau from the 3D descriptors, which already contain the geometry of
the phase). Which material is the documented choice of the caller
(``cathode_electrolyte="polymer"`` or ``"filler"``); an optional ``kappa`` override replaces
the bulk conductivity (e.g. a measured or a volume-averaged value of the mixture). No mixing
rule is applied here.

kappa may be a conductivity model of :mod:`ssbfv.solver.parameters.conductivity` (anything with
``kappa(c)``, ``dkappa_dc(c)`` and ``c_floor``), a plain number (constant conductivity) or a
callable ``kappa(c)`` (array in, array out; its derivative is taken by central differences
unless ``dkappa_dc`` is given). Every evaluation floors c at ``c_floor`` (DESIGN.md §2 guard).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..parameters.conductivity import C_FLOOR_DEFAULT, ConstantConductivity

__all__ = ["P2DElectrolyte", "electrolyte_from_params", "CallableConductivity"]


@dataclass(frozen=True)
class CallableConductivity:
    """kappa(c) [S/m] from a user function; derivative analytic (``dkappa_dc``) or by central
    differences with step ``rel_step`` * max(c, 1 mol/m^3)."""

    fun: Callable[[np.ndarray], Any]
    dfun: Callable[[np.ndarray], Any] | None = None
    c_floor: float = C_FLOOR_DEFAULT
    rel_step: float = 1e-6

    def floor(self, c):
        return np.maximum(np.asarray(c, dtype=np.float64), self.c_floor)

    def n_floored(self, c) -> int:
        return int(np.count_nonzero(np.asarray(c) < self.c_floor))

    def kappa(self, c):
        cf = self.floor(c)
        return np.broadcast_to(np.asarray(self.fun(cf), dtype=np.float64), cf.shape).copy()

    def dkappa_dc(self, c):
        c = np.asarray(c, dtype=np.float64)
        cf = self.floor(c)
        if self.dfun is not None:
            d = np.broadcast_to(np.asarray(self.dfun(cf), dtype=np.float64), cf.shape)
        else:
            h = self.rel_step * np.maximum(cf, 1.0)
            d = (np.asarray(self.fun(cf + h), dtype=np.float64) - np.asarray(self.fun(np.maximum(cf - h, 0.0)),
                                                                            dtype=np.float64)) / (
                cf + h - np.maximum(cf - h, 0.0))
        return np.where(c < self.c_floor, 0.0, d)

    def kappa_over_c(self, c):
        cf = self.floor(c)
        return self.kappa(cf) / cf


def _as_conductivity(kappa, name: str):
    if kappa is None:
        raise ValueError(f"P2D electrolyte {name!r}: conductivity kappa is missing (None)")
    if isinstance(kappa, numbers.Real) and not isinstance(kappa, bool):
        if not (math.isfinite(kappa) and kappa > 0):
            raise ValueError(f"P2D electrolyte {name!r}: kappa must be > 0 S/m, got {kappa!r}")
        return ConstantConductivity(float(kappa))
    if hasattr(kappa, "kappa") and hasattr(kappa, "dkappa_dc") and hasattr(kappa, "c_floor"):
        return kappa
    if callable(kappa):
        return CallableConductivity(kappa)
    raise TypeError(f"P2D electrolyte {name!r}: kappa must be a number, a conductivity model or a callable, "
                    f"got {type(kappa).__name__}")


@dataclass(frozen=True)
class P2DElectrolyte:
    """Bulk properties of one electrolyte material.

    kappa : conductivity model / number / callable of c (see the module docstring) [S/m]
    D_e : Na+ diffusion coefficient [m^2/s] (may be None for a single-ion conductor, t+ = 1)
    t_plus : transference number in (0, 1]; t+ = 1 is a single-ion conductor (no concentration
        equation: c_e stays at its initial value)
    name : label for messages
    effective : False (default): kappa and D_e are bulk values, the model multiplies them by the
        region's eps_e / tau_e; True: they are already effective values of the composite (the
        model uses them as given; eps_e still weighs the Na+ accumulation)
    """

    kappa: Any
    D_e: float | None
    t_plus: float
    name: str = "electrolyte"
    effective: bool = False

    def __post_init__(self):
        object.__setattr__(self, "kappa", _as_conductivity(self.kappa, self.name))
        t = self.t_plus
        if t is None or not (isinstance(t, numbers.Real) and math.isfinite(t) and 0.0 < t <= 1.0):
            raise ValueError(f"P2D electrolyte {self.name!r}: t_plus must lie in (0, 1], got {t!r}")
        object.__setattr__(self, "t_plus", float(t))
        if self.single_ion:
            if self.D_e is not None and not (math.isfinite(self.D_e) and self.D_e >= 0):
                raise ValueError(f"P2D electrolyte {self.name!r}: D_e must be >= 0, got {self.D_e!r}")
        else:
            if self.D_e is None:
                raise ValueError(f"P2D electrolyte {self.name!r}: D_e is missing (None) but t+ = {t} < 1 "
                                 "needs a concentration equation")
            if not (math.isfinite(self.D_e) and self.D_e > 0):
                raise ValueError(f"P2D electrolyte {self.name!r}: D_e must be > 0 m^2/s, got {self.D_e!r}")
        if self.D_e is not None:
            object.__setattr__(self, "D_e", float(self.D_e))

    @property
    def single_ion(self) -> bool:
        """t+ = 1: all the current is carried by the cation, c_e stays uniform."""
        return self.t_plus == 1.0


def electrolyte_from_params(params, material: str, *, kappa=None, D_e=None, t_plus=None) -> P2DElectrolyte:
    """The bulk electrolyte ``material`` of a parameter set (``electrolyte.<material>.kappa``,
    ``.D_e``, ``.t_plus``), with optional overrides of each (bulk values: the model applies
    eps_e / tau_e). A None value in the set (not given by the sources) raises ValueError naming
    the parameter, unless overridden (D_e may stay None for t+ = 1)."""
    base = f"electrolyte.{material}"
    if f"{base}.kappa" not in params:
        mats = sorted({p.split(".")[1] for p in params.paths() if p.startswith("electrolyte.")})
        raise ValueError(f"electrolyte material {material!r} is not in parameter set {params.name!r}; "
                         f"available: {mats}")

    def get(key, override):
        if override is not None:
            return override
        return params.get(f"{base}.{key}")

    tp = get("t_plus", t_plus)
    if tp is None:
        raise ValueError(f"parameter '{base}.t_plus' is missing (None) in set {params.name!r}")
    k = get("kappa", kappa)
    if k is None:
        raise ValueError(f"parameter '{base}.kappa' is missing (None) in set {params.name!r}")
    d = get("D_e", D_e)
    if d is None and float(tp) < 1.0:
        raise ValueError(f"parameter '{base}.D_e' is missing (None) in set {params.name!r} "
                         f"(needed: t+ = {tp} < 1)")
    return P2DElectrolyte(kappa=k, D_e=d, t_plus=float(tp), name=material)
