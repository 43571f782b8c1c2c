"""Mesh report: what a half-cell mesh contains and whether it is fit for a simulation.

``mesh_report(mesh)`` returns a JSON-serialisable dict with

- ``regions``: cells and volume [m^3] per region;
- ``fractions``: volume fractions in the cathode (active, each filler species, polymer) and
  the filler fraction of the cathode electrolyte (filler / (filler + polymer));
- ``interfaces``: area [m^2] per region pair;
- ``quality``: tetrahedron mean-ratio shape measure eta = 12 (3 V)^(2/3) / sum(l^2) (1 for
  a regular tetrahedron, -> 0 for slivers): min, percentiles, count below 0.1 (slivers);
- ``active_clusters``: connected components of the active region (through shared faces),
  their volumes and whether each touches the collector; the fraction of the active volume
  connected to the collector;
- ``electrolyte``: the fraction of the active/electrolyte interface area whose electrolyte
  side is connected to the anode through the electrolyte;
- ``periodic``: whether ymin/ymax and zmin/zmax pair face by face (and the error if not).

All measured on the mesh itself (DESIGN.md §1: never the nominal targets).
"""

from __future__ import annotations

import json
import os

import numba as nb
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from .mesh import TET
from .periodic import PeriodicMatchError, pair_periodic

ELECTROLYTE_DEFAULT = ("polymer", "filler", "separator")


@nb.njit(cache=True)
def _tet_mean_ratio(points, cell_nodes, cell_volumes, is_tet):
    n = cell_nodes.shape[0]
    out = np.full(n, np.nan)
    for c in range(n):
        if not is_tet[c]:
            continue
        s = 0.0
        for a in range(4):
            for b in range(a + 1, 4):
                pa = cell_nodes[c, a]
                pb = cell_nodes[c, b]
                for k in range(3):
                    s += (points[pa, k] - points[pb, k]) ** 2
        out[c] = 12.0 * (3.0 * cell_volumes[c]) ** (2.0 / 3.0) / s
    return out


def _components(mesh, cell_mask):
    """Connected components of the cells in mask, through internal faces: (n, labels)."""
    own = mesh.owner[: mesh.n_internal]
    nbr = mesh.neighbour
    keep = cell_mask[own] & cell_mask[nbr]
    g = sp.coo_matrix((np.ones(int(keep.sum())), (own[keep], nbr[keep])), shape=(mesh.n_cells,) * 2)
    n, labels = connected_components(g, directed=False)
    return n, labels


def _periodic_translation(mesh, a, b, axis):
    lo, hi = mesh.bounding_box()
    t = np.zeros(3)
    t[axis] = hi[axis] - lo[axis]
    return t


