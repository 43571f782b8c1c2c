"""From a packing to a verified half-cell mesh, with fallbacks.

``mesh_packing(packing, path)`` tries, in order, until one works:

1. ``occ``: clean-up of near-tangent configurations (clearance tied to h), restoration of
   each species' volume (one radius factor per species, so that the clean-up's moves do
   not change the volume fractions), then gmsh / OpenCASCADE meshing (``ssbfv.mesh.occ``);
2. ``occ-shifted``: the same with the periodic origin shifted by 0.37 of the period in y
   and z (the spheres are the same periodic structure; the cut planes cross them elsewhere);
3. ``occ-fine``: the shifted geometry with h / 1.5;
4. ``voxel``: the label image of the packing at voxel size h / 2, meshed with hexahedra
   (periodic by construction).

Each OCC attempt runs in its own process (``ssbfv.mesh.occ_worker``) with an optional
wall-clock limit: a gmsh crash, an out-of-memory kill or a geometry gmsh cannot finish in
time costs that route only, and the next one is tried.

Every produced mesh is read back, checked (every boundary face must be on a patch, periodic
pairing in y and z must succeed, anode
and collector must cover the cross-section, fractions must agree with the packing's voxel
measurement within 0.01 (active) and 0.02 (filler fraction of the electrolyte) on OCC
meshes, within 0.03 on voxel meshes, whose fractions depend on the chosen voxel size) and
described by a report written beside it as ``<mesh>.report.json``, which also records the
route that produced the mesh and the failures of the routes tried before.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from .mesh import read
from .mesh.occ import OccMeshError
from .mesh.mesh import DEFAULT_PATCH
from .mesh.occ_worker import attempt, run_isolated
from .mesh.report import mesh_report, write_report

UM = 1e-6
ROUTES = ("occ", "occ-shifted", "occ-fine", "voxel")


@dataclass
class MeshingResult:
    path: str
    route: str
    report: dict
    attempts: list = field(default_factory=list)  # (route, error or "ok", seconds)


def default_element_size(packing, h_rel=0.3) -> float:
    """Element size [m]: h_rel times the smallest sphere diameter."""
    return float(h_rel * 2.0 * packing.radii.min())


def _shifted(centres, box, fraction):
    c = centres.copy()
    c[:, 1] = (c[:, 1] + fraction * box[1]) % box[1]
    c[:, 2] = (c[:, 2] + fraction * box[2]) % box[2]
    return c


def default_memory_limit_mb(share: float = 0.8) -> float | None:
    """``share`` of this machine's memory [MB] (MemTotal in /proc/meminfo; None where it
    cannot be read): the default resident-memory limit of an OCC attempt."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return share * int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        return None
    return None


def _try_occ(packing, path, centres, h, clearance_rel, occ_options, time_limit_s=None, isolate=True,
             faceting_compensation=False, progress=None, memory_limit_mb=None):
    job = {"path": os.path.abspath(path), "h": float(h), "clearance": float(clearance_rel * h),
           "faceting_compensation": bool(faceting_compensation),
           "separator_thickness": float(packing.separator_thickness),
           "species_names": list(packing.species_names), "occ_options": occ_options,
           # the restoration measures shares on the grid the packing's fractions were measured on
           "measure_voxel": float((packing.spec or {}).get("packing", {}).get("voxel_um", 0.25)) * UM}
    arrays = {"centres": np.asarray(centres, dtype=np.float64), "radii": packing.radii,
              "species": packing.species, "box": packing.box}
    info = (run_isolated(job, arrays, time_limit_s=time_limit_s, progress=progress, memory_limit_mb=memory_limit_mb)
            if isolate else attempt(job, arrays))
    mesh = read(path, scale=UM)
    return mesh, info


