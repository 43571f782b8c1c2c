"""Conformal, periodic tetrahedral meshes of sphere packings with gmsh's OpenCASCADE kernel.

Geometry (DESIGN.md §1): a separator box [0, t_sep] and a cathode box [t_sep, x_max], both
[0, Ly] x [0, Lz]; spheres (centres in the cathode) plus their periodic copies across the
y and z sides. Everything is fragmented at once; every fragment volume is then labelled
from the inputs it came from (gmsh's fragment map, exact — no point-in-volume guesses):

- not inside either box            -> removed (outside the cell)
- inside the separator box         -> ``separator`` (spheres are trimmed by the slab)
- inside a sphere of species k     -> the name of the first such species (priority by
                                      species order: a lens shared by active and filler is
                                      active)
- otherwise                        -> ``polymer``

Periodic sides: each surface on y = 0 (z = 0) is matched to the surface on y = Ly (z = Lz)
whose centre of mass is its translate, and meshed identically (``setPeriodic``).

Periodic meshing (:func:`_generate_periodic`): gmsh's surface mesher splits boundary edges
and retries when the 1D mesh of two nearly tangent curves intersects in a surface's
parameter plane. On a curve of a periodic side that split is not made on its translate, and
the periodic copy then fails ("curve has 1 vertices, whereas correspondant has 2"). So the
surfaces that touch the periodic sides are first meshed without the periodic constraints;
every side curve the mesher had to split gives its refined node spacing, as sizes at
parametric points, to itself and to all its translates; this is repeated until a pass splits
none, then the mesh is cleared and generated with the constraints.
Physical groups: volumes per region name; surfaces ``anode`` (x = 0), ``collector``
(x = x_max), ``ymin``, ``ymax``, ``zmin``, ``zmax``.

All lengths passed to gmsh are in µm (gmsh's tolerances are absolute); the file is written
in µm: read it with ``ssbfv.mesh.read(path, scale=1e-6)``.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .generate import box_side_surfaces, gmsh_session

UM = 1e-6
PATCHES = ("anode", "collector", "ymin", "ymax", "zmin", "zmax")


class OccMeshError(RuntimeError):
    """gmsh/OpenCASCADE could not mesh the geometry (the message says at which stage)."""


@dataclass
class OccMeshResult:
    path: str
    n_tets: int
    times: dict = field(default_factory=dict)
    n_fragments: dict = field(default_factory=dict)
    periodic_refinement: dict = field(default_factory=dict)  # see _generate_periodic


def _periodic_copies(centres_um, radii_um, ly, lz):
    """Spheres and their translates by ±Ly, ±Lz that reach into the box laterally.
    Returns (centres, radii, index of the original sphere)."""
    cs, rs, idx = [], [], []
    for dy in (-ly, 0.0, ly):
        for dz in (-lz, 0.0, lz):
            c = centres_um + [0.0, dy, dz]
            r = radii_um
            inside = (c[:, 1] + r > 0) & (c[:, 1] - r < ly) & (c[:, 2] + r > 0) & (c[:, 2] - r < lz)
            cs.append(c[inside])
            rs.append(r[inside])
            idx.append(np.flatnonzero(inside))
    return np.concatenate(cs), np.concatenate(rs), np.concatenate(idx)


def _trimmed_spheres(occ, centres_um, radii_um, index, extent_um):
    """Add the spheres to the OCC model, each one that leaves the box [0, extent] cut down to
    its part inside (one small Boolean per such sphere). Returns (volume tags, index of the
    original sphere per tag); a sphere can leave several pieces, or none.

    Fragmenting the untrimmed spheres and removing the outside pieces afterwards is
    superlinear in the model size (6 s on ~150 spheres): on the reference cell (2477 spheres with their periodic
    copies, 18 740 fragment volumes) the removal was still running 14 minutes after a
    397 s fragment, on a shared machine."""
    lo = centres_um - radii_um[:, None]
    hi = centres_um + radii_um[:, None]
    ext = np.asarray(extent_um, dtype=np.float64)
    crossing = np.any(lo < 0.0, axis=1) | np.any(hi > ext, axis=1)
    box = occ.addBox(0.0, 0.0, 0.0, *(float(v) for v in ext)) if crossing.any() else None
    tags, idx = [], []
    for k, ((x, y, z), r) in enumerate(zip(centres_um, radii_um)):
        t = occ.addSphere(float(x), float(y), float(z), float(r))
        if crossing[k]:
            out, _ = occ.intersect([(3, t)], [(3, box)], removeObject=True, removeTool=False)
            pieces = [tag for dim, tag in out if dim == 3]
        else:
            pieces = [t]
        tags.extend(pieces)
        idx.extend([index[k]] * len(pieces))
    if box is not None:
        occ.remove([(3, box)], recursive=True)
    return tags, np.asarray(idx, dtype=np.int64)


def _curve_spacing(gmsh, curve):
    """Parametric coordinates of the 1D mesh nodes of ``curve`` (end points included) and the
    node spacing there: the shorter of the two adjacent mesh edges [model units]."""
    _, xyz, t = gmsh.model.mesh.getNodes(1, curve, includeBoundary=True, returnParametricCoord=True)
    t = np.asarray(t, dtype=np.float64)
    x = np.asarray(xyz, dtype=np.float64).reshape(-1, 3)
    if t.size < 2:
        return None
    order = np.argsort(t)
    t, x = t[order], x[order]
    seg = np.linalg.norm(np.diff(x, axis=0), axis=1)
    spacing = np.empty(t.size)
    spacing[0], spacing[-1] = seg[0], seg[-1]
    spacing[1:-1] = np.minimum(seg[:-1], seg[1:])
    return t, x, spacing


def _interior_node_counts(gmsh, curves) -> dict:
    """Number of 1D mesh nodes inside each of ``curves`` (end points excluded)."""
    return {c: len(gmsh.model.mesh.getNodes(1, c, includeBoundary=False)[0]) for c in curves}


def _periodic_curve_classes(gmsh, ly, lz, eps) -> list[list[int]]:
    """Curves in the periodic side planes (y = 0, Ly; z = 0, Lz), grouped into classes of
    translates of each other (same length, centres of mass equal modulo the periods): the
    curves that gmsh's periodic copy will give one and the same 1D mesh."""
    occ = gmsh.model.occ
    curves, com, length = [], [], []
    for _, c in gmsh.model.getEntities(1):
        bb = gmsh.model.getBoundingBox(1, c)
        on_y = any(abs(bb[1] - v) < eps and abs(bb[4] - v) < eps for v in (0.0, ly))
        on_z = any(abs(bb[2] - v) < eps and abs(bb[5] - v) < eps for v in (0.0, lz))
        if on_y or on_z:
            curves.append(c)
            com.append(occ.getCenterOfMass(1, c))
            length.append(occ.getMass(1, c))
    if not curves:
        return []
    x = np.asarray(com, dtype=np.float64)
    x[:, 1] %= ly
    x[:, 2] %= lz
    x[:, 0] -= x[:, 0].min()
    span = float(np.ptp(x[:, 0])) + 1.0
    tree = cKDTree(x, boxsize=[4.0 * span, ly, lz])
    pairs = tree.query_pairs(10.0 * eps, output_type="ndarray")
    length = np.asarray(length)
    if pairs.size:
        same = np.abs(length[pairs[:, 0]] - length[pairs[:, 1]]) <= 1e-6 * np.maximum(length[pairs[:, 0]], 1e-12)
        pairs = pairs[same]
    n = len(curves)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if pairs.size else coo_matrix((n, n))
    _, label = connected_components(graph, directed=False)
    classes: dict[int, list[int]] = {}
    for c, k in zip(curves, label):
        classes.setdefault(int(k), []).append(c)
    return [v for v in classes.values() if len(v) > 1]