def mesh_report(mesh, active="active", electrolyte=ELECTROLYTE_DEFAULT, filler=("filler",),
                polymer="polymer", separator="separator", anode="anode", collector="collector",
                sliver_threshold=0.1) -> dict:
    """Report on a half-cell mesh (see the module docstring). Regions or patches that the
    mesh does not have are skipped (their entries are absent or zero)."""
    names = mesh.region_names
    vol = mesh.cell_volumes
    rep: dict = {"cells": int(mesh.n_cells), "faces": int(mesh.n_faces), "regions": {}, "patches": {}}
    for name in names:
        cells = mesh.region_cells(name)
        rep["regions"][name] = {"cells": int(cells.size), "volume_m3": float(vol[cells].sum())}
    for name in mesh.patch_names:
        f = mesh.patch_faces(name)
        rep["patches"][name] = {"faces": int(f.size), "area_m2": float(mesh.face_areas[f].sum())}

    def v(name):
        return rep["regions"].get(name, {}).get("volume_m3", 0.0)

    cathode_names = [n for n in names if n != separator]
    v_cath = sum(v(n) for n in cathode_names)
    fr = {}
    if v_cath > 0:
        for n in cathode_names:
            fr[n] = v(n) / v_cath
        v_fill = sum(v(n) for n in filler)
        v_el = v_fill + v(polymer)
        fr["filler_of_electrolyte"] = v_fill / v_el if v_el > 0 else 0.0
    rep["fractions"] = fr
    rep["interfaces"] = {f"{a}|{b}": float(mesh.face_areas[f].sum()) for (a, b), f in mesh.interfaces.items()}

    eta = _tet_mean_ratio(mesh.points, mesh.cell_nodes, vol, mesh.cell_nface == TET)
    eta = eta[np.isfinite(eta)]
    if eta.size:
        rep["quality"] = {
            "measure": "tet mean ratio 12 (3V)^(2/3) / sum l^2",
            "min": float(eta.min()),
            "p01": float(np.percentile(eta, 1)),
            "median": float(np.median(eta)),
            "slivers": int(np.count_nonzero(eta < sliver_threshold)),
            "sliver_threshold": sliver_threshold,
        }

    if active in names:
        mask = mesh.cell_region == mesh.region_id(active)
        _, lab = _components(mesh, mask)
        act_cells = np.flatnonzero(mask)
        clusters, inv = np.unique(lab[act_cells], return_inverse=True)
        cl_vol = np.bincount(inv, weights=vol[act_cells])
        touches = np.zeros(clusters.size, dtype=bool)
        if collector in mesh.patch_names:
            cf = mesh.owner[mesh.patch_faces(collector)]
            cf = cf[mask[cf]]
            touches[np.searchsorted(clusters, np.unique(lab[cf]))] = True
        total = float(cl_vol.sum())
        rep["active_clusters"] = {
            "count": int(clusters.size),
            "connected_to_collector_fraction": float(cl_vol[touches].sum() / total) if total else 0.0,
            "isolated_count": int(np.count_nonzero(~touches)),
            "isolated_volume_m3": float(cl_vol[~touches].sum()),
        }
        el_names = [n for n in electrolyte if n in names]
        if el_names:
            emask = np.isin(mesh.cell_region, [mesh.region_id(n) for n in el_names])
            _, elab = _components(mesh, emask)
            area_total = 0.0
            area_conn = 0.0
            if anode in mesh.patch_names:
                af = mesh.owner[mesh.patch_faces(anode)]
                anode_labels = np.unique(elab[af[emask[af]]])
            else:
                anode_labels = np.empty(0, dtype=elab.dtype)
            for n in el_names:
                faces, _, cells_e = mesh.interface_faces(active, n)
                a = mesh.face_areas[faces]
                area_total += float(a.sum())
                area_conn += float(a[np.isin(elab[cells_e], anode_labels)].sum())
            rep["electrolyte"] = {
                "active_interface_area_m2": area_total,
                "anode_connected_interface_fraction": area_conn / area_total if area_total else 0.0,
            }

    per = {}
    for a, b, axis in (("ymin", "ymax", 1), ("zmin", "zmax", 2)):
        if a in mesh.patch_names and b in mesh.patch_names:
            try:
                fa, _ = pair_periodic(mesh, a, b, _periodic_translation(mesh, a, b, axis))
                per[f"{a}-{b}"] = {"ok": True, "pairs": int(fa.size)}
            except PeriodicMatchError as exc:
                per[f"{a}-{b}"] = {"ok": False, "error": str(exc)}
    rep["periodic"] = per
    return rep


def write_report(report: dict, path: str | os.PathLike) -> None:
    """Write a report as JSON (temporary file, then rename)."""
    path = os.fspath(path)
    with open(path + ".tmp", "w") as f:
        json.dump(report, f, indent=2)
    os.replace(path + ".tmp", path)


def format_report(rep: dict) -> str:
    """A readable multi-line summary of a report."""
    lines = [f"cells {rep['cells']}, faces {rep['faces']}"]
    for name, r in rep["regions"].items():
        lines.append(f"  region {name:>10s}: {r['cells']:9d} cells  {r['volume_m3'] * 1e18:12.2f} um^3")
    for name, r in rep["patches"].items():
        lines.append(f"  patch  {name:>10s}: {r['faces']:9d} faces {r['area_m2'] * 1e12:12.2f} um^2")
    if rep["fractions"]:
        lines.append("  volume fractions in the cathode: " + ", ".join(f"{k} {v:.4f}" for k, v in rep["fractions"].items()))
    for k, a in rep["interfaces"].items():
        lines.append(f"  interface {k}: {a * 1e12:.2f} um^2")
    if "quality" in rep:
        q = rep["quality"]
        lines.append(f"  quality (tet mean ratio): min {q['min']:.3f}, 1% {q['p01']:.3f}, median {q['median']:.3f}, "
                     f"slivers (< {q['sliver_threshold']}) {q['slivers']}")
    if "active_clusters" in rep:
        c = rep["active_clusters"]
        lines.append(f"  active clusters: {c['count']}, connected to the collector {100 * c['connected_to_collector_fraction']:.2f} % "
                     f"of the active volume ({c['isolated_count']} isolated, {c['isolated_volume_m3'] * 1e18:.2f} um^3)")
    if "electrolyte" in rep:
        e = rep["electrolyte"]
        lines.append(f"  active surface reached by the electrolyte from the anode: {100 * e['anode_connected_interface_fraction']:.2f} %")
    for k, p in rep["periodic"].items():
        lines.append(f"  periodic {k}: " + (f"ok ({p['pairs']} face pairs)" if p["ok"] else f"FAILED: {p['error']}"))
    return "\n".join(lines)
