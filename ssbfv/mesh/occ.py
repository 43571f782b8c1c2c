"""Conformal, periodic tetrahedral meshes of sphere packings with gmsh's OpenCASCADE kernel.

Geometry (DESIGN.md §1): a separator box [0, t_sep] and a cathode box [t_sep, x_max], both
[0, Ly] x [0, Lz]; spheres (centres in the cathode) plus their periodic copies across the
y and z sides. The cathode may be cut into slabs by planes x = const (``slab_planes``;
``cleanup.slab_planes`` places them, ``cleanup.clean_spheres`` keeps the spheres clear of
them). Each slab (the first with the separator) is fragmented with the spheres that reach
into it, in a gmsh model of its own; every fragment volume is then labelled from the inputs
it came from (gmsh's fragment map, exact — no point-in-volume guesses):

- not inside the slab's boxes      -> not meshed (outside the slab; :func:`_add_spheres`)
- inside the separator box         -> ``separator`` (spheres are trimmed by the slab)
- inside a sphere of species k     -> the name of the first such species (priority by
                                      species order: a lens shared by active and filler is
                                      active)
- otherwise                        -> ``polymer``

The volumes inside the slab go to a BREP file and are read back into the cell's model
(labels follow by centre of mass and volume). Why slabs: the memory of OpenCASCADE's
fragment grows with the number of surfaces in one Boolean (47-65 kB each, 3.3 GB on the
reference cell), and gmsh's 3D mesh with the number of tetrahedra held at once; with slabs
both follow the largest slab (benchmarks/RESULTS.md).

Periodic sides: each surface on y = 0 (z = 0) is matched to the surface on y = Ly (z = Lz)
whose centre of mass is its translate, and meshed identically (``setPeriodic``). Slab
planes: each surface of slab k + 1 on the plane is the copy of one of slab k (``setPeriodic``
by zero translation), so the two sides get the same triangles.

Periodic meshing (:func:`_generate_periodic`): gmsh's surface mesher splits boundary edges
and retries when the 1D mesh of two nearly tangent curves intersects in a surface's
parameter plane. On a curve of a periodic side that split is not made on its translate, and
the periodic copy then fails ("curve has 1 vertices, whereas correspondant has 2"). So the
surfaces that touch the periodic sides (and the slab planes) are first meshed without the
periodic constraints; every side curve the mesher had to split gives its refined node
spacing, as sizes at parametric points, to itself and to all its translates; this is
repeated until a pass splits none, then the mesh is cleared and generated with the
constraints, up to the surfaces.

Volumes: the slabs are tetrahedralised one after the other (the others hidden), and each
slab's tetrahedra are taken out of gmsh and cleared before the next; a slab whose 3D mesher
touched the surface mesh is an error. The nodes the slabs share on a plane (copies, equal
to rounding) are merged through gmsh's record of the copy (``getPeriodicNodes``): every
node of a copy must have one origin, within rounding of it.
Written by this module (``write.write_msh_blocks``): volumes per region name; surfaces
``anode`` (x = 0), ``collector`` (x = x_max), ``ymin``, ``ymax``, ``zmin``, ``zmax``.

All lengths passed to gmsh are in µm (gmsh's tolerances are absolute); the file is written
in µm: read it with ``ssbfv.mesh.read(path, scale=1e-6)``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from ..memory import release_freed_memory
from .cleanup import close_pairs
from .generate import box_side_surfaces, gmsh_session, surfaces_in_plane
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
    (benchmarks/RESULTS.md). The pieces outside the box are not removed from the slab's
    model (removing entities from a gmsh model of this size took longer than the fragment);
    they are left out of the BREP file the slab is written to (:func:`_export_volumes`)."""
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


