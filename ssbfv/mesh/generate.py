"""Simple gmsh meshes: layered boxes and spheres (for the demo, tests and benchmarks).

Every mesh is unstructured (gmsh Delaunay/HXT tetrahedra, hence non-orthogonal) and
labelled: volumes by region name, surfaces ``xmin, xmax, ymin, ymax, zmin, zmax`` for a box,
``surface`` for a sphere. Periodic y/z sides use gmsh's ``setPeriodic`` so that opposite
faces carry identical (translated) triangulations.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np


@contextlib.contextmanager
def gmsh_session(verbose: bool = False, threads: int = 1):
    """Initialise gmsh for the duration of a block (and always finalise it)."""
    import gmsh

    gmsh.initialize(readConfigFiles=False)
    try:
        gmsh.option.setNumber("General.Terminal", 1 if verbose else 0)
        gmsh.option.setNumber("General.Verbosity", 2 if verbose else 0)
        gmsh.option.setNumber("General.NumThreads", threads)
        yield gmsh
    finally:
        gmsh.finalize()


def surfaces_in_plane(gmsh, axis, value, extent, eps) -> list:
    """Tags of the surfaces of the current gmsh model that lie in the plane
    x_axis = value, within ``eps``, inside the box [0, extent]."""
    lo = [-eps, -eps, -eps]
    hi = [extent[0] + eps, extent[1] + eps, extent[2] + eps]
    lo[axis], hi[axis] = value - eps, value + eps
    return [s for _, s in gmsh.model.getEntitiesInBoundingBox(*lo, *hi, dim=2)]


def box_side_surfaces(gmsh, extent, eps, names=("xmin", "xmax", "ymin", "ymax", "zmin", "zmax")) -> dict:
    """Surface tags on the six sides of the box [0, extent] of the current gmsh model,
    {name: [tags]} with names for x = 0, x = Lx, y = 0, y = Ly, z = 0, z = Lz."""
    out = {}
    for k, name in enumerate(names):
        axis, at_max = divmod(k, 2)
        out[name] = surfaces_in_plane(gmsh, axis, extent[axis] if at_max else 0.0, extent, eps)
    return out


def box_tet_mesh(
    path: str | os.PathLike,
    size=(1.0, 1.0, 1.0),
    h: float = 0.1,
    layers: tuple[tuple[str, float], ...] | None = None,
    periodic_y: bool = False,
    periodic_z: bool = False,
    msh_version: float = 4.1,
    algorithm3d: int = 1,
    seed: int = 0,
    threads: int = 1,
) -> str:
    """Mesh a box [0, Lx] x [0, Ly] x [0, Lz] with tetrahedra and write it to ``path``.

    Parameters
    ----------
    size : (Lx, Ly, Lz) box size (any length unit; read the file with the matching scale)
    h : target element size
    layers : optional ((region_name, thickness), ...) slabs stacked along x from x = 0; the
        thicknesses must add up to Lx. Default: one region ``box``.
    periodic_y, periodic_z : make opposite side faces periodic (identical triangulations)
    msh_version : 2.2 or 4.1 (ASCII)
    algorithm3d : gmsh Mesh.Algorithm3D (1 Delaunay, 10 HXT)
    seed : gmsh Mesh.RandomSeed, to get different but reproducible meshes
    """
    lx, ly, lz = (float(v) for v in size)
    if layers is None:
        layers = (("box", lx),)
    if abs(sum(t for _, t in layers) - lx) > 1e-9 * lx:
        raise ValueError("layer thicknesses must add up to the box length in x")
    with gmsh_session(threads=threads) as gmsh:
        occ = gmsh.model.occ
        vols = []
        x0 = 0.0
        for _, t in layers:
            vols.append(occ.addBox(x0, 0.0, 0.0, t, ly, lz))
            x0 += t
        if len(vols) > 1:
            out, out_map = occ.fragment([(3, v) for v in vols[:1]], [(3, v) for v in vols[1:]])
            vols = [m[0][1] for m in out_map]
        occ.synchronize()
        eps = 1e-7 * max(lx, ly, lz)
        sides = box_side_surfaces(gmsh, (lx, ly, lz), eps)
        for axis, flag, (a, b) in ((1, periodic_y, ("ymin", "ymax")), (2, periodic_z, ("zmin", "zmax"))):
            if not flag:
                continue
            t = [0.0, 0.0, 0.0]
            t[axis] = (ly, lz)[axis - 1]
            affine = [1, 0, 0, t[0], 0, 1, 0, t[1], 0, 0, 1, t[2], 0, 0, 0, 1]
            for sa in sides[a]:
                # partner: the surface of b whose bounding box is sa's translated by t
                bb = np.array(gmsh.model.getBoundingBox(2, sa))
                bb[[0, 1, 2]] += t
                bb[[3, 4, 5]] += t
                cand = gmsh.model.getEntitiesInBoundingBox(
                    *(bb[:3] - eps), *(bb[3:] + eps), dim=2
                )
                partners = [s for _, s in cand if s in sides[b]]
                gmsh.model.mesh.setPeriodic(2, partners, [sa], affine)
        for (name, _), v in zip(layers, vols):
            gmsh.model.addPhysicalGroup(3, [v], name=name)
        for name, surfs in sides.items():
            gmsh.model.addPhysicalGroup(2, surfs, name=name)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.Algorithm3D", algorithm3d)
        gmsh.option.setNumber("Mesh.RandomSeed", seed)
        gmsh.option.setNumber("Mesh.MshFileVersion", msh_version)
        gmsh.model.mesh.generate(3)
        gmsh.write(os.fspath(path))
    return os.fspath(path)


def sphere_tet_mesh(path: str | os.PathLike, radius: float = 1.0, h: float = 0.2,
                    msh_version: float = 4.1, seed: int = 0) -> str:
    """Mesh a sphere of ``radius`` centred at the origin; region ``sphere``, patch ``surface``."""
    with gmsh_session() as gmsh:
        v = gmsh.model.occ.addSphere(0.0, 0.0, 0.0, radius)
        gmsh.model.occ.synchronize()
        gmsh.model.addPhysicalGroup(3, [v], name="sphere")
        gmsh.model.addPhysicalGroup(2, [s for _, s in gmsh.model.getBoundary([(3, v)])], name="surface")
        gmsh.option.setNumber("Mesh.MeshSizeMin", h)
        gmsh.option.setNumber("Mesh.MeshSizeMax", h)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.option.setNumber("Mesh.RandomSeed", seed)
        gmsh.option.setNumber("Mesh.MshFileVersion", msh_version)
        gmsh.model.mesh.generate(3)
        gmsh.write(os.fspath(path))
    return os.fspath(path)
