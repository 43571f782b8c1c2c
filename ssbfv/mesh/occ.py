"""Conformal, periodic tetrahedral meshes of sphere packings with gmsh's OpenCASCADE kernel.

Geometry (DESIGN.md §1): a separator box [0, t_sep] and a cathode box [t_sep, x_max], both
[0, Ly] x [0, Lz]; spheres (centres in the cathode) plus their periodic copies across the
y and z sides. Everything is fragmented at once; every fragment volume is then labelled
from the inputs it came from (gmsh's fragment map, exact — no point-in-volume guesses):

- not inside either box            -> not meshed (outside the cell; :func:`_add_spheres`)
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

from ..memory import release_freed_memory
from .cleanup import close_pairs
from .generate import box_side_surfaces, gmsh_session
from .periodic import wrap_periodic

UM = 1e-6
PATCHES = ("anode", "collector", "ymin", "ymax", "zmin", "zmax")


class OccMeshError(RuntimeError):
    """gmsh/OpenCASCADE could not mesh the geometry (the message says at which stage)."""


@dataclass
class OccMeshResult:
    path: str
    n_tets: int
    times: dict = field(default_factory=dict)
    n_fragments: dict = field(default_factory=dict)  # fragment volumes per region, and "outside" (not meshed)
    periodic_refinement: dict = field(default_factory=dict)  # see _generate_periodic
    pole_clearance: float = float("nan")  # [m] smallest distance bound of a sphere pole from the other surfaces (pole_axes)


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


def _fibonacci_hemisphere(k: int) -> np.ndarray:
    """``k`` unit vectors spread evenly over the hemisphere z >= 0, (k, 3)."""
    i = np.arange(k) + 0.5
    z = 1.0 - i / k
    phi = np.pi * (3.0 - np.sqrt(5.0)) * i
    rho = np.sqrt(1.0 - z**2)
    return np.column_stack([rho * np.cos(phi), rho * np.sin(phi), z])


def pole_axes(centres, radii, planes, period, candidates=64):
    """An axis per sphere that keeps its two poles (c ± r a) away from every other sphere
    surface and every box plane.

    OpenCASCADE parametrises a sphere by longitude and latitude about its axis (z by default);
    the poles are singular points of that map. A curve of the fragment through a pole or
    within a hair of it (a plane through the centre of a sphere cuts it along a great circle
    through both poles, as a sphere centred on the separator plane is) leaves gmsh's surface
    mesher with a boundary it cannot close ("The 1D mesh seems not to be forming a closed
    loop": seed 2 of the reference cell, with 11 spheres centred on x = t_sep and 11 on
    x = x_max). Every curve on sphere i lies on another sphere's surface or a plane, so the
    distance of a pole p from the curves is bounded below by
    min(min_j | |p - c_j| - r_j |, min_planes |p - plane|).

    centres (n, 3), radii (n,) in any one length unit; planes: [(axis, value), ...]
    (a periodic axis is taken modulo its period); period: (Ly, Lz) of axes 1 and 2.
    Returns (axes (n, 3) unit vectors, clearance (n,): that bound for the chosen axis),
    choosing among ``candidates`` directions per sphere."""
    c = np.asarray(centres, dtype=np.float64)
    r = np.asarray(radii, dtype=np.float64)
    n = len(r)
    dirs = _fibonacci_hemisphere(candidates)  # (K, 3); d and -d give the same poles
    poles = r[:, None, None, None] * np.stack([dirs, -dirs])[None]  # (n, 2, K, 3) relative to c
    score = np.full((n, candidates), np.inf)
    ly, lz = period
    for axis, value in planes:
        pos = c[:, axis][:, None, None] + poles[..., axis]  # (n, 2, K)
        s = pos - value
        if axis in (1, 2):
            per = ly if axis == 1 else lz
            s = s - per * np.round(s / per)
        score = np.minimum(score, np.abs(s).min(axis=1))
    if n > 1:
        pairs, d = close_pairs(c, r, (0.0, ly, lz), 0.0)
        i, j = np.concatenate([pairs[:, 0], pairs[:, 1]]), np.concatenate([pairs[:, 1], pairs[:, 0]])
        d = np.concatenate([d, -d])
        near = np.linalg.norm(d, axis=1) < r[i] + r[j]  # only overlapping spheres cut sphere i
        i, j, d = i[near], j[near], d[near]
        for lo in range(0, len(i), 4096):  # bounded memory: (4096, 2, K, 3)
            sl = slice(lo, lo + 4096)
            q = poles[i[sl]] - d[sl][:, None, None, :]
            f = np.abs(np.linalg.norm(q, axis=-1) - r[j[sl]][:, None, None]).min(axis=1)
            np.minimum.at(score, i[sl], f)
    best = np.argmax(score, axis=1)
    return dirs[best], score[np.arange(n), best]


def _add_spheres(occ, centres_um, radii_um, axes=None):
    """Add the spheres to the OCC model whole, also where they leave the box (the fragment with
    the boxes splits them there), each turned so that its axis (poles) is ``axes[k]``
    (:func:`pole_axes`; None: OCC's z axis). Returns their volume tags.

    Cutting the spheres to the box before the fragment (one Boolean per sphere that leaves
    it) gives every cut sphere a disk face in the side plane, coplanar with the box side and
    with the disks of its neighbours. OpenCASCADE's fragment of overlapping coplanar faces
    then partitioned y = 0 and y = Ly differently: on seed 2 of the reference cell 808
    surfaces against 804, with 29 surfaces without a translate, 20 of them far from any
    near-degenerate point. With whole spheres the side planes are cut only transversally
    (by sphere surfaces) and the same packing gives 899 and 899 surfaces, all translates
    (benchmarks/RESULTS.md). The pieces outside the box are not removed (removing entities
    from a gmsh model of this size took longer than the fragment), but hidden from the
    mesher: :func:`mesh_spheres_occ`."""
    tags = []
    for k, ((x, y, z), r) in enumerate(zip(centres_um, radii_um)):
        t = occ.addSphere(float(x), float(y), float(z), float(r))
        if axes is not None:
            ax = np.asarray(axes[k], dtype=np.float64)
            angle = float(np.arccos(np.clip(ax[2], -1.0, 1.0)))
            if angle > 1e-12 and np.pi - angle > 1e-12:
                occ.rotate([(3, t)], float(x), float(y), float(z), float(-ax[1]), float(ax[0]), 0.0, angle)
        tags.append(t)
    return tags


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
    x[:, 1] = wrap_periodic(x[:, 1], ly)
    x[:, 2] = wrap_periodic(x[:, 2], lz)
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


def _show_only(gmsh, dim_tags) -> None:
    """Make ``dim_tags`` and their boundaries (recursively) the only visible entities, and
    have gmsh mesh only visible entities."""
    gmsh.model.setVisibility(gmsh.model.getEntities(), 0)
    gmsh.model.setVisibility(list(dim_tags), 1, recursive=True)
    gmsh.option.setNumber("Mesh.MeshOnlyVisible", 1)


def _generate_periodic(gmsh, periodic_pairs, period, eps, passes=3, repairs=3, dim=3, stage=None,
                       volumes=None, surfaces=None) -> dict:
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
    ``volumes``, ``surfaces``: the volumes to mesh and their boundary surfaces (None: all of
    the model); the other entities stay hidden (Mesh.MeshOnlyVisible).
    Raises OccMeshError."""
    stage = stage or (lambda name: None)
    mesh = gmsh.model.mesh
    classes = _periodic_curve_classes(gmsh, period[0], period[1], eps)
    translates = {c: cls for cls in classes for c in cls}
    sizes: dict[int, list] = {}
    report = {"passes": [], "repairs": []}
    if classes and passes:
        side_surfaces = set()
        for c in translates:
            side_surfaces.update(int(s) for s in gmsh.model.getAdjacencies(1, c)[0])
        if surfaces is not None:
            side_surfaces &= set(surfaces)
        _show_only(gmsh, [(2, s) for s in sorted(side_surfaces)])
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
            if volumes is None:
                gmsh.option.setNumber("Mesh.MeshOnlyVisible", 0)
                gmsh.model.setVisibility(gmsh.model.getEntities(), 1)
            else:
                _show_only(gmsh, [(3, v) for v in volumes])
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
                     presplit_passes=3, periodic_repairs=3, orient_poles=True, stage=None) -> OccMeshResult:
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
    orient_poles : turn every sphere so that its poles are away from the other surfaces and
        the planes (:func:`pole_axes`); False keeps OCC's z axis
    stage : optional callable, called with the name of each stage as it begins (spheres,
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
    pole_clearance = float("nan")
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
        stage(f"add {len(pc)} spheres (with periodic copies)")
        try:
            axes = None
            if orient_poles and len(r_um):
                planes = [(0, t_sep), (0, x_max), (1, 0.0), (2, 0.0)]
                axes, clear = pole_axes(c_um, r_um, planes, (ly, lz))
                pole_clearance = float(clear.min()) * UM
                axes = axes[pidx]
            sphere_tags = _add_spheres(occ, pc, pr, axes)
        except Exception as exc:
            raise OccMeshError(f"OpenCASCADE could not make the spheres: {exc}") from exc
        times["spheres_s"] = time.perf_counter() - t0
        stage("fragment")
        try:
            _, omap = occ.fragment([(3, t) for _, t in boxes], [(3, t) for t in sphere_tags])
            occ.synchronize()
        except Exception as exc:
            raise OccMeshError(f"OpenCASCADE fragment failed: {exc}") from exc
        release_freed_memory()  # the fragment's freed temporaries (benchmarks/RESULTS.md: 3.3 -> 0.9 GB resident)
        times["fragment_s"] = time.perf_counter() - t0 - times["spheres_s"]
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
        n_outside = 0
        for tag, ps in parents.items():
            if "separator" in ps:
                name = "separator"
            elif "cathode" not in ps:
                n_outside += 1
                continue
            else:
                sp_in = sorted(k for kind, k in (p for p in ps if isinstance(p, tuple)))
                name = species_names[sp_in[0]] if sp_in else "polymer"
            regions.setdefault(name, []).append(tag)
        # the pieces of spheres outside the box stay in the model (see _add_spheres); only
        # the box's volumes and their boundaries are meshed (Mesh.MeshOnlyVisible)
        inside = [t for tags in regions.values() for t in tags]
        _show_only(gmsh, [(3, t) for t in inside])
        inside_surfaces = {s for _, s in gmsh.model.getBoundary([(3, t) for t in inside], combined=False,
                                                                oriented=False)}
        times["label_s"] = time.perf_counter() - t0 - times["spheres_s"] - times["fragment_s"]

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
        times["periodic_s"] = time.perf_counter() - t0 - times["spheres_s"] - times["fragment_s"] - times["label_s"]
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
                                        repairs=periodic_repairs, stage=stage, volumes=inside,
                                        surfaces=inside_surfaces)
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
    fragments = {k: len(v) for k, v in regions.items()} | {"outside": n_outside}
    return OccMeshResult(path, n_tets, times, fragments, refinement, pole_clearance)
