"""Steady conduction on (some regions of) a mesh: the public entry point of the FV core.

    result = solve_conduction(mesh, {"polymer": 0.006, "filler": 0.15},
                              {"xmin": Dirichlet(0.0), "xmax": Dirichlet(1.0)},
                              periodic=[("ymin", "ymax", (0, Ly, 0))])

solves div(sigma grad phi) = 0 (plus optional sources) with the conditions given per patch.
Faces without a condition are insulated. With ``regions`` the solve is restricted to those
regions; the faces towards the other regions are boundary groups named
``"<inside>|<outside>"`` (insulated unless a condition is given for them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .diffusion import BoundaryArrays, DiffusionOperator, solve_diffusion
from .domain import FvDomain
from .linear import AmgCgSolver


@dataclass
class ConductionResult:
    """Result of :func:`solve_conduction`.

    values : (n_cells,) potential per mesh cell, in mesh cell order; NaN outside the solved
        regions and on floating parts (components with no fixed value)
    patch_flux : {boundary name: total outward flux [A for S/m and V]} for every boundary
        group of the solved domain (patches and region cuts)
    iterations : total linear (CG) iterations
    linear_iterations : CG iterations of each solve (first solve, then each correction)
    correctors : non-orthogonal corrections done
    floating_cells : number of cells in components without any fixed value
    source_total : integral of the sources [A]
    """

    values: np.ndarray
    patch_flux: dict
    iterations: int
    linear_iterations: list
    correctors: int
    floating_cells: int
    source_total: float
    domain: FvDomain = field(repr=False)
    gradient: np.ndarray = field(repr=False)


def cell_coefficients(mesh, domain, coefficients, what="conductivity", positive=True, default=None):
    """Per-domain-cell array from {region: float or per-cell array}.

    A per-cell array may hold one value per cell of the region (region order) or one per
    mesh cell. With ``positive`` the values must be > 0; regions that are not given take
    ``default`` (an error when None).
    """
    if not isinstance(coefficients, dict):
        raise TypeError(f"{what} must map region names to values")
    unknown = set(coefficients) - set(mesh.region_names)
    if unknown:
        raise KeyError(f"{what} given for unknown regions {sorted(unknown)}; the mesh has {list(mesh.region_names)}")
    out = np.empty(domain.n_cells)
    reg = mesh.cell_region[domain.cells]
    for name in domain.regions:
        if name not in coefficients and default is None:
            raise KeyError(f"no {what} given for region {name!r}")
        sel = reg == mesh.region_id(name)
        val = np.asarray(coefficients.get(name, default), dtype=np.float64)
        if val.ndim == 0:
            out[sel] = float(val)
        elif val.shape == (int(sel.sum()),):
            out[sel] = val
        elif val.shape == (mesh.n_cells,):
            out[sel] = val[domain.cells[sel]]
        else:
            raise ValueError(
                f"{what} of region {name!r}: expected a number, {int(sel.sum())} values (region cells) "
                f"or {mesh.n_cells} (mesh cells), got shape {val.shape}"
            )
        bad = ~np.isfinite(out[sel]) | ((out[sel] <= 0.0) if positive else False)
        if np.any(bad):
            need = "finite and > 0" if positive else "finite"
            raise ValueError(f"{what} of region {name!r} must be {need} ({int(bad.sum())} bad values)")
    return out


def solve_conduction(mesh, conductivity, bcs, periodic=(), regions=None, tol=1e-10, *,
                     source=None, n_correctors=20, corrector_tol=1e-8, anderson_depth=3, linear_solver=None,
                     domain=None):
    """Solve steady conduction -div(sigma grad phi) = s.

    Parameters
    ----------
    mesh : Mesh
    conductivity : {region: float or per-cell array} [S/m or any consistent unit], > 0
    bcs : {patch or "<inside>|<outside>" name: Dirichlet | Neumann | Robin}
    periodic : [(patch_a, patch_b, translation)], translation [m] maps patch_a onto patch_b
    regions : region names to solve in (default all)
    tol : relative residual tolerance of each linear solve
    source : optional {region: float or per-cell array} volumetric source [A/m^3]
    n_correctors : maximum number of non-orthogonal corrections (0: uncorrected scheme)
    corrector_tol : stop correcting when the solution changes less than this (relative)
    anderson_depth : Anderson acceleration of the corrections (0: plain deferred correction)
    linear_solver : a LinearSolver (default: AmgCgSolver(tol))
    domain : a prebuilt FvDomain for the same mesh, regions and periodic pairs (reuse)
    """
    if domain is None:
        domain = FvDomain(mesh, regions, periodic)
    sigma = cell_coefficients(mesh, domain, conductivity)
    periodic_names = {n for pa, pb, _ in domain.periodic for n in (pa, pb)}
    for name in bcs:
        if name in periodic_names:
            raise ValueError(f"patch {name!r} is periodic and cannot also have a boundary condition")
    bc = BoundaryArrays.from_conditions(domain, bcs)
    s = None
    if source is not None:
        outside = set(source) - set(domain.regions)
        if outside:
            raise KeyError(f"source given for regions {sorted(outside)} outside the solved regions {list(domain.regions)}")
        s = cell_coefficients(mesh, domain, source, "source", positive=False, default=0.0)

    # components that nothing anchors are removed from the system (their level is undefined)
    n_comp, label = domain.components()
    anchored = np.zeros(n_comp, dtype=bool)
    anchored[label[domain.b_cell[bc.anchored()]]] = True
    floating = ~anchored[label]
    if np.all(floating):
        raise ValueError(
            "the problem is singular: no Dirichlet or Robin condition fixes the potential level "
            f"(conditions given on {sorted(bcs)})"
        )
    if np.any(floating):
        net = np.zeros(n_comp)
        np.add.at(net, label[domain.b_cell], np.where(bc.is_dirichlet, 0.0, bc.q) * domain.b_area)
        if s is not None:
            np.add.at(net, label, -s * domain.cell_volumes)
        tot = np.abs(net).sum() + 1e-300
        if np.any(np.abs(net[~anchored]) > 1e-12 * max(tot, np.abs(bc.q * domain.b_area).sum())):
            raise ValueError("a part of the domain with no fixed potential has a net source or flux: no steady solution")
    op = DiffusionOperator(domain, sigma)
    solver = linear_solver if linear_solver is not None else AmgCgSolver(tol=tol)
    sol = solve_diffusion(op, bc, solver, source=s, n_correctors=n_correctors, corrector_tol=corrector_tol,
                          tol=tol, pinned=floating if np.any(floating) else None, anderson_depth=anderson_depth)
    values = np.full(mesh.n_cells, np.nan)
    phi = sol.phi.copy()
    phi[floating] = np.nan
    values[domain.cells] = phi
    flux = {name: float(sol.boundary_flux[domain.group_slice(name)].sum()) for name in domain.group_names}
    src_total = float((s * domain.cell_volumes).sum()) if s is not None else 0.0
    return ConductionResult(values, flux, int(sum(sol.iterations)), sol.iterations, sol.correctors,
                            int(floating.sum()), src_total, domain, sol.gradient)