def check_mesh_against_packing(rep, packing, tol_active=0.01, tol_filler=0.02):
    """Reject a mesh that is not the packing: anode and collector must cover the whole
    cross-section, and the measured fractions must be within the meshing issue's
    tolerances of the packing's own (voxel-measured) ones: ``tol_active`` for the first
    species' volume fraction, ``tol_filler`` for the filler fraction of the electrolyte.
    gmsh can 'succeed' with volumes left unmeshed or meshed without their holes; this
    catches it, and a mesh whose fractions drifted (clean-up, faceting) goes to the next
    route instead of into a study."""
    area = float(packing.box[1] * packing.box[2])
    for name in ("anode", "collector"):
        a = rep["patches"].get(name, {}).get("area_m2", 0.0)
        if abs(a - area) > 1e-6 * area:
            raise OccMeshError(f"patch {name} covers {a / area:.4f} of the cross-section: the mesh is incomplete")
    measured = (packing.spec or {}).get("measured", {}).get("fractions", {})
    fr = rep["fractions"]
    first = packing.species_names[0]
    pairs = [(first, fr.get(first, 0.0), measured.get(first), tol_active)]
    if len(packing.species_names) > 1 and "filler_of_electrolyte" in fr:
        pairs.append(("filler_of_electrolyte", fr["filler_of_electrolyte"], measured.get(packing.species_names[1]),
                      tol_filler))
    for name, got, want, tol in pairs:
        if want is not None and abs(got - want) > tol:
            raise OccMeshError(f"{name} fraction {got:.4f} on the mesh vs {want:.4f} in the packing "
                               f"(tolerance {tol:g}): the mesh is not the packing")


def voxel_size_for(box, target):
    """Largest voxel edge <= target [m] that divides all three box sizes (within 1e-6)."""
    ly = float(box[1])
    for k in range(max(1, int(np.ceil(ly / target))), 100000):
        v = ly / k
        n = np.asarray(box, dtype=np.float64) / v
        if np.all(np.abs(n - np.round(n)) < 1e-6 * n):
            return v
    raise ValueError(f"no voxel size <= {target:g} m divides the box {list(box)}")


def _try_voxel(packing, path, h):
    from .mesh.voxel import from_labels
    from .mesh.write import write_msh
    from .microstructure.voxelize import voxelize

    v = voxel_size_for(packing.box, h / 2.0)
    labels, names = voxelize(packing, v)
    mesh_um = from_labels(labels, v / UM, names, patches={"xmin": "anode", "xmax": "collector"})
    write_msh(mesh_um, path)
    mesh = read(path, scale=UM)
    return mesh, {"voxel": {"voxel_size_m": v, "shape": list(labels.shape)}}