_PERIODIC_COPY_ERROR = re.compile(r"curve (\d+) has (\d+) vertices, whereas correspondant (\d+) has (\d+)")


def _refine_translates(gmsh, curve, translates, sizes) -> None:
    """Add the node spacing of ``curve``'s current 1D mesh, as sizes at parametric points,
    to every curve in ``translates`` (``curve`` included): sizes[c] = [params, spacing]."""
    got = _curve_spacing(gmsh, curve)
    if got is None:
        return
    _, x, spacing = got
    corner = np.asarray(gmsh.model.getBoundingBox(1, curve)[:3])
    for other in translates:
        shift = corner - np.asarray(gmsh.model.getBoundingBox(1, other)[:3])
        t = np.asarray(gmsh.model.getParametrization(1, other, (x - shift).ravel().tolist()))
        have = sizes.get(other, [np.zeros(0), np.zeros(0)])
        sizes[other] = [np.concatenate([have[0], t]), np.concatenate([have[1], spacing])]


def _set_curve_sizes(gmsh, sizes) -> None:
    """Apply ``sizes`` (see :func:`_refine_translates`). gmsh clamps them to
    Mesh.MeshSizeMin, which is kept: asking for half the spacing and lowering the minimum
    as far as h_min / 4 made HXT fail on the test case of tests/test_occ.py and did not help
    where one more split was still needed."""
    gmsh.option.setNumber("Mesh.MeshSizeFromParametricPoints", 1)
    for c, (t, spacing) in sizes.items():
        order = np.argsort(t)
        gmsh.model.mesh.setSizeAtParametricPoints(1, c, t[order].tolist(), spacing[order].tolist())


