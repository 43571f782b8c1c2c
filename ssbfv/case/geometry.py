"""The mesh of a case: read it, or pack and mesh the case's packing spec (cached).

Generated files go to ``CASE/build/``: ``packing.h5``, ``mesh.msh`` (+ ``.report.json``) and
``key.json``, the inputs they were made from (spec file hash, seed, mesher, sizes). A later
run reuses them while the key matches and rebuilds them when an input changed.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

UM = 1e-6


def _key(cfg) -> dict:
    geo = cfg.geometry
    spec = Path(geo["packing"])
    return {
        "spec_sha256": hashlib.sha256(spec.read_bytes()).hexdigest(),
        "seed": geo.get("seed"),
        "mesher": geo.get("mesher", "voxel"),
        "voxel_size_um": geo.get("voxel_size_um"),
        "element_size_um": geo.get("element_size_um"),
    }


def build_mesh(cfg, log=print):
    """(Mesh, info dict) for a case. ``info``: source, route, paths, cells per region."""
    from ..mesh import read

    geo = cfg.geometry
    if "descriptors" in geo:
        from .config import CaseError

        raise CaseError(f"{cfg.case_file}: a case built on descriptors has no mesh: it is for 'ssbfv p2d' only")
    if "mesh" in geo:
        mesh = read(geo["mesh"], scale=float(geo.get("mesh_scale", UM)))
        return mesh, {"source": "mesh", "path": str(geo["mesh"])}
    from ..meshing import mesh_packing
    from ..microstructure import Packing, load_spec, pack

    build = cfg.directory / "build"
    build.mkdir(exist_ok=True)
    key = _key(cfg)
    key_file = build / "key.json"
    packing_path, mesh_path = build / "packing.h5", build / "mesh.msh"
    old = json.loads(key_file.read_text()) if key_file.is_file() else None
    if old is not None and old.get("key") == key and packing_path.is_file() and mesh_path.is_file():
        log(f"geometry: reusing {mesh_path}")
        mesh = read(mesh_path, scale=UM)
        return mesh, {"source": "packing", "reused": True, "path": str(mesh_path), "route": old.get("route"),
                      "seed": old.get("seed")}
    key_file.unlink(missing_ok=True)
    spec = load_spec(geo["packing"])
    packing = pack(spec, seed=geo.get("seed"))
    packing.save(packing_path)
    log(f"geometry: packed {packing.n} spheres (seed {packing.seed}) -> {packing_path}")
    mesher = geo.get("mesher", "voxel")
    if mesher == "voxel":
        v = float(geo.get("voxel_size_um", 1.0)) * UM
        res = mesh_packing(packing, os.fspath(mesh_path), h=2.0 * v, routes=("voxel",), log=log)
    else:
        h = geo.get("element_size_um")
        limit = geo.get("occ_time_limit_s")
        res = mesh_packing(packing, os.fspath(mesh_path), h=None if h is None else float(h) * UM,
                           occ_time_limit_s=None if limit is None else float(limit), log=log)
    tmp = key_file.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "route": res.route, "seed": packing.seed}, indent=1))
    tmp.replace(key_file)
    mesh = read(mesh_path, scale=UM)
    return mesh, {"source": "packing", "reused": False, "path": str(mesh_path), "route": res.route,
                  "seed": packing.seed}
