"""Mesh input through meshio: gmsh .msh (2.2 and 4.1), .vtu, .xdmf.

Regions come from the tags of volume cells (tetrahedra, hexahedra) and patches from the tags
of surface cells (triangles, quads). Tags are read, in this order of preference, from the
cell data ``gmsh:physical`` (gmsh physical groups), ``region``, ``cell_tags``,
``CellEntityIds`` or ``medit:ref``; names come from meshio's ``field_data`` (gmsh physical
names) and otherwise are ``region<tag>`` / ``patch<tag>``. A file without any tags gives one
region ``domain`` and one patch ``defaultFaces``.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np

from .mesh import HEX, TET, Mesh

TAG_KEYS = ("gmsh:physical", "region", "cell_tags", "CellEntityIds", "medit:ref")
VOLUME_TYPES = {"tetra": TET, "hexahedron": HEX}
SURFACE_TYPES = {"triangle": 3, "quad": 4}
IGNORED_TYPES = {"vertex", "line", "line3"}


class MeshReadError(ValueError):
    """A mesh file that cannot be turned into an ssbfv Mesh (with the reason)."""


def _tag_array(m, block_index):
    for key in TAG_KEYS:
        if key in m.cell_data:
            return np.asarray(m.cell_data[key][block_index], dtype=np.int64).reshape(-1)
    return None


def _names_by_dim(m):
    """{dim: {tag: name}} from meshio field_data (gmsh physical names)."""
    out: dict[int, dict[int, str]] = {2: {}, 3: {}}
    for name, val in (m.field_data or {}).items():
        val = np.asarray(val).reshape(-1)
        if val.size >= 2:
            out.setdefault(int(val[1]), {})[int(val[0])] = name
    return out


def read(path: str | os.PathLike, scale: float = 1.0) -> Mesh:
    """Read a mesh file into a :class:`Mesh`.

    Parameters
    ----------
    path : .msh (gmsh 2.2 or 4.1), .vtu or .xdmf file
    scale : factor applied to the coordinates (e.g. 1e-6 for a mesh drawn in µm) -> m

    Cells keep the order of the volume elements in the file.
    """
    import meshio

    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"mesh file not found: {path}")
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # meshio prints stray blank lines
            m = meshio.read(path)
    except Exception as exc:  # meshio raises many types
        raise MeshReadError(f"cannot read mesh {path!r}: {exc}") from exc
    names = _names_by_dim(m)

    vol_nodes, vol_kind, vol_tag = [], [], []
    surf_nodes, surf_tag = [], []
    unsupported = set()
    for i, block in enumerate(m.cells):
        tags = _tag_array(m, i)
        data = np.asarray(block.data, dtype=np.int64)
        if block.type in VOLUME_TYPES:
            kind = VOLUME_TYPES[block.type]
            padded = np.full((data.shape[0], 8), -1, dtype=np.int64)
            padded[:, : data.shape[1]] = data
            vol_nodes.append(padded)
            vol_kind.append(np.full(data.shape[0], kind, dtype=np.int64))
            vol_tag.append(tags if tags is not None else np.zeros(data.shape[0], dtype=np.int64))
        elif block.type in SURFACE_TYPES:
            if tags is None:
                continue
            padded = np.full((data.shape[0], 4), -1, dtype=np.int64)
            padded[:, : data.shape[1]] = data
            surf_nodes.append(padded)
            surf_tag.append(tags)
        elif block.type not in IGNORED_TYPES:
            unsupported.add(block.type)
    if unsupported:
        raise MeshReadError(
            f"{path}: unsupported cell types {sorted(unsupported)} (ssbfv reads linear tetrahedra, "
            "hexahedra, triangles and quads)"
        )
    if not vol_nodes:
        raise MeshReadError(f"{path}: the mesh has no volume cells (tetrahedra or hexahedra)")

    cell_nodes = np.concatenate(vol_nodes)
    cell_kind = np.concatenate(vol_kind)
    tags = np.concatenate(vol_tag)
    uniq = np.unique(tags)
    if uniq.size == 1 and uniq[0] == 0 and not names[3]:
        region_names = ["domain"]
    else:
        region_names = [names.get(3, {}).get(int(t), f"region{int(t)}") for t in uniq]
    cell_region = np.searchsorted(uniq, tags)

    if surf_nodes:
        elems = np.concatenate(surf_nodes)
        etags = np.concatenate(surf_tag)
        puniq = np.unique(etags)
        patch_names = [names.get(2, {}).get(int(t), f"patch{int(t)}") for t in puniq]
        epatch = np.searchsorted(puniq, etags)
    else:
        elems, epatch, patch_names = None, None, []

    if len(set(region_names)) != len(region_names) or len(set(patch_names)) != len(patch_names):
        raise MeshReadError(f"{path}: duplicate region or patch names")
    try:
        return Mesh(
            np.asarray(m.points, dtype=np.float64)[:, :3] * scale
            if m.points.shape[1] >= 3
            else np.column_stack([m.points, np.zeros(len(m.points))]) * scale,
            cell_nodes,
            cell_kind,
            cell_region,
            region_names,
            elems,
            epatch,
            patch_names,
        )
    except ValueError as exc:
        raise MeshReadError(f"{path}: {exc}") from exc