def _generate_periodic(gmsh, periodic_pairs, period, eps, passes=3, repairs=3, dim=3, stage=None) -> dict:
    """Mesh the model up to ``dim`` with the periodic surface pairs
    ``[(slave, master, affine), ...]`` (module doc). ``period``: (Ly, Lz).

    1. Up to ``passes`` times: mesh the surfaces that touch a curve of a periodic side,
       without the periodic constraints; every such curve that the surface mesher had to
       split gives its refined node spacing, as sizes at parametric points, to itself and to
       all its translates; stop when a pass splits none.
    2. Mesh with the constraints. If the periodic copy still fails on a side curve (a copy
       can be oriented the other way than the curve meshed in step 1, and come out with
       other nodes), the curve that was split gives its spacing to its translates in the
       same way, and the mesh is generated again, up to ``repairs`` times.

    Returns {"passes": side curves split per pass, "repairs": curves repaired in step 2}.
    ``stage``: optional callable, called with the name of each stage as it begins.
    Raises OccMeshError."""
    stage = stage or (lambda name: None)
    mesh = gmsh.model.mesh
    classes = _periodic_curve_classes(gmsh, period[0], period[1], eps)
    translates = {c: cls for cls in classes for c in cls}
    sizes: dict[int, list] = {}
    report = {"passes": [], "repairs": []}
    if classes and passes:
        surfaces = set()
        for c in translates:
            surfaces.update(int(s) for s in gmsh.model.getAdjacencies(1, c)[0])
        gmsh.model.setVisibility(gmsh.model.getEntities(), 0)
        gmsh.model.setVisibility([(2, s) for s in sorted(surfaces)], 1, recursive=True)
        gmsh.option.setNumber("Mesh.MeshOnlyVisible", 1)
        try:
            for k in range(passes):
                stage(f"side surfaces without periodic constraints, pass {k + 1}")
                try:
                    mesh.generate(1)
                    before = _interior_node_counts(gmsh, translates)
                    mesh.generate(2)
                except Exception as exc:
                    raise OccMeshError(f"gmsh surface meshing (pass {k + 1}, without periodic constraints) "
                                       f"failed: {exc}") from exc
                split = [c for c, n in _interior_node_counts(gmsh, translates).items() if n > before[c]]
                report["passes"].append(len(split))
                for c in split:
                    _refine_translates(gmsh, c, translates[c], sizes)
                mesh.clear()
                if not split:
                    break
                _set_curve_sizes(gmsh, sizes)
        finally:
            gmsh.option.setNumber("Mesh.MeshOnlyVisible", 0)
            gmsh.model.setVisibility(gmsh.model.getEntities(), 1)
    for slave, master, affine in periodic_pairs:
        mesh.setPeriodic(2, [slave], [master], affine)
    for attempt in range(repairs + 1):
        stage("periodic mesh, 1D to 3D" + (f" (repair {attempt})" if attempt else ""))
        try:
            mesh.generate(dim)
            return report
        except Exception as exc:
            failed = _PERIODIC_COPY_ERROR.search(str(exc))
            if attempt == repairs or failed is None:
                raise OccMeshError(f"gmsh 3D meshing failed: {exc}") from exc
            a, na, b, nb = (int(v) for v in failed.groups())
            split = a if na > nb else b
            if split not in translates:
                raise OccMeshError(f"gmsh 3D meshing failed: {exc}") from exc
            report["repairs"].append(split)
            _refine_translates(gmsh, split, translates[split], sizes)
            mesh.clear()
            _set_curve_sizes(gmsh, sizes)