def _pair_groups(n, pairs):
    """Groups of ``n`` items linked (transitively) by ``pairs`` (m, 2): (number of groups,
    group label per item)."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)


def _periodic_curve_classes(gmsh, ly, lz, eps, x_planes=()) -> list[list[int]]:
    """Curves in the periodic side planes (y = 0, Ly; z = 0, Lz) and in the slab planes
    x = const (``x_planes``), grouped into classes of translates of each other (same length,
    centres of mass equal modulo the periods; a curve of a slab plane and its copy in the
    next slab are translates by zero): the curves that gmsh's periodic copy will give one
    and the same 1D mesh."""
    occ = gmsh.model.occ
    curves, com, length = [], [], []
    for _, c in gmsh.model.getEntities(1):
        bb = gmsh.model.getBoundingBox(1, c)
        on_y = any(abs(bb[1] - v) < eps and abs(bb[4] - v) < eps for v in (0.0, ly))
        on_z = any(abs(bb[2] - v) < eps and abs(bb[5] - v) < eps for v in (0.0, lz))
        on_x = any(abs(bb[0] - v) < eps and abs(bb[3] - v) < eps for v in x_planes)
        if on_y or on_z or on_x:
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
    _, label = _pair_groups(len(curves), pairs)
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
                       volumes=None, surfaces=None, x_planes=()) -> dict:
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
    ``x_planes``: slab planes whose surfaces are in ``periodic_pairs`` (copied by zero
    translation); their curves are treated as the side curves are.
    Raises OccMeshError."""
    stage = stage or (lambda name: None)
    mesh = gmsh.model.mesh
    classes = _periodic_curve_classes(gmsh, period[0], period[1], eps, x_planes)
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
        stage(f"periodic mesh, 1D to {dim}D" + (f" (repair {attempt})" if attempt else ""))
        try:
            mesh.generate(dim)
            return report
        except Exception as exc:
            failed = _PERIODIC_COPY_ERROR.search(str(exc))
            if attempt == repairs or failed is None:
                raise OccMeshError(f"gmsh {'surface' if dim == 2 else f'{dim}D'} meshing failed: {exc}") from exc
            a, na, b, nb = (int(v) for v in failed.groups())
            split = a if na > nb else b
            if split not in translates:
                raise OccMeshError(f"gmsh {'surface' if dim == 2 else f'{dim}D'} meshing failed: {exc}") from exc
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


def _fragment_slab(gmsh, boxes, centres_um, radii_um, species, axes, stage):
    """Fragment the boxes ``[(name, tag)]`` of one slab with the given spheres (added whole,
    turned to ``axes``) and label the resulting volumes from the fragment map (module doc).
    ``stage()`` is called when the fragment begins.
    Returns ({species index, "separator" or "polymer": [volume tags]}, number of volumes
    outside the boxes)."""
    occ = gmsh.model.occ
    try:
        sphere_tags = _add_spheres(occ, centres_um, radii_um, axes)
    except Exception as exc:
        raise OccMeshError(f"OpenCASCADE could not make the spheres: {exc}") from exc
    stage()
    try:
        _, omap = occ.fragment([(3, t) for _, t in boxes], [(3, t) for t in sphere_tags])
        occ.synchronize()
    except Exception as exc:
        raise OccMeshError(f"OpenCASCADE fragment failed: {exc}") from exc
    n_box = len(boxes)
    kinds = [name for name, _ in boxes] + [int(k) for k in species]
    parents: dict[int, set] = {}
    for k, m in enumerate(omap):
        for dim, tag in m:
            if dim == 3:
                parents.setdefault(tag, set()).add(kinds[k] if k < n_box else ("sphere", kinds[k]))
    regions: dict = {}
    n_outside = 0
    for tag, ps in parents.items():
        if "separator" in ps:
            name = "separator"
        elif "cathode" not in ps:
            n_outside += 1
            continue
        else:
            sp_in = sorted(k for kind, k in (p for p in ps if isinstance(p, tuple)))
            name = sp_in[0] if sp_in else "polymer"
        regions.setdefault(name, []).append(tag)
    return regions, n_outside


