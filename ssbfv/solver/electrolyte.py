"""Cell-wise electrolyte properties of the half-cell (DESIGN.md §2).

The electrolyte domain is one field set (c_e, phi_e) over several materials (``polymer``,
``filler``, ``separator``); every cell takes the properties of its region's material:

    D_e [m^2/s]       Na+ diffusion coefficient
    kappa(c) [S/m]    ionic conductivity (a conductivity model of the parameter set)
    t+ [-]            Na+ transference number
    kappa_D / c       = 2 R T kappa(c) (1 - t+) / (F c)  [S m^2/mol], the coefficient of the
                      diffusion-potential part of the current, i_e = -kappa grad phi_e +
                      (kappa_D / c) grad c_e

The models floor c at a tiny positive value (see :mod:`.parameters.conductivity`), so
kappa and kappa_D / c stay finite and positive as c_e -> 0; ``n_floored`` counts how often.

t+ must be the same in every electrolyte material of a run: then div(t+ i_e) = t+ div(i_e)
= 0 in the bulk and the Na+ migration only enters through the boundary conditions (the
anion-blocking conditions of Eq. 16 of the 3D paper). Different t+ per material would add a
source on the material interfaces, which is not implemented; it is refused with a clear
error.
"""

from __future__ import annotations

import numpy as np
from scipy.constants import R

from .kinetics import F


class ElectrolyteMaterials:
    """Properties per electrolyte-domain cell.

    Parameters
    ----------
    params : ParameterSet with groups ``electrolyte.<material>.{D_e, kappa, t_plus}`` and
        ``thermal.T``
    region_of_cell : (n,) region name index of every domain cell (into ``region_names``)
    region_names : names of the mesh regions
    material_of_region : optional {region name: material name} (default: the same name)
    """

    def __init__(self, params, region_of_cell, region_names, material_of_region=None):
        material_of_region = dict(material_of_region or {})
        region_of_cell = np.asarray(region_of_cell)
        self.T = float(params.get("thermal.T"))
        present = [int(r) for r in np.unique(region_of_cell)]
        self.groups = []  # (cell mask, conductivity model, material)
        n = region_of_cell.size
        self.D_e = np.empty(n)
        t_plus = {}
        for r in present:
            region = region_names[r]
            material = material_of_region.get(region, region)
            base = f"electrolyte.{material}"
            for key in ("D_e", "kappa", "t_plus"):
                if f"{base}.{key}" not in params:
                    raise KeyError(
                        f"region {region!r}: the parameter set {params.name!r} has no {base}.{key}; "
                        f"map the region to an electrolyte material (material_of_region) or add it"
                    )
            sel = region_of_cell == r
            D = params.get(f"{base}.D_e")
            tp = params.get(f"{base}.t_plus")
            kappa = params.get(f"{base}.kappa")
            if D is None or tp is None or kappa is None:
                raise ValueError(f"{base}: D_e, kappa and t_plus must be given (the parameter set leaves one out)")
            if not (D > 0 and 0 < tp <= 1):
                raise ValueError(f"{base}: need D_e > 0 and 0 < t_plus <= 1 (got {D}, {tp})")
            self.D_e[sel] = float(D)
            t_plus[material] = float(tp)
            self.groups.append((sel, kappa, material))
        values = sorted(set(t_plus.values()))
        if len(values) > 1:
            raise ValueError(
                f"electrolyte materials have different transference numbers {t_plus}; ssbfv needs one t+ "
                "for the whole electrolyte (a varying t+ adds interface sources that are not implemented)"
            )
        self.t_plus = values[0]
        self.materials = tuple(t_plus)

    @property
    def kappa_d_factor(self) -> float:
        """2 R T (1 - t+) / F [V]: kappa_D = factor * kappa."""
        return 2.0 * R * self.T * (1.0 - self.t_plus) / F

    def kappa(self, c) -> np.ndarray:
        """Conductivity per cell [S/m] at concentrations c [mol/m^3]."""
        out = np.empty(self.D_e.size)
        for sel, model, _ in self.groups:
            out[sel] = model.kappa(c[sel])
        return out

    def kappa_d_over_c(self, c) -> np.ndarray:
        """kappa_D / c per cell [S m^2/mol] (finite for every c: floored)."""
        out = np.empty(self.D_e.size)
        for sel, model, _ in self.groups:
            out[sel] = model.kappa_over_c(c[sel])
        return self.kappa_d_factor * out

    def n_floored(self, c) -> int:
        """Cells where the conductivity models' concentration floor acts."""
        return sum(model.n_floored(c[sel]) for sel, model, _ in self.groups)