def compensated_radii(radii, h, curvature_points=12):
    """Radii [m] increased by the mean faceting depth a^2 / (8 r) of a sphere triangulated
    with the expected edge a = min(h, 2 pi r / curvature_points): the meshed (faceted)
    sphere then has the exact sphere's volume to leading order."""
    r = np.asarray(radii, dtype=np.float64)
    edge = np.minimum(float(h), 2 * np.pi * r / max(curvature_points, 1))
    return r + edge**2 / (8.0 * r)


def mesh_spheres_occ(path, centres, radii, species, species_names, box, separator_thickness,
                     h, h_min=None, curvature_points=12, algorithm3d=10, optimize=True,
                     msh_version=4.1, threads=1, verbose=False, preserve_volume=True,
                     presplit_passes=3, periodic_repairs=3, stage=None) -> OccMeshResult:
    """Mesh a half-cell with spheres (all lengths in m) and write a gmsh file in µm.

    Parameters
    ----------
    centres, radii, species : spheres [m] and their species index
    species_names : region name per species (priority in this order)
    box : (x_max, Ly, Lz) [m]; separator_thickness [m]
    h : target element size [m]; h_min : smallest element size [m] (default h / 4)
    curvature_points : elements per 2 pi of surface curvature (gmsh MeshSizeFromCurvature)
    algorithm3d : gmsh 3D algorithm (10: HXT, 1: Delaunay)
    optimize : run gmsh's tetrahedron optimiser
    preserve_volume : compensate the faceting of sphere surfaces: a sphere triangulated
        with edge a loses a layer of mean depth a^2 / (8 r) (mean depth of a spherical
        cap over an equilateral triangle inscribed in it), so its radius is increased by
        that amount, with a = min(h, 2 pi r / curvature_points) the expected edge; this
        keeps the meshed volume (and, to the same order, the area) of each sphere at its
        exact value instead of a few per cent below it
    presplit_passes, periodic_repairs : surface-meshing passes without the periodic
        constraints before the final one, and re-meshings after a failed periodic copy
        (module doc, :func:`_generate_periodic`); 0 and 0 mesh with the constraints once
    stage : optional callable, called with the name of each stage as it begins (trim,
        fragment, labels and periodic pairs, the meshing passes, write)

    Raises OccMeshError when OpenCASCADE or gmsh fails, or the periodic sides do not match.
    """
    path = os.fspath(path)
    c_um = np.asarray(centres, dtype=np.float64) / UM
    r_um = np.asarray(radii, dtype=np.float64) / UM
    if preserve_volume:
        r_um = compensated_radii(r_um * UM, h, curvature_points) / UM
    species = np.asarray(species, dtype=np.int64)
    x_max, ly, lz = (float(v) / UM for v in box)
    t_sep = float(separator_thickness) / UM
    h_um = float(h) / UM
    h_min_um = h_um / 4.0 if h_min is None else float(h_min) / UM
    eps = 1e-6 * max(x_max, ly, lz)
    times = {}
    stage = stage or (lambda name: None)
    t0 = time.perf_counter()
    with gmsh_session(verbose=verbose, threads=threads) as gmsh:
        occ = gmsh.model.occ
        gmsh.option.setNumber("Geometry.OCCParallel", 1 if threads > 1 else 0)
        boxes = []
        if t_sep > 0:
            boxes.append(("separator", occ.addBox(0.0, 0.0, 0.0, t_sep, ly, lz)))
        boxes.append(("cathode", occ.addBox(t_sep, 0.0, 0.0, x_max - t_sep, ly, lz)))
        pc, pr, pidx = _periodic_copies(c_um, r_um, ly, lz)
        stage(f"trim {len(pc)} spheres (with periodic copies) to the box")
        try:
            sphere_tags, pidx = _trimmed_spheres(occ, pc, pr, pidx, (x_max, ly, lz))
        except Exception as exc:
            raise OccMeshError(f"OpenCASCADE trimming of the spheres at the box failed: {exc}") from exc
        times["trim_s"] = time.perf_counter() - t0
        stage("fragment")
        try:
            _, omap = occ.fragment([(3, t) for _, t in boxes], [(3, t) for t in sphere_tags])
            occ.synchronize()
        except Exception as exc:
            raise OccMeshError(f"OpenCASCADE fragment failed: {exc}") from exc
        times["fragment_s"] = time.perf_counter() - t0 - times["trim_s"]
        stage("labels and periodic pairs")

        # parents of every fragment volume, from the fragment map (inputs in order)
        n_box = len(boxes)
        kinds = [name for name, _ in boxes] + [int(species[i]) for i in pidx]
        parents: dict[int, set] = {}
        for k, m in enumerate(omap):
            for dim, tag in m:
                if dim == 3:
                    parents.setdefault(tag, set()).add(kinds[k] if k < n_box else ("sphere", kinds[k]))
        regions: dict[str, list[int]] = {}
        removed = []
        for tag, ps in parents.items():
            if "separator" in ps:
                name = "separator"
            elif "cathode" not in ps:
                removed.append(tag)
                continue
            else:
                sp_in = sorted(k for kind, k in (p for p in ps if isinstance(p, tuple)))
                name = species_names[sp_in[0]] if sp_in else "polymer"
            regions.setdefault(name, []).append(tag)
        if removed:
            # the spheres were trimmed to the box before the fragment, so this is at most a
            # sliver left by OCC's tolerances (removing from the gmsh model is slow at scale)
            gmsh.model.removeEntities([(3, t) for t in removed], recursive=True)
        times["label_s"] = time.perf_counter() - t0 - times["trim_s"] - times["fragment_s"]

        sides = box_side_surfaces(gmsh, (x_max, ly, lz), eps, names=PATCHES)
        periodic_pairs = []  # (slave surface on ymax/zmax, master on ymin/zmin, affine)
        for axis, (a, b), period in ((1, ("ymin", "ymax"), ly), (2, ("zmin", "zmax"), lz)):
            t = [0.0, 0.0, 0.0]
            t[axis] = period
            if len(sides[a]) != len(sides[b]):
                raise OccMeshError(
                    f"periodic mismatch: {len(sides[a])} surfaces on {a} but {len(sides[b])} on {b}"
                )
            cb = np.array([occ.getCenterOfMass(2, s) for s in sides[b]])
            mb = np.array([occ.getMass(2, s) for s in sides[b]])
            affine = [1, 0, 0, t[0], 0, 1, 0, t[1], 0, 0, 1, t[2], 0, 0, 0, 1]
            for s in sides[a]:
                c = np.array(occ.getCenterOfMass(2, s)) + t
                d = np.linalg.norm(cb - c, axis=1)
                j = int(np.argmin(d))
                if d[j] > 1e-6 * max(ly, lz) or abs(mb[j] - occ.getMass(2, s)) > 1e-6 * max(mb[j], 1e-12):
                    raise OccMeshError(f"periodic mismatch: surface {s} on {a} has no translate on {b}")
                periodic_pairs.append((sides[b][j], s, affine))
        times["periodic_s"] = time.perf_counter() - t0 - times["trim_s"] - times["fragment_s"] - times["label_s"]
        for name, tags in regions.items():
            gmsh.model.addPhysicalGroup(3, tags, name=name)
        for name in PATCHES:
            gmsh.model.addPhysicalGroup(2, sides[name], name=name)

        gmsh.option.setNumber("Mesh.MeshSizeMax", h_um)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h_min_um)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", curvature_points)
        gmsh.option.setNumber("Mesh.Algorithm3D", algorithm3d)
        gmsh.option.setNumber("Mesh.Optimize", 1 if optimize else 0)
        gmsh.option.setNumber("Mesh.MshFileVersion", msh_version)
        t1 = time.perf_counter()
        refinement = _generate_periodic(gmsh, periodic_pairs, (ly, lz), eps, passes=presplit_passes,
                                        repairs=periodic_repairs, stage=stage)
        times["mesh_s"] = time.perf_counter() - t1
        _, tags, _ = gmsh.model.mesh.getElements(3)
        n_tets = int(sum(len(t) for t in tags))
        if n_tets == 0:
            raise OccMeshError("gmsh produced no tetrahedra")
        tmp = path + ".tmp.msh"
        stage("write")
        t2 = time.perf_counter()
        gmsh.write(tmp)
        times["write_s"] = time.perf_counter() - t2
        os.replace(tmp, path)
    times["total_s"] = time.perf_counter() - t0
    return OccMeshResult(path, n_tets, times, {k: len(v) for k, v in regions.items()}, refinement)