def _export_volumes(gmsh, regions, path):
    """Write the volumes ``regions`` ({name: [tags]}) of the current model, with their
    boundaries, to a BREP file (Geometry.OCCExportOnlyVisible must be set). Returns what
    :func:`_import_volumes` needs to give them their names back: (bounding boxes (m, 6),
    names (m,)), in the order of increasing tag, which is the order gmsh writes them in."""
    tags = sorted((t, name) for name, ts in regions.items() for t in ts)
    boxes = np.array([gmsh.model.getBoundingBox(3, t) for t, _ in tags]).reshape(-1, 6)
    gmsh.model.setVisibility(gmsh.model.getEntities(), 0)
    gmsh.model.setVisibility([(3, t) for t, _ in tags], 1, recursive=True)
    gmsh.write(path)
    return boxes, [name for _, name in tags]


def _import_volumes(gmsh, path, keys, eps):
    """Import a BREP written by :func:`_export_volumes` into the current model and name its
    volumes (``keys``): in the order they were written when their bounding boxes agree to
    ``eps``, else each by the volume written with the nearest bounding box, which must be
    unique. Returns {name: [tags]}. Raises OccMeshError when the volumes do not match."""
    occ = gmsh.model.occ
    boxes, names = keys
    try:
        out = occ.importShapes(path, highestDimOnly=True)
        occ.synchronize()
    except Exception as exc:
        raise OccMeshError(f"OpenCASCADE could not read back a slab ({exc})") from exc
    vols = [t for d, t in out if d == 3]
    if len(vols) != len(names):
        raise OccMeshError(f"a slab was written with {len(names)} volumes and read back with {len(vols)}")
    got = np.array([gmsh.model.getBoundingBox(3, t) for t in vols]).reshape(-1, 6)
    if np.all(np.abs(got - boxes) <= eps):
        j = np.arange(len(vols))
    else:
        dist, j = cKDTree(boxes).query(got, k=2)
        if np.any(dist[:, 0] > eps) or np.any(dist[:, 1] <= eps) or len(np.unique(j[:, 0])) != len(vols):
            raise OccMeshError("the volumes of a slab read back from BREP do not match those written")
        j = j[:, 0]
    regions: dict[str, list[int]] = {}
    for t, jj in zip(vols, j):
        regions.setdefault(names[jj], []).append(int(t))
    return regions


def _match_translates(gmsh, slaves, masters, shift, tol, what):
    """Pair every surface of ``slaves`` with the surface of ``masters`` that is its translate
    by ``shift`` (centre of mass and area); returns [(slave, master), ...].
    Raises OccMeshError naming ``what`` when the counts differ or one has no partner."""
    occ = gmsh.model.occ
    cm = np.array([occ.getCenterOfMass(2, m) for m in masters]).reshape(-1, 3) + np.asarray(shift)
    am = np.array([occ.getMass(2, m) for m in masters])
    if len(slaves) != len(masters):
        cs = np.array([occ.getCenterOfMass(2, sl) for sl in slaves]).reshape(-1, 3)
        lone = []  # surfaces without a translate, on either side (centres of mass)
        if len(cs) and len(cm):
            lone = [cm[i] - shift for i in np.flatnonzero(cKDTree(cs).query(cm)[0] > tol)]
            lone += [cs[i] for i in np.flatnonzero(cKDTree(cm).query(cs)[0] > tol)]
        where = "; ".join("(" + ", ".join(f"{v:.3f}" for v in c) + ")" for c in lone[:6])
        raise OccMeshError(f"{what}: {len(masters)} surfaces on one side but {len(slaves)} on the other"
                           + (f"; {len(lone)} without a translate, centres of mass [um] {where}" if lone else ""))
    if not slaves:
        return []
    pairs = []
    for sl in slaves:
        d = np.linalg.norm(cm - np.array(occ.getCenterOfMass(2, sl)), axis=1)
        j = int(np.argmin(d))
        if d[j] > tol or abs(am[j] - occ.getMass(2, sl)) > 1e-6 * max(am[j], 1e-12):
            raise OccMeshError(f"{what}: surface {sl} has no counterpart")
        pairs.append((sl, masters[j]))
    return pairs


