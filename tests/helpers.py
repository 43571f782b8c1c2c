"""Helpers shared by the tests: norms, observed orders, analytic solutions, mesh doubling."""

import numpy as np
from scipy.optimize import brentq
from scipy.spatial import cKDTree

from ssbfv.mesh import Mesh


def l2(mesh, err, cells=None):
    """Volume-weighted L2 norm over (some) cells."""
    if cells is None:
        return float(np.sqrt(np.sum(mesh.cell_volumes * err**2)))
    return float(np.sqrt(np.sum(mesh.cell_volumes[cells] * err**2)))


def observed_orders(n_cells, errors):
    """Observed orders of convergence with h ~ n_cells^(-1/3)."""
    n = np.asarray(n_cells, dtype=float)
    e = np.asarray(errors, dtype=float)
    return np.log(e[:-1] / e[1:]) / np.log((n[1:] / n[:-1]) ** (1.0 / 3.0))


def sphere_flux_roots(n):
    """First n positive roots of tan(a) = a (a cot a = 1)."""
    return np.array(
        [brentq(lambda a: np.sin(a) - a * np.cos(a), k * np.pi + 1e-6, (k + 0.5) * np.pi - 1e-12)
         for k in range(1, n + 1)])


def sphere_constant_flux(r, t, radius, diffusivity, influx, n_terms=200):
    """Concentration rise in a sphere with a constant influx density at its surface
    (Carslaw & Jaeger, Conduction of Heat in Solids, 2nd ed., §9.3 eq. (13)):

    c(r,t) - c0 = (J R / D) [3 D t / R^2 + r^2 / (2 R^2) - 3/10
                  - (2 R / r) sum_n sin(a_n r / R) / (a_n^2 sin a_n) exp(-D a_n^2 t / R^2)]

    with a_n the positive roots of a cot a = 1. J [mol/m^2/s] enters the sphere.
    """
    a = sphere_flux_roots(n_terms)
    r = np.maximum(np.asarray(r, dtype=float), 1e-12 * radius)
    rr = r[:, None] / radius
    series = np.sum(np.sin(a * rr) / (a**2 * np.sin(a)) * np.exp(-diffusivity * a**2 * t / radius**2), axis=1)
    return influx * radius / diffusivity * (
        3 * diffusivity * t / radius**2 + rr[:, 0] ** 2 / 2 - 0.3 - 2 / rr[:, 0] * series
    )


def doubled_in_y(mesh, ly):
    """The mesh and a copy translated by ly in y, merged at the shared plane y = ly.

    Needs a mesh whose ymin and ymax triangulations match (gmsh periodic meshing). Patches:
    ymin of the first copy, ymax of the second, all others from both.
    """
    n = mesh.n_points
    pts = np.vstack([mesh.points, mesh.points + [0.0, ly, 0.0]])
    # nodes of the copy on its y = ly plane (= copy's ymin) coincide with first-copy nodes
    tree = cKDTree(mesh.points)
    d, j = tree.query(mesh.points + [0.0, ly, 0.0])
    tol = 1e-9 * ly
    remap = np.arange(2 * n)
    dup = d < tol
    remap[n + np.flatnonzero(dup)] = j[dup]
    cells = mesh.cell_nodes.copy()
    cells2 = np.where(cells >= 0, remap[np.where(cells >= 0, cells + n, 0)], -1)
    cell_nodes = np.vstack([cells, cells2])
    faces_b = mesh.face_nodes[mesh.n_internal:]
    patch = mesh.boundary_face_patch
    names = list(mesh.patch_names)
    iy0, iy1 = names.index("ymin"), names.index("ymax")
    keep1 = patch != iy1
    keep2 = patch != iy0
    f2 = np.where(faces_b >= 0, remap[np.where(faces_b >= 0, faces_b + n, 0)], -1)
    elems = np.vstack([faces_b[keep1], f2[keep2]])
    epatch = np.concatenate([patch[keep1], patch[keep2]])
    return Mesh(pts, cell_nodes, np.concatenate([mesh.cell_nface] * 2),
                np.concatenate([mesh.cell_region] * 2), mesh.region_names, elems, epatch, names)


def tiny_packing(seed: int = 1) -> str:
    """Packing spec (TOML text) of an 8 x 8 x 8 um cathode with 4 um active spheres (50 %)
    behind a 4 um separator: seconds to pack, mesh and run."""
    return f"""seed = {seed}
[box]
lateral_um = [8.0, 8.0]
cathode_thickness_um = 8.0
separator_thickness_um = 4.0
[[species]]
name = "active"
diameter_um = 4.0
volume_fraction = 0.5
"""


def nvp_filler_spec(lateral: float = 20.0, cathode: float = 30.0, separator: float = 5.0,
                    seed: int | None = None) -> str:
    """Packing spec (TOML text) with the reference case's species (54 % NVP of 8 um, filler
    of 4 um at 59 % of the electrolyte) in a smaller box [um]."""
    head = "" if seed is None else f"seed = {seed}\n"
    return head + f"""[box]
lateral_um = [{lateral}, {lateral}]
cathode_thickness_um = {cathode}
separator_thickness_um = {separator}
[[species]]
name = "active"
diameter_um = 8.0
volume_fraction = 0.54
[[species]]
name = "filler"
diameter_um = 4.0
electrolyte_fraction = 0.59
"""