def mesh_packing(packing, path, h=None, h_rel=0.3, routes=ROUTES, clearance_rel=0.25,
                 occ_options=None, occ_time_limit_s=None, isolate=True, faceting_compensation=False,
                 occ_memory_limit_mb="auto", log=print) -> MeshingResult:
    """Mesh a packing into ``path`` (gmsh .msh in µm) and write ``<path>.report.json``.

    Parameters
    ----------
    packing : ssbfv.microstructure.Packing
    h : element size [m] (default: h_rel times the smallest sphere diameter)
    routes : the routes to try, in order (subset of ROUTES)
    clearance_rel : clean-up clearance relative to h
    occ_options : extra keyword arguments for ``mesh_spheres_occ`` (JSON-serialisable)
    occ_time_limit_s : wall-clock limit [s] for each OCC route (None: none); an attempt that
        reaches it is stopped and the next route is tried
    faceting_compensation : enlarge the meshed radii by the expected faceting depth
        (``ssbfv.mesh.occ_worker.attempt`` says why this is off by default)
    isolate : run each OCC attempt in a child process (``ssbfv.mesh.occ_worker``), so that a
        gmsh crash, an out-of-memory kill or the time limit fails only that route
    occ_memory_limit_mb : resident memory [MB] at which an isolated OCC attempt is stopped
        and the next route tried ("auto": 80 % of the machine's memory; None: no limit)

    Raises RuntimeError listing every route's failure when none succeeds.
    """
    path = os.fspath(path)
    h = default_element_size(packing, h_rel) if h is None else float(h)
    occ_options = dict(occ_options or {})
    unknown = set(routes) - set(ROUTES)
    if unknown:
        raise ValueError(f"unknown meshing routes {sorted(unknown)}; choose from {ROUTES}")
    if occ_time_limit_s is not None and not occ_time_limit_s > 0:
        raise ValueError(f"occ_time_limit_s must be > 0 (or None), got {occ_time_limit_s}")
    if occ_time_limit_s is not None and not isolate:
        raise ValueError("a time limit needs isolate=True (the OCC attempt runs in a child process)")
    if occ_memory_limit_mb == "auto":
        occ_memory_limit_mb = default_memory_limit_mb()
    elif occ_memory_limit_mb is not None and not occ_memory_limit_mb > 0:
        raise ValueError(f"occ_memory_limit_mb must be > 0, 'auto' or None, got {occ_memory_limit_mb}")
    occ_kw = {"time_limit_s": occ_time_limit_s, "isolate": isolate, "faceting_compensation": faceting_compensation}
    if isolate:
        occ_kw["memory_limit_mb"] = occ_memory_limit_mb
    attempts = []
    for route in routes:
        t0 = time.perf_counter()
        if route != "voxel":
            limit = "" if occ_time_limit_s is None else f" (time limit {occ_time_limit_s:g} s)"
            log(f"mesh: trying route {route}{limit}")
            occ_kw["progress"] = lambda s, where, route=route: log(
                f"mesh: route {route} still running after {s:.0f} s" + (f", {where}" if where else ""))
        try:
            if route == "occ":
                mesh, info = _try_occ(packing, path, packing.centres, h, clearance_rel, occ_options, **occ_kw)
            elif route == "occ-shifted":
                mesh, info = _try_occ(packing, path, _shifted(packing.centres, packing.box, 0.37), h,
                                      clearance_rel, occ_options, **occ_kw)
            elif route == "occ-fine":
                mesh, info = _try_occ(packing, path, _shifted(packing.centres, packing.box, 0.37), h / 1.5,
                                      clearance_rel, occ_options, **occ_kw)
            else:
                mesh, info = _try_voxel(packing, path, h)
            if DEFAULT_PATCH in mesh.patch_names:
                raise OccMeshError(f"{len(mesh.patch_faces(DEFAULT_PATCH))} boundary faces are on no patch: "
                                   "the mesh is not conformal inside")
            rep = mesh_report(mesh)
            bad = [k for k, p in rep["periodic"].items() if not p["ok"]]
            if bad:
                raise OccMeshError(f"periodic check failed on the produced mesh: {bad}")
            if route == "voxel":  # its fractions depend on the voxel size the user chose
                check_mesh_against_packing(rep, packing, tol_active=0.03, tol_filler=0.03)
            else:
                check_mesh_against_packing(rep, packing)
        except (OccMeshError, ValueError, RuntimeError) as exc:
            attempts.append((route, str(exc), time.perf_counter() - t0))
            log(f"mesh: route {route} failed after {attempts[-1][2]:.1f} s: {exc}")
            continue
        attempts.append((route, "ok", time.perf_counter() - t0))
        rep["route"] = route
        rep["element_size_m"] = h if route != "occ-fine" else h / 1.5
        rep["attempts"] = [{"route": r, "result": e, "seconds": round(s, 2)} for r, e, s in attempts]
        rep["route_details"] = info
        rep["packing"] = {"seed": packing.seed, "spheres": int(packing.n), "species": list(packing.species_names)}
        write_report(rep, path + ".report.json")
        log(f"mesh: route {route} produced {mesh.n_cells} cells in {attempts[-1][2]:.1f} s -> {path}")
        return MeshingResult(path, route, rep, attempts)
    raise RuntimeError("no meshing route succeeded: " + "; ".join(f"{r}: {e}" for r, e, _ in attempts))