def _plane_node_map(gmsh, plane_pairs, lookup, points, tol):
    """Index map over the surface-mesh nodes (``points``, indexed through ``lookup`` from
    gmsh node tags) that sends every node of a slab-plane copy to the node it was copied
    from, after gmsh's record of the periodic copy (``getPeriodicNodes``: all nodes of the
    copied surface, its boundary included). Raises OccMeshError when a copied node has no
    or two origins, or lies more than ``tol`` from it."""
    index = np.arange(len(points))
    mesh = gmsh.model.mesh
    for slave, master in plane_pairs:
        got_master, tags, master_tags, _ = mesh.getPeriodicNodes(2, slave)
        if got_master != master:
            raise OccMeshError(f"slab plane: surface {slave} is a copy of {got_master}, not of {master}")
        s_idx = lookup[np.asarray(tags, dtype=np.int64)]
        m_idx = lookup[np.asarray(master_tags, dtype=np.int64)]
        own = np.asarray(mesh.getNodes(2, slave, includeBoundary=True)[0], dtype=np.int64)
        if len(np.setdiff1d(lookup[own], s_idx)):
            raise OccMeshError(f"slab plane: nodes of surface {slave} have no origin on surface {master}")
        clash = (index[s_idx] != s_idx) & (index[s_idx] != m_idx)
        if np.any(clash) or np.any(np.linalg.norm(points[s_idx] - points[m_idx], axis=1) > tol):
            raise OccMeshError(f"slab plane: the copy of surface {master} on {slave} does not match it")
        index[s_idx] = m_idx
    return index


def mesh_spheres_occ(path, centres, radii, species, species_names, box, separator_thickness,
                     h, h_min=None, curvature_points=12, algorithm3d=10, optimize=True,
                     msh_version=4.1, threads=1, verbose=False, preserve_volume=True,
                     presplit_passes=3, periodic_repairs=3, orient_poles=True, slab_planes=(),
                     fallback3d=1, stage=None) -> OccMeshResult:
    """Mesh a half-cell with spheres (all lengths in m) and write a gmsh file in µm.

    Parameters
    ----------
    centres, radii, species : spheres [m] and their species index
    species_names : region name per species (priority in this order)
    box : (x_max, Ly, Lz) [m]; separator_thickness [m]
    h : target element size [m]; h_min : smallest element size [m] (default h / 4)
    curvature_points : elements per 2 pi of surface curvature (gmsh MeshSizeFromCurvature)
    algorithm3d : gmsh 3D algorithm (10: HXT, 1: Delaunay)
    fallback3d : 3D algorithm tried on a slab where ``algorithm3d`` failed (the slab's
        surface mesh is kept; the slabs it was needed on are in
        ``periodic_refinement['fallback_3d_slabs']``); equal to ``algorithm3d``: none
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
    slab_planes : planes x = const [m] inside the cathode that cut the cell into slabs
        (``cleanup.slab_planes``; the spheres must be clear of them, ``clean_spheres`` with
        ``x_planes``). Each slab is fragmented on its own, its surfaces on a slab plane are
        meshed as copies of the previous slab's (``setPeriodic`` by zero translation) and
        its volumes are tetrahedralised on their own, after which gmsh's tetrahedra are
        taken out and cleared; the slabs' nodes on the planes are then merged. The peak
        memory of the fragment and the 3D mesher then follows the largest slab, not the
        cell (benchmarks/RESULTS.md). () : one slab.
    stage : optional callable, called with the name of each stage as it begins (spheres and
        fragment per slab, labels and periodic pairs, the meshing passes, 3D per slab, write)

    Raises OccMeshError when OpenCASCADE or gmsh fails, or the periodic sides or the slab
    planes do not match.
    """
    from .write import write_msh_blocks

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
    planes_um = sorted(float(v) / UM for v in slab_planes)
    if any(not (t_sep + eps < v < x_max - eps) for v in planes_um) or len(set(planes_um)) < len(planes_um):
        raise ValueError(f"slab_planes must be distinct and inside the cathode ({t_sep:g}, {x_max:g}) um, "
                         f"got {planes_um}")
    bounds = [t_sep] + planes_um + [x_max]
    times = {"fragment_s": 0.0}
    pole_clearance = float("nan")
    stage = stage or (lambda name: None)
    t0 = time.perf_counter()
    with gmsh_session(verbose=verbose, threads=threads) as gmsh:
        occ = gmsh.model.occ
        gmsh.option.setNumber("Geometry.OCCParallel", 1 if threads > 1 else 0)
        pc, pr, pidx = _periodic_copies(c_um, r_um, ly, lz)
        axes = None
        if orient_poles and len(r_um):
            planes = [(0, t_sep), (0, x_max), (1, 0.0), (2, 0.0)] + [(0, v) for v in planes_um]
            axes, clear = pole_axes(c_um, r_um, planes, (ly, lz))
            pole_clearance = float(clear.min()) * UM
            axes = axes[pidx]
        # one fragment per slab, each in a model of its own (a Boolean in a model that already
        # holds the previous slabs ran 3x slower: benchmarks/RESULTS.md), written to BREP
        # (the volumes inside the cell only) and imported into the cell's model below
        slabs = []
        tmpdir = tempfile.mkdtemp(prefix="ssbfv_slabs_")  # the job directory in an isolated attempt
        try:
            gmsh.option.setNumber("Geometry.OCCExportOnlyVisible", 1)
            for k, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
                t1 = time.perf_counter()
                gmsh.model.add(f"slab{k + 1}")
                boxes = []
                if k == 0 and t_sep > 0:
                    boxes.append(("separator", occ.addBox(0.0, 0.0, 0.0, t_sep, ly, lz)))
                boxes.append(("cathode", occ.addBox(a, 0.0, 0.0, b - a, ly, lz)))
                lo = 0.0 if k == 0 else a
                sel = np.flatnonzero((pc[:, 0] - pr < b) & (pc[:, 0] + pr > lo))
                prefix = f"slab {k + 1}/{len(bounds) - 1}: " if len(bounds) > 2 else ""
                stage(f"{prefix}add {len(sel)} spheres (with periodic copies)")
                regions, n_out = _fragment_slab(gmsh, boxes, pc[sel], pr[sel], species[pidx[sel]],
                                                None if axes is None else axes[sel],
                                                lambda: stage(f"{prefix}fragment"))
                names = {kk: (species_names[kk] if isinstance(kk, (int, np.integer)) else kk) for kk in regions}
                brep = os.path.join(tmpdir, f"slab{k + 1}.brep")
                keys = _export_volumes(gmsh, {names[kk]: v for kk, v in regions.items()}, brep)
                gmsh.model.remove()
                release_freed_memory()  # the fragment's freed temporaries (benchmarks/RESULTS.md)
                slabs.append({"brep": brep, "keys": keys, "outside": n_out})
                times["fragment_s"] += time.perf_counter() - t1
            gmsh.model.add("cell")
            for k, sl in enumerate(slabs):
                stage(f"import slab {k + 1}/{len(slabs)}" if len(slabs) > 1 else "import")
                sl["regions"] = _import_volumes(gmsh, sl.pop("brep"), sl.pop("keys"), eps)
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
        stage("labels and periodic pairs")
        t1 = time.perf_counter()
        inside = [t for sl in slabs for tags in sl["regions"].values() for t in tags]
        _show_only(gmsh, [(3, t) for t in inside])
        for sl in slabs:
            vols = [(3, t) for tags in sl["regions"].values() for t in tags]
            sl["surfaces"] = {s for _, s in gmsh.model.getBoundary(vols, combined=False, oriented=False)}
        inside_surfaces = set().union(*(sl["surfaces"] for sl in slabs))
        sides = box_side_surfaces(gmsh, (x_max, ly, lz), eps, names=PATCHES)
        periodic_pairs = []  # (slave, master, affine): slave on ymax/zmax, master on ymin/zmin
        for axis, (a, b), period in ((1, ("ymin", "ymax"), ly), (2, ("zmin", "zmax"), lz)):
            shift = [0.0, 0.0, 0.0]
            shift[axis] = period
            affine = [1, 0, 0, shift[0], 0, 1, 0, shift[1], 0, 0, 1, shift[2], 0, 0, 0, 1]
            pairs = _match_translates(gmsh, sides[b], sides[a], shift, 1e-6 * max(ly, lz),
                                      f"periodic mismatch between {a} and {b}")
            periodic_pairs += [(sl, m, affine) for sl, m in pairs]
        identity = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
        plane_pairs = []  # (slave, master) surfaces on the slab planes
        for k, xp in enumerate(planes_um):  # slab k + 1's surfaces on the plane copy slab k's
            in_plane = surfaces_in_plane(gmsh, 0, xp, (x_max, ly, lz), eps)
            on = [sorted(set(in_plane) & slabs[j]["surfaces"]) for j in (k, k + 1)]
            pairs = _match_translates(gmsh, on[1], on[0], [0.0, 0.0, 0.0], 1e-6 * max(ly, lz),
                                      f"slab plane x = {xp:.4f} um")
            periodic_pairs += [(sl, m, identity) for sl, m in pairs]
            plane_pairs += pairs
        times["label_s"] = time.perf_counter() - t1

        gmsh.option.setNumber("Mesh.MeshSizeMax", h_um)
        gmsh.option.setNumber("Mesh.MeshSizeMin", h_min_um)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", curvature_points)
        gmsh.option.setNumber("Mesh.Algorithm3D", algorithm3d)
        gmsh.option.setNumber("Mesh.Optimize", 1 if optimize else 0)
        t1 = time.perf_counter()
        refinement = _generate_periodic(gmsh, periodic_pairs, (ly, lz), eps, passes=presplit_passes,
                                        repairs=periodic_repairs, dim=2, stage=stage, volumes=inside,
                                        surfaces=inside_surfaces, x_planes=planes_um)
        times["surface_mesh_s"] = time.perf_counter() - t1
        mesh = gmsh.model.mesh
        tags2, xyz2, _ = mesh.getNodes()
        tags2 = np.asarray(tags2, dtype=np.int64)
        n2 = len(tags2)
        lookup = np.full(int(tags2.max()) + 1, -1, dtype=np.int64)
        lookup[tags2] = np.arange(n2)
        points = [np.asarray(xyz2, dtype=np.float64).reshape(-1, 3)]
        merge = _plane_node_map(gmsh, plane_pairs, lookup, points[0], eps)
        n_points = n2
        tets: dict[str, list] = {}
        fallback_slabs: list[int] = []
        t1 = time.perf_counter()
        for k, sl in enumerate(slabs):
            vols = [(3, t) for tags in sl["regions"].values() for t in tags]
            stage(f"3D mesh, slab {k + 1}/{len(slabs)}" if len(slabs) > 1 else "3D mesh")
            _show_only(gmsh, vols)
            try:
                mesh.generate(3)
            except Exception as exc:
                where = f" in slab {k + 1}" if len(slabs) > 1 else ""
                if algorithm3d == fallback3d:
                    raise OccMeshError(f"gmsh 3D meshing failed{where}: {exc}") from exc
                # the slab's surfaces are fixed: another 3D algorithm on them changes nothing else
                stage(f"3D mesh{where}, algorithm {fallback3d} after: {str(exc)[:120]}")
                mesh.clear(vols)
                gmsh.option.setNumber("Mesh.Algorithm3D", fallback3d)
                try:
                    mesh.generate(3)
                except Exception as exc2:
                    raise OccMeshError(f"gmsh 3D meshing failed{where}: algorithm {algorithm3d}: {exc}; "
                                       f"algorithm {fallback3d}: {exc2}") from exc2
                finally:
                    gmsh.option.setNumber("Mesh.Algorithm3D", algorithm3d)
                fallback_slabs.append(k + 1)
            new_tags, new_xyz = [], []
            for _, v in vols:
                nt, nx, _ = mesh.getNodes(3, v, includeBoundary=False)
                new_tags.append(np.asarray(nt, dtype=np.int64))
                new_xyz.append(np.asarray(nx, dtype=np.float64).reshape(-1, 3))
            new_tags = np.concatenate(new_tags)
            order = np.argsort(new_tags)
            sorted_tags = new_tags[order]
            for name, vtags in sl["regions"].items():
                for v in vtags:
                    types, _, enodes = mesh.getElements(3, v)
                    if not any(len(en) for en in enodes):
                        raise OccMeshError(f"gmsh's 3D mesher left volume {v} ({name}) of slab {k + 1} without "
                                           "tetrahedra")
                    for ty, en in zip(types, enodes):
                        if ty != 4:
                            raise OccMeshError(f"gmsh made 3D elements of type {ty}, not tetrahedra")
                        t = np.asarray(en, dtype=np.int64)
                        pos = np.minimum(np.searchsorted(sorted_tags, t), max(len(sorted_tags) - 1, 0))
                        is_new = sorted_tags[pos] == t if len(sorted_tags) else np.zeros(t.shape, bool)
                        idx = np.where(is_new, n_points + order[pos], lookup[np.minimum(t, len(lookup) - 1)])
                        if np.any(idx < 0) or np.any(~is_new & (t >= len(lookup))):
                            raise OccMeshError("a tetrahedron of gmsh's 3D mesh has a node that is neither in the "
                                               "surface mesh nor inside its volume")
                        tets.setdefault(name, []).append(idx.reshape(-1, 4))
            points.append(np.concatenate(new_xyz))
            n_points += len(new_tags)
            mesh.clear(vols)
            release_freed_memory()
            if len(mesh.getNodes()[0]) != n2:
                raise OccMeshError(f"gmsh's 3D mesher changed the surface mesh (slab {k + 1}): the slabs would "
                                   "not be conformal")
        times["volume_mesh_s"] = time.perf_counter() - t1
        patches = {}
        for name in PATCHES:
            tri = []
            for sf in sides[name]:
                types, _, enodes = mesh.getElements(2, sf)
                tri += [lookup[np.asarray(en, dtype=np.int64)].reshape(-1, 3) for ty, en in zip(types, enodes)
                        if ty == 2]
            patches[name] = np.concatenate(tri) if tri else np.zeros((0, 3), dtype=np.int64)
    points = np.concatenate(points)
    # nodes of the model's points and hidden entities (outside the cell) are in no tetrahedron
    used = np.zeros(len(points), dtype=bool)
    for blocks in tets.values():
        for b in blocks:
            used[b] = True
    merge = np.concatenate([merge, np.arange(n2, len(points))])  # nodes inside volumes stay
    for _ in range(len(planes_um)):  # a copy of a copy (none expected) goes to the origin
        merge = merge[merge]
    n_merged = int(np.count_nonzero(used & (merge != np.arange(len(points)))))
    keep = np.zeros(len(points), dtype=bool)
    keep[merge[used]] = True
    new_index = np.cumsum(keep) - 1
    remap = new_index[merge]
    t2 = time.perf_counter()
    stage("write")
    region_order = [n for n in ("separator", *species_names, "polymer") if n in tets]
    vblocks = [("tetra", remap[np.concatenate(tets[n])].astype(np.int64), i) for i, n in enumerate(region_order)]
    n_tets = int(sum(len(b[1]) for b in vblocks))
    if n_tets == 0:
        raise OccMeshError("gmsh produced no tetrahedra")
    sblocks = [(n, [("triangle", remap[patches[n]])]) for n in PATCHES if len(patches[n])]
    tmp = path + ".tmp.msh"
    write_msh_blocks(tmp, points[keep], region_order, vblocks, sblocks,
                     version="2.2" if str(msh_version).startswith("2") else "4.1")
    os.replace(tmp, path)
    times["write_s"] = time.perf_counter() - t2
    times["total_s"] = time.perf_counter() - t0
    fragments = {}
    for sl in slabs:
        for name, tags in sl["regions"].items():
            fragments[name] = fragments.get(name, 0) + len(tags)
    fragments["outside"] = sum(sl["outside"] for sl in slabs)
    refinement = dict(refinement, slab_planes_um=planes_um, merged_plane_nodes=n_merged,
                      fallback_3d_slabs=fallback_slabs)
    return OccMeshResult(path, n_tets, times, fragments, refinement, pole_clearance)
